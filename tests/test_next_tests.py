"""Next tests: ``tests.csv`` (tier, cost band, invasiveness of each observable node) and the tier ordering."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli import main as cli
from fasciculation_dx.errors import ArgumentError
from fasciculation_dx.inference.information import MIN_GAIN, ORDERS, TEST_COLUMNS, order_tests
from fasciculation_dx.network.priors import COST_BANDS, INVASIVENESS, OBSERVABLE_LAYERS, TIERS
from fasciculation_dx.network.writer import write_priors

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny"
GAIN = "info_gain_etiology"

# Evidence sets spread over benign, metabolic, motor neuron and hereditary pictures.
EVIDENCE_SETS = [
    {},
    {"weakness": "yes", "emg_fibrillations": "present"},
    {"tongue_fasciculations": "yes"},
    {"age_group": "under_40", "caffeine": "yes", "weakness": "no"},
    {"tongue_fasciculations": "yes", "bulbar_symptoms": "yes", "gynecomastia": "yes", "sex": "male"},
    {"cramps": "yes", "tetany_or_paresthesia": "yes"},
    {"age_group": "65_plus", "atrophy": "yes", "umn_signs": "yes"},
]


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


# -- tests.csv ---------------------------------------------------------------------------------------
def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "priors"
    shutil.copytree(TINY, target)
    return target


def _rewrite(directory: Path, rows: list[list[str]]) -> None:
    with open(directory / "tests.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["node", "tier", "cost_band", "invasiveness", "source_id", "note"])
        writer.writerows(rows)


def _tiny_rows() -> list[list[str]]:
    with open(TINY / "tests.csv", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))[1:]


def _only_problem(directory: Path) -> str:
    problems = fdx.validate_priors(directory)
    assert len(problems) == 1, problems
    return str(problems[0])


def test_the_tiny_priors_read_their_tests_table():
    priors = fdx.load_priors(TINY)
    assert list(priors.tests) == ["sex", "caffeine", "weakness", "calcium"]
    calcium = priors.tests["calcium"]
    assert (calcium.tier, calcium.cost_band, calcium.invasiveness) == ("blood_test", "low", "minimal")
    assert calcium.tier_rank == TIERS.index("blood_test")
    assert calcium.relative_cost == COST_BANDS["low"]


@pytest.mark.parametrize(
    "line, column, value, expected",
    [
        (4, 2, "bedside", r"tests.csv:4:2: tier must be one of 'history', 'bedside_examination', "),
        (4, 3, "cheap", r"tests.csv:4:3: cost_band must be one of 'none', 'low', 'moderate', 'high', 'very_high'"),
        (5, 4, "venepuncture", r"tests.csv:5:4: invasiveness must be one of 'none', 'minimal', 'moderate', 'high'"),
        (2, 5, "test_estimat", r"tests.csv:2:5: source_id must name a row of sources.csv. Got 'test_estimat' "),
        (3, 1, "cafeine", r"tests.csv:3:1: node must be an observable node of nodes.csv. Got 'cafeine' instead"),
    ],
)
def test_a_bad_cell_is_reported_at_its_line_and_column(tmp_path, line, column, value, expected):
    directory = _copy(tmp_path)
    rows = _tiny_rows()
    rows[line - 2][column - 1] = value
    _rewrite(directory, rows)
    problems = [str(p) for p in fdx.validate_priors(directory)]
    assert any(p.startswith(expected) for p in problems), problems
    located = [p for p in problems if p.startswith(f"tests.csv:{line}:{column}:")]
    assert len(located) == 1 and "Got" in located[0]
    if column == 1:  # the renamed node's row is then missing
        assert any(p.startswith("tests.csv:0:0:") and "Missing: caffeine" in p for p in problems)
        assert "Did you mean 'caffeine'?" in located[0]
    else:
        assert len(problems) == 1, problems


def test_a_typo_in_a_tier_gets_the_closest_valid_one(tmp_path):
    directory = _copy(tmp_path)
    rows = _tiny_rows()
    rows[3][1] = "blood_tests"
    _rewrite(directory, rows)
    assert "Got 'blood_tests' instead. Did you mean 'blood_test'?" in _only_problem(directory)


def test_every_observable_node_must_have_a_row(tmp_path):
    directory = _copy(tmp_path)
    _rewrite(directory, [r for r in _tiny_rows() if r[0] != "weakness"])
    message = _only_problem(directory)
    assert message.startswith("tests.csv:0:0: every observable node")
    assert message.endswith("Missing: weakness")


def test_a_latent_node_or_a_duplicate_is_refused(tmp_path):
    directory = _copy(tmp_path)
    rows = _tiny_rows()
    _rewrite(directory, [*rows, ["motor_axon_loss", "electrodiagnosis", "high", "moderate", "test_estimate", ""]])
    message = _only_problem(directory)
    assert message.startswith("tests.csv:6:1: node 'motor_axon_loss' has layer 'mechanism' and cannot be observed")
    _rewrite(directory, [*rows, rows[0]])
    assert _only_problem(directory) == "tests.csv:6:1: node 'sex' is listed twice (first on line 2)"


def test_a_missing_tests_file_is_a_problem(tmp_path):
    directory = _copy(tmp_path)
    (directory / "tests.csv").unlink()
    assert _only_problem(directory) == "tests.csv:0:0: file is missing; every priors directory must have it"


def test_validate_reports_tests_csv_problems(tmp_path, capsys):
    directory = _copy(tmp_path)
    rows = _tiny_rows()
    rows[2][1] = "examination"
    _rewrite(directory, rows)
    code = cli.main(["validate", str(directory)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.startswith("tests.csv:4:2: tier must be one of 'history', ")
    assert "Traceback" not in out + err


def test_tests_csv_round_trips_byte_for_byte(tmp_path):
    for source in (TINY, fdx.shipped_priors_dir()):
        out = write_priors(fdx.load_priors(source), tmp_path / source.name)
        assert (out / "tests.csv").read_bytes() == (source / "tests.csv").read_bytes()
        assert fdx.load_priors(out).tests == fdx.load_priors(source).tests


def test_the_shipped_table_covers_every_observable_node_in_its_tier():
    priors = fdx.load_priors(fdx.shipped_priors_dir())
    observable = {n for n, node in priors.nodes.items() if node.layer in OBSERVABLE_LAYERS}
    assert set(priors.tests) == observable
    for name, test in priors.tests.items():
        node = priors.nodes[name]
        assert test.tier in TIERS and test.cost_band in COST_BANDS and test.invasiveness in INVASIVENESS
        if node.panel in ("history", "triggers", "course") or node.layer in ("context", "trigger"):
            assert test.tier == "history", name
        elif node.panel == "examination":
            assert test.tier == "bedside_examination", name
        elif node.panel == "electrodiagnosis":
            assert test.tier == "electrodiagnosis", name
        if test.tier in ("history", "bedside_examination"):
            assert (test.cost_band, test.invasiveness) == ("none", "none"), name
        source = priors.sources[test.source_id]
        # an unsourced cost band is labelled as an estimate
        assert source.kind != "expert-estimate" or "estimate" in source.citation.lower()
    expected = {
        "magnesium": "blood_test",
        "tsh": "blood_test",
        "ck": "blood_test",
        "hexosaminidase_a": "blood_test",
        "vgkc_complex_antibodies": "antibody",
        "vgcc_antibodies": "antibody",
        "smn1_deletion": "genetic",
        "ar_cag_expansion": "genetic",
        "prnp_mutation": "genetic",
    }
    assert {n: priors.tests[n].tier for n in expected} == expected
    assert priors.tests["emg_fibrillations"].invasiveness == "moderate"  # needle EMG
    assert priors.tests["calcium"].invasiveness == "minimal"  # venepuncture


# -- ordering ---------------------------------------------------------------------------------------------
def _rank(tier: str) -> int:
    return TIERS.index(tier)


def test_next_tests_carry_tier_cost_and_invasiveness(model):
    table = model.next_tests({"weakness": "yes"})
    assert list(table.columns) == list(TEST_COLUMNS)
    for column in ("tier", "cost_band", "invasiveness"):
        assert column in table.columns
    for row in table.itertuples():
        test = model.priors.tests[row.node]
        assert (row.tier, row.cost_band, row.invasiveness) == (test.tier, test.cost_band, test.invasiveness)


@pytest.mark.parametrize("evidence", EVIDENCE_SETS, ids=range(len(EVIDENCE_SETS)))
def test_default_order_is_cheapest_useful_tier_first(model, evidence):
    table = model.next_tests(evidence)
    by_gain = model.next_tests(evidence, order="gain")
    assert sorted(table["node"]) == sorted(by_gain["node"])  # the same tests, reordered
    useful = table[GAIN] >= MIN_GAIN
    # the useful tests come first ...
    assert not (useful.to_numpy()[1:] & ~useful.to_numpy()[:-1]).any()
    # ... and within each block, by tier in escalation order, then by gain
    for block in (table[useful], table[~useful]):
        keys = [(_rank(t), -g) for t, g in zip(block["tier"], block[GAIN], strict=True)]
        assert keys == sorted(keys)
    # a tier whose best test is not useful comes after every useful test
    best = table.groupby("tier")[GAIN].max()
    positions = {tier: list(table["tier"]).index(tier) for tier in best.index}
    last_useful = int(np.flatnonzero(useful.to_numpy()).max()) if useful.any() else -1
    for tier, gain in best.items():
        if gain < MIN_GAIN:
            assert positions[tier] > last_useful, tier


@pytest.mark.parametrize("evidence", EVIDENCE_SETS, ids=range(len(EVIDENCE_SETS)))
def test_no_genetic_test_precedes_a_useful_bedside_examination(model, evidence):
    table = model.next_tests(evidence).set_index("node")
    nodes = list(table.index)
    genetic = [nodes.index(n) for n in nodes if table.loc[n, "tier"] == "genetic"]
    bedside = [
        nodes.index(n)
        for n in nodes
        if table.loc[n, "tier"] == "bedside_examination" and table.loc[n, GAIN] >= MIN_GAIN
    ]
    assert genetic
    if bedside:
        assert min(genetic) > max(bedside)


def test_history_and_examination_come_before_the_gene_test_for_sbma(model):
    """Bulbar lower motor neuron signs with gynecomastia: ask and examine before ordering the AR gene test."""
    evidence = {"tongue_fasciculations": "yes", "bulbar_symptoms": "yes", "gynecomastia": "yes", "sex": "male"}
    assert model.posterior(evidence).index[0] == "spinal_bulbar_muscular_atrophy"
    table = model.next_tests(evidence).reset_index(drop=True)
    gene = int(table.index[table["node"] == "ar_cag_expansion"][0])
    bedside = table[table["tier"].isin(["history", "bedside_examination"]) & (table[GAIN] >= MIN_GAIN)]
    assert len(bedside) > 0
    assert (bedside.index < gene).all()
    # ranked by gain alone the gene test would overtake at least one of them
    by_gain = model.next_tests(evidence, order="gain").reset_index(drop=True)
    gene_by_gain = int(by_gain.index[by_gain["node"] == "ar_cag_expansion"][0])
    assert any(int(by_gain.index[by_gain["node"] == n][0]) > gene_by_gain for n in bedside["node"])


def test_order_gain_and_gain_per_cost(model):
    evidence = {"weakness": "yes", "emg_fibrillations": "present"}
    by_gain = model.next_tests(evidence, order="gain")
    assert np.all(np.diff(by_gain[GAIN].to_numpy()) <= 0)
    per_cost = model.next_tests(evidence, order="gain_per_cost")
    ratio = per_cost[GAIN].to_numpy() / per_cost["cost_band"].map(COST_BANDS).to_numpy()
    assert np.all(np.diff(ratio) <= 0)
    by_category = model.next_tests(evidence, by="category", order="gain")
    assert np.all(np.diff(by_category["info_gain_category"].to_numpy()) <= 0)


def test_min_gain_zero_orders_strictly_by_tier(model):
    table = model.next_tests({"weakness": "yes"}, min_gain=0)
    keys = [(_rank(t), -g) for t, g in zip(table["tier"], table[GAIN], strict=True)]
    assert keys == sorted(keys)


@pytest.mark.parametrize("max_tier", TIERS)
def test_max_tier_keeps_tiers_up_to_and_including_it(model, max_tier):
    evidence = {"weakness": "yes"}
    table = model.next_tests(evidence, max_tier=max_tier)
    assert all(_rank(t) <= _rank(max_tier) for t in table["tier"])
    expected = {
        n
        for n, t in model.priors.tests.items()
        if model.priors.nodes[n].layer == "finding" and n not in evidence and _rank(t.tier) <= _rank(max_tier)
    }
    assert set(table["node"]) == expected
    full = model.next_tests(evidence).set_index("node")
    for row in table.itertuples():
        assert getattr(row, GAIN) == pytest.approx(full.loc[row.node, GAIN], abs=1e-12)


@pytest.mark.parametrize(
    "kwargs, valid",
    [
        ({"order": "cost"}, "tier, gain, gain_per_cost"),
        ({"max_tier": "labs"}, ", ".join(TIERS)),
        ({"min_gain": -0.1}, "at least 0"),
        ({"min_gain": float("nan")}, "at least 0"),
    ],
)
def test_bad_options_name_the_valid_values(model, kwargs, valid):
    with pytest.raises(ArgumentError, match="Got ") as info:
        model.next_tests({"weakness": "yes"}, **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, fdx.FasciculationDxError)
    assert valid in str(info.value)


def test_order_tests_on_records():
    rows = [
        {"node": "gene", "tier": "genetic", "cost_band": "high", GAIN: 0.9, "info_gain_category": 0.5},
        {"node": "ask", "tier": "history", "cost_band": "none", GAIN: 0.2, "info_gain_category": 0.1},
        {"node": "look", "tier": "bedside_examination", "cost_band": "none", GAIN: 0.3, "info_gain_category": 0.0},
        {"node": "idle", "tier": "history", "cost_band": "none", GAIN: 0.01, "info_gain_category": 0.0},
    ]
    assert [r["node"] for r in order_tests(rows)] == ["ask", "look", "gene", "idle"]
    assert [r["node"] for r in order_tests(rows, "gain")] == ["gene", "look", "ask", "idle"]
    assert [r["node"] for r in order_tests(rows, "gain_per_cost")] == ["look", "ask", "idle", "gene"]
    assert [r["node"] for r in order_tests(rows, by="category")] == ["ask", "gene", "idle", "look"]
    assert set(ORDERS) == {"tier", "gain", "gain_per_cost"}

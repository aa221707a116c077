"""Soft (likelihood) evidence: the API's checks, exact agreement with pgmpy's virtual evidence and with
brute-force enumeration, and every query that takes evidence (roll-ups, explain, next tests,
intervals, sensitivity functions, batch scoring, case files and the command line)."""

from __future__ import annotations

import functools
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fasciculation_dx as fdx
from fasciculation_dx.analysis.evaluate import evaluate
from fasciculation_dx.inference.soft import PROBABLY, Likelihood, parse_value
from fasciculation_dx.network.pgmpy_adapter import build_network
from fasciculation_dx.network.priors import ETIOLOGY

PRIORS = fdx.load_priors(fdx.shipped_priors_dir())
OBSERVABLE = {n: node.states for n, node in PRIORS.nodes.items() if node.layer in ("context", "trigger", "finding")}
FREE = sorted(n for n in OBSERVABLE if n != "weakness_pattern")  # the pattern needs weakness = yes, entered hard

PATIENT = {
    "sex": "male",
    "age_group": "40_to_64",
    "weakness": {"yes": 0.8, "no": 0.2},
    "tongue_fasciculations": "~yes",
    "caffeine": "yes:0.3,no:0.7",
    "emg_fibrillations": "present",
}
"""Hard and soft evidence mixed: a soft finding, the shorthand, the text form and a soft trigger."""


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


def enumerated(engine, evidence) -> np.ndarray:
    """The posterior by brute force: sum over the soft nodes' states of their weights times the hard joint."""
    hard = {k: v for k, v in evidence.items() if isinstance(v, str)}
    soft = {k: v for k, v in evidence.items() if not isinstance(v, str)}
    total = 0.0
    for combo in itertools.product(*[list(v) for v in soft.values()]):
        weight = np.prod([soft[k][s] for k, s in zip(soft, combo)])
        if weight > 0:
            total = total + weight * engine.joint({**hard, **dict(zip(soft, combo))})
    return total / np.sum(total)


def pgmpy_posterior(network, evidence, node=ETIOLOGY) -> np.ndarray:
    """pgmpy's own ``VariableElimination.query(..., virtual_evidence=[TabularCPD])``, in the node's state order."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination

    hard = {k: v for k, v in evidence.items() if isinstance(v, str)}
    if node in hard:
        return np.array([float(s == hard[node]) for s in PRIORS.nodes[node].states])
    virtual = []
    for k, v in evidence.items():
        if not isinstance(v, str):
            states = OBSERVABLE[k]
            weights = np.array([v[s] for s in states]) / max(v.values())
            virtual.append(TabularCPD(k, len(states), weights.reshape(-1, 1), state_names={k: list(states)}))
    factor = VariableElimination(network).query([node], evidence=hard, virtual_evidence=virtual, show_progress=False)
    names = factor.state_names[node]
    return np.asarray(factor.values, dtype=float)[[names.index(s) for s in PRIORS.nodes[node].states]]


def mixed_evidence():
    """Random evidence: each chosen node hard, or soft with random weights (a zero now and then)."""
    weight = st.sampled_from([0.0, 0.05, 0.3, 0.5, 1.0, 2.0, 7.5])

    def value(node):
        states = OBSERVABLE[node]
        soft = st.tuples(*[weight for _ in states]).filter(lambda w: sum(x > 0 for x in w) >= 2)
        return st.one_of(st.sampled_from(states), soft.map(lambda w: dict(zip(states, w))))

    return st.lists(st.sampled_from(FREE), unique=True, min_size=1, max_size=8).flatmap(
        lambda chosen: st.fixed_dictionaries({n: value(n) for n in chosen})
    )


# -- the API's checks -----------------------------------------------------------------------------------
def test_the_three_written_forms_are_the_same_evidence(model):
    as_mapping = model.posterior_vector({"weakness": {"yes": 0.8, "no": 0.2}})
    as_text = model.posterior_vector({"weakness": "yes:0.8,no:0.2"})
    unnormalised = model.posterior_vector({"weakness": {"yes": 4, "no": 1}})
    shorthand = model.posterior_vector({"weakness": "~yes"})
    for other in (as_text, unnormalised, shorthand):
        np.testing.assert_allclose(other, as_mapping, rtol=0, atol=1e-15)
    understood = model.check_evidence({"weakness": "~yes", "age_group": "~65_plus"})
    expected = {"no": 1 / (1 + PROBABLY), "yes": PROBABLY / (1 + PROBABLY)}
    assert understood["weakness"].as_dict() == pytest.approx(expected)
    age = understood["age_group"].as_dict()
    assert age["65_plus"] / age["under_40"] == pytest.approx(PROBABLY)
    assert age["40_to_64"] == pytest.approx(age["under_40"])


def test_a_soft_finding_moves_less_than_the_hard_one(model):
    base = model.category_posterior({"sex": "male"})["pathological"]
    soft = model.category_posterior({"sex": "male", "weakness": "~yes"})["pathological"]
    hard = model.category_posterior({"sex": "male", "weakness": "yes"})["pathological"]
    assert base < soft < hard


def test_one_positive_weight_is_hard_evidence_and_equal_weights_are_none(model):
    assert model.check_evidence({"weakness": {"yes": 3.0, "no": 0}}) == {"weakness": "yes"}
    np.testing.assert_allclose(
        model.posterior_vector({"weakness": {"yes": 2, "no": 2}, "sex": "male"}),
        model.posterior_vector({"sex": "male"}),
        rtol=0,
        atol=1e-15,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"yes": -0.1, "no": 1}, "finite and at least 0"),
        ({"yes": float("nan"), "no": 1}, "finite and at least 0"),
        ({"yes": float("inf"), "no": 1}, "finite and at least 0"),
        ({"yes": 10**400, "no": 1}, "finite and at least 0"),
        ({"yes": 0, "no": 0}, "at least one positive weight"),
        ({}, "at least one positive weight"),
        ({"yes": "0.8", "no": 0.2}, "must be a number"),
        ({"yes": True, "no": 0.2}, "must be a number"),
        ({"ye": 0.8, "no": 0.2}, "unknown state 'ye'.*Valid states: no, yes"),
        ("~maybe", "unknown state 'maybe'.*no, yes"),
        ("yes:0.8,no:lots", "invalid soft evidence for 'weakness'.*must be a number"),
        ("yes:0.8,yes:0.2", "given twice"),
        ("yes:0.8,:0.2", r"state:weight"),
        (0.8, "must be a string.*or a mapping of state to weight"),
    ],
)
def test_invalid_soft_evidence_says_what_is_valid(model, value, message):
    with pytest.raises(fdx.EvidenceError, match=message):
        model.posterior({"weakness": value})


def test_the_pattern_of_weakness_needs_certain_weakness(model):
    with pytest.raises(fdx.EvidenceError, match="as a certain finding"):
        model.posterior({"weakness": "~yes", "weakness_pattern": "distal"})
    model.posterior({"weakness": "yes", "weakness_pattern": {"distal": 2, "proximal": 1}})


def test_impossible_soft_evidence_names_the_conflict():
    # in these test priors tetany and fibrillations cannot occur together; soft tetany that may be
    # absent is possible, and soft fibrillations that exclude "absent" are as impossible as hard ones
    impossible = fdx.load_model(Path(__file__).parent / "data" / "impossible")
    with pytest.raises(fdx.ImpossibleEvidenceError) as err:
        impossible.posterior({"tetany_or_paresthesia": "yes", "emg_fibrillations": "present"})
    assert set(err.value.conflicting) == {"tetany_or_paresthesia", "emg_fibrillations"}
    impossible.posterior({"tetany_or_paresthesia": "~yes", "emg_fibrillations": "present"})
    with pytest.raises(fdx.ImpossibleEvidenceError) as err:
        impossible.posterior({"tetany_or_paresthesia": "yes", "emg_fibrillations": {"present": 2.0, "absent": 0}})
    assert err.value.conflicting == {"tetany_or_paresthesia": "yes", "emg_fibrillations": "present"}


def test_parse_value_reads_the_text_forms():
    assert parse_value(" yes ") == "yes"
    assert parse_value("~yes") == "~yes"
    assert parse_value("yes: 0.8, no :0.2") == {"yes": 0.8, "no": 0.2}
    assert str(Likelihood(("no", "yes"), [0.2, 0.8])) == "no:0.2,yes:0.8"


# -- exact agreement ------------------------------------------------------------------------------------
@pytest.mark.slow
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(evidence=mixed_evidence(), setting=st.sampled_from(["primary_care", "neuromuscular_clinic"]))
def test_soft_evidence_equals_pgmpy_virtual_evidence_and_enumeration(evidence, setting):
    model = _shipped_model(setting)
    network = build_network(PRIORS, setting)  # cached by the adapter
    checked = model.check_evidence(evidence)
    reference = pgmpy_posterior(network, checked)
    compiled = model.inference.posterior(checked)
    if np.isnan(reference).any():
        assert np.isnan(compiled).all()
        return
    np.testing.assert_allclose(compiled, reference, rtol=0, atol=1e-10)
    np.testing.assert_allclose(compiled, enumerated(model.inference, checked), rtol=0, atol=1e-10)


@functools.cache
def _shipped_model(setting: str) -> fdx.Model:
    """One model per setting for the property test's examples, loaded on first use."""
    return fdx.load_model(setting=setting)


def test_reference_engine_and_marginals_agree_on_a_mixed_picture(model):
    reference = fdx.load_model(engine="pgmpy")
    network = build_network(PRIORS, model.setting)
    checked = model.check_evidence(PATIENT)
    np.testing.assert_allclose(reference.posterior_vector(PATIENT), model.posterior_vector(PATIENT), atol=1e-10)
    np.testing.assert_allclose(model.posterior_vector(PATIENT), enumerated(model.inference, checked), atol=1e-12)
    for node in ("weakness", "caffeine", "emg_chronic_neurogenic", "age_group", "umn_signs"):
        expected = pgmpy_posterior(network, checked, node)
        np.testing.assert_allclose(model.predictive(node, PATIENT).to_numpy(), expected, rtol=0, atol=1e-10)
        np.testing.assert_allclose(reference.predictive(node, PATIENT).to_numpy(), expected, rtol=0, atol=1e-10)


# -- every query that takes evidence ----------------------------------------------------------------------
def test_roll_ups_are_sums_of_the_posterior(model):
    post = model.posterior(PATIENT)
    assert list(post.index) == list(post.sort_values(ascending=False, kind="stable").index)
    category = model.category_posterior(PATIENT)
    mask = pd.Series(model.pathological, index=model.etiologies)
    assert category["pathological"] == pytest.approx(post[mask[mask].index].sum(), abs=1e-14)
    groups = model.group_posterior(PATIENT)
    expected = post.groupby([PRIORS.etiologies[e].group for e in post.index]).sum()
    pd.testing.assert_series_equal(
        groups.sort_index(), expected.sort_index().rename_axis("group").rename("probability"), check_index_type=False
    )


def test_explain_weighs_a_soft_finding_by_its_change(model):
    table = model.explain(PATIENT).set_index("node")
    assert table.loc["weakness", "state"] == "no:0.2,yes:0.8"
    without = {k: v for k, v in PATIENT.items() if k != "weakness"}
    path = model.pathological
    full, rest = model.posterior_vector(PATIENT), model.posterior_vector(without)
    change = np.log(full[path].sum() / full[~path].sum()) - np.log(rest[path].sum() / rest[~path].sum())
    assert table.loc["weakness", "woe_pathological_vs_benign"] == pytest.approx(change, abs=1e-12)
    hard = model.explain({**PATIENT, "weakness": "yes"}).set_index("node")
    assert 0 < table.loc["weakness", "woe_pathological_vs_benign"] < hard.loc["weakness", "woe_pathological_vs_benign"]


def test_next_tests_ranks_a_softly_observed_finding_as_a_test_that_would_establish_it(model):
    tests = model.next_tests(PATIENT, order="gain").set_index("node")
    assert "weakness" in tests.index and "tongue_fasciculations" in tests.index
    assert "emg_fibrillations" not in tests.index  # entered as certain
    # its expected gain: the predictive includes the uncertain observation, a result replaces it
    predictive = model.predictive("tongue_fasciculations", PATIENT)
    base = model.posterior_vector(PATIENT)

    def entropy(p):
        p = p[p > 0]
        return -(p * np.log2(p)).sum()

    gain = entropy(base) - sum(
        predictive[s] * entropy(model.posterior_vector({**PATIENT, "tongue_fasciculations": s}))
        for s in predictive.index
    )
    assert tests.loc["tongue_fasciculations", "info_gain_etiology"] == pytest.approx(gain, abs=1e-12)


def test_intervals_take_soft_evidence_and_each_draw_is_exact(model):
    from fasciculation_dx.analysis import uncertainty as unc
    from fasciculation_dx.inference.compiled import CompiledEngine

    result = unc.monte_carlo(model, PATIENT, draws=40, seed=5)
    values = unc.sample_parameters(model.priors, model.setting, PATIENT, draws=40, seed=5)
    checked = model.check_evidence(PATIENT)
    for i in (0, 39):
        priors = model.priors
        for (file, line), v in values.items():
            priors = priors.with_value(file, line, float(v[i]))
        expected = enumerated(CompiledEngine(priors, model.setting), checked)
        np.testing.assert_allclose(result.samples[i], expected, rtol=0, atol=1e-9)
    table = model.posterior(PATIENT, interval=0.9, draws=60)
    np.testing.assert_allclose(table["probability"], model.posterior(PATIENT)[table.index], rtol=0, atol=1e-12)


def test_sensitivity_functions_take_soft_evidence(model):
    from fasciculation_dx.analysis import sensitivity as sens
    from fasciculation_dx.inference.compiled import CompiledEngine

    checked = model.check_evidence(PATIENT)
    _, mask = sens.resolve_query(model.priors, "pathological")
    files = ("cpts/weakness.csv", "cpts/caffeine.csv", "cpts/tongue_fasciculations.csv")
    rows = [next(r for r in model.priors.parameters() if r.file == f) for f in files]  # one row per file
    assert [r.file for r in rows] == list(files)
    for param in rows:
        fn = sens.sensitivity_function(model, param, PATIENT, "pathological")
        for x in (0.05, 0.95):
            priors = sens.with_covaried_value(model.priors, param, x)
            post = enumerated(CompiledEngine(priors, model.setting), checked)
            assert fn(x) == pytest.approx(post[mask].sum(), abs=1e-9), (param, x)


# -- batch scoring, case files and the command line ---------------------------------------------------------
def _soft_cases(model, n: int, seed: int) -> tuple[pd.DataFrame, list[dict]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        ev = {}
        for node in FREE:
            states = OBSERVABLE[node]
            u = rng.random()
            if u < 0.1:
                ev[node] = states[rng.integers(len(states))]
            elif u < 0.15:
                ev[node] = "~" + states[rng.integers(len(states))]
            elif u < 0.2:
                weights = rng.choice([0, 0.2, 1, 3], len(states))
                weights[rng.integers(len(states))] = 1.0  # at least one positive
                ev[node] = ",".join(f"{s}:{w}" for s, w in zip(states, weights))
        rows.append(ev)
    return pd.DataFrame.from_records(rows).fillna(""), rows


def test_batch_scoring_with_soft_cells_equals_the_single_query(model):
    frame, rows = _soft_cases(model, 400, seed=1)
    out = model.posterior_batch(frame, on_impossible="nan")
    compared = 0
    for i, ev in enumerate(rows):
        try:
            expected = model.posterior_vector(ev)
        except fdx.EvidenceError:  # impossible or all-zero weights: the batch says NaN or reports the cell
            assert np.isnan(out.iloc[i, 0])
            continue
        np.testing.assert_allclose(out.iloc[i][list(model.etiologies)].to_numpy(float), expected, rtol=0, atol=1e-12)
        compared += 1
    assert compared > 300
    # the same cases scored in other blocks, one at a time, and on one thread give the same numbers
    from fasciculation_dx.inference.batch import BatchScorer

    valid = frame[out["p_benign"].notna().to_numpy()]
    scorer = BatchScorer.for_engine(model.inference)
    whole = scorer.score(valid, block=4096, workers=1)
    pd.testing.assert_frame_equal(scorer.score(valid, block=7, workers=2), whole, rtol=0, atol=0)
    pd.testing.assert_frame_equal(scorer.score(valid.iloc[[5]], workers=1), whole.iloc[[5]], rtol=0, atol=0)


def test_soft_context_and_triggers_in_a_large_batch(model):
    """Soft roots expand into hard patterns; checked on a table large enough to take the threaded paths."""
    rng = np.random.default_rng(7)
    n = 5000
    frame = pd.DataFrame(
        {
            "caffeine": rng.choice(["", "yes", "~yes", "yes:0.3,no:0.7"], n),
            "age_group": rng.choice(["", "40_to_64", "~65_plus", "under_40:1,65_plus:2"], n),
            "fatigue": rng.choice(["", "no", "~no"], n),
            "weakness": rng.choice(["", "yes", "~yes"], n),
        }
    )
    out = model.posterior_batch(frame)
    for i in rng.choice(n, 40, replace=False):
        ev = {k: v for k, v in frame.iloc[i].items() if v}
        expected = model.posterior_vector(ev)
        np.testing.assert_allclose(out.iloc[i][list(model.etiologies)].to_numpy(float), expected, atol=1e-12)


def test_bad_soft_cells_are_reported_with_row_and_column(model, tmp_path):
    frame = pd.DataFrame(
        {"weakness": ["~yes", "yes:-1,no:1", "~ye", "yes:0,no:0"], "atrophy": ["no", "", "x:1,y:2", ""]}
    )
    with pytest.raises(fdx.FasciculationDxError) as err:
        model.posterior_batch(frame)
    text = str(err.value)
    assert "finite and at least 0" in text and "unknown state 'ye'" in text and "positive weight" in text
    assert "unknown state 'x'" in text
    path = tmp_path / "cases.csv"
    frame.assign(etiology="als").to_csv(path, index=False)
    with pytest.raises(fdx.FasciculationDxError) as err:
        evaluate(path)
    text = str(err.value)
    assert "cases.csv:3:1" in text and "cases.csv:4:1" in text and "cases.csv:5:1" in text and "cases.csv:4:2" in text


def test_score_and_evaluate_read_soft_cells_from_csv_and_parquet(model, tmp_path):
    frame = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "weakness": ["~yes", "yes:0.8,no:0.2", "no"],
            "tongue_fasciculations": ["yes", "", "~no"],
            "etiology": ["als", "physiological", "benign_fasciculation_syndrome"],
        }
    )
    expected = model.posterior_batch(frame.drop(columns="etiology"), passthrough=["case_id"])
    for suffix in ("csv", "parquet"):
        path = tmp_path / f"cases.{suffix}"
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path, index=False)
        out = tmp_path / f"out.{suffix}"
        model.score_file(path, out, keep=["case_id"])
        got = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
        np.testing.assert_allclose(got[list(model.etiologies)], expected[list(model.etiologies)], rtol=0, atol=1e-15)
        ev = evaluate(path)
        np.testing.assert_allclose(ev.posteriors, expected[list(model.etiologies)], rtol=0, atol=1e-12)


def test_calibration_refuses_soft_cells_naming_each(tmp_path):
    from fasciculation_dx.analysis.calibration import calibrate

    frame = pd.DataFrame({"weakness": ["~yes", "yes", "no"], "atrophy": ["", "yes:0.6,no:0.4", ""], "etiology": "als"})
    with pytest.raises(fdx.FasciculationDxError) as err:
        calibrate(frame, out=tmp_path / "out")
    text = str(err.value)
    assert "(row 2, column 1)" in text and "(row 3, column 2)" in text and "not when calibrating" in text
    assert not (tmp_path / "out").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fasciculation_dx", *args], capture_output=True, text=True)


def test_the_command_line_takes_soft_findings_and_echoes_them(model):
    run = _cli("query", "--json", "weakness~yes", "tongue_fasciculations=yes:0.7,no:0.3", "sex=male")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["evidence"]["weakness"] == pytest.approx({"no": 0.2, "yes": 0.8})
    assert result["evidence"]["tongue_fasciculations"] == pytest.approx({"no": 0.3, "yes": 0.7})
    assert result["evidence"]["sex"] == "male"
    expected = model.posterior({"weakness": "~yes", "tongue_fasciculations": {"yes": 0.7, "no": 0.3}, "sex": "male"})
    assert result["posterior"] == pytest.approx(expected.to_dict(), abs=1e-12)
    text = _cli("query", "weakness~yes")
    assert "weakness=no:0.2,yes:0.8" in text.stdout
    bad = _cli("query", "weakness=yes:-2,no:1")
    assert bad.returncode == 2 and "finite and at least 0" in bad.stderr and "Traceback" not in bad.stderr
    helped = _cli("query", "--help")
    assert "node~state" in helped.stdout and f"likelihood ratio {PROBABLY:g}" in helped.stdout


def test_weights_that_leave_one_state_are_a_certain_finding_in_a_case_file(model):
    from fasciculation_dx.analysis.cases import read_cases

    frame = pd.DataFrame({"weakness": ["yes:1,no:0", "yes"], "atrophy": ["no", "~yes"]})
    cases = read_cases(frame, model.priors)
    assert cases.frame["weakness"].tolist() == ["yes", "yes"]
    assert cases.soft_cells(model.priors) == [(3, "atrophy")]  # only the real soft cell (row 3)


def test_a_hand_built_likelihood_is_checked():
    with pytest.raises(fdx.EvidenceError, match="one finite weight >= 0 per state"):
        Likelihood(("no", "yes"), [-1.0, 2.0])
    with pytest.raises(fdx.EvidenceError, match="summing to one"):
        Likelihood(("no", "yes"), [float("nan"), 1.0])
    assert Likelihood(("no", "yes"), [0.25, 0.75])["yes"] == 0.75

"""Output a first-time clinician can read (issue 15): care settings explained, likelihood ratios,
next tests in plain numbers, findings whose mechanism is already established, and the causes and
nodes listings with the other names of the causes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli import main as cli
from fasciculation_dx.inference.query import query_result
from fasciculation_dx.inference.shared_mechanism import ESTABLISHED, LARGE_LR, SMALL_LR
from fasciculation_dx.reporting.cause_names import SYNONYMS, lookup_cause, synonyms_of
from fasciculation_dx.reporting.report_text import PLAIN_TESTS, format_query, percent, times

ISSUE_EXAMPLE = {"weakness": "yes", "atrophy": "yes", "emg_fibrillations": "present"}
KENNEDY = {"sex": "male", "gynecomastia": "yes", "tongue_fasciculations": "yes"}


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


def flat(text: str) -> str:
    return " ".join(text.split())


def p_pathological(model, evidence) -> float:
    return float(model.category_posterior(evidence)["pathological"])


# -- care settings ----------------------------------------------------------------------------------


def test_query_help_says_what_each_setting_means(capsys, model):
    with pytest.raises(SystemExit):
        cli.main(["query", "--help"])
    out = flat(capsys.readouterr().out)
    assert len(model.priors.settings) >= 2
    for setting, description in model.priors.settings.items():
        assert f"{setting}: {flat(description)}" in out
    assert "Choose the setting the patient is seen in now" in out


@pytest.mark.parametrize("setting", ["primary_care", "neuromuscular_clinic"])
def test_output_describes_the_setting_and_its_base_rate(run_cli, setting):
    model = fdx.load_model(setting=setting)
    code, out, _ = run_cli("query", "--json", "--setting", setting, *(f"{k}={v}" for k, v in KENNEDY.items()))
    assert code == 0
    data = json.loads(out)
    assert data["setting_description"] == model.priors.settings[setting]
    assert data["settings"] == dict(model.priors.settings)
    assert data["prior_pathological"] == pytest.approx(p_pathological(model, {}), abs=1e-12)
    text = flat(format_query(query_result(model, KENNEDY)))
    assert f"Setting: {setting}: {model.priors.settings[setting]}." in text
    assert f"P(pathological) in this setting is {percent(p_pathological(model, {}))}" in text
    for other, description in model.priors.settings.items():
        if other != setting:
            assert f"{other} ({description})" in text


# -- likelihood ratios ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [(4.2, "x4.2"), (0.31, "x0.31"), (1.04, "x1"), (12.3, "x12"), (150.4, "x150"), (12345.0, "x12,345")],
)
def test_times_writes_a_factor_to_two_significant_figures(value, text):
    assert times(value) == text


def test_times_of_missing_or_infinite_ratios():
    assert times(None) == "n/a" and times(float("nan")) == "n/a" and times(math.inf) == "certain"


def test_explanation_has_the_runner_up_likelihood_ratio(model):
    table = model.explain(ISSUE_EXAMPLE)
    assert np.allclose(table["lr_vs_runner_up"], np.exp(table["woe_vs_runner_up"]), rtol=1e-12)


def test_text_explains_counted_after_the_other_findings(model):
    text = flat(format_query(query_result(model, ISSUE_EXAMPLE)))
    assert "counted after the other findings: the factor by which adding it last multiplied the odds" in text
    assert "vs rest" in text and "vs runner-up" in text


# -- next tests in plain numbers ----------------------------------------------------------------


def test_next_tests_ranges_come_from_the_model(model):
    result = query_result(model, ISSUE_EXAMPLE, top=6)
    now = p_pathological(model, ISSUE_EXAMPLE)
    post = model.posterior(ISSUE_EXAMPLE)
    lead = post.index[0]
    assert result["next_tests"]
    for row in result["next_tests"]:
        node = row["node"]
        assert row["leading"] == lead
        assert row["p_pathological_now"] == pytest.approx(now, abs=1e-12)
        assert row["p_leading_now"] == pytest.approx(post[lead], abs=1e-12)
        predictive = model.predictive(node, ISSUE_EXAMPLE)
        assert [o["state"] for o in row["outcomes"]] == [s for s in predictive.index if predictive[s] > 0]
        for outcome in row["outcomes"]:
            after = {**ISSUE_EXAMPLE, node: outcome["state"]}
            assert outcome["probability"] == pytest.approx(predictive[outcome["state"]], abs=1e-12)
            assert outcome["p_pathological"] == pytest.approx(p_pathological(model, after), abs=1e-12)
            assert outcome["p_leading"] == pytest.approx(model.posterior(after)[lead], abs=1e-12)
        # the probability now is the predictive average of the probabilities after the test
        expected = sum(o["probability"] * o["p_pathological"] for o in row["outcomes"])
        assert expected == pytest.approx(now, abs=1e-9)
        low, high = row["p_pathological_range"]
        assert low == min(o["p_pathological"] for o in row["outcomes"]) <= now <= high
        assert row["p_leading_range"] == [
            min(o["p_leading"] for o in row["outcomes"]),
            max(o["p_leading"] for o in row["outcomes"]),
        ]


def test_text_says_how_far_each_test_could_move_the_probabilities(model):
    result = query_result(model, ISSUE_EXAMPLE, top=PLAIN_TESTS + 2)
    text = flat(format_query(result))
    for i, row in enumerate(result["next_tests"]):
        low = min(row["outcomes"], key=lambda o: o["p_pathological"])
        phrase = (
            f"- {row['node']} could move P(pathological) from {percent(row['p_pathological_now'])} to between "
            f"{percent(low['p_pathological'])} (if {low['state']}, {percent(low['probability'])} likely)"
        )
        assert (phrase in text) == (i < PLAIN_TESTS), row["node"]
        if i < PLAIN_TESTS:
            assert f"P({row['leading']}) from {percent(row['p_leading_now'])} to between" in text


# -- a finding whose mechanism is already established ------------------------------------------------


def test_issue_example_notes_the_established_mechanism(model):
    result = query_result(model, ISSUE_EXAMPLE)
    notes = {n["node"]: n for n in result["explanation_notes"]}
    assert set(notes) == set(ISSUE_EXAMPLE)
    explanation = model.explain(ISSUE_EXAMPLE).set_index("node")
    reference = fdx.Model(model.priors, model.setting, engine="pgmpy").inference  # pgmpy's variable elimination
    states = model.priors.nodes["motor_axon_loss"].states
    for node, note in notes.items():
        rest = {k: v for k, v in ISSUE_EXAMPLE.items() if k != node}
        assert note["mechanisms"].keys() == {"motor_axon_loss"}
        p_loss = 1 - reference.marginal("motor_axon_loss", rest)[states.index("absent")]
        assert note["mechanisms"]["motor_axon_loss"] == pytest.approx(p_loss, abs=1e-12) and p_loss >= ESTABLISHED
        assert sorted(note["shared_with"]) == sorted(f"{k}={v}" for k, v in rest.items())
        # added last it moves little...
        assert 1 / SMALL_LR < explanation.loc[node, "lr_vs_rest"] < SMALL_LR
        assert 1 / SMALL_LR < explanation.loc[node, "lr_pathological_vs_benign"] < SMALL_LR
        # ...while on its own (counted before the findings that share its mechanism) it moves a lot
        alone = p_pathological(model, {node: ISSUE_EXAMPLE[node]})
        base = p_pathological(model, {})
        lr_alone = (alone / (1 - alone)) / (base / (1 - base))
        assert note["before_measure"] == "pathological_vs_benign"
        assert note["lr_before"] == pytest.approx(lr_alone, rel=1e-9) and lr_alone >= LARGE_LR
    text = flat(format_query(result))
    assert "each add little counted after the others: they share motor axon loss" in text


@pytest.mark.parametrize(
    "evidence",
    [
        {"weakness": "yes"},  # nothing shares its mechanism
        {"weakness": "yes", "tongue_fasciculations": "yes"},  # different mechanisms
        {"weakness": "yes", "atrophy": "no"},  # the other finding argues against the mechanism
        {"weakness": {"yes": 0.8, "no": 0.2}, "atrophy": "yes", "emg_fibrillations": "present"},
    ],
)
def test_no_note_without_an_established_shared_mechanism(model, evidence):
    notes = query_result(model, evidence)["explanation_notes"]
    assert all(note["node"] != "weakness" for note in notes)
    # a soft finding never counts as establishing a mechanism
    assert all(not any(s.startswith("weakness=") for s in note["shared_with"]) for note in notes)


# -- causes, synonyms, nodes ------------------------------------------------------------------------


def test_every_synonym_names_a_shipped_cause(model):
    for term, causes in SYNONYMS.items():
        assert causes and set(causes) <= set(model.priors.etiologies), term


@pytest.mark.parametrize(
    "term, expected",
    [
        ("MND", {"als", "progressive_muscular_atrophy"}),
        ("  Kennedy's DISEASE ", {"spinal_bulbar_muscular_atrophy"}),
        ("kennedy", {"spinal_bulbar_muscular_atrophy"}),
        ("neuromyotonia", {"isaacs_syndrome", "morvan_syndrome"}),
        ("Lambert-Eaton", {"lambert_eaton"}),
        ("spinal-bulbar muscular atrophy", {"spinal_bulbar_muscular_atrophy"}),
        ("als", {"als"}),
    ],
)
def test_lookup_cause_accepts_other_names(model, term, expected):
    assert set(lookup_cause(term, model.priors.etiologies)) == expected


def test_causes_lists_every_cause_with_group_category_and_synonyms(run_cli, model):
    code, out, _ = run_cli("causes", "--json")
    assert code == 0
    records = json.loads(out)
    assert [r["cause"] for r in records] == list(model.priors.etiologies)
    for r in records:
        e = model.priors.etiologies[r["cause"]]
        assert (r["group"], r["category"], r["description"]) == (e.group, e.category, e.description)
        assert r["synonyms"] == synonyms_of(r["cause"])
    code, out, _ = run_cli("causes")
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert set(lines) == set(model.priors.etiologies)
    for name, line in lines.items():
        assert model.priors.etiologies[name].category in line.split()
    assert "Kennedy disease" in lines["spinal_bulbar_muscular_atrophy"]


def test_causes_with_a_term_and_an_unknown_term(run_cli):
    code, out, _ = run_cli("causes", "--json", "Kennedy disease")
    assert code == 0 and [r["cause"] for r in json.loads(out)] == ["spinal_bulbar_muscular_atrophy"]
    code, out, err = run_cli("causes", "kenedy")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unknown cause 'kenedy'" in lines[0] and "kennedy disease" in lines[0]


def test_query_cause_shows_rank_and_probability(run_cli, model):
    words = [f"{k}={v}" for k, v in KENNEDY.items()]
    code, out, _ = run_cli("query", "--json", "--cause", "Kennedy disease", "--cause", "MND", *words)
    assert code == 0
    data = json.loads(out)
    post = model.posterior(KENNEDY)
    assert [a["cause"] for a in data["asked"]] == [
        "spinal_bulbar_muscular_atrophy",
        "als",
        "progressive_muscular_atrophy",
    ]
    for asked in data["asked"]:
        assert asked["rank"] == list(post.index).index(asked["cause"]) + 1
        assert asked["probability"] == pytest.approx(post[asked["cause"]], abs=1e-12)
    code, out, _ = run_cli("query", "--cause", "SBMA", *words)
    rank = list(post.index).index("spinal_bulbar_muscular_atrophy") + 1
    assert f"Asked about: spinal_bulbar_muscular_atrophy (motor_neuron_disease, pathological): rank {rank} of" in out
    code, out, err = run_cli("query", "--cause", "nothing_like_it", *words)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_query_json_keeps_its_keys_and_adds_new_ones(run_cli):
    code, out, _ = run_cli("query", "--json", "weakness=yes")
    keys = set(json.loads(out))
    old = {"setting", "evidence", "posterior", "category", "group", "explanation", "next_tests", "top"}
    old |= {"next_tests_order", "max_tier", "min_gain", "disclaimer"}
    assert old | {"setting_description", "settings", "prior_pathological", "explanation_notes", "asked"} <= keys


def test_nodes_grouped_by_panel_and_aligned(run_cli, model):
    code, out, _ = run_cli("nodes")
    assert code == 0
    panel = None
    headings = []
    seen = {}
    columns = set()
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            panel = line[:-1]
            headings.append(panel)
        elif line.startswith("  "):
            name = line.split()[0]
            seen[name] = panel
            columns.add(line.index(" " + "|".join(model.priors.nodes[name].states)))
    assert len(headings) == len(set(headings))  # one heading per panel
    assert set(seen) == set(model.states)
    for name, found in seen.items():
        assert found == model.priors.nodes[name].panel
    assert len(columns) == 1  # the states column starts at the same place on every line
    code, out, _ = run_cli("nodes", "--json")
    records = json.loads(out)
    assert [r["node"] for r in records] == list(seen)
    for r in records:
        spec = model.priors.nodes[r["node"]]
        assert (r["panel"], r["layer"], tuple(r["states"]), r["description"]) == (
            spec.panel,
            spec.layer,
            spec.states,
            spec.description,
        )


# -- red flags (data from priors/red_flags.csv) ------------------------------------------------------


def test_red_flags_line_and_json_key(run_cli, model):
    from fasciculation_dx.network.red_flags import red_flags_present

    evidence = {"tongue_fasciculations": "yes", "caffeine": "yes"}
    expected = red_flags_present(model.priors, evidence)
    assert [f["node"] for f in expected] == ["tongue_fasciculations"]
    code, out, _ = run_cli("query", "--json", "tongue_fasciculations=yes", "caffeine=yes")
    assert code == 0 and json.loads(out)["red_flags"] == expected
    text = flat(format_query(query_result(model, evidence)))
    flag = expected[0]
    assert f"Red flags present, in the words of the guideline that lists each: {flag['guideline']}: " in text
    assert (
        f"{flag['guideline']}: tongue_fasciculations=yes ({flat(flag['text'])})." in text
    )  # one flag: its words whole
    quiet = query_result(model, {"caffeine": "yes"})
    assert quiet["red_flags"] == [] and "Red flags present" not in format_query(quiet)


RED_FLAG_PICTURE = {
    "tongue_fasciculations": "yes",
    "bulbar_symptoms": "~yes",
    "weakness": "yes",
    "atrophy": "yes",
    "emg_fibrillations": "present",
}


def _clauses(text: str) -> list[str]:
    return [c.strip() for c in text.split(";") if c.strip()]


def test_red_flags_line_says_a_guidelines_shared_sentence_once(model):
    from fasciculation_dx.network.red_flags import red_flags_present

    flags = red_flags_present(model.priors, model.read_evidence(RED_FLAG_PICTURE)[0])
    by_guideline: dict[str, list[dict]] = {}
    for flag in flags:
        by_guideline.setdefault(flag["guideline"], []).append(flag)
    assert len(by_guideline) >= 2 and any(len(group) >= 3 for group in by_guideline.values())
    result = query_result(model, RED_FLAG_PICTURE)
    assert result["red_flags"] == flags  # the JSON list is unchanged: one record per flag
    text = flat(format_query(result))
    line = text[text.index("Red flags present") : text.index("Why ")]
    for guideline, group in by_guideline.items():
        assert line.count(f"{guideline}: ") == 1, guideline  # each guideline named once
        common = set.intersection(*(set(_clauses(f["text"])) for f in group))
        if len(group) > 1:
            assert common, guideline  # NICE NG42's "if MND is suspected, refer without delay"
        for clause in common:
            assert line.count(clause) == 1, clause  # said once, not once per finding
            assert f"for each: {clause}" in line or len(group) == 1
        for flag in group:
            for clause in _clauses(flag["text"]):
                assert clause in line, clause  # every other word of the guideline is still there
            assert f"{flag['node']}={flag['state']}" in line
    assert "bulbar_symptoms=yes, entered as uncertain" in line
    assert "weakness=yes, entered as uncertain" not in line

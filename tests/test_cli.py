"""The ``fasciculation-dx`` command line: query (table and JSON), errors, help, nodes, demo."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli import main as cli
from fasciculation_dx.reporting.scenarios import DEMO_PATIENTS

DISCLAIMER = "These probabilities support clinical judgement; they are not a diagnosis."
EVIDENCE = ["weakness=yes", "emg_fibrillations=present", "age_group=65_plus"]
TWO_NODE = Path(__file__).parent / "data" / "two_node"
IMPOSSIBLE = Path(__file__).parent / "data" / "impossible"


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


def evidence_dict(words):
    return dict(w.split("=", 1) for w in words)


# -- query -------------------------------------------------------------------------------------


def test_query_prints_table_with_disclaimer(run_cli, model):
    code, out, err = run_cli("query", *EVIDENCE)
    assert code == 0
    assert err == ""
    assert DISCLAIMER in out
    assert out.rstrip().splitlines()[-1].startswith(DISCLAIMER)
    assert "weakness=yes" in out and "emg_fibrillations=present" in out
    assert "Setting: primary_care" in out
    post = model.posterior(evidence_dict(EVIDENCE))
    # the first ranked row names the leading etiology
    ranked = [line.split() for line in out.splitlines() if line.strip().startswith("1 ")]
    assert ranked and ranked[0][1] == post.index[0]
    for name in post.index[:3]:
        assert name in out


def test_query_without_evidence(run_cli, model):
    code, out, _ = run_cli("query")
    assert code == 0
    assert DISCLAIMER in out
    assert model.posterior().index[0] in out


def test_query_via_python_m():
    proc = subprocess.run(
        [sys.executable, "-m", "fasciculation_dx", "query", *EVIDENCE], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert DISCLAIMER in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "weakness=yes" in proc.stdout


def test_query_json(run_cli, model):
    code, out, err = run_cli("query", "--json", *EVIDENCE)
    assert code == 0 and err == ""
    data = json.loads(out)
    for key in ("posterior", "category", "group", "explanation", "next_tests"):
        assert key in data
    assert data["setting"] == "primary_care"
    assert data["evidence"] == evidence_dict(EVIDENCE)
    assert math.isclose(sum(data["posterior"].values()), 1.0, abs_tol=1e-9)
    assert math.isclose(sum(data["category"].values()), 1.0, abs_tol=1e-9)
    assert math.isclose(sum(data["group"].values()), 1.0, abs_tol=1e-9)
    post = model.posterior(evidence_dict(EVIDENCE))
    assert list(data["posterior"]) == list(post.index)
    for name, p in post.items():
        assert data["posterior"][name] == pytest.approx(p, abs=1e-12)
    assert sorted(row["node"] for row in data["explanation"]) == sorted(evidence_dict(EVIDENCE))
    assert data["next_tests"] and all(row["node"] not in data["evidence"] for row in data["next_tests"])
    assert len(data["next_tests"]) <= data["top"]


def test_query_setting(run_cli):
    code, out, _ = run_cli("query", "--json", "--setting", "neuromuscular_clinic", *EVIDENCE)
    assert code == 0
    data = json.loads(out)
    assert data["setting"] == "neuromuscular_clinic"
    clinic = fdx.load_model(setting="neuromuscular_clinic").posterior(evidence_dict(EVIDENCE))
    for name, p in clinic.items():
        assert data["posterior"][name] == pytest.approx(p, abs=1e-12)
    _, out_primary, _ = run_cli("query", "--json", *EVIDENCE)
    primary = json.loads(out_primary)["posterior"]
    assert max(abs(primary[e] - data["posterior"][e]) for e in primary) > 1e-4
    code, out, _ = run_cli("query", "--setting", "neuromuscular_clinic", *EVIDENCE)
    assert code == 0 and "Setting: neuromuscular_clinic" in out


def test_query_other_priors_dir(run_cli):
    code, out, _ = run_cli("query", "--json", "--priors", str(TWO_NODE), "weakness=yes")
    assert code == 0
    data = json.loads(out)
    assert data["posterior"]["als"] == pytest.approx(0.08 / 0.175, abs=1e-12)


def test_query_json_with_a_decisive_finding(run_cli):
    """Tetany occurs only with hypocalcemia in tests/data/impossible, so the posterior is certain
    and the weights of evidence are infinite: JSON has no infinity, so they are written as null
    (this used to crash with a traceback)."""
    code, out, err = run_cli("query", "--json", "--priors", str(IMPOSSIBLE), "tetany_or_paresthesia=yes", "cramps=yes")
    assert code == 0, err
    assert "Traceback" not in err
    data = json.loads(out)
    assert data["posterior"]["hypocalcemia"] == pytest.approx(1.0, abs=1e-12)
    row = next(r for r in data["explanation"] if r["node"] == "tetany_or_paresthesia")
    assert row["woe_vs_rest"] is None and row["lr_vs_rest"] is None
    assert math.isclose(sum(data["posterior"].values()), 1.0, abs_tol=1e-9)


RED_FLAG = ["age_group=under_40", "caffeine=yes", "stress_anxiety=yes", "tongue_fasciculations=yes"]


def _explanation_rows(out: str) -> dict[str, list[str]]:
    """The explanation table's rows, finding -> cells, read from the text output."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "path. vs benign" in line and line.strip().startswith("finding"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        finding, *cells = line.split()
        rows[finding] = cells
    return rows


def test_query_text_shows_the_pathological_weight(run_cli, model):
    code, out, err = run_cli("query", *RED_FLAG)
    assert code == 0 and err == ""
    assert "for a pathological cause against a benign one" in out
    explanation = model.explain(evidence_dict(RED_FLAG)).set_index("node")
    rows = _explanation_rows(out)
    assert set(rows) == {f"{w}" for w in RED_FLAG}
    for word in RED_FLAG:
        node = word.split("=")[0]
        # likelihood ratios written as factors to two significant figures: x4.2, x0.31, x150
        vs_rest, vs_runner, pathological = (float(cell.removeprefix("x").replace(",", "")) for cell in rows[word])
        assert pathological == pytest.approx(explanation.loc[node, "lr_pathological_vs_benign"], rel=0.05, abs=0.005)
        assert vs_rest == pytest.approx(explanation.loc[node, "lr_vs_rest"], rel=0.05, abs=0.005)
    assert float(rows["tongue_fasciculations=yes"][2].removeprefix("x")) > 1


def test_query_json_has_the_pathological_weight_and_test_tiers(run_cli, model):
    code, out, err = run_cli("query", "--json", *RED_FLAG)
    assert code == 0 and err == ""
    data = json.loads(out)
    explanation = model.explain(evidence_dict(RED_FLAG)).set_index("node")
    for row in data["explanation"]:
        assert row["woe_pathological_vs_benign"] == pytest.approx(
            explanation.loc[row["node"], "woe_pathological_vs_benign"], abs=1e-12
        )
        assert row["lr_pathological_vs_benign"] == pytest.approx(math.exp(row["woe_pathological_vs_benign"]))
    assert data["next_tests_order"] == "tier" and data["max_tier"] is None
    for row in data["next_tests"]:
        test = model.priors.tests[row["node"]]
        assert (row["tier"], row["cost_band"], row["invasiveness"]) == (test.tier, test.cost_band, test.invasiveness)


def test_query_text_shows_the_tier_of_each_suggested_test(run_cli, model):
    code, out, _ = run_cli("query", "--top", "40", *EVIDENCE)
    assert code == 0
    assert "cheapest useful tier first" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["finding", "tier", "cost"])
    end = next(i for i in range(header + 1, len(lines)) if not lines[i].startswith("  "))
    shown = [line.split() for line in lines[header + 1 : end]]
    table = model.next_tests(evidence_dict(EVIDENCE), top=40)
    assert [cells[0] for cells in shown] == list(table["node"])
    assert [cells[1] for cells in shown] == list(table["tier"])


def test_query_max_tier_and_order(model, run_cli):
    code, out, _ = run_cli("query", "--json", "--max-tier", "blood_test", "--order", "gain", "--top", "100", *EVIDENCE)
    assert code == 0
    data = json.loads(out)
    tiers = {row["tier"] for row in data["next_tests"]}
    assert tiers <= {"history", "bedside_examination", "blood_test"} and "blood_test" in tiers
    gains = [row["info_gain_etiology"] for row in data["next_tests"]]
    assert gains == sorted(gains, reverse=True)
    assert data["next_tests_order"] == "gain" and data["max_tier"] == "blood_test"
    code, out, _ = run_cli("query", "--max-tier", "history", *EVIDENCE)
    assert code == 0 and "Only tiers up to and including history." in out


@pytest.mark.parametrize("option, value", [("--max-tier", "labs"), ("--order", "cost")])
def test_query_bad_tier_or_order_names_the_choices(capsys, option, value):
    with pytest.raises(SystemExit) as info:
        cli.main(["query", option, value, *EVIDENCE])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{value}'" in err
    assert ("'bedside_examination'" in err and "'genetic'" in err) or "'gain_per_cost'" in err


def test_query_help_lists_the_tiers(capsys):
    with pytest.raises(SystemExit):
        cli.main(["query", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--max-tier TIER" in out and "--order {tier,gain,gain_per_cost}" in out
    assert "history, bedside_examination, blood_test, electrodiagnosis, antibody, imaging, genetic" in out


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words, expected",
    [
        (["weaknes=yes"], "Did you mean 'weakness'?"),
        (["weakness=yes", "tongue_fasiculations=yes"], "Did you mean 'tongue_fasciculations'?"),
        (["weakness=maybe"], "Valid states: no, yes"),
        (["emg_fibrillations=presnt"], "Did you mean 'present'?"),
        (["weakness"], "node=state"),
        (["weakness=yes", "weakness=no"], "given twice"),
        (["etiology=als"], "cannot be entered as evidence"),
        (["motor_axon_loss=present"], "latent mechanism"),
    ],
)
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_bad_evidence_one_line_error(run_cli, words, expected, json_flag):
    code, out, err = run_cli("query", *json_flag, *words)
    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0]
    assert lines[0].startswith("fasciculation-dx: error:")
    assert "Traceback" not in err


def test_bad_evidence_via_python_m():
    proc = subprocess.run(
        [sys.executable, "-m", "fasciculation_dx", "query", "weaknes=yes"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Did you mean 'weakness'?" in lines[0]


def test_unknown_setting_is_an_error(run_cli):
    code, out, err = run_cli("query", "--setting", "emergency_room", "weakness=yes")
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "primary_care" in lines[0] and "neuromuscular_clinic" in lines[0]


# -- help, nodes, demo, validate -------------------------------------------------------------------


def test_help_mentions_clinical_judgement(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "clinical judgement" in out
    assert "query" in out and "validate" in out


def test_query_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["query", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--json" in out and "--setting" in out and "clinical judgement" in out


def test_no_command_prints_help(run_cli):
    code, out, _ = run_cli()
    assert code != 0
    assert "usage:" in out


def test_nodes_lists_evidence_nodes(run_cli, model):
    code, out, _ = run_cli("nodes")
    assert code == 0
    first_words = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert "weakness" in first_words
    assert set(model.states) <= first_words
    assert "motor_axon_loss" not in first_words and "etiology" not in first_words
    weakness = next(line for line in out.splitlines() if line.split()[0] == "weakness")
    assert "no|yes" in weakness


def test_demo_runs(run_cli):
    code, out, err = run_cli("demo")
    assert code == 0
    assert "Traceback" not in err
    assert out.count(DISCLAIMER) == len(DEMO_PATIENTS)
    for patient in DEMO_PATIENTS:
        assert f"== {patient.title}" in out


def test_demo_examples_are_valid_evidence(model):
    for evidence in (dict(p.evidence) for p in DEMO_PATIENTS):
        post = model.posterior(evidence)
        assert math.isclose(post.sum(), 1.0, abs_tol=1e-9)


def test_validate_test_priors(run_cli):
    code, out, _ = run_cli("validate", str(TWO_NODE))
    assert code == 0 and "valid" in out

"""Scoring case sets; the clinical suite scored through evaluate; the research CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.evaluate import compare, evaluate, plot_reliability, reliability_table
from fasciculation_dx.analysis.simulate import perturb_priors, simulate
from fasciculation_dx.cli.main import main as cli_main

CLINICAL = Path(__file__).parent / "clinical" / "cases.csv"


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


def test_clinical_suite_scored_through_evaluate(priors):
    ev = evaluate(CLINICAL, priors)
    print("\nclinical case suite:\n" + ev.metrics.to_string(float_format=lambda x: f"{x:.4f}"))
    cases = pd.read_csv(CLINICAL, dtype=str, keep_default_na=False)
    assert ev.metrics["n"] == (cases["etiology"] != "").sum()
    # ranks agree with Model.posterior's ordering (each case in its own setting)
    models = {s: fdx.Model(priors, s) for s in priors.settings}
    for _, row in ev.cases.head(10).iterrows():
        case = cases[cases["case_id"] == row["case_id"]].iloc[0]
        evidence = {k: v for k, v in case.items() if k in models[row["setting"]].states and v != ""}
        post = models[row["setting"]].posterior(evidence)
        assert list(post.index).index(row["etiology"]) + 1 == row["rank"]
    assert ev.per_etiology["n"].sum() == ev.metrics["n"]


def test_metrics_on_a_hand_checked_case_set(priors):
    table = pd.DataFrame({"weakness": ["yes", "no", ""], "etiology": ["als", "benign_fasciculation_syndrome", ""]})
    ev = evaluate(table, priors)
    post = ev.posteriors.to_numpy()
    names = list(ev.posteriors.columns)
    truth = [names.index("als"), names.index("benign_fasciculation_syndrome")]
    assert ev.metrics["n"] == 2
    assert ev.metrics["log_loss"] == pytest.approx(-np.mean(np.log(post[[0, 1], truth])))
    onehot = np.zeros_like(post)
    onehot[[0, 1], truth] = 1
    assert ev.metrics["brier"] == pytest.approx(np.mean(((post - onehot) ** 2).sum(axis=1)))
    assert ev.metrics["auc_pathological"] in (0.0, 0.5, 1.0)
    path = ev.cases["p_pathological"].to_numpy()
    assert ev.metrics["citl_pathological"] == pytest.approx(path.mean() - 0.5)


def test_auc_is_the_rank_statistic(priors):
    cohort = simulate(priors, 300, setting="neuromuscular_clinic", missing=0.3, seed=8)
    ev = evaluate(cohort, priors, setting="neuromuscular_clinic")
    from sklearn.metrics import roc_auc_score

    expected = roc_auc_score(ev.cases["pathological"], ev.cases["p_pathological"])
    assert ev.metrics["auc_pathological"] == pytest.approx(expected)
    rel = reliability_table(ev, kind="etiology")
    assert rel["count"].sum() == 300 * len(priors.etiologies)
    assert ((rel["mean_predicted"] >= rel["bin_low"] - 1e-12) & (rel["mean_predicted"] <= rel["bin_high"])).all()


def test_compare_scores_two_priors_side_by_side(priors, tmp_path):
    wrong = perturb_priors(priors, sigma=1.0, seed=2)
    cohort = simulate(priors, 300, setting="neuromuscular_clinic", missing=0.2, seed=9)
    table, evaluations = compare(cohort, {"true": priors, "wrong": wrong}, setting="neuromuscular_clinic")
    assert list(table.columns) == ["true", "wrong", "difference"]
    assert table.loc["log_loss", "true"] < table.loc["log_loss", "wrong"]
    fig = plot_reliability(evaluations, tmp_path / "rel.png")
    assert (tmp_path / "rel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2


def test_unlabelled_case_sets_are_refused(priors):
    with pytest.raises(fdx.EvidenceError, match="no case with a confirmed etiology"):
        evaluate(pd.DataFrame({"weakness": ["yes"]}), priors)


def test_cli_simulate_calibrate_evaluate(tmp_path, capsys):
    cases = tmp_path / "sim.csv"
    assert cli_main(["simulate", "-n", "80", "--missing", "0.3", "--seed", "1", "-o", str(cases)]) == 0
    assert cli_main(["simulate", "-n", "10", "-o", str(cases)]) == 2  # exists
    out = tmp_path / "cal"
    assert cli_main(["calibrate", str(cases), "--out", str(out), "--max-iter", "3"]) == 0
    assert fdx.validate_priors(out) == []
    assert cli_main(["calibrate", str(cases), "--out", str(out), "--max-iter", "1"]) == 2
    assert cli_main(["calibrate", str(cases), "--out", str(out), "--max-iter", "1", "--overwrite"]) == 0
    png = tmp_path / "rel.png"
    capsys.readouterr()
    assert cli_main(["evaluate", str(cases), "--compare", str(out), "--reliability", str(png), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["metrics"]) == 2 and png.is_file()
    assert cli_main(["evaluate", str(tmp_path / "nope.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("weakness,etiology\nmaybe,als\n")
    assert cli_main(["evaluate", str(bad)]) == 2
    assert "row 2" in capsys.readouterr().err


def test_cli_evaluate_refuses_an_existing_diagram_unless_overwrite(tmp_path, capsys, priors):
    cases = tmp_path / "sim.csv"
    simulate(priors, 60, missing=0.3, seed=3).to_csv(cases, index=False)
    png = tmp_path / "rel.png"
    png.write_bytes(b"my old figure")
    capsys.readouterr()
    assert cli_main(["evaluate", str(cases), "--reliability", str(png)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and "Traceback" not in err
    assert png.read_bytes() == b"my old figure"
    (tmp_path / "dir.png").mkdir()
    assert cli_main(["evaluate", str(cases), "--reliability", str(tmp_path / "dir.png")]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert cli_main(["evaluate", str(cases), "--reliability", str(png), "--overwrite"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.png", "rel.png", "sim.csv"]  # no temporary left
    ev = evaluate(cases, priors)
    with pytest.raises(fdx.errors.OutputExistsError):
        plot_reliability(ev, png, overwrite=False)


def test_cli_evaluate_rejects_a_truncated_row(tmp_path, capsys):
    bad = tmp_path / "short.csv"
    bad.write_text("weakness,atrophy,etiology\nyes,no,als\nno,als\n")
    capsys.readouterr()
    assert cli_main(["evaluate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "Got 2 instead" in err and "Traceback" not in err

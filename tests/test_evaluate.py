"""Scoring case sets; the clinical suite scored through evaluate; the research CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.decision_curve import DEFAULT_THRESHOLDS, decision_curve, threshold_grid
from fasciculation_dx.analysis.evaluate import compare, decision_curves, evaluate, plot_reliability, reliability_table
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
    assert list(table.columns) == ["true", "wrong", "difference", "ci_low", "ci_high", "favours", "better"]
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


# -- decision curve -------------------------------------------------------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_decision_curve_on_a_hand_computed_example():
    # p: 0.9 (pathological), 0.6 (benign), 0.3 (pathological), 0.1 (benign); n = 4, prevalence 1/2
    curve = decision_curve([0.9, 0.6, 0.3, 0.1], [True, False, True, False], [0.05, 0.2, 0.25, 0.5, 0.75])
    assert list(curve.columns) == [
        "threshold",
        "net_benefit_model",
        "net_benefit_refer_all",
        "net_benefit_refer_none",
        "referral_rate",
    ]
    assert curve["threshold"].tolist() == [0.05, 0.2, 0.25, 0.5, 0.75]
    # t=0.05: all 4 referred, TP 2, FP 2: 2/4 - 2/4 * 1/19
    # t=0.2 and 0.25: 3 referred (0.9, 0.6, 0.3), TP 2, FP 1: 2/4 - 1/4 * 1/4 and 2/4 - 1/4 * 1/3
    # t=0.5: 2 referred (0.9, 0.6), TP 1, FP 1: 1/4 - 1/4 * 1 = 0
    # t=0.75: 1 referred (0.9), TP 1: 1/4
    expected = [0.5 - 0.5 / 19, 0.5 - 0.25 / 4, 0.5 - 0.25 / 3, 0.0, 0.25]
    assert curve["net_benefit_model"].tolist() == pytest.approx(expected, abs=1e-12)
    assert curve["referral_rate"].tolist() == [1.0, 0.75, 0.75, 0.5, 0.25]
    assert curve["net_benefit_refer_all"].tolist() == pytest.approx([0.5 - 0.5 / 19, 0.375, 0.5 - 0.5 / 3, 0.0, -1.0])
    assert curve.attrs == {"n": 4, "prevalence": 0.5}
    # a probability exactly at the threshold is referred (P >= t); 0/1 labels work like booleans
    at = decision_curve([0.2, 0.1], [0, 1], [0.2])
    assert at["referral_rate"].item() == 0.5 and at["net_benefit_model"].item() == pytest.approx(-0.5 * 0.25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decision_curve_refer_none_refer_all_and_a_perfect_classifier(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.3
    p = rng.random(200)
    t = threshold_grid(0.01, 0.5, 0.01)
    prevalence = y.mean()
    curve = decision_curve(p, y, t)
    assert (curve["net_benefit_refer_none"] == 0).all()
    assert curve["net_benefit_refer_all"].to_numpy() == pytest.approx(prevalence - (1 - prevalence) * t / (1 - t))
    # referring everyone (p = 1 for every case) is exactly "refer all"
    everyone = decision_curve(np.ones_like(p), y, t)
    assert everyone["net_benefit_model"].to_numpy() == pytest.approx(everyone["net_benefit_refer_all"].to_numpy())
    # a perfect classifier refers exactly the pathological cases: net benefit = prevalence everywhere
    perfect = decision_curve(y.astype(float), y, t)
    assert perfect["net_benefit_model"].to_numpy() == pytest.approx(np.full(len(t), prevalence))
    assert perfect["referral_rate"].to_numpy() == pytest.approx(np.full(len(t), prevalence))


def test_threshold_grid_and_default_thresholds():
    assert threshold_grid(0.01, 0.5, 0.01).tolist() == [round(0.01 * k, 2) for k in range(1, 51)]
    assert DEFAULT_THRESHOLDS.tolist() == threshold_grid().tolist()
    assert threshold_grid(0.1, 0.1, 0.05).tolist() == [0.1]
    assert threshold_grid(0.1, 0.35, 0.1).tolist() == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("thresholds", "match"),
    [
        ([0.0, 0.1], "above 0 and below 1.*Got 0 instead"),
        ([0.2, 1.0], "above 0 and below 1.*Got 1 instead"),
        ([-0.1], "Got -0.1 instead"),
        ([float("nan")], "Got nan instead"),
        ([], "non-empty"),
        ([[0.1, 0.2]], "non-empty list"),
        (["a"], "must be numbers"),
    ],
)
def test_decision_curve_rejects_invalid_thresholds(thresholds, match):
    with pytest.raises(fdx.errors.ArgumentError, match=match):
        decision_curve([0.5, 0.2], [True, False], thresholds)


def test_decision_curve_rejects_invalid_cases_and_grids():
    with pytest.raises(fdx.errors.ArgumentError, match="same length"):
        decision_curve([0.5, 0.2], [True], [0.1])
    with pytest.raises(fdx.errors.ArgumentError, match="from 0 to 1"):
        decision_curve([1.5, 0.2], [True, False], [0.1])
    with pytest.raises(fdx.errors.ArgumentError, match="non-empty"):
        decision_curve([], [], [0.1])
    with pytest.raises(fdx.errors.ArgumentError, match="booleans or 0/1"):
        decision_curve([0.5, 0.2], [2, 0], [0.1])
    with pytest.raises(fdx.errors.ArgumentError, match="low must not exceed high"):
        threshold_grid(0.5, 0.1, 0.01)
    with pytest.raises(fdx.errors.ArgumentError, match="threshold high must be a probability above 0 and below 1"):
        threshold_grid(0.1, 1.0, 0.01)
    with pytest.raises(fdx.errors.ArgumentError, match="step must be a number above 0"):
        threshold_grid(0.1, 0.5, 0.0)


def test_evaluation_decision_curve_matches_its_cases(priors):
    cohort = simulate(priors, 150, setting="neuromuscular_clinic", missing=0.3, seed=4)
    ev = fdx.Model(priors, "neuromuscular_clinic").evaluate(cohort)
    curve = ev.decision_curve()
    assert curve["threshold"].tolist() == DEFAULT_THRESHOLDS.tolist()
    direct = decision_curve(ev.cases["p_pathological"], ev.cases["pathological"], DEFAULT_THRESHOLDS)
    pd.testing.assert_frame_equal(curve, direct)
    assert curve.attrs["prevalence"] == pytest.approx(ev.cases["pathological"].mean())
    wrong = perturb_priors(priors, sigma=1.0, seed=2)
    _, evaluations = compare(cohort, {"true": priors, "wrong": wrong}, setting="neuromuscular_clinic")
    both = decision_curves(evaluations, [0.05, 0.1, 0.2])
    assert both["priors"].tolist() == ["true"] * 3 + ["wrong"] * 3
    assert both.columns.tolist()[0] == "priors" and len(both.columns) == 6
    # the same cases: "refer all" does not depend on the model
    assert both["net_benefit_refer_all"].iloc[:3].tolist() == both["net_benefit_refer_all"].iloc[3:].tolist()


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_SIGNATURE and len(data) > 5_000


def test_cli_evaluate_writes_the_decision_curve(tmp_path, capsys, priors):
    cases = tmp_path / "sim.csv"
    simulate(priors, 80, missing=0.3, seed=5).to_csv(cases, index=False)
    other = tmp_path / "wrong"
    fdx.write_priors(perturb_priors(priors, sigma=1.0, seed=2), other)
    csv, png = tmp_path / "dca.csv", tmp_path / "dca.png"
    capsys.readouterr()
    args = ["evaluate", str(cases), "--decision-curve", str(csv), "--thresholds", "0.05", "0.5", "0.05"]
    assert cli_main(args) == 0
    assert f"wrote the decision curve to {csv} and {png}" in capsys.readouterr().out
    table = pd.read_csv(csv)
    assert table.columns.tolist() == [
        "priors",
        "threshold",
        "net_benefit_model",
        "net_benefit_refer_all",
        "net_benefit_refer_none",
        "referral_rate",
    ]
    assert table["threshold"].tolist() == pytest.approx([0.05 * k for k in range(1, 11)])
    assert set(table["priors"]) == {"shipped"}
    ev = evaluate(cases, priors)
    expected = ev.decision_curve(table["threshold"].to_numpy())
    assert table["net_benefit_model"].to_numpy() == pytest.approx(expected["net_benefit_model"].to_numpy())
    assert _is_png(png)
    # refused without --overwrite (nothing changed), replaced with it; with --compare both models appear
    before = csv.read_bytes()
    assert cli_main([*args, "--compare", str(other)]) == 2
    assert "already exists" in capsys.readouterr().err and csv.read_bytes() == before
    assert cli_main([*args, "--compare", str(other), "--overwrite", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {row["priors"] for row in data["decision_curve"]} == {"shipped", str(other)}
    table = pd.read_csv(csv)
    assert table["priors"].tolist() == ["shipped"] * 10 + [str(other)] * 10
    assert _is_png(png)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dca.csv", "dca.png", "sim.csv", "wrong"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--thresholds", "0", "0.5", "0.01"], "threshold low must be a probability above 0 and below 1"),
        (["--thresholds", "0.1", "1", "0.01"], "threshold high must be a probability above 0 and below 1"),
        (["--thresholds", "0.4", "0.1", "0.01"], "low must not exceed high"),
        (["--thresholds", "0.1", "0.4", "-0.1"], "step must be a number above 0"),
        (["--thresholds", "0.1", "0.4", "nan"], "step must be a number above 0"),
    ],
)
def test_cli_evaluate_rejects_invalid_thresholds(tmp_path, capsys, priors, extra, message):
    cases = tmp_path / "sim.csv"
    simulate(priors, 20, missing=0.3, seed=6).to_csv(cases, index=False)
    capsys.readouterr()
    assert cli_main(["evaluate", str(cases), "--decision-curve", str(tmp_path / "dca.csv"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.csv"]


def test_cli_evaluate_decision_curve_needs_a_csv_name(tmp_path, capsys, priors):
    cases = tmp_path / "sim.csv"
    simulate(priors, 20, missing=0.3, seed=6).to_csv(cases, index=False)
    capsys.readouterr()
    assert cli_main(["evaluate", str(cases), "--decision-curve", str(tmp_path / "dca.png")]) == 2
    assert "takes a .csv file" in capsys.readouterr().err


def test_decision_curve_plot_draws_every_model():
    from matplotlib.figure import Figure

    from fasciculation_dx.reporting.plots import decision_curve_plot

    curve = decision_curve([0.9, 0.6, 0.3, 0.1], [True, False, True, False])
    long = pd.concat([curve.assign(priors="a"), curve.assign(priors="b")], ignore_index=True)
    ax = decision_curve_plot(long, ax=Figure().subplots())
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["refer all", "refer none"] and len(labels) == 4 and labels[-1].endswith(": b")
    single = decision_curve_plot(curve, ax=Figure().subplots(), title="one")
    assert len(single.get_lines()) == 3 and single.get_title() == "one"

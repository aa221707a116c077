"""``evaluate --compare``: paired bootstrap intervals for every difference, and which direction is better."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.evaluate import (
    DIRECTION,
    _auc,
    _per_case,
    _weighted_auc,
    bootstrap_differences,
    compare,
    evaluate,
)
from fasciculation_dx.analysis.simulate import perturb_priors, simulate
from fasciculation_dx.cli.main import main as cli_main

SETTING = "neuromuscular_clinic"


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


@pytest.fixture(scope="module")
def scored(priors):
    wrong = perturb_priors(priors, sigma=1.0, seed=2)
    cohort = simulate(priors, 250, setting=SETTING, missing=0.2, seed=11)
    return compare(cohort, {"true": priors, "wrong": wrong}, setting=SETTING, resamples=400, seed=3)


def test_every_difference_has_an_interval_and_a_direction(scored):
    table, _ = scored
    assert list(table.columns) == ["true", "wrong", "difference", "ci_low", "ci_high", "favours", "better"]
    metrics = table.drop(index="n")
    assert set(metrics.index) == set(DIRECTION)
    assert (metrics["ci_low"] <= metrics["difference"] + 1e-12).all()
    assert (metrics["difference"] <= metrics["ci_high"] + 1e-12).all()
    assert (metrics["ci_low"] < metrics["ci_high"]).all()
    assert table.loc["log_loss", "better"] == "lower" and table.loc["top1", "better"] == "higher"
    assert table.loc["citl_pathological", "better"] == "closer to 0"
    # the perturbed priors are clearly worse on cases drawn from the true ones
    assert table.loc["log_loss", "ci_low"] > 0 and table.loc["log_loss", "favours"] == "true"
    assert table.loc["brier", "favours"] == "true"
    # favours follows the interval and the direction
    for metric, row in metrics.iterrows():
        if metric == "citl_pathological":
            continue
        if row["ci_low"] <= 0 <= row["ci_high"]:
            assert row["favours"] == "neither"
        else:
            wrong_is_higher = row["ci_low"] > 0
            assert row["favours"] == ("wrong" if wrong_is_higher == (row["better"] == "higher") else "true")


def test_the_bootstrap_is_paired_seeded_and_reproducible(scored):
    _, evaluations = scored
    first, last = evaluations["true"], evaluations["wrong"]
    one = bootstrap_differences(first, last, resamples=200, seed=5)
    assert one.equals(bootstrap_differences(first, last, resamples=200, seed=5))
    assert not one["ci_low"].equals(bootstrap_differences(first, last, resamples=200, seed=6)["ci_low"])
    same = bootstrap_differences(first, first, resamples=200, seed=5)  # paired: no difference in any resample
    assert (same["ci_low"] == 0).all() and (same["ci_high"] == 0).all()
    assert (same["favours"] == "neither").all()


def test_per_case_contributions_and_weighted_auc_match_the_metrics(scored):
    _, evaluations = scored
    ev = evaluations["wrong"]
    means = _per_case(ev).mean(axis=0)
    names = ["top1", "top3", "log_loss", "brier", "brier_pathological", "citl_pathological"]
    assert means == pytest.approx(ev.metrics[names].to_numpy(dtype=float))
    score = ev.cases["p_pathological"].to_numpy()
    positive = ev.cases["pathological"].to_numpy(dtype=bool)
    rng = np.random.default_rng(0)
    for _ in range(5):  # a resample's weights give the AUC of the resampled cases, ties included
        idx = rng.integers(0, len(score), len(score))
        weights = np.bincount(idx, minlength=len(score))[None, :].astype(float)
        assert _weighted_auc(score, positive, weights)[0] == pytest.approx(_auc(score[idx], positive[idx]))
    tied = np.array([0.1, 0.1, 0.5, 0.5, 0.9])
    labels = np.array([False, True, False, True, True])
    assert _weighted_auc(tied, labels, np.ones((1, 5)))[0] == pytest.approx(_auc(tied, labels))


def test_bootstrap_refuses_different_cases_and_bad_options(priors, scored):
    _, evaluations = scored
    other = evaluate(simulate(priors, 30, setting=SETTING, seed=12), priors, setting=SETTING)
    with pytest.raises(fdx.errors.ArgumentError, match="same cases"):
        bootstrap_differences(evaluations["true"], other)
    with pytest.raises(fdx.errors.ArgumentError, match="resamples must be a whole number of at least 2"):
        bootstrap_differences(evaluations["true"], evaluations["wrong"], resamples=1)
    with pytest.raises(fdx.errors.ArgumentError, match="level must be a number between 0 and 1"):
        bootstrap_differences(evaluations["true"], evaluations["wrong"], level=95)


def test_compare_without_resamples_has_no_interval(priors):
    cohort = simulate(priors, 40, setting=SETTING, seed=13)
    table, _ = compare(cohort, {"a": priors, "b": priors}, setting=SETTING, resamples=0)
    assert list(table.columns) == ["a", "b", "difference", "better"]


def test_cli_evaluate_compare_prints_intervals_and_the_glossary(priors, tmp_path, capsys):
    cases = tmp_path / "held_out.csv"
    simulate(priors, 60, missing=0.3, seed=2).to_csv(cases, index=False)
    other = tmp_path / "other"
    fdx.write_priors(perturb_priors(priors, sigma=0.5, seed=4), other)
    capsys.readouterr()
    base = ["evaluate", str(cases), "--compare", str(other), "--resamples", "100", "--seed", "7"]
    assert cli_main(base) == 0
    out = capsys.readouterr().out
    assert "ci_low" in out and "ci_high" in out and "favours" in out and "better" in out
    assert "paired bootstrap 95% interval over 100 resamples" in out
    assert cli_main([*base, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    comparison = data["comparison"]
    assert comparison["resamples"] == 100 and comparison["seed"] == 7 and comparison["last"] == str(other)
    assert set(comparison["metrics"]) == set(DIRECTION)
    log_loss = comparison["metrics"]["log_loss"]
    assert log_loss["ci_low"] <= log_loss["difference"] <= log_loss["ci_high"] and log_loss["better"] == "lower"
    with pytest.raises(SystemExit) as stop:
        cli_main([*base, "--resamples", "1"])
    assert stop.value.code == 2
    assert "--resamples must be a whole number of at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["evaluate", "--help"])
    help_text = capsys.readouterr().out
    assert "closer to 0" in help_text and "(lower)" in help_text and "simulate --seed 2" in help_text

"""Forward sampling of synthetic cohorts."""

from __future__ import annotations

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.cases import read_cases
from fasciculation_dx.analysis.simulate import perturb_priors, simulate
from fasciculation_dx.network.priors import CONDITIONAL_FINDINGS


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


def test_same_seed_same_cohort_and_valid_case_table(priors):
    a = simulate(priors, 200, missing=0.3, seed=11)
    b = simulate(priors, 200, missing=0.3, seed=11)
    assert a.equals(b)
    assert not a.equals(simulate(priors, 200, missing=0.3, seed=12))
    cases = read_cases(a, priors)
    assert cases.n == 200 and cases.has_labels


def test_missing_fraction_is_respected(priors):
    cohort = simulate(priors, 400, missing=0.3, seed=1)
    evidence = cohort.drop(columns=["case_id", "setting", "etiology"])
    share = float((evidence == "").to_numpy().mean())
    assert 0.27 < share < 0.33
    full = simulate(priors, 500, missing=0.0, seed=1)
    described = [n for n in CONDITIONAL_FINDINGS if n in full.columns]
    assert (full.drop(columns=described) != "").all().all()
    for node in described:  # recorded exactly where the state it describes holds
        finding, wanted = CONDITIONAL_FINDINGS[node]
        assert ((full[node] != "") == (full[finding] == wanted)).all()
        assert (full[finding] == wanted).any() and (full[finding] != wanted).any()


def test_etiology_frequencies_follow_the_base_rates(priors):
    n = 4000
    cohort = simulate(priors, n, setting="neuromuscular_clinic", seed=5)
    rates = {p.key[1]: p.value for p in priors.base_rates if p.key[0] == "neuromuscular_clinic"}
    counts = cohort["etiology"].value_counts()
    for etiology, rate in rates.items():
        observed = counts.get(etiology, 0) / n
        assert abs(observed - rate) < 4 * np.sqrt(rate * (1 - rate) / n) + 1e-3


def test_findings_follow_the_model(priors):
    model = fdx.Model(priors, "neuromuscular_clinic")
    cohort = simulate(priors, 4000, setting="neuromuscular_clinic", seed=2)
    for node in ("weakness", "emg_fibrillations", "magnesium"):
        expected = model.predictive(node, {})
        observed = cohort[node].value_counts(normalize=True).reindex(expected.index, fill_value=0)
        assert np.max(np.abs(observed.to_numpy() - expected.to_numpy())) < 0.03


def test_perturbed_priors_differ_but_stay_consistent(priors, tmp_path):
    wrong = perturb_priors(priors, nodes=["weakness"], sigma=1.0, seed=3)
    before = {(r.file, r.line): r.value for r in priors.parameters()}
    after = {(r.file, r.line): r for r in wrong.parameters()}
    changed = [k for k, v in before.items() if after[k].value != v]
    assert changed and all(k[0] in ("base_rates.csv", "cpts/weakness.csv") for k in changed)
    assert all(after[k].low <= after[k].value <= after[k].high for k in changed)
    fdx.write_priors(wrong, tmp_path / "wrong")
    fdx.load_priors(tmp_path / "wrong")


def test_rejects_bad_arguments(priors):
    with pytest.raises(ValueError):
        simulate(priors, 10, missing=1.5)
    with pytest.raises(ValueError):
        simulate(priors, -1)


def test_simulate_shows_progress_unless_quiet(tmp_path, capsys):
    from fasciculation_dx.cli.main import main

    assert main(["simulate", "-n", "300", "--seed", "2", "-o", str(tmp_path / "a.csv")]) == 0
    err = capsys.readouterr().err
    assert "simulate" in err and "writing" in err
    assert main(["simulate", "-n", "300", "--seed", "2", "-o", str(tmp_path / "b.csv"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    # the blocks written one after another make the same file as one write
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_written_in_blocks_equals_written_at_once(tmp_path, monkeypatch):
    import fasciculation_dx as fdx
    from fasciculation_dx.analysis import cases

    cohort = simulate(fdx.load_priors(fdx.shipped_priors_dir()), 250, missing=0.3, seed=8)
    monkeypatch.setattr(cases, "WRITE_BLOCK", 100)
    cases.write_cases(cohort, tmp_path / "blocks.csv", progress=True)
    cohort.to_csv(tmp_path / "once.csv", index=False, lineterminator="\n")
    assert (tmp_path / "blocks.csv").read_bytes() == (tmp_path / "once.csv").read_bytes()

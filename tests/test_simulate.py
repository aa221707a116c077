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


# -- what is recorded: by test tier (the command's default) or uniformly ------------------------------------
HISTORY_AND_EXAM = ("caffeine", "stress_anxiety", "cramps", "weakness", "atrophy", "umn_signs", "tongue_fasciculations")
GENETIC = ("smn1_deletion", "ar_cag_expansion", "prnp_mutation")
EMG = ("emg_fasciculation_potentials", "emg_fibrillations", "emg_chronic_neurogenic")


def _recorded(cohort, nodes):
    return float((cohort[list(nodes)] != "").to_numpy().mean())


def test_tiers_record_history_and_examination_far_more_often_than_gene_tests(priors):
    cohort = simulate(priors, 3000, missingness="tiers", seed=21)
    assert all(priors.tests[n].tier in ("history", "bedside_examination") for n in HISTORY_AND_EXAM)
    assert all(priors.tests[n].tier == "genetic" for n in GENETIC)
    history_exam, genetic = _recorded(cohort, HISTORY_AND_EXAM), _recorded(cohort, GENETIC)
    assert history_exam > 0.6
    assert genetic < 0.05 and history_exam > 10 * genetic
    assert (cohort["smn1_deletion"] != "").mean() < 0.10
    assert (cohort[["age_group", "sex"]] != "").all().all()  # demographics are in every record
    # the shares follow the documented table (binomial noise at n = 3000 is about 0.01)
    from fasciculation_dx.analysis.simulate import RECORDING_PROBABILITIES

    table = RECORDING_PROBABILITIES["primary_care"]
    for node in ("magnesium", "emg_fibrillations", "caffeine"):
        assert abs((cohort[node] != "").mean() - table[priors.tests[node].tier]) < 0.03


def test_tiers_record_emg_and_antibodies_far_more_often_in_the_clinic(priors):
    primary = simulate(priors, 2000, missingness="tiers", seed=22)
    clinic = simulate(priors, 2000, setting="neuromuscular_clinic", missingness="tiers", seed=22)
    assert _recorded(clinic, EMG) > 5 * _recorded(primary, EMG)
    antibodies = ("vgkc_complex_antibodies", "anti_gm1_antibodies")
    assert _recorded(clinic, antibodies) > 5 * _recorded(primary, antibodies)
    # the pattern of the weakness is recorded only where weakness = yes was recorded
    assert ((clinic["weakness_pattern"] != "") <= (clinic["weakness"] == "yes")).all()


def test_uniform_mode_still_leaves_seventy_percent_of_gene_tests_recorded(priors):
    cohort = simulate(priors, 3000, missing=0.3, missingness="uniform", seed=23)
    for node in ("smn1_deletion", "prnp_mutation", "caffeine"):
        assert 0.67 < (cohort[node] != "").mean() < 0.73
    assert cohort.equals(simulate(priors, 3000, missing=0.3, seed=23))  # uniform is the Python default


def test_a_custom_recording_table(priors):
    table = {tier: 1.0 for tier in ("history", "bedside_examination", "blood_test", "electrodiagnosis", "antibody")}
    cohort = simulate(priors, 200, missingness={**table, "imaging": 0.0, "genetic": 0.0}, seed=24)
    assert (cohort[list(GENETIC)] == "").all().all() and (cohort["spinal_mri"] == "").all()
    assert (cohort[list(EMG)] != "").all().all()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"missingness": "mnar"}, ["mnar", "tiers", "uniform"]),
        ({"missingness": "tiers", "missing": 0.3}, ["missing", "uniform"]),
        ({"missingness": "tiers", "setting": "emergency"}, ["emergency", "primary_care", "uniform"]),
        ({"missingness": {"history": 1.0}}, ["bedside_examination"]),
        ({"missingness": {"history": 1.0, "bloods": 0.5}}, ["bloods", "blood_test"]),
        ({"missingness": {"history": 1.5}}, ["[0, 1]"]),
    ],
)
def test_bad_missingness_is_refused_with_what_is_valid(priors, kwargs, words):
    from fasciculation_dx.analysis.simulate import recording_probabilities

    setting = kwargs.pop("setting", "primary_care")
    with pytest.raises(fdx.errors.ArgumentError) as err:
        recording_probabilities(priors, setting, **kwargs)
    for word in words:
        assert word in str(err.value)


def test_simulate_command_records_by_tier_unless_missing_is_given(tmp_path, capsys):
    from fasciculation_dx.cli.main import main

    default, uniform = tmp_path / "tiers.csv", tmp_path / "uniform.csv"
    assert main(["simulate", "-n", "2000", "--seed", "3", "-o", str(default), "-q"]) == 0
    assert "by test tier" in capsys.readouterr().out
    assert main(["simulate", "-n", "2000", "--seed", "3", "--missing", "0.3", "-o", str(uniform), "-q"]) == 0
    assert "missing=0.3 uniformly" in capsys.readouterr().out
    tiers_cohort = read_cases(default, fdx.load_priors(fdx.shipped_priors_dir())).frame
    uniform_cohort = read_cases(uniform, fdx.load_priors(fdx.shipped_priors_dir())).frame
    assert (tiers_cohort["smn1_deletion"] != "").mean() < 0.10
    assert 0.66 < (uniform_cohort["smn1_deletion"] != "").mean() < 0.74
    code = main(["simulate", "-n", "10", "--missingness", "tiers", "--missing", "0.3", "-o", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--missingness uniform" in err and not (tmp_path / "x.csv").exists()

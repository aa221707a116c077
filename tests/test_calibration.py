"""Calibration: prior strength from ranges, EM, provenance, atomic and refusing writes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import fasciculation_dx as fdx
from fasciculation_dx.analysis import calibration as cal
from fasciculation_dx.analysis import em
from fasciculation_dx.analysis.simulate import perturb_priors, simulate
from fasciculation_dx.inference.compiled import CompiledEngine

SETTING = "neuromuscular_clinic"
PERTURBED = [
    "age_group",
    "caffeine",
    "emg_fasciculation_potentials",
    "magnesium",
    "fasciculation_distribution",
    "motor_axon_loss",
    "weakness",
    "cramps",
]


@pytest.fixture(scope="module")
def truth():
    return fdx.load_priors(fdx.shipped_priors_dir())


@pytest.fixture(scope="module")
def wrong(truth):
    return perturb_priors(truth, nodes=PERTURBED, sigma=0.8, seed=7)


def _values(priors):
    return {(r.file, r.line): r.value for r in priors.parameters() if r.file != "etiology_modifiers.csv"}


@pytest.fixture(scope="module")
def recovery(truth, wrong):
    """Calibrate the perturbed priors on cohorts of two sizes simulated from the truth."""
    t, w = _values(truth), _values(wrong)
    perturbed = [k for k in t if abs(t[k] - w[k]) > 1e-12]

    def mae(priors):
        v = _values(priors)
        return float(np.mean([abs(v[k] - t[k]) for k in perturbed]))

    out = {"before": mae(wrong)}
    results = {}
    for n in (150, 1500):
        cohort = simulate(truth, n, setting=SETTING, missing=0.3, seed=n)
        results[n] = cal.calibrate(cohort, wrong, setting=SETTING, max_iter=20, tol=1e-5)
        out[n] = mae(results[n].priors)
    return out, results


def test_row_concentration_spans_the_range():
    for value, low, high in [(0.25, 0.1, 0.45), (0.03, 0.005, 0.19), (0.9, 0.7, 0.97)]:
        alpha = cal.row_concentration(value, low, high)
        beta = stats.beta(alpha * value, alpha * (1 - value))
        assert beta.cdf(high) - beta.cdf(low) == pytest.approx(0.95, abs=1e-6)
    assert math.isinf(cal.row_concentration(0.5, 0.5, 0.5))
    assert math.isnan(cal.row_concentration(0.0, 0.0, 0.1))
    # a tighter range means a stronger prior
    assert cal.row_concentration(0.3, 0.25, 0.35) > cal.row_concentration(0.3, 0.1, 0.6)


def test_posteriors_equal_the_compiled_engine(truth):
    cohort = simulate(truth, 60, setting=SETTING, missing=0.4, seed=4)
    post = cal.case_posteriors(truth, cohort, SETTING)
    engine = CompiledEngine(truth, SETTING)
    for i, row in cohort.iterrows():
        evidence = {k: v for k, v in row.items() if k not in ("case_id", "setting", "etiology") and v != ""}
        np.testing.assert_allclose(post[i], engine.posterior(evidence), atol=1e-12)


def test_calibration_moves_toward_the_truth_more_with_more_data(recovery):
    mae, results = recovery
    print(
        f"\nmean absolute error over perturbed rows: before {mae['before']:.4f}, "
        f"n=150 {mae[150]:.4f}, n=1500 {mae[1500]:.4f}"
    )
    assert mae[150] < mae["before"]
    assert mae[1500] < mae[150]


def test_em_never_lowers_its_objective(recovery):
    """Accelerated proposals that would lower the log posterior are replaced by plain EM steps (the
    renormalised base rates make an EM step itself monotone only to about 1e-7 relative)."""
    _, results = recovery
    objective = np.array(results[1500].objective)
    assert len(objective) > 1
    assert np.all(np.diff(objective) >= -1e-6 * np.abs(objective[:-1]))


def test_complete_data_update_is_conjugate(truth):
    # only the etiology and a direct finding recorded: base rates and that column update in closed form
    cohort = pd.DataFrame({"magnesium": ["low"] * 30 + ["normal"] * 10, "etiology": ["hypomagnesemia"] * 40})
    result = cal.calibrate(cohort, truth, setting=SETTING, max_iter=5)
    table = em.ColumnTable(truth, "magnesium")
    i = table.rows.index(next(c for c in table.rows if c[0].key[0] == "hypomagnesemia"))
    alpha, prior = table.alpha[i], table.values[i]
    counts = np.array([{"low": 30, "normal": 10}.get(s, 0) for s in table.states])
    expected = (alpha * prior + counts) / (alpha + 40)
    new = {r.key[-1]: r.value for r in result.priors.cpts["magnesium"] if r.key[0] == "hypomagnesemia"}
    np.testing.assert_allclose([new[s] for s in table.states], expected, atol=2e-6)
    base = {p.key[1]: p.value for p in result.priors.base_rates if p.key[0] == SETTING}
    assert (
        base["hypomagnesemia"] > {p.key[1]: p.value for p in truth.base_rates if p.key[0] == SETTING}["hypomagnesemia"]
    )
    # primary-care base rates had no cases and stay as they were
    assert [p for p in result.priors.base_rates if p.key[0] == "primary_care"] == [
        p for p in truth.base_rates if p.key[0] == "primary_care"
    ]


def test_written_directory_validates_reloads_and_records_provenance(recovery, tmp_path):
    _, results = recovery
    result = cal.write_calibrated(results[150], tmp_path / "calibrated")
    assert fdx.validate_priors(result.directory) == []
    loaded = fdx.load_priors(result.directory)
    fdx.write_priors(loaded, tmp_path / "again")
    for path in sorted(result.directory.rglob("*.csv")):
        assert path.read_bytes() == (tmp_path / "again" / path.relative_to(result.directory)).read_bytes()
    source = loaded.sources[result.source.source_id]
    assert source.kind == "cohort" and "n=150" in source.citation and result.source.citation in source.citation
    changed = [r for r in loaded.parameters() if r.source_id == source.source_id]
    assert len(changed) == len(result.report) > 0
    assert all(r.note.startswith(f"Calibrated on {source.source_id}: was ") for r in changed)
    assert set(result.report.columns) >= {"file", "line", "old", "new", "change", "low", "high"}
    assert result.report["change"].abs().is_monotonic_decreasing
    fdx.Model(loaded, SETTING).posterior({"weakness": "yes"})


def test_refuses_shipped_and_existing_directories(recovery, tmp_path):
    _, results = recovery
    result = results[150]
    with pytest.raises(cal.OutputExistsError):
        cal.write_calibrated(result, fdx.shipped_priors_dir(), overwrite=True)
    with pytest.raises(cal.OutputExistsError):
        cal.write_calibrated(result, fdx.shipped_priors_dir() / "cpts", overwrite=True)
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(cal.OutputExistsError, match="not empty"):
        cal.write_calibrated(result, target)
    # a folder that calibration did not write is never replaced, even with overwrite
    with pytest.raises(cal.OutputExistsError, match="calibration.json"):
        cal.write_calibrated(result, target, overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    fresh = tmp_path / "fresh"
    cal.write_calibrated(result, fresh)
    assert (fresh / cal.PROVENANCE_FILE).is_file()
    assert fdx.validate_priors(fresh) == []
    cal.write_calibrated(result, fresh, overwrite=True)  # an earlier output may be replaced
    assert fdx.validate_priors(fresh) == []
    (fresh / "notes.txt").write_text("my notes")
    with pytest.raises(cal.OutputExistsError, match="notes.txt"):
        cal.write_calibrated(result, fresh, overwrite=True)
    assert (fresh / "notes.txt").read_text() == "my notes"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_never_replaces_a_folder_holding_the_shipped_priors(recovery, tmp_path):
    """A target that contains the shipped priors (the checkout root, the package folder) is refused."""
    _, results = recovery
    result = results[150]
    shipped = fdx.shipped_priors_dir()
    for holder in (shipped.parent, shipped.parent.parent):
        before = sorted(p.name for p in holder.iterdir())
        with pytest.raises(cal.OutputExistsError, match="refusing"):
            cal.write_calibrated(result, holder, overwrite=True)
        assert sorted(p.name for p in holder.iterdir()) == before
    # the same through the command line, before any case is read
    cases = tmp_path / "cases.csv"
    cases.write_text("weakness\nyes\n")
    code, _, err = _cli(["calibrate", str(cases), "--out", str(shipped.parent), "--overwrite"])
    assert code == 2 and "refusing" in err
    assert shipped.is_dir() and (shipped / "nodes.csv").is_file()


def _cli(argv):
    import contextlib
    import io

    from fasciculation_dx.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_calibrate_overwrite_keeps_a_complete_directory_at_the_target(recovery, tmp_path, monkeypatch):
    """Between the old and the new directory there is no moment when the target is missing."""
    from fasciculation_dx import atomic

    _, results = recovery
    result = results[150]
    target = tmp_path / "calibrated"
    cal.write_calibrated(result, target)
    seen = []
    real = atomic._swap_in

    def watch(staging, dest):
        real(staging, dest)
        seen.append((dest / "nodes.csv").is_file())

    monkeypatch.setattr(atomic, "_swap_in", watch)
    monkeypatch.setattr(atomic, "checkpoint", lambda name: seen.append((target / "nodes.csv").is_file()))
    cal.write_calibrated(result, target, overwrite=True)
    assert seen and all(seen)
    assert atomic._EXCHANGE is not None  # Linux: the swap is one renameat2(RENAME_EXCHANGE) call


def test_impossible_cases_are_named(truth):
    cohort = pd.DataFrame({"sex": ["female", "male"], "etiology": ["spinal_bulbar_muscular_atrophy", "als"]})
    with pytest.raises(fdx.EvidenceError, match="rows 2"):
        cal.calibrate(cohort, truth, max_iter=2)


# -- numbers as written ---------------------------------------------------------------------------
def test_rounded_columns_sum_to_one_as_written():
    from decimal import Decimal

    from fasciculation_dx.analysis.calibration_output import _round_column
    from fasciculation_dx.network.writer import format_number

    rng = np.random.default_rng(0)
    for _ in range(200):
        column = rng.dirichlet(np.full(31, 0.05))  # many tiny entries, as rare causes' base rates
        written = [Decimal(format_number(v)) for v in _round_column(column)]
        assert abs(sum(written) - 1) < Decimal("1e-15")  # the largest entry's float is the residual's nearest


def test_base_rates_a_rounding_off_one_are_still_fitted(recovery):
    """Base rates summing to 1 + 4e-13 (six significant digits per rate) are fitted to their
    proportions; the fit demanded 1e-13 absolute and refused them."""
    from fasciculation_dx.network.etiology import base_rate_vector, etiology_table

    priors = fdx.load_priors(fdx.shipped_priors_dir())
    rate = next(p for p in priors.base_rates if p.key == ("primary_care", "als"))
    shifted = priors.with_value(rate.file, rate.line, rate.value + 4e-13)
    table = etiology_table(shifted, "primary_care")
    engine = CompiledEngine(shifted, "primary_care")
    base = base_rate_vector(shifted, "primary_care")
    assert engine.posterior({}) == pytest.approx(base / base.sum(), abs=1e-12)
    assert np.allclose(table.sum(axis=0), 1)


def test_a_written_range_low_is_short():
    from fasciculation_dx.analysis.calibration_output import MIN_LOW, _range_low
    from fasciculation_dx.network.writer import format_number

    assert _range_low(2.22507e-308, 0.003) == MIN_LOW
    assert len(format_number(_range_low(2.22507e-308, 0.003))) < 20
    assert _range_low(2.22507e-308, 1e-14) == 1e-14  # never above the value
    assert _range_low(0.00123456789, 0.01) == pytest.approx(0.00123457)


def test_calibrating_an_ordinary_simulated_cohort_writes_reloadable_priors(tmp_path):
    """2,000 simulated patients with 30% missing: the written base rates must be reproducible
    (they were rounded to sum 1 +- 4e-13 and the reload failed after the whole EM run)."""
    priors = fdx.load_priors(fdx.shipped_priors_dir())
    cohort = simulate(priors, 2000, missing=0.3, seed=1)
    result = cal.calibrate(cohort, priors, max_iter=3, out=tmp_path / "calibrated")
    reloaded = fdx.load_model(tmp_path / "calibrated")
    assert reloaded.posterior({}).sum() == pytest.approx(1)
    assert result.iterations == 3


def test_a_rare_cause_absent_from_a_cohort_keeps_its_rate_inside_its_range(tmp_path):
    """A single Dirichlet over the base rates gave a cause at 2e-6 a pseudo-count of 7.5e-5: with
    none in the data its rate shrank 30-fold at 1,000 cases. Each rate now has its own prior."""
    priors = fdx.load_priors(fdx.shipped_priors_dir())
    cohort = simulate(priors, 3000, missing=0.3, seed=4)
    rare = [p for p in priors.base_rates if p.key[0] == "primary_care" and p.value < 1e-4]
    absent = [p for p in rare if p.key[1] not in set(cohort["etiology"])]
    assert absent, "the cohort should miss some rare cause"
    result = cal.calibrate(cohort, priors, max_iter=2)
    new = {p.key: p for p in result.priors.base_rates}
    for p in absent:
        written = new[p.key]
        assert p.low <= written.value <= p.high, (p.key, p.value, written.value)
        assert written.low > 1e-12 and written.low <= written.value <= written.high


# -- speed: distinct cases, components, acceleration ------------------------------------------------
def test_identical_cases_are_encoded_once_and_counted_by_weight(truth):
    cohort = simulate(truth, 300, setting=SETTING, missing=0.5, seed=3)[["weakness", "cramps", "etiology"]]
    doubled = pd.concat([cohort, cohort], ignore_index=True)
    model = em.ArrayModel(truth)
    once = em.CaseData(model, cal.read_cases(cohort, truth), SETTING)
    twice = em.CaseData(model, cal.read_cases(doubled, truth), SETTING)
    assert len(once.weights) < 300 and once.weights.sum() == 300  # three findings: patterns repeat
    assert len(twice.weights) == len(once.weights) and twice.weights.sum() == 600
    values = {n: t.values for n, t in model.tables.items()}
    base = {s: np.array([p.value for p in rows]) for s, rows in model.base_rows.items()}
    arrays = model.arrays(values, base, once.groups)
    post_once, post_twice = np.zeros((300, len(model.etiologies))), np.zeros((600, len(model.etiologies)))
    a = em.expected_counts(model, once, arrays, labelled=False, posteriors=post_once)
    b = em.expected_counts(model, twice, arrays, labelled=False, posteriors=post_twice)
    assert b.log_likelihood == pytest.approx(2 * a.log_likelihood, rel=1e-12)
    for node in a.config:
        np.testing.assert_allclose(b.config[node], 2 * a.config[node], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(post_twice, np.vstack([post_once, post_once]), atol=1e-14)


def test_squarem_reaches_plain_em_s_fixed_point_in_fewer_steps(truth, wrong):
    cohort = simulate(truth, 1500, setting=SETTING, missing=0.3, seed=5)
    plain = cal.calibrate(cohort, wrong, setting=SETTING, tol=1e-7, max_iter=400, accelerate=False)
    fast = cal.calibrate(cohort, wrong, setting=SETTING, tol=1e-7, max_iter=400)
    assert plain.converged and fast.converged
    assert fast.iterations < plain.iterations / 2, (fast.iterations, plain.iterations)
    a, b = _values(plain.priors), _values(fast.priors)
    assert max(abs(a[k] - b[k]) for k in a) < 2e-4
    assert "converged after" in fast.stopped and "accelerated cycles" in fast.stopped


def test_squarem_on_a_slow_linear_map():
    from fasciculation_dx.analysis.acceleration import squarem

    target = np.array([0.2, 0.3, 0.5])

    def step(x):
        new = target + 0.97 * (x - target)  # EM-like: a slow contraction toward the fixed point
        return new, -float(np.sum((x - target) ** 2)), 0.0

    plain = squarem(step, np.array([0.6, 0.3, 0.1]), tol=1e-10, max_evaluations=5000, accelerate=False)
    fast = squarem(step, np.array([0.6, 0.3, 0.1]), tol=1e-10, max_evaluations=5000)
    assert plain.converged and fast.converged
    np.testing.assert_allclose(fast.x, target, atol=1e-9)
    assert fast.evaluations < plain.evaluations / 10


def test_a_run_that_hits_the_step_limit_says_so(truth, wrong):
    cohort = simulate(truth, 200, setting=SETTING, missing=0.3, seed=6)
    result = cal.calibrate(cohort, wrong, setting=SETTING, max_iter=2)
    assert not result.converged and result.iterations == 2
    assert "reached the limit of 2 steps" in result.stopped and "raise --max-iter" in result.stopped


# -- ranges that account for what the data do not show ----------------------------------------------
def test_calibrated_ranges_cover_a_known_truth():
    """Ranges from expected counts covered 52-71% of changed latent rows against a nominal 95%.

    The truth moves ten columns (two of a latent mechanism) halfway to an end of their ranges;
    4,000 patients with 30% of cells missing are calibrated from the unmoved priors.
    """
    from fasciculation_dx.analysis import recovery as rc

    start = fdx.load_priors(fdx.shipped_priors_dir())
    truth = rc.shifted_truth(start)
    cohort = simulate(truth, 4000, missing=0.3, seed=11)
    result = cal.calibrate(cohort, start, tol=1e-5)
    table = rc.recovery_table(truth, result)
    shifted = rc.coverage(table, shifted_only=True)
    assert shifted["rows"] == 21
    assert shifted["error_after"] < shifted["error_before"] / 3
    assert shifted["covered95"] >= 0.85, table[table["shifted"]]
    # the ranges treating expected counts as observed (concentration alpha + N) are narrower and miss more
    report = result.report.set_index(["file", "line"])
    naive = []
    for row in table[table["shifted"]].itertuples():
        r = report.loc[(row.file, row.line)]
        low, high = stats.beta(
            row.estimate * (r.prior_alpha + r["count"]), (1 - row.estimate) * (r.prior_alpha + r["count"])
        ).ppf([0.025, 0.975])
        naive.append(low <= row.truth <= high)
    assert np.mean(naive) < shifted["covered95"]
    everything = rc.coverage(table, min_count=10)
    assert 0.85 <= everything["covered90"] <= 0.99

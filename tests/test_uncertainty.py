"""Monte Carlo over the parameters' ranges: fitting, reproducibility, exactness per draw, intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis import uncertainty as unc
from fasciculation_dx.analysis.parameter_distributions import reachable_range
from fasciculation_dx.inference.compiled import CompiledEngine

SMALL = Path(__file__).parent / "data" / "sens_small"


BULBAR_ALS = {
    "age_group": "65_plus",
    "sex": "male",
    "weakness": "yes",
    "emg_fibrillations": "present",
    "tongue_fasciculations": "yes",
}
"""A picture where motor neuron disease leads, used by the shipped-priors checks."""


@pytest.fixture(scope="module")
def small():
    return fdx.load_model(SMALL)


@pytest.fixture(scope="module")
def shipped():
    return fdx.load_model()


def test_fit_matches_mean_and_range(small):
    dists = unc.fit_distributions(small.priors)
    two = dists[("cpts/weakness.csv", ("present", "*"))]
    assert two.kind == "logit_normal"
    values = two.sample(np.random.default_rng(0), 200_000)
    assert values.mean(axis=0) == pytest.approx(two.mean, abs=2e-3)
    lo, hi = np.quantile(values[:, 1], [0.025, 0.975])  # 'yes', the complement of the drawn state
    assert lo == pytest.approx(0.65, abs=0.01) and hi == pytest.approx(0.9, abs=0.01)
    normalised = dists[("cpts/calcium.csv", ("*",))]
    assert normalised.kind == "normalised"
    calcium = dists[("cpts/calcium.csv", ("hypocalcemia",))]
    assert np.isnan(calcium.location[2])  # structural zero
    assert (calcium.sample(np.random.default_rng(0), 100)[:, 2] == 0).all()
    rr = dists[("etiology_modifiers.csv", ("sex", "male", "als"))]
    assert rr.kind == "lognormal"
    assert rr.sigma == pytest.approx((np.log(2) - np.log(1.2)) / (2 * 1.959963984540054))
    assert np.quantile(rr.sample(np.random.default_rng(0), 100_000), [0.025, 0.975]) == pytest.approx(
        [1.2, 2.0], rel=0.02
    )
    assert dists[("etiology_modifiers.csv", ("sex", "male", "*"))].kind == "fixed"


def test_draws_have_the_fitted_means(small):
    dists = unc.fit_distributions(small.priors)
    rng = np.random.default_rng(3)
    for key in [
        ("cpts/calcium.csv", ("*",)),
        ("base_rates.csv", ("primary_care",)),
        ("cpts/weakness.csv", ("absent", "absent")),
    ]:
        draws = dists[key].sample(rng, 40_000)
        assert draws.sum(axis=1) == pytest.approx(np.ones(len(draws)))
        assert draws.mean(axis=0) == pytest.approx(dists[key].mean, abs=0.01)


def test_reproducible_with_seed(small):
    ev = {"weakness": "yes", "sex": "male"}
    a = unc.monte_carlo(small, ev, draws=300, seed=7)
    b = unc.monte_carlo(small, ev, draws=300, seed=7)
    c = unc.monte_carlo(small, ev, draws=300, seed=8)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)
    pd_a, pd_b = a.interval(0.9), b.interval(0.9)
    assert pd_a.equals(pd_b)


def test_common_random_numbers_across_scenarios(small):
    one = unc.sample_parameters(small.priors, small.setting, {"weakness": "yes"}, draws=50, seed=1)
    two = unc.sample_parameters(small.priors, small.setting, {"calcium": "low", "sex": "male"}, draws=50, seed=1)
    assert np.array_equal(one[("base_rates.csv", 3)], two[("base_rates.csv", 3)])


def _brute(model, values, i, evidence):
    priors = model.priors
    for (file, line), v in values.items():
        priors = priors.with_value(file, line, float(v[i]))
    return CompiledEngine(priors, model.setting).posterior(model.check_evidence(evidence))


@pytest.mark.parametrize(
    "evidence",
    [
        {"weakness": "yes", "calcium": "normal"},
        {"weakness": "yes", "calcium": "low", "sex": "male", "caffeine": "yes"},
        {"weakness": "~yes", "calcium": {"low": 1.0, "normal": 3.0}, "sex": "male:0.9,female:0.1", "caffeine": "~yes"},
    ],
)
def test_each_draw_is_exact(small, evidence):
    result = unc.monte_carlo(small, evidence, draws=200, seed=11)
    values = unc.sample_parameters(small.priors, small.setting, evidence, draws=200, seed=11)
    for i in (0, 57, 199):
        assert result.samples[i] == pytest.approx(_brute(small, values, i, evidence), abs=1e-9)


def test_each_draw_is_exact_shipped(shipped):
    ev = dict(BULBAR_ALS)
    result = unc.monte_carlo(shipped, ev, draws=130, seed=2)
    values = unc.sample_parameters(shipped.priors, shipped.setting, ev, draws=130, seed=2)
    for i in (0, 129):
        assert result.samples[i] == pytest.approx(_brute(shipped, values, i, ev), abs=1e-9)
    assert result.point == pytest.approx(shipped.inference.posterior(ev), abs=1e-12)


def test_intervals_contain_point_estimates(small):
    ev = {"weakness": "yes", "sex": "male"}
    table = unc.posterior_interval(small, ev, level=0.9, draws=2000, seed=0)
    assert list(table.columns) == ["probability", "lower", "upper", "mean", "sd"]
    assert ((table["lower"] <= table["probability"]) & (table["probability"] <= table["upper"])).all()
    assert (table["lower"] < table["upper"]).all()
    point = small.posterior(ev)
    assert table["probability"].to_numpy() == pytest.approx(point[table.index].to_numpy(), abs=1e-12)
    cats = unc.posterior_interval(small, ev, level=0.9, draws=2000, seed=0, by="category")
    assert set(cats.index) == {"benign", "pathological"}
    assert ((cats["lower"] <= cats["probability"]) & (cats["probability"] <= cats["upper"])).all()
    narrow = unc.posterior_interval(small, ev, level=0.5, draws=2000, seed=0)
    assert (narrow["upper"] - narrow["lower"] <= table["upper"] - table["lower"] + 1e-15).all()


def test_structural_zero_stays_zero(small):
    result = unc.monte_carlo(small, {"calcium": "high"}, draws=200, seed=0)
    hypo = small.etiologies.index("hypocalcemia")
    assert (result.samples[:, hypo] == 0).all()


def test_errors(small):
    with pytest.raises(fdx.EvidenceError):
        unc.monte_carlo(small, {"weakness": "maybe"})
    with pytest.raises(fdx.EvidenceError):
        unc.monte_carlo(small, {}, draws=50).interval(1.5)


def test_interval_plot(small, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fasciculation_dx.reporting import plots

    ax = plots.interval_plot(unc.posterior_interval(small, {"weakness": "yes"}, draws=200))
    ax.figure.savefig(tmp_path / "interval.png")
    plt.close("all")


# -- the fitted ranges of the shipped priors -------------------------------------------------------
RANGE_FACTOR = {"logit_normal": 1.5, "lognormal": 1.5, "normalised": 3.0}
"""How far a row's 2.5% / 97.5% quantile may sit from its reachable ``low`` / ``high``: a factor on
the odds (probabilities) or on the value (relative risks). A two-state column and a relative risk
match their ranges exactly (sampling error of the quantiles at 4,000 draws is under a factor of
1.1); dividing a multi-state column by its sum adds the other states' spread to a state's tails
(see :mod:`fasciculation_dx.analysis.parameter_distributions`)."""


@pytest.fixture(scope="module")
def shipped_draws():
    priors = fdx.load_priors(fdx.shipped_priors_dir())
    dists = unc.fit_distributions(priors)
    rng = np.random.default_rng(20240607)
    return [(dists[key], dists[key].sample(rng, 4000)) for key in dists]


def _scale(row, x):
    """Odds of a probability, the value itself for a relative risk."""
    x = np.asarray(x, dtype=float)
    return x if row.file == "etiology_modifiers.csv" else x / (1 - x)


def _varies(row):
    structural = row.file != "etiology_modifiers.csv" and not 0 < row.value < 1
    return row.low < row.high and row.value > 0 and not structural


def _matches(row, quantile, target, factor, short):
    ratio = _scale(row, quantile) / _scale(row, target)
    if 1 / factor <= ratio <= factor:
        return True
    # a mean equal to the value cannot reach this end: the quantile falls short, between value and end
    return bool(short) and min(row.value, target) <= quantile <= max(row.value, target)


def test_quantiles_match_the_ranges_of_the_shipped_priors(shipped_draws):
    checked, off = 0, []
    for dist, values in shipped_draws:
        if dist.kind == "fixed":
            continue
        q_low, q_high = np.quantile(values, [0.025, 0.975], axis=0)
        if dist.kind == "lognormal":
            low, high = [dist.rows[0].low], [dist.rows[0].high]
        else:
            low, high = reachable_range(dist.rows)
        factor = RANGE_FACTOR[dist.kind]
        for j, row in enumerate(dist.rows):
            if not _varies(row):
                continue
            checked += 1
            # one-sided range (low 0, or low equal to the value): only the upper end is a target
            if low[j] > 0 and row.value > low[j] and not _matches(row, q_low[j], low[j], factor, dist.short[j]):
                off.append((row.file, row.line, "low", low[j], q_low[j]))
            if not _matches(row, q_high[j], high[j], factor, dist.short[j]):
                off.append((row.file, row.line, "high", high[j], q_high[j]))
    assert checked > 1000
    assert off == []


def test_point_estimates_inside_their_intervals(shipped, shipped_draws):
    """A row's value lies in its central 95% interval; a posterior's point in its 90% interval."""
    outside = []
    for dist, values in shipped_draws:
        q_low, q_high = np.quantile(values, [0.025, 0.975], axis=0)
        for j, row in enumerate(dist.rows):
            if _varies(row) and not q_low[j] <= row.value <= q_high[j]:
                outside.append((row.file, row.line, row.value, q_low[j], q_high[j]))
    assert outside == []
    ev = dict(BULBAR_ALS)
    table = unc.posterior_interval(shipped, ev, level=0.9, draws=300, seed=0)
    outside = table[(table["probability"] < table["lower"]) | (table["probability"] > table["upper"])]
    assert list(outside.index) == []
    assert (table["lower"] > 1e-12 * table["probability"]).all()


def test_column_means_equal_the_point_values(shipped_draws):
    """Each state's mean over the draws equals its point value within 2% (plus sampling error)."""
    rng = np.random.default_rng(5)
    checked = 0
    for dist, _ in shipped_draws:
        if dist.kind in ("fixed", "lognormal"):
            continue
        values = dist.sample(rng, 20_000)
        assert np.allclose(values.sum(axis=1), 1.0)
        se = values.std(axis=0) / np.sqrt(len(values))
        assert np.all(np.abs(values.mean(axis=0) - dist.mean) <= 0.02 * dist.mean + 4 * se), dist.rows[0]
        checked += 1
    assert checked > 500


def test_no_draw_underflows(shipped_draws):
    for dist, values in shipped_draws:
        for j, row in enumerate(dist.rows):
            if _varies(row):
                floor = 1e-12 * (row.low if row.low > 0 else row.value)
                assert values[:, j].min() > floor, (row.file, row.line)

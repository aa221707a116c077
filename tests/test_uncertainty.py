"""Monte Carlo over the parameters' ranges: fitting, reproducibility, exactness per draw, intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import fasciculation_dx as fdx
from fasciculation_dx.analysis import uncertainty as unc
from fasciculation_dx.inference.compiled import CompiledEngine

SMALL = Path(__file__).parent / "data" / "sens_small"


@pytest.fixture(scope="module")
def small():
    return fdx.load_model(SMALL)


@pytest.fixture(scope="module")
def shipped():
    return fdx.load_model()


def test_beta_fit_matches_mean_and_roughly_the_range(small):
    dists = unc.fit_distributions(small.priors)
    beta = dists[("cpts/weakness.csv", ("present", "*"))]
    assert beta.kind == "beta"
    kappa = beta.concentration[0]
    a, b = kappa * 0.8, kappa * 0.2
    assert stats.beta.mean(a, b) == pytest.approx(0.8)
    lo, hi = stats.beta.ppf([0.025, 0.975], a, b)
    assert lo == pytest.approx(0.65, abs=0.05) and hi == pytest.approx(0.9, abs=0.05)
    dirichlet = dists[("cpts/calcium.csv", ("*",))]
    assert dirichlet.kind == "dirichlet"
    assert dists[("cpts/calcium.csv", ("hypocalcemia",))].concentration[2] == 0  # structural zero
    rr = dists[("etiology_modifiers.csv", ("sex", "male", "als"))]
    assert rr.kind == "lognormal"
    assert rr.sigma == pytest.approx((np.log(2) - np.log(1.2)) / (2 * 1.959963984540054))
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
    return CompiledEngine(priors, model.setting).posterior(evidence)


@pytest.mark.parametrize(
    "evidence",
    [
        {"weakness": "yes", "calcium": "normal"},
        {"weakness": "yes", "calcium": "low", "sex": "male", "caffeine": "yes"},
    ],
)
def test_each_draw_is_exact(small, evidence):
    result = unc.monte_carlo(small, evidence, draws=200, seed=11)
    values = unc.sample_parameters(small.priors, small.setting, evidence, draws=200, seed=11)
    for i in (0, 57, 199):
        assert result.samples[i] == pytest.approx(_brute(small, values, i, evidence), abs=1e-9)


def test_each_draw_is_exact_shipped(shipped):
    ev = {
        "age_group": "65_plus",
        "sex": "male",
        "weakness": "yes",
        "emg_fibrillations": "present",
        "tongue_fasciculations": "yes",
    }
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

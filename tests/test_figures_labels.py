"""Figures say what they show: axis labels, reference lines in legends, shared scales, bin counts.

Drawn with the Agg backend; nothing is displayed.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import fasciculation_dx as fdx  # noqa: E402
from fasciculation_dx.analysis.evaluate import evaluate, plot_reliability, reliability_table  # noqa: E402
from fasciculation_dx.analysis.simulate import perturb_priors, simulate  # noqa: E402
from fasciculation_dx.errors import ArgumentError  # noqa: E402
from fasciculation_dx.reporting.teaching import interval_panels, plot_draws, posterior_panels  # noqa: E402

SETTING = "neuromuscular_clinic"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def evaluations():
    priors = fdx.load_priors(fdx.shipped_priors_dir())
    cohort = simulate(priors, 150, setting=SETTING, missing=0.3, seed=31)
    wrong = perturb_priors(priors, sigma=1.0, seed=5)
    return {"true": evaluate(cohort, priors, setting=SETTING), "perturbed": evaluate(cohort, wrong, setting=SETTING)}


def _counts(ax, name):
    """The count annotations of series ``name`` on ``ax``: ``[(x, y, n)]`` sorted by x."""
    notes = [t for t in ax.texts if t.get_gid() == f"count:{name}"]
    return sorted((float(t.xy[0]), float(t.xy[1]), int(t.get_text().replace(",", ""))) for t in notes)


def _line(ax, name):
    (line,) = [line for line in ax.get_lines() if line.get_label() == name]
    return line


# -- plot_reliability ------------------------------------------------------------------------------------
@pytest.mark.parametrize("bins", [10, 20])
def test_reliability_points_carry_the_tables_counts(evaluations, bins):
    fig = plot_reliability(evaluations, bins=bins)
    for ax, kind in zip(fig.axes, ("etiology", "pathological")):
        for name, ev in evaluations.items():
            table = reliability_table(ev, bins=bins, kind=kind).sort_values("mean_predicted")
            drawn = _counts(ax, name)
            assert [n for _, _, n in drawn] == table["count"].tolist(), (kind, name)
            np.testing.assert_allclose([x for x, _, _ in drawn], table["mean_predicted"])
            np.testing.assert_allclose([y for _, y, _ in drawn], table["observed"])
            line = _line(ax, name)
            assert len(line.get_xdata()) == len(table)  # one point per bin with cases, no more


def test_reliability_counts_add_up_and_empty_bins_are_not_drawn(evaluations):
    ev = evaluations["true"]
    fig = plot_reliability(ev, bins=20)
    etiology_ax, pathological_ax = fig.axes
    n_cases, n_causes = ev.posteriors.shape
    assert sum(n for _, _, n in _counts(etiology_ax, "model")) == n_cases * n_causes
    # counted independently of reliability_table: the bins of P(pathological) that hold no case
    full, edges = np.histogram(ev.cases["p_pathological"].to_numpy(dtype=float), bins=20, range=(0, 1))
    assert (full == 0).any(), "the fixture should leave some bins empty"
    drawn = _counts(pathological_ax, "model")
    assert [n for _, _, n in drawn] == full[full > 0].tolist()
    xs = np.asarray(_line(pathological_ax, "model").get_xdata(), dtype=float)
    for low, high in zip(edges[:-1][full == 0], edges[1:][full == 0]):
        assert not ((xs >= low) & (xs < high)).any()


def test_reliability_panels_share_their_scale_and_say_what_is_counted(evaluations):
    fig = plot_reliability(evaluations)
    left, right = fig.axes
    assert left.get_shared_x_axes().joined(left, right) and left.get_shared_y_axes().joined(left, right)
    assert left.get_xlim() == right.get_xlim() and left.get_ylim() == right.get_ylim()
    for low, high in (left.get_xlim(), left.get_ylim()):
        assert low <= 0 and 1 <= high <= 1.1  # every probability fits, with at most a small margin
    assert "pairs" in left.get_title() and "patients" in right.get_title()
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
        assert "perfectly calibrated" in [t.get_text() for t in ax.get_legend().get_texts()]


# -- plot_draws ------------------------------------------------------------------------------------------
def test_draws_histogram_has_axis_labels_and_every_reference_in_its_legend():
    x = np.random.default_rng(0).beta(2, 30, size=2000)
    ax = plot_draws(x, "P(weakness = yes)", lines={"point value": 0.06}, span=("plausible range", 0.02, 0.12))
    assert ax.get_xlabel() == "P(weakness = yes)"
    assert ax.get_ylabel() == "parameter draws"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "point value" in legend and "plausible range" in legend
    verticals = [line for line in ax.get_lines() if len(set(line.get_xdata())) == 1]
    assert [line.get_label() for line in verticals] == ["point value"]
    assert verticals[0].get_xdata()[0] == 0.06
    counted = sum(p.get_height() for p in ax.containers[0])
    assert counted == len(x)  # the histogram counts every draw


def test_overlaid_draws_share_bin_edges_and_name_the_threshold():
    rng = np.random.default_rng(1)
    series = {"young adult": rng.beta(1, 60, 500), "weakness": rng.beta(4, 6, 500)}
    ax = plot_draws(series, "P(pathological | evidence)", bins=30, ylabel="count", lines={"5% threshold": 0.05})
    assert ax.get_ylabel() == "count"
    first, second = ax.containers[:2]
    assert [b.get_x() for b in first] == [b.get_x() for b in second]  # the same edges for both series
    assert [b.get_width() for b in first] == pytest.approx([b.get_width() for b in second])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == list(series) and "5% threshold" in legend


def test_draws_refuse_an_empty_series():
    with pytest.raises(ArgumentError, match="empty series: b"):
        plot_draws({"a": [0.1, 0.2], "b": []}, "p")


# -- side-by-side panels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("clinic_first", [False, True], ids=["primary-left", "clinic-left"])
def test_posterior_panels_share_one_probability_axis_that_fits_every_bar(clinic_first):
    primary, clinic = fdx.load_model(setting="primary_care"), fdx.load_model(setting=SETTING)
    findings = {"age_group": "65_plus", "tongue_fasciculations": "yes", "cramps": "yes"}
    panels = {"primary care": (primary, findings), "clinic": (clinic, findings)}
    if clinic_first:  # both orders: the panel drawn last must not set the scale for the other
        panels = dict(reversed(panels.items()))
    maxima = [model.posterior(evidence).iloc[0] for model, evidence in panels.values()]
    assert abs(maxima[0] - maxima[1]) > 0.05, "the panels should differ, or sharing their scale shows nothing"
    fig = posterior_panels(panels, top=6)
    left, right = fig.axes
    assert left.get_shared_x_axes().joined(left, right)
    assert left.get_xlim() == right.get_xlim()
    assert max(maxima) <= left.get_xlim()[1] <= 1.0
    widths = [b.get_width() for ax in fig.axes for b in ax.patches]
    assert max(widths) == pytest.approx(max(maxima))
    assert "same" in fig.get_suptitle().lower()
    assert all(ax.get_xlabel() for ax in fig.axes)


def test_interval_panels_share_the_zero_to_one_axis():
    index = pd.Index(["als", "benign_fasciculation_syndrome"], name="etiology")
    tables = {
        "narrow": pd.DataFrame({"probability": [0.1, 0.05], "lower": [0.08, 0.03], "upper": [0.12, 0.07]}, index),
        "wide": pd.DataFrame({"probability": [0.6, 0.3], "lower": [0.2, 0.1], "upper": [0.9, 0.5]}, index),
    }
    fig = interval_panels(tables, top=2)
    axes = fig.axes
    assert len(axes) == 2 and axes[0].get_shared_x_axes().joined(axes[0], axes[1])
    assert all(ax.get_xlim() == (0, 1) for ax in axes)
    assert [ax.get_title() for ax in axes] == list(tables)
    assert "same" in fig.get_suptitle().lower()


def test_panels_refuse_nothing_to_draw():
    with pytest.raises(ArgumentError):
        posterior_panels({})
    with pytest.raises(ArgumentError):
        interval_panels({})

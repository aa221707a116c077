"""Matplotlib figures for the sensitivity and uncertainty analyses.

matplotlib is imported inside each function, so importing this module costs nothing. Every
function draws on ``ax`` when given (else on a new figure) and returns the axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.sensitivity import SensitivityFunction

__all__ = ["tornado", "sensitivity_curve", "interval_plot", "settings_plot", "decision_curve_plot"]


def axes_or_new(ax, size: tuple[float, float]):
    """Return ``ax``, or the axes of a new figure of ``size`` inches when ``ax`` is None."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def tornado(table: pd.DataFrame, top: int = 15, ax=None, title: str | None = None):
    """Tornado plot of a screening table (see :func:`fasciculation_dx.analysis.sensitivity.screen`).

    Each bar spans the query's posterior with the parameter at ``low`` and at ``high``; the
    vertical line is the posterior at the point values. Bars are sorted by swing, largest on top.

    Parameters
    ----------
    table
        The output of :func:`~fasciculation_dx.analysis.sensitivity.screen`.
    top
        How many parameters to show.
    ax
        Axes to draw on.
    title
        Title; by default names the query.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = table.head(top).iloc[::-1]
    ax = axes_or_new(ax, (8, 0.35 * len(rows) + 1.5))
    base = table.attrs.get("posterior", np.nan)
    y = np.arange(len(rows))
    lo = np.minimum(rows["at_low"], rows["at_high"])
    hi = np.maximum(rows["at_low"], rows["at_high"])
    ax.barh(y, hi - lo, left=lo, color="#4c72b0", alpha=0.8)
    for yi, (_, row) in zip(y, rows.iterrows()):
        ax.plot([row["at_low"]], [yi], marker="<", color="#333333", markersize=4)
        ax.plot([row["at_high"]], [yi], marker=">", color="#333333", markersize=4)
    labels = [f"{r.key}  [{r.low:g}, {r.high:g}]\n{r.file}:{r.line}" for r in rows.itertuples()]
    ax.set_yticks(y, labels, fontsize=7)
    if np.isfinite(base):
        ax.axvline(base, color="#c44e52", linewidth=1)
    query = table.attrs.get("query", "query")
    ax.set_xlabel(f"P({query} | evidence)  (< at low, > at high)")
    ax.set_title(title or f"Tornado: top {len(rows)} parameters for P({query})")
    return ax


def sensitivity_curve(fn: SensitivityFunction, ax=None, points: int = 201, title: str | None = None):
    """Plot a one-way sensitivity function over ``[0, 1]`` (or ``[0, 2 high]`` for a relative risk).

    The plausible range is shaded; the current value and the vertex (when inside the window)
    are marked.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax, (6, 4))
    upper = 1.0 if fn.parameter.file != "etiology_modifiers.csv" else max(2 * fn.high, 2 * fn.current, 1.0)
    xs = np.linspace(0.0, upper, points)
    ax.plot(xs, fn(xs), color="#4c72b0")
    ax.axvspan(fn.low, fn.high, color="#dddddd", alpha=0.6, label="plausible range")
    ax.plot([fn.current], [fn.posterior], "o", color="#c44e52", label="current value")
    if fn.vertex is not None and 0 <= fn.vertex[0] <= upper:
        ax.plot([fn.vertex[0]], [fn.vertex[1]], "s", color="#55a868", label="vertex")
    p = fn.parameter
    ax.set_xlabel(f"{'/'.join(p.key)}  ({p.file}:{p.line})")
    ax.set_ylabel(f"P({fn.query} | evidence)")
    kind = "exact (a x + b) / (c x + d)" if fn.linear_fractional else "exact, refitted etiology table"
    ax.set_title(title or f"Sensitivity function, {kind}", fontsize=9)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return ax


def interval_plot(table: pd.DataFrame, top: int = 10, ax=None, title: str | None = None):
    """Point posteriors with their credible intervals, one row per etiology (or category).

    The interval is drawn as a line and the point separately, because for rare etiologies the
    point can lie outside its equal-tailed interval (most draws far below it, a few far above).

    Parameters
    ----------
    table
        The output of :func:`fasciculation_dx.analysis.uncertainty.posterior_interval` (or
        ``MonteCarloResult.interval``).
    top
        How many rows to show (the table's first rows).
    ax
        Axes to draw on; a new figure when omitted.
    title
        The title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = table.head(top).iloc[::-1]
    ax = axes_or_new(ax, (7.5, 0.35 * len(rows) + 1.6))
    y = np.arange(len(rows))
    ax.hlines(y, rows["lower"], rows["upper"], color="#888888", linewidth=2.2, label="credible interval")
    if "mean" in rows:
        ax.plot(rows["mean"], y, "|", color="#333333", markersize=9, label="mean of the draws")
    ax.plot(rows["probability"], y, "o", color="#4c72b0", label="point estimate")
    ax.set_yticks(y, [str(i) for i in rows.index], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior probability")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "Posterior with credible intervals", fontsize=10)
    return ax


def settings_plot(table: pd.DataFrame, top: int = 10, ax=None, title: str | None = None):
    """Draw grouped bars of one scenario under each care setting (see ``compare_settings``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = table.head(top).iloc[::-1]
    ax = axes_or_new(ax, (7, 0.4 * len(rows) + 1.5))
    y = np.arange(len(rows))
    width = 0.8 / max(len(rows.columns), 1)
    for i, setting in enumerate(rows.columns):
        ax.barh(y + i * width - 0.4 + width / 2, rows[setting], height=width, label=setting)
    ax.set_yticks(y, list(rows.index), fontsize=8)
    ax.set_xlabel("posterior probability")
    ax.legend(fontsize=8)
    ax.set_title(title or "The same scenario in each care setting")
    return ax


def decision_curve_plot(table: pd.DataFrame, ax=None, title: str | None = None):
    """Draw a decision curve: net benefit against the threshold probability of referral.

    One line per model (the ``priors`` column of
    :func:`fasciculation_dx.analysis.evaluate.decision_curves`, or a single model for the table
    of :func:`fasciculation_dx.analysis.decision_curve.decision_curve`), with "refer all" and
    "refer none" for reference. The vertical axis stops a little below 0, as is usual for
    decision curves, so that "refer all" leaves the frame where it falls far below "refer none".

    Parameters
    ----------
    table
        A decision-curve table, with or without a ``priors`` column.
    ax
        Axes to draw on; a new figure when omitted.
    title
        The title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax, (7, 4.6))
    groups = list(table.groupby("priors", sort=False)) if "priors" in table else [("model", table)]
    first = groups[0][1]
    ax.plot(first["threshold"], first["net_benefit_refer_all"], color="0.45", linestyle="--", label="refer all")
    ax.plot(first["threshold"], first["net_benefit_refer_none"], color="0.2", linewidth=1, label="refer none")
    for name, rows in groups:
        ax.plot(
            rows["threshold"], rows["net_benefit_model"], linewidth=2, label=f"refer if P(pathological) >= t: {name}"
        )
    values = np.concatenate(
        [table["net_benefit_model"].to_numpy(float), table["net_benefit_refer_all"].to_numpy(float)]
    )
    top = max(float(np.nanmax(values)), 0.01) * 1.1
    lowest_model = float(np.nanmin(table["net_benefit_model"].to_numpy(float)))
    ax.set_ylim(max(min(lowest_model, 0.0) - 0.05 * top, -top), top)
    if table["threshold"].nunique() > 1:
        ax.set_xlim(float(table["threshold"].min()), float(table["threshold"].max()))
    ax.set_xlabel("threshold probability t of a pathological cause for EMG referral")
    ax.set_ylabel("net benefit (true positives per patient)")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or "Decision curve")
    return ax

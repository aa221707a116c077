"""Matplotlib figures for the sensitivity and uncertainty analyses.

matplotlib is imported inside each function, so importing this module costs nothing. Every
function draws on ``ax`` when given (else on a new figure) and returns the axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..analysis.sensitivity import SensitivityFunction
from .layered_layout import wrap_words as wrap_lines

__all__ = [
    "tornado",
    "tornado_size",
    "wrap_words",
    "sensitivity_curve",
    "interval_plot",
    "settings_plot",
    "decision_curve_plot",
]


def axes_or_new(ax, size: tuple[float, float]):
    """Return ``ax``, or the axes of a new figure of ``size`` inches when ``ax`` is None."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


LABEL_WIDTH = 56
"""Characters per line of a tornado's parameter labels (wrapped at spaces, never inside a word)."""

LABEL_PT = 9.0
DETAIL_PT = 8.0
TICK_PT = 9.0
XLABEL_PT = 10.0
"""Font sizes in points of a tornado's labels, their range lines, tick labels and axis labels (all >= 8)."""


def wrap_words(text: str, width: int = LABEL_WIDTH) -> str:
    """Wrap ``text`` at spaces into lines of about ``width`` characters; never split a word."""
    return "\n".join(wrap_lines(text, width)) or text


def _tornado_rows(table: pd.DataFrame, top: int) -> pd.DataFrame:
    return table.head(top).iloc[::-1]


def _tornado_labels(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    words = rows["description"] if "description" in rows else rows["key"]
    labels = [wrap_words(str(w)) for w in words]
    details = [f"range {r.low:g} to {r.high:g} · {r.file}:{r.line}" for r in rows.itertuples()]
    return labels, details


def _row_inches(labels: Sequence[str]) -> float:
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    return (lines * LABEL_PT * 1.2 + DETAIL_PT * 1.2 + 9) / 72


def tornado_size(table: pd.DataFrame, top: int = 15, width: float = 10.0) -> tuple[float, float]:
    """Return the ``(width, height)`` in inches that fits a tornado of ``table``'s first ``top`` rows.

    The height grows with the number of rows and with the lines of the longest wrapped label, so
    each label and its range line fit beside their bar. Pass it to the figure given to
    :func:`tornado` as ``ax``.
    """
    rows = _tornado_rows(table, top)
    labels, _ = _tornado_labels(rows)
    return width, len(rows) * _row_inches(labels) + 2.2


def tornado(table: pd.DataFrame, top: int = 15, ax=None, title: str | None = None):
    """Tornado plot of a screening table (see :func:`fasciculation_dx.analysis.sensitivity.screen`).

    Each bar spans the query's posterior with the parameter at the low and at the high end of its
    plausible range; the vertical line is the posterior at the point values. Bars are sorted by
    swing, largest on top. Each parameter is labelled in words with its parents' names (the
    table's ``description`` column, else its ``key``), and below that its range and
    ``file:line``. The legend, under the horizontal axis, names the line and the markers.

    Parameters
    ----------
    table
        The output of :func:`fasciculation_dx.analysis.sensitivity.screen`.
    top
        How many parameters to show.
    ax
        Axes to draw on; a new figure of :func:`tornado_size` when omitted.
    title
        Title; by default names the query.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.transforms import ScaledTranslation

    rows = _tornado_rows(table, top)
    labels, details = _tornado_labels(rows)
    ax = axes_or_new(ax, tornado_size(table, top))
    base = float(table.attrs.get("posterior", np.nan))
    query = table.attrs.get("query", "query")
    y = np.arange(len(rows))
    at_low = rows["at_low"].to_numpy(float)
    at_high = rows["at_high"].to_numpy(float)
    lo, hi = np.minimum(at_low, at_high), np.maximum(at_low, at_high)
    handles = []
    if np.isfinite(base):
        handles.append(ax.axvline(base, color="#c44e52", linewidth=1.2, label=f"current P({query}) = {base:.3g}"))
    bars = ax.barh(
        y, hi - lo, left=lo, height=0.6, color="#4c72b0", alpha=0.8, label=f"P({query}) across the parameter's range"
    )
    handles.append(bars)
    for ends, marker, name in ((at_low, "<", "parameter at low end"), (at_high, ">", "parameter at high end")):
        handles += ax.plot(ends, y, linestyle="none", marker=marker, color="#333333", markersize=5, label=name)
    drawn = np.concatenate([lo, hi, [base]])
    drawn = drawn[np.isfinite(drawn)]
    if drawn.size:  # explicit limits: barh's sticky edges would otherwise cut the widest bar's marker
        left, right = float(drawn.min()), float(drawn.max())
        margin = 0.06 * max(right - left, 0.02)
        ax.set_xlim(left - margin, right + margin)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(y, labels, fontsize=LABEL_PT, verticalalignment="bottom")
    ax.tick_params(axis="y", length=0, pad=6)
    ax.tick_params(axis="x", labelsize=TICK_PT)
    below = ax.get_yaxis_transform()
    for yi, detail in zip(y, details):
        ax.annotate(
            detail,
            xy=(0, yi),
            xycoords=below,
            xytext=(-6, -1),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=DETAIL_PT,
            color="0.35",
            annotation_clip=False,
        )
    ax.set_xlabel(f"P({query} | evidence)", fontsize=XLABEL_PT)
    ax.set_ylabel("parameter, largest swing on top", fontsize=XLABEL_PT)
    under_axis = ax.transAxes + ScaledTranslation(0, -(TICK_PT + XLABEL_PT + 16) / 72, ax.figure.dpi_scale_trans)
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=under_axis,
        ncols=2,
        fontsize=8,
        frameon=False,
    )
    ax.set_title(title or f"Tornado: top {len(rows)} parameters for P({query})")
    return ax


def sensitivity_curve(fn: SensitivityFunction, ax=None, points: int = 201, title: str | None = None):
    """Plot a one-way sensitivity function over ``[0, 1]`` (or ``[0, 2 high]`` for a relative risk).

    The plausible range is shaded; the current value and the vertex (when inside the window)
    are marked. The horizontal axis names the parameter in words, with its ``file:line``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax, (6, 4))
    upper = 1.0 if fn.parameter.file != "etiology_modifiers.csv" else max(2 * fn.high, 2 * fn.current, 1.0)
    xs = np.linspace(0.0, upper, points)
    ax.plot(xs, fn(xs), color="#4c72b0", label="posterior as the parameter varies")
    ax.axvspan(fn.low, fn.high, color="#dddddd", alpha=0.6, label="plausible range")
    ax.plot([fn.current], [fn.posterior], "o", color="#c44e52", label="current value")
    if fn.vertex is not None and 0 <= fn.vertex[0] <= upper:
        ax.plot([fn.vertex[0]], [fn.vertex[1]], "s", color="#55a868", label="vertex")
    p = fn.parameter
    words = fn.description or "/".join(p.key)
    ax.set_xlabel(wrap_words(f"value of {words}", 60) + f"\n({p.file}:{p.line})", fontsize=9)
    ax.set_ylabel(f"P({fn.query} | evidence)")
    kind = "exact (a x + b) / (c x + d)" if fn.linear_fractional else "exact, refitted etiology table"
    ax.set_title(title or f"Sensitivity function, {kind}", fontsize=9)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
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
    ax.set_ylabel(table.index.name or "etiology")
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
    ax.set_ylabel(table.index.name or "etiology")
    ax.legend(fontsize=8, title="care setting", title_fontsize=8)
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

"""Plots and widgets for the teaching notebooks.

The notebooks stay thin: what they draw more than once lives here. matplotlib and ipywidgets are
imported when a function needs them, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import ArgumentError
from ..model import Model
from .plots import axes_or_new, interval_plot

__all__ = [
    "CATEGORY_COLOURS",
    "scenario_table",
    "soft_finding_table",
    "FLOAT_NOISE",
    "without_float_noise",
    "REFERENCE_CLASSES",
    "reference_class_table",
    "plot_posterior",
    "posterior_limit",
    "posterior_panels",
    "interval_panels",
    "REFERENCE_LINE_STYLES",
    "plot_draws",
    "compare_posteriors",
    "compare_categories",
    "interactive_differential",
]

CATEGORY_COLOURS = {"benign": "#2f7d5b", "pathological": "#b0413e"}
"""Bar colours of the two roll-up categories (the web page uses the same)."""


def _pretty(name: str) -> str:
    return name.replace("_", " ")


def scenario_table(
    scenarios: Mapping[str, tuple[Model, Mapping[str, str]]], top: int = 6, include: Sequence[str] = ()
) -> pd.DataFrame:
    """Posterior of each scenario side by side, for the etiologies that lead in any of them.

    Parameters
    ----------
    scenarios
        ``{label: (model, evidence)}``; the models may differ (e.g. two care settings).
    top
        How many leading etiologies of each scenario to keep.
    include
        Etiologies to show whatever their rank.

    Returns
    -------
    pandas.DataFrame
        One column per scenario, indexed by etiology, ordered by the first scenario.
    """
    columns = {label: model.posterior(evidence) for label, (model, evidence) in scenarios.items()}
    keep: list[str] = list(include)
    for post in columns.values():
        keep += [e for e in post.index[:top] if e not in keep]
    table = pd.DataFrame({label: post.reindex(keep) for label, post in columns.items()})
    table.index.name = "etiology"
    return table.sort_values(list(columns)[0], ascending=False, kind="stable")


def soft_finding_table(
    model: Model,
    node: str,
    readings: Mapping[str, object],
    contexts: Mapping[str, Mapping[str, object]],
    state: str = "yes",
    etiology: str = "als",
) -> pd.DataFrame:
    """Tabulate how each reading of one finding, from not recorded through soft to certain, moves the posterior.

    Parameters
    ----------
    model
        The model.
    node
        The finding whose reading varies (e.g. ``"tongue_fasciculations"``).
    readings
        ``{label: value}`` in the order to show: ``None`` for not recorded, a state for a certain
        finding, or soft evidence (``"~yes"``, ``{"yes": 0.7, "no": 0.3}``; see
        :mod:`fasciculation_dx.inference.soft`).
    contexts
        ``{label: evidence}``: the rest of the patient's evidence, one block of rows each. An entry
        for ``node`` in it is replaced by the reading.
    state
        The state of ``node`` whose probability is shown.
    etiology
        The etiology whose posterior is shown.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(context, reading)`` in the order given, with columns ``P(node=state)`` (the
        probability that the finding is truly in ``state``, given all the evidence),
        ``P(pathological)``, ``P(etiology)``, ``LR pathological vs benign`` (the factor by which
        the reading multiplied the odds of a pathological cause, against the context alone; the
        ``lr_pathological_vs_benign`` of :meth:`Model.explain`) and ``gain of testing (bits)``
        (the expected information gain about the etiology of testing ``node`` properly, from
        :meth:`Model.next_tests`; missing once the finding is certain, as it is no longer a
        candidate).
    """
    import numpy as np

    from ..inference.explain import weight_changes

    finding = f"P({node}={state})"
    mask = np.asarray(model.pathological)
    index = list(model.etiologies).index(etiology)
    blocks = {}
    for context_label, context in contexts.items():
        rest = {k: v for k, v in context.items() if k != node}
        before = model.posterior_vector(rest)
        rows = {}
        for label, value in readings.items():
            evidence = rest if value is None else {**rest, node: value}
            after = model.posterior_vector(evidence)
            ranked = model.next_tests(evidence)
            gain = ranked.loc[ranked["node"] == node, "info_gain_etiology"]
            rows[label] = {
                finding: model.predictive(node, evidence)[state],
                "P(pathological)": float(after[mask].sum()),
                f"P({etiology})": float(after[index]),
                "LR pathological vs benign": float(np.exp(weight_changes(after, before, 0, mask)[1])),
                "gain of testing (bits)": gain.iloc[0] if len(gain) else float("nan"),
            }
        blocks[context_label] = pd.DataFrame.from_dict(rows, orient="index")
    return pd.concat(blocks, names=["context", "reading"])


FLOAT_NOISE = 1e-12
"""Numbers smaller than this in absolute value are rounding noise of a difference of logs, shown as 0."""


def without_float_noise(frame: pd.DataFrame, tol: float = FLOAT_NOISE) -> pd.DataFrame:
    """Replace the numbers of ``frame`` whose absolute value is below ``tol`` by exactly 0.

    A weight of evidence is a difference of logarithms; a finding equally likely under two causes
    gives 0 up to rounding (``-4.4e-16``), which a table should show as 0.

    Parameters
    ----------
    frame
        Any table; only its numeric columns are changed.
    tol
        The threshold (default :data:`FLOAT_NOISE`).

    Returns
    -------
    pandas.DataFrame
        A copy, with those values set to ``0.0`` (never ``-0.0``).
    """
    frame = frame.copy()
    for column in frame.select_dtypes("number").columns:
        values = frame[column]
        frame[column] = values.where(values.isna() | (values.abs() >= tol), 0.0)  # NaN stays NaN
    return frame


REFERENCE_CLASSES = {
    "woe_vs_rest": "leading cause vs every other cause",
    "woe_vs_runner_up": "leading cause vs runner-up",
    "woe_pathological_vs_benign": "pathological vs benign",
}
"""The weights of evidence of :meth:`Model.explain`, named by the comparison each one answers."""


def reference_class_table(
    model: Model, scenarios: Mapping[str, Mapping[str, object]], sort_by: str = "woe_pathological_vs_benign"
) -> pd.DataFrame:
    """Tabulate each finding's weight of evidence under every reference class, one block per scenario.

    A weight of evidence answers a question: *this cause against which others?* The same finding can
    weigh most for the leading cause against every other cause and least (or negatively) for a
    pathological cause against a benign one. The columns are named by their comparison
    (:data:`REFERENCE_CLASSES`) and rounding noise is shown as 0 (:func:`without_float_noise`).

    Parameters
    ----------
    model
        The model.
    scenarios
        ``{label: evidence}``, one block of rows each, in the order given.
    sort_by
        The :meth:`Model.explain` column whose weights order the rows of each block, largest first.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(scenario, finding)`` with the finding written ``node = state``; columns
        ``leading cause``, ``runner-up`` and the three weights of evidence (natural-log likelihood
        ratios of the finding added last), headed by their reference class.

    Raises
    ------
    ArgumentError
        If ``sort_by`` is not one of the weights.
    """
    if sort_by not in REFERENCE_CLASSES:
        raise ArgumentError(f"unknown sort_by {sort_by!r}. Valid: {', '.join(REFERENCE_CLASSES)}")
    blocks = {}
    for label, evidence in scenarios.items():
        explained = model.explain(evidence).sort_values(sort_by, ascending=False, kind="stable")
        table = pd.DataFrame(
            {
                "leading cause": explained["leading"].to_numpy(),
                "runner-up": explained["runner_up"].to_numpy(),
                **{name: explained[column].to_numpy(dtype=float) for column, name in REFERENCE_CLASSES.items()},
            },
            index=pd.Index([f"{n} = {s}" for n, s in zip(explained["node"], explained["state"])], name="finding"),
        )
        blocks[label] = without_float_noise(table)
    return pd.concat(blocks, names=["scenario", "finding"])


def posterior_limit(largest: float) -> float:
    """Return the right end of a posterior bar chart's x axis that leaves room for the label of a bar of ``largest``.

    Parameters
    ----------
    largest
        The longest bar, a probability.

    Returns
    -------
    float
        ``min(1, 1.25 largest + 0.02)``.
    """
    return min(1.0, float(largest) * 1.25 + 0.02)


def plot_posterior(
    model: Model,
    evidence: Mapping[str, str] | None = None,
    top: int = 10,
    title: str | None = None,
    ax: Any = None,
    xmax: float | None = None,
) -> Any:
    """Draw a horizontal bar chart of the leading etiologies, coloured benign or pathological.

    Parameters
    ----------
    model
        The model.
    evidence
        ``{node: state}``.
    top
        Number of etiologies shown.
    title
        Plot title; a summary of the benign/pathological split when omitted.
    ax
        A matplotlib ``Axes`` to draw on; a new figure when omitted.
    xmax
        The right end of the x axis; by default :func:`posterior_limit` of the longest bar. Panels
        meant to be compared pass the same value (see :func:`posterior_panels`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    evidence = dict(evidence or {})
    post = model.posterior(evidence).head(top)[::-1]
    category = model.category_posterior(evidence)
    colours = [CATEGORY_COLOURS[model.priors.etiologies[e].category] for e in post.index]
    ax = axes_or_new(ax, (7, 0.35 * top + 1.2))
    bars = ax.barh([_pretty(e) for e in post.index], post.to_numpy(), color=colours)
    ax.bar_label(bars, labels=[f"{p:.1%}" for p in post], padding=3, fontsize=8)
    ax.set_xlim(0, posterior_limit(post.max()) if xmax is None else xmax)
    ax.set_xlabel("posterior probability")
    ax.set_title(title or f"benign {category['benign']:.0%} · pathological {category['pathological']:.0%}", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def posterior_panels(
    panels: Mapping[str, tuple[Model, Mapping[str, Any]]],
    top: int = 6,
    title: str | None = None,
    panel_width: float = 6.5,
) -> Any:
    """Draw :func:`plot_posterior` panels side by side on one shared probability axis.

    Every panel's x axis runs from 0 to the same end (:func:`posterior_limit` of the longest bar
    in any panel), so equal bar lengths mean equal probabilities across panels. The etiologies
    listed differ between panels (each shows its own leaders), so the y axes are not shared.

    Parameters
    ----------
    panels
        ``{panel title: (model, evidence)}``, left to right.
    top
        Number of etiologies in each panel.
    title
        Figure title; the default says that the panels share their scale.
    panel_width
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot figure (``plt.show()`` displays it); its axes are ``fig.axes``.

    Raises
    ------
    ArgumentError
        If ``panels`` is empty.
    """
    if not panels:
        raise ArgumentError("posterior_panels needs at least one panel: {title: (model, evidence)}")
    largest = max(model.posterior(dict(evidence)).head(top).max() for model, evidence in panels.values())
    xmax = posterior_limit(largest)
    fig, axes = _shared_x_panels(len(panels), panel_width, 0.35 * top + 1.6)
    for ax, (label, (model, evidence)) in zip(axes, panels.items()):
        plot_posterior(model, evidence, top=top, title=label, ax=ax, xmax=xmax)
    fig.suptitle(title or "Same probability scale in every panel", fontsize=10)
    return fig


def _shared_x_panels(count: int, panel_width: float, height: float) -> tuple[Any, list]:
    """Return a pyplot figure of ``count`` panels side by side that share their x axis, and its axes."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(panel_width * count, height), layout="constrained", sharex=True)
    return fig, [axes] if count == 1 else list(axes)


def interval_panels(
    tables: Mapping[str, pd.DataFrame], top: int = 8, title: str | None = None, panel_width: float = 5.3
) -> Any:
    """Draw credible-interval panels (:func:`fasciculation_dx.reporting.plots.interval_plot`) side by side.

    The panels share their x axis, the posterior probability from 0 to 1, so an interval of the
    same length is equally wide in every panel.

    Parameters
    ----------
    tables
        ``{panel title: interval table}`` (``MonteCarloResult.interval`` or
        :func:`fasciculation_dx.analysis.uncertainty.posterior_interval`), left to right.
    top
        Number of rows of each table shown.
    title
        Figure title; the default says that the panels share their scale.
    panel_width
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot figure; its axes are ``fig.axes``.

    Raises
    ------
    ArgumentError
        If ``tables`` is empty.
    """
    if not tables:
        raise ArgumentError("interval_panels needs at least one table: {title: interval table}")
    fig, axes = _shared_x_panels(len(tables), panel_width, 0.35 * top + 1.9)
    for ax, (label, table) in zip(axes, tables.items()):
        interval_plot(table, top=top, ax=ax, title=label)  # each on 0 to 1, and the panels share x
    fig.suptitle(title or "Same probability scale (0 to 1) in every panel", fontsize=10)
    return fig


REFERENCE_LINE_STYLES = (
    {"color": "#c44e52", "linestyle": "--"},
    {"color": "#333333", "linestyle": ":"},
    {"color": "#8172b2", "linestyle": "-."},
)
"""Colours and dashes of the reference lines of :func:`plot_draws`, in the order the lines are given."""


def plot_draws(
    draws: Mapping[str, Any] | Any,
    xlabel: str,
    *,
    bins: int | Sequence[float] = 60,
    ylabel: str = "parameter draws",
    lines: Mapping[str, float] | None = None,
    span: tuple[str, float, float] | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Draw a histogram of Monte Carlo draws, with labelled reference lines and range.

    Several series are overlaid on the same bin edges, so their bars can be compared bin by bin.
    Every reference line and the shaded range get a legend entry saying what they are.

    Parameters
    ----------
    draws
        One array of draws, or ``{legend label: array}`` to overlay several.
    xlabel
        What was drawn, for the x axis (e.g. ``"P(pathological | evidence)"``).
    bins
        Number of equal-width bins over the range of all draws, or the bin edges.
    ylabel
        The y axis label: ``"parameter draws"`` (the default), ``"count"`` or whatever was counted.
    lines
        ``{legend label: x}``: vertical reference lines, e.g. a point value or a decision threshold.
    span
        ``(legend label, low, high)``: a shaded range, e.g. the plausible range of a parameter.
    title
        The title.
    ax
        A matplotlib ``Axes``; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ArgumentError
        If there are no draws, a series is empty, or there are more lines than
        :data:`REFERENCE_LINE_STYLES`.
    """
    import numpy as np

    series = dict(draws) if isinstance(draws, Mapping) else {"draws": draws}
    values = {label: np.asarray(x, dtype=float).ravel() for label, x in series.items()}
    empty = [label for label, x in values.items() if not len(x)]
    if not values:
        raise ArgumentError("plot_draws needs draws: an array, or {label: array} with at least one entry")
    if empty:
        raise ArgumentError(f"plot_draws needs at least one draw in every series; empty series: {', '.join(empty)}")
    lines = dict(lines or {})
    if len(lines) > len(REFERENCE_LINE_STYLES):
        raise ArgumentError(f"plot_draws draws at most {len(REFERENCE_LINE_STYLES)} reference lines. Got {len(lines)}")
    if np.ndim(bins) == 0:  # a number of bins, not edges
        pooled = np.concatenate(list(values.values()))
        edges = np.histogram_bin_edges(pooled[np.isfinite(pooled)], bins=bins)
    else:
        edges = np.asarray(bins, dtype=float)
    ax = axes_or_new(ax, (7, 3.5))
    alpha = 0.8 if len(values) == 1 else 0.55
    for label, x in values.items():
        ax.hist(x, bins=edges, alpha=alpha, label=label)
    if span is not None:
        label, low, high = span
        ax.axvspan(low, high, color="#dddddd", alpha=0.6, zorder=0, label=label)
    for (label, x), style in zip(lines.items(), REFERENCE_LINE_STYLES):
        ax.axvline(x, linewidth=1.2, label=label, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def compare_posteriors(
    scenarios: Mapping[str, tuple[Model, Mapping[str, str]]], top: int = 5, title: str | None = None, ax: Any = None
) -> Any:
    """Draw grouped bars of the leading etiologies under several scenarios, to show what a finding changes.

    Parameters
    ----------
    scenarios
        ``{label: (model, evidence)}``.
    top
        How many leading etiologies of each scenario to show.
    title
        Plot title.
    ax
        A matplotlib ``Axes``; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import numpy as np

    table = scenario_table(scenarios, top)[::-1]
    n = len(table.columns)
    height = 0.8 / n
    ax = axes_or_new(ax, (8, 0.3 * n * len(table) + 1.5))
    y = np.arange(len(table))
    for i, label in enumerate(table.columns):
        ax.barh(y + (n - 1 - i) * height - 0.4 + height / 2, table[label].to_numpy(), height, label=label)
    ax.set_yticks(y, [_pretty(e) for e in table.index])
    ax.set_xlabel("posterior probability")
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def compare_categories(
    scenarios: Mapping[str, tuple[Model, Mapping[str, str]]], title: str | None = None, ax: Any = None
) -> Any:
    """Draw stacked bars of P(benign) and P(pathological) for each scenario.

    Parameters
    ----------
    scenarios
        ``{label: (model, evidence)}``.
    title
        Plot title.
    ax
        A matplotlib ``Axes``; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    labels = list(scenarios)
    cats = pd.DataFrame({label: model.category_posterior(ev) for label, (model, ev) in scenarios.items()}).T
    ax = axes_or_new(ax, (7, 0.5 * len(labels) + 1.2))
    left = pd.Series(0.0, index=cats.index)
    for category in ("benign", "pathological"):
        bars = ax.barh(labels[::-1], cats[category][::-1], left=left[::-1], color=CATEGORY_COLOURS[category])
        ax.bar_label(
            bars,
            labels=[f"{p:.0%}" if p >= 0.06 else "" for p in cats[category][::-1]],
            label_type="center",
            color="white",
            fontsize=8,
        )
        left = left + cats[category]
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (benign green, pathological red)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def interactive_differential(
    model: Model, nodes: list[str] | None = None, top: int = 8, models: Mapping[str, Model] | None = None
) -> Any:
    """Build an ipywidgets panel: toggle findings, watch the posterior, explanation and next test update.

    Parameters
    ----------
    model
        The model (its setting is the initial one).
    nodes
        The findings offered as toggles; a teaching selection when omitted.
    top
        Number of etiologies plotted.
    models
        ``{setting: model}`` to offer a care-setting switch; only ``model`` when omitted.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook. It has an ``update()`` attribute that redraws and a ``controls``
        attribute (``{node or "setting": widget}``) so that code can set values too.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    models = dict(models or {model.setting: model})
    nodes = nodes or [
        "age_group", "caffeine", "stress_anxiety", "tongue_fasciculations", "weakness", "atrophy", "umn_signs",
        "stable_course_12_months", "emg_fasciculation_potentials", "emg_fibrillations", "emg_chronic_neurogenic",
    ]  # fmt: skip
    controls: dict[str, Any] = {}
    if len(models) > 1:
        controls["setting"] = widgets.ToggleButtons(
            options=[(_pretty(s), s) for s in models], value=model.setting, description="setting"
        )
    for node in nodes:
        options = [("not recorded", "")] + [(_pretty(s), s) for s in model.states[node]]
        controls[node] = widgets.ToggleButtons(
            options=options, value="", description=_pretty(node),
            style={"description_width": "14em", "button_width": "7em"},
        )  # fmt: skip
    plot_out, text_out = widgets.Output(), widgets.Output()

    def update(*_: Any) -> None:
        current = models[controls["setting"].value] if "setting" in controls else model
        evidence = {n: w.value for n, w in controls.items() if n != "setting" and w.value}
        plot_out.clear_output(wait=True)
        text_out.clear_output(wait=True)
        with plot_out:
            fig, ax = plt.subplots(figsize=(7, 0.35 * top + 1.2), layout="constrained")
            plot_posterior(current, evidence, top=top, ax=ax)
            plt.show()
            plt.close(fig)
        with text_out:
            if evidence:
                columns = ["node", "state", "woe_vs_rest", "woe_pathological_vs_benign", "leading"]
                display(current.explain(evidence)[columns].round(2))
            best = current.next_tests(evidence, top=3)
            display(best[["node", "tier", "info_gain_etiology", "info_gain_category", "most_likely_result"]].round(3))

    for widget in controls.values():
        widget.observe(update, names="value")
    panel = widgets.VBox([widgets.VBox(list(controls.values())), plot_out, text_out])
    panel.update = update
    panel.controls = controls
    update()
    return panel

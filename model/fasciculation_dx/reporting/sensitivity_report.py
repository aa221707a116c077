"""The sensitivity report: each named scenario under both settings, screening, thresholds, intervals."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..inference.query import DISCLAIMER
from ..model import Model
from .markdown import md_table, new_figure, num, pct, save_figure, stamp_line, stamp_markdown, write_csv, write_text
from .plots import interval_plot
from .scenarios import Scenario

__all__ = ["REFERRAL_THRESHOLD", "write_sensitivity"]

REFERRAL_THRESHOLD = 0.05
"""Probability of a pathological cause at which a clinician would refer for EMG."""


def _scenario_section(
    scenario: Scenario,
    models: Mapping[str, Model],
    out: Path,
    seed: int,
    draws: int,
    top: int,
    thresholds: int,
    progress: bool = False,
) -> tuple[list[str], list[Path]]:
    from ..analysis.sensitivity import compare_settings, screen, threshold
    from ..analysis.uncertainty import monte_carlo
    from .plots import tornado, tornado_size

    model = next(iter(models.values()))
    evidence = dict(scenario.evidence)
    name = scenario.name
    written: list[Path] = []
    lines = [f"## {scenario.title}", "", f"*Scenario `{name}`.* {scenario.description}", ""]
    lines += ["Evidence: " + ", ".join(f"`{k}={v}`" for k, v in evidence.items()), ""]
    if scenario.question:
        lines += [f"Question: {scenario.question}", ""]

    # posterior in each setting
    settings = compare_settings(model.priors, evidence)
    categories = compare_settings(model.priors, evidence, level="category")
    lines += ["### Posterior in each care setting", ""]
    lines += md_table(
        ["etiology", *settings.columns], [(e, *[pct(v) for v in row]) for e, row in settings.head(8).iterrows()]
    )
    lines += md_table(
        ["category", *categories.columns], [(c, *[pct(v) for v in row]) for c, row in categories.iterrows()]
    )

    # one-way screening
    table = screen(model, evidence, "pathological", progress=progress)
    moving = int((table["swing"] > 0.01).sum())
    figure = new_figure(tornado_size(table, top))
    figure.set_layout_engine("constrained")
    ax = tornado(
        table,
        top=top,
        ax=figure.add_subplot(),
        title=f"{scenario.title}: top {min(top, len(table))} parameters for P(pathological)",
    )
    written += save_figure(ax.figure, out / "figures" / f"{name}_tornado")
    head = table.head(top)
    written.append(
        write_csv(
            out / "tables" / f"{name}_top_parameters.csv",
            head.drop(columns=["linear_fractional"]).assign(linear_fractional=head["linear_fractional"].astype(int)),
        )
    )
    lines += [
        "### One-way sensitivity (tornado)",
        "",
        f"P(pathological | evidence) = {pct(table.attrs['posterior'])} in `{model.setting}`. Each of the "
        f"{len(table)} parameters was moved over its plausible range with its column co-varied; "
        f"{moving} move the probability by more than one percentage point.",
        "",
        f"![Tornado: {scenario.title}](figures/{name}_tornado.svg)",
        "",
    ]
    lines += md_table(
        ["parameter", "in words", "value", "low", "high", "P at low", "P at high", "swing", "source_id"],
        [
            (
                r.parameter,
                r.description,
                r.value,
                r.low,
                r.high,
                pct(r.at_low),
                pct(r.at_high),
                pct(r.swing),
                f"`{r.source_id}`",
            )
            for r in head.itertuples()
        ],
    )

    # thresholds of the top parameters
    if thresholds > 0:
        lines += [
            f"### Thresholds for a {REFERRAL_THRESHOLD:.0%} probability of a pathological cause",
            "",
            f"Where each of the top {thresholds} parameters would have to move for P(pathological) to "
            f"cross {REFERRAL_THRESHOLD:.0%} (the referral-for-EMG threshold), with the other parameters at "
            "their values.",
            "",
        ]
        rows = []
        for r in head.head(thresholds).itertuples():
            th = threshold(model, r.parameter, evidence, "pathological", REFERRAL_THRESHOLD)
            inside = th.value is not None and r.low <= th.value <= r.high
            rows.append(
                (
                    r.parameter,
                    r.description,
                    r.value,
                    "none" if th.value is None else num(th.value),
                    th.reason or ("yes" if inside else "no"),
                    "closed form" if th.exact else "root-finding",
                )
            )
        lines += md_table(["parameter", "in words", "value", "threshold", "within range?", "method"], rows)

    # Monte Carlo
    result = monte_carlo(model, evidence, draws=draws, seed=seed)
    etio = result.interval(0.9)
    cat = result.interval(0.9, by="category")
    ax = interval_plot(
        etio, top=10, ax=new_figure((7.5, 5)).add_subplot(), title=f"{scenario.title}: 90% credible intervals"
    )
    written += save_figure(ax.figure, out / "figures" / f"{name}_intervals")
    frame = pd.concat([etio.assign(level="etiology"), cat.assign(level="category")])
    frame = frame.rename_axis("name").reset_index()[["level", "name", "probability", "lower", "upper", "mean", "sd"]]
    written.append(write_csv(out / "tables" / f"{name}_intervals.csv", frame))
    lines += [
        "### Monte Carlo credible intervals",
        "",
        f"{draws} joint draws of every parameter that can affect this scenario (seed {seed}); equal-tailed "
        "90% intervals. See `fasciculation_dx.analysis.uncertainty` for the fitted distributions.",
        "",
        f"![Credible intervals: {scenario.title}](figures/{name}_intervals.svg)",
        "",
    ]
    lines += md_table(
        ["", "probability", "90% interval", "mean", "sd"],
        [
            (n, pct(r.probability), f"{pct(r.lower)} to {pct(r.upper)}", pct(r["mean"]), num(r.sd))
            for n, r in pd.concat([cat, etio.head(8)]).iterrows()
        ],
    )
    return lines, written


def write_sensitivity(
    models: Mapping[str, Model],
    stamp: Mapping,
    out: Path,
    seed: int,
    draws: int,
    top: int,
    thresholds: int,
    scenarios: Sequence[Scenario],
    *,
    on_scenario: Callable[[str], None] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Write ``sensitivity.md`` with every named scenario's section; return the paths written.

    ``on_scenario`` is called with each scenario's title when its section is done; ``progress``
    shows each scenario's screening of every parameter as a progress bar on stderr.
    """
    lines = [
        "# Sensitivity and uncertainty for the named scenarios",
        "",
        "How much each number in `priors/` matters for the named clinical scenarios "
        "(`fasciculation_dx.reporting.scenarios`), and how firm their posteriors are. " + DISCLAIMER,
        "",
        *stamp_line(stamp),
        "Scenarios: "
        + ", ".join(f"[{s.title}](#{s.title.lower().replace(' ', '-').replace(',', '')})" for s in scenarios),
        "",
    ]
    written: list[Path] = []
    for scenario in scenarios:
        section, files = _scenario_section(scenario, models, out, seed, draws, top, thresholds, progress)
        lines += section
        written += files
        if on_scenario is not None:
            on_scenario(scenario.title)
    lines += stamp_markdown(stamp)
    written.append(write_text(out / "sensitivity.md", lines))
    return written


# -- clinical cases -------------------------------------------------------------------------------

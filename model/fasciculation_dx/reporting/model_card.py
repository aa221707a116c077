"""The model card: every node, parameter and source, and the layered structure as a figure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..inference.query import DISCLAIMER
from ..network.priors import ETIOLOGY, LAYERS, VERIFICATIONS, Priors
from .layered_layout import Layout, layered_layout, wrap_words
from .markdown import (
    matplotlib_module,
    md_table,
    new_figure,
    save_figure,
    stamp_line,
    stamp_markdown,
    write_csv,
    write_text,
)

__all__ = ["draw_structure", "node_label", "structure_layout", "verification_counts", "write_model_card"]

_LAYER_COLOURS = {
    "context": "#8172b2",
    "trigger": "#ccb974",
    "etiology": "#c44e52",
    "mechanism": "#55a868",
    "finding": "#4c72b0",
}
FONT_SIZE = 5.5  # points
LABEL_WIDTH = 14  # characters before a label wraps (at a word boundary)
BOX_PAD = 0.25  # the label box's padding, in font sizes
ROW_GAP = 64.0  # points between rows
MAX_ROW = 16  # nodes per row at most; a longer layer is split into rows


def node_label(node: str) -> str:
    """Return a node's drawn label: its name with spaces, wrapped only between words."""
    return "\n".join(wrap_words(node.replace("_", " "), LABEL_WIDTH))


def _label_widths(priors: Priors) -> dict[str, float]:
    """Return each node's box width in points, measured from the font's glyph outlines."""
    matplotlib_module()  # a clear error when matplotlib is missing
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure, prop = TextToPath(), FontProperties(size=FONT_SIZE)
    return {
        n: max(measure.get_text_width_height_descent(line, prop, ismath=False)[0] for line in node_label(n).split("\n"))
        + 2 * BOX_PAD * FONT_SIZE
        for n in priors.nodes
    }


def structure_layout(priors: Priors) -> Layout:
    """Lay the network out in layered rows (see :mod:`.layered_layout`), coordinates in points.

    Parameters
    ----------
    priors
        Validated priors.

    Returns
    -------
    Layout
    """
    return layered_layout(
        {n: s.layer for n, s in priors.nodes.items()},
        {n: s.parents for n, s in priors.nodes.items()},
        _label_widths(priors),
        LAYERS,
        max_row=MAX_ROW,
        row_gap=ROW_GAP,
        hubs=(ETIOLOGY,),
    )


def draw_structure(priors: Priors, ax=None):
    """Draw the network as a layered DAG (context and triggers on top, findings at the bottom).

    Rows and the order within them come from :func:`structure_layout`; one data unit is one
    point, so on a figure made here (``ax`` omitted) no two label boxes of a row overlap. Each
    label's node name is stored as its artist's ``gid`` (``node:NAME``).

    Parameters
    ----------
    priors
        Validated priors.
    ax
        Axes to draw on; a new figure sized to the layout when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.collections import LineCollection

    layout = structure_layout(priors)
    xs = [x for x, _ in layout.pos.values()]
    ys = [y for _, y in layout.pos.values()]
    left, right, top, bottom = 70.0, 12.0, 40.0, 16.0  # margins in points: layer names, title
    x0, x1 = min(xs) - 40.0 - left, max(xs) + 40.0 + right
    y0, y1 = min(ys) - bottom, max(ys) + top
    if ax is None:
        ax = new_figure(((x1 - x0) / 72, (y1 - y0) / 72)).add_axes((0, 0, 1, 1))
    for layer in LAYERS:
        for hub in (True, False):
            # the etiology's edges to its many children are thinner and lighter than the rest
            segments = [
                points
                for parent, child, points in layout.edges
                if priors.nodes[child].layer == layer and (parent == ETIOLOGY) == hub
            ]
            if segments:
                ax.add_collection(
                    LineCollection(
                        segments,
                        colors=_LAYER_COLOURS[layer],
                        alpha=0.25 if hub else 0.45,
                        linewidths=0.4 if hub else 0.6,
                    )
                )
    for n, (x, y) in layout.pos.items():
        ax.text(
            x,
            y,
            node_label(n),
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            zorder=3,
            gid=f"node:{n}",
            bbox={
                "boxstyle": f"round,pad={BOX_PAD}",
                "facecolor": "white",
                "edgecolor": _LAYER_COLOURS[priors.nodes[n].layer],
                "linewidth": 0.9,
            },
        )
    seen: set[str] = set()
    for row, layer in zip(layout.rows, layout.row_layers):
        if layer in seen or not row:
            continue
        seen.add(layer)
        y = layout.pos[row[0]][1]
        ax.text(
            x0 + left - 6, y, layer, ha="right", va="center", fontsize=8, color=_LAYER_COLOURS[layer], weight="bold"
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.axis("off")
    ax.text(
        (x0 + x1) / 2,
        y1 - 12,
        f"fasciculation_dx: {len(priors.nodes)} nodes; every edge runs from a cause (above) to its effect (below)",
        ha="center",
        va="center",
        fontsize=10,
    )
    return ax


# -- model card -----------------------------------------------------------------------------------
def _parameters_frame(priors: Priors) -> pd.DataFrame:
    records = []
    for p in priors.parameters():
        source = priors.sources.get(p.source_id)
        records.append(
            {
                "file": p.file,
                "line": p.line,
                "key": "/".join(p.key),
                "value": p.value,
                "low": p.low,
                "high": p.high,
                "source_id": p.source_id,
                "source_kind": source.kind if source else "",
                "verification": source.verification if source else "",
                "citation": source.citation if source else "",
            }
        )
    return pd.DataFrame.from_records(records)


def verification_counts(priors: Priors) -> pd.DataFrame:
    """Count the sources and the parameter rows that rest on each verification label.

    Parameters
    ----------
    priors
        Validated priors.

    Returns
    -------
    pandas.DataFrame
        One row per label of :data:`fasciculation_dx.network.priors.VERIFICATIONS`, in that
        order, with columns ``verification``, ``sources`` and ``parameters`` (parameter rows
        citing a source with that label), and a last row ``total``.
    """
    sources = [s.verification for s in priors.sources.values()]
    rows = [priors.sources[p.source_id].verification for p in priors.parameters()]
    records = [{"verification": v, "sources": sources.count(v), "parameters": rows.count(v)} for v in VERIFICATIONS]
    records.append({"verification": "total", "sources": len(sources), "parameters": len(rows)})
    return pd.DataFrame.from_records(records, columns=["verification", "sources", "parameters"])


def write_model_card(priors: Priors, stamp: Mapping, out: Path) -> list[Path]:
    """Write ``model_card.md``, the structure figure and ``tables/parameters.csv``; return the paths."""
    written = save_figure(draw_structure(priors).figure, out / "figures" / "structure")
    params = _parameters_frame(priors)
    written.append(write_csv(out / "tables" / "parameters.csv", params))
    lines = [
        "# Model card: fasciculation_dx",
        "",
        "A Bayesian network of the causes of muscle fasciculations. " + DISCLAIMER,
        "",
        *stamp_line(stamp),
        "## Structure",
        "",
        "![The network, layer by layer](figures/structure.svg)",
        "",
    ]
    counts = {layer: sum(s.layer == layer for s in priors.nodes.values()) for layer in LAYERS}
    lines += md_table(["layer", "nodes"], [(layer, counts[layer]) for layer in LAYERS])
    lines += [
        "Context and trigger nodes are parents of the etiology; the etiology's table is derived from the",
        "base rates of each care setting and one relative risk per (parent state, etiology) "
        "(`etiology_modifiers.csv`).",
        "Mechanisms are latent; findings hang off mechanisms or directly off the etiology.",
        "",
        "## Care settings",
        "",
        *md_table(["setting", "description"], list(priors.settings.items())),
        "## Etiologies",
        "",
    ]
    settings = list(priors.settings)
    rates = {(p.key[0], p.key[1]): p.value for p in priors.base_rates}
    lines += md_table(
        ["etiology", "group", "category", *[f"base rate ({s})" for s in settings], "description"],
        [
            (e.name, e.group, e.category, *[rates.get((s, e.name), float("nan")) for s in settings], e.description)
            for e in priors.etiologies.values()
        ],
    )
    lines += ["## Nodes", ""]
    lines += md_table(
        ["node", "layer", "panel", "states", "parents", "description"],
        [
            (n, s.layer, s.panel, ", ".join(s.states), ", ".join(s.parents), s.description)
            for n, s in priors.nodes.items()
        ],
    )
    lines += [
        "## Parameters",
        "",
        f"{len(params)} parameter rows. Each is a probability (a relative risk in "
        "`etiology_modifiers.csv`) with its plausible range `[low, high]`, which the sensitivity "
        "analyses use, and its source (citations in [Sources](#sources); also "
        "`tables/parameters.csv`).",
        "",
    ]
    for file, rows in params.groupby("file", sort=False):
        lines += [f"### `{file}`", ""]
        lines += md_table(
            ["line", "key", "value", "low", "high", "source_id"],
            [(r.line, r.key, r.value, r.low, r.high, f"`{r.source_id}`") for r in rows.itertuples()],
        )
    uses = params["source_id"].value_counts()
    lines += ["## Sources", ""]
    lines += [
        "Each source carries a verification label: `primary` (the number was read in the primary "
        "publication or its abstract), `secondary` (taken from a named review or summary), "
        "`expert_estimate` (our judgement) or `convention` (the no-effect convention).",
        "",
    ]
    counts = verification_counts(priors)
    lines += md_table(
        ["verification", "sources", "parameter rows"],
        [(r.verification, int(r.sources), int(r.parameters)) for r in counts.itertuples()],
    )
    lines += md_table(
        ["source_id", "kind", "verification", "year", "citation", "doi", "pmid", "url", "parameters"],
        [
            (
                f"`{s.source_id}`",
                s.kind,
                s.verification,
                s.year,
                s.citation,
                s.doi,
                s.pmid,
                s.url,
                int(uses.get(s.source_id, 0)),
            )
            for s in priors.sources.values()
        ],
    )
    lines += stamp_markdown(stamp)
    written.append(write_text(out / "model_card.md", lines))
    return written


# -- sensitivity ----------------------------------------------------------------------------------

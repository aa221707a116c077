"""The model card: every node, parameter and source, and the layered structure as a figure."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..inference.query import DISCLAIMER
from ..network.priors import LAYERS, VERIFICATIONS, Priors
from .markdown import md_table, new_figure, save_figure, stamp_markdown, write_csv, write_text

__all__ = ["draw_structure", "verification_counts", "write_model_card"]

_LAYER_COLOURS = {
    "context": "#8172b2",
    "trigger": "#ccb974",
    "etiology": "#c44e52",
    "mechanism": "#55a868",
    "finding": "#4c72b0",
}


def _layer_rows(priors: Priors, width: int = 16) -> list[tuple[str, list[str]]]:
    """Split each layer's nodes into drawing rows of at most ``width``, ordered to limit crossings."""
    by_layer = {layer: [n for n, s in priors.nodes.items() if s.layer == layer] for layer in LAYERS}
    rows: list[tuple[str, list[str]]] = []
    placed: dict[str, float] = {}
    for layer in LAYERS:
        nodes = by_layer[layer]
        if not nodes:
            continue

        def parent_x(n: str) -> float:
            xs = [placed[p] for p in priors.nodes[n].parents if p in placed]
            return float(np.mean(xs)) if xs else 0.5

        nodes = sorted(nodes, key=lambda n: (round(parent_x(n), 6), n)) if layer in ("mechanism", "finding") else nodes
        size = -(-len(nodes) // -(-len(nodes) // width))  # rows of even length, at most ``width``
        chunks = [nodes[i : i + size] for i in range(0, len(nodes), size)]
        for chunk in chunks:
            xs = np.linspace(0.04, 0.96, len(chunk)) if len(chunk) > 1 else np.array([0.5])
            for n, x in zip(chunk, xs):
                placed[n] = float(x)
            rows.append((layer, chunk))
    return rows


def draw_structure(priors: Priors, ax=None):
    """Draw the network as a layered DAG (context and triggers on top, findings at the bottom).

    Parameters
    ----------
    priors
        Validated priors.
    ax
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        ax = new_figure((17, 12)).add_subplot()
    rows = _layer_rows(priors)
    pos: dict[str, tuple[float, float]] = {}
    for r, (_, chunk) in enumerate(rows):
        y = 1.0 - r / max(len(rows) - 1, 1)
        xs = np.linspace(0.04, 0.96, len(chunk)) if len(chunk) > 1 else np.array([0.5])
        for n, x in zip(chunk, xs):
            pos[n] = (float(x), y)
    from matplotlib.collections import LineCollection

    for layer in LAYERS:
        segments = [
            [pos[parent], pos[child]]
            for child, spec in priors.nodes.items()
            if spec.layer == layer
            for parent in spec.parents
        ]
        if segments:
            ax.add_collection(LineCollection(segments, colors=_LAYER_COLOURS[layer], alpha=0.3, linewidths=0.6))
    for n, (x, y) in pos.items():
        layer = priors.nodes[n].layer
        label = "\n".join(textwrap.wrap(n.replace("_", " "), 13))
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=5.5,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.25",
                "facecolor": "white",
                "edgecolor": _LAYER_COLOURS[layer],
                "linewidth": 0.9,
            },
        )
    seen = []
    for r, (layer, _) in enumerate(rows):
        if layer in seen:
            continue
        seen.append(layer)
        y = 1.0 - r / max(len(rows) - 1, 1)
        ax.text(-0.01, y, layer, ha="right", va="center", fontsize=8, color=_LAYER_COLOURS[layer], weight="bold")
    ax.set_xlim(-0.09, 1.01)
    ax.set_ylim(-0.06, 1.06)
    ax.axis("off")
    ax.set_title(
        f"fasciculation_dx: {len(priors.nodes)} nodes; every edge runs from a cause (above) to its effect (below)",
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
        One row per label of :data:`~fasciculation_dx.network.priors.VERIFICATIONS`, in that
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
        *stamp_markdown(stamp),
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
    written.append(write_text(out / "model_card.md", lines))
    return written


# -- sensitivity ----------------------------------------------------------------------------------

"""What can be entered and what is ranked: the evidence nodes by panel, and the causes with their other names."""

from __future__ import annotations

from collections.abc import Sequence

from ..network.priors import OBSERVABLE_LAYERS, Priors
from .cause_names import synonyms_of

__all__ = ["cause_records", "format_causes", "format_nodes", "node_records"]


def node_records(priors: Priors) -> list[dict]:
    """List the nodes that can be entered as evidence, grouped by panel in the order panels first appear.

    Parameters
    ----------
    priors
        The loaded priors.

    Returns
    -------
    list of dict
        One record per node: ``node``, ``panel``, ``layer``, ``states`` (list), ``description``
        and ``tier`` (from ``tests.csv``; ``""`` when the node has no test row), panels together.
    """
    nodes = [(name, spec) for name, spec in priors.nodes.items() if spec.layer in OBSERVABLE_LAYERS]
    panels = list(dict.fromkeys(spec.panel for _, spec in nodes))
    records = []
    for panel in panels:
        for name, spec in nodes:
            if spec.panel == panel:
                test = priors.tests.get(name)
                records.append(
                    {
                        "node": name,
                        "panel": panel,
                        "layer": spec.layer,
                        "states": list(spec.states),
                        "description": spec.description,
                        "tier": test.tier if test else "",
                    }
                )
    return records


def format_nodes(records: Sequence[dict]) -> str:
    """Format :func:`node_records` as aligned columns (node, states, meaning) under a heading per panel."""
    name_width = max((len(r["node"]) for r in records), default=0)
    states_width = max((len("|".join(r["states"])) for r in records), default=0)
    lines: list[str] = []
    panel = None
    for r in records:
        if r["panel"] != panel:
            panel = r["panel"]
            lines.append(f"{panel or 'other'}:")
        lines.append(f"  {r['node']:{name_width}}  {'|'.join(r['states']):{states_width}}  {r['description']}")
    lines.append("Enter a finding as node=state, e.g. weakness=yes; an uncertain one as weakness~yes.")
    return "\n".join(lines)


def cause_records(priors: Priors, names: Sequence[str] | None = None) -> list[dict]:
    """List the causes the model ranks, with their group, category, description and other names.

    Parameters
    ----------
    priors
        The loaded priors.
    names
        Only these causes (canonical names), in the priors' order; ``None``: every cause.

    Returns
    -------
    list of dict
        One record per cause: ``cause``, ``group``, ``category``, ``description`` and
        ``synonyms`` (the other names of :data:`fasciculation_dx.reporting.cause_names.SYNONYMS`
        that denote it).
    """
    wanted = None if names is None else set(names)
    return [
        {
            "cause": name,
            "group": e.group,
            "category": e.category,
            "description": e.description,
            "synonyms": synonyms_of(name),
        }
        for name, e in priors.etiologies.items()
        if wanted is None or name in wanted
    ]


def format_causes(records: Sequence[dict]) -> str:
    """Format :func:`cause_records` as aligned columns under a heading per group."""
    name_width = max((len(r["cause"]) for r in records), default=0)
    lines: list[str] = []
    groups = list(dict.fromkeys(r["group"] for r in records))
    for group in groups:
        members = [r for r in records if r["group"] == group]
        if lines:
            lines.append("")
        lines.append(f"{group} ({', '.join(sorted({r['category'] for r in members}))}):")
        for r in members:
            line = f"  {r['cause']:{name_width}}  {r['category']:12}  {r['description']}"
            if r["synonyms"]:
                line += f" [also: {', '.join(r['synonyms'])}]"
            lines.append(line)
    return "\n".join(lines)

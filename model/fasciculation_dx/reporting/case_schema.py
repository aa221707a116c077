"""The case-file schema: every column a case file may hold and every value its cells accept, built from the priors.

A case file (for ``score``, ``calibrate`` and ``evaluate``; read by
:mod:`fasciculation_dx.analysis.cases` and :mod:`fasciculation_dx.inference.case_encoding`) has
one row per patient. Its columns are the evidence nodes (``nodes.csv`` layers context, trigger
and finding) and optionally ``case_id``, ``setting`` and ``etiology``. The schema is derived
from a loaded :class:`fasciculation_dx.network.priors.Priors` every time, so it cannot drift
from what the readers accept: :func:`schema_columns` gives one record per column,
:func:`json_schema` a JSON Schema (draft 2020-12) of one row and :func:`markdown_schema` the
reference page (``docs/case-file-schema.md``).

What the readers accept, and the schema states:

- a cell of an evidence column holds one of the node's states, spelled exactly, or soft evidence
  (``~yes``; ``yes:0.8,no:0.2``), or is empty (a null in Parquet): not recorded;
- numbers with units (``1.9mmol/L``, ``58``) are accepted on the command line and in Python
  (:mod:`fasciculation_dx.inference.measurements`) but **not** in case-file cells: a case file
  holds the state, binned with the cut-offs of ``measurements.csv``, which the schema lists;
- ``etiology`` takes the etiology names exactly; other names of a cause (``MND``) are not
  accepted by ``calibrate`` and ``evaluate`` (``score`` copies the column without reading it);
- surrounding whitespace is stripped from every cell and column name before these rules apply.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..errors import ArgumentError
from ..inference.evidence import observable_states
from ..inference.measurements import interval_text
from ..inference.soft import PROBABLY, PROBABLY_PREFIX
from ..network.priors import (
    CONDITIONAL_FINDINGS,
    ETIOLOGY,
    MEASUREMENT_REFERENCE,
    RENAMED_NODES,
    Priors,
)
from .listings import node_records
from .markdown import cell, md_table

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "REGENERATE",
    "case_rows",
    "json_schema",
    "markdown_schema",
    "render_schema",
    "schema_columns",
    "soft_evidence_patterns",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect of :func:`json_schema`."""

REGENERATE = "fasciculation-dx schema --out docs/case-file-schema.md --overwrite"
"""The command that regenerates the committed ``docs/case-file-schema.md`` from the shipped priors."""

_WEIGHT = r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
"""A non-negative decimal number, as a weight of soft evidence is written."""

_SYNTAX = set("\\^$.|?*+()[]{}/")


def _escape(text: str) -> str:
    """Escape a state name for a pattern that is valid both in Python and in ECMA-262 (JSON Schema) regexes."""
    return "".join("\\" + c if c in _SYNTAX else c for c in text)


def soft_evidence_patterns(states: Sequence[str]) -> tuple[str, str]:
    """Return the patterns of the two text forms of soft evidence over ``states``.

    Parameters
    ----------
    states
        The node's states.

    Returns
    -------
    probably, weights : str
        Anchored regular expressions (ECMA-262 and Python alike) for ``~state`` and for
        ``state:weight,state:weight``. They check the spelling only: that each state is given
        once and at least one weight is positive is checked by the readers, not the pattern.
    """
    names = "(?:" + "|".join(_escape(s) for s in states) + ")"
    pair = rf"{names}\s*:\s*{_WEIGHT}"
    return rf"^{_escape(PROBABLY_PREFIX)}\s*{names}$", rf"^{pair}(?:\s*,\s*{pair})*$"


def _measurements(priors: Priors, node: str) -> list[dict[str, Any]]:
    """List the numeric scales of ``node`` in ``measurements.csv``: one record per (name, unit)."""
    scales: dict[tuple[str, str], dict[str, Any]] = {}
    for row in priors.measurements or ():
        if row.node != node:
            continue
        scale = scales.setdefault(
            (row.name, row.unit), {"name": row.name, "unit": row.unit, "states": [], "reference": None, "sources": []}
        )
        if row.interval == MEASUREMENT_REFERENCE:
            scale["reference"] = {"values": interval_text(row, unit=False), "source_id": row.source_id}
        else:
            scale["states"].append(
                {"state": row.interval, "values": interval_text(row, unit=False), "source_id": row.source_id}
            )
        if row.source_id not in scale["sources"]:
            scale["sources"].append(row.source_id)
    return list(scales.values())


def schema_columns(priors: Priors) -> list[dict[str, Any]]:
    """List every column a case file may hold, with every value it accepts.

    Parameters
    ----------
    priors
        The loaded priors whose vocabulary case files use.

    Returns
    -------
    list of dict
        ``case_id``, ``setting``, then the evidence nodes grouped by panel (as
        ``fasciculation-dx nodes`` lists them), then ``etiology``. Each record has ``column``,
        ``kind`` (``"id"``, ``"setting"``, ``"evidence"`` or ``"etiology"``), ``description``,
        ``values`` (a list of ``{"value", "description"}``; empty for ``case_id``, which takes
        any text) and ``soft`` (whether soft evidence is accepted). Evidence records also have
        ``panel``, ``layer``, ``tier`` (``tests.csv``; ``""`` when none), ``former_names``
        (older column names still read), ``requires`` (``{"column", "value"}`` when the column
        may be filled only in rows holding that value, else None) and ``measurements``: the
        cut-offs of ``measurements.csv`` that bin a number into a state, one record per name and
        unit with ``name``, ``unit``, ``states`` (``{"state", "values", "source_id"}``),
        ``reference`` (``{"values", "source_id"}`` or None) and ``sources``.
    """
    observable = observable_states(priors)
    columns: list[dict[str, Any]] = [
        {
            "column": "case_id",
            "kind": "id",
            "description": "An identifier of the patient (any text), unique within the file when given; "
            "calibrate and evaluate refuse a repeated one",
            "values": [],
            "soft": False,
        },
        {
            "column": "setting",
            "kind": "setting",
            "description": "The care setting the patient was seen in; empty: the setting of the command "
            "(--setting, default primary_care). score accepts only the setting it scores",
            "values": [{"value": name, "description": text} for name, text in priors.settings.items()],
            "soft": False,
        },
    ]
    former: dict[str, list[str]] = {}
    for old, new in RENAMED_NODES.items():
        if new in observable and old not in priors.nodes:
            former.setdefault(new, []).append(old)
    for record in node_records(priors):
        node = record["node"]
        condition = CONDITIONAL_FINDINGS.get(node)
        columns.append(
            {
                "column": node,
                "kind": "evidence",
                "description": record["description"],
                "panel": record["panel"],
                "layer": record["layer"],
                "tier": record["tier"],
                "values": [{"value": s, "description": ""} for s in observable[node]],
                "soft": True,
                "former_names": former.get(node, []),
                "requires": None if condition is None else {"column": condition[0], "value": condition[1]},
                "measurements": _measurements(priors, node),
            }
        )
    columns.append(
        {
            "column": ETIOLOGY,
            "kind": "etiology",
            "description": "The confirmed primary cause; empty: unknown. calibrate and evaluate read it, by "
            "these names only; score copies it to its output without reading it",
            "values": [
                {"value": name, "description": e.description, "group": e.group, "category": e.category}
                for name, e in priors.etiologies.items()
            ],
            "soft": False,
        }
    )
    return columns


def _empty() -> list[Any]:
    return [None, ""]


def json_schema(priors: Priors) -> dict[str, Any]:
    """Build a JSON Schema (draft 2020-12) of one case-file row, as an object ``{column: cell}``.

    A row validates when each cell, stripped of surrounding whitespace, is ``""`` or null (not
    recorded), one of its column's ``enum`` values, or, in an evidence column, soft evidence
    matching one of the column's two patterns. :func:`case_rows` turns a case table into
    such objects. What one row cannot show is not checked: unique case ids, ``score``
    accepting only its own setting, and soft evidence being refused by ``calibrate``.

    Parameters
    ----------
    priors
        The loaded priors.

    Returns
    -------
    dict
        The schema; each property also carries ``x-panel``, ``x-tier``, ``x-soft-evidence``,
        ``x-measurements`` or ``x-value-descriptions`` where they apply (annotations, ignored by
        validators).
    """
    properties: dict[str, Any] = {}
    conditions: list[dict[str, Any]] = []
    dependent: dict[str, Any] = {}
    for col in schema_columns(priors):
        name = col["column"]
        values = [v["value"] for v in col["values"]]
        if col["kind"] == "id":
            prop: dict[str, Any] = {"type": ["string", "null"]}
        elif col["kind"] == "evidence":
            probably, weights = soft_evidence_patterns(values)
            prop = {
                "anyOf": [
                    {"enum": [*_empty(), *values]},
                    {"type": "string", "pattern": probably},
                    {"type": "string", "pattern": weights},
                ],
                "x-panel": col["panel"],
                "x-layer": col["layer"],
                "x-tier": col["tier"],
                "x-soft-evidence": True,
            }
            if col["measurements"]:
                prop["x-measurements"] = col["measurements"]
            for old in col["former_names"]:
                properties[old] = {
                    "$ref": f"#/properties/{name}",
                    "deprecated": True,
                    "description": f"Former name of '{name}', still read; keep only one of the two columns",
                }
                dependent[old] = {"not": {"required": [name]}}
            if col["requires"] is not None:
                need = col["requires"]
                conditions.append(
                    {
                        "if": {
                            "properties": {name: {"type": "string", "minLength": 1}},
                            "required": [name],
                        },
                        "then": {
                            "properties": {need["column"]: {"const": need["value"]}},
                            "required": [need["column"]],
                        },
                    }
                )
        else:
            prop = {"enum": [*_empty(), *values]}
            prop["x-value-descriptions"] = {v["value"]: v["description"] for v in col["values"]}
        description = col["description"]
        if col["kind"] == "evidence" and col["requires"] is not None:
            need = col["requires"]
            description += f". Filled only in rows with {need['column']} = {need['value']} (a certain finding)"
        properties[name] = {"title": name, "description": description, **prop}
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "fasciculation-dx case-file row",
        "description": "One row (patient) of a case file for fasciculation-dx score, calibrate and evaluate, as an "
        "object {column: cell}. Strip surrounding whitespace from column names and cells first; an empty "
        "cell or null means not recorded. Every column is optional; any other column is an error. Soft "
        f"evidence: ~state (likelihood ratio {PROBABLY:g} for that state against each other state) or "
        "state:weight,state:weight (relative weights, finite, at least 0, one positive, each state once); "
        "accepted by score and evaluate, refused by calibrate. Numbers with units are not accepted in "
        "cells: bin them into states with the cut-offs in x-measurements.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if conditions:
        schema["allOf"] = conditions
    if dependent:
        schema["dependentSchemas"] = dependent
    return schema


def case_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Turn a case table into the row objects :func:`json_schema` describes.

    Column names and text cells are stripped of surrounding whitespace, nulls become ``""`` and
    other values their text (a Parquet integer ``0`` reads as ``"0"``), as the readers do.

    Parameters
    ----------
    frame
        The case table (e.g. ``pandas.read_csv(path, dtype=str, keep_default_na=False)``).

    Returns
    -------
    list of dict
        One ``{column: cell}`` per row.
    """
    names = [c.strip() if isinstance(c, str) else str(c) for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False, name=None):
        rows.append({name: "" if _null(v) else str(v).strip() for name, v in zip(names, values)})
    return rows


def _null(value: Any) -> bool:
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))  # None, NaN, NA, NaT


# -- markdown -------------------------------------------------------------------------------------
def _table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    """Return a Markdown table as lines, without the blank line :func:`md_table` ends with."""
    return md_table(header, rows)[:-1]


def _code(values: Sequence[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _source_line(priors: Priors, source_id: str) -> str:
    source = priors.sources.get(source_id)
    if source is None:
        return f"- `{source_id}`"
    link = f" <{source.url}>" if source.url else ""
    return f"- `{source_id}`: {cell(source.citation)}{link} ({source.verification or source.kind})"


def markdown_schema(priors: Priors) -> str:
    """Render the case-file schema as a Markdown reference page.

    Parameters
    ----------
    priors
        The loaded priors.

    Returns
    -------
    str
        The page, ending in a newline; the same text for the same priors (no dates, no paths
        beyond the priors folder's name).
    """
    columns = schema_columns(priors)
    by_kind = {c["column"]: c for c in columns}
    evidence = [c for c in columns if c["kind"] == "evidence"]
    folder = priors.directory.name if priors.directory is not None else "priors"
    lines = [
        "# Case-file schema",
        "",
        f"<!-- Generated from the priors folder `{folder}` by `fasciculation-dx schema`; do not edit. "
        f"Regenerate with: {REGENERATE} -->",
        "",
        "A case file is the input of `fasciculation-dx score`, `calibrate` and `evaluate`: a CSV file (UTF-8, "
        "comma separated, a header row) or a Parquet file, with one row per patient. This page lists every "
        f"column it may hold and every value each accepts, for the priors in `{folder}/` "
        "(`fasciculation-dx schema --priors DIR` gives it for other priors; `--json` as a JSON Schema, "
        "draft 2020-12, of one row).",
        "",
        "## Rules for every column",
        "",
        "- Every column is optional and the order of columns does not matter. A column that is not listed here "
        "is an error (a misspelt finding is never silently ignored); `score --keep COLUMN` copies further "
        "columns to its output.",
        "- An empty cell (a null in Parquet) means *not recorded*. Surrounding spaces are stripped from every "
        "cell and column name; anything else must match exactly (`Yes` is not `yes`, `NA` is not empty).",
        "- Every problem of a file is reported at once, with its row (the header is row 1) and column.",
        "",
        "### Soft evidence",
        "",
        "A finding known only approximately is written in its cell as on the command line:",
        "",
        *_table(
            ["cell", "meaning"],
            [
                [
                    "`~yes`",
                    f"probably yes: likelihood ratio {PROBABLY:g} for the named state against each other state "
                    "(a convention of this software, not a clinical estimate)",
                ],
                [
                    "`yes:0.8,no:0.2`",
                    "relative weights (likelihoods) of the observation under each state: numbers at least 0, "
                    "at least one positive, each state once; a state left out has weight 0. In CSV the cell is "
                    "quoted, since it holds a comma",
                ],
            ],
        ),
        "",
        "`score` and `evaluate` use soft evidence in every finding column; `calibrate` refuses it (naming each "
        "cell), since its counts need certain findings.",
        "",
        "### Numbers with units",
        "",
        "Case-file cells do **not** accept numbers: `1.9mmol/L` or `58` in a cell is an invalid state. "
        "The command line and Python accept them (`fasciculation-dx query calcium=1.9mmol/L age=58`); in a "
        "case file, enter the state, binned with the cut-offs listed under "
        "[Numbers and their states](#numbers-and-their-states).",
        "",
        "## case_id",
        "",
        f"{by_kind['case_id']['description']}.",
        "",
        "## setting",
        "",
        f"{by_kind['setting']['description']}.",
        "",
        *_table(["value", "meaning"], [[f"`{v['value']}`", v["description"]] for v in by_kind["setting"]["values"]]),
        "",
        f"## {ETIOLOGY}",
        "",
        f"{by_kind[ETIOLOGY]['description']}. `fasciculation-dx causes TERM` finds the name of a cause from "
        "another name (MND, Kennedy disease).",
        "",
        *_table(
            ["value", "group", "category", "meaning"],
            [[f"`{v['value']}`", v["group"], v["category"], v["description"]] for v in by_kind[ETIOLOGY]["values"]],
        ),
        "",
        "## Findings",
        "",
        f"{len(evidence)} columns, one per evidence node (`nodes.csv`), grouped by panel; the tier is how the "
        "finding is obtained (`tests.csv`). Every one accepts its states below, soft evidence, or an empty cell.",
    ]
    panels = list(dict.fromkeys(c["panel"] for c in evidence))
    for panel in panels:
        rows = []
        for c in evidence:
            if c["panel"] != panel:
                continue
            meaning = c["description"]
            if c["requires"] is not None:
                need = c["requires"]
                meaning += f". Filled only in rows with `{need['column']}` = `{need['value']}` (a certain finding)"
            if c["former_names"]:
                meaning += f". Former name {_code(c['former_names'])} still read (keep one of the two columns)"
            if c["measurements"]:
                meaning += " (numbers: [cut-offs](#numbers-and-their-states))"
            states = _code([v["value"] for v in c["values"]])
            rows.append([f"`{c['column']}`", states, "yes" if c["soft"] else "no", c["tier"] or "-", meaning])
        lines += ["", f"### {panel or 'other'}", "", *_table(["column", "states", "soft", "tier", "meaning"], rows)]
    measured = [c for c in evidence if c["measurements"]]
    if measured:
        lines += [
            "",
            "## Numbers and their states",
            "",
            "The cut-offs of `measurements.csv` by which the command line bins a number into a state; use them to "
            "enter a measured value in a case file as its state. Each row cites its source (listed below).",
        ]
        used: list[str] = []
        for c in measured:
            lines += ["", f"### {c['column']}", ""]
            rows = []
            for scale in c["measurements"]:
                for s in scale["states"]:
                    rows.append([scale["name"], scale["unit"], f"`{s['state']}`", s["values"], f"`{s['source_id']}`"])
                if scale["reference"] is not None:
                    ref = scale["reference"]
                    rows.append(
                        [scale["name"], scale["unit"], "reference interval", ref["values"], f"`{ref['source_id']}`"]
                    )
                used += [s for s in scale["sources"] if s not in used]
            lines += _table(["name", "unit", "state", "values", "source"], rows)
        lines += ["", "### Sources of the cut-offs", "", *(_source_line(priors, s) for s in used)]
    return "\n".join(lines) + "\n"


def render_schema(priors: Priors, fmt: str = "markdown") -> str:
    """Return the schema as the text ``fasciculation-dx schema`` prints or writes.

    Parameters
    ----------
    priors
        The loaded priors.
    fmt
        ``"markdown"`` (default) or ``"json"``.

    Returns
    -------
    str
        The text, ending in a newline.

    Raises
    ------
    ArgumentError
        For another ``fmt``.
    """
    if fmt == "markdown":
        return markdown_schema(priors)
    if fmt == "json":
        return json.dumps(json_schema(priors), indent=2, ensure_ascii=False) + "\n"
    raise ArgumentError(f"the schema format must be 'markdown' or 'json'. Got {fmt!r} instead")

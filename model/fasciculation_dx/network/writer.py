"""Write priors back out in the schema they were read from.

Numbers are written in their shortest positional form, so a directory written by this module
reads back and writes again byte for byte.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np

from ..atomic import clean_stale, temporary_path
from ..errors import OutputExistsError
from .priors import ETIOLOGY, HEADERS, OPTIONAL_HEADERS, VALUE_COLUMNS, Parameter, Priors

__all__ = ["format_number", "write_priors", "write_files"]


def format_number(value: float) -> str:
    """Format a number in the shortest positional form that reads back exactly."""
    return np.format_float_positional(float(value), trim="-")


def _param_cells(p: Parameter) -> list[str]:
    return [format_number(p.value), format_number(p.low), format_number(p.high), p.source_id, p.note]


def _bound(value: float | None) -> str:
    return "" if value is None else format_number(value)


def _tables(priors: Priors) -> dict[str, list[list[str]]]:
    nodes = priors.nodes
    tables: dict[str, list[list[str]]] = {
        "nodes.csv": [[n.name, n.layer, n.panel, n.description] for n in nodes.values()],
        "states.csv": [[n.name, s] for n in nodes.values() if n.name != ETIOLOGY for s in n.states],
        "etiologies.csv": [[e.name, e.group, e.category, e.description] for e in priors.etiologies.values()],
        "edges.csv": [[p, n.name] for n in nodes.values() for p in n.parents],
        "settings.csv": [[s, d] for s, d in priors.settings.items()],
        "sources.csv": [
            [s.source_id, s.kind, s.citation, s.year, s.url, s.doi, s.pmid, s.verification, s.note]
            for s in priors.sources.values()
        ],
        "base_rates.csv": [[*p.key, *_param_cells(p)] for p in priors.base_rates],
        "etiology_modifiers.csv": [[*p.key, *_param_cells(p)] for p in priors.modifiers],
        "tests.csv": [
            [t.node, t.tier, t.cost_band, t.invasiveness, t.source_id, t.note] for t in priors.tests.values()
        ],
    }
    if priors.measurements is not None:
        tables["measurements.csv"] = [
            [m.name, m.node, m.unit, m.interval, _bound(m.lower), _bound(m.upper), m.includes, m.source_id, m.note]
            for m in priors.measurements
        ]
    if priors.red_flags is not None:
        tables["red_flags.csv"] = [[r.node, r.state, r.guideline, r.text, r.source_id] for r in priors.red_flags]
    for name, rows in priors.cpts.items():
        tables[f"cpts/{name}.csv"] = [[*p.key, *_param_cells(p)] for p in rows]
    return tables


def _header(priors: Priors, rel: str) -> tuple[str, ...]:
    if rel.startswith("cpts/"):
        return (*priors.nodes[rel[5:-4]].parents, *VALUE_COLUMNS)
    return HEADERS[rel] if rel in HEADERS else OPTIONAL_HEADERS[rel]


def write_priors(priors: Priors, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Write priors to a new directory in the schema of ``priors/README.md``.

    The files are written to a temporary folder beside the target and moved into place only
    when all are written, so a failure leaves nothing half-written.

    Parameters
    ----------
    priors
        The priors to write.
    directory
        The folder to create.
    overwrite
        Replace the files of an existing folder of the same name. Without it an existing,
        non-empty folder is an error.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    OutputExistsError
        If ``directory`` exists, is not empty and ``overwrite`` is false (a ``FileExistsError``).
    """
    target = Path(directory)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise OutputExistsError(f"{target} already exists and is not empty; choose a new folder or pass overwrite=True")
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    staging = temporary_path(target)
    staging.mkdir()
    try:
        write_files(priors, staging)
        target.mkdir(exist_ok=True)
        (target / "cpts").mkdir(exist_ok=True)
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                os.replace(path, target / path.relative_to(staging))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_files(priors: Priors, folder: str | Path) -> Path:
    """Write the priors' files into an existing, empty folder (no staging; see :func:`write_priors`).

    Parameters
    ----------
    priors
        The priors to write.
    folder
        An existing folder, normally a staging folder that the caller moves into place.

    Returns
    -------
    pathlib.Path
        The folder.
    """
    folder = Path(folder)
    (folder / "cpts").mkdir(exist_ok=True)
    for rel, rows in _tables(priors).items():
        with open(folder / rel, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(_header(priors, rel))
            writer.writerows(rows)
    readme = priors.directory / "README.md" if priors.directory else None
    if readme is not None and readme.is_file():
        (folder / "README.md").write_bytes(readme.read_bytes())
    return folder

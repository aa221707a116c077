"""What changed between two priors directories, ranked by the effect on posteriors.

Rows of the parameter files (``base_rates.csv``, ``etiology_modifiers.csv``, ``cpts/*.csv``) are
matched by file and key (see :class:`fasciculation_dx.network.priors.Parameter`), never by line,
so reordered files compare equal. A matched row is

- **changed** when its value differs;
- **range or source only** when its value is equal but ``low``, ``high`` or ``source_id`` differ;
- **notes only** when only its note differs: counted, not listed.

Rows present in one directory only are listed as added or removed.

The effect of a changed row is measured on named scenarios: A's priors with only that row set to
B's value (its column's other states rescaled proportionally, as in
:func:`fasciculation_dx.analysis.covariation.with_covaried_value`; a relative risk changes alone),
and the largest absolute change of any etiology's posterior over the scenarios and care settings.
A row whose node is not among a scenario's findings has no effect on it, so a row can rank last
only because no scenario looks at it. The posteriors are exact, computed for all rows of a
scenario at once by :class:`fasciculation_dx.analysis.draws.Evaluator` (one change per "draw").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ArgumentError
from ..inference.compiled import CompiledEngine
from ..inference.evidence import check_evidence
from ..network.etiology import EtiologyFitError
from ..network.loader import load_priors
from ..network.priors import Parameter, Priors
from .covariation import covaried_values
from .draws import Evaluator, Plan
from .parameter_words import describe_parameter
from .uncertainty import CHUNK  # changed rows evaluated together per scenario, as draws are

__all__ = ["ParameterChange", "PriorsDiff", "diff_priors"]


@dataclass(frozen=True)
class ParameterChange:
    """One parameter row that differs between priors A and B.

    Attributes
    ----------
    file, key
        The row's file and key (see :class:`fasciculation_dx.network.priors.Parameter`).
    parameter
        The row in words, e.g. ``weakness=yes | motor_axon_loss=present, myopathy=absent``.
    line_a, line_b
        Its line in A's and B's file (None where it is absent).
    a, b
        Its value in A and in B (None where it is absent).
    range_a, range_b, source_a, source_b
        ``(low, high)`` and ``source_id`` in each (None where absent).
    effect
        Largest absolute change of any etiology's posterior over the scenarios and settings when
        only this row (and its co-varied column) takes B's value; NaN when not computed (added or
        removed rows, metadata-only changes) or when B's value makes a scenario impossible.
    scenario, setting, etiology
        Where that largest change occurs (empty when ``effect`` is 0 or NaN).
    """

    file: str
    key: tuple[str, ...]
    parameter: str
    line_a: int | None
    line_b: int | None
    a: float | None
    b: float | None
    range_a: tuple[float, float] | None
    range_b: tuple[float, float] | None
    source_a: str | None
    source_b: str | None
    effect: float = float("nan")
    scenario: str = ""
    setting: str = ""
    etiology: str = ""


@dataclass(frozen=True)
class PriorsDiff:
    """The differences between two priors directories.

    Attributes
    ----------
    a, b
        Labels of the two priors (their directories).
    changed
        Rows whose value differs, largest ``effect`` first (ties: largest absolute change first).
    metadata_only
        Rows whose value is equal but whose range or source differs.
    added, removed
        Rows only in B, only in A.
    notes_only
        Number of rows that differ in their note alone (ignored).
    overall
        ``{effect, scenario, setting, etiology}``: the largest posterior change with every change
        applied at once (empty when A and B have different etiologies or nodes).
    scenarios, settings
        Where the effects were measured.
    """

    a: str
    b: str
    changed: tuple[ParameterChange, ...]
    metadata_only: tuple[ParameterChange, ...]
    added: tuple[ParameterChange, ...]
    removed: tuple[ParameterChange, ...]
    notes_only: int
    overall: Mapping[str, object]
    scenarios: tuple[str, ...]
    settings: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """Return how many rows changed, changed in range or source only, were added or removed, or notes only."""
        return {
            "changed": len(self.changed),
            "range_or_source_only": len(self.metadata_only),
            "added": len(self.added),
            "removed": len(self.removed),
            "notes_only_ignored": self.notes_only,
        }

    def to_dict(self) -> dict:
        """Return the whole diff as JSON-ready data (NaN written as None)."""

        def rows(changes):
            return [{k: _json(v) for k, v in asdict(c).items()} for c in changes]

        return {
            "a": self.a,
            "b": self.b,
            "scenarios": list(self.scenarios),
            "settings": list(self.settings),
            "counts": self.counts(),
            "overall": {k: _json(v) for k, v in self.overall.items()},
            "changed": rows(self.changed),
            "range_or_source_only": rows(self.metadata_only),
            "added": rows(self.added),
            "removed": rows(self.removed),
        }


def _json(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value


def _rows(priors: Priors) -> dict[tuple[str, tuple[str, ...]], Parameter]:
    return {(r.file, r.key): r for r in priors.parameters()}


def _same(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15)


def _change(row_a: Parameter | None, row_b: Parameter | None, words: str) -> ParameterChange:
    row = row_a if row_a is not None else row_b
    return ParameterChange(
        file=row.file,
        key=row.key,
        parameter=words,
        line_a=row_a.line if row_a else None,
        line_b=row_b.line if row_b else None,
        a=row_a.value if row_a else None,
        b=row_b.value if row_b else None,
        range_a=(row_a.low, row_a.high) if row_a else None,
        range_b=(row_b.low, row_b.high) if row_b else None,
        source_a=row_a.source_id if row_a else None,
        source_b=row_b.source_id if row_b else None,
    )


def diff_priors(
    a: Priors | str | Path,
    b: Priors | str | Path,
    scenarios: Mapping[str, Mapping[str, object]] | None = None,
    *,
    settings: Sequence[str] | None = None,
) -> PriorsDiff:
    """List the parameter rows that differ between two priors, ranked by their effect on posteriors.

    Parameters
    ----------
    a, b
        The priors (or priors directories) to compare; effects are measured from A towards B.
    scenarios
        ``{name: evidence}`` on which effects are measured (e.g. the named scenarios of
        :mod:`fasciculation_dx.reporting.scenarios`); ``{"no findings": {}}`` by default, which
        sees only base rates. A scenario whose evidence A cannot express is refused.
    settings
        Care settings in which each scenario is scored; every setting of A also in B by default.

    Returns
    -------
    PriorsDiff

    Raises
    ------
    ArgumentError
        For a setting that A or B lacks, or no scenario.
    EvidenceError
        For a scenario's evidence that names an unknown node or state of A.
    PriorsError
        If a directory is not valid priors.
    """
    pa = a if isinstance(a, Priors) else load_priors(a)
    pb = b if isinstance(b, Priors) else load_priors(b)
    label_a = str(pa.directory) if not isinstance(a, (str, Path)) else str(a)
    label_b = str(pb.directory) if not isinstance(b, (str, Path)) else str(b)
    scenarios = {"no findings": {}} if scenarios is None else dict(scenarios)
    if not scenarios:
        raise ArgumentError("diff_priors needs at least one scenario to measure effects on")
    shared = [s for s in pa.settings if s in pb.settings]
    if settings is None:
        settings = shared
    for s in settings:
        if s not in shared:
            raise ArgumentError(f"unknown setting '{s}'. Valid settings (in both priors): {', '.join(shared)}")
    checked = {name: check_evidence(pa, ev) for name, ev in scenarios.items()}

    rows_a, rows_b = _rows(pa), _rows(pb)
    changed, meta, added, removed, notes = [], [], [], [], 0
    for ident, ra in rows_a.items():
        rb = rows_b.get(ident)
        if rb is None:
            removed.append(_change(ra, None, describe_parameter(pa, ra)))
        elif not _same(ra.value, rb.value):
            changed.append(_change(ra, rb, describe_parameter(pa, ra)))
        elif not (_same(ra.low, rb.low) and _same(ra.high, rb.high)) or ra.source_id != rb.source_id:
            meta.append(_change(ra, rb, describe_parameter(pa, ra)))
        elif ra.note != rb.note:
            notes += 1
    added = [_change(None, rb, describe_parameter(pb, rb)) for ident, rb in rows_b.items() if ident not in rows_a]

    changed = _with_effects(pa, changed, checked, settings)
    changed.sort(key=lambda c: (-(c.effect if math.isfinite(c.effect) else -1.0), -abs(c.b - c.a)))
    overall = _overall(pa, pb, checked, settings)
    return PriorsDiff(
        label_a,
        label_b,
        tuple(changed),
        tuple(meta),
        tuple(added),
        tuple(removed),
        notes,
        overall,
        tuple(scenarios),
        tuple(settings),
    )


def _with_effects(
    priors: Priors, changes: list[ParameterChange], scenarios: Mapping[str, Mapping], settings: Sequence[str]
) -> list[ParameterChange]:
    """Fill each change's ``effect`` (see the module docstring)."""
    n = len(changes)
    best = np.zeros(n)
    where: list[tuple[str, str, str]] = [("", "", "")] * n
    columns = [covaried_values(priors, (c.file, c.line_a), c.b) for c in changes]
    etiologies = priors.etiology_states
    for setting in settings:
        for name, evidence in scenarios.items():
            plan = Plan(priors, setting, evidence)
            keys = list(dict.fromkeys(plan.keys))
            owner = {(r.file, r.line): (k, j) for k in keys for j, r in enumerate(plan.rows(k))}
            relevant = [i for i, c in enumerate(changes) if (c.file, c.line_a) in owner]
            if not relevant:
                continue
            evaluator = Evaluator(plan)
            base = {k: np.array([r.value for r in plan.rows(k)]) for k in keys}
            for start in range(0, len(relevant), CHUNK):
                chunk = relevant[start : start + CHUNK]
                sampled = {k: np.tile(v, (len(chunk), 1)) for k, v in base.items()}
                for j, i in enumerate(chunk):
                    for cell, value in columns[i].items():
                        k, col = owner[cell]
                        sampled[k][j, col] = value
                try:
                    joint = evaluator.joint(sampled, len(chunk))
                except EtiologyFitError:  # pragma: no cover - only for values the etiology rule cannot fit
                    joint = np.full((len(chunk), len(etiologies)), np.nan)
                total = joint.sum(axis=1, keepdims=True)
                with np.errstate(invalid="ignore", divide="ignore"):
                    post = np.where(total > 0, joint / total, np.nan)
                delta = np.abs(post - evaluator.point[None, :])
                for j, i in enumerate(chunk):
                    if not np.all(np.isfinite(delta[j])):
                        best[i] = np.nan
                        where[i] = (name, setting, "")
                    elif math.isfinite(best[i]) and delta[j].max() > best[i]:
                        best[i] = float(delta[j].max())
                        where[i] = (name, setting, etiologies[int(delta[j].argmax())])
    return [
        replace(c, effect=float(effect), scenario=scenario, setting=setting, etiology=etiology)
        for c, effect, (scenario, setting, etiology) in zip(changes, best, where)
    ]


def _overall(pa: Priors, pb: Priors, scenarios: Mapping[str, Mapping], settings: Sequence[str]) -> dict:
    """Return the largest posterior change with every change applied (A's and B's own engines)."""
    if pa.etiology_states != pb.etiology_states or {n: s.states for n, s in pa.nodes.items()} != {
        n: s.states for n, s in pb.nodes.items()
    }:
        return {}
    best = {"effect": 0.0, "scenario": "", "setting": "", "etiology": ""}
    for setting in settings:
        ea, eb = CompiledEngine(pa, setting), CompiledEngine(pb, setting)
        for name, evidence in scenarios.items():
            delta = np.abs(eb.posterior(evidence) - ea.posterior(evidence))
            if not np.all(np.isfinite(delta)):
                return {"effect": float("nan"), "scenario": name, "setting": setting, "etiology": ""}
            if delta.max() > best["effect"]:
                best = {
                    "effect": float(delta.max()),
                    "scenario": name,
                    "setting": setting,
                    "etiology": pa.etiology_states[int(delta.argmax())],
                }
    return best

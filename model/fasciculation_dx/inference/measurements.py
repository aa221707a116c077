"""Numeric values as clinicians have them (``calcium=1.9mmol/L``, ``age=58``), binned into a node's states.

The cut-offs live in ``priors/measurements.csv`` with their sources (see ``priors/README.md``): for
each name (a node, or an alias such as ``age`` for ``age_group``) and each unit, one interval per
state of the node, and optionally the laboratory reference interval. A value is written as a number
followed by its unit (``1.9mmol/L``, ``7.6 mg/dL``; units match regardless of case). The unit may be
left out only where every unit of that name bins on the same numbers (``sodium=128``: mmol/L and
mEq/L agree; ``tsh=0.01``; ``age=58``); a calcium or magnesium value needs its unit.

:class:`MeasurementTable` reads the priors once; :meth:`MeasurementTable.bin` returns a
:class:`Binned` record that says what was entered and why it reads as its state, for the output to
echo (``calcium 1.9 mmol/L -> low (below 2 mmol/L; reference interval 2.2-2.6 mmol/L; ...)``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import EvidenceError
from ..network.priors import MEASUREMENT_REFERENCE, MeasurementInterval, Priors
from ..network.writer import format_number

__all__ = ["Binned", "MeasurementTable", "bin_measurements", "interval_text", "parse_quantity"]

_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z%\u00b5\u03bc]\S*?)?\s*$")
"""A number, then optionally a unit that starts with a letter, µ or % (so ``40_to_64`` is not a number)."""


def parse_quantity(value: object) -> tuple[float, str] | None:
    """Read a number with an optional unit.

    Parameters
    ----------
    value
        Text such as ``"1.9mmol/L"``, ``"7.6 mg/dL"`` or ``"58"``, or an int or float.

    Returns
    -------
    tuple or None
        ``(number, unit)`` with ``unit`` empty when none was written; None when ``value`` does not
        start with a number (it is then a state name or soft evidence, read elsewhere).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value), ""
        except OverflowError:  # an int too large for a float: not finite, refused by the caller
            return math.inf, ""
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if match is None:
        return None
    return float(match.group(1)), (match.group(2) or "")


def _unit_key(unit: str) -> str:
    """Return the key a unit is looked up by: case-folded, with the micro sign written as ``u``."""
    return unit.replace("\u00b5", "u").replace("\u03bc", "u").casefold()


@dataclass(frozen=True)
class Binned:
    """How one numeric value was read into a state.

    Attributes
    ----------
    name
        The name entered (``calcium``, ``age``).
    node
        The node it sets (``calcium``, ``age_group``).
    value
        The number entered.
    unit
        The unit it was read in (as written in ``measurements.csv``).
    unit_given
        False when no unit was written (allowed only where every unit bins alike).
    state
        The state it reads as.
    interval
        The state's interval in that unit, e.g. ``below 2 mmol/L``.
    reference
        The laboratory reference interval, e.g. ``2.2-2.6 mmol/L``, or empty.
    position
        ``below``, ``within`` or ``above`` the reference interval, or empty without one.
    source_ids
        The ``sources.csv`` rows of the state's interval and of the reference interval.
    note
        The note of the state's interval row.
    """

    name: str
    node: str
    value: float
    unit: str
    unit_given: bool
    state: str
    interval: str
    reference: str
    position: str
    source_ids: tuple[str, ...]
    note: str

    def describe(self) -> str:
        """Return one line for the output, e.g. ``calcium 1.9 mmol/L -> low (below 2 mmol/L; ...)``."""
        parts = [self.interval]
        if self.reference:
            where = "" if self.position == "within" else f"{self.position} "
            parts.append(f"{where}reference interval {self.reference}")
        if not self.unit_given:
            parts.append(f"read as {self.unit}")
        parts.append("source" + ("s" if len(self.source_ids) > 1 else "") + ": " + ", ".join(self.source_ids))
        return f"{self.name} {format_number(self.value)} {self.unit} -> {self.state} ({'; '.join(parts)})"

    def as_dict(self) -> dict[str, object]:
        """Return the record as a JSON-ready dict, with ``text`` holding :meth:`describe`."""
        return {
            "name": self.name,
            "node": self.node,
            "value": self.value,
            "unit": self.unit,
            "unit_given": self.unit_given,
            "state": self.state,
            "interval": self.interval,
            "reference": self.reference,
            "position": self.position,
            "source_ids": list(self.source_ids),
            "text": self.describe(),
        }


def interval_text(row: MeasurementInterval, unit: bool = True) -> str:
    """Say which values an interval of ``measurements.csv`` holds.

    Parameters
    ----------
    row
        The interval.
    unit
        Whether to write its unit (``below 2 mmol/L``) or not (``below 2``).

    Returns
    -------
    str
        ``below 2 mmol/L``, ``2-2.6 mmol/L``, ``40 to under 65 years``, ``65 years or more``...
    """
    low = None if row.lower is None else format_number(row.lower)
    high = None if row.upper is None else format_number(row.upper)
    u = f" {row.unit}" if unit else ""
    if low is None and high is None:
        return f"any value in {row.unit}" if unit else "any value"
    if low is None:
        return f"{high}{u} or less" if row.includes == "upper" else f"below {high}{u}"
    if high is None:
        return f"{low}{u} or more" if row.includes == "lower" else f"above {low}{u}"
    return {
        "both": f"{low}-{high}{u}",
        "lower": f"{low} to under {high}{u}",
        "upper": f"over {low} to {high}{u}",
    }.get(row.includes, f"between {low} and {high}{u} (both excluded)")


@dataclass(frozen=True)
class _Scale:
    unit: str
    states: tuple[MeasurementInterval, ...]
    reference: MeasurementInterval | None

    def bounds(self) -> tuple:
        return tuple((m.interval, m.lower, m.upper, m.includes) for m in self.states)


class MeasurementTable:
    """The measured names of one priors directory, with their units and cut-offs.

    Parameters
    ----------
    priors
        Priors whose ``measurements`` (``priors/measurements.csv``) are read; none when absent.
    """

    def __init__(self, priors: Priors):
        rows = priors.measurements or ()
        self.nodes: dict[str, str] = {}
        """Name -> node, for every name of ``measurements.csv`` and every node it measures."""
        self._scales: dict[str, dict[str, _Scale]] = {}  # node -> folded unit -> scale
        grouped: dict[tuple[str, str], list[MeasurementInterval]] = {}
        for row in rows:
            self.nodes[row.name] = row.node
            self.nodes.setdefault(row.node, row.node)
            grouped.setdefault((row.node, row.unit), []).append(row)
        for (node, unit), members in grouped.items():
            states = tuple(m for m in members if m.interval != MEASUREMENT_REFERENCE)
            reference = next((m for m in members if m.interval == MEASUREMENT_REFERENCE), None)
            self._scales.setdefault(node, {})[_unit_key(unit)] = _Scale(unit, states, reference)

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def bin(self, name: str, value: object) -> Binned:
        """Bin one value of a measured name.

        Parameters
        ----------
        name
            A name of ``measurements.csv`` (``calcium``, ``age``) or the node it measures.
        value
            A number with its unit (``"1.9mmol/L"``), or a bare number where the unit is not ambiguous.

        Returns
        -------
        Binned
            The state and how it was reached.

        Raises
        ------
        EvidenceError
            For a name without measurements, a value that is not a finite non-negative number, an
            unknown unit, or a bare number where the name's units bin differently.
        """
        node = self.nodes.get(name)
        if node is None:
            raise EvidenceError(f"'{name}' has no numeric cut-offs in measurements.csv; enter one of its states")
        quantity = parse_quantity(value)
        if quantity is None:
            raise EvidenceError(f"the value of '{name}' must be a number with its unit. Got {value!r} instead")
        number, unit = quantity
        scales = self._scales[node]
        units = ", ".join(s.unit for s in scales.values())
        if not math.isfinite(number) or number < 0:
            raise EvidenceError(f"the value of '{name}' must be a finite number >= 0. Got {value!r} instead")
        if unit:
            scale = scales.get(_unit_key(unit))
            if scale is None:
                raise EvidenceError(f"unknown unit '{unit}' for '{name}'. Valid units: {units}")
        else:
            distinct = {s.bounds() for s in scales.values()}
            if len(distinct) > 1:
                example = next(iter(scales.values())).unit
                raise EvidenceError(
                    f"a number for '{name}' needs its unit, since {name} is reported in {units} and these bin "
                    f"differently. Got '{format_number(number)}' without a unit; write e.g. "
                    f"{name}={format_number(number)}{example}"
                )
            scale = next(iter(scales.values()))
        row = next(m for m in scale.states if m.contains(number))
        reference, position, sources = "", "", [row.source_id]
        ref = scale.reference
        if ref is not None and ref.lower is not None and ref.upper is not None:
            reference = f"{format_number(ref.lower)}-{format_number(ref.upper)} {ref.unit}"
            position = "within" if ref.contains(number) else ("below" if number < ref.lower else "above")
            if ref.source_id not in sources:
                sources.append(ref.source_id)
        return Binned(
            name=name,
            node=node,
            value=number,
            unit=scale.unit,
            unit_given=bool(unit),
            state=row.interval,
            interval=interval_text(row),
            reference=reference,
            position=position,
            source_ids=tuple(sources),
            note=row.note,
        )


def bin_measurements(priors: Priors, evidence: Mapping[str, object]) -> dict[str, Binned]:
    """Return how each numeric value in ``evidence`` is binned, keyed by the node it sets.

    Entries that are states or soft evidence are left out; an invalid numeric value raises as
    :func:`fasciculation_dx.inference.evidence.check_evidence` does.

    Parameters
    ----------
    priors
        The model's priors.
    evidence
        ``{name: value}`` as entered (``{"calcium": "1.9mmol/L", "age": 58, "weakness": "yes"}``).

    Returns
    -------
    dict
        ``{node: Binned}`` for the numeric entries, in the order entered.
    """
    from .evidence import EvidenceChecker

    return EvidenceChecker(priors).check_binned(evidence)[1]

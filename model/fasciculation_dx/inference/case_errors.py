"""The errors of a case table: every problem at once, each with the rows it occurs in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import EvidenceError, ImpossibleEvidenceError
from .measurements import parse_quantity

__all__ = ["CaseProblem", "CaseTableError", "ImpossibleCasesError", "number_hint"]

_SHOW_ROWS = 10  # row labels listed per problem in an error message


def number_hint(value: str) -> str:
    """Return a sentence saying that case files take states, when an invalid cell holds a number.

    Parameters
    ----------
    value
        The invalid cell, e.g. ``"1.9mmol/L"`` or ``"58"``.

    Returns
    -------
    str
        The sentence with a leading space, or ``""`` when ``value`` is not a number.
    """
    if parse_quantity(value) is None:
        return ""
    return (
        " Case-file cells take states, not numbers: bin the value with the cut-offs that "
        "'fasciculation-dx schema' lists (single queries, on the command line or Model.posterior, "
        "read numbers with units)."
    )


@dataclass(frozen=True)
class CaseProblem:
    """One problem of a case table.

    Attributes
    ----------
    column
        The column concerned.
    message
        What is wrong and what is valid.
    value
        The offending cell value (for invalid states), else ``None``.
    rows
        Index labels of the rows concerned (empty when the whole column is wrong).
    """

    column: str
    message: str
    value: object = None
    rows: tuple = field(default=())

    def __str__(self) -> str:
        if not self.rows:
            return self.message
        shown = ", ".join(map(str, self.rows[:_SHOW_ROWS]))
        more = f" and {len(self.rows) - _SHOW_ROWS} more" if len(self.rows) > _SHOW_ROWS else ""
        count = f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}"
        return f"{self.message} ({count}: {shown}{more})"


def _merge(problems: Iterable[CaseProblem]) -> list[CaseProblem]:
    """Merge problems with the same column, message and value, concatenating their rows."""
    merged: dict[tuple, CaseProblem] = {}
    for p in problems:
        key = (p.column, p.message, repr(p.value))
        if key in merged:
            old = merged[key]
            merged[key] = CaseProblem(old.column, old.message, old.value, old.rows + p.rows)
        else:
            merged[key] = p
    return list(merged.values())


class CaseTableError(EvidenceError):
    """A case table has unknown columns, invalid states or rows of another setting.

    ``problems`` lists every problem found (see :class:`CaseProblem`).
    """

    def __init__(self, problems: Sequence[CaseProblem], where: str = "the case table", note: str = ""):
        self.problems = _merge(problems)
        self.where = where
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in {where}{note}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class ImpossibleCasesError(ImpossibleEvidenceError):
    """Some cases have evidence of probability zero under the model.

    ``rows`` holds their index labels. Score them one by one with ``model.posterior`` to see
    which findings conflict, or pass ``on_impossible="nan"`` to get rows of NaN instead.
    """

    def __init__(self, rows: Sequence, where: str = "the case table", note: str = ""):
        self.rows = tuple(rows)
        shown = ", ".join(map(str, self.rows[:_SHOW_ROWS]))
        more = f" and {len(self.rows) - _SHOW_ROWS} more" if len(self.rows) > _SHOW_ROWS else ""
        super().__init__(
            f"{len(self.rows)} case{'s' if len(self.rows) != 1 else ''} in {where}{note} "
            f"ha{'ve' if len(self.rows) != 1 else 's'} evidence of probability zero under the model "
            f"(rows {shown}{more}). Check these rows for a typo or a contradiction "
            "(model.posterior on one row names the conflicting findings), or score with "
            "on_impossible='nan' to mark them with NaN",
            {},
        )

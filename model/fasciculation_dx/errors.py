"""The exceptions raised by fasciculation_dx.

Every error the package raises on purpose derives from :class:`FasciculationDxError`;
those about user input also derive from :class:`ValueError` so that generic handlers work.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ArgumentError",
    "OutputExistsError",
    "OutputError",
    "FasciculationDxError",
    "PriorsError",
    "Problem",
    "EvidenceError",
    "ImpossibleEvidenceError",
]


class FasciculationDxError(Exception):
    """Base class of every error raised by fasciculation_dx."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a priors directory, located by file, line and column.

    ``line`` and ``column`` are 1-based; the header is line 1. A column of 0 means the
    problem concerns the whole line, a line of 0 the whole file.
    """

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PriorsError(FasciculationDxError, ValueError):
    """The priors directory is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the priors:"
        super().__init__("\n".join([head, *map(str, self.problems)]))


class EvidenceError(FasciculationDxError, ValueError):
    """The evidence names an unknown node or state, or a node that cannot be observed."""


class ImpossibleEvidenceError(EvidenceError):
    """The evidence has probability zero under the model.

    ``conflicting`` holds a minimal set of findings that cannot occur together.
    """

    def __init__(self, message: str, conflicting: dict[str, str]):
        self.conflicting = dict(conflicting)
        super().__init__(message)


class ArgumentError(FasciculationDxError, ValueError):
    """An argument has a value outside what the function accepts; the message says what is valid."""


class OutputExistsError(FasciculationDxError, FileExistsError):
    """An output file or directory exists (or is protected) and overwriting it was not allowed."""


class OutputError(FasciculationDxError, OSError):
    """An output cannot be written (its folder is missing or read-only, or the disk refused it)."""

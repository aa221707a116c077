"""Reading a case table into integer state codes, with every problem reported at once.

Column names and text cells are stripped of surrounding whitespace; a column must be an evidence
node, an allowed column or a passthrough column; every invalid state is reported with the rows it
occurs in (see :mod:`fasciculation_dx.inference.batch`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import get_close_matches

import numpy as np
import pandas as pd

from ..errors import EvidenceError
from ..network.priors import CONDITIONAL_FINDINGS, ETIOLOGY, RENAMED_NODES
from .case_errors import CaseProblem, number_hint
from .soft import PROBABLY_PREFIX, Likelihood, likelihood, parse_value

__all__ = ["ALLOWED_COLUMNS", "CATEGORY_COLUMNS", "SoftCells", "SoftColumn", "encode_cases", "strip_columns"]

ALLOWED_COLUMNS = ("case_id", "setting", "etiology")
"""Non-evidence columns a case table may carry without naming them in ``passthrough``."""

CATEGORY_COLUMNS = ("p_benign", "p_pathological")

ENCODE_THREADS = min(4, os.cpu_count() or 1)
"""Threads that encode the columns of a large table (the results do not depend on it)."""

ENCODE_THREADED_ROWS = 20_000
"""Tables with at least this many rows are encoded in threads."""


@dataclass(frozen=True)
class SoftColumn:
    """The soft-evidence cells of one column: their rows (ascending), and which distinct likelihood each holds."""

    rows: np.ndarray
    which: np.ndarray  # index into ``distinct``, one per cell
    distinct: np.ndarray  # (m, n_states): the column's distinct normalised likelihood vectors

    @property
    def vectors(self) -> np.ndarray:
        """Each cell's likelihood vector, ``(len(rows), n_states)``."""
        return self.distinct[self.which]


@dataclass(frozen=True)
class SoftCells:
    """The soft-evidence cells of a case table (``yes:0.8,no:0.2`` or ``~yes``), by column.

    Those cells are coded as unobserved in the integer codes; the scorer multiplies their
    likelihoods in.
    """

    columns: dict[str, SoftColumn] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.columns)


def _closest(word: object, choices: Iterable[str]) -> str:
    close = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def encode_cases(
    scorer, cases: pd.DataFrame, passthrough: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, list[CaseProblem], SoftCells]:
    """Check a case table and turn it into integer state codes.

    A cell may hold a state, or soft evidence written ``yes:0.8,no:0.2`` or ``~yes`` (see
    :mod:`fasciculation_dx.inference.soft`); soft cells are coded as unobserved and returned
    separately.

    Parameters
    ----------
    cases
        The case table (see the module docstring for its columns).
    passthrough
        Extra non-evidence columns that are allowed.

    Returns
    -------
    root_codes, finding_codes : numpy.ndarray
        As taken by :meth:`fasciculation_dx.inference.batch.BatchScorer.joint_codes`.
    problems : list of CaseProblem
        Every problem found; empty when the table is valid.
    soft : SoftCells
        The soft-evidence cells.
    """
    cases = strip_columns(cases)
    n = len(cases)
    problems: list[CaseProblem] = []
    renamed = {old: new for old, new in RENAMED_NODES.items() if old in cases.columns and old not in scorer.states}
    for old, new in renamed.items():
        if new in cases.columns:
            problems.append(CaseProblem(old, f"column '{old}' is the former name of '{new}'; keep one of them"))
    if renamed:
        cases = cases.rename(columns={o: c for o, c in renamed.items() if c not in cases.columns})
    index = cases.index
    allowed = set(ALLOWED_COLUMNS) | set(passthrough)
    for col in passthrough:
        if col in scorer.states or col in scorer.etiologies or col in CATEGORY_COLUMNS:
            problems.append(
                CaseProblem(
                    str(col), f"column '{col}' cannot be passed through: it is an evidence node or an output column"
                )
            )
        elif col not in cases.columns:
            problems.append(
                CaseProblem(
                    str(col),
                    f"passthrough column '{col}' is not in the table. "
                    f"Its columns: {', '.join(map(str, cases.columns))}",
                )
            )
    duplicated = set(cases.columns[cases.columns.duplicated()])
    for col in duplicated:
        problems.append(CaseProblem(str(col), f"column '{col}' appears more than once"))
    columns = {c: i for i, c in enumerate(scorer.roots)}
    findings = {c: i for i, c in enumerate(scorer.findings)}
    soft = SoftCells()
    root_codes = np.full((n, len(scorer.roots)), -1, dtype=np.intp)
    finding_codes = np.full((n, len(scorer.findings)), -1, dtype=np.intp)
    slots: list[list[CaseProblem]] = []  # each column's problems, reported in column order
    evidence: list[tuple[str, list[CaseProblem]]] = []
    for col in dict.fromkeys(cases.columns):
        slot: list[CaseProblem] = []
        slots.append(slot)
        if col in duplicated:
            continue
        if col in allowed and col not in scorer.states:
            if col == "setting":
                slot.extend(_check_setting(scorer, cases[col], index))
            continue
        if col not in scorer.states:
            if col == ETIOLOGY or col in scorer.mechanisms:
                what = "the etiology" if col == ETIOLOGY else "a latent mechanism"
                message = f"column '{col}' is {what} and cannot be evidence"
            else:
                message = (
                    f"unknown column '{col}'.{_closest(col, scorer.states)} Columns must be "
                    f"evidence nodes ({', '.join(scorer.states)}), or {', '.join(ALLOWED_COLUMNS)}, "
                    "or be named as passthrough columns"
                )
            slot.append(CaseProblem(str(col), message))
            continue
        evidence.append((col, slot))

    def encode(col: str) -> tuple[np.ndarray, list[CaseProblem], SoftColumn | None]:
        return _encode_column(scorer, col, cases[col], index)

    # factorising a column of text releases the GIL, so large tables are encoded in threads
    workers = min(ENCODE_THREADS, len(evidence)) if n >= ENCODE_THREADED_ROWS else 1
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            encoded = list(pool.map(encode, [col for col, _ in evidence]))
    else:
        encoded = [encode(col) for col, _ in evidence]
    for (col, slot), (codes, col_problems, col_soft) in zip(evidence, encoded):
        slot.extend(col_problems)
        if col_soft is not None:
            soft.columns[col] = col_soft
        if col in columns:
            root_codes[:, columns[col]] = codes
        else:
            finding_codes[:, findings[col]] = codes
    problems.extend(problem for slot in slots for problem in slot)
    for node, (finding, wanted) in CONDITIONAL_FINDINGS.items():
        if node in findings and finding in findings:
            given = finding_codes[:, findings[finding]]
            bad = (finding_codes[:, findings[node]] >= 0) & (given != scorer.states[finding].index(wanted))
            if bad.any():
                problems.append(
                    CaseProblem(
                        node,
                        f"column '{node}' describes {finding} = {wanted}: record {finding} = {wanted} in these rows "
                        f"(as a certain finding) or leave {node} empty",
                        None,
                        tuple(index[np.flatnonzero(bad)]),
                    )
                )
    return root_codes, finding_codes, problems, soft


def _encode_column(
    scorer, node: str, values: pd.Series, index: pd.Index
) -> tuple[np.ndarray, list[CaseProblem], SoftColumn | None]:
    states = scorer.states[node]
    lookup_state = {s: i for i, s in enumerate(states)}
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = _stripped(uniques)
    lookup = np.empty(len(uniques) + 1, dtype=np.intp)
    lookup[-1] = -1  # the NA sentinel indexes the last slot
    invalid: list[int] = []
    soft: dict[int, Likelihood] = {}  # distinct value -> its likelihood
    messages: dict[int, str] = {}  # distinct value -> why its soft evidence is invalid
    for j, value in enumerate(uniques):
        if isinstance(value, str) and value == "":
            lookup[j] = -1
        elif isinstance(value, str) and value in lookup_state:
            lookup[j] = lookup_state[value]
        elif isinstance(value, str) and (value.startswith(PROBABLY_PREFIX) or ":" in value):
            try:
                read = likelihood(node, states, value if value.startswith(PROBABLY_PREFIX) else parse_value(value))
            except EvidenceError as err:
                lookup[j] = -2
                invalid.append(j)
                messages[j] = str(err)
                continue
            if isinstance(read, str):  # one positive weight: a certain finding
                lookup[j] = lookup_state[read]
            else:
                lookup[j] = -3
                soft[j] = read
        else:
            lookup[j] = -2
            invalid.append(j)
    mapped = lookup[codes]
    problems = []
    valid = ", ".join(states)
    for value, positions in _group(uniques, invalid):
        rows = tuple(index[np.flatnonzero(np.isin(codes, positions))])
        why = messages.get(positions[0])
        problems.append(
            CaseProblem(
                str(node),
                f"column '{node}': invalid soft evidence {value!r}: {why}"
                if why
                else f"column '{node}': invalid state {value!r}.{_closest(value, states)}{number_hint(value)} "
                f"Valid states: {valid}, or soft evidence such as ~{states[-1]} or "
                f"{states[-1]}:0.8,{states[0]}:0.2; leave the cell empty if unobserved",
                value,
                rows,
            )
        )
    cells = None
    if soft:
        rows = np.flatnonzero(mapped == -3)
        number = np.full(len(uniques), -1, dtype=np.intp)
        number[list(soft)] = np.arange(len(soft))
        cells = SoftColumn(rows, number[codes[rows]], np.array([read.vector for read in soft.values()]))
    mapped[mapped < -1] = -1
    return mapped, problems, cells


def _check_setting(scorer, values: pd.Series, index: pd.Index) -> list[CaseProblem]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = _stripped(uniques)
    problems = []
    other = [j for j, value in enumerate(uniques) if not (isinstance(value, str) and value in ("", scorer.setting))]
    for value, positions in _group(uniques, other):
        rows = tuple(index[np.flatnonzero(np.isin(codes, positions))])
        problems.append(
            CaseProblem(
                "setting",
                f"column 'setting': {value!r} is not the setting being scored "
                f"('{scorer.setting}'). Score each setting separately (with its own model), or leave "
                "the cell empty",
                value,
                rows,
            )
        )
    return problems


def strip_name(name: object) -> object:
    return name.strip() if isinstance(name, str) else name


def strip_columns(cases: pd.DataFrame) -> pd.DataFrame:
    """Return ``cases`` with surrounding whitespace stripped from its column names (no copy of the data).

    ``cases`` itself is returned when no name changes.
    """
    names = [strip_name(c) for c in cases.columns]
    if names == list(cases.columns):
        return cases
    return cases.set_axis(names, axis=1)


def _stripped(uniques) -> list:
    """Strip surrounding whitespace from the text among a column's distinct values (from :func:`pandas.factorize`)."""
    return [v.strip() if isinstance(v, str) else v for v in uniques]


def _group(uniques: list, positions: Iterable[int]) -> list[tuple[object, list[int]]]:
    """Group positions of ``uniques`` by value (values that differed only by whitespace coincide)."""
    groups: dict[str, tuple[object, list[int]]] = {}
    for j in positions:
        value = uniques[j]
        groups.setdefault(repr(value), (value, []))[1].append(j)
    return list(groups.values())

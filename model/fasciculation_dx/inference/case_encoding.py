"""Reading a case table into integer state codes, with every problem reported at once.

Column names and text cells are stripped of surrounding whitespace; a column must be an evidence
node, an allowed column or a passthrough column; every invalid state is reported with the rows it
occurs in (see :mod:`fasciculation_dx.inference.batch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches

import numpy as np
import pandas as pd

from ..network.priors import CONDITIONAL_FINDINGS, ETIOLOGY, RENAMED_NODES
from .case_errors import CaseProblem

__all__ = ["ALLOWED_COLUMNS", "CATEGORY_COLUMNS", "encode_cases", "strip_columns"]

ALLOWED_COLUMNS = ("case_id", "setting", "etiology")
"""Non-evidence columns a case table may carry without naming them in ``passthrough``."""

CATEGORY_COLUMNS = ("p_benign", "p_pathological")


def _closest(word: object, choices: Iterable[str]) -> str:
    close = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def encode_cases(
    scorer, cases: pd.DataFrame, passthrough: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, list[CaseProblem]]:
    """Check a case table and turn it into integer state codes.

    Parameters
    ----------
    cases
        The case table (see the module docstring for its columns).
    passthrough
        Extra non-evidence columns that are allowed.

    Returns
    -------
    root_codes, finding_codes : numpy.ndarray
        As taken by :meth:`joint_codes`.
    problems : list of CaseProblem
        Every problem found; empty when the table is valid.
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
    root_codes = np.full((n, len(scorer.roots)), -1, dtype=np.intp)
    finding_codes = np.full((n, len(scorer.findings)), -1, dtype=np.intp)
    for col in dict.fromkeys(cases.columns):
        if col in duplicated:
            continue
        if col in allowed and col not in scorer.states:
            if col == "setting":
                problems.extend(_check_setting(scorer, cases[col], index))
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
            problems.append(CaseProblem(str(col), message))
            continue
        codes, col_problems = _encode_column(scorer, col, cases[col], index)
        problems.extend(col_problems)
        if col in columns:
            root_codes[:, columns[col]] = codes
        else:
            finding_codes[:, findings[col]] = codes
    for node, (finding, wanted) in CONDITIONAL_FINDINGS.items():
        if node in findings and finding in findings:
            given = finding_codes[:, findings[finding]]
            bad = (finding_codes[:, findings[node]] >= 0) & (given != scorer.states[finding].index(wanted))
            if bad.any():
                problems.append(
                    CaseProblem(
                        node,
                        f"column '{node}' describes {finding} = {wanted}: record {finding} = {wanted} in these rows "
                        f"or leave {node} empty",
                        None,
                        tuple(index[np.flatnonzero(bad)]),
                    )
                )
    return root_codes, finding_codes, problems


def _encode_column(scorer, node: str, values: pd.Series, index: pd.Index) -> tuple[np.ndarray, list[CaseProblem]]:
    states = scorer.states[node]
    lookup_state = {s: i for i, s in enumerate(states)}
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = _stripped(uniques)
    lookup = np.empty(len(uniques) + 1, dtype=np.intp)
    lookup[-1] = -1  # the NA sentinel indexes the last slot
    invalid = []
    for j, value in enumerate(uniques):
        if isinstance(value, str) and value == "":
            lookup[j] = -1
        elif isinstance(value, str) and value in lookup_state:
            lookup[j] = lookup_state[value]
        else:
            lookup[j] = -2
            invalid.append(j)
    mapped = lookup[codes]
    problems = []
    valid = ", ".join(states)
    for value, positions in _group(uniques, invalid):
        rows = tuple(index[np.flatnonzero(np.isin(codes, positions))])
        problems.append(
            CaseProblem(
                str(node),
                f"column '{node}': invalid state {value!r}.{_closest(value, states)} "
                f"Valid states: {valid}; leave the cell empty if unobserved",
                value,
                rows,
            )
        )
    mapped[mapped == -2] = -1
    return mapped, problems


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

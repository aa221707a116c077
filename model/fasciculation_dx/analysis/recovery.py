"""Checking calibration against a known truth: shifted priors, recovery and coverage of the ranges.

A *truth* is the priors with a few columns moved to a known place inside their plausible ranges
(:func:`shifted_truth`); cases simulated from it are calibrated starting from the unshifted
priors, and :func:`recovery_table` lines up, row by row, the truth, the starting value, the
calibrated value and its written range, so that error and coverage can be read off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from ..network.priors import Priors
from ..network.tables import cpt_columns
from .calibrated_ranges import beta_interval
from .calibration_output import CalibrationResult

__all__ = ["DEFAULT_SHIFTS", "shifted_truth", "recovery_table", "coverage", "held_out_kl"]

DEFAULT_SHIFTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cramps", ("absent", "absent", "absent")),
    ("weakness", ("absent", "absent", "absent")),
    ("axonal_hyperexcitability", ("physiological",)),
    ("axonal_hyperexcitability", ("benign_fasciculation_syndrome",)),
    ("sensory_symptoms", ("absent",)),
    ("muscle_stiffness", ("absent", "absent")),
    ("fasciculation_distribution", ("physiological",)),
    ("emg_fasciculation_potentials", ("benign_fasciculation_syndrome",)),
    ("stress_anxiety", ()),
    ("caffeine", ()),
)
"""Ten columns that patients seen in primary care fill (two of them a latent mechanism's), as
``(node, parent values)``."""


def _logit(p: float) -> float:
    return float(special.logit(p))


def shifted_truth(
    priors: Priors, columns: Sequence[tuple[str, tuple[str, ...]]] = DEFAULT_SHIFTS, fraction: float = 0.5
) -> Priors:
    """Return the priors with each named column moved toward an end of its plausible range.

    In each column the least likely state with a value strictly between 0 and 1 moves, on the logit
    scale, ``fraction`` of the way from its value to the end of its range that lies farther away;
    the other states are scaled to keep the column's sum. Ranges are left as they were, so the
    truth lies inside them.

    Parameters
    ----------
    priors
        The priors to shift.
    columns
        ``(node, parent values)`` of each column to move.
    fraction
        How far to move, from 0 (not at all) to 1 (to the range's end).

    Returns
    -------
    Priors
    """
    replaced = {}
    for node, key in columns:
        column = cpt_columns(priors, node)[tuple(key)]
        rows = list(column.values())
        inner = [r for r in rows if 0 < r.value < 1 and r.low < r.high]
        row = min(inner, key=lambda r: r.value)
        up, down = _logit(min(row.high, 1 - 1e-9)) - _logit(row.value), _logit(row.value) - _logit(max(row.low, 1e-9))
        target = row.high if up >= down else row.low
        new = float(special.expit(_logit(row.value) + fraction * (_logit(target) - _logit(row.value))))
        scale = (1 - new) / (1 - row.value)
        for r in rows:
            value = new if r is row else r.value * scale
            replaced[(r.file, r.line)] = dataclasses.replace(r, value=float(f"{value:.12g}"))
        fix = max(rows, key=lambda r: replaced[(r.file, r.line)].value if r is not row else -1)
        rest = sum(replaced[(r.file, r.line)].value for r in rows if r is not fix)
        replaced[(fix.file, fix.line)] = dataclasses.replace(replaced[(fix.file, fix.line)], value=1.0 - rest)

    def swap(rows):
        return tuple(replaced.get((r.file, r.line), r) for r in rows)

    return dataclasses.replace(priors, cpts={n: swap(rows) for n, rows in priors.cpts.items()})


def recovery_table(truth: Priors, result: CalibrationResult) -> pd.DataFrame:
    """Line up, for every row calibration changed, the truth, the start, the estimate and its ranges.

    Parameters
    ----------
    truth
        The priors the cases were simulated from.
    result
        The calibration, started from other priors.

    Returns
    -------
    pandas.DataFrame
        One row per report row: ``file``, ``line``, ``key``, ``truth``, ``start``, ``estimate``,
        ``low``/``high`` (the written 95% range), ``low90``/``high90`` (the central 90% of the same
        Beta), ``count``, ``shifted`` (the truth differs from the start), ``covered95``,
        ``covered90``.
    """
    true = {(r.file, r.line): r.value for r in truth.parameters()}
    report = result.report
    table = pd.DataFrame(
        {
            "file": report["file"],
            "line": report["line"],
            "key": report["key"],
            "truth": [true[(f, int(line))] for f, line in zip(report["file"], report["line"])],
            "start": report["old"],
            "estimate": report["new"],
            "low": report["low"],
            "high": report["high"],
            "count": report["count"],
        }
    )
    ninety = [beta_interval(v, c, 0.90) for v, c in zip(report["new"], report["concentration"])]
    table["low90"] = [lo for lo, _ in ninety]
    table["high90"] = [hi for _, hi in ninety]
    table["shifted"] = (table["truth"] - table["start"]).abs() > 1e-9
    table["covered95"] = (table["low"] <= table["truth"]) & (table["truth"] <= table["high"])
    table["covered90"] = (table["low90"] <= table["truth"]) & (table["truth"] <= table["high90"])
    return table


def coverage(table: pd.DataFrame, *, min_count: float = 0.0, shifted_only: bool = False) -> dict[str, float]:
    """Summarise a :func:`recovery_table`: coverage of both ranges and the mean absolute errors.

    Parameters
    ----------
    table
        From :func:`recovery_table`.
    min_count
        Only rows whose column holds at least this many (expected) cases.
    shifted_only
        Only the rows whose truth differs from the start.

    Returns
    -------
    dict
        ``rows``, ``covered90``, ``covered95`` (shares), ``error_before`` and ``error_after`` (mean
        absolute differences from the truth).
    """
    rows = table[table["count"] >= min_count]
    if shifted_only:
        rows = rows[rows["shifted"]]
    if not len(rows):
        return {
            "rows": 0,
            "covered90": float("nan"),
            "covered95": float("nan"),
            "error_before": 0.0,
            "error_after": 0.0,
        }
    return {
        "rows": len(rows),
        "covered90": float(rows["covered90"].mean()),
        "covered95": float(rows["covered95"].mean()),
        "error_before": float((rows["start"] - rows["truth"]).abs().mean()),
        "error_after": float((rows["estimate"] - rows["truth"]).abs().mean()),
    }


def held_out_kl(truth_posteriors: np.ndarray, posteriors: np.ndarray) -> float:
    """Return the mean Kullback-Leibler divergence (nats) of ``posteriors`` from the truth's, case by case."""
    p = np.asarray(truth_posteriors, dtype=float)
    q = np.asarray(posteriors, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(np.where(q > 0, q, 1e-300))), 0.0)
    return float(terms.sum(axis=1).mean())

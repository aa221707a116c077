"""The result of calibration: new priors with notes and ranges, and writing them atomically.

The fitted values are rounded to six significant digits (each column keeping its sum), every
changed row cites the case file as a cohort source and keeps its old value, range and source in
its note, and :func:`write_calibrated` writes the directory with ``calibration.json`` as its
provenance and marker.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_directory, check_directory_target, checkpoint
from ..network.loader import load_priors
from ..network.paths import shipped_priors_dir
from ..network.priors import HEADERS, OPTIONAL_HEADERS, Parameter, Priors, Source
from ..network.writer import format_number, write_files
from .calibrated_ranges import beta_interval
from .em import ArrayModel, Counts

__all__ = ["CalibrationResult", "PROVENANCE_FILE", "write_calibrated"]

SIGNIFICANT = 6
MIN_LOW = 1e-12
"""The smallest range low written (a Beta quantile of a rare state can underflow to 1e-308)."""


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`fasciculation_dx.analysis.calibration.calibrate` returns.

    Attributes
    ----------
    priors
        The calibrated priors (with the new source and provenance), ready for
        :func:`write_calibrated` or :class:`fasciculation_dx.Model`.
    report
        One row per changed parameter: ``file``, ``line``, ``key``, ``old``, ``new``, ``change``
        (new - old), ``old_low``, ``old_high``, ``low``, ``high``, ``prior_alpha`` (the column's
        pseudo-count), ``count`` (the column's expected number of cases), ``concentration`` (the
        row's posterior is about ``Beta(new * concentration, (1 - new) * concentration)``, from the
        observed information; the range is its central 95%); sorted by ``|change|`` descending.
    source
        The source row added for the case file.
    n_cases
        The number of cases used.
    iterations
        EM iterations run.
    converged
        Whether the largest change of the last iteration was below ``tol``.
    trace
        Log-likelihood of the cases (natural log) at the start of each cycle.
    stopped
        When and why the EM stopped, in a sentence.
    objective
        The EM's objective (log-likelihood plus log prior) at the start of each cycle.
    cycles
        Accelerated cycles of the EM (see :mod:`.acceleration`).
    rejected
        Accelerated proposals replaced by plain EM steps because the objective fell.
    directory
        Where the priors were written, if they were.
    """

    priors: Priors
    report: pd.DataFrame
    source: Source
    n_cases: int
    iterations: int
    converged: bool
    trace: tuple[float, ...]
    stopped: str = ""
    objective: tuple[float, ...] = ()
    cycles: int = 0
    rejected: int = 0
    directory: Path | None = None


def _round_column(values: np.ndarray) -> np.ndarray:
    """Round to SIGNIFICANT digits, the largest entry taking the rounding residual.

    The residual is computed in decimal arithmetic on the written digits, so the column as written
    sums to exactly 1 in decimal (and within a few units in the last place in binary).
    """
    digits = [Decimal(f"{v:.{SIGNIFICANT}g}") for v in values]
    i = int(np.argmax([float(d) for d in digits]))
    digits[i] = Decimal(1) - (sum(digits, Decimal(0)) - digits[i])
    return np.array([float(d) for d in digits])


def _round(x: float) -> float:
    return float(f"{x:.{SIGNIFICANT}g}")


def _range_low(x: float, value: float) -> float:
    """Return a range's low end as written: rounded, at least MIN_LOW unless the value is lower, at most the value."""
    return min(max(_round(x), MIN_LOW), value)


def source_id(name: str, digest: str) -> str:
    """Return the id of the cohort source row that names a case file (its stem and digest)."""
    stem = re.sub(r"[^a-z0-9]+", "_", Path(name).stem.lower()).strip("_") or "cases"
    return f"calibration_{stem}_{digest[:12]}"


def result_priors(
    model: ArrayModel, values, base, counts: Counts, source: Source, concentrations: dict[tuple[str, int], float]
) -> tuple[Priors, pd.DataFrame]:
    """Build the calibrated priors and the report of what moved from the fitted values.

    ``concentrations`` holds each row's posterior Beta concentration from the observed information
    (:mod:`.calibrated_ranges`); its range is that Beta's central 95% around the written value.
    """
    priors = model.priors
    records = []
    replaced: dict[tuple[str, int], Parameter] = {}

    def column(rows: list[Parameter], new: np.ndarray, alpha: float | np.ndarray, n: np.ndarray) -> None:
        """One column: a Dirichlet of concentration ``alpha``, or independent Betas (an array of them)."""
        total = float(n.sum())
        if total <= 0 or not np.isfinite(alpha).any():
            return
        rounded = _round_column(new)
        for r, v, row_alpha in zip(rows, rounded, np.broadcast_to(alpha, rounded.shape)):
            if not np.isfinite(row_alpha):  # a fixed row
                continue
            concentration = concentrations.get((r.file, r.line), float("inf"))
            low, high = beta_interval(float(v), concentration)
            low, high = _range_low(low, v), max(_round(high), v)
            if (v, low, high) == (r.value, r.low, r.high) and r.source_id == source.source_id:
                continue
            note = (
                f"Calibrated on {source.source_id}: was {format_number(r.value)} "
                f"[{format_number(r.low)}, {format_number(r.high)}] from {r.source_id}. {r.note}"
            ).strip()
            replaced[(r.file, r.line)] = dataclasses.replace(
                r, value=float(v), low=float(low), high=float(high), source_id=source.source_id, note=note
            )
            records.append(
                {
                    "file": r.file,
                    "line": r.line,
                    "key": ",".join(r.key),
                    "old": r.value,
                    "new": float(v),
                    "change": float(v) - r.value,
                    "old_low": r.low,
                    "old_high": r.high,
                    "low": low,
                    "high": high,
                    "prior_alpha": float(row_alpha),
                    "count": total,
                    "concentration": concentration,
                }
            )

    for s, rows in model.base_rows.items():
        if s in counts.base:
            column(rows, base[s], model.base_alpha[s], counts.base[s])
    for node, table in model.tables.items():
        pooled = table.pool(counts.config[node])
        for i, rows in enumerate(table.rows):
            column(rows, values[node][i], float(table.alpha[i]), pooled[i])  # type: ignore[arg-type]

    def swap(rows):
        return tuple(replaced.get((r.file, r.line), r) for r in rows)

    sources = dict(priors.sources)
    sources[source.source_id] = source
    new = dataclasses.replace(
        priors,
        sources=sources,
        base_rates=swap(priors.base_rates),
        cpts={n: swap(rows) for n, rows in priors.cpts.items()},
    )
    columns = [
        "file",
        "line",
        "key",
        "old",
        "new",
        "change",
        "old_low",
        "old_high",
        "low",
        "high",
        "prior_alpha",
        "count",
        "concentration",
    ]
    report = pd.DataFrame.from_records(records, columns=columns)
    if len(report):
        order = np.argsort(-report["change"].abs().to_numpy(), kind="stable")
        report = report.iloc[order].reset_index(drop=True)
    return new, report


# -- writing -------------------------------------------------------------------------------------
PROVENANCE_FILE = "calibration.json"
"""The file that marks a directory written by :func:`write_calibrated`, with its provenance."""


def _calibrate_writes(rel: Path) -> bool:
    """Whether ``rel`` (relative to an output directory) is a file that calibration writes."""
    if rel.parts and rel.parts[0] == "cpts":
        return len(rel.parts) == 1 or (len(rel.parts) == 2 and rel.suffix == ".csv")
    return str(rel) in (*HEADERS, *OPTIONAL_HEADERS, "README.md", PROVENANCE_FILE)


def _directory_rules(overwrite: bool) -> dict:
    return {
        "overwrite": overwrite,
        "marker": PROVENANCE_FILE,
        "allowed": _calibrate_writes,
        "what": "calibrated priors",
        "protected": (shipped_priors_dir(),),
    }


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that is (inside or around) the shipped priors, or not ours to replace."""
    check_directory_target(target, **_directory_rules(overwrite))


def _provenance(result: CalibrationResult) -> dict:
    from .._version import __version__

    return {
        "written_by": "fasciculation_dx calibrate",
        "version": __version__,
        "source_id": result.source.source_id,
        "citation": result.source.citation,
        "n_cases": result.n_cases,
        "iterations": result.iterations,
        "converged": result.converged,
        "changed_parameters": len(result.report),
        "base_priors": str(result.priors.directory) if result.priors.directory else None,
    }


def write_calibrated(result: CalibrationResult, directory: str | Path, *, overwrite: bool = False) -> CalibrationResult:
    """Write calibrated priors to a new directory, atomically.

    The priors are written to a staging folder beside the target, validated by re-loading them,
    and only then swapped into place (see :mod:`fasciculation_dx.atomic`): a complete directory
    is at the target path at every moment, and a failure or a kill leaves the target untouched.
    The directory holds ``calibration.json``, its provenance; that file is how a later run
    recognises a directory it may replace.

    Parameters
    ----------
    result
        From :func:`fasciculation_dx.analysis.calibration.calibrate`.
    directory
        The folder to create; never the shipped priors, a folder inside them or one holding them.
    overwrite
        Replace an existing folder, which must be an earlier output of calibration (it holds
        ``calibration.json`` and nothing but the files calibration writes). Anything else is
        refused and nothing is deleted.

    Returns
    -------
    CalibrationResult
        ``result`` with ``directory`` set.

    Raises
    ------
    OutputExistsError
        If ``directory`` is (inside or around) the shipped priors, is a file, exists and
        ``overwrite`` is false, or is not an earlier output of calibration.
    OutputError
        If the folder cannot be written.
    PriorsError
        If the written priors do not validate (nothing is moved into place).
    """
    target = Path(directory)
    with atomic_directory(target, **_directory_rules(overwrite)) as staging:
        write_files(result.priors, staging)
        checkpoint("calibrate:written")
        (staging / PROVENANCE_FILE).write_text(
            json.dumps(_provenance(result), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        load_priors(staging)
    return dataclasses.replace(result, directory=target)

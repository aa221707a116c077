"""Bayesian calibration of the priors from a case table, written out as a new priors directory.

The prior: Dirichlet pseudo-counts from the plausible ranges
------------------------------------------------------------
Every *column* of a table (the rows of a CPT file that share parent values, wildcards included,
or the base rates of one setting) gets a Dirichlet prior ``Dir(alpha * p)`` centred on the
current values ``p``. Its concentration ``alpha`` (the number of pseudo-patients the priors are
worth) is read off the rows' plausible ranges ``[low, high]``:

1. for each row with ``0 < p < 1`` and ``low < high``, ``alpha_row`` is the smallest
   concentration at which the row's Beta marginal ``Beta(alpha p, alpha (1 - p))`` puts 95% of
   its mass inside ``[low, high]`` (when ``p`` sits on an end of its range, the one open side
   must hold 97.5%). It is found on a logarithmic grid refined by root finding and kept within
   ``[ALPHA_MIN, ALPHA_MAX]``. So the prior's central 95% interval roughly spans the range: a
   wide expert-estimate range gives a few pseudo-patients, a tight cohort range hundreds;
2. the column's ``alpha`` is the geometric mean of its rows' ``alpha_row`` weighted by the rows'
   values ``p`` (a Dirichlet has one concentration per column, so the ranges of a multi-state
   column can only be matched on average; the weights let the states that carry the column's
   mass set it, since a rare state's Beta can only have a wide *relative* range at a huge
   concentration). Rare states thus usually end up with wider prior intervals than their
   ranges say;
3. a column with a fixed row (``low == high``) is never changed.

The update
----------
With complete data the posterior is conjugate: ``Dir(alpha * p + n)`` where ``n`` are the column's
counts, pooled over every parent configuration the column covers (a ``*`` column is updated as
one unit, so the file keeps its schema). Mechanisms are never observed and findings are often
missing, so the counts are *expected* counts from an EM algorithm run on exact posteriors of the
compiled arrays (:mod:`fasciculation_dx.inference.compiled`):

- E-step: for each case, the exact posterior over (etiology, joint mechanism configuration)
  and over its unrecorded context and trigger nodes, given everything recorded (the confirmed
  etiology too, when known); expected counts are sums of these posteriors;
- M-step: each column's value becomes its posterior mean ``(alpha p + n) / (alpha + N)``
  (the MAP estimate under ``Dir(alpha p + 1)``);
- a finding that is not recorded adds no count (it is a leaf, so this is exact, not an
  approximation); until the parameters change by less than ``tol``.

The written ranges account for what the cases do not show: a row's spread comes from the
*observed* information (:mod:`.calibrated_ranges`), the sum over cases of their expected
complete-data scores' outer products plus the prior's information, inverted as one matrix (so a
latent mechanism's rows and its findings' rows share their uncertainty). Expected counts treated
as observed counts made the ranges of latent rows too narrow (52-71% coverage of a nominal 95%).

Speed
-----
Identical cases are encoded once with a weight; the mechanisms' independent components (as in the
compiled engine) are summed separately; the root factor is computed once per distinct pair of
root-group patterns; and the fixed-point iteration is accelerated by SQUAREM
(:mod:`.acceleration`), which extrapolates the CPT values and base rates (context and trigger
priors follow plain EM steps, since an extrapolated root prior can leave the base rates
unreachable). ``max_iter`` counts EM steps.

The etiology
------------
The etiology's table is derived from base rates and relative risks (:mod:`fasciculation_dx.network.etiology`). The base
rates of each setting are updated from the etiology's marginal counts among that setting's cases
(the confirmed diagnosis, or its posterior when unknown), exact because a base rate *is* the
etiology's marginal in its setting. Each rate has its own Beta prior whose concentration is read
off its own range (as a row's, above), and the posterior means are renormalised to sum to 1. A
single Dirichlet over all the rates would give a cause at 2e-6 a pseudo-count of about 1e-4, so a
cohort without that cause would shrink it a thousandfold; absence from 10,000 patients is almost
no evidence against a rate of 2e-6, and with its own prior the rate stays inside its range. The relative
risks in ``etiology_modifiers.csv`` are left as they are: estimating them honestly needs
etiology-by-exposure counts far larger than a clinic's case series, and their sources are
population studies. Every other table (context and trigger priors, mechanisms, findings) is
shared between settings and updated from all cases.

Provenance
----------
The new directory gets a source row (kind ``cohort``) naming the case file, its SHA-256 and
``n``; every changed row points to it, and its note starts with the old value, range and source
followed by the old note.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import errors
from ..errors import EvidenceError, FasciculationDxError
from ..network.etiology import EtiologyFitError, etiology_table
from ..network.loader import load_priors
from ..network.paths import shipped_priors_dir
from ..network.priors import DEFAULT_SETTING, Priors, Source
from .acceleration import FixedPoint, squarem
from .calibrated_ranges import posterior_concentrations
from .calibration_output import (
    PROVENANCE_FILE,
    CalibrationResult,
    check_target,
    result_priors,
    source_id,
    write_calibrated,
)
from .cases import Cases, read_cases
from .em import ArrayModel, CaseData, case_posteriors, expected_counts, posterior_mean, rate_posterior_mean
from .pseudocounts import ALPHA_MAX, ALPHA_MIN, column_concentration, row_concentration

__all__ = [
    "ALPHA_MIN",
    "ALPHA_MAX",
    "CalibrationError",
    "OutputExistsError",
    "CalibrationResult",
    "row_concentration",
    "column_concentration",
    "calibrate",
    "write_calibrated",
    "PROVENANCE_FILE",
    "case_posteriors",
]


class _Vector:
    """The free values of calibration as one vector: every table's column values, then the base rates."""

    def __init__(self, values: dict[str, np.ndarray], base: dict[str, np.ndarray]):
        self.shapes = {n: v.shape for n, v in values.items()}
        self.settings = tuple(base)
        self.sizes = {s: len(v) for s, v in base.items()}

    def join(self, values: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> np.ndarray:
        parts = [values[n].ravel() for n in self.shapes] + [base[s] for s in self.settings]
        return np.concatenate(parts) if parts else np.zeros(0)

    def split(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        values, base, start = {}, {}, 0
        for n, shape in self.shapes.items():
            size = int(np.prod(shape, dtype=int))
            values[n] = x[start : start + size].reshape(shape)
            start += size
        for s in self.settings:
            base[s] = x[start : start + self.sizes[s]]
            start += self.sizes[s]
        return values, base


class _LogPrior:
    """The log density of the calibration prior (up to a constant): the EM's objective less the log-likelihood.

    The M-step's posterior mean ``(alpha p + n) / (alpha + N)`` is the mode of ``Dir(alpha p + n + 1)``,
    so the objective's prior is ``sum alpha p log(theta)`` per column, and for each base rate its Beta's
    ``alpha p log(theta) + alpha (1 - p) log(1 - theta)``.
    """

    def __init__(self, model: ArrayModel):
        self.model = model

    def __call__(self, values: dict[str, np.ndarray], base: dict[str, np.ndarray]) -> float:
        total = 0.0
        for n, table in self.model.tables.items():
            a = table.pseudo
            total += float(np.sum(a * np.log(np.where(a > 0, values[n], 1.0))))
        for s, (a, b) in self.model.rate_pseudo.items():
            theta = base[s]
            total += float(
                np.sum(a * np.log(np.where(a > 0, theta, 1.0)) + b * np.log(np.where(b > 0, 1 - theta, 1.0)))
            )
        return total


class CalibrationError(FasciculationDxError):
    """Calibration cannot proceed (e.g. no usable cases)."""


OutputExistsError = errors.OutputExistsError
"""The output directory is (inside or around) the shipped priors, exists and ``overwrite`` was not
given, or is not an earlier output of calibration (re-exported from :mod:`fasciculation_dx.errors`)."""


def calibrate(
    cases: Cases | str | Path | pd.DataFrame,
    priors: Priors | str | Path | None = None,
    *,
    setting: str = DEFAULT_SETTING,
    max_iter: int = 200,
    tol: float = 1e-6,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    accelerate: bool = True,
) -> CalibrationResult:
    """Update the priors from a case table by Bayesian estimation (see the module docstring).

    Parameters
    ----------
    cases
        A case file (CSV or Parquet), a data frame in that layout, or :class:`fasciculation_dx.analysis.cases.Cases`.
    priors
        The priors to update (a :class:`fasciculation_dx.Priors` or a directory); the shipped priors by default.
    setting
        The care setting of cases without a ``setting`` value.
    max_iter
        Largest number of EM steps (each an E-step and an M-step; an accelerated cycle takes up to three).
    tol
        Stop when an EM step moves no parameter by more than this.
    out
        When given, write the calibrated priors there (see :func:`write_calibrated`).
    overwrite
        Allow replacing an existing ``out`` directory (never the shipped priors).
    progress
        Show a progress bar on stderr: each EM step's log-likelihood, largest parameter
        change and elapsed time, then when and why the EM stopped.
    accelerate
        Accelerate the EM by SQUAREM (:mod:`.acceleration`); without it, plain EM steps.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CaseFileError
        If the case file is invalid (every problem is listed).
    EvidenceError
        If some cases are impossible under the priors.
    OutputExistsError
        If ``out`` is the shipped priors, or exists and ``overwrite`` is false.
    """
    if priors is None:
        priors = load_priors(shipped_priors_dir())
    elif not isinstance(priors, Priors):
        priors = load_priors(priors)
    if out is not None:
        check_target(Path(out), overwrite)
    if setting not in priors.settings:
        raise EvidenceError(f"unknown setting '{setting}'. Valid settings: {', '.join(priors.settings)}")
    cases = read_cases(cases, priors)
    model = ArrayModel(priors)
    data = CaseData(model, cases, setting)
    prior = {n: t.values.copy() for n, t in model.tables.items()}
    prior_base = {s: np.array([p.value for p in rows]) for s, rows in model.base_rows.items()}
    vector = _Vector(prior, prior_base)
    log_prior = _LogPrior(model)

    def em_step(x: np.ndarray) -> tuple[np.ndarray, float, float]:
        values, base = vector.split(x)
        counts = expected_counts(model, data, model.arrays(values, base, data.groups))
        new = {
            node: posterior_mean(prior[node], t.alpha, t.pool(counts.config[node])) for node, t in model.tables.items()
        }
        new_base = dict(base)
        for s, c in counts.base.items():
            new_base[s] = rate_posterior_mean(prior_base[s], model.base_alpha[s], c)
        return vector.join(new, new_base), counts.log_likelihood + log_prior(values, base), counts.log_likelihood

    started = time.perf_counter()
    bar = tqdm(total=max_iter, desc="EM", unit="step", disable=not progress, file=sys.stderr, leave=True)

    def show(state: FixedPoint) -> None:
        last = state.log_likelihood[-1] if state.log_likelihood else float("nan")
        bar.set_postfix_str(f"log-likelihood {last:.6g}, change {state.change:.2e}", refresh=False)
        bar.update()

    fit = squarem(
        em_step,
        vector.join(prior, prior_base),
        tol=tol,
        max_evaluations=max_iter,
        on_step=show,
        accelerate=accelerate,
        refused=(EtiologyFitError,),
        extrapolate=vector.join(
            {n: np.full(v.shape, n not in model.roots) for n, v in prior.items()},
            {s: np.ones(len(v), dtype=bool) for s, v in prior_base.items()},
        ),
    )
    bar.close()
    elapsed = time.perf_counter() - started
    if fit.converged:
        stopped = (
            f"EM converged after {fit.evaluations} steps{f' ({fit.cycles} accelerated cycles)' if accelerate else ''}, "
            f"{elapsed:.1f} s: "
            f"the last step moved no parameter more than {tol:g}"
        )
    else:
        stopped = (
            f"EM reached the limit of {max_iter} steps without converging ({elapsed:.1f} s; the last step moved a "
            f"parameter by {fit.change:.2g}, more than {tol:g}); raise --max-iter"
        )
    if progress:
        print(stopped, file=sys.stderr)
    values, base = vector.split(fit.x)
    arrays = model.arrays(values, base, data.groups)
    counts = expected_counts(model, data, arrays)
    concentrations = posterior_concentrations(model, data, arrays, values, base)
    iterations, converged = fit.evaluations, fit.converged
    source = Source(
        source_id=source_id(cases.name, cases.sha256),
        kind="cohort",
        citation=f"Calibration on case file {cases.name} (SHA-256 {cases.sha256}, n={cases.n})",
        year=str(datetime.date.today().year),
        url=f"urn:sha256:{cases.sha256}",
        note=(
            f"Bayesian update by fasciculation_dx.analysis.calibration: Dirichlet priors from each row's range, "
            f"EM over latent mechanisms and missing findings ({iterations} EM steps, "
            f"{'converged' if converged else 'not converged'}); "
            f"{int((cases.labels() != '').sum())} of {cases.n} cases with a confirmed etiology; "
            f"settings: {', '.join(f'{s} n={len(i)}' for s, i in data.groups.items())}."
        ),
        verification="primary",
    )
    try:
        new_priors, report = result_priors(model, values, base, counts, source, concentrations)
        for s in new_priors.settings:
            etiology_table(new_priors, s)  # the written base rates must be reproducible
    except EtiologyFitError as err:
        raise CalibrationError(
            f"the calibrated priors computed from {cases.name} could not be written: {err}. The fault lies in "
            "the newly computed priors, not in the case file; nothing was written"
        ) from None
    result = CalibrationResult(
        new_priors,
        report,
        source,
        cases.n,
        iterations,
        converged,
        tuple(fit.log_likelihood),
        stopped,
        tuple(fit.objective),
        fit.cycles,
        fit.rejected,
    )
    if out is not None:
        result = write_calibrated(result, out, overwrite=overwrite)
    return result

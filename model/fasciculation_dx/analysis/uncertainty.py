"""Second-order uncertainty: Monte Carlo over every parameter's plausible range.

Fitting a distribution to each parameter
    Every probability column (the rows of a CPT file with the same parent values, or one
    setting's base rates) gets a distribution whose mean is the column's point values ``p`` and
    whose central 95% intervals are the rows' ``[low, high]``, matched on the logit scale so that
    both ends are honoured. A two-state column is a split **logit-normal** (a normal with
    different scales below and above its median, on the logit scale) fitted exactly; a column with
    more states draws each state's log independently from a split normal and divides by the sum,
    the split normals calibrated so that the normalised states keep the means and (approximately)
    the ranges. States whose point value is 0 or 1 are **structural** (a logical impossibility or
    certainty) and stay fixed, so evidence impossible under the point model stays impossible; a
    column whose rows all have ``low == high`` stays fixed too.

    A relative risk (``etiology_modifiers.csv``) gets a split **lognormal** with its median at its
    value and ``[low, high]`` its central 95% interval (when ``low`` is 0 the lower side mirrors
    the upper). A relative risk of 0, or one with ``low == high`` (the reference rows), stays
    fixed. The details, tolerances and the few ranges too wide for their value to be a mean are in
    :mod:`fasciculation_dx.analysis.parameter_distributions`.

Drawing
    Columns are independent. Each column has its own random stream, spawned from the seed by
    :class:`numpy.random.SeedSequence` in the fixed order of :meth:`Priors.parameters`, so a given
    seed gives the same parameter draws in every scenario (common random numbers: differences
    between scenarios are not sampling noise) and the result is reproducible. Only the columns
    that can affect the scenario are drawn (a finding that is not observed cannot change the
    posterior), which does not change the others' draws.

Evaluating
    For each draw the posterior is computed exactly, with the etiology table refitted to the drawn
    base rates, relative risks and context/trigger priors (the rule of
    :mod:`fasciculation_dx.network.etiology`, vectorised over draws, warm-started at the point fit and run
    to the same tolerance; each draw leaves the batch once converged). The refit sums over every
    configuration of the etiology's parents; because most relative risks are the reference row,
    the etiologies that no trigger modifies are summed over the context parents only (an exact
    rearrangement, see ``_RootFactors`` in :mod:`fasciculation_dx.analysis.draws`), which makes it several
    times faster. The mechanism layer is restricted to the mechanisms that are parents of observed
    findings (the others sum out exactly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EvidenceError, FasciculationDxError
from ..inference.evidence import check_evidence
from ..network.priors import ETIOLOGY
from .draws import Evaluator, Plan, sample_parameters
from .parameter_distributions import ColumnDistribution, fit_distributions

__all__ = [
    "ColumnDistribution",
    "MonteCarloResult",
    "fit_distributions",
    "sample_parameters",
    "monte_carlo",
    "posterior_interval",
]

CHUNK = 128
"""Draws evaluated together (bounds memory: the refit holds ``CHUNK x etiologies x parent configs``)."""
THREADS = min(4, os.cpu_count() or 1)
"""Chunks evaluated in parallel threads (numpy releases the GIL; results do not depend on it)."""


@dataclass(frozen=True)
class MonteCarloResult:
    """Posterior draws of a scenario under the parameters' uncertainty.

    Attributes
    ----------
    etiologies
        The etiology states, in order.
    point
        The posterior at the point values, in etiology order.
    samples
        ``(draws, etiologies)``: the posterior for each joint draw of the parameters.
    categories
        Each etiology's category (``benign`` / ``pathological``), in etiology order.
    groups
        Each etiology's group, in etiology order.
    seed, draws
        How the draws were made.
    """

    etiologies: tuple[str, ...]
    point: np.ndarray
    samples: np.ndarray
    categories: tuple[str, ...]
    groups: tuple[str, ...]
    seed: int | None
    draws: int

    def _rollup(self, labels: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        names = list(dict.fromkeys(labels))
        labels = np.array(labels)
        point = np.array([self.point[labels == g].sum() for g in names])
        samples = np.stack([self.samples[:, labels == g].sum(axis=1) for g in names], axis=1)
        return names, point, samples

    def interval(self, level: float = 0.9, by: str = "etiology") -> pd.DataFrame:
        """Equal-tailed credible intervals.

        Parameters
        ----------
        level
            The central probability of the interval, in (0, 1).
        by
            ``"etiology"`` (default), ``"category"`` or ``"group"``.

        Returns
        -------
        pandas.DataFrame
            Columns ``probability`` (the point estimate), ``lower``, ``upper``, ``mean`` and
            ``sd``; sorted by ``probability`` descending.
        """
        if not 0 < level < 1:
            raise EvidenceError(f"the interval level must be between 0 and 1. Got {level} instead")
        if by == "etiology":
            names, point, samples = list(self.etiologies), self.point, self.samples
        elif by == "category":
            names, point, samples = self._rollup(self.categories)
        elif by == "group":
            names, point, samples = self._rollup(self.groups)
        else:
            raise EvidenceError(f"by must be 'etiology', 'category' or 'group'. Got '{by}' instead")
        tail = (1 - level) / 2
        lower, upper = np.quantile(samples, [tail, 1 - tail], axis=0)
        table = pd.DataFrame(
            {
                "probability": point,
                "lower": lower,
                "upper": upper,
                "mean": samples.mean(axis=0),
                "sd": samples.std(axis=0, ddof=1),
            },
            index=pd.Index(names, name=ETIOLOGY if by == "etiology" else by),
        )
        return table.sort_values("probability", ascending=False, kind="stable")


def monte_carlo(
    model,
    evidence: Mapping[str, str] | None = None,
    draws: int = 2000,
    seed: int | None = 0,
) -> MonteCarloResult:
    """Posterior draws under joint uncertainty about every parameter.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model` (its priors and setting are used).
    evidence
        ``{node: state}``.
    draws
        Number of joint parameter draws.
    seed
        Seed of the draws; the same seed gives the same result.

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    EvidenceError
        For unknown evidence, or evidence with probability zero.
    """
    if draws < 2:
        raise EvidenceError(f"draws must be at least 2. Got {draws} instead")
    priors = model.priors
    evidence = check_evidence(priors, evidence or {})
    plan = Plan(priors, model.setting, evidence)
    evaluator = Evaluator(plan)
    sampled = plan.sample(draws, seed)
    out = np.empty((draws, len(plan.etiologies)))

    def run(start: int) -> None:
        stop = min(start + CHUNK, draws)
        chunk = {k: v[start:stop] for k, v in sampled.items()}
        J = evaluator.joint(chunk, stop - start)
        total = J.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:stop] = np.where(total > 0, J / total, np.nan)

    starts = range(0, draws, CHUNK)
    if len(starts) > 1 and THREADS > 1:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(run, starts))
    else:
        for start in starts:
            run(start)
    if not np.all(np.isfinite(out)):
        raise FasciculationDxError(
            "some parameter draws make the evidence impossible; check the ranges of the parameters near 0"
        )
    etiologies = priors.etiology_states
    return MonteCarloResult(
        etiologies,
        evaluator.point,
        out,
        tuple(priors.etiologies[e].category for e in etiologies),
        tuple(priors.etiologies[e].group for e in etiologies),
        seed,
        draws,
    )


def posterior_interval(
    model,
    evidence: Mapping[str, str] | None = None,
    level: float = 0.9,
    draws: int = 2000,
    seed: int | None = 0,
    by: str = "etiology",
) -> pd.DataFrame:
    """Point posterior with an equal-tailed credible interval from the parameters' ranges.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model`.
    evidence
        ``{node: state}``.
    level
        Central probability of the interval (0.9 by default).
    draws, seed
        Monte Carlo draws and seed (reproducible).
    by
        ``"etiology"``, ``"category"`` or ``"group"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``probability``, ``lower``, ``upper``, ``mean``, ``sd``; sorted by
        ``probability`` descending.
    """
    return monte_carlo(model, evidence, draws, seed).interval(level, by)

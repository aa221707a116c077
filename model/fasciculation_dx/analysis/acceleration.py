"""SQUAREM: an acceleration of the EM fixed-point iteration.

Varadhan and Roland's squared extrapolation (scheme S3 of "Simple and globally convergent methods
for accelerating the convergence of any EM algorithm", Scand J Stat 2008): from ``x``, two EM
steps give ``x1 = F(x)`` and ``x2 = F(x1)``; with ``r = x1 - x`` and
``v = x2 - 2 x1 + x`` the step length is ``alpha = -|r| / |v|`` (at most -1, where the proposal
is plain ``x2``) and the proposal ``x - 2 alpha r + alpha^2 v`` is stabilised by one more EM step.
The coefficients sum to one, so every column of probabilities still sums to one. A proposal
outside the parameter space is pulled back toward ``x2`` by halving ``alpha``'s distance from
-1 (as is one that takes an entry below a tenth of where the EM steps took it), and one whose
objective (log-likelihood plus log prior) is lower than at ``x``, or that the EM step refuses, is
replaced by ``x2``. The check tolerates a fall of one part in a million: calibration's EM
renormalises the base rates, which makes its own steps monotone only to about that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FixedPoint", "squarem"]

_MONOTONE_SLACK = 1e-6
"""Relative fall of the objective tolerated in a proposal (calibration's EM renormalises the base
rates, so a plain step is itself monotone only to about this; a stricter check refuses nearly every
proposal on unlabelled cohorts)."""


@dataclass
class FixedPoint:
    """The outcome of :func:`squarem`.

    Attributes
    ----------
    x
        The last EM iterate.
    converged
        Whether an EM step moved no entry by more than ``tol``.
    evaluations
        EM steps (E-step and M-step) run.
    cycles
        Extrapolation cycles run (three EM steps each at most).
    change
        The largest entry change of the last EM step.
    objective
        The objective at the start of each cycle.
    log_likelihood
        The log-likelihood at the same points.
    rejected
        Proposals replaced by plain EM steps because the objective fell.
    """

    x: np.ndarray
    converged: bool = False
    evaluations: int = 0
    cycles: int = 0
    change: float = float("inf")
    objective: list[float] = field(default_factory=list)
    log_likelihood: list[float] = field(default_factory=list)
    rejected: int = 0


def squarem(
    step: Callable[[np.ndarray], tuple[np.ndarray, float, float]],
    x0: np.ndarray,
    *,
    tol: float,
    max_evaluations: int,
    on_step: Callable[[FixedPoint], None] | None = None,
    accelerate: bool = True,
    refused: tuple[type[Exception], ...] = (),
    extrapolate: np.ndarray | None = None,
) -> FixedPoint:
    """Iterate an EM map to its fixed point, accelerated by SQUAREM.

    Parameters
    ----------
    step
        One EM step: ``step(x)`` returns ``(F(x), objective(x), log_likelihood(x))``.
    x0
        The starting point: probabilities, each in ``[0, 1]``.
    tol
        Converged when an EM step moves no entry by more than this.
    max_evaluations
        The most EM steps to run.
    on_step
        Called after every EM step with the state so far (for progress).
    accelerate
        Extrapolate; without it this is plain EM.
    refused
        Exceptions by which ``step`` refuses a point; a refused proposal is replaced by ``x2``.
    extrapolate
        Which entries to extrapolate (all by default); the others take their values from ``x2``.
        Each group of entries that must sum to one has to be wholly in or wholly out.

    Returns
    -------
    FixedPoint
    """
    out = FixedPoint(np.asarray(x0, dtype=float).copy())
    positive = out.x > 0

    def run(x: np.ndarray) -> tuple[np.ndarray, float, float]:
        fx, objective, log_likelihood = step(x)
        out.evaluations += 1
        out.change = float(np.max(np.abs(fx - x))) if len(x) else 0.0
        if on_step is not None:
            on_step(out)
        return fx, objective, log_likelihood

    x = out.x
    while out.evaluations < max_evaluations:
        out.cycles += 1
        x1, objective, log_likelihood = run(x)
        out.objective.append(objective)
        out.log_likelihood.append(log_likelihood)
        if out.change < tol:
            out.x, out.converged = x1, True
            return out
        if not accelerate or out.evaluations >= max_evaluations:
            x = out.x = x1
            continue
        x2, _, _ = run(x1)
        if out.change < tol:
            out.x, out.converged = x2, True
            return out
        r = x1 - x
        v = x2 - x1 - r
        origin = x
        if extrapolate is not None:
            # the entries left out follow plain EM: the proposal takes x2's values there
            r, v = np.where(extrapolate, r, 0.0), np.where(extrapolate, v, 0.0)
            origin = np.where(extrapolate, x, x2)
        vv = float(v @ v)
        alpha = min(-np.sqrt(float(r @ r) / vv), -1.0) if vv > 0 else -1.0
        while True:
            proposal = origin - 2 * alpha * r + alpha**2 * v
            # inside the space, and no entry below a tenth of where the EM steps took it (a rare rate
            # extrapolated toward zero would otherwise take many cycles to come back)
            floor = 0.1 * np.minimum(x, x2)
            if alpha == -1.0 or (np.all(proposal[positive] >= floor[positive]) and np.all(proposal <= 1)):
                break
            alpha = (alpha - 1.0) / 2
            if alpha > -1.01:
                alpha = -1.0
        if alpha == -1.0 or out.evaluations >= max_evaluations:
            x = out.x = x2
            continue
        try:
            stabilised, proposal_objective, _ = run(proposal)
        except refused:
            out.evaluations += 1
            out.rejected += 1
            x = out.x = x2
            continue
        if proposal_objective < objective - _MONOTONE_SLACK * abs(objective):
            out.rejected += 1
            x = out.x = x2
        else:
            x = out.x = stabilised
            if out.change < tol:
                out.converged = True
                return out
    return out

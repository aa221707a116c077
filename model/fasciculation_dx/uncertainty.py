"""Second-order uncertainty: Monte Carlo over every parameter's plausible range.

Fitting a distribution to each parameter
    Every probability column (the rows of a CPT file with the same parent values, or one
    setting's base rates) gets a distribution whose mean is the column's point values ``p``.
    A two-state column is a **Beta** ``Beta(kappa p_1, kappa p_2)``, its concentration ``kappa``
    chosen so that the central 95% intervals of the states approximately span their rows'
    ``[low, high]`` (least squares over a log-spaced grid from 0.5 to 10^6, steps of about 5%).
    A column with more states is a **Dirichlet-type** draw: each state ``i`` draws
    ``Gamma(kappa_i p_i, 1/kappa_i)`` with its own ``kappa_i`` fitted to its own range the same way,
    and the draws are normalised. With equal ``kappa_i`` this is exactly ``Dirichlet(kappa p)``;
    one concentration cannot give a common state (0.25 in [0.1, 0.45]) and a rare one (0.003 in
    [0.0008, 0.012]) their own ranges, so each state keeps its own. States whose point value is
    0 or 1 are **structural** (a logical impossibility or certainty) and stay fixed, so evidence
    impossible under the point model stays impossible; a column whose rows all have
    ``low == high`` stays fixed too.

    A relative risk (``etiology_modifiers.csv``) gets a **lognormal** with median at its value and
    ``sigma = (ln high - ln low) / (2 * 1.96)`` (so ``[low, high]`` is its central 95% interval
    when the range is symmetric on the log scale); when ``low`` is 0, ``sigma = ln(high/value) /
    1.96``. A relative risk of 0, or one with ``low == high`` (the reference rows), stays fixed.

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
    :mod:`fasciculation_dx.etiology`, vectorised over draws, warm-started at the point fit and run
    to the same tolerance; each draw leaves the batch once converged). The refit sums over every
    configuration of the etiology's parents; because most relative risks are the reference row,
    the etiologies that no trigger modifies are summed over the context parents only (an exact
    rearrangement, see :class:`_RootFactors`), which makes it several times faster. The mechanism
    layer is restricted to the mechanisms that are parents of observed findings (the others sum
    out exactly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .compiled import CompiledEngine
from .errors import ArgumentError, EvidenceError, FasciculationDxError
from .etiology import MAX_ITERATIONS, EtiologyFitError
from .evidence import check_evidence
from .priors import ETIOLOGY, WILDCARD, Parameter, Priors
from .tables import cpt_columns, match_columns

__all__ = [
    "ColumnDistribution",
    "MonteCarloResult",
    "fit_distributions",
    "sample_parameters",
    "monte_carlo",
    "posterior_interval",
]

BASE_RATES = "base_rates.csv"
MODIFIERS = "etiology_modifiers.csv"
Z95 = 1.959963984540054
KAPPA_GRID = np.logspace(np.log10(0.5), 6, 361)
CHUNK = 128
THREADS = min(4, os.cpu_count() or 1)
"""Chunks evaluated in parallel threads (numpy releases the GIL; results do not depend on it)."""
MC_FIT_TOLERANCE = 1e-12
"""Tolerance of the per-draw refit of the etiology table (absolute, on the base rates)."""
"""Draws evaluated together (bounds memory: the refit holds ``CHUNK x etiologies x parent configs``)."""


@dataclass(frozen=True)
class ColumnDistribution:
    """The fitted distribution of one column of parameters.

    Attributes
    ----------
    index
        The column's position in the fixed column order (its random stream).
    kind
        ``"beta"``, ``"dirichlet"``, ``"lognormal"`` or ``"fixed"``.
    rows
        The parameter rows of the column.
    mean
        The point values (the Beta/Dirichlet mean; the lognormal's median).
    concentration
        Per row: ``kappa_i`` of the Beta/Dirichlet (0 for a structural row), else None.
    sigma
        The lognormal's standard deviation on the log scale, else None.
    """

    index: int
    kind: str
    rows: tuple[Parameter, ...]
    mean: np.ndarray
    concentration: np.ndarray | None = None
    sigma: float | None = None

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values of the column, shape ``(n, len(rows))``."""
        if self.kind == "fixed":
            return np.broadcast_to(self.mean, (n, len(self.rows))).copy()
        if self.kind == "lognormal":
            return self.mean * np.exp(self.sigma * rng.standard_normal((n, 1)))
        free = (self.mean > 0) & (self.mean < 1)
        out = np.broadcast_to(self.mean, (n, len(self.rows))).copy()
        kappa = self.concentration[free]
        shape = kappa * self.mean[free]
        g = rng.standard_gamma(np.broadcast_to(shape, (n, len(shape)))) / kappa
        g = np.maximum(g, np.finfo(float).tiny)  # an underflow must not create a structural zero
        out[:, free] = g / g.sum(axis=1, keepdims=True) * self.mean[free].sum()
        return out


def _fit_concentration(mean: np.ndarray, low: np.ndarray, high: np.ndarray, pooled: bool) -> np.ndarray:
    """Per-state ``kappa`` (or one pooled ``kappa``) matching Beta quantiles to ``[low, high]``."""
    a = KAPPA_GRID[:, None] * mean[None, :]
    b = KAPPA_GRID[:, None] * (1 - mean[None, :])
    loss = (stats.beta.ppf(0.025, a, b) - low) ** 2 + (stats.beta.ppf(0.975, a, b) - high) ** 2
    if pooled:
        return np.full(len(mean), KAPPA_GRID[int(np.nanargmin(loss.sum(axis=1)))])
    return KAPPA_GRID[np.nanargmin(loss, axis=0)]


def _probability_column(index: int, rows: Sequence[Parameter]) -> ColumnDistribution:
    mean = np.array([r.value for r in rows])
    low = np.array([r.low for r in rows])
    high = np.array([r.high for r in rows])
    free = (mean > 0) & (mean < 1)
    if free.sum() < 2 or np.all(low[free] == high[free]):
        return ColumnDistribution(index, "fixed", tuple(rows), mean)
    kappa = np.zeros(len(rows))
    kappa[free] = _fit_concentration(mean[free], low[free], high[free], pooled=free.sum() == 2)
    kind = "beta" if free.sum() == 2 else "dirichlet"
    return ColumnDistribution(index, kind, tuple(rows), mean, concentration=kappa)


def _relative_risk(index: int, row: Parameter) -> ColumnDistribution:
    mean = np.array([row.value])
    if row.value <= 0 or row.low == row.high:
        return ColumnDistribution(index, "fixed", (row,), mean)
    if row.low > 0:
        sigma = (np.log(row.high) - np.log(row.low)) / (2 * Z95)
    else:
        sigma = np.log(row.high / row.value) / Z95
    if not sigma > 0:
        return ColumnDistribution(index, "fixed", (row,), mean)
    return ColumnDistribution(index, "lognormal", (row,), mean, sigma=float(sigma))


class _Columns(Mapping):
    """Lazily fitted column distributions of one priors object, in the fixed column order."""

    def __init__(self, priors: Priors):
        self.priors = priors
        groups: dict[tuple[str, tuple[str, ...]], list[Parameter]] = {}
        for row in priors.parameters():
            if row.file == BASE_RATES:
                key = (row.file, (row.key[0],))
            elif row.file == MODIFIERS:
                key = (row.file, row.key)
            else:
                key = (row.file, row.key[:-1])
            groups.setdefault(key, []).append(row)
        self.groups = groups
        self.order = {k: i for i, k in enumerate(groups)}
        self.fitted: dict[tuple[str, tuple[str, ...]], ColumnDistribution] = {}

    def __getitem__(self, key):
        if key not in self.fitted:
            rows = self.groups[key]
            index = self.order[key]
            self.fitted[key] = (
                _relative_risk(index, rows[0]) if key[0] == MODIFIERS else _probability_column(index, rows)
            )
        return self.fitted[key]

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)


_FIT_CACHE: dict[int, tuple[Priors, _Columns]] = {}


def fit_distributions(priors: Priors) -> Mapping[tuple[str, tuple[str, ...]], ColumnDistribution]:
    """Return the distribution of every column of parameters (see the module docstring).

    Parameters
    ----------
    priors
        Validated priors.

    Returns
    -------
    Mapping
        ``(file, column key) -> ColumnDistribution`` in the fixed column order, fitted lazily on
        first access and cached per priors object. The column key is the parent values of a CPT
        column, ``(setting,)`` for base rates and the full row key for a relative risk.
    """
    cached = _FIT_CACHE.get(id(priors))
    if cached is not None and cached[0] is priors:
        return cached[1]
    columns = _Columns(priors)
    if len(_FIT_CACHE) > 8:
        _FIT_CACHE.clear()
    _FIT_CACHE[id(priors)] = (priors, columns)
    return columns


# -- which columns a scenario needs --------------------------------------------------------------
class _Plan:
    """The columns a scenario depends on and how their draws map onto the engine's arrays."""

    def __init__(self, priors: Priors, setting: str, evidence: Mapping[str, str]):
        self.priors = priors
        self.setting = setting
        self.evidence = dict(evidence)
        self.dists = fit_distributions(priors)
        nodes = priors.nodes
        self.etiologies = priors.etiology_states
        self.roots = tuple(nodes[ETIOLOGY].parents)
        self.root_evidence = any(r in evidence for r in self.roots)
        self.mechanisms = tuple(n for n, s in nodes.items() if s.layer == "mechanism")
        self.direct = [n for n in evidence if nodes[n].parents == (ETIOLOGY,)]
        self.via = [n for n in evidence if n not in self.roots and nodes[n].parents and nodes[n].parents != (ETIOLOGY,)]
        used = sorted({p for n in self.via for p in nodes[n].parents}, key=self.mechanisms.index)
        self.used_mechanisms = tuple(used)
        keys = [(BASE_RATES, (setting,))]
        if self.root_evidence:
            keys += [k for k in self.dists if k[0] == MODIFIERS]
            keys += [k for k in self.dists if k[0] in {self._file(r) for r in self.roots}]
        for n in [*self.direct, *self.via, *self.used_mechanisms]:
            keys += [k for k in self.dists if k[0] == self._file(n)]
        self.keys = keys
        self.assigned: dict[str, dict] = {}

    def _file(self, node: str) -> str:
        rows = self.priors.cpts.get(node, ())
        return rows[0].file if rows else ""

    def sample(self, n: int, seed: int | None) -> dict[tuple[str, tuple[str, ...]], np.ndarray]:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ArgumentError(f"seed must be a whole number >= 0 or None. Got {seed!r} instead")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ArgumentError(f"draws must be a whole number >= 2. Got {n!r} instead")
        streams = np.random.SeedSequence(seed).spawn(len(self.dists))
        return {k: self.dists[k].sample(np.random.default_rng(streams[self.dists[k].index]), n) for k in self.keys}


def sample_parameters(
    priors: Priors,
    setting: str,
    evidence: Mapping[str, str] | None = None,
    draws: int = 1000,
    seed: int | None = 0,
) -> dict[tuple[str, int], np.ndarray]:
    """Return the parameter draws that a Monte Carlo run of a scenario uses.

    Parameters
    ----------
    priors, setting
        The model's priors and care setting.
    evidence
        ``{node: state}``; decides which columns matter.
    draws, seed
        Number of draws and the seed.

    Returns
    -------
    dict
        ``(file, line) -> array of shape (draws,)`` for every row of every column drawn.
    """
    plan = _Plan(priors, setting, check_evidence(priors, evidence or {}))
    sampled = plan.sample(draws, seed)
    return {
        (r.file, r.line): values[:, j] for key, values in sampled.items() for j, r in enumerate(plan.dists[key].rows)
    }


# -- batched evaluation ---------------------------------------------------------------------------
def _state_index(priors: Priors, node: str) -> dict[str, int]:
    return {s: i for i, s in enumerate(priors.nodes[node].states)}


def _column_array(plan: _Plan, node: str, sampled, n: int) -> np.ndarray:
    """Drawn CPT of a node: ``(n, n_states, *parent_cardinalities)``."""
    priors = plan.priors
    spec = priors.nodes[node]
    parent_states = [priors.nodes[p].states for p in spec.parents]
    if node not in plan.assigned:  # which column covers each parent configuration (per plan)
        plan.assigned[node] = match_columns(parent_states, list(cpt_columns(priors, node)))[0]
    assigned = plan.assigned[node]
    file = plan._file(node)
    out = np.empty((n, len(spec.states), *(len(s) for s in parent_states)))
    sidx = _state_index(priors, node)
    pidx = [{s: i for i, s in enumerate(states)} for states in parent_states]
    for config, key in assigned.items():
        dist = plan.dists[(file, key)]
        values = sampled[(file, key)]
        where = tuple(idx[c] for idx, c in zip(pidx, config))
        for j, row in enumerate(dist.rows):
            out[(slice(None), sidx[row.key[-1]], *where)] = values[:, j]
    return out


def _rr_tables(plan: _Plan, sampled, n: int) -> list[np.ndarray]:
    priors = plan.priors
    out = []
    for parent in plan.roots:
        states = priors.nodes[parent].states
        table = np.empty((n, len(plan.etiologies), len(states)))
        for j, state in enumerate(states):
            default = sampled[(MODIFIERS, (parent, state, WILDCARD))][:, 0]
            for i, e in enumerate(plan.etiologies):
                key = (MODIFIERS, (parent, state, e))
                table[:, i, j] = sampled[key][:, 0] if key in sampled else default
        out.append(table)
    return out


def _outer_chain(factors: Sequence[np.ndarray], lead: int) -> np.ndarray:
    """Outer product over trailing axes: factors ``(B, *lead, k_i)`` -> ``(B, *lead, k_1 * k_2 * ...)``.

    Built as a balanced tree so that the large product is formed once.
    """
    if len(factors) == 1:
        return factors[0]
    half = len(factors) // 2
    left = _outer_chain(factors[:half], lead)
    right = _outer_chain(factors[half:], lead)
    out = left[..., :, None] * right[..., None, :]
    return out.reshape(out.shape[:-2] + (-1,))


class _RootFactors:
    """The etiology's parents, factorised so that the per-draw refit stays cheap.

    The refit needs, for every configuration ``c`` of the etiology's parents,
    ``Z(c) = sum_e w_e rho(e, c)`` with ``rho(e, c) = prod_p RR_p(e, c_p)``, and
    ``h_e = sum_c P(c) rho(e, c) / Z(c)``. Most relative risks are the reference row (1 for every
    state of the parent): a trigger changes the risk of a handful of etiologies only. The parents
    are split into a block ``P1`` (e.g. age, sex, family history) and a block ``P2`` (e.g. the
    triggers); the etiologies ``A`` whose relative risks are constant over the states of every
    ``P2`` parent (in every draw of the chunk, checked on the drawn values) contribute to ``Z``
    through ``P1`` alone, and only the others (``T``) need the full product of configurations:

        Z(c1, c2) = sum_{e in A} w_e k_e rho1(e, c1) + sum_{e in T} w_e rho1(e, c1) rho2(e, c2)

    with ``k_e`` the (constant) product of the ``P2`` relative risks. This is the same sum
    rearranged, so the result is exact; a step costs about ``|T| C`` instead of ``|E| C``
    operations. The split minimising that cost is chosen per chunk.

    Parameters
    ----------
    rr
        Per parent, the relative risks ``(B, n_etiologies, n_states)``.
    prior
        Per parent, its prior ``(B, n_states)``.
    """

    def __init__(self, rr: Sequence[np.ndarray], prior: Sequence[np.ndarray]):
        self.batch, self.n_e = rr[0].shape[:2]
        varying = [~np.all(t == t[:, :, :1], axis=(0, 2)) for t in rr]
        sizes = [t.shape[2] for t in rr]
        order = sorted(range(len(rr)), key=lambda i: -int(varying[i].sum()))
        best = None
        for j in range(len(order) + 1):
            p1, p2 = order[:j], order[j:]
            c1 = int(np.prod([sizes[i] for i in p1]))
            c2 = int(np.prod([sizes[i] for i in p2]))
            t = np.zeros(self.n_e, dtype=bool)
            for i in p2:
                t |= varying[i]
            cost = int(t.sum()) * c1 * c2 + int((~t).sum()) * c1 + c1 * c2
            if best is None or cost < best[0]:
                best = (cost, p1, p2, t)
        _, self.p1, self.p2, t = best
        self.T = np.flatnonzero(t)
        self.A = np.flatnonzero(~t)
        b = self.batch
        rho1 = self._chain([rr[i] for i in self.p1], self.n_e)  # (B, E, C1)
        contiguous = np.ascontiguousarray
        self.rho1_A = contiguous(rho1[:, self.A])
        self.rho1_T = contiguous(rho1[:, self.T])
        self.rho2_T = contiguous(self._chain([rr[i][:, self.T] for i in self.p2], len(self.T)))  # (B, T, C2)
        k = np.ones((b, len(self.A)))
        for i in self.p2:
            k = k * rr[i][:, self.A, 0]
        self.k_A = k
        self.pc = self.priors(prior)

    def take(self, rows: np.ndarray) -> _RootFactors:
        """Return the same factors restricted to some draws (rows of the batch)."""
        out = object.__new__(_RootFactors)
        out.__dict__.update(self.__dict__)
        out.batch = len(rows)
        for name in ("rho1_A", "rho1_T", "rho2_T", "k_A"):
            setattr(out, name, getattr(self, name)[rows])
        out.pc = tuple(p[rows] for p in self.pc)
        return out

    def _chain(self, tables: Sequence[np.ndarray], rows: int) -> np.ndarray:
        if not tables:
            return np.ones((self.batch, rows, 1))
        return _outer_chain(tables, 1)

    def priors(self, prior: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(P(c1), P(c2))`` from the parents' priors (the parents are independent roots)."""
        ones = np.ones((self.batch, 1))
        pc1 = _outer_chain([prior[i] for i in self.p1], 0) if self.p1 else ones
        pc2 = _outer_chain([prior[i] for i in self.p2], 0) if self.p2 else ones
        return np.ascontiguousarray(pc1), np.ascontiguousarray(pc2)

    def z(self, w: np.ndarray) -> np.ndarray:
        """``Z(c1, c2)``, shape ``(B, C1, C2)``."""
        za = ((w[:, self.A] * self.k_A)[:, None, :] @ self.rho1_A)[:, 0, :]
        zt = np.swapaxes(w[:, self.T, None] * self.rho1_T, 1, 2) @ self.rho2_T
        return za[:, :, None] + zt

    def h(self, w: np.ndarray, pc: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """``h_e = sum_c P(c) rho(e, c) / Z(c)``, shape ``(B, n_etiologies)``."""
        pc1, pc2 = self.pc if pc is None else pc
        u = pc1[:, :, None] * pc2[:, None, :] / self.z(w)
        out = np.empty((self.batch, self.n_e))
        out[:, self.A] = self.k_A * (self.rho1_A @ u.sum(axis=2)[:, :, None])[..., 0]
        out[:, self.T] = ((self.rho1_T @ u) * self.rho2_T).sum(axis=2)
        return out


def _ipf_step(w, base, factors: _RootFactors):
    h = factors.h(w)
    new = np.where(base > 0, base / h, 0.0)
    return new / new.sum(axis=1, keepdims=True), np.max(np.abs(w * h - base), axis=1)


def _fit_weights(base: np.ndarray, factors: _RootFactors, w0: np.ndarray) -> np.ndarray:
    """Vectorised iterative proportional scaling (the rule of :mod:`.etiology`), one fit per draw.

    The fixed-point map is accelerated by SQUAREM (Varadhan and Roland, 2008) on the log weights,
    falling back to plain steps for any draw where an extrapolation does not reduce the error.
    Each draw stops as soon as its marginal is within ``MC_FIT_TOLERANCE`` of its base rates
    (the draws converged so far leave the batch), so a draw's fit does not depend on the others.
    """
    out = np.empty(base.shape)
    active = np.arange(base.shape[0])

    def log(w, positive):
        return np.where(positive, np.log(np.where(positive, w, 1.0)), 0.0)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = np.broadcast_to(w0, base.shape) * base
        w = w / w.sum(axis=1, keepdims=True)
        fallback, fallback_err = None, None
        for _ in range(MAX_ITERATIONS // 2):
            w1, err = _ipf_step(w, base, factors)
            if fallback is not None:
                bad = np.flatnonzero(~(err <= fallback_err))
                if bad.size:
                    w[bad] = fallback[bad]
                    w1[bad], err[bad] = _ipf_step(w[bad], base[bad], factors.take(bad))
            if not np.all(np.isfinite(err)):
                break
            done = err < MC_FIT_TOLERANCE
            if done.any():
                out[active[done]] = w[done]
                if done.all():
                    return out
                keep = np.flatnonzero(~done)
                active, w, w1, base = active[keep], w[keep], w1[keep], base[keep]
                factors = factors.take(keep)
            positive = base > 0
            w2, err1 = _ipf_step(w1, base, factors)
            r = log(w1, positive) - log(w, positive)
            v = log(w2, positive) - 2 * log(w1, positive) + log(w, positive)
            nr, nv = np.sqrt((r * r).sum(axis=1)), np.sqrt((v * v).sum(axis=1))
            a = np.clip(-nr / np.where(nv > 0, nv, 1.0), -20.0, -1.0)[:, None]
            x = log(w, positive) - 2 * a * r + a * a * v
            x = x - np.where(positive, x, -np.inf).max(axis=1, keepdims=True)
            w = np.where(positive, np.exp(x), 0.0)
            w = w / w.sum(axis=1, keepdims=True)
            fallback, fallback_err = w2, err1
    raise EtiologyFitError("a Monte Carlo draw's base rates cannot be reproduced with its relative risks")


class _Evaluator:
    def __init__(self, plan: _Plan):
        self.plan = plan
        priors = plan.priors
        engine = CompiledEngine(priors, plan.setting)
        self.point = engine.posterior(plan.evidence)
        if not np.all(np.isfinite(self.point)):
            raise EvidenceError("the evidence has probability zero under the model")
        self.w0 = None
        if plan.root_evidence:
            from .etiology import base_rate_vector, relative_risks
            from .tables import cpt_array

            base = base_rate_vector(priors, plan.setting)
            factors = _RootFactors(
                [t[None] for t in relative_risks(priors)], [cpt_array(priors, r)[None] for r in plan.roots]
            )
            fitted = _fit_weights(base[None], factors, np.ones((1, len(base))))[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                self.w0 = np.where(base > 0, fitted / np.where(base > 0, base, 1.0), 1.0)
            # per parent: 1 for the observed state (every state when unobserved), else 0
            self.root_masks = []
            for r in plan.roots:
                mask = np.ones(len(priors.nodes[r].states))
                if r in plan.evidence:
                    mask[:] = 0.0
                    mask[_state_index(priors, r)[plan.evidence[r]]] = 1.0
                self.root_masks.append(mask)

    def joint(self, sampled, n: int) -> np.ndarray:
        plan, priors = self.plan, self.plan.priors
        n_e = len(plan.etiologies)
        base_rows = plan.dists[(BASE_RATES, (plan.setting,))].rows
        order = {r.key[1]: j for j, r in enumerate(base_rows)}
        base = sampled[(BASE_RATES, (plan.setting,))][:, [order[e] for e in plan.etiologies]]
        if plan.root_evidence:
            rr = _rr_tables(plan, sampled, n)
            priors_r = [_column_array(plan, r, sampled, n) for r in plan.roots]
            factors = _RootFactors(rr, priors_r)
            w = _fit_weights(base, factors, self.w0)
            # P(etiology, observed parents) = w_e sum over the observed configurations
            with np.errstate(divide="ignore", invalid="ignore"):
                R = w * factors.h(w, factors.priors([p * m for p, m in zip(priors_r, self.root_masks)]))
        else:
            R = base
        J = R.copy()
        for node in plan.direct:
            table = _column_array(plan, node, sampled, n)  # (n, states, n_e)
            J *= table[:, _state_index(priors, node)[plan.evidence[node]], :]
        used = plan.used_mechanisms
        if used:
            mech = [_column_array(plan, m, sampled, n).transpose(0, 2, 1) for m in used]  # (n, n_e, k)
            cards = tuple(m.shape[-1] for m in mech)
            pm = _outer_chain(mech, 1).reshape((n, n_e) + cards)  # (n, n_e, k1, k2, ...)
            like = np.ones((n,) + cards)
            for node in plan.via:
                table = _column_array(plan, node, sampled, n)[:, _state_index(priors, node)[plan.evidence[node]]]
                axes = [used.index(p) for p in priors.nodes[node].parents]
                # place the parents' axes among the used mechanisms' axes
                perm = np.argsort(axes)
                table = np.transpose(table, (0, *(1 + perm)))
                shape = [n] + [1] * len(used)
                for a in sorted(axes):
                    shape[1 + a] = pm.shape[2 + a]
                like = like * table.reshape(shape)
            J *= (pm.reshape(n, n_e, -1) * like.reshape(n, 1, -1)).sum(axis=2)
        return J


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
    plan = _Plan(priors, model.setting, evidence)
    evaluator = _Evaluator(plan)
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

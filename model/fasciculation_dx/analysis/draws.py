"""Monte Carlo draws of the parameters a scenario needs, and the exact posterior of each draw.

:class:`Plan` picks the columns that can affect a scenario and draws them from independent
streams; :class:`Evaluator` refits the etiology table to each draw and computes the posterior,
vectorised over a chunk of draws (see :mod:`fasciculation_dx.analysis.uncertainty`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ArgumentError, EvidenceError
from ..inference.compiled import CompiledEngine
from ..inference.evidence import check_evidence
from ..inference.soft import state_vector
from ..network.etiology import MAX_ITERATIONS, EtiologyFitError
from ..network.priors import ETIOLOGY, WILDCARD, Parameter, Priors
from ..network.tables import cpt_columns, match_columns
from .parameter_distributions import BASE_RATES, MODIFIERS, fit_distributions

__all__ = ["Plan", "Evaluator", "sample_parameters"]

MC_FIT_TOLERANCE = 1e-12
"""Tolerance of the per-draw refit of the etiology table (absolute, on the base rates)."""


# -- which columns a scenario needs --------------------------------------------------------------
class Plan:
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

    def rows(self, key: tuple[str, tuple[str, ...]]) -> list[Parameter]:
        """Return the parameter rows of column ``key``, without fitting its distribution."""
        return self.dists.groups[key]

    def _file(self, node: str) -> str:
        rows = self.priors.cpts.get(node, ())
        return rows[0].file if rows else ""

    def sample(self, n: int, seed: int | None) -> dict[tuple[str, tuple[str, ...]], np.ndarray]:
        """Draw ``n`` values of every needed column from its own stream spawned from ``seed``."""
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
    plan = Plan(priors, setting, check_evidence(priors, evidence or {}))
    sampled = plan.sample(draws, seed)
    return {(r.file, r.line): values[:, j] for key, values in sampled.items() for j, r in enumerate(plan.rows(key))}


# -- batched evaluation ---------------------------------------------------------------------------
def _state_index(priors: Priors, node: str) -> dict[str, int]:
    return {s: i for i, s in enumerate(priors.nodes[node].states)}


def _column_array(plan: Plan, node: str, sampled, n: int) -> np.ndarray:
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


def _rr_tables(plan: Plan, sampled, n: int) -> list[np.ndarray]:
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


class Evaluator:
    """The exact posterior of a scenario for a chunk of parameter draws, vectorised over draws."""

    def __init__(self, plan: Plan):
        self.plan = plan
        priors = plan.priors
        engine = CompiledEngine(priors, plan.setting)
        self.point = engine.posterior(plan.evidence)
        if not np.all(np.isfinite(self.point)):
            raise EvidenceError("the evidence has probability zero under the model")
        self.w0 = None
        if plan.root_evidence:
            from ..network.etiology import base_rate_vector, relative_risks
            from ..network.tables import cpt_array

            base = base_rate_vector(priors, plan.setting)
            factors = _RootFactors(
                [t[None] for t in relative_risks(priors)], [cpt_array(priors, r)[None] for r in plan.roots]
            )
            fitted = _fit_weights(base[None], factors, np.ones((1, len(base))))[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                self.w0 = np.where(base > 0, fitted / np.where(base > 0, base, 1.0), 1.0)
            # per parent: the likelihood of its evidence (1 for the observed state and 0 for the others;
            # the weights of soft evidence; 1 for every state when unobserved)
            self.root_masks = [
                state_vector(priors.nodes[r].states, plan.evidence[r])
                if r in plan.evidence
                else np.ones(len(priors.nodes[r].states))
                for r in plan.roots
            ]

    def joint(self, sampled, n: int) -> np.ndarray:
        """Return ``P(etiology, evidence)`` for each of ``n`` draws, shape ``(n, etiologies)``."""
        plan, priors = self.plan, self.plan.priors
        n_e = len(plan.etiologies)
        base_rows = plan.rows((BASE_RATES, (plan.setting,)))
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
            J *= _evidence_rows(priors, node, plan.evidence[node], table)
        used = plan.used_mechanisms
        if used:
            mech = [_column_array(plan, m, sampled, n).transpose(0, 2, 1) for m in used]  # (n, n_e, k)
            cards = tuple(m.shape[-1] for m in mech)
            pm = _outer_chain(mech, 1).reshape((n, n_e) + cards)  # (n, n_e, k1, k2, ...)
            like = np.ones((n,) + cards)
            for node in plan.via:
                table = _evidence_rows(priors, node, plan.evidence[node], _column_array(plan, node, sampled, n))
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


def _evidence_rows(priors: Priors, node: str, value, table: np.ndarray) -> np.ndarray:
    """Per draw, the likelihood of a node's evidence: ``table[:, state]``, or the weighted sum for soft evidence."""
    if isinstance(value, str):
        return table[:, _state_index(priors, node)[value]]
    return np.tensordot(state_vector(priors.nodes[node].states, value), table, axes=([0], [1]))

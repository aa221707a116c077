"""One-way sensitivity functions: a query's posterior as an exact function of one parameter.

The joint ``P(etiology, E)`` is held as partial sums of the compiled engine's arrays
(:class:`Scenario`), so mechanism and finding parameters give exact linear-fractional functions
and etiology-layer parameters are refitted exactly (see :mod:`fasciculation_dx.analysis.sensitivity`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import FasciculationDxError
from ..inference.compiled import CompiledEngine
from ..inference.evidence import check_evidence
from ..inference.soft import state_vector
from ..network.etiology import EtiologyFitError, etiology_table
from ..network.priors import Parameter, Priors
from ..network.tables import cpt_array, cpt_columns, match_columns
from .covariation import (
    BASE_RATES,
    MODIFIERS,
    ParameterRef,
    column_rows,
    covariation_weights,
    find_parameter,
    is_etiology_layer,
    node_of,
    resolve_query,
    with_covaried_value,
)
from .parameter_words import describe_parameter

__all__ = ["Scenario", "SensitivityFunction", "sensitivity_function", "base_rate_function"]

FD_STEP = 1e-6
"""Relative step of the central difference for etiology-layer derivatives."""


# -- small helpers ---------------------------------------------------------------------------------
def _engine_of(model) -> CompiledEngine:
    engine = getattr(model, "inference", None)
    if isinstance(engine, CompiledEngine):
        return engine
    return CompiledEngine(model.priors, model.setting)


# -- the scenario: partial sums of the compiled arrays ----------------------------------------------
class Scenario:
    """The joint ``P(etiology, E)`` as an explicit function of any single parameter.

    Built once per (priors, setting, evidence); holds the compiled engine's factors
    ``J(e) = R(e) D(e) M(e)`` (roots, direct findings, mechanisms) and per-column partial sums.
    """

    def __init__(self, engine: CompiledEngine, evidence: Mapping[str, str]):
        self.engine = engine
        self.priors = engine.priors
        self.setting = engine.setting
        self.evidence = dict(evidence)
        self.etiologies = self.priors.etiology_states
        e = engine
        self.root_evidence = any(r in self.evidence for r in e.roots)
        self.R = e._root_factor(self.evidence)
        direct_rows = {n: e._row(e.direct[n], n, s) for n, s in self.evidence.items() if n in e.direct}
        mech_rows = {n: e._row(e.via_mechanisms[n], n, s) for n, s in self.evidence.items() if n in e.via_mechanisms}
        self.direct_rows = direct_rows
        self.mech_rows = mech_rows
        self.D = np.prod(list(direct_rows.values()), axis=0) if direct_rows else np.ones(len(self.etiologies))
        self.mech = np.prod(list(mech_rows.values()), axis=0) if mech_rows else np.ones(len(e.mechanism_configs))
        self.M = e.mechanism_given_etiology @ self.mech
        self.J = self.R * self.D * self.M
        self._columns: dict[str, tuple[dict, dict]] = {}
        self._mech_tables = {m: cpt_array(self.priors, m) for m in e.mechanisms}

    # column structure of a node: key -> {state: row}, config -> key
    def _node_columns(self, node: str) -> tuple[dict, dict]:
        if node not in self._columns:
            spec = self.priors.nodes[node]
            parent_states = [self.priors.nodes[p].states for p in spec.parents]
            columns = cpt_columns(self.priors, node)
            assigned, _, _ = match_columns(parent_states, list(columns))
            self._columns[node] = (columns, assigned)
        return self._columns[node]

    def column_terms(self, node: str, key: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(J_rest, G)`` with ``J = J_rest + G.T @ theta`` for the column's values ``theta``.

        ``G`` has one row per state of the node (in the node's state order). Returns ``None``
        when the column cannot change the joint (an unobserved finding: a barren node).
        """
        e = self.engine
        spec = self.priors.nodes[node]
        columns, assigned = self._node_columns(node)
        n_states = len(spec.states)
        n_e = len(self.etiologies)
        if node in e.direct:
            if node not in self.evidence:
                return None
            hit = np.array([assigned[(et,)] == key for et in self.etiologies])
            others = [r for n, r in self.direct_rows.items() if n != node]
            d_minus = np.prod(others, axis=0) if others else np.ones(n_e)
            # one row per state, weighted by the evidence's likelihood (one-hot for a hard finding)
            G = np.outer(state_vector(spec.states, self.evidence[node]), self.R * d_minus * self.M * hit)
            return self.J * ~hit, G
        if node in e.via_mechanisms:
            if node not in self.evidence:
                return None
            cols = [e.mechanisms.index(p) for p in spec.parents]
            parent_states = [self.priors.nodes[p].states for p in spec.parents]
            configs = e.mechanism_configs[:, cols]
            hit = np.array([assigned[tuple(ps[i] for ps, i in zip(parent_states, row))] == key for row in configs])
            others = [r for n, r in self.mech_rows.items() if n != node]
            m_minus = np.prod(others, axis=0) if others else np.ones(len(configs))
            PM = e.mechanism_given_etiology
            G = np.outer(state_vector(spec.states, self.evidence[node]), self.R * self.D * (PM[:, hit] @ m_minus[hit]))
            rest = self.R * self.D * (PM[:, ~hit] @ self.mech[~hit])
            return rest, G
        if node in e.mechanisms:
            hit = np.array([assigned[(et,)] == key for et in self.etiologies])
            i = e.mechanisms.index(node)
            configs = e.mechanism_configs
            pm_minus = np.ones((n_e, len(configs)))
            for j, m in enumerate(e.mechanisms):
                if j != i:
                    pm_minus *= self._mech_tables[m][configs[:, j], :].T
            weighted = pm_minus * self.mech  # (n_e, K)
            A = np.stack([weighted[:, configs[:, i] == t].sum(axis=1) for t in range(n_states)], axis=1)
            G = (self.R * self.D * hit)[None, :] * A.T
            return self.J * ~hit, G
        raise FasciculationDxError(f"'{node}' is not a mechanism or finding node")

    def linear_joint(self, param: Parameter) -> tuple[np.ndarray, np.ndarray]:
        """``(J0, J1)``: the joint at ``x = 0`` and ``x = 1`` for a linear parameter."""
        if param.file == BASE_RATES:
            # No root evidence: R is the base-rate vector itself, linear in x.
            rows = column_rows(self.priors, param)
            if param.key[0] != self.setting:
                return self.J, self.J
            index = next(i for i, r in enumerate(rows) if r.line == param.line)
            alpha, beta = covariation_weights([r.value for r in rows], index)
            order = {r.key[1]: k for k, r in enumerate(rows)}
            pos = [order[et] for et in self.etiologies]
            L = self.D * self.M
            return alpha[pos] * L, (alpha[pos] + beta[pos]) * L
        if is_etiology_layer(self.priors, param):
            return self.J, self.J  # no root evidence: modifiers and root priors have no effect
        node = node_of(self.priors, param)
        terms = self.column_terms(node, param.key[:-1])
        if terms is None:
            return self.J, self.J
        rest, G = terms
        columns, _ = self._node_columns(node)
        column = columns[param.key[:-1]]
        states = self.priors.nodes[node].states
        values = [column[s].value for s in states]
        alpha, beta = covariation_weights(values, states.index(param.key[-1]))
        return rest + alpha @ G, rest + (alpha + beta) @ G

    def is_linear(self, param: Parameter) -> bool:
        """Whether the joint is linear in ``param`` in this scenario (no etiology-layer refit)."""
        return not (self.root_evidence and is_etiology_layer(self.priors, param))

    def joint_at(self, param: Parameter, x: float) -> np.ndarray:
        """Return the joint with the parameter at ``x`` (column co-varied)."""
        if self.is_linear(param):
            j0, j1 = self.linear_joint(param)
            return j0 + x * (j1 - j0)
        return self.recomputed_root_factor(with_covaried_value(self.priors, param, x)) * self.D * self.M

    def recomputed_root_factor(self, priors: Priors) -> np.ndarray:
        """``R(e)`` from a refitted etiology table (context/trigger priors, base rates, RRs)."""
        try:
            joint = etiology_table(priors, self.setting)
        except EtiologyFitError:
            return np.full(len(self.etiologies), np.nan)
        e = self.engine
        index: list = [slice(None)]
        weight = 1.0  # the observed roots' prior probabilities
        free = np.ones(())  # the outer product of the unobserved roots' priors
        for root in e.roots:
            prior = cpt_array(priors, root)
            if root in self.evidence and not isinstance(self.evidence[root], str):
                # soft evidence: summed over like an unobserved root, each state weighted by its likelihood
                index.append(slice(None))
                weights = state_vector(self.priors.nodes[root].states, self.evidence[root])
                free = np.multiply.outer(free, prior * weights)
            elif root in self.evidence:
                state = e._state_index[root][self.evidence[root]]
                index.append(state)
                weight *= prior[state]
            else:
                index.append(slice(None))
                free = np.multiply.outer(free, prior)
        selected = joint[tuple(index)]
        return weight * (selected.reshape(selected.shape[0], -1) @ free.reshape(-1))


def safe_ratio(num: float, den: float) -> float:
    """``num / den``, NaN when ``den`` is not positive."""
    return num / den if den > 0 else math.nan


# -- one-way sensitivity functions ------------------------------------------------------------------
@dataclass(frozen=True)
class SensitivityFunction:
    """The posterior of a query as a function of one parameter (its column co-varied).

    Attributes
    ----------
    parameter
        The parameter row varied.
    query
        The query's label (see :func:`fasciculation_dx.analysis.covariation.resolve_query`).
    current
        The parameter's value in the priors.
    posterior
        The query's posterior at ``current``.
    linear_fractional
        True when the function is exactly ``(a x + b) / (c x + d)`` (mechanism and finding
        parameters; base rates without context/trigger evidence). False for etiology-layer
        parameters under context/trigger evidence, computed exactly by refitting at each ``x``.
    coefficients
        ``(a, b, c, d)`` when ``linear_fractional``, else None. ``a x + b`` is
        ``P(query, E)`` and ``c x + d`` is ``P(E)``.
    derivative
        The sensitivity value ``df/dx`` at ``current`` (exact when linear-fractional, a central
        difference otherwise).
    vertical_asymptote, horizontal_asymptote
        ``-d/c`` and ``a/c`` of the hyperbola (None when ``c = 0``, a straight line, or when
        not linear-fractional).
    vertex
        ``(x, f(x))`` where the hyperbola's branch over ``[0, 1]`` has ``|f'| = 1`` (the point of
        the rectangular hyperbola on its axis of symmetry); None when there is none.
    low, high, at_low, at_high
        The parameter's plausible range and the posterior at its ends.
    evaluate
        The function itself (``self(x)`` calls it).
    description
        The parameter in words with its parents' names (see
        :func:`fasciculation_dx.analysis.parameter_words.describe_parameter`).
    """

    parameter: Parameter
    query: str
    current: float
    posterior: float
    linear_fractional: bool
    coefficients: tuple[float, float, float, float] | None
    derivative: float
    vertical_asymptote: float | None
    horizontal_asymptote: float | None
    vertex: tuple[float, float] | None
    low: float
    high: float
    at_low: float
    at_high: float
    evaluate: Callable[[float], float] = field(repr=False, compare=False)
    description: str = ""

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        """Return the query's posterior with the parameter at ``x`` (scalar or array)."""
        if np.ndim(x) == 0:
            return self.evaluate(float(x))
        return np.array([self.evaluate(float(v)) for v in np.asarray(x).ravel()]).reshape(np.shape(x))

    @property
    def swing(self) -> float:
        """``|f(high) - f(low)|``: the change over the plausible range."""
        return abs(self.at_high - self.at_low)


def _hyperbola(a: float, b: float, c: float, d: float, x0: float):
    den = c * x0 + d
    derivative = (a * d - b * c) / den**2 if den > 0 else math.nan
    if abs(c) <= 1e-300 * max(abs(d), 1.0) or c == 0:
        return derivative, None, None, None
    s, t = -d / c, a / c
    r = (b * c - a * d) / c**2
    root = math.sqrt(abs(r))
    xv = s + root if s <= 0 else s - root
    vertex = (xv, (a * xv + b) / (c * xv + d)) if root > 0 else None
    return derivative, s, t, vertex


def setup_scenario(model, evidence: Mapping[str, str] | None) -> Scenario:
    """Check ``evidence`` and build the :class:`Scenario` of a model-like object."""
    engine = _engine_of(model)
    evidence = check_evidence(engine.priors, evidence or {})
    return Scenario(engine, evidence)


def build_function(scn: Scenario, param: Parameter, mask: np.ndarray, label: str) -> SensitivityFunction:
    """Build the sensitivity function of the query ``mask`` (named ``label``) to ``param`` in ``scn``."""
    x0 = param.value
    if scn.is_linear(param):
        j0, j1 = scn.linear_joint(param)
        b, d = float(j0[mask].sum()), float(j0.sum())
        a, c = float(j1[mask].sum()) - b, float(j1.sum()) - d

        def evaluate(x: float) -> float:
            return safe_ratio(a * x + b, c * x + d)

        derivative, s, t, vertex = _hyperbola(a, b, c, d, x0)
        return SensitivityFunction(
            param,
            label,
            x0,
            evaluate(x0),
            True,
            (a, b, c, d),
            derivative,
            s,
            t,
            vertex,
            param.low,
            param.high,
            evaluate(param.low),
            evaluate(param.high),
            evaluate,
            describe_parameter(scn.priors, param),
        )

    cache: dict[float, float] = {}

    def evaluate(x: float) -> float:
        if x not in cache:
            joint = scn.joint_at(param, x)
            cache[x] = safe_ratio(float(joint[mask].sum()), float(joint.sum()))
        return cache[x]

    h = FD_STEP * max(abs(x0), 1e-3)
    lo, hi = max(x0 - h, 0.0), x0 + h
    if param.file != MODIFIERS:
        hi = min(hi, 1.0)
    derivative = (evaluate(hi) - evaluate(lo)) / (hi - lo)
    posterior = safe_ratio(float(scn.J[mask].sum()), float(scn.J.sum()))
    return SensitivityFunction(
        param,
        label,
        x0,
        posterior,
        False,
        None,
        derivative,
        None,
        None,
        None,
        param.low,
        param.high,
        evaluate(param.low),
        evaluate(param.high),
        evaluate,
        describe_parameter(scn.priors, param),
    )


def sensitivity_function(
    model,
    parameter: ParameterRef,
    evidence: Mapping[str, str] | None = None,
    query: str | Sequence[str] = "pathological",
) -> SensitivityFunction:
    """Compute the exact one-way sensitivity function of a query to one parameter.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model` (its priors and setting are used).
    parameter
        The parameter row: a :class:`fasciculation_dx.network.priors.Parameter`, ``(file, line)`` or ``"file:line"``.
    evidence
        ``{node: state}``.
    query
        An etiology, ``"pathological"`` (default), ``"benign"``, ``"group:<group>"`` or a list of
        etiologies.

    Returns
    -------
    SensitivityFunction
        Callable: ``f(x)`` is the posterior with the parameter at ``x``.

    Raises
    ------
    EvidenceError
        For unknown evidence or query names.
    FasciculationDxError
        If the parameter does not exist.

    Notes
    -----
    For mechanism and finding parameters the coefficients come from two evaluations of the
    unnormalised joint (at ``x = 0`` and ``x = 1``); see the module docstring for the
    co-variation and for etiology-layer parameters.
    """
    scn = setup_scenario(model, evidence)
    label, mask = resolve_query(scn.priors, query)
    return build_function(scn, find_parameter(scn.priors, parameter), mask, label)


# -- base rates and settings ---------------------------------------------------------------------
def base_rate_function(
    model,
    etiology: str,
    evidence: Mapping[str, str] | None = None,
    query: str | Sequence[str] | None = None,
) -> SensitivityFunction:
    """Follow the posterior of a query as a function of one etiology's base rate in the model's setting.

    The other etiologies' base rates are rescaled proportionally so that they still sum to one.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model`.
    etiology
        The etiology whose base rate varies.
    evidence
        ``{node: state}``.
    query
        What to follow; the same etiology by default.

    Returns
    -------
    SensitivityFunction
        Linear-fractional when the evidence has no context or trigger node; otherwise computed by
        refitting the etiology table at each value (``linear_fractional=False``).
    """
    priors = model.priors
    if etiology not in priors.etiologies:
        resolve_query(priors, etiology)
    row = next(r for r in priors.base_rates if r.key == (model.setting, etiology))
    return sensitivity_function(model, row, evidence, query if query is not None else etiology)

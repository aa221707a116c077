"""One-way sensitivity analysis: sensitivity functions, screening, thresholds, base rates, settings.

The query
    A *query* is the posterior probability of an event about the etiology given evidence ``E``:
    one etiology (``"als"``), a category (``"pathological"``, ``"benign"``), a disease group
    (``"group:motor_neuron_disease"``) or any list of etiology names.

Co-variation
    Changing one parameter row to ``x`` must keep its column summing to one. The other states of
    the *same column* (the rows of the CPT file with the same parent values, ``*`` included, so a
    wildcard column moves for every parent configuration it covers) are rescaled proportionally:
    ``theta_t(x) = theta_t * (1 - x) / (1 - theta_s)``. If the row's current value is 1 (the others
    are all 0, so there is nothing to rescale), the remainder ``1 - x`` is shared equally among the
    other states. Base rates co-vary the same way within their setting. A relative risk
    (``etiology_modifiers.csv``) is not part of a distribution and changes alone.

Mechanism and finding parameters: exact linear-fractional functions
    The joint ``P(e, E)`` is a sum of products in which each CPT entry of a node appears at most
    once per term, and under proportional co-variation every entry of the column is linear in
    ``x``. So both ``P(query, E)`` and ``P(E)`` are linear in ``x`` and

        P(query | E)(x) = (a x + b) / (c x + d),

    obtained exactly from the unnormalised joint at two values of ``x`` (0 and 1), not by sweeping.
    The joint at any ``x`` is evaluated from partial sums of the compiled engine's arrays computed
    once per scenario, so no engine is rebuilt.

Etiology-layer parameters: exact recomputation
    Base rates, relative risks and the priors of the context and trigger nodes enter the
    etiology's table through the fitted log-linear rule of :mod:`fasciculation_dx.etiology` (the
    weights are refitted so that the marginal equals the base rates). That refit makes the
    function *not* linear-fractional in general; these functions are computed exactly by
    refitting the table at every ``x`` (``linear_fractional=False``), and their derivative by a
    central difference. One exact simplification: when the evidence contains no context or
    trigger node, the network's marginal of the etiology *is* the base rates, so base rates act
    linearly (the function is linear-fractional again) and relative risks and context/trigger
    priors have no effect at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from .compiled import CompiledEngine
from .errors import EvidenceError, FasciculationDxError
from .etiology import EtiologyFitError, etiology_table
from .evidence import check_evidence
from .priors import ETIOLOGY, Parameter, Priors
from .tables import cpt_array, cpt_columns, match_columns

__all__ = [
    "ParameterRef",
    "SensitivityFunction",
    "Threshold",
    "resolve_query",
    "find_parameter",
    "covaried_values",
    "with_covaried_value",
    "sensitivity_function",
    "screen",
    "threshold",
    "leading_threshold",
    "base_rate_function",
    "compare_settings",
]

ParameterRef = Parameter | tuple[str, int] | str
"""A parameter row: the :class:`Parameter` itself, ``(file, line)`` or ``"file:line"``."""

BASE_RATES = "base_rates.csv"
MODIFIERS = "etiology_modifiers.csv"
GRID_POINTS = 65
"""Grid points used to bracket the crossings of a non-linear (etiology-layer) function."""
FD_STEP = 1e-6
"""Relative step of the central difference for etiology-layer derivatives."""


# -- small helpers ---------------------------------------------------------------------------------
def _engine_of(model) -> CompiledEngine:
    engine = getattr(model, "inference", None)
    if isinstance(engine, CompiledEngine):
        return engine
    return CompiledEngine(model.priors, model.setting)


def resolve_query(priors: Priors, query: str | Sequence[str]) -> tuple[str, np.ndarray]:
    """Turn a query into a label and a boolean mask over the etiology states.

    Parameters
    ----------
    priors
        The model's priors.
    query
        An etiology, ``"benign"`` / ``"pathological"``, ``"group:<group>"`` or a list of
        etiologies.

    Returns
    -------
    label : str
    mask : numpy.ndarray
        Boolean, in etiology order.

    Raises
    ------
    EvidenceError
        If the query names no known etiology, category or group.
    """
    names = priors.etiology_states
    if isinstance(query, str):
        if query in priors.etiologies:
            return query, np.array([e == query for e in names])
        if query in ("benign", "pathological"):
            return query, np.array([priors.etiologies[e].category == query for e in names])
        if query.startswith("group:"):
            group = query[len("group:") :]
            mask = np.array([priors.etiologies[e].group == group for e in names])
            if mask.any():
                return query, mask
        raise EvidenceError(
            f"unknown query '{query}'. Give an etiology, 'benign', 'pathological' or 'group:<group>' "
            f"(groups: {', '.join(sorted({e.group for e in priors.etiologies.values()}))})"
        )
    chosen = list(query)
    unknown = [q for q in chosen if q not in priors.etiologies]
    if unknown or not chosen:
        raise EvidenceError(
            f"unknown etiologies in the query: {', '.join(unknown) or '(none given)'}. "
            f"Valid etiologies: {', '.join(names)}"
        )
    return "+".join(chosen), np.array([e in chosen for e in names])


def find_parameter(priors: Priors, ref: ParameterRef) -> Parameter:
    """Return the parameter row that ``ref`` names.

    Raises
    ------
    FasciculationDxError
        If no parameter row sits at that file and line.
    """
    if isinstance(ref, Parameter):
        file, line = ref.file, ref.line
    elif isinstance(ref, str):
        file, _, line_text = ref.rpartition(":")
        try:
            line = int(line_text)
        except ValueError:
            raise FasciculationDxError(
                f"a parameter is named 'file:line' (e.g. cpts/weakness.csv:3). Got '{ref}' instead"
            ) from None
    else:
        file, line = ref
    for row in _rows_of_file(priors, file):
        if row.line == line:
            return row
    raise FasciculationDxError(f"no parameter row at {file}:{line}")


def _rows_of_file(priors: Priors, file: str) -> tuple[Parameter, ...]:
    if file == BASE_RATES:
        return priors.base_rates
    if file == MODIFIERS:
        return priors.modifiers
    for rows in priors.cpts.values():
        if rows and rows[0].file == file:
            return rows
    return ()


def _node_of(priors: Priors, param: Parameter) -> str | None:
    if param.file in (BASE_RATES, MODIFIERS):
        return None
    for node, rows in priors.cpts.items():
        if rows and rows[0].file == param.file:
            return node
    return None


def _column_rows(priors: Priors, param: Parameter) -> list[Parameter]:
    """Return the rows that co-vary with ``param`` (its column), ``param`` included."""
    if param.file == MODIFIERS:
        return [param]
    if param.file == BASE_RATES:
        return [r for r in priors.base_rates if r.key[0] == param.key[0]]
    return [r for r in _rows_of_file(priors, param.file) if r.key[:-1] == param.key[:-1]]


def _covariation(values: Sequence[float], index: int) -> tuple[np.ndarray, np.ndarray]:
    """``alpha, beta`` with ``column(x) = alpha + beta * x`` under proportional co-variation."""
    theta = np.asarray(values, dtype=float)
    n = len(theta)
    alpha = np.zeros(n)
    beta = np.zeros(n)
    rest = 1.0 - theta[index]
    others = np.arange(n) != index
    if n > 1:
        if rest > 0:
            alpha[others] = theta[others] / rest
        else:
            alpha[others] = 1.0 / (n - 1)
        beta[others] = -alpha[others]
    beta[index] = 1.0
    return alpha, beta


def covaried_values(priors: Priors, ref: ParameterRef, x: float) -> dict[tuple[str, int], float]:
    """Return the new values of a parameter's column when the parameter is set to ``x``.

    The other states of the column are rescaled proportionally (see the module docstring); a
    relative risk changes alone.

    Returns
    -------
    dict
        ``(file, line) -> value`` for every row that changes (the parameter's included).
    """
    param = find_parameter(priors, ref)
    rows = _column_rows(priors, param)
    if len(rows) == 1:
        return {(param.file, param.line): float(x)}
    index = next(i for i, r in enumerate(rows) if r.line == param.line)
    alpha, beta = _covariation([r.value for r in rows], index)
    new = alpha + beta * x
    return {(r.file, r.line): float(v) for r, v in zip(rows, new)}


def with_covaried_value(priors: Priors, ref: ParameterRef, x: float) -> Priors:
    """Return a copy of the priors with the parameter at ``x`` and its column co-varied."""
    out = priors
    for (file, line), value in covaried_values(priors, ref, x).items():
        out = out.with_value(file, line, value)
    return out


def _is_etiology_layer(priors: Priors, param: Parameter) -> bool:
    if param.file in (BASE_RATES, MODIFIERS):
        return True
    node = _node_of(priors, param)
    return node is not None and priors.nodes[node].layer in ("context", "trigger")


# -- the scenario: partial sums of the compiled arrays ----------------------------------------------
class _Scenario:
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
        direct_rows = {n: e.direct[n][e._state_index[n][s]] for n, s in self.evidence.items() if n in e.direct}
        mech_rows = {
            n: e.via_mechanisms[n][e._state_index[n][s]] for n, s in self.evidence.items() if n in e.via_mechanisms
        }
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
            G = np.zeros((n_states, n_e))
            G[e._state_index[node][self.evidence[node]]] = self.R * d_minus * self.M * hit
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
            G = np.zeros((n_states, n_e))
            G[e._state_index[node][self.evidence[node]]] = self.R * self.D * (PM[:, hit] @ m_minus[hit])
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
            rows = _column_rows(self.priors, param)
            if param.key[0] != self.setting:
                return self.J, self.J
            index = next(i for i, r in enumerate(rows) if r.line == param.line)
            alpha, beta = _covariation([r.value for r in rows], index)
            order = {r.key[1]: k for k, r in enumerate(rows)}
            pos = [order[et] for et in self.etiologies]
            L = self.D * self.M
            return alpha[pos] * L, (alpha[pos] + beta[pos]) * L
        if _is_etiology_layer(self.priors, param):
            return self.J, self.J  # no root evidence: modifiers and root priors have no effect
        node = _node_of(self.priors, param)
        terms = self.column_terms(node, param.key[:-1])
        if terms is None:
            return self.J, self.J
        rest, G = terms
        columns, _ = self._node_columns(node)
        column = columns[param.key[:-1]]
        states = self.priors.nodes[node].states
        values = [column[s].value for s in states]
        alpha, beta = _covariation(values, states.index(param.key[-1]))
        return rest + alpha @ G, rest + (alpha + beta) @ G

    def is_linear(self, param: Parameter) -> bool:
        return not (self.root_evidence and _is_etiology_layer(self.priors, param))

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
        for axis, root in enumerate(e.roots, start=1):
            prior = cpt_array(priors, root)
            shape = [1] * joint.ndim
            shape[axis] = len(prior)
            joint = joint * prior.reshape(shape)
            index.append(e._state_index[root][self.evidence[root]] if root in self.evidence else slice(None))
        selected = joint[tuple(index)]
        return selected.reshape(selected.shape[0], -1).sum(axis=1)


def _ratio(num: float, den: float) -> float:
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
        The query's label (see :func:`resolve_query`).
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


def _setup(model, evidence):
    engine = _engine_of(model)
    evidence = check_evidence(engine.priors, evidence or {})
    return _Scenario(engine, evidence)


def _function(scn: _Scenario, param: Parameter, mask: np.ndarray, label: str) -> SensitivityFunction:
    x0 = param.value
    if scn.is_linear(param):
        j0, j1 = scn.linear_joint(param)
        b, d = float(j0[mask].sum()), float(j0.sum())
        a, c = float(j1[mask].sum()) - b, float(j1.sum()) - d

        def evaluate(x: float) -> float:
            return _ratio(a * x + b, c * x + d)

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
        )

    cache: dict[float, float] = {}

    def evaluate(x: float) -> float:
        if x not in cache:
            joint = scn.joint_at(param, x)
            cache[x] = _ratio(float(joint[mask].sum()), float(joint.sum()))
        return cache[x]

    h = FD_STEP * max(abs(x0), 1e-3)
    lo, hi = max(x0 - h, 0.0), x0 + h
    if param.file != MODIFIERS:
        hi = min(hi, 1.0)
    derivative = (evaluate(hi) - evaluate(lo)) / (hi - lo)
    posterior = _ratio(float(scn.J[mask].sum()), float(scn.J.sum()))
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
        The parameter row: a :class:`Parameter`, ``(file, line)`` or ``"file:line"``.
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
    scn = _setup(model, evidence)
    label, mask = resolve_query(scn.priors, query)
    return _function(scn, find_parameter(scn.priors, parameter), mask, label)


# -- screening ------------------------------------------------------------------------------------
def screen(
    model,
    evidence: Mapping[str, str] | None = None,
    query: str | Sequence[str] = "pathological",
    parameters: Sequence[ParameterRef] | None = None,
) -> pd.DataFrame:
    """Every parameter's effect on a query over its plausible range, ranked by swing.

    Mechanism and finding parameters use per-column partial sums of the compiled arrays (computed
    once per scenario, no engine rebuilt); etiology-layer parameters are refitted only when the
    evidence names a context or trigger node and the parameter has a range (``low < high``);
    base rates of other settings have no effect in this model's setting.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model`.
    evidence
        ``{node: state}``.
    query
        See :func:`sensitivity_function`.
    parameters
        Restrict to these rows; every parameter by default.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, sorted by ``swing`` descending, with columns ``parameter``
        (``file:line``), ``file``, ``line``, ``key`` (the row's key joined by ``/``), ``value``,
        ``low``, ``high``, ``at_low``, ``at_high``, ``swing`` (``|at_high - at_low|``),
        ``linear_fractional`` and ``source_id``. ``attrs["posterior"]`` holds the query's
        posterior at the point values, ``attrs["query"]`` its label.
    """
    scn = _setup(model, evidence)
    label, mask = resolve_query(scn.priors, query)
    priors = scn.priors
    rows = [find_parameter(priors, p) for p in parameters] if parameters is not None else list(priors.parameters())
    p0 = _ratio(float(scn.J[mask].sum()), float(scn.J.sum()))
    records = []
    terms_cache: dict[tuple[str, tuple[str, ...]], tuple | None] = {}
    for param in rows:
        linear = scn.is_linear(param)
        if param.file == BASE_RATES and param.key[0] != scn.setting:
            at_low = at_high = p0
        elif linear and not _is_etiology_layer(priors, param):
            node = _node_of(priors, param)
            ck = (node, param.key[:-1])
            if ck not in terms_cache:
                terms_cache[ck] = scn.column_terms(node, param.key[:-1])
            terms = terms_cache[ck]
            if terms is None:
                at_low = at_high = p0
            else:
                rest, G = terms
                columns, _ = scn._node_columns(node)
                states = priors.nodes[node].states
                column = columns[param.key[:-1]]
                alpha, beta = _covariation([column[s].value for s in states], states.index(param.key[-1]))
                j0 = rest + alpha @ G
                slope = beta @ G
                jl, jh = j0 + param.low * slope, j0 + param.high * slope
                at_low = _ratio(float(jl[mask].sum()), float(jl.sum()))
                at_high = _ratio(float(jh[mask].sum()), float(jh.sum()))
        elif linear:
            j0, j1 = scn.linear_joint(param)
            jl, jh = j0 + param.low * (j1 - j0), j0 + param.high * (j1 - j0)
            at_low = _ratio(float(jl[mask].sum()), float(jl.sum()))
            at_high = _ratio(float(jh[mask].sum()), float(jh.sum()))
        elif param.low == param.high:
            at_low = at_high = p0
        else:
            jl, jh = scn.joint_at(param, param.low), scn.joint_at(param, param.high)
            at_low = _ratio(float(jl[mask].sum()), float(jl.sum()))
            at_high = _ratio(float(jh[mask].sum()), float(jh.sum()))
        records.append(
            {
                "parameter": f"{param.file}:{param.line}",
                "file": param.file,
                "line": param.line,
                "key": "/".join(param.key),
                "value": param.value,
                "low": param.low,
                "high": param.high,
                "at_low": at_low,
                "at_high": at_high,
                "swing": abs(at_high - at_low),
                "linear_fractional": linear,
                "source_id": param.source_id,
            }
        )
    table = pd.DataFrame.from_records(records)
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["posterior"] = p0
    table.attrs["query"] = label
    return table


# -- thresholds -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    """Where a parameter must move for a decision to change.

    Attributes
    ----------
    parameter
        The parameter row.
    kind
        ``"posterior"`` (a query crosses ``target``) or ``"leading"`` (the leading etiology
        changes).
    current
        The parameter's current value.
    value
        The crossing nearest to ``current``, or None when there is none in ``domain``.
    below, above
        The nearest crossing below and above ``current`` (None where there is none).
    leader_below, leader_above
        For ``kind="leading"``: the etiology that leads just beyond ``below`` / ``above``.
    domain
        The interval searched: ``(0, 1)`` for probabilities.
    reason
        Why ``value`` is None (e.g. ``"none within [0, 1]"``), else None.
    exact
        True when found in closed form from the linear-fractional function; False when found by
        bracketing and root-finding (``xtol`` 1e-12) on refitted etiology-layer functions.
    """

    parameter: Parameter
    kind: str
    current: float
    value: float | None
    below: float | None
    above: float | None
    leader_below: str | None
    leader_above: str | None
    domain: tuple[float, float]
    reason: str | None
    exact: bool
    target: float | None = None
    query: str | None = None


def _default_domain(param: Parameter) -> tuple[float, float]:
    if param.file == MODIFIERS:
        return 0.0, 10.0 * max(param.high, param.value, 1.0)
    return 0.0, 1.0


def _fmt_domain(domain: tuple[float, float]) -> str:
    return f"[{domain[0]:g}, {domain[1]:g}]"


def _numeric_crossings(g: Callable[[float], float], domain: tuple[float, float], x0: float) -> list[float]:
    grid = np.unique(np.concatenate([np.linspace(*domain, GRID_POINTS), [x0]]))
    values = np.array([g(float(x)) for x in grid])
    found = []
    for i in range(len(grid) - 1):
        va, vb = values[i], values[i + 1]
        if not (np.isfinite(va) and np.isfinite(vb)):
            continue
        if va == 0 and i > 0 and np.isfinite(values[i - 1]) and values[i - 1] != 0:
            continue
        if va == 0 and grid[i] != x0:
            found.append(float(grid[i]))
        elif va * vb < 0:
            found.append(float(brentq(g, grid[i], grid[i + 1], xtol=1e-12, rtol=4 * np.finfo(float).eps)))
    return found


def _package(param, kind, crossings, domain, exact, leaders=None, target=None, query=None) -> Threshold:
    x0 = param.value
    below = max((x for x in crossings if x < x0), default=None)
    above = min((x for x in crossings if x > x0), default=None)
    exactly = [x for x in crossings if x == x0]
    candidates = [x for x in (below, above) if x is not None] + exactly
    value = min(candidates, key=lambda x: abs(x - x0)) if candidates else None
    reason = None if value is not None else f"none within {_fmt_domain(domain)}"
    leaders = leaders or {}
    return Threshold(
        param,
        kind,
        x0,
        value,
        below,
        above,
        leaders.get(below),
        leaders.get(above),
        domain,
        reason,
        exact,
        target,
        query,
    )


def threshold(
    model,
    parameter: ParameterRef,
    evidence: Mapping[str, str] | None = None,
    query: str | Sequence[str] = "pathological",
    target: float = 0.05,
    domain: tuple[float, float] | None = None,
) -> Threshold:
    """Find the value of a parameter at which a query's posterior crosses ``target``.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model`.
    parameter
        The parameter row.
    evidence
        ``{node: state}``.
    query
        See :func:`sensitivity_function`; ``"pathological"`` by default.
    target
        The posterior probability of interest (0.05 by default: a pathological cause likely
        enough to refer for EMG).
    domain
        The interval searched; ``(0, 1)`` for probabilities, ``(0, 10 * max(high, 1))`` for a
        relative risk.

    Returns
    -------
    Threshold
        ``value`` is None with ``reason="none within [0, 1]"`` when the posterior never
        crosses ``target`` there.
    """
    scn = _setup(model, evidence)
    label, mask = resolve_query(scn.priors, query)
    param = find_parameter(scn.priors, parameter)
    domain = domain or _default_domain(param)
    fn = _function(scn, param, mask, label)
    if fn.linear_fractional:
        a, b, c, d = fn.coefficients
        crossings = []
        slope = a - target * c
        scale = max(abs(a), abs(b), abs(c), abs(d), 1e-300)
        if abs(slope) > 1e-14 * scale:
            x = (target * d - b) / slope
            if domain[0] <= x <= domain[1] and c * x + d > 0:
                crossings.append(float(x))
        return _package(param, "posterior", crossings, domain, True, target=target, query=label)
    crossings = _numeric_crossings(lambda x: fn(x) - target, domain, param.value)
    return _package(param, "posterior", crossings, domain, False, target=target, query=label)


def leading_threshold(
    model,
    parameter: ParameterRef,
    evidence: Mapping[str, str] | None = None,
    domain: tuple[float, float] | None = None,
) -> Threshold:
    """Find the values of a parameter at which the leading etiology changes.

    For linear parameters every etiology's numerator ``P(e, E)`` is a straight line in ``x``
    with a common positive denominator, so the leader is the upper envelope of the lines and its
    first changes on either side of the current value are found in closed form.

    Returns
    -------
    Threshold
        ``below`` / ``above`` are the nearest changes on each side, with ``leader_below`` /
        ``leader_above`` the etiology that takes the lead there; ``value`` is the nearer of the
        two, None (with ``reason``) when the leader never changes in ``domain``.
    """
    scn = _setup(model, evidence)
    param = find_parameter(scn.priors, parameter)
    domain = domain or _default_domain(param)
    names = scn.etiologies
    x0 = param.value
    if scn.is_linear(param):
        j0, j1 = scn.linear_joint(param)
        u, v = j0, j1 - j0
        at0 = u + v * x0
        lead = int(np.argmax(at0))
        crossings, leaders = [], {}
        up = [(float((u[lead] - u[i]) / (v[i] - v[lead])), i) for i in range(len(u)) if i != lead and v[i] > v[lead]]
        down = [(float((u[lead] - u[i]) / (v[i] - v[lead])), i) for i in range(len(u)) if i != lead and v[i] < v[lead]]
        up = [(x, i) for x, i in up if x0 <= x <= domain[1] and x > x0 - 1e-15]
        down = [(x, i) for x, i in down if domain[0] <= x <= x0]
        if up:
            x, i = min(up, key=lambda t: (t[0], -v[t[1]]))
            crossings.append(x)
            leaders[x] = names[i]
        if down:
            x, i = max(down, key=lambda t: (t[0], v[t[1]]))
            crossings.append(x)
            leaders[x] = names[i]
        return _package(param, "leading", crossings, domain, True, leaders)

    def joint(x: float) -> np.ndarray:
        return scn.joint_at(param, x)

    lead = int(np.argmax(scn.J))

    def margin(x: float) -> float:
        j = joint(x)
        if not np.all(np.isfinite(j)) or j.sum() <= 0:
            return math.nan
        return float((j[lead] - np.max(np.delete(j, lead))) / j.sum())

    crossings = _numeric_crossings(margin, domain, x0)
    leaders = {}
    for x in crossings:
        step = 1e-9 * max(1.0, abs(x))
        j = joint(min(x + step, domain[1]) if x > x0 else max(x - step, domain[0]))
        leaders[x] = names[int(np.argmax(j))]
    return _package(param, "leading", crossings, domain, False, leaders)


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


def compare_settings(
    priors: Priors,
    evidence: Mapping[str, str] | None = None,
    level: str = "etiology",
    settings: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Compare the same scenario under each care setting, side by side.

    Parameters
    ----------
    priors
        Validated priors.
    evidence
        ``{node: state}``.
    level
        ``"etiology"`` (default), ``"group"`` or ``"category"``.
    settings
        The settings to compare; all of ``settings.csv`` by default.

    Returns
    -------
    pandas.DataFrame
        One column per setting, one row per etiology (or group, or category), sorted by the
        first setting's posterior, descending.

    Raises
    ------
    ImpossibleEvidenceError
        If the evidence has probability zero in some setting.
    """
    from .model import Model

    settings = list(settings) if settings is not None else list(priors.settings)
    if level not in ("etiology", "group", "category"):
        raise EvidenceError(f"level must be 'etiology', 'group' or 'category'. Got '{level}' instead")
    columns = {}
    for setting in settings:
        model = Model(priors, setting)
        if level == "etiology":
            columns[setting] = model.posterior(evidence)
        elif level == "group":
            columns[setting] = model.group_posterior(evidence)
        else:
            columns[setting] = model.category_posterior(evidence)
    table = pd.DataFrame(columns)
    table.index.name = {"etiology": ETIOLOGY}.get(level, level)
    return table.sort_values(settings[0], ascending=False, kind="stable")

"""Thresholds: where a parameter must move for a decision to change.

:func:`threshold` finds where a query's posterior crosses a target; :func:`leading_threshold`
finds where the leading etiology changes. Linear-fractional functions are solved exactly,
etiology-layer functions by bracketing on a grid and root finding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..network.priors import Parameter
from .covariation import MODIFIERS, ParameterRef, find_parameter, resolve_query
from .one_way import build_function, setup_scenario

__all__ = ["Threshold", "threshold", "leading_threshold"]

GRID_POINTS = 65
"""Grid points used to bracket the crossings of a non-linear (etiology-layer) function."""


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
        See :func:`fasciculation_dx.analysis.one_way.sensitivity_function`; ``"pathological"`` by default.
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
    scn = setup_scenario(model, evidence)
    label, mask = resolve_query(scn.priors, query)
    param = find_parameter(scn.priors, parameter)
    domain = domain or _default_domain(param)
    fn = build_function(scn, param, mask, label)
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
    scn = setup_scenario(model, evidence)
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

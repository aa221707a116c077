"""The calibration prior: Dirichlet pseudo-counts read off each row's plausible range.

A row's concentration is the one at which its Beta marginal puts 95% of its mass inside
``[low, high]``; a column's is the value-weighted geometric mean of its rows' (see
:mod:`fasciculation_dx.analysis.calibration`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from ..network.priors import Parameter

__all__ = ["ALPHA_MIN", "ALPHA_MAX", "row_concentration", "column_concentration"]

ALPHA_MIN = 1.0
"""The smallest concentration a column's prior may have (one pseudo-patient)."""
ALPHA_MAX = 1e6
"""The largest concentration fitted from a range (a range so tight is practically fixed)."""
MASS = 0.95


# -- prior strength from a plausible range ------------------------------------------------------
def row_concentration(value: float, low: float, high: float) -> float:
    """Concentration at which a row's Beta marginal spans its plausible range.

    Parameters
    ----------
    value, low, high
        The row's probability and plausible range.

    Returns
    -------
    float
        The smallest ``alpha`` in ``[ALPHA_MIN, ALPHA_MAX]`` at which
        ``Beta(alpha * value, alpha * (1 - value))`` holds 95% of its mass in ``[low, high]``
        (97.5% on the open side when ``value`` equals ``low`` or ``high``); ``inf`` for a fixed row
        (``low == high``); ``nan`` when ``value`` is 0 or 1 (the row says nothing about spread).

    Examples
    --------
    >>> a = row_concentration(0.25, 0.1, 0.45)
    >>> 10 < a < 40
    True
    >>> row_concentration(0.3, 0.3, 0.3)
    inf
    """
    if low == high:
        return math.inf
    if not 0 < value < 1:
        return math.nan
    if value == low:
        lo, hi, target = -1.0, high, 1 - (1 - MASS) / 2
    elif value == high:
        lo, hi, target = low, 2.0, 1 - (1 - MASS) / 2
    else:
        lo, hi, target = low, high, MASS

    a_lo, a_hi = max(lo, 0.0), min(hi, 1.0)

    def excess(log_alpha):
        alpha = np.exp(log_alpha)
        a, b = alpha * value, alpha * (1 - value)
        upper = special.betainc(a, b, a_hi) if a_hi < 1 else 1.0
        lower = special.betainc(a, b, a_lo) if a_lo > 0 else 0.0
        return np.asarray(upper - lower - target) + np.zeros_like(log_alpha)

    grid = np.linspace(math.log(ALPHA_MIN), math.log(ALPHA_MAX), 61)
    values = excess(grid)
    if values[0] >= 0:
        return ALPHA_MIN
    above = np.flatnonzero(values >= 0)
    if not len(above):
        return ALPHA_MAX
    i = int(above[0])
    return float(math.exp(optimize.brentq(lambda x: float(excess(x)), grid[i - 1], grid[i], xtol=1e-10)))


def column_concentration(rows: list[Parameter] | tuple[Parameter, ...]) -> float:
    """Return a column's Dirichlet concentration: the geometric mean of its rows' concentrations.

    The mean is weighted by the rows' values, so the states that carry the column's mass set its
    strength (a rare state's Beta cannot have a wide relative range without a huge
    concentration; it would otherwise dominate the column).

    Returns ``inf`` when a row is fixed (the column is then never changed) and
    :data:`ALPHA_MIN` when no row says anything about spread.
    """
    alphas = [row_concentration(r.value, r.low, r.high) for r in rows]
    if any(math.isinf(a) for a in alphas):
        return math.inf
    pairs = [(a, r.value) for a, r in zip(alphas, rows) if not math.isnan(a)]
    weight = sum(w for _, w in pairs)
    if weight <= 0:
        return ALPHA_MIN
    return float(math.exp(sum(w * math.log(a) for a, w in pairs) / weight))


# -- the tables as arrays ----------------------------------------------------------------------

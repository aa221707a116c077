"""A distribution for every parameter column, fitted to the rows' plausible ranges.

Every row that varies is a **split normal** on the logit scale (probabilities) or the log scale
(relative risks): ``y = location + z * scale`` with ``z`` standard normal, ``scale`` being
``scale_low`` for ``z < 0`` and ``scale_high`` above. Its quantiles are
``location + z_q * scale``, so a row's ``low`` and ``high`` are matched as the 2.5% and 97.5%
quantiles on that scale, both ends honoured however many orders of magnitude apart they are.

Two-state columns
    The rarer state is ``expit(y)``, the other its complement (the ranges of a binary node are
    complementary). ``location`` is chosen (on a grid, then by bisection; the mean by trapezoidal
    quadrature) so that the mean is the point value, ``scale_low`` and ``scale_high`` so that the
    quantiles are exactly ``low`` and ``high``.

Columns with more states (CPT columns, one setting's base rates)
    Each state ``i`` draws ``x_i = exp(y_i)`` independently and the column is ``x / sum(x)``
    (a logistic-normal draw). Each state starts from its own two-state fit above; then, on a
    fixed Latin-hypercube sample of ``CALIBRATION_DRAWS``, the locations are shifted until the
    normalised means are the point values and the scales rescaled until the normalised quantiles
    are the state's targets; last, with the scales fixed, the locations are shifted until the
    means are the point values within ``MEAN_TOLERANCE`` (each state's own normal integrated
    by quadrature, the others' sum sampled). The draws' means equal the point values within 2%
    (about 1% for the shipped priors). A state's targets are its range clipped to what the other
    rows allow (:func:`reachable_range`). Dividing by the sum adds the other states' spread to a
    state's tails, so a state whose range is tight on one side gets a wider tail there: for the
    shipped priors the quantiles are within a factor of 3 on the odds of their targets (within 1.5
    for all but about 60 of about 650 such rows), against a factor of 1.5 for two-state columns.

One-sided and skewed ranges
    ``low = 0``, or ``low`` equal to the value, says nothing about the lower end: the lower tail
    is then as wide as the upper one (likewise ``high = 1`` or ``high`` equal to the value). A
    mean equal to the value cannot always have 2.5% of its mass above ``high`` (a range spanning
    orders of magnitude around a small value: 0.0024 in [0.0001, 0.098] would need a mean of at
    least 0.025 * 0.098). When even the median at ``low`` gives too high a mean, the state is a
    plain logit-normal with its 2.5% quantile at ``low`` and the scale that gives the mean, so its
    97.5% quantile falls short of ``high`` (in the mirror case the 2.5% quantile falls short of
    ``low``); :attr:`ColumnDistribution.short` flags these rows (and a two-state column's
    complement). The point value stays inside its central 95% interval.

Structural and fixed rows
    States whose point value is 0 or 1 are **structural** (a logical impossibility or certainty)
    and stay fixed, so evidence impossible under the point model stays impossible; so does a
    column whose free rows all have ``low == high``, a relative risk of 0 and one with
    ``low == high`` (the reference rows).

Relative risks (``etiology_modifiers.csv``)
    ``exp(y)``: a split **lognormal** with its median at the value and ``[low, high]`` its central
    95% interval; a missing side (``low = 0``) mirrors the other.

The calibration samples are fixed (they do not use the caller's random stream), so the fit is
deterministic; draws are made by :meth:`ColumnDistribution.sample`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..network.priors import Parameter, Priors

__all__ = ["ColumnDistribution", "fit_distributions", "reachable_range"]

BASE_RATES = "base_rates.csv"
MODIFIERS = "etiology_modifiers.csv"
Z95 = 1.959963984540054
CALIBRATION_DRAWS = 1024
"""Draws of the deterministic calibration sample of a multi-state column's quantiles (Latin hypercube)."""
MEAN_DRAWS = 1024
"""Draws of the calibration sample of its means (each state's own normal integrated by quadrature)."""
QUADRATURE_STEP = 0.05
"""Step of the trapezoidal quadrature over ``z`` in ``[-9, 9]`` of one state's mean (a node at the kink, 0)."""
MEAN_TOLERANCE = 1e-3
"""Relative tolerance of a state's mean on the calibration sample."""
MAX_CALIBRATION_STEPS = 30
"""Iterations of each phase of a multi-state column's calibration."""
_GRID = np.linspace(0.0, 1.0, 65)
_Z = np.linspace(-9.0, 9.0, int(round(18 / QUADRATURE_STEP)) + 1)
_W = np.exp(-(_Z**2) / 2) / np.exp(-(_Z**2) / 2).sum()
_ZC = np.linspace(-8.0, 8.0, 81)  # coarser nodes for the conditional means of a column's states
_WC = np.exp(-(_ZC**2) / 2) / np.exp(-(_ZC**2) / 2).sum()


@dataclass(frozen=True)
class ColumnDistribution:
    """The fitted distribution of one column of parameters.

    Attributes
    ----------
    index
        The column's position in the fixed column order (its random stream).
    kind
        ``"logit_normal"`` (two free states), ``"normalised"`` (more free states, drawn and
        divided by their sum), ``"lognormal"`` (a relative risk) or ``"fixed"``.
    rows
        The parameter rows of the column.
    mean
        The point values (the mean of a probability state; the median of a relative risk).
    location, scale_low, scale_high
        Per row, the split normal of ``logit`` of the state (``log`` of a relative risk); NaN for a
        structural row or for the state a two-state column derives as the complement. None for a
        fixed column.
    short
        Per row, whether a mean equal to the value leaves one end of the range unreached (see the
        module docstring). None for a fixed column.
    """

    index: int
    kind: str
    rows: tuple[Parameter, ...]
    mean: np.ndarray
    location: np.ndarray | None = None
    scale_low: np.ndarray | None = None
    scale_high: np.ndarray | None = None
    short: np.ndarray | None = None

    @property
    def sigma(self) -> float | None:
        """A relative risk's mean log-scale spread ``(ln high - ln low) / (2 * 1.96)``, else None.

        When ``low`` is 0 both sides are ``ln(high / value) / 1.96``.
        """
        if self.kind != "lognormal":
            return None
        return float((self.scale_low[0] + self.scale_high[0]) / 2)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values of the column, shape ``(n, len(rows))``."""
        if self.kind == "fixed":
            return np.broadcast_to(self.mean, (n, len(self.rows))).copy()
        z = rng.standard_normal((n, len(self.rows)))
        if self.kind == "lognormal":
            return np.exp(_split(self.location, self.scale_low, self.scale_high, z))
        return _column(self.mean, self.location, self.scale_low, self.scale_high, z)


def _split(location, scale_low, scale_high, z):
    return location + z * np.where(z < 0, scale_low, scale_high)


def _column(mean, location, scale_low, scale_high, z):
    """Column draws from standard normals ``z`` (shape ``(n, rows)``)."""
    free = (mean > 0) & (mean < 1)
    drawn = np.isfinite(location)
    out = np.broadcast_to(mean, z.shape).copy()
    y = _split(location[drawn], scale_low[drawn], scale_high[drawn], z[:, drawn])
    complement = free & ~drawn
    if complement.any():  # two-state column: the rarer state is drawn, the other is its complement
        v = np.maximum(special.expit(y), np.finfo(float).tiny)  # an underflow must not make a structural 0
        out[:, drawn], out[:, complement] = v, 1 - v
        return out
    x = np.exp(y - y.max(axis=1, keepdims=True))
    out[:, drawn] = np.maximum(x / x.sum(axis=1, keepdims=True), np.finfo(float).tiny) * mean[drawn].sum()
    return out


def _logits(y: np.ndarray) -> np.ndarray:
    """``logit`` of the normalised ``exp(y)`` along the last axis, without overflow."""
    top = y.max(axis=-1, keepdims=True)
    x = np.exp(y - top)
    rest = x.sum(axis=-1, keepdims=True) - x
    return y - top - np.log(np.maximum(rest, np.finfo(float).tiny))


def _targets(value: float, low: float, high: float) -> tuple[float, float]:
    """Return the ends of a row's range on the logit scale; a missing side mirrors the other."""
    centre = special.logit(value)
    lo = special.logit(low) if 0 < low < value else np.nan
    hi = special.logit(high) if value < high < 1 else np.nan
    if np.isnan(lo) and np.isnan(hi):
        lo, hi = centre - Z95, centre + Z95
    if np.isnan(lo):
        lo = 2 * centre - hi
    if np.isnan(hi):
        hi = 2 * centre - lo
    return lo, hi


def reachable_range(rows: Sequence[Parameter]) -> tuple[np.ndarray, np.ndarray]:
    """Return each row's ``[low, high]`` clipped to what the other rows of its column allow.

    A state cannot exceed one minus the other states' lows, nor fall below one minus their
    highs; a column's ranges often overlap beyond that (each row's range is read off on its own).

    Parameters
    ----------
    rows
        The rows of one probability column.

    Returns
    -------
    low, high : numpy.ndarray
        The clipped ends, in row order.

    Examples
    --------
    >>> from fasciculation_dx.network.priors import Parameter
    >>> rows = [Parameter("f.csv", i, ("s",), v, lo, hi, "", "") for i, (v, lo, hi) in
    ...         enumerate([(0.6, 0.3, 0.99), (0.4, 0.2, 0.6)])]
    >>> [float(x) for x in reachable_range(rows)[1]]
    [0.8, 0.6]
    """
    low = np.array([r.low for r in rows])
    high = np.array([r.high for r in rows])
    return np.maximum(low, 1 - (high.sum() - high)), np.minimum(high, 1 - (low.sum() - low))


def _mean(location, scale_low, scale_high):
    """Mean of the split logit-normals, broadcast over leading axes (trapezoidal quadrature)."""
    y = location[..., None] + _Z * np.where(_Z < 0, scale_low[..., None], scale_high[..., None])
    return special.expit(y) @ _W


def _bisect(f, a, b, target, steps=36):
    """Vectorised bisection for ``f(x) = target`` with ``f(a) - target`` and ``f(b) - target`` of opposite signs."""
    fa = f(a) - target
    for _ in range(steps):
        mid = (a + b) / 2
        fm = f(mid) - target
        left = np.sign(fm) == np.sign(fa)
        a, fa = np.where(left, mid, a), np.where(left, fm, fa)
        b = np.where(left, b, mid)
    return (a + b) / 2


def _fit_states(mean: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Split logit-normals with the given means and (where reachable) 2.5% / 97.5% quantiles."""
    width = hi - lo

    def exact(t):
        extra = (1,) * (np.ndim(t) - 1)
        a, b = lo.reshape(lo.shape + extra), hi.reshape(hi.shape + extra)
        m = a + t * (b - a)
        return m, (m - a) / Z95, (b - m) / Z95

    curve = _mean(*exact(np.broadcast_to(_GRID, (len(mean), len(_GRID)))))  # (states, grid)
    above = curve >= mean[:, None]
    below = ~above
    crossing = np.argmax(above[:, :-1] != above[:, 1:], axis=1)
    has = (above[:, :-1] != above[:, 1:]).any(axis=1)
    t = _bisect(lambda x: _mean(*exact(x)), _GRID[crossing], _GRID[crossing + 1], mean)
    location, scale_low, scale_high = exact(t)
    short = ~has
    too_high = short & above.all(axis=1)  # even the median at low gives too high a mean
    too_low = short & below.all(axis=1)
    if too_high.any() or too_low.any():
        anchor = np.where(too_high, lo, hi)
        sign = np.where(too_high, 1.0, -1.0)

        def plain(s):
            return anchor + sign * Z95 * s, s, s

        s = _bisect(lambda x: _mean(*plain(x)), np.zeros_like(mean), width / (2 * Z95), mean)
        loc2, s2, _ = plain(s)
        location = np.where(short, loc2, location)
        scale_low = np.where(short, s2, scale_low)
        scale_high = np.where(short, s2, scale_high)
    return location, scale_low, scale_high, short


def _lhs(k: int, draws: int) -> np.ndarray:
    """Return a fixed Latin-hypercube sample of ``k`` standard normals, ``(draws, k)`` (a random point per stratum)."""
    rng = np.random.default_rng(20240607)
    strata = np.arange(draws)
    return np.stack([special.ndtri((rng.permutation(strata) + rng.random(draws)) / draws) for _ in range(k)], axis=1)


def _normalised_means(location, scale_low, scale_high, z):
    """Means of ``exp(y_i) / sum_j exp(y_j)``: each state integrated by quadrature given the others' sum.

    Integrating a state's own normal exactly (rather than sampling it) removes the noise of its
    heavy upper tail; the sum of the other states is sampled from ``z``.
    """
    y = _split(location, scale_low, scale_high, z)
    top = y.max(axis=1, keepdims=True)
    x = np.exp(y - top)
    log_rest = np.log(np.maximum(x.sum(axis=1, keepdims=True) - x, np.finfo(float).tiny)) + top
    out = np.empty(len(location))
    for i in range(len(location)):
        own = location[i] + _ZC * np.where(_ZC < 0, scale_low[i], scale_high[i])
        out[i] = (special.expit(own[None, :] - log_rest[:, i : i + 1]) @ _WC).mean()
    return out


def _calibrate(mean, location, scale_low, scale_high, fixed_row):
    """Split normals of the log of each state such that the normalised states keep the marginals.

    Starting from each state's own split logit-normal (mean, 2.5% and 97.5% quantiles), the
    locations are shifted until the normalised means are ``mean`` and the scales rescaled until
    the normalised quantiles are the same as the starting ones, on a fixed Latin-hypercube sample
    of :data:`CALIBRATION_DRAWS`; then, the scales fixed, the locations are shifted until the means
    on a sample of :data:`MEAN_DRAWS` are within :data:`MEAN_TOLERANCE`.
    """
    lo = location - Z95 * scale_low
    hi = location + Z95 * scale_high
    location = np.log(mean)
    scale_low, scale_high = scale_low.copy(), scale_high.copy()

    def mean_ratio(z):
        y = _split(location, scale_low, scale_high, z)
        x = np.exp(y - y.max(axis=1, keepdims=True))
        return y, mean / (x / x.sum(axis=1, keepdims=True) * mean.sum()).mean(axis=0)

    z = _lhs(len(mean), CALIBRATION_DRAWS)
    for _ in range(MAX_CALIBRATION_STEPS):
        y, ratio = mean_ratio(z)
        location = location + np.log(ratio)
        ordered = np.sort(_logits(y), axis=0)
        q_lo, med, q_hi = ordered[[round(0.025 * len(z)), len(z) // 2, round(0.975 * len(z)) - 1]]
        grow_lo = np.clip(np.where(med > lo, (med - lo) / np.maximum(med - q_lo, 1e-9), 0.5), 0.5, 2.0)
        grow_hi = np.clip(np.where(hi > med, (hi - med) / np.maximum(q_hi - med, 1e-9), 0.5), 0.5, 2.0)
        grow_lo, grow_hi = np.where(fixed_row, 1.0, grow_lo), np.where(fixed_row, 1.0, grow_hi)
        if np.max(np.abs(ratio - 1)) < MEAN_TOLERANCE and np.max(np.abs(np.log([grow_lo, grow_hi]))) < 1e-3:
            break
        scale_low, scale_high = scale_low * np.sqrt(grow_lo), scale_high * np.sqrt(grow_hi)
    z = _lhs(len(mean), MEAN_DRAWS)
    for _ in range(MAX_CALIBRATION_STEPS):
        ratio = mean / (_normalised_means(location, scale_low, scale_high, z) * mean.sum())
        location = location + np.log(ratio) / np.maximum(1 - mean, 0.1)  # d log mean_i / d location_i ~ 1 - mean_i
        if np.max(np.abs(ratio - 1)) < MEAN_TOLERANCE:
            break
    return location, scale_low, scale_high


def _probability_column(index: int, rows: Sequence[Parameter]) -> ColumnDistribution:
    mean = np.array([r.value for r in rows])
    low = np.array([r.low for r in rows])
    high = np.array([r.high for r in rows])
    free = (mean > 0) & (mean < 1)
    if free.sum() < 2 or np.all(low[free] == high[free]):
        return ColumnDistribution(index, "fixed", tuple(rows), mean)
    drawn = free.copy()
    if free.sum() == 2:
        first, second = np.flatnonzero(free)
        drawn[second if mean[first] <= mean[second] else first] = False
    idx = np.flatnonzero(drawn)
    low, high = reachable_range(rows)
    lo, hi = np.array([_targets(mean[i], low[i], high[i]) for i in idx]).T
    fixed_row = low[idx] == high[idx]
    loc, s_lo, s_hi, short = _fit_states(mean[idx], lo, hi)
    s_lo, s_hi = np.where(fixed_row, 0.0, s_lo), np.where(fixed_row, 0.0, s_hi)
    location = np.full(len(rows), np.nan)
    scale_low = np.full(len(rows), np.nan)
    scale_high = np.full(len(rows), np.nan)
    location[idx], scale_low[idx], scale_high[idx] = loc, s_lo, s_hi
    if len(idx) > 2:
        location[idx], scale_low[idx], scale_high[idx] = _calibrate(mean[idx], loc, s_lo, s_hi, fixed_row)
    flags = np.zeros(len(rows), dtype=bool)
    flags[idx] = short
    if len(idx) == 1:
        flags[free] = short[0]
    kind = "logit_normal" if len(idx) == 1 else "normalised"
    return ColumnDistribution(index, kind, tuple(rows), mean, location, scale_low, scale_high, flags)


def _relative_risk(index: int, row: Parameter) -> ColumnDistribution:
    mean = np.array([row.value])
    if row.value <= 0 or row.low == row.high:
        return ColumnDistribution(index, "fixed", (row,), mean)
    s_lo = np.log(row.value / row.low) / Z95 if 0 < row.low < row.value else np.nan
    s_hi = np.log(row.high / row.value) / Z95 if row.high > row.value else np.nan
    s_lo, s_hi = (s_hi if np.isnan(s_lo) else s_lo), (s_lo if np.isnan(s_hi) else s_hi)
    if not (s_lo > 0 and s_hi > 0):
        return ColumnDistribution(index, "fixed", (row,), mean)
    return ColumnDistribution(
        index, "lognormal", (row,), mean, np.log(mean), np.array([s_lo]), np.array([s_hi]), np.zeros(1, dtype=bool)
    )


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

"""A distribution for every parameter column, fitted to the rows' plausible ranges.

Two-state columns are Beta, larger ones independent Gamma draws normalised (each state with its
own concentration), relative risks lognormal; structural zeros and ones stay fixed (see
:mod:`fasciculation_dx.analysis.uncertainty`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..network.priors import Parameter, Priors

__all__ = ["ColumnDistribution", "fit_distributions"]

BASE_RATES = "base_rates.csv"
MODIFIERS = "etiology_modifiers.csv"
Z95 = 1.959963984540054
KAPPA_GRID = np.logspace(np.log10(0.5), 6, 361)


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

"""The ranges calibration writes: posterior spread from the observed information, not the counts.

Treating expected counts as observed counts (a conjugate ``Dir(alpha p + n)``) overstates what a
cohort says about a latent mechanism or a mostly missing finding: a case whose mechanism state is
uncertain adds a full expected count but little information. The ranges are therefore computed
from the information the *observed* data carry (Louis, J R Stat Soc B 1982;44:226-233), estimated
as the sum over cases of the outer products of each case's expected complete-data score (its
observed-data score: the empirical Fisher information, an estimate of the score's covariance that
needs only first derivatives; Delattre and Kuhn, Computo 2023, doi:10.57750/r5gx-jk62),
which the E-step gives exactly:

- each column of a table (and one setting's base rates) is a multinomial parametrised by its
  states other than its largest one; a case's score for state ``s`` of column ``c`` is
  ``x_s / p_s - x_ref / p_ref``, where ``x`` is the case's posterior probability of falling in
  column ``c`` with that state (a finding not recorded contributes nothing, exactly);
- the prior adds ``a_s / p_s^2`` on the diagonal and ``a_ref / p_ref^2`` on the column's block,
  with ``a = alpha p`` its pseudo-counts (each base rate has its own Beta, as in the update);
- the inverse of the summed information is the posterior covariance, cross-table correlations
  (a mechanism's rows against its findings') included; each row's variance gives a Beta with the
  row's written value as its mean (its concentration is ``p (1 - p) / variance - 1``), and the
  written range is that Beta's central 95% interval.

A context or trigger node that is not recorded is counted as contributing nothing to its own
row's information (what findings say about an unrecorded age or exposure is small); this errs
toward wider ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from .em import ArrayModel, Arrays, CaseData, RootFactor, blocks

__all__ = ["posterior_concentrations", "beta_interval"]

MIN_CONCENTRATION = 1e-3
"""The smallest concentration given to a row (a variance at or above ``p (1 - p)`` says almost nothing)."""


@dataclass
class _Table:
    """The free rows of one table (or one setting's base rates) and their place in the parameter vector."""

    theta: np.ndarray  # (n_cols, S) values
    index: np.ndarray  # (n_cols, S) position in the parameter vector, -1 for the reference or a fixed row
    ref: np.ndarray  # (n_cols,) the reference state of each column, -1 when the column is fixed


def _layout(values: np.ndarray, free_columns: np.ndarray, start: int) -> tuple[_Table, int]:
    n_cols, n_states = values.shape
    index = np.full((n_cols, n_states), -1, dtype=np.intp)
    ref = np.full(n_cols, -1, dtype=np.intp)
    for c in np.flatnonzero(free_columns):
        positive = np.flatnonzero(values[c] > 0)
        if len(positive) < 2:
            continue
        ref[c] = int(positive[np.argmax(values[c, positive])])
        for s in positive:
            if s != ref[c]:
                index[c, s] = start
                start += 1
    return _Table(values, index, ref), start


def _scores(x: np.ndarray, table: _Table, out: np.ndarray) -> None:
    """Write each case's score ``x_s / p_s - x_ref / p_ref`` into its columns of ``out``."""
    cols = np.flatnonzero(table.ref >= 0)
    if not len(cols):
        return
    theta = np.where(table.theta > 0, table.theta, 1.0)
    ratio = x[:, cols, :] / theta[cols]
    ref = ratio[:, np.arange(len(cols)), table.ref[cols]]
    score = ratio - ref[:, :, None]
    mask = table.index[cols] >= 0
    out[:, table.index[cols][mask]] = score[:, mask]


def _one_hot(codes: np.ndarray, n_states: int) -> np.ndarray:
    out = np.zeros((len(codes), n_states))
    seen = np.flatnonzero(codes >= 0)
    out[seen, codes[seen]] = 1.0
    return out


def posterior_concentrations(
    model: ArrayModel,
    data: CaseData,
    arrays: Mapping[str, Arrays],
    values: Mapping[str, np.ndarray],
    base: Mapping[str, np.ndarray],
) -> dict[tuple[str, int], float]:
    """Return the concentration of every free row's posterior Beta, from the observed information.

    See the module docstring; :func:`beta_interval` turns a row's value and concentration into a
    range.

    Parameters
    ----------
    model, data, arrays
        The calibration's model, cases and compiled arrays at the fitted values.
    values, base
        The fitted column values per table and base rates per setting (the prior's pseudo-counts
        are the model's, read off the values before calibration).

    Returns
    -------
    dict
        ``(file, line) -> concentration`` for every row with a value strictly between 0 and 1 in a
        column that calibration may change.
    """
    tables: dict[str, _Table] = {}
    start = 0
    for node, table in model.tables.items():
        tables[node], start = _layout(values[node], np.isfinite(table.alpha), start)
    rates: dict[str, _Table] = {}
    for setting in data.groups:
        alpha = model.base_alpha[setting]
        rates[setting], start = _layout(base[setting][None, :], np.array([True]), start)
        rates[setting].index[0, ~np.isfinite(alpha)] = -1
    n = start
    information = np.zeros((n, n))

    # the prior's information
    diagonal = np.zeros(n)
    for node, t in tables.items():
        theta = np.where(t.theta > 0, t.theta, 1.0)
        for c in np.flatnonzero(t.ref >= 0):
            free = t.index[c] >= 0
            idx = t.index[c][free]
            pseudo = model.tables[node].pseudo
            diagonal[idx] += pseudo[c][free] / theta[c][free] ** 2
            information[np.ix_(idx, idx)] += pseudo[c, t.ref[c]] / theta[c, t.ref[c]] ** 2
    for setting, t in rates.items():
        a, b = model.rate_pseudo[setting]
        theta = t.theta[0]
        free = t.index[0] >= 0
        idx = t.index[0][free]
        diagonal[idx] += (a / theta**2 + b / (1 - theta) ** 2)[free]
        r = t.ref[0]
        information[np.ix_(idx, idx)] += a[r] / theta[r] ** 2
    information[np.diag_indices(n)] += diagonal

    # the data's information: sum over cases of weight * score score^T
    via_to_columns = {f: model.via_pool[f] @ model.tables[f].pool_matrix for f in model.via_nodes}
    # per component, the configurations where each (mechanism, state) holds, mechanism by mechanism
    state_masks = [
        [
            comp.configs[:, j] == s
            for j, i in enumerate(comp.mechanisms)
            for s in range(len(model.tables[model.mechanisms[i]].states))
        ]
        for comp in model.components
    ]
    for setting, members in data.groups.items():
        arr = arrays[setting]
        roots = RootFactor(model, data, arr, members)
        # P(k_c | e) restricted to each (mechanism, state) of a component, side by side: (K_c, pairs * n_e)
        by_state = [
            np.concatenate([(pm * mask).T for mask in masks], axis=1)
            for pm, masks in zip(arr.mech_given_e, state_masks)
        ]
        for block in blocks(model, data, arr, members, roots, labelled=True):
            m = len(block.rows)
            g = np.zeros((m, n))
            post_e = block.post_e
            _scores(post_e[:, None, :], rates[setting], g)
            for f in model.direct_nodes:
                p_col = post_e @ model.tables[f].pool_matrix
                x = p_col[:, :, None] * block.o_direct[:, None, model.columns[f]]
                _scores(x, tables[f], g)
            for c, comp in enumerate(model.components):
                others = block.others(c)
                post_k = block.configuration_posterior(c, arr, others)
                for f in comp.via_nodes:
                    p_col = post_k @ via_to_columns[f]
                    x = p_col[:, :, None] * block.o_via[:, None, model.columns[f]]
                    _scores(x, tables[f], g)
                joint = (block.mm[c] @ by_state[c]).reshape(m, len(state_masks[c]), -1) * others[:, None, :]
                k = 0
                for i in comp.mechanisms:
                    node = model.mechanisms[i]
                    n_states = len(model.tables[node].states)
                    x = joint[:, k : k + n_states, :] @ model.tables[node].pool_matrix  # (m, S, n_cols)
                    _scores(x.transpose(0, 2, 1), tables[node], g)
                    k += n_states
            for r in model.roots:
                x = _one_hot(data.codes[r][block.rows], len(model.tables[r].states))[:, None, :]
                _scores(x, tables[r], g)
            g[block.bad] = 0.0
            information += (g * block.weight[:, None]).T @ g

    covariance = _inverse(information)
    out: dict[tuple[str, int], float] = {}
    for node, t in tables.items():
        table = model.tables[node]
        for c in np.flatnonzero(t.ref >= 0):
            for s, row in enumerate(table.rows[c]):
                if row is not None and t.theta[c, s] > 0:
                    out[(row.file, row.line)] = _concentration(t.theta[c, s], _variance(covariance, t, c, s))
    for setting, t in rates.items():
        for s, row in enumerate(model.base_rows[setting]):
            if t.theta[0, s] > 0 and (t.index[0, s] >= 0 or s == t.ref[0]):
                out[(row.file, row.line)] = _concentration(t.theta[0, s], _variance(covariance, t, 0, s))
    return out


def _inverse(information: np.ndarray) -> np.ndarray:
    """Invert a symmetric positive definite matrix after scaling its diagonal to one."""
    scale = np.sqrt(np.where(np.diag(information) > 0, np.diag(information), 1.0))
    scaled = information / np.outer(scale, scale)
    try:
        inverse = linalg.cho_solve(linalg.cho_factor(scaled), np.eye(len(scaled)))
    except linalg.LinAlgError:
        inverse = np.linalg.pinv(scaled, hermitian=True)
    return inverse / np.outer(scale, scale)


def _variance(covariance: np.ndarray, t: _Table, c: int, s: int) -> float:
    if t.index[c, s] >= 0:
        return float(covariance[t.index[c, s], t.index[c, s]])
    idx = t.index[c][t.index[c] >= 0]  # the reference row: minus the sum of the free rows
    return float(covariance[np.ix_(idx, idx)].sum())


def _concentration(value: float, variance: float) -> float:
    """Return the concentration of the Beta with mean ``value`` and the given variance."""
    if not 0 < value < 1 or not variance > 0:
        return float("inf")
    return float(max(value * (1 - value) / variance - 1, MIN_CONCENTRATION))


def beta_interval(value: float, concentration: float, mass: float = 0.95) -> tuple[float, float]:
    """Return the central interval holding ``mass`` of ``Beta(value * concentration, (1 - value) * concentration)``.

    Examples
    --------
    >>> low, high = beta_interval(0.3, 100.0)
    >>> round(low, 2), round(high, 2)
    (0.21, 0.39)
    """
    if not 0 < value < 1 or not np.isfinite(concentration):
        return value, value
    low, high = special.betaincinv(value * concentration, (1 - value) * concentration, [(1 - mass) / 2, (1 + mass) / 2])
    return float(low), float(high)

"""The EM algorithm of calibration: exact expected counts from the compiled arrays.

The E-step computes, for every case, the exact posterior over the etiology and the joint
configuration of the mechanisms (and the unrecorded context and trigger nodes), vectorised over
blocks of cases; the M-step is the Dirichlet posterior mean (see
:mod:`fasciculation_dx.analysis.calibration`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EvidenceError
from ..inference.compiled import CompiledEngine
from ..network.etiology import etiology_table
from ..network.priors import DEFAULT_SETTING, Parameter, Priors
from ..network.tables import match_columns
from .cases import Cases, read_cases
from .pseudocounts import ALPHA_MIN, column_concentration, row_concentration

__all__ = ["case_posteriors"]

CHUNK = 2048


class ColumnTable:
    """One node's CPT as columns x states, with the column each parent configuration takes."""

    def __init__(self, priors: Priors, node: str):
        spec = priors.nodes[node]
        self.node = node
        self.states = spec.states
        self.cards = tuple(len(priors.nodes[p].states) for p in spec.parents)
        rows = priors.cpts[node]
        self.file = rows[0].file
        keys = list(dict.fromkeys(r.key[:-1] for r in rows))
        key_index = {k: i for i, k in enumerate(keys)}
        state_index = {s: i for i, s in enumerate(self.states)}
        self.rows: list[list[Parameter | None]] = [[None] * len(self.states) for _ in keys]
        for r in rows:
            self.rows[key_index[r.key[:-1]]][state_index[r.key[-1]]] = r
        self.values = np.array([[r.value for r in col] for col in self.rows], dtype=float)
        assigned, _, _ = match_columns([priors.nodes[p].states for p in spec.parents], keys)
        # configurations in C order of the parents' states
        parent_states = [priors.nodes[p].states for p in spec.parents]
        import itertools

        self.config_column = np.array(
            [key_index[assigned[c]] for c in itertools.product(*parent_states)], dtype=np.intp
        )
        self.pool_matrix = np.zeros((len(self.config_column), len(keys)))
        self.pool_matrix[np.arange(len(self.config_column)), self.config_column] = 1.0
        self.alpha = np.array([column_concentration(col) for col in self.rows])  # type: ignore[arg-type]

    def dense(self, values: np.ndarray | None = None) -> np.ndarray:
        """``(n_states, *parent cards)`` table from column values."""
        v = self.values if values is None else values
        return v[self.config_column].T.reshape((len(self.states), *self.cards))

    def pool(self, config_counts: np.ndarray) -> np.ndarray:
        """Sum counts ``(n_states, n_configs)`` into the columns: ``(n_columns, n_states)``."""
        return (config_counts @ self.pool_matrix).T


@dataclass
class Arrays:
    """One setting's compiled arrays at the current parameter values."""

    root_joint: np.ndarray  # (n_e, C) flat over root configurations
    mech_given_e: np.ndarray  # (n_e, K)
    direct: dict[str, np.ndarray]  # (S, n_e)
    via: dict[str, np.ndarray]  # (S, K)


class ArrayModel:
    """The compiled engine's arrays, rebuilt quickly from changed column values."""

    def __init__(self, priors: Priors):
        engine = CompiledEngine(
            priors, DEFAULT_SETTING if DEFAULT_SETTING in priors.settings else next(iter(priors.settings))
        )
        self.priors = priors
        self.roots = engine.roots
        # the roots in the engine's two groups: a root configuration's flat index is
        # (first-group configuration) * (second-group size) + (second-group configuration)
        self.root_split = len(engine._root_groups[0])
        self.root_pattern_numbers = engine.root_pattern_numbers
        self.root_patterns = engine._root_patterns  # indicator rows, one per observation pattern of each group
        self.mechanisms = engine.mechanisms
        self.configs = engine.mechanism_configs
        self.direct_nodes = tuple(engine.direct)
        self.via_nodes = tuple(engine.via_mechanisms)
        self.tables = {n: ColumnTable(priors, n) for n in priors.cpts}
        mech_index = {m: i for i, m in enumerate(self.mechanisms)}
        self.via_cols = {f: [mech_index[p] for p in priors.nodes[f].parents] for f in self.via_nodes}
        # flat index of each finding's parent configuration for every joint mechanism configuration
        self.via_config = {
            f: np.ravel_multi_index(tuple(self.configs[:, c].T), self.tables[f].cards)
            if c
            else np.zeros(len(self.configs), dtype=np.intp)
            for f, c in self.via_cols.items()
        }
        self.via_pool = {}
        for f, config in self.via_config.items():
            pool = np.zeros((len(self.configs), int(np.prod(self.tables[f].cards, dtype=int))))
            pool[np.arange(len(self.configs)), config] = 1.0
            self.via_pool[f] = pool
        root_cards = [len(priors.nodes[r].states) for r in self.roots]
        cards_a, cards_b = root_cards[: self.root_split], root_cards[self.root_split :]
        self.root_configs_a = np.array(np.unravel_index(np.arange(int(np.prod(cards_a))), cards_a)).T.reshape(
            -1, len(cards_a)
        )
        self.root_configs_b = np.array(np.unravel_index(np.arange(int(np.prod(cards_b))), cards_b)).T.reshape(
            -1, len(cards_b)
        )
        self.etiologies = priors.etiology_states
        self.base_rows = {
            s: [next(p for p in priors.base_rates if p.key == (s, e)) for e in self.etiologies] for s in priors.settings
        }
        # each base rate has its own Beta prior, read off its own range (a rare cause's rate keeps its
        # range when a cohort simply has none of it); see the calibration module
        self.base_alpha = {s: np.array([_rate_concentration(p) for p in rows]) for s, rows in self.base_rows.items()}

    def with_values(self, values: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray], nodes=None) -> Priors:
        """Priors whose base rates and CPT rows (of ``nodes``, default all) carry the given values."""
        base_rates = []
        for p in self.priors.base_rates:
            i = self.etiologies.index(p.key[1])
            base_rates.append(dataclasses.replace(p, value=float(base[p.key[0]][i])))
        cpts = {}
        for node, rows in self.priors.cpts.items():
            if nodes is not None and node not in nodes:
                cpts[node] = rows
                continue
            table = self.tables[node]
            new = {
                (r.file, r.line): float(values[node][i, j])
                for i, col in enumerate(table.rows)
                for j, r in enumerate(col)
                if r is not None
            }
            cpts[node] = tuple(dataclasses.replace(r, value=new[(r.file, r.line)]) for r in rows)
        return dataclasses.replace(self.priors, base_rates=tuple(base_rates), cpts=cpts)

    def arrays(self, values: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray], settings) -> dict[str, Arrays]:
        """Build the compiled arrays of every setting in ``settings`` for the given values."""
        priors = self.with_values(values, base, nodes=self.roots)  # all the etiology's rule reads
        pm = np.ones((len(self.etiologies), len(self.configs)))
        for i, m in enumerate(self.mechanisms):
            table = self.tables[m].dense(values[m])  # (S, n_e)
            pm *= table[self.configs[:, i], :].T
        direct = {f: self.tables[f].dense(values[f]) for f in self.direct_nodes}
        via = {
            f: self.tables[f].dense(values[f]).reshape(len(self.tables[f].states), -1)[:, self.via_config[f]]
            for f in self.via_nodes
        }
        out = {}
        for setting in settings:
            joint = etiology_table(priors, setting)
            for axis, root in enumerate(self.roots, start=1):
                prior = self.tables[root].dense(values[root])
                shape = [1] * joint.ndim
                shape[axis] = len(prior)
                joint = joint * prior.reshape(shape)
            out[setting] = Arrays(joint.reshape(joint.shape[0], -1), pm, direct, via)
        return out


# -- the E-step ----------------------------------------------------------------------------------
@dataclass
class Counts:
    """Expected counts of one E-step."""

    config: dict[str, np.ndarray]  # node -> (S, n_parent_configs)
    base: dict[str, np.ndarray] = field(default_factory=dict)  # setting -> (n_e,)
    log_likelihood: float = 0.0


ZERO_LOG = -1e6
"""Stands for log(0) in the stacked log tables; ``exp`` of it (after rescaling) is exactly 0."""
IMPOSSIBLE_LOG = -5e5


def _stacked_logs(tables: Mapping[str, np.ndarray], nodes) -> np.ndarray:
    """Stack ``log P(f = s | column)`` of several findings: ``(sum of states, n_columns)``."""
    if not nodes:
        return np.zeros((0, 1))
    stacked = np.concatenate([tables[f] for f in nodes], axis=0)
    with np.errstate(divide="ignore"):
        return np.where(stacked > 0, np.log(np.where(stacked > 0, stacked, 1.0)), ZERO_LOG)


class CaseData:
    """The cases encoded for the E-step: one-hot evidence matrices, grouped by setting."""

    def __init__(self, model: ArrayModel, cases: Cases, default_setting: str):
        priors = model.priors
        self.cases = cases
        codes = cases.codes(priors)
        n = cases.n
        self.codes = {
            node: codes.get(node, np.full(n, -1, dtype=np.intp))
            for node in priors.nodes
            if priors.nodes[node].layer in ("context", "trigger", "finding")
        }
        labels = cases.labels()
        e_index = {e: i for i, e in enumerate(model.etiologies)}
        self.labels = np.array([e_index.get(x, -1) for x in labels], dtype=np.intp)
        settings = cases.settings(default_setting)
        unknown = sorted(set(settings) - set(priors.settings))
        if unknown:
            raise EvidenceError(f"unknown setting {', '.join(unknown)}. Valid settings: {', '.join(priors.settings)}")
        self.groups = {s: np.flatnonzero(settings == s) for s in priors.settings if (settings == s).any()}
        self.direct = self._one_hot(model, model.direct_nodes)
        self.via = self._one_hot(model, model.via_nodes)
        root_codes = (
            np.stack([self.codes[r] for r in model.roots], axis=1) if model.roots else np.zeros((n, 0), dtype=np.intp)
        )
        # each case's observation pattern in each of the engine's two root groups
        self.pattern_a, self.pattern_b = model.root_pattern_numbers(root_codes)
        self.root_seen_counts = {
            r: np.bincount(self.codes[r][self.codes[r] >= 0], minlength=len(priors.nodes[r].states)).astype(float)
            for r in model.roots
        }

    def _one_hot(self, model: ArrayModel, nodes) -> np.ndarray:
        sizes = [len(model.tables[f].states) for f in nodes]
        out = np.zeros((len(self.labels), sum(sizes)))
        offset = 0
        for f, size in zip(nodes, sizes):
            c = self.codes[f]
            seen = np.flatnonzero(c >= 0)
            out[seen, offset + c[seen]] = 1.0
            offset += size
        return out


def _rate_concentration(rate: Parameter) -> float:
    """Return a base rate's Beta concentration from its range (one pseudo-patient when the range says nothing)."""
    alpha = row_concentration(rate.value, rate.low, rate.high)
    return ALPHA_MIN if np.isnan(alpha) else alpha


def rate_posterior_mean(values: np.ndarray, alpha: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Posterior means of base rates under independent Beta priors, renormalised to sum to 1.

    Rate ``i`` has the prior ``Beta(alpha_i p_i, alpha_i (1 - p_i))`` and sees ``n_i`` of ``N``
    cases, so its mean is ``(alpha_i p_i + n_i) / (alpha_i + N)``; the means are then divided by
    their sum. A fixed rate (infinite ``alpha_i``) keeps its value before the division.
    """
    total = counts.sum()
    if total <= 0:
        return values.copy()
    fixed = ~np.isfinite(alpha)
    a = np.where(fixed, 0.0, alpha)
    out = np.where(fixed, values, (a * values + counts) / (a + total))
    return out / out.sum()


def _groups(labels: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``[(label, positions)]`` for every distinct label of an integer array."""
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    return [(int(v), order[a:b]) for v, a, b in zip(values, starts, [*starts[1:], len(order)])]


def expected_counts(
    model: ArrayModel,
    data: CaseData,
    arrays: Mapping[str, Arrays],
    *,
    labelled: bool = True,
    posteriors: np.ndarray | None = None,
) -> Counts:
    """Compute expected counts (and optionally posteriors over the etiology) for every case."""
    n_e, k = len(model.etiologies), len(model.configs)
    counts = Counts({n: np.zeros((len(t.states), int(np.prod(t.cards, dtype=int)))) for n, t in model.tables.items()})
    mech_counts = np.zeros((n_e, k))
    direct_counts = np.zeros((data.direct.shape[1], n_e))
    via_counts = np.zeros((data.via.shape[1], k))
    impossible: list[int] = []
    for setting, members in data.groups.items():
        arr = arrays[setting]
        log_direct = _stacked_logs(arr.direct, model.direct_nodes)  # (sum S, n_e)
        log_via = _stacked_logs(arr.via, model.via_nodes)  # (sum S, K)
        base = np.zeros(n_e)
        # the root factor in two steps (as the compiled engine): the joint summed over the first
        # group's recorded pattern, for every pattern in these cases: (P, n_e, K_b)
        ia, ib = model.root_patterns
        k_a, k_b = ia.shape[1], ib.shape[1]
        joint3 = arr.root_joint.reshape(n_e, k_a, k_b)
        present, first_of = np.unique(data.pattern_a[members], return_inverse=True)
        by_first = (ia[present] @ joint3.transpose(1, 0, 2).reshape(k_a, -1)).reshape(len(present), n_e, k_b)
        # sums over cases of their (posterior-weighted) second-group indicators, per first pattern,
        # for the expected counts of unrecorded roots
        weighted = np.zeros((len(present), n_e, k_b))
        for start in range(0, len(members), CHUNK):
            idx = members[start : start + CHUNK]
            first = first_of[start : start + CHUNK]
            o_direct, o_via = data.direct[idx], data.via[idx]
            ld = o_direct @ log_direct
            lm = o_via @ log_via
            top_d, top_m = ld.max(axis=1), lm.max(axis=1)
            bad = (top_d < IMPOSSIBLE_LOG) | (top_m < IMPOSSIBLE_LOG)
            d = np.exp(ld - top_d[:, None])
            mm = np.exp(lm - top_m[:, None])
            second = ib[data.pattern_b[idx]]  # (m, K_b)
            roots = np.empty((len(idx), n_e))
            groups = _groups(first)
            for p, rows in groups:
                roots[rows] = second[rows] @ by_first[p].T
            a = roots * d  # (m, n_e)
            if labelled:
                lab = data.labels[idx]
                has = np.flatnonzero(lab >= 0)
                keep = np.ones_like(a)
                keep[has] = 0.0
                keep[has, lab[has]] = 1.0
                a *= keep
            b = mm @ arr.mech_given_e.T  # (m, n_e)
            joint = a * b
            z = joint.sum(axis=1)
            bad |= ~(z > 0)
            if bad.any():
                impossible.extend(idx[bad].tolist())
                z[bad] = 1.0
                joint[bad] = 0.0
                a[bad] = 0.0
            counts.log_likelihood += float(np.sum(np.log(z[~bad]) + top_d[~bad] + top_m[~bad]))
            post_e = joint / z[:, None]
            if posteriors is not None:
                posteriors[idx] = post_e
            base += post_e.sum(axis=0)
            az = a / z[:, None]
            post_k = mm * (az @ arr.mech_given_e)  # (m, K)
            mech_counts += arr.mech_given_e * (az.T @ mm)
            direct_counts += o_direct.T @ post_e
            via_counts += o_via.T @ post_k
            # context and trigger nodes: each case's posterior over the root configurations is
            # its indicators times sum_e w(e) P(e, c) / z with w = d b (the label, when known,
            # restricts e); summed over cases per first-group pattern it is one product
            if model.roots:
                w = d * b * (a > 0) / z[:, None]
                w[bad] = 0.0
                for p, rows in groups:
                    weighted[p] += w[rows].T @ second[rows]
        if model.roots:
            # sum over cases of the posterior over (first, second) group configurations, marginalised
            # to each root; recorded roots contribute their own state, counted separately below
            over_a = (ia[present] * np.einsum("eab,peb->pa", joint3, weighted)).sum(axis=0)  # (K_a,)
            over_b = np.einsum("peb,peb->b", by_first, weighted)  # (K_b,)
            for j, root in enumerate(model.roots):
                over, configs = (
                    (over_a, model.root_configs_a[:, j])
                    if j < model.root_split
                    else (
                        over_b,
                        model.root_configs_b[:, j - model.root_split],
                    )
                )
                total = np.bincount(configs, weights=over, minlength=len(model.tables[root].states))
                seen = data.codes[root][members]
                recorded = np.bincount(seen[seen >= 0], minlength=len(model.tables[root].states))
                counts.config[root][:, 0] += np.clip(total - recorded, 0.0, None)
        counts.base[setting] = base
    if impossible:
        rows = data.cases.row_numbers()[sorted(impossible)]
        shown = ", ".join(map(str, rows[:20])) + (f" and {len(rows) - 20} more" if len(rows) > 20 else "")
        raise EvidenceError(
            f"{len(rows)} case{'s' if len(rows) != 1 else ''} of {data.cases.name} "
            f"{'have' if len(rows) != 1 else 'has'} probability zero under the model"
            f"{' (with the confirmed etiology)' if labelled else ''}: rows {shown}. "
            "Check these rows for a typo or a contradiction"
        )
    for root in model.roots:
        counts.config[root][:, 0] += data.root_seen_counts[root]
    offset = 0
    for f in model.direct_nodes:
        size = len(model.tables[f].states)
        counts.config[f] += direct_counts[offset : offset + size]
        offset += size
    offset = 0
    for f in model.via_nodes:
        size = len(model.tables[f].states)
        counts.config[f] += via_counts[offset : offset + size] @ model.via_pool[f]
        offset += size
    for i, mech in enumerate(model.mechanisms):
        table = counts.config[mech]
        for s in range(table.shape[0]):
            table[s] += mech_counts[:, model.configs[:, i] == s].sum(axis=1)
    return counts


def case_posteriors(
    priors: Priors, cases: Cases | str | Path | pd.DataFrame, setting: str = DEFAULT_SETTING
) -> np.ndarray:
    """Exact etiology posteriors of every case, ignoring its ``etiology`` column.

    Parameters
    ----------
    priors
        The model's priors.
    cases
        Cases (or a case file / data frame); each row uses its own ``setting`` when given.
    setting
        The setting of rows without one.

    Returns
    -------
    numpy.ndarray
        ``(n_cases, n_etiologies)`` in the priors' etiology order; each row sums to 1.

    Raises
    ------
    EvidenceError
        If some cases have probability zero (all such rows are named).
    """
    cases = read_cases(cases, priors)
    model = ArrayModel(priors)
    data = CaseData(model, cases, setting)
    values = {n: t.values for n, t in model.tables.items()}
    base = {s: np.array([p.value for p in rows]) for s, rows in model.base_rows.items()}
    arrays = model.arrays(values, base, data.groups)
    out = np.zeros((cases.n, len(model.etiologies)))
    expected_counts(model, data, arrays, labelled=False, posteriors=out)
    return out


# -- the M-step and the result -----------------------------------------------------------------
def posterior_mean(values: np.ndarray, alpha: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Posterior mean of each column under ``Dir(alpha * values)``; columns with infinite alpha or no counts stay."""
    out = values.copy()
    n = counts.sum(axis=1)
    move = np.isfinite(alpha) & (n > 0)
    a = alpha[move, None]
    out[move] = (a * values[move] + counts[move]) / (a + n[move, None])
    return out

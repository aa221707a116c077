"""The EM algorithm of calibration: exact expected counts from the compiled arrays.

The E-step computes, for every case, the exact posterior over the etiology and the joint
configuration of the mechanisms (and the unrecorded context and trigger nodes), vectorised over
blocks of cases; the M-step is the Dirichlet posterior mean (see
:mod:`fasciculation_dx.analysis.calibration`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EvidenceError
from ..inference.compiled import CompiledEngine
from ..network.etiology import fit_etiology
from ..network.priors import DEFAULT_SETTING, Parameter, Priors
from ..network.tables import match_columns
from .cases import Cases, read_cases
from .pseudocounts import ALPHA_MIN, column_concentration, row_concentration

__all__ = ["case_posteriors"]

CHUNK = 2048
ROOT_BATCH = 64
"""First-group root patterns whose weights are formed at a time (a few MB)."""


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
        self.config_column = np.array(
            [key_index[assigned[c]] for c in itertools.product(*parent_states)], dtype=np.intp
        )
        self.pool_matrix = np.zeros((len(self.config_column), len(keys)))
        self.pool_matrix[np.arange(len(self.config_column)), self.config_column] = 1.0
        self.alpha = np.array([column_concentration(col) for col in self.rows])  # type: ignore[arg-type]
        # the prior's pseudo-counts alpha * p per row (0 in fixed columns, which never change)
        self.pseudo = np.where(np.isfinite(self.alpha), self.alpha, 0.0)[:, None] * self.values

    def dense(self, values: np.ndarray | None = None) -> np.ndarray:
        """``(n_states, *parent cards)`` table from column values."""
        v = self.values if values is None else values
        return v[self.config_column].T.reshape((len(self.states), *self.cards))

    def pool(self, config_counts: np.ndarray) -> np.ndarray:
        """Sum counts ``(n_states, n_configs)`` into the columns: ``(n_columns, n_states)``."""
        return (config_counts @ self.pool_matrix).T


@dataclass(frozen=True)
class Component:
    """Mechanisms linked by shared findings: independent of the others given the etiology."""

    mechanisms: tuple[int, ...]  # positions in ArrayModel.mechanisms
    configs: np.ndarray  # (K_c, len(mechanisms)) joint states, C order
    via_nodes: tuple[str, ...]  # the findings whose parents lie in this component
    via_slice: slice  # their one-hot columns in CaseData.via


@dataclass
class Arrays:
    """One setting's compiled arrays at the current parameter values."""

    root_joint: np.ndarray  # (n_e, C) flat over root configurations
    mech_given_e: list[np.ndarray]  # per component (n_e, K_c)
    direct: dict[str, np.ndarray]  # (S, n_e)
    via: dict[str, np.ndarray]  # (S, K_c) over the finding's component


def _slices(priors: Priors, nodes) -> dict[str, slice]:
    """Consecutive column slices, one per node, as wide as its number of states."""
    out, offset = {}, 0
    for node in nodes:
        size = len(priors.nodes[node].states)
        out[node] = slice(offset, offset + size)
        offset += size
    return out


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
        self.direct_nodes = tuple(engine.direct)
        self.tables = {n: ColumnTable(priors, n) for n in priors.cpts}
        # the mechanisms' independent components (as the compiled engine's), each with its own
        # joint configurations and the findings that hang off it
        groups = [
            (
                sorted(names, key=self.mechanisms.index),
                tuple(f for f in engine.via_mechanisms if priors.nodes[f].parents[0] in names),
            )
            for names, _ in engine._components
        ]
        self.via_nodes = tuple(f for _, via in groups for f in via)
        # each finding's columns in the one-hot matrices CaseData.direct and CaseData.via
        self.columns = {**_slices(priors, self.direct_nodes), **_slices(priors, self.via_nodes)}
        components = []
        for members, via in groups:
            cards = [len(priors.nodes[m].states) for m in members]
            configs = np.array(list(itertools.product(*[range(c) for c in cards])), dtype=np.intp)
            start = self.columns[via[0]].start if via else 0
            stop = self.columns[via[-1]].stop if via else 0
            components.append(
                Component(tuple(self.mechanisms.index(m) for m in members), configs, via, slice(start, stop))
            )
        self.components = tuple(components)
        # flat index of each finding's parent configuration for every configuration of its component
        self.via_config = {}
        self.via_pool = {}
        for comp in self.components:
            local = [self.mechanisms[i] for i in comp.mechanisms]
            for f in comp.via_nodes:
                cols = [local.index(p) for p in priors.nodes[f].parents]
                config = np.ravel_multi_index(tuple(comp.configs[:, cols].T), self.tables[f].cards)
                self.via_config[f] = config
                pool = np.zeros((len(comp.configs), int(np.prod(self.tables[f].cards, dtype=int))))
                pool[np.arange(len(comp.configs)), config] = 1.0
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
        # each rate's Beta pseudo-counts (alpha p, alpha (1 - p)); 0 for a fixed rate
        self.rate_pseudo = {}
        for s, rows in self.base_rows.items():
            alpha = np.where(np.isfinite(self.base_alpha[s]), self.base_alpha[s], 0.0)
            p = np.array([r.value for r in rows])
            self.rate_pseudo[s] = (alpha * p, alpha * (1 - p))
        self._fitted: dict[str, np.ndarray] = {}  # the etiology fit's last weights: the next fit starts there

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
        pms = []
        for comp in self.components:
            pm = np.ones((len(self.etiologies), len(comp.configs)))
            for j, i in enumerate(comp.mechanisms):
                table = self.tables[self.mechanisms[i]].dense(values[self.mechanisms[i]])  # (S, n_e)
                pm *= table[comp.configs[:, j], :].T
            pms.append(pm)
        direct = {f: self.tables[f].dense(values[f]) for f in self.direct_nodes}
        via = {
            f: self.tables[f].dense(values[f]).reshape(len(self.tables[f].states), -1)[:, self.via_config[f]]
            for f in self.via_nodes
        }
        out = {}
        for setting in settings:
            joint, self._fitted[setting] = fit_etiology(priors, setting, self._fitted.get(setting))
            for axis, root in enumerate(self.roots, start=1):
                prior = self.tables[root].dense(values[root])
                shape = [1] * joint.ndim
                shape[axis] = len(prior)
                joint = joint * prior.reshape(shape)
            out[setting] = Arrays(joint.reshape(joint.shape[0], -1), pms, direct, via)
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


def _stacked_logs(tables: Mapping[str, np.ndarray], nodes, width: int) -> np.ndarray:
    """Stack ``log P(f = s | column)`` of several findings: ``(sum of states, width)``."""
    if not nodes:
        return np.zeros((0, width))
    stacked = np.concatenate([tables[f] for f in nodes], axis=0)
    with np.errstate(divide="ignore"):
        return np.where(stacked > 0, np.log(np.where(stacked > 0, stacked, 1.0)), ZERO_LOG)


class CaseData:
    """The cases encoded for the E-step: one-hot evidence matrices, grouped by setting.

    Identical cases (the same setting, confirmed etiology and recorded states) are encoded once,
    with a weight that counts them; ``inverse`` maps every case to its distinct row.
    """

    def __init__(self, model: ArrayModel, cases: Cases, default_setting: str):
        priors = model.priors
        self.cases = cases
        codes = cases.codes(priors)
        n = cases.n
        evidence_nodes = [n_ for n_ in priors.nodes if priors.nodes[n_].layer in ("context", "trigger", "finding")]
        full = {node: codes.get(node, np.full(n, -1, dtype=np.intp)) for node in evidence_nodes}
        e_index = {e: i for i, e in enumerate(model.etiologies)}
        labels = np.array([e_index.get(x, -1) for x in cases.labels()], dtype=np.intp)
        settings = cases.settings(default_setting)
        unknown = sorted(set(settings) - set(priors.settings))
        if unknown:
            raise EvidenceError(f"unknown setting {', '.join(unknown)}. Valid settings: {', '.join(priors.settings)}")
        setting_index = {s: i for i, s in enumerate(priors.settings)}
        setting_codes = np.array([setting_index[s] for s in settings], dtype=np.intp).reshape(n)
        key = np.column_stack([setting_codes, labels, *full.values()]) if n else np.zeros((0, 2), dtype=np.intp)
        _, first, inverse, weights = np.unique(key, axis=0, return_index=True, return_inverse=True, return_counts=True)
        self.n_cases = n
        self.cards = {node: len(priors.nodes[node].states) for node in evidence_nodes}
        self.inverse = inverse.reshape(-1)
        self.weights = weights.astype(float)
        self.codes = {node: c[first] for node, c in full.items()}
        self.labels = labels[first]
        unique_settings = setting_codes[first]
        self.groups = {
            s: np.flatnonzero(unique_settings == i)
            for i, s in enumerate(priors.settings)
            if (unique_settings == i).any()
        }
        self.direct = self._one_hot(model, model.direct_nodes)
        self.via = self._one_hot(model, model.via_nodes)
        root_codes = (
            np.stack([self.codes[r] for r in model.roots], axis=1)
            if model.roots
            else np.zeros((len(first), 0), dtype=np.intp)
        )
        # each case's observation pattern in each of the engine's two root groups
        self.pattern_a, self.pattern_b = model.root_pattern_numbers(root_codes)
        self.root_seen_counts = {r: self.recorded_counts(r, np.arange(len(first))) for r in model.roots}

    def recorded_counts(self, node: str, rows: np.ndarray) -> np.ndarray:
        """Weighted counts of each recorded state of ``node`` among the distinct rows ``rows``."""
        c = self.codes[node][rows]
        seen = c >= 0
        return np.bincount(c[seen], weights=self.weights[rows][seen], minlength=self.cards[node])

    def _one_hot(self, model: ArrayModel, nodes) -> np.ndarray:
        out = np.zeros((len(self.labels), sum(len(model.tables[f].states) for f in nodes)))
        for f in nodes:
            c = self.codes[f]
            seen = np.flatnonzero(c >= 0)
            out[seen, model.columns[f].start + c[seen]] = 1.0
        return out

    def case_rows(self, distinct: np.ndarray) -> np.ndarray:
        """Positions of the cases (in file order) whose distinct rows are ``distinct``."""
        return np.flatnonzero(np.isin(self.inverse, distinct))


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


class RootFactor:
    """The root factor of one setting's cases, once per distinct pair of root-group patterns.

    As in the compiled engine, the joint of the etiology and the roots is first summed over each
    first-group pattern present, ``(P, n_e, K_b)``; a case's factor is that times its second-group
    indicator. Cases share patterns, so the factor is computed per distinct pair.
    """

    def __init__(self, model: ArrayModel, data: CaseData, arr: Arrays, members: np.ndarray):
        n_e = len(model.etiologies)
        ia, ib = model.root_patterns
        self.ia, self.ib = ia, ib
        k_a, k_b = ia.shape[1], ib.shape[1]
        self.joint3 = arr.root_joint.reshape(n_e, k_a, k_b)
        self.present, first_of = np.unique(data.pattern_a[members], return_inverse=True)
        first_of = first_of.reshape(-1)
        self.by_first = (ia[self.present] @ self.joint3.transpose(1, 0, 2).reshape(k_a, -1)).reshape(
            len(self.present), n_e, k_b
        )
        pairs, pair_of = np.unique(first_of * len(ib) + data.pattern_b[members], return_inverse=True)
        self.pair_of = pair_of.reshape(-1)  # each member's pair
        self.pair_first, self.pair_second = pairs // len(ib), pairs % len(ib)
        self.pair_groups = _groups(self.pair_first)
        self.factor = np.empty((len(pairs), n_e))
        for p, rows in self.pair_groups:
            self.factor[rows] = ib[self.pair_second[rows]] @ self.by_first[p].T
        # members sorted by pair, to sum weights per pair with one reduceat
        self._by_pair = np.argsort(self.pair_of, kind="stable")
        self._pair_starts = np.searchsorted(self.pair_of[self._by_pair], np.arange(len(pairs)))

    def root_marginals(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum over cases of their posterior over each group's root configurations.

        ``weights`` ``(n_members, n_e)`` is each case's posterior weight per etiology divided by
        its root factor's entries (``w(e) = P(e, evidence) / (z * factor(e))``).
        """
        n_e, k_a, k_b = self.joint3.shape
        if not len(weights):
            return np.zeros(k_a), np.zeros(k_b)
        per_pair = np.add.reduceat(weights[self._by_pair], self._pair_starts, axis=0)
        joint = self.joint3.transpose(0, 2, 1).reshape(n_e * k_b, k_a)
        over_a, over_b = np.zeros(k_a), np.zeros(k_b)
        # the first-group patterns a batch at a time: each pattern's weights over (e, second-group
        # configuration), then sum_e,b joint(e, a, b) weighted(p, e, b) as one matrix product
        groups = self.pair_groups
        weighted = np.empty((min(ROOT_BATCH, len(groups)), n_e, k_b))
        for start in range(0, len(groups), ROOT_BATCH):
            batch = groups[start : start + ROOT_BATCH]
            w = weighted[: len(batch)]
            for i, (_, rows) in enumerate(batch):
                w[i] = per_pair[rows].T @ self.ib[self.pair_second[rows]]
            patterns = [p for p, _ in batch]
            per_pattern = w.reshape(len(batch), -1) @ joint  # (batch, K_a)
            over_a += (self.ia[self.present[patterns]] * per_pattern).sum(axis=0)
            over_b += np.einsum("peb,peb->b", self.by_first[patterns], w)
        return over_a, over_b


@dataclass
class Block:
    """One block of cases of one setting, through the E-step.

    ``a`` is the etiology's prior factor times the direct findings' likelihoods (the label
    applied), ``mm[c]`` the findings' likelihoods over component ``c``'s configurations (each row
    rescaled), ``b[c] = mm[c] @ P(k_c | e)``; the joint over the etiology is ``a * prod(b)``,
    ``z`` its sum and ``post_e`` its normalised rows.
    """

    rows: np.ndarray  # distinct-row indices
    local: slice  # their positions among the setting's members
    weight: np.ndarray
    o_direct: np.ndarray
    o_via: np.ndarray
    d: np.ndarray
    a: np.ndarray
    mm: list[np.ndarray]
    b: list[np.ndarray]
    z: np.ndarray
    post_e: np.ndarray
    log_scale: np.ndarray  # log of the rows' rescaling: log P(evidence) = log z + log_scale
    bad: np.ndarray

    def others(self, c: int) -> np.ndarray:
        """Return ``a * prod(b[c'] for c' != c) / z``, the weight of each etiology outside component ``c``."""
        out = self.a / self.z[:, None]
        for j, b in enumerate(self.b):
            if j != c:
                out = out * b
        out[self.bad] = 0.0
        return out

    def configuration_posterior(self, c: int, arrays: Arrays, others: np.ndarray | None = None) -> np.ndarray:
        """Each case's posterior over component ``c``'s configurations: ``(m, K_c)``."""
        w = self.others(c) if others is None else others
        return self.mm[c] * (w @ arrays.mech_given_e[c])


def blocks(model: ArrayModel, data: CaseData, arr: Arrays, members: np.ndarray, roots: RootFactor, labelled: bool):
    """Run the E-step's per-case work on blocks of one setting's cases (see :class:`Block`)."""
    n_e = len(model.etiologies)
    log_direct = _stacked_logs(arr.direct, model.direct_nodes, n_e)  # (sum S, n_e)
    log_via = [_stacked_logs(arr.via, comp.via_nodes, len(comp.configs)) for comp in model.components]
    for start in range(0, len(members), CHUNK):
        local = slice(start, start + CHUNK)
        idx = members[local]
        o_direct, o_via = data.direct[idx], data.via[idx]
        ld = o_direct @ log_direct
        top = ld.max(axis=1)
        bad = top < IMPOSSIBLE_LOG
        ld -= top[:, None]
        d = np.exp(ld, out=ld)
        log_scale = top.copy()
        mm = []
        for comp, logs in zip(model.components, log_via):
            lm = o_via[:, comp.via_slice] @ logs
            t = lm.max(axis=1)
            bad |= t < IMPOSSIBLE_LOG
            lm -= t[:, None]
            mm.append(np.exp(lm, out=lm))
            log_scale += t
        a = roots.factor[roots.pair_of[local]] * d
        if labelled:
            lab = data.labels[idx]
            has = np.flatnonzero(lab >= 0)
            keep = np.ones_like(a)
            keep[has] = 0.0
            keep[has, lab[has]] = 1.0
            a *= keep
        b = [m @ pm.T for m, pm in zip(mm, arr.mech_given_e)]
        joint = a.copy()
        for x in b:
            joint *= x
        z = joint.sum(axis=1)
        bad |= ~(z > 0)
        z[bad] = 1.0
        joint[bad] = 0.0
        yield Block(idx, local, data.weights[idx], o_direct, o_via, d, a, mm, b, z, joint / z[:, None], log_scale, bad)


def _impossible(data: CaseData, rows: list[int], labelled: bool) -> EvidenceError:
    cases = data.case_rows(np.array(rows, dtype=np.intp))
    numbers = data.cases.row_numbers()[cases]
    shown = ", ".join(map(str, numbers[:20])) + (f" and {len(numbers) - 20} more" if len(numbers) > 20 else "")
    return EvidenceError(
        f"{len(numbers)} case{'s' if len(numbers) != 1 else ''} of {data.cases.name} "
        f"{'have' if len(numbers) != 1 else 'has'} probability zero under the model"
        f"{' (with the confirmed etiology)' if labelled else ''}: rows {shown}. "
        "Check these rows for a typo or a contradiction"
    )


def expected_counts(
    model: ArrayModel,
    data: CaseData,
    arrays: Mapping[str, Arrays],
    *,
    labelled: bool = True,
    posteriors: np.ndarray | None = None,
) -> Counts:
    """Compute expected counts (and optionally every case's posterior over the etiology)."""
    n_e = len(model.etiologies)
    counts = Counts({n: np.zeros((len(t.states), int(np.prod(t.cards, dtype=int)))) for n, t in model.tables.items()})
    mech_counts = [np.zeros((n_e, len(comp.configs))) for comp in model.components]
    direct_counts = np.zeros((data.direct.shape[1], n_e))
    via_counts = [
        np.zeros((comp.via_slice.stop - comp.via_slice.start, len(comp.configs))) for comp in model.components
    ]
    distinct_posteriors = None if posteriors is None else np.zeros((len(data.weights), n_e))
    impossible: list[int] = []
    for setting, members in data.groups.items():
        arr = arrays[setting]
        roots = RootFactor(model, data, arr, members)
        base = np.zeros(n_e)
        root_weights = np.zeros((len(members), n_e)) if model.roots else None
        for block in blocks(model, data, arr, members, roots, labelled):
            if block.bad.any():
                impossible.extend(block.rows[block.bad].tolist())
            good = ~block.bad
            w = block.weight
            counts.log_likelihood += float(np.sum(w[good] * (np.log(block.z[good]) + block.log_scale[good])))
            if distinct_posteriors is not None:
                distinct_posteriors[block.rows] = block.post_e
            weighted_post = block.post_e * w[:, None]
            base += weighted_post.sum(axis=0)
            direct_counts += block.o_direct.T @ weighted_post
            for c, comp in enumerate(model.components):
                others = block.others(c) * w[:, None]
                mech_counts[c] += arr.mech_given_e[c] * (others.T @ block.mm[c])
                via_counts[c] += block.o_via[:, comp.via_slice].T @ block.configuration_posterior(c, arr, others)
            if root_weights is not None:
                # context and trigger nodes: each case's posterior over the root configurations is its
                # indicators times sum_e w(e) P(e, c) / z with w = d * prod(b) (the label, when known,
                # restricts e)
                rw = block.d * (block.a > 0) * (w / block.z)[:, None]
                for x in block.b:
                    rw *= x
                rw[block.bad] = 0.0
                root_weights[block.local] = rw
        if root_weights is not None:
            over_a, over_b = roots.root_marginals(root_weights)
            for j, root in enumerate(model.roots):
                over, configs = (
                    (over_a, model.root_configs_a[:, j])
                    if j < model.root_split
                    else (over_b, model.root_configs_b[:, j - model.root_split])
                )
                total = np.bincount(configs, weights=over, minlength=len(model.tables[root].states))
                recorded = data.recorded_counts(root, members)
                counts.config[root][:, 0] += np.clip(total - recorded, 0.0, None)
        counts.base[setting] = base
    if impossible:
        raise _impossible(data, impossible, labelled)
    if posteriors is not None and distinct_posteriors is not None:
        posteriors[:] = distinct_posteriors[data.inverse]
    for root in model.roots:
        counts.config[root][:, 0] += data.root_seen_counts[root]
    for f in model.direct_nodes:
        counts.config[f] += direct_counts[model.columns[f]]
    for c, comp in enumerate(model.components):
        for f in comp.via_nodes:
            local = model.columns[f]
            start = local.start - comp.via_slice.start
            counts.config[f] += via_counts[c][start : start + local.stop - local.start] @ model.via_pool[f]
        for j, i in enumerate(comp.mechanisms):
            table = counts.config[model.mechanisms[i]]
            for s in range(table.shape[0]):
                table[s] += mech_counts[c][:, comp.configs[:, j] == s].sum(axis=1)
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

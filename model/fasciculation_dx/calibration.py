"""Bayesian calibration of the priors from a case table, written out as a new priors directory.

The prior: Dirichlet pseudo-counts from the plausible ranges
------------------------------------------------------------
Every *column* of a table (the rows of a CPT file that share parent values, wildcards included,
or the base rates of one setting) gets a Dirichlet prior ``Dir(alpha * p)`` centred on the
current values ``p``. Its concentration ``alpha`` (the number of pseudo-patients the priors are
worth) is read off the rows' plausible ranges ``[low, high]``:

1. for each row with ``0 < p < 1`` and ``low < high``, ``alpha_row`` is the smallest
   concentration at which the row's Beta marginal ``Beta(alpha p, alpha (1 - p))`` puts 95% of
   its mass inside ``[low, high]`` (when ``p`` sits on an end of its range, the one open side
   must hold 97.5%). It is found on a logarithmic grid refined by root finding and kept within
   ``[ALPHA_MIN, ALPHA_MAX]``. So the prior's central 95% interval roughly spans the range: a
   wide expert-estimate range gives a few pseudo-patients, a tight cohort range hundreds;
2. the column's ``alpha`` is the geometric mean of its rows' ``alpha_row`` weighted by the rows'
   values ``p`` (a Dirichlet has one concentration per column, so the ranges of a multi-state
   column can only be matched on average; the weights let the states that carry the column's
   mass set it, since a rare state's Beta can only have a wide *relative* range at a huge
   concentration). Rare states thus usually end up with wider prior intervals than their
   ranges say;
3. a column with a fixed row (``low == high``) is never changed.

The update
----------
With complete data the posterior is conjugate: ``Dir(alpha * p + n)`` where ``n`` are the column's
counts, pooled over every parent configuration the column covers (a ``*`` column is updated as
one unit, so the file keeps its schema). Mechanisms are never observed and findings are often
missing, so the counts are *expected* counts from an EM algorithm run on exact posteriors of the
compiled arrays (:mod:`fasciculation_dx.compiled`):

- E-step: for each case, the exact posterior over (etiology, joint mechanism configuration)
  and over its unrecorded context and trigger nodes, given everything recorded (the confirmed
  etiology too, when known); expected counts are sums of these posteriors;
- M-step: each column's value becomes its posterior mean ``(alpha p + n) / (alpha + N)``
  (the MAP estimate under ``Dir(alpha p + 1)``);
- a finding that is not recorded adds no count (it is a leaf, so this is exact, not an
  approximation); until the parameters change by less than ``tol``.

The reported ranges are the central 95% intervals of the Beta marginals of ``Dir(alpha p + n)``
with the final expected counts; they ignore the extra uncertainty from missing data and latent
mechanisms, so they are somewhat narrow where data are mostly missing.

The etiology
------------
The etiology's table is derived from base rates and relative risks (:mod:`.etiology`). The base
rates of each setting are updated from the etiology's marginal counts among that setting's cases
(the confirmed diagnosis, or its posterior when unknown): a Dirichlet-multinomial update of the
marginal, exact because a base rate *is* the etiology's marginal in its setting. The relative
risks in ``etiology_modifiers.csv`` are left as they are: estimating them honestly needs
etiology-by-exposure counts far larger than a clinic's case series, and their sources are
population studies. Every other table (context and trigger priors, mechanisms, findings) is
shared between settings and updated from all cases.

Provenance
----------
The new directory gets a source row (kind ``cohort``) naming the case file, its SHA-256 and
``n``; every changed row points to it, and its note starts with the old value, range and source
followed by the old note.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

from . import errors
from .atomic import atomic_directory, check_directory_target, checkpoint
from .cases import Cases, read_cases
from .compiled import CompiledEngine
from .errors import EvidenceError, FasciculationDxError
from .etiology import etiology_table
from .loader import load_priors
from .paths import shipped_priors_dir
from .priors import DEFAULT_SETTING, HEADERS, Parameter, Priors, Source
from .tables import match_columns
from .writer import format_number, write_files

__all__ = [
    "ALPHA_MIN",
    "ALPHA_MAX",
    "CalibrationError",
    "OutputExistsError",
    "CalibrationResult",
    "row_concentration",
    "column_concentration",
    "calibrate",
    "write_calibrated",
    "PROVENANCE_FILE",
    "case_posteriors",
]

ALPHA_MIN = 1.0
"""The smallest concentration a column's prior may have (one pseudo-patient)."""
ALPHA_MAX = 1e6
"""The largest concentration fitted from a range (a range so tight is practically fixed)."""
MASS = 0.95
CHUNK = 2048
SIGNIFICANT = 6


class CalibrationError(FasciculationDxError):
    """Calibration cannot proceed (e.g. no usable cases)."""


OutputExistsError = errors.OutputExistsError
"""The output directory is (inside or around) the shipped priors, exists and ``overwrite`` was not
given, or is not an earlier output of calibration (re-exported from :mod:`fasciculation_dx.errors`)."""


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
class _Table:
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
class _Arrays:
    root_joint: np.ndarray  # (n_e, C) flat over root configurations
    mech_given_e: np.ndarray  # (n_e, K)
    direct: dict[str, np.ndarray]  # (S, n_e)
    via: dict[str, np.ndarray]  # (S, K)


class _ArrayModel:
    """The compiled engine's arrays, rebuilt quickly from changed column values."""

    def __init__(self, priors: Priors):
        engine = CompiledEngine(
            priors, DEFAULT_SETTING if DEFAULT_SETTING in priors.settings else next(iter(priors.settings))
        )
        self.priors = priors
        self.roots = engine.roots
        self.mechanisms = engine.mechanisms
        self.configs = engine.mechanism_configs
        self.direct_nodes = tuple(engine.direct)
        self.via_nodes = tuple(engine.via_mechanisms)
        self.tables = {n: _Table(priors, n) for n in priors.cpts}
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
        self.root_configs = np.array(np.unravel_index(np.arange(int(np.prod(root_cards))), root_cards)).T
        self.etiologies = priors.etiology_states
        self.base_rows = {
            s: [next(p for p in priors.base_rates if p.key == (s, e)) for e in self.etiologies] for s in priors.settings
        }
        self.base_alpha = {s: column_concentration(rows) for s, rows in self.base_rows.items()}

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

    def arrays(self, values: Mapping[str, np.ndarray], base: Mapping[str, np.ndarray], settings) -> dict[str, _Arrays]:
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
            out[setting] = _Arrays(joint.reshape(joint.shape[0], -1), pm, direct, via)
        return out


# -- the E-step ----------------------------------------------------------------------------------
@dataclass
class _Counts:
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


class _Data:
    """The cases encoded for the E-step: one-hot evidence matrices, grouped by setting."""

    def __init__(self, model: _ArrayModel, cases: Cases, default_setting: str):
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
        # which root configurations each case is consistent with
        mask = np.ones((n, len(model.root_configs)), dtype=bool)
        for j, root in enumerate(model.roots):
            c = self.codes[root]
            seen = c >= 0
            mask[seen] &= model.root_configs[None, :, j] == c[seen, None]
        self.root_mask = mask.astype(float)
        self.root_missing = np.stack([self.codes[r] < 0 for r in model.roots], axis=1) if model.roots else None
        self.root_seen_counts = {
            r: np.bincount(self.codes[r][self.codes[r] >= 0], minlength=len(priors.nodes[r].states)).astype(float)
            for r in model.roots
        }

    def _one_hot(self, model: _ArrayModel, nodes) -> np.ndarray:
        sizes = [len(model.tables[f].states) for f in nodes]
        out = np.zeros((len(self.labels), sum(sizes)))
        offset = 0
        for f, size in zip(nodes, sizes):
            c = self.codes[f]
            seen = np.flatnonzero(c >= 0)
            out[seen, offset + c[seen]] = 1.0
            offset += size
        return out


def _estep(
    model: _ArrayModel,
    data: _Data,
    arrays: Mapping[str, _Arrays],
    *,
    labelled: bool = True,
    posteriors: np.ndarray | None = None,
) -> _Counts:
    """Compute expected counts (and optionally posteriors over the etiology) for every case."""
    n_e, k = len(model.etiologies), len(model.configs)
    counts = _Counts({n: np.zeros((len(t.states), int(np.prod(t.cards, dtype=int)))) for n, t in model.tables.items()})
    mech_counts = np.zeros((n_e, k))
    direct_counts = np.zeros((data.direct.shape[1], n_e))
    via_counts = np.zeros((data.via.shape[1], k))
    impossible: list[int] = []
    for setting, members in data.groups.items():
        arr = arrays[setting]
        log_direct = _stacked_logs(arr.direct, model.direct_nodes)  # (sum S, n_e)
        log_via = _stacked_logs(arr.via, model.via_nodes)  # (sum S, K)
        base = np.zeros(n_e)
        for start in range(0, len(members), CHUNK):
            idx = members[start : start + CHUNK]
            o_direct, o_via = data.direct[idx], data.via[idx]
            ld = o_direct @ log_direct
            lm = o_via @ log_via
            top_d, top_m = ld.max(axis=1), lm.max(axis=1)
            bad = (top_d < IMPOSSIBLE_LOG) | (top_m < IMPOSSIBLE_LOG)
            d = np.exp(ld - top_d[:, None])
            mm = np.exp(lm - top_m[:, None])
            mask = data.root_mask[idx]
            a = (mask @ arr.root_joint.T) * d  # (m, n_e)
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
            # context and trigger nodes left unrecorded: expected counts from their posterior
            if model.roots:
                miss = data.root_missing[idx] & ~bad[:, None]
                rows = np.flatnonzero(miss.any(axis=1))
                if len(rows):
                    weight = d[rows] * b[rows] * (a[rows] > 0)  # the label, when known, restricts e
                    q = mask[rows] * (weight @ arr.root_joint)
                    q /= q.sum(axis=1, keepdims=True)
                    for j, root in enumerate(model.roots):
                        if miss[rows, j].any():
                            counts.config[root][:, 0] += np.bincount(
                                model.root_configs[:, j],
                                weights=q[miss[rows, j]].sum(axis=0),
                                minlength=len(model.tables[root].states),
                            )
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
    model = _ArrayModel(priors)
    data = _Data(model, cases, setting)
    values = {n: t.values for n, t in model.tables.items()}
    base = {s: np.array([p.value for p in rows]) for s, rows in model.base_rows.items()}
    arrays = model.arrays(values, base, data.groups)
    out = np.zeros((cases.n, len(model.etiologies)))
    _estep(model, data, arrays, labelled=False, posteriors=out)
    return out


# -- the M-step and the result -----------------------------------------------------------------
def _update(values: np.ndarray, alpha: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Posterior mean of each column under ``Dir(alpha * values)``; columns with infinite alpha or no counts stay."""
    out = values.copy()
    n = counts.sum(axis=1)
    move = np.isfinite(alpha) & (n > 0)
    a = alpha[move, None]
    out[move] = (a * values[move] + counts[move]) / (a + n[move, None])
    return out


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` returns.

    Attributes
    ----------
    priors
        The calibrated priors (with the new source and provenance), ready for
        :func:`write_calibrated` or :class:`fasciculation_dx.Model`.
    report
        One row per changed parameter: ``file``, ``line``, ``key``, ``old``, ``new``, ``change``
        (new - old), ``old_low``, ``old_high``, ``low``, ``high``, ``prior_alpha`` (the column's
        pseudo-count), ``count`` (the column's expected number of cases); sorted by ``|change|``
        descending.
    source
        The source row added for the case file.
    n_cases
        The number of cases used.
    iterations
        EM iterations run.
    converged
        Whether the largest change of the last iteration was below ``tol``.
    trace
        Log-likelihood of the cases (natural log) after each E-step.
    directory
        Where the priors were written, if they were.
    """

    priors: Priors
    report: pd.DataFrame
    source: Source
    n_cases: int
    iterations: int
    converged: bool
    trace: tuple[float, ...]
    directory: Path | None = None


def _round_column(values: np.ndarray) -> np.ndarray:
    """Round to SIGNIFICANT digits, the largest entry taking the rounding residual."""
    out = np.array([float(f"{v:.{SIGNIFICANT}g}") for v in values])
    i = int(np.argmax(out))
    out[i] = round(1.0 - (out.sum() - out[i]), 12)
    return out


def _round(x: float) -> float:
    return float(f"{x:.{SIGNIFICANT}g}")


def _source_id(name: str, digest: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", Path(name).stem.lower()).strip("_") or "cases"
    return f"calibration_{stem}_{digest[:12]}"


def calibrate(
    cases: Cases | str | Path | pd.DataFrame,
    priors: Priors | str | Path | None = None,
    *,
    setting: str = DEFAULT_SETTING,
    max_iter: int = 200,
    tol: float = 1e-6,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> CalibrationResult:
    """Update the priors from a case table by Bayesian estimation (see the module docstring).

    Parameters
    ----------
    cases
        A case file (CSV or Parquet), a data frame in that layout, or :class:`~.cases.Cases`.
    priors
        The priors to update (a :class:`Priors` or a directory); the shipped priors by default.
    setting
        The care setting of cases without a ``setting`` value.
    max_iter
        Largest number of EM iterations.
    tol
        Stop when no parameter changes by more than this in an iteration.
    out
        When given, write the calibrated priors there (see :func:`write_calibrated`).
    overwrite
        Allow replacing an existing ``out`` directory (never the shipped priors).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CaseFileError
        If the case file is invalid (every problem is listed).
    EvidenceError
        If some cases are impossible under the priors.
    OutputExistsError
        If ``out`` is the shipped priors, or exists and ``overwrite`` is false.
    """
    if priors is None:
        priors = load_priors(shipped_priors_dir())
    elif not isinstance(priors, Priors):
        priors = load_priors(priors)
    if out is not None:
        _check_target(Path(out), overwrite)
    if setting not in priors.settings:
        raise EvidenceError(f"unknown setting '{setting}'. Valid settings: {', '.join(priors.settings)}")
    cases = read_cases(cases, priors)
    model = _ArrayModel(priors)
    data = _Data(model, cases, setting)
    prior = {n: t.values.copy() for n, t in model.tables.items()}
    prior_base = {s: np.array([p.value for p in rows]) for s, rows in model.base_rows.items()}
    values = {n: v.copy() for n, v in prior.items()}
    base = {s: v.copy() for s, v in prior_base.items()}
    trace: list[float] = []
    converged = False
    iterations = 0
    counts = None
    for iterations in range(1, max_iter + 1):  # noqa: B007
        arrays = model.arrays(values, base, data.groups)
        counts = _estep(model, data, arrays)
        trace.append(counts.log_likelihood)
        change = 0.0
        for node, table in model.tables.items():
            new = _update(prior[node], table.alpha, table.pool(counts.config[node]))
            change = max(change, float(np.max(np.abs(new - values[node]))))
            values[node] = new
        for s, c in counts.base.items():
            new = _update(prior_base[s][None, :], np.array([model.base_alpha[s]]), c[None, :])[0]
            change = max(change, float(np.max(np.abs(new - base[s]))))
            base[s] = new
        if change < tol:
            converged = True
            break
    assert counts is not None
    source = Source(
        source_id=_source_id(cases.name, cases.sha256),
        kind="cohort",
        citation=f"Calibration on case file {cases.name} (SHA-256 {cases.sha256}, n={cases.n})",
        year=str(datetime.date.today().year),
        url="",
        note=(
            f"Bayesian update by fasciculation_dx.calibration: Dirichlet priors from each row's range, "
            f"EM over latent mechanisms and missing findings ({iterations} iterations, "
            f"{'converged' if converged else 'not converged'}); "
            f"{int((cases.labels() != '').sum())} of {cases.n} cases with a confirmed etiology; "
            f"settings: {', '.join(f'{s} n={len(i)}' for s, i in data.groups.items())}."
        ),
    )
    new_priors, report = _result_priors(model, values, base, counts, source)
    result = CalibrationResult(new_priors, report, source, cases.n, iterations, converged, tuple(trace))
    if out is not None:
        result = write_calibrated(result, out, overwrite=overwrite)
    return result


def _result_priors(model: _ArrayModel, values, base, counts: _Counts, source: Source) -> tuple[Priors, pd.DataFrame]:
    priors = model.priors
    records = []
    replaced: dict[tuple[str, int], Parameter] = {}

    def column(rows: list[Parameter], new: np.ndarray, alpha: float, n: np.ndarray) -> None:
        total = float(n.sum())
        if not math.isfinite(alpha) or total <= 0:
            return
        rounded = _round_column(new)
        post = alpha * np.array([r.value for r in rows]) + n
        a0 = post.sum()
        for r, v, a in zip(rows, rounded, post):
            if a > 0 and a0 - a > 0:
                low, high = (float(x) for x in special.betaincinv(a, a0 - a, [0.025, 0.975]))
            else:
                low = high = float(v)
            low, high = min(_round(low), v), max(_round(high), v)
            if (v, low, high) == (r.value, r.low, r.high) and r.source_id == source.source_id:
                continue
            note = (
                f"Calibrated on {source.source_id}: was {format_number(r.value)} "
                f"[{format_number(r.low)}, {format_number(r.high)}] from {r.source_id}. {r.note}"
            ).strip()
            replaced[(r.file, r.line)] = dataclasses.replace(
                r, value=float(v), low=float(low), high=float(high), source_id=source.source_id, note=note
            )
            records.append(
                {
                    "file": r.file,
                    "line": r.line,
                    "key": ",".join(r.key),
                    "old": r.value,
                    "new": float(v),
                    "change": float(v) - r.value,
                    "old_low": r.low,
                    "old_high": r.high,
                    "low": low,
                    "high": high,
                    "prior_alpha": alpha,
                    "count": total,
                }
            )

    for s, rows in model.base_rows.items():
        if s in counts.base:
            column(rows, base[s], model.base_alpha[s], counts.base[s])
    for node, table in model.tables.items():
        pooled = table.pool(counts.config[node])
        for i, rows in enumerate(table.rows):
            column(rows, values[node][i], float(table.alpha[i]), pooled[i])  # type: ignore[arg-type]

    def swap(rows):
        return tuple(replaced.get((r.file, r.line), r) for r in rows)

    sources = dict(priors.sources)
    sources[source.source_id] = source
    new = dataclasses.replace(
        priors,
        sources=sources,
        base_rates=swap(priors.base_rates),
        cpts={n: swap(rows) for n, rows in priors.cpts.items()},
    )
    columns = [
        "file",
        "line",
        "key",
        "old",
        "new",
        "change",
        "old_low",
        "old_high",
        "low",
        "high",
        "prior_alpha",
        "count",
    ]
    report = pd.DataFrame.from_records(records, columns=columns)
    if len(report):
        order = np.argsort(-report["change"].abs().to_numpy(), kind="stable")
        report = report.iloc[order].reset_index(drop=True)
    return new, report


# -- writing -------------------------------------------------------------------------------------
PROVENANCE_FILE = "calibration.json"
"""The file that marks a directory written by :func:`write_calibrated`, with its provenance."""


def _calibrate_writes(rel: Path) -> bool:
    """Whether ``rel`` (relative to an output directory) is a file that calibration writes."""
    if rel.parts and rel.parts[0] == "cpts":
        return len(rel.parts) == 1 or (len(rel.parts) == 2 and rel.suffix == ".csv")
    return str(rel) in (*HEADERS, "README.md", PROVENANCE_FILE)


def _directory_rules(overwrite: bool) -> dict:
    return {
        "overwrite": overwrite,
        "marker": PROVENANCE_FILE,
        "allowed": _calibrate_writes,
        "what": "calibrated priors",
        "protected": (shipped_priors_dir(),),
    }


def _check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that is (inside or around) the shipped priors, or not ours to replace."""
    check_directory_target(target, **_directory_rules(overwrite))


def _provenance(result: CalibrationResult) -> dict:
    from . import __version__

    return {
        "written_by": "fasciculation_dx calibrate",
        "version": __version__,
        "source_id": result.source.source_id,
        "citation": result.source.citation,
        "n_cases": result.n_cases,
        "iterations": result.iterations,
        "converged": result.converged,
        "changed_parameters": len(result.report),
        "base_priors": str(result.priors.directory) if result.priors.directory else None,
    }


def write_calibrated(result: CalibrationResult, directory: str | Path, *, overwrite: bool = False) -> CalibrationResult:
    """Write calibrated priors to a new directory, atomically.

    The priors are written to a staging folder beside the target, validated by re-loading them,
    and only then swapped into place (see :mod:`fasciculation_dx.atomic`): a complete directory
    is at the target path at every moment, and a failure or a kill leaves the target untouched.
    The directory holds ``calibration.json``, its provenance; that file is how a later run
    recognises a directory it may replace.

    Parameters
    ----------
    result
        From :func:`calibrate`.
    directory
        The folder to create; never the shipped priors, a folder inside them or one holding them.
    overwrite
        Replace an existing folder, which must be an earlier output of calibration (it holds
        ``calibration.json`` and nothing but the files calibration writes). Anything else is
        refused and nothing is deleted.

    Returns
    -------
    CalibrationResult
        ``result`` with ``directory`` set.

    Raises
    ------
    OutputExistsError
        If ``directory`` is (inside or around) the shipped priors, is a file, exists and
        ``overwrite`` is false, or is not an earlier output of calibration.
    OutputError
        If the folder cannot be written.
    PriorsError
        If the written priors do not validate (nothing is moved into place).
    """
    target = Path(directory)
    with atomic_directory(target, **_directory_rules(overwrite)) as staging:
        write_files(result.priors, staging)
        checkpoint("calibrate:written")
        (staging / PROVENANCE_FILE).write_text(
            json.dumps(_provenance(result), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        load_priors(staging)
    return dataclasses.replace(result, directory=target)

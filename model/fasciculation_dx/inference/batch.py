"""Exact etiology posteriors for a whole table of cases at once, vectorised over the cases.

The network's layered structure (see :mod:`fasciculation_dx.inference.compiled`) makes the joint of the
etiology ``e`` and a case's evidence ``E`` a product of three factors:

    P(e, E) = R(e; roots in E) * D(e; direct findings in E) * prod_c M_c(e; findings of component c)

- ``R`` sums ``P(roots, e)`` over the roots the case leaves unobserved. It is read from one
  table that has, for every root, an extra "unobserved" slot holding the sum over its states,
  so each case costs one gather.
- ``D`` is the product of the findings whose only parent is the etiology.
- The mechanisms are independent given the etiology, so the sum over their joint
  configurations factorises over the connected components of the mechanism-finding graph
  (``progressive_course`` is its own component). For a component ``c`` with ``K_c``
  configurations, ``M_c = sum_k P(k | e) prod_f P(f | k)``.

Both ``D`` and the per-configuration likelihoods are computed for a block of cases by a single
matrix product of a one-hot evidence matrix with a table of log-probabilities, then ``exp``; the
sum over configurations is a second matrix product with ``P(k | e)``. Logarithms of zero are
replaced by a large negative number whose ``exp`` is exactly 0, and every case is rescaled by its
largest log-likelihood before ``exp`` (a common factor that cancels when normalising), so the
result is exact up to rounding: it agrees with :meth:`CompiledEngine.posterior` case by case to
about 1e-14.

The case table
--------------
- A column named after an evidence node (context, trigger or finding; see ``model.states``)
  is evidence. An empty string, ``NaN``, ``None`` or ``pd.NA`` means unobserved.
- A cell may hold soft evidence (see :mod:`fasciculation_dx.inference.soft`): weights
  ``yes:0.8,no:0.2`` (quoted in a CSV file, since it holds a comma) or ``~yes`` (probably yes).
  Its likelihood is multiplied into the case's factor of the finding's component (or the root
  factor, for a context or trigger node), so it costs a small matrix product per soft column.
- Surrounding whitespace is stripped from every text cell and every column name, as by every
  reader of case files (:mod:`fasciculation_dx.analysis.cases`, :mod:`fasciculation_dx.analysis.scoring`):
  ``' yes '`` is ``yes`` and a cell of spaces is empty. Nothing else is normalised (``Yes`` is
  not ``yes``; ``NA`` is not an empty cell). Only the distinct values of a column are stripped
  (after :func:`pandas.factorize`), so this costs nothing per row.
- ``case_id``, ``setting`` and ``etiology`` (e.g. the confirmed diagnosis of a validation set)
  are allowed and not used as evidence; a non-empty ``setting`` must equal the model's setting.
  Columns named in ``passthrough`` are allowed too and are copied to the output.
- Any other column is an error (a misspelt finding must not be silently ignored), and so is a
  latent mechanism.
- Every problem of the table (unknown columns, invalid states with the rows they occur in, rows of
  another setting) is reported at once in one :class:`CaseTableError`. Rows are named by their
  index labels (the file readers label them with spreadsheet row numbers: the header is row 1,
  the first case row 2).
- A case whose evidence has probability zero under the model is an error naming the rows
  (:class:`ImpossibleCasesError`), or, with ``on_impossible="nan"``, a row of NaN. No row is
  ever dropped.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import EvidenceError
from ..network.priors import Priors
from ..network.tables import cpt_array
from .case_encoding import ALLOWED_COLUMNS, CATEGORY_COLUMNS, SoftCells, encode_cases, strip_columns, strip_name
from .case_errors import CaseProblem, CaseTableError, ImpossibleCasesError
from .compiled import CompiledEngine
from .evidence import observable_states
from .likelihood import (
    LikelihoodGroup,
    group_likelihood,
    likelihood_groups,
    matmul_rows,
    one_blas_thread,
    row_sum,
    scratch,
)

_MAX_ROOT_TABLE = 20_000_000  # entries of the extended root table before falling back

DEFAULT_BLOCK = 1024
"""Cases per block of the vectorised computation (bounds the working memory to tens of MB)."""

__all__ = [
    "ALLOWED_COLUMNS",
    "CaseProblem",
    "CaseTableError",
    "ImpossibleCasesError",
    "BatchScorer",
    "posterior_batch",
    "output_columns",
    "evidence_frame",
]


def output_columns(priors: Priors, passthrough: Sequence[str] = ()) -> list[str]:
    """Return the columns of :func:`posterior_batch`'s result, in order.

    Parameters
    ----------
    priors
        The model's priors.
    passthrough
        Columns copied from the input.

    Returns
    -------
    list of str
        ``passthrough``, then the etiologies in their order, then ``p_benign`` and
        ``p_pathological``.
    """
    return [*passthrough, *priors.etiology_states, *CATEGORY_COLUMNS]


class BatchScorer:
    """Precomputed arrays that score a table of cases exactly and fast.

    Build one with :meth:`for_engine` (cached per engine). It pickles as its priors and setting
    (its arrays, several MB, are rebuilt when unpickled), so it is cheap to ship to Dask workers.

    Parameters
    ----------
    engine
        A compiled engine; its priors and setting define the model.
    """

    def __init__(self, engine: CompiledEngine):
        priors = engine.priors
        self.priors = priors
        self.setting = engine.setting
        self.etiologies: tuple[str, ...] = priors.etiology_states
        n_e = len(self.etiologies)
        self.pathological = np.array([priors.etiologies[e].category == "pathological" for e in self.etiologies])
        self.output_names: list[str] = [*self.etiologies, *CATEGORY_COLUMNS]
        self._all_columns = np.arange(n_e)
        self._benign_columns = np.flatnonzero(~self.pathological)
        self._pathological_columns = np.flatnonzero(self.pathological)
        self.states: dict[str, tuple[str, ...]] = observable_states(priors)
        self.mechanisms = tuple(engine.mechanisms)
        self.roots = tuple(engine.roots)
        self.root_joint = engine.root_joint  # (n_e, *root cardinalities)
        # the engine's two root groups: per observation pattern of the first, the joint summed over
        # it (P_a, n_e, K_b); per pattern of the second, an indicator over its configurations
        self._root_pattern_numbers = engine.root_pattern_numbers
        self._root_by_pattern = engine._root_by_pattern
        self._root_patterns_b = engine._root_patterns[1]
        self._split = len(engine._root_groups[0])

        # connected components of the mechanisms, linked by findings with several mechanism parents
        parent_of = {m: m for m in self.mechanisms}

        def find(m: str) -> str:
            while parent_of[m] != m:
                m = parent_of[m]
            return m

        for node in engine.via_mechanisms:
            parents = priors.nodes[node].parents
            for other in parents[1:]:
                parent_of[find(other)] = find(parents[0])
        components = [
            [m for m in self.mechanisms if find(m) == root] for root in dict.fromkeys(find(m) for m in self.mechanisms)
        ]

        # likelihood tables: the findings split into groups, each group's joint codes index a table
        self.findings: tuple[str, ...] = tuple(engine.direct) + tuple(engine.via_mechanisms)
        self.cards = np.array([len(self.states[f]) for f in self.findings], dtype=np.intp)
        position = {f: i for i, f in enumerate(self.findings)}
        direct = [(position[f], engine.direct[f]) for f in engine.direct]
        self.direct_groups = likelihood_groups(direct, n_e)
        # soft evidence: per finding, (its component or -1 for a direct finding, its table (n_states, width))
        self._soft_tables: dict[str, tuple[int, np.ndarray]] = {f: (-1, engine.direct[f]) for f in engine.direct}
        self.components: list[tuple[list[LikelihoodGroup], np.ndarray]] = []
        for comp in components:
            cards = [len(priors.nodes[m].states) for m in comp]
            configs = np.array(list(itertools.product(*[range(c) for c in cards])), dtype=np.intp)
            pm = np.ones((len(configs), n_e))  # P(configuration | etiology), transposed
            for i, m in enumerate(comp):
                pm *= cpt_array(priors, m)[configs[:, i], :]
            local = {m: i for i, m in enumerate(comp)}
            members = []
            for node in engine.via_mechanisms:
                parents = priors.nodes[node].parents
                if parents[0] in local:
                    cols = [local[q] for q in parents]
                    table = cpt_array(priors, node)[(slice(None), *configs[:, cols].T)]
                    members.append((position[node], table))
                    self._soft_tables[node] = (len(self.components), table)
            self.components.append((likelihood_groups(members, len(configs)), np.ascontiguousarray(pm)))
        self._root_ext: np.ndarray | None = None

    # -- construction and pickling ---------------------------------------------------------------
    _cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def for_engine(cls, engine: object, priors: Priors | None = None) -> BatchScorer:
        """Return the (cached) scorer of an engine.

        Parameters
        ----------
        engine
            A :class:`fasciculation_dx.inference.compiled.CompiledEngine`; any other engine (e.g. the pgmpy
            reference) is replaced by a compiled engine for the same priors and setting, since both are exact.
        priors
            The priors, used only when ``engine`` is not compiled and has no ``priors``.

        Returns
        -------
        BatchScorer
        """
        try:
            return cls._cache[engine]
        except (KeyError, TypeError):
            pass
        if isinstance(engine, CompiledEngine):
            compiled = engine
        else:
            compiled = CompiledEngine(getattr(engine, "priors", priors), engine.setting)
        scorer = cls(compiled)
        try:
            cls._cache[engine] = scorer
        except TypeError:
            pass
        return scorer

    def __reduce__(self):
        # Ship only the priors and the setting (small); the arrays are rebuilt where unpickled.
        return (_rebuild_scorer, (self.priors, self.setting))

    # -- the root factor -------------------------------------------------------------------------
    @property
    def root_cards(self) -> tuple[int, ...]:
        """The number of states of each root (context and trigger parents of the etiology)."""
        return tuple(self.root_joint.shape[1:])

    def _extended_roots(self) -> np.ndarray | None:
        """``(prod(card + 1), n_e)``: P(observed roots, e) with slot ``card`` meaning unobserved."""
        n_e = self.root_joint.shape[0]
        if self._root_ext is None:
            if np.prod([c + 1 for c in self.root_cards]) * n_e > _MAX_ROOT_TABLE:
                return None
            ext = self.root_joint
            for axis in range(1, ext.ndim):
                ext = np.concatenate([ext, ext.sum(axis=axis, keepdims=True)], axis=axis)
            self._root_ext = np.ascontiguousarray(np.moveaxis(ext, 0, -1).reshape(-1, n_e))
        return self._root_ext

    def _root_factor(self, root_codes: np.ndarray) -> np.ndarray:
        """``(n, n_e)``: the sum of P(roots, e) over each case's unobserved roots."""
        n_e = self.root_joint.shape[0]
        if not self.roots:
            return np.broadcast_to(self.root_joint.reshape(1, n_e), (len(root_codes), n_e))
        cards = np.array(self.root_cards, dtype=np.intp)
        ext_codes = np.where(root_codes < 0, cards, root_codes)
        table = self._extended_roots()
        if table is not None:
            strides = np.cumprod([1, *(cards[::-1] + 1)])[:-1][::-1]
            return table[ext_codes @ strides]
        # too many roots for one table: the engine's two groups. A case's pattern number in each
        # group reads its digits (0 = unobserved, s + 1 = state s) with the first root most
        # significant. Each distinct pattern is summed once, with the same arithmetic whatever
        # else is in the batch, so a case scores the same alone, in a chunk or on a worker.
        first, second = self._root_pattern_numbers(root_codes)
        size_b = len(self._root_patterns_b)
        patterns, inverse = np.unique(first * size_b + second, return_inverse=True)
        first, second = patterns // size_b, patterns % size_b  # patterns are sorted, so first is too
        return self._root_products(first, self._root_patterns_b[second])[inverse.reshape(-1)]

    def _root_products(self, first: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Multiply each row's first-group table (pattern ``first``) by its vector over the second group: ``(n, n_e)``.

        ``first`` must be sorted; ``vectors`` is ``(n, K_b)``: an indicator of the second group's
        configurations consistent with a pattern, or for soft evidence the product of the roots'
        likelihoods.
        """
        out = np.empty((len(first), self.root_joint.shape[0]))
        values, starts = np.unique(first, return_index=True)
        bounds = list(zip(values, starts, [*starts[1:], len(first)]))

        def run(part: list) -> None:
            for value, start, stop in part:
                out[start:stop] = matmul_rows(vectors[start:stop], self._root_by_pattern[value].T)

        workers = min(os.cpu_count() or 1, 4)
        if workers > 1 and len(first) >= 4 * DEFAULT_BLOCK:
            # the patterns are independent: split them among threads (matmul releases the GIL)
            with one_blas_thread(), ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, [bounds[k::workers] for k in range(workers)]))
        else:
            run(bounds)
        return out

    # -- scoring ---------------------------------------------------------------------------------
    def _soft_root_factor(self, root_codes: np.ndarray, soft: SoftCells, factor: np.ndarray) -> np.ndarray:
        """Replace the root factor of the rows with soft context or trigger evidence.

        Soft evidence on a root is a weighted sum over its states. With the engine's two root
        groups, the second group's roots enter as a vector over its configurations, so a soft root
        there is simply its likelihood in that vector (a Kronecker product of the roots' vectors).
        A soft root of the first group (or of a network small enough for one root table) is
        expanded: the row becomes one pseudo-row per combination of those roots' states (usually
        two or three), each scored like a hard row, weighted and summed back.
        """
        cells = {i: soft.columns[r] for i, r in enumerate(self.roots) if r in soft.columns}
        if not cells:
            return factor
        two_groups = self._extended_roots() is None
        split = self._split if two_groups else len(self.roots)
        rows = np.unique(np.concatenate([c.rows for c in cells.values()]))
        lookup = {}  # per soft root: the position of each row's cell among its cells (-1: none)
        for i, column in cells.items():
            where = np.full(len(rows), -1, dtype=np.intp)
            where[np.searchsorted(rows, column.rows)] = np.arange(len(column.rows))
            lookup[i] = where
        # the expansion over the soft roots of the first group: each pseudo-row's case (owner),
        # weight, and state of every expanded root
        owner = np.arange(len(rows))
        weights = np.ones(len(rows))
        states: dict[int, np.ndarray] = {}
        for i in (i for i in cells if i < split):
            at = lookup[i][owner]
            count = np.where(at >= 0, self.root_cards[i], 1)
            first = np.cumsum(count) - count  # where each old pseudo-row's copies start
            state = np.where(np.repeat(at, count) >= 0, np.arange(count.sum()) - np.repeat(first, count), -1)
            vectors = cells[i].vectors
            weights = np.repeat(weights, count) * np.where(
                state >= 0, vectors[np.repeat(np.maximum(at, 0), count), np.maximum(state, 0)], 1.0
            )
            states = {j: np.repeat(v, count) for j, v in states.items()}
            states[i] = state
            owner = np.repeat(owner, count)
        codes = root_codes[rows][owner]
        for i, state in states.items():
            codes[:, i] = np.where(state >= 0, state, codes[:, i])
        keep = weights > 0
        codes, weights, owner = codes[keep], weights[keep], owner[keep]
        if two_groups:
            # the second group's vector: the indicator of its pattern (soft roots count as not
            # recorded), times each soft root's likelihood of its state in every configuration
            first, second = self._root_pattern_numbers(codes)
            vectors = self._root_patterns_b[second]
            digits = np.array(list(itertools.product(*[range(c) for c in self.root_cards[split:]])), dtype=np.intp)
            for i in (i for i in cells if i >= split):
                at = lookup[i][owner]
                hit = np.flatnonzero(at >= 0)
                vectors[hit] *= cells[i].vectors[at[hit]][:, digits[:, i - split]]
            order = np.argsort(first, kind="stable")
            values = np.empty((len(codes), self.root_joint.shape[0]))
            values[order] = self._root_products(first[order], vectors[order])
        else:
            values = self._root_factor(codes)
        values *= weights[:, None]
        summed = np.zeros((len(rows), values.shape[1]))
        for j in range(values.shape[1]):
            summed[:, j] = np.bincount(owner, weights=values[:, j], minlength=len(rows))
        factor = np.array(factor)
        factor[rows] = summed
        return factor

    def _soft_rounds(self, soft: SoftCells) -> dict[int, tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]]:
        """Arrange the soft finding cells for multiplying in: per component (-1: the direct findings).

        Returns ``{component: (products, rounds)}``: ``products`` stacks, for every distinct
        likelihood of every soft column of the component, its weighted sum of the column's state
        rows; each round is ``(rows, index)``, at most one cell per row (a row's first soft cell in
        the first round, its second in the second, in column order), so a round is one in-place
        product and a row's factors are multiplied in the same order however the cases are split.
        """
        stacked: dict[int, list[np.ndarray]] = {}
        cells: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for node, column in soft.columns.items():
            entry = self._soft_tables.get(node)
            if entry is None:
                continue  # a context or trigger node: in the root factor
            component, table = entry
            distinct = column.distinct
            products = distinct[:, :1] * table[0]  # state by state: no matrix product's rounding
            for s in range(1, len(table)):
                products += distinct[:, s : s + 1] * table[s]
            offset = sum(len(x) for x in stacked.get(component, []))
            stacked.setdefault(component, []).append(products)
            cells.setdefault(component, []).append((column.rows, offset + column.which))
        plan = {}
        for component, parts in cells.items():
            rows = np.concatenate([r for r, _ in parts])
            index = np.concatenate([i for _, i in parts])
            order = np.argsort(rows, kind="stable")  # by row, then column order
            rows, index = rows[order], index[order]
            first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            rank = np.arange(len(rows)) - np.repeat(first, np.diff(np.r_[first, len(rows)]))
            rounds = [(rows[rank == r], index[rank == r]) for r in range(int(rank.max()) + 1)]
            plan[component] = (np.concatenate(stacked[component]), rounds)
        return plan

    @staticmethod
    def _rounds_block(plan: dict, start: int, stop: int) -> dict:
        """Return the part of a :meth:`_soft_rounds` plan for rows ``start`` to ``stop`` (counted from ``start``)."""
        out = {}
        for component, (products, rounds) in plan.items():
            part = []
            for rows, index in rounds:
                lo, hi = np.searchsorted(rows, [start, stop])
                if hi > lo:
                    part.append((rows[lo:hi] - start, index[lo:hi]))
            out[component] = (products, part)
        return out

    @staticmethod
    def _multiply_soft(values: np.ndarray, plan: dict | None, component: int) -> None:
        """Multiply one component's soft cells (-1: the direct findings) into ``values`` in place."""
        if plan and component in plan:
            products, rounds = plan[component]
            for rows, index in rounds:
                values[rows] *= products[index]

    def joint_codes(
        self,
        root_codes: np.ndarray,
        finding_codes: np.ndarray,
        root_factor: np.ndarray | None = None,
        soft: SoftCells | None = None,
    ) -> np.ndarray:
        """Unnormalised posteriors, one row per case, from integer state codes.

        Parameters
        ----------
        root_codes
            ``(n, n_roots)`` state indices of the roots in :attr:`roots` order, -1 = unobserved.
        finding_codes
            ``(n, n_findings)`` state indices of :attr:`findings`, -1 = unobserved.
        root_factor
            ``(n, n_etiologies)``: the root factor of these cases when already computed (soft
            context or trigger evidence included).
        soft
            The cases' soft-evidence cells (coded -1 in the codes), rows counted in this block.

        Returns
        -------
        numpy.ndarray
            ``(n, n_etiologies)``: ``P(etiology, evidence)`` times a positive factor per case
            (which cancels when normalising); a row of zeros for impossible evidence.
        """
        if root_factor is None:
            root_factor = self._root_factor(root_codes)
            if soft:
                root_factor = self._soft_root_factor(root_codes, soft, root_factor)
        return self._joint(finding_codes, root_factor, self._soft_rounds(soft) if soft else None)

    def _joint(self, finding_codes: np.ndarray, root_factor: np.ndarray, plan: dict | None) -> np.ndarray:
        """:meth:`joint_codes` given the root factor and the block's part of a :meth:`_soft_rounds` plan."""
        ext = np.where(finding_codes < 0, self.cards, finding_codes)
        joint = group_likelihood(self.direct_groups, ext, len(self.etiologies))
        self._multiply_soft(joint, plan, -1)
        for c, (groups, pm) in enumerate(self.components):
            if groups:
                like = group_likelihood(groups, ext, pm.shape[0], out=scratch(f"like{c}", (len(ext), pm.shape[0])))
                self._multiply_soft(like, plan, c)
                joint *= matmul_rows(like, pm)
        joint *= root_factor
        return joint

    def probabilities(
        self,
        root_codes: np.ndarray,
        finding_codes: np.ndarray,
        block: int = DEFAULT_BLOCK,
        workers: int | None = None,
        soft: SoftCells | None = None,
    ) -> np.ndarray:
        """Normalised posteriors and roll-ups from integer state codes.

        Parameters
        ----------
        root_codes, finding_codes
            As taken by :meth:`joint_codes`.
        block
            Cases per block of the computation (bounds the working memory).
        workers
            Threads that score blocks in parallel (numpy releases the GIL); default: the number
            of CPUs. BLAS is limited to one thread meanwhile when ``threadpoolctl`` is installed.
        soft
            The soft-evidence cells (from :meth:`encode`), if any.

        Returns
        -------
        numpy.ndarray
            ``(n, n_etiologies + 2)``: posteriors in etiology order, then ``p_benign`` and
            ``p_pathological``; rows of NaN where the evidence has probability zero.
        """
        n, n_e = len(finding_codes), len(self.etiologies)
        block = max(1, int(block))
        values = np.empty((n, n_e + 2))
        roots = None
        plan = self._soft_rounds(soft) if soft else None
        soft_roots = soft is not None and any(r in soft.columns for r in self.roots)
        if self.roots and (soft_roots or self._extended_roots() is None):
            # the two-group path sums each distinct root pattern once, and soft roots expand into
            # hard patterns, so these run over every case before the blocks
            roots = self._root_factor(root_codes)
            if soft_roots:
                roots = self._soft_root_factor(root_codes, soft, roots)

        def run(start: int) -> None:
            stop = min(n, start + block)
            factor = self._root_factor(root_codes[start:stop]) if roots is None else roots[start:stop]
            part = self._rounds_block(plan, start, stop) if plan else None
            joint = self._joint(finding_codes[start:stop], factor, part)
            total = row_sum(joint, self._all_columns)[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                post = joint / total
            post[~(total[:, 0] > 0)] = np.nan
            values[start:stop, :n_e] = post
            values[start:stop, n_e] = row_sum(post, self._benign_columns)
            values[start:stop, n_e + 1] = row_sum(post, self._pathological_columns)

        starts = range(0, n, block)
        workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
        if workers == 1 or len(starts) <= 1:
            for start in starts:
                run(start)
        else:
            with one_blas_thread(), ThreadPoolExecutor(min(workers, len(starts))) as pool:
                list(pool.map(run, starts))
        return values

    def encode(
        self, cases: pd.DataFrame, passthrough: Sequence[str] = ()
    ) -> tuple[np.ndarray, np.ndarray, list[CaseProblem], SoftCells]:
        """Check a case table and turn it into integer state codes (see :func:`.case_encoding.encode_cases`)."""
        return encode_cases(self, cases, passthrough)

    def score(
        self,
        cases: pd.DataFrame,
        passthrough: Sequence[str] = (),
        on_impossible: Literal["raise", "nan"] = "raise",
        block: int = DEFAULT_BLOCK,
        workers: int | None = None,
    ) -> pd.DataFrame:
        """Posterior of each etiology and the benign/pathological roll-up for every case.

        See :func:`posterior_batch`; ``block`` and ``workers`` are as in :meth:`probabilities`.
        """
        if on_impossible not in ("raise", "nan"):
            raise EvidenceError(f"on_impossible must be 'raise' or 'nan'. Got {on_impossible!r} instead")
        if not isinstance(cases, pd.DataFrame):
            raise EvidenceError(f"cases must be a pandas DataFrame. Got {type(cases).__name__} instead")
        passthrough = [strip_name(c) for c in passthrough]
        cases = strip_columns(cases)
        root_codes, finding_codes, problems, soft = self.encode(cases, passthrough)
        if problems:
            raise CaseTableError(problems)
        values = self.probabilities(root_codes, finding_codes, block=block, workers=workers, soft=soft)
        impossible = np.isnan(values[:, 0])
        if on_impossible == "raise" and impossible.any():
            raise ImpossibleCasesError(tuple(cases.index[impossible]))
        out = pd.DataFrame(values, index=cases.index, columns=[*self.etiologies, *CATEGORY_COLUMNS])
        if passthrough:
            front = cases[passthrough].copy()
            out = pd.concat([front, out], axis=1)
        return out


def _rebuild_scorer(priors: Priors, setting: str) -> BatchScorer:
    return BatchScorer(CompiledEngine(priors, setting))


def posterior_batch(
    engine: object,
    priors: Priors,
    cases: pd.DataFrame,
    *,
    passthrough: Sequence[str] = (),
    on_impossible: Literal["raise", "nan"] = "raise",
    workers: int | None = None,
) -> pd.DataFrame:
    """Exact etiology posteriors for every row of a case table, vectorised over the rows.

    Parameters
    ----------
    engine
        The model's engine (a :class:`fasciculation_dx.inference.compiled.CompiledEngine`; any other engine with
        ``setting`` is replaced by a compiled one for the same priors, which gives the same answers).
    priors
        The model's priors.
    cases
        One row per case. Columns named after evidence nodes are evidence (empty string, NaN,
        None or NA = unobserved); ``case_id``, ``setting`` (checked against the model's setting)
        and ``etiology`` are allowed and ignored; any other column must be named in
        ``passthrough``.
    passthrough
        Non-evidence columns to copy to the output, in front of the probabilities.
    on_impossible
        ``"raise"`` (default): evidence of probability zero raises :class:`ImpossibleCasesError`
        naming every such row; ``"nan"``: such rows get NaN probabilities.
    workers
        Threads used to score blocks of cases (default: one per CPU).

    Returns
    -------
    pandas.DataFrame
        Same index as ``cases``; the passthrough columns, then one column per etiology (in the
        priors' order) with ``P(etiology | case)``, then ``p_benign`` and ``p_pathological``.

    Raises
    ------
    CaseTableError
        Listing every unknown column, invalid state (with its rows) and row of another setting.
    ImpossibleCasesError
        If some cases have evidence of probability zero (``on_impossible="raise"``).

    Examples
    --------
    >>> import pandas as pd
    >>> import fasciculation_dx as fdx
    >>> model = fdx.load_model()
    >>> cases = pd.DataFrame({"weakness": ["yes", "", None], "case_id": ["a", "b", "c"]})
    >>> out = posterior_batch(model.inference, model.priors, cases, passthrough=["case_id"])
    >>> list(out["case_id"]), bool(abs(out.iloc[1]["p_benign"] + out.iloc[1]["p_pathological"] - 1) < 1e-12)
    (['a', 'b', 'c'], True)
    """
    scorer = BatchScorer.for_engine(engine, priors)
    return scorer.score(cases, passthrough=passthrough, on_impossible=on_impossible, workers=workers)


def evidence_frame(rows: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """Build a case table from a list of ``{node: state}`` dicts (absent nodes unobserved)."""
    return pd.DataFrame.from_records(list(rows)).fillna("")

"""Exact etiology posteriors for a whole table of cases at once, vectorised over the cases.

The network's layered structure (see :mod:`fasciculation_dx.inference.compiled`) makes the joint of the
etiology ``e`` and a case's evidence ``E`` a product of three factors::

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
from .case_encoding import ALLOWED_COLUMNS, CATEGORY_COLUMNS, encode_cases, strip_columns, strip_name
from .case_errors import CaseProblem, CaseTableError, ImpossibleCasesError
from .compiled import CompiledEngine
from .evidence import observable_states
from .likelihood import LikelihoodGroup, group_likelihood, likelihood_groups, matmul_rows, one_blas_thread, row_sum

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
                    members.append((position[node], cpt_array(priors, node)[(slice(None), *configs[:, cols].T)]))
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
            A :class:`CompiledEngine`; any other engine (e.g. the pgmpy reference) is replaced by
            a compiled engine for the same priors and setting, since both are exact.
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
        out = np.empty((len(patterns), n_e))
        values, starts = np.unique(first, return_index=True)
        for value, start, stop in zip(values, starts, [*starts[1:], len(patterns)]):
            out[start:stop] = np.einsum(
                "eb,pb->pe", self._root_by_pattern[value], self._root_patterns_b[second[start:stop]]
            )
        return out[inverse.reshape(-1)]

    # -- scoring ---------------------------------------------------------------------------------
    def joint_codes(
        self, root_codes: np.ndarray, finding_codes: np.ndarray, root_factor: np.ndarray | None = None
    ) -> np.ndarray:
        """Unnormalised posteriors, one row per case, from integer state codes.

        Parameters
        ----------
        root_codes
            ``(n, n_roots)`` state indices of the roots in :attr:`roots` order, -1 = unobserved.
        finding_codes
            ``(n, n_findings)`` state indices of :attr:`findings`, -1 = unobserved.
        root_factor
            ``(n, n_etiologies)``: the root factor of these cases when already computed.

        Returns
        -------
        numpy.ndarray
            ``(n, n_etiologies)``: ``P(etiology, evidence)`` times a positive factor per case
            (which cancels when normalising); a row of zeros for impossible evidence.
        """
        ext = np.where(finding_codes < 0, self.cards, finding_codes)
        joint = group_likelihood(self.direct_groups, ext, len(self.etiologies))
        for groups, pm in self.components:
            if groups:
                joint *= matmul_rows(group_likelihood(groups, ext, pm.shape[0]), pm)
        joint *= self._root_factor(root_codes) if root_factor is None else root_factor
        return joint

    def probabilities(
        self,
        root_codes: np.ndarray,
        finding_codes: np.ndarray,
        block: int = DEFAULT_BLOCK,
        workers: int | None = None,
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
        if self.roots and self._extended_roots() is None:
            # the two-group path sums each distinct root pattern once, so it runs over every case
            # before the blocks
            roots = self._root_factor(root_codes)

        def run(start: int) -> None:
            stop = min(n, start + block)
            factor = None if roots is None else roots[start:stop]
            joint = self.joint_codes(root_codes[start:stop], finding_codes[start:stop], factor)
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
    ) -> tuple[np.ndarray, np.ndarray, list[CaseProblem]]:
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
        root_codes, finding_codes, problems = self.encode(cases, passthrough)
        if problems:
            raise CaseTableError(problems)
        values = self.probabilities(root_codes, finding_codes, block=block, workers=workers)
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
        The model's engine (a :class:`CompiledEngine`; any other engine with ``setting`` is
        replaced by a compiled one for the same priors, which gives the same answers).
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

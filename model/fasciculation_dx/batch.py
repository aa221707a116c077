"""Exact etiology posteriors for a whole table of cases at once, vectorised over the cases.

The network's layered structure (see :mod:`fasciculation_dx.compiled`) makes the joint of the
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
  reader of case files (:mod:`fasciculation_dx.cases`, :mod:`fasciculation_dx.scoring`):
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Literal

import numpy as np
import pandas as pd

from .compiled import CompiledEngine
from .errors import EvidenceError, ImpossibleEvidenceError
from .evidence import observable_states
from .priors import ETIOLOGY, Priors
from .tables import cpt_array

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

ALLOWED_COLUMNS = ("case_id", "setting", "etiology")
"""Non-evidence columns a case table may carry without naming them in ``passthrough``."""

CATEGORY_COLUMNS = ("p_benign", "p_pathological")

DEFAULT_BLOCK = 1024
"""Cases per block of the vectorised computation (bounds the working memory to tens of MB)."""

_GEMM_MIN_ROWS = 256
_GEMM_ROW_MULTIPLE = 16
_MAX_GROUP_TABLE = 1 << 19  # entries of one group's likelihood table (4 MB)
_MAX_ROOT_TABLE = 20_000_000  # entries of the extended root table before falling back
_SHOW_ROWS = 10  # row labels listed per problem in an error message


@dataclass(frozen=True)
class CaseProblem:
    """One problem of a case table.

    Attributes
    ----------
    column
        The column concerned.
    message
        What is wrong and what is valid.
    value
        The offending cell value (for invalid states), else ``None``.
    rows
        Index labels of the rows concerned (empty when the whole column is wrong).
    """

    column: str
    message: str
    value: object = None
    rows: tuple = field(default=())

    def __str__(self) -> str:
        if not self.rows:
            return self.message
        shown = ", ".join(map(str, self.rows[:_SHOW_ROWS]))
        more = f" and {len(self.rows) - _SHOW_ROWS} more" if len(self.rows) > _SHOW_ROWS else ""
        count = f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}"
        return f"{self.message} ({count}: {shown}{more})"


def _merge(problems: Iterable[CaseProblem]) -> list[CaseProblem]:
    """Merge problems with the same column, message and value, concatenating their rows."""
    merged: dict[tuple, CaseProblem] = {}
    for p in problems:
        key = (p.column, p.message, repr(p.value))
        if key in merged:
            old = merged[key]
            merged[key] = CaseProblem(old.column, old.message, old.value, old.rows + p.rows)
        else:
            merged[key] = p
    return list(merged.values())


class CaseTableError(EvidenceError):
    """A case table has unknown columns, invalid states or rows of another setting.

    ``problems`` lists every problem found (see :class:`CaseProblem`).
    """

    def __init__(self, problems: Sequence[CaseProblem], where: str = "the case table", note: str = ""):
        self.problems = _merge(problems)
        self.where = where
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in {where}{note}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class ImpossibleCasesError(ImpossibleEvidenceError):
    """Some cases have evidence of probability zero under the model.

    ``rows`` holds their index labels. Score them one by one with ``model.posterior`` to see
    which findings conflict, or pass ``on_impossible="nan"`` to get rows of NaN instead.
    """

    def __init__(self, rows: Sequence, where: str = "the case table", note: str = ""):
        self.rows = tuple(rows)
        shown = ", ".join(map(str, self.rows[:_SHOW_ROWS]))
        more = f" and {len(self.rows) - _SHOW_ROWS} more" if len(self.rows) > _SHOW_ROWS else ""
        super().__init__(
            f"{len(self.rows)} case{'s' if len(self.rows) != 1 else ''} in {where}{note} "
            f"ha{'ve' if len(self.rows) != 1 else 's'} evidence of probability zero under the model "
            f"(rows {shown}{more}). Check these rows for a typo or a contradiction "
            "(model.posterior on one row names the conflicting findings), or score with "
            "on_impossible='nan' to mark them with NaN",
            {},
        )


def _closest(word: object, choices: Iterable[str]) -> str:
    close = get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


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
        self.direct_groups = _groups(direct, n_e)
        self.components: list[tuple[list[_Group], np.ndarray]] = []
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
            self.components.append((_groups(members, len(configs)), np.ascontiguousarray(pm)))
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
        patterns, inverse = np.unique(ext_codes, axis=0, return_inverse=True)
        out = np.empty((len(patterns), n_e))
        for i, pattern in enumerate(patterns):
            index = (slice(None), *(slice(None) if c == card else int(c) for c, card in zip(pattern, cards)))
            selected = self.root_joint[index]
            out[i] = selected.reshape(n_e, -1).sum(axis=1)
        return out[inverse.reshape(-1)]

    # -- scoring ---------------------------------------------------------------------------------
    def joint_codes(self, root_codes: np.ndarray, finding_codes: np.ndarray) -> np.ndarray:
        """Unnormalised posteriors, one row per case, from integer state codes.

        Parameters
        ----------
        root_codes
            ``(n, n_roots)`` state indices of the roots in :attr:`roots` order, -1 = unobserved.
        finding_codes
            ``(n, n_findings)`` state indices of :attr:`findings`, -1 = unobserved.

        Returns
        -------
        numpy.ndarray
            ``(n, n_etiologies)``: ``P(etiology, evidence)`` times a positive factor per case
            (which cancels when normalising); a row of zeros for impossible evidence.
        """
        ext = np.where(finding_codes < 0, self.cards, finding_codes)
        joint = _likelihood(self.direct_groups, ext, len(self.etiologies))
        for groups, pm in self.components:
            if groups:
                joint *= _matmul_rows(_likelihood(groups, ext, pm.shape[0]), pm)
        joint *= self._root_factor(root_codes)
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
        if self.roots:
            self._extended_roots()  # build the lazy table before any thread needs it

        def run(start: int) -> None:
            stop = min(n, start + block)
            joint = self.joint_codes(root_codes[start:stop], finding_codes[start:stop])
            total = _row_sum(joint, self._all_columns)[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                post = joint / total
            post[~(total[:, 0] > 0)] = np.nan
            values[start:stop, :n_e] = post
            values[start:stop, n_e] = _row_sum(post, self._benign_columns)
            values[start:stop, n_e + 1] = _row_sum(post, self._pathological_columns)

        starts = range(0, n, block)
        workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
        if workers == 1 or len(starts) <= 1:
            for start in starts:
                run(start)
        else:
            with _one_blas_thread(), ThreadPoolExecutor(min(workers, len(starts))) as pool:
                list(pool.map(run, starts))
        return values

    def encode(
        self, cases: pd.DataFrame, passthrough: Sequence[str] = ()
    ) -> tuple[np.ndarray, np.ndarray, list[CaseProblem]]:
        """Check a case table and turn it into integer state codes.

        Parameters
        ----------
        cases
            The case table (see the module docstring for its columns).
        passthrough
            Extra non-evidence columns that are allowed.

        Returns
        -------
        root_codes, finding_codes : numpy.ndarray
            As taken by :meth:`joint_codes`.
        problems : list of CaseProblem
            Every problem found; empty when the table is valid.
        """
        cases = strip_columns(cases)
        n = len(cases)
        problems: list[CaseProblem] = []
        index = cases.index
        allowed = set(ALLOWED_COLUMNS) | set(passthrough)
        for col in passthrough:
            if col in self.states or col in self.etiologies or col in CATEGORY_COLUMNS:
                problems.append(
                    CaseProblem(
                        str(col), f"column '{col}' cannot be passed through: it is an evidence node or an output column"
                    )
                )
            elif col not in cases.columns:
                problems.append(
                    CaseProblem(
                        str(col),
                        f"passthrough column '{col}' is not in the table. "
                        f"Its columns: {', '.join(map(str, cases.columns))}",
                    )
                )
        duplicated = set(cases.columns[cases.columns.duplicated()])
        for col in duplicated:
            problems.append(CaseProblem(str(col), f"column '{col}' appears more than once"))
        columns = {c: i for i, c in enumerate(self.roots)}
        findings = {c: i for i, c in enumerate(self.findings)}
        root_codes = np.full((n, len(self.roots)), -1, dtype=np.intp)
        finding_codes = np.full((n, len(self.findings)), -1, dtype=np.intp)
        for col in dict.fromkeys(cases.columns):
            if col in duplicated:
                continue
            if col in allowed and col not in self.states:
                if col == "setting":
                    problems.extend(self._check_setting(cases[col], index))
                continue
            if col not in self.states:
                if col == ETIOLOGY or col in self.mechanisms:
                    what = "the etiology" if col == ETIOLOGY else "a latent mechanism"
                    message = f"column '{col}' is {what} and cannot be evidence"
                else:
                    message = (
                        f"unknown column '{col}'.{_closest(col, self.states)} Columns must be "
                        f"evidence nodes ({', '.join(self.states)}), or {', '.join(ALLOWED_COLUMNS)}, "
                        "or be named as passthrough columns"
                    )
                problems.append(CaseProblem(str(col), message))
                continue
            codes, col_problems = self._encode_column(col, cases[col], index)
            problems.extend(col_problems)
            if col in columns:
                root_codes[:, columns[col]] = codes
            else:
                finding_codes[:, findings[col]] = codes
        return root_codes, finding_codes, problems

    def _encode_column(self, node: str, values: pd.Series, index: pd.Index) -> tuple[np.ndarray, list[CaseProblem]]:
        states = self.states[node]
        lookup_state = {s: i for i, s in enumerate(states)}
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = _stripped(uniques)
        lookup = np.empty(len(uniques) + 1, dtype=np.intp)
        lookup[-1] = -1  # the NA sentinel indexes the last slot
        invalid = []
        for j, value in enumerate(uniques):
            if isinstance(value, str) and value == "":
                lookup[j] = -1
            elif isinstance(value, str) and value in lookup_state:
                lookup[j] = lookup_state[value]
            else:
                lookup[j] = -2
                invalid.append(j)
        mapped = lookup[codes]
        problems = []
        valid = ", ".join(states)
        for value, positions in _group(uniques, invalid):
            rows = tuple(index[np.flatnonzero(np.isin(codes, positions))])
            problems.append(
                CaseProblem(
                    str(node),
                    f"column '{node}': invalid state {value!r}.{_closest(value, states)} "
                    f"Valid states: {valid}; leave the cell empty if unobserved",
                    value,
                    rows,
                )
            )
        mapped[mapped == -2] = -1
        return mapped, problems

    def _check_setting(self, values: pd.Series, index: pd.Index) -> list[CaseProblem]:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = _stripped(uniques)
        problems = []
        other = [j for j, value in enumerate(uniques) if not (isinstance(value, str) and value in ("", self.setting))]
        for value, positions in _group(uniques, other):
            rows = tuple(index[np.flatnonzero(np.isin(codes, positions))])
            problems.append(
                CaseProblem(
                    "setting",
                    f"column 'setting': {value!r} is not the setting being scored "
                    f"('{self.setting}'). Score each setting separately (with its own model), or leave "
                    "the cell empty",
                    value,
                    rows,
                )
            )
        return problems

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
        passthrough = [_strip_name(c) for c in passthrough]
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


def _strip_name(name: object) -> object:
    return name.strip() if isinstance(name, str) else name


def strip_columns(cases: pd.DataFrame) -> pd.DataFrame:
    """Return ``cases`` with surrounding whitespace stripped from its column names (no copy of the data).

    ``cases`` itself is returned when no name changes.
    """
    names = [_strip_name(c) for c in cases.columns]
    if names == list(cases.columns):
        return cases
    return cases.set_axis(names, axis=1)


def _stripped(uniques) -> list:
    """Strip surrounding whitespace from the text among a column's distinct values (from :func:`pandas.factorize`)."""
    return [v.strip() if isinstance(v, str) else v for v in uniques]


def _group(uniques: list, positions: Iterable[int]) -> list[tuple[object, list[int]]]:
    """Group positions of ``uniques`` by value (values that differed only by whitespace coincide)."""
    groups: dict[str, tuple[object, list[int]]] = {}
    for j in positions:
        value = uniques[j]
        groups.setdefault(repr(value), (value, []))[1].append(j)
    return list(groups.values())


def _row_sum(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Sum the given columns of each row, left to right, whatever the number of rows.

    (``ndarray.sum(axis=1)`` picks its summation order by shape, so one row alone and the same
    row among others could differ in the last bit.)
    """
    out = np.zeros(len(values))
    for j in columns:
        out += values[:, j]
    return out


def _matmul_rows(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` computed so that each row's result does not depend on the other rows.

    BLAS uses different kernels (and so different rounding) for small or odd row counts; padding
    the rows with zeros to a multiple of 16, at least 256, makes every row's result bit-identical
    however the cases are split into blocks, chunks or Dask partitions.
    """
    n = len(left)
    rows = max(_GEMM_MIN_ROWS, -(-n // _GEMM_ROW_MULTIPLE) * _GEMM_ROW_MULTIPLE)
    if rows == n:
        return left @ right
    padded = np.zeros((rows, left.shape[1]))
    padded[:n] = left
    return (padded @ right)[:n]


def _rebuild_scorer(priors: Priors, setting: str) -> BatchScorer:
    return BatchScorer(CompiledEngine(priors, setting))


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while our own threads run (if threadpoolctl is available)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional speed-up
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


@dataclass(frozen=True)
class _Group:
    """Findings whose joint codes index one precomputed likelihood table."""

    columns: np.ndarray  # positions of the findings in BatchScorer.findings
    strides: np.ndarray  # code of the group = ext_codes[:, columns] @ strides
    table: np.ndarray  # (prod(card + 1), width): product of the findings' likelihoods, rows scaled


def _groups(members: list[tuple[int, np.ndarray]], width: int) -> list[_Group]:
    """Split findings ``(position, table (n_states, width))`` into groups with tables of bounded size.

    A finding's extra slot ``n_states`` (unobserved) has likelihood 1. Each row of a group's table
    is divided by its maximum (a positive factor per case, which cancels when normalising), which
    keeps products of many small likelihoods away from underflow.
    """
    groups: list[_Group] = []
    current: list[tuple[int, np.ndarray]] = []

    def close() -> None:
        if not current:
            return
        table = np.ones((1, width))
        for _, t in current:
            ext = np.vstack([t, np.ones((1, width))])  # (n_states + 1, width)
            table = (table[:, None, :] * ext[None, :, :]).reshape(-1, width)
        scale = table.max(axis=1, keepdims=True)
        table = np.divide(table, scale, out=np.zeros_like(table), where=scale > 0)
        sizes = [len(t) + 1 for _, t in current]
        strides = np.cumprod([1, *sizes[::-1]])[:-1][::-1].astype(np.intp)
        groups.append(_Group(np.array([i for i, _ in current], dtype=np.intp), strides, np.ascontiguousarray(table)))
        current.clear()

    rows = 1
    for position, table in members:
        size = table.shape[0] + 1
        if current and rows * size * width > _MAX_GROUP_TABLE:
            close()
            rows = 1
        current.append((position, table))
        rows *= size
    close()
    return groups


def _likelihood(groups: list[_Group], ext_codes: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)``: the product of each group's table row selected by the cases' codes."""
    out = None
    for group in groups:
        rows = group.table[ext_codes[:, group.columns] @ group.strides]
        if out is None:
            out = rows
        else:
            out *= rows
    if out is None:
        out = np.ones((len(ext_codes), width))
    return out


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

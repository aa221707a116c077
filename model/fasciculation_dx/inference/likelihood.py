"""The vectorised likelihood of a block of cases: one-hot evidence times log-probability tables.

Findings are grouped so that each group's table of joint log-likelihoods stays small; a block's
likelihood is one matrix product per group followed by ``exp`` (see
:mod:`fasciculation_dx.inference.batch`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LikelihoodGroup",
    "likelihood_groups",
    "group_likelihood",
    "matmul_rows",
    "row_sum",
    "one_blas_thread",
    "scratch",
]

_GEMM_MIN_ROWS = 256
_GEMM_ROW_MULTIPLE = 16
_MAX_GROUP_TABLE = 1 << 19  # entries of one group's likelihood table (4 MB)


def row_sum(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Sum the given columns of each row, left to right, whatever the number of rows.

    (``ndarray.sum(axis=1)`` picks its summation order by shape, so one row alone and the same
    row among others could differ in the last bit.)
    """
    out = np.zeros(len(values))
    for j in columns:
        out += values[:, j]
    return out


def matmul_rows(left: np.ndarray, right: np.ndarray) -> np.ndarray:
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


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while our own threads run (if threadpoolctl is available)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional speed-up
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


@dataclass(frozen=True)
class LikelihoodGroup:
    """Findings whose joint codes index one precomputed likelihood table."""

    columns: np.ndarray  # positions of the findings in BatchScorer.findings
    strides: np.ndarray  # code of the group = ext_codes[:, columns] @ strides
    table: np.ndarray  # (prod(card + 1), width): product of the findings' likelihoods, rows scaled


def likelihood_groups(members: list[tuple[int, np.ndarray]], width: int) -> list[LikelihoodGroup]:
    """Split findings ``(position, table (n_states, width))`` into groups with tables of bounded size.

    A finding's extra slot ``n_states`` (unobserved) has likelihood 1. Each row of a group's table
    is divided by its maximum (a positive factor per case, which cancels when normalising), which
    keeps products of many small likelihoods away from underflow.
    """
    groups: list[LikelihoodGroup] = []
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
        groups.append(
            LikelihoodGroup(np.array([i for i, _ in current], dtype=np.intp), strides, np.ascontiguousarray(table))
        )
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


def group_likelihood(
    groups: list[LikelihoodGroup], ext_codes: np.ndarray, width: int, out: np.ndarray | None = None
) -> np.ndarray:
    """``(n, width)``: the product of each group's table row selected by the cases' codes.

    Parameters
    ----------
    groups, ext_codes, width
        The groups, the cases' codes (unobserved coded ``n_states``) and the tables' width.
    out
        An array of shape ``(n, width)`` to write into (e.g. a :func:`scratch` array); a new one
        when omitted.

    Each table row is gathered with :func:`numpy.take` into a reused buffer and multiplied in
    place: gathering into a fresh array for every group costs more than the arithmetic.
    """
    n = len(ext_codes)
    if out is None:
        out = np.empty((n, width))
    if not groups:
        out[...] = 1.0
        return out
    buffer = None
    for k, group in enumerate(groups):
        rows = ext_codes[:, group.columns] @ group.strides  # valid by construction, so mode="clip" is safe
        if k == 0:
            np.take(group.table, rows, axis=0, out=out, mode="clip")
        else:
            if buffer is None:
                buffer = scratch(f"gather{width}", (n, width))  # one buffer per width, reused across blocks
            np.take(group.table, rows, axis=0, out=buffer, mode="clip")
            out *= buffer
    return out


_scratch = threading.local()


def scratch(name: str, shape: tuple[int, int]) -> np.ndarray:
    """Return this thread's reusable array ``name`` of ``shape`` (contents undefined).

    Blocks of cases are scored one after another in each thread; reusing their working arrays
    spares the allocator and the page faults of a fresh array of several MB per block.
    """
    arrays = getattr(_scratch, "arrays", None)
    if arrays is None:
        arrays = _scratch.arrays = {}
    array = arrays.get(name)
    if array is None or array.shape != shape:
        array = arrays[name] = np.empty(shape)
    return array

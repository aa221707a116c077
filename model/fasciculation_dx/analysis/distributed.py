"""Scoring a Dask DataFrame of cases, partition by partition, on one machine or a cluster.

The same vectorised, exact computation as :func:`fasciculation_dx.inference.batch.posterior_batch` runs on
each partition through ``map_partitions``; the scorer (a few MB of precomputed arrays) enters the
task graph once, so a cluster ships it to each worker once. The result is identical to scoring
the concatenated partitions in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from ..inference.batch import BatchScorer

__all__ = ["posterior_dask"]


def _score_partition(
    part: pd.DataFrame, scorer: BatchScorer, passthrough: list[str], on_impossible: str
) -> pd.DataFrame:
    return scorer.score(part, passthrough=passthrough, on_impossible=on_impossible, workers=1)


def posterior_dask(
    model: object,
    ddf,
    *,
    passthrough: Sequence[str] = (),
    on_impossible: Literal["raise", "nan"] = "raise",
):
    """Exact etiology posteriors for every row of a Dask DataFrame (lazy).

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model` (scoring always uses the exact compiled engine).
    ddf
        A ``dask.dataframe.DataFrame`` with the columns described in
        :func:`fasciculation_dx.inference.batch.posterior_batch`.
    passthrough
        Non-evidence columns to copy to the output.
    on_impossible
        As in :func:`fasciculation_dx.inference.batch.posterior_batch`; errors are raised when the result
        is computed and name the rows (index labels) of the failing partition.

    Returns
    -------
    dask.dataframe.DataFrame
        Same index and partitions as ``ddf``; the passthrough columns, one float column per
        etiology, then ``p_benign`` and ``p_pathological``. Nothing is computed until you call
        ``.compute()``, ``.to_parquet()`` and so on.
    """
    import dask

    scorer = BatchScorer.for_engine(getattr(model, "inference", model), getattr(model, "priors", None))
    passthrough = list(passthrough)
    missing = [c for c in passthrough if c not in ddf.columns]
    if missing:
        from ..inference.batch import CaseProblem, CaseTableError

        raise CaseTableError(
            [
                CaseProblem(
                    c, f"passthrough column '{c}' is not in the table. Its columns: {', '.join(map(str, ddf.columns))}"
                )
                for c in missing
            ]
        )
    meta = pd.concat(
        [ddf._meta[passthrough], pd.DataFrame({c: pd.Series(dtype="float64") for c in scorer.output_names})], axis=1
    )
    shared = dask.delayed(scorer, pure=True)
    return ddf.map_partitions(_score_partition, shared, passthrough, on_impossible, meta=meta, enforce_metadata=True)

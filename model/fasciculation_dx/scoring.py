"""Score a case file larger than memory: stream it in chunks, write the posteriors atomically.

``fasciculation-dx score cases.csv -o posteriors.parquet`` reads CSV or Parquet (by extension),
scores each chunk with :func:`fasciculation_dx.batch.posterior_batch` and writes CSV or Parquet.

- The output is written to a temporary file in the output's directory and renamed over the
  output only when every row has been scored, so a failure never leaves a partial file.
- The input is never overwritten, also when the two paths differ but are the same file.
- CSV cells are read as text: an empty cell is unobserved; ``NA`` or ``null`` are not treated as
  missing (they are invalid states, reported as such).
- The output has the input's ``case_id``, ``setting`` and ``etiology`` columns (those present)
  and any ``keep`` columns, then one probability column per etiology, then ``p_benign`` and
  ``p_pathological``, one row per input row, in the same order.
- Every problem (unknown columns, invalid states, rows of another setting, impossible evidence)
  is collected over the whole file and reported at once; rows are numbered from 1 after the
  header (in a CSV file, line = row + 1). Nothing is written then.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .batch import ALLOWED_COLUMNS, BatchScorer, CaseProblem, CaseTableError, ImpossibleCasesError
from .errors import FasciculationDxError

__all__ = ["ScoreFileError", "score_file", "DEFAULT_CHUNKSIZE"]

DEFAULT_CHUNKSIZE = 100_000
"""Rows read, scored and written at a time (about 100 MB of working memory)."""

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

_ROW_NOTE = " (rows numbered from 1 after the header; in a CSV file, line = row + 1)"


class ScoreFileError(FasciculationDxError, ValueError):
    """The input or output file of ``score`` cannot be used (format, path, or overwriting)."""


def _format(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ScoreFileError(
            f"cannot tell the format of the {role} file '{path}' from its extension "
            f"'{path.suffix}'. Valid extensions: {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _read_chunks(path: Path, fmt: str, chunksize: int) -> Iterator[pd.DataFrame]:
    if fmt == "csv":
        reader = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, chunksize=chunksize, encoding="utf-8-sig"
        )
        with reader:
            yield from reader
    else:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(path)
        for batch in file.iter_batches(batch_size=chunksize):
            yield batch.to_pandas()


def _count_rows(path: Path, fmt: str) -> int | None:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


class _Writer:
    """Append chunks to a CSV or Parquet file with pyarrow's streaming writers.

    CSV floats are written in the shortest form that reads back to the same double (exact round
    trip); NaN is written as an empty cell.
    """

    def __init__(self, path: Path, fmt: str, input_path: Path, input_fmt: str, passthrough: list[str]):
        import pyarrow as pa

        self.path, self.fmt = path, fmt
        self.first = True
        self._writer = None
        self._schema = None
        source = None
        if input_fmt == "parquet":
            import pyarrow.parquet as pq

            source = pq.ParquetFile(input_path).schema_arrow
        self._pass_fields = [source.field(c) if source is not None else pa.field(c, pa.string()) for c in passthrough]

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        if self._schema is None:
            floats = [pa.field(str(c), pa.float64()) for c in frame.columns[len(self._pass_fields) :]]
            self._schema = pa.schema([*self._pass_fields, *floats])
            if self.fmt == "csv":
                import pyarrow.csv as pc

                self._writer = pc.CSVWriter(str(self.path), self._schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.path), self._schema)
        self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False))
        self.first = False

    def close(self, frame_if_empty: pd.DataFrame) -> None:
        if self.first:  # no rows: still write a valid file with the header / schema
            self.write(frame_if_empty)
        if self._writer is not None:
            self._writer.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def score_file(
    model: object,
    input: str | os.PathLike,
    output: str | os.PathLike,
    chunksize: int = DEFAULT_CHUNKSIZE,
    *,
    keep: Sequence[str] = (),
    on_impossible: Literal["raise", "nan"] = "raise",
    progress: bool | None = None,
) -> int:
    """Score every case of a CSV or Parquet file and write the posteriors to another file.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model` (its priors and setting are used; scoring is always by
        the exact compiled engine).
    input
        A ``.csv`` or ``.parquet`` file, one case per row (see :mod:`fasciculation_dx.batch`
        for the columns).
    output
        A ``.csv`` or ``.parquet`` file to write; replaced atomically when complete. It must not
        be the input.
    chunksize
        Rows read and scored at a time; bounds the memory used.
    keep
        Further non-evidence columns to copy to the output (``case_id``, ``setting`` and
        ``etiology`` are copied when present).
    on_impossible
        ``"raise"`` (default): rows with evidence of probability zero are an error naming them;
        ``"nan"``: they get NaN probabilities.
    progress
        Show a progress bar on stderr; default: only when stderr is a terminal.

    Returns
    -------
    int
        The number of cases scored.

    Raises
    ------
    ScoreFileError
        For an unknown extension, a missing input, a bad chunk size or an output that is the input.
    CaseTableError
        Listing every problem of the file (nothing is written).
    ImpossibleCasesError
        Naming every row with impossible evidence (nothing is written).
    """
    src, dst = Path(input), Path(output)
    in_fmt, out_fmt = _format(src, "input"), _format(dst, "output")
    if not src.is_file():
        raise ScoreFileError(f"input file '{src}' does not exist or is not a file")
    if _same_file(src, dst):
        raise ScoreFileError(
            f"refusing to overwrite the input file '{src}' with the output; choose another output path"
        )
    if not isinstance(chunksize, int) or chunksize < 1:
        raise ScoreFileError(f"chunksize must be a positive integer. Got {chunksize!r} instead")
    if on_impossible not in ("raise", "nan"):
        raise ScoreFileError(f"on_impossible must be 'raise' or 'nan'. Got {on_impossible!r} instead")
    if not dst.parent.is_dir():
        raise ScoreFileError(f"the output's directory '{dst.parent}' does not exist")
    scorer = BatchScorer.for_engine(getattr(model, "inference", model), getattr(model, "priors", None))
    if progress is None:
        progress = sys.stderr.isatty()
    bar = _progress_bar(_count_rows(src, in_fmt)) if progress else contextlib.nullcontext()

    fd, tmp_name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    problems: list[CaseProblem] = []
    impossible: list = []
    passthrough: list[str] | None = None
    rows = 0
    try:
        writer = None
        with bar as pbar:
            for chunk in _read_chunks(src, in_fmt, chunksize):
                chunk.index = pd.RangeIndex(rows + 1, rows + 1 + len(chunk))
                if passthrough is None:
                    passthrough = [c for c in chunk.columns if c in ALLOWED_COLUMNS or c in keep]
                    missing = [c for c in keep if c not in chunk.columns]
                    if missing:
                        raise ScoreFileError(
                            f"column(s) to keep not in '{src}': {', '.join(missing)}. "
                            f"Its columns: {', '.join(map(str, chunk.columns))}"
                        )
                    writer = _Writer(tmp, out_fmt, src, in_fmt, passthrough)
                rows += len(chunk)
                root_codes, finding_codes, chunk_problems = scorer.encode(chunk, passthrough)
                if chunk_problems:
                    problems.extend(chunk_problems)
                    if any(not p.rows for p in chunk_problems):  # column problems: same in every chunk
                        break
                if problems:
                    if pbar is not None:
                        pbar.update(len(chunk))
                    continue  # keep checking the rest of the file, write nothing more
                values = scorer.probabilities(root_codes, finding_codes)
                bad = np.isnan(values[:, 0])
                if bad.any() and on_impossible == "raise":
                    impossible.extend(chunk.index[bad])
                if impossible:
                    if pbar is not None:
                        pbar.update(len(chunk))
                    continue
                frame = pd.DataFrame(values, index=chunk.index, columns=scorer.output_names)
                if passthrough:
                    frame = pd.concat([chunk[passthrough], frame], axis=1)
                writer.write(frame)
                if pbar is not None:
                    pbar.update(len(chunk))
        if problems:
            raise CaseTableError(problems, where=f"'{src}'", note=_ROW_NOTE)
        if impossible:
            raise ImpossibleCasesError(impossible, where=f"'{src}'", note=_ROW_NOTE)
        if writer is None:
            raise ScoreFileError(f"'{src}' has no header row; it must have one column per evidence node")
        empty = pd.DataFrame(
            {c: pd.Series(dtype=str) for c in passthrough or []}
            | {c: pd.Series(dtype=float) for c in scorer.output_names}
        )
        writer.close(empty)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return rows


def _progress_bar(total: int | None):
    """Return a tqdm progress bar on stderr (or nothing, if tqdm is not installed)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return tqdm(total=total, unit=" cases", unit_scale=True, file=sys.stderr, desc="scoring")


# -- command line ----------------------------------------------------------------------------------

"""Score a case file larger than memory: stream it in chunks, write the posteriors atomically.

``fasciculation-dx score cases.csv -o posteriors.parquet`` reads CSV or Parquet (by extension),
scores each chunk with :func:`fasciculation_dx.inference.batch.posterior_batch` and writes CSV or Parquet.

- The output is checked before anything is read or scored (it must not be a directory, its folder
  must exist and be writable, and it must not exist unless ``overwrite`` / ``--overwrite``). It is
  written to a temporary file in its folder (``.NAME.PID.RANDOM.fdx-tmp``) and renamed over the
  output only when every row has been scored (:func:`fasciculation_dx.atomic.atomic_file`), so a
  failure, or a kill at any moment, leaves the old output, if any, complete and unchanged; the
  next run removes the temporary files of killed runs.
- The input is never overwritten, also when the two paths differ but are the same file.
- CSV files are read with pyarrow's streaming reader as UTF-8 text: an empty cell is unobserved;
  ``NA`` or ``null`` are not treated as missing (they are invalid states, reported as such).
- The rules are those of every reader of case files (:mod:`fasciculation_dx.analysis.cases`):
  surrounding whitespace is stripped from every cell and every column name (``' yes '`` is
  ``yes``); every row must have as many fields as the header (a truncated row or one with a
  stray comma is an error, never scored with cells made up); a blank row is an error; a byte
  that is not UTF-8 is an error naming its row, column and offset.
- The output has the input's ``case_id``, ``setting`` and ``etiology`` columns (those present)
  and any ``keep`` columns, then one probability column per etiology, then ``p_benign`` and
  ``p_pathological``, one row per input row, in the same order.
- Every problem (unknown columns, invalid states, rows of another setting or with the wrong
  number of fields, impossible evidence) is collected over the whole file and reported at once.
  Rows are numbered as in a spreadsheet, as by every reader: the header is row 1, the first case
  row 2 (in a CSV file without line breaks inside quoted cells, row = line; in Parquet, the
  position as if written as CSV). Nothing is written then.

Test hook: the checkpoint ``score:chunk`` (see :func:`fasciculation_dx.atomic.checkpoint`) is
passed after each chunk is written to the temporary file.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..atomic import atomic_file, check_file_target, checkpoint
from ..errors import FasciculationDxError
from ..inference.batch import ALLOWED_COLUMNS, BatchScorer, CaseProblem, CaseTableError, ImpossibleCasesError
from .cases import BLANK_ROW, ROW_NOTE, non_utf8, non_utf8_message, ragged_row

__all__ = ["ScoreFileError", "score_file", "DEFAULT_CHUNKSIZE"]

DEFAULT_CHUNKSIZE = 100_000
"""Rows read, scored and written at a time (about 100 MB of working memory)."""

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

_ROW_NOTE = f" ({ROW_NOTE})"

_BLOCK = 1 << 20  # bytes parsed at a time by the CSV reader


class ScoreFileError(FasciculationDxError, ValueError):
    """The input or output file of ``score`` cannot be used (format, path, content or overwriting)."""


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


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _stripped_names(names: Sequence[object]) -> list[str]:
    return [str(name).strip() for name in names]


def _table_frame(table, names: list[str], index: pd.Index) -> pd.DataFrame:
    """Return a pyarrow table as a data frame with the (stripped) column names and the given row index."""
    table = table.rename_columns([str(i) for i in range(table.num_columns)])  # names may repeat
    frame = table.to_pandas().set_axis(names, axis=1)
    frame.index = index
    return frame


# -- readers ---------------------------------------------------------------------------------------
class _CountingFile:
    """The CSV input as pyarrow reads it: counts line breaks, and ends an unterminated last line.

    pyarrow cannot read a header-only file whose header has no line break, so one is added at the
    end of a file that lacks it. The counts tell whether the file may hold blank lines (see
    :meth:`_CsvChunks.blank_rows`).
    """

    def __init__(self, path: Path):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._size = os.fstat(self._file.fileno()).st_size
        self._append = False
        if self._size:
            self._file.seek(-1, os.SEEK_END)
            self._append = self._file.read(1) not in (b"\n", b"\r")
            self._file.seek(0)
        self.newlines = self.returns = 0
        self.complete = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if not self.complete and self._file.tell() >= self._size:
            self.complete = True
            if self._append:
                data += b"\n"
        self.newlines += data.count(b"\n")
        self.returns += data.count(b"\r")
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        self.closed = True


class _CsvChunks:
    """Chunks of a CSV file as data frames of text, indexed by spreadsheet row (header = row 1).

    Rows whose number of fields differs from the header's are left out of the chunks and listed
    in :attr:`ragged`; the index of the rows after them skips their numbers. Blank lines are
    skipped by the parser and found afterwards (:meth:`blank_rows`); until then the index counts
    only non-blank rows, and :meth:`row_map` translates such numbers to spreadsheet rows.
    """

    def __init__(self, path: Path, chunksize: int):
        import pyarrow as pa
        import pyarrow.csv as pc

        self.path, self.chunksize = path, chunksize
        self.ragged: list[tuple[int, int, int]] = []  # (row, fields, fields of the header)
        self.total: int | None = None
        self.rows = 0
        self.finished = False
        try:
            if path.stat().st_size == 0:
                raise ScoreFileError(
                    f"'{path}' is empty; it must start with a header row naming the columns "
                    "(see 'fasciculation-dx nodes')"
                )
            self._source = _CountingFile(path)
        except OSError as err:
            raise ScoreFileError(f"cannot read '{path}': {err.strerror or err}") from None
        # the header, as the parser reads it (the first block is parsed to infer types: ignored)
        head = _CountingFile(path)
        try:
            raw = list(
                pc.open_csv(
                    head,
                    read_options=pc.ReadOptions(use_threads=False, block_size=_BLOCK),
                    parse_options=pc.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda row: "skip"),
                ).schema.names
            )
        except Exception as err:
            self._source.close()
            raise self._error(err) from None
        finally:
            head.close()
        parse = pc.ParseOptions(newlines_in_values=True, invalid_row_handler=self._invalid_row)
        self.names = _stripped_names(raw)
        self.schema = pa.schema([pa.field(name, pa.string()) for name in self.names])
        try:
            self._reader = pc.open_csv(
                self._source,
                read_options=pc.ReadOptions(use_threads=False, block_size=_BLOCK),
                parse_options=parse,
                convert_options=pc.ConvertOptions(
                    column_types={name: pa.string() for name in raw},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except Exception as err:
            self._source.close()
            raise self._error(err) from None

    def _invalid_row(self, row) -> str:
        # the row number is known when the parser runs on one thread, as here
        self.ragged.append((row.number or 0, row.actual_columns, row.expected_columns))
        return "skip"

    def _error(self, err: BaseException) -> ScoreFileError:
        """Turn a failure of the CSV parser into a one-line error."""
        if isinstance(err, ScoreFileError):
            return err
        text = str(err)
        if isinstance(err, UnicodeDecodeError) or "UTF8" in text or "UTF-8" in text:
            found = non_utf8(self.path)
            if found is not None:
                row, column, offset, byte = found
                where = f" (row {row}, column {column}; {ROW_NOTE})" if row else ""
                return ScoreFileError(f"'{self.path}'{where}: {non_utf8_message(offset, byte)}")
        if "Empty CSV file" in text:
            return ScoreFileError(
                f"'{self.path}' has no header row (it holds only blank lines); "
                "it must start with a header row naming the columns"
            )
        if isinstance(err, OSError):
            return ScoreFileError(f"cannot read '{self.path}': {err.strerror or _reason(err)}")
        return ScoreFileError(f"cannot read '{self.path}' as CSV: {_reason(err)}")

    def pass_fields(self, columns: Sequence[str]) -> list:
        return [self.schema.field(self.names.index(c)) for c in columns]

    def _index(self, n: int) -> pd.Index:
        start = self.rows
        if not self.ragged:
            return pd.RangeIndex(start + 2, start + 2 + n)
        skipped = np.sort(np.array([r[0] for r in self.ragged], dtype=np.int64))
        before = skipped - np.arange(len(skipped)) - 2  # rows kept before each skipped row
        kept = np.arange(start, start + n)
        return pd.Index(kept + 2 + np.searchsorted(before, kept, side="right"))

    def _frame(self, table) -> pd.DataFrame:
        frame = _table_frame(table, self.names, self._index(table.num_rows))
        self.rows += len(frame)
        return frame

    def __iter__(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        pending: list = []
        count = 0
        batches = iter(self._reader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except Exception as err:
                raise self._error(err) from None
            pending.append(batch)
            count += batch.num_rows
            while count >= self.chunksize:
                table = pa.Table.from_batches(pending)
                rest = table.slice(self.chunksize)
                frame = self._frame(table.slice(0, self.chunksize))
                pending, count = rest.to_batches(), rest.num_rows
                del table, rest  # hold no text but the frame's while it is scored
                yield frame
        if count:
            frame = self._frame(pa.Table.from_batches(pending))
            del pending
            yield frame
        self.finished = True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._reader.close()
        self._source.close()

    def blank_rows(self) -> list[int]:
        """Spreadsheet rows of the blank lines (the parser skips them); usually found cheaply.

        Every line break ends a row unless the file has blank lines or line breaks inside quoted
        cells; only then is the file scanned for blank lines, first for the byte patterns of a blank
        line, and, if any, row by row with Python's CSV reader.
        """
        source = self._source
        rows = 1 + self.rows + len(self.ragged)
        if self.finished and source.returns in (0, source.newlines) and source.newlines == rows:
            return []
        if not _may_have_blank_lines(self.path):
            return []
        blank = []
        try:
            with open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
                for number, record in enumerate(csv.reader(text), start=1):
                    if not record:
                        blank.append(number)
        except csv.Error:
            return []
        return blank

    def row_map(self, blank: list[int]) -> Callable[[int], int]:
        """Translate the row numbers of the chunks (blank lines not counted) to spreadsheet rows."""
        if not blank:
            return lambda row: row
        before = np.array(blank) - np.arange(len(blank))  # a blank line moves every later row down

        def to_sheet(row: int) -> int:
            return int(row + np.searchsorted(before, row, side="right"))

        return to_sheet

    def problems(self, blank: list[int]) -> list[CaseProblem]:
        """Return the rows of the wrong length and the blank rows as problems, numbered as spreadsheet rows."""
        to_sheet = self.row_map(blank)
        out = [
            CaseProblem("", ragged_row(expected, fields), None, (to_sheet(row),))
            for row, fields, expected in sorted(self.ragged)
        ]
        if blank:
            out.append(CaseProblem("", BLANK_ROW, None, tuple(blank)))
        return out


def _may_have_blank_lines(path: Path) -> bool:
    """Whether the bytes of a blank line occur in the file (a quoted cell may hold them too)."""
    with open(path, "rb") as file:
        head = file.read(_BLOCK)
        if head.removeprefix(b"\xef\xbb\xbf")[:1] in (b"\n", b"\r"):
            return True
        tail = b""
        block = head
        while block:
            data = tail + block
            if b"\n\n" in data or b"\r\r" in data or b"\n\r\n" in data:
                return True
            tail = data[-2:]
            block = file.read(16 * _BLOCK)
    return False


class _ParquetChunks:
    """Chunks of a Parquet file as data frames, indexed by row as if written as CSV (first row = 2)."""

    def __init__(self, path: Path, chunksize: int):
        import pyarrow.parquet as pq

        self.path, self.chunksize = path, chunksize
        self.rows = 0
        self.finished = False
        self.ragged: list[tuple[int, int, int]] = []  # Parquet rows always have every column
        try:
            self._file = pq.ParquetFile(path)
            self.schema = self._file.schema_arrow
            self.total = self._file.metadata.num_rows
        except Exception as err:  # pyarrow raises several kinds for a file that is not Parquet
            raise ScoreFileError(
                f"'{path}' is not a readable Parquet file ({_reason(err)}); if it is CSV, name it .csv"
            ) from None
        self.names = _stripped_names(self.schema.names)

    def pass_fields(self, columns: Sequence[str]) -> list:
        return [self.schema.field(self.names.index(c)).with_name(c) for c in columns]

    def __iter__(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        batches = self._file.iter_batches(batch_size=self.chunksize)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except Exception as err:
                raise ScoreFileError(f"cannot read '{self.path}' as Parquet: {_reason(err)}") from None
            index = pd.RangeIndex(self.rows + 2, self.rows + 2 + batch.num_rows)
            frame = _table_frame(pa.Table.from_batches([batch]), self.names, index)
            self.rows += len(frame)
            yield frame
        self.finished = True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()

    def blank_rows(self) -> list[int]:
        return []

    def row_map(self, blank: list[int]) -> Callable[[int], int]:
        return lambda row: row

    def problems(self, blank: list[int]) -> list[CaseProblem]:
        return []


class _Writer:
    """Append chunks to a CSV or Parquet file with pyarrow's streaming writers.

    CSV floats are written in the shortest form that reads back to the same double (exact round
    trip); NaN is written as an empty cell.
    """

    def __init__(self, path: Path, fmt: str, pass_fields: list):
        self.path, self.fmt = path, fmt
        self.first = True
        self._writer = None
        self._schema = None
        self._pass_fields = pass_fields

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
            self._writer = None

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None


def score_file(
    model: object,
    input: str | os.PathLike,
    output: str | os.PathLike,
    chunksize: int = DEFAULT_CHUNKSIZE,
    *,
    keep: Sequence[str] = (),
    on_impossible: Literal["raise", "nan"] = "raise",
    progress: bool | None = None,
    overwrite: bool = False,
) -> int:
    """Score every case of a CSV or Parquet file and write the posteriors to another file.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model` (its priors and setting are used; scoring is always by
        the exact compiled engine).
    input
        A ``.csv`` or ``.parquet`` file, one case per row (see :mod:`fasciculation_dx.inference.batch`
        for the columns).
    output
        A ``.csv`` or ``.parquet`` file to write, atomically, when every row has been scored. It
        must not be the input.
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
    overwrite
        Replace ``output`` if it exists (``--overwrite``); by default an existing output is an
        error, raised before anything is read.

    Returns
    -------
    int
        The number of cases scored.

    Raises
    ------
    ScoreFileError
        For an unknown extension, a missing, empty or unreadable input (not UTF-8, not Parquet),
        a bad chunk size or an output that is the input.
    OutputExistsError
        If ``output`` exists and ``overwrite`` is false, or is a directory (checked first).
    OutputError
        If ``output``'s folder is missing or cannot be written (checked first), or writing fails.
    CaseTableError
        Listing every problem of the file, rows numbered as in a spreadsheet (nothing is written).
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
    if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
        raise ScoreFileError(f"chunksize must be a positive integer. Got {chunksize!r} instead")
    if on_impossible not in ("raise", "nan"):
        raise ScoreFileError(f"on_impossible must be 'raise' or 'nan'. Got {on_impossible!r} instead")
    check_file_target(dst, overwrite=overwrite)
    reader = _CsvChunks(src, chunksize) if in_fmt == "csv" else _ParquetChunks(src, chunksize)
    with contextlib.closing(reader):
        keep = [str(k).strip() for k in keep]
        missing = [c for c in keep if c not in reader.names]
        if missing:
            raise ScoreFileError(
                f"column(s) to keep not in '{src}': {', '.join(missing)}. Its columns: {', '.join(reader.names)}"
            )
        passthrough = list(dict.fromkeys(c for c in reader.names if c in ALLOWED_COLUMNS or c in keep))
        scorer = BatchScorer.for_engine(getattr(model, "inference", model), getattr(model, "priors", None))
        if progress is None:
            progress = sys.stderr.isatty()
        bar = _progress_bar(reader.total) if progress else contextlib.nullcontext()
        with atomic_file(dst, overwrite=overwrite, checked=True) as tmp:
            writer = _Writer(tmp, out_fmt, reader.pass_fields(passthrough))
            try:
                _score_chunks(reader, scorer, writer, passthrough, on_impossible, bar, src)
            finally:
                writer.abort()
    return reader.rows


def _score_chunks(reader, scorer: BatchScorer, writer: _Writer, passthrough, on_impossible, bar, src: Path) -> None:
    """Score and write every chunk; raise the problems of the whole file (nothing is then renamed)."""
    problems: list[CaseProblem] = []
    impossible: list = []
    with bar as pbar:
        for chunk in reader:
            root_codes, finding_codes, chunk_problems, soft = scorer.encode(chunk, passthrough)
            problems.extend(chunk_problems)
            if any(not p.rows for p in chunk_problems):  # column problems: the same in every chunk
                break
            # after a problem, keep checking the rest of the file but write nothing more
            if not (problems or reader.ragged):
                values = scorer.probabilities(root_codes, finding_codes, soft=soft)
                bad = np.isnan(values[:, 0])
                if bad.any() and on_impossible == "raise":
                    impossible.extend(chunk.index[bad])
                if not impossible:
                    frame = pd.DataFrame(values, index=chunk.index, columns=scorer.output_names)
                    if passthrough:
                        frame = pd.concat([chunk[passthrough], frame], axis=1)
                    writer.write(frame)
                    checkpoint("score:chunk")
            if pbar is not None:
                pbar.update(len(chunk))
    blank = reader.blank_rows()
    to_sheet = reader.row_map(blank)
    problems = [
        CaseProblem(p.column, p.message, p.value, tuple(to_sheet(int(r)) for r in p.rows)) for p in problems
    ] + reader.problems(blank)
    if problems:
        raise CaseTableError(problems, where=f"'{src}'", note=_ROW_NOTE)
    if impossible:
        raise ImpossibleCasesError([to_sheet(int(r)) for r in impossible], where=f"'{src}'", note=_ROW_NOTE)
    empty = pd.DataFrame(
        {c: pd.Series(dtype=str) for c in passthrough} | {c: pd.Series(dtype=float) for c in scorer.output_names}
    )
    writer.close(empty)


def _progress_bar(total: int | None):
    """Return a tqdm progress bar on stderr (or nothing, if tqdm is not installed)."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return tqdm(total=total, unit=" cases", unit_scale=True, file=sys.stderr, desc="scoring")

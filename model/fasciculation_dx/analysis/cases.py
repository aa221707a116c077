"""Case files: one row per patient, read and validated against the model's vocabulary.

The format
----------
A case file is a CSV file (UTF-8, header row, comma separated) or a Parquet file with one row
per patient:

- a column named after an evidence node (context, trigger or finding; see ``model.states``) holds
  that node's state for the patient, spelled exactly as in the vocabulary; an empty cell (or a
  null in Parquet) means *not recorded*;
- ``etiology`` (optional): the confirmed primary cause, one of the etiology states; empty means
  unknown (the case still informs calibration through the E-step);
- ``setting`` (optional): the care setting the patient was seen in (``primary_care``,
  ``neuromuscular_clinic``, ...); empty means the default setting of the analysis;
- ``case_id`` (optional): an identifier, unique when given.

Column order does not matter. Any other column is an error (a misspelt finding must not be
silently ignored), and so is a latent mechanism. Surrounding whitespace is stripped from every
cell and every column name, by every reader of case files (this module for ``calibrate`` and
``evaluate``, :mod:`fasciculation_dx.analysis.scoring` for ``score``, :mod:`fasciculation_dx.inference.batch` for
data frames): ``' yes '`` is ``yes``. Anything else must match exactly (``Yes`` is not ``yes``;
``NA`` is not an empty cell).

Every row after the header must hold exactly as many fields as the header: a row with fewer
fields (truncated) or more (a stray comma) is an error, and so is a blank row. A CSV file must be
UTF-8 (a byte that is not is reported with its row and column).

Every problem in a file is reported at once in one :class:`CaseFileError`, each located by row
and column as a spreadsheet shows them: the header is row 1, the first patient row 2, columns
count from 1 (:data:`ROW_NOTE`). Every reader numbers rows this way; in a CSV file without line
breaks inside quoted cells, the row is the file's line number.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import EvidenceError, FasciculationDxError, Problem
from ..inference.case_errors import number_hint
from ..inference.evidence import observable_states
from ..inference.soft import PROBABLY_PREFIX, likelihood, parse_value
from ..network.priors import CONDITIONAL_FINDINGS, DEFAULT_SETTING, ETIOLOGY, RENAMED_NODES, Priors

__all__ = [
    "META_COLUMNS",
    "ROW_NOTE",
    "CaseFileError",
    "CaseFileNotFoundError",
    "Cases",
    "blank_undescribed",
    "read_cases",
    "cases_from_frame",
    "write_cases",
]

META_COLUMNS = ("case_id", "setting", ETIOLOGY)
"""The columns of a case file that are not evidence."""

PARQUET_SUFFIXES = (".parquet", ".pq")

ROW_NOTE = (
    "rows numbered as in a spreadsheet: the header is row 1, the first patient row 2; "
    "in a CSV file without line breaks inside quoted cells, row = line"
)
"""How every reader of case files numbers rows in its messages."""

BLANK_ROW = "blank row; every row after the header must be a patient"


def ragged_row(expected: int, got: int) -> str:
    """Return the message for a row with ``got`` fields where the header has ``expected``."""
    return f"row must have {expected} fields like the header. Got {got} instead"


def non_utf8(path: str | Path) -> tuple[int, int, int, int] | None:
    """Locate the first byte of a file that is not UTF-8 (read in blocks: any size of file).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    tuple of int or None
        ``(row, column, offset, byte)``: the spreadsheet row (header = 1) and column (from 1) of
        the CSV cell holding the byte (0 when the file cannot be parsed as CSV up to it), its
        0-based offset in the file and its value; None when the whole file is UTF-8.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = 0
    offset = byte = None
    with open(path, "rb") as file:
        while offset is None:
            block = file.read(1 << 20)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                offset, byte = fed - pending + err.start, err.object[err.start]
                break
            if not block:
                return None
            fed += len(block)
    row = column = 0
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
            for number, record in enumerate(csv.reader(text), start=1):
                found = next((j for j, cell in enumerate(record, start=1) if _ESCAPED.search(cell)), None)
                if found is not None:
                    row, column = number, found
                    break
    except csv.Error:
        pass
    return row, column, offset, byte


_ESCAPED = re.compile("[\udc80-\udcff]")


def non_utf8_message(offset: int, byte: int) -> str:
    """Return the message for a byte that is not UTF-8 (its row and column are given by the caller)."""
    return (
        f"file must be UTF-8 text. Got byte 0x{byte:02x} instead (byte {offset + 1:,} of the file); "
        "save it as UTF-8 (in a spreadsheet: 'CSV UTF-8')"
    )


class CaseFileNotFoundError(FasciculationDxError, FileNotFoundError):
    """The case file does not exist."""


class CaseFileError(EvidenceError):
    """A case file has invalid content; ``problems`` lists every problem with row and column.

    Rows are numbered as a spreadsheet shows them (header = row 1, first patient = row 2), columns
    from 1; row 0 means the whole file, column 0 the whole row.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        count = len(self.problems)
        note = f" ({ROW_NOTE})" if any(p.line for p in self.problems) else ""
        head = f"{count} problem{'s' if count != 1 else ''} in the case file{note}:"
        super().__init__("\n".join([head, *(_describe(p) for p in self.problems)]))


def _describe(problem: Problem) -> str:
    where = []
    if problem.line:
        where.append(f"row {problem.line}")
    if problem.column:
        where.append(f"column {problem.column}")
    return f"{problem.file}:{problem.line}:{problem.column}: ({', '.join(where) or 'whole file'}) {problem.message}"


@dataclass(frozen=True)
class Cases:
    """A validated case table.

    Attributes
    ----------
    frame
        One row per patient, every cell a string (``""`` = not recorded). Columns: the evidence
        columns present in the file, then ``case_id``, ``setting`` and ``etiology`` when present.
    name
        The file name (or ``"<dataframe>"``) used in messages and provenance.
    sha256
        SHA-256 of the file's bytes; for a data frame, of its CSV serialisation.
    path
        The file read, or None.
    """

    frame: pd.DataFrame
    name: str
    sha256: str
    path: Path | None = None
    positions: Mapping[str, int] | None = None
    """Each column's position in the file (1-based), for messages; None when not read from a table."""

    @property
    def n(self) -> int:
        """The number of patients."""
        return len(self.frame)

    def __len__(self) -> int:
        return self.n

    @property
    def evidence_columns(self) -> tuple[str, ...]:
        """The columns that are evidence nodes."""
        return tuple(c for c in self.frame.columns if c not in META_COLUMNS)

    @property
    def has_labels(self) -> bool:
        """Whether an ``etiology`` column with at least one confirmed diagnosis is present."""
        return ETIOLOGY in self.frame.columns and bool((self.frame[ETIOLOGY] != "").any())

    def labels(self) -> np.ndarray:
        """Return the confirmed etiology of each case (``""`` where unknown), as an object array."""
        if ETIOLOGY not in self.frame.columns:
            return np.full(self.n, "", dtype=object)
        return self.frame[ETIOLOGY].to_numpy(dtype=object)

    def settings(self, default: str = DEFAULT_SETTING) -> np.ndarray:
        """Return the care setting of each case; ``default`` where the file gives none."""
        if "setting" not in self.frame.columns:
            return np.full(self.n, default, dtype=object)
        values = self.frame["setting"].to_numpy(dtype=object)
        return np.where(values == "", default, values)

    def case_ids(self) -> np.ndarray:
        """Return the case identifiers; ``row<N>`` (spreadsheet row number) where none is given."""
        default = np.array([f"row{i + 2}" for i in range(self.n)], dtype=object)
        if "case_id" not in self.frame.columns:
            return default
        values = self.frame["case_id"].to_numpy(dtype=object)
        return np.where(values == "", default, values)

    def evidence(self, i: int) -> dict[str, str]:
        """Return the recorded evidence of case ``i`` (0-based) as ``{node: state}``."""
        row = self.frame.iloc[i]
        return {c: row[c] for c in self.evidence_columns if row[c] != ""}

    def soft_cells(self, priors: Priors) -> list[tuple[int, str]]:
        """Return the ``(row number, column)`` of every soft-evidence cell (``yes:0.8,no:0.2`` or ``~yes``)."""
        out = []
        for node in self.evidence_columns:
            states = set(priors.nodes[node].states) | {""}
            soft = ~self.frame[node].isin(states).to_numpy()
            out += [(int(r), node) for r in self.row_numbers()[soft]]
        return sorted(out)

    def codes(self, priors: Priors) -> dict[str, np.ndarray]:
        """State indices of every evidence column: ``{node: int array}``, -1 where not recorded.

        Raises
        ------
        CaseFileError
            If some cells hold soft evidence, which has no state index (each cell is named).
        """
        soft = self.soft_cells(priors)
        if soft:
            columns = self.positions or {c: j for j, c in enumerate(self.frame.columns, start=1)}
            raise CaseFileError(
                [
                    Problem(
                        self.name,
                        r,
                        columns[c],
                        f"{c}: soft evidence is used when scoring and evaluating, not when calibrating; record "
                        "the finding as certain or leave the cell empty",
                    )
                    for r, c in soft
                ]
            )
        out: dict[str, np.ndarray] = {}
        for node in self.evidence_columns:
            index = {s: i for i, s in enumerate(priors.nodes[node].states)}
            index[""] = -1
            out[node] = self.frame[node].map(index).to_numpy(dtype=np.intp)
        return out

    def row_numbers(self) -> np.ndarray:
        """Return the spreadsheet row number of each case (header = row 1)."""
        return np.arange(self.n) + 2


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _clean(value) -> str:
    """Return a cell as a stripped string; nulls become ``""``."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    return str(value).strip()


def _clean_column(column: pd.Series) -> np.ndarray:
    """Return a column's cells cleaned as :func:`_clean` does, each distinct value cleaned once."""
    codes, distinct = pd.factorize(column, use_na_sentinel=True)
    cleaned = np.array([*(_clean(v) for v in distinct), ""], dtype=object)
    return cleaned[codes]  # the sentinel -1 picks the trailing "" (a null)


def _read_cell(node: str, states: tuple[str, ...], value: str, what: str, soft_ok: bool) -> tuple[str, str]:
    """Read one distinct cell of a column: return ``(the cell as read, problem)``, the problem ``""`` when valid.

    Weights that leave one state possible (``yes:1,no:0``) are that state, a certain finding, as the
    batch encoding reads them; other soft evidence (``yes:0.8,no:0.2``, ``~yes``) stays as written.
    """
    if value == "" or value in states:
        return value, ""
    if not soft_ok:
        return value, (
            f"{node} must be empty (not recorded) or a valid {what}: {', '.join(states)}. "
            f"Got '{value}' instead.{_closest(value, states)}"
        )
    if value.startswith(PROBABLY_PREFIX) or ":" in value:
        try:
            read = likelihood(node, states, value if value.startswith(PROBABLY_PREFIX) else parse_value(value))
        except EvidenceError as err:
            return value, f"{node}: invalid soft evidence '{value}': {err}"
        return (read if isinstance(read, str) else value), ""
    return value, (
        f"{node} must be empty (not recorded), a valid state of '{node}': {', '.join(states)}, or soft evidence "
        f"(~{states[-1]}, or weights such as {states[-1]}:0.8,{states[0]}:0.2). Got '{value}' instead."
        f"{_closest(value, states)}{number_hint(value)}"
    )


def _closest(word: str, choices) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def read_cases(source: str | Path | pd.DataFrame | Cases, priors: Priors) -> Cases:
    """Read and validate a case file (CSV or Parquet) or a data frame.

    Parameters
    ----------
    source
        A ``.csv`` file, a ``.parquet`` file, a :class:`pandas.DataFrame` laid out the same way,
        or already validated :class:`Cases` (returned as they are).
    priors
        The priors whose vocabulary the cases must use.

    Returns
    -------
    Cases

    Raises
    ------
    CaseFileError
        Listing every invalid header, cell and duplicate case id, each with row and column.
    CaseFileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> import pandas as pd, fasciculation_dx as fdx
    >>> priors = fdx.load_priors(fdx.shipped_priors_dir())
    >>> cases = read_cases(pd.DataFrame({"weakness": ["yes", ""], "etiology": ["als", ""]}), priors)
    >>> cases.n, cases.evidence(1)
    (2, {})
    """
    if isinstance(source, Cases):
        return source
    if isinstance(source, pd.DataFrame):
        return cases_from_frame(source, priors)
    path = Path(source)
    if not path.is_file():
        raise CaseFileNotFoundError(f"case file {path} does not exist; give the path of a .csv or .parquet file")
    data = path.read_bytes()
    if path.suffix.lower() in PARQUET_SUFFIXES:
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as err:  # pyarrow raises several kinds for a file that is not Parquet
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            message = f"file is not a readable Parquet file ({reason}); if it is CSV, name it .csv"
            raise CaseFileError([Problem(path.name, 0, 0, message)]) from None
        header = [str(c) for c in frame.columns]
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            row, column, offset, byte = non_utf8(path) or (0, 0, err.start, data[err.start])
            raise CaseFileError([Problem(path.name, row, column, non_utf8_message(offset, byte))]) from None
        try:
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as err:
            raise CaseFileError([Problem(path.name, 0, 0, f"file cannot be read as CSV: {err}")]) from None
        if not rows:
            raise CaseFileError([Problem(path.name, 1, 0, "file is empty; it must start with a header row")])
        header = rows[0]
        if not header:
            raise CaseFileError([Problem(path.name, 1, 0, "blank row; the first row must be the header")])
        problems = [
            Problem(path.name, i + 1, 0, ragged_row(len(header), len(r)))
            for i, r in enumerate(rows[1:], start=1)
            if r and len(r) != len(header)
        ]
        blank = [i + 1 for i, r in enumerate(rows[1:], start=1) if not r]
        problems += [Problem(path.name, i, 0, BLANK_ROW) for i in blank]
        # the other rows are still checked, so that every problem is reported at once
        kept = [i + 1 for i, r in enumerate(rows[1:], start=1) if len(r) == len(header)]
        frame = pd.DataFrame([rows[i - 1] for i in kept], columns=range(len(header)), dtype=object)
        return _validate(frame, header, priors, path.name, _sha256(data), path, kept, problems)
    return _validate(frame, header, priors, path.name, _sha256(data), path)


def cases_from_frame(frame: pd.DataFrame, priors: Priors, name: str = "<dataframe>") -> Cases:
    """Validate a data frame laid out as a case file (see the module docstring).

    Row numbers in messages count the header as row 1, as if the frame were written as CSV.
    The SHA-256 recorded is that of the frame's CSV serialisation (without the index).
    """
    header = [str(c) for c in frame.columns]
    digest = _sha256(frame.to_csv(index=False).encode("utf-8"))
    return _validate(frame.reset_index(drop=True).set_axis(range(len(header)), axis=1), header, priors, name, digest)


def _validate(
    raw: pd.DataFrame,
    header: list[str],
    priors: Priors,
    name: str,
    digest: str,
    path: Path | None = None,
    rows: list[int] | None = None,
    found: list[Problem] | None = None,
) -> Cases:
    """Check a table of cells; ``rows`` are the spreadsheet rows of ``raw``'s rows (default: 2, 3, ...).

    ``found`` are problems already found in the file (rows of the wrong length, left out of ``raw``).
    """
    problems: list[Problem] = list(found or [])
    row = rows if rows is not None else range(2, raw.shape[0] + 2)
    valid = observable_states(priors)
    allowed: dict[str, tuple[str, ...] | None] = dict(valid)
    allowed["case_id"] = None
    allowed["setting"] = tuple(priors.settings)
    allowed[ETIOLOGY] = priors.etiology_states
    seen: dict[str, int] = {}
    keep: list[tuple[int, str]] = []
    stripped = {c.strip() for c in header}
    for j, column in enumerate(header, start=1):
        col = column.strip()
        if col in RENAMED_NODES and col not in allowed and RENAMED_NODES[col] in allowed:
            if RENAMED_NODES[col] in stripped:
                problems.append(
                    Problem(
                        name, 1, j, f"column '{col}' is the former name of '{RENAMED_NODES[col]}'; keep one of them"
                    )
                )
                continue
            col = RENAMED_NODES[col]
        if col in seen:
            problems.append(Problem(name, 1, j, f"column '{col}' is given twice (first in column {seen[col]})"))
            continue
        seen[col] = j
        if col in allowed:
            keep.append((j, col))
        elif col in priors.nodes and priors.nodes[col].layer == "mechanism":
            problems.append(
                Problem(name, 1, j, f"'{col}' is a latent mechanism and cannot be a column; record its findings")
            )
        else:
            problems.append(
                Problem(
                    name,
                    1,
                    j,
                    f"column must be an evidence node, 'case_id', 'setting' or 'etiology'. Got '{col}' instead."
                    f"{_closest(col, allowed)}",
                )
            )
    cells: dict[str, list[str]] = {}
    for j, col in keep:
        values = _clean_column(raw.iloc[:, j - 1])
        states = allowed[col]
        if states is not None:
            what = "setting" if col == "setting" else ("etiology" if col == ETIOLOGY else f"state of '{col}'")
            where, distinct = pd.factorize(values)
            read = [_read_cell(col, states, v, what, col in valid) for v in distinct]
            why = [problem for _, problem in read]
            values = np.array([cell for cell, _ in read], dtype=object)[where]
            invalid = np.array([bool(w) for w in why], dtype=bool)
            for i in np.flatnonzero(invalid[where]):
                problems.append(Problem(name, row[i], j, why[where[i]]))
        cells[col] = values.tolist()
    for node, (finding, wanted) in CONDITIONAL_FINDINGS.items():
        if node not in cells:
            continue
        other = cells.get(finding, [""] * len(cells[node]))
        for i, (value, given) in enumerate(zip(cells[node], other)):
            if value != "" and given != wanted:
                got = f"'{given}'" if given else "not recorded"
                message = (
                    f"{node} describes {finding} = {wanted}: record {finding} = {wanted} in this row (as a certain "
                    f"finding) or leave {node} empty. Got {finding} {got}"
                )
                problems.append(Problem(name, row[i], seen[node], message))
    if "case_id" in cells:
        first: dict[str, int] = {}
        for i, value in enumerate(cells["case_id"]):
            if value == "":
                continue
            if value in first:
                problems.append(
                    Problem(
                        name,
                        row[i],
                        seen["case_id"],
                        f"case_id must be unique. Got '{value}' again (first on row {first[value]})",
                    )
                )
            else:
                first[value] = row[i]
    if not raw.shape[0] and not problems:
        problems.append(Problem(name, 0, 0, "the case file has no patient rows"))
    if problems:
        raise CaseFileError(problems)
    evidence = [c for c in valid if c in cells]
    meta = [c for c in META_COLUMNS if c in cells]
    frame = pd.DataFrame({c: pd.Series(cells[c], dtype=object) for c in [*evidence, *meta]})
    return Cases(frame=frame, name=name, sha256=digest, path=path, positions=dict(seen))


WRITE_BLOCK = 100_000
"""Rows written to a CSV file at a time."""


def write_cases(
    frame: pd.DataFrame | Cases, path: str | Path, fmt: str | None = None, *, progress: bool = False
) -> Path:
    """Write a case table as CSV, or as Parquet when ``path`` ends in ``.parquet``.

    Empty strings stay empty cells in CSV and become nulls in Parquet. The file is written in
    place; commands write to a temporary file and rename it (:mod:`fasciculation_dx.atomic`).

    Parameters
    ----------
    frame
        The cases (e.g. from :func:`fasciculation_dx.analysis.simulate.simulate`).
    path
        The file to write; its folder is created if needed.
    fmt
        ``"csv"`` or ``"parquet"``; by default read from ``path``'s extension.
    progress
        Show a progress bar on stderr while a CSV file is written (in blocks of rows).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    if isinstance(frame, Cases):
        frame = frame.frame
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt is None:
        fmt = "parquet" if path.suffix.lower() in PARQUET_SUFFIXES else "csv"
    if fmt == "parquet":
        frame.astype(object).where(frame != "", None).to_parquet(path, index=False)
    else:
        with (
            open(path, "w", encoding="utf-8", newline="") as handle,
            tqdm(
                total=len(frame), desc="writing", unit=" rows", unit_scale=True, disable=not progress, file=sys.stderr
            ) as bar,
        ):
            frame.iloc[:0].to_csv(handle, index=False, lineterminator="\n")
            for start in range(0, len(frame), WRITE_BLOCK):
                block = frame.iloc[start : start + WRITE_BLOCK]
                block.to_csv(handle, index=False, header=False, lineterminator="\n")
                bar.update(len(block))
    return path


def blank_undescribed(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty the cells of findings that describe a finding's state not recorded in that row.

    A finding of :data:`fasciculation_dx.network.priors.CONDITIONAL_FINDINGS` (the pattern of
    the weakness) is recorded only with the state it describes (``weakness = yes``); readers of
    case files refuse it otherwise, so simulated and randomly drawn tables blank it.

    Parameters
    ----------
    frame
        A case table with string cells (``""`` = not recorded).

    Returns
    -------
    pandas.DataFrame
        A copy with those cells empty.
    """
    frame = frame.copy()
    for node, (finding, wanted) in CONDITIONAL_FINDINGS.items():
        if node in frame.columns:
            holds = frame[finding] == wanted if finding in frame.columns else False
            frame[node] = frame[node].where(holds, "")
    return frame


def evidence_dicts(cases: Cases) -> list[Mapping[str, str]]:
    """Return the recorded evidence of every case, as ``{node: state}`` dictionaries."""
    cols = cases.evidence_columns
    values = cases.frame[list(cols)].to_numpy(dtype=object)
    return [{c: v for c, v in zip(cols, row) if v != ""} for row in values]

"""Read a priors directory strictly, reporting every problem at once.

Each problem names the file, line and column and says what must hold and what was found. The
loader never repairs anything: a column that does not sum to one is an error, not a cue to
renormalise.
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import re
from collections import Counter, defaultdict
from difflib import get_close_matches
from pathlib import Path

from ..errors import PriorsError, Problem
from .priors import (
    CATEGORIES,
    COST_BANDS,
    ETIOLOGY,
    GROUPS,
    HEADERS,
    INCLUDES,
    INVASIVENESS,
    LAYERS,
    MEASUREMENT_REFERENCE,
    OBSERVABLE_LAYERS,
    OPTIONAL_HEADERS,
    PANELS,
    SOURCE_KINDS,
    SUM_TOLERANCE,
    TIERS,
    VALUE_COLUMNS,
    VERIFICATIONS,
    WILDCARD,
    Etiology,
    FindingTest,
    MeasurementInterval,
    Node,
    Parameter,
    Priors,
    RedFlag,
    Source,
)
from .tables import match_columns
from .writer import format_number

__all__ = ["load_priors", "validate_priors"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_STATE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DOI = re.compile(r"^10\.\d+(\.\d+)*/\S+$")
_PMID = re.compile(r"^[0-9]+$")
_UNIT = re.compile(r"^[A-Za-z%\u00b5\u03bc][A-Za-z0-9%/.^\u00b5\u03bc]*$")
_NEEDS_IDENTIFIER = ("primary", "secondary")  # expert estimates and the convention cite no publication


def load_priors(directory: str | Path) -> Priors:
    """Load and validate a priors directory.

    Parameters
    ----------
    directory
        A folder laid out as described in ``priors/README.md``.

    Returns
    -------
    Priors
        The validated priors.

    Raises
    ------
    PriorsError
        If anything is wrong; ``.problems`` lists every problem found, each with file, line and
        column.
    """
    priors, problems = _Loader(Path(directory)).load()
    if problems:
        raise PriorsError(problems)
    assert priors is not None
    return priors


def validate_priors(directory: str | Path) -> list[Problem]:
    """Return every problem in a priors directory (an empty list when it is valid).

    Parameters
    ----------
    directory
        A folder laid out as described in ``priors/README.md``.

    Returns
    -------
    list of Problem
        Sorted by file, line and column.
    """
    return sorted(_Loader(Path(directory)).load()[1])


def _not_a_file(path: Path) -> str:
    """Say why ``path``, which should be a priors file, is not a readable file."""
    try:
        path.stat()
    except OSError as err:
        if path.is_symlink():
            if err.errno == errno.ELOOP:
                return "file must be a regular file. Got a symbolic link loop instead"
            return f"file must be a regular file. Got a broken symbolic link (to '{os.readlink(path)}') instead"
        if err.errno == errno.ENOENT:
            return "file is missing; every priors directory must have it"
        return f"file cannot be read: {err.strerror or err}"
    if path.is_dir():
        return "file must be a regular file. Got a directory instead"
    return "file must be a regular file (not a device, pipe or socket)"


def _suggest(word: str, choices) -> str:
    close = get_close_matches(word, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _got(value: str, choices) -> str:
    """Say what was found, with the closest valid choice when there is one."""
    close = get_close_matches(value, list(choices), n=1)
    hint = f". Did you mean '{close[0]}'?" if close else ""
    return f"Got '{value}' instead{hint}"


def _choices(choices) -> str:
    return ", ".join(f"'{c}'" for c in choices)


class _Row:
    """A data row with its line number and the header it was read under."""

    def __init__(self, file: str, line: int, header: tuple[str, ...], cells: list[str]):
        self.file = file
        self.line = line
        self.header = header
        self.cells = dict(zip(header, cells))

    def col(self, name: str) -> int:
        return self.header.index(name) + 1

    def __getitem__(self, name: str) -> str:
        return self.cells[name]


class _Loader:
    def __init__(self, directory: Path):
        self.dir = directory
        self.problems: list[Problem] = []

    # -- reporting -------------------------------------------------------------------------
    def problem(self, file: str, line: int, column: int, message: str) -> None:
        self.problems.append(Problem(file, line, column, message))

    def at(self, row: _Row, column: str | None, message: str) -> None:
        self.problem(row.file, row.line, row.col(column) if column else 0, message)

    # -- reading ---------------------------------------------------------------------------
    def read(self, rel: str, header: tuple[str, ...] | None) -> list[_Row] | None:
        """Read one CSV file; None when the file cannot be read at all."""
        path = self.dir / rel
        if not path.is_file():
            self.problem(rel, 0, 0, _not_a_file(path))
            return None
        try:
            data = path.read_bytes()
        except OSError as err:
            self.problem(rel, 0, 0, f"file cannot be read: {err.strerror or err}")
            return None
        if not data.strip():
            self.problem(rel, 1, 0, "file is empty; it must start with a header row")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
            self.problem(rel, line, column, f"file must be UTF-8 text. Got byte 0x{data[err.start]:02x} instead")
            return None
        if text.startswith("\ufeff"):
            self.problem(rel, 1, 1, "file must not start with a byte-order mark")
            text = text[1:]
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            got = tuple(next(reader))
        except csv.Error as err:
            self.problem(rel, 1, 0, f"header row is not valid CSV: {err}")
            return None
        if header is not None and got != header:
            column = next(
                (i + 1 for i, (a, b) in enumerate(zip(got, header)) if a != b), min(len(got), len(header)) + 1
            )
            self.problem(rel, 1, column, f"header must be '{','.join(header)}'. Got '{','.join(got)}' instead")
            return None
        rows = []
        start = reader.line_num + 1
        try:
            for cells in reader:
                line = start  # the line the record starts on (a quoted field may span lines)
                start = reader.line_num + 1
                if not cells:
                    self.problem(rel, line, 0, "blank line; every line after the header must be a data row")
                    continue
                if len(cells) != len(got):
                    self.problem(
                        rel, line, 0, f"row must have {len(got)} fields like the header. Got {len(cells)} instead"
                    )
                    continue
                rows.append(_Row(rel, line, got, cells))
        except csv.Error as err:
            self.problem(rel, reader.line_num, 0, f"line is not valid CSV: {err}")
        return rows

    def number(self, row: _Row, column: str, *, probability: bool) -> float | None:
        text = row[column]
        if not _NUMBER.match(text.strip()) or text != text.strip():
            self.at(row, column, f"{column} must be a number. Got '{text}' instead")
            return None
        value = float(text)
        if not math.isfinite(value):
            self.at(row, column, f"{column} must be finite. Got '{text}' instead")
            return None
        if format_number(value) != text:
            self.at(
                row,
                column,
                f"{column} must be written in shortest positional form '{format_number(value)}'. Got '{text}' instead",
            )
            return None
        if probability and not 0.0 <= value <= 1.0:
            self.at(row, column, f"{column} must be a probability in [0, 1]. Got {text} instead")
            return None
        if not probability and value < 0:
            self.at(row, column, f"{column} must be a relative risk >= 0. Got {text} instead")
            return None
        return value

    def name(self, row: _Row, column: str, what: str, pattern: re.Pattern = _NAME) -> bool:
        if not pattern.match(row[column]):
            self.at(row, column, f"{what} must be lowercase snake_case (a-z, 0-9, _). Got '{row[column]}' instead")
            return False
        return True

    def choice(self, row: _Row, column: str, valid, what: str) -> bool:
        value = row[column]
        if value in valid:
            return True
        self.at(
            row,
            column,
            f"{what} must be one of {_choices(valid)}. {_got(value, valid)}",
        )
        return False

    def parameter(self, row: _Row, key: tuple[str, ...], value_col: str, probability: bool) -> Parameter | None:
        value = self.number(row, value_col, probability=probability)
        low = self.number(row, "low", probability=probability)
        high = self.number(row, "high", probability=probability)
        source_ok = True
        if row["source_id"] not in self.sources:
            source_ok = False
            if row["source_id"] == "":
                self.at(row, "source_id", "source_id must name a row of sources.csv. Got an empty cell instead")
            else:
                self.at(
                    row,
                    "source_id",
                    f"source_id must name a row of sources.csv. {_got(row['source_id'], self.sources)}",
                )
        if value is None or low is None or high is None:
            return None
        if low > value:
            self.at(row, "low", f"low must be <= {value_col} ({row[value_col]}). Got {row['low']} instead")
            return None
        if value > high:
            self.at(row, "high", f"high must be >= {value_col} ({row[value_col]}). Got {row['high']} instead")
            return None
        if not source_ok:
            return None
        return Parameter(row.file, row.line, key, value, low, high, row["source_id"], row["note"])

    # -- the whole directory -----------------------------------------------------------------
    def load(self) -> tuple[Priors | None, list[Problem]]:
        if not self.dir.is_dir():
            self.problem(str(self.dir), 0, 0, "priors directory does not exist or is not a folder")
            return None, self.problems
        tables = {rel: self.read(rel, header) for rel, header in HEADERS.items()}
        if any(tables[f] is None for f in ("nodes.csv", "states.csv", "etiologies.csv", "edges.csv")):
            return None, self.problems  # without the structure nothing else can be checked
        self.sources = self.load_sources(tables["sources.csv"] or [])
        etiologies = self.load_etiologies(tables["etiologies.csv"])
        nodes = self.load_nodes(tables["nodes.csv"], tables["states.csv"], etiologies, tables["edges.csv"])
        settings = self.load_settings(tables["settings.csv"] or [])
        base = (
            self.load_base_rates(tables["base_rates.csv"] or [], settings, etiologies)
            if tables["base_rates.csv"] is not None
            else ()
        )
        mods = (
            self.load_modifiers(tables["etiology_modifiers.csv"] or [], nodes, etiologies)
            if tables["etiology_modifiers.csv"] is not None and ETIOLOGY in nodes
            else ()
        )
        tests = self.load_tests(tables["tests.csv"], nodes) if tables["tests.csv"] is not None else {}
        cpts = self.load_cpts(nodes)
        optional = {rel: self.read_optional(rel, header) for rel, header in OPTIONAL_HEADERS.items()}
        measurements = (
            self.load_measurements(optional["measurements.csv"], nodes)
            if optional["measurements.csv"] is not None
            else None
        )
        red_flags = (
            self.load_red_flags(optional["red_flags.csv"], nodes) if optional["red_flags.csv"] is not None else None
        )
        if self.problems:
            return None, self.problems
        priors = Priors(
            self.dir, nodes, etiologies, settings, self.sources, base, mods, cpts, tests, measurements, red_flags
        )
        self.check_etiology_derivable(priors)
        return (None if self.problems else priors), self.problems

    def load_sources(self, rows: list[_Row]) -> dict[str, Source]:
        sources: dict[str, Source] = {}
        for row in rows:
            sid = row["source_id"]
            if not sid:
                self.at(row, "source_id", "source_id must not be empty")
                continue
            if sid in sources:
                self.at(row, "source_id", f"source_id '{sid}' is defined twice; ids must be unique")
                continue
            self.choice(row, "kind", SOURCE_KINDS, "kind")
            if row["year"] and not re.fullmatch(r"\d{4}", row["year"]):
                self.at(row, "year", f"year must be a four-digit year or empty. Got '{row['year']}' instead")
            if not row["citation"]:
                self.at(row, "citation", "citation must not be empty")
            self.source_verification(row)
            sources[sid] = Source(
                sid,
                row["kind"],
                row["citation"],
                row["year"],
                row["url"],
                row["note"],
                doi=row["doi"],
                pmid=row["pmid"],
                verification=row["verification"],
            )
        return sources

    def source_verification(self, row: _Row) -> None:
        """Check a source's verification label against its kind, and its DOI, PMID and URL."""
        kind, verification = row["kind"], row["verification"]
        label_ok = self.choice(row, "verification", VERIFICATIONS, "verification")
        if label_ok and kind in SOURCE_KINDS:
            own = {"expert-estimate": ("expert_estimate",), "convention": ("convention",)}
            allowed = own.get(kind, _NEEDS_IDENTIFIER)
            if verification not in allowed:
                label_ok = False
                only = next(k for k, labels in own.items() if verification in labels) if kind not in own else None
                reason = f"; '{verification}' is allowed only with kind '{only}'" if only else ""
                self.at(
                    row,
                    "verification",
                    f"verification of a source of kind '{kind}' must be {' or '.join(map(repr, allowed))}{reason}. "
                    f"Got '{verification}' instead",
                )
        doi, pmid = row["doi"], row["pmid"]
        if doi and not _DOI.match(doi):
            self.at(
                row,
                "doi",
                "doi must be a bare DOI: '10.', the registrant number, '/', then the suffix, with no spaces and no "
                f"'https://doi.org/' prefix (for example '10.1002/mus.880151104'). Got '{doi}' instead",
            )
        if pmid and not _PMID.match(pmid):
            self.at(
                row, "pmid", f"pmid must be a PubMed ID of digits only (for example '1488061'). Got '{pmid}' instead"
            )
        if label_ok and verification in _NEEDS_IDENTIFIER and not (doi or pmid or row["url"]):
            self.at(
                row,
                "doi",
                f"a '{verification}' source must have a doi or a pmid or, where neither exists, the url of the "
                "publication (guideline or publisher page). Got all three empty instead",
            )

    def load_etiologies(self, rows: list[_Row]) -> dict[str, Etiology]:
        out: dict[str, Etiology] = {}
        for row in rows:
            name = row["etiology"]
            if not self.name(row, "etiology", "etiology"):
                continue
            if name in out:
                self.at(row, "etiology", f"etiology '{name}' is listed twice")
                continue
            ok = self.choice(row, "group", GROUPS, "group") & self.choice(row, "category", CATEGORIES, "category")
            if ok:
                out[name] = Etiology(name, row["group"], row["category"], row["description"])
        if rows and len(out) < 2:
            self.problem("etiologies.csv", 0, 0, "the etiology node must have at least two states")
        return out

    def load_nodes(self, node_rows, state_rows, etiologies, edge_rows) -> dict[str, Node]:
        info: dict[str, _Row] = {}
        for row in node_rows:
            if not self.name(row, "node", "node name"):
                continue
            if row["node"] in info:
                self.at(row, "node", f"node '{row['node']}' is listed twice")
                continue
            self.choice(row, "layer", LAYERS, "layer")
            self.choice(row, "panel", PANELS, "panel")
            info[row["node"]] = row
        layers = Counter(r["layer"] for r in info.values())
        if layers.get("etiology", 0) != 1 or ETIOLOGY not in info:
            self.problem("nodes.csv", 0, 0, "nodes.csv must list exactly one node 'etiology' with layer 'etiology'")
        states: dict[str, list[str]] = defaultdict(list)
        for row in state_rows:
            node, state = row["node"], row["state"]
            if node == ETIOLOGY:
                self.at(row, "node", "the etiology's states belong in etiologies.csv, not states.csv")
                continue
            if node not in info:
                self.at(
                    row,
                    "node",
                    f"node must be listed in nodes.csv. {_got(node, info)}",
                )
                continue
            if not self.name(row, "state", "state name", _STATE):
                continue
            if state in states[node]:
                self.at(row, "state", f"state '{state}' of '{node}' is listed twice")
                continue
            states[node].append(state)
        states[ETIOLOGY] = list(etiologies)
        for node, row in info.items():
            if node != ETIOLOGY and len(states.get(node, ())) < 2:
                self.at(
                    row,
                    "node",
                    f"node '{node}' must have at least two states in states.csv. "
                    f"Got {len(states.get(node, ()))} instead",
                )
        parents: dict[str, list[str]] = defaultdict(list)
        for row in edge_rows:
            ok = True
            for col in ("parent", "child"):
                if row[col] not in info:
                    self.at(
                        row,
                        col,
                        f"{col} must be a node of nodes.csv. {_got(row[col], info)}",
                    )
                    ok = False
            if not ok:
                continue
            if row["parent"] == row["child"]:
                self.at(row, "parent", f"node '{row['parent']}' cannot be its own parent")
            elif row["parent"] in parents[row["child"]]:
                self.at(row, "parent", f"edge {row['parent']} -> {row['child']} is listed twice")
            else:
                parents[row["child"]].append(row["parent"])
        cycle = _find_cycle(parents)
        if cycle:
            self.problem("edges.csv", 0, 0, "the network must be acyclic. Got the cycle " + " -> ".join(cycle))
        return {
            name: Node(
                name,
                row["layer"],
                row["panel"],
                row["description"],
                tuple(states.get(name, ())),
                tuple(parents.get(name, ())),
            )
            for name, row in info.items()
        }

    def load_settings(self, rows: list[_Row]) -> dict[str, str]:
        out: dict[str, str] = {}
        for row in rows:
            if not self.name(row, "setting", "setting"):
                continue
            if row["setting"] in out:
                self.at(row, "setting", f"setting '{row['setting']}' is listed twice")
                continue
            out[row["setting"]] = row["description"]
        if rows and "primary_care" not in out:
            self.problem("settings.csv", 0, 0, "settings.csv must include the default setting 'primary_care'")
        return out

    def load_base_rates(self, rows, settings, etiologies) -> tuple[Parameter, ...]:
        params: list[Parameter] = []
        seen: dict[tuple[str, str], int] = {}
        for row in rows:
            ok = self.choice(row, "setting", list(settings), "setting") & self.choice(
                row, "etiology", list(etiologies), "etiology"
            )
            key = (row["setting"], row["etiology"])
            if ok and key in seen:
                self.at(
                    row, "etiology", f"base rate for ({key[0]}, {key[1]}) is given twice (first on line {seen[key]})"
                )
                continue
            p = self.parameter(row, key, "probability", probability=True)
            if ok:
                seen[key] = row.line
            if ok and p is not None:
                params.append(p)
        for setting in settings:
            missing = [e for e in etiologies if (setting, e) not in seen]
            if missing:
                self.problem(
                    "base_rates.csv",
                    0,
                    0,
                    f"setting '{setting}' must give a base rate for every etiology. Missing: {', '.join(missing)}",
                )
            total = sum(p.value for p in params if p.key[0] == setting)
            if (
                not missing
                and len([p for p in params if p.key[0] == setting]) == len(etiologies)
                and abs(total - 1) > SUM_TOLERANCE
            ):
                self.problem(
                    "base_rates.csv",
                    0,
                    0,
                    f"base rates of setting '{setting}' must sum to 1 within {SUM_TOLERANCE:g}. "
                    f"Got {total:.10g} instead",
                )
        return tuple(params)

    def load_modifiers(self, rows, nodes, etiologies) -> tuple[Parameter, ...]:
        parents = nodes[ETIOLOGY].parents
        params: list[Parameter] = []
        seen: dict[tuple[str, str, str], int] = {}
        for row in rows:
            if not self.choice(row, "parent", parents, "parent (a parent of the etiology)"):
                self.parameter(row, (), "relative_risk", probability=False)
                continue
            ok = self.choice(row, "parent_state", nodes[row["parent"]].states, f"parent_state of '{row['parent']}'")
            ok &= self.choice(row, "etiology", [*etiologies, WILDCARD], "etiology (or '*')")
            key = (row["parent"], row["parent_state"], row["etiology"])
            if ok and key in seen:
                self.at(row, "etiology", f"modifier ({', '.join(key)}) is given twice (first on line {seen[key]})")
                continue
            p = self.parameter(row, key, "relative_risk", probability=False)
            if ok:
                seen[key] = row.line
            if ok and p is not None:
                params.append(p)
        for parent in parents:
            for state in nodes[parent].states:
                if (parent, state, WILDCARD) not in seen:
                    self.problem(
                        "etiology_modifiers.csv",
                        0,
                        0,
                        f"({parent}, {state}) must have a '*' row giving the relative risk of every other etiology",
                    )
        return tuple(params)

    def load_tests(self, rows: list[_Row], nodes: dict[str, Node]) -> dict[str, FindingTest]:
        """Read ``tests.csv``: one row for every observable node (context, trigger, finding)."""
        observable = [n for n, spec in nodes.items() if spec.layer in OBSERVABLE_LAYERS]
        out: dict[str, FindingTest] = {}
        first: dict[str, int] = {}
        for row in rows:
            node = row["node"]
            if node in nodes and node not in observable:
                self.at(
                    row,
                    "node",
                    f"node '{node}' has layer '{nodes[node].layer}' and cannot be observed; tests.csv lists only "
                    f"nodes with layer {_choices(OBSERVABLE_LAYERS)}",
                )
                continue
            if node not in nodes:
                self.at(row, "node", f"node must be an observable node of nodes.csv. {_got(node, observable)}")
                continue
            if node in first:
                self.at(row, "node", f"node '{node}' is listed twice (first on line {first[node]})")
                continue
            first[node] = row.line
            ok = self.choice(row, "tier", TIERS, "tier")
            ok &= self.choice(row, "cost_band", list(COST_BANDS), "cost_band")
            ok &= self.choice(row, "invasiveness", INVASIVENESS, "invasiveness")
            if row["source_id"] not in self.sources:
                got = "Got an empty cell instead" if not row["source_id"] else _got(row["source_id"], self.sources)
                self.at(row, "source_id", f"source_id must name a row of sources.csv. {got}")
                ok = False
            if ok:
                out[node] = FindingTest(
                    node, row["tier"], row["cost_band"], row["invasiveness"], row["source_id"], row["note"]
                )
        missing = [n for n in observable if n not in first]
        if missing:
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            self.problem(
                "tests.csv",
                0,
                0,
                "every observable node (layer context, trigger or finding) must have a row giving its tier, "
                f"cost_band and invasiveness. Missing: {', '.join(missing[:10])}{more}",
            )
        return out

    def read_optional(self, rel: str, header: tuple[str, ...]) -> list[_Row] | None:
        """Read an optional file: None, without a problem, when it is absent."""
        path = self.dir / rel
        if not path.exists() and not path.is_symlink():
            return None
        rows = self.read(rel, header)
        return rows if rows is not None else []

    def bound(self, row: _Row, column: str) -> tuple[bool, float | None]:
        """Read an optional bound of ``measurements.csv``: (ok, value or None when empty)."""
        text = row[column]
        if text == "":
            return True, None
        if not _NUMBER.match(text) or not math.isfinite(float(text)):
            self.at(row, column, f"{column} must be a number or empty (unbounded). Got '{text}' instead")
            return False, None
        if format_number(float(text)) != text:
            self.at(
                row,
                column,
                f"{column} must be written in shortest positional form '{format_number(float(text))}'. "
                f"Got '{text}' instead",
            )
            return False, None
        return True, float(text)

    def load_measurements(self, rows: list[_Row], nodes: dict[str, Node]) -> tuple[MeasurementInterval, ...]:
        """Read ``measurements.csv``: for each name and unit, intervals that cover every value once."""
        observable = [n for n, spec in nodes.items() if spec.layer in OBSERVABLE_LAYERS]
        out: list[MeasurementInterval] = []
        name_node: dict[str, tuple[str, int]] = {}
        units: dict[tuple[str, str], str] = {}  # (name, unit folded) -> unit as first written
        scales: dict[tuple[str, str], list[tuple[_Row, MeasurementInterval]]] = defaultdict(list)
        written = Counter(row["name"] for row in rows)
        for row in rows:
            ok = self.name(row, "name", "name")
            node = row["node"]
            if node not in observable:
                self.at(row, "node", f"node must be an observable node of nodes.csv. {_got(node, observable)}")
                continue
            if ok and row["name"] in nodes and row["name"] != node:
                self.at(row, "name", f"name '{row['name']}' is a node of its own; a name may stand only for its node")
                ok = False
            if ok and row["name"] in name_node and name_node[row["name"]][0] != node:
                first_node, first_line = name_node[row["name"]]
                self.at(
                    row,
                    "node",
                    f"name '{row['name']}' stands for '{first_node}' on line {first_line}; a name has one node. "
                    f"Got '{node}' instead",
                )
                ok = False
            if ok:
                name_node.setdefault(row["name"], (node, row.line))
            unit = row["unit"]
            if not _UNIT.match(unit):
                self.at(
                    row,
                    "unit",
                    "unit must be a unit symbol starting with a letter, without spaces or commas (e.g. 'mmol/L'). "
                    f"Got '{unit}' instead",
                )
                ok = False
            elif units.setdefault((row["name"], unit.casefold()), unit) != unit:
                self.at(
                    row,
                    "unit",
                    f"unit '{unit}' of '{row['name']}' differs from '{units[(row['name'], unit.casefold())]}' only in "
                    "case; units are matched regardless of case, so write it one way",
                )
                ok = False
            ok &= self.choice(row, "interval", [*nodes[node].states, MEASUREMENT_REFERENCE], f"interval of '{node}'")
            ok &= self.choice(row, "includes", INCLUDES, "includes")
            low_ok, lower = self.bound(row, "lower")
            high_ok, upper = self.bound(row, "upper")
            ok &= low_ok and high_ok
            if row["source_id"] not in self.sources:
                got = "Got an empty cell instead" if not row["source_id"] else _got(row["source_id"], self.sources)
                self.at(row, "source_id", f"source_id must name a row of sources.csv. {got}")
                ok = False
            if not ok:
                continue
            if lower is not None and upper is not None and not lower < upper:
                self.at(row, "upper", f"upper must be greater than lower ({row['lower']}). Got {row['upper']} instead")
                continue
            wrong = (lower is None and row["includes"] in ("lower", "both")) or (
                upper is None and row["includes"] in ("upper", "both")
            )
            if wrong:
                self.at(
                    row,
                    "includes",
                    f"includes '{row['includes']}' names a bound that is empty (unbounded); "
                    "an unbounded end cannot be included",
                )
                continue
            interval = MeasurementInterval(
                row["name"], node, unit, row["interval"], lower, upper, row["includes"], row["source_id"], row["note"]
            )
            out.append(interval)
            scales[(row["name"], unit)].append((row, interval))
        accepted = Counter(m.name for m in out)
        for (name, unit), members in scales.items():
            if accepted[name] == written[name]:  # a name with a bad row is not checked for coverage
                self.check_scale(name, unit, members, nodes)
        return tuple(out)

    def check_scale(self, name: str, unit: str, members, nodes: dict[str, Node]) -> None:
        """Check that one name's intervals in one unit cover every value exactly once, in state order."""
        first = members[0][0]
        node = members[0][1].node
        references = [(r, m) for r, m in members if m.interval == MEASUREMENT_REFERENCE]
        for row, _ in references[1:]:
            line = references[0][0].line
            self.at(row, "interval", f"'{name}' in {unit} has a reference interval already (line {line})")
        for row, ref in references[:1]:
            if ref.lower is None or ref.upper is None:
                self.at(row, "lower", "a reference interval must give both lower and upper")
        states = [(r, m) for r, m in members if m.interval != MEASUREMENT_REFERENCE]
        order = [m.interval for _, m in states]
        if order != list(nodes[node].states):
            self.at(
                first,
                "interval",
                f"'{name}' in {unit} must give one interval for each state of '{node}', in the order "
                f"{', '.join(nodes[node].states)}. Got {', '.join(order) or 'none'} instead",
            )
            return
        if states[0][1].lower is not None:
            self.at(states[0][0], "lower", "the first state's interval must be unbounded below (lower empty)")
        if states[-1][1].upper is not None:
            self.at(states[-1][0], "upper", "the last state's interval must be unbounded above (upper empty)")
        for (_, below), (row, above) in zip(states, states[1:]):
            if below.upper is None or above.lower != below.upper:
                self.at(
                    row,
                    "lower",
                    f"lower must equal the upper bound of the state before ('{below.interval}': "
                    f"{'empty' if below.upper is None else format_number(below.upper)}), so that the intervals meet. "
                    f"Got {row['lower'] or 'an empty cell'} instead",
                )
                continue
            owners = int(below.includes in ("upper", "both")) + int(above.includes in ("lower", "both"))
            if owners != 1:
                self.at(
                    row,
                    "includes",
                    f"the cut-off {format_number(above.lower)} {unit} between '{below.interval}' and "
                    f"'{above.interval}' must belong to exactly one of them. Got {owners} instead",
                )

    def load_red_flags(self, rows: list[_Row], nodes: dict[str, Node]) -> tuple[RedFlag, ...]:
        """Read ``red_flags.csv``: a state of an observable node, the guideline that names it and its words."""
        observable = [n for n, spec in nodes.items() if spec.layer in OBSERVABLE_LAYERS]
        out: list[RedFlag] = []
        first: dict[tuple[str, str], int] = {}
        for row in rows:
            if row["node"] not in observable:
                self.at(row, "node", f"node must be an observable node of nodes.csv. {_got(row['node'], observable)}")
                continue
            ok = self.choice(row, "state", nodes[row["node"]].states, f"state of '{row['node']}'")
            for column in ("guideline", "text"):
                if not row[column].strip():
                    self.at(row, column, f"{column} must not be empty")
                    ok = False
            if row["source_id"] not in self.sources:
                got = "Got an empty cell instead" if not row["source_id"] else _got(row["source_id"], self.sources)
                self.at(row, "source_id", f"source_id must name a row of sources.csv. {got}")
                ok = False
            key = (row["node"], row["state"])
            if ok and key in first:
                self.at(row, "state", f"red flag {key[0]}={key[1]} is listed twice (first on line {first[key]})")
                continue
            if ok:
                first[key] = row.line
                out.append(RedFlag(row["node"], row["state"], row["guideline"], row["text"], row["source_id"]))
        return tuple(out)

    def load_cpts(self, nodes: dict[str, Node]) -> dict[str, tuple[Parameter, ...]]:
        cpts: dict[str, tuple[Parameter, ...]] = {}
        cpt_dir = self.dir / "cpts"
        expected = {n for n in nodes if n != ETIOLOGY}
        if cpt_dir.is_dir():
            for path in sorted(cpt_dir.iterdir()):
                if path.suffix == ".csv" and path.stem not in expected:
                    msg = f"there is no node '{path.stem}' in nodes.csv for this CPT file"
                    if path.stem == ETIOLOGY:
                        msg = (
                            "the etiology's table is derived from base_rates.csv and "
                            "etiology_modifiers.csv; remove this file"
                        )
                    self.problem(f"cpts/{path.name}", 0, 0, msg + "." + _suggest(path.stem, expected))
        for name, node in nodes.items():
            if name == ETIOLOGY:
                continue
            rel = f"cpts/{name}.csv"
            rows = self.read(rel, (*node.parents, *VALUE_COLUMNS))
            if rows is None:
                path = self.dir / rel
                if not path.is_file() and not path.exists() and not path.is_symlink():
                    self.problems[-1] = Problem(rel, 0, 0, f"node '{name}' has no CPT: this file is missing")
                continue
            cpts[name] = self.load_cpt(node, nodes, rows)
        return cpts

    def load_cpt(self, node: Node, nodes: dict[str, Node], rows: list[_Row]) -> tuple[Parameter, ...]:
        params: list[Parameter] = []
        columns: dict[tuple[str, ...], dict[str, _Row]] = {}
        good = True
        for row in rows:
            ok = True
            for parent in node.parents:
                ok &= self.choice(row, parent, [*nodes[parent].states, WILDCARD], f"{parent} (or '*')")
            ok &= self.choice(row, "state", node.states, f"state of '{node.name}'")
            key = tuple(row[p] for p in node.parents)
            p = self.parameter(row, (*key, row["state"]), "probability", probability=True)
            if not ok or p is None:
                good = False
                continue
            column = columns.setdefault(key, {})
            if row["state"] in column:
                self.at(
                    row,
                    "state",
                    f"state '{row['state']}' is given twice for parents "
                    f"({', '.join(key) or 'none'}) (first on line {column[row['state']].line})",
                )
                good = False
                continue
            column[row["state"]] = row
            params.append(p)
        if not good:
            return tuple(params)
        by_line = {p.line: p for p in params}
        for key, column in columns.items():
            first = min(r.line for r in column.values())
            missing = [s for s in node.states if s not in column]
            where = f"parents ({', '.join(key)})" if key else "the prior"
            if missing:
                self.problem(
                    rows[0].file,
                    first,
                    0,
                    f"{where} must give every state of '{node.name}'. Missing: {', '.join(missing)}",
                )
                continue
            total = sum(by_line[r.line].value for r in column.values())
            if abs(total - 1) > SUM_TOLERANCE:
                self.problem(
                    rows[0].file,
                    first,
                    0,
                    f"probabilities for {where} must sum to 1 within {SUM_TOLERANCE:g}. Got {total:.10g} instead",
                )
        _, uncovered, ambiguous = match_columns([nodes[p].states for p in node.parents], list(columns))
        if uncovered:
            shown = "; ".join("(" + ", ".join(c) + ")" for c in uncovered[:3])
            more = f" and {len(uncovered) - 3} more" if len(uncovered) > 3 else ""
            self.problem(
                rows[0].file if rows else f"cpts/{node.name}.csv",
                0,
                0,
                f"every configuration of the parents ({', '.join(node.parents)}) must have a column. "
                f"Missing: {shown}{more}",
            )
        for config, keys in ambiguous[:3]:
            first = min(min(r.line for r in columns[k].values()) for k in keys)
            self.problem(
                rows[0].file,
                first,
                0,
                f"parents ({', '.join(config)}) match several columns equally specifically: "
                + "; ".join("(" + ", ".join(k) + ")" for k in keys),
            )
        return tuple(params)

    def check_etiology_derivable(self, priors: Priors) -> None:
        from .etiology import EtiologyFitError, etiology_table

        for setting in priors.settings:
            try:
                etiology_table(priors, setting)
            except EtiologyFitError as err:
                self.problem("base_rates.csv", 0, 0, str(err))


def _find_cycle(parents: dict[str, list[str]]) -> list[str] | None:
    """Return one directed cycle as a list of nodes (first == last), or None.

    Iterative depth-first search, so a network of any depth is checked without recursion.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(parents):
        if start in state:
            continue
        path: list[str] = [start]
        todo: list[list[str]] = [list(parents.get(start, ()))]
        state[start] = 1
        while path:
            if not todo[-1]:
                state[path.pop()] = 2
                todo.pop()
                continue
            parent = todo[-1].pop(0)
            if state.get(parent) == 1:
                cycle = path[path.index(parent) :] + [parent]
                return list(reversed(cycle))
            if parent not in state:
                state[parent] = 1
                path.append(parent)
                todo.append(list(parents.get(parent, ())))
    return None

"""The in-memory form of a priors directory: nodes, states, sources, parameter rows and tests.

The CSV files are the single source of truth; these frozen objects mirror them row for row
(see ``priors/README.md`` for the schema), so that they can be written back out unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "WILDCARD",
    "LAYERS",
    "OBSERVABLE_LAYERS",
    "PANELS",
    "RENAMED_NODES",
    "CONDITIONAL_FINDINGS",
    "GROUPS",
    "CATEGORIES",
    "SOURCE_KINDS",
    "VERIFICATIONS",
    "TIERS",
    "tier_rank",
    "COST_BANDS",
    "INVASIVENESS",
    "SUM_TOLERANCE",
    "DEFAULT_SETTING",
    "Source",
    "Node",
    "Etiology",
    "Parameter",
    "FindingTest",
    "MEASUREMENT_REFERENCE",
    "INCLUDES",
    "OPTIONAL_HEADERS",
    "MeasurementInterval",
    "RedFlag",
    "Priors",
]

WILDCARD = "*"
"""A parent cell or etiology cell that stands for every value without a more specific row."""

SUM_TOLERANCE = 1e-6
"""How far a column of probabilities may sum from 1 (nothing is ever renormalised)."""

DEFAULT_SETTING = "primary_care"

ETIOLOGY = "etiology"

LAYERS = ("context", "trigger", "etiology", "mechanism", "finding")
OBSERVABLE_LAYERS = ("context", "trigger", "finding")
"""The layers whose nodes can be entered as evidence (each has a row in ``tests.csv``)."""
RENAMED_NODES: dict[str, str] = {"stimulant_use": "beta_agonist_or_stimulant"}
"""Former node names still accepted as evidence and as case-file columns, mapped to the current name."""

CONDITIONAL_FINDINGS: dict[str, tuple[str, str]] = {"weakness_pattern": ("weakness", "yes")}
"""Findings that describe another finding's positive state, ``{node: (finding, state)}``.

Their table is read given that state (the pattern of the weakness among weak patients), so they are
entered only together with it; simulated cases record them only where it holds.
"""

PANELS = ("history", "triggers", "examination", "labs", "electrodiagnosis", "imaging", "course", "")
GROUPS = (
    "benign",
    "metabolic",
    "motor_neuron_disease",
    "peripheral_nerve_hyperexcitability",
    "autoimmune",
    "other_neurological",
    "hereditary",
    "drug_or_toxin",
)
CATEGORIES = ("benign", "pathological")
SOURCE_KINDS = (
    "guideline",
    "meta-analysis",
    "systematic-review",
    "cohort",
    "cross-sectional",
    "diagnostic-study",
    "case-series",
    "case-report",
    "review",
    "textbook",
    "expert-estimate",
    "convention",
)

VERIFICATIONS = ("primary", "secondary", "expert_estimate", "convention")
"""How a source's numbers were checked (``sources.csv``, column ``verification``): read in the
primary publication or its abstract, taken from a named review or summary, our own judgement
(kind ``expert-estimate`` only), or the no-effect convention (kind ``convention`` only)."""

TIERS = (
    "history",
    "bedside_examination",
    "blood_test",
    "electrodiagnosis",
    "antibody",
    "imaging",
    "genetic",
)
"""How a finding is obtained, in the order a clinician escalates (``tests.csv``, column ``tier``)."""


def tier_rank(tier: str) -> int:
    """Return the position of ``tier`` in :data:`TIERS` (0 for ``history``); an unknown or empty tier comes last."""
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


COST_BANDS = {"none": 0.1, "low": 1.0, "moderate": 5.0, "high": 20.0, "very_high": 50.0}
"""Cost band -> indicative relative cost (a routine blood test = 1); estimates, see ``priors/README.md``."""

INVASIVENESS = ("none", "minimal", "moderate", "high")
"""How invasive obtaining a finding is, least first (``tests.csv``, column ``invasiveness``)."""

# Headers of every file; CPT files put their parent columns before VALUE_COLUMNS.
VALUE_COLUMNS = ("state", "probability", "low", "high", "source_id", "note")
HEADERS = {
    "nodes.csv": ("node", "layer", "panel", "description"),
    "states.csv": ("node", "state"),
    "etiologies.csv": ("etiology", "group", "category", "description"),
    "edges.csv": ("parent", "child"),
    "settings.csv": ("setting", "description"),
    "sources.csv": ("source_id", "kind", "citation", "year", "url", "doi", "pmid", "verification", "note"),
    "base_rates.csv": ("setting", "etiology", "probability", "low", "high", "source_id", "note"),
    "etiology_modifiers.csv": (
        "parent",
        "parent_state",
        "etiology",
        "relative_risk",
        "low",
        "high",
        "source_id",
        "note",
    ),
    "tests.csv": ("node", "tier", "cost_band", "invasiveness", "source_id", "note"),
}
OPTIONAL_HEADERS = {
    "measurements.csv": ("name", "node", "unit", "interval", "lower", "upper", "includes", "source_id", "note"),
    "red_flags.csv": ("node", "state", "guideline", "text", "source_id"),
}
"""Files a priors directory may leave out (no measurements, no red flags); checked like the others when present."""

MEASUREMENT_REFERENCE = "reference"
"""The ``interval`` of a ``measurements.csv`` row that gives the laboratory reference interval, not a state."""

INCLUDES = ("lower", "upper", "both", "none")
"""Which finite bounds a ``measurements.csv`` interval includes (``measurements.csv``, column ``includes``)."""


@dataclass(frozen=True)
class Source:
    """A cited source (a row of ``sources.csv``)."""

    source_id: str
    kind: str
    citation: str
    year: str
    url: str
    note: str
    doi: str = ""
    """Bare DOI (``10.xxxx/...``) or empty."""
    pmid: str = ""
    """PubMed ID (digits) or empty."""
    verification: str = ""
    """One of :data:`VERIFICATIONS`."""


@dataclass(frozen=True)
class Node:
    """A node of the network with its ordered states and ordered parents."""

    name: str
    layer: str
    panel: str
    description: str
    states: tuple[str, ...]
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Etiology:
    """A state of the etiology node with its roll-up group and category."""

    name: str
    group: str
    category: str
    description: str


@dataclass(frozen=True)
class Parameter:
    """One numeric row of a parameter file.

    ``key`` identifies the row within its file: ``(setting, etiology)`` in ``base_rates.csv``,
    ``(parent, parent_state, etiology)`` in ``etiology_modifiers.csv`` and
    ``(*parent_values, state)`` in ``cpts/<node>.csv``. ``value`` is a probability, or a
    relative risk in ``etiology_modifiers.csv``.
    """

    file: str
    line: int
    key: tuple[str, ...]
    value: float
    low: float
    high: float
    source_id: str
    note: str


@dataclass(frozen=True)
class FindingTest:
    """How an observable node is obtained (a row of ``tests.csv``): its tier, cost band and invasiveness."""

    node: str
    tier: str
    cost_band: str
    invasiveness: str
    source_id: str
    note: str

    @property
    def tier_rank(self) -> int:
        """Position of the tier in :data:`TIERS` (0 for ``history``)."""
        return tier_rank(self.tier)

    @property
    def relative_cost(self) -> float:
        """Indicative relative cost of the cost band (:data:`COST_BANDS`)."""
        return COST_BANDS[self.cost_band]


@dataclass(frozen=True)
class MeasurementInterval:
    """A row of ``measurements.csv``: one interval of a measured value on one unit's scale.

    ``interval`` is a state of ``node`` (values in the interval are entered as that state) or
    :data:`MEASUREMENT_REFERENCE` (the laboratory reference interval, shown beside the binning).
    ``lower`` and ``upper`` are None where the interval is unbounded; ``includes`` says which finite
    bounds belong to it (:data:`INCLUDES`).
    """

    name: str
    node: str
    unit: str
    interval: str
    lower: float | None
    upper: float | None
    includes: str
    source_id: str
    note: str

    def contains(self, value: float) -> bool:
        """Return True when ``value`` lies in the interval."""
        low_ok = (
            self.lower is None or value > self.lower or (value == self.lower and self.includes in ("lower", "both"))
        )
        high_ok = (
            self.upper is None or value < self.upper or (value == self.upper and self.includes in ("upper", "both"))
        )
        return low_ok and high_ok


@dataclass(frozen=True)
class RedFlag:
    """A row of ``red_flags.csv``: a finding's state that a guideline or consensus criterion names as a red flag."""

    node: str
    state: str
    guideline: str
    """Short name of the guideline (``NICE NG42``)."""
    text: str
    """What the guideline says about the finding, in its own terms."""
    source_id: str


@dataclass(frozen=True)
class Priors:
    """Everything read from a priors directory, validated.

    Build one with :func:`fasciculation_dx.load_priors`; derive changed copies with
    :meth:`with_value`, never by mutation.
    """

    directory: Path | None
    nodes: Mapping[str, Node]
    etiologies: Mapping[str, Etiology]
    settings: Mapping[str, str]
    sources: Mapping[str, Source]
    base_rates: tuple[Parameter, ...]
    modifiers: tuple[Parameter, ...]
    cpts: Mapping[str, tuple[Parameter, ...]]
    tests: Mapping[str, FindingTest] = dataclasses.field(default_factory=dict)
    """Observable node -> how it is obtained (``tests.csv``), in file order."""
    measurements: tuple[MeasurementInterval, ...] | None = None
    """Rows of ``measurements.csv`` in file order; None when the directory has no such file."""
    red_flags: tuple[RedFlag, ...] | None = None
    """Rows of ``red_flags.csv`` in file order; None when the directory has no such file."""

    @property
    def etiology_states(self) -> tuple[str, ...]:
        """The etiology node's states, in order."""
        return tuple(self.etiologies)

    def parameters(self) -> tuple[Parameter, ...]:
        """Every parameter row, in file order (base rates, modifiers, then CPTs by node)."""
        rows = [*self.base_rates, *self.modifiers]
        for node in self.nodes:
            rows.extend(self.cpts.get(node, ()))
        return tuple(rows)

    def with_value(self, file: str, line: int, value: float) -> Priors:
        """Return a copy in which the parameter at ``file:line`` has ``value``.

        No validation is done and nothing else changes; the caller keeps columns summing to one
        where that matters.
        """

        def replace(rows: tuple[Parameter, ...]) -> tuple[Parameter, ...]:
            return tuple(dataclasses.replace(r, value=value) if (r.file, r.line) == (file, line) else r for r in rows)

        if file == "base_rates.csv":
            return dataclasses.replace(self, base_rates=replace(self.base_rates))
        if file == "etiology_modifiers.csv":
            return dataclasses.replace(self, modifiers=replace(self.modifiers))
        cpts = {node: replace(rows) if rows and rows[0].file == file else rows for node, rows in self.cpts.items()}
        return dataclasses.replace(self, cpts=cpts)

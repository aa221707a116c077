"""What the clinician page asks of the model, with every request checked before it reaches it.

This module knows nothing about HTTP: :class:`DiagnosisService` takes decoded JSON and returns
JSON-ready dicts, or raises :class:`RequestError` carrying the HTTP status and a message for
the user. The server (:mod:`fasciculation_dx.web.server`) only moves bytes.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import EvidenceError, FasciculationDxError, ImpossibleEvidenceError
from ..inference.query import DISCLAIMER, query_result
from ..inference.query import json_safe as _json_safe
from ..inference.soft import PROBABLY, PROBABLY_PREFIX
from ..model import Model
from ..network.loader import load_priors
from ..network.paths import shipped_priors_dir
from ..network.priors import DEFAULT_SETTING, TIERS, Priors

__all__ = [
    "KEY_FINDINGS",
    "PANEL_GROUPS",
    "TIER_TITLES",
    "RequestError",
    "DiagnosisService",
    "posterior_interval_or_none",
]

PANEL_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("history", "History, triggers and course", ("history", "triggers", "course")),
    ("examination", "Examination", ("examination",)),
    ("labs", "Laboratory tests", ("labs",)),
    ("electrodiagnosis", "EMG and nerve conduction", ("electrodiagnosis",)),
    ("imaging", "Imaging", ("imaging",)),
)
"""The page's evidence sections: ``(id, title, panels of nodes.csv shown in it)``."""

KEY_FINDINGS: tuple[tuple[str, str], ...] = (
    ("weakness", "Weakness on examination"),
    ("atrophy", "Wasting (atrophy)"),
    ("umn_signs", "Upper motor neuron signs"),
    ("tongue_fasciculations", "Tongue fasciculations"),
    ("bulbar_symptoms", "Bulbar symptoms"),
    ("progression", "Worsening over months"),
    ("emg_fibrillations", "Fibrillations on EMG"),
)
"""The findings the page shows first, as ``(node, short label)``, in this order.

The list of issue 15. Weakness, EMG fibrillations, atrophy and progression are among the findings
with the largest expected information gain about benign versus pathological at the base rates of
both settings; UMN signs, tongue fasciculations and bulbar symptoms are the findings of the
network's upper motor neuron and bulbar mechanisms. The short label fits a phone; the page gives
each node's full description too. A node missing from the priors is left out.
"""

SUBHEADINGS = {"history": "History", "triggers": "Triggers", "course": "Course over time"}

TIER_TITLES = {
    "history": "History",
    "bedside_examination": "Bedside examination",
    "blood_test": "Blood test",
    "electrodiagnosis": "EMG and nerve conduction",
    "antibody": "Antibody test",
    "imaging": "Imaging",
    "genetic": "Genetic test",
}
"""How the page names each tier of ``tests.csv`` (in escalation order)."""

REQUEST_KEYS = frozenset({"evidence", "setting", "top", "interval"})
MAX_TOP = 100
MAX_EVIDENCE = 500


class RequestError(FasciculationDxError, ValueError):
    """A request the service refuses; ``status`` is the HTTP status to answer with (4xx)."""

    def __init__(self, status: int, message: str, **details: Any):
        self.status = status
        self.details = details
        super().__init__(message)

    def payload(self) -> dict[str, Any]:
        """Return the JSON body of the error response."""
        return {"error": str(self), "status": self.status, **self.details}


def posterior_interval_or_none(model: Model, evidence: Mapping[str, Any], level: float) -> pd.DataFrame | None:
    """Credible intervals for the posterior if this version of the model provides them.

    Calls ``model.posterior(evidence, interval=level)`` when ``Model.posterior`` accepts an
    ``interval`` argument and returns a table with ``lower`` and ``upper`` columns; otherwise
    returns ``None`` so that callers can show the point posterior alone.

    Parameters
    ----------
    model
        The model.
    evidence
        Validated evidence.
    level
        Central probability of the interval, e.g. 0.9.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by etiology, with at least ``lower`` and ``upper``; ``None`` when unavailable.
    """
    try:
        accepts = "interval" in inspect.signature(model.posterior).parameters
    except (TypeError, ValueError):
        accepts = False
    if not accepts:
        return None
    table = model.posterior(evidence, interval=level)
    if not isinstance(table, pd.DataFrame) or not {"lower", "upper"} <= set(table.columns):
        return None
    return table


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RequestError(400, message)


class DiagnosisService:
    """The model behind the clinician page, one :class:`fasciculation_dx.Model` per care setting, built on demand.

    Parameters
    ----------
    priors
        Validated priors, a priors directory, or ``None`` for the shipped priors.
    setting
        The care setting used when a request names none.

    Raises
    ------
    PriorsError
        If a priors directory is invalid.
    EvidenceError
        If ``setting`` is unknown.
    """

    def __init__(self, priors: Priors | str | Path | None = None, setting: str = DEFAULT_SETTING):
        if not isinstance(priors, Priors):
            priors = load_priors(priors if priors is not None else shipped_priors_dir())
        self.priors = priors
        if setting not in priors.settings:
            raise EvidenceError(f"unknown setting '{setting}'. Valid settings: {', '.join(priors.settings)}")
        self.default_setting = setting
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()  # one query at a time: the engines keep caches
        self.model(setting)

    def model(self, setting: str) -> Model:
        """Return the model of one care setting (built once, then reused)."""
        with self._lock:
            if setting not in self._models:
                self._models[setting] = Model(self.priors, setting)
            return self._models[setting]

    # -- the page's vocabulary ---------------------------------------------------------------------
    def schema(self) -> dict[str, Any]:
        """Return everything the page needs to draw the evidence form, as JSON-ready data.

        ``sections`` list every evidence node once; ``key_findings`` lists the nodes of
        :data:`KEY_FINDINGS` that the page shows first, each ``{"node", "label"}``.
        ``soft_evidence`` tells the page how to offer "probably" a state: ``prefix`` + state
        (``~yes``) stands for a weight of ``probably_ratio`` on that state and 1 on each other.
        """
        model = self.model(self.default_setting)
        nodes = self.priors.nodes
        sections = []
        for section_id, title, panels in PANEL_GROUPS:
            entries = []
            for panel in panels:
                for name in model.states:
                    if nodes[name].panel == panel:
                        entries.append(
                            {
                                "node": name,
                                "description": nodes[name].description,
                                "states": list(model.states[name]),
                                "panel": panel,
                                "subheading": SUBHEADINGS.get(panel, ""),
                            }
                        )
            sections.append({"id": section_id, "title": title, "nodes": entries})
        shown = {e["node"] for s in sections for e in s["nodes"]}
        others = [n for n in model.states if n not in shown]
        if others:  # a node in a panel the page does not know still gets a place
            sections.append(
                {
                    "id": "other",
                    "title": "Other findings",
                    "nodes": [
                        {
                            "node": n,
                            "description": nodes[n].description,
                            "states": list(model.states[n]),
                            "panel": nodes[n].panel,
                            "subheading": "",
                        }
                        for n in others
                    ],
                }
            )
        key_findings = [{"node": name, "label": label} for name, label in KEY_FINDINGS if name in model.states]
        etiologies = {
            name: {"group": e.group, "category": e.category, "description": e.description}
            for name, e in self.priors.etiologies.items()
        }
        return {
            "settings": dict(self.priors.settings),
            "default_setting": self.default_setting,
            "sections": sections,
            "key_findings": key_findings,
            "etiologies": etiologies,
            "tiers": [{"id": tier, "title": TIER_TITLES.get(tier, tier)} for tier in TIERS],
            "soft_evidence": {"probably_ratio": PROBABLY, "prefix": PROBABLY_PREFIX},
            "disclaimer": DISCLAIMER,
        }

    # -- queries -----------------------------------------------------------------------------------
    def parse_query(self, payload: Any) -> tuple[str, dict[str, str | dict[str, float]], int, float | None]:
        """Check a query request's JSON; return ``(setting, evidence, top, interval)``.

        Each evidence value is a string (a state, ``~state`` for "probably" that state, or
        weights written ``yes:0.8,no:0.2``) or an object of state: weight (soft evidence, see
        :mod:`fasciculation_dx.inference.soft`). The model checks the states and the weight rules
        when the query runs.

        Raises
        ------
        RequestError
            (400) naming what must hold and what was found.
        """
        _require(isinstance(payload, dict), "the request body must be a JSON object")
        unknown = sorted(set(payload) - REQUEST_KEYS)
        _require(
            not unknown,
            f"unknown field(s) {', '.join(map(repr, unknown))}. Valid fields: {', '.join(sorted(REQUEST_KEYS))}",
        )
        setting = payload.get("setting", self.default_setting)
        _require(isinstance(setting, str), "'setting' must be a string")
        _require(
            setting in self.priors.settings,
            f"unknown setting '{setting}'. Valid settings: {', '.join(self.priors.settings)}",
        )
        evidence = payload.get("evidence", {})
        _require(isinstance(evidence, dict), "'evidence' must be an object of node: state")
        _require(len(evidence) <= MAX_EVIDENCE, f"'evidence' may hold at most {MAX_EVIDENCE} entries")
        checked: dict[str, str | dict[str, float]] = {}
        for node, value in evidence.items():
            _require(
                _is_text(node), f"invalid node name {ascii(node)}: it is not valid Unicode text (a lone surrogate)"
            )
            if isinstance(value, dict):
                checked[node] = _weights(node, value)
            else:
                checked[node] = _state(node, value)
        top = payload.get("top", 10)
        _require(
            isinstance(top, int) and not isinstance(top, bool) and 1 <= top <= MAX_TOP,
            f"'top' must be an integer from 1 to {MAX_TOP}",
        )
        interval = payload.get("interval")
        if interval is not None:
            _require(
                isinstance(interval, int | float)
                and not isinstance(interval, bool)
                and math.isfinite(interval)
                and 0.5 <= interval < 1,
                "'interval' must be null or a probability from 0.5 to below 1 (e.g. 0.9)",
            )
            interval = float(interval)
        return setting, checked, top, interval

    def query(self, payload: Any) -> dict[str, Any]:
        """Answer a query request: posterior, roll-ups, explanation, next tests, intervals.

        Parameters
        ----------
        payload
            Decoded JSON: ``{"evidence": {node: state}, "setting": str, "top": int,
            "interval": float | null}``; every field optional. A state may be soft evidence:
            ``"~yes"`` (probably yes), ``"yes:0.8,no:0.2"`` or ``{"yes": 0.8, "no": 0.2}``.

        Returns
        -------
        dict
            :func:`fasciculation_dx.inference.query.query_result` plus ``intervals`` (``{etiology:
            {"lower", "upper"}}``, or ``None`` when not requested or not available) and
            ``interval_level``. The next tests come cheapest useful tier first, each with its
            ``tier`` and the page's name for it, ``tier_title``. Each group of
            ``red_flag_groups`` (:func:`fasciculation_dx.network.red_flags.group_red_flags`) also
            carries its source's ``citation`` and ``url`` from ``sources.csv``.

        Raises
        ------
        RequestError
            400 for a malformed request or an unknown node or state; 422 for evidence the model
            deems impossible (with the conflicting findings) or a computation the model refuses.
        """
        setting, evidence, top, interval = self.parse_query(payload)
        model = self.model(setting)
        with self._query_lock:
            try:
                result = query_result(model, evidence, top=top)
                table = posterior_interval_or_none(model, evidence, interval) if interval is not None else None
            except ImpossibleEvidenceError as err:
                raise RequestError(422, str(err), conflicting=err.conflicting) from err
            except EvidenceError as err:
                raise RequestError(400, str(err)) from err
            except FasciculationDxError as err:
                raise RequestError(422, str(err)) from err
        result["intervals"] = (
            None
            if table is None
            else {str(k): {"lower": float(r["lower"]), "upper": float(r["upper"])} for k, r in table.iterrows()}
        )
        result["interval_level"] = interval if table is not None else None
        for row in result["next_tests"]:
            row["tier_title"] = TIER_TITLES.get(row["tier"], row["tier"])
        result["red_flag_groups"] = [self._cited(group) for group in result["red_flag_groups"]]
        return _json_safe(result)

    def _cited(self, group: dict[str, Any]) -> dict[str, Any]:
        """Add the citation and web address (its url, else its DOI) of a red-flag group's source (``sources.csv``)."""
        source = self.priors.sources.get(group["source_id"])
        if source is None:
            return {**group, "citation": group["source_id"], "url": ""}
        url = source.url or (f"https://doi.org/{source.doi}" if source.doi else "")
        if not url.startswith(("https://", "http://")):  # the page links only to web addresses
            url = ""
        return {**group, "citation": source.citation, "url": url}


def _state(node: str, value: Any) -> str:
    """Check that an evidence value given as text is a string of valid Unicode; the model reads the rest."""
    _require(
        isinstance(value, str),
        f"the state of '{node}' must be a string (a state, or ~state for probably that state) or an object of "
        f'state: weight for an uncertain finding (e.g. {{"yes": 0.8, "no": 0.2}}). Got {json_type(value)} instead',
    )
    _require(
        _is_text(value), f"invalid state {ascii(value)} for '{node}': it is not valid Unicode text (a lone surrogate)"
    )
    return value


def _weights(node: str, value: dict[str, Any]) -> dict[str, Any]:
    """Check that soft evidence given as an object maps text to JSON numbers; the model checks the weights."""
    for state, weight in value.items():
        _require(
            _is_text(state),
            f"invalid state {ascii(state)} in the weights for '{node}': "
            "it is not valid Unicode text (a lone surrogate)",
        )
        _require(
            isinstance(weight, int | float) and not isinstance(weight, bool),
            f"the weight of {node}={state} must be a number (relative likelihoods, e.g. "
            f'{{"yes": 0.8, "no": 0.2}}). Got {json_type(weight)} instead',
        )
    return dict(value)


def _is_text(value: str) -> bool:
    """Whether a decoded JSON string is valid Unicode text (a JSON escape can make a lone surrogate, U+D800)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_type(value: Any) -> str:
    """Name a decoded JSON value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"

"""Checking evidence against the model's vocabulary, with errors that say what is valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from difflib import get_close_matches

import numpy as np

from ..errors import EvidenceError, ImpossibleEvidenceError
from ..network.priors import CONDITIONAL_FINDINGS, ETIOLOGY, OBSERVABLE_LAYERS, RENAMED_NODES, Priors

__all__ = [
    "OBSERVABLE_LAYERS",
    "checked_posterior",
    "observable_states",
    "check_evidence",
    "drop_undescribed",
    "impossible_evidence",
    "parse_assignments",
]


def observable_states(priors: Priors) -> dict[str, tuple[str, ...]]:
    """Every node that can be entered as evidence, with its states."""
    return {n: node.states for n, node in priors.nodes.items() if node.layer in OBSERVABLE_LAYERS}


def _closest(word: str, choices) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _short(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still reported
        text = "<unprintable>"
    return text if len(text) <= 40 else text[:37] + "..."


def check_evidence(priors: Priors, evidence: Mapping[str, str]) -> dict[str, str]:
    """Validate evidence and return it as a plain dict.

    Parameters
    ----------
    priors
        The model's priors.
    evidence
        ``{node: state}`` for observed context, triggers and findings.

    Returns
    -------
    dict
        The same evidence.

    Raises
    ------
    EvidenceError
        For a node or state the model does not know (naming the valid choices and the closest
        one), or for the etiology or a latent mechanism, which cannot be observed.
    """
    if not isinstance(evidence, Mapping):
        raise EvidenceError(f"evidence must be a mapping of node to state. Got {type(evidence).__name__} instead")
    valid = observable_states(priors)
    out: dict[str, str] = {}
    for node, state in evidence.items():
        if not isinstance(node, str):
            raise EvidenceError(f"evidence must name each node as a string. Got {type(node).__name__} {node!r} instead")
        if node in RENAMED_NODES and node not in priors.nodes and RENAMED_NODES[node] in valid:
            current = RENAMED_NODES[node]
            if current in evidence:
                raise EvidenceError(f"'{node}' is the former name of '{current}'; give it once, as '{current}'")
            node = current
        if node == ETIOLOGY:
            raise EvidenceError(
                "'etiology' is what the model infers; it cannot be entered as evidence. "
                "Enter the patient's findings instead"
            )
        if node in priors.nodes and priors.nodes[node].layer == "mechanism":
            children = [n for n, spec in priors.nodes.items() if node in spec.parents]
            raise EvidenceError(
                f"'{node}' is a latent mechanism and cannot be observed directly; "
                f"enter its findings instead: {', '.join(children)}"
            )
        if node not in valid:
            raise EvidenceError(f"unknown node '{node}'.{_closest(str(node), valid)} Valid nodes: {', '.join(valid)}")
        if not isinstance(state, str):
            raise EvidenceError(
                f"the state of '{node}' must be a string, one of: {', '.join(valid[node])}. "
                f"Got {type(state).__name__} {_short(state)} instead (leave a finding out when it is not known)"
            )
        if state not in valid[node]:
            raise EvidenceError(
                f"unknown state '{state}' for '{node}'.{_closest(str(state), valid[node])} "
                f"Valid states: {', '.join(valid[node])}"
            )
        out[node] = state
    for node, (finding, wanted) in CONDITIONAL_FINDINGS.items():
        if node in out and finding in valid and out.get(finding) != wanted:
            got = f"{finding}={out[finding]}" if finding in out else f"{finding} not entered"
            raise EvidenceError(
                f"'{node}' describes {finding} = {wanted}; enter {finding}={wanted} with it "
                f"(or leave {node} out). Got {got}"
            )
    return out


def drop_undescribed(evidence: Mapping[str, str]) -> dict[str, str]:
    """Leave out the findings that describe a finding's state that is not entered.

    A finding of :data:`~fasciculation_dx.network.priors.CONDITIONAL_FINDINGS` (the pattern of
    the weakness) is entered only with the state it describes (``weakness = yes``); this drops it
    otherwise, for evidence drawn at random.

    Parameters
    ----------
    evidence
        ``{node: state}``.

    Returns
    -------
    dict
        The evidence without those findings.
    """
    return {
        node: state
        for node, state in evidence.items()
        if node not in CONDITIONAL_FINDINGS
        or evidence.get(CONDITIONAL_FINDINGS[node][0]) == CONDITIONAL_FINDINGS[node][1]
    }


def parse_assignments(items: list[str]) -> dict[str, str]:
    """Parse ``node=state`` words from the command line.

    Raises
    ------
    EvidenceError
        If a word is not of the form ``node=state`` or names a node twice.
    """
    evidence: dict[str, str] = {}
    for item in items:
        node, sep, state = item.partition("=")
        if not sep or not node or not state:
            raise EvidenceError(f"evidence must be written node=state (e.g. weakness=yes). Got '{item}' instead")
        if node in evidence and evidence[node] != state:
            raise EvidenceError(f"node '{node}' is given twice ({evidence[node]} and {state}); give it once")
        evidence[node] = state
    return evidence


def impossible_evidence(posterior: Callable[[dict[str, str]], np.ndarray], evidence: Mapping[str, str]):
    """Name a minimal set of findings that cannot occur together.

    Parameters
    ----------
    posterior
        An engine's ``posterior(evidence)``: NaN where the evidence has probability zero.
    evidence
        Evidence whose probability is zero.

    Returns
    -------
    ImpossibleEvidenceError
        The error to raise, naming the conflicting findings.
    """
    conflict = dict(evidence)
    for node in list(evidence):
        trial = {k: v for k, v in conflict.items() if k != node}
        if trial and not np.all(np.isfinite(posterior(trial))):
            conflict = trial
    named = ", ".join(f"{k}={v}" for k, v in conflict.items())
    return ImpossibleEvidenceError(
        f"the evidence has probability zero under the model: {named} cannot occur together. "
        "Check these entries for a typo or a contradiction",
        conflict,
    )


def checked_posterior(engine, priors: Priors, evidence: Mapping[str, str] | None) -> np.ndarray:
    """Check ``evidence`` and return the engine's posterior vector over the etiologies.

    Raises
    ------
    EvidenceError
        For an unknown node or state, or a node that cannot be observed.
    ImpossibleEvidenceError
        If the evidence has probability zero; the error names the conflicting findings.
    """
    evidence = check_evidence(priors, evidence or {})
    values = engine.posterior(evidence)
    if not np.all(np.isfinite(values)) or abs(values.sum() - 1.0) > 1e-9:
        raise impossible_evidence(engine.posterior, evidence)
    return values

"""Checking evidence against the model's vocabulary, with errors that say what is valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from difflib import get_close_matches

import numpy as np

from ..errors import EvidenceError, ImpossibleEvidenceError
from ..network.priors import CONDITIONAL_FINDINGS, ETIOLOGY, OBSERVABLE_LAYERS, RENAMED_NODES, Priors
from .measurements import Binned, MeasurementTable, parse_quantity
from .soft import PROBABLY_PREFIX, Likelihood, likelihood, parse_value

__all__ = [
    "OBSERVABLE_LAYERS",
    "EvidenceChecker",
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


CLOSEST_NODES = 5
"""How many close names an unknown node's error lists (the full list is ``fasciculation-dx nodes``)."""


def _closest(word: str, choices) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _unique_casefold(word: str, choices) -> str | None:
    """Return the one choice equal to ``word`` regardless of case, or None (none, or several)."""
    folded = word.casefold()
    found = [c for c in choices if c.casefold() == folded]
    return found[0] if len(found) == 1 else None


def _unknown_node(node: str, valid, aliases) -> str:
    """Say that ``node`` is unknown, naming the few closest names and where the full list is."""
    names = [*valid, *(a for a in aliases if a not in valid)]
    close = get_close_matches(node.casefold(), names, n=CLOSEST_NODES, cutoff=0.6)
    first = f" Did you mean '{close[0]}'?" if close else ""
    others = f" Other close names: {', '.join(close[1:])}." if len(close) > 1 else ""
    return (
        f"unknown node '{node}'.{first}{others} `fasciculation-dx nodes` lists all {len(valid)} nodes that can be "
        "entered, with their states"
    )


def _short(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still reported
        text = "<unprintable>"
    return text if len(text) <= 40 else text[:37] + "..."


class EvidenceChecker:
    """Checks evidence against one model's vocabulary; built once, called per query.

    Parameters
    ----------
    priors
        The model's priors.
    """

    def __init__(self, priors: Priors):
        self.priors = priors
        self.valid = observable_states(priors)
        self.measurements = MeasurementTable(priors)
        self._known = {*priors.nodes, *RENAMED_NODES, *self.measurements.nodes}
        self._conditional = [
            (node, finding, wanted)
            for node, (finding, wanted) in CONDITIONAL_FINDINGS.items()
            if node in self.valid and finding in self.valid
        ]

    def __call__(self, evidence: Mapping[str, object]) -> dict[str, str | Likelihood]:
        """Check ``evidence`` (see :func:`check_evidence`)."""
        return self._check(evidence, None)

    def check_binned(self, evidence: Mapping[str, object]) -> tuple[dict[str, str | Likelihood], dict[str, Binned]]:
        """Check ``evidence`` and say how each numeric value was binned.

        Returns
        -------
        tuple
            The checked evidence (as :func:`check_evidence` returns it) and ``{node: Binned}`` for
            every value entered as a number (``calcium=1.9mmol/L``, ``age=58``), in the order entered;
            :meth:`fasciculation_dx.inference.measurements.Binned.describe` gives the line to show.
        """
        binned: dict[str, Binned] = {}
        return self._check(evidence, binned), binned

    def _check(self, evidence: Mapping[str, object], binned: dict[str, Binned] | None) -> dict[str, str | Likelihood]:
        if not isinstance(evidence, Mapping):
            raise EvidenceError(f"evidence must be a mapping of node to state. Got {type(evidence).__name__} instead")
        valid = self.valid
        out: dict[str, str | Likelihood] = {}
        given: dict[str, object] = {}
        for key, state in evidence.items():
            states = valid.get(key)
            if states is not None and type(state) is str and state in states:  # the common case
                node, value = key, state
            elif states is not None and type(state) is Likelihood and state.states == states:  # already checked
                node, value = key, state
            else:
                node, value = self._slow(key, state, evidence, binned)
            if node in out:
                raise EvidenceError(
                    f"'{node}' is given twice (as {given[node]!r} and {key!r}); give it once. "
                    f"Got {out[node]} and {value} instead"
                )
            out[node] = value
            given[node] = key
        for node, finding, wanted in self._conditional:
            if node in out and out.get(finding) != wanted:
                given_state = out.get(finding)
                got = f"{finding}={given_state}" if given_state is not None else f"{finding} not entered"
                raise EvidenceError(
                    f"'{node}' describes {finding} = {wanted}; enter {finding}={wanted} with it, as a certain finding "
                    f"(or leave {node} out). Got {got}"
                )
        return out

    def _node_name(self, node: str) -> str:
        """Return ``node`` without surrounding spaces, in the case of the one known name it matches."""
        name = node.strip()
        if name in self._known:
            return name
        return _unique_casefold(name, self._known) or name

    def _state_name(self, text: str, states: tuple[str, ...]) -> str:
        """Return ``text`` without surrounding spaces, in the case of the one state it matches."""
        text = text.strip()
        if text in states:
            return text
        return _unique_casefold(text, states) or text

    def _weights(self, weights: Mapping, states: tuple[str, ...]) -> dict:
        """Return soft-evidence weights with state names matched regardless of case and spaces."""
        return {self._state_name(k, states) if isinstance(k, str) else k: w for k, w in weights.items()}

    def _slow(
        self, node: object, state: object, evidence: Mapping, binned: dict[str, Binned] | None
    ) -> tuple[str, str | Likelihood]:
        """Check one entry that is not a known node at one of its states, with a message that helps."""
        priors, valid = self.priors, self.valid
        if not isinstance(node, str):
            raise EvidenceError(f"evidence must name each node as a string. Got {type(node).__name__} {node!r} instead")
        node = self._node_name(node)
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
        if node in self.measurements:
            target = self.measurements.nodes[node]
            target_states = valid.get(target, ())
            is_state = isinstance(state, str) and self._state_name(state, target_states) in target_states
            if not is_state and parse_quantity(state) is not None:
                found = self.measurements.bin(node, state)
                if binned is not None:
                    binned[found.node] = found
                return found.node, found.state
            node = target  # an alias (age) takes its node's states
        if node not in valid:
            raise EvidenceError(_unknown_node(node, valid, self.measurements.nodes))
        states = valid[node]
        if isinstance(state, str):
            text = self._state_name(state, states)
            if text in states:
                return node, text
            if text.startswith(PROBABLY_PREFIX):
                return node, likelihood(node, states, PROBABLY_PREFIX + self._state_name(text[1:], states))
            if ":" in text:
                try:
                    weights = parse_value(text)
                except EvidenceError as err:
                    raise EvidenceError(f"invalid soft evidence for '{node}': {err}") from None
                return node, likelihood(node, states, self._weights(weights, states))
            numbers = ""
            if parse_quantity(text) is not None:
                names = ", ".join(self.measurements.nodes)
                numbers = f" '{node}' takes a state, not a number: measurements.csv gives no cut-offs for it" + (
                    f" (numbers are read for {names})." if names else "."
                )
            raise EvidenceError(
                f"unknown state '{state}' for '{node}'.{_closest(text, states)}{numbers} "
                f"Valid states: {', '.join(states)}; or ~state (probably that state), "
                "or weights such as yes:0.8,no:0.2"
            )
        if isinstance(state, Mapping):
            return node, likelihood(node, states, self._weights(state, states))
        raise EvidenceError(
            f"the state of '{node}' must be a string, one of: {', '.join(states)}, or a mapping of state to "
            f"weight for an uncertain finding (e.g. {{'yes': 0.8, 'no': 0.2}}). Got {type(state).__name__} "
            f"{_short(state)} instead (leave a finding out when it is not known)"
        )


def check_evidence(priors: Priors, evidence: Mapping[str, object]) -> dict[str, str | Likelihood]:
    """Validate evidence and return it as a plain dict.

    Parameters
    ----------
    priors
        The model's priors.
    evidence
        ``{node: value}`` for observed context, triggers and findings. A value is a state, or
        soft evidence (see :mod:`fasciculation_dx.inference.soft`): a mapping ``{state: weight}``,
        its text form ``"yes:0.8,no:0.2"``, or ``"~yes"`` (probably yes).

    Returns
    -------
    dict
        The evidence with every soft value as a normalised
        :class:`fasciculation_dx.inference.soft.Likelihood` (a hard state when only one weight is
        positive), and former node names replaced by the current ones.

    Raises
    ------
    EvidenceError
        For a node or state the model does not know (naming the valid choices and the closest
        one), invalid weights, or the etiology or a latent mechanism, which cannot be observed.
    """
    return EvidenceChecker(priors)(evidence)


def drop_undescribed(evidence: Mapping[str, str]) -> dict[str, str]:
    """Leave out the findings that describe a finding's state that is not entered.

    A finding of :data:`fasciculation_dx.network.priors.CONDITIONAL_FINDINGS` (the pattern of
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

    ``node=yes:0.8,no:0.2`` (weights) and ``node~yes`` (probably yes) enter soft evidence; the
    values are kept as text and read by :func:`check_evidence` (see
    :mod:`fasciculation_dx.inference.soft`).

    Raises
    ------
    EvidenceError
        If a word is not of the form ``node=state`` or ``node~state``, or names a node twice.
    """
    evidence: dict[str, str] = {}
    for item in items:
        node, sep, state = item.partition("=")
        if not sep:
            node, sep, state = item.partition(PROBABLY_PREFIX)
            state = PROBABLY_PREFIX + state.strip() if sep else state
        node, state = node.strip(), state.strip()
        if not sep or not node or state in ("", PROBABLY_PREFIX):
            raise EvidenceError(
                "evidence must be written node=state (e.g. weakness=yes), node~state (probably that state) "
                f"or node=state:weight,state:weight (e.g. weakness=yes:0.8,no:0.2). Got '{item}' instead"
            )
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
        {k: v if isinstance(v, str) else dict(v) for k, v in conflict.items()},
    )


def checked_posterior(
    engine, priors: Priors, evidence: Mapping[str, object] | None, checker: EvidenceChecker | None = None
) -> np.ndarray:
    """Check ``evidence`` and return the engine's posterior vector over the etiologies.

    ``checker``, the model's :class:`EvidenceChecker`, saves building one per call.

    Raises
    ------
    EvidenceError
        For an unknown node or state, or a node that cannot be observed.
    ImpossibleEvidenceError
        If the evidence has probability zero; the error names the conflicting findings.
    """
    evidence = (checker or EvidenceChecker(priors))(evidence or {})
    values = engine.posterior(evidence)
    if not abs(values.sum() - 1.0) <= 1e-9:  # also true when the sum is NaN (impossible evidence)
        raise impossible_evidence(engine.posterior, evidence)
    return values

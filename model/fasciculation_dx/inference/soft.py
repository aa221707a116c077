"""Soft (likelihood) evidence: a finding known only approximately, as a relative weight per state.

A clinician who is not sure of a finding ("possibly mild weakness", an EMG read by a trainee)
enters it as *likelihood evidence*, also called virtual evidence: a weight ``w_s`` for each state
``s`` of the node, read as ``P(observation | node = s)`` up to a common factor. The posterior is
then ``P(e | E) ∝ sum_s w_s P(e, node = s, rest of E)``; a weight of 1 on one state and 0 on the
others is ordinary (hard) evidence, equal weights are no evidence at all. This is the virtual
evidence of Pearl (1988, section 2.2.2), the same as pgmpy's ``virtual_evidence`` and the
likelihood findings of GeNIe and Hugin.

How soft evidence is written
----------------------------
- In Python, a mapping ``{state: weight}``: ``{"weakness": {"yes": 0.8, "no": 0.2}}``. Weights
  are relative (they need not sum to one), finite and non-negative, at least one positive; a
  state left out has weight 0.
- As text (command line, case-file cells, the web service), ``yes:0.8,no:0.2``; and the shorthand
  ``~yes``, "probably yes", meaning weight :data:`PROBABLY` (4) on the named state and 1 on each
  other state: a likelihood ratio of 4 for the named state against each other one (on an even
  prior, 80% for a two-state finding). The ratio is a convention of this software, not a clinical
  estimate: give explicit weights when another ratio is meant.

:func:`parse_value` reads the text forms; :func:`likelihood` checks a mapping against a node's
states and returns a :class:`Likelihood` (the form every engine receives).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from ..errors import EvidenceError

__all__ = ["PROBABLY", "PROBABLY_PREFIX", "Likelihood", "likelihood", "parse_value", "state_vector"]

PROBABLY = 4.0
"""The likelihood ratio of ``~state`` ("probably"): weight 4 on the named state, 1 on each other state."""

PROBABLY_PREFIX = "~"
"""Written before a state (``~yes``), it means "probably" that state (see :data:`PROBABLY`)."""


class Likelihood(Mapping[str, float]):
    """Soft evidence on one node: a weight for each of its states, normalised to sum to one.

    Build one with :func:`likelihood`. It is a read-only mapping ``{state: weight}`` over every
    state of the node, in the node's order; :attr:`vector` holds the same weights as an array.
    ``str()`` gives the text form ``yes:0.8,no:0.2``.

    Parameters
    ----------
    states
        The node's states, in order.
    weights
        One non-negative weight per state, summing to one.

    Raises
    ------
    EvidenceError
        When there is not one finite non-negative weight per state or the weights do not sum to one
        (:func:`likelihood` normalises relative weights).
    """

    __slots__ = ("states", "vector")

    def __init__(self, states: Sequence[str], weights: Sequence[float] | np.ndarray):
        self.states = tuple(states)
        vector = np.array(weights, dtype=float)
        if (
            vector.shape != (len(self.states),)
            or not np.isfinite(vector).all()
            or (vector < 0).any()
            or abs(vector.sum() - 1.0) > 1e-9
        ):
            raise EvidenceError(
                f"a Likelihood needs one finite weight >= 0 per state ({', '.join(self.states)}), summing to one. "
                f"Got {vector.tolist()} instead; likelihood() reads relative weights"
            )
        vector.flags.writeable = False
        self.vector = vector

    def __getitem__(self, state: str) -> float:
        try:
            return float(self.vector[self.states.index(state)])
        except ValueError:
            raise KeyError(state) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.states)

    def __len__(self) -> int:
        return len(self.states)

    def __hash__(self) -> int:
        return hash((self.states, self.vector.tobytes()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Likelihood):
            return self.states == other.states and bool(np.array_equal(self.vector, other.vector))
        return Mapping.__eq__(self, other)

    def __str__(self) -> str:
        return ",".join(f"{s}:{w:.3g}" for s, w in zip(self.states, self.vector))

    def __repr__(self) -> str:
        return f"Likelihood({dict(self)!r})"

    def as_dict(self) -> dict[str, float]:
        """Return the weights as a plain ``{state: weight}`` dict (JSON-ready)."""
        return {s: float(w) for s, w in zip(self.states, self.vector)}


def state_vector(states: Sequence[str], value: str | Likelihood) -> np.ndarray:
    """Return an evidence value as a likelihood vector over ``states`` (one-hot for a hard state)."""
    if isinstance(value, Likelihood):
        return value.vector
    out = np.zeros(len(states))
    out[states.index(value)] = 1.0
    return out


def parse_value(text: str) -> str | dict[str, float]:
    """Read the text form of an evidence value.

    Parameters
    ----------
    text
        A state (``yes``), the "probably" shorthand (``~yes``, returned unchanged and resolved by
        :func:`likelihood` once the node is known), or weights ``yes:0.8,no:0.2``. Surrounding
        whitespace is ignored.

    Returns
    -------
    str or dict
        The state (or shorthand), or ``{state: weight}``.

    Raises
    ------
    EvidenceError
        For weights that are not written ``state:weight`` or are not numbers, or a state given
        twice.
    """
    text = text.strip()
    if ":" not in text:
        return text
    weights: dict[str, float] = {}
    for part in text.split(","):
        state, sep, number = (p.strip() for p in part.partition(":"))
        if not sep or not state or not number:
            raise EvidenceError(
                f"soft evidence must be written state:weight,state:weight (e.g. yes:0.8,no:0.2). Got '{text}' instead"
            )
        try:
            weight = float(number)
        except ValueError:
            raise EvidenceError(
                f"the weight of '{state}' must be a number (e.g. yes:0.8,no:0.2). Got '{number}' in '{text}' instead"
            ) from None
        if state in weights:
            raise EvidenceError(f"state '{state}' is given twice in '{text}'; give each state once")
        weights[state] = weight
    return weights


def likelihood(node: str, states: Sequence[str], value: Mapping | str) -> str | Likelihood:
    """Check soft evidence against a node's states.

    Parameters
    ----------
    node
        The node's name (for messages).
    states
        The node's states, in order.
    value
        ``{state: weight}`` (relative weights: finite, non-negative, at least one positive; a
        state left out has weight 0), or the shorthand ``~state``.

    Returns
    -------
    str or Likelihood
        The state itself when exactly one weight is positive (that is hard evidence), otherwise the
        normalised :class:`Likelihood`.

    Raises
    ------
    EvidenceError
        Naming the state or weight that is wrong and what is valid.
    """
    valid = ", ".join(states)
    if isinstance(value, str):
        if not value.startswith(PROBABLY_PREFIX):
            raise EvidenceError(
                f"soft evidence for '{node}' in text is written ~state (probably that state) with one of: {valid}. "
                f"Got '{value}' instead"
            )
        named = value[len(PROBABLY_PREFIX) :].strip()
        if named not in states:
            raise EvidenceError(
                f"unknown state '{named}' in '{value}' for '{node}'. "
                f"Write ~state with one of: {valid} (probably that state)"
            )
        return Likelihood(states, _normalised([PROBABLY if s == named else 1.0 for s in states]))
    weights = np.zeros(len(states))
    for state, weight in value.items():
        if state not in states:
            raise EvidenceError(f"unknown state '{state}' in the soft evidence for '{node}'. Valid states: {valid}")
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.integer | np.floating):
            raise EvidenceError(
                f"the weight of {node}={state} must be a number. Got {type(weight).__name__} {weight!r} instead"
            )
        try:
            weight = float(weight)
        except OverflowError:  # an integer too large for a float
            weight = math.inf
        if not math.isfinite(weight) or weight < 0:
            raise EvidenceError(
                f"the weight of {node}={state} must be finite and at least 0 (weights are relative likelihoods, "
                f"e.g. yes:0.8,no:0.2). Got {weight} instead"
            )
        weights[states.index(state)] = weight
    positive = np.flatnonzero(weights > 0)
    if len(positive) == 0:
        raise EvidenceError(
            f"the soft evidence for '{node}' needs at least one positive weight (e.g. yes:0.8,no:0.2). "
            f"Got {dict(value)!r} instead"
        )
    if len(positive) == 1:
        return states[int(positive[0])]
    return Likelihood(states, _normalised(weights))


def _normalised(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    scale = weights.max()
    return (weights / scale) / (weights / scale).sum()  # scaled first, so huge weights cannot overflow

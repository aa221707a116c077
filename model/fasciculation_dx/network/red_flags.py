"""The entered findings that a guideline or consensus criterion names as red flags (``priors/red_flags.csv``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .priors import Priors

__all__ = ["red_flags_present", "group_red_flags"]


def _most_likely(value: object) -> str | None:
    """Return the state of an evidence value: a hard state, or the one state with the strictly largest weight."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        weights = {state: float(weight) for state, weight in value.items()}
        if not weights:
            return None
        top = max(weights.values())
        best = [state for state, weight in weights.items() if weight == top]
        return best[0] if len(best) == 1 and top > 0 else None
    return None


def red_flags_present(priors: Priors, evidence: Mapping[str, object]) -> list[dict[str, object]]:
    """List the entered findings that are red flags in a guideline, with the guideline's words.

    Parameters
    ----------
    priors
        Priors whose ``red_flags`` (``priors/red_flags.csv``) are read; none when the file is absent.
    evidence
        Checked evidence (:func:`fasciculation_dx.inference.evidence.check_evidence`): ``{node: state}``
        or soft evidence as ``{node: {state: weight}}``.

    Returns
    -------
    list of dict
        One record per matching ``red_flags.csv`` row, in the file's order, with ``node``, ``state``,
        ``guideline``, ``source_id``, ``text`` and ``certain``. A certain finding matches its state; a
        soft (uncertain) finding matches when the red-flag state alone has its largest weight
        (``weakness~yes`` matches ``weakness = yes``), with ``certain`` False, so that a probable red
        flag is shown, marked as uncertain, rather than hidden.
    """
    entered = {node: _most_likely(value) for node, value in evidence.items()}
    return [
        {
            "node": flag.node,
            "state": flag.state,
            "guideline": flag.guideline,
            "source_id": flag.source_id,
            "text": flag.text,
            "certain": isinstance(evidence[flag.node], str),
        }
        for flag in priors.red_flags or ()
        if flag.node in entered and entered[flag.node] == flag.state
    ]


def group_red_flags(flags: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Group red flags by the guideline (and source) that lists them, saying a sentence they share once.

    A guideline's rows often end with the same clause (NICE NG42: "if MND is suspected, refer without
    delay"). Within a group of two or more flags, the ``;``-separated clauses found in every flag's
    text are taken out of each flag and given once as the group's ``shared`` words.

    Parameters
    ----------
    flags
        Records of :func:`fasciculation_dx.network.red_flags.red_flags_present` (``node``, ``state``,
        ``guideline``, ``source_id``, ``text``, ``certain``).

    Returns
    -------
    list of dict
        One record per guideline and source, in the order they first appear: ``guideline``,
        ``source_id``, ``shared`` (the clauses every flag of the group has, joined by ``"; "``; empty
        for a single flag or when none is common) and ``findings``, each with ``node``, ``state``,
        ``certain`` and ``text`` (its own clauses, without the shared ones; may be empty).
    """
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for flag in flags:
        grouped.setdefault((flag["guideline"], flag["source_id"]), []).append(flag)
    groups = []
    for (guideline, source_id), members in grouped.items():
        clauses = [[c.strip() for c in str(m["text"]).split(";") if c.strip()] for m in members]
        shared = [c for c in clauses[0] if len(members) > 1 and all(c in other for other in clauses[1:])]
        groups.append(
            {
                "guideline": guideline,
                "source_id": source_id,
                "shared": "; ".join(shared),
                "findings": [
                    {
                        "node": m["node"],
                        "state": m["state"],
                        "certain": bool(m.get("certain", True)),
                        "text": "; ".join(c for c in own if c not in shared),
                    }
                    for m, own in zip(members, clauses, strict=True)
                ],
            }
        )
    return groups

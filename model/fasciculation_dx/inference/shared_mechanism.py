"""Say when a finding adds almost nothing because another entered finding already established its mechanism.

Weakness, wasting and fibrillations on EMG all come from motor axon loss. Once two of them are
entered the third tells little that is new, so its weight of evidence counted after the other
findings is near zero although the same finding, counted first, would carry a large weight. The
table of weights alone reads as "this finding does not matter"; the note says why it does not
matter *now*.

The rule (:func:`shared_mechanism_notes`), for each finding ``f`` entered as certain:

1. added last, ``f`` moves neither the leading cause's odds against the rest nor the odds of a
   pathological against a benign cause by more than a factor :data:`SMALL_LR` (either way);
2. another finding entered as certain shares a latent mechanism with ``f`` (a parent of both in
   ``nodes.csv``/``edges.csv`` whose layer is ``mechanism``), and that mechanism is already
   likely from the other findings: ``P(mechanism not in its first state | evidence without f)``
   is at least :data:`ESTABLISHED` (a mechanism's first state is ``absent``);
3. counted before the findings that share that mechanism (``f`` added to the evidence without
   them), ``f`` would move one of those two odds by a factor :data:`LARGE_LR` or more.

A finding entered as soft evidence gets no note, and only findings entered as certain count as
establishing a mechanism.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..network.priors import Priors
from .explain import weight_changes

__all__ = ["ESTABLISHED", "LARGE_LR", "SMALL_LR", "shared_mechanism_notes"]

SMALL_LR = 1.5
"""A likelihood ratio between ``1/SMALL_LR`` and ``SMALL_LR`` counts as adding almost nothing."""

LARGE_LR = 3.0
"""A likelihood ratio of at least ``LARGE_LR`` (or at most its inverse) counts as a large weight."""

ESTABLISHED = 0.8
"""Probability from which a latent mechanism counts as already established by the other findings."""


def _mechanisms(priors: Priors, node: str) -> set[str]:
    return {p for p in priors.nodes[node].parents if priors.nodes[p].layer == "mechanism"}


def _weights(posterior, evidence: Mapping, node: str, lead: int, mask: np.ndarray) -> tuple[float, float]:
    """Return the change in log odds (leading vs rest, pathological vs benign) when ``node`` is added last."""
    without = posterior({k: v for k, v in evidence.items() if k != node})
    return weight_changes(posterior(evidence), without, lead, mask)


def shared_mechanism_notes(
    engine,
    priors: Priors,
    evidence: Mapping[str, object],
    explanation: Sequence[Mapping],
    pathological: Sequence[bool] | np.ndarray,
) -> list[dict]:
    """Find the findings whose weight is near zero because another finding already established their mechanism.

    Parameters
    ----------
    engine
        An inference engine with ``posterior(evidence)`` and ``marginal(node, evidence)``.
    priors
        The model's priors (for the parents and layers of the nodes).
    evidence
        The checked evidence, as :func:`fasciculation_dx.inference.explain.explain_posterior` got it.
    explanation
        The records of :func:`fasciculation_dx.inference.explain.explain_posterior` for ``evidence``.
    pathological
        Boolean mask over the etiologies marking the pathological ones.

    Returns
    -------
    list of dict
        One record per finding that meets the rule of this module, in the order of
        ``explanation``: ``node``, ``state``, ``mechanisms`` (``{mechanism: P(present | the other
        findings)}``, the shared mechanisms already established), ``shared_with`` (the entered
        findings, ``node=state``, that share them), ``lr_vs_rest`` and
        ``lr_pathological_vs_benign`` (the finding counted last, as in the explanation),
        ``lr_before`` and ``before_measure`` (the likelihood ratio the finding would have had
        counted before ``shared_with``, for ``"vs_rest"`` of ``leading`` or
        ``"pathological_vs_benign"``, whichever is further from 1) and ``leading``.
    """
    mask = np.asarray(pathological, dtype=bool)
    names = list(priors.etiology_states)
    small, large = np.log(SMALL_LR), np.log(LARGE_LR)
    hard = [n for n, v in evidence.items() if isinstance(v, str) and priors.nodes[n].layer == "finding"]
    notes = []
    for row in explanation:
        node = row["node"]
        if node not in hard:
            continue
        if not (abs(row["woe_vs_rest"]) < small and abs(row["woe_pathological_vs_benign"]) < small):
            continue
        own = _mechanisms(priors, node)
        siblings = {g: own & _mechanisms(priors, g) for g in hard if g != node}
        shared = set().union(*siblings.values()) if siblings else set()
        if not shared:
            continue
        rest = {k: v for k, v in evidence.items() if k != node}
        established = {}
        for mechanism in sorted(shared):
            p_present = 1.0 - float(engine.marginal(mechanism, rest)[0])
            if p_present >= ESTABLISHED:
                established[mechanism] = p_present
        if not established:
            continue
        by = [g for g, common in siblings.items() if common & established.keys()]
        before = {k: v for k, v in evidence.items() if k not in by}
        lead = names.index(row["leading"])
        vs_rest, vs_benign = _weights(engine.posterior, before, node, lead, mask)
        measure, woe = max((("pathological_vs_benign", vs_benign), ("vs_rest", vs_rest)), key=lambda kv: abs(kv[1]))
        if abs(woe) < large:
            continue
        notes.append(
            {
                "node": node,
                "state": row["state"],
                "mechanisms": established,
                "shared_with": [f"{g}={evidence[g]}" for g in by],
                "lr_vs_rest": row["lr_vs_rest"],
                "lr_pathological_vs_benign": row["lr_pathological_vs_benign"],
                "lr_before": float(np.exp(woe)),
                "before_measure": measure,
                "leading": row["leading"],
            }
        )
    return notes

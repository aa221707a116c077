"""Weights of evidence: how much each observed finding moved the leading etiology and benign versus pathological."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import ArgumentError

__all__ = ["EXPLANATION_COLUMNS", "explain_posterior", "weight_changes"]

EXPLANATION_COLUMNS = (
    "node",
    "state",
    "woe_vs_rest",
    "lr_vs_rest",
    "woe_vs_runner_up",
    "lr_vs_runner_up",
    "woe_pathological_vs_benign",
    "lr_pathological_vs_benign",
    "leading",
    "runner_up",
)


def _log_odds(p: float, q: float) -> float:
    with np.errstate(divide="ignore"):
        return float(np.log(p) - np.log(q))


def _change(after: float, before: float) -> float:
    """Change in log odds; 0 when a certainty stays a certainty (the finding cannot move it)."""
    if np.isinf(after) and after == before:
        return 0.0
    return after - before


def weight_changes(after: np.ndarray, before: np.ndarray, lead: int, mask: np.ndarray) -> tuple[float, float]:
    """Return the change in log odds of cause ``lead`` against the rest, and of a pathological against a benign cause.

    Parameters
    ----------
    after, before
        Posteriors over the etiologies with and without a finding.
    lead
        The index of the cause whose odds are measured.
    mask
        Boolean mask of the pathological etiologies.
    """
    vs_rest = _change(_log_odds(after[lead], 1 - after[lead]), _log_odds(before[lead], 1 - before[lead]))
    vs_benign = _change(
        _log_odds(after[mask].sum(), after[~mask].sum()), _log_odds(before[mask].sum(), before[~mask].sum())
    )
    return vs_rest, vs_benign


def explain_posterior(
    posterior: Callable[[Mapping[str, str]], np.ndarray],
    etiologies: Sequence[str],
    evidence: Mapping[str, str],
    pathological: Sequence[bool] | np.ndarray,
) -> list[dict]:
    r"""Compute each observed node's weight of evidence for the leading etiology and for a pathological cause.

    The weight of evidence of a finding ``f`` for the leading etiology ``L`` against the rest is
    the log likelihood ratio ``ln P(f | L, E \\ f) / P(f | not L, E \\ f)``, where ``E \\ f`` is
    the rest of the evidence. It equals the change in the log posterior odds of ``L`` when
    ``f`` is added last, so findings that share a mechanism with others (and so tell little that
    is new) get less weight than they would alone. The same is computed against the runner-up
    etiology ``R``.

    A finding entered as soft evidence is explained the same way: its weight is the change its
    uncertain observation made (for a two-state finding, between no change and the change of the
    same finding entered as certain), and its ``state`` is the text form of its weights
    (``yes:0.8,no:0.2``).

    The weight of evidence for a pathological cause against a benign one is defined the same way:
    the change in ``ln P(pathological | E) / P(benign | E)``, where ``P(pathological | E)`` is the
    sum of the posteriors of the pathological etiologies, when ``f`` is added last; it equals
    ``ln P(f | pathological, E \\ f) / P(f | benign, E \\ f)``. It shows a red flag (tongue
    fasciculations, say) even when the leading cause and the runner-up are both benign, so that
    the weights against them say little about it.

    Parameters
    ----------
    posterior
        Returns ``P(etiology | evidence)`` as an array in ``etiologies`` order.
    etiologies
        The etiology states in order.
    evidence
        The observed evidence.
    pathological
        Boolean mask over ``etiologies`` marking the pathological ones (``category`` in
        ``etiologies.csv``).

    Returns
    -------
    list of dict
        One record per observed node, sorted by ``woe_vs_rest`` descending, with the keys of
        :data:`EXPLANATION_COLUMNS`: ``node``, ``state``, ``woe_vs_rest``, ``lr_vs_rest``,
        ``woe_vs_runner_up``, ``lr_vs_runner_up``, ``woe_pathological_vs_benign`` (natural logs, and
        each ``lr_*`` its likelihood ratio, the exponential), ``lr_pathological_vs_benign`` and
        ``leading`` / ``runner_up`` naming the two etiologies.
        A finding that makes a cause (or a category) certain has an infinite weight.
    """
    mask = np.asarray(pathological, dtype=bool)
    if mask.shape != (len(etiologies),):
        raise ArgumentError(
            f"pathological must be a boolean mask over the {len(etiologies)} etiologies. Got shape {mask.shape} instead"
        )
    full = posterior(evidence)
    order = np.argsort(-full, kind="stable")
    lead, runner = int(order[0]), int(order[1])
    rows = []
    for node, state in evidence.items():
        rest = {k: v for k, v in evidence.items() if k != node}
        without = posterior(rest)
        vs_rest, vs_benign = weight_changes(full, without, lead, mask)
        vs_runner = _change(_log_odds(full[lead], full[runner]), _log_odds(without[lead], without[runner]))
        rows.append(
            {
                "node": node,
                "state": state if isinstance(state, str) else str(state),
                "woe_vs_rest": vs_rest,
                "lr_vs_rest": float(np.exp(vs_rest)),
                "woe_vs_runner_up": vs_runner,
                "lr_vs_runner_up": float(np.exp(vs_runner)),
                "woe_pathological_vs_benign": vs_benign,
                "lr_pathological_vs_benign": float(np.exp(vs_benign)),
                "leading": etiologies[lead],
                "runner_up": etiologies[runner],
            }
        )
    return sorted(rows, key=lambda r: -r["woe_vs_rest"])

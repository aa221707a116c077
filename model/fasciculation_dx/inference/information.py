"""Which test to do next: expected information gain of each unobserved finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..network.priors import Priors

__all__ = ["TEST_COLUMNS", "entropy_bits", "rank_tests"]

TEST_COLUMNS = ("node", "panel", "info_gain_etiology", "info_gain_category", "most_likely_result")


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy in bits of a probability vector (0 log 0 = 0)."""
    p = np.asarray(p, dtype=float)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def rank_tests(
    engine,
    priors: Priors,
    evidence: Mapping[str, str],
    findings: Sequence[str],
    pathological: np.ndarray,
    by: str = "etiology",
) -> list[dict]:
    """Rank unobserved findings by expected information gain.

    For a finding ``X`` with predictive distribution ``P(x | E)``, the expected information
    gain about the etiology is ``H(etiology | E) - sum_x P(x | E) H(etiology | E, x)``, in bits;
    the same is computed for the benign-versus-pathological question. Each finding is queried on
    its own, never jointly.

    Parameters
    ----------
    engine
        An inference engine with ``posterior(evidence)`` and ``marginal(node, evidence)``.
    priors
        The model's priors (for state names and panels).
    evidence
        The observed evidence.
    findings
        The unobserved findings to rank.
    pathological
        Boolean mask over etiologies marking the pathological ones.
    by
        ``"etiology"`` sorts by ``info_gain_etiology``, ``"category"`` by ``info_gain_category``.

    Returns
    -------
    list of dict
        One record per finding with the keys of :data:`TEST_COLUMNS`: ``node``, ``panel``,
        ``info_gain_etiology``, ``info_gain_category`` (bits) and ``most_likely_result``, sorted by
        the chosen gain, descending (ties by node name).
    """
    base = engine.posterior(evidence)
    h_etiology = entropy_bits(base)
    p_path = float(base[pathological].sum())
    h_category = entropy_bits(np.array([p_path, 1 - p_path]))
    rows = []
    for node in findings:
        states = priors.nodes[node].states
        predictive = engine.marginal(node, evidence)
        gain_e = h_etiology
        gain_c = h_category
        for state, p_x in zip(states, predictive):
            if p_x <= 0:
                continue
            post = engine.posterior({**evidence, node: state})
            q = float(post[pathological].sum())
            gain_e -= p_x * entropy_bits(post)
            gain_c -= p_x * entropy_bits(np.array([q, 1 - q]))
        rows.append(
            {
                "node": node,
                "panel": priors.nodes[node].panel,
                "info_gain_etiology": max(gain_e, 0.0),
                "info_gain_category": max(gain_c, 0.0),
                "most_likely_result": states[int(np.argmax(predictive))],
            }
        )
    key = "info_gain_category" if by == "category" else "info_gain_etiology"
    return sorted(rows, key=lambda r: (-r[key], r["node"]))

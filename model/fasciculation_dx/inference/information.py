"""Which test to do next: expected information gain of each unobserved finding, cheapest useful tier first."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import ArgumentError
from ..network.priors import COST_BANDS, TIERS, Priors, tier_rank

__all__ = [
    "MIN_GAIN",
    "ORDERS",
    "TEST_COLUMNS",
    "check_test_options",
    "entropy_bits",
    "order_tests",
    "rank_tests",
    "unconfirmed_findings",
]

TEST_COLUMNS = (
    "node",
    "panel",
    "tier",
    "cost_band",
    "invasiveness",
    "info_gain_etiology",
    "info_gain_category",
    "most_likely_result",
    "leading",
    "p_leading_now",
    "p_leading_range",
    "p_pathological_now",
    "p_pathological_range",
    "outcomes",
)

ORDERS = ("tier", "gain", "gain_per_cost")
"""How :func:`rank_tests` orders the tests: cheapest useful tier first (default), by gain, or by gain per cost."""

MIN_GAIN = 0.05
"""Expected information gain (bits) below which a test counts as not useful in ``order="tier"``.

A twentieth of a bit: a test whose expected gain is smaller moves the differential too little to
justify ordering it ahead of a more informative test in a higher tier.
"""


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy in bits of a probability vector (0 log 0 = 0)."""
    p = np.asarray(p, dtype=float)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def check_test_options(order: str = "tier", max_tier: str | None = None, min_gain: float = MIN_GAIN) -> None:
    """Check the ordering options of :func:`rank_tests`.

    Parameters
    ----------
    order
        One of :data:`ORDERS`.
    max_tier
        ``None`` or one of :data:`fasciculation_dx.network.priors.TIERS`.
    min_gain
        A finite number of bits, at least 0.

    Raises
    ------
    ArgumentError
        Naming the value that is wrong and the valid ones.
    """
    if order not in ORDERS:
        raise ArgumentError(f"order must be one of {', '.join(ORDERS)}. Got {order!r} instead")
    if max_tier is not None and max_tier not in TIERS:
        raise ArgumentError(
            f"max_tier must be one of {', '.join(TIERS)} (in escalation order) or None. Got {max_tier!r} instead"
        )
    if (
        isinstance(min_gain, bool)
        or not isinstance(min_gain, int | float)
        or not math.isfinite(min_gain)
        or min_gain < 0
    ):
        raise ArgumentError(f"min_gain must be a finite number of bits, at least 0. Got {min_gain!r} instead")


def order_tests(
    rows: Sequence[Mapping], order: str = "tier", by: str = "etiology", min_gain: float = MIN_GAIN
) -> list[dict]:
    """Order ranked tests (records of :data:`TEST_COLUMNS`).

    Parameters
    ----------
    rows
        Records with at least ``node``, ``tier``, ``cost_band`` and the two gains.
    order
        ``"tier"`` (default): the useful tests (gain of at least ``min_gain``) first, in escalation
        order of their tier (:data:`fasciculation_dx.network.priors.TIERS`) and by gain within a
        tier; then the tests that are not useful, in the same order. A tier whose best test is not
        useful therefore comes after every useful test, and a genetic test never precedes a useful
        bedside examination. ``"gain"``: by gain alone. ``"gain_per_cost"``: by gain divided by
        the indicative relative cost of the cost band
        (:data:`fasciculation_dx.network.priors.COST_BANDS`).
    by
        ``"etiology"`` uses ``info_gain_etiology``, ``"category"`` ``info_gain_category``.
    min_gain
        The usefulness threshold in bits (:data:`MIN_GAIN`).

    Returns
    -------
    list of dict
        The records in the chosen order; ties are broken by node name.
    """
    key = "info_gain_category" if by == "category" else "info_gain_etiology"
    if order == "gain":
        return sorted(rows, key=lambda r: (-r[key], r["node"]))
    if order == "gain_per_cost":
        return sorted(rows, key=lambda r: (-r[key] / COST_BANDS.get(r["cost_band"], 1.0), r["node"]))
    return sorted(rows, key=lambda r: (r[key] < min_gain, tier_rank(r["tier"]), -r[key], r["node"]))


def unconfirmed_findings(priors: Priors, evidence: Mapping[str, object]) -> list[str]:
    """Return the findings not entered as certain: the unobserved ones and those entered as soft evidence.

    A finding known only approximately can still be worth testing properly, so it stays a
    candidate for :func:`rank_tests`.
    """
    return [n for n, spec in priors.nodes.items() if spec.layer == "finding" and not isinstance(evidence.get(n), str)]


def _span(outcomes: Sequence[Mapping], key: str) -> list[float]:
    """Return ``[lowest, highest]`` of ``key`` over the possible results of a test."""
    values = [o[key] for o in outcomes]
    return [min(values), max(values)] if values else [float("nan"), float("nan")]


def rank_tests(
    engine,
    priors: Priors,
    evidence: Mapping[str, str],
    findings: Sequence[str],
    pathological: np.ndarray,
    by: str = "etiology",
    *,
    order: str = "tier",
    max_tier: str | None = None,
    min_gain: float = MIN_GAIN,
) -> list[dict]:
    """Rank unobserved findings by expected information gain, cheapest useful tier first.

    For a finding ``X`` with predictive distribution ``P(x | E)``, the expected information
    gain about the etiology is ``H(etiology | E) - sum_x P(x | E) H(etiology | E, x)``, in bits;
    the same is computed for the benign-versus-pathological question. Each finding is queried on
    its own, never jointly. A finding entered as soft evidence is ranked as a test that would
    establish it: its predictive distribution includes its uncertain observation, and a result
    replaces that observation (the soft evidence says nothing more once the state is known).
    Each finding's tier, cost band and invasiveness come from ``tests.csv``.

    Parameters
    ----------
    engine
        An inference engine with ``posterior(evidence)`` and ``marginal(node, evidence)``.
    priors
        The model's priors (for state names, panels and ``tests.csv``).
    evidence
        The observed evidence.
    findings
        The unobserved findings to rank.
    pathological
        Boolean mask over etiologies marking the pathological ones.
    by
        ``"etiology"`` ranks by ``info_gain_etiology``, ``"category"`` by ``info_gain_category``.
    order
        ``"tier"`` (default), ``"gain"`` or ``"gain_per_cost"``; see :func:`order_tests`.
    max_tier
        Keep only the findings whose tier is this one or comes before it in
        :data:`fasciculation_dx.network.priors.TIERS` (``None``: every tier).
    min_gain
        Gain in bits below which a test is not useful (:data:`MIN_GAIN`), for ``order="tier"``.

    Returns
    -------
    list of dict
        One record per finding kept, with the keys of :data:`TEST_COLUMNS`: ``node``, ``panel``,
        ``tier``, ``cost_band``, ``invasiveness``, ``info_gain_etiology``, ``info_gain_category``
        (bits) and ``most_likely_result``, and what the result could change, in plain numbers:
        ``leading`` (the cause that leads now), ``p_leading_now`` and ``p_pathological_now`` (its
        probability and that of a pathological cause now), ``p_leading_range`` and
        ``p_pathological_range`` (``[lowest, highest]`` over the finding's possible results) and
        ``outcomes`` (one record per possible result: ``state``, its predictive ``probability``,
        and ``p_pathological`` and ``p_leading`` if that result were found), in the chosen order.

    Raises
    ------
    ArgumentError
        For an unknown ``order`` or ``max_tier``, or a negative ``min_gain``.
    """
    check_test_options(order, max_tier, min_gain)
    if max_tier is not None:
        limit = TIERS.index(max_tier)
        findings = [n for n in findings if n in priors.tests and priors.tests[n].tier_rank <= limit]
    base = engine.posterior(evidence)
    h_etiology = entropy_bits(base)
    p_path = float(base[pathological].sum())
    h_category = entropy_bits(np.array([p_path, 1 - p_path]))
    lead = int(np.argmax(base))
    rows = []
    for node in findings:
        states = priors.nodes[node].states
        predictive = engine.marginal(node, evidence)
        gain_e = h_etiology
        gain_c = h_category
        outcomes = []
        for state, p_x in zip(states, predictive):
            if p_x <= 0:
                continue
            post = engine.posterior({**evidence, node: state})
            q = float(post[pathological].sum())
            gain_e -= p_x * entropy_bits(post)
            gain_c -= p_x * entropy_bits(np.array([q, 1 - q]))
            outcomes.append(
                {"state": state, "probability": float(p_x), "p_pathological": q, "p_leading": float(post[lead])}
            )
        test = priors.tests.get(node)
        rows.append(
            {
                "node": node,
                "panel": priors.nodes[node].panel,
                "tier": test.tier if test else "",
                "cost_band": test.cost_band if test else "",
                "invasiveness": test.invasiveness if test else "",
                "info_gain_etiology": max(gain_e, 0.0),
                "info_gain_category": max(gain_c, 0.0),
                "most_likely_result": states[int(np.argmax(predictive))],
                "leading": priors.etiology_states[lead],
                "p_leading_now": float(base[lead]),
                "p_leading_range": _span(outcomes, "p_leading"),
                "p_pathological_now": p_path,
                "p_pathological_range": _span(outcomes, "p_pathological"),
                "outcomes": outcomes,
            }
        )
    return order_tests(rows, order, by, min_gain)

"""A whole differential as plain JSON-ready data: what the command line and the web page show.

Nothing here imports pandas, so a command-line query starts quickly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import EvidenceError
from ..network.red_flags import group_red_flags, red_flags_present
from .explain import explain_posterior
from .information import MIN_GAIN, check_test_options, rank_tests, unconfirmed_findings
from .shared_mechanism import shared_mechanism_notes

__all__ = ["DISCLAIMER", "check_level", "json_safe", "query_result"]

DISCLAIMER = (
    "These probabilities support clinical judgement; they are not a diagnosis. "
    "The model knows only the findings entered."
)


def check_level(level: float) -> None:
    """Raise EvidenceError unless ``level`` is a credible-interval mass in (0, 1)."""
    if not 0 < level < 1:
        raise EvidenceError(f"the interval level must be between 0 and 1 (e.g. 0.9). Got {level} instead")


def json_safe(value):
    """Replace non-finite floats (an infinite weight of evidence) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _rollup(labels: Mapping[str, str], probabilities: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for etiology, p in probabilities.items():
        out[labels[etiology]] = out.get(labels[etiology], 0.0) + p
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def query_result(
    model,
    evidence: Mapping[str, str],
    top: int = 10,
    interval: float | None = None,
    draws: int = 2000,
    seed: int | None = 0,
    *,
    order: str = "tier",
    max_tier: str | None = None,
    min_gain: float = MIN_GAIN,
    causes: Sequence[str] = (),
) -> dict:
    """Compute everything a differential shows, as plain JSON-ready data.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model`.
    evidence
        ``{node: state}``; soft evidence as in :meth:`fasciculation_dx.Model.posterior`.
    top
        How many next tests to include.
    interval, draws, seed
        With ``interval`` (e.g. 0.9), add Monte Carlo credible bounds for the etiologies and the
        categories under the key ``interval``.
    order, max_tier, min_gain
        How the next tests are ordered and which tiers are kept; see
        :func:`fasciculation_dx.inference.information.rank_tests`.
    causes
        Causes (canonical names) asked about: each gets its rank and probability under ``asked``
        whether or not it is among the first shown.

    Returns
    -------
    dict
        Keys ``setting``, ``evidence`` (as understood: a state, or the normalised weights of
        soft evidence), ``posterior`` (etiology -> probability, descending),
        ``category``, ``group``, ``explanation`` (records), ``next_tests`` (records), ``top``,
        ``next_tests_order``, ``max_tier``, ``min_gain``, ``disclaimer`` and, with ``interval``,
        ``interval``. Also ``setting_description`` (what the setting means, from ``settings.csv``),
        ``settings`` (every setting of the priors with its description), ``prior_pathological``
        (``P(pathological)`` in this setting before any finding), ``explanation_notes`` (the findings
        that add almost nothing because another finding already established their mechanism; see
        :func:`fasciculation_dx.inference.shared_mechanism.shared_mechanism_notes`), ``red_flags``
        (the entered findings a guideline lists as red flags, from ``red_flags.csv``; see
        :func:`fasciculation_dx.network.red_flags.red_flags_present`), ``red_flag_groups`` (the same
        grouped by guideline, a sentence they share said once; see
        :func:`fasciculation_dx.network.red_flags.group_red_flags`) and ``asked``
        (records ``cause``, ``rank``, ``probability``, ``group``, ``category`` for ``causes``), and
        ``values``: how each value entered as a number was binned (records with ``node``, ``value``,
        ``unit``, ``state``, ``reference`` and ``text``; see
        :mod:`fasciculation_dx.inference.measurements`).

    Raises
    ------
    EvidenceError, ImpossibleEvidenceError
        For invalid or impossible evidence, or an interval outside (0, 1).
    ArgumentError
        For an unknown ``order`` or ``max_tier``, or a negative ``min_gain``.
    """
    if interval is not None:
        check_level(interval)
    check_test_options(order, max_tier, min_gain)  # before any inference, so a bad option costs nothing
    causes = (causes,) if isinstance(causes, str) else tuple(causes)
    unknown = [c for c in causes if c not in model.priors.etiologies]
    if unknown:
        raise EvidenceError(f"unknown cause '{unknown[0]}'. Valid causes: {', '.join(model.priors.etiologies)}")
    evidence, binned = model.read_evidence(evidence)
    values = model.posterior_vector(evidence)
    ranked = sorted(range(len(values)), key=lambda i: -values[i])
    posterior = {model.etiologies[i]: float(values[i]) for i in ranked}
    etiologies = model.priors.etiologies
    category = _rollup({e: etiologies[e].category for e in etiologies}, posterior)
    category = {c: category.get(c, 0.0) for c in ("benign", "pathological")}
    group = _rollup({e: etiologies[e].group for e in etiologies}, posterior)
    pathological = model.pathological
    explanation = (
        explain_posterior(model.inference.posterior, model.etiologies, evidence, pathological) if evidence else []
    )
    notes = (
        shared_mechanism_notes(model.inference, model.priors, evidence, explanation, pathological)
        if explanation
        else []
    )
    prior = model.posterior_vector({}) if evidence else values
    ranks = {name: rank for rank, name in enumerate(posterior, start=1)}
    asked = [
        {
            "cause": c,
            "rank": ranks[c],
            "probability": posterior[c],
            "group": etiologies[c].group,
            "category": etiologies[c].category,
        }
        for c in dict.fromkeys(causes)
    ]
    findings = unconfirmed_findings(model.priors, evidence)
    tests = rank_tests(
        model.inference,
        model.priors,
        evidence,
        findings,
        pathological,
        order=order,
        max_tier=max_tier,
        min_gain=min_gain,
    )[:top]
    entered = {k: v if isinstance(v, str) else v.as_dict() for k, v in evidence.items()}
    flags = red_flags_present(model.priors, entered)
    result = {
        "setting": model.setting,
        "setting_description": model.priors.settings[model.setting],
        "settings": dict(model.priors.settings),
        "prior_pathological": float(sum(p for p, path in zip(prior, pathological) if path)),
        "evidence": entered,
        "values": [b.as_dict() for b in binned.values()],
        "red_flags": flags,
        "red_flag_groups": group_red_flags(flags),
        "posterior": posterior,
        "category": category,
        "group": group,
        "explanation": explanation,
        "explanation_notes": notes,
        "asked": asked,
        "next_tests": tests,
        "next_tests_order": order,
        "max_tier": max_tier,
        "min_gain": min_gain,
        "top": top,
        "disclaimer": DISCLAIMER,
    }
    if interval is not None:
        draws_result = model.uncertainty(evidence, draws, seed)
        bounds = {by: draws_result.interval(interval, by) for by in ("etiology", "category")}
        result["interval"] = {
            "level": interval,
            "draws": draws,
            "seed": seed,
            **{
                key: {k: [float(r["lower"]), float(r["upper"])] for k, r in bounds[by].iterrows()}
                for key, by in (("posterior", "etiology"), ("category", "category"))
            },
        }
    return result

"""Decision curve analysis of the benign-vs-pathological roll-up (Vickers & Elkin 2006).

The policy scored is "refer for EMG when ``P(pathological) >= t``". At a threshold probability
``t``, its net benefit is

    NB(t) = TP / n - FP / n * t / (1 - t),

where TP and FP are the referred cases whose confirmed cause is pathological and benign, and ``n``
is the number of cases. The weight ``t / (1 - t)`` is the exchange rate the threshold implies: a
clinician who refers at ``t = 0.2`` accepts four unnecessary referrals to find one pathological
cause. Net benefit is counted in true positives per patient, net of that harm, so the policy is
compared with the two defaults, "refer all" (``prevalence - (1 - prevalence) * t / (1 - t)``) and
"refer none" (0), at each threshold. A model is useful at the thresholds where its curve lies
above both. The curve summarises a case set; it supports, and does not replace, the judgement of
the clinician who weighs an individual patient's risks and preferences.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ArgumentError

__all__ = ["DEFAULT_THRESHOLDS", "COLUMNS", "decision_curve", "threshold_grid"]

COLUMNS = ("threshold", "net_benefit_model", "net_benefit_refer_all", "net_benefit_refer_none", "referral_rate")
"""The columns of :func:`decision_curve`'s table, in order."""


def threshold_grid(low: float = 0.01, high: float = 0.5, step: float = 0.01) -> np.ndarray:
    """Return evenly spaced threshold probabilities from ``low`` to ``high`` (both included).

    Parameters
    ----------
    low, high
        The first and the last threshold, with ``0 < low <= high < 1``.
    step
        The spacing, above 0; ``high`` is included when it lies on the grid (to within 1e-9).

    Returns
    -------
    numpy.ndarray
        The thresholds, rounded to 10 decimals so that ``0.01 + 0.01 * k`` reads as written.

    Raises
    ------
    ArgumentError
        If a bound is outside ``(0, 1)``, ``low > high``, or ``step`` is not above 0.

    Examples
    --------
    >>> threshold_grid(0.1, 0.3, 0.1).tolist()
    [0.1, 0.2, 0.3]
    """
    for name, value in (("low", low), ("high", high)):
        if not (isinstance(value, int | float) and 0.0 < value < 1.0):
            raise ArgumentError(f"threshold {name} must be a probability above 0 and below 1. Got {value!r} instead")
    if low > high:
        raise ArgumentError(f"threshold low must not exceed high. Got low={low!r}, high={high!r} instead")
    if not (isinstance(step, int | float) and 0.0 < step < math.inf):
        raise ArgumentError(f"threshold step must be a number above 0. Got {step!r} instead")
    count = math.floor((high - low) / step + 1e-9) + 1
    return np.round(low + step * np.arange(count), 10)


DEFAULT_THRESHOLDS = threshold_grid(0.01, 0.5, 0.01)
"""0.01, 0.02, ..., 0.50: the thresholds at which a referral for EMG is plausibly weighed."""


def _thresholds(thresholds) -> np.ndarray:
    try:
        t = np.asarray(thresholds, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentError(f"thresholds must be numbers. Got {thresholds!r} instead") from None
    if t.ndim != 1 or t.size == 0:
        raise ArgumentError(f"thresholds must be a non-empty list of numbers. Got {thresholds!r} instead")
    bad = t[~((t > 0.0) & (t < 1.0))]  # NaN fails both comparisons
    if bad.size:
        raise ArgumentError(
            f"thresholds must be probabilities above 0 and below 1 (net benefit weighs false positives by "
            f"t / (1 - t)). Got {bad[0]:g} instead"
        )
    return t


def decision_curve(p_pathological, is_pathological, thresholds=None) -> pd.DataFrame:
    """Net benefit of referring when ``P(pathological) >= t``, against referring all or none.

    Parameters
    ----------
    p_pathological
        The model's probability of a pathological cause, one per case, in ``[0, 1]``.
    is_pathological
        Whether each case's confirmed cause is pathological (booleans, or 0/1).
    thresholds
        Threshold probabilities, each above 0 and below 1; :data:`DEFAULT_THRESHOLDS`
        (0.01 to 0.50 by 0.01) when omitted.

    Returns
    -------
    pandas.DataFrame
        One row per threshold, in the order given: ``threshold``, ``net_benefit_model``,
        ``net_benefit_refer_all``, ``net_benefit_refer_none`` (always 0) and ``referral_rate``
        (the share of cases the model refers). ``attrs["n"]`` and ``attrs["prevalence"]`` hold
        the number of cases and the share with a pathological cause.

    Raises
    ------
    ArgumentError
        If the inputs are empty, of different lengths, or outside their ranges, or a threshold
        is not strictly between 0 and 1.

    Examples
    --------
    Four cases, two of them pathological; at ``t = 0.2`` the model refers three (two true, one
    false positive): ``2/4 - 1/4 * 0.25 = 0.4375``; referring all gives ``2/4 - 2/4 * 0.25``.

    >>> curve = decision_curve([0.9, 0.6, 0.3, 0.1], [True, False, True, False], [0.2, 0.5])
    >>> curve.round(4).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'threshold': [0.2, 0.5], 'net_benefit_model': [0.4375, 0.0], 'net_benefit_refer_all': [0.375, 0.0],
     'net_benefit_refer_none': [0.0, 0.0], 'referral_rate': [0.75, 0.5]}
    """
    t = DEFAULT_THRESHOLDS if thresholds is None else _thresholds(thresholds)
    try:
        p = np.asarray(p_pathological, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentError("p_pathological must be numbers") from None
    y = np.asarray(is_pathological)
    if p.ndim != 1 or p.size == 0:
        raise ArgumentError(f"p_pathological must be a non-empty list of probabilities. Got shape {p.shape} instead")
    if y.shape != p.shape:
        raise ArgumentError(
            f"p_pathological and is_pathological must have the same length. Got {p.size} and {y.size} instead"
        )
    if not ((p >= 0.0) & (p <= 1.0)).all():
        raise ArgumentError("p_pathological must hold probabilities from 0 to 1 (no NaN)")
    if y.dtype != bool:
        if not np.isin(y, [0, 1]).all():
            raise ArgumentError("is_pathological must hold booleans or 0/1")
        y = y.astype(bool)
    n = p.size
    prevalence = float(y.mean())
    odds = t / (1.0 - t)
    referred = p[None, :] >= t[:, None]
    tp = (referred & y[None, :]).sum(axis=1) / n
    fp = (referred & ~y[None, :]).sum(axis=1) / n
    table = pd.DataFrame(
        {
            "threshold": t,
            "net_benefit_model": tp - fp * odds,
            "net_benefit_refer_all": prevalence - (1.0 - prevalence) * odds,
            "net_benefit_refer_none": np.zeros_like(t),
            "referral_rate": referred.mean(axis=1),
        },
        columns=list(COLUMNS),
    )
    table.attrs.update(n=n, prevalence=prevalence)
    return table

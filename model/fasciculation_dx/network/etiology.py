"""The etiology node's conditional table, derived from base rates and relative risks.

``base_rates.csv`` gives the etiology's marginal distribution in each care setting and
``etiology_modifiers.csv`` a relative risk per (parent state, etiology). For a configuration
``c`` of the etiology's parents (context and triggers):

    P(etiology = e | c) = w(e) * prod_p RR(p, c_p, e) / Z(c)

with ``Z(c)`` normalising over etiologies. The weights ``w`` are fitted by iterative
proportional scaling so that ``sum_c P(c) P(e | c)`` equals the base rate of ``e`` exactly (to
``FIT_TOLERANCE``; the rates divided by their sum, which the schema lets differ from 1 by up to
``SUM_TOLERANCE``), where ``P(c)`` is the product of the parents' priors (they are root nodes).
"""

from __future__ import annotations

import numpy as np

from ..errors import FasciculationDxError
from .priors import ETIOLOGY, WILDCARD, Priors
from .tables import cpt_array

__all__ = ["EtiologyFitError", "base_rate_vector", "relative_risks", "etiology_table", "fit_etiology"]

FIT_TOLERANCE = 1e-13
MAX_ITERATIONS = 20_000


class EtiologyFitError(FasciculationDxError):
    """The base rates cannot be reproduced with the given relative risks."""


def base_rate_vector(priors: Priors, setting: str) -> np.ndarray:
    """Return the setting's base rates in etiology order."""
    rates = {p.key[1]: p.value for p in priors.base_rates if p.key[0] == setting}
    return np.array([rates[e] for e in priors.etiology_states])


def relative_risks(priors: Priors) -> list[np.ndarray]:
    """Return, for each parent of the etiology, an array ``(n_etiologies, n_parent_states)``."""
    etiologies = priors.etiology_states
    out = []
    for parent in priors.nodes[ETIOLOGY].parents:
        states = priors.nodes[parent].states
        table = np.empty((len(etiologies), len(states)))
        rows = {p.key[1:]: p.value for p in priors.modifiers if p.key[0] == parent}
        for j, state in enumerate(states):
            default = rows[(state, WILDCARD)]
            for i, e in enumerate(etiologies):
                table[i, j] = rows.get((state, e), default)
        out.append(table)
    return out


def _unnormalised(priors: Priors) -> np.ndarray:
    """prod_p RR(p, c_p, e) as an array ``(n_etiologies, *parent_cardinalities)``."""
    rrs = relative_risks(priors)
    n = len(rrs)
    product = np.ones((len(priors.etiology_states),) + (1,) * n)
    for k, table in enumerate(rrs):
        shape = [table.shape[0]] + [1] * n
        shape[k + 1] = table.shape[1]
        product = product * table.reshape(shape)
    return product


def _parent_prior(priors: Priors) -> np.ndarray:
    """P(c) for every configuration of the etiology's parents (independent roots)."""
    parents = priors.nodes[ETIOLOGY].parents
    joint = np.ones(())
    for parent in parents:
        joint = np.multiply.outer(joint, cpt_array(priors, parent))
    return joint


def etiology_table(priors: Priors, setting: str) -> np.ndarray:
    """Derive ``P(etiology | parents)`` for a care setting.

    Parameters
    ----------
    priors
        Validated priors.
    setting
        A setting of ``settings.csv``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_etiologies, *parent_cardinalities)``, each column summing to one.

    Raises
    ------
    EtiologyFitError
        If some parent configuration leaves no etiology possible, or the base rates cannot be
        matched (an etiology with a positive base rate has a relative risk of 0 everywhere).
    """
    return fit_etiology(priors, setting)[0]


def fit_etiology(priors: Priors, setting: str, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Derive ``P(etiology | parents)`` as :func:`etiology_table`, from a starting point.

    Parameters
    ----------
    priors, setting
        As for :func:`etiology_table`.
    start
        The weights of an earlier fit (of nearby priors) to start from; the base rates otherwise.

    Returns
    -------
    tuple of numpy.ndarray
        The table, and the fitted weights (to start a later fit from).

    Raises
    ------
    EtiologyFitError
        As :func:`etiology_table`.
    """
    # the schema lets a setting's base rates sum to 1 within SUM_TOLERANCE; the network's marginal
    # sums to 1 exactly, so it is fitted to the rates' proportions (nothing is written back)
    base = base_rate_vector(priors, setting)
    base = base / base.sum()
    rr = _unnormalised(priors)
    prior_c = _parent_prior(priors)
    n_e = len(base)
    flat_rr = rr.reshape(n_e, -1)
    flat_pc = prior_c.reshape(-1)
    possible = flat_rr[base > 0].sum(axis=0) > 0
    if not possible[flat_pc > 0].all():
        raise EtiologyFitError(
            "every configuration of the etiology's parents must leave some etiology possible; "
            "a combination of relative risks of 0 rules out all of them"
        )
    weights = base.copy() if start is None or start.shape != base.shape else np.where(base > 0, start, 0.0)
    live = flat_pc > 0  # configurations of probability zero do not enter the marginal
    rr_live, pc_live = np.ascontiguousarray(flat_rr[:, live]), flat_pc[live]
    for _ in range(MAX_ITERATIONS):
        # marginal(e) = w(e) s(e) with s(e) = sum_c P(c) RR(e, c) / Z(c), Z(c) = sum_e w(e) RR(e, c):
        # two products; the scaling step w * base / marginal is base / s (no 0/0 for tiny rates)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scale = rr_live @ (pc_live / (weights @ rr_live))
            marginal = weights * scale
        if np.max(np.abs(marginal - base)) < FIT_TOLERANCE:
            joint = weights[:, None] * flat_rr
            return (joint / joint.sum(axis=0, keepdims=True)).reshape(rr.shape), weights
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = np.where(base > 0, base / scale, 0.0)
        if not np.all(np.isfinite(weights)):
            break
    raise EtiologyFitError(
        f"the base rates of setting '{setting}' cannot be reproduced with the relative risks in "
        "etiology_modifiers.csv (the fit did not converge): check for an etiology whose relative "
        "risk is 0 in every stratum"
    )

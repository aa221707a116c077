"""Synthetic cohorts: forward sampling of patients from the model, and perturbed priors.

:func:`simulate` draws each patient top-down through the network (context and triggers with
the etiology from their joint, then each latent mechanism given the etiology, then each finding
given its parents), using the compiled engine's arrays, then leaves cells unrecorded in one of two
ways (``missingness``):

``"uniform"``
    each evidence cell is blanked independently with probability ``missing`` (missing completely
    at random): at ``missing=0.3`` about 70% of primary-care patients have a gene test result.
``"tiers"``
    each cell is recorded with the probability that a finding of its tier (``tests.csv``:
    history, examination, blood test, EMG, antibody, imaging, genetic) is recorded in the care
    setting, :data:`RECORDING_PROBABILITIES`: history and examination usually, blood tests often,
    EMG and antibodies mainly in a neuromuscular clinic, gene tests rarely. Age and sex
    (:data:`ALWAYS_RECORDED`) are in every record. Cells are still blanked independently of one
    another and of the patient's findings.

A finding that describes another's state (the pattern of the weakness) is kept only where that
state was drawn and recorded, as a clinician records it. The result is a case table in the
format of :mod:`fasciculation_dx.analysis.cases`.

:func:`perturb_priors` makes a deliberately wrong copy of the priors, for checking that
calibration recovers the truth.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import ArgumentError
from ..inference.compiled import CompiledEngine
from ..inference.evidence import observable_states
from ..network.priors import DEFAULT_SETTING, ETIOLOGY, TIERS, Priors
from ..network.tables import cpt_array, cpt_columns
from .cases import blank_undescribed

__all__ = [
    "MAX_PATIENTS",
    "MISSINGNESS",
    "RECORDING_PROBABILITIES",
    "ALWAYS_RECORDED",
    "recording_probabilities",
    "simulate",
    "perturb_priors",
]

MAX_PATIENTS = 10_000_000
"""The largest cohort drawn in one call (about 8 GB of working memory); larger ones are refused
before anything is allocated."""


MISSINGNESS = ("tiers", "uniform")
"""How :func:`simulate` leaves cells unrecorded: by the finding's tier and the care setting, or uniformly."""

# Assumptions of the simulator, not clinical parameters of the network: the probability that a
# finding of each tier is recorded in a patient's notes, by care setting. They are rough
# judgements made to give simulated cohorts a realistic shape (history and examination usually
# recorded, gene tests rarely, EMG mostly after referral), not figures from a study of case
# records, and no query, calibration or report uses them. Pass your own table as
# ``simulate(..., missingness={tier: probability})``.
RECORDING_PROBABILITIES: dict[str, dict[str, float]] = {
    "primary_care": {
        "history": 0.90,
        "bedside_examination": 0.70,
        "blood_test": 0.40,
        "electrodiagnosis": 0.05,
        "antibody": 0.01,
        "imaging": 0.03,
        "genetic": 0.005,
    },
    "neuromuscular_clinic": {
        "history": 0.95,
        "bedside_examination": 0.90,
        "blood_test": 0.70,
        "electrodiagnosis": 0.85,
        "antibody": 0.30,
        "imaging": 0.30,
        "genetic": 0.10,
    },
}
"""Setting -> tier -> probability that a finding of that tier is recorded (``missingness="tiers"``).

An assumption of the simulator (a labelled estimate, not sourced): see the comment above it."""

ALWAYS_RECORDED = ("age_group", "sex")
"""Nodes recorded for every simulated patient with ``missingness="tiers"`` (demographics are in every record)."""


def recording_probabilities(
    priors: Priors,
    setting: str = DEFAULT_SETTING,
    missingness: str | Mapping[str, float] = "tiers",
    missing: float = 0.0,
) -> dict[str, float]:
    """Return the probability that each evidence node is recorded in a simulated patient.

    Parameters
    ----------
    priors
        The priors (their ``tests.csv`` gives each node's tier).
    setting
        The care setting (chooses the row of :data:`RECORDING_PROBABILITIES`).
    missingness
        ``"tiers"``: by the node's tier and the setting; ``"uniform"``: ``1 - missing`` for every
        node; or a mapping ``{tier: probability recorded}`` covering every tier in use.
    missing
        The share of cells left empty with ``missingness="uniform"``; must be 0 otherwise.

    Returns
    -------
    dict
        ``{node: probability}`` for every observable node.

    Raises
    ------
    ArgumentError
        For an unknown mode or setting, a table that misses a tier or holds a value outside
        ``[0, 1]``, or ``missing`` given with a mode other than ``"uniform"``.
    """
    observable = observable_states(priors)
    if isinstance(missingness, str):
        if missingness not in MISSINGNESS:
            raise ArgumentError(
                f"unknown missingness {missingness!r}. Valid: {', '.join(MISSINGNESS)}, or a mapping tier -> "
                "probability"
            )
        if missingness == "uniform":
            if not 0.0 <= missing <= 1.0:
                raise ArgumentError(f"missing must be a fraction in [0, 1]. Got {missing} instead")
            return {node: 1.0 - missing for node in observable}
        if setting not in RECORDING_PROBABILITIES:
            raise ArgumentError(
                f"no recording probabilities for setting '{setting}' (known: {', '.join(RECORDING_PROBABILITIES)}); "
                "use missingness='uniform' (on the command line --missingness uniform, or --missing F) or pass a "
                "mapping tier -> probability"
            )
        table: Mapping[str, float] = RECORDING_PROBABILITIES[setting]
    else:
        table = missingness
        unknown = sorted(set(table) - set(TIERS))
        if unknown:
            raise ArgumentError(f"unknown tier(s) {', '.join(map(repr, unknown))}. Valid tiers: {', '.join(TIERS)}")
        bad = {
            tier: p
            for tier, p in table.items()
            if isinstance(p, bool) or not isinstance(p, int | float | np.number) or not 0.0 <= p <= 1.0
        }
        if bad:
            raise ArgumentError(f"recording probabilities must be in [0, 1]. Got {bad} instead")
    if missing != 0.0:
        raise ArgumentError(
            f"missing={missing} applies only to missingness='uniform'; the tiers decide what is recorded otherwise"
        )
    recorded = {}
    for node in observable:
        tier = priors.tests[node].tier if node in priors.tests else ""
        if node in ALWAYS_RECORDED:
            recorded[node] = 1.0
        elif tier in table:
            recorded[node] = float(table[tier])
        else:
            raise ArgumentError(
                f"no recording probability for node '{node}' of tier {tier!r}. Tiers in the table: {', '.join(table)}"
            )
    return recorded


def _draw(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of one state per row of ``probs`` (rows are distributions)."""
    cum = np.cumsum(probs, axis=1)
    idx = (u[:, None] * cum[:, -1:] >= cum).sum(axis=1)
    return np.minimum(idx, probs.shape[1] - 1)


def simulate(
    priors: Priors,
    n: int,
    *,
    setting: str = DEFAULT_SETTING,
    missing: float = 0.0,
    seed: int | np.random.Generator | None = None,
    etiology: bool = True,
    progress: bool = False,
    missingness: str | Mapping[str, float] = "uniform",
) -> pd.DataFrame:
    """Forward-sample ``n`` patients from the model.

    Parameters
    ----------
    priors
        The priors to sample from (the "true" model).
    n
        Number of patients.
    setting
        The care setting whose base rates apply; written in the ``setting`` column.
    missing
        With ``missingness="uniform"``: probability that each evidence cell is blanked (not
        recorded), independently. Must be 0 with another ``missingness``.
    seed
        A seed or a :class:`numpy.random.Generator`; the same seed gives the same cohort.
    etiology
        Include the ``etiology`` column (the true cause).
    progress
        Show a progress bar on stderr, one step per column drawn.
    missingness
        ``"uniform"`` (default here, for reproducibility of earlier cohorts; the ``simulate``
        command defaults to ``"tiers"``): every cell blanked with probability ``missing``.
        ``"tiers"``: each cell recorded with the probability of its tier in the setting,
        :data:`RECORDING_PROBABILITIES`. A mapping ``{tier: probability recorded}``: the same with
        your own table. See :func:`recording_probabilities`.

    Returns
    -------
    pandas.DataFrame
        A case table: ``case_id``, ``setting``, every evidence node (``""`` = not recorded) and
        ``etiology``; every cell a string.

    Raises
    ------
    ValueError
        If ``n`` is negative or above :data:`MAX_PATIENTS`, ``missing`` is not in ``[0, 1]``, or
        ``missingness`` is invalid (see :func:`recording_probabilities`).

    Examples
    --------
    >>> import fasciculation_dx as fdx
    >>> priors = fdx.load_priors(fdx.shipped_priors_dir())
    >>> cohort = simulate(priors, 5, missing=0.3, seed=1)
    >>> cohort.shape[0], cohort["etiology"].isin(priors.etiology_states).all()
    (5, np.True_)
    >>> realistic = simulate(priors, 5, missingness="tiers", seed=1)  # gene tests rarely recorded
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_PATIENTS:
        raise ArgumentError(
            f"n must be a whole number of patients from 0 to {MAX_PATIENTS:,}. Got {n!r} instead; "
            "draw a larger cohort as several cohorts with different seeds"
        )
    if not 0.0 <= missing <= 1.0:
        raise ArgumentError(f"missing must be a fraction in [0, 1]. Got {missing} instead")
    recorded = recording_probabilities(priors, setting, missingness, missing)
    uniform = missingness == "uniform"
    # the uniform share itself, not 1 - (1 - missing): the same seed gives the same cohort as before tiers existed
    blank_share = {node: missing if uniform else 1.0 - p for node, p in recorded.items()}
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    engine = CompiledEngine(priors, setting)
    nodes = priors.nodes
    # etiology and roots jointly
    flat = engine.root_joint.reshape(-1)
    draw = rng.choice(flat.size, size=n, p=flat / flat.sum())
    joint_index = np.unravel_index(draw, engine.root_joint.shape)
    e = joint_index[0]
    codes: dict[str, np.ndarray] = {root: joint_index[i + 1] for i, root in enumerate(engine.roots)}
    observable = observable_states(priors)
    findings = [name for name in nodes if name in engine.direct or name in engine.via_mechanisms]
    bar = tqdm(
        total=len(engine.mechanisms) + len(findings) + len(observable),
        desc="simulate",
        unit="column",
        disable=not progress,
        file=sys.stderr,
    )
    # mechanisms given the etiology, independently
    mech_codes = []
    for m in engine.mechanisms:
        table = cpt_array(priors, m)  # (S, n_e)
        mech_codes.append(_draw(table[:, e].T, rng.random(n)))
        bar.update()
    cards = [len(nodes[m].states) for m in engine.mechanisms]
    k = np.ravel_multi_index(tuple(mech_codes), cards) if cards else np.zeros(n, dtype=np.intp)
    for name in nodes:
        if name in engine.direct:
            codes[name] = _draw(engine.direct[name][:, e].T, rng.random(n))
        elif name in engine.via_mechanisms:
            codes[name] = _draw(engine.via_mechanisms[name][:, k].T, rng.random(n))
        if name in findings:
            bar.update()
    columns: dict[str, np.ndarray] = {
        "case_id": np.array([f"sim{i + 1:06d}" for i in range(n)], dtype=object),
        "setting": np.full(n, setting, dtype=object),
    }
    for name, states in observable.items():
        values = np.asarray(states, dtype=object)[codes[name]] if n else np.array([], dtype=object)
        blank = rng.random(n) < blank_share[name]
        columns[name] = np.where(blank, "", values).astype(object)
        bar.update()
    bar.close()
    if etiology:
        columns[ETIOLOGY] = np.asarray(priors.etiology_states, dtype=object)[e]
    # a finding that describes another (the pattern of the weakness) is recorded only where it holds
    return blank_undescribed(pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()}))


def perturb_priors(
    priors: Priors,
    *,
    nodes: Iterable[str] | None = None,
    base_rates: bool = True,
    sigma: float = 1.0,
    seed: int | np.random.Generator | None = None,
) -> Priors:
    """Return a deliberately wrong copy of the priors.

    Each perturbed column (a CPT column, or one setting's base rates) is multiplied state by
    state by ``exp(sigma * z)`` with ``z`` standard normal, then renormalised; zeros stay zero.
    A perturbed row's range is widened to include its new value, so the copy still validates.
    Relative risks are not touched.

    Parameters
    ----------
    priors
        The true priors.
    nodes
        The nodes whose CPTs to perturb; every node with a CPT when omitted.
    base_rates
        Perturb every setting's base rates as well.
    sigma
        Spread of the log-normal noise.
    seed
        A seed or a :class:`numpy.random.Generator`.

    Returns
    -------
    Priors
        The perturbed copy (``directory`` unchanged).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def shake(rows):
        values = np.array([r.value for r in rows])
        new = values * np.exp(sigma * rng.standard_normal(len(values)))
        new = new / new.sum()
        rounded = np.array([float(f"{v:.6g}") for v in new])
        i = int(np.argmax(rounded))
        rounded[i] = round(1.0 - (rounded.sum() - rounded[i]), 12)
        return {
            (r.file, r.line): dataclasses.replace(
                r, value=float(v), low=min(r.low, float(v)), high=max(r.high, float(v))
            )
            for r, v in zip(rows, rounded)
        }

    replaced = {}
    if base_rates:
        for setting in priors.settings:
            replaced.update(shake([p for p in priors.base_rates if p.key[0] == setting]))
    chosen = list(priors.cpts) if nodes is None else list(nodes)
    for node in chosen:
        for column in cpt_columns(priors, node).values():
            replaced.update(shake(list(column.values())))

    def swap(rows):
        return tuple(replaced.get((r.file, r.line), r) for r in rows)

    return dataclasses.replace(
        priors, base_rates=swap(priors.base_rates), cpts={n: swap(rows) for n, rows in priors.cpts.items()}
    )

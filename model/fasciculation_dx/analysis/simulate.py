"""Synthetic cohorts: forward sampling of patients from the model, and perturbed priors.

:func:`simulate` draws each patient top-down through the network (context and triggers with
the etiology from their joint, then each latent mechanism given the etiology, then each finding
given its parents), using the compiled engine's arrays, then blanks each evidence cell
independently with probability ``missing`` (missing completely at random). A finding that
describes another's state (the pattern of the weakness) is kept only where that state was drawn,
as a clinician records it. The result is a case table in the format of
:mod:`fasciculation_dx.analysis.cases`.

:func:`perturb_priors` makes a deliberately wrong copy of the priors, for checking that
calibration recovers the truth.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import ArgumentError
from ..inference.compiled import CompiledEngine
from ..inference.evidence import observable_states
from ..network.priors import DEFAULT_SETTING, ETIOLOGY, Priors
from ..network.tables import cpt_array, cpt_columns
from .cases import blank_undescribed

__all__ = ["MAX_PATIENTS", "simulate", "perturb_priors"]

MAX_PATIENTS = 10_000_000
"""The largest cohort drawn in one call (about 8 GB of working memory); larger ones are refused
before anything is allocated."""


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
        Probability that each evidence cell is blanked (not recorded), independently.
    seed
        A seed or a :class:`numpy.random.Generator`; the same seed gives the same cohort.
    etiology
        Include the ``etiology`` column (the true cause).
    progress
        Show a progress bar on stderr, one step per column drawn.

    Returns
    -------
    pandas.DataFrame
        A case table: ``case_id``, ``setting``, every evidence node (``""`` = not recorded) and
        ``etiology``; every cell a string.

    Raises
    ------
    ValueError
        If ``n`` is negative or above :data:`MAX_PATIENTS`, or ``missing`` is not in ``[0, 1]``.

    Examples
    --------
    >>> import fasciculation_dx as fdx
    >>> priors = fdx.load_priors(fdx.shipped_priors_dir())
    >>> cohort = simulate(priors, 5, missing=0.3, seed=1)
    >>> cohort.shape[0], cohort["etiology"].isin(priors.etiology_states).all()
    (5, np.True_)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_PATIENTS:
        raise ArgumentError(
            f"n must be a whole number of patients from 0 to {MAX_PATIENTS:,}. Got {n!r} instead; "
            "draw a larger cohort as several cohorts with different seeds"
        )
    if not 0.0 <= missing <= 1.0:
        raise ArgumentError(f"missing must be a fraction in [0, 1]. Got {missing} instead")
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
        blank = rng.random(n) < missing
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

"""Screening every parameter over its plausible range, and comparing care settings.

:func:`screen` ranks every parameter by how far its plausible range moves a query (a tornado's
data); :func:`compare_settings` shows one scenario under each care setting side by side.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from ..errors import EvidenceError
from ..inference.compiled import CompiledEngine
from ..inference.evidence import checked_posterior
from ..network.priors import ETIOLOGY, Priors
from .covariation import (
    BASE_RATES,
    ParameterRef,
    covariation_weights,
    find_parameter,
    is_etiology_layer,
    node_of,
    resolve_query,
)
from .one_way import safe_ratio, setup_scenario
from .parameter_words import describe_parameter

__all__ = ["screen", "compare_settings"]


# -- screening ------------------------------------------------------------------------------------
def screen(
    model,
    evidence: Mapping[str, str] | None = None,
    query: str | Sequence[str] = "pathological",
    parameters: Sequence[ParameterRef] | None = None,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Every parameter's effect on a query over its plausible range, ranked by swing.

    Mechanism and finding parameters use per-column partial sums of the compiled arrays (computed
    once per scenario, no engine rebuilt); etiology-layer parameters are refitted only when the
    evidence names a context or trigger node and the parameter has a range (``low < high``);
    base rates of other settings have no effect in this model's setting.

    Parameters
    ----------
    model
        A :class:`fasciculation_dx.Model`.
    evidence
        ``{node: state}``.
    query
        See :func:`fasciculation_dx.analysis.one_way.sensitivity_function`.
    parameters
        Restrict to these rows; every parameter by default.
    progress
        Show a progress bar on stderr, one step per parameter.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, sorted by ``swing`` descending, with columns ``parameter``
        (``file:line``), ``file``, ``line``, ``key`` (the row's key joined by ``/``), ``description``
        (the row in words with its parents' names, see
        :func:`fasciculation_dx.analysis.parameter_words.describe_parameter`), ``value``,
        ``low``, ``high``, ``at_low``, ``at_high``, ``swing`` (``|at_high - at_low|``),
        ``linear_fractional`` and ``source_id``. ``attrs["posterior"]`` holds the query's
        posterior at the point values, ``attrs["query"]`` its label.
    """
    scn = setup_scenario(model, evidence)
    label, mask = resolve_query(scn.priors, query)
    priors = scn.priors
    rows = [find_parameter(priors, p) for p in parameters] if parameters is not None else list(priors.parameters())
    p0 = safe_ratio(float(scn.J[mask].sum()), float(scn.J.sum()))
    records = []
    terms_cache: dict[tuple[str, tuple[str, ...]], tuple | None] = {}
    for param in tqdm(rows, desc="screening", unit="parameter", disable=not progress, file=sys.stderr, leave=False):
        linear = scn.is_linear(param)
        if param.file == BASE_RATES and param.key[0] != scn.setting:
            at_low = at_high = p0
        elif linear and not is_etiology_layer(priors, param):
            node = node_of(priors, param)
            ck = (node, param.key[:-1])
            if ck not in terms_cache:
                terms_cache[ck] = scn.column_terms(node, param.key[:-1])
            terms = terms_cache[ck]
            if terms is None:
                at_low = at_high = p0
            else:
                rest, G = terms
                columns, _ = scn._node_columns(node)
                states = priors.nodes[node].states
                column = columns[param.key[:-1]]
                alpha, beta = covariation_weights([column[s].value for s in states], states.index(param.key[-1]))
                j0 = rest + alpha @ G
                slope = beta @ G
                jl, jh = j0 + param.low * slope, j0 + param.high * slope
                at_low = safe_ratio(float(jl[mask].sum()), float(jl.sum()))
                at_high = safe_ratio(float(jh[mask].sum()), float(jh.sum()))
        elif linear:
            j0, j1 = scn.linear_joint(param)
            jl, jh = j0 + param.low * (j1 - j0), j0 + param.high * (j1 - j0)
            at_low = safe_ratio(float(jl[mask].sum()), float(jl.sum()))
            at_high = safe_ratio(float(jh[mask].sum()), float(jh.sum()))
        elif param.low == param.high:
            at_low = at_high = p0
        else:
            jl, jh = scn.joint_at(param, param.low), scn.joint_at(param, param.high)
            at_low = safe_ratio(float(jl[mask].sum()), float(jl.sum()))
            at_high = safe_ratio(float(jh[mask].sum()), float(jh.sum()))
        records.append(
            {
                "parameter": f"{param.file}:{param.line}",
                "file": param.file,
                "line": param.line,
                "key": "/".join(param.key),
                "description": describe_parameter(priors, param),
                "value": param.value,
                "low": param.low,
                "high": param.high,
                "at_low": at_low,
                "at_high": at_high,
                "swing": abs(at_high - at_low),
                "linear_fractional": linear,
                "source_id": param.source_id,
            }
        )
    table = pd.DataFrame.from_records(records)
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["posterior"] = p0
    table.attrs["query"] = label
    return table


def compare_settings(
    priors: Priors,
    evidence: Mapping[str, str] | None = None,
    level: str = "etiology",
    settings: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Compare the same scenario under each care setting, side by side.

    Parameters
    ----------
    priors
        Validated priors.
    evidence
        ``{node: state}``.
    level
        ``"etiology"`` (default), ``"group"`` or ``"category"``.
    settings
        The settings to compare; all of ``settings.csv`` by default.

    Returns
    -------
    pandas.DataFrame
        One column per setting, one row per etiology (or group, or category), sorted by the
        first setting's posterior, descending.

    Raises
    ------
    ImpossibleEvidenceError
        If the evidence has probability zero in some setting.
    """
    settings = list(settings) if settings is not None else list(priors.settings)
    if level not in ("etiology", "group", "category"):
        raise EvidenceError(f"level must be 'etiology', 'group' or 'category'. Got '{level}' instead")
    etiologies = priors.etiology_states
    labels = {
        "etiology": list(etiologies),
        "group": [priors.etiologies[e].group for e in etiologies],
        "category": [priors.etiologies[e].category for e in etiologies],
    }[level]
    columns = {}
    for setting in settings:
        values = checked_posterior(CompiledEngine(priors, setting), priors, evidence)
        columns[setting] = pd.Series(values, index=labels).groupby(level=0, sort=False).sum()
    table = pd.DataFrame(columns)
    table.index.name = {"etiology": ETIOLOGY}.get(level, level)
    return table.sort_values(settings[0], ascending=False, kind="stable")

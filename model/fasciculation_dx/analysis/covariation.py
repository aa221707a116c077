"""Parameter rows, queries and co-variation: what a one-way sensitivity analysis varies.

A query names an event about the etiology (an etiology, a category, ``group:<group>`` or a list);
a parameter row is named by :class:`fasciculation_dx.network.priors.Parameter`, ``(file, line)`` or
``"file:line"``. Changing one row keeps its column summing to one by rescaling the column's other
states proportionally (see :mod:`fasciculation_dx.analysis.sensitivity`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import EvidenceError, FasciculationDxError
from ..network.priors import Parameter, Priors

__all__ = ["ParameterRef", "resolve_query", "find_parameter", "covaried_values", "with_covaried_value"]

ParameterRef = Parameter | tuple[str, int] | str
"""A parameter row: a :class:`fasciculation_dx.network.priors.Parameter`, ``(file, line)`` or ``"file:line"``."""

BASE_RATES = "base_rates.csv"
MODIFIERS = "etiology_modifiers.csv"


def resolve_query(priors: Priors, query: str | Sequence[str]) -> tuple[str, np.ndarray]:
    """Turn a query into a label and a boolean mask over the etiology states.

    Parameters
    ----------
    priors
        The model's priors.
    query
        An etiology, ``"benign"`` / ``"pathological"``, ``"group:<group>"`` or a list of
        etiologies.

    Returns
    -------
    label : str
    mask : numpy.ndarray
        Boolean, in etiology order.

    Raises
    ------
    EvidenceError
        If the query names no known etiology, category or group.
    """
    names = priors.etiology_states
    if isinstance(query, str):
        if query in priors.etiologies:
            return query, np.array([e == query for e in names])
        if query in ("benign", "pathological"):
            return query, np.array([priors.etiologies[e].category == query for e in names])
        if query.startswith("group:"):
            group = query[len("group:") :]
            mask = np.array([priors.etiologies[e].group == group for e in names])
            if mask.any():
                return query, mask
        raise EvidenceError(
            f"unknown query '{query}'. Give an etiology, 'benign', 'pathological' or 'group:<group>' "
            f"(groups: {', '.join(sorted({e.group for e in priors.etiologies.values()}))})"
        )
    chosen = list(query)
    unknown = [q for q in chosen if q not in priors.etiologies]
    if unknown or not chosen:
        raise EvidenceError(
            f"unknown etiologies in the query: {', '.join(unknown) or '(none given)'}. "
            f"Valid etiologies: {', '.join(names)}"
        )
    return "+".join(chosen), np.array([e in chosen for e in names])


def find_parameter(priors: Priors, ref: ParameterRef) -> Parameter:
    """Return the parameter row that ``ref`` names.

    Raises
    ------
    FasciculationDxError
        If no parameter row sits at that file and line.
    """
    if isinstance(ref, Parameter):
        file, line = ref.file, ref.line
    elif isinstance(ref, str):
        file, _, line_text = ref.rpartition(":")
        try:
            line = int(line_text)
        except ValueError:
            raise FasciculationDxError(
                f"a parameter is named 'file:line' (e.g. cpts/weakness.csv:3). Got '{ref}' instead"
            ) from None
    else:
        file, line = ref
    for row in _rows_of_file(priors, file):
        if row.line == line:
            return row
    raise FasciculationDxError(f"no parameter row at {file}:{line}")


def _rows_of_file(priors: Priors, file: str) -> tuple[Parameter, ...]:
    if file == BASE_RATES:
        return priors.base_rates
    if file == MODIFIERS:
        return priors.modifiers
    for rows in priors.cpts.values():
        if rows and rows[0].file == file:
            return rows
    return ()


def node_of(priors: Priors, param: Parameter) -> str | None:
    """Return the node whose table holds ``param`` (None for base rates and relative risks)."""
    if param.file in (BASE_RATES, MODIFIERS):
        return None
    for node, rows in priors.cpts.items():
        if rows and rows[0].file == param.file:
            return node
    return None


def column_rows(priors: Priors, param: Parameter) -> list[Parameter]:
    """Return the rows that co-vary with ``param`` (its column), ``param`` included."""
    if param.file == MODIFIERS:
        return [param]
    if param.file == BASE_RATES:
        return [r for r in priors.base_rates if r.key[0] == param.key[0]]
    return [r for r in _rows_of_file(priors, param.file) if r.key[:-1] == param.key[:-1]]


def covariation_weights(values: Sequence[float], index: int) -> tuple[np.ndarray, np.ndarray]:
    """``alpha, beta`` with ``column(x) = alpha + beta * x`` under proportional co-variation."""
    theta = np.asarray(values, dtype=float)
    n = len(theta)
    alpha = np.zeros(n)
    beta = np.zeros(n)
    rest = 1.0 - theta[index]
    others = np.arange(n) != index
    if n > 1:
        if rest > 0:
            alpha[others] = theta[others] / rest
        else:
            alpha[others] = 1.0 / (n - 1)
        beta[others] = -alpha[others]
    beta[index] = 1.0
    return alpha, beta


def covaried_values(priors: Priors, ref: ParameterRef, x: float) -> dict[tuple[str, int], float]:
    """Return the new values of a parameter's column when the parameter is set to ``x``.

    The other states of the column are rescaled proportionally (see the module docstring); a
    relative risk changes alone.

    Returns
    -------
    dict
        ``(file, line) -> value`` for every row that changes (the parameter's included).
    """
    param = find_parameter(priors, ref)
    rows = column_rows(priors, param)
    if len(rows) == 1:
        return {(param.file, param.line): float(x)}
    index = next(i for i, r in enumerate(rows) if r.line == param.line)
    alpha, beta = covariation_weights([r.value for r in rows], index)
    new = alpha + beta * x
    return {(r.file, r.line): float(v) for r, v in zip(rows, new)}


def with_covaried_value(priors: Priors, ref: ParameterRef, x: float) -> Priors:
    """Return a copy of the priors with the parameter at ``x`` and its column co-varied."""
    out = priors
    for (file, line), value in covaried_values(priors, ref, x).items():
        out = out.with_value(file, line, value)
    return out


def is_etiology_layer(priors: Priors, param: Parameter) -> bool:
    """Whether ``param`` enters the etiology's fitted table (base rate, relative risk, root prior)."""
    if param.file in (BASE_RATES, MODIFIERS):
        return True
    node = node_of(priors, param)
    return node is not None and priors.nodes[node].layer in ("context", "trigger")

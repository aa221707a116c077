"""Conditional probability tables expanded from compact CSV rows.

A CPT file lists *columns* (rows sharing parent values); a parent value may be the wildcard
``*``. Every configuration of the parents takes the matching column with the fewest wildcards.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .priors import WILDCARD, Parameter, Priors

__all__ = ["match_columns", "cpt_array", "cpt_columns"]

Config = tuple[str, ...]


def match_columns(
    parent_states: Sequence[Sequence[str]], keys: Sequence[Config]
) -> tuple[dict[Config, Config], list[Config], list[tuple[Config, list[Config]]]]:
    """Assign each parent configuration the most specific column that matches it.

    Parameters
    ----------
    parent_states
        The states of each parent, in parent order.
    keys
        The distinct parent-value tuples of the file's columns (values or ``*``).

    Returns
    -------
    assigned : dict
        Configuration -> the column key it takes.
    uncovered : list
        Configurations no column matches.
    ambiguous : list
        ``(configuration, keys)`` where several columns match with the same number of wildcards.
    """
    assigned: dict[Config, Config] = {}
    uncovered: list[Config] = []
    ambiguous: list[tuple[Config, list[Config]]] = []
    by_specificity = sorted(dict.fromkeys(keys), key=lambda k: sum(v == WILDCARD for v in k))
    for config in itertools.product(*parent_states):
        best: list[Config] = []
        best_wild = None
        for key in by_specificity:
            wild = sum(v == WILDCARD for v in key)
            if best_wild is not None and wild > best_wild:
                break
            if all(k in (WILDCARD, c) for k, c in zip(key, config)):
                best.append(key)
                best_wild = wild
        if not best:
            uncovered.append(config)
        elif len(best) > 1:
            ambiguous.append((config, best))
        else:
            assigned[config] = best[0]
    return assigned, uncovered, ambiguous


def cpt_columns(priors: Priors, node: str) -> dict[Config, dict[str, Parameter]]:
    """Group a node's CPT rows into columns: parent values -> {state: row}."""
    columns: dict[Config, dict[str, Parameter]] = {}
    for row in priors.cpts[node]:
        columns.setdefault(row.key[:-1], {})[row.key[-1]] = row
    return columns


def cpt_array(priors: Priors, node: str) -> np.ndarray:
    """Expand a node's CPT into a dense array.

    Parameters
    ----------
    priors
        Validated priors.
    node
        Any node except ``etiology`` (whose table is derived, see :mod:`.etiology`).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_states, *parent_cardinalities)``; ``array[s, c1, c2, ...]`` is
        ``P(node = s | parents = c)`` with states and parents in the priors' order.
    """
    spec = priors.nodes[node]
    parent_states = [priors.nodes[p].states for p in spec.parents]
    columns = cpt_columns(priors, node)
    assigned, _, _ = match_columns(parent_states, list(columns))
    shape = (len(spec.states), *(len(s) for s in parent_states))
    table = np.empty(shape)
    state_index = {s: i for i, s in enumerate(spec.states)}
    parent_index = [{s: i for i, s in enumerate(states)} for states in parent_states]
    for config, key in assigned.items():
        where = tuple(idx[c] for idx, c in zip(parent_index, config))
        for state, row in columns[key].items():
            table[(state_index[state], *where)] = row.value
    return table

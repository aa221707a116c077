"""Parameter rows in words: the node, its parents' names and states, and the state it gives.

Shared by the priors diff (:mod:`.priors_diff`), the screening table (:mod:`.screening`) and the
sensitivity functions (:mod:`.one_way`), so every table and figure names a row the same way.
"""

from __future__ import annotations

from pathlib import Path

from ..network.priors import WILDCARD, Parameter, Priors
from .covariation import BASE_RATES, MODIFIERS, node_of

__all__ = ["describe_parameter"]


def describe_parameter(priors: Priors, param: Parameter) -> str:
    """Return a parameter row in words: node, parent names=states, state.

    Parameters
    ----------
    priors
        The priors holding the row (for the node's parent names).
    param
        The row.

    Returns
    -------
    str
        ``base rate of als in primary_care``, ``relative risk of als given age_group=under_40``
        (``*`` as ``every other etiology``) or ``weakness=yes | motor_axon_loss=present, ...``
        (``*`` as ``any``).
    """
    if param.file == BASE_RATES:
        setting, etiology = param.key
        return f"base rate of {etiology} in {setting}"
    if param.file == MODIFIERS:
        parent, state, etiology = param.key
        target = "every other etiology" if etiology == WILDCARD else etiology
        return f"relative risk of {target} given {parent}={state}"
    node = node_of(priors, param) or Path(param.file).stem
    parents = priors.nodes[node].parents if node in priors.nodes else ()
    *values, state = param.key
    if len(parents) != len(values):  # cannot happen in validated priors; say what is known
        parents = tuple(f"parent{i + 1}" for i in range(len(values)))
    given = ", ".join(f"{p}={'any' if v == WILDCARD else v}" for p, v in zip(parents, values))
    return f"{node}={state}" + (f" | {given}" if given else "")

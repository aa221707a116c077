"""One-way sensitivity analysis: sensitivity functions, screening, thresholds, base rates, settings.

The query
    A *query* is the posterior probability of an event about the etiology given evidence ``E``:
    one etiology (``"als"``), a category (``"pathological"``, ``"benign"``), a disease group
    (``"group:motor_neuron_disease"``) or any list of etiology names.

Co-variation
    Changing one parameter row to ``x`` must keep its column summing to one. The other states of
    the *same column* (the rows of the CPT file with the same parent values, ``*`` included, so a
    wildcard column moves for every parent configuration it covers) are rescaled proportionally:
    ``theta_t(x) = theta_t * (1 - x) / (1 - theta_s)``. If the row's current value is 1 (the others
    are all 0, so there is nothing to rescale), the remainder ``1 - x`` is shared equally among the
    other states. Base rates co-vary the same way within their setting. A relative risk
    (``etiology_modifiers.csv``) is not part of a distribution and changes alone.

Mechanism and finding parameters: exact linear-fractional functions
    The joint ``P(e, E)`` is a sum of products in which each CPT entry of a node appears at most
    once per term, and under proportional co-variation every entry of the column is linear in
    ``x``. So both ``P(query, E)`` and ``P(E)`` are linear in ``x`` and

        P(query | E)(x) = (a x + b) / (c x + d),

    obtained exactly from the unnormalised joint at two values of ``x`` (0 and 1), not by sweeping.
    The joint at any ``x`` is evaluated from partial sums of the compiled engine's arrays computed
    once per scenario, so no engine is rebuilt.

Etiology-layer parameters: exact recomputation
    Base rates, relative risks and the priors of the context and trigger nodes enter the
    etiology's table through the fitted log-linear rule of :mod:`fasciculation_dx.network.etiology` (the
    weights are refitted so that the marginal equals the base rates). That refit makes the
    function *not* linear-fractional in general; these functions are computed exactly by
    refitting the table at every ``x`` (``linear_fractional=False``), and their derivative by a
    central difference. One exact simplification: when the evidence contains no context or
    trigger node, the network's marginal of the etiology *is* the base rates, so base rates act
    linearly (the function is linear-fractional again) and relative risks and context/trigger
    priors have no effect at all.

Where it lives
    This module is the front door: it gathers the public functions of :mod:`.covariation`
    (queries, parameter rows, co-variation), :mod:`.one_way` (sensitivity functions),
    :mod:`.screening` (screening and setting comparison) and :mod:`.thresholds`.
    Every function takes a model-like object (``priors``, ``setting`` and, optionally, a compiled
    ``inference`` engine to reuse) or the priors, never the :class:`fasciculation_dx.Model` facade
    itself, so the analysis wing does not depend on it.
"""

from .covariation import ParameterRef, covaried_values, find_parameter, resolve_query, with_covaried_value
from .one_way import SensitivityFunction, base_rate_function, sensitivity_function
from .screening import compare_settings, screen
from .thresholds import Threshold, leading_threshold, threshold

__all__ = [
    "ParameterRef",
    "SensitivityFunction",
    "Threshold",
    "resolve_query",
    "find_parameter",
    "covaried_values",
    "with_covaried_value",
    "sensitivity_function",
    "screen",
    "threshold",
    "leading_threshold",
    "base_rate_function",
    "compare_settings",
]

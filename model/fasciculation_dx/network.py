"""The one adapter to pgmpy: build the network and answer exact queries by variable elimination.

No other module imports pgmpy. Importing pgmpy is slow and noisy (it deprecates its own
``pgmpy.estimators`` with a FutureWarning that fires whenever the package is imported), so the
import happens on first use and that one known warning is silenced here, deliberately and only
here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache

import numpy as np

from .etiology import etiology_table
from .priors import ETIOLOGY, Priors
from .tables import cpt_array

__all__ = ["build_network", "ReferenceEngine"]


@cache
def _pgmpy():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"pgmpy\..*")
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination
        from pgmpy.models import DiscreteBayesianNetwork
    return DiscreteBayesianNetwork, TabularCPD, VariableElimination


def node_table(priors: Priors, node: str, setting: str) -> np.ndarray:
    """Return a node's dense table ``(n_states, *parent_cardinalities)``, etiology included."""
    if node == ETIOLOGY:
        return etiology_table(priors, setting)
    return cpt_array(priors, node)


def build_network(priors: Priors, setting: str):
    """Build and check a pgmpy ``DiscreteBayesianNetwork`` for one care setting.

    Parameters
    ----------
    priors
        Validated priors.
    setting
        A setting of ``settings.csv``; it fixes the etiology's base rates.

    Returns
    -------
    pgmpy.models.DiscreteBayesianNetwork
        The network with explicit state names; ``check_model()`` has passed.
    """
    DiscreteBayesianNetwork, TabularCPD, _ = _pgmpy()
    nodes = priors.nodes
    network = DiscreteBayesianNetwork([(p, n) for n in nodes for p in nodes[n].parents])
    network.add_nodes_from(nodes)
    cpds = []
    for name, node in nodes.items():
        table = node_table(priors, name, setting)
        cpds.append(
            TabularCPD(
                variable=name,
                variable_card=len(node.states),
                values=table.reshape(len(node.states), -1),
                evidence=list(node.parents) or None,
                evidence_card=[len(nodes[p].states) for p in node.parents] or None,
                state_names={n: list(nodes[n].states) for n in (name, *node.parents)},
            )
        )
    network.add_cpds(*cpds)
    network.check_model()
    return network


class ReferenceEngine:
    """Exact inference with pgmpy's variable elimination, the engine reused across queries.

    Parameters
    ----------
    priors
        Validated priors.
    setting
        The care setting.
    """

    def __init__(self, priors: Priors, setting: str):
        _, _, VariableElimination = _pgmpy()
        self.priors = priors
        self.setting = setting
        self.network = build_network(priors, setting)
        self._engine = VariableElimination(self.network)

    def marginal(self, node: str, evidence: Mapping[str, str]) -> np.ndarray:
        """``P(node | evidence)`` in the node's state order; NaN when the evidence is impossible."""
        if node in evidence:
            states = self.priors.nodes[node].states
            return np.array([1.0 if s == evidence[node] else 0.0 for s in states])
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = self._engine.query([node], evidence=dict(evidence), show_progress=False)
        names = factor.state_names[node]
        values = np.asarray(factor.values, dtype=float)
        order = [names.index(s) for s in self.priors.nodes[node].states]
        return values[order]

    def posterior(self, evidence: Mapping[str, str]) -> np.ndarray:
        """``P(etiology | evidence)`` in etiology order; NaN when the evidence is impossible."""
        return self.marginal(ETIOLOGY, evidence)


def priors_from_network(template: Priors, network, setting: str) -> Priors:
    """Read a pgmpy network's numbers back into the schema of ``template``.

    Every CPT row of ``template`` takes the probability that ``network`` gives for the first
    parent configuration its column covers; the setting's base rates take the network's
    marginal of the etiology. Relative-risk modifiers have no unique inverse from the etiology's
    table and are kept from ``template``. Applied to the network built from ``template``, this
    returns priors that write out byte for byte like the originals.

    Parameters
    ----------
    template
        The priors whose rows (files, lines, ranges, sources, notes) are kept.
    network
        A ``DiscreteBayesianNetwork`` with the same nodes and states.
    setting
        The setting whose base rates are read from the network.

    Returns
    -------
    Priors
        A new object; ``template`` is unchanged.
    """
    import dataclasses

    from .tables import cpt_columns, match_columns

    _, _, VariableElimination = _pgmpy()
    cpts = {}
    for name, rows in template.cpts.items():
        spec = template.nodes[name]
        cpd = network.get_cpds(name)
        parent_states = [template.nodes[p].states for p in spec.parents]
        columns = cpt_columns(template, name)
        assigned, _, _ = match_columns(parent_states, list(columns))
        first = {}
        for config, key in assigned.items():
            first.setdefault(key, config)
        new_rows = []
        for row in rows:
            config = first[row.key[:-1]]
            query = {name: row.key[-1], **dict(zip(spec.parents, config))}
            new_rows.append(dataclasses.replace(row, value=float(cpd.get_value(**query))))
        cpts[name] = tuple(new_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = VariableElimination(network).query([ETIOLOGY], show_progress=False)
    names = factor.state_names[ETIOLOGY]
    marginal = dict(zip(names, np.asarray(factor.values, dtype=float)))
    base = tuple(
        dataclasses.replace(p, value=float(np.round(marginal[p.key[1]], 12))) if p.key[0] == setting else p
        for p in template.base_rates
    )
    return dataclasses.replace(template, cpts=cpts, base_rates=base)

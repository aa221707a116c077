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

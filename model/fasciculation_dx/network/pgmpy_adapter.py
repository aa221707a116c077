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

from ..errors import ArgumentError
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

    def marginal(self, node: str, evidence: Mapping[str, object]) -> np.ndarray:
        """``P(node | evidence)`` in the node's state order; NaN when the evidence is impossible.

        A value of ``evidence`` is a state, or soft evidence: a mapping ``{state: weight}`` (a
        :class:`fasciculation_dx.inference.soft.Likelihood`), passed to pgmpy as
        ``virtual_evidence``.
        """
        states = self.priors.nodes[node].states
        if isinstance(evidence.get(node), str):
            return np.array([1.0 if s == evidence[node] else 0.0 for s in states])
        hard = {k: v for k, v in evidence.items() if isinstance(v, str)}
        soft = {k: v for k, v in evidence.items() if not isinstance(v, str)}
        with np.errstate(invalid="ignore", divide="ignore"):
            if soft:
                _, TabularCPD, VariableElimination = _pgmpy()
                virtual = [_virtual_cpd(TabularCPD, self.priors, n, w) for n, w in soft.items()]
                # pgmpy adds the virtual evidence to the engine's own copy of the network, so a fresh
                # engine is used for each such query
                engine = VariableElimination(self.network)
                factor = engine.query([node], evidence=hard, virtual_evidence=virtual, show_progress=False)
            else:
                factor = self._engine.query([node], evidence=hard, show_progress=False)
        names = factor.state_names[node]
        values = np.asarray(factor.values, dtype=float)
        order = [names.index(s) for s in states]
        return values[order]

    def posterior(self, evidence: Mapping[str, object]) -> np.ndarray:
        """``P(etiology | evidence)`` in etiology order; NaN when the evidence is impossible."""
        return self.marginal(ETIOLOGY, evidence)


def _virtual_cpd(TabularCPD, priors: Priors, node: str, weights: Mapping[str, float]):
    """Soft evidence as pgmpy's virtual evidence: ``P(observation | node = s)``, scaled to at most 1."""
    states = priors.nodes[node].states
    values = np.array([float(weights.get(s, 0.0)) for s in states])
    values = values / values.max()
    return TabularCPD(node, len(states), values.reshape(-1, 1), state_names={node: list(states)})


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


# -- interchange: pgmpy's writers and readers (used by fasciculation_dx.network.interchange) -------------

INTERCHANGE_FORMATS = ("bif", "xmlbif", "net")
"""Formats that :func:`write_network` writes and :func:`read_network` reads with pgmpy."""


@cache
def _pgmpy_readwrite() -> dict[str, tuple[type, type]]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"pgmpy\..*")
        from pgmpy.readwrite import BIFReader, BIFWriter, NETReader, NETWriter, XMLBIFReader, XMLBIFWriter
    from xml.etree import ElementTree

    class LinearXMLBIFWriter(XMLBIFWriter):
        """pgmpy's XMLBIF writer with its tables joined once.

        pgmpy grows each table's text by ``+=`` on an XML element, which takes time quadratic in
        the table's size (minutes for the etiology's 786,432 numbers); the text written is the same.
        """

        def get_values(self):
            tables = {}
            for cpd in self.model.get_cpds():
                tables[cpd.variable] = ElementTree.SubElement(self.definition[cpd.variable], "TABLE")
                tables[cpd.variable].text = "".join(f"{value} " for value in cpd.get_values().ravel(order="F"))
            return tables

    return {
        "bif": (BIFWriter, BIFReader),
        "xmlbif": (LinearXMLBIFWriter, XMLBIFReader),
        "net": (NETWriter, NETReader),
    }


def _interchange_format(fmt: str) -> tuple[type, type]:
    if fmt not in INTERCHANGE_FORMATS:
        raise ArgumentError(f"format must be one of {', '.join(INTERCHANGE_FORMATS)}. Got '{fmt}' instead")
    return _pgmpy_readwrite()[fmt]


def write_network(priors: Priors, setting: str, path, fmt: str, name: str | None = None) -> None:
    """Write the network of one care setting to a file with pgmpy's writer for ``fmt``.

    Parameters
    ----------
    priors
        Validated priors.
    setting
        The care setting whose etiology base rates are written.
    path
        The file to write (it is overwritten; callers decide whether that is allowed).
    fmt
        ``"bif"`` (BIF 0.15), ``"xmlbif"`` (XMLBIF 0.3) or ``"net"`` (Hugin NET).
    name
        The network's name inside the file; ``fasciculation_dx_<setting>`` when omitted.

    Raises
    ------
    ValueError
        If ``fmt`` is not one of :data:`INTERCHANGE_FORMATS`.
    """
    writer_class, _ = _interchange_format(fmt)
    network = build_network(priors, setting)
    network.name = name or f"fasciculation_dx_{setting}"
    writer_class(network).write(str(path))


def read_network(path, fmt: str):
    """Read a network file back with pgmpy's reader for ``fmt``.

    pgmpy's BIF and NET readers are slow on the full network (their parsers take minutes on the
    etiology's table of 786,432 numbers); the XMLBIF reader takes about a second.

    Parameters
    ----------
    path
        The file to read.
    fmt
        ``"bif"``, ``"xmlbif"`` or ``"net"``.

    Returns
    -------
    pgmpy.models.DiscreteBayesianNetwork
    """
    _, reader_class = _interchange_format(fmt)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"pgmpy\..*")
        return reader_class(path=str(path)).get_model()


def network_posterior(network, evidence: Mapping[str, str], node: str = ETIOLOGY) -> dict[str, float]:
    """``P(node | evidence)`` in any pgmpy network (e.g. one read back from a file), by state name.

    Parameters
    ----------
    network
        A pgmpy ``DiscreteBayesianNetwork``.
    evidence
        ``{node: state}``.
    node
        The node to query; the etiology by default.

    Returns
    -------
    dict
        ``{state: probability}``.
    """
    _, _, VariableElimination = _pgmpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = VariableElimination(network).query([node], evidence=dict(evidence), show_progress=False)
    return dict(zip(factor.state_names[node], np.asarray(factor.values, dtype=float).tolist()))


__all__ += ["INTERCHANGE_FORMATS", "write_network", "read_network", "network_posterior"]

"""A compiled exact engine: the network as numpy arrays, exploiting its layered structure.

Roots (context and triggers) are parents of the etiology only; every mechanism has the etiology as
its only parent; every finding has either the etiology or a set of mechanisms as parents. Under
that structure the joint of etiology and evidence is

    P(e, E) = [sum over roots consistent with E of P(roots) P(e | roots)]
              * prod_{direct findings f in E} P(f | e)
              * sum_k P(mechanisms = k | e) prod_{mechanism findings f in E} P(f | k)

where ``k`` runs over the 2^M joint configurations of the binary mechanisms. Every array is built
once from the priors; a query is a handful of vector products. The answer is exact, equal to
pgmpy's variable elimination up to rounding (the tests check 1e-10).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from .errors import FasciculationDxError
from .etiology import etiology_table
from .priors import ETIOLOGY, Priors
from .tables import cpt_array

__all__ = ["CompiledEngine", "UnsupportedStructureError"]


class UnsupportedStructureError(FasciculationDxError):
    """The network's structure is not the layered one the compiled engine handles."""


class CompiledEngine:
    """Exact inference by precompiled array products.

    Parameters
    ----------
    priors
        Validated priors with the layered structure described in the module docstring.
    setting
        The care setting.

    Raises
    ------
    UnsupportedStructureError
        If some node does not fit the layered structure.
    """

    def __init__(self, priors: Priors, setting: str):
        self.priors = priors
        self.setting = setting
        nodes = priors.nodes
        self.roots = tuple(nodes[ETIOLOGY].parents)
        self.mechanisms = tuple(n for n, s in nodes.items() if s.layer == "mechanism")
        for name, spec in nodes.items():
            if name in self.roots and spec.parents:
                raise UnsupportedStructureError(f"parent of the etiology '{name}' must be a root node")
            if name in self.mechanisms and spec.parents != (ETIOLOGY,):
                raise UnsupportedStructureError(f"mechanism '{name}' must have the etiology as its only parent")
        self.direct: dict[str, np.ndarray] = {}
        self.via_mechanisms: dict[str, np.ndarray] = {}
        mech_index = {m: i for i, m in enumerate(self.mechanisms)}
        cards = [len(nodes[m].states) for m in self.mechanisms]
        configs = np.array(list(itertools.product(*[range(c) for c in cards])), dtype=np.intp)
        if configs.size == 0:
            configs = np.zeros((1, 0), dtype=np.intp)
        self.mechanism_configs = configs
        for name, spec in nodes.items():
            if name == ETIOLOGY or name in self.roots or name in self.mechanisms:
                continue
            table = cpt_array(priors, name)
            if spec.parents == (ETIOLOGY,):
                self.direct[name] = table  # (n_states, n_etiologies)
            elif all(p in mech_index for p in spec.parents):
                cols = [mech_index[p] for p in spec.parents]
                self.via_mechanisms[name] = table[(slice(None), *configs[:, cols].T)]  # (n_states, K)
            else:
                raise UnsupportedStructureError(
                    f"finding '{name}' must have the etiology alone or mechanisms alone as parents")
        # P(mechanism configuration k | etiology e): (n_e, K)
        n_e = len(priors.etiology_states)
        pm = np.ones((n_e, len(configs)))
        for i, m in enumerate(self.mechanisms):
            table = cpt_array(priors, m)  # (n_states, n_e)
            pm *= table[configs[:, i], :].T
        self.mechanism_given_etiology = pm
        # P(roots, e) as (n_e, *root cardinalities)
        joint = etiology_table(priors, setting)
        for axis, root in enumerate(self.roots, start=1):
            prior = cpt_array(priors, root)
            shape = [1] * joint.ndim
            shape[axis] = len(prior)
            joint = joint * prior.reshape(shape)
        self.root_joint = joint
        self._state_index = {n: {s: i for i, s in enumerate(spec.states)} for n, spec in nodes.items()}
        self._no_root_factor: np.ndarray | None = None

    # -- the pieces of a query --------------------------------------------------------------------
    def _root_factor(self, evidence: Mapping[str, str]) -> np.ndarray:
        if not any(root in evidence for root in self.roots):
            # the common case of no context or trigger evidence: the same sum, computed once
            if self._no_root_factor is None:
                factor = self.root_joint.reshape(self.root_joint.shape[0], -1).sum(axis=1)
                factor.flags.writeable = False
                self._no_root_factor = factor
            return self._no_root_factor
        index = [slice(None)]
        for root in self.roots:
            index.append(self._state_index[root][evidence[root]] if root in evidence else slice(None))
        selected = self.root_joint[tuple(index)]
        return selected.reshape(selected.shape[0], -1).sum(axis=1)

    def _likelihoods(self, evidence: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
        direct = np.ones(self.mechanism_given_etiology.shape[0])
        mech = np.ones(self.mechanism_given_etiology.shape[1])
        for node, state in evidence.items():
            if node in self.direct:
                direct *= self.direct[node][self._state_index[node][state]]
            elif node in self.via_mechanisms:
                mech *= self.via_mechanisms[node][self._state_index[node][state]]
        return direct, mech

    def joint(self, evidence: Mapping[str, str]) -> np.ndarray:
        """``P(etiology, evidence)`` (unnormalised posterior) in etiology order."""
        direct, mech = self._likelihoods(evidence)
        return self._root_factor(evidence) * direct * (self.mechanism_given_etiology @ mech)

    def posterior(self, evidence: Mapping[str, str]) -> np.ndarray:
        """``P(etiology | evidence)``; NaN when the evidence has probability zero."""
        joint = self.joint(evidence)
        total = joint.sum()
        if total <= 0:
            return np.full_like(joint, np.nan)
        return joint / total

    def marginal(self, node: str, evidence: Mapping[str, str]) -> np.ndarray:
        """``P(node | evidence)`` for any node, in its state order; NaN for impossible evidence."""
        states = self.priors.nodes[node].states
        if node in evidence:
            return np.array([1.0 if s == evidence[node] else 0.0 for s in states])
        if node == ETIOLOGY:
            return self.posterior(evidence)
        direct, mech = self._likelihoods(evidence)
        root = self._root_factor(evidence)
        if node in self.roots:
            index = [slice(None)]
            for r in self.roots:
                index.append(self._state_index[r][evidence[r]] if r in evidence else slice(None))
            selected = self.root_joint[tuple(index)]
            free = [r for r in self.roots if r not in evidence]
            axis = 1 + free.index(node)
            other = tuple(a for a in range(1, selected.ndim) if a != axis)
            by_state = selected.sum(axis=other) if other else selected  # (n_e, n_states)
            weights = direct * (self.mechanism_given_etiology @ mech)
            values = weights @ by_state
        elif node in self.direct:
            weights = root * direct * (self.mechanism_given_etiology @ mech)
            values = self.direct[node] @ weights
        else:
            per_config = (root * direct) @ self.mechanism_given_etiology * mech  # (K,)
            if node in self.via_mechanisms:
                values = self.via_mechanisms[node] @ per_config
            else:
                i = self.mechanisms.index(node)
                values = np.array([per_config[self.mechanism_configs[:, i] == s].sum()
                                   for s in range(len(states))])
        total = values.sum()
        if total <= 0:
            return np.full(len(states), np.nan)
        return values / total

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

from ..errors import FasciculationDxError
from ..network.etiology import etiology_table
from ..network.priors import ETIOLOGY, Priors
from ..network.tables import cpt_array
from .soft import state_vector

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
                    f"finding '{name}' must have the etiology alone or mechanisms alone as parents"
                )
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
        self._compile_fast_path()

    def _compile_fast_path(self) -> None:
        """Arrays for :meth:`joint`: root patterns and independent mechanism components.

        Roots: the roots are split into two groups; for every observation pattern of a group (each
        root unobserved or at one state) an indicator vector over the group's configurations is
        precomputed, so the root factor is two small matrix-vector products.

        Mechanisms: mechanisms that never share a finding are independent given the etiology, so
        the sum over mechanism configurations factorises over connected components (linked by the
        findings they share); each component contributes ``P(k_c | e) @ likelihood_c``.
        """
        nodes = self.priors.nodes
        n_e = self.root_joint.shape[0]
        cards = [len(nodes[r].states) for r in self.roots]
        split = 0
        total = int(np.prod([c + 1 for c in cards])) if cards else 1
        size = 1
        while split < len(cards) and size * (cards[split] + 1) <= max(np.sqrt(total), 1):
            size *= cards[split] + 1
            split += 1
        self._root_groups = (self.roots[:split], self.roots[split:])
        self._root_patterns = tuple(_pattern_indicators([len(nodes[r].states) for r in g]) for g in self._root_groups)
        size_a = int(np.prod([len(nodes[r].states) for r in self._root_groups[0]]))
        # for every pattern of the first group, the joint already summed over that group: (P_a, n_e, K_b)
        root_matrix = self.root_joint.reshape(n_e, size_a, -1)
        self._root_by_pattern = np.ascontiguousarray(np.einsum("eab,pa->peb", root_matrix, self._root_patterns[0]))
        # connected components of the mechanisms, linked by the findings they share
        parent = list(range(len(self.mechanisms)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        index = {m: i for i, m in enumerate(self.mechanisms)}
        for name in self.via_mechanisms:
            members = [index[p] for p in nodes[name].parents]
            for other in members[1:]:
                parent[find(other)] = find(members[0])
        groups: dict[int, list[int]] = {}
        for i in range(len(self.mechanisms)):
            groups.setdefault(find(i), []).append(i)
        self._components = []
        for members in groups.values():
            names = [self.mechanisms[i] for i in sorted(members)]
            configs = np.array(list(itertools.product(*[range(len(nodes[m].states)) for m in names])), dtype=np.intp)
            pm = np.ones((n_e, len(configs)))
            for j, m in enumerate(names):
                pm *= cpt_array(self.priors, m)[configs[:, j], :].T
            self._components.append((set(names), pm))
        # every (finding, state) likelihood row, stacked: direct rows over etiologies, and per component
        # rows over that component's configurations; a query gathers its rows and multiplies once
        self._row_of: dict[str, tuple[int, list[int]]] = {}
        direct_rows: list[np.ndarray] = []
        for name, table in self.direct.items():
            self._row_of[name] = (-1, list(range(len(direct_rows), len(direct_rows) + len(table))))
            direct_rows.extend(table)
        component_rows: list[list[np.ndarray]] = [[] for _ in self._components]
        for name in self.via_mechanisms:
            parents = nodes[name].parents
            c = next(i for i, (members, _) in enumerate(self._components) if parents[0] in members)
            members = sorted(self._components[c][0], key=self.mechanisms.index)
            configs = np.array(list(itertools.product(*[range(len(nodes[m].states)) for m in members])), dtype=np.intp)
            table = cpt_array(self.priors, name)[(slice(None), *configs[:, [members.index(p) for p in parents]].T)]
            self._row_of[name] = (c, list(range(len(component_rows[c]), len(component_rows[c]) + len(table))))
            component_rows[c].extend(table)
        self._direct_rows = np.array(direct_rows).reshape(-1, n_e)
        self._component_rows = [np.array(rows).reshape(len(rows), -1) for rows in component_rows]
        # per finding: (component or -1 for direct, its table (n_states, width)) for soft evidence
        self._finding_tables = {
            name: (c, (self._direct_rows if c < 0 else self._component_rows[c])[rows])
            for name, (c, rows) in self._row_of.items()
        }
        # per finding: (component or -1 for direct, its rows by state index, its state index)
        self._finding_rows = {
            name: (
                c,
                [(self._direct_rows if c < 0 else self._component_rows[c])[r] for r in rows],
                self._state_index[name],
            )
            for name, (c, rows) in self._row_of.items()
        }
        # per root: (group, the weight of its digit in the group's pattern number, its state index)
        self._root_digit = {
            r: (g, int(np.prod([len(nodes[x].states) + 1 for x in group[i + 1 :]])), self._state_index[r])
            for g, group in enumerate(self._root_groups)
            for i, r in enumerate(group)
        }

    def root_pattern_numbers(self, root_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each case's observation pattern number in the two root groups.

        Parameters
        ----------
        root_codes
            ``(n, n_roots)`` state indices in :attr:`roots` order, -1 where not recorded.

        Returns
        -------
        tuple of numpy.ndarray
            ``(first, second)``: the rows of ``_root_by_pattern`` and ``_root_patterns[1]`` that
            hold each case's patterns (digit 0 = not recorded, ``s + 1`` = state ``s``, the first
            root of a group most significant, as ``_pattern_indicators`` numbers them).
        """
        radix = [len(self.priors.nodes[r].states) + 1 for r in self.roots]
        split = len(self._root_groups[0])
        numbers = []
        for columns in (range(split), range(split, len(radix))):
            number = np.zeros(len(root_codes), dtype=np.int64)
            for j in columns:  # Horner's rule, one column at a time (an integer matmul is not vectorised)
                number *= radix[j]
                number += np.maximum(root_codes[:, j], -1) + 1
            numbers.append(number)
        return numbers[0], numbers[1]

    # -- the pieces of a query --------------------------------------------------------------------
    def _root_vectors(self, evidence: Mapping[str, object], skip: str | None = None) -> list[np.ndarray]:
        """Per root, the likelihood vector of its evidence (all ones when unobserved or ``skip``)."""
        nodes = self.priors.nodes
        return [
            state_vector(nodes[r].states, evidence[r]) if r in evidence and r != skip else np.ones(len(nodes[r].states))
            for r in self.roots
        ]

    def _root_factor(self, evidence: Mapping[str, object]) -> np.ndarray:
        """``sum over roots of P(roots, e) * likelihood of the root evidence``, per etiology."""
        if not any(root in evidence for root in self.roots):
            # the common case of no context or trigger evidence: the same sum, computed once
            if self._no_root_factor is None:
                factor = self.root_joint.reshape(self.root_joint.shape[0], -1).sum(axis=1)
                factor.flags.writeable = False
                self._no_root_factor = factor
            return self._no_root_factor
        if any(not isinstance(evidence[r], str) for r in self.roots if r in evidence):
            return self._soft_root_factor(evidence)
        index = [slice(None)]
        for root in self.roots:
            index.append(self._state_index[root][evidence[root]] if root in evidence else slice(None))
        selected = self.root_joint[tuple(index)]
        return selected.reshape(selected.shape[0], -1).sum(axis=1)

    def _soft_root_factor(self, evidence: Mapping[str, object]) -> np.ndarray:
        """Compute the root factor with soft context or trigger evidence.

        The second root group enters as a vector over its configurations: the Kronecker product of
        its roots' likelihood vectors (ones when unobserved). A soft root of the first group is a
        weighted sum over its states, so the first group's pattern is expanded into the hard
        patterns it mixes, each read from the precomputed ``_root_by_pattern``.
        """
        first, second = self._root_groups
        patterns = [(0, 1.0)]  # (pattern number of the first group, weight)
        for root in first:
            if root not in evidence:
                continue
            _, place, index = self._root_digit[root]
            value = evidence[root]
            if isinstance(value, str):
                patterns = [(p + (index[value] + 1) * place, w) for p, w in patterns]
            else:
                weights = state_vector(self.priors.nodes[root].states, value)
                patterns = [(p + (s + 1) * place, w * x) for p, w in patterns for s, x in enumerate(weights) if x > 0]
        vector = np.ones(1)
        for root in second:
            states = self.priors.nodes[root].states
            local = state_vector(states, evidence[root]) if root in evidence else np.ones(len(states))
            vector = np.multiply.outer(vector, local).reshape(-1)  # the first root most significant
        factor = np.zeros(self.root_joint.shape[0])
        for pattern, weight in patterns:
            factor += weight * (self._root_by_pattern[pattern] @ vector)
        return factor

    def _likelihoods(self, evidence: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
        direct = np.ones(self.mechanism_given_etiology.shape[0])
        mech = np.ones(self.mechanism_given_etiology.shape[1])
        for node, state in evidence.items():
            if node in self.direct:
                direct *= self._row(self.direct[node], node, state)
            elif node in self.via_mechanisms:
                mech *= self._row(self.via_mechanisms[node], node, state)
        return direct, mech

    def _row(self, table: np.ndarray, node: str, state: object) -> np.ndarray:
        """Return the likelihood of a node's evidence: the table's row for a state, or the weighted sum of rows."""
        if isinstance(state, str):
            return table[self._state_index[node][state]]
        return state_vector(self.priors.nodes[node].states, state) @ table

    def joint(self, evidence: Mapping[str, str]) -> np.ndarray:
        """``P(etiology, evidence)`` (unnormalised posterior) in etiology order."""
        pattern = [0, 0]
        likes: list[np.ndarray | None] = [None] * len(self._components)
        direct = []
        soft_roots = False
        for node, state in evidence.items():
            entry = self._finding_rows.get(node)
            if entry is not None:
                c, rows, index = entry
                if isinstance(state, str):
                    row = rows[index[state]]
                else:  # soft evidence: the weighted sum of the state rows
                    c, table = self._finding_tables[node]
                    row = state_vector(self.priors.nodes[node].states, state) @ table
                if c < 0:
                    direct.append(row)
                elif likes[c] is None:
                    likes[c] = row.copy()
                else:
                    likes[c] *= row
            elif node in self._root_digit:
                if not isinstance(state, str):
                    soft_roots = True
                    continue
                group, weight, index = self._root_digit[node]
                pattern[group] += (index[state] + 1) * weight
        if soft_roots:
            result = self._root_factor(evidence).copy()
        else:
            result = self._root_by_pattern[pattern[0]] @ self._root_patterns[1][pattern[1]]
        for row in direct:
            result *= row
        for like, (_, pm) in zip(likes, self._components):
            if like is not None:  # a component without observed findings sums to one
                result *= pm @ like
        return result

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
            if isinstance(evidence[node], str):
                return np.array([1.0 if s == evidence[node] else 0.0 for s in states])
            # soft evidence on the node itself: its marginal without it, weighted by the likelihood
            rest = {k: v for k, v in evidence.items() if k != node}
            values = self.marginal(node, rest) * state_vector(states, evidence[node])
            total = values.sum()
            return values / total if total > 0 else np.full(len(states), np.nan)
        if node == ETIOLOGY:
            return self.posterior(evidence)
        direct, mech = self._likelihoods(evidence)
        root = self._root_factor(evidence)
        if node in self.roots:
            axis = 1 + self.roots.index(node)
            operands = [self.root_joint, list(range(self.root_joint.ndim))]
            for i, vector in enumerate(self._root_vectors(evidence, skip=node), start=1):
                if i != axis:
                    operands += [vector, [i]]
            by_state = np.einsum(*operands, [0, axis])  # (n_e, n_states)
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
                values = np.array([per_config[self.mechanism_configs[:, i] == s].sum() for s in range(len(states))])
        total = values.sum()
        if total <= 0:
            return np.full(len(states), np.nan)
        return values / total


def _pattern_indicators(cards: list[int]) -> np.ndarray:
    """Build indicator vectors over a group of roots' configurations, one per observation pattern.

    A pattern gives each root either "unobserved" (digit 0) or a state (digit ``s + 1``), read as a
    mixed-radix number with the first root most significant; the row is 1 on every configuration
    consistent with it. Per root that is a ``(card + 1, card)`` matrix (a row of ones, then the
    identity); the group's matrix is their Kronecker product, in the same digit order.
    """
    out = np.ones((1, 1))
    for card in cards:
        out = np.kron(out, np.vstack([np.ones((1, card)), np.eye(card)]))
    return out

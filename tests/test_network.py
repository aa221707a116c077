"""The pgmpy adapter: the network it builds, and reading its numbers back into CSV."""

from __future__ import annotations

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.network.pgmpy_adapter import build_network, priors_from_network
from fasciculation_dx.network.tables import cpt_array


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


@pytest.mark.parametrize("setting", ["primary_care", "neuromuscular_clinic"])
def test_csv_to_pgmpy_to_csv_is_byte_identical(priors, setting, tmp_path):
    network = build_network(priors, setting)
    back = priors_from_network(priors, network, setting)
    out = fdx.write_priors(back, tmp_path / "out")
    src = fdx.shipped_priors_dir()
    for path in sorted(src.rglob("*.csv")):
        assert (out / path.relative_to(src)).read_bytes() == path.read_bytes(), path.name


def test_pgmpy_network_has_every_node_with_explicit_states(priors):
    network = build_network(priors, "primary_care")
    assert set(network.nodes()) == set(priors.nodes)
    for name, node in priors.nodes.items():
        cpd = network.get_cpds(name)
        assert cpd.state_names[name] == list(node.states)
        if name != "etiology":
            expected = cpt_array(priors, name).reshape(len(node.states), -1)
            np.testing.assert_array_equal(cpd.get_values(), expected)


def test_reading_back_a_changed_network_changes_the_csv(priors):
    network = build_network(priors, "primary_care")
    cpd = network.get_cpds("rns_increment")
    values = cpd.get_values().copy()
    values[:, 1] = [0.5, 0.5]
    cpd.values = values.reshape(cpd.values.shape)
    back = priors_from_network(priors, network, "primary_care")
    changed = [r for r, o in zip(back.cpts["rns_increment"], priors.cpts["rns_increment"]) if r.value != o.value]
    assert changed and all(r.value == 0.5 for r in changed)

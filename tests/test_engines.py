"""The compiled engine equals pgmpy's variable elimination (property test over thousands of random
evidence sets in both settings), the reference network is a pgmpy DiscreteBayesianNetwork, and a
command-line query never imports pgmpy or scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fasciculation_dx as fdx
from fasciculation_dx.inference.compiled import CompiledEngine
from fasciculation_dx.network.pgmpy_adapter import ReferenceEngine

SETTINGS = ("primary_care", "neuromuscular_clinic")
PRIORS = fdx.load_priors(fdx.shipped_priors_dir())
OBSERVABLE = {n: node.states for n, node in PRIORS.nodes.items() if node.layer in ("context", "trigger", "finding")}
ALL_NODES = sorted(PRIORS.nodes)


@pytest.fixture(scope="module")
def engines():
    return {s: (CompiledEngine(PRIORS, s), ReferenceEngine(PRIORS, s)) for s in SETTINGS}


def evidence_sets(max_nodes: int | None = None):
    """Random evidence: any subset of the observable nodes, each with any of its states."""
    nodes = sorted(OBSERVABLE)
    return st.lists(st.sampled_from(nodes), unique=True, max_size=max_nodes or len(nodes)).flatmap(
        lambda chosen: st.fixed_dictionaries({n: st.sampled_from(OBSERVABLE[n]) for n in chosen})
    )


def assert_same(compiled: np.ndarray, reference: np.ndarray) -> None:
    if np.isnan(reference).any():  # impossible evidence: both engines must say so
        assert np.isnan(compiled).all()
    else:
        np.testing.assert_allclose(compiled, reference, rtol=0, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("setting", SETTINGS)
@settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(evidence=evidence_sets(), node=st.sampled_from(ALL_NODES))
def test_compiled_equals_pgmpy(engines, setting, evidence, node):
    compiled, reference = engines[setting]
    assert_same(compiled.posterior(evidence), reference.posterior(evidence))
    assert_same(compiled.marginal(node, evidence), reference.marginal(node, evidence))


@pytest.mark.parametrize("setting", SETTINGS)
@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(evidence=evidence_sets(max_nodes=4), node=st.sampled_from(ALL_NODES))
def test_compiled_equals_pgmpy_on_small_evidence(engines, setting, evidence, node):
    compiled, reference = engines[setting]
    assert_same(compiled.posterior(evidence), reference.posterior(evidence))
    assert_same(compiled.marginal(node, evidence), reference.marginal(node, evidence))


def test_engines_differ_between_settings(engines):
    # guards the property test against comparing a setting with itself
    a, b = engines["primary_care"][0], engines["neuromuscular_clinic"][0]
    assert np.abs(a.posterior({}) - b.posterior({})).max() > 1e-3


def test_to_pgmpy_returns_the_reference_network():
    from pgmpy.models import DiscreteBayesianNetwork

    model = fdx.load_model()
    network = model.to_pgmpy()
    assert isinstance(network, DiscreteBayesianNetwork)
    assert set(network.nodes()) == set(model.priors.nodes)
    assert network.check_model()


QUERY_SCRIPT = """
import sys
from fasciculation_dx.cli import main as cli
status = cli.main(["query", "weakness=yes"])
print("STATUS", status)
print("PGMPY", "pgmpy" in sys.modules)
print("SKLEARN", "sklearn" in sys.modules)
"""


def test_query_process_does_not_import_pgmpy_or_sklearn():
    done = subprocess.run([sys.executable, "-c", QUERY_SCRIPT], capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert "STATUS 0" in lines, done.stderr
    assert "PGMPY False" in lines
    assert "SKLEARN False" in lines


def test_module_entry_point_query_succeeds():
    done = subprocess.run(
        [sys.executable, "-m", "fasciculation_dx", "query", "weakness=yes"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "als" in done.stdout.lower() or "benign" in done.stdout.lower()

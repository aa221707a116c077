"""Exactness of inference: a known answer on a two-node network and brute-force enumeration of
the shipped network compared with pgmpy's variable elimination (``Model.posterior``)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.inference.evidence import drop_undescribed
from fasciculation_dx.network.etiology import etiology_table
from fasciculation_dx.network.tables import cpt_array

TWO_NODE = Path(__file__).parent / "data" / "two_node"
SETTINGS = ("primary_care", "neuromuscular_clinic")

# --------------------------------------------------------------------------------------------
# 1. Known answer: etiology -> weakness, Bayes' rule in closed form.
# The numbers are copied from tests/data/two_node/ (base_rates.csv and cpts/weakness.csv).
# --------------------------------------------------------------------------------------------

TWO_NODE_ETIOLOGIES = ("benign_fasciculation_syndrome", "als", "hypomagnesemia")
TWO_NODE_PRIOR = {
    "primary_care": (0.7, 0.1, 0.2),
    "neuromuscular_clinic": (0.3, 0.5, 0.2),
}
TWO_NODE_P_WEAKNESS_YES = (0.05, 0.8, 0.3)  # P(weakness = yes | etiology), same order


def closed_form(setting: str, weakness: str | None) -> dict[str, float]:
    prior = TWO_NODE_PRIOR[setting]
    if weakness is None:
        like = (1.0, 1.0, 1.0)
    elif weakness == "yes":
        like = TWO_NODE_P_WEAKNESS_YES
    else:
        like = tuple(1.0 - p for p in TWO_NODE_P_WEAKNESS_YES)
    joint = [p * q for p, q in zip(prior, like, strict=True)]
    total = sum(joint)
    return {e: j / total for e, j in zip(TWO_NODE_ETIOLOGIES, joint, strict=True)}


@pytest.mark.parametrize("engine", ["pgmpy", "compiled"])
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("weakness", [None, "yes", "no"])
def test_two_node_posterior_is_bayes_rule(setting, weakness, engine):
    model = fdx.load_model(TWO_NODE, setting=setting, engine=engine)
    evidence = {} if weakness is None else {"weakness": weakness}
    post = model.posterior(evidence)
    expected = closed_form(setting, weakness)
    assert set(post.index) == set(TWO_NODE_ETIOLOGIES)
    for etiology, p in expected.items():
        assert post[etiology] == pytest.approx(p, abs=1e-12, rel=0)
    assert list(post.values) == sorted(post.values, reverse=True)


def test_two_node_known_numbers():
    # P(als | weakness=yes) in primary care = 0.1*0.8 / (0.7*0.05 + 0.1*0.8 + 0.2*0.3) = 0.08/0.175
    post = fdx.load_model(TWO_NODE).posterior({"weakness": "yes"})
    assert post["als"] == pytest.approx(0.08 / 0.175, abs=1e-12, rel=0)
    assert post.index[0] == "als"


def test_two_node_rollups_and_states():
    model = fdx.load_model(TWO_NODE)
    assert model.states == {"weakness": ("no", "yes")}
    expected = closed_form("primary_care", "yes")
    category = model.category_posterior({"weakness": "yes"})
    assert category["benign"] == pytest.approx(expected["benign_fasciculation_syndrome"], abs=1e-12)
    assert category["pathological"] == pytest.approx(expected["als"] + expected["hypomagnesemia"], abs=1e-12)
    group = model.group_posterior({"weakness": "yes"})
    assert group["motor_neuron_disease"] == pytest.approx(expected["als"], abs=1e-12)
    assert group["metabolic"] == pytest.approx(expected["hypomagnesemia"], abs=1e-12)


def test_two_node_predictive_is_total_probability():
    model = fdx.load_model(TWO_NODE, setting="neuromuscular_clinic")
    prior = TWO_NODE_PRIOR["neuromuscular_clinic"]
    p_yes = sum(p * q for p, q in zip(prior, TWO_NODE_P_WEAKNESS_YES, strict=True))
    pred = model.predictive("weakness")
    assert list(pred.index) == ["no", "yes"]
    assert pred["yes"] == pytest.approx(p_yes, abs=1e-12)
    assert pred["no"] == pytest.approx(1 - p_yes, abs=1e-12)


# --------------------------------------------------------------------------------------------
# 2. Brute-force enumeration of the shipped network.
# --------------------------------------------------------------------------------------------

ETIOLOGY = "etiology"


def brute_force_joint(priors, setting: str, evidence: dict[str, str]) -> np.ndarray:
    """``P(etiology = e, E)`` for every etiology e, by summing the full joint distribution.

    The sum runs over every configuration of the unobserved, non-barren variables: the context
    and trigger roots, the etiology and the mechanisms (each with its own states). Each term is the product of every
    CPT entry: the roots' priors (``tables.cpt_array``), the etiology's derived table
    (``etiology.etiology_table``), each mechanism's table and each *observed* finding's table.

    Unobserved findings are leaves (checked below): summing a leaf's CPT over its own states
    gives one for every parent configuration, so they drop out of the sum and are left out.
    Observed roots are handled by zeroing every state but the observed one.
    """
    nodes = priors.nodes
    roots = [n for n, s in nodes.items() if s.layer in ("context", "trigger")]
    mechanisms = [n for n, s in nodes.items() if s.layer == "mechanism"]
    findings = [n for n, s in nodes.items() if s.layer == "finding"]
    children = {n: [c for c, s in nodes.items() if n in s.parents] for n in nodes}

    # The structure this enumerator relies on; if it changes, the enumerator must change too.
    assert all(not nodes[r].parents for r in roots)
    assert set(nodes[ETIOLOGY].parents) == set(roots)
    assert all(nodes[m].parents == (ETIOLOGY,) for m in mechanisms)
    assert all(set(nodes[f].parents) <= {ETIOLOGY, *mechanisms} for f in findings)
    assert all(not children[f] for f in findings), "findings must be leaves"

    # Roots x etiology: P(roots) P(etiology | roots), axes (root_1, ..., root_k, etiology).
    root_order = list(nodes[ETIOLOGY].parents)
    joint = np.moveaxis(etiology_table(priors, setting), 0, -1).copy()
    for axis, root in enumerate(root_order):
        prior = cpt_array(priors, root).copy()
        if root in evidence:
            keep = nodes[root].states.index(evidence[root])
            prior[np.arange(prior.size) != keep] = 0.0
        shape = [1] * joint.ndim
        shape[axis] = prior.size
        joint = joint * prior.reshape(shape)

    n_etiologies = joint.shape[-1]
    # no factor below depends on the roots, so the roots are summed out first (the sum is the same)
    joint = joint.reshape(-1, n_etiologies).sum(axis=0)
    mech_tables = {m: cpt_array(priors, m) for m in mechanisms}  # (n_states, n_etiologies)
    observed = [f for f in findings if f in evidence]
    obs_tables = {f: cpt_array(priors, f)[nodes[f].states.index(evidence[f])] for f in observed}

    total = np.zeros_like(joint)
    for config in itertools.product(*[range(len(nodes[m].states)) for m in mechanisms]):
        value = dict(zip(mechanisms, config, strict=True))
        factor = np.ones(n_etiologies)
        for m in mechanisms:
            factor = factor * mech_tables[m][value[m]]
        for f in observed:
            index = tuple(slice(None) if p == ETIOLOGY else value[p] for p in nodes[f].parents)
            factor = factor * obs_tables[f][index]  # a scalar or a vector over etiologies
        total += joint * factor
    return total


def random_evidence_sets(
    states: dict[str, tuple[str, ...]], layers: dict[str, str], count: int, seed: int
) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    names = sorted(states)
    context = [n for n in names if layers[n] == "context"]
    triggers = [n for n in names if layers[n] == "trigger"]
    out: list[dict[str, str]] = [{}]
    while len(out) < count:
        size = int(rng.integers(0, 16))
        chosen = list(rng.choice(names, size=size, replace=False))
        if len(out) % 3 == 1:  # make sure context and trigger nodes are exercised
            chosen += [str(rng.choice(context)), str(rng.choice(triggers))]
        chosen = list(dict.fromkeys(chosen))[:15]
        out.append(drop_undescribed({str(n): str(rng.choice(states[n])) for n in chosen}))
    return out


# Every inference engine is checked: pgmpy's variable elimination (the reference) and the
# default compiled numpy path.
ENGINES = ("pgmpy", "compiled")


@pytest.fixture(scope="module")
def enumerated():
    """Brute-force joints, computed once per (setting, evidence) and shared by the engines."""
    cache: dict = {}

    def joint(priors, setting, evidence):
        key = (setting, tuple(sorted(evidence.items())))
        if key not in cache:
            cache[key] = brute_force_joint(priors, setting, evidence)
        return cache[key]

    return joint


@pytest.fixture(scope="module")
def shipped_models():
    return {
        (setting, engine): fdx.load_model(setting=setting, engine=engine) for setting in SETTINGS for engine in ENGINES
    }


N_CASES = 30


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("setting", SETTINGS)
def test_brute_force_matches_inference(shipped_models, enumerated, setting, engine):
    model = shipped_models[setting, engine]
    assert model.engine == engine
    priors = model.priors
    layers = {n: s.layer for n, s in priors.nodes.items()}
    cases = random_evidence_sets(model.states, layers, N_CASES, seed=20260 + len(setting))
    used = {n for case in cases for n in case}
    assert any(layers[n] == "context" for n in used) and any(layers[n] == "trigger" for n in used)
    assert any(len(case) >= 10 for case in cases)

    compared = 0
    for evidence in cases:
        joint = enumerated(priors, setting, evidence)
        p_evidence = joint.sum()
        if p_evidence == 0:
            with pytest.raises(fdx.ImpossibleEvidenceError):
                model.posterior(evidence)
            continue
        expected = pd.Series(joint / p_evidence, index=priors.etiology_states)
        got = model.posterior(evidence)
        assert set(got.index) == set(expected.index)
        diff = (got - expected.reindex(got.index)).abs().max()
        assert diff < 1e-9, f"posterior differs from enumeration by {diff:g} for evidence {evidence}"
        compared += 1
    assert compared >= 25


@pytest.mark.parametrize("engine", ENGINES)
def test_brute_force_predictive_matches(shipped_models, engine):
    """P(finding | E) from the model equals P(E, finding) / P(E) by enumeration."""
    model = shipped_models["primary_care", engine]
    priors = model.priors
    findings = [n for n, s in priors.nodes.items() if s.layer == "finding"]
    evidence = {"sex": "male", "age_group": "65_plus", "weakness": "yes", "cramps": "yes"}
    p_evidence = brute_force_joint(priors, "primary_care", evidence).sum()
    for node in (findings[0], "emg_fibrillations", "magnesium"):
        got = model.predictive(node, evidence)
        expected = [
            brute_force_joint(priors, "primary_care", {**evidence, node: s}).sum() / p_evidence
            for s in model.states[node]
        ]
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-9)


def test_no_evidence_brute_force_is_base_rates(shipped_models):
    """The enumerator itself reproduces the base rates, so it is not trivially wrong."""
    for setting in SETTINGS:
        priors = shipped_models[setting, "pgmpy"].priors
        rates = {p.key[1]: p.value for p in priors.base_rates if p.key[0] == setting}
        joint = brute_force_joint(priors, setting, {})
        assert joint.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(joint, [rates[e] for e in priors.etiology_states], rtol=0, atol=1e-9)

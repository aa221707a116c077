"""Property tests (hypothesis) of posteriors and roll-ups on the shipped network."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fasciculation_dx as fdx
from fasciculation_dx.inference.evidence import drop_undescribed
from fasciculation_dx.network.priors import CONDITIONAL_FINDINGS

SETTINGS = ("primary_care", "neuromuscular_clinic")
FAST = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=8, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def models():
    return {setting: fdx.load_model(setting=setting) for setting in SETTINGS}


@pytest.fixture(scope="module")
def roll_up():
    """Group and category of each etiology, read straight from etiologies.csv."""
    with open(fdx.shipped_priors_dir() / "etiologies.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {r["etiology"]: (r["group"], r["category"]) for r in rows}


@pytest.fixture(scope="module")
def base_rates():
    """Each setting's base rates, read straight from base_rates.csv."""
    with open(fdx.shipped_priors_dir() / "base_rates.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r["setting"], {})[r["etiology"]] = float(r["probability"])
    return out


def draw_evidence(data, model, max_size=12) -> dict[str, str]:
    nodes = data.draw(st.lists(st.sampled_from(sorted(model.states)), unique=True, max_size=max_size), label="nodes")
    # a finding that describes another's state (the weakness pattern) comes only with that state
    return drop_undescribed({n: data.draw(st.sampled_from(model.states[n]), label=n) for n in nodes})


def posterior_or_conflict(model, evidence):
    """The posterior, or None after checking the error if the evidence is impossible."""
    try:
        return model.posterior(evidence)
    except fdx.ImpossibleEvidenceError as err:
        assert err.conflicting, "an impossible-evidence error must name the conflicting findings"
        assert err.conflicting.items() <= evidence.items()
        with pytest.raises(fdx.ImpossibleEvidenceError):
            model.posterior(err.conflicting)
        return None


def check_posterior(post, etiologies):
    values = post.to_numpy()
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0) and np.all(values <= 1)
    assert math.isclose(values.sum(), 1.0, abs_tol=1e-9)
    assert sorted(post.index) == sorted(etiologies) and len(post) == len(etiologies) == 32
    assert np.all(np.diff(values) <= 0), "posterior must be sorted in descending order"


@FAST
@given(data=st.data())
def test_posterior_is_a_sorted_distribution(models, data):
    setting = data.draw(st.sampled_from(SETTINGS), label="setting")
    model = models[setting]
    evidence = draw_evidence(data, model)
    post = posterior_or_conflict(model, evidence)
    if post is not None:
        check_posterior(post, model.etiologies)


@pytest.mark.parametrize("setting", SETTINGS)
def test_no_evidence_gives_base_rates(models, base_rates, setting):
    model = models[setting]
    rates = base_rates[setting]
    assert set(rates) == set(model.etiologies)
    for evidence in (None, {}):
        post = model.posterior(evidence)
        check_posterior(post, model.etiologies)
        for etiology, rate in rates.items():
            assert post[etiology] == pytest.approx(rate, abs=1e-9, rel=0), etiology


def test_settings_have_different_base_rates(base_rates):
    assert set(base_rates) >= set(SETTINGS)
    a, b = (base_rates[s] for s in SETTINGS)
    assert max(abs(a[e] - b[e]) for e in a) > 1e-6


@FAST
@given(data=st.data())
def test_rollups_are_sums_of_etiologies(models, roll_up, data):
    setting = data.draw(st.sampled_from(SETTINGS), label="setting")
    model = models[setting]
    evidence = draw_evidence(data, model)
    post = posterior_or_conflict(model, evidence)
    if post is None:
        return
    category = model.category_posterior(evidence)
    assert list(category.index) == ["benign", "pathological"]
    assert math.isclose(category.sum(), 1.0, abs_tol=1e-9)
    for cat in ("benign", "pathological"):
        expected = sum(p for e, p in post.items() if roll_up[e][1] == cat)
        assert category[cat] == pytest.approx(expected, abs=1e-12)

    group = model.group_posterior(evidence)
    assert math.isclose(group.sum(), 1.0, abs_tol=1e-9)
    assert set(group.index) == {g for g, _ in roll_up.values()}
    assert np.all(np.diff(group.to_numpy()) <= 0)
    for name in group.index:
        expected = sum(p for e, p in post.items() if roll_up[e][0] == name)
        assert group[name] == pytest.approx(expected, abs=1e-12)


@FAST
@given(data=st.data())
def test_evidence_order_does_not_matter(models, data):
    model = models["primary_care"]
    evidence = draw_evidence(data, model)
    post = posterior_or_conflict(model, evidence)
    if post is None:
        return
    backwards = dict(reversed(list(evidence.items())))
    other = model.posterior(backwards)
    assert (post - other.reindex(post.index)).abs().max() < 1e-12


@FAST
@given(data=st.data())
def test_posterior_is_average_of_refined_posteriors(models, data):
    """Law of total probability: sum_x P(x | E) P(e | E, x) = P(e | E) for an unobserved finding."""
    model = models[data.draw(st.sampled_from(SETTINGS), label="setting")]
    evidence = draw_evidence(data, model, max_size=8)
    post = posterior_or_conflict(model, evidence)
    if post is None:
        return
    # a node whose every state can be entered with this evidence (not a finding that describes
    # another's state, nor the finding it describes)
    described = {f for f, _ in CONDITIONAL_FINDINGS.values()}
    free = sorted(set(model.states) - set(evidence) - set(CONDITIONAL_FINDINGS) - described)
    node = data.draw(st.sampled_from(free), label="extra node")
    predictive = model.predictive(node, evidence)
    assert math.isclose(predictive.sum(), 1.0, abs_tol=1e-9)
    mixture = 0.0 * post
    for state, p_x in predictive.items():
        if p_x > 0:
            mixture = mixture + p_x * model.posterior({**evidence, node: state}).reindex(post.index)
    assert (mixture - post).abs().max() < 1e-9


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_explanation_and_next_tests_are_well_formed(models, data):
    model = models[data.draw(st.sampled_from(SETTINGS), label="setting")]
    evidence = draw_evidence(data, model, max_size=6)
    post = posterior_or_conflict(model, evidence)
    if post is None:
        return
    explanation = model.explain(evidence)
    assert sorted(explanation["node"]) == sorted(evidence)
    for column in ("woe_vs_rest", "lr_vs_rest", "woe_vs_runner_up"):
        assert not explanation[column].isna().any()
    assert np.all(np.diff(explanation["woe_vs_rest"].to_numpy()) <= 0)
    tests = model.next_tests(evidence, order="gain")
    findings = {n for n, s in model.priors.nodes.items() if s.layer == "finding"}
    assert set(tests["node"]) == findings - set(evidence)
    gains = tests["info_gain_etiology"].to_numpy()
    assert np.all(np.isfinite(gains)) and np.all(gains >= 0)
    assert np.all(np.diff(gains) <= 0)
    for column in ("woe_pathological_vs_benign", "lr_pathological_vs_benign"):
        assert not explanation[column].isna().any()
    assert np.all(tests["info_gain_category"].to_numpy() >= 0)

"""The public Python interface promised in DESIGN.md (Interfaces section)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.network.priors import RENAMED_NODES

# The minimum evidence vocabulary, copied from DESIGN.md ("Minimum evidence vocabulary").
YES_NO = ("no", "yes")
LOW_NORMAL_HIGH = ("low", "normal", "high")
ABSENT_PRESENT = ("absent", "present")
VOCABULARY: dict[str, tuple[str, ...]] = {
    "age_group": ("under_40", "40_to_64", "65_plus"),
    "sex": ("female", "male"),
    "family_history": YES_NO,
    **{
        n: YES_NO
        for n in ("caffeine", "stimulant_use", "strenuous_exercise", "stress_anxiety", "fatigue", "sleep_deprivation")
    },
    "drug_or_toxin_exposure": YES_NO,
    "fasciculation_distribution": ("focal", "multifocal", "widespread"),
    **{
        n: YES_NO
        for n in (
            "tongue_fasciculations",
            "weakness",
            "atrophy",
            "umn_signs",
            "reduced_reflexes",
            "cramps",
            "sensory_symptoms",
            "bulbar_symptoms",
            "progression",
            "weight_loss",
            "muscle_stiffness",
            "hyperhidrosis",
            "insomnia_or_confusion",
            "autonomic_symptoms",
            "gynecomastia",
            "tetany_or_paresthesia",
            "thyrotoxic_features",
        )
    },
    **{
        n: YES_NO
        for n in (
            "ataxia",
            "chorea",
            "cognitive_decline",
            "developmental_regression",
            "angiokeratoma_or_acroparesthesia",
            "ophthalmoplegia_or_multisystem",
            "radicular_pain",
            "sphincter_or_sensory_level",
        )
    },
    **{n: LOW_NORMAL_HIGH for n in ("magnesium", "calcium", "potassium", "sodium", "tsh")},
    "ck": ("normal", "elevated"),
    "vgkc_complex_antibodies": ("negative", "positive"),
    "vgcc_antibodies": ("negative", "positive"),
    **{
        n: ABSENT_PRESENT
        for n in (
            "emg_fasciculation_potentials",
            "emg_fibrillations",
            "emg_chronic_neurogenic",
            "emg_myokymic_discharges",
            "emg_myopathic",
            "rns_increment",
        )
    },
    "ncs_sensory_abnormal": YES_NO,
}

# The etiology states, copied from DESIGN.md.
ETIOLOGIES = (
    "benign_fasciculation_syndrome",
    "physiological",
    "cramp_fasciculation_syndrome",
    "hypomagnesemia",
    "hypocalcemia",
    "hypokalemia",
    "hyponatremia",
    "hyperthyroidism",
    "dehydration",
    "als",
    "progressive_muscular_atrophy",
    "spinal_muscular_atrophy",
    "spinal_bulbar_muscular_atrophy",
    "isaacs_syndrome",
    "morvan_syndrome",
    "lambert_eaton",
    "multifocal_motor_neuropathy",
    "peripheral_neuropathy",
    "radiculopathy",
    "spinal_cord_disorder",
    "hereditary_neuropathy",
    "gm2_gangliosidosis",
    "triple_a_syndrome",
    "familial_amyloidosis",
    "spinocerebellar_ataxia",
    "huntington_disease",
    "rett_syndrome",
    "fabry_disease",
    "gerstmann_straussler_scheinker",
    "mitochondrial_disorder",
    "muscular_dystrophy",
    "drug_or_toxin",
)
GROUPS = {
    "benign",
    "metabolic",
    "motor_neuron_disease",
    "peripheral_nerve_hyperexcitability",
    "autoimmune",
    "other_neurological",
    "hereditary",
    "drug_or_toxin",
}

EVIDENCE = {
    "age_group": "65_plus",
    "sex": "male",
    "weakness": "yes",
    "atrophy": "yes",
    "cramps": "yes",
    "emg_fibrillations": "present",
    "caffeine": "no",
}


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


@pytest.fixture(scope="module")
def clinic():
    return fdx.load_model(setting="neuromuscular_clinic")


def log_odds(p: float, q: float) -> float:
    return math.log(p) - math.log(q)


def entropy_bits(p) -> float:
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


# -- namespace and loading ----------------------------------------------------------------------


def test_public_namespace():
    assert len(fdx.__all__) == len(set(fdx.__all__))
    for name in fdx.__all__:
        assert hasattr(fdx, name), name
    for name in ("load_model", "Model", "EvidenceError", "ImpossibleEvidenceError", "PriorsError"):
        assert name in fdx.__all__
    assert issubclass(fdx.ImpossibleEvidenceError, fdx.EvidenceError)
    assert issubclass(fdx.EvidenceError, ValueError)
    assert issubclass(fdx.EvidenceError, fdx.FasciculationDxError)
    assert isinstance(fdx.__version__, str) and fdx.__version__


def test_default_setting_is_primary_care(model):
    assert model.setting == "primary_care"
    assert isinstance(model, fdx.Model)


def test_settings_give_different_posteriors(model, clinic):
    assert clinic.setting == "neuromuscular_clinic"
    for evidence in ({}, EVIDENCE):
        a = model.posterior(evidence)
        b = clinic.posterior(evidence).reindex(a.index)
        assert (a - b).abs().max() > 1e-4


def test_explicit_priors_dir_equals_default(model):
    other = fdx.load_model(fdx.shipped_priors_dir(), setting="primary_care")
    a, b = model.posterior(EVIDENCE), other.posterior(EVIDENCE)
    assert list(a.index) == list(b.index)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_unknown_setting_lists_valid_ones():
    with pytest.raises(fdx.EvidenceError) as info:
        fdx.load_model(setting="emergency_room")
    message = str(info.value)
    assert "'emergency_room'" in message
    assert "primary_care" in message and "neuromuscular_clinic" in message


# -- vocabulary ---------------------------------------------------------------------------------


def test_minimum_vocabulary(model):
    assert len(VOCABULARY) == 51
    for node, states in VOCABULARY.items():
        current = RENAMED_NODES.get(node, node)  # a renamed node keeps its states
        assert current in model.states, f"missing evidence node {node}"
        assert tuple(model.states[current]) == states, node


def test_a_renamed_node_is_still_accepted_under_its_former_name(model):
    old = model.posterior({"stimulant_use": "yes", "weakness": "no"})
    new = model.posterior({"beta_agonist_or_stimulant": "yes", "weakness": "no"})
    assert (old - new).abs().max() < 1e-12
    with pytest.raises(fdx.EvidenceError, match="former name of 'beta_agonist_or_stimulant'"):
        model.posterior({"stimulant_use": "yes", "beta_agonist_or_stimulant": "no"})


def test_weakness_pattern_is_entered_with_weakness(model):
    with pytest.raises(fdx.EvidenceError, match="enter weakness=yes with it"):
        model.posterior({"weakness_pattern": "proximal"})
    with pytest.raises(fdx.EvidenceError, match="Got weakness=no"):
        model.posterior({"weakness_pattern": "proximal", "weakness": "no"})
    assert model.posterior({"weakness_pattern": "proximal", "weakness": "yes"}).sum() == pytest.approx(1)


def test_states_are_only_observable_nodes(model):
    layers = {n: s.layer for n, s in model.priors.nodes.items()}
    assert "etiology" not in model.states
    assert all(layers[n] in ("context", "trigger", "finding") for n in model.states)
    observable = {n for n, layer in layers.items() if layer in ("context", "trigger", "finding")}
    assert observable == set(model.states)


def test_etiologies_with_group_and_category(model):
    assert len(ETIOLOGIES) == 32
    assert tuple(model.etiologies) == ETIOLOGIES
    for name in ETIOLOGIES:
        etiology = model.priors.etiologies[name]
        assert etiology.group in GROUPS
        assert etiology.category in ("benign", "pathological")
    categories = {model.priors.etiologies[e].category for e in ETIOLOGIES}
    assert categories == {"benign", "pathological"}
    assert model.priors.etiologies["als"].category == "pathological"
    assert model.priors.etiologies["benign_fasciculation_syndrome"].category == "benign"


def test_posterior_series_shape(model):
    post = model.posterior({"weakness": "yes", "emg_fibrillations": "present"})
    assert isinstance(post, pd.Series)
    assert post.index.name == "etiology"
    assert set(post.index) == set(ETIOLOGIES)
    assert post.is_monotonic_decreasing
    assert post.sum() == pytest.approx(1.0, abs=1e-12)


# -- explain ------------------------------------------------------------------------------------


def test_explain_rows_and_columns(model):
    table = model.explain(EVIDENCE)
    assert isinstance(table, pd.DataFrame)
    for column in (
        "node",
        "state",
        "woe_vs_rest",
        "lr_vs_rest",
        "woe_vs_runner_up",
        "woe_pathological_vs_benign",
        "lr_pathological_vs_benign",
    ):
        assert column in table.columns
    assert len(table) == len(EVIDENCE)
    assert sorted(table["node"]) == sorted(EVIDENCE)
    assert all(EVIDENCE[n] == s for n, s in zip(table["node"], table["state"], strict=True))
    assert table["woe_vs_rest"].is_monotonic_decreasing


def test_explain_weight_of_evidence_is_change_in_log_odds(model):
    post = model.posterior(EVIDENCE)
    lead, runner = post.index[0], post.index[1]
    table = model.explain(EVIDENCE).set_index("node")
    assert (table["leading"] == lead).all() and (table["runner_up"] == runner).all()
    for node, state in EVIDENCE.items():
        without = model.posterior({k: v for k, v in EVIDENCE.items() if k != node})
        woe = log_odds(post[lead], 1 - post[lead]) - log_odds(without[lead], 1 - without[lead])
        woe_runner = log_odds(post[lead], post[runner]) - log_odds(without[lead], without[runner])
        assert table.loc[node, "state"] == state
        assert table.loc[node, "woe_vs_rest"] == pytest.approx(woe, abs=1e-9)
        assert table.loc[node, "lr_vs_rest"] == pytest.approx(math.exp(woe), rel=1e-9)
        assert table.loc[node, "woe_vs_runner_up"] == pytest.approx(woe_runner, abs=1e-9)


def test_explain_single_finding(model):
    table = model.explain({"weakness": "yes"})
    assert list(table["node"]) == ["weakness"]
    base = model.posterior({})
    post = model.posterior({"weakness": "yes"})
    lead = post.index[0]
    expected = log_odds(post[lead], 1 - post[lead]) - log_odds(base[lead], 1 - base[lead])
    assert table.loc[0, "woe_vs_rest"] == pytest.approx(expected, abs=1e-9)


def _p_pathological(model, evidence) -> tuple[float, float]:
    category = model.category_posterior(evidence)
    return float(category["pathological"]), float(category["benign"])


def test_explain_pathological_weight_is_change_in_log_odds(model):
    """woe_pathological_vs_benign = ln odds(pathological | E) - ln odds(pathological | E without the finding)."""
    table = model.explain(EVIDENCE).set_index("node")
    path, benign = _p_pathological(model, EVIDENCE)
    for node in EVIDENCE:
        path_without, benign_without = _p_pathological(model, {k: v for k, v in EVIDENCE.items() if k != node})
        woe = log_odds(path, benign) - log_odds(path_without, benign_without)
        assert table.loc[node, "woe_pathological_vs_benign"] == pytest.approx(woe, abs=1e-9)
        assert table.loc[node, "lr_pathological_vs_benign"] == pytest.approx(math.exp(woe), rel=1e-9)


def test_a_red_flag_shows_when_the_leader_and_runner_up_are_benign(model):
    """Tongue fasciculations in a young, caffeinated, anxious patient: the differential stays benign at the top,
    so the weights against the benign leader say little; the pathological column shows the red flag."""
    evidence = {"age_group": "under_40", "caffeine": "yes", "stress_anxiety": "yes", "tongue_fasciculations": "yes"}
    post = model.posterior(evidence)
    category = {e: s.category for e, s in model.priors.etiologies.items()}
    assert category[post.index[0]] == category[post.index[1]] == "benign"
    table = model.explain(evidence).set_index("node")
    row = table.loc["tongue_fasciculations"]
    assert category[row["leading"]] == category[row["runner_up"]] == "benign"
    path, benign = _p_pathological(model, evidence)
    without = {k: v for k, v in evidence.items() if k != "tongue_fasciculations"}
    path_without, benign_without = _p_pathological(model, without)
    expected = log_odds(path, benign) - log_odds(path_without, benign_without)
    assert row["woe_pathological_vs_benign"] == pytest.approx(expected, abs=1e-9)
    assert row["woe_pathological_vs_benign"] > 0.2  # clearly towards disease (likelihood ratio above 1.2)
    assert row["lr_pathological_vs_benign"] == pytest.approx(math.exp(expected), rel=1e-9)
    assert row["woe_pathological_vs_benign"] > row["woe_vs_rest"]
    # the reassuring context points the other way
    assert table.loc["caffeine", "woe_pathological_vs_benign"] < 0


# -- next tests ---------------------------------------------------------------------------------


def test_next_tests_only_unobserved_findings(model):
    table = model.next_tests(EVIDENCE, order="gain")
    findings = {n for n, s in model.priors.nodes.items() if s.layer == "finding"}
    assert set(table["node"]) == findings - set(EVIDENCE)
    assert len(table) == len(set(table["node"]))
    assert not set(table["node"]) & set(EVIDENCE)
    gains = table["info_gain_etiology"].to_numpy()
    assert np.all(np.isfinite(gains)) and np.all(gains >= 0)
    assert np.all(np.diff(gains) <= 0)
    assert np.all(table["info_gain_category"].to_numpy() >= 0)
    assert gains[0] > 0
    assert len(model.next_tests(EVIDENCE, top=3)) == 3


def test_next_tests_gain_recomputed(model):
    """IG = H(etiology | E) - sum_x P(x | E) H(etiology | E, x), recomputed independently.

    P(x | E) is not taken from the model's predictive distribution: it is solved from the law of
    total probability, sum_x P(x | E) P(e | E, x) = P(e | E) for every etiology e (with the
    weights summing to one), using only posteriors. It is then compared with ``predictive``.
    """
    evidence = {"age_group": "40_to_64", "weakness": "yes", "cramps": "yes"}
    table = model.next_tests(evidence).set_index("node")
    base = model.posterior(evidence)
    for node in (table.index[0], table.index[1]):
        states = model.states[node]
        refined = np.column_stack(
            [model.posterior({**evidence, node: s}).reindex(base.index).to_numpy() for s in states]
        )
        system = np.vstack([refined, np.ones(len(states))])
        target = np.append(base.to_numpy(), 1.0)
        weights, *_ = np.linalg.lstsq(system, target, rcond=None)
        assert np.abs(system @ weights - target).max() < 1e-9
        assert np.all(weights > -1e-9)
        predictive = model.predictive(node, evidence)
        np.testing.assert_allclose(predictive.to_numpy(), weights, atol=1e-6)
        gain = entropy_bits(base) - sum(w * entropy_bits(refined[:, i]) for i, w in enumerate(weights))
        assert table.loc[node, "info_gain_etiology"] == pytest.approx(gain, abs=1e-6)
        pathological = np.array([model.priors.etiologies[e].category == "pathological" for e in base.index])
        q = base.to_numpy()[pathological].sum()
        q_x = refined[pathological].sum(axis=0)
        gain_c = entropy_bits([q, 1 - q]) - sum(w * entropy_bits([q_x[i], 1 - q_x[i]]) for i, w in enumerate(weights))
        assert table.loc[node, "info_gain_category"] == pytest.approx(gain_c, abs=1e-6)


def test_next_tests_no_evidence_lists_all_findings(model):
    table = model.next_tests()
    findings = {n for n, s in model.priors.nodes.items() if s.layer == "finding"}
    assert set(table["node"]) == findings
    assert set(table["panel"]) <= {
        "history",
        "triggers",
        "examination",
        "labs",
        "electrodiagnosis",
        "imaging",
        "course",
    }
    for _, row in table.iterrows():
        assert row["most_likely_result"] in model.states[row["node"]]

"""Evidence handling: clear errors for unknown nodes and states, unobservable nodes, malformed
assignments, and evidence the model deems impossible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli import main as cli
from fasciculation_dx.inference.evidence import check_evidence, parse_assignments

IMPOSSIBLE = Path(__file__).parent / "data" / "impossible"
CONFLICT = {"tetany_or_paresthesia": "yes", "emg_fibrillations": "present"}


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


@pytest.fixture(scope="module", params=["pgmpy", "compiled"])
def impossible_model(request):
    return fdx.load_model(IMPOSSIBLE, engine=request.param)


# -- unknown nodes and states ------------------------------------------------------------------


def test_unknown_node_names_it_suggests_a_few_and_points_to_the_list(model):
    with pytest.raises(fdx.EvidenceError) as info:
        model.posterior({"weaknes": "yes"})
    message = str(info.value)
    assert "'weaknes'" in message
    assert "Did you mean 'weakness'?" in message
    assert "`fasciculation-dx nodes` lists all" in message and f"all {len(model.states)} nodes" in message
    named = [
        node for node in model.states if f"'{node}'" in message or f" {node}," in message or f" {node}." in message
    ]
    assert "weakness" in named and len(named) <= 5
    assert "motor_axon_loss" not in message and "etiology" not in message


def test_unknown_node_is_a_value_error(model):
    with pytest.raises(ValueError, match="unknown node 'tongue_fasciculation'"):
        model.posterior({"tongue_fasciculation": "yes"})


def test_unknown_node_without_close_match_points_to_the_list(model):
    with pytest.raises(fdx.EvidenceError) as info:
        model.posterior({"zzzzzz": "yes"})
    message = str(info.value)
    assert "'zzzzzz'" in message and "Did you mean" not in message
    assert "`fasciculation-dx nodes`" in message and "weakness" not in message


def test_unknown_state_lists_valid_states(model):
    with pytest.raises(fdx.EvidenceError) as info:
        model.posterior({"weakness": "maybe"})
    message = str(info.value)
    assert "'maybe'" in message and "'weakness'" in message
    assert "Valid states: no, yes" in message


def test_unknown_state_suggests_closest(model):
    with pytest.raises(fdx.EvidenceError) as info:
        model.posterior({"emg_fibrillations": "presnt"})
    message = str(info.value)
    assert "Did you mean 'present'?" in message
    assert "Valid states: absent, present" in message


def test_case_and_surrounding_spaces_are_tolerated(model):
    expected = {"weakness": "yes", "age_group": "65_plus"}
    assert check_evidence(model.priors, {" Weakness ": "YES", "AGE_GROUP": " 65_PLUS "}) == expected
    assert check_evidence(model.priors, {"weakness": "~YES"}) == check_evidence(model.priors, {"weakness": "~yes"})
    soft = check_evidence(model.priors, {"weakness": "Yes:0.8, NO:0.2"})
    assert soft == check_evidence(model.priors, {"weakness": "yes:0.8,no:0.2"})
    assert parse_assignments(["weakness = yes", " tongue_fasciculations ~ yes"]) == {
        "weakness": "yes",
        "tongue_fasciculations": "~yes",
    }


def test_a_node_given_twice_in_different_case_is_refused(model):
    with pytest.raises(fdx.EvidenceError, match="'weakness' is given twice"):
        check_evidence(model.priors, {"Weakness": "yes", "weakness": "no"})


def test_unknown_states_still_fail(model):
    with pytest.raises(fdx.EvidenceError, match="Valid states: no, yes"):
        model.posterior({"weakness": "Yess"})
    with pytest.raises(fdx.EvidenceError, match="Valid states: under_40, 40_to_64, 65_plus"):
        model.posterior({"age_group": "elderly"})


def test_etiology_cannot_be_evidence(model):
    with pytest.raises(fdx.EvidenceError) as info:
        model.posterior({"etiology": "als"})
    message = str(info.value)
    assert "'etiology'" in message and "cannot be entered as evidence" in message


def test_mechanism_cannot_be_evidence(model):
    with pytest.raises(fdx.EvidenceError) as info:
        model.posterior({"motor_axon_loss": "present"})
    message = str(info.value)
    assert "'motor_axon_loss'" in message and "latent mechanism" in message
    # it points to the findings that can be entered instead
    assert "weakness" in message and "emg_fibrillations" in message


def test_every_mechanism_is_refused(model):
    mechanisms = [n for n, s in model.priors.nodes.items() if s.layer == "mechanism"]
    assert len(mechanisms) >= 5
    for node in mechanisms:
        assert node not in model.states
        with pytest.raises(fdx.EvidenceError, match=f"'{node}' is a latent mechanism"):
            model.posterior({node: model.priors.nodes[node].states[0]})


def test_evidence_must_be_a_mapping(model):
    with pytest.raises(fdx.EvidenceError, match="mapping"):
        model.posterior([("weakness", "yes")])


def test_errors_are_raised_by_every_query(model):
    bad = {"weaknes": "yes"}
    for call in (
        model.posterior,
        model.category_posterior,
        model.group_posterior,
        model.explain,
        model.next_tests,
        lambda ev: model.predictive("atrophy", ev),
    ):
        with pytest.raises(fdx.EvidenceError, match="Did you mean 'weakness'"):
            call(bad)
    with pytest.raises(fdx.EvidenceError, match="Did you mean 'atrophy'"):
        model.predictive("atrophi", {})
    with pytest.raises(fdx.EvidenceError, match="latent mechanism"):
        model.predictive("motor_axon_loss", {})


def test_valid_evidence_is_returned_unchanged(model):
    evidence = {"weakness": "yes", "age_group": "65_plus", "caffeine": "no"}
    assert check_evidence(model.priors, evidence) == evidence


# -- parsing node=state words ----------------------------------------------------------------------


def test_parse_assignments_ok():
    assert parse_assignments(["weakness=yes", "age_group=65_plus"]) == {"weakness": "yes", "age_group": "65_plus"}
    assert parse_assignments([]) == {}


@pytest.mark.parametrize("word", ["weakness", "=yes", "weakness=", "weakness:yes"])
def test_parse_assignments_rejects_bad_syntax(word):
    with pytest.raises(fdx.EvidenceError) as info:
        parse_assignments([word])
    message = str(info.value)
    assert "node=state" in message and f"'{word}'" in message


def test_parse_assignments_rejects_conflicting_repeats():
    with pytest.raises(fdx.EvidenceError) as info:
        parse_assignments(["weakness=yes", "weakness=no"])
    message = str(info.value)
    assert "'weakness'" in message and "twice" in message and "yes" in message and "no" in message


# -- impossible evidence (tests/data/impossible: structural zeros) ----------------------------------
# Tetany occurs only with hypocalcemia and fibrillations only with ALS, so they cannot co-occur.


def test_impossible_evidence_names_exactly_the_conflict(impossible_model):
    evidence = {"sex": "male", "cramps": "yes", **CONFLICT}
    with pytest.raises(fdx.ImpossibleEvidenceError) as info:
        impossible_model.posterior(evidence)
    err = info.value
    assert err.conflicting == CONFLICT
    message = str(err)
    assert "tetany_or_paresthesia=yes" in message and "emg_fibrillations=present" in message
    assert "cramps" not in message and "sex" not in message
    assert isinstance(err, fdx.EvidenceError)


def test_impossible_evidence_in_other_order(impossible_model):
    evidence = {"emg_fibrillations": "present", "cramps": "no", "tetany_or_paresthesia": "yes"}
    with pytest.raises(fdx.ImpossibleEvidenceError) as info:
        impossible_model.posterior(evidence)
    assert info.value.conflicting == CONFLICT


def test_impossible_evidence_is_never_nan(impossible_model):
    for call in (
        impossible_model.posterior,
        impossible_model.category_posterior,
        impossible_model.group_posterior,
        impossible_model.explain,
        impossible_model.next_tests,
        lambda ev: impossible_model.predictive("cramps", ev),
    ):
        with pytest.raises(fdx.ImpossibleEvidenceError):
            call(CONFLICT)


def test_possible_evidence_on_the_same_network(impossible_model):
    post = impossible_model.posterior({"tetany_or_paresthesia": "yes", "cramps": "yes"})
    assert np.all(np.isfinite(post.to_numpy()))
    assert post["hypocalcemia"] == pytest.approx(1.0, abs=1e-12)
    post = impossible_model.posterior({"emg_fibrillations": "present"})
    assert post.index[0] == "als" and post["als"] == pytest.approx(1.0, abs=1e-12)
    # the structurally impossible result is predicted with probability zero, not NaN
    pred = impossible_model.predictive("emg_fibrillations", {"tetany_or_paresthesia": "yes"})
    assert pred["present"] == 0.0 and pred["absent"] == pytest.approx(1.0, abs=1e-12)
    tests = impossible_model.next_tests({"tetany_or_paresthesia": "yes"})
    assert np.all(np.isfinite(tests["info_gain_etiology"].to_numpy()))


def test_impossible_evidence_through_the_cli(capsys):
    code = cli.main(
        ["query", "--priors", str(IMPOSSIBLE), "cramps=yes", "tetany_or_paresthesia=yes", "emg_fibrillations=present"]
    )
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "tetany_or_paresthesia=yes" in lines[0] and "emg_fibrillations=present" in lines[0]
    assert "cramps" not in lines[0]
    assert "Traceback" not in err and "nan" not in err.lower()


def test_impossible_evidence_through_the_cli_json(capsys):
    code = cli.main(
        ["query", "--json", "--priors", str(IMPOSSIBLE), "tetany_or_paresthesia=yes", "emg_fibrillations=present"]
    )
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "probability zero" in err

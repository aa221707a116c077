"""Red flags: the entered findings that a guideline names, read from priors/red_flags.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import fasciculation_dx as fdx
from fasciculation_dx.inference.evidence import check_evidence
from fasciculation_dx.network.red_flags import group_red_flags, red_flags_present

TINY = Path(__file__).parent / "data" / "tiny"
SAFETY = Path(__file__).parent / "clinical" / "safety.csv"


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


def test_tongue_fasciculations_and_bulbar_symptoms_cite_nice(priors):
    evidence = check_evidence(priors, {"tongue_fasciculations": "yes", "bulbar_symptoms": "yes", "caffeine": "yes"})
    flags = red_flags_present(priors, evidence)
    assert [(f["node"], f["state"]) for f in flags] == [("tongue_fasciculations", "yes"), ("bulbar_symptoms", "yes")]
    for flag in flags:
        assert set(flag) == {"node", "state", "guideline", "source_id", "text", "certain"}
        assert flag["guideline"] == "NICE NG42" and flag["certain"] is True
        assert flag["source_id"] in priors.sources and priors.sources[flag["source_id"]].kind == "guideline"
        assert "refer without delay" in flag["text"]


def test_absent_or_other_states_are_not_flags(priors):
    evidence = {"tongue_fasciculations": "no", "weakness": "no", "emg_fibrillations": "absent", "lmn_regions": "1"}
    assert red_flags_present(priors, evidence) == []


def test_soft_evidence_counts_when_the_red_flag_state_is_most_likely(priors):
    probable = check_evidence(priors, {"tongue_fasciculations": "~yes"})
    (flag,) = red_flags_present(priors, probable)
    assert flag["node"] == "tongue_fasciculations" and flag["certain"] is False
    assert red_flags_present(priors, check_evidence(priors, {"tongue_fasciculations": "~no"})) == []
    even = {"tongue_fasciculations": {"yes": 0.5, "no": 0.5}}
    assert red_flags_present(priors, even) == []


def test_every_red_flag_names_a_guideline_source(priors):
    assert priors.red_flags
    for flag in priors.red_flags:
        assert flag.state in priors.nodes[flag.node].states
        assert priors.sources[flag.source_id].kind == "guideline"


def _safety_cases(kinds):
    with SAFETY.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["kind"] in kinds]
    return {row["case_id"]: dict(word.split("=", 1) for word in row["evidence"].split()) for row in rows}


def test_every_safety_red_flag_case_shows_a_flag_and_no_benign_case_does(priors):
    """The red-flag cases of the safety suite each show a flag; its benign cases (normal examination) show none."""
    red = _safety_cases(("red_flag", "red_flag_sign"))
    benign = _safety_cases(("benign",))
    assert red and benign
    assert [case for case, evidence in red.items() if not red_flags_present(priors, evidence)] == []
    assert {case: red_flags_present(priors, ev) for case, ev in benign.items() if red_flags_present(priors, ev)} == {}


def test_priors_without_the_file_have_no_red_flags():
    priors = fdx.load_priors(TINY)
    assert priors.red_flags is None
    assert red_flags_present(priors, {"weakness": "yes"}) == []


def test_group_red_flags_keeps_a_single_flag_whole_and_keeps_every_flag():
    def flag(node, guideline, text, source="s1"):
        return {
            "node": node,
            "state": "yes",
            "guideline": guideline,
            "source_id": source,
            "text": text,
            "certain": True,
        }

    flags = [
        flag("a", "G1", "a is listed; refer"),
        flag("b", "G2", "b is evidence; refer"),
        flag("c", "G1", "c is listed; refer"),
        flag("d", "G1", "d is listed; refer", source="s2"),
    ]
    groups = group_red_flags(flags)
    assert [(g["guideline"], g["source_id"]) for g in groups] == [("G1", "s1"), ("G2", "s1"), ("G1", "s2")]
    g1, g2, g1_other_source = groups
    assert g1["shared"] == "refer" and [(f["node"], f["text"]) for f in g1["findings"]] == [
        ("a", "a is listed"),
        ("c", "c is listed"),
    ]
    assert g2["shared"] == "" and g2["findings"][0]["text"] == "b is evidence; refer"  # alone: its words whole
    assert g1_other_source["shared"] == "" and g1_other_source["findings"][0]["text"] == "d is listed; refer"
    assert sorted(f["node"] for g in groups for f in g["findings"]) == ["a", "b", "c", "d"]

"""Red-flag and safety cases, one parametrized test per row of ``tests/clinical/safety.csv``.

Each row gives a care setting, the evidence as space-separated ``node=state`` pairs and one or
more expectations; an empty expectation cell is not checked:

- ``pathological_at_least``: P(pathological) >= the value (the category roll-up of etiologies.csv)
- ``group_in_top3``: this disease group (``group`` in etiologies.csv) is among the three most
  probable groups (the group roll-up)
- ``first``: this etiology ranks first
- ``benign_at_least``: P(benign) >= the value
- ``group_bayes_factor_at_least``: the findings (everything but age, sex and family history) multiply
  the posterior odds of the ``group_in_top3`` group by at least the value; used for a single
  guideline sign (``red_flag_sign``), which is a reason to refer rather than a diagnosis

``kind`` (``red_flag``, ``red_flag_sign``, ``defining``, ``benign``) only groups the cases in the
summary line. Every
case cites a source in ``tests/clinical/safety_sources.csv`` and is written as that source states
the picture. A failing case is a finding about the priors: fix the priors with a sourced change,
never the case.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import fasciculation_dx as fdx

CLINICAL = Path(__file__).parent / "clinical"
CHECKS = ("pathological_at_least", "group_in_top3", "first", "benign_at_least", "group_bayes_factor_at_least")
CONTEXT = ("age_group", "sex", "family_history")


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(CLINICAL / name, dtype=str, keep_default_na=False)


CASES = read("safety.csv")
SOURCES = read("safety_sources.csv").set_index("source_id")
ETIOLOGIES = pd.read_csv(fdx.shipped_priors_dir() / "etiologies.csv", dtype=str).set_index("etiology")
GROUP = ETIOLOGIES["group"]


def evidence_of(case: pd.Series) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in case["evidence"].split())


@pytest.fixture(scope="module")
def models():
    return {s: fdx.load_model(setting=s) for s in ("primary_care", "neuromuscular_clinic")}


def group_bayes_factor(model: fdx.Model, evidence: dict[str, str], group: str) -> float:
    """How much the findings multiply the posterior odds of ``group`` (context kept in both)."""
    context = {k: v for k, v in evidence.items() if k in CONTEXT}

    def odds(ev: dict[str, str]) -> float:
        p = model.group_posterior(ev)[group]
        return p / (1 - p)

    return odds(evidence) / odds(context)


def failures(model: fdx.Model, case: pd.Series) -> tuple[list[str], str]:
    """The unmet expectations of a case, and a one-line account of the posterior."""
    evidence = evidence_of(case)
    post = model.posterior(evidence)
    category = model.category_posterior(evidence)
    top3 = list(post.index[:3])
    failed = []
    if case["pathological_at_least"] and category["pathological"] < float(case["pathological_at_least"]):
        failed.append(f"P(pathological) < {case['pathological_at_least']}")
    if case["benign_at_least"] and category["benign"] < float(case["benign_at_least"]):
        failed.append(f"P(benign) < {case['benign_at_least']}")
    groups = model.group_posterior(evidence).sort_values(ascending=False)
    if case["group_in_top3"] and case["group_in_top3"] not in groups.index[:3]:
        rank = list(groups.index).index(case["group_in_top3"]) + 1
        failed.append(f"group {case['group_in_top3']} ranks {rank} among groups, not in the top 3")
    if case["group_bayes_factor_at_least"]:
        factor = group_bayes_factor(model, evidence, case["group_in_top3"])
        if factor < float(case["group_bayes_factor_at_least"]):
            failed.append(
                f"Bayes factor for {case['group_in_top3']} {factor:.1f} < {case['group_bayes_factor_at_least']}"
            )
    if case["first"] and post.index[0] != case["first"]:
        failed.append(f"{case['first']} ranks {list(post.index).index(case['first']) + 1}, not first")
    shown = ", ".join(f"{e} {post[e]:.3f} ({GROUP[e]})" for e in top3)
    top_groups = ", ".join(f"{g} {groups[g]:.3f}" for g in groups.index[:3])
    return failed, f"P(pathological) {category['pathological']:.3f}; top 3: {shown}; top groups: {top_groups}"


def test_safety_cases_are_well_formed(models):
    model = models["primary_care"]
    assert len(CASES) >= 30 and CASES["case_id"].is_unique
    counts = CASES.groupby(["kind", "setting"]).size()
    assert counts.get(("red_flag", "primary_care"), 0) >= 9
    assert (CASES["kind"] == "defining").sum() >= 8 and (CASES["kind"] == "benign").sum() >= 8
    for _, case in CASES.iterrows():
        where = case["case_id"]
        assert case["setting"] in ("primary_care", "neuromuscular_clinic"), where
        assert case["source_id"] in SOURCES.index, f"{where}: unknown source {case['source_id']}"
        assert any(case[c] for c in CHECKS), f"{where}: no expectation"
        assert not case["first"] or case["first"] in model.etiologies, where
        assert not case["group_in_top3"] or case["group_in_top3"] in set(GROUP), where
        assert not case["group_bayes_factor_at_least"] or case["group_in_top3"], (
            f"{where}: a Bayes factor needs a group"
        )
        for node, state in evidence_of(case).items():
            assert state in model.states.get(node, ()), f"{where}: {node}={state} is not in the network"


@pytest.mark.parametrize("case_id", list(CASES["case_id"]))
def test_safety_case(models, case_id):
    case = CASES.set_index("case_id").loc[case_id]
    failed, account = failures(models[case["setting"]], case)
    source = SOURCES.loc[case["source_id"], "citation"]
    assert not failed, f"{case_id} ({case['setting']}): {'; '.join(failed)}. {account}. Source: {source}"


def test_safety_summary(models, capsys):
    passed = {kind: [0, 0] for kind in CASES["kind"].unique()}
    for _, case in CASES.iterrows():
        failed, _ = failures(models[case["setting"]], case)
        passed[case["kind"]][0] += not failed
        passed[case["kind"]][1] += 1
    by_kind = ", ".join(f"{kind} {ok}/{n}" for kind, (ok, n) in passed.items())
    with capsys.disabled():
        print(f"\nclinical safety suite: {len(CASES)} cases, passing by kind: {by_kind}")

"""The clinical case suite and the reachability sets, scored through the model.

Cases are transcribed from published case reports and teaching cases (sources in
``tests/clinical/case_sources.csv``). The suite reports top-1 and top-3 accuracy and the
benign/pathological accuracy (``P(pathological) >= 0.5`` against the category of the confirmed
cause), overall and by care setting, with every case whose cause ranks below 3. The figures are
computed by :mod:`fasciculation_dx.reporting.clinical_report`, which also writes them to
``reports/clinical_cases.md``.

The aim is top-1 >= 65% and top-3 >= 85%. The test asserts floors below which the suite has
regressed (top-3 and benign/pathological accuracy), not the aim: a case is never dropped or edited
because the model ranks it badly. A miss is fixed by a sourced change to the priors, or stays a
documented miss; parameters are never tuned to single cases.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.reporting.clinical_report import accuracy_by_setting, score_case_file

CLINICAL = Path(__file__).parent / "clinical"

TOP3_AIM = 0.85
TOP3_FLOOR = 0.75
BENIGN_PATHOLOGICAL_FLOOR = 0.90
MIN_CASES = 80
MIN_ETIOLOGIES = 28


def read_cases(name: str) -> pd.DataFrame:
    return pd.read_csv(CLINICAL / name, dtype=str, keep_default_na=False)


def evidence_of(row: pd.Series, model: fdx.Model) -> dict[str, str]:
    return {node: row[node] for node in model.states if node in row.index and row[node] != ""}


@pytest.fixture(scope="module")
def models():
    return {s: fdx.load_model(setting=s) for s in ("primary_care", "neuromuscular_clinic")}


def rank_of(model: fdx.Model, row: pd.Series) -> int:
    post = model.posterior(evidence_of(row, model))
    return list(post.index).index(row["etiology"]) + 1


def test_every_case_has_a_source():
    sources = read_cases("case_sources.csv")
    assert sources["case_id"].is_unique, "duplicate case_id in case_sources.csv"
    for name in ("cases.csv", "reachability.csv"):
        cases = read_cases(name)
        missing = set(cases["case_id"]) - set(sources["case_id"])
        assert not missing, f"cases without a source in case_sources.csv: {sorted(missing)}"
    assert (sources["url"] != "").all() or (sources["citation"] != "").all()


def test_published_cases_have_citation_url_and_summary():
    cases = read_cases("cases.csv")
    sources = read_cases("case_sources.csv").set_index("case_id").loc[cases["case_id"]]
    for column in ("citation", "url", "summary"):
        empty = sources.index[sources[column].str.strip() == ""].tolist()
        assert not empty, f"cases without a {column}: {empty}"


def test_case_rows_use_the_network_vocabulary(models):
    cases = read_cases("cases.csv")
    model = models["primary_care"]
    assert cases["case_id"].is_unique
    assert set(cases["setting"]) <= {"", "primary_care", "neuromuscular_clinic"}
    assert set(cases["etiology"]) <= set(model.etiologies)
    unknown = set(cases.columns) - set(model.states) - {"case_id", "setting", "etiology"}
    assert not unknown, f"columns that are not evidence nodes: {sorted(unknown)}"
    for node in model.states:
        if node in cases.columns:
            bad = set(cases[node]) - set(model.states[node]) - {""}
            assert not bad, f"{node}: states {sorted(bad)} not in {model.states[node]}"


def test_case_suite_covers_at_least_80_cases_and_28_etiologies():
    cases = read_cases("cases.csv")
    assert len(cases) >= MIN_CASES
    assert cases["etiology"].nunique() >= MIN_ETIOLOGIES


def test_case_suite_accuracy(models, capsys):
    scored = score_case_file(CLINICAL / "cases.csv", models)
    summary = accuracy_by_setting(scored).set_index("setting")
    overall = summary.loc["all settings"]
    by_setting = "; ".join(
        f"{name} (n={r.cases}): top-1 {r.top_1:.1%}, top-3 {r.top_3:.1%}, benign/pathological "
        f"{r.benign_pathological:.1%}"
        for name, r in summary.iterrows()
    )
    misses = [(r.case_id, r.etiology, r.rank) for r in scored.itertuples() if r.rank > 3]
    with capsys.disabled():
        print(
            f"\nclinical case suite: {len(scored)} cases, {scored['etiology'].nunique()} etiologies; "
            f"{by_setting}; aim top-3 {TOP3_AIM:.0%}; outside the top 3: {misses}"
        )
    assert summary.loc[summary.index != "all settings", "cases"].sum() == overall["cases"] == len(scored)
    assert overall["top_3"] >= TOP3_FLOOR
    assert overall["benign_pathological"] >= BENIGN_PATHOLOGICAL_FLOOR


def test_reachability_covers_every_etiology(models):
    cases = read_cases("reachability.csv")
    assert sorted(cases["etiology"]) == sorted(models["primary_care"].etiologies)


@pytest.mark.parametrize(
    "etiology", sorted(read_cases("reachability.csv")["etiology"]) if (CLINICAL / "reachability.csv").exists() else []
)
def test_each_etiology_ranks_first_under_its_typical_picture(models, etiology):
    cases = read_cases("reachability.csv")
    row = cases[cases["etiology"] == etiology].iloc[0]
    model = models[row["setting"] or "primary_care"]
    post = model.posterior(evidence_of(row, model))
    assert post.index[0] == etiology, f"{etiology} ranks {rank_of(model, row)}: top is {post.index[0]}"

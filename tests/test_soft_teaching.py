"""Notebook 06, exercise 6: a soft finding moves the posterior less than the hard one, and when it matters.

The properties the notebook section teaches, computed from the model: a tongue seen twitching once
(soft evidence) moves a pathological cause less than confirmed tongue fasciculations, its likelihood
ratio never exceeds the ratio of its weights, it matters more beside bulbar symptoms, and it stays a
candidate for :meth:`Model.next_tests`.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.inference.information import MIN_GAIN
from fasciculation_dx.reporting.teaching import soft_finding_table

NODE = "tongue_fasciculations"
MAN = {"sex": "male", "age_group": "40_to_64"}
CONTEXTS = {"fasciculations only": MAN, "with bulbar symptoms": {**MAN, "bulbar_symptoms": "yes"}}
SEEN_ONCE = {"yes": 0.7, "no": 0.3}
READINGS = {  # the notebook's readings, weakest first
    "not recorded": None,
    "seen once, uncertain (yes 0.7 : no 0.3)": SEEN_ONCE,
    "probably (~yes, 4 : 1)": "~yes",
    "confirmed": "yes",
}
RATIO = {"seen once, uncertain (yes 0.7 : no 0.3)": 0.7 / 0.3, "probably (~yes, 4 : 1)": 4.0}
"""w_yes / w_no of each soft reading."""


@pytest.fixture(scope="module")
def primary():
    return fdx.load_model(setting="primary_care")


@pytest.fixture(scope="module")
def table(primary):
    return soft_finding_table(primary, NODE, READINGS, CONTEXTS)


def _with(context: dict, value) -> dict:
    return dict(context) if value is None else {**context, NODE: value}


def _odds(p: float) -> float:
    return p / (1 - p)


@pytest.mark.parametrize("context", CONTEXTS)
def test_pathological_probability_grows_with_the_strength_of_the_reading(primary, context):
    p = [primary.category_posterior(_with(CONTEXTS[context], v))["pathological"] for v in READINGS.values()]
    unset, seen_once, probably, confirmed = p
    assert unset <= seen_once <= probably <= confirmed
    assert probably < confirmed  # confirming the finding moves the answer, strictly


@pytest.mark.parametrize("context", CONTEXTS)
def test_als_probability_grows_with_the_strength_of_the_reading(primary, context):
    p = [primary.posterior(_with(CONTEXTS[context], v))["als"] for v in READINGS.values()]
    assert p == sorted(p) and p[-2] < p[-1]


@pytest.mark.parametrize("reading", RATIO)
@pytest.mark.parametrize("context", CONTEXTS)
def test_soft_weight_of_evidence_is_smaller_than_the_hard_one(primary, context, reading):
    def weight(value) -> float:
        rows = primary.explain(_with(CONTEXTS[context], value)).set_index("node")
        return rows.loc[NODE, "woe_pathological_vs_benign"]

    assert abs(weight(READINGS[reading])) < abs(weight("yes"))


@pytest.mark.parametrize("reading", RATIO)
@pytest.mark.parametrize("context", CONTEXTS)
def test_soft_likelihood_ratio_is_bounded_by_the_ratio_of_the_weights(primary, context, reading):
    rows = primary.explain(_with(CONTEXTS[context], READINGS[reading])).set_index("node")
    assert 1 <= rows.loc[NODE, "lr_pathological_vs_benign"] <= RATIO[reading]


@pytest.mark.parametrize("reading", RATIO)
@pytest.mark.parametrize("context", CONTEXTS)
def test_soft_reading_multiplies_the_odds_of_the_finding_by_the_ratio_of_the_weights(primary, context, reading):
    before = primary.predictive(NODE, CONTEXTS[context])["yes"]
    after = primary.predictive(NODE, _with(CONTEXTS[context], READINGS[reading]))["yes"]
    assert _odds(after) / _odds(before) == pytest.approx(RATIO[reading], rel=1e-9)
    assert after < 0.5  # the rare finding, read softly, stays more likely absent than present


@pytest.mark.parametrize("reading", RATIO)
def test_soft_finding_matters_more_beside_bulbar_symptoms(primary, reading):
    def lr(context: dict) -> float:
        rows = primary.explain(_with(context, READINGS[reading])).set_index("node")
        return rows.loc[NODE, "lr_pathological_vs_benign"]

    def rise(context: dict) -> float:
        return (
            primary.category_posterior(_with(context, READINGS[reading]))["pathological"]
            - primary.category_posterior(context)["pathological"]
        )

    alone, bulbar = CONTEXTS["fasciculations only"], CONTEXTS["with bulbar symptoms"]
    assert lr(bulbar) > lr(alone)
    assert rise(bulbar) > rise(alone)


def test_next_tests_keeps_a_soft_finding_and_drops_a_confirmed_one(primary):
    for context in CONTEXTS.values():
        assert NODE in set(primary.next_tests(_with(context, SEEN_ONCE)).node)
        assert NODE not in set(primary.next_tests(_with(context, "yes")).node)


def test_testing_the_soft_finding_is_useful_only_beside_bulbar_symptoms(primary):
    def gain(context: dict) -> float:
        ranked = primary.next_tests(_with(context, SEEN_ONCE)).set_index("node")
        return ranked.loc[NODE, "info_gain_etiology"]

    assert gain(CONTEXTS["fasciculations only"]) < MIN_GAIN <= gain(CONTEXTS["with bulbar symptoms"])


def test_table_keeps_the_order_given(table):
    assert list(table.index.names) == ["context", "reading"]
    expected = [(c, r) for c in CONTEXTS for r in READINGS]
    assert list(table.index) == expected
    assert list(table.columns) == [
        f"P({NODE}=yes)",
        "P(pathological)",
        "P(als)",
        "LR pathological vs benign",
        "gain of testing (bits)",
    ]


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_table_shows_what_the_model_computes(primary, table, context, reading):
    evidence = _with(CONTEXTS[context], READINGS[reading])
    row = table.loc[(context, reading)]
    assert row[f"P({NODE}=yes)"] == pytest.approx(primary.predictive(NODE, evidence)["yes"], abs=1e-12)
    assert row["P(pathological)"] == pytest.approx(primary.category_posterior(evidence)["pathological"], abs=1e-12)
    assert row["P(als)"] == pytest.approx(primary.posterior(evidence)["als"], abs=1e-12)
    if READINGS[reading] is None:
        assert row["LR pathological vs benign"] == pytest.approx(1.0)
    else:
        explained = primary.explain(evidence).set_index("node")
        assert row["LR pathological vs benign"] == pytest.approx(explained.loc[NODE, "lr_pathological_vs_benign"])
    ranked = primary.next_tests(evidence).set_index("node")
    if READINGS[reading] == "yes":
        assert math.isnan(row["gain of testing (bits)"])
    else:
        assert row["gain of testing (bits)"] == pytest.approx(ranked.loc[NODE, "info_gain_etiology"], abs=1e-12)


def test_table_drops_an_entry_for_the_finding_in_the_context(primary):
    context = {**MAN, NODE: "no"}
    replaced = soft_finding_table(primary, NODE, {"not recorded": None, "confirmed": "yes"}, {"c": context})
    unset, confirmed = (primary.category_posterior(_with(MAN, v))["pathological"] for v in (None, "yes"))
    assert replaced.loc[("c", "not recorded"), "P(pathological)"] == pytest.approx(unset)
    assert replaced.loc[("c", "confirmed"), "LR pathological vs benign"] == pytest.approx(
        _odds(confirmed) / _odds(unset)
    )


def test_table_is_numeric(table):
    assert all(pd.api.types.is_float_dtype(t) for t in table.dtypes)

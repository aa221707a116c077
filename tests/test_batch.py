"""Batch scoring: exact agreement with one-by-one posteriors, column rules, and errors that list
every problem with its rows."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.cases import blank_undescribed
from fasciculation_dx.inference.batch import (
    BatchScorer,
    CaseTableError,
    ImpossibleCasesError,
    evidence_frame,
    output_columns,
    posterior_batch,
)

DATA = Path(__file__).parent / "data"
SETTINGS = ("primary_care", "neuromuscular_clinic")


@pytest.fixture(scope="module", params=SETTINGS)
def model(request):
    return fdx.load_model(setting=request.param)


def random_cases(model, n: int, seed: int, p_missing: float = 0.4) -> pd.DataFrame:
    """Random evidence: each node unobserved with probability p_missing, else a uniform state."""
    rng = np.random.default_rng(seed)
    columns = {}
    for node, states in model.states.items():
        values = np.array(states, dtype=object)[rng.integers(0, len(states), n)]
        values[rng.random(n) < p_missing] = ""
        columns[node] = values
    return blank_undescribed(pd.DataFrame(columns))


def one_by_one(model, cases: pd.DataFrame) -> np.ndarray:
    rows = []
    for _, row in cases.iterrows():
        evidence = {k: v for k, v in row.items() if isinstance(v, str) and v and k in model.states}
        post = model.posterior(evidence)
        rows.append(post[list(model.etiologies)].to_numpy())
    return np.array(rows)


def test_agrees_with_single_queries(model):
    cases = random_cases(model, 400, seed=1)
    out = posterior_batch(model.inference, model.priors, cases)
    expected = one_by_one(model, cases)
    np.testing.assert_allclose(out[list(model.etiologies)].to_numpy(), expected, rtol=0, atol=1e-10)


def test_sparse_and_dense_evidence(model):
    for p_missing in (0.0, 0.95, 1.0):
        cases = random_cases(model, 60, seed=2, p_missing=p_missing)
        out = posterior_batch(model.inference, model.priors, cases)
        expected = one_by_one(model, cases)
        np.testing.assert_allclose(out[list(model.etiologies)].to_numpy(), expected, rtol=0, atol=1e-10)


def test_no_evidence_gives_the_prior(model):
    cases = pd.DataFrame({"weakness": ["", None, np.nan]})
    out = posterior_batch(model.inference, model.priors, cases)
    prior = model.posterior({})[list(model.etiologies)].to_numpy()
    for i in range(3):
        np.testing.assert_allclose(out.iloc[i, : len(prior)].to_numpy(), prior, rtol=0, atol=1e-12)


def test_shape_columns_index_and_rollups(model):
    cases = random_cases(model, 50, seed=3)
    cases.index = pd.Index([f"p{i}" for i in range(50)][::-1], name="patient")
    out = posterior_batch(model.inference, model.priors, cases)
    assert list(out.columns) == output_columns(model.priors)
    assert list(out.columns[: len(model.etiologies)]) == list(model.etiologies)
    assert out.index.equals(cases.index)
    probs = out[list(model.etiologies)]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(out["p_benign"] + out["p_pathological"], 1.0, atol=1e-12)
    for label in ("p3", "p17"):
        evidence = {k: v for k, v in cases.loc[label].items() if v}
        category = model.category_posterior(evidence)
        assert out.loc[label, "p_pathological"] == pytest.approx(category["pathological"], abs=1e-10)
        assert out.loc[label, "p_benign"] == pytest.approx(category["benign"], abs=1e-10)


def test_block_size_and_threads_do_not_change_the_answer(model):
    cases = random_cases(model, 3000, seed=4)
    scorer = BatchScorer.for_engine(model.inference)
    base = scorer.score(cases, block=3000, workers=1)
    for block, workers in ((1, 1), (7, 2), (1024, 2), (4096, 3)):
        pd.testing.assert_frame_equal(
            scorer.score(cases.iloc[:500] if block == 1 else cases, block=block, workers=workers),
            base.iloc[:500] if block == 1 else base,
            rtol=0,
            atol=0,
        )


def test_passthrough_and_allowed_columns(model):
    cases = pd.DataFrame(
        {
            "case_id": ["a", "b"],
            "etiology": ["als", ""],
            "setting": [model.setting, ""],
            "site": ["x", "y"],
            "weakness": ["yes", "no"],
        }
    )
    out = posterior_batch(model.inference, model.priors, cases, passthrough=["case_id", "site"])
    assert list(out.columns[:2]) == ["case_id", "site"]
    assert list(out["case_id"]) == ["a", "b"]
    expected = model.posterior({"weakness": "yes"})["als"]
    assert out.loc[0, "als"] == pytest.approx(expected, abs=1e-12)


def test_every_problem_is_reported_at_once_with_rows(model):
    cases = pd.DataFrame(
        {
            "weakness": ["yes", "Yes", "maybe", "Yes", ""],
            "calcium": ["low", "normal", "LOW", "high", "low"],
            "weaknes": ["yes"] * 5,
            "motor_axon_loss": ["yes"] * 5,
            "setting": ["", "other_place", "", "", "other_place"],
        },
        index=[10, 11, 12, 13, 14],
    )
    with pytest.raises(CaseTableError) as info:
        posterior_batch(model.inference, model.priors, cases)
    err = info.value
    assert isinstance(err, fdx.EvidenceError)
    message = str(err)
    by_value = {(p.column, p.value): p.rows for p in err.problems}
    assert by_value[("weakness", "Yes")] == (11, 13)
    assert by_value[("weakness", "maybe")] == (12,)
    assert by_value[("calcium", "LOW")] == (12,)
    assert by_value[("setting", "other_place")] == (11, 14)
    assert "Did you mean 'yes'?" in message and "Valid states: no, yes" in message
    assert "unknown column 'weaknes'" in message and "Did you mean 'weakness'?" in message
    assert "'motor_axon_loss' is a latent mechanism" in message
    assert message.startswith("6 problems in the case table")


def test_non_string_values_are_invalid_states(model):
    cases = pd.DataFrame({"weakness": [1, 0, "yes"]})
    with pytest.raises(CaseTableError) as info:
        posterior_batch(model.inference, model.priors, cases)
    assert {p.value for p in info.value.problems} == {0, 1}


def test_bad_passthrough_and_arguments(model):
    cases = pd.DataFrame({"weakness": ["yes"]})
    with pytest.raises(CaseTableError, match="passthrough column 'case_id' is not in the table"):
        posterior_batch(model.inference, model.priors, cases, passthrough=["case_id"])
    with pytest.raises(CaseTableError, match="cannot be passed through"):
        posterior_batch(model.inference, model.priors, cases, passthrough=["weakness"])
    with pytest.raises(fdx.EvidenceError, match="on_impossible"):
        posterior_batch(model.inference, model.priors, cases, on_impossible="drop")
    with pytest.raises(fdx.EvidenceError, match="DataFrame"):
        posterior_batch(model.inference, model.priors, [{"weakness": "yes"}])


def test_empty_table(model):
    out = posterior_batch(model.inference, model.priors, pd.DataFrame({"weakness": pd.Series([], dtype=str)}))
    assert out.shape == (0, len(model.etiologies) + 2)


def test_reference_engine_is_scored_by_the_compiled_path():
    ref = fdx.load_model(DATA / "tiny", engine="pgmpy")
    cases = evidence_frame([{"weakness": "yes", "sex": "male"}, {"calcium": "low"}, {}])
    out = posterior_batch(ref.inference, ref.priors, cases)
    for i, row in enumerate(({"weakness": "yes", "sex": "male"}, {"calcium": "low"}, {})):
        expected = ref.posterior(row)[list(ref.etiologies)].to_numpy()
        np.testing.assert_allclose(out.iloc[i, : len(expected)].to_numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("directory", ["two_node", "tiny"])
def test_small_networks(directory):
    model = fdx.load_model(DATA / directory)
    cases = random_cases(model, 200, seed=5)
    out = posterior_batch(model.inference, model.priors, cases)
    np.testing.assert_allclose(out[list(model.etiologies)].to_numpy(), one_by_one(model, cases), atol=1e-10)


IMPOSSIBLE = {"tetany_or_paresthesia": "yes", "emg_fibrillations": "present"}


def test_impossible_rows_are_named_or_marked():
    model = fdx.load_model(DATA / "impossible")
    cases = evidence_frame([{"cramps": "yes"}, IMPOSSIBLE, {"sex": "male"}, IMPOSSIBLE])
    with pytest.raises(ImpossibleCasesError) as info:
        posterior_batch(model.inference, model.priors, cases)
    assert info.value.rows == (1, 3)
    assert isinstance(info.value, fdx.ImpossibleEvidenceError)
    assert "rows 1, 3" in str(info.value)
    out = posterior_batch(model.inference, model.priors, cases, on_impossible="nan")
    assert len(out) == 4
    assert out.loc[[1, 3]].isna().all().all()
    assert out.loc[[0, 2]].notna().all().all()


def test_scorer_pickles_and_is_cached(model):
    scorer = BatchScorer.for_engine(model.inference)
    assert BatchScorer.for_engine(model.inference) is scorer
    cases = random_cases(model, 100, seed=6)
    clone = pickle.loads(pickle.dumps(scorer))
    pd.testing.assert_frame_equal(clone.score(cases), scorer.score(cases), rtol=0, atol=0)


def test_fallback_for_a_large_root_table(model, monkeypatch):
    from fasciculation_dx.inference import batch

    cases = random_cases(model, 300, seed=7)
    expected = BatchScorer(model.inference).score(cases)
    monkeypatch.setattr(batch, "_MAX_ROOT_TABLE", 0)
    got = BatchScorer(model.inference).score(cases)
    pd.testing.assert_frame_equal(got, expected, rtol=0, atol=1e-14)


def test_surrounding_whitespace_is_stripped_from_cells_and_column_names(model):
    """The rule of every case reader: ' yes ' is 'yes', a cell of spaces is empty, headers too."""
    plain = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "weakness": ["yes", "no", ""],
            "calcium": ["low", "", "normal"],
            "setting": [model.setting, "", ""],
        }
    )
    padded = pd.DataFrame(
        {
            " case_id ": ["a", "b", "c"],
            " weakness ": [" yes", "no  ", "   "],
            "calcium\t": ["\tlow ", "", " normal"],
            " setting": [f" {model.setting} ", "", " "],
        }
    )
    want = posterior_batch(model.inference, model.priors, plain, passthrough=["case_id"])
    got = posterior_batch(model.inference, model.priors, padded, passthrough=[" case_id"])
    pd.testing.assert_frame_equal(got, want, rtol=0, atol=0)
    # an invalid state is reported stripped, its spellings with and without spaces together
    with pytest.raises(CaseTableError) as info:
        posterior_batch(model.inference, model.priors, pd.DataFrame({"weakness": [" Yes", "Yes ", "yes", " maybe"]}))
    assert {(p.value, p.rows) for p in info.value.problems} == {("Yes", (0, 1)), ("maybe", (3,))}
    with pytest.raises(CaseTableError, match="appears more than once"):
        posterior_batch(model.inference, model.priors, pd.DataFrame({"weakness": ["yes"], " weakness": ["no"]}))
    with pytest.raises(CaseTableError) as info:
        posterior_batch(model.inference, model.priors, pd.DataFrame({"setting": [" elsewhere "]}))
    assert [(p.value, p.rows) for p in info.value.problems] == [("elsewhere", (0,))]

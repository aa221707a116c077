"""Reading and validating case files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.cases import CaseFileError, read_cases, write_cases

CLINICAL = Path(__file__).parent / "clinical" / "cases.csv"


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


def test_reads_the_clinical_suite(priors):
    cases = read_cases(CLINICAL, priors)
    assert cases.n == len(pd.read_csv(CLINICAL, dtype=str, keep_default_na=False))
    assert cases.has_labels
    assert len(cases.sha256) == 64
    first = cases.evidence(0)
    assert first and all(v in priors.nodes[k].states for k, v in first.items())


def test_empty_cells_are_not_recorded_and_settings_default(priors, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("weakness,setting,etiology\nyes,,als\n,neuromuscular_clinic,\n")
    cases = read_cases(path, priors)
    assert cases.evidence(1) == {}
    assert list(cases.settings("primary_care")) == ["primary_care", "neuromuscular_clinic"]
    assert list(cases.labels()) == ["als", ""]
    assert list(cases.codes(priors)["weakness"]) == [priors.nodes["weakness"].states.index("yes"), -1]


def test_every_invalid_cell_is_reported_at_once_with_row_and_column(priors, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "case_id,weaknes,weakness,motor_axon_loss,setting,etiology\n"
        "a,yes,Yes,present,primary_care,als\n"
        "a,no,no,,clinic,alz\n"
    )
    with pytest.raises(CaseFileError) as info:
        read_cases(path, priors)
    where = {(p.line, p.column) for p in info.value.problems}
    # header: unknown column 2 and latent mechanism column 4; row 2: 'Yes' in column 3;
    # row 3: duplicate case id, unknown setting and etiology
    assert where == {(1, 2), (1, 4), (2, 3), (3, 1), (3, 5), (3, 6)}
    message = str(info.value)
    assert "Did you mean 'weakness'" in message and "Did you mean 'yes'" in message
    assert "latent mechanism" in message
    assert isinstance(info.value, fdx.EvidenceError)


def test_ragged_rows_are_reported(priors, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("weakness,atrophy\nyes\nno,no,no\n")
    with pytest.raises(CaseFileError) as info:
        read_cases(path, priors)
    assert [p.line for p in info.value.problems] == [2, 3]


def test_parquet_round_trip(priors, tmp_path):
    frame = pd.DataFrame({"case_id": ["x", "y"], "weakness": ["yes", ""], "etiology": ["als", ""]}, dtype=object)
    path = write_cases(frame, tmp_path / "c.parquet")
    cases = read_cases(path, priors)
    assert cases.evidence(0) == {"weakness": "yes"} and cases.evidence(1) == {}
    assert list(cases.labels()) == ["als", ""]


def test_data_frames_are_validated_too(priors):
    with pytest.raises(CaseFileError) as info:
        read_cases(pd.DataFrame({"weakness": ["maybe"]}), priors)
    assert (info.value.problems[0].line, info.value.problems[0].column) == (2, 1)


def test_every_problem_is_reported_with_the_ragged_rows(priors, tmp_path):
    """Rows of the wrong length do not hide the problems of the other rows (as in score)."""
    path = tmp_path / "ragged.csv"
    path.write_text("case_id,weakness,atrophy\na,yes,no\nb,yes\n\nc,Yes,no\nd,no,no,no\n")
    with pytest.raises(CaseFileError) as info:
        read_cases(path, priors)
    assert [(p.line, p.column) for p in info.value.problems] == [(3, 0), (4, 0), (5, 2), (6, 0)]
    message = str(info.value)
    assert "the header is row 1, the first patient row 2" in message
    assert "Got 2 instead" in message and "Got 4 instead" in message and "blank row" in message


def test_surrounding_whitespace_is_stripped_from_cells_and_headers(priors, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(" weakness ,etiology \n yes , als\n\t,\n")
    cases = read_cases(path, priors)
    assert list(cases.frame.columns) == ["weakness", "etiology"]
    assert cases.evidence(0) == {"weakness": "yes"} and cases.evidence(1) == {}
    assert list(cases.labels()) == ["als", ""]


def test_a_byte_that_is_not_utf8_is_located(priors, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("case_id,weakness\na,yes\nJosé,no\n".encode("latin-1"))
    with pytest.raises(CaseFileError) as info:
        read_cases(path, priors)
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (3, 1)
    assert "UTF-8" in problem.message and "0xe9" in problem.message


def test_a_file_that_is_not_parquet_is_an_error(priors, tmp_path):
    path = tmp_path / "cases.parquet"
    path.write_text("weakness\nyes\n")
    with pytest.raises(CaseFileError, match="not a readable Parquet file"):
        read_cases(path, priors)
    path.write_bytes(b"")
    with pytest.raises(CaseFileError, match="not a readable Parquet file"):
        read_cases(path, priors)


def test_a_renamed_column_is_read_under_its_current_name(priors, tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("case_id,stimulant_use,weakness\na,yes,no\n")
    cases = read_cases(path, priors)
    assert cases.evidence(0) == {"beta_agonist_or_stimulant": "yes", "weakness": "no"}
    path.write_text("case_id,stimulant_use,beta_agonist_or_stimulant\na,yes,no\n")
    with pytest.raises(CaseFileError, match="former name of 'beta_agonist_or_stimulant'"):
        read_cases(path, priors)


def test_the_weakness_pattern_needs_weakness_in_its_row(priors, tmp_path):
    path = tmp_path / "pattern.csv"
    path.write_text(
        "case_id,weakness,weakness_pattern\n"
        "a,yes,proximal\n"  # valid
        "b,no,distal\n"  # a pattern of weakness in a patient who is not weak
        "c,,generalised\n"  # weakness not recorded
        "d,no,\n"  # valid
    )
    with pytest.raises(CaseFileError) as info:
        read_cases(path, priors)
    assert {(p.line, p.column) for p in info.value.problems} == {(3, 3), (4, 3)}
    assert "record weakness = yes in this row" in str(info.value)

"""Streaming file scoring: CSV and Parquet in and out, chunking, atomic writes, refusing to
overwrite the input, and every problem of the file reported at once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.batch import CaseTableError, ImpossibleCasesError, posterior_batch
from fasciculation_dx.cli_score import add_score_parser, run_score
from fasciculation_dx.scoring import ScoreFileError, score_file

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


def cases_frame(model, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {"case_id": [f"c{i:05d}" for i in range(n)]}
    for node in ("age_group", "sex", "weakness", "atrophy", "emg_fibrillations", "calcium", "progression"):
        states = model.states[node]
        values = np.array(states, dtype=object)[rng.integers(0, len(states), n)]
        values[rng.random(n) < 0.3] = ""
        columns[node] = values
    return pd.DataFrame(columns)


def expected(model, cases: pd.DataFrame) -> pd.DataFrame:
    return posterior_batch(model.inference, model.priors, cases, passthrough=["case_id"])


def write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.replace("", None).to_parquet(path, index=False)


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"case_id": str})
    return pd.read_parquet(path)


@pytest.mark.parametrize("src_ext", [".csv", ".parquet"])
@pytest.mark.parametrize("dst_ext", [".csv", ".parquet"])
def test_round_trip_matches_in_memory(model, tmp_path, src_ext, dst_ext):
    cases = cases_frame(model, 1000)
    src, dst = tmp_path / f"cases{src_ext}", tmp_path / f"out{dst_ext}"
    write(cases, src)
    n = score_file(model, src, dst, chunksize=97)
    assert n == 1000
    got = read(dst)
    want = expected(model, cases).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert list(got["case_id"]) == list(want["case_id"])
    np.testing.assert_allclose(
        got.iloc[:, 1:].to_numpy(float), want.iloc[:, 1:].to_numpy(float), rtol=0, atol=0
    )  # exact: shortest round-trip floats in CSV
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_csv_text_is_kept_and_na_is_not_missing(model, tmp_path):
    src = tmp_path / "cases.csv"
    src.write_text("case_id,weakness\n007,yes\n008,\n009,NA\n")
    with pytest.raises(CaseTableError) as info:
        score_file(model, src, tmp_path / "out.csv")
    assert [(p.column, p.value, p.rows) for p in info.value.problems] == [("weakness", "NA", (3,))]
    src.write_text("case_id,weakness\n007,yes\n008,\n")
    score_file(model, src, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype={"case_id": str})
    assert list(out["case_id"]) == ["007", "008"]


def test_problems_of_every_chunk_are_reported_and_nothing_is_written(model, tmp_path):
    cases = cases_frame(model, 300)
    cases.loc[5, "weakness"] = "Yes"
    cases.loc[250, "weakness"] = "Yes"
    cases.loc[120, "calcium"] = "very low"
    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    write(cases, src)
    dst.write_text("previous results\n")
    with pytest.raises(CaseTableError) as info:
        score_file(model, src, dst, chunksize=100)
    rows = {(p.column, p.value): p.rows for p in info.value.problems}
    assert rows == {("weakness", "Yes"): (6, 251), ("calcium", "very low"): (121,)}
    assert "cases.csv" in str(info.value) and "line = row + 1" in str(info.value)
    assert dst.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "out.csv"]


def test_unknown_column_is_an_error_unless_kept(model, tmp_path):
    src = tmp_path / "cases.csv"
    src.write_text("case_id,site,weakness\na,north,yes\n")
    with pytest.raises(CaseTableError, match="unknown column 'site'"):
        score_file(model, src, tmp_path / "out.csv")
    score_file(model, src, tmp_path / "out.csv", keep=["site"])
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:2]) == ["case_id", "site"] and out.loc[0, "site"] == "north"
    with pytest.raises(ScoreFileError, match="to keep not in"):
        score_file(model, src, tmp_path / "out2.csv", keep=["ward"])


def test_refuses_to_overwrite_the_input(model, tmp_path):
    cases = cases_frame(model, 10)
    src = tmp_path / "cases.csv"
    write(cases, src)
    before = src.read_bytes()
    (tmp_path / "sub").mkdir()
    for same in (src, tmp_path / "sub" / ".." / "cases.csv"):
        with pytest.raises(ScoreFileError, match="refusing to overwrite the input"):
            score_file(model, src, same)
    link = tmp_path / "link.csv"
    os.link(src, link)
    with pytest.raises(ScoreFileError, match="refusing to overwrite the input"):
        score_file(model, src, link)
    symlink = tmp_path / "symlink.csv"
    symlink.symlink_to(src)
    with pytest.raises(ScoreFileError, match="refusing to overwrite the input"):
        score_file(model, symlink, src)
    assert src.read_bytes() == before


def test_bad_paths_and_arguments(model, tmp_path):
    src = tmp_path / "cases.csv"
    write(cases_frame(model, 3), src)
    with pytest.raises(ScoreFileError, match=r"Valid extensions: \.csv, \.parquet, \.pq"):
        score_file(model, src, tmp_path / "out.xlsx")
    with pytest.raises(ScoreFileError, match="does not exist"):
        score_file(model, tmp_path / "missing.csv", tmp_path / "out.csv")
    with pytest.raises(ScoreFileError, match="chunksize"):
        score_file(model, src, tmp_path / "out.csv", chunksize=0)
    with pytest.raises(ScoreFileError, match="directory"):
        score_file(model, src, tmp_path / "nowhere" / "out.csv")


def test_failure_midway_leaves_no_output_and_no_temp_file(model, tmp_path, monkeypatch):
    from fasciculation_dx import scoring

    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    write(cases_frame(model, 300), src)
    calls = {"n": 0}
    original = scoring._Writer.write

    def failing(self, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        original(self, frame)

    monkeypatch.setattr(scoring._Writer, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        score_file(model, src, dst, chunksize=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]


def test_impossible_rows(tmp_path):
    model = fdx.load_model(DATA / "impossible")
    src = tmp_path / "cases.csv"
    src.write_text("tetany_or_paresthesia,emg_fibrillations\nyes,present\nno,\nyes,present\n")
    with pytest.raises(ImpossibleCasesError) as info:
        score_file(model, src, tmp_path / "out.csv", chunksize=2)
    assert info.value.rows == (1, 3)
    assert not (tmp_path / "out.csv").exists()
    score_file(model, src, tmp_path / "out.csv", on_impossible="nan")
    out = pd.read_csv(tmp_path / "out.csv")
    assert out.iloc[[0, 2]].isna().all().all() and out.iloc[1].notna().all()


def test_header_only_file(model, tmp_path):
    src = tmp_path / "cases.csv"
    src.write_text("case_id,weakness\n")
    assert score_file(model, src, tmp_path / "out.parquet") == 0
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 0 and list(out.columns[:1]) == ["case_id"] and "p_pathological" in out.columns


def test_cli_handler(model, tmp_path, capsys):
    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    cases = cases_frame(model, 50)
    write(cases, src)
    parser = argparse.ArgumentParser()
    add_score_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["score", str(src), "-o", str(dst), "--setting", "neuromuscular_clinic", "--chunksize", "7"]
    )
    assert run_score(args) == 0
    assert "scored 50 cases" in capsys.readouterr().err
    clinic = fdx.load_model(setting="neuromuscular_clinic")
    got = pd.read_csv(dst, dtype={"case_id": str})
    want = expected(clinic, cases)
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), want.iloc[:, 1:].to_numpy(float), atol=1e-15)

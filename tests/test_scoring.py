"""Streaming file scoring: CSV and Parquet in and out, chunking, atomic writes, refusing to
overwrite the input or an existing output, the reading rules shared with every reader (ragged and
blank rows, whitespace, UTF-8, spreadsheet row numbers), one-line errors, and every problem of
the file reported at once."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.scoring import ScoreFileError, score_file
from fasciculation_dx.cli.score import add_score_parser, run_score
from fasciculation_dx.errors import OutputError, OutputExistsError
from fasciculation_dx.inference.batch import CaseTableError, ImpossibleCasesError, posterior_batch

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
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".fdx-tmp"))]


def test_csv_text_is_kept_and_na_is_not_missing(model, tmp_path):
    src = tmp_path / "cases.csv"
    src.write_text("case_id,weakness\n007,yes\n008,\n009,NA\n")
    with pytest.raises(CaseTableError) as info:
        score_file(model, src, tmp_path / "out.csv")
    assert [(p.column, p.value, p.rows) for p in info.value.problems] == [("weakness", "NA", (4,))]
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
        score_file(model, src, dst, chunksize=100, overwrite=True)
    rows = {(p.column, p.value): p.rows for p in info.value.problems}
    # spreadsheet rows: the header is row 1, so the case at index 5 is on row 7
    assert rows == {("weakness", "Yes"): (7, 252), ("calcium", "very low"): (122,)}
    assert "cases.csv" in str(info.value) and "the header is row 1" in str(info.value)
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
    with pytest.raises(OutputError, match="folder .* does not exist"):
        score_file(model, src, tmp_path / "nowhere" / "out.csv")


def test_failure_midway_leaves_no_output_and_no_temp_file(model, tmp_path, monkeypatch):
    from fasciculation_dx.analysis import scoring

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
    assert info.value.rows == (2, 4)  # spreadsheet rows: the first case is row 2
    assert "rows 2, 4" in str(info.value) and "the header is row 1" in str(info.value)
    assert not (tmp_path / "out.csv").exists()
    score_file(model, src, tmp_path / "out.csv", on_impossible="nan")  # chunks of the default size
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


# -- the reading rules every reader shares ----------------------------------------------------------
def test_truncated_and_long_rows_are_rejected_with_their_row(model, tmp_path):
    """A row with too few fields must not be scored with the missing cells as unobserved."""
    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    src.write_text(
        "case_id,weakness,atrophy\n"
        "a,yes,no\n"
        "b,yes\n"  # row 3: truncated
        "c,no,no\n"
        "d,no,no,extra\n"  # row 5: a stray field
        "e,Yes,no\n"  # row 6: an invalid state after the skipped rows keeps its own row number
    )
    with pytest.raises(CaseTableError) as info:
        score_file(model, src, dst, chunksize=2)
    found = {(p.message, p.rows) for p in info.value.problems}
    assert found == {
        ("row must have 3 fields like the header. Got 2 instead", (3,)),
        ("row must have 3 fields like the header. Got 4 instead", (5,)),
        (next(p.message for p in info.value.problems if p.column == "weakness"), (6,)),
    }
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]
    # the reader of calibrate and evaluate rejects the same rows
    from fasciculation_dx.analysis.cases import CaseFileError, read_cases

    with pytest.raises(CaseFileError) as cases_info:
        read_cases(src, model.priors)
    assert {p.line for p in cases_info.value.problems} == {3, 5, 6}


def test_row_numbers_are_spreadsheet_rows_in_every_reader(model, tmp_path):
    """The header is row 1 and the first patient row 2, in score as in calibrate and evaluate."""
    from fasciculation_dx.analysis.cases import CaseFileError, read_cases

    src = tmp_path / "cases.csv"
    src.write_text("weakness,atrophy\nyes,no\n\nYes,no\nno,maybe\n")  # row 3 is blank
    with pytest.raises(CaseTableError) as info:
        score_file(model, src, tmp_path / "out.csv")
    scored = {p.value or p.message: p.rows for p in info.value.problems}
    assert scored == {"Yes": (4,), "maybe": (5,), "blank row; every row after the header must be a patient": (3,)}
    with pytest.raises(CaseFileError) as cases_info:
        read_cases(src, model.priors)
    assert sorted(p.line for p in cases_info.value.problems) == [3, 4, 5]
    # the same in a Parquet file: its first row is row 2, as if written as CSV
    pq = tmp_path / "cases.parquet"
    pd.DataFrame({"weakness": ["yes", "Yes"], "atrophy": ["no", "no"]}).to_parquet(pq, index=False)
    with pytest.raises(CaseTableError) as info:
        score_file(model, pq, tmp_path / "out.csv")
    assert info.value.problems[0].rows == (3,)
    with pytest.raises(CaseFileError) as cases_info:
        read_cases(pq, model.priors)
    assert [p.line for p in cases_info.value.problems] == [3]


def test_quoted_line_breaks_count_as_one_row(model, tmp_path):
    src = tmp_path / "cases.csv"
    src.write_text('case_id,weakness\n"two\nlines",yes\nb,Yes\n')
    with pytest.raises(CaseTableError) as info:
        score_file(model, src, tmp_path / "out.csv")
    assert info.value.problems[0].rows == (3,)  # the spreadsheet row, not the file's line 4
    src.write_text('case_id,weakness\n"two\nlines",yes\nb,no\n')
    assert score_file(model, src, tmp_path / "out.csv") == 2
    assert list(pd.read_csv(tmp_path / "out.csv")["case_id"]) == ["two\nlines", "b"]


def test_surrounding_whitespace_is_stripped_like_every_reader(model, tmp_path):
    cases = cases_frame(model, 40)
    padded = cases.copy()
    for column in ("weakness", "calcium"):
        padded[column] = " " + padded[column] + "  "
    padded = padded.rename(columns={"weakness": " weakness ", "case_id": "case_id "})
    src = tmp_path / "cases.csv"
    write(padded, src)
    score_file(model, src, tmp_path / "out.csv")
    got = read(tmp_path / "out.csv")
    want = expected(model, cases).reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), want.iloc[:, 1:].to_numpy(float), atol=0)
    # the same file through the reader of calibrate and evaluate
    from fasciculation_dx.analysis.cases import read_cases

    validated = read_cases(src, model.priors)
    assert list(validated.frame["weakness"]) == list(cases["weakness"])


def test_csv_header_only_and_no_final_line_break(model, tmp_path):
    src = tmp_path / "cases.csv"
    for text in ("case_id,weakness\n", "case_id,weakness"):
        src.write_text(text)
        assert score_file(model, src, tmp_path / "out.csv", overwrite=True) == 0
        out = pd.read_csv(tmp_path / "out.csv")
        assert len(out) == 0 and list(out.columns[:2]) == ["case_id", model.etiologies[0]]
    src.write_text("case_id,weakness\na,yes")
    assert score_file(model, src, tmp_path / "out.csv", overwrite=True) == 1


# -- one-line errors ---------------------------------------------------------------------------------
def _cli(argv: list[str], capsys) -> tuple[int, str]:
    from fasciculation_dx.cli.main import main

    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty; it must start with a header row"),
        ("long.csv", b"case_id,weakness\na,yes\nb,no,no\n", "row must have 2 fields like the header. Got 3 instead"),
        ("short.csv", b"case_id,weakness,atrophy\na,yes\n", "row must have 3 fields like the header. Got 2 instead"),
        ("latin1.csv", "case_id,weakness\na,yes\nJosé,yes\n".encode("latin-1"), "row 3, column 1"),
        ("latin1_header.csv", "cas\xe9,weakness\na,yes\n".encode("latin-1"), "row 1, column 1"),
        ("blank_only.csv", b"\n\n", "no header row"),
        ("text.parquet", b"case_id,weakness\na,yes\n", "is not a readable Parquet file"),
        ("empty.parquet", b"", "is not a readable Parquet file"),
    ],
)
def test_bad_inputs_get_one_error_line_not_a_traceback(tmp_path, capsys, name, content, message):
    src = tmp_path / name
    src.write_bytes(content)
    code, err = _cli(["score", str(src), "-o", str(tmp_path / "out.csv"), "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("fasciculation-dx: error: ") and "Traceback" not in err
    assert message in err
    if "latin1" in name:
        assert "byte 0xe9" in err and "UTF-8" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_header_only_is_a_valid_empty_output(tmp_path, capsys):
    src = tmp_path / "cases.csv"
    src.write_text("case_id,weakness\n")
    code, err = _cli(["score", str(src), "-o", str(tmp_path / "out.csv")], capsys)
    assert code == 0 and "scored 0 cases" in err
    assert list(pd.read_csv(tmp_path / "out.csv").columns)[0] == "case_id"


def test_output_is_checked_before_anything_is_read(model, tmp_path, capsys, monkeypatch):
    from fasciculation_dx.analysis import scoring

    src = tmp_path / "cases.csv"
    write(cases_frame(model, 20), src)

    def must_not_read(*args, **kwargs):
        raise AssertionError("the input was read before the output was checked")

    monkeypatch.setattr(scoring, "_CsvChunks", must_not_read)
    monkeypatch.setattr(scoring.BatchScorer, "encode", must_not_read)
    (tmp_path / "existing_dir.csv").mkdir()
    code, err = _cli(["score", str(src), "-o", str(tmp_path / "existing_dir.csv")], capsys)
    assert code == 2 and "is a directory" in err and len(err.splitlines()) == 1
    code, err = _cli(["score", str(src), "-o", str(tmp_path / "missing" / "out.csv")], capsys)
    assert code == 2 and "does not exist" in err
    # a read-only folder (root may write anyway, so the permission check is simulated as well)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.geteuid() == 0:
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real(p, mode, **kw))
        code, err = _cli(["score", str(src), "-o", str(locked / "out.csv")], capsys)
        assert code == 2 and "permission denied" in err and len(err.splitlines()) == 1
    finally:
        locked.chmod(0o755)
    assert not list(locked.iterdir())


# -- refusing and replacing an existing output --------------------------------------------------------
def test_an_existing_output_is_replaced_only_with_overwrite(model, tmp_path, capsys):
    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    write(cases_frame(model, 30), src)
    dst.write_text("previous results\n")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        score_file(model, src, dst)
    code, err = _cli(["score", str(src), "-o", str(dst)], capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert dst.read_text() == "previous results\n"
    code, err = _cli(["score", str(src), "-o", str(dst), "--overwrite"], capsys)
    assert code == 0
    assert len(pd.read_csv(dst)) == 30
    # the input is never the output, even with --overwrite
    code, err = _cli(["score", str(src), "-o", str(tmp_path / "sub" / ".." / "cases.csv"), "--overwrite"], capsys)
    assert code == 2 and "refusing to overwrite the input" in err


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_temporaries_of_dead_writers_are_removed_by_the_next_run(model, tmp_path):
    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    write(cases_frame(model, 10), src)
    stale = tmp_path / f".out.csv.{_dead_pid()}.0123abcd.fdx-tmp"
    stale.write_text("half a file")
    other = tmp_path / f".other.csv.{_dead_pid()}.0123abcd.fdx-tmp"  # another output's: not ours to remove
    other.write_text("half a file")
    score_file(model, src, dst)
    assert not stale.exists()
    assert other.exists()
    assert len(pd.read_csv(dst)) == 10


def test_a_live_writers_temporary_is_left_alone(model, tmp_path):
    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    write(cases_frame(model, 10), src)
    live = tmp_path / f".out.csv.{os.getpid()}.0123abcd.fdx-tmp"  # this process: running
    live.write_text("being written")
    score_file(model, src, dst)
    assert live.read_text() == "being written"
    assert len(pd.read_csv(dst)) == 10


def test_score_killed_midway_leaves_the_old_output_whole(model, tmp_path):
    """SIGKILL after the first chunk is written: the old output is untouched; a rerun completes."""
    import subprocess
    import sys

    src, dst = tmp_path / "cases.csv", tmp_path / "out.csv"
    cases = cases_frame(model, 500)
    write(cases, src)
    write(cases_frame(model, 3, seed=9), tmp_path / "old.csv")
    score_file(model, tmp_path / "old.csv", dst)
    old = dst.read_bytes()
    argv = [sys.executable, "-m", "fasciculation_dx", "score", str(src), "-o", str(dst), "--chunksize", "100"]
    argv += ["--overwrite", "--no-progress"]
    env = dict(os.environ, FASCICULATION_DX_KILL_AT="score:chunk")
    killed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    assert dst.read_bytes() == old
    assert len(pd.read_csv(dst)) == 3
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".fdx-tmp")]
    assert leftovers and all(p.name.startswith(".out.csv.") for p in leftovers)
    assert 0 < leftovers[0].stat().st_size  # the kill happened midway: one chunk was written
    env.pop("FASCICULATION_DX_KILL_AT")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = read(dst)
    want = expected(model, cases).reset_index(drop=True)
    assert list(got["case_id"]) == list(want["case_id"])
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float), want.iloc[:, 1:].to_numpy(float), atol=0)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".fdx-tmp")]

"""Bad input and hostile destinations get one-line errors and lose nothing."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli.main import main

TINY = Path(__file__).parent / "data" / "tiny"


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refusals
            code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody can write into, root included: a read-only tmpfs when running as root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if immutable.returncode != 0:
            pytest.skip("cannot make a read-only folder as root here (no mount, no chattr)")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="module")
def cases_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cases") / "cases.csv"
    code, _, err = _cli(["simulate", "-n", "200", "--seed", "3", "-o", str(path)])
    assert code == 0, err
    return path


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


# -- read-only destinations ---------------------------------------------------------------------------
def test_readonly_destinations_are_one_line_errors(readonly_dir, cases_file):
    target = readonly_dir / "out"
    code, _, err = _cli(["simulate", "-n", "10", "-o", f"{target}.csv"])
    _one_line_error(code, err, "readonly")
    code, _, err = _cli(["export", "--format", "bif", "--priors", str(TINY), "-o", f"{target}.bif"])
    _one_line_error(code, err, "readonly")
    code, _, err = _cli(["calibrate", str(cases_file), "--out", str(target), "--max-iter", "1"])
    _one_line_error(code, err, "readonly")
    code, _, err = _cli(["score", str(cases_file), "-o", f"{target}.csv"])
    _one_line_error(code, err, "readonly")
    code, _, err = _cli(["report", "--out", str(target), "--draws", "2"])
    _one_line_error(code, err, "readonly")
    assert list(readonly_dir.iterdir()) == []


# -- arguments outside their range --------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, words",
    [
        (["query", "--interval", "0.9", "--seed", "-1", "weakness=yes"], ["--seed", "at least 0"]),
        (["query", "--top", "-3", "weakness=yes"], ["--top", "at least 1"]),
        (["query", "--draws", "1", "--interval", "0.9", "weakness=yes"], ["--draws"]),
        (["simulate", "-n", "-5", "-o", "x.csv"], ["-n"]),
        (["simulate", "-n", "10", "--missing", "1.5", "-o", "x.csv"], ["fraction"]),
        (["calibrate", "c.csv", "--out", "d", "--top", "-1"], ["--top"]),
        (["calibrate", "c.csv", "--out", "d", "--tol", "0"], ["above 0"]),
    ],
)
def test_arguments_out_of_range_are_refused(argv, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(argv)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("fasciculation-dx")
    for word in words:
        assert word in err
    assert list(tmp_path.iterdir()) == []


def test_a_huge_cohort_is_refused_before_anything_is_allocated(tmp_path):
    code, _, err = _cli(["simulate", "-n", "100000000000", "-o", str(tmp_path / "x.csv")])
    _one_line_error(code, err, "10,000,000", "100,000,000,000")
    with pytest.raises(fdx.FasciculationDxError, match="from 0 to 10,000,000"):
        from fasciculation_dx.analysis.simulate import simulate

        simulate(fdx.load_priors(fdx.shipped_priors_dir()), 10**11)
    assert list(tmp_path.iterdir()) == []


def test_calibrate_top_zero_prints_no_table(cases_file, tmp_path):
    code, out, err = _cli(
        ["calibrate", str(cases_file), "--out", str(tmp_path / "cal"), "--max-iter", "2", "--top", "0"]
    )
    assert code == 0, err
    assert "Empty DataFrame" not in out and "largest changes" not in out


def test_seed_must_not_be_negative_in_python_either():
    model = fdx.load_model()
    with pytest.raises(fdx.FasciculationDxError, match="seed must be a whole number >= 0"):
        model.posterior({"weakness": "yes"}, interval=0.9, draws=10, seed=-1)


# -- evidence of the wrong type -----------------------------------------------------------------------
@pytest.mark.parametrize("state", [np.array(["yes"]), pd.NA, None, 1, ["yes"], np.nan])
def test_evidence_values_that_are_not_strings_are_evidence_errors(state):
    model = fdx.load_model()
    with pytest.raises(fdx.EvidenceError, match="must be a string, one of: no, yes"):
        model.posterior({"weakness": state})


def test_a_node_name_that_is_not_a_string_is_an_evidence_error():
    with pytest.raises(fdx.EvidenceError, match="as a string"):
        fdx.load_model().posterior({("weakness",): "yes"})


# -- validate on hostile priors directories -----------------------------------------------------------
def _chain(directory: Path, length: int) -> Path:
    """Copy the tiny priors and hang a chain of ``length`` findings under ``weakness``.

    The names are numbered so that the search starts at the deepest node.
    """
    import shutil

    shutil.copytree(TINY, directory)

    def parent(i: int) -> str:
        return "weakness" if i == length - 1 else f"chain_{i + 1:05d}"

    with open(directory / "nodes.csv", "a") as nodes, open(directory / "states.csv", "a") as states:
        with open(directory / "edges.csv", "a") as edges, open(directory / "tests.csv", "a") as tests:
            for i in range(length):
                nodes.write(f"chain_{i:05d},finding,examination,link {i}\n")
                states.write(f"chain_{i:05d},no\nchain_{i:05d},yes\n")
                edges.write(f"{parent(i)},chain_{i:05d}\n")
                tests.write(f"chain_{i:05d},bedside_examination,none,none,test_estimate,link {i}\n")
    for i in range(length):
        rows = [f"{parent(i)},state,probability,low,high,source_id,note"]
        for p in ("no", "yes"):
            rows += [f"{p},no,0.9,0.8,0.95,test_estimate,x", f"{p},yes,0.1,0.05,0.2,test_estimate,x"]
        (directory / "cpts" / f"chain_{i:05d}.csv").write_text("\n".join(rows) + "\n")
    return directory


def test_validate_a_deep_chain_without_recursion_error(tmp_path):
    directory = _chain(tmp_path / "deep", 1500)
    assert fdx.validate_priors(directory) == []
    # and a cycle at the bottom of the chain is still found
    with open(directory / "edges.csv", "a") as edges:
        edges.write("chain_00000,chain_01499\n")
    text = (directory / "cpts" / "chain_01499.csv").read_text().splitlines()
    header = "weakness,chain_00000,state,probability,low,high,source_id,note"
    rows = [
        f"{w},{c},{s},{p},{lo},{hi},test_estimate,x"
        for w in ("no", "yes")
        for c in ("no", "yes")
        for s, p, lo, hi in (("no", "0.9", "0.8", "0.95"), ("yes", "0.1", "0.05", "0.2"))
    ]
    assert text[0].startswith("weakness,")
    (directory / "cpts" / "chain_01499.csv").write_text("\n".join([header, *rows]) + "\n")
    problems = fdx.validate_priors(directory)
    assert any("acyclic" in p.message for p in problems)
    code, _, err = _cli(["query", "--priors", str(directory), "weakness=yes"])
    assert code == 1 and "Traceback" not in err


def test_validate_names_a_directory_and_a_symlink_loop(tmp_path):
    import shutil

    directory = tmp_path / "priors"
    shutil.copytree(TINY, directory)
    (directory / "settings.csv").unlink()
    (directory / "settings.csv").mkdir()
    (directory / "sources.csv").unlink()
    (directory / "sources.csv").symlink_to("sources.csv")
    (directory / "cpts" / "sex.csv").unlink()
    (directory / "cpts" / "sex.csv").symlink_to("elsewhere.csv")
    messages = {p.file: p.message for p in fdx.validate_priors(directory)}
    assert messages["settings.csv"] == "file must be a regular file. Got a directory instead"
    assert messages["sources.csv"] == "file must be a regular file. Got a symbolic link loop instead"
    assert "broken symbolic link" in messages["cpts/sex.csv"]
    proc = subprocess.run(
        [sys.executable, "-m", "fasciculation_dx", "validate", str(directory)], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "settings.csv:0:0: file must be a regular file. Got a directory instead" in proc.stdout

"""``fasciculation-dx validate``: exit status and ``file:line:col: message`` output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fasciculation_dx.cli.main import main

DATA = Path(__file__).parent / "data"
LOCATED = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def test_validate_valid_directory_returns_0(capsys):
    assert main(["validate", str(DATA / "tiny")]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{DATA / 'tiny'}: valid"
    assert err == ""


def test_validate_shipped_priors_by_default(capsys):
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.strip().endswith(": valid")


def test_validate_bad_directory_returns_1_with_located_lines(capsys):
    assert main(["validate", str(DATA / "bad_several")]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 5
    parsed = [LOCATED.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["file"], int(m["line"]), int(m["col"])) for m in parsed] == [
        ("base_rates.csv", 6, 6),
        ("cpts/caffeine.csv", 3, 2),
        ("cpts/calcium.csv", 2, 0),
        ("etiology_modifiers.csv", 0, 0),
        ("states.csv", 13, 1),
    ]
    assert "5 problems in" in err


@pytest.mark.parametrize("fixture", ["bad_cycle", "bad_not_utf8", "bad_bom", "bad_top_header"])
def test_validate_single_problem(fixture, capsys):
    assert main(["validate", str(DATA / fixture)]) == 1
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert LOCATED.match(line), line
    assert "1 problem in" in err


def test_validate_missing_directory_returns_1(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere")]) == 1
    out, _ = capsys.readouterr()
    assert LOCATED.match(out.splitlines()[0])
    assert "does not exist" in out


def test_query_with_invalid_priors_reports_problems_without_traceback(capsys):
    assert main(["query", "--priors", str(DATA / "bad_cycle"), "weakness=yes"]) == 1
    out, err = capsys.readouterr()
    assert "edges.csv:0:0: the network must be acyclic" in err
    assert "Traceback" not in out + err


def test_python_m_validate_bad_dir_exits_1_without_traceback():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    run = subprocess.run(
        [sys.executable, "-m", "fasciculation_dx", "validate", str(DATA / "bad_several")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 5 and all(LOCATED.match(line) for line in lines), run.stdout
    assert "cpts/caffeine.csv:3:2: probability must be a probability in [0, 1]. Got 1.3 instead" in lines


def test_python_m_validate_tiny_exits_0():
    run = subprocess.run(
        [sys.executable, "-m", "fasciculation_dx", "validate", str(DATA / "tiny")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith(": valid")

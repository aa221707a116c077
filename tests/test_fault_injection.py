"""Fault injection: every writing command killed with SIGKILL at named points loses nothing.

Each command is run in a subprocess with ``FASCICULATION_DX_KILL_AT`` naming a checkpoint (see
:mod:`fasciculation_dx.atomic`), over a destination that holds the complete output of an earlier
run with other arguments. After the kill the destination must hold exactly the old output or
exactly the new one (compared file by file with a reference run); after the next successful run
it holds the new output and no temporary file or folder is left beside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fasciculation_dx.atomic import KILL_ENV

TINY = Path(__file__).parent / "data" / "tiny"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _run(args: list[str], kill_at: str | None = None, extra_env: dict[str, str] | None = None, code: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    env.update(extra_env or {})
    if kill_at is not None:
        env[KILL_ENV] = kill_at
    command = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "fasciculation_dx", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def _snapshot(path: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _strays(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    path = folder / "cases.csv"
    done = _run(["simulate", "-n", "3000", "--seed", "5", "--missing", "0.2", "-o", str(path)])
    assert done.returncode == 0, done.stderr
    return path


def _check_kills(tmp_path: Path, make_args, checkpoints: list[str], old_args, target_name: str) -> None:
    """Run ``make_args(target)`` killed at each checkpoint over an old output; check all-or-nothing."""
    target = tmp_path / target_name
    done = _run(old_args(target))
    assert done.returncode == 0, done.stderr
    old = _snapshot(target)
    after_kill = {}
    for point in checkpoints:
        killed = _run(make_args(target), kill_at=point)
        assert killed.returncode == -signal.SIGKILL, f"{point} was never reached: {killed.stderr}"
        after_kill[point] = _snapshot(target)
        if after_kill[point] != old and point != checkpoints[-1]:  # put the old output back
            done = _run(old_args(target))
            assert done.returncode == 0, done.stderr
    done = _run(make_args(target))
    assert done.returncode == 0, done.stderr
    new = _snapshot(target)
    assert old and new and old != new
    for point, after in after_kill.items():
        assert after in (old, new), f"killed at {point}: the destination holds a mix of old and new"
    assert _strays(target) == [], "temporary files of killed runs were not cleaned up"


def test_score_killed_midway(tmp_path, cohort):
    other_cohort = tmp_path / "other.csv"
    assert _run(["simulate", "-n", "200", "--seed", "9", "-o", str(other_cohort)]).returncode == 0
    _check_kills(
        tmp_path,
        lambda out: ["score", str(cohort), "-o", str(out), "--chunksize", "500", "--overwrite"],
        ["score:chunk", "atomic:before-rename"],
        lambda out: ["score", str(other_cohort), "-o", str(out), "--overwrite"],
        "posteriors.csv",
    )


def test_simulate_killed_midway(tmp_path):
    _check_kills(
        tmp_path,
        lambda out: ["simulate", "-n", "500", "--seed", "1", "-o", str(out), "--overwrite"],
        ["simulate:written", "atomic:before-rename"],
        lambda out: ["simulate", "-n", "300", "--seed", "2", "-o", str(out), "--overwrite"],
        "cases.parquet",
    )


def test_export_killed_midway(tmp_path):
    _check_kills(
        tmp_path,
        lambda out: ["export", "--format", "xmlbif", "--priors", str(TINY), "-o", str(out), "--overwrite"],
        ["export:written", "atomic:before-rename"],
        lambda out: [
            *("export", "--format", "xmlbif", "--priors", str(TINY), "--setting", "neuromuscular_clinic"),
            *("-o", str(out), "--overwrite"),
        ],
        "network.xml",
    )


def test_calibrate_killed_midway(tmp_path, cohort):
    _check_kills(
        tmp_path,
        lambda out: ["calibrate", str(cohort), "--out", str(out), "--max-iter", "2", "--overwrite"],
        ["calibrate:written", "atomic:before-swap", "atomic:after-exchange"],
        lambda out: ["calibrate", str(cohort), "--out", str(out), "--max-iter", "1", "--overwrite"],
        "calibrated",
    )


def _fake_old_report(out: Path) -> dict[str, str]:
    """An earlier report: only files the command writes, with its provenance marker."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "provenance.json").write_text('{"old": true}\n')
    (out / "README.md").write_text("# an older report\n")
    (out / "figures" / "structure.svg").write_text("<svg/>\n")
    return _snapshot(out)


def test_report_killed_midway(tmp_path):
    # the command's own code path (build_reports) with one scenario and no case suite, to stay fast
    target = tmp_path / "reports"
    code = (
        "from fasciculation_dx.reporting.report import build_reports\n"
        "from fasciculation_dx.reporting.scenarios import SCENARIOS\n"
        f"build_reports({str(target)!r}, draws=2, top=3, thresholds=0, scenarios=SCENARIOS[:1], "
        f"cases_dir={str(tmp_path / 'no-cases')!r})\n"
    )
    after_kill = {}
    for point in ("report:model-card-written", "atomic:after-exchange"):
        if target.exists():
            shutil.rmtree(target)
        old = _fake_old_report(target)
        killed = _run([], kill_at=point, code=code)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        after_kill[point] = _snapshot(target)
    done = _run([], code=code)
    assert done.returncode == 0, done.stderr
    new = _snapshot(target)
    assert after_kill["report:model-card-written"] == old
    assert after_kill["atomic:after-exchange"] == new
    assert _strays(target) == []


def test_directory_swap_without_exchange_recovers_the_old_directory(tmp_path, cohort):
    """Where renameat2 is unavailable, a kill between the two renames is undone by the next run."""
    target = tmp_path / "calibrated"
    assert _run(["calibrate", str(cohort), "--out", str(target), "--max-iter", "1"]).returncode == 0
    old = _snapshot(target)
    code = (
        "import sys\n"
        "from fasciculation_dx import atomic\n"
        "atomic._EXCHANGE = None\n"
        "from fasciculation_dx.cli.main import main\n"
        f"sys.exit(main(['calibrate', {str(cohort)!r}, '--out', {str(target)!r}, '--max-iter', '2', '--overwrite']))\n"
    )
    killed = _run([], kill_at="atomic:between-renames", code=code)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not target.exists()  # the window the fallback has: the old directory is aside
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".calibrated.") and p.name.endswith(".fdx-old")]
    assert len(aside) == 1 and _snapshot(aside[0]) == old
    from fasciculation_dx.atomic import clean_stale

    clean_stale(target)  # what the next run on the target does first
    assert _snapshot(target) == old
    assert _strays(target) == []

"""Fixtures shared by the test files."""

from __future__ import annotations

import pytest

from fasciculation_dx.cli import main as cli


@pytest.fixture
def run_cli(capsys):
    """Run the command line in-process; return ``(exit code, stdout, stderr)``."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run

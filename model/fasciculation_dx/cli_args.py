"""Options shared by the ``fasciculation-dx`` commands, and loading what they name."""

from __future__ import annotations

import argparse
from pathlib import Path

from .priors import DEFAULT_SETTING, Priors

__all__ = ["add_priors_option", "add_setting_option", "load_priors_option"]


def add_priors_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--priors DIR`` (default: the shipped priors)."""
    parser.add_argument(
        "--priors", metavar="DIR", type=Path, default=None, help="priors directory (default: the shipped priors)"
    )


def add_setting_option(
    parser: argparse.ArgumentParser,
    help: str = "care setting: primary_care (default) or neuromuscular_clinic",
) -> None:
    """Add ``--setting`` (default ``primary_care``)."""
    parser.add_argument("--setting", default=DEFAULT_SETTING, help=help)


def load_priors_option(directory: Path | None) -> Priors:
    """Load the priors named by ``--priors``, or the shipped ones."""
    from .loader import load_priors
    from .paths import shipped_priors_dir

    return load_priors(directory if directory is not None else shipped_priors_dir())

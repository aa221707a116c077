"""Options shared by the ``fasciculation-dx`` commands, and loading what they name."""

from __future__ import annotations

import argparse
import csv
import functools
from pathlib import Path

from ..network.priors import DEFAULT_SETTING, Priors
from ..reporting.report_text import SETTING_CHOICE

__all__ = [
    "add_priors_option",
    "add_setting_option",
    "setting_help",
    "shipped_settings",
    "load_priors_option",
    "whole_number",
    "fraction",
    "positive_number",
]


def add_priors_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--priors DIR`` (default: the shipped priors)."""
    parser.add_argument(
        "--priors", metavar="DIR", type=Path, default=None, help="priors directory (default: the shipped priors)"
    )


def shipped_settings() -> dict[str, str]:
    """Read the care settings and their descriptions from the shipped ``settings.csv``.

    Only the small CSV file is read (not the whole priors), so ``--help`` stays fast. A missing or
    unreadable file gives an empty mapping: the help then names the default setting only.

    Returns
    -------
    dict
        ``{setting: description}`` in the file's order.
    """
    return dict(_read_shipped_settings())


@functools.cache
def _read_shipped_settings() -> tuple[tuple[str, str], ...]:
    from ..network.paths import shipped_priors_dir

    try:
        with open(shipped_priors_dir() / "settings.csv", newline="", encoding="utf-8") as handle:
            return tuple((row["setting"], row["description"]) for row in csv.DictReader(handle) if row.get("setting"))
    except (OSError, KeyError, csv.Error, UnicodeDecodeError):
        return ()


def setting_help() -> str:
    """Return the ``--setting`` help: each shipped setting, what it means, and when to use it."""
    settings = shipped_settings() or {DEFAULT_SETTING: "the default"}
    described = "; ".join(f"{name}: {text}" for name, text in settings.items())
    return f"care setting (default {DEFAULT_SETTING}). {described}. {SETTING_CHOICE}"


def add_setting_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """Add ``--setting`` (default ``primary_care``); without ``help``, describe each shipped setting."""
    parser.add_argument("--setting", default=DEFAULT_SETTING, help=help if help is not None else setting_help())


def load_priors_option(directory: Path | None) -> Priors:
    """Load the priors named by ``--priors``, or the shipped ones."""
    from ..network.loader import load_priors
    from ..network.paths import shipped_priors_dir

    return load_priors(directory if directory is not None else shipped_priors_dir())


def whole_number(low: int, what: str = "a whole number", high: int | None = None):
    """Return an argparse type that accepts an integer from ``low`` (to ``high``), else says what is valid.

    Parameters
    ----------
    low, high
        The smallest and largest values accepted (``high`` None: no upper bound).
    what
        What the number is, for the message.

    Returns
    -------
    callable
        A function from the argument's text to an ``int``.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"of at least {low:,}"
            raise argparse.ArgumentTypeError(f"{what} must be a whole number {span}. Got '{text}' instead")
        return value

    return parse


def _number(text: str, valid, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not valid(value):  # NaN fails every comparison
        raise argparse.ArgumentTypeError(f"expected {what}. Got '{text}' instead")
    return value


def fraction(text: str) -> float:
    """Argparse type: a number in [0, 1]."""
    return _number(text, lambda v: 0.0 <= v <= 1.0, "a fraction from 0 to 1")


def positive_number(text: str) -> float:
    """Argparse type: a finite number above 0."""
    return _number(text, lambda v: 0.0 < v < float("inf"), "a number above 0")

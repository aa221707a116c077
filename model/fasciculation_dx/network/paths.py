"""Where the shipped priors live, in a source checkout and in an installed package."""

from __future__ import annotations

from pathlib import Path

__all__ = ["shipped_priors_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def shipped_priors_dir() -> Path:
    """Return the directory of the priors shipped with the package.

    An installed wheel carries them inside the package (``fasciculation_dx/priors``); a source
    checkout keeps them at the repository's top level (``priors/``).

    Returns
    -------
    pathlib.Path
        The directory holding ``nodes.csv`` and the other priors files.
    """
    for candidate in (_PACKAGE_DIR / "priors", _PACKAGE_DIR.parents[1] / "priors"):
        if (candidate / "nodes.csv").is_file():
            return candidate
    raise FileNotFoundError(
        "the shipped priors were not found: looked in "
        f"{_PACKAGE_DIR / 'priors'} and {_PACKAGE_DIR.parents[1] / 'priors'}"
    )

"""Regenerate ``reports/``: the model card, the sensitivity reports and the clinical case results.

One call, :func:`build_reports`, writes every report from a priors directory:

``README.md``
    The index, with the provenance stamp.
``model_card.md``
    Every node with its states, every parameter with its value, plausible range and source, the
    sources with their citations, and the structure as a figure (``figures/structure.png`` /
    ``.svg``: the layered DAG drawn with matplotlib). ``tables/parameters.csv`` holds the same
    parameters with the full citation, machine-readable.
``sensitivity.md``
    For each named scenario of :mod:`fasciculation_dx.reporting.scenarios`: the posterior in both care
    settings, the one-way screening of every parameter (tornado figure and top-parameter table),
    the thresholds of the top parameters for a 5% probability of a pathological cause, and Monte
    Carlo credible intervals (figure and table).
``clinical_cases.md``
    The clinical case suite (``tests/clinical/cases.csv``) and the reachability set
    (``reachability.csv``) when present: the rank of the true etiology for every case, top-1 and
    top-3 accuracy.
``provenance.json``
    The stamp, machine-readable.

Every report is stamped with the package version, the git commit of the package source
(``"unknown"`` outside a git checkout) and the SHA-256 of every file of the priors directory.
The output is deterministic given the seed: no timestamps, Monte Carlo seeded, and matplotlib's
SVG hash salt and file metadata fixed so that PNG and SVG bytes are reproducible on one machine.

matplotlib is needed (the ``notebooks`` extra).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_directory, checkpoint
from ..errors import FasciculationDxError
from ..model import Model
from ..network.loader import load_priors
from ..network.paths import shipped_priors_dir
from .clinical_report import clinical_dir, write_clinical
from .markdown import matplotlib_module, stamp_markdown, write_text
from .model_card import draw_structure, write_model_card
from .scenarios import SCENARIOS, Scenario
from .sensitivity_report import write_sensitivity

__all__ = ["build_reports", "provenance", "priors_hashes", "git_commit", "draw_structure", "REPORT_FILES"]

REPORT_FILES = ("README.md", "model_card.md", "sensitivity.md", "clinical_cases.md", "provenance.json")
"""The top-level files that :func:`build_reports` writes (figures and tables go to subfolders)."""


_PACKAGE_DIR = Path(__file__).resolve().parents[1]


# -- provenance -----------------------------------------------------------------------------------
def priors_hashes(priors_dir: str | Path) -> dict[str, str]:
    """Return the SHA-256 of every file of a priors directory.

    Parameters
    ----------
    priors_dir
        The directory.

    Returns
    -------
    dict
        ``relative posix path -> hex digest``, sorted by path; hidden files and folders and
        ``__pycache__`` are skipped.
    """
    root = Path(priors_dir)
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            continue
        out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def git_commit(directory: str | Path | None = None) -> str:
    """Return the git commit (full hash) of the checkout holding ``directory``, or ``"unknown"``.

    Parameters
    ----------
    directory
        Any path inside the checkout; the package's source directory by default.
    """
    where = Path(directory) if directory is not None else _PACKAGE_DIR
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else "unknown"


def provenance(priors_dir: str | Path | None = None, seed: int = 0) -> dict:
    """Return the stamp of a set of reports.

    Parameters
    ----------
    priors_dir
        The priors directory; the shipped priors by default.
    seed
        The Monte Carlo seed.

    Returns
    -------
    dict
        ``package``, ``version``, ``commit``, ``seed``, ``priors`` (``"shipped"`` or the
        directory's name; never an absolute path, so that the bytes do not depend on where the
        reports are built) and ``priors_sha256`` (see :func:`priors_hashes`).
    """
    from .._version import __version__

    directory = Path(priors_dir) if priors_dir is not None else shipped_priors_dir()
    shipped = directory.resolve() == shipped_priors_dir().resolve()
    return {
        "package": "fasciculation_dx",
        "version": __version__,
        "commit": git_commit(),
        "seed": seed,
        "priors": "shipped" if shipped else directory.name,
        "priors_sha256": priors_hashes(directory),
    }


def build_reports(
    out_dir: str | Path = "reports",
    priors_dir: str | Path | None = None,
    seed: int = 0,
    *,
    draws: int = 2000,
    top: int = 15,
    thresholds: int = 5,
    cases_dir: str | Path | None = None,
    scenarios: Sequence[Scenario] | None = None,
    progress: bool = False,
) -> list[Path]:
    """Regenerate the reports: model card, sensitivity reports and clinical case results.

    Parameters
    ----------
    out_dir
        Where to write: a new or empty folder, or an earlier output of this function (it holds
        ``provenance.json`` and only the files written here), which is replaced as a whole
        and atomically (:mod:`fasciculation_dx.atomic`). Any other folder is refused.
    priors_dir
        The priors directory; the shipped priors by default.
    seed
        Seed of the Monte Carlo draws. The output bytes are a function of the priors, the code
        and the seed.
    draws
        Monte Carlo draws per scenario.
    top
        Parameters shown in each tornado and top-parameter table.
    thresholds
        How many of the top parameters get a threshold analysis (0 for none).
    cases_dir
        Folder holding ``cases.csv`` / ``reachability.csv``; ``tests/clinical`` of the source
        checkout by default (skipped with a note when absent).
    scenarios
        The scenarios to analyse; every scenario of :mod:`fasciculation_dx.reporting.scenarios` by default.
    progress
        Show a progress bar on stderr: the model card, each scenario (with its screening of every
        parameter), the clinical cases.

    Returns
    -------
    list of pathlib.Path
        Every file written.

    Raises
    ------
    PriorsError
        If the priors are invalid.
    FasciculationDxError
        If matplotlib is missing or ``draws`` / ``top`` are not positive.

    Examples
    --------
    >>> from fasciculation_dx.reporting.report import build_reports
    >>> files = build_reports("reports", seed=0)  # doctest: +SKIP
    """
    if draws < 2 or top < 1 or thresholds < 0:
        raise FasciculationDxError(
            f"draws must be at least 2, top at least 1 and thresholds at least 0. "
            f"Got draws={draws}, top={top}, thresholds={thresholds} instead"
        )
    matplotlib_module()
    directory = Path(priors_dir) if priors_dir is not None else shipped_priors_dir()
    priors = load_priors(directory)
    stamp = provenance(directory, seed)
    target = Path(out_dir)
    with atomic_directory(
        target, overwrite=True, marker="provenance.json", allowed=_report_writes, what="reports"
    ) as staging:
        written = _build(staging, priors, stamp, seed, draws, top, thresholds, cases_dir, scenarios, progress)
    return [target / path.relative_to(staging) for path in written]


def _report_writes(rel: Path) -> bool:
    """Whether ``rel`` (relative to a reports folder) is something :func:`build_reports` writes."""
    if rel.parts[0] in ("figures", "tables"):
        return len(rel.parts) == 1 or (len(rel.parts) == 2 and rel.suffix in (".png", ".svg", ".csv"))
    return len(rel.parts) == 1 and rel.name in REPORT_FILES


def _build(out: Path, priors, stamp, seed, draws, top, thresholds, cases_dir, scenarios, progress) -> list[Path]:
    models: dict[str, Model] = {s: Model(priors, s) for s in priors.settings}
    scenarios = tuple(scenarios) if scenarios is not None else SCENARIOS
    with tqdm(total=len(scenarios) + 2, desc="report", unit="part", disable=not progress, file=sys.stderr) as bar:
        bar.set_postfix_str("model card")
        written = write_model_card(priors, stamp, out)
        checkpoint("report:model-card-written")
        bar.update()

        def scenario_done(title: str) -> None:
            bar.set_postfix_str(title)
            bar.update()

        written += write_sensitivity(
            models, stamp, out, seed, draws, top, thresholds, scenarios, on_scenario=scenario_done, progress=progress
        )
        bar.set_postfix_str("clinical cases")
        written += write_clinical(models, stamp, out, Path(cases_dir) if cases_dir is not None else clinical_dir())
        bar.update()
    prov = out / "provenance.json"
    prov.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8", newline="\n")
    written.append(prov)
    index = [
        "# reports/",
        "",
        "Generated output only: regenerate with `fasciculation-dx report` "
        "(or `fasciculation_dx.reporting.report.build_reports`). Do not edit these files by hand.",
        "",
        "- [Model card](model_card.md): every node, parameter and source; the structure as a figure",
        "- [Sensitivity and uncertainty](sensitivity.md): tornado plots, thresholds and Monte Carlo "
        "intervals for the named scenarios",
        "- [Clinical case suite](clinical_cases.md): rank of the true etiology per case, top-1 / top-3",
        "- `provenance.json`: the stamp below, machine-readable",
        "",
        *stamp_markdown(stamp),
    ]
    written.append(write_text(out / "README.md", index))
    return written

"""The ``report`` command of ``fasciculation-dx``: regenerate ``reports/``.

:mod:`fasciculation_dx.cli.main` registers it:

    add_report_parser(subparsers)    # fasciculation-dx report [--out reports] [--seed 0] [--priors DIR] [--draws N]

and dispatches with ``run_report(args)``, which returns the exit status and raises
:class:`fasciculation_dx.errors.FasciculationDxError` for the caller's error handler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import add_priors_option, whole_number

__all__ = ["add_report_parser", "run_report"]


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``report``: regenerate the model card, sensitivity reports and clinical case results.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    p = subparsers.add_parser(
        "report",
        help="regenerate reports/: model card, sensitivity figures, clinical case results",
        description="Regenerate the reports: a model card (every node, parameter and source, the "
        "structure as a figure), tornado plots, thresholds and Monte Carlo intervals for the named "
        "clinical scenarios, and the clinical case suite's results. Each report is stamped with the "
        "package version, git commit and the SHA-256 of every priors file; the output is "
        "byte-for-byte reproducible given the seed.",
    )
    p.add_argument(
        "--out", metavar="DIR", type=Path, default=Path("reports"), help="output directory (default: reports)"
    )
    p.add_argument("--seed", type=whole_number(0, "--seed"), default=0, help="Monte Carlo seed (default 0)")
    add_priors_option(p)
    p.add_argument(
        "--draws",
        type=whole_number(2, "--draws"),
        default=2000,
        metavar="N",
        help="Monte Carlo draws per scenario (default 2000)",
    )
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress on stderr (by default: each part and scenario)"
    )
    return p


def run_report(args: argparse.Namespace) -> int:
    """Run ``report``: build the reports and list the files written.

    Parameters
    ----------
    args
        The parsed arguments (``out``, ``seed``, ``priors``, ``draws``, ``quiet``).

    Returns
    -------
    int
        The exit status (0).
    """
    from ..reporting.report import build_reports

    written = build_reports(args.out, priors_dir=args.priors, seed=args.seed, draws=args.draws, progress=not args.quiet)
    for path in written:
        print(path)
    print(f"{len(written)} files written to {args.out}")
    return 0

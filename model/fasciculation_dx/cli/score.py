"""The ``fasciculation-dx score`` command: score a file of cases.

The work is in :mod:`fasciculation_dx.analysis.scoring`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .args import add_priors_option, add_setting_option, load_priors_option

__all__ = ["add_score_parser", "run_score"]

CHUNKSIZE = 100_000


def add_score_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``score`` subcommand to the ``fasciculation-dx`` parser.

    Parameters
    ----------
    subparsers
        The object returned by ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser.
    """
    p = subparsers.add_parser(
        "score",
        help="score a CSV or Parquet file of cases (streamed; any size)",
        description="Score every case (row) of a CSV or Parquet file and write one row of "
        "posteriors per case. Columns named after evidence nodes are findings (empty = "
        "unobserved); case_id, setting and etiology are copied to the output. Surrounding "
        "spaces are stripped from every cell and column name; every row must have as many "
        "fields as the header. Problems are reported with spreadsheet row numbers (header = "
        "row 1). The output is written atomically (a temporary file renamed when complete), "
        "refused if it exists unless --overwrite, and never overwrites the input.",
    )
    p.add_argument("input", type=Path, help="cases file (.csv or .parquet)")
    p.add_argument("-o", "--output", type=Path, required=True, help="posteriors file to write (.csv or .parquet)")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    add_priors_option(p)
    add_setting_option(p)
    p.add_argument(
        "--chunksize", type=int, default=CHUNKSIZE, metavar="N", help=f"rows scored at a time (default {CHUNKSIZE:,})"
    )
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COLUMN",
        help="another non-evidence column to copy to the output (repeatable)",
    )
    p.add_argument(
        "--impossible",
        choices=("error", "nan"),
        default="error",
        help="rows whose evidence has probability zero: an error (default) or NaN",
    )
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    return p


def run_score(args: argparse.Namespace) -> int:
    """Run ``fasciculation-dx score``; returns the exit status (errors propagate to ``cli.main``)."""
    from ..analysis.scoring import score_file
    from ..model import Model

    model = Model(load_priors_option(args.priors), args.setting)
    n = score_file(
        model,
        args.input,
        args.output,
        chunksize=args.chunksize,
        keep=args.keep,
        on_impossible="nan" if args.impossible == "nan" else "raise",
        progress=False if args.no_progress else None,
        overwrite=args.overwrite,
    )
    print(f"scored {n:,} case{'s' if n != 1 else ''} from {args.input} into {args.output}", file=sys.stderr)
    return 0

"""The ``serve`` and ``export`` commands of ``fasciculation-dx``.

Each command is a pair of functions that :mod:`fasciculation_dx.cli.main` registers:

    add_serve_parser(subparsers)     # fasciculation-dx serve [--host] [--port] [--setting] [--priors]
    add_export_parser(subparsers)    # fasciculation-dx export --format F [--setting] [--priors] -o FILE [--force]

and dispatches with ``run_serve(args)`` / ``run_export(args)``, which return the exit status and
raise :class:`fasciculation_dx.errors.FasciculationDxError` for the caller's error handler.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .args import add_priors_option, add_setting_option

__all__ = ["add_serve_parser", "run_serve", "add_export_parser", "run_export"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the port must be an integer from 0 to 65535. Got '{text}' instead") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be an integer from 0 to 65535. Got {value} instead")
    return value


def _priors_and_setting(parser: argparse.ArgumentParser) -> None:
    add_priors_option(parser)
    add_setting_option(parser)


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``serve``: the clinician page on a local web server.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    from ..web import DEFAULT_HOST, DEFAULT_PORT

    p = subparsers.add_parser(
        "serve",
        help="start the clinician page on a local web server",
        description="Serve the clinician page: enter findings, read the differential, the "
        "benign/pathological split, why, and which test to do next. It listens on this computer "
        f"only ({DEFAULT_HOST}) unless --host says otherwise. The page supports clinical judgement "
        "and does not replace it.",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this computer only; anything else exposes "
        "patient findings to the network without encryption or authentication)",
    )
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    _priors_and_setting(p)
    return p


def run_serve(args: argparse.Namespace) -> int:
    """Run ``serve`` until interrupted; returns the exit status.

    Raises
    ------
    FasciculationDxError
        If the priors are invalid, the setting unknown, or the address cannot be bound.
    """
    from ..errors import FasciculationDxError
    from ..web.server import serve

    try:
        serve(host=args.host, port=args.port, priors=args.priors, setting=args.setting)
    except OSError as err:
        raise FasciculationDxError(f"cannot listen on {args.host}:{args.port}: {err.strerror or err}") from err
    return 0


def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export``: write the network for GeNIe, SamIam, Hugin, pyAgrum and others.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    from ..network.interchange import FORMATS

    p = subparsers.add_parser(
        "export",
        help="write the network as BIF, XMLBIF or Hugin NET for other Bayesian-network tools",
        description="Write one care setting's network (its etiology table derived from that "
        "setting's base rates) in a format that GeNIe, SamIam, Hugin, pyAgrum and pgmpy read. "
        "The CSV priors stay the source of truth.",
        epilog="example: fasciculation-dx export --format net --setting neuromuscular_clinic -o fdx_clinic.net",
    )
    p.add_argument(
        "--format", required=True, choices=FORMATS, help="bif (BIF 0.15), xmlbif (XMLBIF 0.3) or net (Hugin)"
    )
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="the file to write")
    p.add_argument("--overwrite", "--force", dest="force", action="store_true", help="replace FILE if it exists")
    _priors_and_setting(p)
    return p


def run_export(args: argparse.Namespace) -> int:
    """Run ``export``; returns the exit status.

    Raises
    ------
    FasciculationDxError
        If the file exists (without ``--force``), its directory is missing, the priors are
        invalid or the setting unknown.
    """
    from ..network.interchange import export_network

    path = export_network(args.output, args.format, priors=args.priors, setting=args.setting, force=args.force)
    print(f"wrote {path} ({args.format}, setting {args.setting})", file=sys.stderr)
    return 0

"""Export the network to files that other Bayesian-network tools open.

========  ==========================  =====================================================
format    file                        read by
========  ==========================  =====================================================
bif       BIF 0.15 (``.bif``)         pgmpy, pyAgrum, SamIam, GeNIe (import), Weka, bnlearn
xmlbif    XMLBIF 0.3 (``.xml``)       pgmpy, pyAgrum (as ``.bifxml``), GeNIe (import), Weka
net       Hugin NET (``.net``)        Hugin, SamIam, GeNIe, pyAgrum, pgmpy
========  ==========================  =====================================================

The file holds one care setting's network: the etiology table is the one derived from that
setting's base rates and the relative risks (see :mod:`fasciculation_dx.network.etiology`); every other
table is the CSV's. The CSV files stay the single source of truth: an exported file is a
snapshot for other tools, not something to edit and read back.

The writing itself is pgmpy's (through :mod:`fasciculation_dx.network.pgmpy_adapter`, the one module that
imports pgmpy).
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_file, checkpoint
from ..errors import EvidenceError, OutputExistsError
from .loader import load_priors
from .paths import shipped_priors_dir
from .pgmpy_adapter import INTERCHANGE_FORMATS, write_network
from .priors import DEFAULT_SETTING, Priors

__all__ = ["FORMATS", "SUFFIXES", "OutputExistsError", "export_network"]

FORMATS: tuple[str, ...] = INTERCHANGE_FORMATS
"""The formats :func:`export_network` writes."""

SUFFIXES: dict[str, str] = {"bif": ".bif", "xmlbif": ".xml", "net": ".net"}
"""The usual file suffix of each format."""


def export_network(
    path: str | Path,
    fmt: str,
    priors: Priors | str | Path | None = None,
    setting: str = DEFAULT_SETTING,
    force: bool = False,
) -> Path:
    """Write one care setting's network to ``path`` in ``fmt``.

    Parameters
    ----------
    path
        The output file. Its directory must exist.
    fmt
        ``"bif"``, ``"xmlbif"`` or ``"net"`` (see the module's table).
    priors
        Validated priors, a priors directory, or ``None`` for the shipped priors.
    setting
        The care setting whose base rates the etiology's table carries.
    force
        Overwrite ``path`` if it exists.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    EvidenceError
        If ``fmt`` or ``setting`` is unknown (the message lists the valid ones).
    OutputExistsError
        If ``path`` exists and ``force`` is false, or is a directory.
    PriorsError
        If a priors directory is invalid.
    OutputError
        If the directory of ``path`` does not exist or cannot be written.

    Notes
    -----
    The file is written next to ``path`` under a temporary name and renamed into place, so an
    interrupted export never leaves a half-written file under the final name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from fasciculation_dx.network.interchange import export_network
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = export_network(pathlib.Path(tmp) / "fdx.xml", "xmlbif")
    ...     out.read_text().startswith("<?xml")
    True
    """
    if fmt not in FORMATS:
        raise EvidenceError(f"unknown export format '{fmt}'. Valid formats: {', '.join(FORMATS)}")
    if not isinstance(priors, Priors):
        priors = load_priors(priors if priors is not None else shipped_priors_dir())
    if setting not in priors.settings:
        raise EvidenceError(f"unknown setting '{setting}'. Valid settings: {', '.join(priors.settings)}")
    path = Path(path)
    with atomic_file(path, overwrite=force, option="--overwrite") as temporary:
        write_network(priors, setting, temporary, fmt)
        checkpoint("export:written")
    return path

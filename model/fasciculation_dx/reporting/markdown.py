"""Small writers shared by the reports: markdown cells and tables, CSV, and reproducible figures.

Figures are saved as PNG and SVG with matplotlib's SVG hash salt and file metadata fixed, so
the bytes are reproducible on one machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FasciculationDxError

__all__ = [
    "cell",
    "num",
    "pct",
    "md_table",
    "write_text",
    "write_csv",
    "matplotlib_module",
    "new_figure",
    "save_figure",
    "stamp_markdown",
    "stamp_line",
]

SVG_HASH_SALT = "fasciculation_dx"
PNG_DPI = 110


# -- markdown helpers -----------------------------------------------------------------------------
def cell(value) -> str:
    """Format one markdown table cell (numbers compactly, pipes escaped)."""
    if isinstance(value, float | np.floating):
        return num(float(value))
    return str(value).replace("|", "\\|").replace("\n", " ").strip()


def num(x: float) -> str:
    """Format a number compactly for a report (``n/a`` when not finite)."""
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.4g}"


def pct(p: float) -> str:
    """Format a probability as a percentage (``n/a`` when not finite)."""
    if not np.isfinite(p):
        return "n/a"
    if 0 < p < 0.0005:
        return "<0.1%"
    return f"{100 * p:.1f}%"


def md_table(header: Sequence[str], rows: Iterable[Sequence]) -> list[str]:
    """Return a markdown table as lines."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out + [""]


def write_text(path: Path, lines: Sequence[str]) -> Path:
    """Write ``lines`` as a UTF-8 text file with one final newline; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8", newline="\n")
    return path


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV with LF line endings; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"), encoding="utf-8", newline="\n"
    )
    return path


# -- figures --------------------------------------------------------------------------------------
def matplotlib_module():
    """Import matplotlib for reproducible output, or raise a clear error if it is missing."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise FasciculationDxError(
            "the reports need matplotlib: pip install 'fasciculation_dx[notebooks]' (or matplotlib)"
        ) from None
    return matplotlib, Figure, FigureCanvasAgg


def new_figure(size: tuple[float, float]):
    """Return a new matplotlib figure of ``size`` inches, not attached to any GUI backend."""
    _, Figure, FigureCanvasAgg = matplotlib_module()
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, stem: Path) -> list[Path]:
    """Save ``stem.png`` and ``stem.svg`` with fixed metadata, so the bytes are reproducible."""
    matplotlib, _, _ = matplotlib_module()
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT, "svg.fonttype": "path"}):
        fig.savefig(paths[0], dpi=PNG_DPI, metadata={"Software": None}, bbox_inches="tight")
        fig.savefig(paths[1], metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    return paths


def stamp_line(stamp: Mapping) -> list[str]:
    """Return a one-line provenance note for the top of a report; the full stamp goes at its end."""
    return [
        f"Generated from the `{stamp['priors']}` priors at commit `{str(stamp['commit'])[:12]}` "
        f"(Monte Carlo seed `{stamp['seed']}`); the priors' digests are under [Provenance](#provenance) "
        "at the end.",
        "",
    ]


def stamp_markdown(stamp: Mapping) -> list[str]:
    """Return the provenance stamp as markdown lines (a list and a table of priors digests).

    Reports put it last, after their content and links, with :func:`stamp_line` at the top.
    """
    lines = [
        "## Provenance",
        "",
        f"- package: `{stamp['package']}` version `{stamp['version']}`",
        f"- git commit: `{stamp['commit']}`",
        f"- priors: `{stamp['priors']}`; Monte Carlo seed `{stamp['seed']}`",
        "",
        "| priors file | SHA-256 |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | `{digest}` |" for name, digest in stamp["priors_sha256"].items()]
    return lines + [""]

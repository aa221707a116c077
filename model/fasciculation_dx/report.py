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
    For each named scenario of :mod:`fasciculation_dx.scenarios`: the posterior in both care
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
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_directory, checkpoint
from .errors import FasciculationDxError
from .loader import load_priors
from .model import Model
from .paths import shipped_priors_dir
from .plots import interval_plot
from .priors import LAYERS, Priors
from .query import DISCLAIMER
from .scenarios import SCENARIOS, Scenario

__all__ = ["build_reports", "provenance", "priors_hashes", "git_commit", "draw_structure", "REPORT_FILES"]

REPORT_FILES = ("README.md", "model_card.md", "sensitivity.md", "clinical_cases.md", "provenance.json")
"""The top-level files that :func:`build_reports` writes (figures and tables go to subfolders)."""

REFERRAL_THRESHOLD = 0.05
"""Probability of a pathological cause at which a clinician would refer for EMG."""

SVG_HASH_SALT = "fasciculation_dx"
PNG_DPI = 110
_PACKAGE_DIR = Path(__file__).resolve().parent
_LAYER_COLOURS = {
    "context": "#8172b2",
    "trigger": "#ccb974",
    "etiology": "#c44e52",
    "mechanism": "#55a868",
    "finding": "#4c72b0",
}


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
    from . import __version__

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


def _stamp_markdown(stamp: Mapping) -> list[str]:
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


# -- markdown helpers -----------------------------------------------------------------------------
def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        return _num(float(value))
    return str(value).replace("|", "\\|").replace("\n", " ").strip()


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.4g}"


def _pct(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    if 0 < p < 0.0005:
        return "<0.1%"
    return f"{100 * p:.1f}%"


def _table(header: Sequence[str], rows: Iterable[Sequence]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out + [""]


def _write_text(path: Path, lines: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8", newline="\n")
    return path


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        frame.to_csv(index=False, lineterminator="\n", float_format="%.10g"), encoding="utf-8", newline="\n"
    )
    return path


# -- figures --------------------------------------------------------------------------------------
def _matplotlib():
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise FasciculationDxError(
            "the reports need matplotlib: pip install 'fasciculation_dx[notebooks]' (or matplotlib)"
        ) from None
    return matplotlib, Figure, FigureCanvasAgg


def _figure(size: tuple[float, float]):
    _, Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, stem: Path) -> list[Path]:
    """Save ``stem.png`` and ``stem.svg`` with fixed metadata, so the bytes are reproducible."""
    matplotlib, _, _ = _matplotlib()
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT, "svg.fonttype": "path"}):
        fig.savefig(paths[0], dpi=PNG_DPI, metadata={"Software": None}, bbox_inches="tight")
        fig.savefig(paths[1], metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    return paths


def _layer_rows(priors: Priors, width: int = 16) -> list[tuple[str, list[str]]]:
    """Split each layer's nodes into drawing rows of at most ``width``, ordered to limit crossings."""
    by_layer = {layer: [n for n, s in priors.nodes.items() if s.layer == layer] for layer in LAYERS}
    rows: list[tuple[str, list[str]]] = []
    placed: dict[str, float] = {}
    for layer in LAYERS:
        nodes = by_layer[layer]
        if not nodes:
            continue

        def parent_x(n: str) -> float:
            xs = [placed[p] for p in priors.nodes[n].parents if p in placed]
            return float(np.mean(xs)) if xs else 0.5

        nodes = sorted(nodes, key=lambda n: (round(parent_x(n), 6), n)) if layer in ("mechanism", "finding") else nodes
        size = -(-len(nodes) // -(-len(nodes) // width))  # rows of even length, at most ``width``
        chunks = [nodes[i : i + size] for i in range(0, len(nodes), size)]
        for chunk in chunks:
            xs = np.linspace(0.04, 0.96, len(chunk)) if len(chunk) > 1 else np.array([0.5])
            for n, x in zip(chunk, xs):
                placed[n] = float(x)
            rows.append((layer, chunk))
    return rows


def draw_structure(priors: Priors, ax=None):
    """Draw the network as a layered DAG (context and triggers on top, findings at the bottom).

    Parameters
    ----------
    priors
        Validated priors.
    ax
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        ax = _figure((17, 12)).add_subplot()
    rows = _layer_rows(priors)
    pos: dict[str, tuple[float, float]] = {}
    for r, (_, chunk) in enumerate(rows):
        y = 1.0 - r / max(len(rows) - 1, 1)
        xs = np.linspace(0.04, 0.96, len(chunk)) if len(chunk) > 1 else np.array([0.5])
        for n, x in zip(chunk, xs):
            pos[n] = (float(x), y)
    from matplotlib.collections import LineCollection

    for layer in LAYERS:
        segments = [
            [pos[parent], pos[child]]
            for child, spec in priors.nodes.items()
            if spec.layer == layer
            for parent in spec.parents
        ]
        if segments:
            ax.add_collection(LineCollection(segments, colors=_LAYER_COLOURS[layer], alpha=0.3, linewidths=0.6))
    for n, (x, y) in pos.items():
        layer = priors.nodes[n].layer
        label = "\n".join(textwrap.wrap(n.replace("_", " "), 13))
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=5.5,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.25",
                "facecolor": "white",
                "edgecolor": _LAYER_COLOURS[layer],
                "linewidth": 0.9,
            },
        )
    seen = []
    for r, (layer, _) in enumerate(rows):
        if layer in seen:
            continue
        seen.append(layer)
        y = 1.0 - r / max(len(rows) - 1, 1)
        ax.text(-0.01, y, layer, ha="right", va="center", fontsize=8, color=_LAYER_COLOURS[layer], weight="bold")
    ax.set_xlim(-0.09, 1.01)
    ax.set_ylim(-0.06, 1.06)
    ax.axis("off")
    ax.set_title(
        f"fasciculation_dx: {len(priors.nodes)} nodes; every edge runs from a cause (above) to its effect (below)",
        fontsize=10,
    )
    return ax


# -- model card -----------------------------------------------------------------------------------
def _parameters_frame(priors: Priors) -> pd.DataFrame:
    records = []
    for p in priors.parameters():
        source = priors.sources.get(p.source_id)
        records.append(
            {
                "file": p.file,
                "line": p.line,
                "key": "/".join(p.key),
                "value": p.value,
                "low": p.low,
                "high": p.high,
                "source_id": p.source_id,
                "source_kind": source.kind if source else "",
                "citation": source.citation if source else "",
            }
        )
    return pd.DataFrame.from_records(records)


def _model_card(priors: Priors, stamp: Mapping, out: Path) -> list[Path]:
    written = _save(draw_structure(priors).figure, out / "figures" / "structure")
    params = _parameters_frame(priors)
    written.append(_write_csv(out / "tables" / "parameters.csv", params))
    lines = [
        "# Model card: fasciculation_dx",
        "",
        "A Bayesian network of the causes of muscle fasciculations. " + DISCLAIMER,
        "",
        *_stamp_markdown(stamp),
        "## Structure",
        "",
        "![The network, layer by layer](figures/structure.svg)",
        "",
    ]
    counts = {layer: sum(s.layer == layer for s in priors.nodes.values()) for layer in LAYERS}
    lines += _table(["layer", "nodes"], [(layer, counts[layer]) for layer in LAYERS])
    lines += [
        "Context and trigger nodes are parents of the etiology; the etiology's table is derived from the",
        "base rates of each care setting and one relative risk per (parent state, etiology) "
        "(`etiology_modifiers.csv`).",
        "Mechanisms are latent; findings hang off mechanisms or directly off the etiology.",
        "",
        "## Care settings",
        "",
        *_table(["setting", "description"], list(priors.settings.items())),
        "## Etiologies",
        "",
    ]
    settings = list(priors.settings)
    rates = {(p.key[0], p.key[1]): p.value for p in priors.base_rates}
    lines += _table(
        ["etiology", "group", "category", *[f"base rate ({s})" for s in settings], "description"],
        [
            (e.name, e.group, e.category, *[rates.get((s, e.name), float("nan")) for s in settings], e.description)
            for e in priors.etiologies.values()
        ],
    )
    lines += ["## Nodes", ""]
    lines += _table(
        ["node", "layer", "panel", "states", "parents", "description"],
        [
            (n, s.layer, s.panel, ", ".join(s.states), ", ".join(s.parents), s.description)
            for n, s in priors.nodes.items()
        ],
    )
    lines += [
        "## Parameters",
        "",
        f"{len(params)} parameter rows. Each is a probability (a relative risk in "
        "`etiology_modifiers.csv`) with its plausible range `[low, high]`, which the sensitivity "
        "analyses use, and its source (citations in [Sources](#sources); also "
        "`tables/parameters.csv`).",
        "",
    ]
    for file, rows in params.groupby("file", sort=False):
        lines += [f"### `{file}`", ""]
        lines += _table(
            ["line", "key", "value", "low", "high", "source_id"],
            [(r.line, r.key, r.value, r.low, r.high, f"`{r.source_id}`") for r in rows.itertuples()],
        )
    uses = params["source_id"].value_counts()
    lines += ["## Sources", ""]
    lines += _table(
        ["source_id", "kind", "year", "citation", "url", "parameters"],
        [
            (f"`{s.source_id}`", s.kind, s.year, s.citation, s.url, int(uses.get(s.source_id, 0)))
            for s in priors.sources.values()
        ],
    )
    written.append(_write_text(out / "model_card.md", lines))
    return written


# -- sensitivity ----------------------------------------------------------------------------------
def _scenario_section(
    scenario: Scenario, models: Mapping[str, Model], out: Path, seed: int, draws: int, top: int, thresholds: int
) -> tuple[list[str], list[Path]]:
    from .plots import tornado
    from .sensitivity import compare_settings, screen, threshold
    from .uncertainty import monte_carlo

    model = next(iter(models.values()))
    evidence = dict(scenario.evidence)
    name = scenario.name
    written: list[Path] = []
    lines = [f"## {scenario.title}", "", f"*Scenario `{name}`.* {scenario.description}", ""]
    lines += ["Evidence: " + ", ".join(f"`{k}={v}`" for k, v in evidence.items()), ""]
    if scenario.question:
        lines += [f"Question: {scenario.question}", ""]

    # posterior in each setting
    settings = compare_settings(model.priors, evidence)
    categories = compare_settings(model.priors, evidence, level="category")
    lines += ["### Posterior in each care setting", ""]
    lines += _table(
        ["etiology", *settings.columns], [(e, *[_pct(v) for v in row]) for e, row in settings.head(8).iterrows()]
    )
    lines += _table(
        ["category", *categories.columns], [(c, *[_pct(v) for v in row]) for c, row in categories.iterrows()]
    )

    # one-way screening
    table = screen(model, evidence, "pathological")
    moving = int((table["swing"] > 0.01).sum())
    ax = tornado(
        table,
        top=top,
        ax=_figure((9, 0.35 * min(top, len(table)) + 1.8)).add_subplot(),
        title=f"{scenario.title}: top {top} parameters for P(pathological)",
    )
    written += _save(ax.figure, out / "figures" / f"{name}_tornado")
    head = table.head(top)
    written.append(
        _write_csv(
            out / "tables" / f"{name}_top_parameters.csv",
            head.drop(columns=["linear_fractional"]).assign(linear_fractional=head["linear_fractional"].astype(int)),
        )
    )
    lines += [
        "### One-way sensitivity (tornado)",
        "",
        f"P(pathological | evidence) = {_pct(table.attrs['posterior'])} in `{model.setting}`. Each of the "
        f"{len(table)} parameters was moved over its plausible range with its column co-varied; "
        f"{moving} move the probability by more than one percentage point.",
        "",
        f"![Tornado: {scenario.title}](figures/{name}_tornado.svg)",
        "",
    ]
    lines += _table(
        ["parameter", "key", "value", "low", "high", "P at low", "P at high", "swing", "source_id"],
        [
            (
                r.parameter,
                r.key,
                r.value,
                r.low,
                r.high,
                _pct(r.at_low),
                _pct(r.at_high),
                _pct(r.swing),
                f"`{r.source_id}`",
            )
            for r in head.itertuples()
        ],
    )

    # thresholds of the top parameters
    if thresholds > 0:
        lines += [
            f"### Thresholds for a {REFERRAL_THRESHOLD:.0%} probability of a pathological cause",
            "",
            f"Where each of the top {thresholds} parameters would have to move for P(pathological) to "
            f"cross {REFERRAL_THRESHOLD:.0%} (the referral-for-EMG threshold), with the other parameters at "
            "their values.",
            "",
        ]
        rows = []
        for r in head.head(thresholds).itertuples():
            th = threshold(model, r.parameter, evidence, "pathological", REFERRAL_THRESHOLD)
            inside = th.value is not None and r.low <= th.value <= r.high
            rows.append(
                (
                    r.parameter,
                    r.key,
                    r.value,
                    "none" if th.value is None else _num(th.value),
                    th.reason or ("yes" if inside else "no"),
                    "closed form" if th.exact else "root-finding",
                )
            )
        lines += _table(["parameter", "key", "value", "threshold", "within range?", "method"], rows)

    # Monte Carlo
    result = monte_carlo(model, evidence, draws=draws, seed=seed)
    etio = result.interval(0.9)
    cat = result.interval(0.9, by="category")
    ax = interval_plot(
        etio, top=10, ax=_figure((7.5, 5)).add_subplot(), title=f"{scenario.title}: 90% credible intervals"
    )
    written += _save(ax.figure, out / "figures" / f"{name}_intervals")
    frame = pd.concat([etio.assign(level="etiology"), cat.assign(level="category")])
    frame = frame.rename_axis("name").reset_index()[["level", "name", "probability", "lower", "upper", "mean", "sd"]]
    written.append(_write_csv(out / "tables" / f"{name}_intervals.csv", frame))
    lines += [
        "### Monte Carlo credible intervals",
        "",
        f"{draws} joint draws of every parameter that can affect this scenario (seed {seed}); equal-tailed "
        "90% intervals. See `fasciculation_dx.uncertainty` for the fitted distributions.",
        "",
        f"![Credible intervals: {scenario.title}](figures/{name}_intervals.svg)",
        "",
    ]
    lines += _table(
        ["", "probability", "90% interval", "mean", "sd"],
        [
            (n, _pct(r.probability), f"{_pct(r.lower)} to {_pct(r.upper)}", _pct(r["mean"]), _num(r.sd))
            for n, r in pd.concat([cat, etio.head(8)]).iterrows()
        ],
    )
    return lines, written


def _sensitivity(
    models: Mapping[str, Model],
    stamp: Mapping,
    out: Path,
    seed: int,
    draws: int,
    top: int,
    thresholds: int,
    scenarios: Sequence[Scenario],
) -> list[Path]:
    lines = [
        "# Sensitivity and uncertainty for the named scenarios",
        "",
        "How much each number in `priors/` matters for the named clinical scenarios "
        "(`fasciculation_dx.scenarios`), and how firm their posteriors are. " + DISCLAIMER,
        "",
        *_stamp_markdown(stamp),
        "Scenarios: "
        + ", ".join(f"[{s.title}](#{s.title.lower().replace(' ', '-').replace(',', '')})" for s in scenarios),
        "",
    ]
    written: list[Path] = []
    for scenario in scenarios:
        section, files = _scenario_section(scenario, models, out, seed, draws, top, thresholds)
        lines += section
        written += files
    written.append(_write_text(out / "sensitivity.md", lines))
    return written


# -- clinical cases -------------------------------------------------------------------------------
def _clinical_dir() -> Path:
    return _PACKAGE_DIR.parents[1] / "tests" / "clinical"


def _rank_cases(path: Path, models: Mapping[str, Model]) -> pd.DataFrame:
    from .cases import read_cases

    default = next(iter(models.values()))
    cases = read_cases(path, default.priors)
    settings = cases.settings(default.setting)
    ids = cases.case_ids()
    labels = cases.labels()
    records = []
    for i in range(cases.n):
        setting = str(settings[i])
        if setting not in models:
            models[setting] = Model(default.priors, setting)  # type: ignore[index]
        post = models[setting].posterior(cases.evidence(i))
        truth = str(labels[i])
        rank = list(post.index).index(truth) + 1
        records.append(
            {
                "case_id": str(ids[i]),
                "setting": setting,
                "etiology": truth,
                "rank": rank,
                "probability": float(post[truth]),
                "top_1": post.index[0],
                "top_1_probability": float(post.iloc[0]),
                "findings": len(cases.evidence(i)),
            }
        )
    return pd.DataFrame.from_records(records)


def _clinical(models: dict[str, Model], stamp: Mapping, out: Path, cases_dir: Path) -> list[Path]:
    lines = [
        "# Clinical case suite",
        "",
        "Published case reports and teaching cases entered as evidence; the rank of the confirmed "
        "etiology in the model's differential. " + DISCLAIMER,
        "",
        *_stamp_markdown(stamp),
    ]
    written: list[Path] = []
    found = False
    suites = (("cases.csv", "Case suite"), ("reachability.csv", "Reachability: each etiology's typical picture"))
    for file, title in suites:
        path = cases_dir / file
        if not path.is_file():
            continue
        found = True
        ranks = _rank_cases(path, models)
        written.append(_write_csv(out / "tables" / f"clinical_{path.stem}.csv", ranks))
        top1, top3 = float((ranks["rank"] == 1).mean()), float((ranks["rank"] <= 3).mean())
        lines += [
            f"## {title} (`{file}`)",
            "",
            f"{len(ranks)} cases, {ranks['etiology'].nunique()} etiologies: top-1 accuracy {_pct(top1)}, "
            f"top-3 accuracy {_pct(top3)}; median rank {_num(float(ranks['rank'].median()))}.",
            "",
        ]
        lines += _table(
            ["case", "setting", "true etiology", "rank", "P(true)", "model's top", "P(top)"],
            [
                (r.case_id, r.setting, r.etiology, r.rank, _pct(r.probability), r.top_1, _pct(r.top_1_probability))
                for r in ranks.itertuples()
            ],
        )
        misses = ranks[ranks["rank"] > 3]
        if len(misses):
            lines += [
                "Outside the top 3: "
                + ", ".join(f"`{c}` (rank {k})" for c, k in zip(misses["case_id"], misses["rank"])),
                "",
            ]
    if not found:
        lines += [
            f"No case files were found (looked for `cases.csv` and `reachability.csv` in `{cases_dir.name}/`).",
            "",
        ]
    written.append(_write_text(out / "clinical_cases.md", lines))
    return written


# -- entry point ----------------------------------------------------------------------------------
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
        The scenarios to analyse; every scenario of :mod:`fasciculation_dx.scenarios` by default.

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
    >>> from fasciculation_dx.report import build_reports
    >>> files = build_reports("reports", seed=0)  # doctest: +SKIP
    """
    if draws < 2 or top < 1 or thresholds < 0:
        raise FasciculationDxError(
            f"draws must be at least 2, top at least 1 and thresholds at least 0. "
            f"Got draws={draws}, top={top}, thresholds={thresholds} instead"
        )
    _matplotlib()
    directory = Path(priors_dir) if priors_dir is not None else shipped_priors_dir()
    priors = load_priors(directory)
    stamp = provenance(directory, seed)
    target = Path(out_dir)
    with atomic_directory(
        target, overwrite=True, marker="provenance.json", allowed=_report_writes, what="reports"
    ) as staging:
        written = _build(staging, priors, stamp, seed, draws, top, thresholds, cases_dir, scenarios)
    return [target / path.relative_to(staging) for path in written]


def _report_writes(rel: Path) -> bool:
    """Whether ``rel`` (relative to a reports folder) is something :func:`build_reports` writes."""
    if rel.parts[0] in ("figures", "tables"):
        return len(rel.parts) == 1 or (len(rel.parts) == 2 and rel.suffix in (".png", ".svg", ".csv"))
    return len(rel.parts) == 1 and rel.name in REPORT_FILES


def _build(out: Path, priors, stamp, seed, draws, top, thresholds, cases_dir, scenarios) -> list[Path]:
    models: dict[str, Model] = {s: Model(priors, s) for s in priors.settings}
    scenarios = tuple(scenarios) if scenarios is not None else SCENARIOS
    written = _model_card(priors, stamp, out)
    checkpoint("report:model-card-written")
    written += _sensitivity(models, stamp, out, seed, draws, top, thresholds, scenarios)
    written += _clinical(models, stamp, out, Path(cases_dir) if cases_dir is not None else _clinical_dir())
    prov = out / "provenance.json"
    prov.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8", newline="\n")
    written.append(prov)
    index = [
        "# reports/",
        "",
        "Generated output only: regenerate with `fasciculation-dx report` "
        "(or `fasciculation_dx.report.build_reports`). Do not edit these files by hand.",
        "",
        "- [Model card](model_card.md): every node, parameter and source; the structure as a figure",
        "- [Sensitivity and uncertainty](sensitivity.md): tornado plots, thresholds and Monte Carlo "
        "intervals for the named scenarios",
        "- [Clinical case suite](clinical_cases.md): rank of the true etiology per case, top-1 / top-3",
        "- `provenance.json`: the stamp below, machine-readable",
        "",
        *_stamp_markdown(stamp),
    ]
    written.append(_write_text(out / "README.md", index))
    return written

"""The clinical case report: the rank of the true cause for every case of the case suites."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..inference.query import DISCLAIMER
from ..model import Model
from .markdown import md_table, num, pct, stamp_markdown, write_csv, write_text

__all__ = ["clinical_dir", "write_clinical"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def clinical_dir() -> Path:
    """Return the folder of the clinical case suites in a source checkout."""
    return _PACKAGE_DIR.parents[1] / "tests" / "clinical"


def _rank_cases(path: Path, models: Mapping[str, Model]) -> pd.DataFrame:
    from ..analysis.cases import read_cases

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


def write_clinical(models: dict[str, Model], stamp: Mapping, out: Path, cases_dir: Path) -> list[Path]:
    """Write ``clinical_cases.md`` and its table from the case suites in ``cases_dir``; return the paths."""
    lines = [
        "# Clinical case suite",
        "",
        "Published case reports and teaching cases entered as evidence; the rank of the confirmed "
        "etiology in the model's differential. " + DISCLAIMER,
        "",
        *stamp_markdown(stamp),
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
        written.append(write_csv(out / "tables" / f"clinical_{path.stem}.csv", ranks))
        top1, top3 = float((ranks["rank"] == 1).mean()), float((ranks["rank"] <= 3).mean())
        lines += [
            f"## {title} (`{file}`)",
            "",
            f"{len(ranks)} cases, {ranks['etiology'].nunique()} etiologies: top-1 accuracy {pct(top1)}, "
            f"top-3 accuracy {pct(top3)}; median rank {num(float(ranks['rank'].median()))}.",
            "",
        ]
        lines += md_table(
            ["case", "setting", "true etiology", "rank", "P(true)", "model's top", "P(top)"],
            [
                (r.case_id, r.setting, r.etiology, r.rank, pct(r.probability), r.top_1, pct(r.top_1_probability))
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
    written.append(write_text(out / "clinical_cases.md", lines))
    return written


# -- entry point ----------------------------------------------------------------------------------

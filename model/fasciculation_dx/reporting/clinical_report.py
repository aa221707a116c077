"""The clinical case report: the rank of the true cause for every case of the case suites."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..inference.query import DISCLAIMER
from ..model import Model
from .markdown import md_table, num, pct, stamp_line, stamp_markdown, write_csv, write_text

__all__ = ["accuracy_by_setting", "clinical_dir", "score_case_file", "write_clinical"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def clinical_dir() -> Path:
    """Return the folder of the clinical case suites in a source checkout."""
    return _PACKAGE_DIR.parents[1] / "tests" / "clinical"


def score_case_file(path: str | Path, models: Mapping[str, Model]) -> pd.DataFrame:
    """Score every case of a case file with the model of its care setting.

    Parameters
    ----------
    path
        A case table (CSV or Parquet) with an ``etiology`` column, as read by
        :func:`fasciculation_dx.analysis.cases.read_cases`; an empty ``setting`` cell means the
        first model's setting.
    models
        One model per care setting, keyed by setting; a setting that is missing is built from the
        first model's priors and added.

    Returns
    -------
    pandas.DataFrame
        One row per case: ``case_id``, ``setting``, ``etiology`` (the confirmed cause), its
        ``category``, ``rank`` and ``probability``, the model's ``top_1`` and
        ``top_1_probability``, ``p_pathological``, ``category_correct`` (``P(pathological) >= 0.5``
        exactly when the confirmed cause is pathological) and the number of ``findings``.
    """
    from ..analysis.cases import read_cases

    models = dict(models)
    default = next(iter(models.values()))
    category = {name: e.category for name, e in default.priors.etiologies.items()}
    cases = read_cases(path, default.priors)
    settings = cases.settings(default.setting)
    ids = cases.case_ids()
    labels = cases.labels()
    records = []
    for i in range(cases.n):
        setting = str(settings[i])
        if setting not in models:
            models[setting] = Model(default.priors, setting)
        evidence = cases.evidence(i)
        post = models[setting].posterior(evidence)
        p_path = float(models[setting].category_posterior(evidence)["pathological"])
        truth = str(labels[i])
        records.append(
            {
                "case_id": str(ids[i]),
                "setting": setting,
                "etiology": truth,
                "category": category[truth],
                "rank": list(post.index).index(truth) + 1,
                "probability": float(post[truth]),
                "top_1": post.index[0],
                "top_1_probability": float(post.iloc[0]),
                "p_pathological": p_path,
                "category_correct": (p_path >= 0.5) == (category[truth] == "pathological"),
                "findings": len(evidence),
            }
        )
    return pd.DataFrame.from_records(records)


def accuracy_by_setting(scored: pd.DataFrame) -> pd.DataFrame:
    """Summarise scored cases overall and by care setting.

    Parameters
    ----------
    scored
        The output of :func:`score_case_file`.

    Returns
    -------
    pandas.DataFrame
        One row for ``all settings`` and one per setting present: ``setting``, ``cases``,
        ``etiologies``, ``top_1``, ``top_3`` (the share of cases whose confirmed cause ranks
        first, or in the first three) and ``benign_pathological`` (the share whose
        ``P(pathological) >= 0.5`` matches the confirmed cause's category).
    """
    parts = [("all settings", scored)] + [
        (s, scored[scored["setting"] == s]) for s in sorted(scored["setting"].unique())
    ]
    return pd.DataFrame.from_records(
        [
            {
                "setting": name,
                "cases": len(part),
                "etiologies": part["etiology"].nunique(),
                "top_1": float((part["rank"] == 1).mean()),
                "top_3": float((part["rank"] <= 3).mean()),
                "benign_pathological": float(part["category_correct"].mean()),
            }
            for name, part in parts
            if len(part)
        ]
    )


def write_clinical(models: dict[str, Model], stamp: Mapping, out: Path, cases_dir: Path) -> list[Path]:
    """Write ``clinical_cases.md`` and its table from the case suites in ``cases_dir``; return the paths."""
    lines = [
        "# Clinical case suite",
        "",
        "Published case reports and teaching cases entered as evidence; the rank of the confirmed "
        "etiology in the model's differential. " + DISCLAIMER,
        "",
        *stamp_line(stamp),
    ]
    written: list[Path] = []
    found = False
    suites = (("cases.csv", "Case suite"), ("reachability.csv", "Reachability: each etiology's typical picture"))
    for file, title in suites:
        path = cases_dir / file
        if not path.is_file():
            continue
        found = True
        ranks = score_case_file(path, models)
        written.append(write_csv(out / "tables" / f"clinical_{path.stem}.csv", ranks))
        summary = accuracy_by_setting(ranks)
        lines += [
            f"## {title} (`{file}`)",
            "",
            f"{len(ranks)} cases, {ranks['etiology'].nunique()} etiologies; median rank "
            f"{num(float(ranks['rank'].median()))}. Benign/pathological: `P(pathological) >= 0.5` "
            "against the confirmed cause's category.",
            "",
        ]
        lines += md_table(
            ["setting", "cases", "etiologies", "top-1", "top-3", "benign/pathological"],
            [
                (r.setting, r.cases, r.etiologies, pct(r.top_1), pct(r.top_3), pct(r.benign_pathological))
                for r in summary.itertuples()
            ],
        )
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
    lines += stamp_markdown(stamp)
    written.append(write_text(out / "clinical_cases.md", lines))
    return written


# -- entry point ----------------------------------------------------------------------------------

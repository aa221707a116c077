"""Scoring the model on a case set with confirmed diagnoses.

Metrics (over the cases with a confirmed ``etiology``; each case is scored in its own setting):

- ``top1`` / ``top3``: share of cases whose etiology is ranked first / among the first three;
- ``log_loss``: mean ``-ln P(true etiology)`` (probabilities floored at 1e-15, so a case the
  model deems impossible costs about 34.5 instead of infinity);
- ``brier``: multi-class Brier score, mean over cases of ``sum_e (p_e - y_e)^2`` (0 is perfect,
  2 the worst);
- ``brier_pathological``: Brier score of the benign-vs-pathological roll-up;
- ``auc_pathological``: area under the ROC curve of ``P(pathological)`` for separating
  pathological from benign causes (rank statistic, ties counted half; NaN when only one
  category occurs);
- ``citl_pathological``: calibration-in-the-large of that roll-up, mean predicted
  ``P(pathological)`` minus the observed share of pathological causes (0 is calibrated;
  positive means the model over-calls disease).

Which direction is better (:data:`DIRECTION`): lower for ``log_loss``, ``brier`` and
``brier_pathological``; higher for ``top1``, ``top3`` and ``auc_pathological``; closer to 0 for
``citl_pathological``.

:func:`compare` gives, for two priors scored on the same cases, a paired bootstrap confidence
interval for every difference (:func:`bootstrap_differences`): the cases are resampled with
replacement, the same resample scoring both priors, and the percentile interval of the
differences is reported with the priors the interval favours (``neither`` when it includes 0).
Scores on the cases a priors directory was calibrated on are optimistic: evaluate on cases it
has not seen (another simulated cohort, or a held-out share of the data).

The reliability diagram pools every (case, etiology) pair, one-vs-rest, into equal-width bins of
predicted probability and plots the observed frequency against the mean prediction, next to the
same for ``P(pathological)``; each point is labelled with the number of cases in its bin.

The decision curve (:meth:`Evaluation.decision_curve`, :func:`decision_curves`; see
:mod:`.decision_curve`) gives the net benefit of referring for EMG when ``P(pathological)``
reaches a threshold, against referring every case or none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ArgumentError, EvidenceError
from ..network.loader import load_priors
from ..network.paths import shipped_priors_dir
from ..network.priors import DEFAULT_SETTING, Priors
from .calibration import case_posteriors
from .cases import Cases, read_cases
from .decision_curve import decision_curve

__all__ = [
    "Evaluation",
    "evaluate",
    "compare",
    "bootstrap_differences",
    "DIRECTION",
    "reliability_table",
    "plot_reliability",
    "decision_curves",
]

FLOOR = 1e-15

DIRECTION: dict[str, str] = {
    "top1": "higher",
    "top3": "higher",
    "log_loss": "lower",
    "brier": "lower",
    "brier_pathological": "lower",
    "auc_pathological": "higher",
    "citl_pathological": "closer to 0",
}
"""Which direction of each metric is better (``n`` has none)."""

_PER_CASE = ("top1", "top3", "log_loss", "brier", "brier_pathological", "citl_pathological")


@dataclass(frozen=True)
class Evaluation:
    """The scores of one priors directory on one case set.

    Attributes
    ----------
    metrics
        ``n``, ``top1``, ``top3``, ``log_loss``, ``brier``, ``brier_pathological``,
        ``auc_pathological``, ``citl_pathological`` (see the module docstring).
    per_etiology
        One row per etiology: ``n`` (true cases), ``observed_rate``, ``mean_predicted``,
        ``citl`` (mean_predicted - observed_rate), ``top1_recall``, ``top3_recall``,
        ``mean_p_true`` (mean probability given to it when it is the truth).
    cases
        Per case: ``case_id``, ``setting``, ``etiology``, ``predicted`` (the leading etiology),
        ``p_true``, ``rank``, ``p_pathological``, ``pathological``.
    posteriors
        ``(n_cases, n_etiologies)`` data frame of posteriors, indexed like ``cases``.
    """

    metrics: pd.Series
    per_etiology: pd.DataFrame
    cases: pd.DataFrame
    posteriors: pd.DataFrame

    def decision_curve(self, thresholds=None) -> pd.DataFrame:
        """Net benefit of referring when ``P(pathological) >= t``, against referring all or none.

        Parameters
        ----------
        thresholds
            Threshold probabilities strictly between 0 and 1; 0.01 to 0.50 by 0.01 when omitted.

        Returns
        -------
        pandas.DataFrame
            See :func:`fasciculation_dx.analysis.decision_curve.decision_curve`.
        """
        return decision_curve(self.cases["p_pathological"], self.cases["pathological"].astype(bool), thresholds)


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(
    cases: Cases | str | Path | pd.DataFrame,
    priors: Priors | str | Path | None = None,
    *,
    setting: str = DEFAULT_SETTING,
) -> Evaluation:
    """Score the model on cases with a confirmed etiology.

    Parameters
    ----------
    cases
        A case file, data frame or :class:`fasciculation_dx.analysis.cases.Cases`; rows without an ``etiology`` are
        skipped.
    priors
        Priors or a priors directory; the shipped priors by default.
    setting
        The setting of rows without a ``setting`` value.

    Returns
    -------
    Evaluation

    Raises
    ------
    EvidenceError
        If no case has a confirmed etiology, or some cases are impossible under the model.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"weakness": ["yes", "no"], "etiology": ["als", "benign_fasciculation_syndrome"]})
    >>> ev = evaluate(table)
    >>> int(ev.metrics["n"]), bool(0 <= ev.metrics["top3"] <= 1)
    (2, True)
    """
    if priors is None:
        priors = load_priors(shipped_priors_dir())
    elif not isinstance(priors, Priors):
        priors = load_priors(priors)
    cases = read_cases(cases, priors)
    labels = cases.labels()
    keep = labels != ""
    if not keep.any():
        raise EvidenceError(f"{cases.name} has no case with a confirmed etiology; nothing to score")
    post = _posteriors(priors, cases, setting)[keep]
    truth_names = labels[keep]
    etiologies = priors.etiology_states
    index = {e: i for i, e in enumerate(etiologies)}
    truth = np.array([index[e] for e in truth_names])
    n = len(truth)
    rows = np.arange(n)
    p_true = post[rows, truth]
    # rank as in model.posterior's stable descending sort: ties go to the earlier etiology
    earlier = np.arange(post.shape[1])[None, :] < truth[:, None]
    rank = 1 + (post > p_true[:, None]).sum(axis=1) + ((post == p_true[:, None]) & earlier).sum(axis=1)
    onehot = np.zeros_like(post)
    onehot[rows, truth] = 1.0
    pathological = np.array([priors.etiologies[e].category == "pathological" for e in etiologies])
    p_path = post[:, pathological].sum(axis=1)
    y_path = pathological[truth]
    metrics = pd.Series(
        {
            "n": float(n),
            "top1": float(np.mean(rank <= 1)),
            "top3": float(np.mean(rank <= 3)),
            "log_loss": float(np.mean(-np.log(np.maximum(p_true, FLOOR)))),
            "brier": float(np.mean(((post - onehot) ** 2).sum(axis=1))),
            "brier_pathological": float(np.mean((p_path - y_path) ** 2)),
            "auc_pathological": _auc(p_path, y_path),
            "citl_pathological": float(p_path.mean() - y_path.mean()),
        },
        name="value",
    )
    per = pd.DataFrame(index=pd.Index(etiologies, name="etiology"))
    per["n"] = onehot.sum(axis=0).astype(int)
    per["observed_rate"] = onehot.mean(axis=0)
    per["mean_predicted"] = post.mean(axis=0)
    per["citl"] = per["mean_predicted"] - per["observed_rate"]
    with np.errstate(invalid="ignore", divide="ignore"):
        per["top1_recall"] = np.bincount(truth, weights=rank <= 1, minlength=len(etiologies)) / per["n"]
        per["top3_recall"] = np.bincount(truth, weights=rank <= 3, minlength=len(etiologies)) / per["n"]
        per["mean_p_true"] = np.bincount(truth, weights=p_true, minlength=len(etiologies)) / per["n"]
    per = per.sort_values(["n", "observed_rate"], ascending=False, kind="stable")
    ids = cases.case_ids()[keep]
    table = pd.DataFrame(
        {
            "case_id": ids,
            "setting": cases.settings(setting)[keep],
            "etiology": truth_names,
            "predicted": np.asarray(etiologies, dtype=object)[post.argmax(axis=1)],
            "p_true": p_true,
            "rank": rank,
            "p_pathological": p_path,
            "pathological": y_path,
        }
    )
    posteriors = pd.DataFrame(post, columns=pd.Index(etiologies, name="etiology"))
    return Evaluation(metrics, per, table, posteriors)


def _posteriors(priors: Priors, cases: Cases, setting: str) -> np.ndarray:
    """Each case's posterior; soft-evidence cells (``~yes``, ``yes:0.8,no:0.2``) are scored by the batch scorer."""
    if not cases.soft_cells(priors):
        return case_posteriors(priors, cases, setting)
    from ..inference.batch import BatchScorer
    from ..inference.compiled import CompiledEngine

    settings = cases.settings(setting)
    unknown = sorted(set(settings) - set(priors.settings))
    if unknown:
        raise EvidenceError(f"unknown setting {', '.join(unknown)}. Valid settings: {', '.join(priors.settings)}")
    frame = cases.frame[list(cases.evidence_columns)]
    out = np.empty((cases.n, len(priors.etiology_states)))
    for name in dict.fromkeys(settings):
        rows = settings == name
        scorer = BatchScorer(CompiledEngine(priors, name))
        out[rows] = scorer.score(frame[rows], on_impossible="nan")[list(priors.etiology_states)].to_numpy()
    bad = cases.row_numbers()[np.isnan(out[:, 0])]
    if len(bad):
        shown = ", ".join(map(str, bad[:20])) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise EvidenceError(
            f"{len(bad)} case{'s' if len(bad) != 1 else ''} of {cases.name} "
            f"{'have' if len(bad) != 1 else 'has'} probability zero under the model: rows {shown}. "
            "Check these rows for a typo or a contradiction"
        )
    return out


def compare(
    cases: Cases | str | Path | pd.DataFrame,
    priors: Mapping[str, Priors | str | Path],
    *,
    setting: str = DEFAULT_SETTING,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """Score several priors on the same cases, side by side.

    Parameters
    ----------
    cases
        The case set (with confirmed etiologies).
    priors
        ``{name: priors or directory}``, e.g. ``{"shipped": ..., "calibrated": "out/"}``.
    setting
        The setting of rows without one.
    resamples, level, seed
        The paired bootstrap of the differences when two priors are compared (see
        :func:`bootstrap_differences`); ``resamples=0`` leaves the interval out.

    Returns
    -------
    table : pandas.DataFrame
        One row per metric, one column per name, then, when two are compared, ``difference``
        (last minus first) and, unless ``resamples`` is 0, ``ci_low``, ``ci_high`` and
        ``favours``; last ``better``, the direction that is better (:data:`DIRECTION`).
    evaluations : dict
        ``{name: Evaluation}``.
    """
    evaluations = {name: evaluate(cases, p, setting=setting) for name, p in priors.items()}
    table = pd.DataFrame({name: ev.metrics for name, ev in evaluations.items()})
    if len(evaluations) == 2:
        first, last = list(evaluations)
        table["difference"] = table[last] - table[first]
        if resamples:
            boot = bootstrap_differences(
                evaluations[first], evaluations[last], resamples=resamples, level=level, seed=seed
            )
            boot["favours"] = boot["favours"].map({"first": first, "last": last, "neither": "neither"})
            table = table.join(boot[["ci_low", "ci_high", "favours"]])
            table["favours"] = table["favours"].fillna("")
    table["better"] = [DIRECTION.get(m, "") for m in table.index]
    table.index.name = "metric"
    return table, evaluations


def _per_case(ev: Evaluation) -> np.ndarray:
    """Per-case contributions whose mean is each metric of :data:`_PER_CASE`, shape ``(n, 6)``."""
    post = ev.posteriors.to_numpy()
    rows = np.arange(len(post))
    truth = ev.posteriors.columns.get_indexer(ev.cases["etiology"])
    onehot = np.zeros_like(post)
    onehot[rows, truth] = 1.0
    rank = ev.cases["rank"].to_numpy()
    p_path = ev.cases["p_pathological"].to_numpy(dtype=float)
    y_path = ev.cases["pathological"].to_numpy(dtype=float)
    return np.column_stack(
        [
            rank <= 1,
            rank <= 3,
            -np.log(np.maximum(ev.cases["p_true"].to_numpy(dtype=float), FLOOR)),
            ((post - onehot) ** 2).sum(axis=1),
            (p_path - y_path) ** 2,
            p_path - y_path,
        ]
    ).astype(float)


def _weighted_auc(score: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the rank-statistic AUC of ``score`` under each row of case weights ``(B, n)``; ties count half."""
    order = np.argsort(score, kind="stable")
    s, pos, w = score[order], positive[order], weights[:, order]
    _, group = np.unique(s, return_inverse=True)
    n_groups = group.max() + 1 if len(group) else 0
    wp = np.zeros((len(w), n_groups))
    wn = np.zeros((len(w), n_groups))
    np.add.at(wp.T, group[pos], w[:, pos].T)
    np.add.at(wn.T, group[~pos], w[:, ~pos].T)
    below = np.cumsum(wn, axis=1) - wn
    total_p, total_n = wp.sum(axis=1), wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (wp * (below + 0.5 * wn)).sum(axis=1) / (total_p * total_n)
    return np.where((total_p > 0) & (total_n > 0), auc, np.nan)


def bootstrap_differences(
    first: Evaluation,
    last: Evaluation,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Give a paired bootstrap interval for each metric difference ``last - first``.

    The cases are resampled with replacement ``resamples`` times; each resample scores both
    evaluations on the same cases, so the interval reflects the uncertainty of the difference
    on cases like these (not the uncertainty of the priors themselves).

    Parameters
    ----------
    first, last
        Evaluations of two priors on the same cases (from :func:`evaluate` or :func:`compare`).
    resamples
        Number of bootstrap resamples (at least 2).
    level
        Mass of the percentile interval, between 0 and 1 (0.95: the 2.5th and 97.5th percentiles).
    seed
        Seed of the resampling; the same seed gives the same interval.

    Returns
    -------
    pandas.DataFrame
        One row per metric except ``n``: ``difference`` (on all cases), ``ci_low``, ``ci_high``,
        ``better`` (:data:`DIRECTION`) and ``favours``: ``"last"``, ``"first"`` or ``"neither"``
        (the interval includes 0, or is undefined). For ``citl_pathological`` the verdict comes
        from the interval of ``|citl_last| - |citl_first|``.

    Raises
    ------
    ArgumentError
        If the evaluations are not of the same cases, or for invalid ``resamples`` or ``level``.
    """
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 2:
        raise ArgumentError(f"resamples must be a whole number of at least 2. Got {resamples!r} instead")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ArgumentError(f"level must be a number between 0 and 1 (e.g. 0.95). Got {level!r} instead")
    a_cases, b_cases = first.cases, last.cases
    if (
        len(a_cases) != len(b_cases)
        or not (a_cases["case_id"].astype(str).to_numpy() == b_cases["case_id"].astype(str).to_numpy()).all()
        or not (a_cases["etiology"].to_numpy() == b_cases["etiology"].to_numpy()).all()
    ):
        raise ArgumentError("bootstrap_differences needs two evaluations of the same cases, in the same order")
    n = len(a_cases)
    qa, qb = _per_case(first), _per_case(last)
    pos = a_cases["pathological"].to_numpy(dtype=bool)
    pa = a_cases["p_pathological"].to_numpy(dtype=float)
    pb = b_cases["p_pathological"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 4_000_000 // max(n, 1)))
    diffs, abs_citl, auc = [], [], []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
        ma, mb = weights @ qa / n, weights @ qb / n
        diffs.append(mb - ma)
        abs_citl.append(np.abs(mb[:, -1]) - np.abs(ma[:, -1]))
        auc.append(_weighted_auc(pb, pos, weights) - _weighted_auc(pa, pos, weights))
    draws = pd.DataFrame(np.vstack(diffs), columns=list(_PER_CASE))
    draws["auc_pathological"] = np.concatenate(auc)
    abs_draws = np.concatenate(abs_citl)
    tail = 100 * (1 - level) / 2
    point = last.metrics - first.metrics
    rows = {}
    for metric in DIRECTION:
        values = draws[metric].to_numpy()
        if np.isnan(values).any():
            low = high = float("nan")
        else:
            low, high = np.percentile(values, [tail, 100 - tail])
        direction = DIRECTION[metric]
        verdict_low, verdict_high = (low, high)
        if direction == "closer to 0":
            verdict_low, verdict_high = np.percentile(abs_draws, [tail, 100 - tail])
            direction_sign = -1
        else:
            direction_sign = 1 if direction == "higher" else -1
        if not (np.isfinite(verdict_low) and np.isfinite(verdict_high)) or verdict_low <= 0 <= verdict_high:
            favours = "neither"
        else:
            favours = "last" if (verdict_low > 0) == (direction_sign > 0) else "first"
        rows[metric] = {
            "difference": float(point[metric]),
            "ci_low": float(low),
            "ci_high": float(high),
            "better": DIRECTION[metric],
            "favours": favours,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "metric"
    return table


def reliability_table(evaluation: Evaluation, *, bins: int = 10, kind: str = "etiology") -> pd.DataFrame:
    """Return the points of a reliability diagram.

    Parameters
    ----------
    evaluation
        From :func:`evaluate`.
    bins
        Number of equal-width bins of predicted probability.
    kind
        ``"etiology"``: every (case, etiology) pair, one-vs-rest; ``"pathological"``: the
        benign-vs-pathological roll-up.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin_low``, ``bin_high``, ``mean_predicted``, ``observed``,
        ``count``.
    """
    if kind == "etiology":
        post = evaluation.posteriors.to_numpy()
        truth = evaluation.posteriors.columns.get_indexer(evaluation.cases["etiology"])
        outcome = np.zeros_like(post)
        outcome[np.arange(len(truth)), truth] = 1.0
        predicted, observed = post.ravel(), outcome.ravel()
    elif kind == "pathological":
        predicted = evaluation.cases["p_pathological"].to_numpy(dtype=float)
        observed = evaluation.cases["pathological"].to_numpy(dtype=float)
    else:
        raise ArgumentError(f"kind must be 'etiology' or 'pathological'. Got '{kind}' instead")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(which, weights=predicted, minlength=bins) / count
        obs = np.bincount(which, weights=observed, minlength=bins) / count
    table = pd.DataFrame(
        {"bin_low": edges[:-1], "bin_high": edges[1:], "mean_predicted": mean_pred, "observed": obs, "count": count}
    )
    return table[table["count"] > 0].reset_index(drop=True)


_COUNT_OFFSETS = (
    (0, 6, "center", "bottom"),
    (0, -6, "center", "top"),
    (6, 0, "left", "center"),
    (-6, 0, "right", "center"),
)
"""Where overlaid series write their bin counts, in points from the marker: above, below, right, left, again."""

_RELIABILITY_XLIM, _RELIABILITY_YLIM = (-0.03, 1.03), (-0.06, 1.09)
"""The axes' limits of :func:`plot_reliability`: ``[0, 1]`` with room for the counts of points on its edges."""

_RELIABILITY_PANELS = (
    ("etiology", "every etiology, one-vs-rest", "(patient, cause) pairs"),
    ("pathological", "P(pathological)", "patients"),
)
"""Each panel of :func:`plot_reliability`: its ``kind``, its title and what its bin counts count."""


def plot_reliability(
    evaluations: Evaluation | Mapping[str, Evaluation],
    path: str | Path | None = None,
    *,
    bins: int = 10,
    title: str | None = None,
    overwrite: bool = True,
):
    """Draw reliability diagrams (all etiologies one-vs-rest, and benign vs pathological).

    Each point is one bin of :func:`reliability_table`, written with its number of cases beside it
    (in the series' colour; ``gid`` ``"count:<name>"``), since a point resting on 3 cases says much
    less than one resting on 3,000. Bins with no cases have no point. The etiology panel counts
    (patient, cause) pairs, the other panel patients.

    Parameters
    ----------
    evaluations
        One evaluation, or ``{name: Evaluation}`` to overlay (e.g. before and after calibration).
        The first series writes its counts above its points, the second below, the third to the
        right, the fourth to the left (and so on, in turn).
    path
        When given, save the figure there as PNG, atomically (a temporary file in the same folder,
        renamed over ``path`` when complete; see :func:`fasciculation_dx.atomic.atomic_file`).
        Its folder is created if needed.
    bins
        Number of bins.
    title
        A title over both panels.
    overwrite
        Whether an existing ``path`` may be replaced (``evaluate --reliability`` passes
        ``--overwrite``); when false, an existing file raises :class:`fasciculation_dx.errors.OutputExistsError`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot, so nothing is shown unless displayed).
    """
    from matplotlib.figure import Figure  # lazily: plotting is optional

    if isinstance(evaluations, Evaluation):
        evaluations = {"model": evaluations}
    fig = Figure(figsize=(10, 4.9), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, (kind, label, counted) in zip(axes, _RELIABILITY_PANELS):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
        for (name, ev), (dx, dy, ha, va) in zip(evaluations.items(), cycle(_COUNT_OFFSETS)):
            table = reliability_table(ev, bins=bins, kind=kind)
            (line,) = ax.plot(table["mean_predicted"], table["observed"], marker="o", label=name)
            for x, y, n in zip(table["mean_predicted"], table["observed"], table["count"]):
                note = ax.annotate(
                    f"{n:,}", (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                    fontsize=6.5, color=line.get_color(), bbox={"boxstyle": "square,pad=0.05", "fc": "white",
                    "ec": "none", "alpha": 0.7},
                )  # fmt: skip
                note.set_gid(f"count:{name}")
        ax.set_xlim(*_RELIABILITY_XLIM)  # a margin around [0, 1] keeps the counts of edge points inside
        ax.set_ylim(*_RELIABILITY_YLIM)
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed frequency")
        ax.set_title(f"{label}\nnumbers: {counted} in each bin", fontsize=10)
        ax.legend(loc="upper left", fontsize="small")
    if title:
        fig.suptitle(title)
    if path is not None:
        from ..atomic import atomic_file

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    return fig


def decision_curves(evaluations: Evaluation | Mapping[str, Evaluation], thresholds=None) -> pd.DataFrame:
    """Stack the decision curves of one or several evaluations into one long table.

    Parameters
    ----------
    evaluations
        One evaluation, or ``{name: Evaluation}`` (e.g. from :func:`compare`).
    thresholds
        Threshold probabilities strictly between 0 and 1; 0.01 to 0.50 by 0.01 when omitted.

    Returns
    -------
    pandas.DataFrame
        ``priors`` (the name; ``"model"`` for a single evaluation) followed by the columns of
        :func:`fasciculation_dx.analysis.decision_curve.decision_curve`, one block of rows per
        evaluation.
    """
    if isinstance(evaluations, Evaluation):
        evaluations = {"model": evaluations}
    if not evaluations:
        raise ArgumentError("decision_curves needs at least one evaluation")
    blocks = [ev.decision_curve(thresholds).assign(priors=name) for name, ev in evaluations.items()]
    table = pd.concat(blocks, ignore_index=True)
    return table[["priors", *blocks[0].columns.drop("priors")]]


def format_metrics(table: pd.DataFrame | pd.Series) -> str:
    """Format metrics as a readable text table (one column per priors)."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    return frame.to_string(float_format=lambda x: f"{x:.4f}")

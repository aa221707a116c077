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

The reliability diagram pools every (case, etiology) pair, one-vs-rest, into equal-width bins of
predicted probability and plots the observed frequency against the mean prediction, next to the
same for ``P(pathological)``.

The decision curve (:meth:`Evaluation.decision_curve`, :func:`decision_curves`; see
:mod:`.decision_curve`) gives the net benefit of referring for EMG when ``P(pathological)``
reaches a threshold, against referring every case or none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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

__all__ = ["Evaluation", "evaluate", "compare", "reliability_table", "plot_reliability", "decision_curves"]

FLOOR = 1e-15


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
        A case file, data frame or :class:`~.cases.Cases`; rows without an ``etiology`` are
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

    Returns
    -------
    table : pandas.DataFrame
        One row per metric, one column per name, plus ``difference`` (last minus first) when
        two are compared.
    evaluations : dict
        ``{name: Evaluation}``.
    """
    evaluations = {name: evaluate(cases, p, setting=setting) for name, p in priors.items()}
    table = pd.DataFrame({name: ev.metrics for name, ev in evaluations.items()})
    if len(evaluations) == 2:
        first, last = list(evaluations)
        table["difference"] = table[last] - table[first]
    table.index.name = "metric"
    return table, evaluations


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


def plot_reliability(
    evaluations: Evaluation | Mapping[str, Evaluation],
    path: str | Path | None = None,
    *,
    bins: int = 10,
    title: str | None = None,
    overwrite: bool = True,
):
    """Draw reliability diagrams (all etiologies one-vs-rest, and benign vs pathological).

    Parameters
    ----------
    evaluations
        One evaluation, or ``{name: Evaluation}`` to overlay (e.g. before and after calibration).
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
        ``--overwrite``); when false, an existing file raises :class:`~.errors.OutputExistsError`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not attached to pyplot, so nothing is shown unless displayed).
    """
    from matplotlib.figure import Figure  # lazily: plotting is optional

    if isinstance(evaluations, Evaluation):
        evaluations = {"model": evaluations}
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, kind, label in zip(axes, ("etiology", "pathological"), ("every etiology, one-vs-rest", "P(pathological)")):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
        for name, ev in evaluations.items():
            table = reliability_table(ev, bins=bins, kind=kind)
            ax.plot(table["mean_predicted"], table["observed"], marker="o", label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed frequency")
        ax.set_title(label)
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

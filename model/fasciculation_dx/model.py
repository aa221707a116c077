"""The diagnostic model: posteriors, roll-ups, explanations and the next most informative tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import EvidenceError
from .inference.compiled import CompiledEngine
from .inference.evidence import EvidenceChecker, checked_posterior
from .inference.explain import EXPLANATION_COLUMNS, explain_posterior
from .inference.information import MIN_GAIN, TEST_COLUMNS, rank_tests, unconfirmed_findings
from .network.loader import load_priors
from .network.paths import shipped_priors_dir
from .network.pgmpy_adapter import ReferenceEngine
from .network.priors import DEFAULT_SETTING, ETIOLOGY, Priors

if TYPE_CHECKING:  # pandas is imported on first use, so a command-line query starts fast
    import pandas as pd

__all__ = ["Model", "load_model"]


ENGINES = ("compiled", "pgmpy")


def load_model(priors_dir: str | Path | None = None, setting: str = DEFAULT_SETTING, engine: str = "compiled") -> Model:
    """Load the priors and build the model for one care setting.

    Parameters
    ----------
    priors_dir
        A priors directory; the shipped priors when omitted.
    setting
        ``"primary_care"`` (default) or ``"neuromuscular_clinic"``, or any setting of the
        directory's ``settings.csv``.
    engine
        ``"compiled"`` (default): exact inference on precompiled numpy arrays;
        ``"pgmpy"``: the reference path, pgmpy's variable elimination.

    Returns
    -------
    Model

    Raises
    ------
    PriorsError
        If the priors are invalid (every problem is listed).
    EvidenceError
        If the setting is unknown.

    Examples
    --------
    >>> import fasciculation_dx as fdx
    >>> model = fdx.load_model()
    >>> post = model.posterior({"weakness": "no", "emg_fibrillations": "absent"})
    >>> round(float(post.sum()), 12)
    1.0
    """
    priors = load_priors(priors_dir if priors_dir is not None else shipped_priors_dir())
    return Model(priors, setting, engine=engine)


class Model:
    """A Bayesian network over the causes of fasciculations, for one care setting.

    The numbers it returns are probabilities to support clinical judgement, not diagnoses.

    Parameters
    ----------
    priors
        Validated priors (see :func:`fasciculation_dx.load_priors`).
    setting
        The care setting whose base rates apply.
    engine
        ``"compiled"`` (default) or ``"pgmpy"`` (the reference); both are exact.
    """

    def __init__(self, priors: Priors, setting: str = DEFAULT_SETTING, engine: str = "compiled"):
        if setting not in priors.settings:
            raise EvidenceError(f"unknown setting '{setting}'. Valid settings: {', '.join(priors.settings)}")
        if engine not in ENGINES:
            raise EvidenceError(f"unknown engine '{engine}'. Valid engines: {', '.join(ENGINES)}")
        self.priors = priors
        self.setting = setting
        self.engine = engine
        self.inference = CompiledEngine(priors, setting) if engine == "compiled" else ReferenceEngine(priors, setting)
        """The inference engine object (``posterior(evidence)``, ``marginal(node, evidence)``)."""
        self._check = EvidenceChecker(priors)
        self.states: dict[str, tuple[str, ...]] = self._check.valid
        self.etiologies: tuple[str, ...] = priors.etiology_states
        self._category = {e.name: e.category for e in priors.etiologies.values()}
        self.pathological = np.array([self._category[e] == "pathological" for e in self.etiologies])
        """Boolean mask over :attr:`etiologies` marking the pathological causes (``category``)."""
        self._group = {e.name: e.group for e in priors.etiologies.values()}
        self._groups = tuple(dict.fromkeys(self._group[e] for e in self.etiologies))
        # one-hot (etiology, group) matrix: the group roll-up is one vector product
        self._group_matrix = np.array([[self._group[e] == g for g in self._groups] for e in self.etiologies], float)
        self._indexes: dict[str, object] = {}  # pandas indexes, built on first use

    def _index(self, name: str, labels: Sequence[str]):
        """Return a pandas Index of ``labels`` named ``name``, built once.

        Its dtype is ``object``: reordering an object index is several times faster than
        reordering pandas' default string index, and this is on the path of every query.
        """
        index = self._indexes.get(name)
        if index is None:
            import pandas as pd

            index = self._indexes[name] = pd.Index(np.array(labels, dtype=object), dtype=object, name=name)
        return index

    def _series(self, values: np.ndarray, name: str, labels: Sequence[str], sort: bool = True) -> pd.Series:
        """Return a probability Series over ``labels`` (sorted descending, ties in label order, when ``sort``)."""
        import pandas as pd

        index = self._index(name, labels)
        if sort:
            order = np.argsort(-values, kind="stable")
            values, index = values[order], index.take(order)
        return pd.Series(values, index=index, name="probability", copy=False)

    def __repr__(self) -> str:
        return (
            f"Model(setting={self.setting!r}, engine={self.engine!r}, "
            f"nodes={len(self.priors.nodes)}, etiologies={len(self.etiologies)})"
        )

    def to_pgmpy(self):
        """Return the reference pgmpy ``DiscreteBayesianNetwork`` for this model's setting."""
        from .network.pgmpy_adapter import build_network

        return build_network(self.priors, self.setting)

    # -- core queries --------------------------------------------------------------------------
    def check_evidence(self, evidence: Mapping[str, object] | None) -> dict:
        """Check evidence and return it as understood (see :func:`fasciculation_dx.inference.evidence.check_evidence`).

        Soft values come back as normalised
        :class:`fasciculation_dx.inference.soft.Likelihood` mappings, former node names as the
        current ones.
        """
        return self._check(evidence or {})

    def read_evidence(self, evidence: Mapping[str, object] | None) -> tuple[dict, dict]:
        """Check evidence and say how each value entered as a number was binned.

        Returns
        -------
        tuple
            The evidence as :meth:`check_evidence` returns it, and ``{node: Binned}`` for every
            value entered as a number (``calcium=1.9mmol/L``, ``age=58``; see
            :mod:`fasciculation_dx.inference.measurements`), whose ``describe()`` gives the line to show.
        """
        return self._check.check_binned(evidence or {})

    def posterior_vector(self, evidence: Mapping[str, object] | None = None) -> np.ndarray:
        """Posterior of each etiology as a plain array in :attr:`etiologies` order (the fast path).

        Raises the same errors as :meth:`posterior`.
        """
        return checked_posterior(self.inference, self.priors, evidence, self._check)

    def posterior(
        self,
        evidence: Mapping[str, str] | None = None,
        interval: float | None = None,
        draws: int = 2000,
        seed: int | None = 0,
    ) -> pd.Series | pd.DataFrame:
        """Posterior probability of each etiology given the evidence.

        Parameters
        ----------
        evidence
            ``{node: state}``; every node of :attr:`states` may be given, none must be. A finding
            known only approximately is entered as soft (likelihood) evidence: a mapping of state
            to relative weight, ``{"weakness": {"yes": 0.8, "no": 0.2}}``, or ``"~yes"`` for
            "probably yes" (likelihood ratio 4); see :mod:`fasciculation_dx.inference.soft`.
            Hard and soft evidence mix freely.
        interval
            If given (e.g. ``0.9``), also return an equal-tailed credible interval of that mass for
            each posterior, from Monte Carlo draws of every parameter over its plausible range
            (see :mod:`fasciculation_dx.analysis.uncertainty`).
        draws, seed
            Monte Carlo draws and seed for ``interval``; the result is reproducible given the seed.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            Without ``interval``: a Series indexed by etiology, sorted in descending order, summing
            to 1. With ``interval``: a DataFrame with columns ``probability``, ``lower``, ``upper``,
            ``mean`` and ``sd``, sorted by ``probability``.

        Raises
        ------
        EvidenceError
            For an unknown node or state, a node that cannot be observed, or an interval outside
            (0, 1).
        ImpossibleEvidenceError
            If the evidence has probability zero; the error names the conflicting findings.
        """
        values = self.posterior_vector(evidence)
        if interval is not None:
            from .analysis.uncertainty import posterior_interval
            from .inference.query import check_level

            check_level(interval)
            return posterior_interval(self, evidence or {}, level=interval, draws=draws, seed=seed)
        return self._series(values, ETIOLOGY, self.etiologies)

    def category_posterior(self, evidence: Mapping[str, object] | None = None) -> pd.Series:
        """Probability that the cause is benign or pathological (a roll-up of the etiologies)."""
        values = self.posterior_vector(evidence)
        rolled = np.array([values[~self.pathological].sum(), values[self.pathological].sum()])
        return self._series(rolled, "category", ("benign", "pathological"), sort=False)

    def group_posterior(self, evidence: Mapping[str, object] | None = None) -> pd.Series:
        """Probability of each disease group (a roll-up of the etiologies), descending."""
        return self._series(self.posterior_vector(evidence) @ self._group_matrix, "group", self._groups)

    def predictive(self, node: str, evidence: Mapping[str, object] | None = None) -> pd.Series:
        """Predictive distribution of an evidence node given the evidence.

        For a node entered as soft evidence, the distribution of its true state given all the
        evidence, its own uncertain observation included.
        """
        evidence = self._check(evidence or {})
        if node not in self.states:
            self._check({node: None})
        import pandas as pd

        self.posterior_vector(evidence)
        values = self.inference.marginal(node, evidence)
        return pd.Series(values, index=pd.Index(self.states[node], name=node), name="probability")

    # -- reasoning about the evidence ------------------------------------------------------------
    def explain(self, evidence: Mapping[str, str]) -> pd.DataFrame:
        """Weight of evidence of each observed finding for the leading etiology and for a pathological cause.

        Parameters
        ----------
        evidence
            The observed evidence.

        Returns
        -------
        pandas.DataFrame
            One row per observed node, with ``woe_vs_rest``, ``lr_vs_rest``, ``woe_vs_runner_up``
            (for the leading etiology), ``woe_pathological_vs_benign`` and
            ``lr_pathological_vs_benign`` (for a pathological cause against a benign one); weights
            are natural-log likelihood ratios of the finding added last. See
            :func:`fasciculation_dx.inference.explain.explain_posterior` for the definitions.

        Raises
        ------
        EvidenceError, ImpossibleEvidenceError
            For invalid or impossible evidence.
        """
        import pandas as pd

        evidence = self._check(evidence)
        self.posterior_vector(evidence)
        records = explain_posterior(self.inference.posterior, self.etiologies, evidence, self.pathological)
        return pd.DataFrame(records, columns=list(EXPLANATION_COLUMNS))

    def next_tests(
        self,
        evidence: Mapping[str, str] | None = None,
        top: int | None = None,
        by: str = "etiology",
        *,
        order: str = "tier",
        max_tier: str | None = None,
        min_gain: float = MIN_GAIN,
    ) -> pd.DataFrame:
        """Rank the unobserved findings by expected information gain, cheapest useful tier first.

        Parameters
        ----------
        evidence
            The observed evidence.
        top
            Return only the first ``top`` rows.
        by
            ``"etiology"`` (default) ranks by the information about the cause; ``"category"`` by the
            information about benign versus pathological.
        order
            ``"tier"`` (default): the useful findings (expected gain of at least ``min_gain`` bits)
            first, in the escalation order of their tier (``history``, ``bedside_examination``,
            ``blood_test``, ``electrodiagnosis``, ``antibody``, ``imaging``, ``genetic``, from
            ``tests.csv``) and by gain within a tier, then the rest in the same order.
            ``"gain"``: by gain alone. ``"gain_per_cost"``: by gain per indicative relative cost.
        max_tier
            Keep only findings of this tier or an earlier one (e.g. ``"blood_test"``: history,
            examination and blood tests); ``None`` keeps every tier.
        min_gain
            The usefulness threshold in bits for ``order="tier"`` (default
            :data:`fasciculation_dx.inference.information.MIN_GAIN`).

        Returns
        -------
        pandas.DataFrame
            Columns ``node``, ``panel``, ``tier``, ``cost_band``, ``invasiveness``,
            ``info_gain_etiology``, ``info_gain_category`` (bits) and ``most_likely_result``. See
            :func:`fasciculation_dx.inference.information.rank_tests`.

        Raises
        ------
        EvidenceError
            For invalid evidence or an unknown ``by``.
        ArgumentError
            For an unknown ``order`` or ``max_tier``, or a negative ``min_gain``; the message lists
            the valid values.
        """
        if by not in ("etiology", "category"):
            raise EvidenceError(f"by must be 'etiology' or 'category'. Got '{by}' instead")
        evidence = self._check(evidence or {})
        self.posterior_vector(evidence)
        findings = unconfirmed_findings(self.priors, evidence)
        import pandas as pd

        records = rank_tests(
            self.inference,
            self.priors,
            evidence,
            findings,
            self.pathological,
            by=by,
            order=order,
            max_tier=max_tier,
            min_gain=min_gain,
        )
        return pd.DataFrame(records[:top] if top is not None else records, columns=list(TEST_COLUMNS))

    # -- cohorts ---------------------------------------------------------------------------------
    def posterior_batch(
        self,
        cases: pd.DataFrame,
        *,
        passthrough: Sequence[str] = (),
        on_impossible: Literal["raise", "nan"] = "raise",
    ) -> pd.DataFrame:
        """Posteriors for a table of cases, vectorised (see :func:`fasciculation_dx.inference.batch.posterior_batch`).

        Parameters
        ----------
        cases
            One row per case; columns named after evidence nodes (empty = unobserved), and optionally
            ``case_id``, ``setting`` and ``etiology``.
        passthrough
            Other columns to copy to the output.
        on_impossible
            ``"raise"`` (default) or ``"nan"`` for rows whose evidence has probability zero.

        Returns
        -------
        pandas.DataFrame
            Same index as ``cases``: the etiology posteriors, ``p_benign`` and ``p_pathological``.

        Raises
        ------
        EvidenceError
            Listing every invalid cell with its row and column.
        """
        from .inference.batch import posterior_batch

        return posterior_batch(self.inference, self.priors, cases, passthrough=passthrough, on_impossible=on_impossible)

    def posterior_dask(self, ddf, *, passthrough: Sequence[str] = (), on_impossible: Literal["raise", "nan"] = "raise"):
        """Compute :meth:`posterior_batch` on a Dask DataFrame, partition by partition."""
        from .analysis.distributed import posterior_dask

        return posterior_dask(self, ddf, passthrough=passthrough, on_impossible=on_impossible)

    def score_file(self, input, output, chunksize: int = 100_000, **kwargs) -> int:
        """Score a CSV or Parquet file in chunks and write the posteriors atomically.

        See :func:`fasciculation_dx.analysis.scoring.score_file`; returns the number of cases scored.
        """
        from .analysis.scoring import score_file

        return score_file(self, input, output, chunksize=chunksize, **kwargs)

    # -- research ---------------------------------------------------------------------------------
    def uncertainty(self, evidence: Mapping[str, str] | None = None, draws: int = 2000, seed: int | None = 0):
        """Posterior draws under joint uncertainty about every parameter (Monte Carlo).

        See :func:`fasciculation_dx.analysis.uncertainty.monte_carlo`; the result's
        ``interval(level, by)`` gives credible bounds by etiology, group or category.
        """
        from .analysis.uncertainty import monte_carlo

        return monte_carlo(self, evidence, draws, seed)

    def calibrate(
        self,
        cases,
        *,
        out=None,
        overwrite: bool = False,
        max_iter: int = 200,
        tol: float = 1e-6,
        progress: bool = False,
    ):
        """Update the priors from a case table by Bayesian estimation (EM for missing findings).

        See :func:`fasciculation_dx.analysis.calibration.calibrate`; the result holds the new priors, a
        report of what moved, its ranges, why the EM stopped (``stopped``), and (with ``out``) the
        directory written. The shipped priors are never overwritten.
        """
        from .analysis.calibration import calibrate

        return calibrate(
            cases,
            self.priors,
            setting=self.setting,
            out=out,
            overwrite=overwrite,
            max_iter=max_iter,
            tol=tol,
            progress=progress,
        )

    def evaluate(self, cases):
        """Score a case table with a known etiology column: accuracy, log loss, Brier, AUC, calibration.

        See :func:`fasciculation_dx.analysis.evaluate.evaluate`.
        """
        from .analysis.evaluate import evaluate

        return evaluate(cases, self.priors, setting=self.setting)

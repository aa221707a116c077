"""The diagnostic model: posteriors, roll-ups, explanations and the next most informative tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .compiled import CompiledEngine
from .errors import EvidenceError, ImpossibleEvidenceError
from .evidence import check_evidence, observable_states
from .explain import explain_posterior
from .information import rank_tests
from .loader import load_priors
from .network import ReferenceEngine
from .paths import shipped_priors_dir
from .priors import DEFAULT_SETTING, ETIOLOGY, Priors

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
        self._engine = CompiledEngine(priors, setting) if engine == "compiled" else ReferenceEngine(priors, setting)
        self.states: dict[str, tuple[str, ...]] = observable_states(priors)
        self.etiologies: tuple[str, ...] = priors.etiology_states
        self._category = pd.Series({e.name: e.category for e in priors.etiologies.values()})
        self._group = pd.Series({e.name: e.group for e in priors.etiologies.values()})

    def __repr__(self) -> str:
        return (
            f"Model(setting={self.setting!r}, engine={self.engine!r}, "
            f"nodes={len(self.priors.nodes)}, etiologies={len(self.etiologies)})"
        )

    def to_pgmpy(self):
        """Return the reference pgmpy ``DiscreteBayesianNetwork`` for this model's setting."""
        from .network import build_network

        return build_network(self.priors, self.setting)

    # -- core queries --------------------------------------------------------------------------
    def _posterior_array(self, evidence: Mapping[str, str]) -> np.ndarray:
        evidence = check_evidence(self.priors, evidence)
        values = self._engine.posterior(evidence)
        if not np.all(np.isfinite(values)) or abs(values.sum() - 1.0) > 1e-9:
            raise self._impossible(evidence)
        return values

    def _impossible(self, evidence: dict[str, str]) -> ImpossibleEvidenceError:
        """Find a minimal set of findings that cannot occur together."""
        conflict = dict(evidence)
        for node in list(evidence):
            trial = {k: v for k, v in conflict.items() if k != node}
            if trial and not np.all(np.isfinite(self._engine.posterior(trial))):
                conflict = trial
        named = ", ".join(f"{k}={v}" for k, v in conflict.items())
        return ImpossibleEvidenceError(
            f"the evidence has probability zero under the model: {named} cannot occur together. "
            "Check these entries for a typo or a contradiction",
            conflict,
        )

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
            ``{node: state}``; every node of :attr:`states` may be given, none must be.
        interval
            If given (e.g. ``0.9``), also return an equal-tailed credible interval of that mass for
            each posterior, from Monte Carlo draws of every parameter over its plausible range
            (see :mod:`fasciculation_dx.uncertainty`).
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
        values = self._posterior_array(evidence or {})
        if interval is not None and not 0 < interval < 1:
            raise EvidenceError(f"the interval level must be between 0 and 1 (e.g. 0.9). Got {interval} instead")
        if interval is not None:
            from .uncertainty import posterior_interval

            return posterior_interval(self, evidence or {}, level=interval, draws=draws, seed=seed)
        series = pd.Series(values, index=pd.Index(self.etiologies, name=ETIOLOGY), name="probability")
        return series.sort_values(ascending=False, kind="stable")

    def category_posterior(self, evidence: Mapping[str, str] | None = None) -> pd.Series:
        """Probability that the cause is benign or pathological (a roll-up of the etiologies)."""
        post = self.posterior(evidence)
        out = post.groupby(self._category[post.index].values).sum()
        return out.reindex(["benign", "pathological"], fill_value=0.0).rename_axis("category").rename("probability")

    def group_posterior(self, evidence: Mapping[str, str] | None = None) -> pd.Series:
        """Probability of each disease group (a roll-up of the etiologies), descending."""
        post = self.posterior(evidence)
        out = post.groupby(self._group[post.index].values).sum()
        return out.sort_values(ascending=False, kind="stable").rename_axis("group").rename("probability")

    def predictive(self, node: str, evidence: Mapping[str, str] | None = None) -> pd.Series:
        """Predictive distribution of an unobserved evidence node given the evidence."""
        evidence = check_evidence(self.priors, evidence or {})
        if node not in self.states:
            check_evidence(self.priors, {node: None})
        self._posterior_array(evidence)
        values = self._engine.marginal(node, evidence)
        return pd.Series(values, index=pd.Index(self.states[node], name=node), name="probability")

    # -- reasoning about the evidence ------------------------------------------------------------
    def explain(self, evidence: Mapping[str, str]) -> pd.DataFrame:
        """Weight of evidence of each observed finding for the leading etiology.

        See :func:`fasciculation_dx.explain.explain_posterior` for the definition.
        """
        evidence = check_evidence(self.priors, evidence)
        self._posterior_array(evidence)
        return explain_posterior(self._engine.posterior, self.etiologies, evidence)

    def next_tests(
        self, evidence: Mapping[str, str] | None = None, top: int | None = None, by: str = "etiology"
    ) -> pd.DataFrame:
        """Rank the unobserved findings by expected information gain.

        Parameters
        ----------
        evidence
            The observed evidence.
        top
            Return only the first ``top`` rows.
        by
            ``"etiology"`` (default) ranks by the information about the cause; ``"category"`` by the
            information about benign versus pathological.

        Returns
        -------
        pandas.DataFrame
            Columns ``node``, ``panel``, ``info_gain_etiology``, ``info_gain_category`` (bits) and
            ``most_likely_result``. See :func:`fasciculation_dx.information.rank_tests`.
        """
        if by not in ("etiology", "category"):
            raise EvidenceError(f"by must be 'etiology' or 'category'. Got '{by}' instead")
        evidence = check_evidence(self.priors, evidence or {})
        self._posterior_array(evidence)
        findings = [n for n, spec in self.priors.nodes.items() if spec.layer == "finding" and n not in evidence]
        pathological = self._category[list(self.etiologies)].to_numpy() == "pathological"
        table = rank_tests(self._engine, self.priors, evidence, findings, pathological)
        if by == "category":
            table = table.sort_values(["info_gain_category", "node"], ascending=[False, True], kind="stable")
            table = table.reset_index(drop=True)
        return table.head(top) if top is not None else table

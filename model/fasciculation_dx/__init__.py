"""fasciculation_dx: a Bayesian-network model of the causes of muscle fasciculations.

Its posteriors support clinical judgement; they are not diagnoses.

>>> import fasciculation_dx as fdx
>>> model = fdx.load_model()
>>> model.posterior({"tongue_fasciculations": "yes"}).index[0] in model.etiologies
True
"""

from ._version import __version__
from .errors import (
    EvidenceError,
    FasciculationDxError,
    ImpossibleEvidenceError,
    PriorsError,
    Problem,
)
from .model import Model, load_model
from .network.loader import load_priors, validate_priors
from .network.paths import shipped_priors_dir
from .network.priors import Priors
from .network.writer import write_priors

__all__ = [
    "EvidenceError",
    "FasciculationDxError",
    "ImpossibleEvidenceError",
    "Model",
    "Priors",
    "PriorsError",
    "Problem",
    "__version__",
    "load_model",
    "load_priors",
    "shipped_priors_dir",
    "validate_priors",
    "write_priors",
]

"""fasciculation_dx: a Bayesian-network model of the causes of muscle fasciculations.

Its posteriors support clinical judgement; they are not diagnoses.

>>> import fasciculation_dx as fdx
>>> model = fdx.load_model()
>>> model.posterior({"tongue_fasciculations": "yes"}).index[0] in model.etiologies
True
"""

from .errors import (
    EvidenceError,
    FasciculationDxError,
    ImpossibleEvidenceError,
    PriorsError,
    Problem,
)
from .loader import load_priors, validate_priors
from .model import Model, load_model
from .paths import shipped_priors_dir
from .priors import Priors
from .writer import write_priors

__version__ = "0.1.0"

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

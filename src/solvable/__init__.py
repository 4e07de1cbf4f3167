"""solvable: exactly solvable models of high-dimensional machine learning.

Theory (``predict``) and matched finite-size simulation (``simulate``) of the same
teacher-student problem, through one registry keyed by (problem, learner) types.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import activations, channels, losses, numerics, penalties, priors  # noqa: F401
from .learners import AMP, ERM, BayesOptimal, Learner, Spectral
from .numerics import ConvergenceError, ConvergenceWarning
from .problems import GLM
from .registry import (
    UnsupportedPairError,
    phase_transitions,
    predict,
    register_simulation,
    register_theory,
    register_transitions,
    simulate,
    supported_pairs,
)
from .results import Prediction, SimulationResult
from . import theory as _theory  # noqa: F401,E402  (registers the engines)
from . import simulations as _simulations  # noqa: F401,E402

__all__ = [
    "__version__", "activations", "channels", "losses", "numerics", "penalties", "priors",
    "AMP", "ERM", "BayesOptimal", "Learner", "Spectral", "GLM",
    "ConvergenceError", "ConvergenceWarning", "UnsupportedPairError",
    "phase_transitions", "predict", "simulate", "supported_pairs",
    "register_simulation", "register_theory", "register_transitions",
    "Prediction", "SimulationResult",
]

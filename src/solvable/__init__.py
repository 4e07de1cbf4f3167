"""solvable: exactly solvable models of high-dimensional machine learning.

Theory (``predict``) and matched finite-size simulation (``simulate``) of the same
teacher-student problem, through one registry keyed by (problem, learner) types.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import activations, channels, losses, numerics, penalties, priors  # noqa: F401
from .learners import AMP, ERM, BayesOptimal, Learner, OnlineSGD, Spectral
from .numerics import ConvergenceError, ConvergenceWarning
from .problems import GLM, Committee, NoiseProfile, SpikedWigner, SpikedWishart
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
from .theory.random_features import rates  # noqa: E402  (kernel ridge decay exponents)
from . import theory as _theory  # noqa: F401,E402  (registers the engines)
from . import simulations as _simulations  # noqa: F401,E402
from . import data  # noqa: F401,E402  (data models: covariance spectra, Gaussian covariate model)
from .theory.erm import optimal_penalty  # noqa: E402
from . import experiments  # noqa: E402
from .experiments import plot, plot_phase_diagram, sweep  # noqa: E402

__all__ = [
    "__version__", "activations", "channels", "losses", "numerics", "penalties", "priors",
    "AMP", "ERM", "BayesOptimal", "Learner", "Spectral", "GLM", "NoiseProfile", "SpikedWigner", "SpikedWishart", "OnlineSGD", "Committee",
    "ConvergenceError", "ConvergenceWarning", "UnsupportedPairError",
    "phase_transitions", "predict", "simulate", "supported_pairs",
    "register_simulation", "register_theory", "register_transitions",
    "Prediction", "SimulationResult", "rates",
    "experiments", "sweep", "plot", "plot_phase_diagram",
]

"""solvable: exactly solvable models of high-dimensional machine learning.

Theory (``predict``) and matched finite-size simulation (``simulate``) of the same
teacher-student problem, through one registry keyed by (problem, learner) types.

Layers (imports point down): ``numerics`` -> ``core`` -> ``blocks`` -> ``families`` ->
``experiments``.  The block namespaces are re-exported here (``sv.priors``, ``sv.losses``,
``sv.data``, ...), the families live in ``sv.families.<name>``.
"""
import sys as _sys

__version__ = "0.1.0"

from solvable import blocks, core, numerics
from solvable.blocks import activations, channels, data, losses, penalties, priors
from solvable.blocks.learners import AMP, ERM, BayesOptimal, Learner, Spectral
from solvable.blocks.problems import GLM
from solvable.core.registry import (
    UnsupportedPairError,
    options,
    phase_transitions,
    predict,
    register_simulation,
    register_theory,
    register_transitions,
    simulate,
    supported_pairs,
)
from solvable.core.results import Prediction, SimulationResult
from solvable.numerics import ConvergenceError, ConvergenceWarning
from solvable import families  # registers every family
from solvable.families.erm import AdversarialERM, optimal_penalty
from solvable.families.mixtures import GaussianMixture, random_features_mixture, separability_threshold, universality_gap
from solvable.families.lowrank import NoiseProfile, SpikedWigner, SpikedWishart
from solvable.families.random_features import rates
from solvable.families.sgd import Committee, OnlineSGD
from solvable import experiments
from solvable.experiments import load, plot, plot_phase_diagram, sweep

# ``import solvable.priors`` (and the other block namespaces) keeps working
for _name in ("activations", "channels", "data", "losses", "penalties", "priors"):
    _sys.modules[f"{__name__}.{_name}"] = globals()[_name]

__all__ = [
    "__version__",
    # blocks
    "activations", "channels", "data", "losses", "penalties", "priors", "numerics",
    # problems and learners
    "GLM", "SpikedWigner", "SpikedWishart", "NoiseProfile", "Committee", "GaussianMixture",
    "Learner", "BayesOptimal", "AMP", "ERM", "AdversarialERM", "Spectral", "OnlineSGD",
    # the driver
    "predict", "simulate", "phase_transitions", "supported_pairs", "options",
    "register_theory", "register_simulation", "register_transitions",
    "Prediction", "SimulationResult", "ConvergenceError", "ConvergenceWarning", "UnsupportedPairError",
    # family helpers users expect at the top
    "optimal_penalty", "rates", "separability_threshold", "universality_gap", "random_features_mixture",
    # experiments
    "blocks", "core", "families", "experiments", "sweep", "load", "plot", "plot_phase_diagram",
]

"""Layer 2, the core: the registry of families and their (problem, learner) pairs, the family
contract, the driver behind ``predict`` / ``simulate`` / ``phase_transitions`` (options,
failure policy, packaging), phase-transition location, results and contract checks."""
from solvable.core.registry import (
    UnsupportedPairError,
    phase_transitions,
    predict,
    register_simulation,
    register_theory,
    register_transitions,
    simulate,
    supported_pairs,
)
from solvable.core.results import Prediction, SimulationResult

__all__ = [
    "UnsupportedPairError", "phase_transitions", "predict", "simulate", "supported_pairs",
    "register_simulation", "register_theory", "register_transitions", "Prediction", "SimulationResult",
]

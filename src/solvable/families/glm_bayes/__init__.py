"""Bayes-optimal learning of generalised linear models and GAMP: the replica formula, state
evolution, phase transitions, and GAMP at finite d (docs/glm_bayes.md)."""
from solvable.families.glm_bayes import equations, experiment  # noqa: F401  (registers the pairs)
from solvable.families.glm_bayes.equations import GLMEquations, information_dimension, state_evolution

__all__ = ["GLMEquations", "information_dimension", "state_evolution"]

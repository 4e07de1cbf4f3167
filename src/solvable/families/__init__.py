"""Layer 4, the theory families: one package each (problem, equations = theory, experiment =
finite-size simulation, algorithms, recipes).  Importing a family package registers it.
A family imports numerics, core and blocks, never another family."""
from solvable.families import erm, glm_bayes, lowrank, random_features, sgd  # noqa: F401

__all__ = ["erm", "glm_bayes", "lowrank", "random_features", "sgd"]

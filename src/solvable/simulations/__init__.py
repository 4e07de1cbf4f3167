"""Finite-size simulations behind ``simulate`` (they use layer 5, ``solvable.algorithms``).
Importing a module registers its simulations."""
from . import glm_bayes  # noqa: F401
from . import erm  # noqa: F401
from . import lowrank  # noqa: F401
from . import sgd  # noqa: F401

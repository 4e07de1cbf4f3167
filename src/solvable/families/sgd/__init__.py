"""Learning dynamics of online SGD in two-layer networks: the Saad-Solla / Goldt et al. ODEs
and the matched SGD runs (docs/dynamics.md)."""
from solvable.families.sgd.problem import Committee
from solvable.families.sgd.learner import OnlineSGD
from solvable.families.sgd import equations, experiment  # noqa: F401  (registers the pairs)
from solvable.families.sgd.equations import initial_order_parameters, integrate_committee_ode

__all__ = ["Committee", "OnlineSGD", "initial_order_parameters", "integrate_committee_ode"]

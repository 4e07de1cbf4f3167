"""Empirical risk minimisation on Gaussian data (isotropic, covariances, the Gaussian covariate
model, random features): the replica fixed point, max-margin, optimal penalties, and the
finite-size solvers (docs/erm.md)."""
from solvable.families.erm import equations, experiment  # noqa: F401  (registers the pairs)
from solvable.families.erm.equations import optimal_penalty, separability_threshold

__all__ = ["optimal_penalty", "separability_threshold"]

"""Layer 1: Gaussian expectations, fixed points, special functions."""
from solvable.numerics.fixed_point import (
    ConvergenceError,
    ConvergenceWarning,
    FixedPointResult,
    continuation,
    solve_fixed_point,
)
from solvable.numerics.gauss import gauss_expect, gauss_expect_2d, hermite_rule, legendre_rule
from solvable.numerics.special import (
    log_phi,
    log_Phi,
    mills_ratio,
    norm_cdf,
    norm_pdf,
    truncnorm_moments,
)

__all__ = [
    "ConvergenceError", "ConvergenceWarning", "FixedPointResult", "continuation",
    "solve_fixed_point", "gauss_expect", "gauss_expect_2d", "hermite_rule", "legendre_rule",
    "log_phi", "log_Phi", "mills_ratio", "norm_cdf", "norm_pdf", "truncnorm_moments",
]

"""Layer 1: Gaussian expectations, fixed points, roots, interpolation, special functions."""
from solvable.numerics.fixed_point import (
    ConvergenceError,
    ConvergenceWarning,
    FixedPointResult,
    continuation,
    newton_rows,
    safeguarded_aitken,
    solve_fixed_point,
    solve_monotone,
)
from solvable.numerics.gauss import (
    composite_legendre_nodes,
    gauss_expect,
    gauss_expect_2d,
    hermite_rule,
    kinked_gauss_expect,
    legendre_rule,
)
from solvable.numerics.interpolate import ChebyshevPanels
from solvable.numerics.roots import illinois_root
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
    "solve_fixed_point", "solve_monotone", "newton_rows", "safeguarded_aitken", "gauss_expect", "gauss_expect_2d", "hermite_rule", "legendre_rule",
    "composite_legendre_nodes", "kinked_gauss_expect", "ChebyshevPanels", "illinois_root",
    "log_phi", "log_Phi", "mills_ratio", "norm_cdf", "norm_pdf", "truncnorm_moments",
]

"""Numerically stable Gaussian special functions used by the blocks."""
from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr

LOG_SQRT2PI = 0.5 * np.log(2.0 * np.pi)


def norm_pdf(x):
    """Standard normal density phi(x) (0 where x * x overflows, without a warning)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore"):
        return np.exp(-0.5 * x * x - LOG_SQRT2PI)


def log_phi(x):
    """log phi(x)."""
    x = np.asarray(x, dtype=float)
    return -0.5 * x * x - LOG_SQRT2PI


def norm_cdf(x):
    """Phi(x)."""
    return ndtr(x)


def log_Phi(x):
    """log Phi(x), accurate in both tails (scipy.special.log_ndtr)."""
    return log_ndtr(x)


def mills_ratio(x):
    """phi(x) / Phi(x), stable for very negative x (where it behaves like -x)."""
    x = np.asarray(x, dtype=float)
    return np.exp(log_phi(x) - log_ndtr(x))


_CF_THRESHOLD = 3.0
_CF_TERMS = 80


def _deep_tail_moments(x):
    """Mean and variance of ``t > 0`` with density proportional to ``exp(-(t + x)^2 / 2)``,
    for ``x >= 3`` (a Gaussian truncated far in its tail), free of cancellation.

    With Laplace's continued fraction for the Mills ratio,
    ``R(x) = Phi(-x)/phi(x) = 1/(x + T_1)``, ``T_j = j / (x + T_{j+1})``
    (Abramowitz & Stegun 26.2.14), integration by parts gives
    ``E t = 1 - x R = T_1`` and ``E t^2 = R (1 - x T_1) / R = T_1 T_2``, hence
    ``Var t = T_1 (T_2 - T_1)``.  The textbook form ``1 - r (a + r)`` (r the inverse
    Mills ratio) loses ``~ eps a^4`` relatively, i.e. all digits for ``a ~ -1e4``.
    80 terms give full double precision for ``x >= 3``.
    """
    T = np.zeros_like(x)
    T2 = T
    for j in range(_CF_TERMS, 0, -1):
        T = j / (x + T)
        if j == 2:
            T2 = T
    return T, T * (T2 - T)


def truncnorm_moments(mean, var, lower=-np.inf, upper=np.inf):
    """log-mass, mean and variance of N(mean, var) restricted to [lower, upper].

    Returns ``(log P, E[z | z in I], Var[z | z in I])``, vectorised.  Only one-sided
    intervals (one of the bounds infinite) are supported, which is all the channels need;
    the formulas are the classical ones (e.g. Johnson, Kotz & Balakrishnan, ch. 13), in the
    stable form through the inverse Mills ratio, and through Laplace's continued fraction
    (:func:`_deep_tail_moments`) when the interval lies more than 3 standard deviations
    in the tail, where the classical form cancels catastrophically.
    """
    mean = np.asarray(mean, dtype=float)
    var = np.asarray(var, dtype=float)
    if np.any(var <= 0) or np.any(np.isnan(var)):
        raise ValueError(f"truncnorm_moments: var must be > 0, got min var={float(np.min(var))!r}")
    std = np.sqrt(var)
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if np.all(np.isinf(upper)) and np.all(upper > 0):
        a = (mean - lower) / std  # P = Phi(a); z = lower + std t, t > 0
        sign, edge = 1.0, lower
    elif np.all(np.isinf(lower)) and np.all(lower < 0):
        a = (upper - mean) / std  # P = Phi(a); z = upper - std t, t > 0
        sign, edge = -1.0, upper
    else:
        raise ValueError("truncnorm_moments: only one-sided intervals are supported")
    logp = log_ndtr(a)
    deep = a < -_CF_THRESHOLD
    with np.errstate(over="ignore", invalid="ignore"):
        r = mills_ratio(a)
        m = mean + sign * std * r
        v = var * (1.0 - r * (a + r))
    if np.any(deep):
        # the continued fraction only where it is needed (it is the costly part)
        shape = np.broadcast_shapes(np.shape(m), np.shape(v), np.shape(a))
        m, v = np.array(np.broadcast_to(m, shape)), np.array(np.broadcast_to(v, shape))
        deep_b = np.broadcast_to(deep, shape)
        t_mean, t_var = _deep_tail_moments(-np.broadcast_to(a, shape)[deep_b])
        m[deep_b] = np.broadcast_to(edge + 0.0 * m, shape)[deep_b] + sign * np.broadcast_to(std, shape)[deep_b] * t_mean
        v[deep_b] = np.broadcast_to(var, shape)[deep_b] * t_var
    return logp, m, np.maximum(v, 0.0)

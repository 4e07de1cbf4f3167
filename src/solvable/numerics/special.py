"""Numerically stable Gaussian special functions used by the blocks."""
from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr

LOG_SQRT2PI = 0.5 * np.log(2.0 * np.pi)


def norm_pdf(x):
    """Standard normal density phi(x)."""
    x = np.asarray(x, dtype=float)
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


def truncnorm_moments(mean, var, lower=-np.inf, upper=np.inf):
    """log-mass, mean and variance of N(mean, var) restricted to [lower, upper].

    Returns ``(log P, E[z | z in I], Var[z | z in I])``, vectorised.  Only one-sided
    intervals (one of the bounds infinite) are supported, which is all the channels need;
    the formulas are the classical ones (e.g. Johnson, Kotz & Balakrishnan, ch. 13), in the
    stable form through the inverse Mills ratio.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.sqrt(np.asarray(var, dtype=float))
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    if np.all(np.isinf(upper)) and np.all(upper > 0):
        a = (mean - lower) / std  # P = Phi(a)
        logp = log_ndtr(a)
        r = mills_ratio(a)
        m = mean + std * r
        v = std**2 * (1.0 - r * (a + r))
    elif np.all(np.isinf(lower)) and np.all(lower < 0):
        b = (upper - mean) / std
        logp = log_ndtr(b)
        r = mills_ratio(b)
        m = mean - std * r
        v = std**2 * (1.0 - r * (b + r))
    else:
        raise ValueError("truncnorm_moments: only one-sided intervals are supported")
    return logp, m, np.maximum(v, 0.0)

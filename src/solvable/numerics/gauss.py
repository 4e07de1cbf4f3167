"""Gaussian expectations, vectorised over grids of parameters.

Every function evaluates ``E f(...)`` for a whole array of means / variances in one
call: the integrand ``f`` receives arrays whose *trailing* axes are the quadrature
nodes, so a parameter array ``p`` of the grid shape must be used as ``p[..., None]``
(1D) or ``p[..., None, None]`` (2D) inside ``f``.

Two rules are offered:

* ``"hermite"`` (default): Gauss-Hermite with the probabilists' weight, exact for
  polynomials of degree ``2 n - 1`` and spectrally accurate for smooth integrands.
* ``"legendre"``: composite Gauss-Legendre on ``[-L, L]`` (``L = 12`` standard
  deviations by default), split at user-given ``breakpoints`` (in the *argument* of
  ``f``).  Use it where integrands have kinks or jumps (hinge losses, sign channels
  at small variance); with the kinks as breakpoints the rule is again spectrally
  accurate on every piece.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss

__all__ = [
    "hermite_rule",
    "legendre_rule",
    "gauss_expect",
    "gauss_expect_2d",
    "composite_legendre_nodes",
    "kinked_gauss_expect",
    "DEFAULT_NODES",
]

DEFAULT_NODES = 80
#: default number of equal pieces of the composite Gauss-Legendre rule (before break points)
DEFAULT_PIECES = 6
_SQRT2PI = np.sqrt(2.0 * np.pi)


@lru_cache(maxsize=64)
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = hermegauss(n)
    w = w / _SQRT2PI
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w


def hermite_rule(n: int = DEFAULT_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with ``sum w f(z) ~= E f(z)``, ``z ~ N(0, 1)``."""
    if int(n) != n or n < 1:
        raise ValueError(f"number of quadrature nodes must be a positive integer, got n={n!r}")
    return _hermite(int(n))


@lru_cache(maxsize=64)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = leggauss(n)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def legendre_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes/weights on [-1, 1]."""
    if int(n) != n or n < 1:
        raise ValueError(f"number of quadrature nodes must be a positive integer, got n={n!r}")
    return _legendre(int(n))


def _std_normal_pdf(z):
    return np.exp(-0.5 * z * z) / _SQRT2PI


def composite_legendre_nodes(
    mean: np.ndarray,
    std: np.ndarray,
    breakpoints: Sequence[float] | np.ndarray | None,
    n: int,
    width: float,
    pieces: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre rule for ``E f(mean + std z)``, ``z ~ N(0, 1)``: nodes (in the
    standardised variable z) and weights (pdf included).

    Returns arrays of shape ``grid + (n_pieces * n,)``.  Breakpoints are given in the
    argument ``x = mean + std z``; they are mapped to ``z`` per grid point and clipped to
    ``[-width, width]`` so the number of pieces is the same everywhere (vectorised).
    ``pieces > 1`` adds ``pieces - 1`` equispaced cuts in ``z`` (composite rule for
    integrands that are smooth but steep on the scale of the Gaussian, e.g. tanh(x) at
    large variance, whose complex poles come close to the real axis in ``z``).
    """
    if int(pieces) != pieces or pieces < 1:
        raise ValueError(f"pieces must be a positive integer, got pieces={pieces!r}")
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"width must be finite and > 0, got width={width!r}")
    x, w = legendre_rule(n)
    grid = np.broadcast(mean, std).shape
    if breakpoints is None or len(np.atleast_1d(breakpoints)) == 0:
        cuts = np.empty(grid + (0,))
    else:
        bp = np.asarray(breakpoints, dtype=float)
        if bp.ndim == 1:
            bp = np.broadcast_to(bp, grid + bp.shape)
        else:  # per-grid-point breakpoints, trailing axis = number of breakpoints
            bp = np.broadcast_to(bp, grid + bp.shape[-1:])
        with np.errstate(divide="ignore", invalid="ignore"):
            cuts = (bp - np.asarray(mean)[..., None]) / np.asarray(std)[..., None]
        cuts = np.where(np.isfinite(cuts), cuts, np.sign(np.nan_to_num(cuts)) * width)
        cuts = np.clip(cuts, -width, width)
    if pieces > 1:
        uni = np.linspace(-width, width, int(pieces) + 1)[1:-1]
        cuts = np.concatenate([cuts, np.broadcast_to(uni, grid + uni.shape)], axis=-1)
    cuts = np.sort(cuts, axis=-1)
    lo = np.full(grid + (1,), -width)
    hi = np.full(grid + (1,), width)
    edges = np.concatenate([lo, cuts, hi], axis=-1)  # grid + (P+1,)
    a, b = edges[..., :-1], edges[..., 1:]
    half = 0.5 * (b - a)
    mid = 0.5 * (b + a)
    z = mid[..., None] + half[..., None] * x  # grid + (P, n)
    wz = half[..., None] * w * _std_normal_pdf(z)
    shape = grid + (z.shape[-2] * z.shape[-1],)
    return z.reshape(shape), wz.reshape(shape)


_composite_legendre_nodes = composite_legendre_nodes  # former private name (still imported by families/erm)


def gauss_expect(
    f: Callable[[np.ndarray], np.ndarray],
    mean=0.0,
    var=1.0,
    *,
    n: int | None = None,
    method: str = "hermite",
    breakpoints: Sequence[float] | np.ndarray | None = None,
    width: float = 12.0,
    pieces: int | None = None,
) -> np.ndarray:
    """``E f(mean + sqrt(var) z)``, ``z ~ N(0,1)``, for arrays of ``mean`` and ``var``.

    ``f`` is called once with an array of shape ``broadcast(mean, var).shape + (nodes,)``;
    arrays of the grid used inside ``f`` must be indexed ``p[..., None]``.  ``var = 0`` is
    allowed (the expectation is then ``f(mean)``).

    method="hermite" uses ``n`` (default 80) Gauss-Hermite nodes; method="legendre" uses
    ``n`` (default 20) Gauss-Legendre nodes on each piece of ``[-width, width]`` split at
    ``breakpoints`` (positions of kinks in the argument of ``f``; a 1D sequence shared by
    the grid, or an array ``grid + (k,)`` of per-point breakpoints), further cut into
    ``pieces`` equal parts (default 6: a single piece of width 24 would integrate the
    Gaussian weight itself only to ~1e-9 with 40 nodes; use e.g. ``pieces=48`` for
    integrands that are smooth but vary
    on scales much shorter than the standard deviation, such as ``tanh`` at ``var >> 1``,
    where Gauss-Hermite converges slowly).
    """
    mean = np.asarray(mean, dtype=float)
    var = np.asarray(var, dtype=float)
    if np.any(var < 0) or not np.all(np.isfinite(var)):
        bad = var[(var < 0) | ~np.isfinite(var)].ravel()[0]
        raise ValueError(f"gauss_expect: variance must be finite and >= 0, got var={bad!r}")
    std = np.sqrt(var)
    if method == "hermite":
        z, w = hermite_rule(DEFAULT_NODES if n is None else n)
        vals = f(mean[..., None] + std[..., None] * z)
        return np.sum(vals * w, axis=-1)
    if method == "legendre":
        z, wz = composite_legendre_nodes(mean, std, breakpoints, 20 if n is None else n, width,
                                          DEFAULT_PIECES if pieces is None else pieces)
        vals = f(mean[..., None] + std[..., None] * z)
        return np.sum(vals * wz, axis=-1)
    raise ValueError(f"gauss_expect: unknown method {method!r}; use 'hermite' or 'legendre'")


#: cuts of :func:`kinked_gauss_expect` around the mean, in standard deviations
_KINK_FIX = np.array([-6.0, -3.0, -1.5, 1.5, 3.0, 6.0])


def kinked_gauss_expect(f: Callable[[np.ndarray], np.ndarray], mean, var, kinks, n: int) -> np.ndarray:
    """``E f(mean + sqrt(var) z)``, ``z ~ N(0, 1)``, of a function with kinks (or jumps) at the
    points ``kinks`` (in the argument of ``f``), vectorised over arrays of ``mean`` and ``var``.

    Without kinks: 60-node Gauss-Hermite.  Otherwise composite Gauss-Legendre with ``n`` nodes
    per piece (:func:`gauss_expect`, ``method="legendre"``), split at the kinks and at
    ``mean +- (1.5, 3, 6) std``, so that every piece holds a smooth integrand."""
    mean, var = np.broadcast_arrays(np.asarray(mean, float), np.asarray(var, float))
    kinks = np.asarray(kinks, float)
    if kinks.size == 0:
        return gauss_expect(f, mean, var, n=60)
    bp = np.concatenate([np.broadcast_to(kinks, mean.shape + kinks.shape),
                         mean[..., None] + np.sqrt(var)[..., None] * _KINK_FIX], axis=-1)
    return gauss_expect(f, mean, var, method="legendre", breakpoints=bp, n=n)


def gauss_expect_2d(
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    cov,
    mean=(0.0, 0.0),
    *,
    n: int | None = None,
    method: str = "hermite",
    breakpoints_z: Sequence[float] | np.ndarray | None = None,
    breakpoints_w: Sequence[float] | np.ndarray | None = None,
    width: float = 12.0,
    pieces: int | None = None,
) -> np.ndarray:
    """``E f(z, w)`` for ``(z, w) ~ N(mean, cov)``, vectorised over a grid of covariances.

    ``cov`` has shape ``grid + (2, 2)`` (or is a triple ``(var_z, cov_zw, var_w)`` of
    broadcastable arrays).  ``f(z, w)`` is called once with arrays of shape
    ``grid + (n_z, n_w)``; grid parameters inside ``f`` are indexed ``p[..., None, None]``.

    The pair is written ``z = mz + sqrt(a) u``, ``w = mw + (b/a) (z - mz) + sqrt(c - b^2/a) v``
    with ``u, v`` independent standard normals (``a`` = var z, ``b`` = cov, ``c`` = var w);
    ``a = 0`` is allowed.  Breakpoints for the Legendre rule refer to ``z`` (outer) and to
    ``w`` (inner, given z); ``pieces`` cuts both variables' ranges into equal parts
    (see :func:`gauss_expect`).
    """
    if isinstance(cov, (tuple, list)) and len(cov) == 3:
        a, b, c = (np.asarray(t, dtype=float) for t in cov)
    else:
        cov = np.asarray(cov, dtype=float)
        if cov.shape[-2:] != (2, 2):
            raise ValueError(f"gauss_expect_2d: cov must have trailing shape (2, 2), got {cov.shape}")
        a, b, c = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    a, b, c = np.broadcast_arrays(a, b, c)
    mz, mw = (np.asarray(t, dtype=float) for t in mean)
    if np.any(a < 0) or np.any(c < 0):
        raise ValueError("gauss_expect_2d: variances must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(a > 0, b / np.where(a > 0, a, 1.0), 0.0)
    cond = c - slope * b
    tol = 1e-12 * np.maximum(1.0, np.maximum(a, c))
    if np.any(cond < -tol):
        raise ValueError("gauss_expect_2d: covariance is not positive semi-definite")
    cond = np.maximum(cond, 0.0)
    sa, sc = np.sqrt(a), np.sqrt(cond)
    grid = a.shape
    mz = np.broadcast_to(mz, grid)
    mw = np.broadcast_to(mw, grid)
    if method == "hermite":
        u, wu = hermite_rule(40 if n is None else n)
        z = mz[..., None] + sa[..., None] * u  # grid + (nz,)
        wz = np.broadcast_to(wu, z.shape)
        v, wv = hermite_rule(40 if n is None else n)
        wcenter = mw[..., None] + slope[..., None] * (z - mz[..., None])  # grid + (nz,)
        w = wcenter[..., None] + sc[..., None, None] * v  # grid + (nz, nw)
        vals = f(z[..., None], w)
        return np.einsum("...ij,...i,j->...", vals, wz, wv)
    if method == "legendre":
        nn = 20 if n is None else n
        pieces = DEFAULT_PIECES if pieces is None else pieces
        uz, wuz = composite_legendre_nodes(mz, sa, breakpoints_z, nn, width, pieces)  # grid + (Nz,)
        z = mz[..., None] + sa[..., None] * uz
        wcenter = mw[..., None] + slope[..., None] * (z - mz[..., None])
        scb = np.broadcast_to(sc[..., None], wcenter.shape)
        bpw = None
        if breakpoints_w is not None and len(np.atleast_1d(breakpoints_w)):
            bpw = np.asarray(breakpoints_w, dtype=float)
        uv, wuv = composite_legendre_nodes(wcenter, scb, bpw, nn, width, pieces)  # grid + (Nz, Nw)
        w = wcenter[..., None] + scb[..., None] * uv
        vals = f(z[..., None], w)
        return np.einsum("...ij,...i,...ij->...", vals, wuz, wuv)
    raise ValueError(f"gauss_expect_2d: unknown method {method!r}; use 'hermite' or 'legendre'")

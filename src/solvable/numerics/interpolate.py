"""Interpolation of smooth functions that are expensive to evaluate."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["ChebyshevPanels"]


class ChebyshevPanels:
    """Adaptive piecewise Chebyshev interpolant of ``k`` functions ``f(x) = (f_1, ..., f_k)(x)``
    on ``[edges[0], edges[-1]]`` (standard piecewise Chebyshev interpolation: Trefethen,
    Approximation Theory and Approximation Practice, SIAM 2013, ch. 3-4).

    Each panel carries the coefficients of the degree ``N - 1`` interpolant at the ``N``
    Chebyshev points of the first kind (no node at the panel ends).  Starting from the panels
    between the sorted ``edges``, a panel is bisected until, for every component, the last two
    coefficients are at most ``tol`` times the component's local scale,
    ``max(max |f_j| on the panel, scale_floor[j])`` (``scale_floor`` 0: relative accuracy; 1:
    absolute accuracy for values below 1), or ``max_depth`` bisections are reached.  All panels
    of one round are evaluated in a single call of ``f`` (a 1D array of points in, a sequence of
    ``k`` arrays of the same length out).  Calling the interpolant on an array ``x`` returns the
    list of the ``k`` interpolated values (Clenshaw recurrence), each of ``x``'s shape.
    """

    N = 16

    def __init__(self, f: Callable[[np.ndarray], Sequence[np.ndarray]], edges, *, tol: float = 1e-8,
                 max_depth: int = 12, scale_floor: Sequence[float] | None = None):
        k = np.arange(self.N)
        self._x = np.cos(np.pi * (k + 0.5) / self.N)  # first kind: no node at the ends
        self._T = np.cos(np.outer(np.arange(self.N), np.pi * (k + 0.5) / self.N)) * (2.0 / self.N)
        self._T[0] *= 0.5
        edges = np.asarray(edges, float)
        todo = [(edges[i], edges[i + 1], 0) for i in range(len(edges) - 1) if edges[i + 1] > edges[i]]
        if not todo:
            raise ValueError(f"ChebyshevPanels needs increasing edges, got {edges!r}")
        done = []
        while todo:
            a = np.array([t[0] for t in todo])
            b = np.array([t[1] for t in todo])
            u = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * self._x
            vals = [np.asarray(v).reshape(u.shape) for v in f(u.ravel())]
            if not all(np.all(np.isfinite(v)) for v in vals):
                raise FloatingPointError("non-finite function value while building the Chebyshev interpolant")
            floors = [0.0] * len(vals) if scale_floor is None else list(scale_floor)
            coef = [v @ self._T.T for v in vals]
            nxt = []
            for i, (lo, hi, d) in enumerate(todo):
                ok = all(np.abs(c[i, -2:]).max() <= tol * max(np.abs(v[i]).max(), fl)
                         for c, v, fl in zip(coef, vals, floors))
                if ok or d >= max_depth:
                    done.append((lo, hi, [c[i] for c in coef]))
                else:
                    m = 0.5 * (lo + hi)
                    nxt += [(lo, m, d + 1), (m, hi, d + 1)]
            todo = nxt
        done.sort(key=lambda t: t[0])
        self.edges = np.array([t[0] for t in done] + [done[-1][1]])
        self.coef = [np.array([t[2][j] for t in done]) for j in range(len(done[0][2]))]
        self.n_evals = len(done) * self.N

    def __call__(self, x) -> list:
        x = np.asarray(x, float)
        xf = x.ravel()
        i = np.clip(np.searchsorted(self.edges, xf, side="right") - 1, 0, len(self.coef[0]) - 1)
        a, b = self.edges[i], self.edges[i + 1]
        t = (2.0 * xf - a - b) / (b - a)
        out = []
        for C in self.coef:  # Clenshaw
            c = C[i]
            b1 = np.zeros_like(t)
            b2 = np.zeros_like(t)
            for k in range(self.N - 1, 0, -1):
                b1, b2 = 2.0 * t * b1 - b2 + c[:, k], b1
            out.append((t * b1 - b2 + c[:, 0]).reshape(x.shape))
        return out

"""Fixed-point iteration with damping, Anderson acceleration and continuation.

Every theory engine writes its saddle-point / state-evolution equations as a map
``x -> F(x)`` on a flat vector of order parameters and calls :func:`solve_fixed_point`.
The map may also act on a *batch* of points (shape ``(N, k)``), one row per grid point:
the solver then iterates all rows together (vectorised) and freezes each row as soon as
it has converged.

Anderson acceleration follows Walker & Ni, SIAM J. Numer. Anal. 49, 1715 (2011)
(type-II Anderson with memory ``m`` on the damped map).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "FixedPointResult",
    "ConvergenceError",
    "ConvergenceWarning",
    "solve_fixed_point",
    "continuation",
]


class ConvergenceWarning(RuntimeWarning):
    """A fixed point did not converge; the result carries ``converged=False``."""


class ConvergenceError(RuntimeError):
    """A fixed point did not converge and the caller asked for an exception.

    The :class:`FixedPointResult` is attached as ``.result``.
    """

    def __init__(self, message: str, result: "FixedPointResult"):
        super().__init__(message)
        self.result = result


@dataclass
class FixedPointResult:
    """Outcome of :func:`solve_fixed_point`.

    ``x`` is the last iterate (shape of ``x0``); ``converged`` is a bool (or, for a batch,
    a boolean array with one entry per row); ``residuals`` is the history of the max-norm
    residual ``|F(x) - x|`` (for a batch, of shape ``(n_iter, N)``).
    """

    x: np.ndarray
    converged: bool | np.ndarray
    n_iter: int
    residuals: np.ndarray
    message: str = ""
    diagnostics: dict = field(default_factory=dict)

    @property
    def all_converged(self) -> bool:
        return bool(np.all(self.converged))

    def __repr__(self) -> str:  # short, useful in notebooks
        res = np.asarray(self.residuals)
        last = float(np.nanmax(res[-1])) if len(res) and np.any(np.isfinite(res[-1])) else np.nan
        return (
            f"FixedPointResult(converged={self.all_converged}, n_iter={self.n_iter}, "
            f"last_residual={last:.3g}, message={self.message!r})"
        )


def _anderson_step(X_hist, G_hist, mem_reg=1e-10):
    """Type-II Anderson mixing for a batch. X_hist, G_hist: lists of (N,k) arrays of iterates
    x_j and of damped images g_j = x_j + beta (F(x_j) - x_j).  Returns the mixed iterate."""
    F = np.stack([g - x for x, g in zip(X_hist, G_hist)], axis=1)  # (N, m+1, k) residuals
    G = np.stack(G_hist, axis=1)  # (N, m+1, k)
    dF = F[:, 1:] - F[:, :-1]  # (N, m, k)
    dG = G[:, 1:] - G[:, :-1]
    f = F[:, -1]  # (N, k)
    A = np.einsum("nik,njk->nij", dF, dF)
    scale = np.einsum("nii->n", A)[:, None, None] / max(A.shape[-1], 1)
    A = A + (mem_reg * (scale + 1e-300)) * np.eye(A.shape[-1])
    rhs = np.einsum("nik,nk->ni", dF, f)
    try:
        gamma = np.linalg.solve(A, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return G[:, -1]
    return G[:, -1] - np.einsum("ni,nik->nk", gamma, dG)


def solve_fixed_point(
    F: Callable[[np.ndarray], np.ndarray],
    x0,
    *,
    damping: float = 0.0,
    anderson: int = 0,
    tol: float = 1e-10,
    rtol: float = 0.0,
    max_iter: int = 5000,
    min_iter: int = 1,
    on_fail: str = "warn",
    lower: np.ndarray | float | None = None,
    upper: np.ndarray | float | None = None,
    batch: bool = False,
    name: str = "fixed point",
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> FixedPointResult:
    """Iterate ``x <- (1 - damping) F(x) + damping x`` until ``|F(x) - x| < tol + rtol |x|``.

    Parameters
    ----------
    F : map on arrays of the shape of ``x0`` (or, with ``batch=True``, on ``(N, k)`` batches
        of ``N`` independent points; rows are frozen once converged, and F is then called
        only on the rows still running).
    damping : fraction of the old iterate kept, in [0, 1).
    anderson : memory of Anderson acceleration (0 = plain damped iteration).  A step of
        Anderson that leaves the bounds or produces non-finite values falls back to the
        plain damped step.
    lower, upper : optional bounds (e.g. overlaps in [0, rho]); iterates are clipped.
    on_fail : "warn" (ConvergenceWarning, ``converged=False``), "raise"
        (:class:`ConvergenceError`) or "ignore".
    """
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1), got damping={damping!r}")
    if on_fail not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_fail must be 'warn', 'raise' or 'ignore', got {on_fail!r}")
    if anderson < 0 or int(anderson) != anderson:
        raise ValueError(f"anderson memory must be a non-negative integer, got {anderson!r}")
    x0 = np.array(x0, dtype=float)
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"{name}: initial point is not finite: {x0!r}")
    shape = x0.shape
    if batch:
        if x0.ndim != 2:
            raise ValueError(f"batch=True needs x0 of shape (N, k), got {shape}")
        X = x0.copy()
        call = F
    else:
        X = x0.reshape(1, -1).copy()

        def call(xb):
            return np.asarray(F(xb[0].reshape(shape)), dtype=float).reshape(1, -1)

    N = X.shape[0]
    lo = None if lower is None else np.broadcast_to(np.asarray(lower, float), X.shape[1:])
    hi = None if upper is None else np.broadcast_to(np.asarray(upper, float), X.shape[1:])

    def clip(x):
        if lo is not None or hi is not None:
            return np.clip(x, lo, hi)
        return x

    active = np.ones(N, dtype=bool)
    converged = np.zeros(N, dtype=bool)
    history: list[np.ndarray] = []
    X_hist: list[np.ndarray] = []
    G_hist: list[np.ndarray] = []
    bad_rows = np.zeros(N, dtype=bool)
    it = 0
    message = ""
    beta = 1.0 - damping
    while it < max_iter and active.any():
        it += 1
        idx = np.flatnonzero(active)
        xa = X[idx]
        with np.errstate(all="ignore"):
            fa = np.asarray(call(xa), dtype=float).reshape(xa.shape)
        finite = np.all(np.isfinite(fa), axis=1)
        res_row = np.full(N, np.nan)
        r = np.max(np.abs(fa - xa), axis=1)
        res_row[idx] = r
        history.append(res_row)
        if not finite.all():
            bad = idx[~finite]
            bad_rows[bad] = True
            active[bad] = False
            message = f"{name}: the map returned non-finite values (at iteration {it})"
            idx, xa, fa, r = idx[finite], xa[finite], fa[finite], r[finite]
            X_hist, G_hist = [], []  # the batch changed: restart the Anderson memory
        thr = tol + rtol * np.max(np.abs(xa), axis=1) if len(idx) else np.zeros(0)
        done = (r < thr) & (it >= min_iter)
        X[idx[done]] = clip(fa[done]) if len(idx) else X[idx[done]]
        converged[idx[done]] = True
        active[idx[done]] = False
        keep = ~done
        idx, xa, fa = idx[keep], xa[keep], fa[keep]
        if not len(idx):
            break
        g = xa + beta * (fa - xa)
        new = g
        if anderson > 0:
            if X_hist and X_hist[-1].shape[0] != len(idx):
                # rows have been frozen: keep the memory of the rows still running
                prev_idx = _prev_idx
                sel = np.searchsorted(prev_idx, idx)
                X_hist = [h[sel] for h in X_hist]
                G_hist = [h[sel] for h in G_hist]
            X_hist.append(xa)
            G_hist.append(g)
            X_hist, G_hist = X_hist[-(anderson + 1):], G_hist[-(anderson + 1):]
            if len(X_hist) > 1:
                with np.errstate(all="ignore"):
                    cand = _anderson_step(X_hist, G_hist)
                ok = np.all(np.isfinite(cand), axis=1)
                if lo is not None:
                    ok &= np.all(cand >= lo, axis=1)
                if hi is not None:
                    ok &= np.all(cand <= hi, axis=1)
                new = np.where(ok[:, None], cand, g)
        _prev_idx = idx
        X[idx] = clip(new)
        if callback is not None:
            callback(it, X.copy())
    residuals = np.array(history) if history else np.zeros((0, N))
    if not message and active.any():
        message = f"{name}: no convergence after {max_iter} iterations"
    diagnostics = {}
    if active.any() and residuals.shape[0] >= 20:
        tail = residuals[-20:][:, active]
        ratio = np.nanmedian(tail[1:] / np.maximum(tail[:-1], 1e-300))
        diagnostics["last_residual"] = float(np.nanmax(residuals[-1]))
        diagnostics["contraction_ratio"] = float(ratio)
        diagnostics["oscillating"] = bool(np.nanmax(tail) > 10 * np.nanmin(tail) or ratio > 0.999)
        message += (
            f"; last residual {diagnostics['last_residual']:.3g}, median contraction ratio"
            f" {ratio:.4f}" + (" (oscillating or stalled: try more damping)" if diagnostics["oscillating"] else "")
        )
    if not batch:
        result = FixedPointResult(
            x=X[0].reshape(shape), converged=bool(converged[0]), n_iter=it,
            residuals=residuals[:, 0], message=message or "converged", diagnostics=diagnostics,
        )
    else:
        result = FixedPointResult(
            x=X, converged=converged, n_iter=it, residuals=residuals,
            message=message or "converged", diagnostics=diagnostics,
        )
    if not result.all_converged:
        if on_fail == "raise":
            raise ConvergenceError(result.message, result)
        if on_fail == "warn":
            warnings.warn(result.message, ConvergenceWarning, stacklevel=2)
    return result


def continuation(
    make_map: Callable[[object], Callable[[np.ndarray], np.ndarray]],
    params: Iterable,
    x0,
    *,
    reset: Callable[[np.ndarray], np.ndarray] | None = None,
    **kwargs,
) -> list[FixedPointResult]:
    """Solve a family of fixed points along ``params``, warm-starting each from the last.

    ``make_map(p)`` returns the map at parameter ``p``.  If a point fails to converge the
    next one starts again from ``x0`` (or ``reset(previous_x)``).  Keyword arguments go
    to :func:`solve_fixed_point`.
    """
    results = []
    x = np.array(x0, dtype=float)
    for p in params:
        res = solve_fixed_point(make_map(p), x, **kwargs)
        results.append(res)
        if res.all_converged:
            x = res.x
        else:
            x = np.array(x0, dtype=float) if reset is None else reset(res.x)
    return results

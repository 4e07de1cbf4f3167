"""The one fixed-point solver of the package: damped iteration with Anderson or Aitken
acceleration, per-row freezing of batches, trajectories, monotone bracketing and continuation.

Every theory engine writes its saddle-point / state-evolution equations as a map
``x -> F(x)`` on a flat vector of order parameters and calls :func:`solve_fixed_point`.
The map may also act on a *batch* of points (shape ``(N, k)``), one row per grid point:
the solver then iterates all rows together (vectorised) and freezes each row as soon as
it has converged.  One loop serves every engine; its options select

* the acceleration: Anderson (Walker & Ni, SIAM J. Numer. Anal. 49, 1715 (2011); type-II
  Anderson with memory ``m`` on the damped map) or, for scalar states, a safeguarded Aitken
  delta-squared extrapolation (Aitken, Proc. R. Soc. Edinb. 46, 289 (1926);
  :func:`safeguarded_aitken`);
* the stopping rule: ``|F(x) - x| < tol + rtol |x|``, or a relative rule measured from a
  reference point (``rtol_to``), or none (``tol=None``: exactly ``max_iter`` steps);
* what the bounds act on (``clip``): the iterates, the map's values, or only extrapolated steps;
* per-row parameters passed to the map (``params``), the record of the iterates
  (``history``), an algorithm's trajectory (``trajectory``) and the policy for non-finite
  values of the map (``on_nonfinite``).

:func:`solve_monotone` finds the fixed point that iterating a non-decreasing scalar map
reaches, by bracketing and root finding (no critical slowing down), :func:`newton_rows`
polishes rows of a batched fixed point by Newton's method, and :func:`continuation` follows
a fixed point along a curve of parameters.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from solvable.numerics.roots import illinois_root

__all__ = [
    "FixedPointResult",
    "ConvergenceError",
    "ConvergenceWarning",
    "solve_fixed_point",
    "safeguarded_aitken",
    "solve_monotone",
    "newton_rows",
    "continuation",
]


class ConvergenceWarning(RuntimeWarning):
    """A fixed point did not converge; the result carries ``converged=False``."""


class ConvergenceError(RuntimeError):
    """A fixed point did not converge and the caller asked for an exception.

    The :class:`FixedPointResult` is attached as ``.result``.
    """

    def __init__(self, message: str, result: "FixedPointResult | None" = None):
        super().__init__(message)
        self.result = result


@dataclass
class FixedPointResult:
    """Outcome of :func:`solve_fixed_point`.

    ``x`` is the last iterate (shape of ``x0``); ``converged`` is a bool (or, for a batch,
    a boolean array with one entry per row); ``residuals`` is the history of the max-norm
    residual ``|F(x) - x|`` (for a batch, of shape ``(n_iter, N)``).  ``n_iter_rows``: the
    number of map evaluations of each row (an int for a single point); ``history`` (with
    ``history=True``): the iterates, ``x0`` first, of shape ``(n_iter + 1,) + x0.shape``, NaN
    where a batch row was no longer iterated.
    """

    x: np.ndarray
    converged: bool | np.ndarray
    n_iter: int
    residuals: np.ndarray
    message: str = ""
    diagnostics: dict = field(default_factory=dict)
    n_iter_rows: np.ndarray | int | None = None
    history: np.ndarray | None = None

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


def safeguarded_aitken(new, x, idx, d_hist, backup, jumped, done, expect, min_gain=1.5, growth=4.0):
    """Safeguarded extrapolation of scalar iterations in a geometric regime (in place on the
    per-row state ``d_hist``, ``backup``, ``jumped``, ``expect``; returns the next iterates of
    rows ``idx``).

    A jump is made only when three consecutive steps have one sign and ratios ``r`` agreeing
    to within ``5% |1 - r|`` (the linearisation of the map holds):

    * ``r < 1`` (approach to a stable fixed point): Aitken's delta-squared jump (Aitken, Proc. R.
      Soc. Edinb. 46, 289 (1926)) from the new
      iterate ``x_new`` (last step ``d``) to the predicted limit ``x_new + d r / (1 - r)``
      (only if that is worth ``1.5`` to ``10^4`` steps);
    * ``r > 1`` (escape from an unstable fixed point, e.g. ``q = 0`` of phase retrieval just
      above weak recovery): ``k`` steps at once, ``x_new + d r (r^k - 1) / (r - 1)`` with
      ``r^k = growth``, i.e. while the steps grow by at most ``growth``.

    The step after a jump is checked: for ``r < 1`` it must keep its sign and shrink (the
    jump landed between the iterate and the fixed point the plain iteration was heading to)
    or, past the fixed point, be below a quarter of the last step (a small overshoot); for
    ``r > 1`` it must have the predicted sign and size within a factor 2; otherwise the row
    falls back to its plain iterate.  Monotone one-dimensional maps (state evolution of Bayes-optimal models)
    move this way, including near continuous transitions where the plain iteration slows
    down critically."""
    d = new - x
    out = new.copy()
    jr = jumped[idx]
    if jr.any():
        dprev = d_hist[idx, 1]
        ex = expect[idx]
        with np.errstate(all="ignore"):
            same = np.sign(d) == np.sign(dprev)
            ok = np.where(np.isnan(ex), (same & (np.abs(d) < np.abs(dprev))) | (np.abs(d) < 0.25 * np.abs(dprev)),
                          same & (np.abs(d) > 0.5 * ex) & (np.abs(d) < 2 * ex))
        bad = jr & ~ok & ~done
        out[bad] = backup[idx[bad]]
        d_hist[idx[jr]] = np.nan
        jumped[idx[jr]] = False
        d = np.where(jr, np.nan, d)
    d1, d2 = d_hist[idx, 0], d_hist[idx, 1]
    with np.errstate(all="ignore"):
        r1 = d2 / d1
        r = d / d2
        geo = (r1 > 0) & (r > 0) & (np.abs(r - r1) < 0.05 * np.abs(1 - r)) & np.isfinite(d) & ~jr & ~done
        gain = 1.0 / (1.0 - r)
        conv = geo & (r < 1) & (gain >= min_gain) & (gain <= 1e4)
        k = np.log(growth) / np.log(r)
        esc = geo & (r > 1) & (k >= 2)
        jump = np.where(conv, new + d * r * gain, new)
        jump = np.where(esc, new + d * r * (growth - 1.0) / (r - 1.0), jump)
    good = conv | esc
    d_hist[idx, 0] = d2
    d_hist[idx, 1] = d
    gi = idx[good]
    backup[gi] = new[good]
    jumped[gi] = True
    expect[idx] = np.where(esc, np.abs(d) * r * growth, np.nan)
    return np.where(good, jump, out)


def solve_fixed_point(
    F: Callable[..., np.ndarray],
    x0,
    *,
    damping: float = 0.0,
    anderson: int = 0,
    accelerate: str | None = None,
    tol: float | None = 1e-10,
    rtol: float = 0.0,
    rtol_to: np.ndarray | None = None,
    max_iter: int = 5000,
    min_iter: int = 1,
    on_fail: str = "warn",
    on_nonfinite: str = "stop",
    lower: np.ndarray | float | None = None,
    upper: np.ndarray | float | None = None,
    clip: str = "iterates",
    trajectory: bool = False,
    params: np.ndarray | None = None,
    batch: bool = False,
    history: bool = False,
    name: str = "fixed point",
    callback: Callable[[int, np.ndarray], None] | None = None,
) -> FixedPointResult:
    """Iterate ``x <- (1 - damping) F(x) + damping x`` until ``|F(x) - x| < tol + rtol |x|``.

    Parameters
    ----------
    F : map on arrays of the shape of ``x0`` (or, with ``batch=True``, on ``(N, k)`` batches
        of ``N`` independent points; rows are frozen once converged, and F is then called
        only on the rows still running).  With ``params`` (batch only) it is called as
        ``F(x, params[rows])``, the parameters of the rows it is given.
    damping : fraction of the old iterate kept, in [0, 1).  The damped step is
        ``x + (1 - damping) (F(x) - x)`` (``trajectory=False``) or ``(1 - damping) F(x) + damping x``.
    anderson : memory of Anderson acceleration (0 = plain damped iteration; Walker & Ni 2011).
        A step of Anderson that leaves the bounds or produces non-finite values falls back to
        the plain damped step.
    accelerate : None, or ``"aitken"`` (scalar states, ``k = 1``, not with ``anderson``): the
        safeguarded Aitken delta-squared extrapolation of :func:`safeguarded_aitken` (Aitken
        1926), same fixed points, far fewer iterations in a slow geometric regime.
    tol, rtol, rtol_to : stopping rule.  A row stops when ``|F(x) - x| < tol + rtol max|x|``;
        with a reference point ``rtol_to`` (shape of the batch) when ``|F(x) - x| < tol`` and
        ``|F(x) - x| <= rtol max|x - rtol_to|`` (e.g. the distance to perfect recovery, so that a
        slow geometric approach to it is not stopped early).  ``tol=None``: no stopping rule,
        exactly ``max_iter`` iterations (``converged`` is then False everywhere and no failure
        is reported).
    lower, upper, clip : optional bounds (e.g. overlaps in [0, rho]) and what they act on:
        ``"iterates"`` (default) every new iterate and the value a converged row keeps;
        ``"map"`` the values of ``F`` (the projected map ``clip(F(x))``, whose residual is then
        measured), a plain damped step staying a convex combination of points within the
        bounds; ``"extrapolation"`` only the accelerated (Anderson, Aitken) steps.  Accelerated
        steps are always kept within the bounds.
    trajectory : follow the damped iteration as an algorithm runs it (AMP with damping):
        ``x_{t+1} = (1 - damping) F(x_t) + damping x_t``, the residual is the step
        ``|x_{t+1} - x_t|`` and a stopped row keeps ``x_{t+1}``.  Otherwise a stopped row keeps
        ``F(x)``.
    on_fail : "warn" (ConvergenceWarning, ``converged=False``), "raise"
        (:class:`ConvergenceError`) or "ignore".
    on_nonfinite : what a non-finite value of the map does to its row: "stop" (the row is
        frozen at its last finite iterate, ``converged=False``), "raise" (FloatingPointError
        naming the parameters, or rows, concerned) or "propagate" (the row goes on, with the
        non-finite values, as an algorithm would).
    history : keep the iterates (``result.history``).
    """
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1), got damping={damping!r}")
    if on_fail not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_fail must be 'warn', 'raise' or 'ignore', got {on_fail!r}")
    if on_nonfinite not in ("stop", "raise", "propagate"):
        raise ValueError(f"on_nonfinite must be 'stop', 'raise' or 'propagate', got {on_nonfinite!r}")
    if clip not in ("iterates", "map", "extrapolation"):
        raise ValueError(f"clip must be 'iterates', 'map' or 'extrapolation', got {clip!r}")
    if anderson < 0 or int(anderson) != anderson:
        raise ValueError(f"anderson memory must be a non-negative integer, got {anderson!r}")
    if accelerate not in (None, "aitken"):
        raise ValueError(f"accelerate must be None or 'aitken', got {accelerate!r}")
    if accelerate and anderson:
        raise ValueError("accelerate='aitken' and anderson > 0 are exclusive")
    x0 = np.array(x0, dtype=float)
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"{name}: initial point is not finite: {x0!r}")
    shape = x0.shape
    if batch:
        if x0.ndim != 2:
            raise ValueError(f"batch=True needs x0 of shape (N, k), got {shape}")
        X = x0.copy()
        if params is None:
            def call(xb, rows):
                return F(xb)
        else:
            params = np.asarray(params)

            def call(xb, rows):
                return F(xb, params[rows])
    else:
        if params is not None:
            raise ValueError("params go with batch=True (one parameter per row)")
        X = x0.reshape(1, -1).copy()

        def call(xb, rows):
            return np.asarray(F(xb[0].reshape(shape)), dtype=float).reshape(1, -1)

    N = X.shape[0]
    if accelerate and X.shape[1] != 1:
        raise ValueError(f"accelerate='aitken' extrapolates scalar states, got states of size {X.shape[1]}")
    lo = None if lower is None else np.broadcast_to(np.asarray(lower, float), X.shape[1:])
    hi = None if upper is None else np.broadcast_to(np.asarray(upper, float), X.shape[1:])
    bounded = lo is not None or hi is not None
    ref = None if rtol_to is None else np.asarray(rtol_to, float).reshape(X.shape)

    def clipped(x):
        return np.clip(x, lo, hi) if bounded else x

    def clip_iterates(x):
        return clipped(x) if clip == "iterates" else x

    active = np.ones(N, dtype=bool)
    converged = np.zeros(N, dtype=bool)
    counts = np.zeros(N, dtype=int)
    residual_hist: list[np.ndarray] = []
    iterates: list[np.ndarray] = [X.copy()] if history else []
    X_hist: list[np.ndarray] = []
    G_hist: list[np.ndarray] = []
    if accelerate:  # per-row state of the extrapolation (see safeguarded_aitken)
        aitken_state = (np.full((N, 2), np.nan), np.full(N, np.nan), np.zeros(N, dtype=bool), np.full(N, np.nan))
    it = 0
    message = ""
    beta = 1.0 - damping
    while it < max_iter and active.any():
        it += 1
        idx = np.flatnonzero(active)
        xa = X[idx]
        with np.errstate(all="ignore"):
            fa = np.asarray(call(xa, idx), dtype=float).reshape(xa.shape)
        counts[idx] += 1
        finite = np.all(np.isfinite(fa), axis=1) if on_nonfinite != "propagate" else np.ones(len(idx), bool)
        if on_nonfinite == "raise" and not finite.all():
            where = f"parameter(s) {params[idx[~finite]]}" if params is not None else f"row(s) {idx[~finite]}"
            raise FloatingPointError(f"{name}: the map returned non-finite values at {where}")
        if clip == "map" and bounded:
            fa = clipped(fa)
        # the value a stopped row keeps; its distance to x is the residual
        with np.errstate(all="ignore"):
            fs = (1.0 - damping) * fa + damping * xa if trajectory else fa
            r = np.max(np.abs(fs - xa), axis=1)
        res_row = np.full(N, np.nan)
        res_row[idx] = r
        residual_hist.append(res_row)
        if not finite.all():
            bad = idx[~finite]
            active[bad] = False
            message = f"{name}: the map returned non-finite values (at iteration {it})"
            idx, xa, fa, fs, r = idx[finite], xa[finite], fa[finite], fs[finite], r[finite]
            X_hist, G_hist = [], []  # the batch changed: restart the Anderson memory
        stepped = idx
        if tol is None or not len(idx):
            done = np.zeros(len(idx), dtype=bool)
        elif ref is None:
            with np.errstate(invalid="ignore"):
                done = (r < tol + rtol * np.max(np.abs(xa), axis=1)) & (it >= min_iter)
        else:
            done = (r < tol) & (r <= rtol * np.max(np.abs(xa - ref[idx]), axis=1)) & (it >= min_iter)
        if accelerate and anderson == 0 and len(idx):
            # a row that has just made an escape jump (r > 1, see safeguarded_aitken) cannot stop
            # before its landing is checked: clipped at a bound it can land exactly on another
            # fixed point (q = 0 of an even channel) past the stable one the plain iteration was
            # heading to (issue 13: Rademacher x Abs(0.18), AMP from the signal, mse 1 for 0.83)
            done &= ~(aitken_state[2][idx] & np.isfinite(aitken_state[3][idx]))
        X[idx[done]] = clip_iterates(fs[done])
        converged[idx[done]] = True
        active[idx[done]] = False
        keep = ~done
        idx, xa, fa, fs = idx[keep], xa[keep], fa[keep], fs[keep]
        if len(idx):
            g = fs if trajectory else xa + beta * (fa - xa)
            new = g
            if anderson > 0:
                if X_hist and X_hist[-1].shape[0] != len(idx):
                    # rows have been frozen: keep the memory of the rows still running
                    sel = np.searchsorted(_prev_idx, idx)
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
            elif accelerate:
                new = clipped(safeguarded_aitken(g[:, 0], xa[:, 0], idx, *aitken_state[:3],
                                                 np.zeros(len(idx), dtype=bool), aitken_state[3])[:, None])
            _prev_idx = idx
            X[idx] = clip_iterates(new)
        if history:
            row = np.full(X.shape, np.nan)
            row[stepped] = X[stepped]
            iterates.append(row)
        if not len(idx):
            break
        if callback is not None:
            callback(it, X.copy())
    residuals = np.array(residual_hist) if residual_hist else np.zeros((0, N))
    if tol is None:
        message = message or f"{name}: {it} iterations (no stopping rule)"
    elif not message and active.any():
        message = f"{name}: no convergence after {max_iter} iterations"
    diagnostics = {}
    if tol is not None and active.any() and residuals.shape[0] >= 20:
        tail = residuals[-20:][:, active]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN tails of propagated non-finite rows
            ratio = np.nanmedian(tail[1:] / np.maximum(tail[:-1], 1e-300))
            diagnostics["last_residual"] = float(np.nanmax(residuals[-1]))
            diagnostics["contraction_ratio"] = float(ratio)
            diagnostics["oscillating"] = bool(np.nanmax(tail) > 10 * np.nanmin(tail) or ratio > 0.999)
        message += (
            f"; last residual {diagnostics['last_residual']:.3g}, median contraction ratio"
            f" {ratio:.4f}" + (" (oscillating or stalled: try more damping)" if diagnostics["oscillating"] else "")
        )
    hist_arr = None
    if history:
        hist_arr = np.array(iterates)
        hist_arr = hist_arr[:, 0].reshape((len(iterates),) + shape) if not batch else hist_arr
    if not batch:
        result = FixedPointResult(
            x=X[0].reshape(shape), converged=bool(converged[0]), n_iter=it,
            residuals=residuals[:, 0], message=message or "converged", diagnostics=diagnostics,
            n_iter_rows=int(counts[0]), history=hist_arr,
        )
    else:
        result = FixedPointResult(
            x=X, converged=converged, n_iter=it, residuals=residuals,
            message=message or "converged", diagnostics=diagnostics, n_iter_rows=counts, history=hist_arr,
        )
    if tol is not None and not result.all_converged:
        if on_fail == "raise":
            raise ConvergenceError(result.message, result)
        if on_fail == "warn":
            warnings.warn(result.message, ConvergenceWarning, stacklevel=2)
    return result


def solve_monotone(
    g: Callable[..., np.ndarray],
    x0,
    grid,
    *,
    params: np.ndarray | None = None,
    g_grid: np.ndarray | None = None,
    lower: float = 0.0,
    upper: float,
    lower_is_fixed: bool = False,
    xtol: float,
    max_iter: int = 60,
) -> np.ndarray:
    """Fixed points that iterating non-decreasing scalar maps ``F_i`` from ``x0`` reaches, found
    without iterating: ``g(x, p) = F_p(x) - x`` (elementwise, ``x`` broadcasting against the
    parameters ``p = params[rows]``; without ``params``, ``g(x)`` on arrays of the batch's shape).

    The iterates of a non-decreasing map are monotone, so from ``x0`` they converge to the
    nearest root of ``g`` in the direction of ``g(x0)`` (e.g. the state evolution of
    Bayes-optimal models, Zdeborova & Krzakala, Adv. Phys. 65, 453 (2016), sec. 4.4).  That
    root is bracketed on the increasing ``grid`` of states (``g_grid``: the values of ``g`` there,
    shape ``(N, len(grid))``, computed here in one call when not given) and refined by the
    Illinois method (:func:`~solvable.numerics.roots.illinois_root`, Dowell & Jarratt 1971) to
    ``xtol``: no critical slowing down near the thresholds where the plain iteration stalls.

    ``upper``: the answer where no root lies above ``x0`` and ``g(x0) > 0`` (the end of the
    domain); ``lower``: the left end of the last bracket where no grid root lies below ``x0``
    and ``g(x0) < 0``, itself returned when ``lower_is_fixed`` (``F(lower) = lower``, e.g. a zero
    overlap for zero-mean priors).  A start with ``g(x0) = 0`` is its own answer.  Returns the
    roots, shape ``(N,)``."""
    grid = np.asarray(grid, float)
    if params is not None:
        params = np.asarray(params)
        N = params.shape[0]

        def call(x, rows):
            return g(x, params[rows] if rows is not None else params)

        def call_grid(x):
            return g(x, params[:, None])
    else:
        N = np.size(x0)

        def call(x, rows):
            return g(x)

        call_grid = g
    x0 = np.broadcast_to(np.asarray(x0, float), (N,))
    gg = call_grid(np.broadcast_to(grid, (N, grid.size))) if g_grid is None else g_grid
    g0 = call(np.array(x0), None)
    a = np.empty(N)
    b = np.empty(N)
    root = np.full(N, np.nan)
    for i in range(N):
        m0 = x0[i]
        if g0[i] > 0:  # moves up to the first root above m0
            above = np.flatnonzero((grid > m0) & (gg[i] <= 0))
            if above.size == 0:
                root[i] = upper
                continue
            j = above[0]
            a[i], b[i] = (max(grid[j - 1], m0) if j > 0 else m0), grid[j]
        elif g0[i] < 0:  # moves down to the first root below m0
            below = np.flatnonzero((grid < m0) & (gg[i] >= 0))
            if below.size == 0:
                if lower_is_fixed:
                    root[i] = lower
                    continue
                a[i], b[i] = lower, min(grid[0], m0)
            else:
                j = below[-1]
                a[i], b[i] = grid[j], (min(grid[j + 1], m0) if j + 1 < grid.size else m0)
        else:
            root[i] = m0
    todo = np.flatnonzero(np.isnan(root))
    if todo.size:
        root[todo] = illinois_root(lambda x: call(x, todo), a[todo], b[todo], xtol=xtol, max_iter=max_iter)
    return root


def newton_rows(
    F: Callable[[np.ndarray], np.ndarray],
    X,
    *,
    extra=None,
    log=None,
    jacobian: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
):
    """Batched Newton's method on ``G(y) = T(F(x)) - y``, ``y = T(x)``, for the rows of ``X``
    (shape ``(N, k)``): polishes fixed points of a batched map where plain iteration is slow.

    ``T`` takes the logarithm of the columns flagged in ``log`` (positive variables such as
    variances; a step changes them by at most a factor ``e^2``) and is the identity elsewhere.
    ``extra`` (shape ``(N,)`` or ``(N, e)``): columns appended to ``x`` when ``F`` is called and
    left alone (e.g. the row index of a batched map), so ``F`` maps ``(n, k + e)`` to at least
    ``k`` columns.  The Jacobian of ``G`` is ``jacobian(Y, extra_rows) -> (n, k, k)`` when given,
    else forward differences with steps ``1e-7 max(1, |y|)`` (``k`` extra batched map calls per
    step).  Each Newton step is damped by backtracking (halving, at most 12 times) until
    ``|G|`` decreases by the Armijo factor ``1 - 1e-4 t`` (Dennis & Schnabel, *Numerical Methods
    for Unconstrained Optimization and Nonlinear Equations*, 1983, sec. 6.3); a singular Jacobian
    falls back to a fixed-point step.  A row stops when ``max_j |G_j| / s_j < tol`` with
    ``s_j = max(1, |y_j|)`` on linear columns and 1 on log columns.

    Returns ``(x, converged, n_iter)``: the rows in the original variables, shape ``(N, k)``,
    their convergence flags and the number of Newton steps taken."""
    X = np.asarray(X, float)
    N, k = X.shape
    lg = np.zeros(k, dtype=bool) if log is None else np.asarray(log, dtype=bool)
    ext = np.zeros((N, 0)) if extra is None else np.asarray(extra, float).reshape(N, -1)

    def G(Y, E):
        Xx = np.column_stack([np.exp(Y[:, j]) if lg[j] else Y[:, j] for j in range(k)] + [E[:, j] for j in range(E.shape[1])])
        with np.errstate(all="ignore"):
            FX = F(Xx)
            out = np.column_stack([(np.log(FX[:, j]) if lg[j] else FX[:, j]) - Y[:, j] for j in range(k)])
        return out

    def size(g, Y):
        scale = np.column_stack([np.ones(len(Y)) if lg[j] else np.maximum(1.0, np.abs(Y[:, j])) for j in range(k)])
        return np.max(np.abs(g) / scale, axis=1)

    Y = np.column_stack([np.log(np.maximum(X[:, j], 1e-300)) if lg[j] else X[:, j] for j in range(k)])
    g = G(Y, ext)
    ok = size(g, Y) < tol
    it = 0
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(~ok & np.all(np.isfinite(g), axis=1))
        if not len(act):
            break
        Ya, ga, ea = Y[act], g[act], ext[act]
        if jacobian is not None:
            J = np.asarray(jacobian(Ya, ea), float)
        else:
            h = 1e-7 * np.maximum(1.0, np.abs(Ya))
            Yp = np.concatenate([Ya + np.eye(k)[j] * h[:, j:j + 1] for j in range(k)])
            gp = G(Yp, np.tile(ea, (k, 1))).reshape(k, len(act), k)
            J = np.transpose((gp - ga[None]) / h.T[:, :, None], (1, 2, 0))  # (n, k eq, k var)
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(J, -ga[..., None])[..., 0]
            except np.linalg.LinAlgError:
                step = np.full_like(ga, np.nan)
        bad = ~np.all(np.isfinite(step), axis=1)
        step[bad] = ga[bad]  # fall back to a fixed-point step
        step[:, lg] = np.clip(step[:, lg], -2.0, 2.0)  # at most a factor e^2 per step on log columns
        t = np.ones(len(act))
        s0 = size(ga, Ya)
        for _ in range(12):
            Yt = Ya + t[:, None] * step
            gt = G(Yt, ea)
            st = size(gt, Yt)
            good = np.isfinite(st) & (st < (1 - 1e-4 * t) * s0)
            if good.all():
                break
            t = np.where(good, t, 0.5 * t)
        accept = np.isfinite(st) & (st < s0)
        Y[act[accept]] = Yt[accept]
        g[act[accept]] = gt[accept]
        if not accept.any():
            break
        ok = size(g, Y) < tol
    Xo = np.column_stack([np.exp(Y[:, j]) if lg[j] else Y[:, j] for j in range(k)])
    return Xo, ok, it


def continuation(
    make_map: Callable[[object], Callable[[np.ndarray], np.ndarray]],
    params: Iterable,
    x0,
    *,
    reset: Callable[[np.ndarray], np.ndarray] | None = None,
    **kwargs,
) -> list[FixedPointResult]:
    """Solve a family of fixed points along ``params``, warm-starting each from the last
    (natural-parameter continuation, e.g. Allgower & Georg, *Introduction to Numerical
    Continuation Methods*, 2003, ch. 1).

    ``make_map(p)`` returns the map at parameter ``p``.  If a point fails to converge the
    next one starts again from ``x0`` (or ``reset(previous_x)``).  Keyword arguments go
    to :func:`solve_fixed_point`.

    This is the curve-continuation tool for maps that cannot be batched over the curve, or
    whose fixed point is found more reliably from a neighbour's.  The engines batch their
    curves instead (one row per parameter value, ``solve_fixed_point(batch=True)``), where a
    warm start would make each point depend on its neighbours; the ERM engine's continuation
    in the penalty (``lam = 1e-2, 1e-2.5, ...`` on the stiff rows, with Newton polishing) is a
    schedule of batched solves of its own.
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

"""Branches of a one-parameter family of fixed-point equations, and the location of its
phase transitions.  Shared by the theory families (GLMs in :mod:`.glm_bayes`, spiked
matrices in :mod:`.lowrank`, ...).

The physics (Zdeborova & Krzakala, Adv. Phys. 65, 453 (2016), sec. 2.5 and 4.4; Barbier,
Krzakala, Macris, Miolane & Zdeborova, PNAS 116, 5451 (2019), sec. "Phase transitions"):
a replica / state-evolution fixed-point map ``x -> F_p(x)`` depending on a control
parameter ``p`` (``alpha`` for GLMs, ``snr`` for spiked matrices) may have several stable
fixed points.  Two are followed:

* the *uninformative* branch: iterated from an uninformative start (what AMP reaches);
* the *informative* branch: iterated from (close to) perfect knowledge of the signal.

Each fixed point carries a free entropy ``phi_p(x)``; the Bayes-optimal estimator follows
the branch of largest free entropy.  With ``p`` increasing towards easier problems:

``algorithmic``
    upper end of the coexistence region: the uninformative branch disappears and AMP
    jumps to the informative one (spinodal);
``information_theoretic``
    in the coexistence region, the free entropies of the branches cross
    (``phi_inf - phi_uninf`` changes sign from <= 0 to > 0);
``perfect_recovery``
    the selected branch (Bayes: largest free entropy; AMP: uninformative) reaches a
    normalised overlap ``>= 1 - perfect_tol``;

Continuous transitions to perfect recovery (e.g. Gaussian prior + noiseless ReLU or Linear
channel): the deficit of the single branch vanishes continuously at ``p_c`` and state
evolution slows down critically there (``delta_t ~ 1/t^2`` at ``p_c`` for ReLU), so the
predicates above cannot be resolved by iterating.  With the family's ``perfect_slope`` hook,
``p_c`` is where the slope of the map at the perfect-recovery fixed point crosses 1 (its
linear stability), accepted as a continuous transition when at ``p_c`` the map moves every
state between the uninformative start and perfect recovery strictly towards perfect
recovery (:func:`continuous_perfect_transitions`).  Then ``information_theoretic`` (the
free entropy passes continuously to the perfect branch: the branches merge),
``algorithmic`` (the uninformative branch merges with the perfect one: AMP reaches it) and
``perfect_recovery`` are all ``p_c`` (a first-order threshold found by the grid further
below is kept), and the grid skips the critical window ``|slope - 1| < 1e-2``.
``weak_recovery``
    where the overlap leaves its trivial value when that value is a fixed point; the
    family provides it through the ``weak_recovery`` hook (a linear-stability
    computation, far more accurate than iterating at a critical point), else None.

API
---
``FixedPointFamily(step, free_entropy, uninformative, informative, overlap, ...)``
    ``step(p, x)``: the map for a batch, ``p`` of shape ``(N,)``, ``x`` of shape ``(N, k)``
    (one row per parameter value), returning ``(N, k)``; ``free_entropy(p, x) -> (N,)``
    (``+-inf`` allowed, e.g. for a perfect-recovery branch of a noiseless model);
    ``uninformative(p)`` / ``informative(p) -> (N, k)`` the two starts;
    ``overlap(p, x) -> (N,)`` the normalised overlap in ``[0, 1]`` used to tell branches
    apart and to detect perfect recovery; ``lower``/``upper`` bounds of ``x``;
    ``weak_recovery(lo, hi, learner, found)`` optional hook (``found``: the other thresholds) returning a threshold or None;
    ``perfect_slope(p) -> (N,)`` optional hook: the slope of the map at the perfect-recovery
    fixed point, ``lim deficit(F_p(x)) / deficit(x)`` (continuous transitions, above);
    iteration settings ``damping``, ``tol``, ``max_iter``; ``rtol`` (None: off): a row also
    needs ``|F(x) - x| <= rtol |x - informative(p)|`` to stop, so a slow geometric approach
    to perfect recovery is not stopped early and an unstable perfect-recovery fixed point is
    left (its first step is not below ``rtol`` times a zero distance); ``same_tol`` (two branches
    with overlaps closer than this are one branch); ``perfect_tol`` (None: the family
    never reaches perfect recovery); ``accelerate`` (scalar maps only, default False):
    safeguarded geometric extrapolation of the iterates
    (:func:`solvable.numerics.fixed_point.safeguarded_aitken`), same fixed points.
``solve_branch(family, p, start)``
    iterate from ``"uninformative"``, ``"informative"`` or an explicit ``(N, k)`` array;
    returns a :class:`~solvable.numerics.FixedPointResult` (batch).  Rows that have not
    converged after ``max_iter`` iterations are still returned (their ``converged``
    flag is False): near a spinodal the iterate sits on the plateau of the vanishing
    fixed point, which is the meaningful answer there.
``branches(family, p) -> Branches``
    both branches, their overlaps and free entropies, whether they coexist, and the
    selected (largest free entropy) one.
``locate_transitions(family, lo, hi, learner="bayes"|"algorithmic", n_grid=41, xtol=1e-6)``
    scans a grid of ``n_grid`` points, then refines every switch of the relevant
    predicate by vectorised k-section (``k = 8`` parameter values per round) to
    ``xtol``; returns ``{"weak_recovery", "information_theoretic", "algorithmic",
    "perfect_recovery"}`` (None where absent in ``[lo, hi]``).  For
    ``learner="algorithmic"`` (AMP), ``perfect_recovery`` refers to the uninformative
    branch and ``information_theoretic`` is still the problem's (reported for reference).
``refine_switch(pred, a, b, xtol=, k=, rounds=, value_a=, bracket=)``, ``refine_crossing(diff, a, b)``
    the k-section of a boolean predicate and Brent's root of a continuous difference (free-entropy
    crossing) in its final bracket; shared with :func:`solvable.families.lowrank.equations.locate_branch_transitions`.
``fixed_point_curve(step, x, p_lo, p_hi)``, ``saddle_nodes(step, x_grid, p_lo, p_hi)``
    for scalar maps monotone in ``p``: the parameter at which each ``x`` is a fixed point, and the
    saddle-node bifurcations (``F(x) = x``, ``F'(x) = 1``) as its local extrema, to round-off
    (used for the spinodal / algorithmic thresholds of the spiked models).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from solvable.numerics.fixed_point import FixedPointResult, solve_fixed_point

CRITICAL_WINDOW = 1e-2  # grid points with |perfect_slope - 1| below this are skipped (critical slowing down)

__all__ = ["FixedPointFamily", "Branches", "solve_branch", "branches", "locate_transitions", "refine_switch",
           "refine_crossing", "fixed_point_curve", "saddle_nodes", "continuous_perfect_transitions"]


@dataclass
class FixedPointFamily:
    """A one-parameter family of batched fixed-point maps with a free entropy (see module doc)."""

    step: Callable[[np.ndarray, np.ndarray], np.ndarray]
    free_entropy: Callable[[np.ndarray, np.ndarray], np.ndarray]
    uninformative: Callable[[np.ndarray], np.ndarray]
    informative: Callable[[np.ndarray], np.ndarray]
    overlap: Callable[[np.ndarray, np.ndarray], np.ndarray]
    lower: Optional[np.ndarray | float] = None
    upper: Optional[np.ndarray | float] = None
    weak_recovery: Optional[Callable[[float, float, str, dict], Optional[float]]] = None
    perfect_slope: Optional[Callable[[np.ndarray], np.ndarray]] = None
    damping: float = 0.0
    tol: float = 1e-11
    rtol: Optional[float] = None
    max_iter: int = 5000
    same_tol: float = 1e-6
    perfect_tol: Optional[float] = 1e-9
    accelerate: bool = False
    name: str = "state evolution"
    extra: dict = field(default_factory=dict)
    #: scalar states only, with ``step`` monotone in ``p``: the states on which :func:`saddle_nodes`
    #: brackets the fold where a branch disappears, which then gives the algorithmic threshold exactly
    saddle_grid: Optional[np.ndarray] = None


@dataclass
class Branches:
    """Both branches at parameters ``p`` (arrays over ``p``)."""

    p: np.ndarray
    x_uninformative: np.ndarray
    x_informative: np.ndarray
    overlap_uninformative: np.ndarray
    overlap_informative: np.ndarray
    phi_uninformative: np.ndarray
    phi_informative: np.ndarray
    converged_uninformative: np.ndarray
    converged_informative: np.ndarray
    coexist: np.ndarray
    select_informative: np.ndarray

    @property
    def x_selected(self) -> np.ndarray:
        return np.where(self.select_informative[:, None], self.x_informative, self.x_uninformative)

    @property
    def overlap_selected(self) -> np.ndarray:
        return np.where(self.select_informative, self.overlap_informative, self.overlap_uninformative)


def solve_branch(family: FixedPointFamily, p, start="uninformative", *, max_iter: int | None = None) -> FixedPointResult:
    """Iterate the family's map at the parameters ``p`` (1D) from ``start`` (batched)."""
    p = np.atleast_1d(np.asarray(p, dtype=float))
    if isinstance(start, str):
        if start == "uninformative":
            x0 = family.uninformative(p)
        elif start == "informative":
            x0 = family.informative(p)
        else:
            raise ValueError(f"start must be 'uninformative', 'informative' or an array, got {start!r}")
    else:
        x0 = np.asarray(start, dtype=float)
    x0 = np.asarray(x0, dtype=float).reshape(len(p), -1)
    return _iterate(family, p, x0, max_iter or family.max_iter)


def _iterate(family: FixedPointFamily, p: np.ndarray, x0: np.ndarray, max_iter: int) -> FixedPointResult:
    """The family's map iterated from ``x0`` at the parameters ``p`` by the batched solver of
    :mod:`solvable.numerics.fixed_point` (rows frozen once converged): the projected map
    ``clip(F_p(x))``, safeguarded Aitken extrapolation for scalar states when the family asks for
    it, the relative rule ``rtol`` measured from the informative start; non-finite values raise."""
    acc = family.accelerate and x0.shape[1] == 1
    ref = None if family.rtol is None else np.asarray(family.informative(p), dtype=float).reshape(x0.shape)
    res = solve_fixed_point(
        lambda x, q: family.step(q, x), x0, batch=True, params=p, damping=family.damping,
        accelerate="aitken" if acc else None, tol=family.tol, rtol=0.0 if ref is None else family.rtol,
        rtol_to=ref, max_iter=max_iter, on_fail="ignore", on_nonfinite="raise", lower=family.lower,
        upper=family.upper, clip="map", name=family.name,
    )
    converged, counts = res.converged, res.n_iter_rows
    last_res = np.full(len(p), np.nan)  # the last residual of each row
    rows = np.flatnonzero(counts > 0)
    last_res[rows] = res.residuals[counts[rows] - 1, rows]
    msg = "converged" if converged.all() else (
        f"{family.name}: {int((~converged).sum())} point(s) not converged after {max_iter} iterations"
        f" (max residual {np.nanmax(last_res[~converged]):.3g}), e.g. at parameter {p[~converged][0]:.6g}"
    )
    return FixedPointResult(x=res.x, converged=converged, n_iter=res.n_iter, residuals=last_res[None, :], message=msg,
                            diagnostics=res.diagnostics, n_iter_rows=counts)


def branches(family: FixedPointFamily, p, *, max_iter: int | None = None) -> Branches:
    """Solve both branches at ``p`` and compare their free entropies."""
    p = np.atleast_1d(np.asarray(p, dtype=float))
    ru = _iterate(family, p, np.asarray(family.uninformative(p), float).reshape(len(p), -1), max_iter or family.max_iter)
    ri = _iterate(family, p, np.asarray(family.informative(p), float).reshape(len(p), -1), max_iter or family.max_iter)
    ou, oi = family.overlap(p, ru.x), family.overlap(p, ri.x)
    coexist = np.abs(oi - ou) > family.same_tol
    phu = np.full(len(p), np.nan)
    phi = np.full(len(p), np.nan)
    phu[:] = family.free_entropy(p, ru.x)
    if coexist.any():
        phi[coexist] = family.free_entropy(p[coexist], ri.x[coexist])
    phi[~coexist] = phu[~coexist]
    with np.errstate(invalid="ignore"):
        sel = coexist & (phi > phu)
    return Branches(
        p=p, x_uninformative=ru.x, x_informative=ri.x, overlap_uninformative=ou, overlap_informative=oi,
        phi_uninformative=phu, phi_informative=phi, converged_uninformative=np.asarray(ru.converged),
        converged_informative=np.asarray(ri.converged), coexist=coexist, select_informative=sel,
    )


def refine_switch(pred: Callable[[np.ndarray], np.ndarray], a: float, b: float, *, xtol: float = 1e-6, k: int = 8,
                  rounds: int | None = None, value_a: bool | None = None, bracket: bool = False):
    """Locate the switch of a boolean predicate between ``a`` (value ``pred(a)``) and ``b``
    (the other value) by vectorised k-section: ``pred`` gets ``k`` points per round, until
    ``b - a <= xtol`` or after ``rounds`` rounds (None: no limit).  ``value_a``: ``pred(a)`` when
    known (saves a call).  Returns the midpoint of the final bracket, or the bracket ``(a, b)``
    itself with ``bracket=True`` (``pred`` has the value of ``a`` at its left end, the other at
    its right end).  Shared by the GLM (:func:`locate_transitions`) and spiked-matrix
    (:func:`solvable.families.lowrank.equations.locate_branch_transitions`) locators."""
    va = bool(np.asarray(pred(np.array([a])))[0]) if value_a is None else bool(value_a)
    n = 0
    while b - a > xtol and (rounds is None or n < rounds):
        n += 1
        pts = np.linspace(a, b, k + 2)[1:-1]
        vals = np.asarray(pred(pts), dtype=bool)
        flips = np.flatnonzero(vals != va)
        if len(flips):
            j = flips[0]
            b = pts[j]
            a = pts[j - 1] if j > 0 else a
        else:
            a = pts[-1]
    return (a, b) if bracket else 0.5 * (a + b)


def refine_crossing(diff: Callable[[float], float], a: float, b: float, *, xtol: float = 0.0) -> float | None:
    """Root of a continuous scalar ``diff`` (e.g. ``phi_informative - phi_uninformative``) in a
    bracket ``[a, b]`` with ``diff(a) <= 0 < diff(b)`` by Brent's method (to ``xtol``, default
    round-off); None when the bracket does not hold (the caller keeps its k-section estimate)."""
    from scipy.optimize import brentq

    try:
        fa, fb = float(diff(a)), float(diff(b))
    except (FloatingPointError, RuntimeError):
        return None
    if not (np.isfinite(fa) and np.isfinite(fb)) or fa > 0 or fb <= 0:
        return None
    if fa == 0:
        return float(a)
    tol = xtol if xtol > 0 else 4e-16 * max(abs(a), abs(b), 1e-300)
    return float(brentq(diff, a, b, xtol=tol, rtol=4 * np.finfo(float).eps))


def fixed_point_curve(step: Callable[[np.ndarray, np.ndarray], np.ndarray], x, p_lo: float, p_hi: float,
                      *, n_bisect: int = 200) -> np.ndarray:
    """For a scalar family whose map ``F_p(x)`` is monotone in ``p``: the parameter ``p(x)`` at
    which ``x`` is a fixed point, ``F_{p(x)}(x) = x``, for every ``x`` at once (vectorised
    bisection in ``p`` on ``[p_lo, p_hi]`` to round-off); NaN where ``F_p(x) - x`` keeps one sign
    on the interval.  ``step(p, x)`` takes ``p`` of shape ``(N,)`` and ``x`` of shape ``(N, 1)``.
    The graph of ``p(x)`` is the set of all fixed points (stable and unstable), so its local
    extrema are the saddle-node bifurcations (:func:`saddle_nodes`)."""
    x = np.atleast_1d(np.asarray(x, dtype=float))

    def g(pp, xx):
        with np.errstate(all="ignore"):
            return np.asarray(step(pp, xx[:, None]), dtype=float).reshape(-1) - xx

    a, b = np.full(x.shape, float(p_lo)), np.full(x.shape, float(p_hi))
    ga, gb = g(a, x), g(b, x)
    ok = np.isfinite(ga) & np.isfinite(gb) & (np.sign(ga) != np.sign(gb)) & (ga != 0) & (gb != 0)
    sa = np.sign(ga)
    for _ in range(n_bisect):
        if not ok.any() or np.all((b - a)[ok] <= 4 * np.finfo(float).eps * np.abs(b[ok])):
            break
        c = 0.5 * (a + b)
        gc = g(c, x)
        left = np.sign(gc) == sa  # the root lies in (c, b)
        a, b = np.where(left, c, a), np.where(left, b, c)
    return np.where(ok, 0.5 * (a + b), np.nan)


def saddle_nodes(step: Callable[[np.ndarray, np.ndarray], np.ndarray], x_grid, p_lo: float, p_hi: float
                 ) -> list[tuple[str, float, float]]:
    """Saddle-node bifurcations of a scalar fixed-point family monotone in ``p``, in ``[p_lo, p_hi]``.

    On the fixed-point curve ``p(x)`` (:func:`fixed_point_curve`) a pair of fixed points (one
    stable, one unstable) is born at a local minimum of ``p(x)`` (``"min"``: going up in ``p``, a
    new branch appears -- the spinodal of the informative branch) and dies at a local maximum
    (``"max"``: a branch disappears -- the algorithmic threshold when it is the uninformative
    branch): there ``F_p(x) = x`` and ``dF_p/dx = 1`` (Strogatz, *Nonlinear Dynamics and Chaos*,
    sec. 3.1; Zdeborova & Krzakala 2016, sec. 4.4).  The extrema are bracketed on ``x_grid`` and
    polished by Brent's bounded minimisation of ``+-p(x)``, each ``p(x)`` by Brent's root finder
    in ``p``: as ``p(x)`` is quadratic at the extremum, its value is accurate to a few ulps of the
    map (no iteration counts, no critical slowing down).  Returns ``[(kind, p, x), ...]`` sorted by ``p``."""
    from scipy.optimize import brentq, minimize_scalar

    xs = np.asarray(x_grid, dtype=float)
    P = fixed_point_curve(step, xs, p_lo, p_hi)

    def p_of(x):
        def g(pp):
            with np.errstate(all="ignore"):
                return float(np.asarray(step(np.array([pp]), np.array([[x]]))).reshape(-1)[0]) - x
        ga, gb = g(p_lo), g(p_hi)
        if not (np.isfinite(ga) and np.isfinite(gb)) or np.sign(ga) == np.sign(gb):
            return np.nan
        return brentq(g, p_lo, p_hi, xtol=4e-16 * abs(p_hi), rtol=4 * np.finfo(float).eps)

    out = []
    for j in range(1, len(xs) - 1):
        t = P[j - 1:j + 2]
        if not np.all(np.isfinite(t)):
            continue
        for kind, sgn in (("min", 1.0), ("max", -1.0)):
            if sgn * t[1] < sgn * t[0] and sgn * t[1] <= sgn * t[2]:
                def obj(x, sgn=sgn):
                    v = p_of(x)
                    return sgn * v if np.isfinite(v) else np.inf

                r = minimize_scalar(obj, bounds=(xs[j - 1], xs[j + 1]), method="bounded",
                                    options={"xatol": 1e-12 * max(abs(xs[j + 1]), 1e-300)})
                x_s = float(r.x)
                p_s = p_of(x_s)
                if np.isfinite(p_s) and sgn * p_s <= sgn * t[1] + 1e-12 * abs(t[1]):
                    out.append((kind, float(p_s), x_s))
    return sorted(out, key=lambda e: e[1])


def _switches(vals: np.ndarray, up: bool = True) -> list[int]:
    """Indices i with vals[i] != vals[i+1]; with up=True only False -> True switches."""
    v = np.asarray(vals, dtype=bool)
    if up:
        return list(np.flatnonzero(~v[:-1] & v[1:]))
    return list(np.flatnonzero(v[:-1] & ~v[1:]))


def locate_transitions(
    family: FixedPointFamily,
    lo: float,
    hi: float,
    *,
    learner: str = "bayes",
    n_grid: int = 41,
    xtol: float = 1e-6,
    grid: np.ndarray | None = None,
) -> dict:
    """Thresholds of ``family`` over ``[lo, hi]`` (see the module docstring)."""
    if learner not in ("bayes", "algorithmic"):
        raise ValueError(f"learner must be 'bayes' or 'algorithmic', got {learner!r}")
    ps = np.linspace(lo, hi, n_grid) if grid is None else np.asarray(grid, float)
    out = {"weak_recovery": None, "information_theoretic": None, "algorithmic": None, "perfect_recovery": None}
    # continuous transitions to perfect recovery: there the grid predicates are blurred by
    # critical slowing down (the iteration cannot resolve a deficit vanishing at the threshold),
    # so the threshold p_c comes from the linear stability of the perfect-recovery fixed point
    # and the grid skips the critical window |lambda - 1| < CRITICAL_WINDOW around it
    cont = continuous_perfect_transitions(family, ps)
    p_c = cont[0] if cont else None  # beyond the first one the perfect point stays stable
    if p_c is not None:
        keep = np.abs(np.asarray(family.perfect_slope(ps), float) - 1.0) >= CRITICAL_WINDOW
        keep[[0, -1]] = True
        ps = ps[keep]
    B = branches(family, ps)

    def at_pc(i):  # the grid interval (ps[i], ps[i+1]) holds the continuous transition
        return p_c is not None and ps[i] <= p_c <= ps[i + 1]

    def coexist(pp):
        return branches(family, pp).coexist

    # algorithmic: coexistence -> single branch, the last such switch in the range
    i_alg = i_it = None
    sw = _switches(B.coexist, up=False)
    if sw:
        i_alg = sw[-1]
        fold = None
        if family.saddle_grid is not None and not at_pc(i_alg):
            # the uninformative branch dies at a saddle-node ("max" of the fixed-point curve p(x))
            a_, b_ = ps[max(i_alg - 1, 0)], ps[min(i_alg + 2, len(ps) - 1)]
            cand = [p for k, p, _ in saddle_nodes(family.step, family.saddle_grid, lo, hi)
                    if k == "max" and a_ <= p <= b_]
            fold = min(cand, key=lambda p: abs(p - 0.5 * (ps[i_alg] + ps[i_alg + 1]))) if cand else None
        out["algorithmic"] = p_c if at_pc(i_alg) else (fold if fold is not None else refine_switch(
            lambda pp: ~coexist(pp), ps[i_alg], ps[i_alg + 1], xtol=xtol))

    # information-theoretic: phi_inf - phi_uninf becomes > 0 inside coexistence
    def it_pred(pp):
        b = branches(family, pp)
        with np.errstate(invalid="ignore"):
            return b.coexist & (b.phi_informative > b.phi_uninformative)

    sw = _switches(B.select_informative, up=True)
    if sw:
        i_it = sw[0]
        if at_pc(i_it):
            out["information_theoretic"] = p_c
        else:
            a_, b_ = refine_switch(it_pred, ps[i_it], ps[i_it + 1], xtol=xtol, bracket=True)

            def dphi(pp):  # the free-entropy gap where both branches exist, polished by Brent
                b = branches(family, np.array([pp]))
                return float(b.phi_informative[0] - b.phi_uninformative[0]) if b.coexist[0] else np.nan

            r = refine_crossing(dphi, a_, b_)
            out["information_theoretic"] = r if r is not None else 0.5 * (a_ + b_)

    if family.perfect_tol is not None:
        def is_perfect(ov):
            return ov >= 1.0 - family.perfect_tol

        def perf(pp):
            b = branches(family, pp)
            return is_perfect(b.overlap_selected if learner == "bayes" else b.overlap_uninformative)

        pv = is_perfect(B.overlap_selected if learner == "bayes" else B.overlap_uninformative)
        sw = _switches(pv, up=True)
        if sw:
            j = sw[0]
            # the same event as a threshold already located (a jump onto a perfect branch)
            same = i_alg if learner == "algorithmic" else i_it
            key = "algorithmic" if learner == "algorithmic" else "information_theoretic"
            if at_pc(j):
                out["perfect_recovery"] = p_c
            elif same == j and is_perfect(B.overlap_informative[j + 1]) and not is_perfect(B.overlap_uninformative[j]):
                out["perfect_recovery"] = out[key]
            else:
                out["perfect_recovery"] = refine_switch(perf, ps[j], ps[j + 1], xtol=xtol)

    if p_c is not None:
        # at a continuous transition the uninformative branch merges with the perfect one: AMP
        # reaches perfect recovery there (algorithmic), and the Bayes-optimal free entropy
        # switches continuously to the perfect branch (information-theoretic = perfect recovery);
        # a first-order threshold found on the grid below that window is kept
        win = 2.0 * float(np.max(np.diff(ps)))
        for key in ("information_theoretic", "perfect_recovery"):
            if out[key] is None or out[key] >= p_c - win:
                out[key] = p_c
        out["algorithmic"] = p_c

    if family.weak_recovery is not None:
        out["weak_recovery"] = family.weak_recovery(lo, hi, learner, out)
    return out


def continuous_perfect_transitions(family: FixedPointFamily, ps: np.ndarray, *, n_check: int = 240) -> list[float]:
    """Parameters in the range of ``ps`` (increasing) where the perfect-recovery fixed point
    becomes linearly stable *and* the transition to it is continuous.

    Uses the family's ``perfect_slope(p)``: the slope ``lambda(p)`` of the map at the
    perfect-recovery fixed point, in the deficit ``delta = x - x_perfect`` (``F(delta) ~
    lambda delta``).  The perfect point is stable iff ``lambda < 1``; ``p_s`` solves
    ``lambda(p_s) = 1`` (Brent).  The transition there is continuous iff at ``p_s`` the map
    moves every point between the uninformative start and the perfect point strictly
    towards perfect recovery (normalised overlap increases), checked on ``n_check``
    log-spaced deficits from ``1e-6`` to ``1`` of the way: then state evolution from the
    uninformative start has no fixed point other than perfect recovery at ``p_s`` (for a
    monotone scalar map it converges to the largest fixed point below its start), so the
    uninformative branch's deficit vanishes as ``p -> p_s^-`` and, the map decreasing in
    ``p``, no hard phase follows.  Otherwise (a first-order jump; e.g. noiseless compressed
    sensing, where ``p_s = alpha_IT`` lies inside the hard phase) nothing is returned for it.
    (Zdeborova & Krzakala 2016, sec. 4.4: continuous vs first-order transitions of state
    evolution; the slope at ``E = 0`` of noiseless GLMs is ``d_P / (c alpha)``, Wu & Verdu 2012.)"""
    if family.perfect_slope is None or family.perfect_tol is None or len(ps) < 2:
        return []
    from scipy.optimize import brentq

    ps = np.asarray(ps, float)
    lam = np.asarray(family.perfect_slope(ps), float)
    found = []
    for i in np.flatnonzero((lam[:-1] > 1.0) & (lam[1:] <= 1.0)):
        if lam[i + 1] == 1.0:
            p_s = float(ps[i + 1])
        else:
            g = lambda t: float(np.asarray(family.perfect_slope(np.array([t])))[0]) - 1.0
            p_s = float(brentq(g, ps[i], ps[i + 1], xtol=1e-13 * max(1.0, abs(ps[i])), rtol=1e-14))
        t = np.logspace(-6, 0, n_check)
        pp = np.full(n_check, p_s)
        x_perf = np.asarray(family.informative(pp), float).reshape(n_check, -1)
        x_un = np.asarray(family.uninformative(pp), float).reshape(n_check, -1)
        x = x_perf + t[:, None] * (x_un - x_perf)
        with np.errstate(all="ignore"):
            fx = np.asarray(family.step(pp, x), float).reshape(x.shape)
        if family.lower is not None or family.upper is not None:
            fx = np.clip(fx, family.lower, family.upper)
        if np.all(family.overlap(pp, fx) > family.overlap(pp, x)):
            found.append(p_s)
    return found


def locate_branch_transitions(branches, lo: float, hi: float, *, weak_recovery: float | None = None,
                              n_grid: int = 48, gap_tol: float = 1e-3, rounds: int = 4,
                              saddles: Callable[[float, float], list] | None = None) -> dict:
    """Generic locator of the thresholds of a problem with an uninformative and an informative branch.

    ``branches(params) -> (s_u, s_i, phi_u, phi_i)``: for an array of parameter values, the
    normalised overlap (in [0, 1]) and free entropy of the fixed points reached from an
    uninformative and from an informative start.  Returns

    - ``spinodal``: lowest parameter where the two branches differ (the informative one appears),
    - ``algorithmic``: where the uninformative branch joins the informative one (AMP succeeds),
    - ``information_theoretic``: where the free entropies cross (first-order jump of the
      Bayes-optimal error); for a continuous transition, the weak-recovery point,
    - ``weak_recovery``: as given (None when outside ``[lo, hi]``), ``perfect_recovery``: None,
    - ``order``: "first" or "second" (or None).

    The switches of the predicates are bracketed on a geometric grid and narrowed by the shared
    k-section :func:`._transitions.refine_switch` (``rounds`` rounds of 12 points); the
    free-entropy crossing is then polished by Brent's method on ``phi_i - phi_u``
    (:func:`._transitions.refine_crossing`).  ``saddles(lo, hi) -> [(kind, p, x), ...]``
    (optional; :func:`._transitions.saddle_nodes` for one-dimensional states) gives the
    saddle-node bifurcations: the spinodal is replaced by the local minimum (``"min"``) and the
    algorithmic threshold by the local maximum (``"max"``) of the fixed-point curve lying in
    (or next to) the grid cell of the switch -- exact to round-off of the map, where the
    branch predicates are blurred near a saddle-node (two nearby roots missed between grid
    points, critical slowing down).  With ``saddles`` the coexistence window itself comes from
    the saddle-nodes, not from the grid: a ``"min"`` (spinodal) followed by a ``"max"``
    (algorithmic) brackets it (an end outside ``[lo, hi]`` is None), the order is "first" when
    the branches differ (by ``gap_tol``) at some of ``n_grid`` points inside it, and the
    free-entropy crossing is located from those points (``phi_i - phi_u`` increases with the
    snr there: ``d phi / d snr = m^2 / 4`` on each Wigner branch, ``ratio m_u m_v / 2`` for
    Wishart) -- so a window narrower than the grid spacing is not missed; the grid decides only
    when no confirmed window is found (or without ``saddles``: block profiles).  The
    first-order analysis follows Lesieur, Krzakala & Zdeborova (2017), sec. 6.1 (Delta_Dyn,
    Delta_IT, Delta_Alg).  Thresholds outside ``[lo, hi]`` are None.
    """
    grid = np.geomspace(lo, hi, n_grid) if lo > 0 else np.linspace(lo, hi, n_grid)
    su, si, pu, pi = branches(grid)
    gap = (si - su) > gap_tol
    wr = weak_recovery if (weak_recovery is not None and lo <= weak_recovery <= hi) else None
    out = {"weak_recovery": wr, "information_theoretic": None, "algorithmic": None,
           "perfect_recovery": None, "spinodal": None, "order": None}
    sn = saddles(lo, hi) if saddles is not None else []

    def has_gap(xs):
        a, b, _, _ = branches(xs)
        return (b - a) > gap_tol

    def informative_wins(xs):
        a, b, fa, fb = branches(xs)
        return (fb > fa) & ((b - a) > gap_tol)

    def dphi_at(x):
        a, b, fa, fb = branches(np.array([x]))
        return float(fb[0] - fa[0]) if (b[0] - a[0]) > gap_tol else np.nan

    def k_section(pred, a, b):
        return float(refine_switch(pred, a, b, xtol=0.0, k=12, rounds=rounds, value_a=False))

    def it_in(xs, left, right, wins):
        """The free-entropy crossing from ``informative_wins`` values ``wins`` at the increasing
        points ``xs`` of a coexistence window whose ends ``left``/``right`` bracket them: k-section
        of the first False -> True switch, polished by Brent; None when the informative branch never wins."""
        pos = np.flatnonzero(wins)
        if not pos.size:
            return None
        j = int(pos[0])
        a0 = xs[j - 1] if j > 0 else left
        if a0 is None:  # the crossing precedes the first point and the window's start is unknown
            return None
        a, b = refine_switch(informative_wins, a0, xs[j], xtol=0.0, k=12, rounds=rounds, value_a=False, bracket=True)
        r = refine_crossing(dphi_at, a, b)
        return float(0.5 * (a + b) if r is None else r)

    win = _saddle_window(sn, lo, hi) if saddles is not None else None
    if win is not None:
        # one-dimensional states: the coexistence window is [spinodal, algorithmic] between the
        # saddle-node bifurcations (a "min" of the fixed-point curve p(x) followed by a "max"),
        # whatever the grid; confirmed and searched for the free-entropy crossing at points inside it
        # (phi_inf - phi_uninf increases with snr there: d phi / d snr = m^2 / 4 on each branch)
        sp, alg = win
        a_, b_ = (lo if sp is None else sp), (hi if alg is None else alg)
        t = np.linspace(0.0, 1.0, n_grid + 2)[1:-1]
        xs = a_ + (b_ - a_) * t
        ua, ia, fa, fb = branches(xs)
        g = (ia - ua) > gap_tol
        if g.any():
            out.update(order="first", spinodal=sp, algorithmic=alg)
            wins = g & (fb > fa)
            if sp is None and wins[0]:  # informative already selected at lo: the crossing is below the range
                it = None
            else:
                it = it_in(xs, sp, b_, wins)
            if it is None and not wins.any() and alg is not None:
                it = alg  # the informative branch never wins before the uninformative one disappears
            out["information_theoretic"] = it
            return out
        # no gap inside the saddle window (e.g. spurious extrema of p(x)): fall back to the grid
    if not gap.any():
        if wr is not None:
            out.update(information_theoretic=wr, algorithmic=wr, order="second")
        return out
    out["order"] = "first"
    i0 = int(np.flatnonzero(gap)[0])
    i1 = i0
    while i1 + 1 < n_grid and gap[i1 + 1]:
        i1 += 1

    def saddle(kind, i):  # the saddle-node of this kind in the grid cell (i, i+1), or next to it
        a, b = grid[max(i - 1, 0)], grid[min(i + 2, n_grid - 1)]
        cand = [p for k, p, _ in sn if k == kind and a <= p <= b]
        return min(cand, key=lambda p: abs(p - 0.5 * (grid[i] + grid[i + 1]))) if cand else None

    if i0 > 0:
        out["spinodal"] = saddle("min", i0 - 1) or k_section(has_gap, grid[i0 - 1], grid[i0])
    if i1 + 1 < n_grid:
        out["algorithmic"] = saddle("max", i1) or k_section(lambda xs: ~has_gap(xs), grid[i1], grid[i1 + 1])
    dphi = pi[i0:i1 + 1] - pu[i0:i1 + 1]
    pos = np.flatnonzero(dphi > 0)
    if pos.size:
        j = i0 + int(pos[0])
        if j > 0:
            a, b = refine_switch(informative_wins, grid[j - 1], grid[j], xtol=0.0, k=12, rounds=rounds,
                                 value_a=False, bracket=True)
            r = refine_crossing(dphi_at, a, b)
            out["information_theoretic"] = float(0.5 * (a + b) if r is None else r)
    elif out["algorithmic"] is not None:
        out["information_theoretic"] = out["algorithmic"]
    return out


def _saddle_window(sn, lo: float, hi: float):
    """The first coexistence window ``(spinodal, algorithmic)`` from saddle-nodes ``[(kind, p, x), ...]``
    sorted by ``p`` in ``[lo, hi]``: a ``"min"`` (informative branch born) followed by the next
    ``"max"`` (uninformative branch dies); an end outside the range is None (a lone ``"max"``: the
    window started below ``lo``; a lone ``"min"``: it ends above ``hi``).  None without saddle-nodes."""
    kinds = [k for k, _, _ in sn]
    if not kinds:
        return None
    if kinds[0] == "max":
        return None, sn[0][1]
    for j in range(1, len(sn)):
        if kinds[j] == "max":
            return sn[0][1], sn[j][1]
    return sn[0][1], None

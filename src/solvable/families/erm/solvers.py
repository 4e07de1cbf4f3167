"""Solvers of empirical risk minimisation at finite size, converged tightly.

Every solver minimises ``sum_mu loss(y_mu, (A w)_mu) + penalty(w)`` for a design ``A`` of
shape (n, P) (the simulations pass ``A = X / sqrt(P)``, so ``(A w)_mu = w . x_mu / sqrt(P)``),
with the conventions of :mod:`solvable.losses` and :mod:`solvable.penalties`.

==========  ===============================================================================
loss        method (``lam`` = L2 strength; mapping to other libraries)
==========  ===============================================================================
square      closed form ``w = (A^T A + lam I)^{-1} A^T y`` (or the dual form when n < P);
            lam = 0 gives the least-squares / min-norm solution (pseudo-inverse).
logistic    L-BFGS on the penalised objective, then Newton steps (exact Hessian) to machine
            precision.  scikit-learn: ``LogisticRegression(C=1/lam, fit_intercept=False)``
            on ``A`` minimises the same objective.
hinge       smoothing continuation (quadratically smoothed hinge, L-BFGS) followed by an
            exact active-set refinement on the points at the kink ``y z = 1`` (the KKT
            system is then solved exactly).  scikit-learn: ``LinearSVC(C=1/lam,
            loss="hinge", fit_intercept=False)`` on ``A`` minimises the same objective.
hard_margin max-margin SVM ``argmin |w|^2 s.t. y A w >= 1`` through its dual
            ``min_{beta >= 0} beta^T Q beta / 2 - 1^T beta``, ``Q = (y A)(y A)^T``, solved
            exactly by NNLS (Lawson-Hanson active set, ``scipy.optimize.nnls``) on a Cholesky
            factor of ``Q + eps I``, then polished on the support (``B_S w = 1`` exactly);
            independent of lam.  scikit-learn: ``SVC(kernel="linear", C=large)``.
huber       L-BFGS then Newton steps (the objective is piecewise quadratic).
absolute    smoothing continuation (Huber(delta)/delta, delta -> 0) then exact active-set
            refinement on the interpolated points ``z = y``.
L1 / EN     (square, logistic, huber) accelerated proximal gradient (FISTA) with restarts;
            scikit-learn ``ElasticNet(alpha=lam/n, l1_ratio=r, fit_intercept=False)`` on
            ``A`` minimises ``1/n`` times the square-loss objective.
==========  ===============================================================================

The method is the loss's :attr:`~solvable.blocks.losses.Loss.solver` (FISTA steps use its
:attr:`~solvable.blocks.losses.Loss.grad_lipschitz`).  :func:`kkt_residual` measures the
optimality of a solution (the distance of 0 to the subdifferential, relative to ``lam |w|``),
and is used by the tests.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg, optimize

from solvable.numerics.fixed_point import ConvergenceError

from solvable.blocks.losses import Loss
from solvable.blocks.penalties import L2, ElasticNet, Penalty

__all__ = ["solve_erm", "solve_adversarial", "ridge", "max_margin", "kkt_residual", "SolverError"]


_TINY = 1e-300


class SolverError(ConvergenceError):
    """A finite-size ERM solver did not reach its tolerance (a :class:`ConvergenceError`)."""


def ridge(A: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """argmin_w |y - A w|^2 / 2 + lam |w|^2 / 2 (closed form; min-norm least squares at lam = 0)."""
    n, P = A.shape
    if lam == 0:
        return linalg.lstsq(A, y, cond=None, lapack_driver="gelsd")[0]
    if n >= P:
        return linalg.solve(A.T @ A + lam * np.eye(P), A.T @ y, assume_a="pos")
    return A.T @ linalg.solve(A @ A.T + lam * np.eye(n), y, assume_a="pos")


def max_margin(A: np.ndarray, y: np.ndarray, *, tol: float = 1e-9) -> np.ndarray:
    """The max-margin direction ``argmin |w|^2 s.t. y_mu (A w)_mu >= 1`` (hard-margin SVM).

    Dual: ``w = B^T beta``, ``B = diag(y) A``, ``beta >= 0`` minimising ``|B^T beta|^2 / 2 -
    sum beta``.  With ``Q + eps I = L L^T`` this is the NNLS problem ``min |L^T beta - c|``,
    ``L c = 1`` (exact for the eps-regularised dual); the support ``S = {beta > 0}`` is then
    polished by solving ``B_S B_S^T beta_S = 1`` exactly.  Raises ``ValueError`` when the data
    are not linearly separable (no w reaches all margins)."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    if not np.all(np.abs(y) == 1):
        raise ValueError("max_margin: labels must be +-1")
    B = y[:, None] * A
    n = len(y)
    Q = B @ B.T
    eps = 1e-10 * max(np.trace(Q) / n, _TINY)
    L = linalg.cholesky(Q + eps * np.eye(n), lower=True)
    c = linalg.solve_triangular(L, np.ones(n), lower=True)
    beta, _ = optimize.nnls(L.T, c, maxiter=50 * n)
    S = beta > 0
    if S.any():
        BS = B[S]
        bS = linalg.lstsq(BS @ BS.T, np.ones(int(S.sum())), cond=None)[0]
        if np.all(bS >= 0):
            beta = np.zeros(n)
            beta[S] = bS
    w = B.T @ beta
    margin = float(np.min(B @ w)) if n else 1.0
    if margin < 1.0 - 1e-6:
        raise ValueError(
            f"max_margin: the data are not linearly separable (best margin {margin:.3g} < 1 after "
            f"the dual solve); the hard-margin classifier does not exist (use hinge or logistic)"
        )
    return w


# ---------------------------------------------------------------- smooth losses: L-BFGS + Newton
def _objective(loss: Loss, A, y, lam):
    def fun(w):
        z = A @ w
        f = np.sum(loss.value(y, z)) + 0.5 * lam * w @ w
        g = A.T @ loss.grad(y, z) + lam * w
        return f, g

    return fun


#: above this many weights the Newton polish solves its steps by conjugate gradients on Hessian-vector products
#: (``A^T (h * (A v)) + lam v``: two matrix-vector products) instead of forming the ``P x P`` Hessian (``n P^2``
#: flops: 0.30 s of a 0.35 s logistic fit at d = 1000, n = 2000; with CG the polish takes ~0.01 s, the same KKT
#: point to ~1e-15)
CG_NEWTON_P = 300


def _cg(hv, g, *, rtol, max_iter):
    """Conjugate gradients for ``H p = g`` (``H`` positive definite through ``hv``), to ``|H p - g| <= rtol |g|``."""
    p = np.zeros_like(g)
    r = g.copy()
    d = r.copy()
    rr = float(r @ r)
    stop = (rtol * np.sqrt(rr)) ** 2
    for _ in range(max_iter):
        if rr <= stop:
            break
        Hd = hv(d)
        dHd = float(d @ Hd)
        if not dHd > 0:
            break
        a = rr / dHd
        p += a * d
        r -= a * Hd
        rr_new = float(r @ r)
        d = r + (rr_new / rr) * d
        rr = rr_new
    return p


def _newton_polish(loss: Loss, A, y, lam, w, *, steps=50, gtol=1e-11):
    """Damped Newton (exact Hessian, Armijo backtracking) from w; stops at |grad| <= gtol * scale.  Above
    ``CG_NEWTON_P`` weights each step is an inexact Newton step by conjugate gradients (forcing term ``min(0.1,
    sqrt(|g| / scale))``: superlinear; Dembo, Eisenstat & Steihaug 1982) on Hessian-vector products."""
    P = A.shape[1]
    fun = _objective(loss, A, y, lam)
    if P > CG_NEWTON_P:
        def fun_h(v, hess=False):
            if not hess:
                return fun(v)
            h = loss.hess(y, A @ v)
            return fun(v) + ((lambda u: A.T @ (h * (A @ u)) + lam * u),)

        def solve(H, g):
            sc = max(1.0, lam * np.linalg.norm(g))
            return _cg(H, g, rtol=min(0.1, np.sqrt(np.linalg.norm(g) / sc)), max_iter=4 * P)
    else:
        def fun_h(v, hess=False):
            if not hess:
                return fun(v)
            return fun(v) + ((A * loss.hess(y, A @ v)[:, None]).T @ A + lam * np.eye(P),)

        solve = None
    return _newton(fun_h, w, steps=steps, gtol=gtol, solve=solve,
                   scale=lambda v, g: max(1.0, lam * np.linalg.norm(v), np.linalg.norm(g - lam * v)))


def _lbfgs(fun, w0, *, gtol=1e-10, maxiter=20000):
    res = optimize.minimize(fun, w0, jac=True, method="L-BFGS-B",
                            options={"maxiter": maxiter, "maxfun": 4 * maxiter, "gtol": gtol, "ftol": 1e-15,
                                     "maxcor": 30})
    return res.x


# ---------------------------------------------------------------- piecewise-linear losses
class _SmoothHinge(Loss):
    """Quadratically smoothed hinge (width eps) in the margin u = y z."""

    def __init__(self, eps):
        self.eps = eps

    def value(self, y, z):
        u = y * z
        e = self.eps
        return np.where(u >= 1, 0.0, np.where(u >= 1 - e, (1 - u) ** 2 / (2 * e), 1 - u - e / 2))

    def grad(self, y, z):
        u = y * z
        e = self.eps
        return -y * np.where(u >= 1, 0.0, np.where(u >= 1 - e, (1 - u) / e, 1.0))

    def hess(self, y, z):
        u = y * z
        return np.where((u < 1) & (u >= 1 - self.eps), 1.0 / self.eps, 0.0)


class _SmoothAbs(Loss):
    def __init__(self, eps):
        self.eps = eps

    def value(self, y, z):
        r = np.abs(y - z)
        e = self.eps
        return np.where(r <= e, r * r / (2 * e), r - e / 2)

    def grad(self, y, z):
        r = y - z
        return -np.clip(r / self.eps, -1.0, 1.0)

    def hess(self, y, z):
        return np.where(np.abs(y - z) <= self.eps, 1.0 / self.eps, 0.0)


def _refine_piecewise(kind: str, A, y, lam, w, *, eps=1e-3, max_rounds=20, tol=1e-9):
    """Exact active-set solution of hinge / absolute + L2 from a nearby approximate w.

    KKT: lam w = A^T (beta * s) with, per point, s = y (hinge, beta in [0,1], beta = 1 where
    y z < 1, 0 where y z > 1) or s = 1 (absolute, beta in [-1, 1], beta = sign(y - z) where
    z != y).  The points at the kink (y z = 1, resp. z = y) have free beta, fixed by the
    equality constraints; they are found from the approximate solution and corrected until
    every condition holds.
    """
    n, P = A.shape
    z = A @ w
    if kind == "hinge":
        gap = 1.0 - y * z  # > 0: active (loss > 0)
    else:
        gap = y - z
    # kink set: the points in the smoothing zone of the smoothed solution
    S = np.abs(gap) <= eps
    for _ in range(max_rounds):
        if kind == "hinge":
            bfix = np.where(gap > 0, 1.0, 0.0) * y  # beta*y off the kink
            target = y  # y z = 1  <=>  z = y on the kink
        else:
            bfix = np.sign(gap)
            target = y
        bfix = np.where(S, 0.0, bfix)
        if S.sum() > P:
            # more kink points than weights: their equations z_i = target_i cannot all hold for a
            # generic sample, and the |S| x |S| system below would be enormous (issue 26: absolute
            # loss at n = 18,312, d = 300, where the eps = 1 zone held nearly every point, ran an
            # 18,312^2 least-squares problem for minutes and crashed in LAPACK): not this kink set
            return w, False
        AS = A[S]
        base = A.T @ bfix  # lam w = base + AS^T c
        if S.any():
            M = AS @ AS.T
            rhs = lam * target[S] - AS @ base
            try:
                c = linalg.lstsq(M, rhs, cond=1e-13)[0]
            except linalg.LinAlgError:
                return w, False
        else:
            c = np.zeros(0)
        w_new = (base + AS.T @ c) / lam
        z = A @ w_new
        gap = 1.0 - y * z if kind == "hinge" else y - z
        # check: off-kink points keep their side, on-kink multipliers in range
        beta_S = c * y[S] if kind == "hinge" else c
        lo, hi = (0.0, 1.0) if kind == "hinge" else (-1.0, 1.0)
        bad_S = (beta_S < lo - tol) | (beta_S > hi + tol)
        if kind == "hinge":
            wrong = (~S) & (((bfix != 0) & (gap < -tol)) | ((bfix == 0) & (gap > tol)))
        else:
            wrong = (~S) & (np.sign(gap) * bfix < 0) | ((~S) & (np.abs(gap) <= tol))
        if S.any() and np.max(np.abs(gap[S])) > 1e-8 * max(1.0, np.max(np.abs(y))):
            return w_new, False  # the kink set is not consistent (e.g. more points than rank)
        if not bad_S.any() and not wrong.any():
            return w_new, True
        # move the offenders: wrong-side points join the kink set; out-of-range multipliers leave it
        Sidx = np.flatnonzero(S)
        S = S.copy()
        S[wrong] = True
        S[Sidx[bad_S]] = False
        if kind == "hinge":
            # a point leaving the kink goes to the side its multiplier asks for
            gap[Sidx[bad_S]] = np.where(beta_S[bad_S] > hi, 1.0, -1.0)
        else:
            gap[Sidx[bad_S]] = np.sign(beta_S[bad_S])
        w = w_new
    return w, False


def _solve_piecewise(loss: Loss, A, y, lam):
    if lam <= 0:
        raise ValueError(f"the {loss.name} solver needs lam > 0, got lam={lam!r}")
    kind = loss.solver  # "hinge" or "absolute"
    n, P = A.shape
    if kind == "absolute":
        # positively homogeneous: w(y, lam) = s w(y / s, lam s), solved at the unit scale of y
        # that the smoothing widths and tolerances below are written for (issue 26: y ~ 1e-4,
        # a sparse signal through a Square channel, left every point inside each smoothing zone)
        s = float(np.sqrt(np.mean(y * y)))
        if s == 0.0:
            return np.zeros(P)  # y = 0: w = 0 with every multiplier 0
        if not 0.1 <= s <= 10.0:
            return s * _solve_piecewise(loss, A, y / s, lam * s)
    w = np.zeros(P)
    if kind == "hinge":
        # fast start: liblinear's dual coordinate descent (same objective with C = 1/lam) to tol 1e-4, then
        # the exact active-set solve from its kink set (the refinement makes the KKT point exact: at tol 1e-8 the
        # start took 2-4x longer for the same solution, e.g. 0.95 s against 0.24 s at d = 300, n = 900)
        try:
            import warnings as _w

            from sklearn.svm import LinearSVC

            with _w.catch_warnings():
                _w.simplefilter("ignore")
                w0 = LinearSVC(C=1.0 / lam, loss="hinge", fit_intercept=False, tol=1e-4, dual=True,
                               max_iter=20000).fit(A, y).coef_[0]  # capped: an ill-conditioned start (e.g. a bias column) falls through to the smoothing path below
            for eps in (1e-6, 1e-4, 1e-3):
                w_ex, ok = _refine_piecewise(kind, A, y, lam, w0, eps=eps, max_rounds=6)
                if ok:
                    return w_ex
            w = w0
        except ImportError:  # pragma: no cover
            pass
    for eps in (1.0, 0.3, 0.1, 3e-2, 1e-2, 1e-3, 1e-4, 1e-5):
        sm = _SmoothHinge(eps) if kind == "hinge" else _SmoothAbs(eps)
        w = _newton_polish(sm, A, y, lam, w, steps=100)
        w_ex, ok = _refine_piecewise(kind, A, y, lam, w, eps=eps, max_rounds=4)
        if ok:
            return w_ex
    raise SolverError(f"{loss.name} ERM: the active-set refinement did not find an exact KKT point")


# ---------------------------------------------------------------- L1 / elastic net: FISTA
def _fista(loss: Loss, A, y, l1, l2, *, tol=1e-9, max_iter=50000):
    n, P = A.shape
    L = np.linalg.norm(A, 2) ** 2 * loss.grad_lipschitz + l2
    w = np.zeros(P)
    v = w.copy()
    t = 1.0
    fobj = lambda w: np.sum(loss.value(y, A @ w)) + l1 * np.abs(w).sum() + 0.5 * l2 * w @ w
    f_old = fobj(w)
    for it in range(max_iter):
        g = A.T @ loss.grad(y, A @ v) + l2 * v
        x = v - g / L
        w_new = np.sign(x) * np.maximum(np.abs(x) - l1 / L, 0.0)
        f_new = fobj(w_new)
        if f_new > f_old + 1e-13 * abs(f_old) and t > 1.0:  # adaptive restart (O'Donoghue & Candes 2015)
            t = 1.0
            v = w.copy()
            continue
        t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        v = w_new + (t - 1) / t_new * (w_new - w)
        if np.max(np.abs(w_new - w)) <= tol * max(1.0, np.max(np.abs(w_new))):
            w = w_new
            break
        w, t, f_old = w_new, t_new, f_new
    else:
        raise SolverError("FISTA did not converge")
    return _support_newton(loss, A, y, l1, l2, w)


def _support_newton(loss: Loss, A, y, l1, l2, w, *, steps=30):
    """Polish an L1/EN solution: Newton on the support with fixed signs (the objective is
    smooth there), kept only if it stays sign-consistent and lowers the KKT residual."""
    S = w != 0
    if not S.any():
        return w
    s = np.sign(w[S])
    AS = A[:, S]
    wS = w[S].copy()
    for _ in range(steps):
        z = AS @ wS
        g = AS.T @ loss.grad(y, z) + l2 * wS + l1 * s
        if np.linalg.norm(g) < 1e-13 * max(1.0, np.linalg.norm(AS.T @ loss.grad(y, z))):
            break
        H = (AS * loss.hess(y, z)[:, None]).T @ AS + l2 * np.eye(S.sum())
        try:
            wS = wS - linalg.solve(H, g, assume_a="sym")
        except (linalg.LinAlgError, ValueError):
            return w
    if np.any(np.sign(wS) != s):
        return w
    w2 = np.zeros_like(w)
    w2[S] = wS
    pen = ElasticNet(l1 + l2, l1 / (l1 + l2)) if l1 + l2 > 0 else L2(0.0)
    if kkt_residual(loss, pen, A, y, w2) <= kkt_residual(loss, pen, A, y, w):
        return w2
    return w


# ---------------------------------------------------------------- dispatcher
def linearly_separable(A: np.ndarray, y: np.ndarray) -> bool:
    """Whether some w has ``y_i a_i . w > 0`` for every row: the feasibility of the linear program
    ``y_i a_i . w >= 1`` (HiGHS, :func:`scipy.optimize.linprog`).  Labels must be +-1."""
    B = -(np.asarray(y, float)[:, None] * np.asarray(A, float))
    res = optimize.linprog(np.zeros(B.shape[1]), A_ub=B, b_ub=-np.ones(B.shape[0]), bounds=(None, None),
                           method="highs")
    return res.status == 0


def solve_erm(loss: Loss, penalty: Penalty, A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimiser of ``sum loss(y, A w) + penalty(w)`` (see the module table)."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    l1, l2 = float(penalty.l1_part), float(penalty.l2_part)
    if l1 > 0:
        if loss.grad_lipschitz is None:  # FISTA needs a Lipschitz gradient
            raise ValueError(f"no finite-size solver for the {loss.name} loss with an L1 penalty")
        return _fista(loss, A, y, l1, l2)
    lam = l2
    if lam < 0:  # ridge below zero: the objective is bounded below iff A^T A + lam is positive definite
        if not (loss.is_square and l1 == 0):
            raise ValueError(f"no finite-size solver for a negative lam with the {loss.name} loss (square loss only)")
        low = float(linalg.eigvalsh(A.T @ A, subset_by_index=[0, 0])[0]) if A.shape[0] >= A.shape[1] else 0.0
        if low + lam <= 0:
            raise ValueError(f"lam={lam!r} with the smallest eigenvalue {low!r} of A^T A: the objective is unbounded "
                             f"below at this finite size (A^T A + lam is not positive definite)")
    if lam == 0 and loss.is_classification and loss.solver != "max_margin" and linearly_separable(A, y):
        raise ValueError(
            f"the sampled data are linearly separable (n={A.shape[0]}, d={A.shape[1]}): with the {loss.name} "
            f"loss and lam = 0 the minimiser does not exist (the norm of w diverges); use lam > 0 "
            f"(lam -> 0+ gives the max-margin direction) or the hard_margin loss")
    if loss.solver == "max_margin":
        return max_margin(A, y)
    if loss.solver == "ridge":
        return ridge(A, y, lam)
    if loss.solver == "newton":  # L-BFGS to gtol 1e-6, then (inexact) Newton to the KKT point: at d = 1000, n = 2000
        # the fit takes 0.065 s, 1.5x scikit-learn's lbfgs (0.042 s, KKT residual 2e-5) at a KKT residual of 1e-13
        w = _lbfgs(_objective(loss, A, y, lam), np.zeros(A.shape[1]), gtol=1e-6, maxiter=5000)
        return _newton_polish(loss, A, y, lam, w)
    if loss.solver in ("hinge", "absolute"):
        return _solve_piecewise(loss, A, y, lam)
    if loss.solver == "nonconvex":
        return _solve_nonconvex(loss, A, y, lam)
    raise ValueError(f"no finite-size solver for the loss {loss!r}")


def _solve_nonconvex(loss: Loss, A, y, lam, *, n_random: int = 4, seed: int = 0):
    """A non-convex loss (Tukey): a global search by L-BFGS from several starts (0, ridge, the Huber fit
    with ``delta = tau``, and ``n_random`` random directions at ridge's norm), each polished to ``gtol =
    1e-10``; the lowest objective wins (the replica theory describes the global minimiser)."""
    from solvable.blocks.losses import Huber

    fun = _objective(loss, A, y, lam)
    w_r = ridge(A, y, max(lam, 1e-8))
    hub = Huber(getattr(loss, "tau", getattr(loss, "scale", 1.0)))  # Tukey: tau; Bounded: its scale
    w_h = _newton_polish(hub, A, y, max(lam, 1e-8), _lbfgs(_objective(hub, A, y, max(lam, 1e-8)), w_r, gtol=1e-8))
    rng = np.random.default_rng(seed)
    starts = [np.zeros(A.shape[1]), w_r, w_h]
    for _ in range(n_random):
        v = rng.standard_normal(A.shape[1])
        starts.append(v * np.linalg.norm(w_r) / max(np.linalg.norm(v), 1e-300))
    best, best_f = None, np.inf
    for w0 in starts:
        w = _lbfgs(fun, w0, gtol=1e-10, maxiter=20000)
        f = fun(w)[0]
        if best is None or f < best_f - 1e-12 * max(1.0, abs(best_f)):
            best, best_f = w, f
    return best


# ---------------------------------------------------------------- adversarial training
def _adversarial_objective(loss: Loss, A, y, lam, eps, D):
    """``F(w) = sum_mu loss(y_mu, (A w)_mu - eps s(w) y_mu) + lam |w|^2 / 2`` with ``s(w) = sqrt(w^T D w / P)``
    (for a margin loss ``loss(y, z - eps s y) = g(y z - eps s)``), its gradient and, with ``hess=True``, its
    Hessian ``J^T diag(loss'') J - eps (y . loss') grad^2 s + lam I``, ``J = A - eps y grad s^T``; the middle
    term is positive semi-definite (``y . loss' = sum g' <= 0``, ``s`` convex)."""
    n, P = A.shape

    def fun(w, hess=False):
        Dw = D * w
        s = np.sqrt(max(float(w @ Dw), 0.0) / P)
        gs = Dw / (P * s) if s > 0 else np.zeros(P)
        z = A @ w - eps * s * y
        l1 = loss.grad(y, z)
        f = float(np.sum(loss.value(y, z))) + 0.5 * lam * float(w @ w)
        yl = float(y @ l1)
        g = A.T @ l1 - eps * yl * gs + lam * w
        if not hess:
            return f, g
        J = A - eps * np.outer(y, gs)
        H = (J * loss.hess(y, z)[:, None]).T @ J + lam * np.eye(P)
        if s > 0:
            H += -eps * yl * (np.diag(D) / (P * s) - np.outer(Dw, Dw) / (P * P * s ** 3))
        return f, g, H

    return fun


def _newton(fun, w, *, steps=60, gtol=1e-11, scale=None, solve=None):
    """Damped Newton with Armijo backtracking on ``fun(w, hess=True) -> (f, g, H)`` (``fun(w) -> (f, g)``); stops
    at ``|g| <= gtol * scale(w, g)`` (default ``max(1, |w|)``).  ``solve(H, g)``: the step (default a dense
    Cholesky solve of the matrix ``H``)."""
    f0, g, H = fun(w, hess=True)
    for _ in range(steps):
        sc = max(1.0, np.linalg.norm(w)) if scale is None else scale(w, g)
        if np.linalg.norm(g) <= gtol * sc:
            break
        try:
            step = linalg.solve(H, g, assume_a="pos") if solve is None else solve(H, g)
        except (linalg.LinAlgError, ValueError):
            break
        t = 1.0
        while True:
            wn = w - t * step
            fn, gn = fun(wn)
            if fn <= f0 - 1e-4 * t * (g @ step) or t < 1e-10:
                break
            t *= 0.5
        if t < 1e-10:
            break
        w = wn
        f0, g, H = fun(w, hess=True)
    return w


def _adversarial_hinge_active_set(A, y, lam, eps, D, w, width, *, max_rounds=30, tol=1e-12):
    """The exact adversarial hinge estimator from a smoothed one (width ``width``), by its KKT conditions on an
    active set.  With multipliers ``beta_mu`` (1 where the margin ``r_mu = y_mu (A w)_mu - eps s`` is below 1, 0
    above, in [0, 1] on the set ``S`` at the kink ``r = 1``), ``T = sum beta`` and ``s = sqrt(w^T D w / P)``:

        lam w + eps T D w / (P s) - B^T beta = 0,     r_S = 1       (B = diag(y) A),

    solved by Newton in ``(w, beta_S)``; points whose multiplier leaves [0, 1] or whose margin violates its set
    move, until the sets are consistent (an exact solution, like the plain hinge's refinement)."""
    n, P = A.shape
    B = y[:, None] * A
    r = B @ w - eps * np.sqrt(w @ (D * w) / P)
    b = np.clip((1.0 - r) / width, 0.0, 1.0)
    S = (b > 0) & (b < 1)
    O = b >= 1
    for _ in range(max_rounds):
        iS = np.flatnonzero(S)
        k = len(iS)
        bS = np.clip(b[iS], 0.0, 1.0)
        x = np.concatenate([w, bS])
        ok = False
        for _ in range(50):
            w, bS = x[:P], x[P:]
            Dw = D * w
            sv = np.sqrt(max(float(w @ Dw), 1e-300) / P)
            beta = O.astype(float)
            beta[iS] = bS
            T = beta.sum()
            Bb = B.T @ beta
            R1 = lam * w + eps * T * Dw / (P * sv) - Bb
            R2 = B[iS] @ w - eps * sv - 1.0
            R = np.concatenate([R1, R2])
            if np.max(np.abs(R)) <= tol * max(1.0, np.max(np.abs(Bb))):
                ok = True
                break
            J = np.zeros((P + k, P + k))
            J[:P, :P] = lam * np.eye(P) + eps * T / P * (np.diag(D) / sv - np.outer(Dw, Dw) / (P * sv ** 3))
            J[:P, P:] = eps * Dw[:, None] / (P * sv) - B[iS].T
            J[P:, :P] = B[iS] - eps * Dw[None, :] / (P * sv)
            try:
                x = x - linalg.solve(J, R)
            except (linalg.LinAlgError, ValueError):
                break
        w, bS = x[:P], x[P:]
        r = B @ w - eps * np.sqrt(w @ (D * w) / P)
        b = O.astype(float)
        b[iS] = bS
        free = ~S & ~O
        to_O = np.zeros(n, bool)
        to_free = np.zeros(n, bool)
        to_S = np.zeros(n, bool)
        to_O[iS] = bS > 1.0 + 1e-10
        to_free[iS] = bS < -1e-10
        to_S |= free & (r < 1.0 - 1e-10)
        to_S |= O & (r > 1.0 + 1e-10)
        if ok and not (to_O.any() or to_free.any() or to_S.any()):
            return w
        S = (S & ~to_O & ~to_free) | to_S
        O = (O & ~to_S) | to_O
        b = np.where(to_S, 0.5, b)  # a point entering the kink set starts mid-interval
    raise SolverError(f"adversarial hinge: the active set did not settle in {max_rounds} rounds")


def solve_adversarial(loss: Loss, lam: float, A: np.ndarray, y: np.ndarray, eps: float, D=None) -> np.ndarray:
    """The adversarial-training estimator ``argmin_w sum_mu g(y_mu (A w)_mu - eps sqrt(w^T D w / P)) + lam |w|^2 / 2``
    for a convex non-increasing margin loss ``g`` (Tanner, Vilucchio, Loureiro, Krzakala 2025, eq. (2): the inner
    maximisation over ``delta^T D^{-1} delta <= eps^2`` is closed form for a linear classifier; ``D`` is the
    diagonal of the attack geometry in the features' coordinates, default the identity).  The objective is convex.

    Logistic: L-BFGS from the plain ERM fit, then Newton with the exact Hessian.  Hinge: the quadratically smoothed
    hinge at widths 1e-1 (L-BFGS from the Hebbian direction) and 1e-2 (Newton), then the exact KKT point on an
    active set (:func:`_adversarial_hinge_active_set`)."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    n, P = A.shape
    D = np.ones(P) if D is None else np.asarray(D, float)
    if D.shape != (P,) or np.any(D < 0) or not np.all(np.isfinite(D)):
        raise ValueError(f"solve_adversarial: D must be {P} values >= 0 (the attack geometry's diagonal)")
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"solve_adversarial: needs lam > 0, got lam={lam!r}")
    if eps == 0:
        return solve_erm(loss, L2(lam), A, y)
    u = A.T @ y  # w = 0 is the minimiser iff eps n |v|_D / sqrt(P) >= u . v for all v (the attack term is a norm):
    pos = D > 0  # iff eps n >= sqrt(P) |D^-1/2 u| (solvable.families.erm.adversarial.critical_eps, at finite size)
    if not np.any(~pos & (u != 0)) and eps * n >= np.sqrt(P * np.sum(u[pos] ** 2 / D[pos])):
        return np.zeros(P)
    if loss.solver == "newton":
        w0 = solve_erm(loss, L2(lam), A, y)
        fun = _adversarial_objective(loss, A, y, lam, eps, D)
        return _newton(fun, _lbfgs(fun, w0, gtol=1e-8, maxiter=5000))
    if loss.solver == "hinge":
        w = u / max(n, 1)  # the Hebbian direction (the plain hinge fit costs more than this whole solve)
        for e in (1e-1, 1e-2):
            fun = _adversarial_objective(_SmoothHinge(e), A, y, lam, eps, D)
            w = _newton(fun, _lbfgs(fun, w, gtol=1e-8, maxiter=5000), steps=40)
        return _adversarial_hinge_active_set(A, y, lam, eps, D, w, 1e-2)
    raise ValueError(f"solve_adversarial: no finite-size solver for the {loss.name} loss (logistic, hinge)")


def kkt_residual(loss: Loss, penalty: Penalty, A, y, w, *, tol: float = 1e-7) -> float:
    """Distance of 0 to the subdifferential of the objective at ``w``, divided by
    ``max(1, |A^T grad|)``.  Kinks of hinge / absolute losses (points within ``tol`` of the
    kink) get the multiplier in their allowed interval that best fits (bounded least squares)."""
    A, y, w = (np.asarray(t, float) for t in (A, y, w))
    z = A @ w
    l1, l2 = float(penalty.l1_part), float(penalty.l2_part)
    if loss.solver == "max_margin":  # w = sum_{margin = 1} beta y a, beta >= 0; margins >= 1
        B = y[:, None] * A
        gap = B @ w - 1.0
        on = np.abs(gap) <= tol
        nw = max(np.linalg.norm(w), 1e-300)
        if on.any():
            res = optimize.lsq_linear(B[on].T, w, bounds=(0, np.inf), tol=1e-14, method="bvls")
            stat = np.linalg.norm(B[on].T @ res.x - w) / nw
        else:
            stat = 1.0
        return float(max(stat, max(0.0, -float(np.min(gap)))))
    if loss.solver in ("hinge", "absolute"):  # piecewise linear: multipliers at the kinks
        if loss.solver == "hinge":
            gap = 1.0 - y * z
            on = np.abs(gap) <= tol
            g_off = np.where(gap > 0, -y, 0.0)
            lo, hi = np.zeros(on.sum()), np.ones(on.sum())
            cols = -(A[on] * y[on, None]).T  # gradient contribution -beta y a
        else:
            gap = y - z
            on = np.abs(gap) <= tol
            g_off = -np.sign(gap)
            lo, hi = -np.ones(on.sum()), np.ones(on.sum())
            cols = -A[on].T
        g_off = np.where(on, 0.0, g_off)
        base = A.T @ g_off + l2 * w
        if on.any():
            res = optimize.lsq_linear(cols, -base, bounds=(lo, hi), tol=1e-14, method="bvls")
            r = base + cols @ res.x
        else:
            r = base
        scale = max(1.0, np.linalg.norm(A.T @ g_off))
    else:
        g = A.T @ loss.grad(y, z) + l2 * w
        scale = max(1.0, np.linalg.norm(A.T @ loss.grad(y, z)))
        if l1 > 0:
            nz = w != 0
            r = np.where(nz, g + l1 * np.sign(w), np.maximum(np.abs(g) - l1, 0.0))
        else:
            r = g
    return float(np.linalg.norm(r) / scale)

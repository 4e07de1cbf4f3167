"""Theory of rank-one matrix estimation: spiked Wigner (homogeneous or block-inhomogeneous noise)
and spiked Wishart models, for the Bayes-optimal estimator, AMP and spectral (PCA) estimators.

Conventions (docs/conventions.md, "Spiked matrix models"): ``Y = sqrt(snr/n) x x^T + W`` with
GOE-like ``W`` (off-diagonal variance 1, or ``Delta_ab`` with a profile) and
``Y = sqrt(snr/n) u v^T + W`` (``n x m``, ``ratio = m/n``).

Bayes-optimal / AMP state evolution (Lesieur, Krzakala & Zdeborova, J. Stat. Mech. (2017)
073403, eqs. (76)-(78) with ``Delta = 1/snr``; Deshpande & Montanari, ISIT 2014, eq. (8);
inhomogeneous noise: Guionnet, Ko, Krzakala & Zdeborova, arXiv:2302.06665, eq. (2.6)):

    mhat_a = snr sum_b c_b m_b / Delta_ab,     m_a = E_{x0,z} x0 f(mhat_a x0 + sqrt(mhat_a) z; mhat_a)
                                                  = prior.overlap(mhat_a),

with ``f`` the posterior-mean denoiser.  Replica-symmetric free entropy per variable
(Lelarge & Miolane, PTRF 2019, Thm. 1 with ``lambda = snr``; blocks: Guionnet et al., eq. (2.4)):

    phi(m) = sum_a c_a psi_P(mhat_a) - (snr/4) sum_ab c_a c_b m_a m_b / Delta_ab,
    psi_P(r) = E log Z(r x0 + sqrt(r) z, r) = prior.free_entropy_term(r),

the mutual information ``I(x; Y)/n = (snr/4) rho^2 sum_ab c_a c_b / Delta_ab - phi`` and the matrix
MMSE ``(1/n^2) E|x x^T - E[x x^T|Y]|_F^2 = rho^2 - (sum_a c_a m_a)^2`` (I-MMSE: dI/dsnr = mse/4).

Wishart (Miolane, arXiv:1702.00473, Thm. 2; Lesieur et al. 2017, eqs. (79)-(80)):

    m_u = overlap_u(snr * ratio * m_v),   m_v = overlap_v(snr * m_u),
    phi = psi_u(snr ratio m_v) + ratio psi_v(snr m_u) - snr ratio m_u m_v / 2   (per row, n),
    I/n = snr ratio rho_u rho_v / 2 - phi,   mse = rho_u rho_v - m_u m_v.

Spectral (PCA): Baik, Ben Arous & Peche, Ann. Prob. 33 (2005) and Benaych-Georges & Nadakuditi,
Adv. Math. 227 (2011), sec. 3.1 (Wigner) / J. Multivar. Anal. 111 (2012), sec. 3.1 (rectangular);
see :func:`_spectral_wigner` and :func:`_spectral_wishart` for the normalisations.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from solvable.blocks.learners import AMP, BayesOptimal, Spectral
from solvable.numerics.fixed_point import solve_fixed_point, solve_monotone
from solvable.numerics.gauss import hermite_rule
from solvable.families.lowrank.problem import SpikedWigner, SpikedWishart
from solvable.core.results import Prediction
from solvable.core.transitions import locate_branch_transitions, saddle_nodes

__all__ = ["state_evolution", "pca_profile_threshold"]

_START_EPS = 1e-6  # relative perturbation of an uninformative start (breaks the x -> -x symmetry)


def _scalar_or_array(a, is_curve):
    a = np.asarray(a, dtype=float)
    return a if is_curve else float(a.reshape(-1)[0])


# --------------------------------------------------------------------------------------------
# The scalar Gaussian channel B = r x0 + sqrt(r) z, integrated through the marginal law of B
# --------------------------------------------------------------------------------------------


class _ScalarChannel:
    """``overlap(r) = E[x0 f(B)] = E[f(B)^2]`` (Nishimori identity) and ``psi(r) = E log Z(B, r)`` for
    ``B = r x0 + sqrt(r) z`` (Zdeborova & Krzakala, Adv. Phys. 2016, eq. (97)).

    The law of ``x0`` is a mixture of Gaussian components (:meth:`~solvable.blocks.priors.Prior.scalar_channel_mixture`:
    atoms, the prior's own quadrature nodes; a Gaussian prior is one component of variance ``var``), so
    ``B`` is a mixture of Gaussians ``N(r mu_k, r^2 s_k^2 + r)`` integrated by Gauss-Hermite.  Priors
    with ``hermite_inaccurate`` (a Gauss-Bernoulli slab) instead use the prior's own
    :meth:`~solvable.priors.Prior.overlap` and :meth:`~solvable.priors.Prior.free_entropy_term`:
    B's two-component mixture law by composite Gauss-Legendre with cuts where the denoiser switches
    (on a scale ``~sqrt(r)``, much narrower than the slab's ``~r``), within 1e-15 of adaptive
    quadrature up to r = 1000, where the 80 x 80 product rule in ``(x0, z)`` was off by up to
    1.5e-3 (overlap) and 0.05 (psi), and 2.5x faster.  Vectorised over any shape of ``r``.
    """

    def __init__(self, prior, n: int = 80):
        self.prior = prior
        # Gauss-Bernoulli (prior.hermite_inaccurate): the prior's own B-law integrals
        self.delegate = bool(prior.hermite_inaccurate)
        # components of x0 (Prior.scalar_channel_mixture): one exact Gaussian for a Gaussian
        # prior, else atoms (Rademacher, sparse Rademacher) or the prior's own quadrature nodes
        w, mu, s2 = prior.scalar_channel_mixture(n)
        self.w, self.mu, self.s2 = (np.asarray(a, dtype=float) for a in (w, mu, s2))
        self.z, self.wz = hermite_rule(n)
        self.W = self.w[:, None] * self.wz[None, :]  # (K, n)
        self.n_nodes = self.W.size

    def _B(self, r):
        r = np.asarray(r, dtype=float)[..., None, None]
        return r, r * self.mu[:, None] + np.sqrt(r * r * self.s2[:, None] + r) * self.z

    def overlap(self, r):
        if self.delegate:
            return self.prior.overlap(np.maximum(r, 0.0))
        r4, B = self._B(np.maximum(r, 0.0))
        f = self.prior.denoise(B, r4)[0]
        return np.einsum("...kn,kn->...", f * f, self.W)

    def psi(self, r):
        if self.delegate:
            return self.prior.free_entropy_term(np.maximum(r, 0.0))
        r4, B = self._B(np.maximum(r, 0.0))
        return np.einsum("...kn,kn->...", self.prior.log_partition(B, r4), self.W)


# --------------------------------------------------------------------------------------------
# State-evolution maps, one object per problem type.  States are arrays (..., k); snr has shape (...).
# --------------------------------------------------------------------------------------------


class _WignerSE:
    """State evolution of the (block-)inhomogeneous spiked Wigner model: the state is the vector of
    block overlaps ``m_a`` (one block without a profile)."""

    def __init__(self, problem: SpikedWigner, n_quad: int = 80):
        self.problem = problem
        self.prior = problem.prior
        self.ch = _ScalarChannel(problem.prior, n_quad)
        self.n_nodes = self.ch.n_nodes
        prof = problem.noise_profile
        self.c = np.asarray(prof.fractions)
        self.M = np.asarray(prof.snr_matrix)  # M_ab = c_b / Delta_ab
        self.Dinv = 1.0 / np.asarray(prof.variances)
        self.k = prof.n_blocks
        self.rho = problem.rho
        self.upper = self.rho
        self.zero_mean = abs(self.prior.first_moment) < 1e-14
        self.lam_max = prof.top_eigenvalue

    def m_start(self, kind: str, init_snr: float | None = None) -> float:
        if init_snr is not None:
            return float(self.ch.overlap(init_snr))
        if kind == "informative":
            return self.rho
        return float(self.ch.overlap(0.0)) + _START_EPS * self.rho

    def start(self, kind: str, N: int, init_snr: float | None = None) -> np.ndarray:
        return np.full((N, self.k), self.m_start(kind, init_snr))

    def mhat(self, m, snr):
        return np.asarray(snr)[..., None] * (m @ self.M.T)

    def step(self, m, snr):
        return self.ch.overlap(self.mhat(m, snr))

    def summary(self, m):
        """The overall overlap sum_a c_a m_a, normalised by rho (in [0, 1])."""
        return (m @ self.c) / self.rho

    def free_entropy(self, m, snr):
        psi = self.ch.psi(self.mhat(m, snr))
        cm = m * self.c
        quad = np.einsum("...a,ab,...b->...", cm, self.Dinv, cm)
        return psi @ self.c - 0.25 * snr * quad

    def fields(self, m, snr):
        mt = m @ self.c
        phi = self.free_entropy(m, snr)
        info0 = 0.25 * snr * self.rho**2 * float(self.c @ self.Dinv @ self.c)
        out = {
            "m": mt,
            "q": mt,  # Nishimori: |xhat|^2/n = x.xhat/n for the posterior mean and for Bayes AMP
            "mse": self.rho**2 - mt**2,
            "overlap": mt / self.rho,  # squared cosine (x.xhat)^2/(|x|^2 |xhat|^2) = m^2/(rho q)
            "free_entropy": phi,
            "mutual_information": info0 - phi,
        }
        if self.k > 1:
            for a in range(self.k):
                out[f"m_{a}"] = m[..., a]
        return out

    def weak_recovery(self) -> float | None:
        """snr at which m = 0 loses stability (zero-mean priors): snr rho^2 lambda_max(M) = 1."""
        return 1.0 / (self.rho**2 * self.lam_max) if self.zero_mean else None


class _WishartSE:
    """State evolution of the spiked Wishart model; the state is ``m_v`` (``m_u`` follows)."""

    def __init__(self, problem: SpikedWishart, n_quad: int = 80):
        self.problem = problem
        self.pu, self.pv = problem.prior_u, problem.prior_v
        self.cu, self.cv = _ScalarChannel(self.pu, n_quad), _ScalarChannel(self.pv, n_quad)
        self.n_nodes = self.cu.n_nodes + self.cv.n_nodes
        self.ratio = problem.ratio
        self.rho_u, self.rho_v = problem.rho_u, problem.rho_v
        self.upper = self.rho_v
        self.k = 1
        self.zero_mean = abs(self.pu.first_moment) < 1e-14 and abs(self.pv.first_moment) < 1e-14

    def m_start(self, kind: str, init_snr: float | None = None) -> float:
        if init_snr is not None:
            return float(self.cv.overlap(init_snr))
        if kind == "informative":
            return self.rho_v
        return float(self.cv.overlap(0.0)) + _START_EPS * self.rho_v

    def start(self, kind: str, N: int, init_snr: float | None = None) -> np.ndarray:
        return np.full((N, 1), self.m_start(kind, init_snr))

    def m_u(self, mv, snr):
        return self.cu.overlap(snr * self.ratio * mv[..., 0])

    def step(self, mv, snr):
        return self.cv.overlap(snr * self.m_u(mv, snr))[..., None]

    def summary(self, mv):
        return mv[..., 0] / self.rho_v

    def free_entropy(self, mv, snr):
        mu = self.m_u(mv, snr)
        v = mv[..., 0]
        return (
            self.cu.psi(snr * self.ratio * v)
            + self.ratio * self.cv.psi(snr * mu)
            - 0.5 * snr * self.ratio * mu * v
        )

    def fields(self, mv, snr):
        mu = self.m_u(mv, snr)
        v = mv[..., 0]
        phi = self.free_entropy(mv, snr)
        return {
            "m_u": mu, "m_v": v, "q_u": mu, "q_v": v,
            "mse": self.rho_u * self.rho_v - mu * v,
            "overlap_u": mu / self.rho_u, "overlap_v": v / self.rho_v,
            "free_entropy": phi,
            "mutual_information": 0.5 * snr * self.ratio * self.rho_u * self.rho_v - phi,
        }

    def weak_recovery(self) -> float | None:
        """snr at which m = 0 loses stability: snr^2 ratio rho_u^2 rho_v^2 = 1 (zero-mean priors)."""
        if not self.zero_mean:
            return None
        return 1.0 / (np.sqrt(self.ratio) * self.rho_u * self.rho_v)


def _se_for(problem, n_quad=80):
    if isinstance(problem, SpikedWigner):
        return _WignerSE(problem, n_quad)
    if isinstance(problem, SpikedWishart):
        return _WishartSE(problem, n_quad)
    raise ValueError(f"no low-rank state evolution for {type(problem).__name__}")


# --------------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------------

_M_GRID = np.concatenate([np.geomspace(1e-10, 1e-2, 24, endpoint=False), np.linspace(1e-2, 1.0, 100)])


def _solve_monotone(se, snr, m0: float, *, n_bisect: int = 60):
    """Fixed point reached by iterating a one-dimensional SE map from ``m0``, for all snr at once.

    The Bayes-optimal SE map ``F`` is non-decreasing in ``m`` (the overlap of a scalar channel grows
    with its SNR), so :func:`~solvable.numerics.fixed_point.solve_monotone` finds the root of
    ``F(m) - m`` that the iteration reaches by bracketing on a fixed grid of ``m`` and the Illinois
    method: no critical slowing down near thresholds.  Here the grid values are computed in chunks
    of rows (to bound the memory of the quadrature arrays).
    For zero-mean priors ``m = 0`` is a root, reached when the start falls below every other root."""
    snr = np.atleast_1d(np.asarray(snr, dtype=float))
    N = snr.shape[0]
    up = se.upper
    grid = up * _M_GRID  # (G,)

    def g(m, s):  # F(m) - m, elementwise in m (any shape broadcasting with s)
        return se.step(np.asarray(m)[..., None], s)[..., 0] - m

    # (N, G) values, in chunks of rows to bound the memory of the quadrature arrays
    per_row = grid.size * getattr(se, "n_nodes", 1)
    chunk = max(1, int(2e6 // max(per_row, 1)))
    gg = np.concatenate([g(np.broadcast_to(grid, (len(sc), grid.size)), sc[:, None])
                         for sc in np.array_split(snr, max(1, -(-N // chunk)))], axis=0)
    root = solve_monotone(g, m0, grid, params=snr, g_grid=gg, lower=0.0, upper=up, lower_is_fixed=se.zero_mean,
                          xtol=1e-14 * up, max_iter=n_bisect)
    return root[:, None]


def _solve_branch(se, snr, kind, *, tol=1e-11, max_iter=20000, damping=0.0, on_fail="warn", init_snr=None):
    """Fixed point of the SE from an uninformative or informative start (or from a side observation
    of SNR ``init_snr``), for all snr at once.  One-dimensional states use :func:`_solve_monotone`;
    block states (inhomogeneous profiles) iterate with the batch solver, the snr of each row
    travelling as the last coordinate of the state (kept fixed by the map)."""
    snr = np.atleast_1d(np.asarray(snr, dtype=float))
    N = snr.shape[0]
    if se.k == 1:
        m = _solve_monotone(se, snr, se.m_start(kind, init_snr))
        return m, np.ones(N, dtype=bool), None
    x0 = np.concatenate([se.start(kind, N, init_snr), snr[:, None]], axis=1)

    def F(X):
        m, s = X[:, :-1], X[:, -1]
        return np.concatenate([se.step(m, s), s[:, None]], axis=1)

    res = solve_fixed_point(
        F, x0, batch=True, tol=tol, max_iter=max_iter, damping=damping, on_fail=on_fail,
        lower=0.0, name=f"low-rank state evolution ({kind} start)",
    )
    return res.x[:, :-1], np.asarray(res.converged), res


def state_evolution(problem, snr=None, *, init: str = "uninformative", init_snr: float | None = None,
                    n_iter: int = 100, tol: float | None = None) -> pd.DataFrame:
    """The AMP state-evolution trajectory at one snr: a DataFrame with ``t = 0, 1, ...`` and the
    fields (``m``, ``mse``, ...) of the iterate ``xhat^t``.

    ``init``: "uninformative" (``m^0 = (E x)^2 + 1e-6 rho``), "informative" (``m^0 = rho``, i.e.
    ``xhat^0 = x``), or ``init_snr``: ``xhat^0 = f(B0, init_snr)`` from a side observation
    ``B0 = init_snr x + sqrt(init_snr) z``, so that ``m^0 = prior.overlap(init_snr)``; then
    ``m^{t+1} = overlap(snr M m^t)`` (Lesieur et al. 2017, eq. (76); for Wishart the state is ``m_v``).
    Runs ``n_iter`` steps, or stops earlier once ``max |m^{t+1} - m^t| < tol`` when ``tol`` is given
    (the trajectory mode of :func:`~solvable.numerics.fixed_point.solve_fixed_point`).
    """
    se = _se_for(problem)
    s = np.atleast_1d(np.asarray(problem.snr if snr is None else snr, dtype=float))
    if s.shape != (1,):
        raise ValueError("state_evolution follows one snr; give a scalar snr")
    res = solve_fixed_point(lambda m, snr: se.step(m, snr), se.start(init, 1, init_snr), batch=True, params=s,
                            trajectory=True, tol=tol, max_iter=int(n_iter), on_fail="ignore",
                            on_nonfinite="propagate", history=True, name="low-rank state evolution")
    M = res.history[:, 0, :]
    S = np.full(M.shape[0], s[0])
    f = se.fields(M, S)
    return pd.DataFrame({"t": np.arange(M.shape[0]), **{k: np.asarray(v) for k, v in f.items()}})


def _prediction_from(se, problem, learner, m, snr, converged, *, branches=None, trajectory=None, info=None):
    curve = problem.is_curve
    f = se.fields(m, snr)
    vals = {k: _scalar_or_array(v, curve) for k, v in f.items()}
    conv = np.asarray(converged) if curve else bool(np.all(converged))
    return Prediction(vals, problem=problem, learner=learner, converged=conv, branches=branches,
                      trajectory=trajectory, info=info or {})


def _predict_bayes(problem, learner, *, tol: float = 1e-11, max_iter: int = 20000, on_fail: str = "warn",
                   n_quad: int = 80) -> Prediction:
    """Bayes-optimal overlaps: the SE fixed point of largest free entropy among the branches from
    an uninformative and an informative start (Lesieur et al. 2017, sec. 6.1; Lelarge & Miolane 2019)."""
    se = _se_for(problem, n_quad)
    snr = np.atleast_1d(problem.snr).astype(float)
    kw = dict(tol=tol, max_iter=max_iter, on_fail=on_fail)
    mu, cu, _ = _solve_branch(se, snr, "uninformative", **kw)
    mi, ci, _ = _solve_branch(se, snr, "informative", **kw)
    phi_u, phi_i = se.free_entropy(mu, snr), se.free_entropy(mi, snr)
    take_i = phi_i > phi_u + 1e-13
    m = np.where(take_i[:, None], mi, mu)
    conv = np.where(take_i, ci, cu)
    branches = {
        "uninformative": _prediction_from(se, problem, learner, mu, snr, cu),
        "informative": _prediction_from(se, problem, learner, mi, snr, ci),
    }
    info = {"branch": np.where(take_i, "informative", "uninformative")
            if problem.is_curve else ("informative" if take_i[0] else "uninformative")}
    if not np.all(conv):
        info["failure"] = f"low-rank state evolution did not converge at snr = {snr[~np.asarray(conv, bool)]}"
    return _prediction_from(se, problem, learner, m, snr, conv, branches=branches, info=info)


def _predict_amp(problem, learner: AMP, *, init_snr: float | None = None, n_quad: int = 80,
                 on_fail: str = "warn") -> Prediction:
    """AMP: the state-evolution fixed point reached from ``learner.init`` (or from a side observation
    of SNR ``init_snr``; Lesieur et al. 2017, eq. (76)).  Damping changes the path, not the fixed
    point.  For one snr the trajectory (``learner.max_iter`` steps at most, stopped at
    ``learner.tol``) is in ``.trajectory``; ``converged`` says whether it reached the fixed point
    within ``max_iter`` iterations, as the algorithm would need to."""
    se = _se_for(problem, n_quad)
    snr = np.atleast_1d(problem.snr).astype(float)
    m, conv, _ = _solve_branch(se, snr, learner.init, tol=learner.tol, max_iter=learner.max_iter,
                               damping=learner.damping, on_fail=on_fail, init_snr=init_snr)
    traj = None
    info = {}
    if not problem.is_curve:
        traj = state_evolution(problem, init=learner.init, init_snr=init_snr, n_iter=learner.max_iter,
                               tol=learner.tol)
        info["n_iter"] = int(traj["t"].iloc[-1])
        col = "m" if "m" in traj else "m_v"
        reached = abs(float(traj[col].iloc[-1]) - float(se.summary(m)[0]) * se.upper) < max(1e3 * learner.tol, 1e-6)
        if not reached:
            conv = np.zeros_like(conv)
            msg = (f"AMP state evolution at snr={snr[0]:g} did not reach its fixed point within "
                   f"max_iter={learner.max_iter} iterations (critical slowing down near a threshold?)")
            info["failure"] = msg  # reported by the driver (sv.predict's on_fail)
    if not np.all(conv) and "failure" not in info:
        info["failure"] = f"AMP state evolution did not converge at snr = {snr[~np.asarray(conv, bool)]}"
    return _prediction_from(se, problem, learner, m, snr, conv, trajectory=traj, info=info)


# --------------------------------------------------------------------------------------------
# Spectral methods
# --------------------------------------------------------------------------------------------


def _qve_real(K, D, z, m0=None, *, tol=1e-14, max_iter=100):
    """Real solution ``m < 0`` of the block quadratic vector equation ``-1/m_a = z - D_a + sum_b K_ab m_b``
    above the spectrum, by Newton from ``m0`` (default ``-1/(z - D)``); None if it fails or is not
    the stable (physical) branch, i.e. ``rho(diag(m^2) K) >= 1``."""
    with np.errstate(divide="ignore"):
        m = -1.0 / (z - D) if m0 is None else np.array(m0, float)
    if np.any(~np.isfinite(m)) or np.any(m >= 0):
        return None
    for _ in range(max_iter):
        F = m * (z - D + K @ m) + 1.0
        J = np.diag(z - D + K @ m) + m[:, None] * K
        try:
            step = np.linalg.solve(J, -F)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        while np.any(m + t * step >= 0) and t > 1e-12:
            t *= 0.5
        m = m + t * step
        if np.max(np.abs(step)) * t <= tol * np.max(np.abs(m)):
            break
    else:
        return None
    if np.max(np.abs(m * (z - D + K @ m) + 1.0)) > 1e-10:
        return None
    r = np.max(np.abs(np.linalg.eigvals((m * m)[:, None] * K)))
    return m if r < 1.0 else None


def _polish_edge(K, D, z0, m0):
    """The right edge of the bulk to round-off: Newton (MINPACK hybr) on ``(m, z)`` for the QVE with
    ``det(I - diag(m^2) K) = 0`` (its Jacobian in m is singular there), from a bisection estimate
    (whose m is only ~sqrt(z-accuracy) accurate because of the square-root edge)."""
    from scipy.optimize import root

    q = len(D)

    def G(v):
        m, z = v[:q], v[q]
        return np.concatenate([m * (z - D + K @ m) + 1.0, [np.linalg.det(np.eye(q) - (m * m)[:, None] * K)]])

    r = root(G, np.concatenate([m0, [z0]]), method="hybr", options={"xtol": 1e-15})
    m, z = r.x[:q], float(r.x[q])
    if np.all(m < 0) and np.max(np.abs(G(r.x))) < 1e-12 and abs(z - z0) < 1e-3 * max(1.0, abs(z0)):
        return z, m
    raise RuntimeError(f"spectral theory: the edge of the bulk was not resolved (bisection z={z0!r}, "
                       f"Newton residual {np.max(np.abs(G(r.x))):.2e})")


def _block_spiked_top(K, D, Theta, s, *, edge_only: bool = False):
    """Top eigenvalue and squared cosine of its eigenvector with ``x`` for ``H + diag(D) + U Theta U^T``.

    ``H``: symmetric, independent entries of variance ``K_ab / (n c_b)`` between blocks a and b
    (``c`` the block fractions, so ``sum_j Var H_ij m_j = sum_b K_ab m_b``); ``D``: block-constant
    diagonal; ``U = [u_a]`` the unit restrictions of ``x`` to the blocks (``x / |x| = sum_a s_a u_a``,
    ``s_a = sqrt(c_a)``); ``Theta``: the spike in that basis.  Deterministic equivalent of the
    resolvent ``G(z) ~ diag(m_a(z))`` from the quadratic vector equation (Ajanki, Erdos & Krueger,
    "Quadratic vector equations on complex upper half-plane", Mem. AMS 2019), and the finite-rank
    perturbation formulas of Benaych-Georges & Nadakuditi (Adv. Math. 227, 2011, Thms. 2.1-2.3):
    an outlier at ``z > E+`` where ``det(I + M(z) Theta) = 0``, i.e. ``lambda_max(N Theta N) = 1`` with
    ``N = diag(sqrt(-m))`` (monotone in z); its eigenvector ``v = -G U Theta c``, ``c = N w`` with
    ``w`` the top eigenvector of ``N Theta N``, normalised by ``c^T Theta M'(z) Theta c`` (``G^2 =
    G'``), so the squared cosine is ``(s . c)^2 / (c^T Theta M' Theta c)``, with ``M' = dm/dz`` from
    ``(I - diag(m^2) K) m' = m^2``.  Below the threshold: the right edge ``E+`` and cosine 0.
    Returns (top eigenvalue, squared cosine, ``lambda_max(N Theta N)`` at the edge: > 1 iff there is
    an outlier); ``edge_only`` skips the outlier."""
    K, D, Theta, s = (np.asarray(a, float) for a in (K, D, Theta, s))
    # the right edge: bisection on z for the existence of the stable real branch
    z_hi = float(np.max(D) + 2.0 * np.sqrt(np.max(K.sum(axis=1))) + 1.0)
    m_hi = _qve_real(K, D, z_hi)
    while m_hi is None:
        z_hi = 2.0 * z_hi + 1.0
        m_hi = _qve_real(K, D, z_hi)
    z_lo = float(np.min(D) - 2.0 * np.sqrt(np.max(K.sum(axis=1))) - 1.0)
    for _ in range(200):  # to ~1e-5: the polish below takes it to round-off
        if z_hi - z_lo <= 1e-5 * max(1.0, abs(z_hi)):
            break
        zm = 0.5 * (z_lo + z_hi)
        mm = _qve_real(K, D, zm, m_hi)
        if mm is None:
            z_lo = zm
        else:
            z_hi, m_hi = zm, mm
    edge, m_edge = _polish_edge(K, D, z_hi, m_hi)

    def top(m):
        Nn = np.sqrt(-m)
        w, V = np.linalg.eigh(Nn[:, None] * Theta * Nn[None, :])
        return w[-1], V[:, -1]

    lam_edge = float(top(m_edge)[0])
    if lam_edge <= 1.0 or edge_only:
        return edge, 0.0, lam_edge
    # the outlier: lambda_max(N Theta N) decreases from > 1 at the edge to 0 at infinity
    a, ma = edge, m_edge
    b = max(2.0 * abs(edge), 1.0) + edge
    mb = _qve_real(K, D, b)
    while top(mb)[0] > 1.0:
        a, ma = b, mb
        b = 2.0 * abs(b) + 1.0
        mb = _qve_real(K, D, b)
    cache = {}

    def solve(z, z_ref, m_ref, depth=0):
        """QVE at z by Newton from (z_ref, m_ref) on the stable branch, bisecting the path if needed."""
        m = _qve_real(K, D, z, m_ref)
        if m is None and depth < 50:
            zm = 0.5 * (z + z_ref)
            mm = solve(zm, z_ref, m_ref, depth + 1)
            m = None if mm is None else solve(z, zm, mm, depth + 1)
        return m

    def f(z):
        if z == edge:
            return lam_edge - 1.0
        m = solve(z, b, mb)
        if m is None:
            raise RuntimeError(f"spectral theory: the quadratic vector equation has no stable real solution at z={z!r}")
        cache[z] = m
        return top(m)[0] - 1.0

    from scipy.optimize import brentq

    zs = brentq(f, a, b, xtol=1e-14 * max(1.0, abs(b)), rtol=1e-15)
    m = cache.get(zs)
    if m is None:
        f(zs)
        m = cache[zs]
    _, w = top(m)
    c = np.sqrt(-m) * w
    mp = np.linalg.solve(np.eye(len(m)) - (m * m)[:, None] * K, m * m)
    Tc = Theta @ c
    return zs, float((s @ c) ** 2 / (Tc @ (mp * Tc))), lam_edge


def _spectral_profile(problem: SpikedWigner, transformed: bool) -> dict:
    """PCA of ``Y / sqrt(n)`` or the top eigenpair of the transformed matrix ``L`` (see
    :mod:`solvable.families.lowrank.amp`) for a block noise profile, through
    :func:`_block_spiked_top`.  With ``theta = sqrt(snr) rho``, ``c`` the fractions and ``Delta`` the
    variances: PCA has ``K = Delta c``, ``D = 0``, ``Theta = theta s s^T``; ``L`` has noise
    ``K_ab = theta^2 c_b / Delta_ab``, ``D_a = -theta^2 sum_b c_b / Delta_ab`` and spike
    ``Theta = theta^2 diag(s) Delta^{-1} diag(s)`` (a rank-q perturbation)."""
    snr = np.atleast_1d(problem.snr).astype(float)
    over, top = np.zeros(len(snr)), np.zeros(len(snr))
    for i, sn in enumerate(snr):
        top[i], over[i], _ = _block_spiked_top(*_profile_blocks(problem, sn, transformed))
    return {"overlap": over, "top_eigenvalue": top}


def _profile_blocks(problem: SpikedWigner, snr: float, transformed: bool):
    """(K, D, Theta, s) of :func:`_block_spiked_top` for PCA / the transformed matrix at ``snr``."""
    prof = problem.noise_profile
    Dl, c = np.asarray(prof.variances, float), np.asarray(prof.fractions, float)
    sq = np.sqrt(c)
    th = np.sqrt(snr) * problem.rho
    if transformed:
        K = th**2 * c[None, :] / Dl
        D = -th**2 * (c[None, :] / Dl).sum(axis=1)
        Theta = th**2 * sq[:, None] * sq[None, :] / Dl
    else:
        K, D, Theta = Dl * c[None, :], np.zeros(len(c)), th * np.outer(sq, sq)
    return K, D, Theta, sq


def pca_profile_threshold(problem: SpikedWigner) -> float:
    """BBP threshold in ``snr`` of plain PCA of ``Y`` under a block noise profile: where
    ``lambda_max(N Theta N)`` at the right edge of the bulk crosses 1 (:func:`_block_spiked_top`);
    above the optimal (transformed / AMP) threshold ``1 / (rho^2 lambda_max(M))`` unless the
    profile is homogeneous."""
    def g(log_snr):
        return _block_spiked_top(*_profile_blocks(problem, float(np.exp(log_snr)), False), edge_only=True)[2] - 1.0

    lo = np.log(1.0 / (problem.rho**2 * problem.noise_profile.top_eigenvalue)) - 1.0
    hi = lo + 2.0
    while g(hi) < 0:
        hi += 2.0
    while g(lo) > 0:
        lo -= 2.0
    from scipy.optimize import brentq

    return float(np.exp(brentq(g, lo, hi, xtol=1e-13)))


def _spectral_wigner(problem: SpikedWigner, method: str = "pca") -> dict:
    """PCA of ``Y / sqrt(n)`` (Baik, Ben Arous & Peche 2005; Benaych-Georges & Nadakuditi 2011, sec. 3.1).

    The spike ``sqrt(snr/n) x x^T / sqrt(n)`` has eigenvalue ``theta = sqrt(snr) rho`` (``|x|^2 = n rho``)
    in units where the semicircle edge is 2.  For ``theta > 1`` the top eigenvalue is
    ``theta + 1/theta`` and the squared cosine of the top eigenvector with x is ``1 - 1/theta^2``;
    below, 2 and 0.  A one-block profile of variance ``D`` rescales: ``theta = sqrt(snr/D) rho``,
    eigenvalues times ``sqrt(D)``.
    """
    prof = problem.noise_profile
    D = np.asarray(prof.variances)
    if not np.allclose(D, D.flat[0]):
        return _spectral_profile(problem, transformed=method == "transformed")
    D0 = float(D.flat[0])
    snr = np.atleast_1d(problem.snr).astype(float)
    theta = np.sqrt(snr / D0) * problem.rho
    above = theta > 1
    th = np.where(above, theta, 1.0)
    overlap = np.where(above, 1.0 - 1.0 / th**2, 0.0)
    top = np.sqrt(D0) * np.where(above, th + 1.0 / th, 2.0)
    return {"overlap": overlap, "top_eigenvalue": top}


def _spectral_wishart(problem: SpikedWishart) -> dict:
    """SVD of ``Y`` (Benaych-Georges & Nadakuditi, J. Multivar. Anal. 111 (2012), sec. 3.1, Gaussian
    rectangular case).  With ``X = Y / sqrt(m)`` the noise has i.i.d. N(0, 1/m) entries, ``c = n/m =
    1/ratio``, and the spike ``theta = sqrt(snr rho_u rho_v)``.  For ``theta^4 > c``:
    top singular value ``sqrt((1 + theta^2)(c + theta^2)) / theta``, squared cosines
    ``|<u_hat, u>|^2 = 1 - c (1 + theta^2) / (theta^2 (theta^2 + c))`` (left, n-dimensional) and
    ``|<v_hat, v>|^2 = 1 - (c + theta^2) / (theta^2 (theta^2 + 1))`` (right); below, the edge ``1 + sqrt(c)``
    and zero overlaps.  Reported: ``top_singular_value`` of ``Y / sqrt(n)`` (edge ``1 + sqrt(ratio)``).
    The threshold ``snr = 1 / (sqrt(ratio) rho_u rho_v)`` equals the AMP weak-recovery threshold.
    """
    snr = np.atleast_1d(problem.snr).astype(float)
    c = 1.0 / problem.ratio
    t2 = snr * problem.rho_u * problem.rho_v
    above = t2**2 > c
    t2s = np.where(above, t2, 1.0)
    ou = np.where(above, 1.0 - c * (1.0 + t2s) / (t2s * (t2s + c)), 0.0)
    ov = np.where(above, 1.0 - (c + t2s) / (t2s * (t2s + 1.0)), 0.0)
    sv_m = np.where(above, np.sqrt((1.0 + t2s) * (c + t2s) / t2s), 1.0 + np.sqrt(c))
    return {"overlap_u": ou, "overlap_v": ov, "top_singular_value": np.sqrt(problem.ratio) * sv_m}


def _predict_spectral(problem, learner: Spectral) -> Prediction:
    """PCA (``method="pca"``) or, for an inhomogeneous profile, also the transformed matrix of Mergny et
    al. (``method="transformed"``); profiles go through :func:`_spectral_profile`."""
    if learner.method not in ("pca", "transformed"):
        raise ValueError(f"Spectral: method must be 'pca' or 'transformed' for spiked models, got {learner.method!r}")
    f = _spectral_wigner(problem, learner.method) if isinstance(problem, SpikedWigner) else _spectral_wishart(problem)
    vals = {k: _scalar_or_array(v, problem.is_curve) for k, v in f.items()}
    return Prediction(vals, problem=problem, learner=learner)


# --------------------------------------------------------------------------------------------
# Phase transitions
# --------------------------------------------------------------------------------------------


def _branches_fn(problem, *, tol=1e-11, max_iter=20000, n_quad=80):
    se = _se_for(problem, n_quad)

    def branches(snrs):
        snrs = np.asarray(snrs, dtype=float)
        kw = dict(tol=tol, max_iter=max_iter, on_fail="ignore")
        mu, _, _ = _solve_branch(se, snrs, "uninformative", **kw)
        mi, _, _ = _solve_branch(se, snrs, "informative", **kw)
        return se.summary(mu), se.summary(mi), se.free_entropy(mu, snrs), se.free_entropy(mi, snrs)

    return se, branches


def _check_param(param):
    if param != "snr":
        raise ValueError(f"spiked-matrix thresholds are located in snr; got the parameter {param!r}")


def _transitions_bayes(problem, learner, param, bounds) -> dict:
    """Thresholds in snr: weak recovery (``1/(rho^2 lambda_max)`` for zero-mean priors; Wishart:
    ``1/(sqrt(ratio) rho_u rho_v)``), spinodal, information-theoretic and algorithmic (Lesieur et al.
    2017, sec. 6.1).  The same dict for BayesOptimal and AMP (AMP succeeds above ``algorithmic``)."""
    _check_param(param)
    lo, hi = bounds
    if lo <= 0:
        raise ValueError(f"snr range must be positive, got snr={bounds!r}")
    se, branches = _branches_fn(problem)
    saddles = None
    if se.k == 1:  # one-dimensional monotone state evolution: exact saddle-node bifurcations
        def saddles(a, b):
            return saddle_nodes(lambda p, x: se.step(x, p), se.upper * _M_GRID, a, b)
    return locate_branch_transitions(branches, lo, hi, weak_recovery=se.weak_recovery(), saddles=saddles)


def _transitions_spectral(problem, learner, param, bounds) -> dict:
    """BBP threshold of PCA (of the transformed matrix with a profile): ``snr rho^2 lambda_max(M) = 1``
    (Wigner; Mergny, Ko & Krzakala 2024, Thm. 2.3), ``snr = 1 / (sqrt(ratio) rho_u rho_v)`` (Wishart;
    Benaych-Georges & Nadakuditi 2012); plain PCA under an inhomogeneous profile:
    :func:`pca_profile_threshold`.  Reported as ``weak_recovery`` = ``algorithmic``."""
    _check_param(param)
    lo, hi = bounds
    if isinstance(problem, SpikedWigner):
        D = np.asarray(problem.noise_profile.variances)
        if learner.method == "pca" and not np.allclose(D, D.flat[0]):
            thr = pca_profile_threshold(problem)  # plain PCA: not the optimal spectral method
        else:
            thr = 1.0 / (problem.rho**2 * problem.noise_profile.top_eigenvalue)
    else:
        thr = 1.0 / (np.sqrt(problem.ratio) * problem.rho_u * problem.rho_v)
    t = float(thr) if lo <= thr <= hi else None
    return {"weak_recovery": t, "algorithmic": t, "information_theoretic": None, "perfect_recovery": None,
            "spinodal": None, "order": "second" if t is not None else None}

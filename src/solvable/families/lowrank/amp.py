"""Samplers, low-rank AMP and spectral estimators for spiked Wigner / Wishart matrices (layer 5).

Conventions (docs/conventions.md): ``Y = sqrt(snr/n) x x^T + W`` with ``W`` symmetric, off-diagonal
variance ``Delta_{g(i) g(j)}`` (1 without a profile) and diagonal variance ``2 Delta_{g(i) g(i)}``
(GOE); ``Y = sqrt(snr/n) u v^T + W`` of shape ``(n, m)``, ``m = round(ratio n)``, i.i.d. N(0, 1) noise.

AMP (Lesieur, Krzakala & Zdeborova, J. Stat. Mech. (2017) 073403, Algorithm 1 / eqs. (64)-(67) with
Fisher score ``S = sqrt(snr) Y / Delta`` and ``R = snr / Delta``; inhomogeneous version: Guionnet,
Ko, Krzakala & Zdeborova, arXiv:2302.06665, eq. (3.1)):

    B^t   = sqrt(snr/n) (Y / Delta) xhat^t - snr diag((1/n) sum_j v_j^t / Delta_ij) xhat^{t-1}   (Onsager),
    A^t_i = (snr/n) sum_j (xhat_j^t)^2 / Delta_ij,
    (xhat^{t+1}, v^{t+1}) = prior.denoise(B^t, A^t).

The diagonal of ``Y`` enters ``B`` with a weight O(1/sqrt(n)) and does not change the state
evolution.  Spectral estimator with a profile: the top eigenvector of the transformed matrix
``L = sqrt(snr) rho (Y / Delta)/sqrt(n) - snr rho^2 diag((1/n) sum_j 1/Delta_ij)``, the linearisation
of that AMP around ``xhat = 0`` (Guionnet et al. 2022, sec. 4; Mergny, Ko & Krzakala, ICML 2024,
eq. (1.2)); with homogeneous noise it is PCA of ``Y``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solvable.blocks.priors import Prior

__all__ = [
    "sample_spiked_wigner", "sample_spiked_wishart", "LowRankAMPResult",
    "amp_wigner", "amp_wishart", "spectral_wigner", "spectral_wishart",
]


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_spiked_wigner(prior: Prior, snr: float, n: int, rng=None, *, variances=None, groups=None):
    """``(Y, x)`` with ``Y = sqrt(snr/n) x x^T + W``; ``W`` GOE (off-diagonal variance 1, diagonal 2),
    multiplied entrywise by ``sqrt(variances[g_i, g_j])`` when a block profile is given."""
    g = _rng(rng)
    x = prior.sample_signal(n, g)
    G = g.standard_normal((n, n))
    W = (G + G.T) / np.sqrt(2.0)
    if variances is not None:
        W *= np.sqrt(np.asarray(variances, float)[np.ix_(groups, groups)])
    Y = np.sqrt(snr / n) * np.outer(x, x) + W
    return Y, x


def sample_spiked_wishart(prior_u: Prior, prior_v: Prior, snr: float, n: int, ratio: float, rng=None):
    """``(Y, u, v)`` with ``Y = sqrt(snr/n) u v^T + W`` of shape ``(n, m)``, ``m = max(1, round(ratio n))``."""
    g = _rng(rng)
    m = max(1, int(round(ratio * n)))
    u = prior_u.sample_signal(n, g)
    v = prior_v.sample_signal(m, g)
    Y = np.sqrt(snr / n) * np.outer(u, v) + g.standard_normal((n, m))
    return Y, u, v


@dataclass
class LowRankAMPResult:
    """Estimates and the per-iteration history (row ``t`` describes the iterate ``xhat^t``)."""

    estimate: np.ndarray | tuple
    variance: np.ndarray | tuple
    history: dict = field(default_factory=dict)
    n_iter: int = 0
    converged: bool = False


def _overlap_stats(xhat, x, symmetric):
    n = x.shape[0]
    m = float(xhat @ x) / n
    return abs(m) if symmetric else m, float(xhat @ xhat) / n


def _init_estimate(prior, n, init, x_true, init_snr, g):
    """xhat^0: side observation of SNR init_snr, the signal itself, or a small random vector."""
    if init_snr is not None:
        B0 = init_snr * x_true + np.sqrt(init_snr) * g.standard_normal(n)
        return prior.denoise(B0, np.full(n, float(init_snr)))
    if isinstance(init, np.ndarray):
        return np.asarray(init, float).copy(), np.zeros(n)
    if init == "informative":
        return x_true.astype(float).copy(), np.zeros(n)
    if init == "uninformative":
        mean = prior.first_moment
        sd = np.sqrt(max(prior.second_moment - mean**2, 1e-300))
        return mean + 0.1 * sd * g.standard_normal(n), np.full(n, sd * sd)
    raise ValueError(f"init must be 'uninformative', 'informative' or an array, got init={init!r}")


def amp_wigner(Y: np.ndarray, prior: Prior, snr: float, *, variances=None, groups=None, x_true=None,
               init="uninformative", init_snr: float | None = None, damping: float = 0.0, max_iter: int = 500,
               tol: float = 1e-8, n_iter: int | None = None, rng=None) -> LowRankAMPResult:
    """Bayes-optimal low-rank AMP on a (block-inhomogeneous) spiked Wigner matrix (module docstring).

    ``init``: "uninformative" (``xhat^0 = E x + 0.1 sd(x) g``, random), "informative" (``xhat^0 = x_true``)
    or an array; ``init_snr`` overrides it with ``xhat^0 = f(init_snr x + sqrt(init_snr) z, init_snr)``
    (so that SE starts at ``m^0 = prior.overlap(init_snr)``).  ``damping`` mixes the old estimate
    into the new one.  Stops when the RMS change of ``xhat`` is below ``tol`` (or after exactly
    ``n_iter`` iterations if given).  With ``x_true`` the history holds ``m`` (|x.xhat|/n for zero-mean
    priors), ``q = |xhat|^2/n`` and the matrix error ``mse`` for ``t = 0, 1, ...``.
    """
    g = _rng(rng)
    Y = np.asarray(Y, float)
    n = Y.shape[0]
    if variances is None:
        Dinv = np.ones((1, 1))
        grp = np.zeros(n, dtype=int)
        Ys = np.sqrt(snr / n) * Y
    else:
        Dinv = 1.0 / np.asarray(variances, float)
        grp = np.asarray(groups, dtype=int)
        Ys = np.sqrt(snr / n) * Y * Dinv[np.ix_(grp, grp)]
    q_blocks = Dinv.shape[0]

    def block_avg(w):  # (1/n) sum_j Dinv[g_i, g_j] w_j, as a vector over i
        s = np.bincount(grp, weights=w, minlength=q_blocks) / n
        return (Dinv @ s)[grp]

    if (init_snr is not None or init == "informative") and x_true is None:
        raise ValueError("amp_wigner: init='informative' and init_snr need x_true")
    xhat, v = _init_estimate(prior, n, init, x_true, init_snr, g)
    xold = np.zeros(n)
    sym = abs(prior.first_moment) < 1e-14
    hist = {"m": [], "q": [], "mse": []}
    rho_e = float(x_true @ x_true) / n if x_true is not None else None

    def record(xh):
        if x_true is not None:
            m, q = _overlap_stats(xh, x_true, sym)
            hist["m"].append(m)
            hist["q"].append(q)
            hist["mse"].append(rho_e**2 - 2 * m * m + q * q)

    record(xhat)

    def step(state):
        xold, xhat, v = state
        B = Ys @ xhat - snr * block_avg(v) * xold
        A = snr * block_avg(xhat * xhat)
        xnew, vnew = prior.denoise(B, A)
        if damping > 0:
            xnew = (1 - damping) * xnew + damping * xhat
            vnew = (1 - damping) * vnew + damping * v
        change = float(np.sqrt(np.mean((xnew - xhat) ** 2)))
        record(xnew)
        return (xhat, xnew, vnew), change, bool(np.all(np.isfinite(xnew)))

    (_, xhat, v), t, converged = _iterate(step, (xold, xhat, v), max_iter=max_iter, n_iter=n_iter, tol=tol)
    return LowRankAMPResult(xhat, v, {k: np.asarray(a) for k, a in hist.items()}, t, converged)


def amp_wishart(Y: np.ndarray, prior_u: Prior, prior_v: Prior, snr: float, *, u_true=None, v_true=None,
                init="uninformative", init_snr: float | None = None, damping: float = 0.0, max_iter: int = 500,
                tol: float = 1e-8, n_iter: int | None = None, rng=None) -> LowRankAMPResult:
    """Low-rank AMP for ``Y = sqrt(snr/n) u v^T + W`` (Lesieur et al. 2017, eqs. (68)-(71); sequential
    updates, u then v).  Initialisation is on ``v`` (as for :func:`amp_wigner`).  History row ``t``:
    ``m_v`` of ``vhat^t`` and ``m_u`` of the ``uhat`` computed from it, matching the SE
    ``m_u = overlap_u(snr ratio m_v)``, ``m_v' = overlap_v(snr m_u)``."""
    g = _rng(rng)
    Y = np.asarray(Y, float)
    n, m = Y.shape
    Ys = np.sqrt(snr / n) * Y
    if (init_snr is not None or init == "informative") and v_true is None:
        raise ValueError("amp_wishart: init='informative' and init_snr need v_true")
    vhat, vv = _init_estimate(prior_v, m, init, v_true, init_snr, g)
    uhat = np.zeros(n)
    sym_u = abs(prior_u.first_moment) < 1e-14
    sym_v = abs(prior_v.first_moment) < 1e-14
    hist = {"m_u": [], "m_v": [], "q_u": [], "q_v": [], "mse": []}
    have = u_true is not None and v_true is not None
    ru = float(u_true @ u_true) / n if have else None
    rv = float(v_true @ v_true) / m if have else None

    def u_step(vh, vvar, uprev):
        Bu = Ys @ vh - snr * (vvar.sum() / n) * uprev
        Au = snr * float(vh @ vh) / n
        return prior_u.denoise(Bu, np.full(n, Au))

    uhat, uv = u_step(vhat, vv, uhat)

    def record(uh, vh):
        if have:
            mu, qu = float(uh @ u_true) / n, float(uh @ uh) / n
            mv, qv = float(vh @ v_true) / m, float(vh @ vh) / m
            hist["m_u"].append(abs(mu) if sym_u else mu)
            hist["m_v"].append(abs(mv) if sym_v else mv)
            hist["q_u"].append(qu)
            hist["q_v"].append(qv)
            hist["mse"].append(ru * rv - 2 * mu * mv + qu * qv)

    record(uhat, vhat)

    def step(state):
        uhat, uv, vhat, vv = state
        Bv = Ys.T @ uhat - snr * (uv.sum() / n) * vhat
        Av = snr * float(uhat @ uhat) / n
        vnew, vvnew = prior_v.denoise(Bv, np.full(m, Av))
        if damping > 0:
            vnew = (1 - damping) * vnew + damping * vhat
            vvnew = (1 - damping) * vvnew + damping * vv
        unew, uvnew = u_step(vnew, vvnew, uhat)
        change = float(np.sqrt(np.mean((vnew - vhat) ** 2)))
        record(unew, vnew)
        return (unew, uvnew, vnew, vvnew), change, bool(np.all(np.isfinite(unew)) and np.all(np.isfinite(vnew)))

    (uhat, uv, vhat, vv), t, converged = _iterate(step, (uhat, uv, vhat, vv), max_iter=max_iter, n_iter=n_iter,
                                                  tol=tol)
    return LowRankAMPResult((uhat, vhat), (uv, vv), {k: np.asarray(a) for k, a in hist.items()}, t, converged)


def _iterate(step, state, *, max_iter: int, n_iter: int | None, tol: float):
    """The AMP loop shared by :func:`amp_wigner` and :func:`amp_wishart`: ``state, change, finite =
    step(state)`` until ``change < tol`` (converged) or a non-finite iterate, at most ``max_iter``
    times; with ``n_iter`` exactly that many steps, converged when the last change is below tol.
    Returns (state, number of steps, converged)."""
    steps = int(n_iter) if n_iter is not None else int(max_iter)
    t, change, converged = 0, np.inf, False
    for t in range(1, steps + 1):
        state, change, finite = step(state)
        if not finite:
            break
        if n_iter is None and change < tol:
            converged = True
            break
    if n_iter is not None:
        converged = change < tol
    return state, t, converged


def _top_eig(M):
    """Top eigenpair of a symmetric matrix: Lanczos (ARPACK) for large n, dense eigh otherwise."""
    from scipy.linalg import eigh

    n = M.shape[0]
    if n > 300:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        try:
            w, V = eigsh(M, k=1, which="LA", tol=1e-10, v0=np.ones(n) / np.sqrt(n))
            return float(w[0]), V[:, 0]
        except ArpackNoConvergence:
            pass
    w, V = eigh(M, subset_by_index=[n - 1, n - 1])
    return float(w[0]), V[:, 0]


def spectral_wigner(Y: np.ndarray, *, snr: float | None = None, rho: float | None = None, variances=None,
                    groups=None, transformed: bool = False):
    """Top eigenpair of ``Y / sqrt(n)`` (PCA), or, with ``transformed=True`` and a profile, of the
    transformed matrix ``L`` of the module docstring (needs ``snr`` and ``rho``)."""
    Y = np.asarray(Y, float)
    n = Y.shape[0]
    if not transformed or variances is None:
        return _top_eig(Y / np.sqrt(n))
    Dinv = 1.0 / np.asarray(variances, float)
    grp = np.asarray(groups, dtype=int)
    Dfull = Dinv[np.ix_(grp, grp)]
    theta = np.sqrt(snr) * rho
    L = theta * (Y * Dfull) / np.sqrt(n)
    L[np.diag_indices(n)] -= theta**2 * Dfull.mean(axis=1)
    return _top_eig(L)


def spectral_wishart(Y: np.ndarray):
    """Top singular triplet ``(s, u_hat, v_hat)`` of ``Y / sqrt(n)`` (unit singular vectors)."""
    Y = np.asarray(Y, float) / np.sqrt(Y.shape[0])
    if min(Y.shape) > 300:
        from scipy.sparse.linalg import ArpackNoConvergence, svds

        try:
            U, s, Vt = svds(Y, k=1, tol=1e-10, v0=np.ones(min(Y.shape)) / np.sqrt(min(Y.shape)))
            return float(s[0]), U[:, 0], Vt[0]
        except ArpackNoConvergence:
            pass
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    return float(s[0]), U[:, 0], Vt[0]

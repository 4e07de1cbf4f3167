"""Finite-size simulations of spiked Wigner / Wishart models: AMP and spectral estimators.

Each run samples the matrix at dimension ``d`` (``n = d`` rows; Wishart: ``m = round(ratio d)``
columns), runs the estimator and measures the fields of the theory (``m``, ``q``, ``mse``,
``overlap``, ... ; see :mod:`solvable.families.lowrank.equations`).  For zero-mean priors the sign of the
estimate is not identifiable and ``m`` is ``|x . xhat| / n``.
"""
from __future__ import annotations

import numpy as np

from solvable.families.lowrank.amp import (
    amp_wigner, amp_wishart, sample_spiked_wigner, sample_spiked_wishart, spectral_wigner, spectral_wishart,
)
from solvable.blocks.learners import AMP, Spectral
from solvable.families.lowrank.problem import SpikedWigner, SpikedWishart


def _scalar_snr(problem):
    if problem.is_curve:
        raise ValueError("simulate needs a scalar snr; sweep over snr for a curve")
    return float(problem.snr)


def _profile_args(problem, d):
    if problem.profile is None:
        return {}, None
    groups = problem.profile.groups(d)
    return {"variances": problem.profile.variances, "groups": groups}, groups


def _simulate_wigner_amp(problem: SpikedWigner, learner: AMP, *, d: int, rng, init_snr: float | None = None,
                         n_iter: int | None = None) -> dict:
    """Sample Y at n = d, run :func:`amp_wigner`; with ``n_iter`` run exactly that many iterations and
    return the trajectories ``m_traj``, ``mse_traj`` (t = 0..n_iter) for comparison with
    :func:`solvable.families.lowrank.equations.state_evolution`."""
    snr = _scalar_snr(problem)
    kw, groups = _profile_args(problem, d)
    Y, x = sample_spiked_wigner(problem.prior, snr, d, rng, **kw)
    res = amp_wigner(Y, problem.prior, snr, x_true=x, init=learner.init, init_snr=init_snr,
                     damping=learner.damping, max_iter=learner.max_iter, tol=learner.tol, n_iter=n_iter,
                     rng=rng, **kw)
    h = res.history
    m, q = float(h["m"][-1]), float(h["q"][-1])
    rho_e = float(x @ x) / d
    out = {"m": m, "q": q, "mse": float(h["mse"][-1]), "overlap": m * m / (rho_e * q) if q > 0 else 0.0,
           "n_iter": float(res.n_iter), "converged": float(res.converged)}
    if groups is not None:
        for a in range(problem.profile.n_blocks):
            sel = groups == a
            ma = float(res.estimate[sel] @ x[sel]) / sel.sum()
            out[f"m_{a}"] = abs(ma) if abs(problem.prior.first_moment) < 1e-14 else ma
    if n_iter is not None:
        out["m_traj"] = h["m"]
        out["mse_traj"] = h["mse"]
    return out


def _simulate_wishart_amp(problem: SpikedWishart, learner: AMP, *, d: int, rng, init_snr: float | None = None,
                          n_iter: int | None = None) -> dict:
    """Sample the n x m matrix (n = d), run :func:`amp_wishart` (trajectories with ``n_iter``)."""
    snr = _scalar_snr(problem)
    Y, u, v = sample_spiked_wishart(problem.prior_u, problem.prior_v, snr, d, problem.ratio, rng)
    res = amp_wishart(Y, problem.prior_u, problem.prior_v, snr, u_true=u, v_true=v, init=learner.init,
                      init_snr=init_snr, damping=learner.damping, max_iter=learner.max_iter, tol=learner.tol,
                      n_iter=n_iter, rng=rng)
    h = res.history
    mu, mv, qu, qv = (float(h[k][-1]) for k in ("m_u", "m_v", "q_u", "q_v"))
    ru, rv = float(u @ u) / len(u), float(v @ v) / len(v)
    out = {"m_u": mu, "m_v": mv, "q_u": qu, "q_v": qv, "mse": float(h["mse"][-1]),
           "overlap_u": mu * mu / (ru * qu) if qu > 0 else 0.0, "overlap_v": mv * mv / (rv * qv) if qv > 0 else 0.0,
           "n_iter": float(res.n_iter), "converged": float(res.converged)}
    if n_iter is not None:
        out["m_u_traj"] = h["m_u"]
        out["m_v_traj"] = h["m_v"]
        out["mse_traj"] = h["mse"]
    return out


def _simulate_wigner_spectral(problem: SpikedWigner, learner: Spectral, *, d: int, rng) -> dict:
    """PCA of Y/sqrt(n) (``method="pca"``) or the top eigenvector of the transformed matrix
    (``method="transformed"``, for profiles): squared cosine ``overlap`` and ``top_eigenvalue``."""
    if learner.method not in ("pca", "transformed"):
        raise ValueError(f"Spectral: method must be 'pca' or 'transformed' for spiked models, got {learner.method!r}")
    snr = _scalar_snr(problem)
    kw, groups = _profile_args(problem, d)
    Y, x = sample_spiked_wigner(problem.prior, snr, d, rng, **kw)
    lam, vec = spectral_wigner(Y, snr=snr, rho=problem.rho, transformed=learner.method == "transformed", **kw)
    return {"overlap": float((vec @ x) ** 2 / (x @ x)), "top_eigenvalue": lam}


def _simulate_wishart_spectral(problem: SpikedWishart, learner: Spectral, *, d: int, rng) -> dict:
    """Top singular triplet of Y/sqrt(n): squared cosines ``overlap_u``, ``overlap_v``, ``top_singular_value``."""
    snr = _scalar_snr(problem)
    Y, u, v = sample_spiked_wishart(problem.prior_u, problem.prior_v, snr, d, problem.ratio, rng)
    s, uh, vh = spectral_wishart(Y)
    return {"overlap_u": float((uh @ u) ** 2 / (u @ u)), "overlap_v": float((vh @ v) ** 2 / (v @ v)),
            "top_singular_value": s}

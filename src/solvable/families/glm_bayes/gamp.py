"""Generalized approximate message passing (GAMP) for generalized linear models.

Rangan, "Generalized approximate message passing for estimation with random linear
mixing", ISIT 2011, Algorithm 1, in the scalar-variance form valid for i.i.d. Gaussian
matrices (Zdeborova & Krzakala, Adv. Phys. 65, 453 (2016), sec. 6.3.1, eqs. (129)-(136)).

Conventions (docs/conventions.md): ``y_mu ~ P_out(. | z_mu)``, ``z = X theta / sqrt(d)``, so
GAMP runs on ``A = X / sqrt(d)``.  With ``xhat, v`` the posterior means/variances of the
signal, one iteration is

    V      = mean(v)
    omega  = A xhat - V g_old                      (Onsager correction)
    g, dg  = channel.gout(y, omega, V), channel.dgout(y, omega, V)
    Lambda = -sum_mu dg_mu / d                     (= sum_mu A_{mu i}^2 (-dg_mu), scalar form)
    B      = A^T g + Lambda xhat
    xhat, v = prior.denoise(B, Lambda)

Its state evolution is ``q_{t+1} = overlap(alpha E[gout^2](q_t))`` (the Nishimori form,
:mod:`solvable.families.glm_bayes.equations`), iteration by iteration, when the start obeys the
Nishimori condition, e.g. ``xhat_0 = E[theta | theta + noise]`` (the side-information
start ``qhat0`` of :func:`side_information_start`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solvable.blocks.channels import Channel
from solvable.blocks.priors import Prior

__all__ = ["GAMPResult", "gamp", "side_information_start"]


@dataclass
class GAMPResult:
    """Output of :func:`gamp`: estimate ``x_hat`` (posterior means), ``v_hat`` (variances),
    the last ``omega``, ``V``, ``converged``, ``n_iter`` and per-iteration ``history``
    (dict of arrays over iterations 0..n_iter: ``m``, ``q``, ``mse`` when ``theta`` is given,
    ``delta`` the mean squared change of ``x_hat``)."""

    x_hat: np.ndarray
    v_hat: np.ndarray
    omega: np.ndarray
    V: float
    converged: bool
    n_iter: int
    history: dict = field(default_factory=dict)


def side_information_start(prior: Prior, theta: np.ndarray, qhat0: float, rng: np.random.Generator):
    """``xhat_0, v_0 = prior.denoise(qhat0 theta + sqrt(qhat0) xi, qhat0)``: the posterior
    mean given a scalar Gaussian observation of the signal at SNR ``qhat0`` (Nishimori
    start: its overlap concentrates on ``prior.overlap(qhat0)``).  ``qhat0 = 0`` is the
    prior mean."""
    if qhat0 < 0:
        raise ValueError(f"qhat0 must be >= 0, got qhat0={qhat0!r}")
    B = qhat0 * theta + np.sqrt(qhat0) * rng.standard_normal(theta.shape)
    return prior.denoise(B, np.full(theta.shape, float(qhat0)))


def gamp(
    X: np.ndarray,
    y: np.ndarray,
    prior: Prior,
    channel: Channel,
    *,
    x0: np.ndarray | None = None,
    v0: np.ndarray | None = None,
    damping: float = 0.0,
    max_iter: int = 200,
    tol: float = 1e-8,
    iterations: int | None = None,
    theta: np.ndarray | None = None,
    V_floor: float = 1e-13,
) -> GAMPResult:
    """Run GAMP on data ``X`` (n x d, unnormalised, i.i.d. N(0,1) entries) and labels ``y``.

    ``x0, v0``: start (default the prior mean and variance); ``damping``: fraction of the old
    ``xhat, v`` kept; stops when ``mean((xhat_t - xhat_{t-1})^2) < tol * rho`` or after
    ``max_iter`` iterations; with ``iterations`` it runs exactly that many (no early stop).
    ``theta`` (the teacher), if given, is used only to record the overlaps per iteration.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"gamp: X must be (n, d) and y (n,), got X{X.shape}, y{y.shape}")
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"gamp: damping must be in [0, 1), got damping={damping!r}")
    n, d = X.shape
    sq = np.sqrt(d)
    rho = float(prior.second_moment)
    if x0 is None:
        x = np.full(d, float(prior.first_moment))
        v = np.full(d, rho - prior.first_moment ** 2)
    else:
        x = np.array(x0, float)
        v = np.broadcast_to(np.asarray(v0 if v0 is not None else rho - prior.first_moment ** 2, float), (d,)).copy()
    g = np.zeros(n)
    hist = {"m": [], "q": [], "mse": [], "delta": []}

    def record(x, delta):
        hist["delta"].append(delta)
        if theta is not None:
            hist["m"].append(float(x @ theta / d))
            hist["q"].append(float(x @ x / d))
            hist["mse"].append(float(np.mean((x - theta) ** 2)))

    record(x, np.nan)
    T = iterations if iterations is not None else max_iter
    converged = False
    V = max(float(np.mean(v)), V_floor * rho)
    omega = X @ x / sq
    t = 0
    for t in range(1, T + 1):
        V = max(float(np.mean(v)), V_floor * rho)
        omega = X @ x / sq - V * g
        _, g, dg = channel.output_moments(y, omega, V)
        lam = max(-float(np.sum(dg)) / d, 1e-300)
        B = X.T @ g / sq + lam * x
        xn, vn = prior.denoise(B, lam)
        if damping:
            xn = (1 - damping) * xn + damping * x
            vn = (1 - damping) * vn + damping * v
        if not (np.all(np.isfinite(xn)) and np.all(np.isfinite(vn))):
            raise FloatingPointError(f"gamp: non-finite estimate at iteration {t}")
        delta = float(np.mean((xn - x) ** 2))
        x, v = xn, vn
        record(x, delta)
        if iterations is None and delta < tol * rho:
            converged = True
            break
    if iterations is not None:
        converged = bool(hist["delta"][-1] < tol * rho)
    return GAMPResult(x_hat=x, v_hat=v, omega=omega, V=V, converged=converged, n_iter=t,
                      history={k: np.asarray(val) for k, val in hist.items() if len(val)})

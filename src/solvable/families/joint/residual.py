"""The residual bootstrap and the jackknife of ridge regression (isotropic Gaussian inputs).

Fit ridge, ``w = argmin sum_mu (y_mu - w . x_mu / sqrt(d))^2 / 2 + lam |w|^2 / 2``; then each replicate
refits on the labels ``y*_mu = w . x_mu / sqrt(d) + e*_mu``, ``e*`` drawn with replacement from the
training residuals ``e = y - A w`` (``A = X / sqrt(d)``).  The replicates differ by ``H^-1 A^T (e* - e*')``,
``H = A^T A + lam``, so the variance they give to a fresh prediction is exactly

    Var_RB = s^2 (1/d) tr(H^-1 A^T A H^-1) = s^2 (V + lam dV/dlam),   s^2 = mean of (e - mean e)^2,

with ``V = (1/d) tr H^-1`` (the replica ``V`` of ridge, the Stieltjes transform of the Marchenko-Pastur
law) and ``s^2 -> 2 x training loss`` (residuals of mean 0).  From ``V (lam + alpha / (1 + V)) = 1``:
``dV/dlam = -V / (1 / V - alpha V / (1 + V)^2)``.  (Clarte et al. 2024 study the residual bootstrap as
label resampling; this closed form is derived here and checked against real residual resamples.)

The jackknife: the leave-one-out fits are exactly ``w_(-i) = w - H^-1 a_i e_i / (1 - h_ii)``, ``h_ii =
a_i^T H^-1 a_i`` (Sherman-Morrison), and its variance estimate of a fresh prediction is
``(n - 1) / n sum_i |w_(-i) - mean_j w_(-j)|^2 / d``.  Asymptotically ``h_ii -> V / (1 + V)`` and
``a_i^T H^-2 a_i -> T / (1 + V)^2``, ``T = (1/d) tr H^-2 = -dV/dlam`` (leave-one-out resolvents), so each
term is ``e_i^2 T`` and

    Var_J = alpha s^2 (-dV/dlam),

derived here and checked against the exact finite-d jackknife.
"""
from __future__ import annotations

import numpy as np

__all__ = ["residual_bootstrap_variance", "simulate_residual_bootstrap", "jackknife_variance", "simulate_jackknife"]


def _check(problem, learner):
    from solvable.blocks.learners import ERM

    if not (isinstance(learner, ERM) and learner.loss.name == "square" and learner.penalty.l1_ratio == 0.0
            and learner.penalty.lam > 0):
        raise ValueError(f"residual bootstrap: implemented for ridge (ERM('square', L2(lam > 0))), got {learner!r}")
    if problem.data is not None:
        raise ValueError("residual bootstrap: implemented for isotropic inputs (data=None)")


def residual_bootstrap_variance(problem, learner):
    """The residual-bootstrap variance of ridge's prediction (module docstring), and the true variance
    over fresh data sets for comparison: ``(Var_RB, Var_true)``, arrays over the problem's alpha."""
    from solvable.core.registry import predict
    from solvable.families.joint.problem import FreshData, JointERM

    _check(problem, learner)
    V, dV, s2, true = _ridge_pieces(problem, learner)
    return s2 * (V + learner.penalty.lam * dV), true


def _ridge_pieces(problem, learner):
    """``(V, dV/dlam, s^2, true variance)`` of ridge from the joint engine (two fresh data sets)."""
    from solvable.core.registry import predict
    from solvable.families.joint.problem import FreshData, JointERM

    r = predict(problem, JointERM(learner, weights=FreshData()), on_fail="raise")
    alpha = np.asarray(problem.alpha, float)
    V = np.asarray(r.V_0, float)
    dV = -V / (1.0 / V - alpha * V / (1.0 + V) ** 2)
    s2 = 2.0 * np.asarray(r.train_loss_0, float)  # each estimator's training loss per sample of its own set
    return V, dV, s2, np.asarray(r.variance, float)


def jackknife_variance(problem, learner):
    """The jackknife's variance estimate of ridge's prediction (module docstring), and the true
    variance: ``(Var_J, Var_true)``, arrays over the problem's alpha."""
    _check(problem, learner)
    V, dV, s2, true = _ridge_pieces(problem, learner)
    return np.asarray(problem.alpha, float) * s2 * (-dV), true


def _ridge_fits(problem, learner, d, seeds, name):
    """Per seed: ``(rng, A, H^-1, w, e)`` of ridge fitted at dimension ``d`` (``e`` the residuals)."""
    _check(problem, learner)
    if np.ndim(problem.alpha) > 0:
        raise ValueError(f"{name}: give a scalar alpha")
    n = int(round(float(problem.alpha) * d))
    for seed in seeds:
        rng = np.random.default_rng(seed)
        theta = problem.prior.sample_signal(d, rng)
        A = rng.standard_normal((n, d)) / np.sqrt(d)
        y = problem.channel.sample(A @ theta, rng)
        Hi = np.linalg.inv(A.T @ A + learner.penalty.lam * np.eye(d))
        w = Hi @ (A.T @ y)
        yield rng, A, Hi, w, y - A @ w


def simulate_jackknife(problem, learner, *, d: int, seeds) -> np.ndarray:
    """The exact jackknife of ridge at dimension ``d`` (leave-one-out fits by Sherman-Morrison): one
    variance estimate per seed."""
    out = []
    for _, A, Hi, w, e in _ridge_fits(problem, learner, d, seeds, "simulate_jackknife"):
        n = len(e)
        HA = A @ Hi  # rows a_i^T H^-1
        h = np.sum(HA * A, axis=1)
        delta = -HA * (e / (1.0 - h))[:, None]  # w_(-i) - w
        out.append((n - 1) / n * np.sum((delta - delta.mean(axis=0)) ** 2) / d)
    return np.array(out)


def simulate_residual_bootstrap(problem, learner, *, d: int, seeds, B: int = 2) -> np.ndarray:
    """Real residual bootstrap at dimension ``d``: per seed, fit ridge, draw ``B`` replicates of the
    residuals with replacement, refit, and measure the mean over pairs of ``|w_b - w_b'|^2 / (2 d)``,
    the variance across replicates of a fresh prediction; returns one value per seed."""
    out = []
    for rng, A, Hi, w, e in _ridge_fits(problem, learner, d, seeds, "simulate_residual_bootstrap"):
        W = [Hi @ (A.T @ (A @ w + rng.choice(e, size=len(e), replace=True))) for _ in range(B)]
        out.append(np.mean([np.sum((W[a] - W[b]) ** 2) / (2 * d) for a in range(B) for b in range(a + 1, B)]))
    return np.array(out)

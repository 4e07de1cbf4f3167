"""The robust test error of a linear classifier under an L2 attack (Tanner, Vilucchio, Loureiro, Krzakala,
"A high dimensional statistical model for adversarial training: geometry and trade-offs", sec. 2).

A test point ``x`` may be moved by ``delta`` with ``|delta|_2 <= eps`` before the classifier ``sign(w . x /
sqrt(d))`` sees it.  For a linear classifier the inner maximisation is closed form: the worst ``delta =
-eps y w / |w|`` lowers the margin ``y omega`` (``omega = w . x / sqrt(d)``) by ``eps |w| / sqrt(d) = eps
sqrt(q)`` (isotropic attack geometry; ``q = |w|^2 / d``), so

    robust_test_error(eps) = P(y omega < eps sqrt(q)),

a function of the overlaps only: given ``z``, ``omega`` is Gaussian with mean ``m z / rho`` and variance ``q -
m^2 / rho``; the label's law ``P(y | z)`` is the channel's.  At ``eps = 0`` it is the test error.
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from solvable.numerics.gauss import composite_legendre_nodes

__all__ = ["robust_test_error", "simulate_robust_test_error"]


def _check_eps(eps):
    e = np.asarray(eps, float)
    if not np.all(np.isfinite(e)) or np.any(e < 0):
        raise ValueError(f"robust_test_error: the attack budget eps must be finite and >= 0, got eps={eps!r}")
    return e


def robust_test_error(pred, eps) -> np.ndarray | float:
    """``P(y omega < eps sqrt(q))`` (module docstring) for an ERM prediction on a classification channel
    (Sign, Probit) and isotropic inputs, at budgets ``eps`` (a number or an array; a curve of ``pred`` gives
    one row per point): ``z`` on a composite Gauss-Legendre rule cut at 0, where the labels' law steps."""
    pb = pred.problem
    ch = pb.channel
    if not ch.is_classification:
        raise ValueError(f"robust_test_error: needs a classification channel (Sign, Probit), got {ch!r}")
    if pb.data is not None:
        raise ValueError(f"robust_test_error: implemented for isotropic inputs (data=None) and the isotropic "
                         f"attack, got data={pb.data!r}")
    e = _check_eps(eps)
    rho = float(pb.rho)
    m = np.atleast_1d(np.asarray(pred["m"], float))
    q = np.atleast_1d(np.asarray(pred["q"], float))
    sd = np.sqrt(np.maximum(q - m * m / rho, 0.0))
    u, wu = composite_legendre_nodes(np.zeros(len(m)), np.ones(len(m)), np.zeros((len(m), 1)), 60, 12.0)
    z = np.sqrt(rho) * u  # (N, M)
    p_up = ch.prob(1.0, z)  # P(y = +1 | z)
    out = np.empty((len(m), e.size))
    for j, ej in enumerate(e.ravel()):
        t = ej * np.sqrt(q)[:, None]  # the margin an attack removes
        mu = (m / rho)[:, None] * z
        with np.errstate(divide="ignore", invalid="ignore"):
            s = sd[:, None]
            below = np.where(s > 0, ndtr((t - mu) / np.where(s > 0, s, 1.0)), (mu < t).astype(float))  # P(omega < t)
            above = np.where(s > 0, ndtr((mu + t) / np.where(s > 0, s, 1.0)), (mu > -t).astype(float))  # P(omega > -t)
        out[:, j] = np.sum(wu * (p_up * below + (1.0 - p_up) * above), axis=1)
    out = out.reshape((len(m),) + e.shape)
    return float(out.reshape(-1)[0]) if np.ndim(pred["m"]) == 0 and e.ndim == 0 else (out[0] if np.ndim(pred["m"]) == 0 else out)


def simulate_robust_test_error(problem, learner, eps, *, d: int, seeds, n_test: int = 100_000) -> np.ndarray:
    """The robust test error of ERM classifiers fitted at dimension ``d`` (the family's exact solver), each
    attacked on ``n_test`` fresh samples by the exact worst perturbation ``delta = -eps y w / |w|``:
    ``(len(seeds), len(eps))``."""
    from solvable.families.erm.solvers import solve_erm

    e = np.atleast_1d(_check_eps(eps))
    ch = problem.channel
    if not ch.is_classification or problem.data is not None or np.ndim(problem.alpha) > 0:
        raise ValueError("simulate_robust_test_error: a classification channel, isotropic inputs and a scalar alpha")
    n = int(round(float(problem.alpha) * d))
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        theta = problem.prior.sample_signal(d, rng)
        X = rng.standard_normal((n, d))
        w = solve_erm(learner.loss, learner.penalty, X / np.sqrt(d), ch.sample(X @ theta / np.sqrt(d), rng))
        Xt = rng.standard_normal((n_test, d))
        yt = ch.sample(Xt @ theta / np.sqrt(d), rng)
        margin = yt * (Xt @ w) / np.sqrt(d)
        norm = np.linalg.norm(w) / np.sqrt(d)
        rows.append([float(np.mean(margin - ej * norm < 0)) for ej in e])  # the attacked margin y w.(x + delta)/sqrt d
    return np.array(rows)

"""The residual bootstrap of ridge regression and the jackknife of ERM (isotropic Gaussian inputs).

Fit ridge, ``w = argmin sum_mu (y_mu - w . x_mu / sqrt(d))^2 / 2 + lam |w|^2 / 2``; then each replicate
refits on the labels ``y*_mu = w . x_mu / sqrt(d) + e*_mu``, ``e*`` drawn with replacement from the
training residuals ``e = y - A w`` (``A = X / sqrt(d)``).  The replicates differ by ``H^-1 A^T (e* - e*')``,
``H = A^T A + lam``, so the variance they give to a fresh prediction is exactly

    Var_RB = s^2 (1/d) tr(H^-1 A^T A H^-1) = s^2 (V + lam dV/dlam),   s^2 = mean of (e - mean e)^2,

with ``V = (1/d) tr H^-1`` (the replica ``V`` of ridge, the Stieltjes transform of the Marchenko-Pastur
law) and ``s^2 -> 2 x training loss`` (residuals of mean 0).  From ``V (lam + alpha / (1 + V)) = 1``:
``dV/dlam = -V / (1 / V - alpha V / (1 + V)^2)``.  (Clarte et al. 2024 study the residual bootstrap as
label resampling; this closed form is derived here and checked against real residual resamples.)

The jackknife of an ERM estimator (square or logistic loss, L2 penalty): its variance estimate of a
fresh prediction is ``(n - 1) / n sum_i |w_(-i) - mean_j w_(-j)|^2 / d``.  By the cavity (leave-one-out)
relation ``w - w_(-i) = -H_(-i)^-1 a_i l'(y_i, omega_i)`` (``H_(-i)`` the Hessian without sample i,
independent of ``a_i``), each term is ``l'(y_i, omega_i)^2 a_i^T H_(-i)^-2 a_i -> f_i^2 T``, ``f = -l'`` at the
fitted field (the replica ``f``, whose mean square gives ``Qhat = alpha E f^2``) and ``T = (1/d) tr H^-2``.
``T = -dV(z)/dz`` at ``z = 0`` for the resolvent ``V(z) = (1/d) tr (H + z)^-1``, which solves ``V(z) = 1 / (lam +
z + alpha E[c / (1 + V(z) c)])`` with the curvatures ``c = l''(y, omega_hat)`` held fixed; differentiating,
with ``c / (1 + V c) = -d_omega f``,

    Var_J = Qhat T,   T = V^2 / (1 - V^2 alpha E[(d_omega f)^2])

(derived here; the denominator is the replica-stability factor).  For ridge ``f`` is the residual and
``T = -dV/dlam``: ``Var_J = alpha s^2 (-dV/dlam)``.  Checked against the exact finite-d jackknife.
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
    """The jackknife's variance estimate of an ERM estimator's prediction (square or logistic loss, L2
    penalty; module docstring), and the true variance over fresh data sets: ``(Var_J, Var_true)``, arrays
    over the problem's alpha."""
    from solvable.core.registry import predict
    from solvable.families.joint.equations import JointERMTheory, JointOptions
    from solvable.families.joint.problem import FreshData, JointERM

    _check_jackknife(problem, learner)
    joint = JointERM(learner, weights=FreshData())
    r = predict(problem, joint, on_fail="raise")
    th = JointERMTheory(problem, joint, JointOptions())
    # the engine's state from the prediction's fields (its "q_k" is the field q_k_k)
    names = [f"{n}_{n[2:]}" if n.startswith("q_") and n.count("_") == 1 else n for n in th.state]
    x = np.column_stack([np.atleast_1d(np.asarray(r[n], float)) for n in names])
    alpha = np.atleast_1d(np.asarray(problem.alpha, float))
    m, q, V, _ = th._split(x)
    _, qh, _, S = th._diagonal(0, m[:, 0], q[:, 0], V[:, 0], alpha * th.factor, stability=True)
    V0 = V[:, 0]
    out = qh * V0 ** 2 / (1.0 - V0 ** 2 * S)
    true = np.atleast_1d(np.asarray(r.variance, float))
    return (float(out[0]), float(true[0])) if np.ndim(problem.alpha) == 0 else (out, true)


def _check_jackknife(problem, learner):
    from solvable.blocks.learners import ERM

    if not (isinstance(learner, ERM) and learner.loss.name in ("square", "logistic")
            and getattr(learner.penalty, "l1_ratio", None) == 0.0 and learner.penalty.lam > 0 and not learner.bias):
        raise ValueError(f"jackknife: implemented for ERM with the square or logistic loss and an L2 penalty "
                         f"lam > 0 (no bias), got {learner!r}")
    if problem.data is not None:
        raise ValueError(f"jackknife: implemented for isotropic inputs (data=None; T = (1/d) tr H^-2 is the "
                         f"isotropic resolvent's), got data={problem.data!r}")
    if learner.loss.name == "logistic" and not problem.channel.is_classification:
        raise ValueError(f"jackknife: the logistic loss needs a classification channel, got {problem.channel!r}")


def _samples(problem, d, seeds, name, min_n=1):
    """Per seed: ``(rng, A, y)``, ``n = round(alpha d)`` samples of the GLM (``A = X / sqrt(d)``)."""
    if np.ndim(problem.alpha) > 0:
        raise ValueError(f"{name}: give a scalar alpha")
    n = int(round(float(problem.alpha) * d))
    if n < min_n:
        raise ValueError(f"{name}: alpha * d = {problem.alpha * d} gives fewer than {min_n} samples")
    for seed in seeds:
        rng = np.random.default_rng(seed)
        theta = problem.prior.sample_signal(d, rng)
        A = rng.standard_normal((n, d)) / np.sqrt(d)
        yield rng, A, problem.channel.sample(A @ theta, rng)


def _ridge_fits(problem, learner, d, seeds, name):
    """Per seed: ``(rng, A, H^-1, w, e)`` of ridge fitted at dimension ``d`` (``e`` the residuals)."""
    _check(problem, learner)
    for rng, A, y in _samples(problem, d, seeds, name):
        Hi = np.linalg.inv(A.T @ A + learner.penalty.lam * np.eye(d))
        w = Hi @ (A.T @ y)
        yield rng, A, Hi, w, y - A @ w


def simulate_jackknife(problem, learner, *, d: int, seeds, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """The exact jackknife at dimension ``d``: one variance estimate per seed.  All ``n`` leave-one-out
    problems at once, each by Newton steps with its leave-one-out Hessian at the full fit, ``H_(-i)^-1 =
    H^-1 + c_i H^-1 a_i a_i^T H^-1 / (1 - c_i h_ii)`` (Sherman-Morrison; exact in one step for ridge) and
    the exact gradient, until every gradient is below ``tol`` (the minimisers themselves, not the
    one-step approximation)."""
    from solvable.families.erm.solvers import solve_erm

    _check_jackknife(problem, learner)
    loss, lam = learner.loss, learner.penalty.lam
    out = []
    for _, A, y in _samples(problem, d, seeds, "simulate_jackknife", min_n=2):
        n = len(y)
        w = solve_erm(loss, learner.penalty, A, y)
        c = loss.hess(y, A @ w)
        Hi = np.linalg.inv(A.T @ (c[:, None] * A) + lam * np.eye(d))
        HA = A @ Hi  # rows a_i^T H^-1
        h = np.sum(HA * A, axis=1)
        coef = c / (1.0 - c * h)
        W = np.tile(w, (n, 1))  # row i: the fit without sample i
        idx = np.arange(n)
        for it in range(max_iter):
            Z = W @ A.T  # (n, n): Z[i, mu] = a_mu . w_(-i)
            G = loss.grad(y[None, :], Z)
            G[idx, idx] = 0.0  # sample i left out
            grad = G @ A + lam * W  # (n, d)
            if np.max(np.abs(grad)) < tol:
                break
            step = grad @ Hi + (coef * np.sum(grad * HA, axis=1))[:, None] * HA  # H_(-i)^-1 grad_i
            W -= step
        else:
            raise RuntimeError(f"simulate_jackknife: the leave-one-out fits did not converge in {max_iter} Newton "
                               f"steps (max gradient {np.max(np.abs(grad)):.3g}) at d = {d}, seed {seed}")
        delta = W - W.mean(axis=0)
        out.append((n - 1) / n * np.sum(delta ** 2) / d)
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

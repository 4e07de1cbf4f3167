"""Finite-size simulations of Bayes-optimal GLMs: GAMP on sampled data.

``simulate(GLM, AMP)`` samples ``theta ~ prior``, ``X`` (n x d, N(0,1)), ``y = channel(X theta
/ sqrt d)``, runs :func:`solvable.families.glm_bayes.gamp.gamp` and measures the fields of
``predict(GLM, AMP)``: ``m = xhat.theta/d``, ``q = |xhat|^2/d``, ``mse``, ``test_error`` (on
``n_test`` fresh samples, with the Bayes prediction built from GAMP's output: the
classifier ``argmax_y Z_out(y, omega, V)``, or the regression ``E_{z ~ N(omega, V)} phi(z)``),
plus the per-iteration overlaps ``m_t, q_t, mse_t`` (arrays, padded with the last value).

``simulate(GLM, BayesOptimal)`` runs the same GAMP.  GAMP is Bayes-optimal wherever its
state evolution from an uninformative start reaches the fixed point of largest free entropy,
i.e. outside the hard phase ``[alpha_IT, alpha_alg]`` (Barbier et al., PNAS 2019, sec. "AMP");
inside it, it measures what AMP achieves (posterior sampling is out of reach there).

Start: the side-information start with ``qhat0`` (default 1e-6, as the theory's
uninformative start); phase retrieval needs ``qhat0 > 0`` (``xhat = 0`` is a fixed point of
GAMP for even channels), its escape from ``q ~ 1/d`` then takes ~log(d) iterations more than
state evolution started at ``overlap(qhat0)`` predicts.  ``init="informative"`` starts at
``theta``.
"""
from __future__ import annotations

import numpy as np

from solvable.families.glm_bayes.gamp import gamp, side_information_start
from solvable.blocks.learners import AMP, BayesOptimal
from solvable.numerics.gauss import kinked_gauss_expect
from solvable.blocks.problems import GLM

QHAT0 = 1e-6


def _bayes_prediction_error(channel, omega, V, z, y):
    """Test error of the Bayes prediction from local fields ``omega`` and variance ``V``."""
    if channel.is_classification:
        ys = np.array([-1.0, 1.0])
        lz = np.stack([channel.output_moments(np.full_like(omega, s), omega, V)[0] for s in ys])
        yhat = ys[np.argmax(lz, axis=0)]
        return float(np.mean(yhat != y))
    Vb = np.full_like(omega, V)
    yhat = kinked_gauss_expect(lambda t: channel.phi(t), omega, Vb, np.array(channel.kinks, float), n=12)
    return float(np.mean((y - yhat) ** 2))


def run_gamp(problem: GLM, learner, *, d: int, rng: np.random.Generator, iterations: int | None = None,
             qhat0: float = QHAT0, n_test: int = 4000, damping: float | None = None,
             max_iter: int | None = None, tol: float | None = None, init: str | None = None) -> dict:
    """One seed: sample, run GAMP, measure (see the module docstring)."""
    if problem.data is not None:
        raise ValueError("GAMP simulations cover isotropic Gaussian inputs only (data=None)")
    alpha = float(np.asarray(problem.alpha))
    if np.ndim(problem.alpha) != 0:
        raise ValueError("simulate(GLM, AMP) needs a scalar alpha; use sweep for curves")
    n = int(round(alpha * d))
    if n < 1:
        raise ValueError(f"alpha * d must be >= 1, got alpha={alpha}, d={d}")
    prior, channel = problem.prior, problem.channel
    theta = prior.sample_signal(d, rng)
    X = rng.standard_normal((n, d))
    y = channel.sample(X @ theta / np.sqrt(d), rng)
    init = init or getattr(learner, "init", "uninformative")
    if init == "informative":
        x0, v0 = theta.copy(), np.full(d, 1e-12)
    else:
        x0, v0 = side_information_start(prior, theta, qhat0, rng)
    res = gamp(X, y, prior, channel, x0=x0, v0=v0,
               damping=getattr(learner, "damping", 0.0) if damping is None else damping,
               max_iter=max_iter or getattr(learner, "max_iter", 500), tol=tol or getattr(learner, "tol", 1e-8),
               iterations=iterations, theta=theta)
    Xt = rng.standard_normal((n_test, d))
    zt = Xt @ theta / np.sqrt(d)
    yt = channel.sample(zt, rng)
    omega_t = Xt @ res.x_hat / np.sqrt(d)
    V = max(float(np.mean(res.v_hat)), 1e-13 * prior.second_moment)
    T = (iterations if iterations is not None else (max_iter or getattr(learner, "max_iter", 500))) + 1
    pad = lambda a: np.concatenate([a, np.full(T - len(a), a[-1])]) if len(a) < T else a[:T]
    h = res.history
    # GAMP without damping can blow up at finite d (e.g. a noisy Square channel at alpha = 50,
    # d = 40: mse 4e21 after 500 steps); such a run is reported as diverged, its measures NaN,
    # rather than averaged into the other seeds
    diverged = not (np.isfinite(h["mse"][-1]) and h["mse"][-1] < 1e3 * prior.second_moment)
    final = ({k: float("nan") for k in ("m", "q", "mse", "test_error")} if diverged else
             {"m": h["m"][-1], "q": h["q"][-1], "mse": h["mse"][-1],
              "test_error": _bayes_prediction_error(channel, omega_t, V, zt, yt)})
    return {
        **final,
        "n_iter": float(res.n_iter), "converged": float(res.converged and not diverged),
        "diverged": float(diverged),
        "m_t": pad(h["m"]), "q_t": pad(h["q"]), "mse_t": pad(h["mse"]),
    }

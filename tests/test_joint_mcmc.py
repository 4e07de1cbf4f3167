"""Hamiltonian Monte Carlo on the Gibbs posterior (solvable.families.joint.mcmc): the square loss against
its closed-form Gaussian posterior, the logistic loss at p = 2 against a 2D quadrature, at n = 200,
p = 100 against the GAMP fixed point of the same posterior, and clear errors.  Tolerances are Monte-Carlo
standard errors from the sampler's own (batch-means) effective sample size."""
import warnings

import numpy as np
import pytest

from solvable.blocks.losses import get_loss
from solvable.blocks.priors import Gaussian
from solvable.families.glm_bayes.gamp import gamp
from solvable.families.joint import mcmc
from solvable.families.joint.gibbs import TiltedChannel
from solvable.families.joint.mcmc import gibbs_posterior_moments


def _mean_cov_z(res, mean, cov):
    """The sampled mean and covariance minus the exact ones, in Monte-Carlo standard errors from
    ``ess_min``: ``sqrt(S_ii / ess)`` for the mean, ``sqrt((S_ii S_jj + S_ij^2) / ess)`` for the
    covariance (that of a Gaussian sample covariance)."""
    ess = res["ess_min"]
    s = np.diag(cov)
    zm = (res["mean"] - mean) / np.sqrt(s / ess)
    zc = (res["cov"] - cov) / np.sqrt((np.outer(s, s) + cov ** 2) / ess)
    return np.abs(zm).max(), np.abs(zc).max()


def _square_problem(n, p, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p)) / np.sqrt(p)
    y = A @ rng.standard_normal(p) + 0.3 * rng.standard_normal(n)
    return A, y


def _check_square(n, p, beta, lam, seed, **kw):
    A, y = _square_problem(n, p, seed)
    M = lam * np.eye(p) + A.T @ A
    mean, cov = np.linalg.solve(M, A.T @ y), np.linalg.inv(beta * M)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gibbs_posterior_moments(A, y, "square", lam, beta, np.random.default_rng(seed + 1), **kw)
    zm, zc = _mean_cov_z(res, mean, cov)
    assert res["acceptance"] > 0.6 and res["ess_min"] > 0.2 * res["n_samples"], res
    assert zm < 5 and zc < 5, (zm, zc, res["ess_min"])
    assert res["mean"].shape == (p,) and res["cov"].shape == (p, p) and res["n_samples"] == kw.get("n_samples", 2000)
    return res, zm, zc


def test_square_loss_exact_gaussian_posterior():
    """Square loss: the posterior is N((lam I + A^T A)^-1 A^T y, (beta (lam I + A^T A))^-1) exactly.
    n = 120, p = 60, beta = 2, lam = 0.5, 2000 samples: ess_min ~ 800-1200, every one of the 60 means
    and 1830 covariances within 5 standard errors (measured max 0.9-2.0 for the means, 3.0-3.6 for the
    covariances over five seeds; ~0.4 s)."""
    _check_square(120, 60, 2.0, 0.5, 0)


@pytest.mark.slow
def test_square_loss_exact_gaussian_posterior_large():
    """As above at n = 800, p = 400, 4000 samples (80200 covariances)."""
    _check_square(800, 400, 1.0, 0.3, 1, n_samples=4000)


def _logistic_2d(seed=3, n=40, beta=1.5, lam=0.5):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, 2)) / np.sqrt(2)
    y = np.sign(A @ np.array([1.5, -1.0]) + 0.5 * rng.standard_normal(n))
    return A, y, beta, lam


def test_logistic_p2_against_quadrature():
    """Logistic loss at p = 2 (n = 40, beta = 1.5, lam = 0.5): mean and covariance against the
    posterior integrated on a 601 x 601 grid over [-10, 10]^2 (a Riemann sum: the density is smooth and
    below 1e-22 of its mass at the box's edges, so the sum converges spectrally; the moments agree with a
    1201 x 1201 grid to 1e-15), each within 5 standard errors (measured max 0.6-1.1 for the mean, 0.6-1.7
    for the covariance over four seeds at 4000 samples).  The mode lies 5.5-7 standard errors from the
    mean at 4000 samples, so at 8000 the check tells the posterior mean from the mode."""
    A, y, beta, lam = _logistic_2d()
    loss = get_loss("logistic")
    g = np.linspace(-10.0, 10.0, 601)
    W1, W2 = np.meshgrid(g, g, indexing="ij")
    logd = -beta * lam * (W1 ** 2 + W2 ** 2) / 2
    for mu in range(len(y)):
        logd -= beta * loss.value(y[mu], W1 * A[mu, 0] + W2 * A[mu, 1])
    dens = np.exp(logd - logd.max())
    edge = max(dens[0].max(), dens[-1].max(), dens[:, 0].max(), dens[:, -1].max())
    assert edge < 1e-15 * dens.sum()
    P = dens / dens.sum()
    m = np.array([np.sum(P * W1), np.sum(P * W2)])
    D1, D2 = W1 - m[0], W2 - m[1]
    cov = np.array([[np.sum(P * D1 * D1), np.sum(P * D1 * D2)], [np.sum(P * D1 * D2), np.sum(P * D2 * D2)]])
    res = gibbs_posterior_moments(A, y, "logistic", lam, beta, np.random.default_rng(0), n_samples=8000)
    zm, zc = _mean_cov_z(res, m, cov)
    assert zm < 5 and zc < 5, (zm, zc, res["mean"], m, res["cov"], cov)
    # the posterior is skewed enough that the mode is not the mean: the check resolves the difference
    assert np.max(np.abs(res["mode"] - m) / np.sqrt(np.diag(cov) / res["ess_min"])) > 6


def _gamp_problem(n, p, beta, lam, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = np.sign(X @ rng.standard_normal(p))
    res = gamp(X, y, Gaussian(var=1.0 / (beta * lam)), TiltedChannel(get_loss("logistic"), beta),
               tol=1e-12, max_iter=2000, damping=0.3)
    assert res.converged
    return X / np.sqrt(p), y, res


def _check_gamp(n, p, beta, lam, seed, n_samples):
    A, y, g = _gamp_problem(n, p, beta, lam, seed)
    res = gibbs_posterior_moments(A, y, "logistic", lam, beta, np.random.default_rng(seed + 1),
                                  n_samples=n_samples)
    m, gm = res["mean"], g.x_hat
    overlap = m @ gm / (np.linalg.norm(m) * np.linalg.norm(gm))
    rel = np.linalg.norm(m - gm) / np.linalg.norm(gm)
    rel_mode = np.linalg.norm(res["mode"] - gm) / np.linalg.norm(gm)
    dvar = np.mean(np.diag(res["cov"])) / np.mean(g.v_hat) - 1
    # the Monte-Carlo error of |m - gm| / |gm|: sqrt(tr cov / ess) / |gm|
    mc = np.sqrt(np.trace(res["cov"]) / res["ess_min"]) / np.linalg.norm(gm)
    return overlap, rel, rel_mode, dvar, mc, res


def test_logistic_against_gamp():
    """Logistic loss, n = 200, p = 100, beta = 1, lam = 1, sign-teacher labels, 6000 samples (~1.8 s on one
    core): the sampled posterior mean against GAMP's fixed point for the same posterior (exact only as
    n, p -> infinity).  Measured at 6000 samples, seeds 0-2: overlap 0.99980-0.99984, relative difference
    0.018-0.020 (tolerance below 0.037-0.039) against a Monte-Carlo scale ``mc`` = sqrt(tr cov / ess_min)
    / |gamp mean| of ~0.025 (so Monte-Carlo dominated; 0.022-0.025 at 4000 samples, 0.011 at 16000),
    mean(diag cov) / mean(v_hat) - 1 = +0.0004 to +0.0024.  The posterior mode is 0.043-0.046 from GAMP's mean in relative norm, so the check tells the
    mean from the mode.  Tolerance: hypot(1.5 mc, 0.015) (Monte-Carlo error plus GAMP's finite-size
    error, < 0.01 here) and under 0.6 of the mode's distance."""
    overlap, rel, rel_mode, dvar, mc, res = _check_gamp(200, 100, 1.0, 1.0, 0, 6000)
    assert overlap > 0.99
    assert rel < np.hypot(1.5 * mc, 0.015) and rel < 0.6 * rel_mode, (rel, mc, rel_mode)
    assert abs(dvar) < 0.03, dvar


@pytest.mark.slow
def test_logistic_against_gamp_large():
    """As above at n = 800, p = 400, beta = 2, lam = 0.5, 20000 samples (~30 s).  Measured: overlap
    0.99998, relative difference 0.0058 (mc 0.0085, the mode 0.045 away), variance ratio - 1 = +0.0012."""
    overlap, rel, rel_mode, dvar, mc, res = _check_gamp(800, 400, 2.0, 0.5, 1, 20000)
    assert overlap > 0.999
    assert rel < np.hypot(1.5 * mc, 0.01) and rel < 0.3 * rel_mode, (rel, mc, rel_mode)
    assert abs(dvar) < 0.01, dvar


def test_no_overflow_warnings_far_tails():
    """Huge pre-activations (|z| ~ 1e3) and a separable, nearly unregularised problem: no numpy
    warnings, finite moments."""
    rng = np.random.default_rng(5)
    A = 300 * rng.standard_normal((30, 3))
    y = np.sign(A @ np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gibbs_posterior_moments(A, y, "logistic", 1e-3, 3.0, rng, n_samples=300, n_warmup=200)
    assert np.all(np.isfinite(res["mean"])) and np.all(np.isfinite(res["cov"]))


def test_reproducible():
    A, y = _square_problem(30, 10, 2)
    a = gibbs_posterior_moments(A, y, "square", 1.0, 1.0, np.random.default_rng(7), n_samples=200, n_warmup=100)
    b = gibbs_posterior_moments(A, y, "square", 1.0, 1.0, np.random.default_rng(7), n_samples=200, n_warmup=100)
    assert np.array_equal(a["mean"], b["mean"]) and np.array_equal(a["cov"], b["cov"])


@pytest.mark.parametrize("kw, match", [
    ({"loss": "hinge"}, "loss='hinge'"),
    ({"lam": 0.0}, "lam=0.0"),
    ({"lam": -1.0}, "lam=-1.0"),
    ({"beta": 0}, "beta=0"),
    ({"beta": float("nan")}, "beta=nan"),
    ({"A": np.ones(5)}, r"A.shape=\(5,\)"),
    ({"y": np.ones(4)}, r"y.shape=\(4,\)"),
    ({"y": np.r_[1.0, 0.0, 1.0, -1.0, 1.0]}, r"y\[1\]=0.0"),
    ({"n_samples": 1}, "n_samples=1"),
    ({"n_leapfrog": 0}, "n_leapfrog=0"),
    ({"rng": 3}, "rng=3"),
])
def test_errors_name_the_bad_value(kw, match):
    args = {"A": np.ones((5, 2)), "y": np.r_[1.0, -1.0, 1.0, -1.0, 1.0], "loss": "logistic", "lam": 1.0,
            "beta": 1.0, "rng": np.random.default_rng(0)}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        gibbs_posterior_moments(args.pop("A"), args.pop("y"), args.pop("loss"), args.pop("lam"), args.pop("beta"),
                                args.pop("rng"), **args)


def test_square_accepts_real_labels_logistic_does_not():
    A, y = _square_problem(20, 4, 0)
    gibbs_posterior_moments(A, y, "square", 1.0, 1.0, np.random.default_rng(0), n_samples=50, n_warmup=20)
    with pytest.raises(ValueError, match="labels"):
        gibbs_posterior_moments(A, y, "logistic", 1.0, 1.0, np.random.default_rng(0))


def test_time_limit():
    A, y = _square_problem(200, 100, 0)
    with pytest.raises(RuntimeError, match=r"max_seconds=0.05 exceeded after \d+ of 2500 samples"):
        gibbs_posterior_moments(A, y, "square", 1.0, 1.0, np.random.default_rng(0), max_seconds=0.05)


def test_low_acceptance(monkeypatch):
    """A step size far too large and no warm-up to adapt it: a RuntimeError with the diagnostics."""
    monkeypatch.setattr(mcmc, "_initial_step_size", lambda n_leapfrog: 30.0)
    A, y = _square_problem(60, 20, 0)
    with pytest.raises(RuntimeError, match=r"acceptance 0\.\d+ < 0.3 .*step size 30"):
        gibbs_posterior_moments(A, y, "square", 1.0, 1.0, np.random.default_rng(0), n_samples=50, n_warmup=0)

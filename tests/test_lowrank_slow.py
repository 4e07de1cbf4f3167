"""Large-d checks of the spiked models (``-m slow``): AMP vs state evolution and PCA vs BBP at
d of a few thousand, where the finite-size allowances of the fast tests shrink."""
from __future__ import annotations

import numpy as np
import pytest

import solvable as sv
from solvable.blocks.priors import Gaussian, Rademacher, SparseRademacher
from solvable.families.lowrank.equations import state_evolution

pytestmark = pytest.mark.slow


def test_amp_vs_se_iterations_large_d():
    """d = 3000, 10 seeds: per-iteration allowance 0.01 (0.02 at d = 500).  The SE map has slope > 1
    on the way up, so the O(1/sqrt(d)) fluctuations of the start are amplified along the
    trajectory; measured: |AMP - SE| <= 0.010 with standard errors 0.002-0.007."""
    prob = sv.SpikedWigner(Rademacher(), 1.8)
    se = state_evolution(prob, init_snr=0.3, n_iter=10)
    sim = sv.simulate(prob, sv.AMP(), d=3000, seeds=range(10, 20), init_snr=0.3, n_iter=10)
    err = np.abs(np.asarray(sim.m_traj) - se["m"].to_numpy())
    assert np.all(err < 4 * np.asarray(sim.se("m_traj")) + 0.01), err


def test_sparse_amp_fixed_point_large_d():
    prob = sv.SpikedWigner(SparseRademacher(0.3), 20.0)
    th = sv.predict(prob, sv.AMP())
    sim = sv.simulate(prob, sv.AMP(), d=3000, seeds=3)
    assert abs(sim.m - th.m) < 4 * sim.se("m") + 0.005 * prob.rho


def test_pca_overlap_large_d():
    prob = sv.SpikedWigner(Gaussian(), 2.5)
    th, sim = sv.predict(prob, sv.Spectral()), sv.simulate(prob, sv.Spectral(), d=2000, seeds=3)
    assert abs(sim.overlap - th.overlap) < 4 * sim.se("overlap") + 0.01
    assert abs(sim.top_eigenvalue - th.top_eigenvalue) < 4 * sim.se("top_eigenvalue") + 0.01


def test_wishart_amp_large_d():
    prob = sv.SpikedWishart(Rademacher(), Gaussian(), 1.5, 2.0)
    th = sv.predict(prob, sv.BayesOptimal())
    sim = sv.simulate(prob, sv.AMP(), d=2000, seeds=3)
    assert abs(sim.m_u - th.m_u) < 4 * sim.se("m_u") + 0.01
    assert abs(sim.m_v - th.m_v) < 4 * sim.se("m_v") + 0.01


def test_profile_amp_large_d():
    profile = sv.NoiseProfile([[1.0, 4.0], [4.0, 0.5]], [0.4, 0.6])
    prob = sv.SpikedWigner(Rademacher(), 2.2 / profile.top_eigenvalue, profile=profile)
    th, sim = sv.predict(prob, sv.AMP()), sv.simulate(prob, sv.AMP(), d=3000, seeds=3)
    for k in ("m_0", "m_1"):
        assert abs(sim[k] - th[k]) < 4 * sim.se(k) + 0.01


def _sparse_overlap_quad(rho):
    """Overlap E[x0 f(B)] = rho E_z f(r + sqrt(r) z) of the sparse Rademacher prior by adaptive quadrature
    (scipy quad, split where B = 0), f(B) = rho sinh(B) e^{-r/2} / (1 - rho + rho cosh(B) e^{-r/2})
    written stably -- independent of the library's Gauss-Hermite scalar channel."""
    from scipy.integrate import quad

    def f(B, r):
        a = np.abs(B)
        return np.sign(B) * rho * 0.5 * (1 - np.exp(-2 * a)) / (
            (1 - rho) * np.exp(-a + r / 2) + rho * 0.5 * (1 + np.exp(-2 * a)))

    def ov(r):
        sr = np.sqrt(r)
        h = lambda z: f(r + sr * z, r) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
        return rho * sum(quad(h, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)[0] for a, b in ((-np.inf, -sr), (-sr, np.inf)))

    return ov


def test_sparse_rademacher_saddle_nodes_vs_quad():
    """Spinodal and algorithmic threshold of sparse Rademacher rho = 0.05 (spiked Wigner, Delta = 1)
    against an independent computation with adaptive quadrature: the snr where the local extremum of
    g(m) = ov(snr m) - m touches 0 (scan on 60 points, bounded Brent in m, brentq in snr).  Measured:
    spinodal 288.56696195 (library 288.56696226: 1.1e-9 relative, the 80-node Gauss-Hermite error of
    the library's overlap at r ~ 6), algorithmic 402.16300477 (agreement 1e-13); the former grid
    locator gave 288.56726 (1.0e-6) and 402.14496 (4.5e-5)."""
    import warnings

    from scipy.optimize import brentq, minimize_scalar

    rho = 0.05
    ov = _sparse_overlap_quad(rho)
    g = lambda m, s: ov(s * m) - m

    def ext(s, lo, hi, sgn):
        ms = np.linspace(lo, hi, 60)
        j = int(np.clip(np.argmax([sgn * g(m, s) for m in ms]), 1, 58))
        r = minimize_scalar(lambda m: -sgn * g(m, s), bounds=(ms[j - 1], ms[j + 1]), method="bounded",
                            options={"xatol": 1e-13})
        return -sgn * r.fun

    t = sv.phase_transitions(sv.SpikedWigner(SparseRademacher(rho), 1.0), sv.BayesOptimal(), snr=(100.0, 600.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sp = brentq(lambda s: ext(s, 0.2 * rho, 0.95 * rho, 1.0), 285.0, 292.0, xtol=1e-11)
        # (the scan starts at 2e-3 rho: below, g ~ (snr rho^2 - 1) m is positive but tiny and would
        # pass for the minimum on a coarse scan)
        alg = brentq(lambda s: ext(s, 2e-3 * rho, 0.05 * rho, -1.0), 401.0, 403.5, xtol=1e-11)
    assert abs(t["spinodal"] - sp) < 1e-8 * sp, (t["spinodal"], sp)
    assert abs(t["algorithmic"] - alg) < 1e-10 * alg, (t["algorithmic"], alg)


_LEGACY_SLOW = {
    # thresholds of the former grid locator (see tests/test_lowrank.py::_LEGACY)
    "gauss_bernoulli_0.2": (sv.SpikedWigner(sv.priors.GaussBernoulli(0.2), 1.0), (5.0, 60.0),
                            dict(information_theoretic=23.462217342624655, algorithmic=25.277539098098835,
                                 spinodal=23.108539729443095)),
    "sparse_profile": (sv.SpikedWigner(SparseRademacher(0.05), 1.0,
                                       profile=sv.NoiseProfile([[1.0, 4.0], [4.0, 0.5]], [0.4, 0.6])), (50.0, 600.0),
                       dict(information_theoretic=246.43519548430203, algorithmic=330.0697325770384,
                            spinodal=238.0205095998653)),
}


@pytest.mark.parametrize("name", sorted(_LEGACY_SLOW))
def test_thresholds_regression_slow(name):
    """As test_thresholds_regression: the saddle-node values (one-dimensional states) move by up to
    2.6e-4 relative (Gauss-Bernoulli: the plain SE iteration confirms the new values: at the midpoint
    between old and new spinodal the informative branch exists, at the midpoint between old and new
    algorithmic thresholds the uninformative branch stays at overlap 0.021); block profiles keep the
    k-section values for spinodal / algorithmic; the crossing moves within the k-section resolution."""
    prob, rng, old = _LEGACY_SLOW[name]
    t = sv.phase_transitions(prob, sv.BayesOptimal(), snr=rng)
    assert t["order"] == "first"
    for k in ("spinodal", "algorithmic"):
        assert abs(t[k] - old[k]) < 1e-3 * old[k], (k, t[k], old[k])
        if prob.noise_profile.n_blocks > 1:
            assert t[k] == old[k]
    assert abs(t["information_theoretic"] - old["information_theoretic"]) < 1.5e-6 * old["information_theoretic"]

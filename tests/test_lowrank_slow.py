"""Large-d checks of the spiked models (``-m slow``): AMP vs state evolution and PCA vs BBP at
d of a few thousand, where the finite-size allowances of the fast tests shrink."""
from __future__ import annotations

import numpy as np
import pytest

import solvable as sv
from solvable.priors import Gaussian, Rademacher, SparseRademacher
from solvable.theory.lowrank import state_evolution

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

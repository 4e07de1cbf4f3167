"""L1 / elastic-net ERM on Gaussian mixtures (issue 16): the soft-threshold penalty side against the
L2 side, against the GLM ERM engine's L1 side on one cluster, and against the finite-size FISTA
simulation (docs/mixtures.md)."""
import numpy as np
import pytest

import solvable as sv
from solvable.data import Mixture

P = 200


def _sparse_means(p=P, s=1.2, frac=0.1, seed=0):
    """Two clusters +-mu, mu a sparse dense-profile vector of norm s over p coordinates."""
    rng = np.random.default_rng(seed)
    mu = np.zeros((2, p))
    sup = rng.random(p) < frac
    mu[0, sup] = rng.standard_normal(sup.sum())
    mu[0] *= s / np.linalg.norm(mu[0])
    mu[1] = -mu[0]
    return mu


def test_elastic_net_at_vanishing_l1_is_the_l2_side():
    """l1 -> 0: the soft-threshold side (closed-form Gaussian moments) is the L2 side's formulas."""
    mix = Mixture(_sparse_means(), np.ones((2, P)), labels=[1, -1])
    pb = sv.GaussianMixture(mix, alpha=np.array([0.5, 2.0]))
    e = sv.predict(pb, sv.ERM("logistic", sv.penalties.ElasticNet(0.05, 1e-12)))
    lam = sv.predict(pb, sv.ERM("logistic", sv.penalties.L2(0.05 * (1 - 1e-12))))
    for f in ("m_0", "q_0", "V_0", "test_error", "train_loss"):
        np.testing.assert_allclose(e[f], lam[f], rtol=1e-8, err_msg=f)


@pytest.mark.parametrize("loss", ["square", "logistic"])
def test_one_cluster_is_the_glm_erm_l1_side(loss):
    """A zero-mean cluster with random labels is the GLM with Sign(flip=1/2) labels: L1 on isotropic
    data against the GLM ERM engine's own separable L1 side (Aubin et al. 2020)."""
    a = np.array([0.5, 1.5, 3.0])
    pb = sv.GaussianMixture(Mixture(np.zeros((1, 4)), np.ones((1, 4)), labels=[1.0]), alpha=a, labels="random")
    lr = sv.ERM(loss, sv.penalties.L1(0.2))
    m = sv.predict(pb, lr)
    g = sv.predict(sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(flip=0.5), alpha=a), lr)
    np.testing.assert_allclose(m.q_0, g.q, rtol=1e-7)
    np.testing.assert_allclose(m.V_0, g.V, rtol=1e-7)
    np.testing.assert_allclose(m.train_loss, g.train_loss, rtol=1e-7)


@pytest.mark.parametrize("loss, bias", [("square", False), pytest.param("logistic", True, marks=pytest.mark.slow)])
def test_l1_theory_matches_simulation(loss, bias):
    """d = p = 200 (the means' profile exactly), sparse means, FISTA + support Newton at each seed
    (logistic with a bias: 9 s, slow; measured |z| <= 2.2 for both)."""
    mix = Mixture(_sparse_means(), np.ones((2, P)), [0.6, 0.4], labels=[1, -1])
    pb = sv.GaussianMixture(mix, alpha=1.0)
    lr = sv.ERM(loss, sv.penalties.L1(0.1), bias=bias)
    th, sim = sv.predict(pb, lr), sv.simulate(pb, lr, d=P, seeds=range(6))
    for f in ("m_0", "q_0", "test_error", "train_loss") + (("bias",) if bias else ()):
        z = (float(sim[f]) - float(th[f])) / max(float(sim.se(f)), 1e-9)
        assert abs(z) < 4.5, (f, float(sim[f]), float(th[f]), float(sim.se(f)))


def test_l1_errors():
    with pytest.raises(ValueError, match=r"L1 / elastic-net penalty .*\(K, p\) spectrum.*got scalar covariances"):
        sv.predict(sv.GaussianMixture(Mixture.symmetric(1.0), alpha=1.0), sv.ERM("logistic", sv.penalties.L1(0.1)))

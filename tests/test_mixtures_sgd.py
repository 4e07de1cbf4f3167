"""Online SGD of a two-layer network on Gaussian mixtures (Refinetti, Goldt, Krzakala, Zdeborova,
ICML 2021) and random features on mixtures: the ODEs against the committee ODEs and against a
Monte Carlo drift, the quadrature's convergence, ODE against simulation, the random-features
Gaussian equivalent against actual random features.

Published values: the paper's results are curves (plots); the authors' code
(github.com/mariaref/rfvs2lnn_GMM_online) ships no numbers for these settings, so none are
checked here (the oracle XOR error bounds the network from below instead)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

import solvable as sv
from solvable.core.contract import run_dynamics
from solvable.families.mixtures.dynamics import MixtureSGD, sgd_mixture_metrics, sgd_mixture_rhs
from solvable.families.mixtures.problem import GaussianMixture
from solvable.families.mixtures.rf import random_features_mixture, simulate_random_features_mixture
from solvable.families.sgd.learner import OnlineSGD

XOR = sv.data.Mixture([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], covariances=0.05, labels=[1, 1, -1, -1])


def _xor_hetero():
    return sv.data.Mixture([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], covariances=[0.3, 0.5, 0.4, 0.6],
                           weights=[0.2, 0.3, 0.25, 0.25], labels=[1, 1, -1, -1])


# ----------------------------------------------------------------------------- independent computations
def test_one_zero_mean_cluster_is_the_committee_ode():
    """One zero-mean cluster with random labels = a committee teacher with second layer 0 and unit
    output noise (y = xi): the same Q and v to 1e-9, and mse = 2 eg + 1."""
    from solvable.families.sgd.equations import predict_committee_sgd
    from solvable.families.sgd.problem import Committee

    pb = GaussianMixture(sv.data.Mixture(np.zeros((1, 1)), labels=[1.0]), labels="random")
    ln = OnlineSGD(width=2, activation="erf", lr=0.5, train_second_layer=True, time=3.0, n_times=6, weight_decay=0.1)
    Q0, v0 = np.array([[1.0, 0.3], [0.3, 0.8]]), np.array([0.7, -0.4])
    mine = run_dynamics(MixtureSGD, pb, ln, Q0=Q0, M0=np.zeros((2, 1)), v0=v0, rtol=1e-10, atol=1e-12)
    ref = predict_committee_sgd(Committee(k=1, second_layer=[0.0], noise=1.0), ln, Q0=Q0, R0=np.zeros((2, 1)),
                                T=np.eye(1), v0=v0, rtol=1e-10, atol=1e-12)
    for k, (a, b) in {"Q_00": (0, 0), "Q_01": (0, 1), "Q_11": (1, 1)}.items():
        assert np.abs(mine[k] - ref.Q[:, a, b]).max() < 1e-9
    assert np.abs(mine.v_1 - ref.v[:, 1]).max() < 1e-9
    assert np.abs(mine.mse - (2 * ref.test_error + 1)).max() < 1e-9


def _mc_drift(W, v, mix, table, ln, d, n, rng):
    """Monte Carlo of the per-step drift at finite d: d E[increment] of M, Q, v (first-order terms
    and the quadratic term with |x|^2/d replaced by its limit s_a), with standard errors."""
    act, c, lr = ln.activation, ln.output_scale, ln.lr
    mu, _ = mix.embed(d)
    samples = {"M": [], "Q": [], "v": []}
    for _ in range(n // 20000):
        X, cl, _ = mix.sample(20000, d, rng)
        y = np.where(rng.random(20000) < table[cl, 0], 1.0, -1.0)
        lam = X @ W.T / np.sqrt(d)
        g, gp = act(lam), act.derivative(lam)
        delta = y - c * g @ v
        a = c * v * gp * delta[:, None]  # (n, K)
        nu = X @ mu.T  # x . mu_b
        s = mix.covariances[cl]
        lin = a[:, :, None] * lam[:, None, :]
        samples["M"].append(lr * a[:, :, None] * nu[:, None, :])
        samples["Q"].append(lr * (lin + np.swapaxes(lin, 1, 2)) + lr**2 * s[:, None, None] * a[:, :, None] * a[:, None, :])
        samples["v"].append(ln.lr * c * g * delta[:, None])
    out = {}
    for k, lst in samples.items():
        z = np.concatenate(lst)
        out[k] = (z.mean(axis=0), z.std(axis=0) / np.sqrt(len(z)))
    return out


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_drift_against_monte_carlo(act):
    """The right-hand side at the overlaps of a finite-d W equals the Monte Carlo mean of the SGD
    increments (actual inputs, heteroscedastic XOR, unequal weights, label noise): an independent
    check of the regression of x . mu_b on the local fields and of the quadrature."""
    rng = np.random.default_rng(1)
    mix, d = _xor_hetero(), 100
    pb = GaussianMixture(mix, flip=0.1)
    ln = OnlineSGD(width=3, activation=act, lr=0.7, train_second_layer=True)
    W = rng.standard_normal((3, d)) * 0.8
    W[0, 0] += 6.0
    W[1, 1] -= 5.0
    v = np.array([1.0, -0.6, 0.4])
    mu, _ = mix.embed(d)
    Q, M = W @ W.T / d, W @ mu.T / np.sqrt(d)
    dM, dQ, dv, _ = sgd_mixture_rhs(M, Q, v, pb, ln)
    mc = _mc_drift(W, v, mix, pb.label_table, ln, d, 200000, rng)
    for name, th in (("M", dM), ("Q", dQ), ("v", dv)):
        m, se = mc[name]
        assert np.all(np.abs(th - m) <= 4 * se + 1e-12), (name, th, m, se)


def test_quadrature_converges_in_nodes():
    rng = np.random.default_rng(2)
    pb = GaussianMixture(_xor_hetero(), flip=0.1)
    M, v = 0.4 * rng.standard_normal((3, 4)), np.array([1.0, -0.5, 0.8])
    Q = np.eye(3) + 0.2
    ln = OnlineSGD(width=3, activation="erf", lr=0.5, train_second_layer=True)
    # erf: the default (14 nodes per dimension for K = 3) within 3e-9 of 40 nodes, 24 within 2e-12
    ref = sgd_mixture_rhs(M, Q, v, pb, ln, n_nodes=40)
    for n, tol in ((None, 3e-9), (24, 2e-12)):
        for x, y in zip(sgd_mixture_rhs(M, Q, v, pb, ln, n_nodes=n), ref):
            assert np.max(np.abs(np.asarray(x) - np.asarray(y))) < tol
    # ReLU: Gauss-Legendre along xi_1 split at the kinks, Gauss-Hermite across (whose integrand has
    # kinks left): algebraic convergence, 5.5e-4 at the default (dQ ~ 0.15), 1.1e-4 at 30 nodes
    lr_ = OnlineSGD(width=3, activation="relu", lr=0.5, train_second_layer=True)
    ref = sgd_mixture_rhs(M, Q, v, pb, lr_, n_nodes=40)
    gaps = [max(np.max(np.abs(np.asarray(x) - np.asarray(y))) for x, y in zip(sgd_mixture_rhs(M, Q, v, pb, lr_, n_nodes=n), ref))
            for n in (None, 30)]
    assert gaps[0] < 1e-3 and gaps[1] < gaps[0] / 3


@pytest.mark.parametrize("act", ["erf", "relu"])
def test_zero_one_error_against_monte_carlo(act):
    rng = np.random.default_rng(3)
    mix = _xor_hetero()
    pb = GaussianMixture(mix, flip=0.05)
    ln = OnlineSGD(width=2, activation=act)
    M, v = np.array([[0.9, -0.8, 0.1, 0.0], [0.1, 0.0, 0.9, -1.0]]), np.array([1.0, -1.0])
    Q = np.array([[1.0, 0.2], [0.2, 0.9]])
    err, err_c, _ = sgd_mixture_metrics(M, Q, v, pb, ln)
    L = np.linalg.cholesky(Q)
    tab = pb.label_table
    n = 400000
    for a in range(4):
        lam = M[:, a] + np.sqrt(mix.covariances[a]) * rng.standard_normal((n, 2)) @ L.T
        phi = ln.activation(lam) @ v
        e = tab[a, 0] * (phi <= 0) + tab[a, 1] * (phi >= 0)
        assert abs(e.mean() - err_c[a]) <= 4 * e.std() / np.sqrt(n)
    # one unit: a Gaussian tail in closed form
    ln1 = OnlineSGD(width=1, activation=act)
    pb1 = GaussianMixture(sv.data.Mixture.symmetric(1.0, covariance=0.5))
    M1, Q1 = np.array([[0.7, -0.7]]), np.array([[1.3]])
    e1, _, _ = sgd_mixture_metrics(M1, Q1, np.ones(1), pb1, ln1)
    tail = ndtr(-0.7 / np.sqrt(0.5 * 1.3))
    # erf: a tail in each cluster; ReLU: phi >= 0, so the -1 cluster is always wrong (phi = 0 counts)
    assert abs(e1 - (tail if act == "erf" else 0.5 * (tail + 1.0))) < 1e-9


# ----------------------------------------------------------------------------- ODE against simulation
def _paired(pb, ln, d, seeds, fields, **opts):
    ths = [sv.predict(pb, ln, d=d, seed=s, **opts) for s in seeds]
    sim = [sv.simulate(pb, ln, d=d, seeds=[s]) for s in seeds]
    for k in fields:
        diff = np.array([np.asarray(r[k]) - np.asarray(t[k]) for r, t in zip(sim, ths)])
        m, se = diff.mean(axis=0), diff.std(axis=0, ddof=1) / np.sqrt(len(seeds))
        bad = np.abs(m) > 4 * se + 1e-12
        assert not bad[1:].any(), (k, m, se)


def test_ode_against_simulation_fast():
    """Seed by seed (same initial weights), the simulation at d = 300 minus the ODE has mean zero
    within 4 standard errors (two clusters, K = 2 erf, trained second layer)."""
    pb = GaussianMixture(sv.data.Mixture.symmetric(1.0, covariance=0.5))
    ln = OnlineSGD(width=2, activation="erf", lr=0.5, train_second_layer=True, time=4.0, n_times=4, t_min=0.5)
    _paired(pb, ln, 300, range(6), ["test_error", "mse", "Q_00", "Q_01", "M_00", "M_10", "v_0", "v_1"])


@pytest.mark.slow
def test_ode_against_simulation_every_option():
    """Mini-batches, weight decay, the mean normalisation, a second-layer learning rate, tanh, three
    heteroscedastic clusters of unequal weights and label noise: seed by seed at d = 400 within 4
    standard errors (measured: |z| <= 3.6 over 8 fields x 3 times)."""
    pb = GaussianMixture(sv.data.Mixture([[1.0, 0.3], [-0.5, 1.0], [0.2, -1.2]], covariances=[0.4, 0.7, 0.5],
                                         weights=[0.5, 0.2, 0.3], labels=[1, -1, -1]), flip=0.1)
    ln = OnlineSGD(width=3, activation="tanh", lr=0.8, batch_size=4, weight_decay=0.05, normalization="mean",
                   train_second_layer=True, lr_second=0.3, time=4.0, n_times=4, t_min=0.5)
    _paired(pb, ln, 400, range(8), ["test_error", "mse", "Q_00", "Q_12", "M_01", "M_22", "v_0", "v_2"])


@pytest.mark.slow
def test_ode_against_simulation_xor_relu():
    """The XOR mixture with K = 4 ReLU units at d = 1000 (the paper's setting, second layer trained
    from (1, 1, -1, -1)), seed by seed at t = 30, after the network has learned (an attractive
    fixed point).  Not during the escape from the plateau: there M = O(1/sqrt(d)) along an
    unstable direction and the SGD noise, of the same order, speeds the escape up (at t = 3 the
    test error of seed 0 is 0.037 below its ODE at d = 1000, 0.004 above at d = 4000, where the
    escape comes later): docs/mixtures.md."""
    pb = GaussianMixture(XOR)
    ln = OnlineSGD(width=4, activation="relu", lr=1.0, train_second_layer=True, times=[0.0, 30.0])
    v0 = [1.0, 1.0, -1.0, -1.0]
    ths = [sv.predict(pb, ln, d=1000, seed=s, v0=v0, rtol=1e-5, atol=1e-7) for s in range(6)]
    sim = [sv.simulate(pb, ln, d=1000, seeds=[s], v0=v0) for s in range(6)]
    for k in ["test_error", "mse", "Q_00", "Q_01", "v_0", "v_2"]:  # M_kb: a unit may take +mu or -mu
        diff = np.array([np.asarray(r[k]) - np.asarray(t[k]) for r, t in zip(sim, ths)])
        m, se = diff.mean(axis=0), diff.std(axis=0, ddof=1) / np.sqrt(6)
        assert np.abs(m[-1]) <= 4 * se[-1] + 1e-12, (k, m, se)


# ----------------------------------------------------------------------------- random features
def test_random_features_theory_against_simulation():
    """The feature-space Gaussian mixture (Gaussian equivalence per cluster, solved by MixtureERM)
    against actual random features (same F), two clusters, ReLU features, ridge with a bias."""
    pb = GaussianMixture(sv.data.Mixture.symmetric(1.0, covariance=0.5), alpha=2.0)
    ln = sv.ERM("square", sv.penalties.L2(0.1), bias=True)
    th = sv.predict(random_features_mixture(pb, "relu", p=120, d=60, seed=0), ln)
    runs = simulate_random_features_mixture(pb, ln, "relu", p=120, d=60, seed=0, seeds=range(8), n_test=20000)
    for k in ("test_error", "train_loss"):
        v = np.array([r[k] for r in runs])
        assert abs(v.mean() - th[k]) <= 4 * v.std(ddof=1) / np.sqrt(len(v)), (k, th[k], v.mean())


@pytest.mark.slow
def test_random_features_xor_against_simulation():
    pb = GaussianMixture(XOR, alpha=4.0)
    ln = sv.ERM("logistic", sv.penalties.L2(0.01), bias=True)
    th = sv.predict(random_features_mixture(pb, "relu", p=400, d=200, seed=0), ln)
    runs = simulate_random_features_mixture(pb, ln, "relu", p=400, d=200, seed=0, seeds=range(8), n_test=20000)
    v = np.array([r["test_error"] for r in runs])
    assert abs(v.mean() - th.test_error) <= 4 * v.std(ddof=1) / np.sqrt(len(v))
    assert th.test_error > 0.25  # the kernel is far from the network's ~0.002 (headline of Refinetti et al.)


# ----------------------------------------------------------------------------- errors
def test_clear_errors():
    ln = OnlineSGD(width=2)
    with pytest.raises(ValueError, match="scalar cluster covariances"):
        sv.predict(GaussianMixture(sv.data.Mixture.symmetric(1.0, covariance=[1.0, 0.5])), ln)
    with pytest.raises(ValueError, match="lr"):
        OnlineSGD(width=2, lr=-0.1)
    with pytest.raises(ValueError, match="spherical"):
        sv.predict(GaussianMixture(sv.data.Mixture.symmetric(1.0)), OnlineSGD(width=2, spherical=True))
    with pytest.raises(ValueError, match="labels"):  # K = 3 clusters without +-1 labels
        sv.predict(GaussianMixture(sv.data.Mixture(np.eye(3))), ln)
    with pytest.raises(ValueError, match="p must be an integer"):
        random_features_mixture(GaussianMixture(sv.data.Mixture.symmetric(1.0)), p=1.5, d=10)
    with pytest.raises(ValueError, match="initial overlaps"):
        sv.predict(GaussianMixture(sv.data.Mixture.symmetric(1.0)), ln, Q0=np.eye(3))

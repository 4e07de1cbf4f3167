"""ERM on Gaussian mixtures: closed forms, the GLM engine on one cluster, rotation invariance,
published values, and the finite-size simulation (docs/mixtures.md)."""
import numpy as np
import pytest
from scipy import optimize
from scipy.special import ndtr

import solvable as sv
from solvable.data import Mixture
from solvable.families.mixtures import bayes_error, bayes_optimal_error, separability_threshold
from solvable.families.erm.solvers import linearly_separable

L2 = sv.penalties.L2


def _one_cluster(p=1, ev=None):
    return sv.GaussianMixture(Mixture(np.zeros((1, p)), None if ev is None else ev[None], labels=[1.0]),
                              alpha=np.array([0.5, 1.5, 3.0]), labels="random")


# ---------------------------------------------------------------------------- separability
def test_separability_threshold_cover_and_gardner_gordon():
    assert separability_threshold(Mixture.symmetric(0.0)) == pytest.approx(2.0, abs=1e-10)  # Cover
    assert separability_threshold(Mixture.symmetric(0.5)) == pytest.approx(2.3412, abs=5e-5)  # the value

    def direct(s):  # the 1D formula, minimised independently
        g = lambda t: ((1 + (t * s) ** 2) * ndtr(-t * s) - t * s * np.exp(-(t * s) ** 2 / 2) / np.sqrt(2 * np.pi)) / (1 - t * t)
        return 1.0 / optimize.minimize_scalar(g, bounds=(0, 1 - 1e-12), method="bounded", options={"xatol": 1e-12}).fun

    for s in (0.3, 1.0, 2.0):
        assert separability_threshold(Mixture.symmetric(s)) == pytest.approx(direct(s), rel=1e-8)
    # the threshold is affine-invariant: a shared covariance acts through the whitened means
    ev = np.linspace(0.5, 2.0, 10)
    mix = Mixture.symmetric(1.0, covariance=ev)  # mu along an eigenvalue-0.5 direction
    assert separability_threshold(mix) == pytest.approx(separability_threshold(Mixture.symmetric(1.0 / np.sqrt(0.5))), rel=1e-8)
    # random labels ignore the means (Cover again)
    assert separability_threshold(Mixture.symmetric(2.0), labels="random") == pytest.approx(2.0, abs=1e-8)


def test_separability_threshold_against_lp_feasibility():
    s = 1.0
    ac = separability_threshold(Mixture.symmetric(s))
    rng = np.random.default_rng(3)
    d = 150
    frac = {}
    for a in (0.8 * ac, 1.2 * ac):
        hits = 0
        for _ in range(6):
            n = int(a * d)
            y = rng.choice([1.0, -1.0], n)
            X = rng.standard_normal((n, d))
            X[:, 0] += s * y
            hits += linearly_separable(X, y)
        frac[a] = hits / 6
    assert frac[0.8 * ac] >= 5 / 6 and frac[1.2 * ac] <= 1 / 6


# ---------------------------------------------------------------------------- closed forms and the GLM engine
def test_random_labels_square_loss_closed_form_and_universality():
    # lam -> 0: min training loss (1/2)(1 - 1/alpha) for alpha > 1, whatever the covariance and means
    expect = 0.5 * (1 - 1 / 1.5)
    assert expect == pytest.approx(0.166667, abs=1e-6)
    lr = sv.ERM("square", L2(1e-9))
    mixes = [Mixture(np.zeros((1, 1)), labels=[1.0]),  # one isotropic Gaussian
             Mixture(np.array([[1.0], [-1.0]])),  # two clouds +-e1, identity covariances
             Mixture(np.array([[1.0, 0], [0, 2.0]]), [0.5, 2.0], [0.3, 0.7]),  # heteroscedastic clouds
             Mixture(np.zeros((2, 40)), np.stack([np.linspace(0.1, 3, 40), np.ones(40)]))]  # anisotropic
    for mix in mixes:
        pr = sv.predict(sv.GaussianMixture(mix, alpha=1.5, labels="random"), lr)
        assert pr.train_loss == pytest.approx(expect, abs=1e-7), mix


@pytest.mark.parametrize("loss", ["square", "logistic", "hinge", "huber"])
@pytest.mark.parametrize("lam", [1e-2, 0.3])
def test_one_cluster_reproduces_erm_engine(loss, lam):
    """A zero-mean cluster with random labels is the GLM with Sign(flip=1/2) labels."""
    lr = sv.ERM(loss, L2(lam))
    for ev in (None, np.linspace(0.2, 2.0, 50)):
        a = sv.predict(_one_cluster(1 if ev is None else 50, ev), lr)
        glm = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(flip=0.5), alpha=np.array([0.5, 1.5, 3.0]),
                     data=None if ev is None else sv.data.Covariance(ev))
        b = sv.predict(glm, lr, n_nodes=200, rtol=1e-13, tol=1e-13)
        tol = 1e-8 if loss == "hinge" and lam < 0.1 else 1e-9  # hinge at small lam: the GLM engine's own accuracy
        np.testing.assert_allclose(a.q_0, b.q, rtol=tol)
        np.testing.assert_allclose(a.V_0, b.V, rtol=tol)
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=tol, atol=1e-12)


def test_bias_is_zero_by_symmetry_and_matches_no_bias():
    pb = sv.GaussianMixture(Mixture.symmetric(1.0), alpha=np.array([0.5, 2.0, 5.0]))
    for loss in ("logistic", "hinge", "square"):
        a = sv.predict(pb, sv.ERM(loss, L2(0.1), bias=True))
        b = sv.predict(pb, sv.ERM(loss, L2(0.1)))
        np.testing.assert_allclose(a.bias, 0.0, atol=1e-10)
        np.testing.assert_allclose(a.test_error, b.test_error, rtol=1e-10)


def test_square_loss_large_lam_is_bayes_optimal():
    """Ridge as lam -> infinity is w ~ sum_i y_i x_i, the Bayes-optimal direction of the symmetric
    mixture (Mignacco et al. 2020): its error is Phi(-s^2 / sqrt(s^2 + 1/alpha))."""
    a = np.array([0.3, 1.0, 4.0, 20.0])
    for s in (0.7, 1.5):
        pr = sv.predict(sv.GaussianMixture(Mixture.symmetric(s), alpha=a), sv.ERM("square", L2(1e7)))
        np.testing.assert_allclose(pr.test_error, bayes_optimal_error(s, a), rtol=1e-6)
        assert np.all(pr.test_error >= bayes_error(Mixture.symmetric(s)))
    assert bayes_error(Mixture.symmetric(1.0)) == pytest.approx(ndtr(-1.0), rel=1e-14)
    assert bayes_optimal_error(1.0, 1e12) == pytest.approx(ndtr(-1.0), rel=1e-6)
    # imbalanced: the oracle threshold shifts by log(rho+/rho-)/D
    mix = Mixture.symmetric(1.0, weight=0.8)
    grid = np.linspace(-3, 3, 200001)
    errs = 0.8 * ndtr(-(2 * 1.0 * 0 + 1.0 + grid)) + 0.2 * ndtr(-(1.0 - grid))
    assert bayes_error(mix) == pytest.approx(errs.min(), abs=1e-9)


def test_logistic_beats_chance_and_approaches_bayes():
    pr = sv.predict(sv.GaussianMixture(Mixture.symmetric(1.0), alpha=np.array([1.0, 10.0, 100.0])),
                    sv.ERM("logistic", L2(0.05)))
    assert np.all(np.diff(pr.test_error) < 0)
    assert pr.test_error[-1] - pr.bayes_error[-1] < 0.01


def test_full_covariances_agree_with_diagonal_and_rotations():
    rng = np.random.default_rng(0)
    p = 30
    ev = np.stack([np.linspace(0.3, 2.0, p), np.linspace(2.0, 0.5, p)])
    mu = rng.standard_normal((2, p)) / np.sqrt(p)
    diag = sv.GaussianMixture(Mixture(mu, ev, [0.4, 0.6]), alpha=np.array([0.7, 2.5]))
    full = sv.GaussianMixture(Mixture(mu, np.stack([np.diag(e) for e in ev]), [0.4, 0.6]), alpha=np.array([0.7, 2.5]))
    Q = np.linalg.qr(rng.standard_normal((p, p)))[0]
    rot = sv.GaussianMixture(Mixture(mu @ Q.T, np.stack([Q @ np.diag(e) @ Q.T for e in ev]), [0.4, 0.6]),
                             alpha=np.array([0.7, 2.5]))
    lr = sv.ERM("logistic", L2(0.1), bias=True)
    a, b, c = (sv.predict(pb, lr) for pb in (diag, full, rot))
    for f in ("m_0", "m_1", "q_0", "q_1", "V_0", "bias", "test_error", "train_loss"):
        np.testing.assert_allclose(b[f], a[f], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(c[f], a[f], rtol=1e-9, atol=1e-12)


def test_from_gram_matches_explicit_means():
    mu = np.array([[1.0, 0.5, 0.0], [-0.2, 0.3, 0.9], [0.0, -1.0, 0.4]])
    lab = [1, -1, 1]
    a = sv.predict(sv.GaussianMixture(Mixture(mu, [1.0, 0.5, 2.0], None, lab), alpha=2.0), sv.ERM("hinge", L2(0.2), bias=True))
    b = sv.predict(sv.GaussianMixture(Mixture.from_gram(mu @ mu.T, [1.0, 0.5, 2.0], None, lab), alpha=2.0),
                   sv.ERM("hinge", L2(0.2), bias=True))
    for f in ("q_0", "q_2", "bias", "test_error", "train_error"):
        assert a[f] == pytest.approx(b[f], rel=1e-10)
    # the Gram route realises every mean with its overlaps
    assert np.allclose(Mixture.from_gram(mu @ mu.T).gram, mu @ mu.T)


def test_quadrature_converged_at_small_lam():
    """40 nodes per piece against 400 (measured: 5e-11 at lam = 1e-3, 2.5e-8 at lam = 1e-4)."""
    pb = sv.GaussianMixture(Mixture.symmetric(1.0, weight=0.7), alpha=np.array([0.3, 1.0, 3.0, 10.0]))
    for lam, tol in ((1e-3, 1e-9), (1e-4, 1e-7)):
        lr = sv.ERM("logistic", L2(lam), bias=True)
        a, b = sv.predict(pb, lr), sv.predict(pb, lr, n_nodes=400)
        for f in ("q_0", "m_0", "bias", "train_loss"):
            np.testing.assert_allclose(a[f], b[f], rtol=tol, atol=1e-14)


def test_separable_hinge_with_bias_is_not_thrown_off():
    """Found in development: on separable data (alpha = 3 < alpha*) with a bias, a plain Newton
    step on b threw it to -4e14 and a tolerance relative to that "converged" (q_0 = 6.5e6); the
    scale-free solver variables and the bias trust region give the right point at any node count."""
    pb = sv.GaussianMixture(Mixture.symmetric(1.0, weight=0.7), alpha=np.array([0.3, 1.0, 3.0, 10.0]))
    lr = sv.ERM("hinge", L2(1e-3), bias=True)
    a, b = sv.predict(pb, lr), sv.predict(pb, lr, n_nodes=400)
    assert np.all(a.converged)
    for f in ("q_0", "m_0", "bias", "train_loss"):
        np.testing.assert_allclose(a[f], b[f], rtol=1e-9, atol=1e-12)
    assert a.q_0[2] == pytest.approx(36.0507, rel=1e-5) and abs(a.bias[2]) < 5


# ---------------------------------------------------------------------------- simulation
_CASES = {
    "logistic-bias-imbalanced": (sv.GaussianMixture(Mixture.symmetric(1.0, weight=0.75), alpha=2.0),
                                 sv.ERM("logistic", L2(0.1), bias=True)),
    "hinge-bias-flip": (sv.GaussianMixture(Mixture.symmetric(1.5, weight=0.7), alpha=3.0, flip=0.1),
                        sv.ERM("hinge", L2(0.05), bias=True)),
    "square-xor-heteroscedastic": (sv.GaussianMixture(Mixture(np.array([[1.0, 1], [-1, -1], [1, -1], [-1, 1]]),
                                                              [1.0, 0.5, 2.0, 1.0], [0.3, 0.2, 0.25, 0.25], [1, 1, -1, -1]),
                                                      alpha=2.0), sv.ERM("square", L2(0.1), bias=True)),
    "random-labels-logistic": (sv.GaussianMixture(Mixture.symmetric(1.0), alpha=3.0, labels="random"),
                               sv.ERM("logistic", L2(0.1))),
}


def _zscores(pb, lr, d, seeds, fields):
    th = sv.predict(pb, lr)
    sim = sv.simulate(pb, lr, d=d, seeds=seeds)
    return {f: (float(sim[f]) - float(th[f])) / max(float(sim.se(f)), 1e-3 * abs(float(th[f])) + 1e-9) for f in fields}


@pytest.mark.parametrize("case", list(_CASES))
def test_theory_matches_simulation(case):
    pb, lr = _CASES[case]
    d, seeds = (150, range(6)) if lr.loss.name == "hinge" else (200, range(8))
    z = _zscores(pb, lr, d, seeds, ["m_0", "q_0", "q_1", "bias", "test_error", "train_loss", "train_error"])
    assert all(abs(v) < 4.5 for v in z.values()), z


def test_theory_matches_simulation_full_covariance():
    rng = np.random.default_rng(1)
    p = 120
    ev = np.linspace(0.3, 2.0, p)
    Q = np.linalg.qr(rng.standard_normal((p, p)))[0]
    mu = np.zeros((2, p))
    mu[0, :4], mu[1, :4] = 0.6, -0.4
    pb = sv.GaussianMixture(Mixture(mu, np.stack([(Q * ev) @ Q.T, np.diag(ev[::-1])]), [0.4, 0.6]), alpha=2.0)
    z = _zscores(pb, sv.ERM("logistic", L2(0.1), bias=True), p, range(10), ["m_0", "m_1", "q_0", "q_1", "test_error"])
    assert all(abs(v) < 4.5 for v in z.values()), z


@pytest.mark.slow
def test_finite_size_gap_shrinks():
    pb, lr = _CASES["logistic-bias-imbalanced"]
    th = sv.predict(pb, lr)
    gaps = []
    for d in (100, 400, 1600):
        sim = sv.simulate(pb, lr, d=d, seeds=range(24 if d < 1600 else 8))
        gaps.append(abs(float(sim.test_error) - th.test_error) + 2 * float(sim.se("test_error")))
    assert gaps[-1] < gaps[0] and gaps[-1] < 0.01


def test_simulated_bias_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    from solvable.families.mixtures.experiment import MixtureERMExperiment

    pb = sv.GaussianMixture(Mixture.symmetric(1.0, weight=0.8), alpha=2.0)
    lr = sv.ERM("logistic", L2(0.5), bias=True)
    ex = MixtureERMExperiment(pb, lr, MixtureERMExperiment.Options())
    data = ex.sample(100, np.random.default_rng(0))
    w, b = ex.fit(data, None)
    ref = LogisticRegression(C=1 / 0.5, tol=1e-12, max_iter=10000).fit(data["X"] / 10.0, data["y"])
    assert b == pytest.approx(ref.intercept_[0], abs=2e-4)
    np.testing.assert_allclose(w, ref.coef_[0], atol=2e-4)


# ---------------------------------------------------------------------------- errors
def test_clear_errors():
    with pytest.raises(ValueError, match="not positive semi-definite"):
        Mixture(np.zeros((2, 2)), np.array([[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]))
    with pytest.raises(ValueError, match=r"sum to one.*0\.9"):
        Mixture(np.zeros((2, 1)), weights=[0.5, 0.4])
    with pytest.raises(ValueError, match="eigenvalue -1"):
        Mixture(np.zeros((2, 2)), np.array([[1.0, -1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="labels must be"):
        Mixture(np.zeros((2, 1)), labels=[1, 0])
    with pytest.raises(ValueError, match="every cluster has the same label"):
        sv.predict(sv.GaussianMixture(Mixture(np.ones((1, 1)), labels=[1.0]), alpha=2.0), sv.ERM("logistic", L2(0.1)))
    with pytest.raises(ValueError, match="'logistic' loss is for binary .* K = 3 classes"):  # multi-class: the cluster index
        sv.predict(sv.GaussianMixture(Mixture(np.eye(3)), alpha=2.0), sv.ERM("logistic", L2(0.1)))
    with pytest.raises(ValueError, match="L1 / elastic-net penalty .* got scalar covariances"):
        sv.predict(sv.GaussianMixture(Mixture.symmetric(1.0), alpha=2.0), sv.ERM("logistic", sv.penalties.L1(0.1)))
    with pytest.raises(ValueError, match=r"separability threshold alpha\* = 2\.34"):
        sv.predict(sv.GaussianMixture(Mixture.symmetric(0.5), alpha=1.0), sv.ERM("logistic", L2(0.0)))
    with pytest.raises(ValueError, match="bias=True is not supported"):
        sv.predict(sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=2.0), sv.ERM("logistic", L2(0.1), bias=True))
    with pytest.raises(ValueError, match="bias must be True or False"):
        sv.ERM("logistic", bias="yes")
    with pytest.raises(ValueError, match="simulate at d = 3"):
        sv.simulate(sv.GaussianMixture(Mixture(np.zeros((2, 3)), np.stack([np.eye(3)] * 2)), alpha=2.0),
                    sv.ERM("square", L2(0.1)), d=10, seeds=[0])


def test_non_convergence_is_reported_not_silent():
    pb = sv.GaussianMixture(Mixture.symmetric(1.0), alpha=2.0)
    with pytest.warns(sv.ConvergenceWarning):
        pr = sv.predict(pb, sv.ERM("logistic", L2(0.1)), max_iter=2, newton_iter=0)
    assert not pr.converged and np.isnan(pr.test_error)


def test_universality_gap_random_labels():
    hetero = sv.GaussianMixture(Mixture(np.array([[1.0, 0], [0, 2.0]]), [0.5, 2.0], [0.3, 0.7]),
                                alpha=np.array([1.5, 3.0]), labels="random")
    # square loss: the lam -> 0 training loss is universal, a finite lam is not
    g = sv.universality_gap(hetero, sv.ERM("square", L2(1e-8)))
    assert np.max(np.abs(g["gap"]["train_loss"])) < 1e-10
    assert np.min(np.abs(sv.universality_gap(hetero, sv.ERM("square", L2(1.0)))["gap"]["train_loss"])) > 1e-3
    # homoscedastic clouds: the labels carry nothing, so the mixture is its Gaussian equivalent at any lam
    homo = sv.GaussianMixture(Mixture(np.array([[1.0, 0], [0, 2.0]]), [1.5, 1.5], [0.3, 0.7]), alpha=3.0,
                              labels="random")
    g = sv.universality_gap(homo, sv.ERM("logistic", L2(0.3)))
    assert abs(float(g["gap"]["train_loss"])) < 1e-12
    with pytest.raises(ValueError, match="random and teacher labels"):
        sv.universality_gap(sv.GaussianMixture(Mixture.symmetric(1.0), alpha=2.0), sv.ERM("logistic", L2(0.1)))

"""ERM on a Gaussian mixture labelled by a single-index teacher (Pesce, Krzakala, Loureiro, Stephan
2023; issue 16): the GLM engine on one cluster, the least-squares training loss in closed form,
theory against the finite-size simulation, and clear errors (docs/mixtures.md)."""
import numpy as np
import pytest

import solvable as sv
from solvable.data import Mixture

L2 = sv.penalties.L2
ALPHA = np.array([0.5, 1.0, 2.0])


@pytest.mark.parametrize("loss, lam", [("logistic", 0.1), ("square", 0.5), ("hinge", 0.2)])
def test_one_cluster_is_the_glm_erm_engine(loss, lam):
    """One zero-mean cluster with the teacher's norm T = 2 is ERM on GLM(Gaussian(var 2), Sign),
    solved by the independent engine of solvable.families.erm (overlap, norm, errors, loss)."""
    pb = sv.GaussianMixture(Mixture(np.zeros((1, 1)), labels=[1.0]), alpha=ALPHA, labels="teacher", teacher_norm=2.0)
    p = sv.predict(pb, sv.ERM(loss, L2(lam)))
    g = sv.predict(sv.GLM(sv.priors.Gaussian(var=2.0), sv.channels.Sign(), alpha=ALPHA), sv.ERM(loss, L2(lam)))
    assert np.all(p.converged)
    for a, b in (("teacher_overlap", "m"), ("norm", "q"), ("test_error", "test_error"), ("train_loss", "train_loss")):
        np.testing.assert_allclose(p[a], g[b], rtol=1e-8, atol=1e-12, err_msg=a)


def test_least_squares_training_loss_closed_form():
    """Square loss, lam -> 0, alpha > 1: the training loss is (1/2)(1 - 1/alpha) times the
    residual variance of the best linear predictor (Pesce et al. 2023, the universality of the
    least-squares training error).  A teacher orthogonal to the means (a = 0) with sign labels:
    the clusters carry no information on y and the bulk explains 2/pi of its variance, so
    (1/2)(1 - 1/alpha)(1 - 2/pi), whatever the means and weights."""
    mix = Mixture(np.array([[1.5, 0.0], [-0.5, 1.0]]), None, [0.3, 0.7], labels=[1, -1])
    a = np.array([2.0, 3.0, 5.0])
    p = sv.predict(sv.GaussianMixture(mix, alpha=a, labels="teacher"), sv.ERM("square", L2(1e-9), bias=True))
    np.testing.assert_allclose(p.train_loss, 0.5 * (1 - 1 / a) * (1 - 2 / np.pi), rtol=1e-7)


def test_aligned_teacher_uses_the_means():
    """A teacher with a component along the means: the student's means overlap m_k follow the
    teacher's means t_k = mu_k . a in sign, and the error is below the orthogonal teacher's."""
    mix = Mixture.symmetric(1.5)
    le = sv.ERM("logistic", L2(0.1), bias=True)
    al = sv.predict(sv.GaussianMixture(mix, alpha=2.0, labels="teacher", teacher=[0.8]), le)
    orth = sv.predict(sv.GaussianMixture(mix, alpha=2.0, labels="teacher", teacher=[0.0]), le)
    assert float(al.m_0) > 0 > float(al.m_1) and abs(float(orth.m_0)) < 1e-10
    assert float(al.test_error) < float(orth.test_error)


@pytest.mark.parametrize("teacher", [[0.0, 0.0], [0.8, 0.0]], ids=["orthogonal", "aligned"])
def test_theory_matches_simulation(teacher):
    """d = 300, 8 seeds, heteroscedastic and imbalanced clusters, logistic with a bias (measured
    |z| <= 2 in development)."""
    mix = Mixture(np.array([[1.0, 0.0], [-1.0, 0.5]]), [1.0, 1.5], [0.6, 0.4], labels=[1, -1])
    pb = sv.GaussianMixture(mix, alpha=2.0, labels="teacher", teacher=teacher, teacher_norm=1.0)
    le = sv.ERM("logistic", L2(0.1), bias=True)
    th, sim = sv.predict(pb, le), sv.simulate(pb, le, d=300, seeds=range(8))
    for f in ("m_0", "m_1", "norm", "teacher_overlap", "bias", "test_error", "train_loss", "train_error"):
        z = (float(sim[f]) - float(th[f])) / max(float(sim.se(f)), 1e-9)
        assert abs(z) < 4.5, (f, float(sim[f]), float(th[f]), float(sim.se(f)))


def test_teacher_errors():
    with pytest.raises(ValueError, match="scalar covariances"):
        sv.GaussianMixture(Mixture(np.zeros((2, 2)), np.ones((2, 2)) * [[1.0], [2.0]]), labels="teacher")
    with pytest.raises(ValueError, match="teacher must be a finite vector of the means' dimension 1"):
        sv.GaussianMixture(Mixture.symmetric(1.0), labels="teacher", teacher=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"teacher_norm .* >= \|teacher\|\^2 = 4"):
        sv.GaussianMixture(Mixture.symmetric(1.0), labels="teacher", teacher=[2.0], teacher_norm=1.0)
    with pytest.raises(ValueError, match="must be a Sign channel"):
        sv.GaussianMixture(Mixture.symmetric(1.0), labels="teacher", channel=sv.channels.Linear(0.1))
    with pytest.raises(ValueError, match="teacher and channel are for labels='teacher'"):
        sv.GaussianMixture(Mixture.symmetric(1.0), teacher=[1.0])
    with pytest.raises(ValueError, match="label noise is the channel's"):
        sv.GaussianMixture(Mixture.symmetric(1.0), labels="teacher", flip=0.1)
    with pytest.raises(ValueError, match="needs lam > 0"):
        sv.predict(sv.GaussianMixture(Mixture.symmetric(1.0), alpha=1.0, labels="teacher"),
                   sv.ERM("hard_margin", L2(1.0)))

"""Several ERM estimators at once (solvable.families.joint): the published pair-bootstrap
overlaps of ridge, an independent solve of the ridge equations, exact identities (identical
learners, fresh data, one estimator = the ERM engine, r = 1), the cubature's convergence, clear
errors, and theory against real bootstrap / subsampling simulations (docs/joint.md)."""
import numpy as np
import pytest
from scipy.stats import poisson

import solvable as sv
from solvable.families.joint import FreshData, Full, JointERM, PairBootstrap, Subsampling

L2 = sv.penalties.L2
G = sv.priors.Gaussian()


def _ridge_bootstrap_reference(alpha, noise, lam, p_max=8, iters=4000):
    """The two-estimator ridge equations written out independently (Clarte et al. 2024, eqs. (8)-(9)
    for the square loss: every expectation in closed form), iterated to round-off."""
    k = np.arange(p_max + 1.0)
    pk = poisson.pmf(k, 1.0)
    pk /= pk.sum()
    m, Q, V = 0.1, np.array([[0.5, 0.2], [0.2, 0.5]]), 1.0
    for _ in range(iters):
        g = k / (1 + V * k)
        Vh = alpha * pk @ g
        mh = Vh
        Qh = alpha * np.array([[pk @ g ** 2 * (1 + noise - 2 * m + Q[0, 0]), (pk @ g) ** 2 * (1 + noise - 2 * m + Q[0, 1])],
                               [0, 0]])
        Qh[1] = Qh[0][::-1]
        V = 1 / (lam + Vh)
        m = mh * V
        Q = (mh ** 2 + Qh) * V ** 2
    return m, Q


def test_pair_bootstrap_ridge_published_and_independent():
    """alpha = 1, noise 1, lam = 0.1, rho = 1, Poisson(1) weights truncated at 8.  The fixed point is
    Q = [[1.3562764, 0.7997994], ...]; the published [[1.35642, 0.79981], ...] (Clarte et al. 2024,
    the authors' Julia package BootstrapAsymptotics) is their state evolution stopped at its default
    relative tolerance 1e-4 after 18 undamped steps: run that way, these equations give 1.35642011 and
    0.79980773 (docs/joint.md).  Hence the published check at 2e-4, the exact one at 1e-12."""
    pb = sv.GLM(G, sv.channels.Linear(1.0), alpha=1.0)
    r = sv.predict(pb, JointERM(sv.ERM("square", L2(0.1)), weights=PairBootstrap()))
    assert abs(r.q_0_0 - 1.35642) < 2e-4 and abs(r.q_0_1 - 0.79981) < 2e-4
    m, Q = _ridge_bootstrap_reference(1.0, 1.0, 0.1)
    np.testing.assert_allclose([r.m_0, r.m_1, r.q_0_0, r.q_0_1, r.q_1_1], [m, m, Q[0, 0], Q[0, 1], Q[1, 1]], atol=1e-12)
    np.testing.assert_allclose(r.variance, Q[0, 0] - Q[0, 1], atol=1e-12)


@pytest.mark.parametrize("loss, channel", [("square", sv.channels.Linear(0.5)), ("logistic", sv.channels.Sign()),
                                           ("logistic", sv.channels.Probit(0.3))])
def test_one_estimator_is_the_erm_engine(loss, channel):
    pb = sv.GLM(G, channel, alpha=np.array([0.5, 3.0]))
    e = sv.predict(pb, sv.ERM(loss, L2(0.2)), tol=1e-14, rtol=0.0)
    r = sv.predict(pb, JointERM(sv.ERM(loss, L2(0.2)), weights=Full(), K=1))
    for a, b in (("m", "m_0"), ("q", "q_0_0"), ("V", "V_0"), ("test_error", "test_error_0"), ("train_loss", "train_loss_0")):
        np.testing.assert_allclose(r[b], e[a], rtol=1e-10, atol=1e-12, err_msg=a)


@pytest.mark.parametrize("loss, channel", [("square", sv.channels.Linear(0.5)), ("logistic", sv.channels.Sign())])
def test_identities(loss, channel):
    """Identical learners on the same data: Q_12 = Q_11 (variance 0); disjoint data sets: Q_12 =
    m_1 m_2 / rho (the variance is then the true one, q - m^2 / rho, of ERM on n samples);
    Subsampling(1) is Full()."""
    pb = sv.GLM(G, channel, alpha=np.array([0.7, 2.5]))
    erm = sv.ERM(loss, L2(0.3))
    same = sv.predict(pb, JointERM(erm, weights=Full()))
    np.testing.assert_allclose(same.q_0_1, same.q_0_0, rtol=1e-12)
    np.testing.assert_allclose(same.variance, 0.0, atol=1e-11)
    fresh = sv.predict(pb, JointERM(erm, weights=FreshData()))
    np.testing.assert_allclose(fresh.q_0_1, fresh.m_0 * fresh.m_1, rtol=1e-11)
    np.testing.assert_allclose(fresh.q_0_0, same.q_0_0, rtol=1e-11)
    np.testing.assert_allclose(fresh.variance, same.q_0_0 - same.m_0 ** 2, rtol=1e-10)
    sub = sv.predict(pb, JointERM(erm, weights=Subsampling(1.0)))
    np.testing.assert_allclose(sub.q_0_1, same.q_0_1, rtol=1e-12)


def test_bootstrap_logistic_cubature_converges():
    """The cross term's 2D rule (cut where the teacher's conditional mean crosses 0): 40 against 64
    nodes per piece, all fields (measured 7e-14 at alpha = 2, 40 against 80, the full bootstrap law):
    the bootstrap variance, a difference of O(1) numbers, is resolved far below 1e-8.  alpha = 20 is
    the nearly-perfect-overlap regime where the step of Z0 is narrow (extra cuts)."""
    pb = sv.GLM(G, sv.channels.Sign(), alpha=np.array([2.0, 20.0]))
    lr = JointERM(sv.ERM("logistic", L2(0.1)), weights=PairBootstrap(3))
    a, b = sv.predict(pb, lr), sv.predict(pb, lr, n_nodes=64)
    for f in a:
        np.testing.assert_allclose(a[f], b[f], atol=1e-10, err_msg=f)


def test_errors():
    lin = sv.GLM(G, sv.channels.Linear(1.0), alpha=1.0)
    with pytest.raises(ValueError, match="'hinge' loss"):
        sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=1.0), JointERM(sv.ERM("hinge", L2(0.1))))
    with pytest.raises(ValueError, match="only the L2 penalty"):
        JointERM(sv.ERM("square", sv.penalties.L1(0.1)))
    with pytest.raises(ValueError, match=r"r must be in \(0, 1\], got r=0"):
        Subsampling(0)
    with pytest.raises(ValueError, match="r=1.5"):
        Subsampling(1.5)
    with pytest.raises(ValueError, match="lam > 0, got lam=0"):
        sv.predict(lin, JointERM(sv.ERM("square", L2(0.0))))
    with pytest.raises(ValueError, match="needs a classification channel"):
        sv.predict(lin, JointERM(sv.ERM("logistic", L2(0.1))))
    with pytest.raises(ValueError, match="square loss only"):
        sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=1.0), JointERM(sv.ERM("logistic", L2(0.1)), labels="resampled"))
    with pytest.raises(ValueError, match="FreshData needs K >= 2"):
        JointERM(sv.ERM("square", L2(0.1)), weights=FreshData(), K=1)
    with pytest.raises(ValueError, match="weights must be a SampleWeights"):
        JointERM(sv.ERM("square", L2(0.1)), weights="bootstrap")
    with pytest.raises(ValueError, match="p_max must be an integer >= 1, got p_max=0"):
        PairBootstrap(0)
    with pytest.raises(ValueError, match="labels must be one of"):
        JointERM(sv.ERM("square", L2(0.1)), labels="fresh")


def _max_z(pb, lr, d, seeds):
    th, sim = sv.predict(pb, lr), sv.simulate(pb, lr, d=d, seeds=range(seeds))
    z = {f: (float(sim[f]) - float(th[f])) / float(sim.se(f)) for f in th
         if f != "alpha" and not f.startswith("V_") and float(sim.se(f)) > 0}
    worst = max(z, key=lambda f: abs(z[f]))
    return worst, z[worst]


@pytest.mark.parametrize("case", ["ridge_bootstrap", "ridge_resampled_labels", "logistic_bootstrap",
                                  "logistic_subsampling_k3"])
def test_theory_matches_simulation(case):
    """d = 200, 10 seeds, real bootstrap resamples (multinomial counts) and subsamples (without
    replacement).  Measured max |z| over all fields: 2.0 (ridge, bootstrap), 1.5 (logistic,
    bootstrap), 2.8 (logistic, subsampling r = 0.5, K = 3)."""
    lin = sv.GLM(G, sv.channels.Linear(1.0), alpha=1.0)
    sgn = sv.GLM(G, sv.channels.Sign(), alpha=2.0)
    pb, lr = {
        "ridge_bootstrap": (lin, JointERM(sv.ERM("square", L2(0.1)), weights=PairBootstrap())),
        "ridge_resampled_labels": (lin, JointERM((sv.ERM("square", L2(0.1)), sv.ERM("square", L2(1.0))),
                                                 weights=Subsampling(0.7), labels="resampled")),
        "logistic_bootstrap": (sgn, JointERM(sv.ERM("logistic", L2(0.1)), weights=PairBootstrap())),
        "logistic_subsampling_k3": (sgn, JointERM(sv.ERM("logistic", L2(0.1)), weights=Subsampling(0.5), K=3)),
    }[case]
    worst, z = _max_z(pb, lr, 200, 10)
    assert abs(z) < 4.0, (worst, z)

"""Ensembles of random-features learners with independent feature maps (JointERM(...,
features="independent"), Loureiro et al. 2022, sec. 5): the penalty side's factorised cross term
against explicit traces of sampled feature matrices (no freeness assumed), exact identities, clear
errors, and the theory against real ensembles (each learner its own F_k on the same data)."""
import numpy as np
import pytest

import solvable as sv
from solvable.families.joint import FreshData, JointERM, PairBootstrap
from solvable.families.joint.equations import JointERMTheory, JointOptions
from test_joint import _max_z  # the worst |z| over all fields of theory against simulation

L2 = sv.penalties.L2
G = sv.priors.Gaussian()


def _rf(channel, gamma, alpha=1.5):
    return sv.GLM(G, channel, alpha=alpha, data=sv.data.RandomFeatures("erf", gamma=gamma))


def _explicit_traces(pb, lr, d, seeds):
    """``(m_0, Q_00, Q_01)`` from the engine's conjugates (mhat, Qhat, Vhat at its fixed point) and the
    L2 side written with sampled matrices: ``w_k = A_k (mhat_k t_k + b_k)``, ``A_k = (lam + Vhat_k
    Omega_k)^-1``, ``Omega_k = mu1^2 F_k F_k^T / d + mu_*^2 I``, ``Omega_01 = mu1^2 F_0 F_1^T / d``,
    ``t_k = sqrt(p) mu1 F_k theta / d`` averaged over theta, ``Cov(b_0, b_1) = Qhat_01 Omega_01``; mean over
    ``seeds`` draws of ``(F_0, F_1)``.  Returns (explicit, engine)."""
    th = JointERMTheory(pb, lr, JointOptions())
    alpha = np.array([float(pb.alpha)])
    X, conv, _ = th.solve(alpha, th.starts(alpha)["uninformative"])
    assert conv.all()
    a = alpha * th.factor
    m, q, V, qc = th._split(X)
    mh, qh, Vh = th._diag_hats(a, X)
    qh01 = th._cross(0, 1, m, q, V, qc[:, 0], a)[0]
    c = pb.data.coefficients
    mu1, mus, rho = c["mu1"], c["mu_star"], th.rho
    p = int(round(pb.data.gamma * d))
    out = []
    for s in range(seeds):
        rng = np.random.default_rng(s)
        F = [rng.standard_normal((p, d)) for _ in range(2)]
        Om = [mu1 ** 2 * f @ f.T / d + mus ** 2 * np.eye(p) for f in F]
        O01 = mu1 ** 2 * F[0] @ F[1].T / d
        A = [np.linalg.inv(th.lams[k] * np.eye(p) + Vh[0, k] * Om[k]) for k in range(2)]
        AF = [A[k] @ F[k] for k in range(2)]
        m0 = mh[0, 0] * rho * mu1 ** 2 * np.sum(F[0] * AF[0]) / d ** 2
        q00 = (mh[0, 0] ** 2 * rho * mu1 ** 2 * np.sum(AF[0] * (Om[0] @ AF[0])) / d ** 2
               + qh[0, 0] * np.sum((A[0] @ Om[0]) * (A[0] @ Om[0]).T) / p)
        q01 = (mh[0, 0] * mh[0, 1] * rho * mu1 ** 2 * np.sum(AF[0] * (O01 @ AF[1])) / d ** 2
               + qh01 * np.sum((A[0] @ O01) * (A[1] @ O01.T).T) / p)
        out.append([m0, q00, q01])
    return np.mean(out, axis=0), np.array([m[0, 0], q[0, 0], qc[0, 0]])


@pytest.mark.parametrize("loss, gamma, d, tol", [("square", 0.5, 500, 2e-3), ("logistic", 2.0, 250, 4e-3)])
def test_factorised_cross_term_against_explicit_traces(loss, gamma, d, tol):
    """Measured gaps (square, gamma = 0.5; mean of 3 draws): 2e-3 at d = 250, 4e-4 at 500, 2e-4 at
    1,000 and 2,000; (square, gamma = 2): 1.7e-3, 4e-4, 4e-4, 1.4e-4 at d = 250 ... 2,000.  Dropping
    the 1/gamma of the Qhat term moves q_0_1 by 0.04 (gamma = 0.5) and 0.11 (gamma = 2)."""
    ch = sv.channels.Linear(0.25) if loss == "square" else sv.channels.Sign()
    ex, th = _explicit_traces(_rf(ch, gamma), JointERM(sv.ERM(loss, L2(0.05)), K=2, features="independent"), d, 3)
    np.testing.assert_allclose(ex, th, atol=tol * max(1.0, th[1]))


@pytest.mark.slow
def test_factorised_cross_term_against_explicit_traces_large_d():
    """The gap shrinks with d: d = 250 -> 2,000 (square loss, gamma = 0.5)."""
    pb = _rf(sv.channels.Linear(0.25), 0.5)
    lr = JointERM(sv.ERM("square", L2(0.05)), K=2, features="independent")
    gaps = [np.max(np.abs(np.subtract(*_explicit_traces(pb, lr, d, 3)))) for d in (250, 2000)]
    assert gaps[1] < 6e-4 and gaps[1] < gaps[0] / 3, gaps


def test_independent_maps_identities():
    """Independent maps on independent data: Qhat_01 = 0, so Q_01 = m_0 m_1 / rho exactly (the free
    traces' product); each learner alone is the shared-map engine; on one data set the two maps
    decorrelate the learners (Q_01 < the shared map's Q_01 = Q_00), and the ensemble beats one learner."""
    pb = _rf(sv.channels.Linear(0.25), 0.7, alpha=np.array([0.5, 1.5, 4.0]))
    lr = sv.ERM("square", L2(0.05))
    fresh = sv.predict(pb, JointERM(lr, weights=FreshData(), features="independent"))
    np.testing.assert_allclose(fresh.q_0_1, fresh.m_0 * fresh.m_1, rtol=1e-11)
    ind = sv.predict(pb, JointERM(lr, K=2, features="independent"))
    one = sv.predict(pb, lr)
    np.testing.assert_allclose([ind.m_0, ind.q_0_0, ind.test_error_0], [one.m, one.q, one.test_error], rtol=1e-9)
    shared = sv.predict(pb, JointERM(lr, K=2))
    np.testing.assert_allclose(shared.q_0_1, shared.q_0_0, rtol=1e-11)
    assert np.all(ind.q_0_1 < ind.q_0_0 - 1e-3) and np.all(ind.variance > 1e-3)
    assert np.all(ind.ensemble_test_error < ind.test_error_0)
    # the square loss's bias-variance split: one learner = infinite ensemble + variance
    np.testing.assert_allclose(ind.test_error_0, ind.bagged_test_error + ind.q_0_0 - ind.q_0_1, rtol=1e-10)


def test_independent_maps_errors():
    lr = sv.ERM("square", L2(0.1))
    with pytest.raises(ValueError, match="features='independent' needs random-features data"):
        sv.predict(sv.GLM(G, sv.channels.Linear(0.5), alpha=1.0), JointERM(lr, features="independent"))
    with pytest.raises(ValueError, match="features must be one of"):
        JointERM(lr, features="random")
    with pytest.raises(ValueError, match="features='independent' is for ERM"):
        JointERM((sv.BayesOptimal(), lr), features="independent")


CASES = {
    "ridge_gamma_0.5": (_rf(sv.channels.Linear(0.25), 0.5), JointERM(sv.ERM("square", L2(0.05)), K=2,
                                                                       features="independent")),
    "logistic_gamma_2_k3": (_rf(sv.channels.Sign(), 2.0), JointERM(sv.ERM("logistic", L2(0.05)), K=3,
                                                                    features="independent")),
    "ridge_bagged_maps": (_rf(sv.channels.Linear(0.25), 1.5), JointERM(sv.ERM("square", L2(0.05)),
                                                                         weights=PairBootstrap(), features="independent")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_independent_maps_theory_matches_simulation(case):
    """Real ensembles: K maps F_k drawn on the same inputs, each learner fitted on its own features,
    cross overlaps by the exact cross kernel of two maps (Mehler).  d = 150, 10 seeds."""
    worst, z = _max_z(*CASES[case], 150, 10)
    assert abs(z) < 4.0, (case, worst, z)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_independent_maps_theory_matches_simulation_large_d(case):
    """d = 600, 12 seeds."""
    worst, z = _max_z(*CASES[case], 600, 12)
    assert abs(z) < 4.0, (case, worst, z)

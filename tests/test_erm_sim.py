"""ERM: finite-size solvers (KKT, library mappings) and theory vs simulation."""
from __future__ import annotations

import numpy as np
import pytest

import solvable as sv
from solvable.families.erm.solvers import kkt_residual, solve_erm

G = sv.priors.Gaussian()


def _data(rng, n=300, P=120, classification=False):
    A = rng.standard_normal((n, P)) / np.sqrt(P)
    th = rng.standard_normal(P)
    z = A @ th
    y = np.sign(z + 0.3 * rng.standard_normal(n)) if classification else z + 0.5 * rng.standard_normal(n)
    return A, y


@pytest.mark.parametrize("loss,pen,cls", [
    (sv.losses.Square(), sv.penalties.L2(0.1), False),
    (sv.losses.Square(), sv.penalties.L2(0.0), False),
    (sv.losses.Logistic(), sv.penalties.L2(0.05), True),
    (sv.losses.Hinge(), sv.penalties.L2(0.05), True),
    (sv.losses.Hinge(), sv.penalties.L2(1e-3), True),
    (sv.losses.Huber(0.5), sv.penalties.L2(0.1), False),
    (sv.losses.Absolute(), sv.penalties.L2(0.1), False),
    (sv.losses.Square(), sv.penalties.L1(0.5), False),
    (sv.losses.Logistic(), sv.penalties.ElasticNet(0.5, 0.5), True),
])
def test_solvers_satisfy_kkt(loss, pen, cls):
    A, y = _data(np.random.default_rng(3), classification=cls)
    w = solve_erm(loss, pen, A, y)
    assert kkt_residual(loss, pen, A, y, w) < 1e-7


def test_kkt_residual_detects_a_wrong_solution():
    A, y = _data(np.random.default_rng(4), classification=True)
    w = solve_erm(sv.losses.Hinge(), sv.penalties.L2(0.05), A, y)
    assert kkt_residual(sv.losses.Hinge(), sv.penalties.L2(0.1), A, y, w) > 1e-2  # another lam
    assert kkt_residual(sv.losses.Hinge(), sv.penalties.L2(0.05), A, y, 1.01 * w) > 1e-3


def test_library_parameter_mappings():
    """lam <-> scikit-learn: LogisticRegression(C=1/lam), LinearSVC(C=1/lam), ElasticNet(alpha=lam/n)."""
    from sklearn.linear_model import ElasticNet, LogisticRegression
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(5)
    A, y = _data(rng, classification=True)
    lam = 0.05
    w = solve_erm(sv.losses.Logistic(), sv.penalties.L2(lam), A, y)
    sk = LogisticRegression(C=1 / lam, fit_intercept=False, tol=1e-12, max_iter=10000).fit(A, y).coef_[0]
    assert np.linalg.norm(sk - w) < 1e-5 * np.linalg.norm(w)
    w = solve_erm(sv.losses.Hinge(), sv.penalties.L2(lam), A, y)
    sk = LinearSVC(C=1 / lam, loss="hinge", fit_intercept=False, tol=1e-10, max_iter=10**6, dual=True).fit(A, y).coef_[0]
    assert np.linalg.norm(sk - w) < 1e-3 * np.linalg.norm(w)
    assert kkt_residual(sv.losses.Hinge(), sv.penalties.L2(lam), A, y, w) < kkt_residual(
        sv.losses.Hinge(), sv.penalties.L2(lam), A, y, sk) + 1e-12
    A, y = _data(rng)
    n = len(y)
    pen = sv.penalties.ElasticNet(2.0, 0.7)
    w = solve_erm(sv.losses.Square(), pen, A, y)
    sk = ElasticNet(alpha=2.0 / n, l1_ratio=0.7, fit_intercept=False, tol=1e-14, max_iter=10**6).fit(A, y).coef_
    assert np.linalg.norm(sk - w) < 1e-6 * np.linalg.norm(w)


# theory vs simulation ------------------------------------------------------------------------
# Tolerance: 4 standard errors of the seed mean plus a finite-size allowance c (1 + |theory|) / d
# with c = 3: the finite-d bias of ERM averages is O(1/d) (e.g. for ridge the finite Wishart
# resolvent differs from its Marchenko-Pastur limit by O(1/d)); fluctuations O(1/sqrt(d)) are in
# the standard error.
def _agree(th, sim, d, fields=("m", "q", "test_error", "train_loss")):
    for k in fields:
        tol = 4 * sim.se(k) + 3.0 * (1 + abs(th[k])) / d
        assert abs(th[k] - sim[k]) < tol, (k, th[k], sim[k], sim.se(k))


CASES = [
    ("square", 0.1, sv.channels.Linear(0.5), 2.0, None),
    ("logistic", 0.1, sv.channels.Sign(), 2.0, None),
    ("logistic", 0.05, sv.channels.Sign(0.2, 0.1), 3.0, None),
    ("hinge", 0.1, sv.channels.Sign(), 1.5, None),
    ("hinge", 1e-3, sv.channels.Sign(flip=0.5), 1.5, None),
    ("huber", 0.1, sv.channels.Linear(0.5), 2.0, None),
    ("absolute", 0.1, sv.channels.Linear(0.5), 1.5, None),
    ("square", 0.05, sv.channels.Sign(), 2.0, None),
    ("huber", 0.1, sv.channels.ReLU(0.1), 2.0, None),
    ("logistic", 0.1, sv.channels.Probit(), 2.0, sv.data.Covariance(np.linspace(0.3, 2.0, 50))),
    ("square", 0.1, sv.channels.Linear(0.2), 0.8, sv.data.GaussianCovariate(np.linspace(0.5, 1.5, 40),
                                                                            np.linspace(0.2, 1.0, 40), rho=1.0, ratio=0.5)),
]


@pytest.mark.parametrize("loss,lam,ch,alpha,data", CASES)
def test_theory_vs_simulation(loss, lam, ch, alpha, data):
    pb = sv.GLM(G, ch, alpha=alpha, data=data)
    lrn = sv.ERM(loss, sv.penalties.L2(lam))
    d = 200 if loss in ("hinge", "absolute") else 300
    th = sv.predict(pb, lrn)
    sim = sv.simulate(pb, lrn, d=d, seeds=4)
    _agree(th, sim, d)


@pytest.mark.parametrize("loss,ch,pen", [
    ("square", sv.channels.Linear(0.05), sv.penalties.L1(0.3)),
    ("logistic", sv.channels.Sign(0.1), sv.penalties.ElasticNet(0.3, 0.5)),
])
def test_l1_theory_vs_simulation(loss, ch, pen):
    pb = sv.GLM(sv.priors.GaussBernoulli(0.3), ch, alpha=0.7 if loss == "square" else 2.0)
    lrn = sv.ERM(loss, pen)
    th = sv.predict(pb, lrn)
    sim = sv.simulate(pb, lrn, d=400, seeds=4)
    _agree(th, sim, 400, fields=("m", "q", "mse", "train_loss"))


@pytest.mark.slow
@pytest.mark.parametrize("loss,lam,ch,alpha,data", [CASES[1], CASES[2], CASES[3], CASES[5], CASES[9]])
def test_theory_vs_simulation_large_d(loss, lam, ch, alpha, data):
    pb = sv.GLM(G, ch, alpha=alpha, data=data)
    lrn = sv.ERM(loss, sv.penalties.L2(lam))
    d = 1500
    th = sv.predict(pb, lrn)
    sim = sv.simulate(pb, lrn, d=d, seeds=3)
    _agree(th, sim, d)


def test_unregularised_logistic_on_separable_samples_is_an_error():
    """lam = 0 on a linearly separable sample: the minimiser does not exist (|w| diverges).  The
    simulation says so, as the theory does, instead of returning the iterate where L-BFGS stopped
    (it gave m = 46.6, q = 3826 with no warning)."""
    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=1.0)
    lrn = sv.ERM("logistic", sv.penalties.L2(0.0))
    with pytest.raises(ValueError, match="linearly separable"):
        sv.predict(pb, lrn)
    with pytest.raises(ValueError, match="sampled data are linearly separable"):
        sv.simulate(pb, lrn, d=100, seeds=1)
    from solvable.families.erm.solvers import linearly_separable

    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 20))
    assert linearly_separable(A, np.sign(A[:, 0])) and not linearly_separable(A, rng.choice([-1.0, 1.0], 300))


def test_absolute_loss_solver_is_exact_at_any_scale_of_the_labels():
    """Issue 26: the absolute loss is positively homogeneous, w(c y, lam / c) = c w(y, lam); the
    solver now works at the unit scale of y.  Labels of size 1e-4 (a sparse signal through a
    Square channel) put every point inside each of the fixed smoothing zones, and the active-set
    step then formed an n x n least-squares problem (n = 18,312: minutes, then a crash in LAPACK)."""
    rng = np.random.default_rng(3)
    n, P = 400, 40
    A = rng.normal(size=(n, P)) / np.sqrt(P)
    y = A @ rng.normal(size=P) + 0.3 * rng.normal(size=n)
    loss, pen = sv.losses.Absolute(), sv.penalties.L2(0.1)
    w = solve_erm(loss, pen, A, y)
    assert kkt_residual(loss, pen, A, y, w) < 1e-7
    for c in (1e-4, 1e3):
        wc = solve_erm(loss, sv.penalties.L2(0.1 / c), A, c * y)
        np.testing.assert_allclose(wc, c * w, rtol=1e-7, atol=1e-9 * c)


def test_absolute_loss_simulation_without_exact_kkt_point_is_a_clear_error():
    """Issue 26: GaussBernoulli(0.0059) x Square(0), alpha = 61, absolute loss: with n >> d and
    most residuals near zero the active-set refinement finds no exact KKT point; that is a
    ConvergenceError in a second (it crashed the process at d = 300), not a hang or a NaN."""
    import time

    pb = sv.GLM(sv.priors.GaussBernoulli(rho=0.0059), sv.channels.Square(0.0), alpha=61.04)
    t0 = time.perf_counter()
    try:
        r = sv.simulate(pb, sv.ERM("absolute", sv.penalties.L2(0.107)), d=60, seeds=[0])
    except sv.ConvergenceError as e:
        assert "KKT" in str(e)
    else:  # the piecewise solver returns only an exact KKT point of the active set
        assert np.all(np.isfinite(r.mean["m"]))
    assert time.perf_counter() - t0 < 30

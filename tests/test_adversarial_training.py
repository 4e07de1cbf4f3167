"""Adversarial training of linear classifiers (issue 18; Tanner, Vilucchio, Loureiro, Krzakala, AISTATS 2025):
the replica fixed point with the attack norm P and its conjugate Phat, checked three ways:

* against plain ERM at eps = 0, and against the ERM engine run on an independently written margin-shifted loss
  with the ridge lam + Phat (isotropic data and attack), with Phat itself from a Monte Carlo of the proximal step;
* against simulations (the exact adversarial-training estimator at finite d) on isotropic and block data with an
  attack geometry, per field and per block;
* the robust test error under a test geometry against attacked classifiers on fresh samples.

No published values of adversarial training were available to check against (the paper's figures only); the
plain-logistic robust error is checked against the published 0.179662 in test_adversarial.py."""
import numpy as np
import pytest
from scipy.special import expit

import solvable as sv
from solvable.blocks.losses import Loss
from solvable.families.erm import AdversarialERM, attack_norm, block_metrics, critical_eps, robust_test_error
from solvable.families.erm.equations import erm_theory
from solvable.families.erm.solvers import solve_adversarial

G = sv.priors.Gaussian()
BLOCKS = sv.data.BlockFeatures([0.4, 0.6], [1.5, 0.3], [1.0, 3.0])


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("data, attack", [(None, None), (BLOCKS, [1.0, 0.3]), (BLOCKS, None)])
def test_eps_zero_is_plain_erm(loss, data, attack):
    pb = sv.GLM(G, sv.channels.Probit(0.3), alpha=np.array([0.3, 2.0, 8.0]), data=data)
    r = sv.predict(pb, AdversarialERM(loss, sv.penalties.L2(0.05), eps=0.0, attack=attack))
    e = sv.predict(pb, sv.ERM(loss, sv.penalties.L2(0.05)))
    assert np.all(r.converged)
    for k in ("m", "q", "V", "test_error", "train_loss"):
        np.testing.assert_allclose(r[k], e[k], rtol=1e-7, err_msg=k)
    np.testing.assert_array_equal(r.Phat, 0.0)
    np.testing.assert_allclose(r.robust_test_error, r.test_error, rtol=1e-12)
    if data is None:
        np.testing.assert_allclose(r.P, r.q, rtol=1e-12)


class _ShiftedLogistic(Loss):
    """log(1 + exp(-(y z - c))), written independently: its proximal step by bisection in the margin."""

    is_classification = True

    def __init__(self, c):
        self.c = c

    def value(self, y, z):
        return np.logaddexp(0.0, -(y * z - self.c))

    def prox(self, y, omega, V):
        y, omega, V = np.broadcast_arrays(y, omega, V)
        a = y * omega - self.c  # margin u solves u = a + V sigmoid(-u), u in [a, a + V]
        lo, hi = a.copy(), a + V
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            up = mid - a - V * expit(-mid) < 0
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        return y * (0.5 * (lo + hi) + self.c)

    def dprox(self, y, omega, V):
        u = y * self.prox(y, omega, V) - self.c
        h = expit(u) * expit(-u)
        return 1.0 / (1.0 + V * h)


def test_against_shifted_loss_engine_and_monte_carlo():
    """Isotropic data and attack: the fixed point is the plain ERM one of the loss g(y z - c) with the ridge lam +
    Phat (c = eps sqrt(P)): the ERM engine on an independently written shifted logistic reproduces (m, q, V) to
    1e-7; Phat = alpha eps E[-g'(margin)] / sqrt(P) against 4e5 Monte Carlo draws of (z, omega) and the label."""
    alpha, lam, eps = 2.0, 0.1, 0.4
    pb = sv.GLM(G, sv.channels.Sign(), alpha=alpha)
    r = sv.predict(pb, AdversarialERM("logistic", sv.penalties.L2(lam), eps=eps))
    c = eps * np.sqrt(r.P)
    e = erm_theory(pb, sv.ERM(_ShiftedLogistic(c), sv.penalties.L2(lam + r.Phat)))
    for k in ("m", "q", "V"):
        np.testing.assert_allclose(e[k], r[k], rtol=1e-7, err_msg=k)
    rng = np.random.default_rng(1)
    N = 400_000
    z = rng.standard_normal(N)
    om = r.m * z + np.sqrt(r.q - r.m ** 2) * rng.standard_normal(N)
    y = np.sign(z)
    u = y * _ShiftedLogistic(c).prox(y, om, r.V) - c  # the training margins
    gp = expit(-u)  # -g'(u)
    est = alpha * eps * gp / np.sqrt(r.P)
    assert abs(est.mean() - r.Phat) < 4 * est.std() / np.sqrt(N), (est.mean(), r.Phat)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_solver_is_the_minimiser(loss):
    """The finite-size estimator: no random perturbation lowers the attacked objective; for logistic it agrees
    with a generic L-BFGS on an independently written objective."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    d, n, lam, eps = 60, 150, 0.1, 0.3
    X = rng.standard_normal((n, d))
    y = np.sign(X @ rng.standard_normal(d))
    A, D = X / np.sqrt(d), rng.uniform(0.2, 2.0, d)
    w = solve_adversarial(sv.losses.get_loss(loss), lam, A, y, eps, D)

    def F(v):
        marg = y * (A @ v) - eps * np.sqrt(v @ (D * v) / d)
        g = np.logaddexp(0.0, -marg) if loss == "logistic" else np.maximum(0.0, 1.0 - marg)
        return float(np.sum(g) + 0.5 * lam * v @ v)

    f = F(w)
    assert min(F(w + 1e-3 * rng.standard_normal(d)) for _ in range(30)) > f
    if loss == "logistic":
        ref = minimize(F, np.zeros(d) + 0.01, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 20000}).x
        assert F(ref) >= f - 1e-9
        np.testing.assert_allclose(ref, w, atol=2e-5)


def _zscores(pred, sim, keys):
    return {k: float((sim[k] - pred[k]) / sim.se(k)) for k in keys}


KEYS = ("m", "q", "P", "test_error", "robust_test_error", "train_loss")
CASES = [
    ("logistic", sv.GLM(G, sv.channels.Sign(), alpha=3.0, data=BLOCKS), 0.05, 0.3, [1.0, 0.3]),
    ("hinge", sv.GLM(G, sv.channels.Sign(), alpha=3.0, data=BLOCKS), 0.05, 0.3, [1.0, 0.3]),
    ("logistic", sv.GLM(G, sv.channels.Probit(0.2), alpha=1.0), 0.3, 0.5, None),
    ("hinge", sv.GLM(G, sv.channels.Probit(0.2), alpha=1.0), 0.3, 0.5, None),
]


@pytest.mark.parametrize("loss, pb, lam, eps, attack", CASES)
@pytest.mark.parametrize("d, seeds", [(200, 10), pytest.param(1000, 12, marks=pytest.mark.slow)])
def test_against_simulation(loss, pb, lam, eps, attack, d, seeds):
    """Every field within 4 standard errors of the simulation (d = 200, 10 seeds; measured at d = 300 with 40 seeds:
    the worst |z| was 2.0, the same finite-size offset of q as plain ERM)."""
    ln = AdversarialERM(loss, sv.penalties.L2(lam), eps=eps, attack=attack)
    z = _zscores(sv.predict(pb, ln), sv.simulate(pb, ln, d=d, seeds=seeds), KEYS)
    assert all(abs(v) < 4 for v in z.values()), z


def test_block_metrics_against_fitted_blocks():
    """Per block: the theory's m_k, P_k (and usefulness, robustness) against the blocks of fitted classifiers
    (d = 300, 10 seeds, within 4 se); the blocks sum to the totals; at eps = 0 robustness = usefulness."""
    pb = sv.GLM(G, sv.channels.Sign(), alpha=3.0, data=BLOCKS)
    ln = AdversarialERM("logistic", sv.penalties.L2(0.05), eps=0.3, attack=[1.0, 0.3])
    r = sv.predict(pb, ln)
    bm = block_metrics(r)
    np.testing.assert_allclose(bm["m"].sum(), r.m, rtol=1e-9)  # the fixed point to its tolerance
    np.testing.assert_allclose(bm["q"].sum(), r.q, rtol=1e-9)  # the fixed point to its tolerance
    np.testing.assert_allclose(bm["P"].sum(), r.P, rtol=1e-9)  # the fixed point to its tolerance
    rho = BLOCKS.spectrum(G).rho
    np.testing.assert_allclose(bm["usefulness"].sum(), r.m * np.sqrt(2 * rho / np.pi) / rho, rtol=1e-9)  # E[y z] = E|z|
    b0 = block_metrics(r, eps=0.0)
    np.testing.assert_allclose(b0["robustness"], b0["usefulness"])
    d = 300
    sizes = BLOCKS.sizes(d)
    cut = np.cumsum(sizes)[:-1]
    rows = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        om = BLOCKS.mode_profile(BLOCKS.variances, d)
        theta = np.sqrt(BLOCKS.mode_profile(BLOCKS.teacher, d)) * rng.standard_normal(d)
        X = rng.standard_normal((int(3.0 * d), d)) * np.sqrt(om)
        y = np.sign(X @ theta / np.sqrt(d))
        Dg = BLOCKS.mode_profile([1.0, 0.3], d)
        w = solve_adversarial(ln.loss, 0.05, X / np.sqrt(d), y, 0.3, Dg)
        rows.append([v for blk in range(2) for v in (
            np.split(om * theta * w, cut)[blk].sum() / d, np.split(Dg * w * w, cut)[blk].sum() / d)])
    sim = np.array(rows)
    th = np.array([v for blk in range(2) for v in (bm["m"][blk], bm["P"][blk])])
    se = sim.std(axis=0, ddof=1) / np.sqrt(len(sim))
    assert np.all(np.abs(sim.mean(axis=0) - th) < 4 * se), (sim.mean(axis=0), th, se)


def test_robust_error_under_a_test_geometry():
    """A classifier trained with one geometry, attacked with another: robust_test_error(pred, eps, attack) against
    fitted classifiers attacked on 1e4 fresh samples each by the exact worst delta = -eps y S w / |w|_S (d = 200,
    8 seeds, within 4 se), and attack_norm against the fitted w^T S w / d."""
    pb = sv.GLM(G, sv.channels.Sign(), alpha=2.0, data=BLOCKS)
    ln = AdversarialERM("logistic", sv.penalties.L2(0.1), eps=0.2, attack=[1.0, 0.2])
    r = sv.predict(pb, ln)
    ups = [0.3, 2.0]
    th = robust_test_error(r, [0.0, 0.25], attack=ups)
    d, sims, norms = 200, [], []
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        om = BLOCKS.mode_profile(BLOCKS.variances, d)
        theta = np.sqrt(BLOCKS.mode_profile(BLOCKS.teacher, d)) * rng.standard_normal(d)
        X = rng.standard_normal((2 * d, d)) * np.sqrt(om)
        w = solve_adversarial(ln.loss, 0.1, X / np.sqrt(d), np.sign(X @ theta / np.sqrt(d)), 0.2,
                              BLOCKS.mode_profile([1.0, 0.2], d))
        U = BLOCKS.mode_profile(ups, d)
        norms.append(w @ (U * w) / d)
        Xt = rng.standard_normal((10_000, d)) * np.sqrt(om)
        yt = np.sign(Xt @ theta / np.sqrt(d))
        for e in (0.0, 0.25):
            delta = -e * yt[:, None] * (U * w)[None, :] / np.sqrt(w @ (U * w))  # delta^T U^-1 delta = eps^2
            sims.append(np.mean(yt * ((Xt + delta) @ w) / np.sqrt(d) < 0))
    sim = np.array(sims).reshape(8, 2)
    se = sim.std(axis=0, ddof=1) / np.sqrt(8)
    assert np.all(np.abs(sim.mean(axis=0) - th) < 4 * se + 1e-9), (sim.mean(axis=0), th, se)
    assert abs(np.mean(norms) - attack_norm(r, ups)) < 4 * np.std(norms, ddof=1) / np.sqrt(8)
    assert th[1] > th[0]


def test_trade_off_and_curve():
    """A curve in alpha converges at every point; training against the attack lowers the robust error at first
    and raises the clean error (the trade-off)."""
    pb = sv.GLM(G, sv.channels.Sign(), alpha=np.array([0.5, 2.0, 10.0]), data=sv.data.BlockFeatures([0.5, 0.5], [1.0, 0.1], [1.0, 10.0]))
    plain = sv.predict(pb, AdversarialERM("logistic", sv.penalties.L2(0.01), eps=0.0))
    adv = sv.predict(pb, AdversarialERM("logistic", sv.penalties.L2(0.01), eps=0.2))
    assert np.all(adv.converged) and adv.m.shape == (3,)
    assert robust_test_error(adv, 0.2)[-1] < robust_test_error(plain, 0.2)[-1]
    assert np.all(adv.test_error > plain.test_error)


def test_errors():
    L2 = sv.penalties.L2
    with pytest.raises(ValueError, match="margin loss"):
        AdversarialERM("square", L2(0.1), eps=0.1)
    with pytest.raises(ValueError, match="margin loss"):
        AdversarialERM("hard_margin", L2(0.1), eps=0.1)
    with pytest.raises(ValueError, match="lam > 0"):
        AdversarialERM("logistic", L2(0.0), eps=0.1)
    with pytest.raises(ValueError, match="L2"):
        AdversarialERM("logistic", sv.penalties.L1(0.1), eps=0.1)
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        AdversarialERM("logistic", L2(0.1), eps=-0.1)
    with pytest.raises(ValueError, match="eps must be a number"):
        AdversarialERM("logistic", L2(0.1), eps=[0.1, 0.2])
    with pytest.raises(ValueError, match="attack must be None"):
        AdversarialERM("logistic", L2(0.1), eps=0.1, attack=[-1.0, 1.0])
    ln = AdversarialERM("logistic", L2(0.1), eps=0.1, attack=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="3 values but the data have 2 modes"):
        sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=1.0, data=BLOCKS), ln)
    with pytest.raises(ValueError, match="classification channel"):
        sv.predict(sv.GLM(G, sv.channels.Linear(0.1), alpha=1.0), AdversarialERM("logistic", L2(0.1), eps=0.1))
    gcm = sv.data.GaussianCovariate(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="commutes"):
        sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=1.0, data=gcm), AdversarialERM("logistic", L2(0.1), eps=0.1))
    with pytest.raises(ValueError, match="fractions must be > 0 and sum to 1"):
        sv.data.BlockFeatures([0.5, 0.6], [1.0, 1.0])
    with pytest.raises(ValueError, match="variances must be > 0"):
        sv.data.BlockFeatures([0.5, 0.5], [1.0, -1.0])
    r = sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=1.0, data=BLOCKS), AdversarialERM("logistic", L2(0.1), eps=0.1))
    with pytest.raises(ValueError, match="attack must be None"):
        robust_test_error(r, 0.1, attack=[0.0, 0.0])


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_the_trivial_phase(loss):
    """Past eps_c (the subgradient condition of w = 0; 2 / pi + 1 / alpha squared for an isotropic sign teacher and
    attack) the estimator is w = 0 exactly, in theory and at finite d; below it q vanishes continuously (like
    (eps_c - eps)^2 for logistic: q(0.99 eps_c) / q(0.999 eps_c) within 20% of 100)."""
    pb = sv.GLM(G, sv.channels.Sign(), alpha=4.0)
    ln = AdversarialERM(loss, sv.penalties.L2(0.1), eps=0.5)
    ec = critical_eps(pb, ln)
    np.testing.assert_allclose(ec, np.sqrt(2 / np.pi + 1 / 4.0), rtol=1e-10)
    above = sv.predict(pb, ln.at(eps=1.01 * ec))
    assert above.converged and above.q == 0 and above.test_error == 0.5 and above.Phat == np.inf
    np.testing.assert_allclose(above.train_loss, float(ln.loss.value(1.0, 0.0)))
    q = [float(sv.predict(pb, ln.at(eps=f * ec)).q) for f in (0.99, 0.999)]
    assert q[1] > 0
    if loss == "logistic":
        assert 80 < q[0] / q[1] < 120, q
    blocks = sv.GLM(G, sv.channels.Sign(), alpha=4.0, data=BLOCKS)
    lb = ln.at(attack=[1.0, 0.5])
    ecb = critical_eps(blocks, lb)
    for f, zero in ((1.1, True), (0.85, False)):
        s = sv.simulate(blocks, lb.at(eps=f * ecb), d=300, seeds=3)
        assert (np.all(s.samples["q"] == 0)) == zero, (f, s.samples["q"])
    assert critical_eps(blocks, lb.at(attack=[1.0, 0.0])) == np.inf  # an undefended block: never w = 0


def test_covariance_data_against_simulation():
    """A covariance spectrum (200 eigenvalues uniform on [0.3, 2]) with the attack geometry 1 / eigenvalue, at d =
    200 (the features are then the spectrum's exactly), 12 seeds: m, q, P within 4 se; the errors within 4 se plus
    0.004, the finite-size offset that plain ERM (eps = 0) shows on the same data (measured with 30 seeds: -0.0032
    at d = 200, -0.0021 at d = 400, the same for eps = 0.3)."""
    ev = np.linspace(0.3, 2.0, 200)
    pb = sv.GLM(G, sv.channels.Sign(), alpha=2.0, data=sv.data.Covariance(ev))
    ln = AdversarialERM("logistic", sv.penalties.L2(0.1), eps=0.3, attack=1.0 / ev)
    r, s = sv.predict(pb, ln), sv.simulate(pb, ln, d=200, seeds=12)
    for k in ("m", "q", "P"):
        assert abs(s[k] - r[k]) < 4 * s.se(k), (k, s[k], r[k], s.se(k))
    for k in ("test_error", "robust_test_error"):
        assert abs(s[k] - r[k]) < 4 * s.se(k) + 0.004, (k, s[k], r[k], s.se(k))

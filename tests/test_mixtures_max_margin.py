"""The max-margin classifier on Gaussian mixtures (issue 16): ``ERM("hard_margin", L2(lam))`` on a
binary GaussianMixture, by the mixture engine's replica fixed point, checked against Gordon's
variational formula (derived and solved independently here), Gardner's published margin at zero
separation, the hinge loss at lam -> 0, and the finite-size max-margin solver (docs/mixtures.md)."""
import numpy as np
import pytest
from scipy import optimize
from scipy.special import ndtr

import solvable as sv
from solvable.data import Mixture

L2 = sv.penalties.L2
MM = sv.ERM("hard_margin", L2(1.0), bias=True)


def _hinge_sq(c):
    """E[(Z - c)_+^2], Z ~ N(0, 1), written out again (independent of the library's copy)."""
    return (1 + c * c) * ndtr(-c) - c * np.exp(-0.5 * c * c) / np.sqrt(2 * np.pi)


def _gordon(alpha, s, weight=0.5, sigma=1.0, bias=True):
    """Max-margin classifier of the mixture +-mu (|mu| = s, cluster + labelled +1 with probability
    ``weight``), shared covariance sigma^2 I, by Gordon's comparison (Gardner 1988 at s = 0;
    Deng, Kammoun & Thrampoulidis 2021, Thm. 1; Mignacco et al. 2020, sec. 3): for a unit weight
    vector with a component v along mu/|mu| and bias b (in units of sigma), the samples have
    margin kappa iff

        alpha sum_k rho_k E[(kappa - c_k + Z)_+^2] <= 1 - v^2,    c_k = y_k (mu_k . v + b) / sigma,

    so kappa(v, b) is the root of an increasing function and the max margin is max_{v, b} kappa.
    Returns (kappa, v, b) with kappa, b in units of sigma."""
    rho = np.array([weight, 1.0 - weight])
    ssig = s / sigma

    def kappa(v, b):
        cs = np.array([ssig * v + b, ssig * v - b])  # y = +1 at +mu, y = -1 at -mu
        h = lambda k: alpha * np.sum(rho * _hinge_sq(cs - k)) - (1 - v * v)  # noqa: E731
        return optimize.brentq(h, -60.0, 60.0, xtol=1e-15, rtol=1e-15)

    f = (lambda z: -kappa(np.tanh(z[0]), z[1])) if bias else (lambda z: -kappa(np.tanh(z[0]), 0.0))
    r = optimize.minimize(f, [0.5, 0.0] if bias else [0.5], method="Nelder-Mead",
                          options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20000})
    return -r.fun, float(np.tanh(r.x[0])), (float(r.x[1]) if bias else 0.0)


@pytest.mark.parametrize("s, weight, sigma, bias", [(1.0, 0.5, 1.0, True), (1.0, 0.7, 1.0, True),
                                                    (2.0, 0.7, 1.0, False), (1.5, 0.6, 2.0, True)])
def test_replica_fixed_point_equals_gordon(s, weight, sigma, bias):
    """The engine's fixed point (hard-margin prox = projection on y z >= 1, L2 side) against the
    independent variational formula.  The engine's w is the unit one divided by the margin
    kappa sigma (``lam |w|^2 / 2`` subject to ``y z >= 1``), so margin = 1 / sqrt(norm) = kappa sigma,
    m_0 = s v / (kappa sigma), q = 1 / kappa^2, bias = b / kappa."""
    alphas = np.array([0.3, 1.0, 1.8])
    mix = Mixture.symmetric(s, weight=weight, covariance=sigma**2)
    pr = sv.predict(sv.GaussianMixture(mix, alpha=alphas), sv.ERM("hard_margin", L2(1.0), bias=bias))
    assert np.all(pr.converged)
    for i, a in enumerate(alphas):
        k, v, b = _gordon(a, s, weight, sigma, bias)
        assert pr.margin[i] == pytest.approx(k * sigma, rel=1e-7)
        assert pr.m_0[i] == pytest.approx(s * v / (k * sigma), rel=1e-6)
        assert pr.q_0[i] == pytest.approx(1.0 / k**2, rel=1e-6)
        assert pr.bias[i] == pytest.approx(b / k, abs=1e-6)
        err = weight * ndtr(-(s * v / sigma + b)) + (1 - weight) * ndtr(-(s * v / sigma - b))
        assert pr.test_error[i] == pytest.approx(err, rel=1e-7)


def test_gardner_margin_at_zero_separation():
    """s = 0: the published capacity curve alpha_c(kappa) = 1 / int_{-kappa}^inf Dt (t + kappa)^2
    (Gardner, J. Phys. A 21, 257 (1988), eq. (24)); the margin is the kappa with alpha_c = alpha."""
    from scipy.integrate import quad

    alphas = np.array([0.25, 0.5, 1.0, 1.5, 1.9])
    pr = sv.predict(sv.GaussianMixture(Mixture.symmetric(0.0), alpha=alphas), sv.ERM("hard_margin", L2(0.3)))
    for a, marg in zip(alphas, pr.margin):
        gard = lambda k: 1.0 / quad(lambda t: (t + k) ** 2 * np.exp(-t * t / 2) / np.sqrt(2 * np.pi), -k, np.inf,  # noqa: E731
                                    epsabs=1e-14, epsrel=1e-13)[0]
        assert gard(marg) == pytest.approx(a, rel=1e-7)
    np.testing.assert_allclose(pr.test_error, 0.5, atol=1e-12)  # no signal: chance


def test_hinge_at_small_lam_is_the_max_margin():
    """On separable data the soft-margin SVM equals the hard-margin one once lam is small enough that
    no sample is inside the margin (the hinge term vanishes at the max-margin w, whose scale is fixed
    by the constraint y z >= 1, not by lam): the hinge fixed point at lam = 1e-2 is the hard
    margin's to solver precision; at lam = 1 it is not."""
    pb = sv.GaussianMixture(Mixture.symmetric(1.0, weight=0.7), alpha=1.0)
    hm = sv.predict(pb, MM)
    for lam in (1e-2,):
        h = sv.predict(pb, sv.ERM("hinge", L2(lam), bias=True))
        for f in ("m_0", "q_0", "bias", "test_error"):
            assert float(h[f]) == pytest.approx(float(hm[f]), rel=1e-8, abs=1e-10), (lam, f)
        assert float(h.train_loss) < 1e-10
    h = sv.predict(pb, sv.ERM("hinge", L2(1.0), bias=True))
    assert float(h.train_loss) > 0.1 and abs(float(h.q_0) - float(hm.q_0)) > 0.1


def test_max_margin_theory_matches_simulation():
    """The dual QP of the hard-margin SVM at d = 200 (bias as a constant column) against the theory."""
    pb = sv.GaussianMixture(Mixture.symmetric(1.0, weight=0.7), alpha=1.0)
    th = sv.predict(pb, MM)
    sim = sv.simulate(pb, MM, d=200, seeds=range(6))
    for f in ("m_0", "q_0", "bias", "test_error", "margin"):
        z = (float(sim[f]) - float(th[f])) / max(float(sim.se(f)), 1e-9)
        assert abs(z) < 4.5, (f, float(sim[f]), float(th[f]), float(sim.se(f)))
    assert float(sim.train_error) == 0.0 and float(th.train_error) == 0.0


def test_max_margin_errors():
    with pytest.raises(ValueError, match=r"separability threshold alpha\* = 2\.34.*2\.5"):
        sv.predict(sv.GaussianMixture(Mixture.symmetric(0.5), alpha=2.5), MM)
    with pytest.raises(ValueError, match="needs lam > 0.*lam=0"):
        sv.predict(sv.GaussianMixture(Mixture.symmetric(0.5), alpha=1.0), sv.ERM("hard_margin", L2(0.0)))


def test_runaway_iterate_is_not_reported_as_converged():
    """Found by the fuzz (issue 16): hinge with a bias, label noise and weak means.  At alpha >= 16 the
    estimator collapses to the constant classifier (w = 0, b = -1, the kink of the majority label),
    and Anderson's iterate ran away with b and q growing together (b = 1.5e13, q = 3000 at
    lam = 0.1, ratios settled: "converged").  Every converged row must now solve the problem (the
    bias's stationarity, an objective at most the constant classifier's), and the collapse is found
    as such: w = 0 exactly, as the finite-size solver confirms (LP feasibility of the KKT
    conditions at w = 0: the simulated w is exactly 0 at d = 100)."""
    import warnings

    mix = Mixture(np.array([[0.3, -0.2], [-0.1, 0.4]]), None, [0.1856, 0.8144], [1, -1])
    pb = sv.GaussianMixture(mix, alpha=np.array([8.0, 16.0, 31.58]), flip=0.1705)
    lr = sv.ERM("hinge", L2(0.1), bias=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = sv.predict(pb, lr, on_fail="ignore")
    assert np.all(p.converged)
    py1 = 0.1856 * (1 - 0.1705) + 0.8144 * 0.1705  # P(y = +1); the constant classifier b = -1 has loss 2 P(+1)
    objective = p.train_loss + 0.1 * p.norm / (2 * pb.alpha)
    assert np.all(objective <= 2 * py1 + 1e-9) and np.all(np.abs(p.bias) < 10)
    assert p.q_0[0] > 0.1 and np.all(p.q_0[1:] == 0) and np.all(p.bias[1:] == -1.0)
    np.testing.assert_allclose(p.test_error[1:], py1, rtol=1e-12)
    sim = sv.simulate(pb.at(alpha=16.0), lr, d=100, seeds=range(2))
    assert float(sim.norm) == 0.0 and float(sim.bias) == -1.0
    assert float(sim.test_error) == pytest.approx(py1, rel=1e-12)

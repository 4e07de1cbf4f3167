"""Robust regression with outliers (issue 18): the Outliers channel (Vilucchio, Troiani, Erba, Krzakala
2024), ERM with the square, Huber and absolute losses on it, and the Bayes-optimal bound: the published
optimal-ridge numbers, closed forms, the eps = 0 limit, the loss side against Monte Carlo, and theory
against simulation (ERM solvers and GAMP)."""
import numpy as np
import pytest

import solvable as sv
from solvable.families.erm.equations import optimal_penalty

G = sv.priors.Gaussian()
L2 = sv.penalties.L2
PUB = sv.channels.Outliers(delta_in=1.0, delta_out=0.5, eps=0.6, beta=0.0)


def test_published_optimal_ridge_and_huber():
    """(Delta_in, Delta_out, eps, beta) = (1, 0.5, 0.6, 0), alpha = 10: optimal ridge lam* = 5.875, excess
    generalisation error 0.0615990 (Vilucchio et al. 2024); lam* is also the closed form (E y^2 - b^2) /
    b^2 = 0.94 / 0.16.  Optimal Huber coincides with it: at lam* its excess falls to ridge's as delta
    grows (+1.9e-2, +3.9e-4, +9e-12 at delta = 1, 3, 10; the slow test optimises delta and lam)."""
    pb = sv.GLM(G, PUB, alpha=10.0)
    r = optimal_penalty(pb, sv.ERM("square", L2(1.0)), metric="excess_error", lam_range=(1e-3, 1e2))
    assert abs(r.lam - 5.875) < 1e-3 and abs(r.excess_error - 0.0615990) < 5e-8, (r.lam, r.excess_error)
    exact = sv.predict(pb, sv.ERM("square", L2(0.94 / 0.16)))
    np.testing.assert_allclose(exact.excess_error, 0.0615990, atol=5e-8)
    gaps = [float(sv.predict(pb, sv.ERM(sv.losses.Huber(dl), L2(5.875))).excess_error) - float(exact.excess_error)
            for dl in (1.0, 3.0, 10.0)]
    assert gaps[0] > gaps[1] > 0 and abs(gaps[2]) < 1e-9, gaps


@pytest.mark.slow
def test_published_optimal_huber_coincides_with_ridge():
    """Optimal Huber over (lam, delta) at the published point: excess 0.0615990 (its delta runs to the top
    of the range: the square loss)."""
    pb = sv.GLM(G, PUB, alpha=10.0)
    h = optimal_penalty(pb, sv.ERM(sv.losses.Huber(1.0), L2(1.0)), metric="excess_error", lam_range=(1e-3, 1e2),
                        optimize_delta=True, delta_range=(0.1, 30.0), n_grid=9)
    assert abs(h.excess_error - 0.0615990) < 1e-6, h.excess_error


def test_excess_error_is_the_test_error_less_its_floor_and_bayes_bounds_it():
    """excess_error = test_error - (E y^2 - b^2 rho) for every ERM; the Bayes-optimal predictor b omega_hat
    has excess b^2 (rho - q), below every ERM's (ridge, Huber, absolute at several lam)."""
    ch = sv.channels.Outliers(1.0, 5.0, 0.3, 0.0)
    pb = sv.GLM(G, ch, alpha=np.array([0.5, 2.0, 10.0]))
    floor = ch.label_moments(1.0)[1] - ch.slope ** 2
    bo = sv.predict(pb, sv.BayesOptimal())
    np.testing.assert_allclose(bo.excess_error, ch.slope ** 2 * (1 - bo.q), rtol=1e-12)
    np.testing.assert_allclose(bo.test_error - floor, bo.excess_error, rtol=1e-8)
    for loss in ("square", sv.losses.Huber(1.0), "absolute"):
        for lam in (0.01, 0.3, 3.0):
            r = sv.predict(pb, sv.ERM(loss, L2(lam)))
            np.testing.assert_allclose(r.test_error - floor, r.excess_error, rtol=1e-9, atol=1e-12)
            assert np.all(r.excess_error >= bo.excess_error * (1 - 1e-6)), (loss, lam)


@pytest.mark.parametrize("loss", ["square", sv.losses.Huber(0.7), "absolute"], ids=["square", "huber", "absolute"])
def test_no_outliers_is_the_linear_channel(loss):
    """eps = 0: the Linear channel (ERM to 1e-12; Bayes-optimal q and mutual information to 1e-8)."""
    a = sv.GLM(G, sv.channels.Outliers(0.5, 3.0, 0.0, 0.7), alpha=np.array([0.5, 3.0]))
    b = a.at(channel=sv.channels.Linear(0.5))
    ra, rb = sv.predict(a, sv.ERM(loss, L2(0.1))), sv.predict(b, sv.ERM(loss, L2(0.1)))
    for f in ("m", "q", "V", "test_error", "train_loss"):
        np.testing.assert_allclose(ra[f], rb[f], rtol=1e-12, err_msg=f)
    if loss == "square":
        ba, bb = sv.predict(a, sv.BayesOptimal()), sv.predict(b, sv.BayesOptimal())
        for f in ("q", "test_error", "mutual_information"):
            np.testing.assert_allclose(ba[f], bb[f], rtol=1e-8, err_msg=f)


def test_mixture_loss_side_against_monte_carlo():
    """The Huber loss side (mhat, qhat, Vhat) on the two-Gaussian mixture against a Monte Carlo over
    (z, y, omega) with 4e6 draws (mhat by Stein's lemma, E[(z - m omega / q) f] / (rho - m^2 / q))."""
    from solvable.families.erm.equations import _LossSide

    loss, ch, (m, q, V, a) = sv.losses.Huber(1.0), sv.channels.Outliers(0.3, 4.0, 0.4, -0.5), (0.5, 0.6, 0.8, 1.0)
    got = np.array(_LossSide(loss, ch, 1.0)(np.array([m]), np.array([q]), np.array([V]), a)).ravel()
    rng = np.random.default_rng(0)
    N = 4_000_000
    z = rng.standard_normal(N)
    om = m * z + np.sqrt(q - m * m) * rng.standard_normal(N)
    y = ch.sample(z, rng)
    p, dp = loss.prox_and_derivative(y, om, np.full(N, V))
    f, df = (p - om) / V, (dp - 1) / V
    mc = np.array([np.mean((z - m / q * om) * f) / (1 - m * m / q), np.mean(f * f), -np.mean(df)])
    se = np.array([np.std((z - m / q * om) * f) / (1 - m * m / q), np.std(f * f), np.std(df)]) / np.sqrt(N)
    assert np.all(np.abs(got - mc) < 5 * se), (got, mc, se)


@pytest.mark.parametrize("loss, d", [("square", 300), (sv.losses.Huber(1.0), 300), ("absolute", 150),
                                     pytest.param("absolute", 300, marks=pytest.mark.slow)],
                         ids=["square", "huber", "absolute", "absolute-d300"])
def test_erm_theory_matches_simulation(loss, d):
    """8 seeds: every field within 4 se (the exact solvers of the ERM family; the absolute loss's is a
    linear program, 8 s at d = 300)."""
    pb = sv.GLM(G, sv.channels.Outliers(1.0, 5.0, 0.3, 0.0), alpha=3.0)
    lr = sv.ERM(loss, L2(0.1))
    th, sim = sv.predict(pb, lr), sv.simulate(pb, lr, d=d, seeds=range(8))
    for f in ("m", "q", "mse", "test_error", "train_loss", "excess_error"):
        assert abs(float(sim[f]) - float(th[f])) < 4 * float(sim.se(f)) + 1e-9, (f, float(sim[f]), float(th[f]))


def test_bayes_optimal_matches_gamp():
    """GAMP with the mixture's output function at d = 500 (6 seeds) against state evolution."""
    pb = sv.GLM(G, sv.channels.Outliers(1.0, 5.0, 0.3, 0.0), alpha=3.0)
    th, sim = sv.predict(pb, sv.BayesOptimal()), sv.simulate(pb, sv.AMP(), d=500, seeds=range(6))
    for f in ("q", "mse"):
        assert abs(float(sim[f]) - float(th[f])) < 4 * float(sim.se(f)) + 2e-3, (f, float(sim[f]), float(th[f]))


def test_output_entropy_and_errors():
    """The conditional entropy of the mixture against a Monte Carlo; eps = 0 gives the Gaussian's; bad
    parameters are clear errors naming the value."""
    c0 = sv.channels.Outliers(0.7, 0.5, 0.0, 0.0)
    np.testing.assert_allclose(c0.output_entropy(1.0), 0.5 * np.log(2 * np.pi * np.e * 0.7), rtol=1e-12)
    rng = np.random.default_rng(1)
    z = rng.standard_normal(2_000_000)
    y = PUB.sample(z, rng)
    dens = 0.4 * np.exp(-0.5 * (y - z) ** 2) / np.sqrt(2 * np.pi) + 0.6 * np.exp(-y * y) / np.sqrt(np.pi)
    h = -np.log(dens)
    assert abs(PUB.output_entropy(1.0) - h.mean()) < 5 * h.std() / np.sqrt(len(h))
    for kw, match in (({"eps": 1.0}, "eps=1.0"), ({"eps": -0.1}, "eps=-0.1"), ({"delta_in": -1.0}, "delta_in"),
                      ({"beta": float("nan")}, "beta=nan")):
        with pytest.raises(ValueError, match=match):
            sv.channels.Outliers(**kw)


# ---------------------------------------------------------------------------- negative ridge
@pytest.mark.parametrize("alpha", [2.0, 6.0])
def test_negative_ridge_against_the_resolvent_and_simulation(alpha):
    """lam down to the convexity bound -(sqrt(alpha) - 1)^2 (the square loss on isotropic inputs): V against
    the finite-d trace (1/d) tr (A^T A + lam)^-1 at d = 1000 (two draws), the fields against the ridge solver at
    d = 300 (8 seeds, 4 se), and the replicon rising towards 1 at the bound."""
    bound = -(np.sqrt(alpha) - 1) ** 2
    pb = sv.GLM(G, sv.channels.Outliers(1.0, 5.0, 0.3, 0.0), alpha=alpha)
    lr = sv.ERM("square", L2(0.5 * bound))
    th = sv.predict(pb, lr)
    rng = np.random.default_rng(0)
    traces = []
    for _ in range(2):
        A = rng.standard_normal((int(alpha * 1000), 1000)) / np.sqrt(1000)
        traces.append(np.mean(1.0 / (np.linalg.eigvalsh(A.T @ A) + 0.5 * bound)))
    # finite-size: the smallest eigenvalues fluctuate around the edge (measured gaps <= 0.4% at d = 1000)
    assert abs(float(th.V) - np.mean(traces)) < 5e-3 * float(th.V), (float(th.V), traces)
    sim = sv.simulate(pb, lr, d=300, seeds=range(8))
    for f in ("m", "q", "test_error", "excess_error", "train_loss"):
        assert abs(float(sim[f]) - float(th[f])) < 4 * float(sim.se(f)), (f, float(sim[f]), float(th[f]))
    reps = [float(sv.predict(pb, sv.ERM("square", L2(c * bound))).replicon) for c in (0.0, 0.5, 0.9, 0.999)]
    assert np.all(np.diff(reps) > 0) and reps[-1] > 0.9 and reps[-1] < 1.0, reps


def test_negative_ridge_errors():
    pb = sv.GLM(G, sv.channels.Linear(0.5), alpha=3.0)
    bound = -(np.sqrt(3.0) - 1) ** 2
    with pytest.raises(ValueError, match="convexity bound"):
        sv.predict(pb, sv.ERM("square", L2(1.01 * bound)))
    with pytest.raises(ValueError, match="convexity bound"):
        sv.predict(pb.at(alpha=0.8), sv.ERM("square", L2(-0.01)))
    for loss in ("huber", "absolute", sv.losses.Tukey(2.0)):  # sub-quadratic growth: unbounded below at any lam < 0
        with pytest.raises(ValueError, match="grows slower than quadratically makes the objective unbounded below"):
            sv.predict(pb, sv.ERM(loss, L2(-0.1)))
    with pytest.raises(ValueError, match="grows slower than quadratically"):
        sv.predict(pb.at(channel=sv.channels.Sign()), sv.ERM("logistic", L2(-0.1)))
    with pytest.raises(ValueError, match="negative lam is implemented for the square loss"):
        sv.predict(pb.at(data=sv.data.RandomFeatures("erf", gamma=0.5)), sv.ERM("square", L2(-0.1)))
    with pytest.raises(ValueError, match="lam must be a finite number"):
        L2(float("nan"))
    with pytest.raises(ValueError, match="needs a ridge lam > 0"):
        from solvable.families.joint import JointERM

        sv.predict(pb, JointERM(sv.ERM("square", L2(-0.1))))


def test_calibrated_errors_and_consistency():
    """The norm calibration of Vilucchio et al. 2024: ERM under outliers estimates b theta, so its mse stays
    positive as alpha grows, while the error after the best rescaling, calibrated_mse = rho - m^2 / q, decays like
    1 / alpha (slope -0.98 measured between alpha = 10 and 1000 for Huber at the lam minimising it); calibrated
    errors lie below the raw ones and above the Bayes bound, and match a simulation."""
    ch = sv.channels.Outliers(1.0, 5.0, 0.3, 0.0)
    al = np.array([10.0, 100.0, 1000.0])
    pb = sv.GLM(G, ch, alpha=al)
    h = sv.optimal_penalty(pb, sv.ERM(sv.losses.Huber(1.0), L2(1.0)), metric="calibrated_mse")
    slope = np.polyfit(np.log(al), np.log(h.calibrated_mse), 1)[0]
    assert abs(slope + 1.0) < 0.05, slope
    assert h.mse[-1] > 0.02 and np.all(h.calibrated_mse <= h.mse)
    assert np.all(h.calibrated_excess_error <= h.excess_error + 1e-12)
    bo = sv.predict(pb, sv.BayesOptimal())
    assert np.all(bo.calibrated_mse <= h.calibrated_mse) and np.all(bo.calibrated_excess_error <= h.calibrated_excess_error)
    np.testing.assert_allclose(h.calibrated_excess_error, ch.slope ** 2 * h.calibrated_mse, rtol=1e-12)
    p1 = sv.GLM(G, ch, alpha=3.0)
    ln = sv.ERM(sv.losses.Huber(1.0), L2(0.5))
    r, s = sv.predict(p1, ln), sv.simulate(p1, ln, d=200, seeds=6)
    assert abs(s["calibrated_mse"] - r.calibrated_mse) < 4 * s.se("calibrated_mse")

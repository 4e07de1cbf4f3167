"""Finite-d online SGD (solvable.families.sgd.experiment / families.sgd.algorithm) and its agreement with the ODEs.

Theory and simulation are compared *paired*: the ODE of seed s starts from the overlaps of the
weights simulation seed s starts from (``predict(..., d=d, seed=s)``), so the remaining difference
is the SGD fluctuation (O(d^-1/2), random, measured by the standard error over seeds) plus the
O(1/d) corrections to the ODE (|x|^2/d - 1, the second-order terms dropped in the d -> infinity
limit).  The tests allow 4 standard errors plus an explicit O(1/d) allowance ``C/d``, and the
slow test shows the deviation shrinking with d.
"""
import numpy as np
import pytest

import solvable as sv
from solvable.blocks.activations import get_activation
from solvable.families.sgd.algorithm import online_sgd_committee

from _sgd_reference import reference_sgd

ERF = get_activation("erf")


@pytest.mark.parametrize(
    "noise, wd, B, train_v, chunk, spherical",
    [(0.0, 0.0, 1, False, 128, False), (0.3, 0.2, 3, True, 7, False), (0.1, 0.0, 2, True, 1000, True)],
)
def test_vectorised_sgd_equals_plain_loop(noise, wd, B, train_v, chunk, spherical):
    d = 60
    rng = np.random.default_rng(0)
    W0 = rng.standard_normal((2, d))
    if spherical:
        W0 *= np.sqrt(d) / np.linalg.norm(W0, axis=1, keepdims=True)
    Ws = rng.standard_normal((3, d))
    v0, vs = np.array([0.7, 1.2]), np.array([1.0, 0.5, -1.0])
    kw = dict(c=0.7, lr=0.8, lr_v=0.6, noise=noise)
    Q, R, v = reference_sgd(W0, Ws, v0, vs, 5, 300, act=ERF, wd=wd, B=B, train_v=train_v, spherical=spherical, **kw)
    out = online_sgd_committee(W0[None], Ws[None], v0[None], vs, [np.random.default_rng(5)], np.array([0, 150, 300]),
                               student=ERF, student_derivative=ERF.derivative, teacher=ERF, weight_decay=wd,
                               batch_size=B, train_v=train_v, chunk_steps=chunk, spherical=spherical, **kw)
    np.testing.assert_allclose(out["Q"][0, -1], Q, atol=1e-12)
    np.testing.assert_allclose(out["R"][0, -1], R, atol=1e-12)
    np.testing.assert_allclose(out["v"][0, -1], v, atol=1e-12)
    np.testing.assert_allclose(out["Q"][0, 0], W0 @ W0.T / d, atol=1e-12)


def test_seed_results_do_not_depend_on_the_batch_of_seeds():
    p, l = sv.Committee(k=2, noise=0.1), sv.OnlineSGD(width=2, lr=0.5, time=2.0, n_times=5)
    a = sv.simulate(p, l, d=100, seeds=[3])
    b = sv.simulate(p, l, d=100, seeds=[1, 3])
    np.testing.assert_allclose(a.runs[0]["Q"], b.runs[1]["Q"], atol=1e-12)


def _paired(problem, learner, d, seeds, **theory_kw):
    sim = sv.simulate(problem, learner, d=d, seeds=seeds)
    th = [sv.predict(problem, learner, d=d, seed=s, **theory_kw) for s in seeds]
    return sim, th


def _check(sim, th, field, d, allowance, n_se=4.0):
    """|mean over seeds of (sim - ODE)| <= n_se * SE + allowance / d, at every time; returns the worst ratio."""
    diff = np.array([r[field] for r in sim.runs]) - np.array([t[field] for t in th])
    mean = diff.mean(0)
    se = diff.std(0, ddof=1) / np.sqrt(diff.shape[0])
    bound = n_se * se + allowance / d
    assert np.all(np.abs(mean) <= bound), (field, np.max(np.abs(mean) - bound))
    return float(np.max(np.abs(mean) / bound))


def test_ode_matches_simulation_erf_committee_d500():
    # K = M = 2, lr = 0.5, through the fast initial phase and onto the plateau (t <= 20)
    p = sv.Committee(k=2)
    l = sv.OnlineSGD(width=2, lr=0.5, time=20.0, init_scale=0.5, n_times=12)
    sim, th = _paired(p, l, 500, list(range(6)))
    # O(1/d) allowance: the dropped terms are of relative size 1/d times O(1) quantities (eg, Q <= 1)
    for field in ("test_error", "Q", "R"):
        _check(sim, th, field, 500, allowance=1.0)
    assert np.allclose(sim.t, th[0].t, atol=1 / 500)
    assert sim.test_error[-1] < 0.2 * sim.test_error[0]


def test_ode_matches_simulation_with_options_d500():
    # trained second layer, 1/sqrt(k) output, weight decay, mini-batches, output noise, K != M
    p = sv.Committee(k=2, noise=0.2, second_layer=[1.0, 0.7])
    l = sv.OnlineSGD(width=3, lr=0.8, time=10.0, train_second_layer=True, lr_second=0.5,
                     normalization="sqrt", weight_decay=0.05, batch_size=2, n_times=8)
    sim, th = _paired(p, l, 500, list(range(6)))
    for field in ("test_error", "Q", "R", "v"):
        _check(sim, th, field, 500, allowance=2.0)


def test_ode_matches_simulation_relu_d500():
    # ReLU: all integrals exact (I4 by the 1D reduction of relu_four_point, ~1e-11).
    p = sv.Committee(k=2, activation="relu")
    l = sv.OnlineSGD(width=2, activation="relu", lr=0.1, time=10.0, n_times=6)
    sim, th = _paired(p, l, 500, [0, 1, 2])
    for field in ("test_error", "Q", "R"):
        _check(sim, th, field, 500, allowance=1.0)


def test_single_index_he2_simulation_escapes_like_ode():
    """He2 target, one spherical neuron: the simulated overlap follows the ODE through the escape."""
    p = sv.Committee(k=1, activation="he2")
    l = sv.OnlineSGD(width=1, activation="he2", lr=0.1, time=40.0, spherical=True, n_times=10)
    sim, th = _paired(p, l, 400, [0, 1, 2, 3], orders=(4, 4, 4))
    R_sim = np.abs(np.array([r["R"][:, 0, 0] for r in sim.runs]))
    R_th = np.abs(np.array([t.R[:, 0, 0] for t in th]))
    assert np.all(R_th[:, -1] > 0.8) and np.all(R_sim[:, -1] > 0.8)  # all escaped
    # the escape (sign-free overlap) agrees; the allowance 2/sqrt(d) covers the SGD noise, O(d^-1/2),
    # which the unstable direction R = 0 amplifies during the escape (absent from the ODE)
    diff = (R_sim - R_th).mean(0)
    se = (R_sim - R_th).std(0, ddof=1) / 2
    assert np.all(np.abs(diff) <= 4 * se + 2.0 / np.sqrt(400)), diff


@pytest.mark.slow
def test_ode_simulation_deviation_shrinks_with_d():
    p = sv.Committee(k=2)
    l = sv.OnlineSGD(width=2, lr=0.5, time=20.0, init_scale=0.5, n_times=12)
    rms = []
    for d in (500, 2000):
        sim, th = _paired(p, l, d, list(range(6)))
        _check(sim, th, "test_error", d, allowance=1.0)
        diff = np.array([r["R"] for r in sim.runs]) - np.array([t.R for t in th])
        rms.append(np.sqrt(np.mean(diff**2)))
    # fluctuations ~ d^-1/2: a factor 2 from d = 500 to 2000 (allow 1.4 for the few seeds)
    assert rms[1] < rms[0] / 1.4, rms


@pytest.mark.slow
def test_ode_matches_simulation_through_escape_d2000():
    """The paired strict comparison at d = 2000 is test_ode_simulation_deviation_shrinks_with_d (t <= 20,
    6 seeds).  Through the escape, the plateau's unstable direction amplifies the O(d^-1/2) SGD noise
    (which the ODE lacks) exponentially, so the escape time of a run fluctuates by O(1) around the ODE's
    (the relative spread shrinks only like 1/log d): here the test compares escape times, within 25%,
    and checks that both reach perfect learning."""
    p = sv.Committee(k=2)
    l = sv.OnlineSGD(width=2, lr=0.5, time=300.0, init_scale=0.5, n_times=20)
    sim, th = _paired(p, l, 2000, [0, 1, 2])

    def t_escape(eg):
        i = int(np.argmax(eg < 1e-3))  # first time below 1e-3, interpolated in log eg
        assert eg[i] < 1e-3
        x = np.log(eg[i - 1:i + 1])
        return float(np.interp(np.log(1e-3), x[::-1], sim.t[i - 1:i + 1][::-1]))

    for r, t in zip(sim.runs, th):
        assert r["test_error"][-1] < 1e-4 and t.test_error[-1] < 1e-4
        assert t_escape(r["test_error"]) == pytest.approx(t_escape(t.test_error), rel=0.25)


def test_given_initial_weights_are_used_by_theory_and_simulation():
    d = 120
    rng = np.random.default_rng(4)
    W0, Ws = 0.3 * rng.standard_normal((2, d)), rng.standard_normal((2, d))
    l = sv.OnlineSGD(width=2, lr=0.5, time=1.0, n_times=4, init={"W": W0, "W_teacher": Ws, "v": [1.0, 0.5]})
    p = sv.Committee(k=2)
    th = sv.predict(p, l)
    sim = sv.simulate(p, l, d=d, seeds=[0, 1])
    for r in sim.runs:
        np.testing.assert_allclose(r["Q"][0], W0 @ W0.T / d, atol=1e-12)
        np.testing.assert_allclose(r["R"][0], W0 @ Ws.T / d, atol=1e-12)
        np.testing.assert_allclose(r["v"][0], [1.0, 0.5])
    np.testing.assert_allclose(th.Q[0], W0 @ W0.T / d, atol=1e-12)
    np.testing.assert_allclose(th.T[0], Ws @ Ws.T / d, atol=1e-12)
    with pytest.raises(ValueError, match="d=50"):
        sv.simulate(p, l, d=50, seeds=1)


# ---------------------------------------------------------------- He3 single index (information exponent 3)
#
# Teacher y = He3(w*.x/sqrt d)/sqrt 6, one spherical student neuron with the same activation.
# Near R = 0 the ODE reads dR/dt = 3 lr R^2 - (lr^2 C/2) R with C = E[h'^2 Delta^2] = 96 at R = 0
# (docs/dynamics.md), so a start R0 escapes only if R0 > lr C/6 = 16 lr.  A random start
# (R0 ~ d^-1/2) then needs ~ d^2 steps, too many for the test suite: the tests start from a given
# overlap R0 (common to all seeds; the seeds draw the data streams), with |w|^2 = |w*|^2 = d exactly,
# so Q0 = T = 1 and the ODE starts exactly where the simulation does.

HE3 = sv.Committee(k=1, activation="he3")


def _he3_init(d, R0, seed=12345):
    """Student and teacher rows with |w|^2 = |w*|^2 = d and w.w*/d = R0 exactly."""
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal(d)
    ws *= np.sqrt(d) / np.linalg.norm(ws)
    u = rng.standard_normal(d)
    u -= (u @ ws) / d * ws
    u *= np.sqrt(d) / np.linalg.norm(u)
    return {"W": (R0 * ws + np.sqrt(1 - R0**2) * u)[None], "W_teacher": ws[None]}


def _he3_learner(d, lr, R0, times):
    return sv.OnlineSGD(width=1, activation="he3", lr=lr, time=float(times[-1]), times=times, spherical=True,
                        init=_he3_init(d, R0))


def _he3_paired(d, lr, R0, times, seeds, **sim_kw):
    learner = _he3_learner(d, lr, R0, times)
    sim = sv.simulate(HE3, learner, d=d, seeds=seeds, **sim_kw)
    # Gauss-Hermite exact for He3: I4 = E[h'h'ss] has degree 2+2+3+3 = 10 <= 2*6 - 1 (4 nodes, enough for
    # He2, are not: they underestimate the noise term by ~4%)
    th = sv.predict(HE3, learner, orders=(6, 6, 6))
    assert th.R[0, 0, 0] == pytest.approx(R0, abs=1e-12) and th.Q[0, 0, 0] == pytest.approx(1.0, abs=1e-12)
    return sim, th


def _he3_follows_ode(d, seeds):
    """lr = 0.01 from R0 = 0.5 (> 16 lr): the ODE escapes (R: 0.5 -> 0.79 by t = 60, 0.94 by t = 100).
    Returns the rms over seeds and times t <= 40 (R_ode <= 0.68) of R_sim - R_ode."""
    times = np.linspace(0.0, 60.0, 7)
    sim, th = _he3_paired(d, 0.01, 0.5, times, seeds)
    assert th.R[-1, 0, 0] > 0.75 and sim.R[-1, 0, 0] > 0.7  # both escaping
    # 4 standard errors over seeds (SGD noise, O(d^-1/2); the paired SE also holds the Monte Carlo error of
    # the test error, 1e5 fresh samples of He3 fields, ~0.02 per seed) plus 2/d for the O(1/d) terms the
    # ODE drops: the drift is convex in R (3 lr R^2), so the d^-1/2 fluctuations bias the mean at O(1/d).
    # (The heavy-tail finite-d drift correction of test_he3_finite_d_drift_tends_to_the_ode is < 0.5% at
    # lr = 0.01.)  Q = 1 in both by the spherical constraint, checked anyway.
    for field in ("R", "Q", "test_error"):
        _check(sim, [th] * len(seeds), field, d, allowance=2.0)
    # the d^-1/2 scaling of the deviation holds while it is a linear response to the SGD noise; as R -> 1
    # the deviations saturate (R <= 1), earlier at small d, so the rms is taken before the escape ends
    diff = np.array([r["R"][:, 0, 0] for r in sim.runs]) - th.R[None, :, 0, 0]
    return float(np.sqrt(np.mean(diff[:, times <= 40] ** 2)))


def test_single_index_he3_simulation_follows_ode_through_escape():
    """The simulated R(t), Q(t) and test error follow the ODE through the He3 escape, paired at
    d = 125 and 500, and the deviation shrinks like d^-1/2 (expected factor 2; allow 1.4 for 8 seeds:
    an rms over 8 seeds of correlated paths is uncertain by ~25%)."""
    seeds = list(range(8))
    rms = [_he3_follows_ode(d, seeds) for d in (125, 500)]
    assert rms[1] < rms[0] / 1.4, rms


@pytest.mark.slow
def test_single_index_he3_simulation_follows_ode_large_d():
    """As the fast test at d = 500 and 2000 (1.2e5 steps), with 16 seeds (with 8 seeds the rms ratio
    was measured at 1.49 and 2.18 on two disjoint sets; 1.81 over all 16)."""
    seeds = list(range(16))
    rms = [_he3_follows_ode(d, seeds) for d in (500, 2000)]
    assert rms[1] < rms[0] / 1.4, rms


def _he3_escape_times(d, a, eta, level, seeds, horizon):
    """lr = eta/sqrt(d) from R0 = a/sqrt(d): the ODE's escape time (first time R > level) and the
    simulated ones (a run that has not escaped by horizon x the ODE's time is censored: +inf)."""
    lr, R0 = eta / np.sqrt(d), a / np.sqrt(d)

    def crossing(t, R):
        i = int(np.argmax(R > level))
        return float(np.interp(level, R[i - 1:i + 1], t[i - 1:i + 1])) if R[i] > level else np.inf

    t_long = np.linspace(0.0, 6 * d / (eta * a), 2001)
    th = sv.predict(HE3, _he3_learner(d, lr, R0, t_long), orders=(6, 6, 6))
    t_ode = crossing(th.t, th.R[:, 0, 0])
    assert np.isfinite(t_ode)
    times = np.linspace(0.0, horizon * t_ode, 151)
    sim = sv.simulate(HE3, _he3_learner(d, lr, R0, times), d=d, seeds=seeds, n_test=100)  # only R is used
    t_sim = np.array([crossing(times, r["R"][:, 0, 0]) for r in sim.runs])
    assert np.sum(~np.isfinite(t_sim)) < len(seeds) / 4, t_sim / d  # the median and quartiles are measured
    return t_ode, t_sim


def _median_and_se(x):
    """Median of x and its standard error 1.2533 sigma / sqrt(n), sigma from the interquartile range
    (robust to the few runs whose overlap first drops, escaping late or not within the horizon)."""
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return med, 1.2533 * (q3 - q1) / 1.349 / np.sqrt(x.size)


def _he3_escape_scaling(d_small, seeds, a=3.0, eta=0.05, level=0.9, horizon=1.5):
    """Escape time ~ d at lr = eta/sqrt(d) (Ben Arous et al. 2021, k* = 3), checked on simulations at d and 4d.

    With R = r/sqrt(d), t = d tau, the dynamics of r is d-independent: dr = (3 eta r^2 - eta^2 C r/2) dtau
    plus a diffusion eta sqrt(C') dB (C' = 114 at R = 0) which the ODE lacks, so t_esc/d is a random variable
    whose law does not depend on d (up to O(d^-1/2): the late phase R = O(1)) and whose relative spread,
    ~ sqrt(32 eta/a^3) ~ 0.2 here, does not shrink with d.  A few runs escape much later or not within the
    horizon: their overlap first drops, by the diffusion or by one rare large step (He3's gradient ~ lambda^5:
    at d = 64 a single step of the 2 of 12 late runs lowered R from 0.37 to 0.14 and by 0.12; see
    test_he3_finite_d_drift_tends_to_the_ode).  Hence: compare medians of log escape times (standard
    errors from the interquartile range over seeds); the ratio between d and 4d must be the ODE's ratio
    (4.23 for d = 32 -> 128: the O(d^-1/2) late phase) within 4 standard errors, and 4 within 4 standard
    errors plus the ODE's own distance to 4.  Each d: the median log t_sim is log t_ode (the ODE is the
    small-noise limit, and a median commutes with t -> log t) within 4 SE plus 32 eta/a^3 = 0.06 (the
    O(sigma^2) shift of a median by the noise, which the ratio cancels)."""
    d1, d2 = d_small, 4 * d_small
    (to1, ts1), (to2, ts2) = (_he3_escape_times(d1, a, eta, level, seeds, horizon),
                              _he3_escape_times(d2, a, eta, level, seeds, horizon))
    (m1, se1), (m2, se2) = _median_and_se(np.log(ts1)), _median_and_se(np.log(ts2))
    bias = 32 * eta / a**3
    assert abs(m1 - np.log(to1)) <= 4 * se1 + bias, (np.exp(m1) / d1, to1 / d1, se1)
    assert abs(m2 - np.log(to2)) <= 4 * se2 + bias, (np.exp(m2) / d2, to2 / d2, se2)
    log_ratio, se = m2 - m1, np.hypot(se1, se2)
    ode_ratio = to2 / to1
    assert abs(log_ratio - np.log(ode_ratio)) <= 4 * se, (np.exp(log_ratio), ode_ratio, se)
    assert abs(log_ratio - np.log(4.0)) <= 4 * se + abs(np.log(ode_ratio / 4)), (np.exp(log_ratio), se)
    # resolving power: linear, not logarithmic (He2: ratio ~ 1 + ln4/ln d) nor quadratic (16)
    assert 4 * se < np.log(2.0)
    return np.exp(log_ratio), ode_ratio, se


@pytest.mark.slow
def test_single_index_he3_escape_time_grows_like_d_simulation():
    """d = 32 -> 128 (R0 = 0.53 -> 0.27, 4e3 and 7e4 steps; 14 s, slow since the default run neared its
    5-minute budget: its default twins are test_sgd_ode.py::test_he3_escape_time_grows_like_d, the same
    scaling in the ODE, and test_single_index_he3_simulation_follows_ode_through_escape, the simulation
    against the ODE through the escape)."""
    _he3_escape_scaling(32, list(range(12)))


@pytest.mark.slow
def test_single_index_he3_escape_time_grows_like_d_simulation_large_d():
    """d = 64 -> 256 (R0 = 0.38 -> 0.19, 3.5e5 steps at d = 256)."""
    _he3_escape_scaling(64, list(range(12)), horizon=2.0)


def _he3_finite_d_drift(R, lr, d, n=120):
    """Mean change of R per unit time (d steps) of one spherical SGD step at finite d, exactly (not expanded
    in 1/d): Q = T = 1, fields lambda = w.x/sqrt d, nu = w*.x/sqrt d, a = h'(lambda) Delta,
    R' = (R + lr a nu/d) / |w + (lr/sqrt d) a x|/sqrt d with |x|^2 = lambda^2 + d - 1 (the chi^2 fluctuation
    of the other d - 1 directions, relative O(d^-1/2) on a correction, is neglected); 2D Gauss-Hermite."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    lam, z2 = z[:, None], z[None, :]
    nu = R * lam + np.sqrt(1 - R * R) * z2
    he3 = get_activation("he3")
    a = he3.derivative(lam) * (he3(nu) - he3(lam))
    norm2 = (1 + lr * a * lam / d) ** 2 + lr**2 * a**2 * (d - 1) / d**2
    return d * float(np.sum(np.outer(w, w) * ((R + lr * a * nu / d) / np.sqrt(norm2) - R)))


def test_he3_finite_d_drift_tends_to_the_ode():
    """The exact one-step drift of R tends to the ODE's dR/dt as d -> infinity (an independent check of the
    He3 right-hand side) but slowly: lr a / sqrt d, the relative size of one step, is O(1) already for
    fields |lambda| ~ 3-4 where He3's a ~ lambda^5/2 carries most of E[a^2] = C, so the linearised
    renormalisation -lr^2 a^2/(2d) of the ODE overestimates the loss of overlap at finite d."""
    from solvable.families.sgd.equations import ode_rhs

    he3 = get_activation("he3")
    lr = 0.1
    for R in (0.1, 0.3, 0.5):
        _, dR, _, _ = ode_rhs(np.eye(1), np.array([[R]]), np.eye(1), np.ones(1), np.ones(1), c=1.0, lr=lr, lr_v=0.0,
                              noise=0.0, weight_decay=0.0, batch_size=1, train_v=False, student=he3, teacher=he3,
                              method="quadrature", orders=(6, 6, 6), spherical=True)
        assert _he3_finite_d_drift(R, lr, 1e10) == pytest.approx(dR[0, 0], rel=1e-5)
        gaps = [abs(_he3_finite_d_drift(R, lr, d) - dR[0, 0]) / abs(dR[0, 0]) for d in (500, 2000, 10_000, 100_000)]
        assert np.all(np.diff(gaps) < 0) and gaps[0] > 0.2 and gaps[-1] < 0.02, gaps


def _he3_decay(d, seeds):
    """lr = 0.1 fixed from R0 = 0.5: returns (sim, ODE, finite-d mean-drift curve) on t = 0, 1, ..., 10."""
    from scipy.integrate import solve_ivp

    times = np.linspace(0.0, 10.0, 11)
    sim, th = _he3_paired(d, 0.1, 0.5, times, seeds)
    fd = solve_ivp(lambda t, y: [_he3_finite_d_drift(y[0], 0.1, d)], (0.0, 10.0), [0.5], t_eval=times,
                   rtol=1e-8, atol=1e-10).y[0]
    return sim, th, fd


def test_single_index_he3_fixed_lr_overlap_decays():
    """At fixed lr = 0.1 the noise term wins (R0 = 0.5 < 16 lr): the ODE decays to R = 0 (rate
    lr^2 C/2 = 0.48 at R = 0) and so does the simulation, down to its noise floor: near R = 0, R is an
    Ornstein-Uhlenbeck process, variance rate lr^2 C'/d (C' = E[h'^2 Delta^2 nu^2] = 114 at R = 0) against
    the restoring rate lr^2 C/2, stationary E[R^2] = C'/(C d) = 1.19/d.

    At d = 500 the simulation decays measurably slower than the ODE (by up to 0.07 in R, 2-3 standard
    errors at each time): the finite-d step is not small for He3's large fields (test above; the exact
    one-step drift at d = 500 is 35% smaller than the ODE's at R = 0.5).  The simulation is therefore
    compared, paired at every time, with the curve of that exact finite-d mean drift (4 SE + 2/d), and
    the gap to the ODE is checked to be what that drift predicts; the slow test shows it shrinking with d."""
    d, seeds = 500, list(range(8))
    sim, th, fd = _he3_decay(d, seeds)
    assert th.R[-1, 0, 0] < 0.01 and fd[-1] < 0.05  # both decay
    R_sim = np.array([r["R"][:, 0, 0] for r in sim.runs])
    mean, se = R_sim.mean(0), R_sim.std(0, ddof=1) / np.sqrt(len(seeds))
    assert np.all(np.abs(mean - fd) <= 4 * se + 2.0 / d), (mean, fd, se)
    # the ODE lags behind the finite-d drift by more than the simulation's deviation from it
    assert np.max(fd - th.R[:, 0, 0]) > 0.05
    R_end = R_sim[:, -1]
    floor = np.sqrt(1.19 / d)
    # rms over 8 seeds of a Gaussian: relative uncertainty ~ 1/sqrt(2*8) = 0.25 -> within a factor 2
    assert 0.5 * floor < np.sqrt(np.mean(R_end**2)) < 2 * floor, (R_end, floor)


@pytest.mark.slow
def test_single_index_he3_fixed_lr_decay_approaches_ode_with_d():
    """The paired gap sim - ODE (d -> infinity) shrinks from d = 500 to 2000 as the finite-d drift says
    (measured with 16 seeds: max over t of the mean gap 0.076 -> 0.038), and the simulation follows
    the finite-d mean-drift curve at both d."""
    seeds = list(range(16))
    gaps = []
    for d in (500, 2000):
        sim, th, fd = _he3_decay(d, seeds)
        R_sim = np.array([r["R"][:, 0, 0] for r in sim.runs])
        mean, se = R_sim.mean(0), R_sim.std(0, ddof=1) / np.sqrt(len(seeds))
        assert np.all(np.abs(mean - fd) <= 4 * se + 2.0 / d), (d, mean, fd, se)
        gaps.append(np.max(mean - th.R[:, 0, 0]))
    assert gaps[1] < 0.7 * gaps[0], gaps  # finite-d drift predicts 0.067 -> 0.035 (max over t of fd - ODE)


def test_simulated_test_error_is_exact_in_the_measured_overlaps():
    """Issue 14: for erf/erf (and ReLU/ReLU) the simulated test error is the closed form of the
    measured finite-d overlaps (no Monte Carlo), and it agrees with a large Monte Carlo estimate
    of the same expectation."""
    from solvable.families.sgd import experiment as ex

    pb, lrn = sv.Committee(k=2), sv.OnlineSGD(width=2, lr=0.5, time=2.0, n_times=4)
    run = sv.simulate(pb, lrn, d=200, seeds=[1]).runs[0]
    z = np.random.default_rng(0).standard_normal((400_000, 4))
    for i in (0, 3):
        mc = ex._test_error(run["Q"][i], run["R"][i], run["T"][i], run["v"][i], pb.second_layer, 1.0,
                            lrn.activation, pb.activation, z)
        assert run["test_error"][i] == pytest.approx(mc, rel=1e-2)

"""A user-defined bounded loss ``sv.losses.Bounded(rho, drho, d2rho)``: with Tukey's own rho it reproduces
:class:`Tukey` (prox, dprox, jumps, the ERM fixed point); a Welsch loss's global prox and its jumps against
brute force, its ERM theory against simulation; the checks on rho; a Linear channel."""
import numpy as np
import pytest
from scipy.optimize import brentq

import solvable as sv
from solvable.blocks.losses import Bounded, Tukey

G = sv.priors.Gaussian()
L2 = sv.penalties.L2
OUT = sv.channels.Outliers(1.0, 5.0, 0.3, 0.0)
TAU, C = 2.0, 1.5


def tukey_rho(r):
    u = np.minimum((r / TAU) ** 2, 1.0)
    return TAU ** 2 / 6.0 * (1.0 - (1.0 - u) ** 3)


def tukey_drho(r):
    u = (r / TAU) ** 2
    return np.where(u < 1.0, r * (1.0 - u) ** 2, 0.0)


def tukey_d2rho(r):
    u = (r / TAU) ** 2
    return np.where(u < 1.0, (1.0 - u) * (1.0 - 5.0 * u), 0.0)


def welsch(r):
    return C ** 2 / 2.0 * (1.0 - np.exp(-(r / C) ** 2))


def welsch_d(r):
    return r * np.exp(-(r / C) ** 2)


def welsch_d2(r):
    return (1.0 - 2.0 * (r / C) ** 2) * np.exp(-(r / C) ** 2)


TUKEY = Bounded(tukey_rho, tukey_drho, tukey_d2rho, name="tukey2", scale=TAU, cutoff=TAU)
WELSCH = Bounded(welsch, welsch_d, welsch_d2, name="welsch", scale=C)


def test_tukey_rho_reproduces_tukey_prox_and_jumps():
    """Tukey's rho (tau = 2, cutoff = tau): prox, dprox, jumps and the quadrature breakpoints of Tukey(2) to
    1e-12 on both sides of V = 5/4 (measured <= 1e-13)."""
    ref = Tukey(TAU)
    assert abs(TUKEY.kmin + 0.8) < 1e-12 and TUKEY.can_jump
    rng = np.random.default_rng(0)
    y, om = rng.normal(0, 3, 20000), rng.normal(0, 3, 20000)
    for V in (0.5, 1.2, 1.3, 2.0, 7.0):
        Vs = np.full(y.shape, V)
        for a, b in zip(TUKEY.prox_and_derivative(y, om, Vs), ref.prox_and_derivative(y, om, Vs)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(TUKEY.prox_jumps(V), ref.prox_jumps(V))
        Va = np.array([V])
        np.testing.assert_allclose(TUKEY.jumps(Va)[..., 0], ref.jump(Va), rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(TUKEY.prox_kinks(0.3, Va), ref.prox_kinks(0.3, Va), rtol=1e-10)


@pytest.mark.parametrize("alpha,lam", [(5.0, 1.0), pytest.param(2.0, 0.1, marks=pytest.mark.slow)])
def test_tukey_rho_reproduces_the_erm_fixed_point(alpha, lam):  # (V = 3.84 > 5/4: slow; the prox-level jump tests
    # above are its fast twins)
    """The whole ERM fixed point on the outlier channel, to 1e-7 (measured 1e-15): V = 0.60 (stable) and V = 3.84
    > 5/4 (the prox jumps)."""
    pb, tau = sv.GLM(G, OUT, alpha=alpha), TAU
    a = sv.predict(pb, sv.ERM(TUKEY, L2(lam)))
    b = sv.predict(pb, sv.ERM(Tukey(tau), L2(lam)))
    for f in ("m", "q", "V", "excess_error", "train_loss"):
        np.testing.assert_allclose(a[f], b[f], rtol=1e-7, err_msg=f)
    assert (float(b.V) > 1.25) == (lam == 0.1)


def _brute(a, V, rho, drho):
    """Brute force: the best of 200001 grid points on [0, a], polished by Brent's root of the objective's
    derivative in the neighbouring cells (the scalar problem's stationarity)."""
    r = np.linspace(0.0, a, 200001)
    F = rho(r) + (r - a) ** 2 / (2 * V)
    k = int(np.argmin(F))
    lo, hi = r[max(k - 1, 0)], r[min(k + 1, len(r) - 1)]
    h = lambda x: x + V * drho(x) - a  # noqa: E731
    if h(lo) < 0 < h(hi):
        return brentq(h, lo, hi, xtol=1e-15, rtol=1e-15)
    return r[k]


def test_welsch_prox_against_brute_force():
    """Welsch, c = 1.5 (min rho'' = -2 e^{-3/2}, jumps for V >= 2.24): the prox is the global minimiser to
    1e-12 relative in r on random (r0, V), V up to 4x the convexity bound; its objective never above brute
    force; dprox matches finite differences away from the jumps."""
    assert abs(WELSCH.kmin + 2 * np.exp(-1.5)) < 1e-12
    rng = np.random.default_rng(1)
    r0 = rng.uniform(-12, 12, 300) * rng.choice([0.1, 1.0], 300)
    V = np.exp(rng.uniform(np.log(0.05), np.log(9.0), 300))
    rs = WELSCH._r_star(r0, V)
    Fobj = lambda r, a, v: welsch(r) + (r - a) ** 2 / (2 * v)  # noqa: E731
    jumps = WELSCH.jumps(V)[:, 0]
    for x, v, got, j in zip(r0, V, rs, jumps):
        want = np.sign(x) * _brute(abs(x), v, welsch, welsch_d)
        assert Fobj(got, x, v) <= Fobj(want, x, v) + 1e-14 * max(1.0, abs(x)), (x, v, got, want)
        if not abs(abs(x) - j) < 1e-6:  # at a jump both minima are global
            assert abs(got - want) <= 1e-12 * max(abs(want), C), (x, v, got, want)
    y = np.zeros(6)
    om = np.array([-3.0, -1.2, -0.4, 0.3, 1.7, 4.0])
    for v in (0.8, 2.0, 5.0):
        Vs = np.full(6, v)
        p, dp = WELSCH.prox_and_derivative(y, om, Vs)
        fd = (WELSCH.prox(y, om + 1e-6, Vs) - WELSCH.prox(y, om - 1e-6, Vs)) / 2e-6
        far = np.abs(np.abs(om) - np.nan_to_num(WELSCH.jumps(Vs)[:, 0], nan=1e9)) > 1e-3
        np.testing.assert_allclose(dp[far], fd[far], rtol=1e-6)


def test_welsch_jumps_against_brute_force():
    """prox_jumps is V >= -1 / min rho''; the jump |r0| of the global minimiser found by bisection on a brute
    force prox matches jumps(V) to 1e-9; below the bound the prox is continuous."""
    vc = -1.0 / (-2 * np.exp(-1.5))
    np.testing.assert_array_equal(WELSCH.prox_jumps(np.array([2.2, vc * 1.0001, 5.0])), [False, True, True])
    assert np.isnan(WELSCH.jumps(np.array([2.2]))).all()
    for V in (2.5, 4.0, 9.0):
        j = float(WELSCH.jumps(np.array([V]))[0, 0])
        fine = np.linspace(0.0, 10.0, 20001)
        rs = WELSCH._r_star(fine, np.full(fine.shape, V))
        step = np.abs(np.diff(rs))
        k = int(np.argmax(step))
        lo, hi, split = fine[k], fine[k + 1], 0.5 * (rs[k] + rs[k + 1])
        assert step[k] > 0.05 and lo <= j <= hi, (V, j, lo, hi)
        for _ in range(40):  # bisection on the basin of the brute-force minimiser
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _brute(mid, V, welsch, welsch_d) < split else (lo, mid)
        assert abs(0.5 * (lo + hi) - j) < 1e-9, (V, j, lo, hi)
    fine = np.linspace(0.0, 10.0, 20001)
    step = np.abs(np.diff(WELSCH._r_star(fine, np.full(fine.shape, 2.0))))
    assert step.max() < 5e-4 / (1 - 2.0 * 2 * np.exp(-1.5)) * 1.01


def test_welsch_against_simulation():
    """Welsch (c = 1.5, lam = 1, alpha = 5) on the outlier channel: RS-stable, and m, q, excess error within
    4 se of the global-search solver at d = 200 (6 seeds)."""
    pb, lr = sv.GLM(G, OUT, alpha=5.0), sv.ERM(WELSCH, L2(1.0))
    th, sim = sv.predict(pb, lr), sv.simulate(pb, lr, d=200, seeds=range(6))
    assert th.stable == 1.0
    for f in ("m", "q", "excess_error"):
        assert abs(float(sim[f]) - float(th[f])) < 4 * float(sim.se(f)), (f, float(sim[f]), float(th[f]))


def test_finite_differences_and_linear_channel():
    """Without derivatives (finite differences) the prox agrees with the exact one to 1e-9; a Linear channel
    gives a finite prediction, and the same as with exact derivatives to 1e-6."""
    fd = Bounded(welsch, name="welsch_fd", scale=C)
    assert abs(fd.kmin - WELSCH.kmin) < 1e-7
    rng = np.random.default_rng(2)
    r0, V = rng.uniform(-8, 8, 2000), np.exp(rng.uniform(-2, 2, 2000))
    a, b = fd._r_star(r0, V), WELSCH._r_star(r0, V)
    off = np.abs(np.abs(r0) - np.nan_to_num(WELSCH.jumps(V)[:, 0], nan=1e9)) > 1e-6
    assert np.max(np.abs(a - b)[off]) < 1e-8
    pb = sv.GLM(G, sv.channels.Linear(0.5), alpha=3.0)
    p1, p2 = sv.predict(pb, sv.ERM(WELSCH, L2(0.5))), sv.predict(pb, sv.ERM(fd, L2(0.5)))
    for f in ("m", "q", "V", "mse"):
        assert np.isfinite(float(p1[f])), f
        np.testing.assert_allclose(p1[f], p2[f], rtol=1e-6, err_msg=f)


def cauchy(r):
    return np.log1p(r * r)


@pytest.mark.parametrize("rho,match", [
    (cauchy, "rho must be bounded"),
    (lambda r: welsch(r) + 0.1, r"rho\(0\) must be 0"),
    (lambda r: welsch(r) + 0.01 * np.tanh(r), "rho must be even"),
    (lambda r: np.minimum(r * r, 1.0) - 0.5 * np.maximum(np.abs(r) - 1.0, 0.0) ** 2 * (np.abs(r) < 2.0),
     "non-decreasing"),
    (3.0, "rho must be a callable"),
    (lambda r: np.where(np.abs(r) > 50, np.nan, welsch(r)), "rho must be finite"),
    (lambda r: 0.0 * r, "identically 0"),
    (lambda r: float(np.sum(r)), "vectorised"),
])
def test_errors(rho, match):
    with pytest.raises(ValueError, match=match):
        Bounded(rho)


def test_more_errors_and_identity():
    import pickle

    with pytest.raises(ValueError, match="drho must be the derivative of rho"):
        Bounded(welsch, lambda r: 2 * welsch_d(r), scale=C)
    with pytest.raises(ValueError, match="constant beyond cutoff"):
        Bounded(welsch, scale=C, cutoff=2.0)
    with pytest.raises(ValueError, match="scale must be finite and > 0"):
        Bounded(welsch, scale=0.0)
    with pytest.raises(ValueError, match="d2rho must be a callable"):
        Bounded(welsch, welsch_d, "x")
    back = pickle.loads(pickle.dumps(WELSCH))
    assert back == WELSCH and hash(back) == hash(WELSCH) and back != TUKEY
    assert "welsch" in repr(WELSCH) and WELSCH.solver == "nonconvex"
    lr = sv.ERM(WELSCH, L2(1.0))
    assert pickle.loads(pickle.dumps(lr)) == lr

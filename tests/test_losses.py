"""Losses: prox against scipy.optimize, derivatives, Moreau envelopes, the logistic prox
to 1e-10 over the issue's range, validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from solvable.blocks import losses as L

LOSSES = [L.Square(), L.Logistic(), L.Hinge(), L.Huber(1.0), L.Huber(0.3), L.Absolute()]


def _prox_ref(loss, y, omega, V):
    """argmin_z loss(y, z) + (z - omega)^2 / (2V) by bounded Brent, then polished."""
    obj = lambda z: float(loss.value(y, z)) + (z - omega) ** 2 / (2 * V)
    # the minimiser lies between omega and the minimiser of the loss: a safe bracket
    lo, hi = min(omega, -abs(y) - 2) - 1, max(omega, abs(y) + 2) + 1
    if isinstance(loss, L.Logistic):
        lo, hi = min(omega, omega + V * y) - 1, max(omega, omega + V * y) + 1
    res = minimize_scalar(obj, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12 * max(1, hi - lo)})
    return res.x, res.fun


def _label(loss, y):
    return np.sign(y) if loss.is_classification and y != 0 else (1.0 if loss.is_classification else y)


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
@given(y=st.floats(-5, 5), omega=st.floats(-20, 20), logV=st.floats(np.log(1e-3), np.log(1e3)))
def test_prox_matches_minimize_scalar(loss, y, omega, logV):
    y = _label(loss, y)
    V = float(np.exp(logV))
    z_ref, f_ref = _prox_ref(loss, y, omega, V)
    z = float(loss.prox(y, omega, V))
    obj = lambda t: float(loss.value(y, t)) + (t - omega) ** 2 / (2 * V)
    # the library's point is at least as good as Brent's, and they agree
    assert obj(z) <= f_ref + 1e-10 * (1 + abs(f_ref))
    assert z == pytest.approx(z_ref, abs=1e-6 * (1 + abs(z_ref)))
    assert float(loss.moreau(y, omega, V)) == pytest.approx(obj(z), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_prox_extreme_inputs(loss):
    y = np.array([1.0, -1.0, 1.0, -1.0]) if loss.is_classification else np.array([3.0, -1e3, 1e3, 0.0])
    omega = np.array([1e3, -1e3, -1e3, 0.0])
    V = np.array([1e-6, 1e6, 1e3, 1e-6])
    p = loss.prox(y, omega, V)
    assert np.all(np.isfinite(p))
    for yi, oi, Vi, pi in zip(y, omega, V, p):
        obj = lambda t: float(loss.value(yi, t)) + (t - oi) ** 2 / (2 * Vi)
        # optimality: no better point nearby on either side
        h = 1e-7 * (1 + abs(pi))
        assert obj(pi) <= min(obj(pi + h), obj(pi - h)) + 1e-9 * (1 + abs(obj(pi)))


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_dprox_and_grad_are_derivatives(loss):
    rng = np.random.default_rng(2)
    n = 200
    y = rng.choice([-1.0, 1.0], n) if loss.is_classification else rng.normal(0, 2, n)
    omega = rng.normal(0, 3, n)
    V = np.exp(rng.uniform(np.log(0.05), np.log(20), n))
    h = 1e-6
    num = (loss.prox(y, omega + h, V) - loss.prox(y, omega - h, V)) / (2 * h)
    dp = loss.dprox(y, omega, V)
    p, dp2 = loss.prox_and_derivative(y, omega, V)
    np.testing.assert_array_equal(dp, dp2)
    np.testing.assert_allclose(p, loss.prox(y, omega, V))
    # away from the kinks of piecewise losses (where dprox jumps) the difference quotient is accurate
    # points of omega where the prox of a piecewise loss changes regime (dprox jumps there)
    if isinstance(loss, L.Huber):
        jumps = np.stack([y - loss.delta * (1 + V), y + loss.delta * (1 + V)], -1)
    elif isinstance(loss, L.Hinge):
        jumps = np.stack([y * 1.0, y * (1.0 - V)], -1)  # y * omega = 1 or 1 - V (y = +-1)
    elif isinstance(loss, L.Absolute):
        jumps = np.stack([y - V, y + V], -1)
    else:
        jumps = np.full((n, 1), np.inf)
    ok = np.all(np.abs(omega[:, None] - jumps) > 1e-4, axis=-1)
    np.testing.assert_allclose(dp[ok], num[ok], rtol=1e-6, atol=1e-6)
    assert ok.mean() > 0.9
    assert np.all((dp >= 0) & (dp <= 1))  # the prox of a convex function is 1-Lipschitz and monotone
    # Moreau envelope: d/domega moreau = (omega - prox) / V
    dm = (loss.moreau(y, omega + h, V) - loss.moreau(y, omega - h, V)) / (2 * h)
    np.testing.assert_allclose(dm, (omega - p) / V, rtol=1e-5, atol=1e-5)
    # gradient of the loss (away from kinks)
    z = rng.normal(0, 2, n)
    gnum = (loss.value(y, z + h) - loss.value(y, z - h)) / (2 * h)
    kinks = loss.kinks(y)
    far = np.all(np.abs(z[:, None] - kinks) > 1e-4, axis=-1) if kinks.shape[-1] else np.ones(n, bool)
    np.testing.assert_allclose(loss.grad(y, z)[far], gnum[far], rtol=1e-6, atol=1e-7)
    hnum = (loss.grad(y, z + h) - loss.grad(y, z - h)) / (2 * h)
    np.testing.assert_allclose(loss.hess(y, z)[far], hnum[far], rtol=1e-5, atol=1e-6)


def test_logistic_prox_high_accuracy_grid():
    """|prox - exact| <= 1e-10 (1 + |prox|) over V in [1e-6, 1e6], omega in [-1e3, 1e3], one
    vectorised call; the exact root of u = a + V sigma(-u) by mpmath at 50 digits."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    V = np.logspace(-6, 6, 13)
    omega = np.concatenate([-np.logspace(3, -3, 7), [0.0], np.logspace(-3, 3, 7)])
    VV, OO = np.meshgrid(V, omega)
    yy = np.where(np.arange(OO.size).reshape(OO.shape) % 2 == 0, 1.0, -1.0)
    loss = L.Logistic()
    p, dp = loss.prox_and_derivative(yy, OO, VV)
    assert p.shape == VV.shape
    for y, o, v, pz, d in zip(yy.ravel(), OO.ravel(), VV.ravel(), p.ravel(), dp.ravel()):
        a, Vm = mp.mpf(y) * mp.mpf(o), mp.mpf(v)
        f = lambda u: u - a - Vm / (1 + mp.exp(u))
        lo, hi = a, a + Vm  # f increasing, f(lo) < 0 < f(hi): bisection
        for _ in range(110):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        u = (lo + hi) / 2
        exact = float(y * u)
        assert abs(pz - exact) <= 1e-10 * (1 + abs(exact)), (y, o, v, pz, exact)
        s = 1 / (1 + mp.exp(-u))
        assert d == pytest.approx(float(1 / (1 + Vm * s * (1 - s))), abs=1e-9)


def test_closed_form_proxes():
    y, omega, V = 0.7, np.linspace(-3, 3, 13), 0.5
    np.testing.assert_allclose(L.Square().prox(y, omega, V), (omega + V * y) / (1 + V))
    np.testing.assert_allclose(L.Absolute().prox(y, omega, V), np.clip(y, omega - V, omega + V))
    h = L.Hinge().prox(1.0, omega, V)
    np.testing.assert_allclose(h, np.where(omega >= 1, omega, np.where(omega <= 1 - V, omega + V, 1.0)))


@given(y=st.floats(-1e3, 1e3), z=st.floats(-1e3, 1e3))
def test_values(y, z):
    assert float(L.Square().value(y, z)) == pytest.approx(0.5 * (y - z) ** 2)
    assert float(L.Absolute().value(y, z)) == pytest.approx(abs(y - z))
    r = abs(y - z)
    assert float(L.Huber(2.0).value(y, z)) == pytest.approx(0.5 * r * r if r <= 2 else 2 * r - 2.0)
    s = 1.0 if y >= 0 else -1.0
    assert float(L.Hinge().value(s, z)) == pytest.approx(max(0.0, 1 - s * z))
    assert float(L.Logistic().value(s, z)) == pytest.approx(np.logaddexp(0, -s * z), rel=1e-14)


def test_get_loss_and_validation():
    assert isinstance(L.get_loss("logistic"), L.Logistic)
    assert L.get_loss("HINGE") == L.Hinge()
    assert L.get_loss("huber", delta=2.0).delta == 2.0
    h = L.Huber(0.5)
    assert L.get_loss(h) is h
    with pytest.raises(ValueError, match="unknown loss 'cauchy'.*known losses"):
        L.get_loss("cauchy")
    with pytest.raises(ValueError, match="delta"):
        L.Huber(0.0)
    with pytest.raises(ValueError, match="V > 0"):
        L.Square().prox(1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="labels"):
        L.Logistic().prox(0.5, 0.0, 1.0)
    assert L.Logistic().is_classification and L.Hinge().is_classification and not L.Square().is_classification


@pytest.mark.parametrize("loss", LOSSES + [L.HardMargin()], ids=repr)
def test_prox_kinks_are_where_dprox_jumps(loss):
    """prox_kinks(y, V) lists the omegas where dprox jumps; between them dprox is constant."""
    V = 0.6
    for y in ([1.0, -1.0] if loss.is_classification else [0.7, -1.3]):
        k = np.sort(loss.prox_kinks(y, V))
        eps = 1e-7
        for kk in k:
            assert loss.dprox(y, kk - eps, V) != loss.dprox(y, kk + eps, V), (loss, y, kk)
        edges = np.concatenate([[k[0] - 5.0] if len(k) else [-5.0], k, [k[-1] + 5.0] if len(k) else [5.0]])
        if not loss.smooth or isinstance(loss, L.Huber):  # piecewise-constant dprox between the kinks
            for lo, hi in zip(edges[:-1], edges[1:]):
                d = loss.dprox(y, np.linspace(lo + 1e-6, hi - 1e-6, 7), V)
                np.testing.assert_allclose(d, d[0])
    assert loss.prox_kinks(np.array([1.0, -1.0]), np.full((3, 1), V)).shape[:2] == (3, 2)


def test_smooth_losses_have_no_prox_kinks():
    for loss in (L.Square(), L.Logistic()):
        assert loss.prox_kinks(np.ones(4), 0.5).shape == (4, 0)


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_grad_lipschitz_is_the_sup_of_the_curvature(loss):
    z = np.linspace(-20, 20, 4001)
    if loss.grad_lipschitz is None:
        assert not loss.smooth
        return
    for y in ([1.0, -1.0] if loss.is_classification else [0.0, 2.5]):
        h = loss.hess(y, z)
        assert np.max(h) <= loss.grad_lipschitz * (1 + 1e-12)
        assert np.max(h) == pytest.approx(loss.grad_lipschitz, rel=1e-6)


def test_loss_capabilities():
    assert all(loss.has_prox for loss in LOSSES + [L.HardMargin()]) and not L.Loss().has_prox
    assert [loss.is_square for loss in LOSSES] == [True, False, False, False, False, False]
    assert L.HardMargin().is_constraint and not any(loss.is_constraint for loss in LOSSES)
    assert {type(loss).__name__: loss.solver for loss in LOSSES + [L.HardMargin()]} == {
        "Square": "ridge", "Logistic": "newton", "Hinge": "hinge", "Huber": "newton", "Absolute": "absolute",
        "HardMargin": "max_margin"}
    assert L.Loss().solver is None and L.Loss().grad_lipschitz is None

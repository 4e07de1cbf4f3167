"""Penalties: prox against scipy.optimize, derivative, values, validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from solvable.blocks import penalties as Pn

PENALTIES = [Pn.L2(0.0), Pn.L2(0.7), Pn.L1(0.4), Pn.ElasticNet(0.8, 0.3), Pn.ElasticNet(1.5, 1.0), Pn.ElasticNet(0.5, 0.0)]


@pytest.mark.parametrize("pen", PENALTIES, ids=repr)
@given(x=st.floats(-1e3, 1e3), logg=st.floats(np.log(1e-4), np.log(1e4)))
def test_prox_matches_minimize_scalar(pen, x, logg):
    g = float(np.exp(logg))
    obj = lambda w: float(pen.value(np.array([w]))) + (w - x) ** 2 / (2 * g)
    res = minimize_scalar(obj, bounds=(-abs(x) - 1, abs(x) + 1), method="bounded", options={"xatol": 1e-12})
    p = float(pen.prox(x, g))
    assert obj(p) <= res.fun + 1e-10 * (1 + abs(res.fun))
    assert p == pytest.approx(res.x, abs=1e-6 * (1 + abs(x)))


@pytest.mark.parametrize("pen", PENALTIES, ids=repr)
def test_dprox_is_derivative(pen):
    x = np.linspace(-3, 3, 61) + 0.013
    g = 0.9
    h = 1e-7
    num = (pen.prox(x + h, g) - pen.prox(x - h, g)) / (2 * h)
    dp = pen.dprox(x, g)
    assert dp.shape == x.shape
    np.testing.assert_allclose(dp, num, rtol=1e-6, atol=1e-7)
    # vectorised over gamma too
    gam = np.linspace(0.1, 2, 61)
    np.testing.assert_allclose(pen.prox(x, gam), [float(pen.prox(a, b)) for a, b in zip(x, gam)])


def test_values_and_parts():
    w = np.array([1.0, -2.0, 0.5])
    assert float(Pn.L2(0.5).value(w)) == pytest.approx(0.25 * 5.25)
    assert float(Pn.L1(0.5).value(w)) == pytest.approx(0.5 * 3.5)
    en = Pn.ElasticNet(2.0, 0.25)
    assert float(en.value(w)) == pytest.approx(2.0 * (0.25 * 3.5 + 0.375 * 5.25))
    assert en.l1_part == pytest.approx(0.5) and en.l2_part == pytest.approx(1.5)
    assert Pn.L2(0.3).l2_part == 0.3 and Pn.L2(0.3).l1_part == 0.0
    # elastic net with l1_ratio 0 or 1 reduces to L2 / L1
    x = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(Pn.ElasticNet(0.7, 0.0).prox(x, 0.4), Pn.L2(0.7).prox(x, 0.4))
    np.testing.assert_allclose(Pn.ElasticNet(0.7, 1.0).prox(x, 0.4), Pn.L1(0.7).prox(x, 0.4))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: Pn.L2(float("inf")), "lam"),
        (lambda: Pn.L1(-1.0), "lam"),
        (lambda: Pn.L2(float("nan")), "lam"),
        (lambda: Pn.ElasticNet(-1.0), "lam"),
        (lambda: Pn.ElasticNet(1.0, 1.5), "l1_ratio"),
        (lambda: Pn.L2(1.0).prox(1.0, 0.0), "gamma"),
        (lambda: Pn.get_penalty("l0"), "unknown penalty"),
    ],
)
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_l2_takes_a_negative_strength():
    """L2(lam < 0) is a valid penalty (ridge below zero); the engines that cannot take it raise (tests in
    test_outliers.py, test_erm.py)."""
    assert Pn.L2(-0.1).lam == -0.1


def test_get_penalty():
    assert isinstance(Pn.get_penalty("ridge"), Pn.L2)
    assert isinstance(Pn.get_penalty("Elastic-Net", lam=1.0), Pn.ElasticNet)
    assert Pn.get_penalty("lasso", lam=0.2).lam == 0.2


@pytest.mark.parametrize("pen", PENALTIES, ids=repr)
def test_l1_ratio_gives_the_elastic_net_form(pen):
    """value = lam (r |w|_1 + (1 - r)/2 |w|^2) with r = l1_ratio, for every penalty."""
    r = pen.l1_ratio
    assert r == {"l2": 0.0, "l1": 1.0}.get(pen.name, getattr(pen, "l1_ratio"))
    w = np.array([0.3, -1.2, 2.0])
    assert float(pen.value(w)) == pytest.approx(pen.lam * (r * np.abs(w).sum() + 0.5 * (1 - r) * w @ w))
    assert pen.l1_part == pytest.approx(pen.lam * r) and pen.l2_part == pytest.approx(pen.lam * (1 - r))
    assert Pn.Penalty().l1_ratio is None

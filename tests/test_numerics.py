"""Layer 1: Gaussian expectations (1D and correlated 2D) and the fixed-point solver."""
from __future__ import annotations

import warnings
from math import comb

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from solvable.numerics import (
    ConvergenceError,
    ConvergenceWarning,
    continuation,
    gauss_expect,
    gauss_expect_2d,
    hermite_rule,
    legendre_rule,
    solve_fixed_point,
)

# ----------------------------------------------------------------------------- 1D


def _gauss_moment(m, v, k):
    """E[(m + sqrt(v) z)^k] = sum_j C(k, j) m^(k-j) v^(j/2) (j-1)!! (j even)."""
    out = np.zeros(np.broadcast(m, v).shape)
    for j in range(0, k + 1, 2):
        dfact = np.prod(np.arange(j - 1, 0, -2)) if j else 1
        out = out + comb(k, j) * m ** (k - j) * v ** (j // 2) * dfact
    return out


def test_moments_closed_form_vectorised():
    m = np.linspace(-2, 2, 9)[:, None]
    v = np.array([0.0, 0.01, 0.5, 1.0, 3.0])[None, :]
    for k in range(11):
        calls = []

        def f(x, k=k):
            calls.append(x.shape)
            return x**k

        got = gauss_expect(f, m, v)
        assert got.shape == (9, 5)
        assert len(calls) == 1  # the whole grid in one call
        ref = _gauss_moment(m, v, k)
        scale = (1 + np.abs(m) + np.sqrt(v)) ** k
        assert np.all(np.abs(got - ref) <= 1e-12 * scale), k


def _quad_ref(f, m, v):
    s = np.sqrt(v)
    g = lambda z: f(m + s * z) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return sum(integrate.quad(g, a, b, epsabs=1e-16, epsrel=1e-14, limit=400)[0] for a, b in [(-40, -m / s if s else 0), (-m / s if s else 0, 40)])


def _logcosh(x):
    a = np.abs(x)
    return a + np.log1p(np.exp(-2 * a)) - np.log(2)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("f", [np.tanh, _logcosh], ids=["tanh", "logcosh"])
def test_tanh_and_logcosh_against_quad(f):
    m = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])[:, None]
    v_small = np.array([1e-4, 0.05, 0.3, 1.0])[None, :]
    ref = np.vectorize(lambda a, b: _quad_ref(f, a, b))(m, v_small)
    np.testing.assert_allclose(gauss_expect(f, m, v_small), ref, rtol=0, atol=1e-10)
    # large variance: the integrand's complex poles (tanh) come within ~1/sqrt(var) of the
    # real axis in z, Gauss-Hermite converges slowly; composite Gauss-Legendre does not
    v_large = np.array([3.0, 10.0, 30.0])[None, :]
    ref = np.vectorize(lambda a, b: _quad_ref(f, a, b))(m, v_large)
    got = gauss_expect(f, m, v_large, method="legendre", n=20, pieces=48)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    assert np.max(np.abs(gauss_expect(f, m, v_large) - ref)) > 1e-8  # why pieces are offered


def test_expected_Phi_closed_form():
    """E Phi(a + b z) = Phi(a / sqrt(1 + b^2))."""
    a = np.linspace(-6, 6, 25)[:, None]
    b = np.array([0.0, 0.1, 0.5, 1.0, 2.0])[None, :]
    got = gauss_expect(ndtr, a, b**2)
    np.testing.assert_allclose(got, ndtr(a / np.sqrt(1 + b**2)), rtol=1e-10, atol=1e-14)


def test_kinked_integrands_with_breakpoints():
    """E max(0, x) = m Phi(m/s) + s phi(m/s); E 1{x > 0} = Phi(m/s), to 1e-10 with the
    Legendre rule split at the kink."""
    m = np.linspace(-4, 4, 17)[:, None]
    v = np.array([1e-6, 0.01, 0.5, 1.0, 9.0])[None, :]
    s = np.sqrt(v)
    relu = gauss_expect(lambda x: np.maximum(x, 0.0), m, v, method="legendre", breakpoints=[0.0])
    ref = m * ndtr(m / s) + s * np.exp(-0.5 * (m / s) ** 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(relu, ref, rtol=1e-10, atol=1e-13)
    step = gauss_expect(lambda x: (x > 0).astype(float), m, v, method="legendre", breakpoints=[0.0])
    np.testing.assert_allclose(step, ndtr(m / s), rtol=1e-10, atol=1e-13)
    # per-grid-point breakpoints: E 1{x > c}
    c = np.linspace(-1, 1, 17)[:, None, None] * np.ones((1, 5, 1))
    step_c = gauss_expect(lambda x: (x > c).astype(float), m, v, method="legendre", breakpoints=c)
    np.testing.assert_allclose(step_c, ndtr((m - c[..., 0]) / s), rtol=1e-10, atol=1e-13)
    # without the break point the same rule is visibly worse: the kink is what matters
    assert np.max(np.abs(gauss_expect(lambda x: (x > 0).astype(float), m, v, method="legendre") - ndtr(m / s))) > 1e-6


def test_zero_variance_is_point_evaluation():
    m = np.array([-1.0, 0.3, 2.0])
    np.testing.assert_allclose(gauss_expect(np.exp, m, 0.0), np.exp(m), rtol=1e-14)
    np.testing.assert_allclose(gauss_expect(np.exp, m, 0.0, method="legendre", breakpoints=[0.3]), np.exp(m), rtol=1e-13)


def test_rules():
    z, w = hermite_rule(30)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    assert (w * z * z).sum() == pytest.approx(1.0, abs=1e-13)
    with pytest.raises(ValueError):
        z[0] = 1.0  # cached rules are read-only
    x, w = legendre_rule(10)
    assert w.sum() == pytest.approx(2.0, abs=1e-14)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: gauss_expect(np.sin, 0.0, -1.0), "var"),
        (lambda: gauss_expect(np.sin, 0.0, np.nan), "var"),
        (lambda: gauss_expect(np.sin, 0.0, 1.0, method="simpson"), "method"),
        (lambda: gauss_expect(np.sin, 0.0, 1.0, n=0), "n="),
        (lambda: gauss_expect(np.sin, 0.0, 1.0, method="legendre", pieces=0), "pieces"),
        (lambda: hermite_rule(2.5), "n="),
        (lambda: legendre_rule(-1), "n="),
    ],
)
def test_gauss_expect_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- 2D

R = np.array([-0.99, -0.7, -0.3, 0.0, 0.2, 0.6, 0.95, 1.0])


def test_2d_second_moments_and_means():
    a, c = 2.0, 0.5
    b = R * np.sqrt(a * c)
    got = gauss_expect_2d(lambda z, w: z * w, (a, b, c), mean=(0.3, -1.0))
    np.testing.assert_allclose(got, b + 0.3 * -1.0, rtol=1e-13, atol=1e-14)
    got = gauss_expect_2d(lambda z, w: w * w, (a, b, c))
    np.testing.assert_allclose(got, c, rtol=1e-13)
    # a (..., 2, 2) covariance array gives the same
    cov = np.stack([np.stack([np.full_like(b, a), b], -1), np.stack([b, np.full_like(b, c)], -1)], -2)
    np.testing.assert_allclose(gauss_expect_2d(lambda z, w: z * w, cov), b, rtol=1e-13, atol=1e-15)


def test_2d_orthant_and_sign_correlation():
    """P(z > 0, w > 0) = 1/4 + arcsin(r)/(2 pi); E sign z sign w = (2/pi) arcsin r (Sheppard)."""
    a = np.array([0.5, 1.0, 3.0])[:, None]
    c = np.array([1.0, 0.2, 2.0])[:, None]
    b = R[None, :] * np.sqrt(a * c)
    # near |r| = 1 the inner integral, Phi(-r z / sqrt(1 - r^2)) up to scales, is steep in z:
    # finer pieces keep the composite rule spectrally accurate there
    kw = dict(method="legendre", breakpoints_z=[0.0], breakpoints_w=[0.0], pieces=24)
    orth = gauss_expect_2d(lambda z, w: ((z > 0) & (w > 0)).astype(float), (a, b, c), **kw)
    assert orth.shape == (3, len(R))
    np.testing.assert_allclose(orth, 0.25 + np.arcsin(R) / (2 * np.pi) + 0 * a, atol=1e-10)
    ss = gauss_expect_2d(lambda z, w: np.sign(z) * np.sign(w), (a, b, c), **kw)
    np.testing.assert_allclose(ss, 2 / np.pi * np.arcsin(R) + 0 * a, atol=1e-10)


def test_2d_grid_parameters_inside_f():
    t = np.linspace(-1, 1, 5)  # a grid parameter used inside f as t[..., None, None]
    got = gauss_expect_2d(lambda z, w: (z + t[..., None, None] * w) ** 2, (np.ones(5), 0.5 * np.ones(5), np.ones(5)))
    np.testing.assert_allclose(got, 1 + t * t + 2 * t * 0.5, rtol=1e-13)


def test_2d_degenerate_variances():
    # a = 0: z is the constant mean; w ~ N(mw, c)
    got = gauss_expect_2d(lambda z, w: np.exp(z) * w * w, (0.0, 0.0, 2.0), mean=(0.5, 1.0))
    assert got == pytest.approx(np.exp(0.5) * 3.0, rel=1e-13)
    got = gauss_expect_2d(lambda z, w: (w > 1).astype(float), (0.0, 0.0, 2.0), mean=(0.5, 1.0),
                          method="legendre", breakpoints_w=[1.0])
    assert got == pytest.approx(0.5, abs=1e-12)
    # perfectly correlated: w = z
    got = gauss_expect_2d(lambda z, w: (z - w) ** 2, (1.5, 1.5, 1.5))
    assert got == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: gauss_expect_2d(lambda z, w: z, (1.0, 2.0, 1.0)), "positive semi-definite"),
        (lambda: gauss_expect_2d(lambda z, w: z, (-1.0, 0.0, 1.0)), ">= 0"),
        (lambda: gauss_expect_2d(lambda z, w: z, (1.0, 0.0, -1.0)), ">= 0"),
        (lambda: gauss_expect_2d(lambda z, w: z, np.eye(3)), "trailing shape"),
        (lambda: gauss_expect_2d(lambda z, w: z, (1.0, 0.0, 1.0), method="x"), "method"),
    ],
)
def test_2d_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- fixed points

A3 = np.array([[0.5, 0.2, 0.0], [0.1, 0.4, 0.1], [0.0, 0.3, 0.3]])
b3 = np.array([1.0, -2.0, 0.5])
X3 = np.linalg.solve(np.eye(3) - A3, b3)


@pytest.mark.parametrize("kw", [{}, {"damping": 0.5}, {"anderson": 3}, {"anderson": 5, "damping": 0.3}])
def test_contraction_converges(kw):
    res = solve_fixed_point(lambda x: A3 @ x + b3, np.zeros(3), tol=1e-12, **kw)
    assert res.converged and res.all_converged
    np.testing.assert_allclose(res.x, X3, atol=1e-10)
    assert res.residuals.shape == (res.n_iter,)
    assert res.residuals[-1] < 1e-12
    assert "converged" in res.message


def _slow(x):
    return 0.98 * x + 0.02 * np.cos(x)  # contraction ratio ~0.98: slow for plain iteration


def test_anderson_beats_plain_on_slow_contraction():
    plain = solve_fixed_point(_slow, np.array([3.0]), tol=1e-12)
    aa = solve_fixed_point(_slow, np.array([3.0]), tol=1e-12, anderson=3)
    assert plain.converged and aa.converged
    np.testing.assert_allclose(aa.x, plain.x, atol=1e-9)
    assert aa.x[0] == pytest.approx(np.cos(aa.x[0]), abs=1e-9)  # x = cos x
    assert aa.n_iter * 5 < plain.n_iter, (aa.n_iter, plain.n_iter)


def test_batch_mode_matches_single_solves_and_freezes_rows():
    c = np.array([0.1, 0.5, 0.9, 0.99])[:, None]  # contraction rates: rows converge at different speeds
    seen = []
    res = solve_fixed_point(lambda x: x, np.zeros((4, 1)), batch=True)  # trivial: converged at once
    assert res.converged.all() and res.n_iter == 1

    # a batch where row i is x -> c_i x + 1, with c_i carried as a second coordinate
    def Fc(x):
        seen.append(x.shape[0])
        return np.stack([x[:, 1] * x[:, 0] + 1.0, x[:, 1]], axis=1)

    x0 = np.concatenate([np.zeros((4, 1)), c], axis=1)
    seen.clear()
    res = solve_fixed_point(Fc, x0, batch=True, tol=1e-11)
    assert isinstance(res.converged, np.ndarray) and res.converged.all()
    np.testing.assert_allclose(res.x[:, 0], 1 / (1 - c[:, 0]), rtol=1e-8)
    assert res.residuals.shape == (res.n_iter, 4)
    assert seen[0] == 4 and seen[-1] == 1 and sorted(seen, reverse=True) == seen  # rows are frozen
    for i in range(4):
        single = solve_fixed_point(lambda x, ci=c[i, 0]: ci * x + 1.0, np.zeros(1), tol=1e-11)
        assert res.x[i, 0] == pytest.approx(single.x[0], rel=1e-10)
    # Anderson in batch mode
    res_a = solve_fixed_point(Fc, x0, batch=True, tol=1e-11, anderson=2)
    assert res_a.converged.all() and res_a.n_iter < res.n_iter
    np.testing.assert_allclose(res_a.x[:, 0], 1 / (1 - c[:, 0]), rtol=1e-8)


def test_non_convergence_is_reported():
    with pytest.warns(ConvergenceWarning, match="no convergence after 50 iterations"):
        res = solve_fixed_point(lambda x: 1.0 - x, np.array([0.0]), max_iter=50)  # 2-cycle
    assert res.converged is False and not res.all_converged
    assert res.n_iter == 50 and res.residuals.shape == (50,)
    np.testing.assert_allclose(res.residuals, 1.0)
    assert np.all(np.isfinite(res.x))
    assert res.diagnostics["oscillating"] is True
    assert "damping" in res.message
    # damping fixes this oscillation
    assert solve_fixed_point(lambda x: 1.0 - x, np.array([0.0]), damping=0.5).x[0] == pytest.approx(0.5)


def test_on_fail_raise_and_ignore():
    with pytest.raises(ConvergenceError) as info:
        solve_fixed_point(lambda x: x + 1.0, np.zeros(2), max_iter=30, on_fail="raise", name="toy map")
    assert "toy map" in str(info.value)
    assert info.value.result.converged is False and info.value.result.n_iter == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve_fixed_point(lambda x: x + 1.0, np.zeros(2), max_iter=30, on_fail="ignore")
    assert not res.converged


def test_non_finite_map_is_reported_not_nan():
    with pytest.warns(ConvergenceWarning, match="non-finite"):
        res = solve_fixed_point(lambda x: np.log(x - 1.0), np.array([0.5]))
    assert res.converged is False
    assert np.all(np.isfinite(res.x)) and res.x[0] == 0.5
    # in a batch, only the bad row is stopped
    F = lambda x: np.where(x[:, :1] > 0, 0.5 * x, np.sqrt(x - 1.0))
    with pytest.warns(ConvergenceWarning):
        res = solve_fixed_point(F, np.array([[1.0], [-1.0], [2.0]]), batch=True)
    np.testing.assert_array_equal(res.converged, [True, False, True])
    assert np.all(np.isfinite(res.x))


def test_bounds_and_relative_tolerance():
    res = solve_fixed_point(lambda x: 2.0 * x, np.array([0.3]), upper=1.0, max_iter=100, on_fail="ignore")
    assert res.x[0] == pytest.approx(1.0)  # clipped at the bound (x = 1 is not a fixed point)
    res = solve_fixed_point(lambda x: 0.5 * x + 1e6, np.array([0.0]), tol=0.0, rtol=1e-10)
    assert res.converged and res.x[0] == pytest.approx(2e6, rel=1e-9)


def test_continuation_warm_start():
    params = np.linspace(3.0, 6.0, 31)
    make = lambda p: (lambda x: 0.9 * x + 0.1 * (p + 0.3 * np.sin(x)))  # x* solves x = p + 0.3 sin x
    warm = continuation(make, params, np.zeros(1), tol=1e-12)
    cold = [solve_fixed_point(make(p), np.zeros(1), tol=1e-12) for p in params]
    for w, c, p in zip(warm, cold, params):
        assert w.converged and w.x[0] == pytest.approx(c.x[0], abs=1e-9)
        assert w.x[0] == pytest.approx(p + 0.3 * np.sin(w.x[0]), abs=1e-9)
    # contraction 0.9 and tol 1e-12: iterations ~ log(err0 / tol); a warm start cuts err0
    # from ~5 (cold, x0 = 0) to ~0.1 (the step in p), i.e. ~13% fewer iterations per point
    assert all(w.n_iter <= c.n_iter for w, c in zip(warm[1:], cold[1:]))
    assert sum(r.n_iter for r in warm) < 0.9 * sum(r.n_iter for r in cold)


def test_continuation_restarts_after_failure():
    # at p = 1 the map has no fixed point (x -> x + 1); the next point starts again from x0
    make = lambda p: (lambda x: x + 1.0) if p == 1 else (lambda x: 0.5 * x + p)
    with pytest.warns(ConvergenceWarning):
        res = continuation(make, [0.0, 1.0, 2.0], np.zeros(1), max_iter=40)
    assert [r.converged for r in res] == [True, False, True]
    assert res[2].x[0] == pytest.approx(4.0)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"damping": -0.1}, "damping"),
        ({"damping": 1.0}, "damping"),
        ({"anderson": -1}, "anderson"),
        ({"anderson": 1.5}, "anderson"),
        ({"on_fail": "explode"}, "on_fail"),
        ({"x0": np.array([np.nan])}, "not finite"),
        ({"x0": np.zeros(3), "batch": True}, "batch"),
    ],
)
def test_fixed_point_validation(kw, match):
    x0 = kw.pop("x0", np.zeros(1))
    with pytest.raises(ValueError, match=match):
        solve_fixed_point(lambda x: x, x0, **kw)


# ----------------------------------------------------------------------------- kinks, interpolation, roots


def test_kinked_gauss_expect_folded_normal():
    """E|x| for x ~ N(m, v) (folded normal mean) with the kink at 0 as a breakpoint; without kinks
    the 60-node Hermite rule of gauss_expect."""
    from scipy.special import erf

    from solvable.numerics.gauss import kinked_gauss_expect

    m = np.linspace(-2.0, 2.0, 7)[:, None]
    v = np.array([1e-3, 0.3, 2.0])[None, :]
    exact = np.sqrt(2 * v / np.pi) * np.exp(-m * m / (2 * v)) + m * erf(m / np.sqrt(2 * v))
    for n in (12, 16):
        np.testing.assert_allclose(kinked_gauss_expect(np.abs, m, v, [0.0], n=n), exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(kinked_gauss_expect(lambda x: x * x, m, v, [], n=12), m * m + v, rtol=1e-13)


def test_composite_legendre_nodes_is_public_and_integrates_the_gaussian():
    from solvable.numerics import gauss

    assert gauss._composite_legendre_nodes is gauss.composite_legendre_nodes
    z, w = gauss.composite_legendre_nodes(np.zeros(3), np.ones(3), [0.5], 20, 12.0, 6)
    np.testing.assert_allclose(np.sum(w, -1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.sum(w * z * z, -1), 1.0, rtol=1e-12)


def test_chebyshev_panels_smooth_and_runge():
    """Piecewise Chebyshev interpolation: a smooth pair of functions to rounding on one panel per
    initial edge; Runge's 1/(1 + 25 x^2) needs bisection and meets the tolerance."""
    from solvable.numerics.interpolate import ChebyshevPanels

    calls = []

    def f(x):
        calls.append(x.size)
        return np.sin(3 * x), np.exp(x)

    I = ChebyshevPanels(f, [0.0, 1.0, 2.0], tol=1e-12)
    x = np.random.default_rng(0).uniform(0, 2, (5, 7))
    s, e = I(x)
    assert s.shape == x.shape and I.n_evals == sum(calls)
    np.testing.assert_allclose(s, np.sin(3 * x), atol=1e-11)
    np.testing.assert_allclose(e, np.exp(x), rtol=1e-11)
    R = ChebyshevPanels(lambda x: (1 / (1 + 25 * x * x),), [-1.0, 1.0], tol=1e-10)
    assert len(R.edges) > 3
    xx = np.linspace(-1, 1, 1001)
    np.testing.assert_allclose(R(xx)[0], 1 / (1 + 25 * xx * xx), atol=1e-9)
    with pytest.raises(ValueError, match="increasing"):
        ChebyshevPanels(f, [1.0, 1.0])
    with pytest.raises(FloatingPointError), np.errstate(invalid="ignore"):
        ChebyshevPanels(lambda x: (np.log(x - 0.5),), [0.0, 1.0])


def test_illinois_root_vectorised():
    from solvable.numerics.roots import illinois_root

    c = np.array([0.1, 1.0, 2.0, 7.5])
    # brackets in either order, with g(a) >= 0 >= g(b)
    a = np.array([2.0, 2.0, 0.0, 0.0])
    b = np.array([0.0, 0.0, 2.0, 2.0])
    sgn = np.array([1.0, 1.0, -1.0, -1.0])
    r = illinois_root(lambda x: sgn * (x ** 3 - c), a, b, xtol=1e-15)
    np.testing.assert_allclose(r, np.cbrt(c), rtol=1e-13)
    assert illinois_root(lambda x: 1.0 - x, np.array([0.0]), np.array([3.0]), xtol=1e-14)[0] == pytest.approx(1.0, abs=1e-14)
    with pytest.raises(ValueError, match="max_iter"):
        illinois_root(lambda x: x, np.zeros(1), np.ones(1), xtol=1e-3, max_iter=0)


# ----------------------------------------------------------------------------- one solver: options


def test_aitken_acceleration_cos_and_slow_contraction():
    from solvable.numerics.fixed_point import solve_fixed_point as sfp
    x_star = 0.7390851332151607  # Dottie number: x = cos x
    # x -> 0.9 x + 0.1 cos x has the fixed point of cos and the slope 0.9 - 0.1 sin x* = 0.83 > 0
    # there (monotone approach; x -> cos x itself oscillates, slope -0.67, and is not extrapolated)
    G = lambda x: 0.9 * x + 0.1 * np.cos(x)
    plain = sfp(G, np.array([[0.0]]), batch=True, tol=1e-13)
    acc = sfp(G, np.array([[0.0]]), batch=True, tol=1e-13, accelerate="aitken")
    assert plain.converged.all() and acc.converged.all()
    assert acc.x[0, 0] == pytest.approx(x_star, abs=1e-12) and plain.x[0, 0] == pytest.approx(x_star, abs=1e-12)
    assert acc.n_iter < 0.5 * plain.n_iter
    # a linear contraction at rate 0.99 towards 1: Aitken's jump lands on the limit
    F = lambda x: 0.99 * x + 0.01
    slow = sfp(F, np.zeros((3, 1)), batch=True, tol=1e-12, max_iter=10000)
    fast = sfp(F, np.zeros((3, 1)), batch=True, tol=1e-12, accelerate="aitken")
    assert fast.converged.all() and np.allclose(fast.x, 1.0, atol=1e-10)
    assert fast.n_iter < 0.05 * slow.n_iter
    with pytest.raises(ValueError, match="scalar"):
        sfp(lambda x: x, np.zeros((2, 2)), batch=True, accelerate="aitken")
    with pytest.raises(ValueError, match="exclusive"):
        sfp(lambda x: x, np.zeros((2, 1)), batch=True, accelerate="aitken", anderson=2)


def test_safeguarded_aitken_geometric_sequence():
    from solvable.numerics.fixed_point import safeguarded_aitken
    # x_t = 1 + 0.5^t: after three steps of one ratio the jump goes to the limit 1 exactly
    state = (np.full((1, 2), np.nan), np.full(1, np.nan), np.zeros(1, bool))
    expect = np.full(1, np.nan)
    x, out = np.array([2.0]), None
    for t in range(1, 4):
        new = np.array([1.0 + 0.5 ** t])
        out = safeguarded_aitken(new, x, np.array([0]), *state, np.zeros(1, bool), expect)
        x = new
    assert out[0] == pytest.approx(1.0, abs=1e-15)


def test_params_rows_and_relative_rule_from_reference():
    from solvable.numerics.fixed_point import solve_fixed_point as sfp
    c = np.array([0.2, 0.5, 0.9])
    res = sfp(lambda x, ci: ci[:, None] * np.cos(x), np.zeros((3, 1)), batch=True, params=c, tol=1e-13)
    for i in range(3):
        single = sfp(lambda x: c[i] * np.cos(x), np.zeros(1), tol=1e-13)
        assert res.x[i, 0] == pytest.approx(single.x[0], abs=1e-12)
        assert res.n_iter_rows[i] == single.n_iter_rows == single.n_iter
    # x -> x / 2 approaches its fixed point 0 geometrically: |F(x) - x| = |x - 0| / 2, so with the
    # relative rule measured from 0 at rtol = 0.1 it never stops, at rtol = 0.6 it stops at tol
    ref = np.zeros((1, 1))
    never = sfp(lambda x: 0.5 * x, np.ones((1, 1)), batch=True, tol=1e-3, rtol=0.1, rtol_to=ref, max_iter=200,
                on_fail="ignore")
    assert not never.converged[0] and never.n_iter == 200
    stops = sfp(lambda x: 0.5 * x, np.ones((1, 1)), batch=True, tol=1e-3, rtol=0.6, rtol_to=ref)
    assert stops.converged[0] and stops.n_iter == 10  # the residual at step t is 0.5^t; 0.5^10 < 1e-3
    with pytest.raises(ValueError, match="batch"):
        sfp(lambda x: x, np.zeros(1), params=np.zeros(1))


def test_trajectory_history_and_exact_iterations():
    from solvable.numerics.fixed_point import solve_fixed_point as sfp
    # x_{t+1} = 0.8 F(x_t) + 0.2 x_t with F(x) = x / 2 + 1: x_t = 2 + (x_0 - 2) 0.6^t
    x0 = np.array([[0.0], [5.0]])
    res = sfp(lambda x: 0.5 * x + 1.0, x0, batch=True, damping=0.2, trajectory=True, tol=None, max_iter=30,
              history=True)
    t = np.arange(31)[:, None]
    np.testing.assert_allclose(res.history[:, :, 0], 2.0 + (x0[:, 0] - 2.0) * 0.6 ** t, rtol=1e-14, atol=1e-14)
    assert res.n_iter == 30 and np.all(res.n_iter_rows == 30) and not res.converged.any()
    # with a tolerance the rows stop on the step |x_{t+1} - x_t| and keep x_{t+1}; NaN afterwards
    res = sfp(lambda x: 0.5 * x + 1.0, x0, batch=True, damping=0.2, trajectory=True, tol=1e-6, history=True)
    assert res.converged.all()
    for j in range(2):
        h = res.history[:, j, 0]
        n = res.n_iter_rows[j]
        assert np.all(np.isfinite(h[:n + 1])) and np.all(np.isnan(h[n + 1:]))
        assert abs(h[n] - h[n - 1]) < 1e-6 <= abs(h[n - 1] - h[n - 2]) and res.x[j, 0] == h[n]
    single = sfp(lambda x: 0.5 * x + 1.0, np.array([0.0]), trajectory=True, tol=None, max_iter=3, history=True)
    np.testing.assert_allclose(single.history, [[0.0], [1.0], [1.5], [1.75]])  # (n_iter + 1,) + x0.shape


def test_nonfinite_policies_and_projected_map():
    from solvable.numerics.fixed_point import solve_fixed_point as sfp
    F = lambda x, p: np.where(p[:, None] > 0, 0.5 * x, np.nan)
    with pytest.raises(FloatingPointError, match=r"parameter\(s\) \[-1.\]"):
        sfp(F, np.ones((2, 1)), batch=True, params=np.array([1.0, -1.0]), on_nonfinite="raise")
    res = sfp(F, np.ones((2, 1)), batch=True, params=np.array([1.0, -1.0]), on_nonfinite="propagate", tol=None,
              max_iter=5)
    assert res.x[0, 0] == 0.5 ** 5 and np.isnan(res.x[1, 0])
    # x -> 2x on [0, 1]: the projected map clip(2x) has the fixed point 1 (the plain one has none)
    res = sfp(lambda x: 2.0 * x, np.array([0.3]), upper=1.0, clip="map")
    assert res.converged and res.x[0] == 1.0
    with pytest.raises(ValueError, match="clip"):
        sfp(lambda x: x, np.zeros(1), clip="everything")
    with pytest.raises(ValueError, match="on_nonfinite"):
        sfp(lambda x: x, np.zeros(1), on_nonfinite="explode")


def test_solve_monotone_quadratic_map():
    from solvable.numerics.fixed_point import solve_monotone
    # F_c(x) = x^2 + c (non-decreasing on x >= 0): fixed points x_-+ = (1 -+ sqrt(1 - 4c)) / 2
    c = np.array([0.0, 0.05, 0.1, 0.2, 0.24])
    xm, xp = (1 - np.sqrt(1 - 4 * c)) / 2, (1 + np.sqrt(1 - 4 * c)) / 2
    grid = np.linspace(0.01, 2.0, 60)
    g = lambda x, cc: x * x + cc - x
    for x0, want in ((0.0, xm), (0.5, xm), (0.999 * xp, xm)):
        got = solve_monotone(g, x0, grid, params=c, upper=np.inf, lower_is_fixed=False, xtol=1e-15)
        np.testing.assert_allclose(got, want, atol=1e-14)
        # the plain iteration agrees
        it = solve_fixed_point(lambda x, cc: x * x + cc[:, None], np.broadcast_to(x0, (5,))[:, None], batch=True, params=c,
                               tol=1e-15, max_iter=100000)
        np.testing.assert_allclose(it.x[:, 0], want, atol=1e-12)
    # above x_+ the iteration escapes to the end of the domain
    assert np.all(solve_monotone(g, 1.5, grid, params=c, upper=np.inf, xtol=1e-15) == np.inf)
    # x -> x^2 (no params): from below 1 the iterates fall to the fixed point 0 (lower_is_fixed)
    got = solve_monotone(lambda x: x * x - x, np.array([0.3, 0.9, 1.0]), grid, upper=np.inf, lower_is_fixed=True,
                         xtol=1e-15)
    np.testing.assert_array_equal(got, [0.0, 0.0, 1.0])


def test_newton_rows_cos_linear_and_log_columns():
    from solvable.numerics.fixed_point import newton_rows
    x_star = 0.7390851332151607
    x, ok, n = newton_rows(np.cos, np.array([[0.0], [1.0]]), tol=1e-15)
    assert ok.all() and np.allclose(x, x_star, atol=1e-15) and n <= 8
    # a linear map x -> A x + b with a positive fixed point, solved in (x_1, log x_2) with the row's
    # shift passed as an extra column; the given Jacobian of G(y) = T(F(x)) - y gives the same
    A = np.array([[0.5, 0.2], [0.1, 0.3]])
    b = np.array([[1.0, 2.0], [0.5, 0.1]])
    x_true = np.linalg.solve(np.eye(2) - A, b.T).T

    def F(X):
        return X[:, :2] @ A.T + b[X[:, 2].astype(int)]

    x, ok, _ = newton_rows(F, np.ones((2, 2)), extra=np.arange(2.0), log=[False, True], tol=1e-14)
    assert ok.all()
    np.testing.assert_allclose(x, x_true, rtol=1e-13)

    def jac(Y, E):  # G_1 = F_1 - y_1, G_2 = log F_2 - y_2 with x_2 = e^{y_2}
        X = np.column_stack([Y[:, 0], np.exp(Y[:, 1]), E[:, 0]])
        f2 = F(X)[:, 1]
        return np.stack([np.column_stack([A[0, 0] - 1 + 0 * f2, A[0, 1] * X[:, 1]]),
                         np.column_stack([A[1, 0] / f2, A[1, 1] * X[:, 1] / f2 - 1])], axis=1)

    xj, okj, _ = newton_rows(F, np.ones((2, 2)), extra=np.arange(2.0), log=[False, True], jacobian=jac, tol=1e-14)
    assert okj.all()
    np.testing.assert_allclose(xj, x_true, rtol=1e-13)


def test_escape_jump_is_checked_before_a_row_may_stop():
    """Issue 13: an escape jump (growing steps, r > 1) clipped at the upper bound landed exactly on
    a second, unstable fixed point (x = 1), where the step is 0, and the row stopped there,
    stepping over the stable fixed point 0.829 that the plain iteration reaches (the GLM case:
    Rademacher x Abs(0.18), AMP from the signal, mse 1.0 for 0.829)."""
    F = lambda x, a: x + 0.02 * np.exp(5.0 * x) * (0.829 - x) * (1.0 - x) / 0.829
    kw = dict(batch=True, params=np.array([0.0]), trajectory=True, tol=1e-11, max_iter=5000, lower=1e-13,
              upper=1.0, clip="extrapolation", on_fail="ignore")
    plain = solve_fixed_point(F, np.array([[1e-13]]), **kw)
    fast = solve_fixed_point(F, np.array([[1e-13]]), accelerate="aitken", **kw)
    assert plain.converged[0] and fast.converged[0]
    assert plain.x[0, 0] == pytest.approx(0.829, abs=1e-9)
    assert fast.x[0, 0] == pytest.approx(0.829, abs=1e-9)
    assert fast.n_iter_rows[0] < plain.n_iter_rows[0]

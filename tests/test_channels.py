"""Output channels: Z_out against direct integration, gout/dgout against derivatives,
normalisation over y, sampling against y_given_z, noiseless limits, validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import ndtr

from solvable.blocks import channels as C
from solvable.numerics.special import truncnorm_moments

NOISY = [
    C.Linear(0.3),
    C.Sign(0.2),
    C.Sign(0.5, flip=0.1),
    C.Sign(0.0, flip=0.2),
    C.Probit(),
    C.Probit(0.25, flip=0.05),
    C.ReLU(0.3),
    C.Abs(0.3),
    C.Square(0.3),
    C.Square(1e-3),
]


def _log_lik(ch, y, z):
    """log P(y|z) written independently of the library (densities w.r.t. Lebesgue);
    vectorised in z."""
    z = np.asarray(z, dtype=float)
    D = ch.noise
    if isinstance(ch, C.Sign):
        p = ndtr(y * z / np.sqrt(D)) if D > 0 else (y * z > 0).astype(float)
        with np.errstate(divide="ignore"):
            return np.log(ch.flip + (1 - 2 * ch.flip) * p)
    mean = {C.Linear: z, C.ReLU: np.maximum(z, 0.0), C.Abs: np.abs(z), C.Square: z * z}[type(ch)]
    return -0.5 * (y - mean) ** 2 / D - 0.5 * np.log(2 * np.pi * D)


def _posterior_by_quad(ch, y, omega, V):
    """(log Z_out, E[z|y], Var[z|y]) by adaptive quadrature of P(y|z) N(z; omega, V).

    The integrand is rescaled by its maximum (found on a fine grid) so that extreme
    arguments do not underflow; the support is split at the kinks, at +-sqrt(y) and
    around the posterior mode.
    """
    s = np.sqrt(V)
    lg = lambda z: _log_lik(ch, y, z) - 0.5 * (z - omega) ** 2 / V - 0.5 * np.log(2 * np.pi * V)
    pts = {omega, 0.0}
    r = 0.0
    if isinstance(ch, (C.Abs, C.Square, C.Linear, C.ReLU)):
        r = np.sqrt(max(y, 0.0)) if isinstance(ch, C.Square) else abs(y)
        pts |= {r, -r}
    # the range covers the prior (+-40 sd) and the region where the likelihood is large
    lo, hi = min(omega - 40 * s, -r - 10), max(omega + 40 * s, r + 10)
    pts = sorted(p for p in pts if lo < p < hi)
    grid = np.unique(np.concatenate([np.linspace(lo, hi, 100001), pts]))
    vals = lg(grid)
    M = np.max(vals)
    zstar = grid[np.argmax(vals)]
    # the posterior may be much narrower than the prior (e.g. tiny output noise): add
    # break points around its mode so that quad cannot miss it
    width = min(np.sqrt(ch.noise), s) if ch.noise > 0 else s
    extra = [zstar + k * width for k in (-20, -5, -1, 0, 1, 5, 20)]
    edges = sorted(set([lo, hi] + pts) | {e for e in extra if lo < e < hi})

    def piece(fn):
        tot = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            tot += integrate.quad(fn, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        return tot

    Z = piece(lambda z: np.exp(lg(z) - M))
    m = piece(lambda z: z * np.exp(lg(z) - M)) / Z
    v = piece(lambda z: (z - m) ** 2 * np.exp(lg(z) - M)) / Z
    return np.log(Z) + M, m, v


def _labels(ch, omega, V, rng):
    """A label y drawn from the model itself at z ~ N(omega, V)."""
    z = omega + np.sqrt(V) * rng.standard_normal()
    return float(ch.sample(np.array([z]), rng)[0])


CASES = [(-2.0, 0.5), (0.3, 1.0), (1.5, 0.05), (0.0, 3.0)]


@pytest.mark.parametrize("ch", NOISY, ids=repr)
def test_output_moments_match_direct_integration(ch):
    rng = np.random.default_rng(0)
    for omega, V in CASES:
        for _ in range(2):
            y = _labels(ch, omega, V, rng)
            logZ, g, dg = ch.output_moments(y, omega, V)
            lZ, m, v = _posterior_by_quad(ch, y, omega, V)
            assert logZ == pytest.approx(lZ, rel=1e-9, abs=1e-9), (y, omega, V)
            assert g == pytest.approx((m - omega) / V, rel=1e-7, abs=1e-8), (y, omega, V)
            assert dg == pytest.approx((v - V) / V**2, rel=1e-6, abs=1e-8), (y, omega, V)


NOISELESS_CASES = [
    (C.Linear(0.0), 0.7),
    (C.Sign(0.0), 1.0),
    (C.Sign(0.0), -1.0),
    (C.ReLU(0.0), 0.8),
    (C.Abs(0.0), 0.8),
    (C.Square(0.0), 0.6),
]


def _noiseless_reference(ch, y, omega, V):
    """Closed forms of the noiseless channels written from scratch (densities of y)."""
    s = np.sqrt(V)
    if isinstance(ch, C.Sign):
        return _posterior_by_quad(ch, y, omega, V)
    if isinstance(ch, C.Linear):
        return stats.norm.logpdf(y, omega, s), y, 0.0
    if isinstance(ch, C.ReLU):
        if y > 0:
            return stats.norm.logpdf(y, omega, s), y, 0.0
        raise AssertionError
    if isinstance(ch, (C.Abs, C.Square)):
        r = np.sqrt(y) if isinstance(ch, C.Square) else y
        jac = 2 * r if isinstance(ch, C.Square) else 1.0
        pp, pm = stats.norm.pdf(r, omega, s), stats.norm.pdf(-r, omega, s)
        m = r * (pp - pm) / (pp + pm)
        return np.log((pp + pm) / jac), m, r * r - m * m
    raise AssertionError


@pytest.mark.parametrize("ch,y", NOISELESS_CASES, ids=lambda x: repr(x))
def test_noiseless_channels_match_closed_forms(ch, y):
    for omega, V in CASES:
        logZ, g, dg = ch.output_moments(y, omega, V)
        lZ, m, v = _noiseless_reference(ch, y, omega, V)
        assert logZ == pytest.approx(lZ, rel=1e-10, abs=1e-10)
        assert g == pytest.approx((m - omega) / V, rel=1e-8, abs=1e-9)
        assert dg == pytest.approx((v - V) / V**2, rel=1e-7, abs=1e-9)


def test_relu_noiseless_atom_at_zero():
    ch = C.ReLU(0.0)
    omega = np.array([-3.0, -0.5, 0.0, 1.0, 4.0])
    V = np.array([0.2, 1.0, 2.0, 0.5, 1.0])
    logZ, g, dg = ch.output_moments(0.0, omega, V)
    s = np.sqrt(V)
    np.testing.assert_allclose(logZ, stats.norm.logcdf(-omega / s), rtol=1e-12)
    # posterior of z given y = 0 is N(omega, V) truncated to z < 0
    mean = np.array([stats.truncnorm.mean(-np.inf, -o / sd, loc=o, scale=sd) for o, sd in zip(omega, s)])
    var = np.array([stats.truncnorm.var(-np.inf, -o / sd, loc=o, scale=sd) for o, sd in zip(omega, s)])
    np.testing.assert_allclose(g, (mean - omega) / V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dg, (var - V) / V**2, rtol=1e-7, atol=1e-10)


ALL = NOISY + [c for c, _ in NOISELESS_CASES[::2]] + [C.Sign(0.0), C.Abs(0.0), C.Square(0.0)]


def _num_derivs(ch, y, omega, V, h=1e-4):
    """Richardson-extrapolated central differences of log Z_out in omega (error O(h^4))."""
    f = lambda o: ch.log_partition(y, o, V)
    d1 = lambda hh: (f(omega + hh) - f(omega - hh)) / (2 * hh)
    d2 = lambda hh: (f(omega + hh) - 2 * f(omega) + f(omega - hh)) / hh**2
    g = (4 * d1(h / 2) - d1(h)) / 3
    gg = (4 * ch.gout(y, omega + h / 2, V) - 4 * ch.gout(y, omega - h / 2, V)) / h / 3 - (
        ch.gout(y, omega + h, V) - ch.gout(y, omega - h, V)
    ) / (2 * h) / 3
    return g, gg, d2(1e-3)


@pytest.mark.parametrize("ch", ALL, ids=repr)
def test_gout_and_dgout_are_derivatives_of_log_partition(ch):
    rng = np.random.default_rng(1)
    omega = rng.uniform(-2.5, 2.5, size=40)
    V = rng.uniform(0.1, 2.0, size=40)
    y = np.array([_labels(ch, o, v, rng) for o, v in zip(omega, V)])
    if isinstance(ch, C.Square) and ch.noise == 0 or isinstance(ch, C.ReLU) and ch.noise == 0:
        y = np.maximum(y, 1e-2)
    logZ, g, dg = ch.output_moments(y, omega, V)
    g_num, dg_num, dg2 = _num_derivs(ch, y, omega, V)
    np.testing.assert_allclose(g, g_num, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dg, dg_num, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dg, dg2, rtol=1e-3, atol=1e-4)  # second difference of log Z itself
    # a posterior variance is non-negative: dgout >= -1/V
    assert np.all(dg >= -1.0 / V - 1e-12)


@given(
    omega=st.floats(-30, 30),
    logV=st.floats(np.log(1e-3), np.log(1e3)),
    y=st.sampled_from([-1.0, 1.0]),
    noise=st.sampled_from([0.0, 1e-3, 1.0]),
    flip=st.sampled_from([0.0, 0.05, 0.5]),
)
def test_sign_channel_extreme_arguments(omega, logV, y, noise, flip):
    """Finite values and exact derivative identities far in the tails (u = y omega / s up to ~1e3)."""
    ch = C.Sign(noise, flip=flip)
    V = np.exp(logV)
    logZ, g, dg = ch.output_moments(y, omega, V)
    assert np.isfinite(logZ) and np.isfinite(g) and np.isfinite(dg)
    s = np.sqrt(V + noise)
    ref = np.log(flip + (1 - 2 * flip) * stats.norm.cdf(y * omega / s)) if flip > 0 else stats.norm.logcdf(y * omega / s)
    assert logZ == pytest.approx(ref, rel=1e-12, abs=1e-13)
    # posterior variance within [0, V]: dgout in [-1/V, 0] for a monotone channel
    assert -1.0 / V - 1e-9 / V <= dg <= 1e-12


@pytest.mark.parametrize("ch", [C.ReLU(0.0), C.ReLU(0.01), C.ReLU(1.0), C.Abs(0.01), C.Abs(1.0)], ids=repr)
def test_truncated_gaussian_channels_deep_in_the_tail(ch):
    """omega / sqrt(V) far from the data (the posterior is a Gaussian truncated many standard
    deviations in its tail): g and dg must stay accurate, not lose digits to cancellation."""
    y = np.array([0.0, 0.5, 2.0, 0.01])
    omega = np.array([-40.0, -25.0, -60.0, -15.0])
    V = np.array([1.0, 0.5, 2.0, 0.3])
    if ch.noise == 0:
        y = np.where(isinstance(ch, C.ReLU) & (np.arange(4) % 2 == 0), 0.0, y + 0.3)
    logZ, g, dg = ch.output_moments(y, omega, V)
    for i in range(4):
        if ch.noise == 0 and isinstance(ch, C.ReLU) and y[i] == 0:
            s = np.sqrt(V[i])
            m = stats.truncnorm.mean(-np.inf, -omega[i] / s, loc=omega[i], scale=s)
            v = stats.truncnorm.var(-np.inf, -omega[i] / s, loc=omega[i], scale=s)
            lZ = stats.norm.logcdf(-omega[i] / s)
        elif ch.noise == 0:
            lZ, m, v = _noiseless_reference(ch, y[i], omega[i], V[i])
        else:
            lZ, m, v = _posterior_by_quad(ch, y[i], omega[i], V[i])
        assert logZ[i] == pytest.approx(lZ, rel=1e-9)
        assert g[i] == pytest.approx((m - omega[i]) / V[i], rel=1e-8)
        assert dg[i] == pytest.approx((v - V[i]) / V[i] ** 2, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("lower", [True, False])
def test_truncnorm_moments_against_mpmath(lower):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    a = np.array([-1e4, -300.0, -40.0, -10.0, -3.5, -3.0, -2.9, -1.0, 0.0, 2.0, 9.0])
    mean = 0.7 - a if not lower else a * 1.3 + 0.2
    std = np.where(lower, 1.3, 1.0)
    var = std**2
    bound = 0.2 if lower else 0.7
    logp, m, v = truncnorm_moments(mean, var, lower=bound) if lower else truncnorm_moments(mean, var, upper=bound)
    for i, ai in enumerate(a):
        x = mp.mpf(ai)
        P = mp.ncdf(x)
        r = mp.npdf(x) / P
        t_mean = x + r  # E t for t > 0 with density ~ exp(-(t - a)^2/2)
        t_var = 1 - r * (x + r)
        ref_m = bound + float(std) * float(t_mean) if lower else bound - float(std) * float(t_mean)
        assert logp[i] == pytest.approx(float(mp.log(P)), rel=1e-13, abs=1e-15)
        assert m[i] == pytest.approx(ref_m, rel=1e-12, abs=1e-14 * abs(mean[i]))
        assert v[i] == pytest.approx(float(var) * float(t_var), rel=1e-11)


def test_truncnorm_moments_validation():
    with pytest.raises(ValueError, match="one-sided"):
        truncnorm_moments(0.0, 1.0, lower=-1.0, upper=1.0)
    with pytest.raises(ValueError, match="var"):
        truncnorm_moments(0.0, 0.0, lower=0.0)


@pytest.mark.parametrize("ch", [C.Sign(0.0), C.Sign(0.3, flip=0.1), C.Probit(), C.Probit(2.0, flip=0.5)], ids=repr)
def test_classification_channels_normalised(ch):
    omega = np.linspace(-5, 5, 21)[:, None]
    V = np.array([1e-3, 0.5, 4.0])
    total = np.exp(ch.log_partition(1.0, omega, V)) + np.exp(ch.log_partition(-1.0, omega, V))
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    "ch", [C.Linear(0.5), C.Linear(0.0), C.ReLU(0.4), C.Abs(0.4), C.Abs(0.0), C.Square(0.4), C.Square(0.0), C.Square(0.01)], ids=repr
)
@pytest.mark.parametrize("omega,V", [(0.4, 0.8), (-1.2, 0.3)])
def test_regression_channels_normalised(ch, omega, V):
    f = lambda y: float(np.exp(ch.log_partition(y, omega, V)))
    lo = 0.0 if isinstance(ch, (C.Abs, C.Square)) and ch.noise == 0 else -25.0
    pts = [0.0, omega**2, abs(omega)] if lo < 0 else [omega**2, abs(omega)]
    pts = sorted(p for p in set(pts) if lo < p < 40)
    edges = [lo] + pts + [40.0]
    total = sum(integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12, limit=400)[0] for a, b in zip(edges[:-1], edges[1:]))
    assert total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("omega,V", [(0.4, 0.8), (-1.2, 0.3), (2.0, 1.5)])
def test_relu_noiseless_normalised_with_atom(omega, V):
    ch = C.ReLU(0.0)
    atom = np.exp(ch.log_partition(0.0, omega, V))
    dens = integrate.quad(lambda y: float(np.exp(ch.log_partition(y, omega, V))), 1e-300, np.inf, epsabs=1e-14, epsrel=1e-12)[0]
    assert atom + dens == pytest.approx(1.0, abs=1e-10)


SAMPLED = [C.Linear(0.5), C.Sign(0.0), C.Sign(0.5, flip=0.1), C.Probit(), C.ReLU(0.3), C.ReLU(0.0),
           C.Abs(0.2), C.Square(0.3), C.Square(0.0)]


@pytest.mark.parametrize("ch", SAMPLED, ids=repr)
def test_sample_matches_y_given_z(ch):
    rng = np.random.default_rng(7)
    # z = 0 is a null event where the noiseless sign's P(y|z) takes the midpoint 1/2 (the
    # right value for quadrature nodes on the jump) while sample() breaks the tie to +1
    z = np.array([-1.5, -0.2, 0.0 if ch.noise > 0 or not isinstance(ch, C.Sign) else 1e-9, 0.7, 2.0])
    n = 40000
    ys = ch.sample(np.repeat(z[:, None], n, axis=1), rng)
    assert ys.shape == (5, n)
    for f in (lambda y: y, lambda y: y * y):
        expected = ch.expect_y(f, z)
        vals = f(ys)
        mean, se = vals.mean(1), vals.std(1) / np.sqrt(n)
        assert np.all(np.abs(mean - expected) <= 5 * se + 1e-12), (mean, expected, se)
    # y_given_z weights are a probability law
    ws = ch.y_given_z(z)[1]
    np.testing.assert_allclose(ws.sum(-1), 1.0, atol=1e-13)
    assert np.all(ws >= 0)


def test_expect_y_closed_forms():
    z = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(C.Linear(0.3).expect_y(lambda y: y * y, z), z * z + 0.3, rtol=1e-13)
    np.testing.assert_allclose(C.Square(0.2).expect_y(lambda y: y**2, z), z**4 + 0.2, rtol=1e-12)
    np.testing.assert_allclose(C.Probit(1.0).expect_y(lambda y: y, z), 2 * stats.norm.cdf(z) - 1, atol=1e-14)
    np.testing.assert_allclose(C.Sign(0.0, flip=0.2).expect_y(lambda y: y, z[z != 0]), 0.6 * np.sign(z[z != 0]), atol=1e-14)


@pytest.mark.parametrize(
    "noisy,clean,y",
    [
        (C.Linear(1e-10), C.Linear(0.0), 0.3),
        (C.Sign(1e-12), C.Sign(0.0), 1.0),
        (C.ReLU(1e-10), C.ReLU(0.0), 0.6),
        (C.ReLU(1e-10), C.ReLU(0.0), 0.0),
        (C.Abs(1e-10), C.Abs(0.0), 0.6),
        (C.Square(1e-10), C.Square(0.0), 0.6),
    ],
    ids=repr,
)
def test_noiseless_limit_of_noisy_channels(noisy, clean, y):
    omega = np.array([-1.0, 0.2, 1.3])
    V = np.array([0.5, 1.0, 0.2])
    a = noisy.output_moments(y, omega, V)
    b = clean.output_moments(y, omega, V)
    if isinstance(clean, C.ReLU) and y == 0:
        # with noise, y = 0 has a density: the atom P(z < 0) spread by the noise, i.e.
        # Z_noisy(0) = atom / sqrt(2 pi noise) + O(1), so the rescaled log Z tends to log atom
        a = (a[0] + 0.5 * np.log(2 * np.pi * noisy.noise),) + a[1:]
        np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(a[1:], b[1:], rtol=1e-4, atol=1e-4)
        return
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


def test_probit_equals_sign_with_same_noise():
    omega, V = np.linspace(-3, 3, 13), 0.7
    for y in (-1.0, 1.0):
        for u, v in zip(C.Probit(0.8).output_moments(y, omega, V), C.Sign(0.8).output_moments(y, omega, V)):
            np.testing.assert_allclose(u, v, rtol=1e-15)


def test_vectorised_over_grids():
    ch = C.ReLU(0.2)
    y = np.array([0.0, 0.5, 1.0])[:, None, None]
    omega = np.linspace(-2, 2, 5)[None, :, None]
    V = np.array([0.1, 1.0])[None, None, :]
    out = ch.output_moments(y, omega, V)
    for arr in out:
        assert arr.shape == (3, 5, 2)
    assert out[1][1, 2, 1] == pytest.approx(float(ch.gout(0.5, 0.0, 1.0)), rel=1e-14)
    sq = C.Square(0.3).output_moments(y + 0.1, omega, V)
    assert sq[0].shape == (3, 5, 2)
    assert sq[2][2, 4, 0] == pytest.approx(float(C.Square(0.3).dgout(1.1, 2.0, 0.1)), rel=1e-12)


def test_channel_metadata():
    assert C.Sign().is_classification and C.Probit().is_classification
    assert not any(c.is_classification for c in (C.Linear(), C.ReLU(), C.Abs(), C.Square()))
    np.testing.assert_array_equal(C.Sign().phi(np.array([-1.0, 0.0, 2.0])), [-1.0, 1.0, 1.0])
    np.testing.assert_array_equal(C.ReLU().phi(np.array([-1.0, 2.0])), [0.0, 2.0])
    assert C.Sign(0.0).kinks == (0.0,)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: C.Linear(-0.1), "noise"),
        (lambda: C.ReLU(-1.0), "noise"),
        (lambda: C.Abs(float("nan")), "noise"),
        (lambda: C.Square(-1e-3), "noise"),
        (lambda: C.Sign(-1.0), "noise"),
        (lambda: C.Sign(0.0, flip=0.6), "flip"),
        (lambda: C.Sign(0.0, flip=-0.1), "flip"),
        (lambda: C.Probit(0.0), "noise"),
        (lambda: C.Probit(1.0, flip=0.7), "flip"),
    ],
)
def test_invalid_channel_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_invalid_output_arguments():
    with pytest.raises(ValueError, match="V"):
        C.ReLU(0.1).output_moments(0.3, 0.0, 0.0)
    with pytest.raises(ValueError, match="V"):
        C.Square(0.1).output_moments(0.3, 0.0, -1.0)
    with pytest.raises(ValueError):
        C.Linear(0.0).output_moments(0.3, 0.0, 0.0)
    with pytest.raises(ValueError, match="y must be > 0"):
        C.Square(0.0).output_moments(-0.3, 0.0, 1.0)


def test_label_moments_closed_forms():
    """(E[z y], E[y^2]) for z ~ N(0, rho) against closed forms."""
    rho = 1.7
    s = np.sqrt(2 * rho / np.pi)  # E |z|
    cases = [(C.Linear(0.3), (rho, rho + 0.3)), (C.Sign(), (s, 1.0)), (C.Sign(0.0, flip=0.2), (0.6 * s, 1.0)),
             (C.Sign(0.5), (rho / np.sqrt(rho + 0.5) * np.sqrt(2 / np.pi), 1.0)),
             (C.ReLU(0.2), (rho / 2, rho / 2 + 0.2)), (C.Abs(0.1), (0.0, rho + 0.1)), (C.Square(0.0), (0.0, 3 * rho ** 2))]
    for ch, (Ezy, Ey2) in cases:
        np.testing.assert_allclose(ch.label_moments(rho), (Ezy, Ey2), rtol=1e-10, atol=1e-12, err_msg=repr(ch))


def test_linear_part():
    assert C.Linear(0.3).linear_part(2.0) == (1.0, 0.3)  # exact
    b, ne = C.ReLU(0.2).linear_part(2.0)  # E[z relu z] = rho / 2, E y^2 = rho / 2 + noise
    assert b == pytest.approx(0.5, rel=1e-10) and ne == pytest.approx(1.0 + 0.2 - 0.25 * 2.0, rel=1e-10)
    assert C.Linear(0.3).is_linear and not any(ch.is_linear for ch in (C.Sign(), C.ReLU(), C.Abs(), C.Square()))


def test_student_test_error_against_monte_carlo():
    """E (y - omega)^2 (regression) and P(sign omega != y) (classification) for (z, omega) centred
    Gaussian with Cov [[rho, m], [m, q]]."""
    rng = np.random.default_rng(3)
    n = 400_000
    rho, m, q = 1.3, 0.7, 0.9
    z = np.sqrt(rho) * rng.standard_normal(n)
    om = m / rho * z + np.sqrt(q - m * m / rho) * rng.standard_normal(n)
    for ch in (C.Linear(0.3), C.ReLU(0.1), C.Sign(), C.Sign(0.2, flip=0.1), C.Probit()):
        y = ch.sample(z, rng)
        mc = np.mean(np.sign(om) != y) if ch.is_classification else np.mean((y - om) ** 2)
        th = float(ch.student_test_error(m, q, rho))
        assert abs(th - mc) < 0.01 * max(mc, 0.1), (ch, th, mc)
        assert float(ch.student_test_error(m, q, rho, moments=ch.label_moments(rho))) == th


def test_sign_student_test_error_edge_cases():
    ch = C.Sign(flip=0.1)
    assert float(ch.student_test_error(0.0, 0.0, 1.0)) == pytest.approx(0.5)  # w = 0: chance
    th = 0.3
    rho, q = 2.0, 0.8
    m = np.cos(th) * np.sqrt(rho * q)
    assert float(ch.student_test_error(m, q, rho, angle=th)) == pytest.approx(0.1 + 0.8 * th / np.pi, rel=1e-15)
    assert float(ch.student_test_error(m, q, rho)) == pytest.approx(0.1 + 0.8 * th / np.pi, rel=1e-12)
    noisy = C.Sign(0.3)  # the angle is that of z, not of the noisy pre-label: not used
    assert noisy.student_test_error(m, q, rho, angle=th) == noisy.student_test_error(m, q, rho)


# ----------------------------------------------------------------------------- Bayes-GLM fast paths


@pytest.mark.parametrize("ch", [C.ReLU(), C.Abs(), C.Square(), C.ReLU(0.3), C.Abs(0.2)], ids=repr)
def test_mean_output_closed_forms_equal_the_quadrature_default(ch):
    """ReLU / Abs / Square override E_{z ~ N(omega, V)} phi(z) by the rectified / folded normal
    means and omega^2 + V; the base class integrates phi by composite Legendre split at the kinks."""
    w = np.linspace(-3.0, 3.0, 13)[:, None]
    V = np.array([1e-4, 0.1, 1.0, 4.0])[None, :]
    w, V = np.broadcast_arrays(w, V)
    np.testing.assert_allclose(ch.mean_output(w, V), C.Channel.mean_output(ch, w, V), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ch.mean_output(w[:, :1], np.zeros_like(w[:, :1])), ch.phi(w[:, :1]), atol=1e-15)


def test_square_fold_free_entropy_is_the_jacobian():
    """psi_out(y = z^2) = psi_out(y = |z|) - E log(2 |z|), z ~ N(0, rho)."""
    rho = 0.7
    ref = -integrate.quad(lambda z: np.log(2 * abs(z)) * stats.norm.pdf(z, scale=np.sqrt(rho)), -np.inf, np.inf,
                          points=None, limit=200)[0]
    assert C.Square().fold_free_entropy(1.25, rho) - 1.25 == pytest.approx(ref, abs=1e-9)
    assert C.Abs().fold_free_entropy(1.25, rho) == 1.25
    assert C.Abs().folds_sign and C.Square().folds_sign and not C.ReLU().folds_sign


def test_channel_flags():
    z = np.linspace(-2, 2, 9)
    for ch in (C.Sign(0.3, flip=0.1), C.Probit()):  # sign_symmetric: P(y | z) = P(-y | -z)
        assert ch.sign_symmetric
        np.testing.assert_allclose(ch.prob(1.0, z), ch.prob(-1.0, -z), rtol=1e-14)
    assert not C.ReLU().sign_symmetric and C.Linear().flip == 0.0 and C.Sign(flip=0.2).flip == 0.2
    assert C.ReLU().informative_fraction == 0.5 and C.Abs().informative_fraction == 1.0
    assert [c.phi_kind for c in (C.ReLU(), C.Abs(), C.Square(), C.Linear(), C.Sign())] == ["relu", "abs", "square", None, None]

"""Priors: denoisers against derivatives of the log-partition function and against direct
integration, sampling, scalar-channel quantities, validation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from solvable.blocks import priors as P

PRIORS = [
    P.Gaussian(),
    P.Gaussian(mean=0.7, var=2.5),
    P.Rademacher(),
    P.GaussBernoulli(0.3),
    P.GaussBernoulli(0.05, mean=1.0, var=0.5),
    P.GaussBernoulli(1.0, mean=-0.2, var=1.5),
]


def _tilted_by_quad(prior, B, A):
    """(log Z, mean, var) of P(x) exp(B x - A x^2/2) by direct integration (atoms summed)."""
    if isinstance(prior, P.Rademacher):
        xs = np.array([-1.0, 1.0])
        lw = np.log(0.5) + B * xs - A / 2
        lZ = np.logaddexp(*lw)
        p = np.exp(lw - lZ)
        m = p @ xs
        return lZ, m, p @ (xs - m) ** 2
    mean, var = prior.mean, prior.var
    rho = getattr(prior, "rho", 1.0)
    lg = lambda x: -0.5 * (x - mean) ** 2 / var - 0.5 * np.log(2 * np.pi * var) + B * x - A * x * x / 2
    # centre and scale of the tilted slab, to place the integration range
    prec = 1 / var + A
    c, s = (B + mean / var) / prec, 1 / np.sqrt(prec)
    M = lg(c)
    edges = c + s * np.array([-40, -10, -3, 0, 3, 10, 40])
    piece = lambda fn: sum(integrate.quad(fn, a, b, epsabs=0, epsrel=1e-13)[0] for a, b in zip(edges[:-1], edges[1:]))
    Zs = piece(lambda x: np.exp(lg(x) - M))
    m1 = piece(lambda x: x * np.exp(lg(x) - M)) / Zs
    v1 = piece(lambda x: (x - m1) ** 2 * np.exp(lg(x) - M)) / Zs
    if rho == 1.0:
        return np.log(Zs) + M, m1, v1
    l1 = np.log(rho) + np.log(Zs) + M
    l0 = np.log1p(-rho)
    lZ = np.logaddexp(l0, l1)
    pi = np.exp(l1 - lZ)
    m = pi * m1
    return lZ, m, pi * (v1 + m1**2) - m**2


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("prior", PRIORS, ids=repr)
def test_denoiser_matches_direct_integration(prior):
    rng = np.random.default_rng(3)
    for B, A in zip(rng.normal(0, 3, 12), rng.uniform(0, 5, 12)):
        lZ, m, v = _tilted_by_quad(prior, B, A)
        assert prior.log_partition(B, A) == pytest.approx(lZ, rel=1e-11, abs=1e-11)
        mm, vv = prior.denoise(B, A)
        assert mm == pytest.approx(m, rel=1e-10, abs=1e-11)
        assert vv == pytest.approx(v, rel=1e-9, abs=1e-11)


def _derivs(prior, B, A, h=1e-3):
    """Richardson-extrapolated first and second central differences of log Z in B."""
    f = lambda b: prior.log_partition(b, A)
    d1 = lambda hh: (f(B + hh) - f(B - hh)) / (2 * hh)
    d2 = lambda hh: (f(B + hh) - 2 * f(B) + f(B - hh)) / hh**2
    return (4 * d1(h / 2) - d1(h)) / 3, (4 * d2(h / 2) - d2(h)) / 3


@pytest.mark.parametrize("prior", PRIORS, ids=repr)
def test_denoiser_is_derivative_of_log_partition_on_a_grid(prior):
    B = np.linspace(-6, 6, 25)[:, None]
    A = np.array([0.0, 0.3, 2.0, 10.0])[None, :]
    m, v = prior.denoise(B, A)
    assert m.shape == v.shape == (25, 4)
    d1, d2 = _derivs(prior, B, A)
    np.testing.assert_allclose(m, d1, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(v, d2, rtol=1e-5, atol=1e-6)


@given(
    B=st.floats(-500, 500),
    A=st.floats(0, 1e3),
    which=st.integers(0, len(PRIORS) - 1),
)
def test_denoiser_extreme_inputs(B, A, which):
    """Finite, consistent values for large fields / precisions (hypothesis)."""
    prior = PRIORS[which]
    lZ = prior.log_partition(B, A)
    m, v = prior.denoise(B, A)
    assert np.isfinite(lZ) and np.isfinite(m) and np.isfinite(v)
    assert v >= 0
    # the posterior mean and variance are the first two derivatives of log Z; with a step
    # proportional to the posterior scale the central difference is well conditioned
    h = 1e-4 * max(np.sqrt(v), 1e-3)
    d1 = (prior.log_partition(B + h, A) - prior.log_partition(B - h, A)) / (2 * h)
    scale = max(1.0, abs(lZ)) * 1e-16 / h  # rounding error of the difference quotient
    assert m == pytest.approx(d1, rel=1e-6, abs=1e-6 * np.sqrt(v) + 10 * scale)
    if isinstance(prior, P.Rademacher):
        assert abs(m) <= 1.0 and v <= 1.0


@pytest.mark.parametrize("prior", PRIORS, ids=repr)
def test_sample_moments(prior):
    x = prior.sample(200_000, rng=1)
    n = x.size
    assert x.mean() == pytest.approx(prior.first_moment, abs=5 * x.std() / np.sqrt(n) + 1e-12)
    assert (x * x).mean() == pytest.approx(prior.second_moment, abs=5 * (x * x).std() / np.sqrt(n) + 1e-12)
    # same seed, same draw; samples reproduce from an int or a Generator
    np.testing.assert_array_equal(prior.sample(7, rng=5), prior.sample(7, rng=np.random.default_rng(5)))
    if isinstance(prior, P.GaussBernoulli):
        frac = np.mean(x != 0)
        assert frac == pytest.approx(prior.rho, abs=5 * np.sqrt(prior.rho * (1 - prior.rho) / n) + 1e-12)
    if isinstance(prior, P.Rademacher):
        assert set(np.unique(x)) == {-1.0, 1.0}


@pytest.mark.parametrize("prior", PRIORS, ids=repr)
def test_expect_against_moments(prior):
    assert prior.expect(lambda x: x) == pytest.approx(prior.first_moment, abs=1e-13)
    assert prior.expect(lambda x: x * x) == pytest.approx(prior.second_moment, rel=1e-13)


def test_gaussian_scalar_channel_closed_forms():
    """N(0, 1): q = Bhat / (1 + Bhat), mmse = 1 / (1 + Bhat), psi = (Bhat - log(1 + Bhat)) / 2."""
    g = P.Gaussian()
    bh = np.logspace(-4, 4, 30)
    for method in ("auto", "hermite"):
        np.testing.assert_allclose(g.overlap(bh, method=method), bh / (1 + bh), rtol=1e-12)
        np.testing.assert_allclose(g.mmse(bh, method=method), 1 / (1 + bh), rtol=1e-9)
        np.testing.assert_allclose(g.free_entropy_term(bh, method=method), 0.5 * (bh - np.log1p(bh)), rtol=1e-11)
    assert g.overlap(0.0) == pytest.approx(0.0, abs=1e-15)


def _overlap_by_quad(prior, bh):
    """q(Bhat) = E[x0 m(B)] with B = Bhat x0 + sqrt(Bhat) xi by nested direct integration."""
    sq = np.sqrt(bh)
    inner = lambda x0: integrate.quad(
        lambda xi: x0 * prior.denoise(bh * x0 + sq * xi, bh)[0] * np.exp(-0.5 * xi * xi) / np.sqrt(2 * np.pi), -14, 14,
        epsabs=1e-15, epsrel=1e-13, limit=400, points=[-sq * x0],
    )[0]
    if isinstance(prior, P.Rademacher):
        return 0.5 * (inner(1.0) + inner(-1.0))
    # the definition as a tensor-product composite Gauss-Legendre rule in (x0, xi), fine
    # enough (pieces of width 0.5 and 0.3 standard deviations, 20 nodes each) for the
    # sharp switch of the denoiser, all nodes at once
    x, w = np.polynomial.legendre.leggauss(20)

    def composite(L, pieces):
        e = np.linspace(-L, L, pieces + 1)
        h = 0.5 * np.diff(e)[:, None]
        return ((0.5 * (e[1:] + e[:-1]))[:, None] + h * x).ravel(), (h * w).ravel()

    u, wu = composite(12.0, 48)
    xi, wxi = composite(14.0, 96)
    x0 = prior.mean + np.sqrt(prior.var) * u
    Bm = bh * x0[:, None] + sq * xi[None, :]
    vals = x0[:, None] * prior.denoise(Bm, bh)[0]
    slab = np.einsum("ij,i,j->", vals, wu * stats.norm.pdf(u), wxi * stats.norm.pdf(xi))
    return prior.rho * slab  # the atom at 0 contributes x0 * m = 0


@pytest.mark.parametrize("prior", [P.Rademacher(), P.GaussBernoulli(0.3)], ids=repr)
@pytest.mark.parametrize("bh", [0.5, 3.0, 20.0])
def test_overlap_against_nested_quadrature(prior, bh):
    """The definition E[x0 E(x|B)] (no Nishimori identity used) by nested adaptive quadrature."""
    ref = _overlap_by_quad(prior, bh)
    assert float(prior.overlap(bh)) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("prior", PRIORS, ids=repr)
def test_scalar_channel_identities(prior):
    """Nishimori (E[x0 m] = E[m^2]), mmse = rho - q, and I-MMSE: d psi / d Bhat = q / 2."""
    bh = np.array([0.1, 0.7, 2.0, 6.0])
    q = prior.overlap(bh)
    m2 = prior.scalar_channel_expect(lambda x0, B: prior.denoise(B, bh[:, None, None])[0] ** 2, bh, n=120)
    x0m = prior.scalar_channel_expect(lambda x0, B: x0 * prior.denoise(B, bh[:, None, None])[0], bh, n=120)
    np.testing.assert_allclose(x0m, m2, rtol=1e-6, atol=1e-8)  # Hermite rule, moderate Bhat
    np.testing.assert_allclose(q, m2, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(prior.mmse(bh), prior.second_moment - q, rtol=1e-10, atol=1e-13)
    h = 1e-4
    dpsi = (prior.free_entropy_term(bh + h) - prior.free_entropy_term(bh - h)) / (2 * h)
    np.testing.assert_allclose(dpsi, q / 2, rtol=1e-6, atol=1e-9)
    assert np.all(np.diff(prior.overlap(np.linspace(0.0, 5.0, 11))) > 0)  # q increases with the SNR


def test_auto_rule_more_accurate_than_hermite_at_high_snr():
    """At Bhat >= 30 Gauss-Hermite in (x0, xi) is off by ~1e-4 for a sparse prior; the
    default rule (composite Legendre over the law of B) agrees with the I-MMSE integral."""
    prior = P.GaussBernoulli(0.3)
    bh = np.array([30.0, 100.0, 1000.0])
    q = prior.overlap(bh)
    mmse = prior.mmse(bh)
    assert np.all(mmse > 0) and np.all(q < prior.second_moment)
    # psi(b2) - psi(b1) = int q/2 over [b1, b2] (I-MMSE), by Gauss-Legendre in Bhat
    x, w = np.polynomial.legendre.leggauss(40)
    for b1, b2 in [(20.0, 40.0), (80.0, 120.0)]:
        t = 0.5 * (b2 - b1) * x + 0.5 * (b2 + b1)
        integral = 0.5 * (b2 - b1) * np.sum(w * prior.overlap(t) / 2)
        diff = prior.free_entropy_term(b2) - prior.free_entropy_term(b1)
        assert diff == pytest.approx(integral, rel=1e-11)


def test_scalar_channel_quantities_vectorise():
    prior = P.GaussBernoulli(0.2)
    grid = np.linspace(0.1, 4, 12).reshape(3, 4)
    q = prior.overlap(grid)
    assert q.shape == (3, 4)
    assert q[1, 2] == pytest.approx(float(prior.overlap(grid[1, 2])), rel=1e-14)
    assert prior.free_entropy_term(grid).shape == (3, 4)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: P.Gaussian(var=0.0), "var"),
        (lambda: P.Gaussian(var=-1.0), "var"),
        (lambda: P.Gaussian(mean=float("nan")), "mean"),
        (lambda: P.GaussBernoulli(0.0), "rho"),
        (lambda: P.GaussBernoulli(1.5), "rho"),
        (lambda: P.GaussBernoulli(-0.1), "rho"),
        (lambda: P.GaussBernoulli(0.5, var=0.0), "var"),
        (lambda: P.Gaussian().overlap(-1.0), "Bhat"),
        (lambda: P.Rademacher().scalar_channel_expect(lambda x0, B: B, -0.5), "Bhat"),
        (lambda: P.Gaussian().overlap(1.0, method="simpson"), "method"),
    ],
)
def test_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_priors_are_frozen_and_comparable():
    assert P.Gaussian(0.0, 1.0) == P.Gaussian()
    assert P.GaussBernoulli(0.3).second_moment == pytest.approx(0.3)
    with pytest.raises(Exception):
        P.Gaussian().var = 2.0


# ----------------------------------------------------------------------------- state-evolution fast paths

_SE_PRIORS = PRIORS + [P.GaussBernoulli(0.4, mean=0.5, var=0.8), P.SparseRademacher(0.2)]
_QH = np.array([0.0, 1e-3, 0.5, 3.0, 20.0])


@pytest.mark.parametrize("prior", _SE_PRIORS, ids=lambda p: repr(p))
def test_se_fast_paths_equal_the_generic_product_rule(prior):
    """The overrides of se_overlap / se_free_entropy (closed forms for Gaussian, the symmetric
    Hermite rule for Rademacher, the law of B for a centred Gauss-Bernoulli) agree with the base
    class's product rule over (x0, xi); se_mmse with the prior's own mmse and with rho - q."""
    for name, tol in (("se_overlap", 1e-10), ("se_free_entropy", 1e-10)):
        fast = getattr(prior, name)(_QH)
        generic = getattr(P.Prior, name)(prior, _QH)
        np.testing.assert_allclose(fast, generic, atol=tol, err_msg=name)
    # (Rademacher's 80-node Hermite rule for E sech^2 is off by 4e-7 at qhat = 20)
    np.testing.assert_allclose(prior.se_mmse(_QH), prior.mmse(_QH), atol=1e-6)
    np.testing.assert_allclose(prior.se_mmse(_QH), prior.second_moment - prior.se_overlap(_QH), atol=1e-6)


def test_se_gaussian_closed_forms():
    """Gaussian N(mu, v): q = (qhat (v + mu^2) + mu^2 / v) / (qhat + 1 / v), mmse = v / (1 + qhat v),
    psi = (qhat (v + mu^2) - log(1 + qhat v)) / 2 (Zdeborova & Krzakala 2016, sec. 4.1)."""
    p = P.Gaussian(0.3, 0.7)
    np.testing.assert_allclose(p.se_mmse(_QH), 0.7 / (1 + 0.7 * _QH), rtol=1e-15)
    np.testing.assert_allclose(p.se_overlap(_QH), p.second_moment - p.se_mmse(_QH), atol=1e-15)
    np.testing.assert_allclose(p.se_free_entropy(_QH), p.free_entropy_term(_QH), atol=1e-12)


@pytest.mark.parametrize("prior,d", [(P.Gaussian(0.3, 0.7), 1.0), (P.Rademacher(), 0.0),
                                     (P.GaussBernoulli(0.3), 0.3), (P.GaussBernoulli(0.4, 0.5, 0.8), 0.4)])
def test_information_dimension_exact_values_match_the_limit(prior, d):
    """d_P = lim s mmse(s) (Wu & Verdu 2012): the exact overrides against the base class's
    s mmse(s) at s = 1e8 (the Gauss-Bernoulli limit converges like 1 / sqrt(log s))."""
    assert prior.information_dimension() == d
    assert P.Prior.information_dimension(prior) == pytest.approx(d, abs=3e-3)


@pytest.mark.parametrize("prior", _SE_PRIORS, ids=lambda p: repr(p))
def test_scalar_channel_mixture_reproduces_the_moments(prior):
    w, mu, s2 = prior.scalar_channel_mixture(80)
    assert np.all(w > 0) and np.all(s2 >= 0)
    assert np.sum(w) == pytest.approx(1.0, abs=1e-12)
    assert np.sum(w * mu) == pytest.approx(prior.first_moment, abs=1e-12)
    assert np.sum(w * (mu * mu + s2)) == pytest.approx(prior.second_moment, abs=1e-12)
    assert prior.hermite_inaccurate == isinstance(prior, P.GaussBernoulli)


def _se_reference(prior, f, qh):
    """Adaptive quadrature over the noise, atom by atom, cut at the denoiser's switches."""
    from scipy import integrate

    xs, ws = prior._quadrature(0)
    tot = 0.0
    for x0, w0 in zip(xs, ws):
        g = lambda xi: f(prior, x0, qh * x0 + np.sqrt(qh) * xi, qh) * np.exp(-xi * xi / 2) / np.sqrt(2 * np.pi)
        pts = sorted({(sw - qh * x0) / np.sqrt(qh) for sw in prior._switches(np.array(qh)).ravel()})
        pts = [p for p in pts if -12 < p < 12] or None
        tot += w0 * integrate.quad(g, -12, 12, points=pts, limit=400, epsabs=1e-14, epsrel=1e-13)[0]
    return tot


@pytest.mark.parametrize("prior", [P.Rademacher(), P.SparseRademacher(0.1), P.SparseRademacher(0.6)], ids=repr)
@pytest.mark.parametrize("qh", [0.1, 1.0, 5.0, 20.0, 100.0, 800.0])
def test_atomic_prior_scalar_channel_matches_adaptive_quadrature(prior, qh):
    """Issue 13: the 80-node Gauss-Hermite rule missed the switch of tanh at B = 0 (Rademacher mmse
    off by 4e-6 at Bhat = 5, 3.6% relative at Bhat = 20); now the noise integral is cut there."""
    fo = lambda pr, x0, B, A: x0 * pr.denoise(B, A)[0]
    fm = lambda pr, x0, B, A: pr.denoise(B, A)[1]
    ff = lambda pr, x0, B, A: pr.log_partition(B, A)
    assert abs(prior.se_overlap(qh) - _se_reference(prior, fo, qh)) < 1e-12
    assert abs(prior.se_mmse(qh) - _se_reference(prior, fm, qh)) < 1e-12 * max(1.0, prior.se_mmse(qh))
    assert abs(prior.se_free_entropy(qh) - _se_reference(prior, ff, qh)) < 1e-13 * max(1.0, qh)


def test_rademacher_gaussian_channel_mmse_against_an_independent_fixed_point():
    """Bayes-optimal Rademacher x Linear(0.1): E = mmse(alpha / (Delta + E)), solved by brentq with
    the mmse by adaptive quadrature (the engine's value was 3.5% off at alpha = 3 before issue 13)."""
    from scipy import integrate, optimize

    import solvable as sv

    def mmse(qh):
        g = lambda xi: (1 - np.tanh(qh + np.sqrt(qh) * xi) ** 2) * np.exp(-xi * xi / 2) / np.sqrt(2 * np.pi)
        return integrate.quad(g, -40, 40, points=[-np.sqrt(qh)], limit=500, epsabs=1e-16, epsrel=1e-13)[0]

    for alpha in (1.5, 3.0):
        E = optimize.brentq(lambda E: mmse(alpha / (0.1 + E)) - E, 1e-14, 1.0, xtol=1e-16, rtol=1e-14)
        p = sv.predict(sv.GLM(P.Rademacher(), sv.channels.Linear(0.1), alpha=alpha), sv.BayesOptimal())
        assert p.mse == pytest.approx(E, rel=1e-8)

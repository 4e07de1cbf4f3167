"""Data models of solvable.data: Marchenko-Pastur quadrature, Hermite data, exact overlaps of
real random features, power-law spectra (tail quadrature), validation."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

import solvable as sv
import solvable.data as D
from solvable.blocks.activations import get_activation
from solvable.blocks.data.kernels import (
    PowerLaw,
    RandomFeatures,
    _rf_overlaps,
    marchenko_pastur_quadrature,
    scaled_hermite_coefficients,
)


def test_reexported_from_data():
    assert D.RandomFeatures is RandomFeatures and D.PowerLaw is PowerLaw
    assert isinstance(RandomFeatures("relu", 2.0), D.DataModel)


@pytest.mark.parametrize("gamma", [0.25, 1.0, 1.0001, 0.97, 3.0])
def test_mp_quadrature_moments(gamma):
    # moments of MP(gamma): 1, 1 + gamma, 1 + 3 gamma + gamma^2 (Bai & Silverstein 2010, eq. (3.1.6))
    lam, w = marchenko_pastur_quadrature(gamma, 100)
    assert abs(w.sum() - 1) < 1e-13 and np.all(w > 0) and np.all(lam >= 0)
    np.testing.assert_allclose([w @ lam, w @ lam**2, w @ lam**3], [1, 1 + gamma, 1 + 3 * gamma + gamma**2], rtol=1e-12)
    if gamma > 1:
        assert lam[0] == 0 and abs(w[0] - (1 - 1 / gamma)) < 1e-14


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_mp_quadrature_vs_density(gamma):
    """Stieltjes-type integral against scipy.quad of the MP density (plus the atom at 0)."""
    a, b = (1 - gamma**0.5) ** 2, (1 + gamma**0.5) ** 2
    f = lambda x: 1.0 / (0.05 + x)  # noqa: E731
    dens = lambda x: np.sqrt((b - x) * (x - a)) / (2 * np.pi * gamma * x)  # noqa: E731
    ref = integrate.quad(lambda x: f(x) * dens(x), a, b, limit=200, epsabs=1e-13)[0]
    ref += max(0.0, 1 - 1 / gamma) * f(0.0)
    lam, w = marchenko_pastur_quadrature(gamma, 200)
    assert abs(w @ f(lam) - ref) < 1e-9 * ref


def test_mp_quadrature_errors():
    with pytest.raises(ValueError, match="gamma"):
        marchenko_pastur_quadrature(-1.0)
    with pytest.raises(ValueError, match="n must"):
        marchenko_pastur_quadrature(1.0, 1)


@pytest.mark.parametrize("name", ["erf", "relu", "tanh", "sign"])
def test_scaled_hermite_at_unit_scale(name):
    act = get_activation(name)
    np.testing.assert_allclose(scaled_hermite_coefficients(name, [1.0], 6)[0], act.hermite_coefficients(6), atol=1e-9)


def test_rf_overlaps_exact_vs_closed_form_kernels(rng):
    """Stein + Mehler overlaps vs the arcsine kernel (erf; Williams 1997) and the arc-cosine kernel
    (ReLU; Cho & Saul 2009), which hold for any covariance of the pre-activations."""
    d, p = 60, 90
    F = rng.standard_normal((p, d))
    th = rng.standard_normal(d)
    w = rng.standard_normal(p)
    S = F @ F.T / d
    s = np.sqrt(np.diag(S))
    m, q = _rf_overlaps(get_activation("erf"), F, th)(w)
    K = 2 / np.pi * np.arcsin(S / np.sqrt(np.outer(1 + s**2, 1 + s**2)))
    cz = (F @ th / d) * np.sqrt(2 / np.pi) / np.sqrt(1 + s**2)  # E[z erf(h/sqrt2)] = Cov(z,h) E sigma'(h)
    assert abs(m - cz @ w / np.sqrt(p)) < 1e-12 and abs(q - w @ K @ w / p) < 1e-9 * q
    m, q = _rf_overlaps(get_activation("relu"), F, th)(w)
    t = np.arccos(np.clip(S / np.outer(s, s), -1, 1))
    K = np.outer(s, s) / (2 * np.pi) * (np.sin(t) + (np.pi - t) * np.cos(t))
    assert abs(m - 0.5 * (F @ th / d) @ w / np.sqrt(p)) < 1e-12 and abs(q - w @ K @ w / p) < 1e-8 * q
    # sign: slowly decaying Hermite coefficients (mu_k^2 / k! ~ k^-3/2); kernel (2/pi) arcsin(r)
    m, q = _rf_overlaps(get_activation("sign"), F, th)(w)
    K = 2 / np.pi * np.arcsin(np.clip(S / np.outer(s, s), -1, 1))
    np.fill_diagonal(K, 1.0)
    assert abs(m - np.sqrt(2 / np.pi) * (F @ th / d) / s @ w / np.sqrt(p)) < 1e-12
    assert abs(q - w @ K @ w / p) < 1e-6 * q


def test_rf_sample_shapes_and_features(rng):
    rf = RandomFeatures("relu", 1.5)
    V, z, info = rf.sample(40, 20, sv.priors.Gaussian(), rng)
    assert V.shape == (40, 30) and z.shape == (40,) and np.all(V >= 0)
    assert info["rho"] == pytest.approx(info["theta"] @ info["theta"] / 20)
    assert rf.ratio == 1.5 and rf.student_dim(20) == 30


def test_rf_spectrum_linear_activation_and_coefficients():
    # sigma = identity: mu1 = 1, mu_star = 0; the student sees the projection of x on the row space
    # of F, explaining a fraction min(gamma, 1) of Var z (rank argument)
    for gamma in (0.5, 2.0):
        sp = RandomFeatures("linear", gamma).spectrum(sv.priors.Gaussian(0.0, 2.0))
        assert sp.rho == 2.0 and sp.explained == pytest.approx(2.0 * min(gamma, 1.0), rel=1e-10)
    c = RandomFeatures("relu").coefficients
    assert c["mu0"] == pytest.approx(1 / np.sqrt(2 * np.pi)) and c["mu1"] == pytest.approx(0.5)
    assert c["mu_star"] ** 2 == pytest.approx(0.5 - 1 / (2 * np.pi) - 0.25)


def test_rf_empirical_spectrum_matches_mp():
    """The empirical spectrum of one sampled F F^T / d at p = 3000 gives the MP prediction up to
    its O(1/p) fluctuations."""
    learner = sv.ERM(sv.losses.Square(), sv.penalties.L2(0.05))
    out = []
    for method in ("mp", "empirical"):
        rf = RandomFeatures("tanh", 2.0, spectrum_method=method, n_empirical=3000)
        pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(0.1), alpha=np.array([0.5, 2.0, 4.0]), data=rf)
        out.append(sv.predict(pb, learner).test_error)
    np.testing.assert_allclose(out[1], out[0], rtol=3e-3)


def test_validation_errors():
    with pytest.raises(ValueError, match="gamma"):
        RandomFeatures("erf", 0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        RandomFeatures("nope", 1.0)
    with pytest.raises(ValueError, match="spectrum_method"):
        RandomFeatures("erf", 1.0, spectrum_method="x")
    with pytest.raises(ValueError, match="capacity"):
        PowerLaw(1.0, 0.5)
    with pytest.raises(ValueError, match="source"):
        PowerLaw(2.0, -0.1)
    with pytest.raises(ValueError, match="n_modes"):
        PowerLaw(2.0, 0.5, n_modes=0)


def test_powerlaw_spectrum_and_tail_quadrature():
    pl = PowerLaw(2.0, 0.3, n_modes=20000)
    sp = pl.spectrum(None)
    k = np.arange(1, 20001)
    assert sp.rho == pytest.approx(np.sum(k ** (-1.0 - 1.2)), rel=1e-12)
    np.testing.assert_allclose(sp.omega, k ** -2.0)
    # compressed tail (500 exact modes + Gauss-Legendre in log k) gives the same learning curve
    pc = PowerLaw(2.0, 0.3, n_modes=20000, exact_modes=500)
    assert pc.spectrum(None).omega.size < 700
    ns = np.array([10.0, 100.0, 1000.0])
    errs = []
    for model in (pl, pc):
        pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(0.01), alpha=model.alpha(ns), data=model)
        pr = sv.predict(pb, sv.ERM(sv.losses.Square(), sv.penalties.L2(1.0)), lam=model.penalty(ns, ns**-1.0),
                        tol=1e-14, rtol=1e-13)
        errs.append(pr.test_error - 0.01)
    np.testing.assert_allclose(errs[1], errs[0], rtol=1e-6)
    assert pl.alpha(100) == 100 / 20000 and pl.penalty(100, 0.5) == 0.5 * 100 / 20000


def test_powerlaw_sample_overlaps(rng):
    pl = PowerLaw(1.5, 0.5, n_modes=50)
    V, z, info = pl.sample(200000, 50, None, rng)
    w = rng.standard_normal(50)
    yhat = V @ w / np.sqrt(50)
    m, q = info["overlaps"](w)
    assert abs(np.mean(z * yhat) - m) < 5 * np.std(z * yhat) / np.sqrt(2e5)
    assert abs(np.mean(yhat**2) - q) < 5 * np.std(yhat**2) / np.sqrt(2e5)
    assert info["rho"] == pytest.approx(pl.rho, rel=1e-12)

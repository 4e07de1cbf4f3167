"""Activations: Hermite coefficients against closed forms, information exponents,
Gaussian-equivalence constants, derivatives, lookup by name."""
from __future__ import annotations

from math import factorial

import numpy as np
import pytest

from solvable.blocks.activations import ACTIVATIONS, get_activation

SQ2PI = np.sqrt(2 * np.pi)

# Closed forms of mu_k = E[sigma(z) He_k(z)], z ~ N(0, 1):
# * erf(z/sqrt 2) = 2 Phi(z) - 1: by Stein's lemma mu_k = E[sigma^(k)] and
#   sigma' = 2 phi(z), E[phi(z) He_{k-1}(z)] = (-1)^((k-1)/2) (k-2)!! / (sqrt(2 pi) 2^(k/2)) ...;
#   we use the first ones directly: mu1 = E 2 phi(z) = 2 / sqrt(4 pi) = 1/sqrt(pi),
#   mu3 = E[sigma'''] = E[-2 z phi(z)] ... = -1/(2 sqrt(pi)).
# * relu: mu0 = 1/sqrt(2 pi), mu1 = 1/2, mu2 = E[delta(z)] = 1/sqrt(2 pi), mu3 = 0,
#   mu4 = E[delta''(z)] = phi''(0) = -1/sqrt(2 pi).
# * sign: mu1 = 2 phi(0) = sqrt(2/pi), mu3 = 2 phi''(0) = -sqrt(2/pi), even ones 0.
# * quadratic z^2 = He_2 + 1: mu0 = 1, mu2 = 2.
# * he_k = He_k / sqrt(k!): mu_k = k! / sqrt(k!) = sqrt(k!), others 0.
CLOSED = {
    "erf": {0: 0.0, 1: 1 / np.sqrt(np.pi), 2: 0.0, 3: -1 / (2 * np.sqrt(np.pi)), 4: 0.0},
    "relu": {0: 1 / SQ2PI, 1: 0.5, 2: 1 / SQ2PI, 3: 0.0, 4: -1 / SQ2PI},
    "sign": {0: 0.0, 1: np.sqrt(2 / np.pi), 2: 0.0, 3: -np.sqrt(2 / np.pi), 4: 0.0},
    "quadratic": {0: 1.0, 1: 0.0, 2: 2.0, 3: 0.0, 4: 0.0},
    "linear": {0: 0.0, 1: 1.0, 2: 0.0, 3: 0.0},
    "he2": {0: 0.0, 1: 0.0, 2: np.sqrt(2.0), 3: 0.0, 4: 0.0},
    "he3": {1: 0.0, 2: 0.0, 3: np.sqrt(6.0), 4: 0.0},
    "he4": {1: 0.0, 2: 0.0, 3: 0.0, 4: np.sqrt(24.0)},
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_hermite_coefficients_closed_forms(name):
    mu = get_activation(name).hermite_coefficients(kmax=6)
    for k, ref in CLOSED[name].items():
        assert mu[k] == pytest.approx(ref, abs=1e-10), (name, k)


def test_tanh_hermite_coefficients_against_quad():
    from scipy import integrate
    from numpy.polynomial.hermite_e import hermeval

    mu = get_activation("tanh").hermite_coefficients(kmax=5)
    for k in range(6):
        c = np.zeros(k + 1)
        c[k] = 1
        ref = integrate.quad(lambda z: np.tanh(z) * hermeval(z, c) * np.exp(-z * z / 2) / SQ2PI, -40, 40,
                             epsabs=1e-14, epsrel=1e-13, limit=200)[0]
        assert mu[k] == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_parseval_and_information_exponent(name):
    act = get_activation(name)
    mu = act.hermite_coefficients(kmax=30)
    # Parseval: E sigma^2 = sum_k mu_k^2 / k!  (converges slowly for the sign: use a loose bound there)
    second = act.expect(lambda z: act(z) ** 2)
    partial = sum(mu[k] ** 2 / factorial(k) for k in range(31))
    assert partial <= second + 1e-9
    if name not in ("sign", "relu", "tanh"):  # entire functions: the series converges fast
        assert partial == pytest.approx(second, rel=1e-8)
    if name == "tanh":  # analytic in a strip only: mu_k^2 / k! decays like exp(-c sqrt(k))
        assert partial == pytest.approx(second, rel=1e-5)
    expected = {"erf": 1, "relu": 1, "tanh": 1, "sign": 1, "linear": 1, "quadratic": 2, "he2": 2, "he3": 3, "he4": 4}
    assert act.information_exponent() == expected[name] == act.known_information_exponent


def test_gaussian_equivalence_constants():
    relu = get_activation("relu").gaussian_equivalence
    assert relu["mu0"] == pytest.approx(1 / SQ2PI, abs=1e-12)
    assert relu["mu1"] == pytest.approx(0.5, abs=1e-12)
    assert relu["mu_star"] == pytest.approx(np.sqrt(0.5 - 1 / (2 * np.pi) - 0.25), abs=1e-12)
    erf = get_activation("erf").gaussian_equivalence
    # E erf(z/sqrt2)^2 = (2/pi) arcsin(1/2) = 1/3 (Saad & Solla)
    assert erf["mu_star"] == pytest.approx(np.sqrt(1 / 3 - 1 / np.pi), abs=1e-12)
    lin = get_activation("linear").gaussian_equivalence
    assert lin["mu_star"] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_numerical_derivative(name):
    act = get_activation(name)
    z = np.linspace(-3, 3, 41) + 0.0123  # avoid the kink at 0
    h = 1e-6
    num = (act(z + h) - act(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z), num, rtol=1e-6, atol=1e-7)


def test_lookup():
    assert get_activation("ReLU") is ACTIVATIONS["relu"]
    act = get_activation("tanh")
    assert get_activation(act) is act
    assert act == get_activation("tanh") and hash(act) == hash(get_activation("tanh"))
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; known activations: \[.*'erf'.*'relu'"):
        get_activation("swish")
    np.testing.assert_allclose(get_activation("erf")(np.array([0.0, 10.0])), [0.0, 1.0])

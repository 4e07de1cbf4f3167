"""Activation functions with their Hermite expansions.

Hermite convention: probabilists' polynomials He_k, orthogonal under N(0, 1) with
E[He_j He_k] = k! delta_jk; the coefficients are ``mu_k = E[sigma(z) He_k(z)]`` so that
``sigma = sum_k mu_k He_k / k!``.  The information exponent is the smallest k >= 1 with
mu_k != 0 (Ben Arous, Gheissari & Jagannath, JMLR 2021, Definition 1.2).  The
Gaussian-equivalence coefficients of random features are ``mu0 = E sigma(z)``,
``mu1 = E z sigma(z)`` and ``mu_star^2 = E sigma(z)^2 - mu0^2 - mu1^2``
(Mei & Montanari 2019; Goldt et al. 2022).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermeval
from scipy.special import erf

from solvable.numerics.gauss import gauss_expect

__all__ = ["Activation", "get_activation", "ACTIVATIONS"]

_SQRT2 = np.sqrt(2.0)


def _he(k: int, z):
    c = np.zeros(k + 1)
    c[k] = 1.0
    return hermeval(z, c)


@dataclass(frozen=True, eq=False)
class Activation:
    """A named activation sigma with its derivative and Hermite data."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    kinks: tuple = ()
    #: closed-form information exponent where known (checked against the numerics in tests)
    known_information_exponent: int | None = None

    def __call__(self, z):
        return self.fn(np.asarray(z, dtype=float))

    def __eq__(self, other):
        return isinstance(other, Activation) and other.name == self.name

    def __hash__(self):
        return hash(("activation", self.name))

    def __repr__(self):
        return f"Activation({self.name!r})"

    def __reduce__(self):
        # the built-in activations pickle by name (their functions are lambdas), so that
        # problems and learners travel to worker processes; a user's activation pickles its
        # functions (which must then be module-level functions)
        if self.name in ACTIVATIONS and ACTIVATIONS[self.name].fn is self.fn:
            return (get_activation, (self.name,))
        return (Activation, (self.name, self.fn, self.derivative, self.kinks, self.known_information_exponent))

    def expect(self, g: Callable[[np.ndarray], np.ndarray], var: float = 1.0):
        """E[g(z)] for z ~ N(0, var), accurate for kinked integrands (breakpoints at kinks)."""
        if self.kinks:
            return float(gauss_expect(g, 0.0, var, method="legendre", breakpoints=list(self.kinks), n=60))
        return float(gauss_expect(g, 0.0, var, n=120))

    def hermite_coefficients(self, kmax: int = 8) -> np.ndarray:
        """``mu_k = E[sigma(z) He_k(z)]`` for k = 0..kmax."""
        return np.array([self.expect(lambda z, k=k: self.fn(z) * _he(k, z)) for k in range(kmax + 1)])

    def information_exponent(self, kmax: int = 8, tol: float = 1e-8) -> int | None:
        """Smallest k >= 1 with a non-zero Hermite coefficient (None if none up to kmax)."""
        mu = self.hermite_coefficients(kmax)
        for k in range(1, kmax + 1):
            if abs(mu[k]) > tol:
                return k
        return None

    @cached_property
    def gaussian_equivalence(self) -> dict:
        """mu0, mu1, mu_star for z ~ N(0, 1) (Gaussian-equivalent random features)."""
        mu0 = self.expect(self.fn)
        mu1 = self.expect(lambda z: z * self.fn(z))
        m2 = self.expect(lambda z: self.fn(z) ** 2)
        return {"mu0": mu0, "mu1": mu1, "mu_star": float(np.sqrt(max(m2 - mu0**2 - mu1**2, 0.0)))}


def _erf(z):
    return erf(z / _SQRT2)


def _derf(z):
    return np.sqrt(2.0 / np.pi) * np.exp(-0.5 * z * z)


ACTIVATIONS: dict[str, Activation] = {
    "erf": Activation("erf", _erf, _derf, (), 1),
    "relu": Activation("relu", lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float), (0.0,), 1),
    "tanh": Activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, (), 1),
    "sign": Activation("sign", lambda z: np.where(z >= 0, 1.0, -1.0), lambda z: np.zeros_like(z), (0.0,), 1),
    "quadratic": Activation("quadratic", lambda z: z * z, lambda z: 2.0 * z, (), 2),
    "linear": Activation("linear", lambda z: z, lambda z: np.ones_like(z), (), 1),
    "he2": Activation("he2", lambda z: (z * z - 1.0) / _SQRT2, lambda z: _SQRT2 * z, (), 2),
    "he3": Activation("he3", lambda z: (z**3 - 3.0 * z) / np.sqrt(6.0), lambda z: (3.0 * z * z - 3.0) / np.sqrt(6.0), (), 3),
    "he4": Activation("he4", lambda z: (z**4 - 6 * z * z + 3.0) / np.sqrt(24.0), lambda z: (4 * z**3 - 12 * z) / np.sqrt(24.0), (), 4),
}
"""Built-in activations.  ``erf`` is erf(z / sqrt 2) (Saad & Solla's g); ``he_k`` are the
normalised Hermite polynomials He_k / sqrt(k!) (unit variance)."""


def get_activation(name: str | Activation) -> Activation:
    """An activation by name; unknown names raise ValueError listing the known ones."""
    if isinstance(name, Activation):
        return name
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]

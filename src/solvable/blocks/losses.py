"""Losses of empirical risk minimisation, with proximal operators and Moreau envelopes.

Conventions (Loureiro et al., NeurIPS 2021, sec. 2; Aubin et al., NeurIPS 2020, eq. (3)):
``loss(y, z)`` with ``z = w . x / sqrt(d)`` the pre-activation of the student;

* ``prox(y, omega, V) = argmin_z loss(y, z) + (z - omega)^2 / (2 V)``,
* ``dprox = d prox / d omega``,
* ``moreau(y, omega, V) = min_z loss(y, z) + (z - omega)^2 / (2 V)``.

The ERM saddle-point equations use ``f_out = (prox - omega) / V`` and
``df_out = (dprox - 1) / V`` (Loureiro et al. 2021, eq. (26)).  Everything is vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from solvable.core.validate import check_positive

__all__ = ["Loss", "Square", "Logistic", "Hinge", "HardMargin", "Huber", "Absolute", "get_loss", "register_loss"]


def _bcast(y, omega, V):
    y, omega, V = (np.asarray(t, dtype=float) for t in (y, omega, V))
    if np.any(V <= 0):
        raise ValueError(f"prox needs V > 0, got min V={float(np.min(V))!r}")
    return np.broadcast_arrays(y, omega, V)


class Loss:
    """Base class of ERM losses."""

    name: str = "loss"
    #: True for margin losses of labels y = +-1 (classification)
    is_classification: bool = False
    #: True where the loss is twice differentiable everywhere
    smooth: bool = True
    #: True for the square loss (y - z)^2 / 2 exactly: its prox is linear in (y, omega), so the
    #: ERM loss side has a closed form (and, with an L2 penalty, the whole saddle point)
    is_square: bool = False
    #: True for a hard constraint (0 where it holds, +inf otherwise): with an L2 penalty ERM is
    #: then the max-margin classifier, independent of the L2 strength, existing only on
    #: linearly separable data
    is_constraint: bool = False
    #: how :func:`solvable.families.erm.solvers.solve_erm` minimises it at finite size: "ridge"
    #: (closed form), "newton" (L-BFGS then Newton steps), "hinge" (active set on the margin
    #: kink y z = 1, multipliers in [0, 1]), "absolute" (active set on the residual kink z = y,
    #: multipliers in [-1, 1]), "max_margin" (the dual of the hard-margin SVM); None: no solver
    solver: str | None = None
    #: Lipschitz constant of grad(y, .) in z (sup_z hess), for proximal-gradient steps with an
    #: L1 penalty; None where the gradient is not Lipschitz
    grad_lipschitz: float | None = None

    def value(self, y, z):
        raise NotImplementedError

    def grad(self, y, z):
        """d loss / dz (a subgradient at kinks)."""
        raise NotImplementedError

    def hess(self, y, z):
        """d^2 loss / dz^2 (0 at kinks by convention)."""
        raise NotImplementedError

    def prox(self, y, omega, V):
        raise NotImplementedError

    def dprox(self, y, omega, V):
        raise NotImplementedError

    def prox_and_derivative(self, y, omega, V):
        return self.prox(y, omega, V), self.dprox(y, omega, V)

    def moreau(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        p = self.prox(y, omega, V)
        return self.value(y, p) + (p - omega) ** 2 / (2.0 * V)

    def kinks(self, y):
        """Positions in z of non-differentiable points (for quadrature), shape y.shape + (k,)."""
        return np.zeros(np.shape(y) + (0,))

    @property
    def has_prox(self) -> bool:
        """True where the loss implements :meth:`prox` (what the ERM asymptotics integrate)."""
        return type(self).prox is not Loss.prox

    def prox_kinks(self, y, V):
        """Positions in omega where ``prox(y, omega, V)`` is not differentiable in omega (the
        breakpoints of the ERM loss-side quadrature), shape ``broadcast(y, V).shape + (k,)``;
        none for a smooth loss."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        return np.zeros(y.shape + (0,))


@dataclass(frozen=True)
class Square(Loss):
    """(y - z)^2 / 2;  prox = (omega + V y) / (1 + V)."""

    name = "square"
    is_square = True
    solver = "ridge"
    grad_lipschitz = 1.0

    def value(self, y, z):
        return 0.5 * (np.asarray(y, float) - z) ** 2

    def grad(self, y, z):
        return np.asarray(z, float) - y

    def hess(self, y, z):
        return np.ones(np.broadcast(np.asarray(y), np.asarray(z)).shape)

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return (omega + V * y) / (1.0 + V)

    def dprox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return 1.0 / (1.0 + V)


def _logistic_prox_u(a, V, *, tol=1e-15, max_iter=100):
    """Solve u = a + V sigma(-u) (the logistic prox in the margin variable u = y z).

    Writing u = a + exp(s), the equation becomes F(s) = s + softplus(a + e^s) - log V = 0
    with F increasing and convex in s.  Newton's method started to the right of the root,
    at s0 = log V - softplus(a) (an upper bound since sigma(-(a + t)) <= sigma(-a)),
    then decreases monotonically to the root and converges quadratically: a safeguarded
    Newton with no bracket to maintain.  Vectorised over all points at once.
    """
    logV = np.log(V)
    s = logV - np.logaddexp(0.0, a)
    active = np.ones(np.shape(s), dtype=bool)
    for _ in range(max_iter):
        t = np.exp(s)
        F = s + np.logaddexp(0.0, a + t) - logV
        dF = 1.0 + expit(a + t) * t
        step = np.maximum(F / dF, 0.0)  # never step left of the root (monotone Newton)
        s = np.where(active, s - step, s)
        active &= step > tol * np.maximum(1.0, np.abs(s))
        if not active.any():
            break
    return a + np.exp(s)


@dataclass(frozen=True)
class Logistic(Loss):
    """log(1 + exp(-y z)) for labels y = +-1.

    The prox has no closed form; it is solved by a monotone Newton iteration in the
    margin u = y z (see ``_logistic_prox_u``; accurate to ~1e-13 relative for
    V in [1e-6, 1e6], |omega| <= 1e3).
    """

    name = "logistic"
    is_classification = True
    solver = "newton"
    grad_lipschitz = 0.25  # sup of sigma (1 - sigma)

    def value(self, y, z):
        return np.logaddexp(0.0, -np.asarray(y, float) * z)

    def grad(self, y, z):
        y = np.asarray(y, float)
        return -y * expit(-y * z)

    def hess(self, y, z):
        y = np.asarray(y, float)
        s = expit(y * z)
        return y * y * s * (1.0 - s)

    def prox(self, y, omega, V):
        return self.prox_and_derivative(y, omega, V)[0]

    def dprox(self, y, omega, V):
        return self.prox_and_derivative(y, omega, V)[1]

    def prox_and_derivative(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        if np.any(np.abs(np.abs(y) - 1.0) > 1e-12):
            raise ValueError("Logistic loss: labels must be +1 or -1")
        u = _logistic_prox_u(y * omega, V)
        s = expit(u)
        return y * u, 1.0 / (1.0 + V * s * (1.0 - s))


@dataclass(frozen=True)
class Hinge(Loss):
    """max(0, 1 - y z) for y = +-1; prox in closed form (three regions of y omega)."""

    name = "hinge"
    is_classification = True
    smooth = False
    solver = "hinge"

    def value(self, y, z):
        return np.maximum(0.0, 1.0 - np.asarray(y, float) * z)

    def grad(self, y, z):
        y = np.asarray(y, float)
        return np.where(y * z < 1.0, -y, 0.0)

    def hess(self, y, z):
        return np.zeros(np.broadcast(np.asarray(y), np.asarray(z)).shape)

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        a = y * omega
        u = np.where(a >= 1.0, a, np.where(a <= 1.0 - V, a + V, 1.0))
        return y * u

    def dprox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        a = y * omega
        return np.where((a > 1.0) | (a < 1.0 - V), 1.0, 0.0)

    def kinks(self, y):
        return (1.0 / np.asarray(y, float))[..., None]

    def prox_kinks(self, y, V):
        """y omega = 1 and y omega = 1 - V (the ends of the flat piece of the prox; y = +-1)."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        return np.stack([y, y * (1.0 - V)], axis=-1)


@dataclass(frozen=True)
class HardMargin(Loss):
    """The hard-margin constraint ``y z >= 1`` (0 where it holds, +inf otherwise): with an L2
    penalty, ERM is the max-margin (hard-margin SVM) classifier
    ``argmin |w|^2 s.t. y_mu w . x_mu / sqrt(d) >= 1`` (Gardner 1988; Cui, Loureiro, Krzakala,
    Zdeborova, Mach. Learn.: Sci. Technol. 2023, sec. 3).  The minimiser does not depend on the
    L2 strength (any ``lam >= 0`` gives the same ``w``; ``lam = 0`` is read as ``lam = 1``) and
    exists only while the data are linearly separable.  ``prox(y, omega, V) = y max(y omega, 1)``
    (the projection on the constraint set)."""

    name = "hard_margin"
    is_classification = True
    smooth = False
    is_constraint = True
    solver = "max_margin"

    def value(self, y, z):
        return np.where(np.asarray(y, float) * z >= 1.0 - 1e-9, 0.0, np.inf)

    def grad(self, y, z):  # the constraint has no finite gradient: solvers use its own routine
        return np.zeros(np.broadcast(np.asarray(y), np.asarray(z)).shape)

    def hess(self, y, z):
        return np.zeros(np.broadcast(np.asarray(y), np.asarray(z)).shape)

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return y * np.maximum(y * omega, 1.0)

    def dprox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return np.where(y * omega > 1.0, 1.0, 0.0)

    def moreau(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return np.maximum(1.0 - y * omega, 0.0) ** 2 / (2.0 * V)

    def kinks(self, y):
        return (1.0 / np.asarray(y, float))[..., None]

    def prox_kinks(self, y, V):
        """y omega = 1 (where the projection on y z >= 1 starts to act; y = +-1)."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        return y[..., None]


@dataclass(frozen=True)
class Huber(Loss):
    """Huber loss of the residual r = y - z: r^2/2 for |r| <= delta, delta|r| - delta^2/2 beyond."""

    delta: float = 1.0
    name = "huber"
    solver = "newton"
    grad_lipschitz = 1.0

    def __post_init__(self):
        check_positive("delta", self.delta, owner="Huber loss")
        object.__setattr__(self, "delta", float(self.delta))

    def value(self, y, z):
        r = np.abs(np.asarray(y, float) - z)
        d = self.delta
        return np.where(r <= d, 0.5 * r * r, d * r - 0.5 * d * d)

    def grad(self, y, z):
        r = np.asarray(y, float) - z
        return -np.clip(r, -self.delta, self.delta)

    def hess(self, y, z):
        r = np.asarray(y, float) - z
        return np.where(np.abs(r) <= self.delta, 1.0, 0.0)

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        r0 = y - omega
        d = self.delta
        r = np.where(np.abs(r0) <= d * (1.0 + V), r0 / (1.0 + V), r0 - V * d * np.sign(r0))
        return y - r

    def dprox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        r0 = y - omega
        return np.where(np.abs(r0) <= self.delta * (1.0 + V), 1.0 / (1.0 + V), 1.0)

    def kinks(self, y):
        y = np.asarray(y, float)
        return np.stack([y - self.delta, y + self.delta], axis=-1)

    def prox_kinks(self, y, V):
        """|y - omega| = delta (1 + V) (where the prox leaves the quadratic piece)."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        c = self.delta * (1.0 + V)
        return np.stack([y - c, y + c], axis=-1)


@dataclass(frozen=True)
class Absolute(Loss):
    """|y - z| (least absolute deviations); prox = soft thresholding of the residual."""

    name = "absolute"
    smooth = False
    solver = "absolute"

    def value(self, y, z):
        return np.abs(np.asarray(y, float) - z)

    def grad(self, y, z):
        return -np.sign(np.asarray(y, float) - z)

    def hess(self, y, z):
        return np.zeros(np.broadcast(np.asarray(y), np.asarray(z)).shape)

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        r0 = y - omega
        r = np.sign(r0) * np.maximum(np.abs(r0) - V, 0.0)
        return y - r

    def dprox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return np.where(np.abs(y - omega) > V, 1.0, 0.0)

    def kinks(self, y):
        return np.asarray(y, float)[..., None]

    def prox_kinks(self, y, V):
        """|y - omega| = V (the ends of the soft-thresholding dead zone)."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        return np.stack([y - V, y + V], axis=-1)


_LOSSES = {"square": Square, "logistic": Logistic, "hinge": Hinge, "huber": Huber, "absolute": Absolute,
           "hard_margin": HardMargin, "max_margin": HardMargin}


def register_loss(cls: type, *names: str) -> None:
    """Make a loss defined outside this module available by name to :func:`get_loss` (and so to
    ``ERM("name", ...)``), e.g. the K-class losses of :mod:`solvable.families.mixtures.multiclass`."""
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise TypeError(f"register_loss: cls must be a Loss subclass, got {cls!r}")
    for n in names:
        _LOSSES[str(n).lower()] = cls


def get_loss(name: str | Loss, **kwargs) -> Loss:
    """A loss by name ('square', 'logistic', 'hinge', 'huber', 'absolute', 'hard_margin' = 'max_margin')."""
    if isinstance(name, Loss):
        return name
    key = str(name).lower()
    if key not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {sorted(_LOSSES)}")
    return _LOSSES[key](**kwargs)

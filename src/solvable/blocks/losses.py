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
from solvable.numerics.roots import illinois_root

__all__ = ["Loss", "Square", "Logistic", "Hinge", "HardMargin", "Huber", "Absolute", "Tukey", "get_loss",
           "register_loss"]


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


#: the iterations of Tukey's scalar root searches (safeguarded Newton: quadratic once close, and never
#: slower than bisection, whose 64 halvings shrink a bracket of width tau to tau 2^-64)
_TUKEY_STEPS = 64


def _root_increasing(h, dh, lo, hi, x0=None, steps=_TUKEY_STEPS):
    """The root of an increasing ``h`` on ``[lo, hi]`` (arrays), given ``h(lo) <= 0 <= h(hi)``: Newton steps
    from ``x0`` (default the midpoint); where a step leaves the bracket, a false-position step between the
    bracket's ends (a bisection if that fails too: never slower than bisection); stops when every ``|h| <=
    2e-15`` (relative to the bracket's scale) or the bracket has shrunk to round-off."""
    x = 0.5 * (lo + hi) if x0 is None else np.clip(x0, lo, hi)
    scale = np.maximum(np.abs(hi), 1e-300)
    hlo, hhi = h(lo), h(hi)
    for _ in range(steps):
        hx = h(x)
        up = hx > 0
        hi, hhi = np.where(up, x, hi), np.where(up, hx, hhi)
        lo, hlo = np.where(up, lo, x), np.where(up, hlo, hx)
        d = dh(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - hx / d
            fp = lo - hlo * (hi - lo) / (hhi - hlo)
        fp = np.where((fp > lo) & (fp < hi), fp, 0.5 * (lo + hi))
        xn = np.where(~(d > 0) | ~(xn > lo) | ~(xn < hi), fp, xn)
        done = (np.abs(hx) <= 2e-15 * scale) | (hi - lo <= 4e-16 * scale)
        x = np.where(done, x, xn)
        if np.all(done):
            break
    return x


@dataclass(frozen=True)
class Tukey(Loss):
    """Tukey's biweight of the residual ``r = y - z`` (Vilucchio, Troiani, Erba, Krzakala 2024, sec. 4):

        rho(r) = tau^2 / 6 [1 - (1 - (r / tau)^2)^3]   for |r| <= tau,   tau^2 / 6 beyond,

    bounded and non-convex: ``rho''(r) = (1 - u)(1 - 5 u)``, ``u = (r / tau)^2``, whose minimum is ``-4/5`` at
    ``|r| = tau sqrt(3/5)``.  The proximal step ``prox = y - r*``, ``r* = argmin_r rho(r) + (r - r0)^2 / (2 V)``,
    ``r0 = y - omega``, is the global minimiser of that scalar problem: it is unique and continuous for ``V <
    5/4`` (the problem is then strictly convex, ``rho'' + 1 / V > 0``); for ``V >= 5/4`` the stationarity
    function ``h(r) = r + V rho'(r) - r0`` has two turning points ``|r| = tau sqrt(u_+-)``, ``u_+- = (3 +- sqrt(4 -
    5 / V)) / 5``, the scalar problem two local minima, and ``r*`` jumps where their values cross (a Maxwell
    construction, located by bisection: :meth:`jump`); :meth:`prox_kinks` gives the jumps and the ends ``|r0| =
    tau`` of the loss's flat part to the quadrature.  Every root is found by bisection on a piece where ``h``
    is monotone (64 halvings), and the candidates compared by their objective.
    """

    tau: float = 1.0
    name = "tukey"
    solver = "nonconvex"
    grad_lipschitz = 1.0
    #: the proximal step can be discontinuous in omega (:meth:`prox_jumps`)
    can_jump = True

    def prox_jumps(self, V):
        """Where the proximal step jumps (``V >= 5/4``)."""
        return np.asarray(V, float) >= 1.25

    def __post_init__(self):
        t = self.tau
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not (np.isfinite(t) and t > 0):
            raise ValueError(f"Tukey loss: tau must be finite and > 0, got tau={t!r}")
        object.__setattr__(self, "tau", float(t))

    # ------------------------------------------------------------ the loss of the residual
    def _rho(self, r):
        u = np.minimum((r / self.tau) ** 2, 1.0)
        return self.tau ** 2 / 6.0 * (1.0 - (1.0 - u) ** 3)

    def _drho(self, r):
        u = (r / self.tau) ** 2
        return np.where(u < 1.0, r * (1.0 - u) ** 2, 0.0)

    def _d2rho(self, r):
        u = (r / self.tau) ** 2
        return np.where(u < 1.0, (1.0 - u) * (1.0 - 5.0 * u), 0.0)

    def value(self, y, z):
        return self._rho(np.asarray(y, float) - z)

    def grad(self, y, z):
        return -self._drho(np.asarray(y, float) - z)

    def hess(self, y, z):
        return self._d2rho(np.asarray(y, float) - z)

    # ------------------------------------------------------------ the proximal step
    def _turning(self, V):
        """``(r1, r2)``: the turning points of ``h`` on ``[0, tau]`` (``r1 = r2 = tau`` where ``V < 5/4``)."""
        disc = np.sqrt(np.maximum(4.0 - 5.0 / V, 0.0))
        nonconvex = V >= 1.25
        r1 = np.where(nonconvex, self.tau * np.sqrt((3.0 - disc) / 5.0), self.tau)
        r2 = np.where(nonconvex, self.tau * np.sqrt((3.0 + disc) / 5.0), self.tau)
        return r1, r2

    def _local_minima(self, a, V):
        """For ``r0 = a >= 0``: the near local minimiser on ``[0, r1]`` (NaN where none) and the far one (on
        ``[r2, tau]``, or ``a`` itself where ``a >= tau``; NaN where none)."""
        a, V = np.broadcast_arrays(np.asarray(a, float), np.asarray(V, float))
        r1, r2 = self._turning(V)
        tau = np.full(a.shape, self.tau)

        def h(r, aa, VV):
            return r + VV * self._drho(r) - aa

        def root(mask, lo, hi, x0=None):  # on the entries where h changes sign on [lo, hi] only
            out = np.full(a.shape, np.nan)
            if np.any(mask):
                aa, VV = a[mask], V[mask]
                out[mask] = _root_increasing(lambda r: h(r, aa, VV), lambda r: 1.0 + VV * self._d2rho(r),
                                             lo[mask], hi[mask], None if x0 is None else x0[mask])
            return out

        near = root(h(r1, a, V) >= 0, np.zeros(a.shape), np.minimum(r1, a), a / (1.0 + V))  # h(0) = -a <= 0
        far_in = (h(r2, a, V) <= 0) & (h(tau, a, V) >= 0) & (r2 < self.tau)
        far = np.where(far_in, root(far_in, r2, tau), np.where(a >= self.tau, a, np.nan))
        return near, far

    def _objective(self, r, a, V):
        return self._rho(r) + (r - a) ** 2 / (2.0 * V)

    def _r_star(self, r0, V):
        """The global minimiser ``r*`` (signed like ``r0``)."""
        a = np.abs(r0)
        near, far = self._local_minima(a, V)
        with np.errstate(invalid="ignore"):
            take_far = np.isnan(near) | (~np.isnan(far) & (self._objective(far, a, V) < self._objective(near, a, V)))
        return np.sign(r0) * np.where(take_far, far, near)

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return y - self._r_star(y - omega, V)

    def dprox(self, y, omega, V):
        return self.prox_and_derivative(y, omega, V)[1]

    def prox_and_derivative(self, y, omega, V):
        """``dprox = 1 / (1 + V rho''(r*))`` (1 on the flat part; the jumps have measure zero)."""
        y, omega, V = _bcast(y, omega, V)
        r = self._r_star(y - omega, V)
        return y - r, 1.0 / (1.0 + V * self._d2rho(r))

    def jump(self, V):
        """``|r0|`` where the prox jumps (``V >= 5/4``; NaN below): the near and far local minima have equal
        objective there (the Illinois root of their difference between the ends of their coexistence, ``a_lo =
        r2 + V rho'(r2)`` and ``a_hi = r1 + V rho'(r1)``)."""
        V = np.asarray(V, float)
        r1, r2 = self._turning(V)
        a_lo = r2 + V * self._drho(r2)
        a_hi = r1 + V * self._drho(r1)

        def D(a):  # far minus near: decreasing in a (the far minimum gains as r0 grows)
            near, far = self._local_minima(a, V)
            return self._objective(far, a, V) - self._objective(near, a, V)

        with np.errstate(invalid="ignore"):  # D(a_lo) >= 0 >= D(a_hi) where both minima exist
            root = illinois_root(D, np.minimum(a_lo, a_hi), np.maximum(a_lo, a_hi), xtol=1e-15 * self.tau,
                                 max_iter=_TUKEY_STEPS)
        return np.where(V >= 1.25, root, np.nan)

    def kinks(self, y):
        y = np.asarray(y, float)
        return np.stack([y - self.tau, y + self.tau], axis=-1)

    def prox_kinks(self, y, V):
        """``|y - omega| = tau`` (the flat part's ends) and, for ``V >= 5/4``, the jumps ``|y - omega| =``
        :meth:`jump`; below ``5/4`` instead the peak of the prox's slope (``r* = tau sqrt(3/5)``)."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        rc = self.tau * np.sqrt(0.6)  # below 5/4 the prox's slope peaks where r* = tau sqrt(3/5): r0 = rc + V rho'(rc)
        j = rc + V * self._drho(np.full(V.shape, rc))
        jumps = V >= 1.25
        if np.any(jumps):
            j[jumps] = self.jump(V[jumps])
        return np.stack([y - self.tau, y + self.tau, y - j, y + j], axis=-1)


_LOSSES = {"square": Square, "logistic": Logistic, "hinge": Hinge, "huber": Huber, "absolute": Absolute, "tukey": Tukey,
           "hard_margin": HardMargin, "max_margin": HardMargin}


def register_loss(cls: type, *names: str) -> None:
    """Make a loss defined outside this module available by name to :func:`get_loss` (and so to
    ``ERM("name", ...)``), e.g. the K-class losses of :mod:`solvable.families.mixtures.multiclass`."""
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise TypeError(f"register_loss: cls must be a Loss subclass, got {cls!r}")
    for n in names:
        _LOSSES[str(n).lower()] = cls


def get_loss(name: str | Loss, **kwargs) -> Loss:
    """A loss by name ('square', 'logistic', 'hinge', 'huber', 'absolute', 'tukey', 'hard_margin' = 'max_margin')."""
    if isinstance(name, Loss):
        return name
    key = str(name).lower()
    if key not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {sorted(_LOSSES)}")
    return _LOSSES[key](**kwargs)

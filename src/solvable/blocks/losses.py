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

__all__ = ["Loss", "Square", "Logistic", "Hinge", "HardMargin", "Huber", "Absolute", "Tukey", "Bounded", "get_loss",
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


def _lowest(cands, objective):
    """The candidate (trailing axis) of lowest objective, NaN candidates skipped; ties go to the first."""
    with np.errstate(invalid="ignore"):
        k = np.argmin(np.where(np.isnan(cands), np.inf, objective), axis=-1)
    return np.take_along_axis(cands, k[..., None], axis=-1)[..., 0]


def _maxwell(minima, objective, i, j, lo, hi, *, xtol):
    """Where a proximal step jumps from local minimum ``i`` to ``j`` (indices into the trailing axis of
    ``minima(a)``, ints or arrays): the Illinois root in ``[lo, hi]`` of the difference ``objective(r_j, a) -
    objective(r_i, a)`` of their values, decreasing in ``a = |r0|`` (``r_j > r_i`` gains as ``r0`` grows): the
    Maxwell construction between the ends of their coexistence."""
    i, j = (np.asarray(t)[..., None] for t in (i, j))

    def D(a):
        c = minima(a)
        pick = (lambda k: np.take_along_axis(c, np.broadcast_to(k, c.shape[:-1] + (1,)), axis=-1)[..., 0])
        return objective(pick(j), a) - objective(pick(i), a)

    with np.errstate(invalid="ignore"):  # D(lo) >= 0 >= D(hi) where both minima exist
        return illinois_root(D, np.minimum(lo, hi), np.maximum(lo, hi), xtol=xtol, max_iter=_TUKEY_STEPS)


class _ResidualLoss(Loss):
    """A loss ``rho(y - z)`` of the residual whose proximal step is the global minimiser ``r*`` of ``rho(r) + (r -
    r0)^2 / (2 V)``, ``r0 = y - omega``, among the local minima ``_minima(a, V)`` (trailing axis, NaN where
    absent) at ``a = |r0|``: ``prox = y - r*``, ``dprox = 1 / (1 + V rho''(r*))`` (1 on a flat part; the jumps
    have measure zero).  Subclasses give ``_rho``, ``_drho``, ``_d2rho`` and ``_minima``."""

    def value(self, y, z):
        return self._rho(np.asarray(y, float) - z)

    def grad(self, y, z):
        return -self._drho(np.asarray(y, float) - z)

    def hess(self, y, z):
        return self._d2rho(np.asarray(y, float) - z)

    def _objective(self, r, a, V):
        return self._rho(r) + (r - a) ** 2 / (2.0 * V)

    def _r_star(self, r0, V):
        """The global minimiser ``r*`` (signed like ``r0``)."""
        a = np.abs(r0)
        cands = self._minima(a, V)
        return np.sign(r0) * _lowest(cands, self._objective(cands, a[..., None], V[..., None]))

    def prox(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        return y - self._r_star(y - omega, V)

    def dprox(self, y, omega, V):
        return self.prox_and_derivative(y, omega, V)[1]

    def prox_and_derivative(self, y, omega, V):
        y, omega, V = _bcast(y, omega, V)
        r = self._r_star(y - omega, V)
        return y - r, 1.0 / (1.0 + V * self._d2rho(r))


@dataclass(frozen=True)
class Tukey(_ResidualLoss):
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

    def _minima(self, a, V):
        return np.stack(self._local_minima(a, V), axis=-1)


    def jump(self, V):
        """``|r0|`` where the prox jumps (``V >= 5/4``; NaN below): the near and far local minima have equal
        objective there (the Illinois root of their difference between the ends of their coexistence, ``a_lo =
        r2 + V rho'(r2)`` and ``a_hi = r1 + V rho'(r1)``)."""
        V = np.asarray(V, float)
        r1, r2 = self._turning(V)
        a_lo = r2 + V * self._drho(r2)
        a_hi = r1 + V * self._drho(r1)

        root = _maxwell(lambda a: np.stack(self._local_minima(a, V), axis=-1), lambda r, a: self._objective(r, a, V),
                        0, 1, a_lo, a_hi, xtol=1e-15 * self.tau)
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


#: the construction grid of :class:`Bounded`, in units of its ``scale``: uniform on ``[0, 20]`` (4000 steps,
#: or up to ``cutoff``), then geometric to ``1e6`` (2000 steps): the wells of ``rho''`` and its tail
_GRID_UNIFORM, _GRID_TAIL, _GRID_FAR = 4000, 2000, 1e6
#: the decades ``10^k scale`` over which :class:`Bounded` checks that ``rho`` saturates
_DECADES = np.arange(2, 9)


class Bounded(_ResidualLoss):
    """A user-defined bounded loss of the residual ``r = y - z``: ``loss(y, z) = rho(y - z)`` for an even,
    non-decreasing in ``|r|``, bounded ``rho`` with ``rho(0) = 0`` (a redescending M-estimator: an outlier's
    cost saturates, so a far outlier barely pulls the fit; Vilucchio, Troiani, Erba, Krzakala 2024 study
    such losses under outliers; e.g. Welsch's ``c^2/2 [1 - exp(-(r/c)^2)]``, Dennis & Welsch 1978, or
    Tukey's biweight, :class:`Tukey`)::

        sv.losses.Bounded(rho, drho=None, d2rho=None, name="bounded", scale=1.0, cutoff=None)

    ``rho``, ``drho = rho'``, ``d2rho = rho''``: vectorised NumPy callables (the derivatives by central finite
    differences with steps ``6e-6 scale`` and ``1e-4 scale`` where not given, accurate to about ``1e-10`` and
    ``1e-8``).  ``scale``: the width over which ``rho`` varies (its grids are in these units); ``cutoff``: where
    ``rho`` becomes exactly constant, if it does (a breakpoint of the quadrature, checked).  Checked at
    construction on a grid up to ``1e6 scale`` (a ``ValueError`` naming the property and the value seen):
    finite, ``rho(0) = 0``, even and non-decreasing in ``|r|`` (to ``1e-12`` of ``max rho``), bounded (its
    increments over the decades ``10^k scale``, ``k = 2..8``, decrease at least twofold at the end and the last
    is below ``1e-3 max rho``: ``log(1 + r^2)``, Cauchy's, grows by ``log 100`` a decade and is refused), given
    derivatives matching finite differences of ``rho``.  Pickles where the callables do (module-level
    functions; lambdas and closures do not, so parallel sweeps need module-level functions).

    The proximal step ``prox = y - r*``, ``r* = argmin_r rho(r) + (r - r0)^2 / (2 V)``, ``r0 = y - omega``, is
    the global minimiser, found as for :class:`Tukey`: with ``a = |r0|`` (``r*`` has the sign of ``r0``, in
    ``[0, a]`` since ``rho`` is non-decreasing), the stationarity function ``h(r) = r + V rho'(r) - a`` turns
    where ``rho''(r) = -1/V``: each well of ``rho''`` (its negative local minima, located on the construction
    grid) deeper than ``-1/V`` gives two turning points (Illinois roots within a grid cell), between which ``h``
    decreases.  On each piece where ``h`` increases it has at most one root, a local minimum (safeguarded
    Newton, :func:`_root_increasing`); the lowest objective wins.  ``dprox = 1 / (1 + V rho''(r*))``.  The
    prox can jump (``can_jump``, :meth:`prox_jumps`) once ``V >= -1 / min rho''``: :meth:`jumps` scans ``a``
    over each well's coexistence interval and solves the Maxwell construction between the two local minima
    that trade places (as :meth:`Tukey.jump`).  :meth:`prox_kinks` gives the quadrature ``|y - omega| =
    cutoff`` (if given) and, one per well, the jump or (below it) where the prox is steepest.  ``solver =
    "nonconvex"``: the finite-size global search of :func:`solvable.families.erm.solvers.solve_erm`.
    """

    solver = "nonconvex"
    #: the proximal step can be discontinuous in omega (:meth:`prox_jumps`); False where rho is convex
    can_jump = True

    def __init__(self, rho, drho=None, d2rho=None, *, name: str = "bounded", scale: float = 1.0, cutoff=None):
        for label, f in (("rho", rho), ("drho", drho), ("d2rho", d2rho)):
            if (f is not None or label == "rho") and not callable(f):
                raise ValueError(f"Bounded loss: {label} must be a callable (a vectorised function of the "
                                 f"residual), got {label}={f!r}")
        for label, v in (("scale", scale), ("cutoff", cutoff)):
            if v is None and label == "cutoff":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
                    np.isfinite(v) and v > 0):
                raise ValueError(f"Bounded loss: {label} must be finite and > 0, got {label}={v!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"Bounded loss: name must be a non-empty string, got name={name!r}")
        self.rho, self.drho, self.d2rho, self.name = rho, drho, d2rho, name
        self.scale, self.cutoff = float(scale), (None if cutoff is None else float(cutoff))
        self._tabulate()

    # ------------------------------------------------------------ identity
    def _key(self):
        return (self.rho, self.drho, self.d2rho, self.name, self.scale, self.cutoff)

    def __eq__(self, other):
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self),) + self._key())

    def __repr__(self):
        fn = ", ".join(f"{k}={getattr(f, '__qualname__', repr(f))}" for k, f in
                       (("rho", self.rho), ("drho", self.drho), ("d2rho", self.d2rho)) if f is not None)
        cut = "" if self.cutoff is None else f", cutoff={self.cutoff!r}"
        return f"Bounded({fn}, name={self.name!r}, scale={self.scale!r}{cut})"

    # ------------------------------------------------------------ the loss of the residual
    def _call(self, label, f, r):
        try:
            v = np.asarray(f(r), dtype=float)
        except Exception as err:  # noqa: BLE001 (a user callable: say which one failed)
            raise ValueError(f"Bounded loss: {label} failed on an array of residuals: {err!r}") from err
        if v.shape != np.shape(r):
            raise ValueError(f"Bounded loss: {label} must be vectorised (an array of the residuals' shape "
                             f"{np.shape(r)}), got shape {v.shape}")
        bad = ~np.isfinite(v)
        if np.any(bad):
            k = np.flatnonzero(bad.ravel())[0]
            raise ValueError(f"Bounded loss: {label} must be finite, got {label}({float(np.ravel(r)[k])!r}) = "
                             f"{float(v.ravel()[k])!r}")
        return v

    def _rho(self, r):
        return np.asarray(self.rho(r), dtype=float)

    def _drho(self, r):
        if self.drho is not None:
            return np.asarray(self.drho(r), dtype=float)
        h = 6e-6 * self.scale  # central differences: (eps^(1/3) relative step) truncation ~ roundoff ~ 1e-10
        return (self._rho(r + h) - self._rho(r - h)) / (2.0 * h)

    def _d2rho(self, r):
        if self.d2rho is not None:
            return np.asarray(self.d2rho(r), dtype=float)
        if self.drho is not None:
            h = 6e-6 * self.scale
            return (self._drho(r + h) - self._drho(r - h)) / (2.0 * h)
        h = 1e-4 * self.scale  # second differences: eps^(1/4) relative step, ~1e-8
        return (self._rho(r + h) - 2.0 * self._rho(r) + self._rho(r - h)) / (h * h)

    def kinks(self, y):
        y = np.asarray(y, float)
        if self.cutoff is None:
            return np.zeros(y.shape + (0,))
        return np.stack([y - self.cutoff, y + self.cutoff], axis=-1)

    # ------------------------------------------------------------ construction: checks and the wells of rho''
    def _tabulate(self):
        s = self.scale
        top_u = max(20.0 * s, 1.5 * (self.cutoff or 0.0))
        r = np.concatenate([np.linspace(0.0, top_u, _GRID_UNIFORM + 1),
                            np.geomspace(top_u, _GRID_FAR * s, _GRID_TAIL + 1)[1:]])
        rv, rn = self._call("rho", self.rho, r), self._call("rho", self.rho, -r)
        dec = self._call("rho", self.rho, s * 10.0 ** _DECADES)
        top = max(np.max(np.abs(rv)), np.max(np.abs(dec)))
        if top == 0.0:
            raise ValueError("Bounded loss: rho must not be identically 0 (got rho = 0 up to |r| = 1e8 scale)")
        if abs(rv[0]) > 1e-12 * top:
            raise ValueError(f"Bounded loss: rho(0) must be 0, got rho(0) = {float(rv[0])!r}")
        dev = np.abs(rv - rn)
        k = int(np.argmax(dev))
        if dev[k] > 1e-12 * top:
            raise ValueError(f"Bounded loss: rho must be even, got rho({float(r[k])!r}) = {float(rv[k])!r} and "
                             f"rho({-float(r[k])!r}) = "
                             f"{float(rn[k])!r}")
        d = np.diff(rv)
        k = int(np.argmin(d))
        if d[k] < -1e-12 * top:
            raise ValueError(f"Bounded loss: rho must be non-decreasing in |r|, got rho({float(r[k])!r}) = "
                             f"{float(rv[k])!r} > "
                             f"rho({float(r[k + 1])!r}) = {float(rv[k + 1])!r}")
        inc = np.diff(dec)
        if inc[-1] > 1e-3 * top or (inc[-1] > 1e-12 * top and inc[-1] > 0.5 * inc[-2]):
            e = _DECADES[-1]
            raise ValueError(f"Bounded loss: rho must be bounded, got rho growing by {float(inc[-2])!r} then "
                             f"{float(inc[-1])!r} "
                             f"over the decades |r| = 1e{e - 2} to 1e{e - 1} to 1e{e} (x scale = {s!r}); rho(1e{e} "
                             f"scale) = {float(dec[-1])!r}")
        if self.cutoff is not None:
            beyond = r >= self.cutoff
            dev = np.abs(rv[beyond] - self._call("rho", self.rho, np.array([self.cutoff]))[0])
            k = int(np.argmax(dev))
            if dev[k] > 1e-12 * top:
                raise ValueError(f"Bounded loss: rho must be constant beyond cutoff={self.cutoff!r}, got rho("
                                 f"{float(r[beyond][k])!r}) - rho(cutoff) = {float(rv[beyond][k] - rv[beyond][0])!r}")
        d1 = self._call("drho", self._drho, r)
        d2 = self._call("d2rho", self._d2rho, r)
        probe = np.linspace(0.0137, 0.9513, 19) * top_u  # off round numbers (a cutoff's kink)
        for label, f, g, given in (("drho", self._drho, self._rho, self.drho),
                                   ("d2rho", self._d2rho, self._drho, self.d2rho)):
            if given is not None:  # a user's derivative against central differences of its antiderivative
                h = 1e-5 * s
                fd, v = (g(probe + h) - g(probe - h)) / (2 * h), f(probe)
                err = np.abs(v - fd)
                k = int(np.argmax(err))
                if err[k] > 1e-5 * max(np.max(np.abs(fd)), 1e-300):
                    anti = "drho" if label == "d2rho" else "rho"
                    raise ValueError(f"Bounded loss: {label} must be the derivative of {anti}, got {label}("
                                     f"{float(probe[k])!r}) = {float(v[k])!r} against {float(fd[k])!r} by finite "
                                     f"differences")
        self.grad_lipschitz = float(np.max(np.abs(d2)))
        self._d20 = max(float(d2[0]), 0.0)
        self._wells(r, d2, d1)

    def _wells(self, r, d2, d1):
        """The negative local minima of ``rho''`` on the grid (a barrier under ``1e-6 max|rho''|`` between two
        is numerical noise: merged), each refined by a bounded scalar minimisation, with the monotone grid
        tables of its two sides (for the turning points of :meth:`_turning`)."""
        from scipy.optimize import minimize_scalar

        noise = 1e-6 * np.max(np.abs(d2))
        i = np.arange(1, len(r) - 1)
        idx = list(i[(d2[i] <= d2[i - 1]) & (d2[i] < d2[i + 1]) & (d2[i] < -noise)])
        merged = []
        for k in idx:
            if merged and np.max(d2[merged[-1]:k + 1]) - max(d2[merged[-1]], d2[k]) < noise:
                if d2[k] < d2[merged[-1]]:
                    merged[-1] = k
                continue
            merged.append(k)
        self._sides, rw, kw = [], [], []
        for n, k in enumerate(merged):
            lo = merged[n - 1] if n else 0
            hi = merged[n + 1] if n + 1 < len(merged) else len(r) - 1
            left = lo + int(np.argmax(d2[lo:k + 1]))
            right = k + int(np.argmax(d2[k:hi + 1]))
            res = minimize_scalar(self._d2rho, bounds=(r[k - 1], r[k + 1]), method="bounded",
                                  options={"xatol": 1e-12 * self.scale})
            x, fx = (float(res.x), float(res.fun)) if res.fun < d2[k] else (float(r[k]), float(d2[k]))
            h = 1e-5 * self.scale  # the minimum is flat (x to sqrt(eps) only): polish x on the third derivative
            d3 = lambda t: self._d2rho(t - h) - self._d2rho(t + h)  # noqa: E731 (decreasing through the minimum)
            lo_, hi_ = np.array([r[k - 1]]), np.array([r[k + 1]])
            if d3(lo_)[0] >= 0 >= d3(hi_)[0]:
                xs = float(illinois_root(d3, lo_, hi_, xtol=1e-15 * self.scale, max_iter=_TUKEY_STEPS)[0])
                x, fx = (xs, float(self._d2rho(np.array([xs]))[0])) if abs(xs - x) < 1e-6 * self.scale else (x, fx)
            rL = np.append(r[left:k + 1][r[left:k + 1] < x], x)
            rR = np.insert(r[k:right + 1][r[k:right + 1] > x], 0, x)
            self._sides.append((rL, np.minimum.accumulate(self._d2rho(rL)), rR,
                                np.maximum.accumulate(self._d2rho(rR))))
            rw.append(x)
            kw.append(fx)
        self._rw, self._kw = np.array(rw), np.array(kw)
        #: min rho'' (on the grid, refined in each well)
        self.kmin = float(min(np.min(d2), *kw)) if kw else float(np.min(d2))
        self._vc = -1.0 / self.kmin if self.kmin < 0 else np.inf
        self.can_jump = bool(self._vc < np.inf)

    def prox_jumps(self, V):
        """Where the proximal step can jump: ``V >= -1 / min rho''`` (nowhere for a convex rho)."""
        return np.asarray(V, float) >= self._vc

    # ------------------------------------------------------------ the proximal step
    def _turning(self, V):
        """For a 1D array ``V``: the turning points ``(r1, r2)`` of ``h`` in each well, shape ``V.shape + (m,
        2)`` (both the well's bottom where it is shallower than ``-1/V``): ``rho''(r) = -1/V`` on its two sides."""
        out = np.empty(V.shape + (len(self._sides), 2))
        L = -1.0 / V
        for w, (rL, dL, rR, dR) in enumerate(self._sides):
            active = self._kw[w] < L
            out[:, w, :] = self._rw[w]
            if not np.any(active):
                continue
            Va, La = V[active], L[active]

            def G(x):
                return 1.0 + Va * self._d2rho(x)

            iL = np.clip(np.searchsorted(-dL, -La), 1, len(rL) - 1)  # dL decreasing: first dL <= L
            iL = np.where(dL[0] <= La, 0, iL)  # deeper than the side's top (wells merged): the left end
            iR = np.clip(np.searchsorted(dR, La), 1, len(rR) - 1)  # dR increasing: first dR >= L
            iR = np.where(dR[-1] < La, len(rR), iR)  # shallower side: the right end
            xt = 1e-15 * np.maximum(rR[-1], self.scale)
            with np.errstate(invalid="ignore"):
                r1 = illinois_root(G, rL[np.maximum(iL - 1, 0)], rL[iL], xtol=xt, max_iter=_TUKEY_STEPS)
                last = iR >= len(rR)
                r2 = illinois_root(lambda x: -G(x), rR[np.minimum(iR, len(rR) - 1) - (~last)],
                                   rR[np.minimum(iR, len(rR) - 1)], xtol=xt, max_iter=_TUKEY_STEPS)
            out[active, w, 0], out[active, w, 1] = r1, r2
        return out

    def _per_v(self, V, fn):
        """``fn`` evaluated on the distinct values of ``V`` only, broadcast back: ``V.shape + fn's trailing``."""
        u, inv = np.unique(np.ravel(V), return_inverse=True)
        out = fn(u)
        return out[inv].reshape(np.shape(V) + out.shape[1:])

    def _candidates(self, a, V, T):
        """The local minima of the scalar problem at ``r0 = a >= 0`` (trailing axis: one per piece where ``h``
        increases, ``[0, r1_1], [r2_1, r1_2], ..., [r2_m, a]``, NaN where ``h`` has no root there)."""
        m = T.shape[-2]
        ends = np.concatenate([np.zeros(a.shape + (1,)), T.reshape(a.shape + (2 * m,)), a[..., None]], axis=-1)
        lo = np.minimum(ends[..., 0::2], a[..., None])
        hi = np.minimum(ends[..., 1::2], a[..., None])
        out = np.full(lo.shape, np.nan)
        for p in range(m + 1):
            def h(r, aa, VV):
                return r + VV * self._drho(r) - aa

            ok = (h(lo[..., p], a, V) <= 0) & (h(hi[..., p], a, V) >= 0)
            if not np.any(ok):
                continue
            aa, VV, l_, h_ = a[ok], V[ok], lo[..., p][ok], hi[..., p][ok]
            x0 = aa / (1.0 + VV * self._d20) if p == 0 else (h_ if p == m else None)
            out[..., p][ok] = _root_increasing(lambda r: h(r, aa, VV), lambda r: 1.0 + VV * self._d2rho(r),
                                               l_, h_, x0)
        return out


    def _minima(self, a, V):
        return self._candidates(a, V, self._per_v(V, self._turning))

    # ------------------------------------------------------------ the jumps
    def _jumps_unique(self, V, n_scan=33):
        """For a 1D array ``V``: the jumps ``|r0|`` of the prox, ascending, NaN-padded to one a well."""
        m = len(self._sides)
        out = np.full(V.shape + (m,), np.nan)
        if m == 0:
            return out
        T = self._turning(V)  # (u, m, 2)
        A = T + V[:, None, None] * self._drho(T)  # h's values at its turning points, + a
        active = T[..., 0] < T[..., 1]
        t = np.linspace(0.0, 1.0, n_scan)
        scan = A[..., 1, None] + (A[..., 0] - A[..., 1])[..., None] * t  # each well's coexistence interval
        scan = np.sort(np.where(active[..., None], scan, np.nan).reshape(len(V), -1), axis=-1)
        Vs = np.broadcast_to(V[:, None], scan.shape)
        Ts = np.broadcast_to(T[:, None], scan.shape + T.shape[1:])
        valid = ~np.isnan(scan)
        best = np.full(scan.shape, -1)
        a_v = scan[valid]
        c = self._candidates(a_v, Vs[valid], Ts[valid])
        with np.errstate(invalid="ignore"):
            best[valid] = np.argmin(np.where(np.isnan(c), np.inf, self._objective(c, a_v[..., None],
                                                                                   Vs[valid][..., None])), axis=-1)
        sw = valid[:, :-1] & valid[:, 1:] & (best[:, 1:] != best[:, :-1])
        row, col = np.nonzero(sw)
        if len(row) == 0:
            return out
        i, j = best[row, col], best[row, col + 1]
        Vr, Tr = V[row], T[row]
        birth = np.concatenate([np.zeros((len(row), 1)), A[row, :, 1]], axis=-1)  # where branch j appears
        death = np.concatenate([A[row, :, 0], np.full((len(row), 1), np.inf)], axis=-1)  # where branch i ends
        lo = np.maximum(scan[row, col], np.take_along_axis(birth, j[:, None], -1)[:, 0])
        hi = np.minimum(scan[row, col + 1], np.take_along_axis(death, i[:, None], -1)[:, 0])
        root = _maxwell(lambda a: self._candidates(a, Vr, Tr), lambda r, a: self._objective(r, a, Vr), i, j,
                        lo, hi, xtol=1e-15 * self.scale)
        slot = np.cumsum(sw, axis=1)[row, col] - 1
        out[row, slot] = root
        return out

    def jumps(self, V):
        """``|r0|`` where the prox jumps, shape ``V.shape + (m,)`` (``m``: the number of wells of ``rho''``; one
        jump at most per well, ascending, NaN where none): the Illinois root of the difference of the two
        trading local minima's objectives (the Maxwell construction, as :meth:`Tukey.jump`)."""
        V = np.asarray(V, float)
        return self._per_v(V, self._jumps_unique)

    def prox_kinks(self, y, V):
        """``|y - omega| = cutoff`` (if given) and, one a well, the jump :meth:`jumps` or where there is none the
        prox's steepest point (``r* = argmin`` of the well: ``|r0| = r* + V rho'(r*)``)."""
        y, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(V, float))
        j = self.jumps(V)
        steep = self._rw + V[..., None] * self._drho(self._rw)
        n_j = np.sum(~np.isnan(j), axis=-1, keepdims=True)
        j = np.where(np.arange(j.shape[-1]) < n_j, j, steep)
        cut = () if self.cutoff is None else (y - self.cutoff, y + self.cutoff)
        if not cut and j.shape[-1] == 0:
            return np.zeros(y.shape + (0,))
        return np.stack(list(cut) + [p for s in range(j.shape[-1]) for p in (y - j[..., s], y + j[..., s])], axis=-1)


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

"""Output channels P(y | z) of generalized linear models, z = theta . x / sqrt(d).

Each channel gives ``sample(z, rng)`` and, for the Gaussian prior ``z ~ N(omega, V)``
that appears in AMP and in the replica formulas, the output partition function
``Z_out(y, omega, V) = int dz P(y|z) N(z; omega, V)`` with

* ``log_partition(y, omega, V) = log Z_out``,
* ``gout = d log Z_out / d omega = (E[z|y] - omega) / V``,
* ``dgout = d gout / d omega = (Var[z|y] - V) / V^2``

(Rangan, ISIT 2011, eqs. (7)-(8); Zdeborova & Krzakala, Adv. Phys. 2016, eq. (71)).

Noise conventions (``noise`` is always a *variance*, ``Delta``):

========== ====================================== =====================
channel     y given z, xi ~ N(0, 1)                 kind
========== ====================================== =====================
Linear      y = z + sqrt(Delta) xi                  regression
Sign        y = s * sign(z + sqrt(Delta) xi)        classification
            (s = -1 with probability ``flip``)
Probit      y = sign(z + sqrt(Delta) xi), Delta=1   classification
            by default: P(y|z) = Phi(y z / sqrt(Delta))
ReLU        y = max(0, z) + sqrt(Delta) xi          regression
Abs         y = |z| + sqrt(Delta) xi                regression
Square      y = z^2 + sqrt(Delta) xi                regression (phase retrieval)
Outliers    y = z + sqrt(Delta_in) xi, or with      regression (robust
            probability eps beta z + sqrt(Delta_out) xi  regression)
========== ====================================== =====================

For noiseless regression channels the likelihood is a density with respect to the
natural measure of y (Lebesgue, plus an atom at 0 for ReLU), used consistently in
``log_partition`` and in ``y_given_z``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvable.core.validate import check_interval, check_positive
from solvable.numerics.gauss import composite_legendre_nodes, gauss_expect, hermite_rule, kinked_gauss_expect
from solvable.numerics.special import LOG_SQRT2PI, log_Phi, log_phi, truncnorm_moments

__all__ = ["Channel", "Linear", "Sign", "Probit", "ReLU", "Abs", "Square", "Outliers"]


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _log_normal(y, mean, var):
    return -0.5 * (y - mean) ** 2 / var - 0.5 * np.log(var) - LOG_SQRT2PI


def _check_V(V):
    V = np.asarray(V, dtype=float)
    if np.any(V <= 0):
        raise ValueError(f"channel output functions need V > 0, got min V={float(np.min(V))!r}")
    return V


class Channel:
    """Base class of output channels."""

    noise: float = 0.0
    is_classification: bool = False
    #: positions in z where P(y|z) (or y(z)) has a kink or a jump: breakpoints for quadrature
    kinks: tuple = ()
    #: True where y = z + sqrt(noise) xi (xi ~ N(0, 1) independent): (z, y) jointly Gaussian
    is_linear: bool = False
    name: str = "channel"
    #: label-flip probability (label noise of classification channels; 0 otherwise)
    flip: float = 0.0
    #: labels +-1 with P(y | z) = P(-y | -z): sums over y reduce to twice the y = +1 term
    #: under a symmetric law of z (Sign, Probit)
    sign_symmetric: bool = False
    #: ``c = lim_{V -> 0} V E[gout^2]`` of the noiseless regression channel, the fraction of
    #: outputs that reveal z (1; 1/2 for ReLU, whose y = 0 outputs do not): the perfect-recovery branch of
    #: the Bayes GLM has free entropy +inf iff ``c alpha > d_P`` (Wu & Verdu, IEEE TIT 2012)
    informative_fraction: float = 1.0
    #: noiseless ``phi(z) = g(|z|)``, g injective (Abs, Square): the posterior of z given y is the
    #: two atoms ``+-g^{-1}(y)`` (phase retrieval), which reduces the Bayes GLM integrals to 1D
    folds_sign: bool = False
    #: piecewise form of phi with dedicated noisy-output rules in the Bayes GLM theory
    #: ("relu", "abs", "square"; None: generic quadrature)
    phi_kind: str | None = None

    def phi(self, z):
        """The noiseless output function y = phi(z)."""
        raise NotImplementedError

    def mean_output(self, omega, V):
        """``E_{z ~ N(omega, V)} phi(z)``, the Bayes prediction of the noiseless output from a
        Gaussian posterior of the local field: composite Gauss-Legendre split at the kinks
        (:func:`~solvable.numerics.gauss.kinked_gauss_expect`, 12 nodes per piece); channels
        with a closed form override it."""
        return kinked_gauss_expect(lambda z: self.phi(z), omega, V, np.array(self.kinks, dtype=float), n=12)

    def fold_free_entropy(self, psi_abs, rho):
        """For a folding channel (``folds_sign``): ``psi_out = E log Z_out`` of this noiseless
        channel from that of ``y = |z|`` (``psi_abs``) by the change of variables ``y = g(|z|)``,
        at ``z ~ N(0, rho)``; the identity here (Abs)."""
        return psi_abs

    def sample(self, z, rng=None) -> np.ndarray:
        raise NotImplementedError

    def output_moments(self, y, omega, V):
        """``(log Z_out, gout, dgout)`` at once (vectorised)."""
        raise NotImplementedError

    def log_partition(self, y, omega, V):
        return self.output_moments(y, omega, V)[0]

    def gout(self, y, omega, V):
        return self.output_moments(y, omega, V)[1]

    def dgout(self, y, omega, V):
        return self.output_moments(y, omega, V)[2]

    def y_given_z(self, z, *, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature of the law of y given z: ``(ys, ws)`` of shape ``z.shape + (m,)`` with
        ``E[f(y) | z] = sum(ws * f(ys), -1)`` (atoms for discrete labels, Gauss-Hermite over
        the output noise otherwise)."""
        raise NotImplementedError

    def expect_y(self, f, z, *, n: int = 40):
        """``E[f(y) | z]`` vectorised over z."""
        ys, ws = self.y_given_z(np.asarray(z, float), n=n)
        return np.sum(f(ys) * ws, axis=-1)

    def label_moments(self, rho: float) -> tuple[float, float]:
        """``(E[z y], E[y^2])`` for ``z ~ N(0, rho)``: composite Gauss-Legendre over z (60 nodes
        per piece, split at the channel's kinks) and :meth:`y_given_z` over y."""
        bp = np.asarray(self.kinks, float) if self.kinks else None
        u, wu = composite_legendre_nodes(np.zeros(()), np.sqrt(rho) * np.ones(()), bp, 60, 12.0)
        z = np.sqrt(rho) * u
        ys, ws = self.y_given_z(z, n=40)
        Ey = np.sum(ys * ws, -1)
        Ey2 = np.sum(ys * ys * ws, -1)
        return float(np.sum(wu * z * Ey)), float(np.sum(wu * Ey2))

    def linear_part(self, rho: float) -> tuple[float, float]:
        """``(b, noise_eff)`` of the decomposition ``y = b z + eps`` with eps uncorrelated with
        ``z ~ N(0, rho)``: ``b = E[z y] / rho``, ``noise_eff = E y^2 - b^2 rho`` (floored at 0)."""
        Ezy, Ey2 = self.label_moments(rho)
        b = Ezy / rho
        return b, max(Ey2 - Ezy * b, 0.0)

    def student_test_error(self, m, q, rho, *, moments=None, angle=None):
        """Test error on a fresh sample of the linear student ``omega = w . x / sqrt(d)`` with
        overlaps ``m = E[z omega]``, ``q = E[omega^2]`` (``(z, omega)`` centred Gaussian, ``E z^2 =
        rho``): here ``E (y - omega)^2 = E y^2 - 2 (m / rho) E[z y] + q``.  ``moments``: the
        :meth:`label_moments` ``(E[z y], E[y^2])`` when the caller has them; ``angle``: the
        student-teacher angle ``arccos(m / sqrt(rho q))`` when known without cancellation
        (unused here; classification channels may use it)."""
        Ezy, Ey2 = self.label_moments(rho) if moments is None else moments
        return Ey2 - 2.0 * m / rho * Ezy + q

    def metrics(self, m, q, rho) -> dict:
        """Channel-specific fields of a linear student with overlaps ``(m, q)`` (none by default; e.g.
        :class:`Outliers` adds its excess error)."""
        return {}

    def bayes_metrics(self, q, rho) -> dict:
        """Channel-specific fields of the Bayes-optimal predictor at overlap ``q`` (none by default)."""
        return {}

    def output_entropy(self, rho) -> float | None:
        """``-E_z E_{y|z} log P(y | z)`` where the Bayes engine's closed forms do not apply (additive
        Gaussian output noise, discrete labels); None: use them."""
        return None

    def _from_posterior(self, logZ, mz, vz, omega, V):
        g = (mz - omega) / V
        dg = (vz - V) / (V * V)
        return logZ, g, dg


class _AdditiveNoise(Channel):
    """y = phi(z) + sqrt(noise) xi."""

    def sample(self, z, rng=None):
        z = np.asarray(z, float)
        y = self.phi(z)
        if self.noise > 0:
            y = y + np.sqrt(self.noise) * _rng(rng).standard_normal(z.shape)
        return y

    def y_given_z(self, z, *, n=40):
        z = np.asarray(z, float)
        if self.noise == 0:
            return self.phi(z)[..., None], np.ones(z.shape + (1,))
        xi, w = hermite_rule(n)
        ys = self.phi(z)[..., None] + np.sqrt(self.noise) * xi
        return ys, np.broadcast_to(w, ys.shape)


@dataclass(frozen=True)
class Linear(_AdditiveNoise):
    """y = z + sqrt(noise) xi:  Z_out = N(y; omega, V + noise)."""

    noise: float = 0.0
    name = "linear"
    is_linear = True

    def __post_init__(self):
        check_positive("noise", self.noise, owner="Linear channel", allow_zero=True)
        object.__setattr__(self, "noise", float(self.noise))

    def phi(self, z):
        return np.asarray(z, float)

    def output_moments(self, y, omega, V):
        y, omega = np.asarray(y, float), np.asarray(omega, float)
        V = np.asarray(V, float)
        s2 = V + self.noise
        if np.any(s2 <= 0):
            raise ValueError("Linear channel: V + noise must be > 0")
        logZ = _log_normal(y, omega, s2)
        g = (y - omega) / s2
        dg = np.broadcast_to(-1.0 / s2, g.shape).copy()
        return logZ, g, dg

    def linear_part(self, rho):
        """Exactly ``(1, noise)``: y = z + sqrt(noise) xi."""
        return 1.0, float(self.noise)


@dataclass(frozen=True)
class Sign(Channel):
    """y = s * sign(z + sqrt(noise) xi), s = -1 with probability ``flip`` (label noise).

    Z_out = flip + (1 - 2 flip) Phi(y omega / sqrt(V + noise))
    (Aubin et al., NeurIPS 2020, sec. 2; Zdeborova & Krzakala 2016, eq. (73)).
    """

    noise: float = 0.0
    flip: float = 0.0
    is_classification = True
    kinks = (0.0,)
    name = "sign"
    sign_symmetric = True

    def __post_init__(self):
        owner = type(self).__name__ + " channel"
        check_positive("noise", self.noise, owner=owner, allow_zero=True)
        check_interval("flip", self.flip, 0.0, 0.5, owner=owner)
        object.__setattr__(self, "noise", float(self.noise))
        object.__setattr__(self, "flip", float(self.flip))

    def phi(self, z):
        return np.where(np.asarray(z, float) >= 0, 1.0, -1.0)

    def prob(self, y, z):
        """P(y | z)."""
        y, z = np.asarray(y, float), np.asarray(z, float)
        if self.noise > 0:
            p = np.exp(log_Phi(y * z / np.sqrt(self.noise)))
        else:
            # at z = 0 exactly (a null event) each label gets 1/2: the midpoint value of the
            # jump, which is what a quadrature node falling on the jump should see
            p = (y * z > 0) + 0.5 * (z == 0)
        return self.flip + (1.0 - 2.0 * self.flip) * p

    def sample(self, z, rng=None):
        z = np.asarray(z, float)
        g = _rng(rng)
        zz = z + np.sqrt(self.noise) * g.standard_normal(z.shape) if self.noise > 0 else z
        y = np.where(zz >= 0, 1.0, -1.0)
        if self.flip > 0:
            y = np.where(g.random(z.shape) < self.flip, -y, y)
        return y

    def y_given_z(self, z, *, n=40):
        z = np.asarray(z, float)
        ys = np.broadcast_to(np.array([-1.0, 1.0]), z.shape + (2,))
        return ys, self.prob(ys, z[..., None])

    def output_moments(self, y, omega, V):
        y, omega = np.asarray(y, float), np.asarray(omega, float)
        V = np.asarray(V, float)
        s2 = V + self.noise
        if np.any(s2 <= 0):
            raise ValueError(f"{type(self).__name__} channel: V + noise must be > 0")
        s = np.sqrt(s2)
        u = y * omega / s
        lP = log_Phi(u)
        if self.flip > 0:
            with np.errstate(divide="ignore"):  # flip = 1/2: log(1 - 2 flip) = -inf, labels carry no information
                logZ = np.logaddexp(np.log(self.flip), np.log1p(-2.0 * self.flip) + lP)
            lr = np.log1p(-2.0 * self.flip) + log_phi(u) - logZ if self.flip < 0.5 else np.full_like(u, -np.inf)
        else:
            logZ = lP
            lr = log_phi(u) - lP
        r = np.exp(lr)
        g = y * r / s
        dg = -r * (u + r) / s2 if self.flip == 0 else -r * u / s2 - g * g
        return logZ, g, dg

    def student_test_error(self, m, q, rho, *, moments=None, angle=None):
        """0-1 error of ``sign(omega)``: ``flip + (1 - 2 flip) arccos(m / sqrt(q (rho + noise))) / pi``
        (Gardner & Derrida 1989; Engel & Van den Broeck 2001, eq. (2.42), with label noise);
        ``q = 0`` (w = 0) counts as chance.  With ``noise = 0`` a given ``angle`` (``arccos(m /
        sqrt(rho q))`` without cancellation) is used instead of m, q; ``moments`` are not needed."""
        if angle is not None and self.noise == 0:
            return self.flip + (1.0 - 2.0 * self.flip) * angle / np.pi
        q = np.asarray(q, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(q > 0, np.clip(m / np.sqrt(q * (rho + self.noise)), -1.0, 1.0), 0.0)
        return self.flip + (1.0 - 2.0 * self.flip) * np.arccos(c) / np.pi


@dataclass(frozen=True)
class Probit(Sign):
    """Probit channel P(y = +-1 | z) = Phi(y z / sqrt(noise)) (default noise = 1).

    The same law as ``Sign(noise)``, with the conventional unit scale of the probit model.
    """

    noise: float = 1.0
    flip: float = 0.0
    name = "probit"

    def __post_init__(self):
        super().__post_init__()
        if self.noise <= 0:
            raise ValueError(f"Probit channel: noise must be > 0, got noise={self.noise!r}")


@dataclass(frozen=True)
class ReLU(_AdditiveNoise):
    """y = max(0, z) + sqrt(noise) xi.  Posterior of z: two truncated Gaussians."""

    noise: float = 0.0
    kinks = (0.0,)
    name = "relu"
    informative_fraction = 0.5  # y = 0 (z < 0) reveals only the sign of z
    phi_kind = "relu"

    def __post_init__(self):
        check_positive("noise", self.noise, owner="ReLU channel", allow_zero=True)
        object.__setattr__(self, "noise", float(self.noise))

    def phi(self, z):
        return np.maximum(np.asarray(z, float), 0.0)

    def mean_output(self, omega, V):
        """``E max(0, z)``, ``z ~ N(omega, V)``: the rectified normal mean
        ``s phi(omega / s) + omega Phi(omega / s)``, ``s = sqrt(V)`` (Leone, Nelson & Nottingham,
        Technometrics 3, 543 (1961)); ``max(omega, 0)`` at ``V = 0``."""
        from scipy.special import erf

        s = np.sqrt(V)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(s > 0, omega / np.where(s > 0, s, 1.0), 0.0)
        return np.where(s > 0, s * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi) + omega * 0.5 * (1 + erf(u / np.sqrt(2))),
                        np.maximum(omega, 0.0))

    def output_moments(self, y, omega, V):
        y, omega = np.asarray(y, float), np.asarray(omega, float)
        V = _check_V(V)
        y, omega, V = np.broadcast_arrays(y, omega, V)
        D = self.noise
        # z < 0 part: y = noise only
        lA, mA, vA = truncnorm_moments(omega, V, upper=0.0)
        if D > 0:
            lA = lA + _log_normal(y, 0.0, D)
            s2 = V + D
            m = (omega * D + y * V) / s2
            v = V * D / s2
            lB, mB, vB = truncnorm_moments(m, v, lower=0.0)
            lB = lB + _log_normal(y, omega, s2)
            logZ = np.logaddexp(lA, lB)
            pA, pB = np.exp(lA - logZ), np.exp(lB - logZ)
            mz = pA * mA + pB * mB
            vz = pA * (vA + mA**2) + pB * (vB + mB**2) - mz**2
            return self._from_posterior(logZ, mz, np.maximum(vz, 0.0), omega, V)
        pos = y > 0
        logZ = np.where(pos, _log_normal(y, omega, V), lA)
        mz = np.where(pos, y, mA)
        vz = np.where(pos, 0.0, vA)
        return self._from_posterior(logZ, mz, vz, omega, V)


@dataclass(frozen=True)
class Abs(_AdditiveNoise):
    """y = |z| + sqrt(noise) xi (a real-valued phase retrieval)."""

    noise: float = 0.0
    kinks = (0.0,)
    name = "abs"
    folds_sign = True
    phi_kind = "abs"

    def __post_init__(self):
        check_positive("noise", self.noise, owner="Abs channel", allow_zero=True)
        object.__setattr__(self, "noise", float(self.noise))

    def phi(self, z):
        return np.abs(np.asarray(z, float))

    def mean_output(self, omega, V):
        """``E |z|``, ``z ~ N(omega, V)``: the folded normal mean
        ``s sqrt(2 / pi) exp(-omega^2 / 2V) + omega erf(omega / sqrt(2V))``, ``s = sqrt(V)`` (Leone,
        Nelson & Nottingham, Technometrics 3, 543 (1961)); ``|omega|`` at ``V = 0``."""
        from scipy.special import erf

        s = np.sqrt(V)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(s > 0, omega / np.where(s > 0, s, 1.0), 0.0)
        return np.where(s > 0, s * np.sqrt(2 / np.pi) * np.exp(-0.5 * u * u) + omega * erf(u / np.sqrt(2)), np.abs(omega))

    def output_moments(self, y, omega, V):
        y, omega = np.asarray(y, float), np.asarray(omega, float)
        V = _check_V(V)
        y, omega, V = np.broadcast_arrays(y, omega, V)
        D = self.noise
        if D > 0:
            s2 = V + D
            v = V * D / s2
            mp = (omega * D + y * V) / s2
            mm = (omega * D - y * V) / s2
            lP, mP, vP = truncnorm_moments(mp, v, lower=0.0)
            lM, mM, vM = truncnorm_moments(mm, v, upper=0.0)
            lP = lP + _log_normal(y, omega, s2)
            lM = lM + _log_normal(-y, omega, s2)
        else:
            lP, mP, vP = _log_normal(y, omega, V), y, np.zeros_like(y)
            lM, mM, vM = _log_normal(-y, omega, V), -y, np.zeros_like(y)
        logZ = np.logaddexp(lP, lM)
        pP, pM = np.exp(lP - logZ), np.exp(lM - logZ)
        mz = pP * mP + pM * mM
        vz = pP * (vP + mP**2) + pM * (vM + mM**2) - mz**2
        return self._from_posterior(logZ, mz, np.maximum(vz, 0.0), omega, V)


@dataclass(frozen=True)
class Square(_AdditiveNoise):
    """y = z^2 + sqrt(noise) xi (phase retrieval).

    Noiseless: z = +-sqrt(y), Z_out = [N(sqrt y; omega, V) + N(-sqrt y; omega, V)] / (2 sqrt y).
    Noisy: Z_out = E_{z ~ N(omega, V)} N(y; z^2, noise) by composite Gauss-Legendre
    quadrature refined around z = +-sqrt(y).
    """

    noise: float = 0.0
    kinks = ()
    name = "square"
    folds_sign = True
    phi_kind = "square"

    def __post_init__(self):
        check_positive("noise", self.noise, owner="Square channel", allow_zero=True)
        object.__setattr__(self, "noise", float(self.noise))

    def phi(self, z):
        z = np.asarray(z, float)
        return z * z

    def mean_output(self, omega, V):
        """``E z^2 = omega^2 + V``, ``z ~ N(omega, V)``."""
        return omega * omega + V

    def fold_free_entropy(self, psi_abs, rho):
        """``psi_out`` of ``y = z^2`` from that of ``y = |z|``: the Jacobian of ``y = |z|^2`` adds
        ``-E log(2|z|) = -log 2 - log(rho) / 2 + (gamma + log 2) / 2`` at ``z ~ N(0, rho)``
        (``E log|x| = -(gamma + log 2) / 2`` for ``x ~ N(0, 1)``)."""
        return psi_abs - np.log(2.0) - 0.5 * np.log(rho) + 0.5 * (np.euler_gamma + np.log(2.0))

    def output_moments(self, y, omega, V):
        y, omega = np.asarray(y, float), np.asarray(omega, float)
        V = _check_V(V)
        y, omega, V = np.broadcast_arrays(y, omega, V)
        D = self.noise
        if D == 0:
            if np.any(y <= 0):
                raise ValueError("Square channel without noise: y must be > 0")
            r = np.sqrt(y)
            lP = _log_normal(r, omega, V)
            lM = _log_normal(-r, omega, V)
            logZ = np.logaddexp(lP, lM) - np.log(2.0 * r)
            t = np.tanh(r * omega / V)
            mz = r * t
            vz = y * (1.0 - t * t)
            return self._from_posterior(logZ, mz, vz, omega, V)
        sd = np.sqrt(D)
        cs = np.array([-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0])
        roots = np.sqrt(np.maximum(y[..., None] + cs * sd, 0.0))
        bps = np.concatenate([roots, -roots], axis=-1)
        ll = lambda z: _log_normal(y[..., None], z * z, D)
        # log-sum-exp shift for stability: max of the log-likelihood over z is at most -log(sqrt(2 pi D))
        shift = -0.5 * np.log(D) - LOG_SQRT2PI
        # one node set and one likelihood evaluation for the three moments (GAMP calls this per
        # sample and iteration; gauss_expect three times built the nodes and the exp thrice)
        sv_ = np.sqrt(V)
        t, wt = composite_legendre_nodes(omega, sv_, bps, 16, 12.0, 6)
        z = omega[..., None] + sv_[..., None] * t
        f0 = np.exp(ll(z) - shift)
        Z = np.maximum(np.sum(f0 * wt, axis=-1), 1e-300)
        m1 = np.sum(z * f0 * wt, axis=-1) / Z
        m2 = np.sum(z * z * f0 * wt, axis=-1) / Z
        logZ = np.log(Z) + shift
        return self._from_posterior(logZ, m1, np.maximum(m2 - m1 * m1, 0.0), omega, V)


@dataclass(frozen=True)
class GaussianComponent:
    """``y = slope z + sqrt(noise) xi``: one Gaussian component of a mixture channel (:class:`Outliers`)."""

    slope: float
    noise: float


@dataclass(frozen=True)
class Outliers(Channel):
    """Linear labels with outliers (Vilucchio, Troiani, Erba, Krzakala 2024, "Asymptotic characterisation of
    robust empirical risk minimisation performance in the presence of outliers", eq. (2)):

        y = z + sqrt(delta_in) xi         with probability 1 - eps,
        y = beta z + sqrt(delta_out) xi   with probability eps          (xi ~ N(0, 1)).

    ``Z_out`` is the mixture of the two Gaussians ``N(y; omega, V + delta_in)`` and ``N(y; beta omega, beta^2 V
    + delta_out)``.  The best linear predictor of a fresh label is ``b z``, ``b = 1 - eps + eps beta``
    (``E[y | z]``); a student's ``excess_error = E (b z - omega)^2 = q - 2 b m + b^2 rho`` is its test error
    minus the irreducible part, the paper's excess generalisation error (:meth:`metrics`).
    """

    delta_in: float = 1.0
    delta_out: float = 1.0
    eps: float = 0.1
    beta: float = 0.0
    name = "outliers"

    def __post_init__(self):
        check_positive("delta_in", self.delta_in, owner="Outliers channel", allow_zero=True)
        check_positive("delta_out", self.delta_out, owner="Outliers channel", allow_zero=True)
        e = self.eps
        if isinstance(e, bool) or not isinstance(e, (int, float, np.integer, np.floating)) or not (0.0 <= e < 1.0):
            raise ValueError(f"Outliers channel: the fraction of outliers must be in [0, 1), got eps={e!r}")
        if not np.isfinite(self.beta):
            raise ValueError(f"Outliers channel: beta must be finite, got beta={self.beta!r}")
        for k in ("delta_in", "delta_out", "eps", "beta"):
            object.__setattr__(self, k, float(getattr(self, k)))

    @property
    def components(self) -> tuple:
        """``((weight, GaussianComponent), ...)``: the inliers and the outliers."""
        return ((1.0 - self.eps, GaussianComponent(1.0, self.delta_in)),
                (self.eps, GaussianComponent(self.beta, self.delta_out)))

    @property
    def noise(self) -> float:  # the mean output-noise variance (quadrature scales only)
        return (1.0 - self.eps) * self.delta_in + self.eps * self.delta_out

    @property
    def slope(self) -> float:
        """``b = E[y | z] / z = 1 - eps + eps beta``."""
        return 1.0 - self.eps + self.eps * self.beta

    def phi(self, z):
        """The conditional mean ``E[y | z] = b z``."""
        return self.slope * np.asarray(z, float)

    def sample(self, z, rng=None):
        z = np.asarray(z, float)
        rng = _rng(rng)
        out = rng.random(z.shape) < self.eps
        xi = rng.standard_normal(z.shape)
        return np.where(out, self.beta * z + np.sqrt(self.delta_out) * xi, z + np.sqrt(self.delta_in) * xi)

    def y_given_z(self, z, *, n=40):
        z = np.asarray(z, float)
        xi, w = hermite_rule(n)
        ys, ws = [], []
        for p, c in self.components:
            ys.append(c.slope * z[..., None] + np.sqrt(c.noise) * xi)
            ws.append(np.broadcast_to(p * w, z.shape + (n,)))
        return np.concatenate(ys, -1), np.concatenate(ws, -1)

    def label_moments(self, rho):
        """Closed form: ``E[z y] = b rho``, ``E y^2 = (1 - eps)(rho + delta_in) + eps (beta^2 rho + delta_out)``."""
        rho = float(rho)
        Ey2 = sum(p * (c.slope ** 2 * rho + c.noise) for p, c in self.components)
        return self.slope * rho, float(Ey2)

    def output_moments(self, y, omega, V):
        y, omega = np.asarray(y, float), np.asarray(omega, float)
        V = _check_V(V)
        logs, gs, dgs = [], [], []
        for p, c in self.components:
            s2 = c.slope ** 2 * V + c.noise
            if np.any(s2 <= 0):
                raise ValueError("Outliers channel: a component with beta = 0 and delta_out = 0 puts an atom at y = 0 "
                                 "(no likelihood density); give delta_out > 0")
            with np.errstate(divide="ignore"):  # eps = 0: the outliers' weight log 0
                logs.append(np.log(p) + _log_normal(y, c.slope * omega, s2))
            gs.append(c.slope * (y - c.slope * omega) / s2)
            dgs.append(-c.slope ** 2 / s2)
        logZ = np.logaddexp(logs[0], logs[1])
        r = [np.exp(lg - logZ) for lg in logs]  # the components' posterior weights
        g = r[0] * gs[0] + r[1] * gs[1]
        dg = r[0] * (dgs[0] + gs[0] ** 2) + r[1] * (dgs[1] + gs[1] ** 2) - g * g
        return logZ, g, dg

    def metrics(self, m, q, rho) -> dict:
        """``excess_error = E (b z - omega)^2 = q - 2 b m + b^2 rho``: the test error less its irreducible part
        ``E y^2 - b^2 rho`` (Vilucchio et al. 2024's excess generalisation error).  With the norm calibrated (the
        estimator rescaled by the best constant, which an oracle or a clean validation set gives; Vilucchio et
        al. 2024, sec. 3: without it ERM is not consistent for the teacher, since it estimates ``b theta``):
        ``calibrated_excess_error = min_c E (b z - c omega)^2 = b^2 (rho - m^2 / q)`` and ``calibrated_mse =
        min_c E (z - c omega)^2 = rho - m^2 / q``."""
        b = self.slope
        m, q = np.asarray(m, float), np.asarray(q, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = np.where(q > 0, rho - m * m / np.where(q > 0, q, 1.0), rho)
        return {"excess_error": q - 2.0 * b * m + b * b * rho, "calibrated_excess_error": b * b * gap,
                "calibrated_mse": gap}

    def bayes_metrics(self, q, rho) -> dict:
        """The Bayes-optimal predictor of a label is ``E[y | x, data] = b omega_hat`` (overlaps ``m = q``):
        ``excess_error = b^2 (rho - q)``, the lower bound on every estimator's; its calibration is already optimal
        (``calibrated_excess_error = excess_error``, ``calibrated_mse = rho - q``)."""
        gap = rho - np.asarray(q, float)
        return {"excess_error": self.slope ** 2 * gap, "calibrated_excess_error": self.slope ** 2 * gap,
                "calibrated_mse": gap}

    def output_entropy(self, rho):
        """``-E_z E_{y|z} log P(y | z)`` of the two-Gaussian mixture: Gauss-Hermite in z, and in y per
        component (the log of the mixture density is smooth)."""
        u, wu = hermite_rule(60)
        z = np.sqrt(rho) * u
        ys, wy = self.y_given_z(z, n=60)
        logs = [np.log(p) + _log_normal(ys, c.slope * z[:, None], c.noise) for p, c in self.components if p > 0]
        logP = logs[0] if len(logs) == 1 else np.logaddexp(logs[0], logs[1])
        return float(-np.sum(wu[:, None] * wy * logP))

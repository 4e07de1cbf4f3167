"""Data models (layer 3): Gaussian covariate ensembles described by their spectra.

A :class:`solvable.blocks.problems.GLM` takes ``data=None`` (isotropic inputs ``x ~ N(0, I_d)``) or
one of the data models below.  Every model is a *Gaussian covariate model* in the sense of
Loureiro, Gerbelot, Cui, Goldt, Krzakala, Mezard, Zdeborova (NeurIPS 2021, sec. 2): the
student sees ``P = ratio * d`` Gaussian features ``v`` and the teacher's pre-activation ``z``
is jointly Gaussian with them.  In the eigenbasis of the student covariance
``Omega = E v v^T`` (eigenvalues ``omega_k``) write ``v_k = sqrt(omega_k) g_k`` with
``g ~ N(0, I_P)``; then

    z = sum_k c_k g_k / sqrt(P) + sqrt(rho - mean_k c_k^2) xi,     xi ~ N(0, 1) independent,

and the student's pre-activation is ``yhat = w . v / sqrt(P)``.  What the asymptotic theory
needs (for an L2 penalty) is the **spectral measure**

* ``omega_k``: the student-space eigenvalues;
* ``power_k = c_k^2``: the teacher's power along eigendirection ``k`` (its contribution to
  ``Var z`` is ``power_k / P``);
* ``weight_k``: weights of the spectral measure (``1/P`` for an empirical spectrum, or the
  weights of a quadrature of a continuous spectral density), summing to one;
* ``rho = Var z`` (including the part of the teacher that no student feature explains);
* ``ratio = P / d``: the student dimension per unit of the ``d`` of ``alpha = n / d``.

A sum ``(1/P) sum_k f(omega_k, power_k)`` is ``sum_k weight_k f(omega_k, power_k)``.
Order parameters are prediction-space overlaps: ``m = E[z yhat]``, ``q = E[yhat^2]``,
``mse = E[(z - yhat)^2] = rho - 2 m + q`` (for isotropic data these are ``w.theta/d``,
``|w|^2/d`` and ``|w - theta|^2/d``).

Interface for new data models (random features, power-law kernels, ...): subclass
:class:`DataModel` and implement ``spectrum(prior) -> Spectrum`` and, for simulations,
``sample(n, d, prior, rng) -> (V, z, info)`` returning the student features ``V`` of shape
``(n, P)`` (the ERM pre-activation is ``V @ w / sqrt(P)``), the teacher pre-activations
``z`` of shape ``(n,)``, and a dict ``info`` with ``overlaps(w) -> (m, q)`` (the exact
population overlaps of a student ``w``) and ``rho`` (the realised ``Var z``); optionally
``evaluate(w, channel) -> dict`` to override measured fields (e.g. a test error on fresh
samples of non-Gaussian features).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from solvable.core.validate import check_positive

__all__ = ["Spectrum", "DataModel", "Isotropic", "Covariance", "GaussianCovariate", "BlockFeatures"]


@dataclass(frozen=True)
class Spectrum:
    """Spectral measure of a Gaussian covariate model (see the module docstring).

    ``omega``, ``power``, ``weight`` are 1D arrays of equal length (weights sum to 1);
    ``rho = Var z``; ``ratio = P / d``.
    """

    omega: np.ndarray
    power: np.ndarray
    weight: np.ndarray
    rho: float
    ratio: float = 1.0

    def __post_init__(self):
        om = np.atleast_1d(np.asarray(self.omega, float))
        pw = np.broadcast_to(np.asarray(self.power, float), om.shape).copy()
        wt = np.broadcast_to(np.asarray(self.weight, float), om.shape).copy()
        if om.ndim != 1 or om.size == 0:
            raise ValueError(f"Spectrum: omega must be a non-empty 1D array, got shape {om.shape}")
        if np.any(om < 0) or not np.all(np.isfinite(om)):
            raise ValueError("Spectrum: eigenvalues omega must be finite and >= 0")
        if np.any(pw < 0) or not np.all(np.isfinite(pw)):
            raise ValueError("Spectrum: teacher power must be finite and >= 0")
        if np.any(wt < 0) or abs(wt.sum() - 1.0) > 1e-8:
            raise ValueError(f"Spectrum: weights must be >= 0 and sum to 1, got sum={wt.sum()!r}")
        check_positive("rho", self.rho, owner="Spectrum")
        check_positive("ratio", self.ratio, owner="Spectrum")
        explained = float(np.sum(wt * pw))
        if explained > float(self.rho) * (1 + 1e-9):
            raise ValueError(
                f"Spectrum: the teacher power explained by the features, sum(weight*power)={explained!r}, "
                f"exceeds rho={self.rho!r}"
            )
        for k, v in (("omega", om), ("power", pw), ("weight", wt)):
            v.setflags(write=False)
            object.__setattr__(self, k, v)
        object.__setattr__(self, "rho", float(self.rho))
        object.__setattr__(self, "ratio", float(self.ratio))

    @property
    def explained(self) -> float:
        """``sum_k weight_k power_k``: the part of ``Var z`` linear in the student features."""
        return float(np.sum(self.weight * self.power))

    @property
    def is_isotropic(self) -> bool:
        return bool(np.all(self.omega == 1.0) and self.ratio == 1.0)


class DataModel:
    """Base class of data models: a Gaussian covariate model given by its spectral measure.

    Subclasses implement :meth:`spectrum` (theory) and :meth:`sample` (simulation).
    ``ratio`` is ``P / d`` (student features per input dimension).
    """

    ratio: float = 1.0

    def spectrum(self, prior) -> Spectrum:
        """The spectral measure; ``prior`` is the GLM's prior on the teacher coordinates."""
        raise NotImplementedError

    def student_dim(self, d: int) -> int:
        """The number of student features P at input dimension d."""
        return int(round(self.ratio * d))

    def sample(self, n: int, d: int, prior, rng: np.random.Generator):
        """``(V, z, info)``: student features (n, P), teacher pre-activations (n,), and
        ``info["overlaps"](w) -> (m, q)`` (exact population overlaps of a student ``w``)."""
        raise NotImplementedError

    @property
    def is_isotropic(self) -> bool:
        return False

    def mode_profile(self, values, d: int) -> np.ndarray:
        """A quantity given per mode of :meth:`spectrum` (e.g. the eigenvalues of an attack geometry
        that commutes with the covariance), as the per-coordinate vector of the features that
        :meth:`sample` draws at dimension ``d`` (length ``student_dim(d)``).  Only data models whose
        features are drawn in the eigenbasis of their covariance implement it."""
        raise ValueError(f"{type(self).__name__}: a per-mode profile (e.g. an attack geometry) is supported on "
                         f"isotropic, Covariance and BlockFeatures data only")


def _overlaps_diag(omega: np.ndarray, c: np.ndarray, P: int) -> Callable:
    sq = np.sqrt(omega)

    def overlaps(w):
        return float(np.dot(c * sq, w) / P), float(np.dot(omega * w, w) / P)

    return overlaps


def _sample_diag(n, omega, c, rho, rng):
    """Features v = sqrt(omega) g (diagonal covariance) and z = c.g/sqrt(P) + residual."""
    P = omega.size
    G = rng.standard_normal((n, P))
    z = G @ c / np.sqrt(P)
    resid = rho - float(np.dot(c, c)) / P
    if resid > 1e-12:
        z = z + np.sqrt(resid) * rng.standard_normal(n)
    return G * np.sqrt(omega), z


@dataclass(frozen=True)
class Isotropic(DataModel):
    """x ~ N(0, I_d) (the same as ``data=None``)."""

    def spectrum(self, prior) -> Spectrum:
        rho = prior.second_moment
        return Spectrum(np.ones(1), np.full(1, rho), np.ones(1), rho, 1.0)

    @property
    def is_isotropic(self) -> bool:
        return True

    def mode_profile(self, values, d: int) -> np.ndarray:
        v = np.atleast_1d(np.asarray(values, float))
        if v.size != 1:
            raise ValueError(f"Isotropic: one mode, so a per-mode profile has one value, got {values!r}")
        return np.full(d, float(v[0]))

    def sample(self, n, d, prior, rng):
        theta = prior.sample_signal(d, rng)
        X = rng.standard_normal((n, d))
        z = X @ theta / np.sqrt(d)
        return X, z, {"overlaps": lambda w: (float(w @ theta / d), float(w @ w / d)), "theta": theta,
                      "rho": float(theta @ theta / d)}


def _profile(values, d: int) -> np.ndarray:
    """Resample a 1D profile (given on [0, 1] by its values on a uniform grid) to length d."""
    v = np.asarray(values, float)
    if v.size == d:
        return v
    t_src = (np.arange(v.size) + 0.5) / v.size
    t = (np.arange(d) + 0.5) / d
    return np.interp(t, t_src, v)


@dataclass(frozen=True, eq=False)
class Covariance(DataModel):
    """Inputs ``x ~ N(0, Sigma)`` with ``Sigma`` given by its eigenvalues; teacher and student in
    the same space (``P = d``, ratio 1), ``z = theta . x / sqrt(d)``.

    ``eigenvalues``: the spectrum of ``Sigma`` (a 1D array; at other ``d`` it is read as a
    profile over ``[0, 1]`` and interpolated).  ``teacher_weights``: optional profile ``a_k^2``
    of the same length scaling the teacher along eigendirection ``k``: ``theta_k = a_k s_k``
    with ``s_k ~ prior`` i.i.d. (default all ones).  Then ``power_k = omega_k a_k^2 E s^2`` and
    ``rho = mean_k power_k`` (Loureiro et al. 2021, sec. 2 with ``Psi = Phi = Omega = Sigma``).
    """

    eigenvalues: Any
    teacher_weights: Any = None

    def __post_init__(self):
        ev = np.atleast_1d(np.asarray(self.eigenvalues, float))
        if ev.ndim != 1 or ev.size == 0 or np.any(ev < 0) or not np.all(np.isfinite(ev)):
            raise ValueError(f"Covariance: eigenvalues must be a non-empty 1D array of finite values >= 0, got {self.eigenvalues!r}")
        ev = ev.copy()
        ev.setflags(write=False)
        object.__setattr__(self, "eigenvalues", ev)
        if self.teacher_weights is not None:
            tw = np.atleast_1d(np.asarray(self.teacher_weights, float))
            if tw.shape != ev.shape or np.any(tw < 0) or not np.all(np.isfinite(tw)):
                raise ValueError("Covariance: teacher_weights must be >= 0 with the shape of eigenvalues")
            tw = tw.copy()
            tw.setflags(write=False)
            object.__setattr__(self, "teacher_weights", tw)

    def _a2(self):
        return np.ones_like(self.eigenvalues) if self.teacher_weights is None else self.teacher_weights

    def spectrum(self, prior) -> Spectrum:
        om = self.eigenvalues
        power = om * self._a2() * prior.second_moment
        w = np.full(om.size, 1.0 / om.size)
        return Spectrum(om, power, w, float(np.mean(power)), 1.0)

    def mode_profile(self, values, d: int) -> np.ndarray:
        """At ``d`` = the number of eigenvalues the values sit on their own eigenvalues exactly; at another ``d``
        they are interpolated as a profile over ``[0, 1]``, like the eigenvalues, but independently of them (a
        nonlinear function of the eigenvalues, such as ``1 / eigenvalue``, is then only approximately kept)."""
        v = np.atleast_1d(np.asarray(values, float))
        if v.shape != self.eigenvalues.shape:
            raise ValueError(f"Covariance: a per-mode profile needs one value per eigenvalue "
                             f"({self.eigenvalues.size}), got shape {v.shape}")
        return _profile(v, d)

    def sample(self, n, d, prior, rng):
        om = _profile(self.eigenvalues, d)
        a = np.sqrt(_profile(self._a2(), d))
        theta = a * prior.sample_signal(d, rng)
        c = np.sqrt(om) * theta  # z = theta . x / sqrt(d) with x = sqrt(om) g
        V, z = _sample_diag(n, om, c, float(c @ c) / d, rng)
        return V, z, {"overlaps": _overlaps_diag(om, c, d), "theta": theta, "rho": float(c @ c) / d}

    def __eq__(self, other):
        return (
            isinstance(other, Covariance)
            and np.array_equal(self.eigenvalues, other.eigenvalues)
            and (
                (self.teacher_weights is None and other.teacher_weights is None)
                or (self.teacher_weights is not None and other.teacher_weights is not None
                    and np.array_equal(self.teacher_weights, other.teacher_weights))
            )
        )

    __hash__ = None


@dataclass(frozen=True, eq=False)
class GaussianCovariate(DataModel):
    """The Gaussian covariate model given by its spectral measure (Loureiro et al. 2021, sec. 2).

    ``omega``: student-space eigenvalues (P values, or a profile); ``power``: the teacher's
    power ``c_k^2`` along each eigendirection; ``rho``: ``Var z`` (>= mean power; the excess
    is the part of the teacher the student cannot see, which acts as output noise);
    ``ratio``: ``P / d``; ``weight``: optional weights of the spectral measure (default
    uniform).  The GLM's prior is not used (the teacher is summarised by ``power``).

    Build it from matrices with :meth:`from_matrices` (``Psi``, ``Phi``, ``Omega``, ``theta``).
    """

    omega: Any
    power: Any
    rho: float | None = None
    ratio: float = 1.0
    weight: Any = None

    def __post_init__(self):
        om = np.atleast_1d(np.asarray(self.omega, float))
        pw = np.broadcast_to(np.asarray(self.power, float), om.shape).copy()
        wt = np.full(om.size, 1.0 / om.size) if self.weight is None else np.asarray(self.weight, float)
        rho = float(np.sum(wt * pw)) if self.rho is None else self.rho
        check_positive("ratio", self.ratio, owner="GaussianCovariate")
        spec = Spectrum(om, pw, wt, rho, self.ratio)  # validates
        object.__setattr__(self, "omega", spec.omega)
        object.__setattr__(self, "power", spec.power)
        object.__setattr__(self, "weight", spec.weight)
        object.__setattr__(self, "rho", spec.rho)
        object.__setattr__(self, "ratio", spec.ratio)

    @classmethod
    def from_matrices(cls, Omega, Phi, Psi, theta) -> "GaussianCovariate":
        """From the covariances of Loureiro et al. 2021 (eq. (1.3)): teacher features
        ``u`` (dim p) with ``Psi = E u u^T``, student features ``v`` (dim P) with
        ``Omega = E v v^T``, ``Phi = E u v^T`` (p x P), and the teacher vector ``theta``
        (``z = theta . u / sqrt(p)``).  ``ratio`` is set to ``P / p``."""
        Omega, Phi, Psi, theta = (np.asarray(t, float) for t in (Omega, Phi, Psi, theta))
        p, P = Phi.shape
        if Omega.shape != (P, P) or Psi.shape != (p, p) or theta.shape != (p,):
            raise ValueError("GaussianCovariate.from_matrices: shapes must be Omega (P,P), Phi (p,P), Psi (p,p), theta (p,)")
        om, U = np.linalg.eigh(Omega)
        om = np.maximum(om, 0.0)
        b = U.T @ (Phi.T @ theta) / np.sqrt(p)  # E[z (U^T v)_k]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(om > 1e-14 * om.max(), np.sqrt(P) * b / np.sqrt(om), 0.0)
        rho = float(theta @ Psi @ theta / p)
        return cls(om, c * c, rho=max(rho, float(np.mean(c * c))), ratio=P / p)

    def spectrum(self, prior) -> Spectrum:
        return Spectrum(self.omega, self.power, self.weight, self.rho, self.ratio)

    def sample(self, n, d, prior, rng):
        P = self.student_dim(d)
        if self.omega.size == P and np.allclose(self.weight, 1.0 / P):
            om, pw = self.omega, self.power
        else:  # sample P eigenvalues from the spectral measure (stratified by quantiles)
            order = np.argsort(self.omega)
            cdf = np.cumsum(self.weight[order])
            idx = order[np.minimum(np.searchsorted(cdf, (np.arange(P) + 0.5) / P), order.size - 1)]
            om, pw = self.omega[idx], self.power[idx]
        c = np.sqrt(pw) * rng.choice(np.array([-1.0, 1.0]), size=P)
        rho = max(self.rho, float(c @ c) / P)
        V, z = _sample_diag(n, om, c, rho, rng)
        return V, z, {"overlaps": _overlaps_diag(om, c, P), "rho": rho}

    def __eq__(self, other):
        return (
            isinstance(other, GaussianCovariate)
            and np.array_equal(self.omega, other.omega)
            and np.array_equal(self.power, other.power)
            and np.array_equal(self.weight, other.weight)
            and self.rho == other.rho
            and self.ratio == other.ratio
        )

    __hash__ = None



def _block_sizes(fractions: np.ndarray, d: int) -> np.ndarray:
    """Block sizes summing to d, proportional to ``fractions`` (largest remainders)."""
    raw = fractions * d
    k = np.floor(raw).astype(int)
    short = d - int(k.sum())
    if short > 0:
        k[np.argsort(-(raw - k), kind="stable")[:short]] += 1
    return k


@dataclass(frozen=True, eq=False)
class BlockFeatures(DataModel):
    """The block feature model (Tanner, Vilucchio, Loureiro, Krzakala, AISTATS 2025, sec. 2): the d
    coordinates fall into blocks of fractions ``c_k`` (summing to 1); on block ``k`` the inputs have
    variance ``psi_k`` (``variances``) and the teacher has variance ``t_k`` (``teacher``, default 1):
    ``Sigma_x = diag(psi_k I_{c_k d})``, ``theta_i = sqrt(t_k) s_i`` with ``s_i ~ prior``, ``z = theta . x /
    sqrt(d)``.  It is a :class:`Covariance` with a piecewise-constant spectrum, with one mode per block
    (``power_k = psi_k t_k E s^2``, ``rho = sum_k c_k power_k``) and blocks of exactly ``round(c_k d)``
    coordinates in simulations.  A block with ``psi_k t_k`` large is a strong (useful) feature; the
    attack geometry of adversarial training is given per block too
    (:class:`solvable.families.erm.adversarial.AdversarialERM`)."""

    fractions: Any
    variances: Any
    teacher: Any = None

    def __post_init__(self):
        c = np.atleast_1d(np.asarray(self.fractions, float))
        if c.ndim != 1 or c.size == 0 or np.any(~np.isfinite(c)) or np.any(c <= 0) or abs(c.sum() - 1.0) > 1e-9:
            raise ValueError(f"BlockFeatures: fractions must be > 0 and sum to 1, got fractions={self.fractions!r}")
        psi = np.broadcast_to(np.asarray(self.variances, float), c.shape).copy() if np.ndim(self.variances) == 0 \
            else np.asarray(self.variances, float)
        if psi.shape != c.shape or np.any(~np.isfinite(psi)) or np.any(psi <= 0):
            raise ValueError(f"BlockFeatures: variances must be > 0, one per block ({c.size}), got variances={self.variances!r}")
        t = np.ones_like(c) if self.teacher is None else (
            np.full(c.shape, float(self.teacher)) if np.ndim(self.teacher) == 0 else np.asarray(self.teacher, float))
        if t.shape != c.shape or np.any(~np.isfinite(t)) or np.any(t < 0) or not np.any(t > 0):
            raise ValueError(f"BlockFeatures: teacher variances must be >= 0 (not all 0), one per block ({c.size}), "
                             f"got teacher={self.teacher!r}")
        for k, v in (("fractions", c / c.sum()), ("variances", psi), ("teacher", t)):
            v = np.array(v, float)
            v.setflags(write=False)
            object.__setattr__(self, k, v)

    def spectrum(self, prior) -> Spectrum:
        power = self.variances * self.teacher * prior.second_moment
        return Spectrum(self.variances, power, self.fractions, float(np.sum(self.fractions * power)), 1.0)

    def sizes(self, d: int) -> np.ndarray:
        """The number of coordinates of each block at dimension ``d``."""
        return _block_sizes(self.fractions, d)

    def mode_profile(self, values, d: int) -> np.ndarray:
        v = np.atleast_1d(np.asarray(values, float))
        if v.shape != self.fractions.shape:
            raise ValueError(f"BlockFeatures: a per-block profile needs one value per block ({self.fractions.size}), "
                             f"got shape {v.shape}")
        return np.repeat(v, self.sizes(d))

    def sample(self, n, d, prior, rng):
        om = self.mode_profile(self.variances, d)
        theta = np.sqrt(self.mode_profile(self.teacher, d)) * prior.sample_signal(d, rng)
        c = np.sqrt(om) * theta
        rho = float(c @ c) / d
        V, z = _sample_diag(n, om, c, rho, rng)
        return V, z, {"overlaps": _overlaps_diag(om, c, d), "theta": theta, "rho": rho}

    def __eq__(self, other):
        return isinstance(other, BlockFeatures) and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("fractions", "variances", "teacher"))

    __hash__ = None

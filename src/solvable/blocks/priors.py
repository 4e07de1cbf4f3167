"""Priors on the coordinates of a signal, with their scalar Bayes denoisers.

For a prior P the scalar channel used by AMP and by the replica formulas is the tilted
measure ``P(x) exp(B x - A x^2 / 2) / Z(B, A)``.  Each prior gives
``log_partition(B, A) = log Z``, and ``denoise(B, A) = (E[x], Var[x])`` under the tilted
measure, with ``E x = d log Z / dB`` and ``Var x = d^2 log Z / dB^2``
(Zdeborova & Krzakala, Adv. Phys. 65, 453 (2016), sec. 4.1; Rangan, ISIT 2011, eq. (10)).
All methods are vectorised over arrays of ``B`` and ``A`` (broadcast together).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from solvable.core.validate import check_interval, check_positive, check_real
from solvable.numerics.gauss import composite_legendre_nodes, gauss_expect, hermite_rule

__all__ = ["Prior", "Gaussian", "Rademacher", "GaussBernoulli", "SparseRademacher"]


def _product_expect(f, Bhat, xs, ws, xi, wxi):
    """``E_{x0, xi} f(x0, B, Bhat)`` with ``B = Bhat x0 + sqrt(Bhat) xi`` by the product rule of the
    nodes / weights ``(xs, ws)`` of x0 and ``(xi, wxi)`` of the standard normal xi; ``f`` gets
    arrays of shape ``grid + (len(xs), len(xi))`` and ``Bhat[..., None, None]``."""
    bh = Bhat[..., None, None]
    x0 = xs[:, None]
    B = bh * x0 + np.sqrt(bh) * xi
    vals = f(np.broadcast_to(x0, B.shape), B, bh)
    return np.einsum("...ij,i,j->...", vals, ws, wxi)


class Prior:
    """Base class.  Subclasses implement ``sample``, ``log_partition`` and ``denoise``."""

    name: str = "prior"
    #: product Gauss-Hermite rules over ``(x0, xi)`` resolve the scalar channel of this prior
    #: poorly at large SNR (a Gaussian slab whose posterior weight switches on a scale
    #: ``~sqrt(Bhat)`` inside a law of B of width ``~Bhat``): engines then use the prior's own
    #: :meth:`overlap` / :meth:`free_entropy_term` (law of B by composite Gauss-Legendre)
    hermite_inaccurate: bool = False

    @property
    def first_moment(self) -> float:
        """E[x]."""
        raise NotImplementedError

    @property
    def second_moment(self) -> float:
        """rho = E[x^2], the normalisation of overlaps (rho = |theta|^2 / d)."""
        raise NotImplementedError

    def sample(self, size, rng: np.random.Generator | int | None = None) -> np.ndarray:
        raise NotImplementedError

    def log_partition(self, B, A) -> np.ndarray:
        raise NotImplementedError

    def sample_signal(self, size, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """:meth:`sample` for the signal of a simulation: a draw that is exactly zero (a sparse
        prior at a tiny size, e.g. rho = 0.05 and 3 coordinates) has no direction, so every
        overlap normalised by it is undefined; that is a ``ValueError`` naming the cause (the same
        for every learner), not a NaN or a ``ZeroDivisionError``."""
        x = self.sample(size, rng)
        if not np.any(x):
            raise ValueError(
                f"the sampled signal is exactly zero ({self!r}, {np.size(x)} coordinates): its overlaps "
                f"are undefined; use a larger d (or another seed)")
        return x

    def denoise(self, B, A) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def expect(self, f: Callable[[np.ndarray], np.ndarray], *, n: int = 80) -> np.ndarray:
        """``E_{x ~ P} f(x)``; ``f`` gets an array with a trailing axis of atoms/nodes."""
        xs, ws = self._quadrature(n)
        return np.sum(f(xs) * ws, axis=-1)

    def _quadrature(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def scalar_channel_expect(self, f: Callable, Bhat, *, n: int = 80) -> np.ndarray:
        """``E_{x0 ~ P, xi ~ N(0,1)} f(x0, B)`` with ``B = Bhat x0 + sqrt(Bhat) xi``.

        This is the expectation over the effective scalar Gaussian channel with SNR
        ``Bhat`` that appears in every replica / state-evolution formula
        (Zdeborova & Krzakala 2016, eq. (97)).  ``f(x0, B)`` is called with arrays of shape
        ``grid + (n_atoms, n_nodes)``; ``Bhat`` may be an array (the grid).
        """
        Bhat = np.asarray(Bhat, dtype=float)
        check_positive("Bhat", Bhat, owner=type(self).__name__, allow_zero=True)
        xs, ws = self._quadrature(n)
        return _product_expect(lambda x0, B, bh: f(x0, B), Bhat, xs, ws, *hermite_rule(n))

    def scalar_channel_mixture(self, n: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The law of ``x0`` as a mixture of Gaussians, ``(weights, means, variances)`` of its
        components, for integrating the scalar channel ``B = r x0 + sqrt(r) z`` by Gauss-Hermite
        in each component of B (``N(r mu_k, r^2 s_k^2 + r)``): here the atoms of the prior's
        ``n``-node quadrature with non-zero weight (variances 0)."""
        xs, ws = self._quadrature(n)
        keep = np.asarray(ws) > 0
        return np.asarray(ws)[keep], np.asarray(xs)[keep], np.zeros(int(keep.sum()))

    def exact_mixture(self):
        """The prior itself as a finite mixture of Gaussians and atoms, ``(weights, means, variances)``
        (variance 0 for an atom), or None where it is not one.  With it a Gaussian observation
        ``B = a x0 + sqrt(b) xi`` has an exactly Gaussian-mixture law, and ``E[x0 | B]`` is linear
        in B within each component (used by the ERM penalty side, issue 13)."""
        return None

    # --- the scalar-channel integrals of state evolution: closed forms where the prior has
    # them (overridden below), else the product rule of scalar_channel_nodes ----------------

    def scalar_channel_nodes(self, n: int = 80):
        """``(xs, ws, xi, wxi)``: nodes / weights of x0 and of the Gaussian noise xi of the
        product rule used by :meth:`se_overlap`, :meth:`se_mmse`, :meth:`se_free_entropy`: the
        prior's ``n``-node quadrature and ``n``-node Gauss-Hermite; None where the prior has no
        quadrature."""
        try:
            xs, ws = self._quadrature(n)
        except (AttributeError, NotImplementedError):
            return None
        xi, wxi = hermite_rule(n)
        return xs, ws, xi, wxi

    def _switches(self, A):
        """For an atomic prior: the values of B where the denoiser switches (shape ``A.shape + (j,)``),
        at which :meth:`_se_expect` cuts the noise integral; None: no cuts (plain product rule)."""
        return None

    #: the SNR window where Gauss-Hermite misses the switches of an atomic prior's denoiser: below
    #: it the integrand is smooth on the scale of the noise, above it the switches lie beyond 10
    #: standard deviations of every atom's B
    _CUT_WINDOW = (0.3, 2000.0)

    def _se_expect(self, f, Bhat, n: int):
        """``E_{x0, xi} f(x0, B, Bhat)`` for the se_* integrals: the product rule of
        :meth:`scalar_channel_nodes`; for an atomic prior with :meth:`_switches`, an exact sum over
        the atoms and, inside :data:`_CUT_WINDOW`, the noise integral by composite Gauss-Legendre
        cut at the switches and at a ladder of points around them on the unit scale of B
        (accurate to ~1e-10 where the 80-node Gauss-Hermite rule was off by up to 4e-6 in the
        mmse of a Rademacher prior at Bhat = 5; issue 13)."""
        Bhat = np.asarray(Bhat, float)
        nodes = self.scalar_channel_nodes(n)
        out = _product_expect(f, Bhat, *nodes)
        lo, hi = self._CUT_WINDOW
        inside = (Bhat > lo) & (Bhat < hi)
        if self._switches(Bhat) is None or not np.any(inside):
            return out
        bh = Bhat[inside]
        xs, ws = self._quadrature(n)
        ladder = np.array([-8.0, -4.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0])
        cuts = (self._switches(bh)[..., :, None] + ladder).reshape(bh.shape + (-1,))
        acc = np.zeros_like(bh)
        for x0, w0 in zip(xs, ws):
            z, wz = composite_legendre_nodes(bh * x0, np.sqrt(bh), cuts, 10, 10.0, 8)
            B = (bh * x0)[:, None] + np.sqrt(bh)[:, None] * z
            acc += w0 * np.sum(f(np.full_like(B, x0), B, bh[:, None]) * wz, axis=-1)
        out = np.array(out, float, copy=True)
        out[inside] = acc
        return out

    def se_overlap(self, Bhat, *, n: int = 80) -> np.ndarray:
        """``q(Bhat) = E[x0 E(x | B)]`` over the scalar channel ``B = Bhat x0 + sqrt(Bhat) xi``
        (Zdeborova & Krzakala 2016, eq. (97)), as state evolution evaluates it: by the product
        rule of :meth:`scalar_channel_nodes` (:meth:`overlap` without one); closed forms override."""
        Bhat = np.asarray(Bhat, float)
        if self.scalar_channel_nodes(n) is None:
            return self.overlap(Bhat, n=n)
        return self._se_expect(lambda x0, B, A: x0 * self.denoise(B, A)[0], Bhat, n)

    def se_mmse(self, Bhat, *, n: int = 80) -> np.ndarray:
        """``mmse(Bhat) = E[Var(x | B)] = rho - q(Bhat)`` over the scalar channel: ``rho -``
        :meth:`se_overlap` here; overrides compute the mean posterior variance directly (no
        cancellation as ``q -> rho``)."""
        if self._switches(np.zeros(())) is not None and self.scalar_channel_nodes(n) is not None:
            return self._se_expect(lambda x0, B, A: self.denoise(B, A)[1], np.asarray(Bhat, float), n)
        return float(self.second_moment) - self.se_overlap(Bhat, n=n)

    def se_free_entropy(self, Bhat, *, n: int = 80) -> np.ndarray:
        """``psi_P(Bhat) = E log Z(B, Bhat)`` over the scalar channel (Zdeborova & Krzakala 2016,
        eq. (97)): the product rule of :meth:`scalar_channel_nodes` (:meth:`free_entropy_term`
        without one); closed forms override."""
        Bhat = np.asarray(Bhat, float)
        if self.scalar_channel_nodes(n) is None:
            return self.free_entropy_term(Bhat, n=n)
        return self._se_expect(lambda x0, B, A: self.log_partition(B, A), Bhat, n)

    def information_dimension(self) -> float:
        """Renyi information dimension ``d_P = lim_{s -> inf} s mmse(s)`` (Wu & Verdu, IEEE TIT
        58, 3721 (2012)): here ``s mmse(s)`` at ``s = 1e8``; exact values override."""
        s = 1e8
        return float(s * self.mmse(s))

    # --- expectations over the scalar channel through the law of B -----------------
    #
    # B = Bhat x0 + sqrt(Bhat) xi is a mixture of Gaussians for the priors below (one
    # component per atom / Gaussian slab), and the quantities q, mmse and psi depend on
    # (x0, B) only through B once the Nishimori identity E[x0 m(B)] = E[m(B)^2] is used.
    # Integrating in B with composite Gauss-Legendre (equal pieces plus break points where
    # the denoiser switches) is accurate to ~1e-13 up to Bhat ~ 1e3, where Gauss-Hermite in
    # (x0, xi) loses 4-6 digits for Rademacher / Gauss-Bernoulli priors at Bhat >~ 10.

    def _b_mixture(self, Bhat):
        """``(weights (k,), means grid+(k,), stds grid+(k,))`` of the law of B, or None."""
        return None

    def _b_breakpoints(self, A):
        """Points in B where the denoiser varies sharply, shape A.shape + (j,) (or None)."""
        return None

    def _expect_B(self, g, Bhat, *, n: int = 16, pieces: int = 48):
        Bhat = np.asarray(Bhat, dtype=float)
        check_positive("Bhat", Bhat, owner=type(self).__name__, allow_zero=True)
        w, mu, sd = self._b_mixture(Bhat)
        bps = self._b_breakpoints(Bhat)
        if bps is not None:
            bps = np.broadcast_to(bps[..., None, :], mu.shape + bps.shape[-1:])
        z, wz = composite_legendre_nodes(mu, sd, bps, n, 12.0, pieces)
        B = mu[..., None] + sd[..., None] * z  # grid + (k, nodes)
        vals = g(B, Bhat[..., None, None])
        return np.einsum("...kj,...kj,k->...", vals, wz, w)

    def free_entropy_term(self, Bhat, *, n: int = 80, method: str = "auto") -> np.ndarray:
        """``psi_P(Bhat) = E log Z(B, Bhat)`` over the scalar channel (Zdeborova & Krzakala 2016, eq. (97)).

        ``method="auto"`` integrates over the Gaussian-mixture law of B with composite
        Gauss-Legendre where the prior allows it (accurate to ~1e-12 for Bhat up to ~1e3),
        else Gauss-Hermite in (x0, xi) with ``n`` nodes each (``method="hermite"``).
        """
        Bhat = np.asarray(Bhat, dtype=float)
        if self._use_B(method):
            return self._expect_B(lambda B, bh: self.log_partition(B, bh), Bhat)
        return self.scalar_channel_expect(lambda x0, B: self.log_partition(B, Bhat[..., None, None]), Bhat, n=n)

    def overlap(self, Bhat, *, n: int = 80, method: str = "auto") -> np.ndarray:
        """``E[x0 * E(x|B)]`` over the scalar channel: the Bayes-optimal overlap q(Bhat)
        (computed as ``E[E(x|B)^2]`` by the Nishimori identity with ``method="auto"``)."""
        Bhat = np.asarray(Bhat, dtype=float)
        if self._use_B(method):
            return self._expect_B(lambda B, bh: self.denoise(B, bh)[0] ** 2, Bhat)
        return self.scalar_channel_expect(
            lambda x0, B: x0 * self.denoise(B, Bhat[..., None, None])[0], Bhat, n=n
        )

    def mmse(self, Bhat, *, n: int = 80, method: str = "auto") -> np.ndarray:
        """Scalar MMSE of estimating x0 from the channel with SNR Bhat: ``rho - q(Bhat)``
        (computed as ``E[Var(x|B)]``, free of cancellation, with ``method="auto"``)."""
        Bhat = np.asarray(Bhat, dtype=float)
        if self._use_B(method):
            return self._expect_B(lambda B, bh: self.denoise(B, bh)[1], Bhat)
        return self.second_moment - self.overlap(Bhat, n=n, method="hermite")

    def _use_B(self, method: str) -> bool:
        if method not in ("auto", "hermite", "legendre"):
            raise ValueError(f"method must be 'auto', 'hermite' or 'legendre', got method={method!r}")
        has = self._b_mixture(np.zeros(())) is not None
        if method == "legendre" and not has:
            raise ValueError(f"{type(self).__name__}: no Gaussian-mixture law of B; use method='hermite'")
        return has and method != "hermite"


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


@dataclass(frozen=True)
class Gaussian(Prior):
    """Gaussian prior N(mean, var).

    log Z(B, A) = -1/2 log(1 + A var) + (B + mean/var)^2 / (2 (A + 1/var)) - mean^2 / (2 var).
    """

    mean: float = 0.0
    var: float = 1.0
    name = "gaussian"

    def __post_init__(self):
        check_real("mean", self.mean, owner="Gaussian prior")
        check_positive("var", self.var, owner="Gaussian prior")
        object.__setattr__(self, "mean", float(self.mean))
        object.__setattr__(self, "var", float(self.var))

    @property
    def first_moment(self) -> float:
        return self.mean

    @property
    def second_moment(self) -> float:
        return self.var + self.mean**2

    def sample(self, size, rng=None):
        return self.mean + np.sqrt(self.var) * _rng(rng).standard_normal(size)

    def log_partition(self, B, A):
        B, A = np.asarray(B, float), np.asarray(A, float)
        prec = A + 1.0 / self.var
        h = B + self.mean / self.var
        return -0.5 * np.log1p(A * self.var) + 0.5 * h * h / prec - 0.5 * self.mean**2 / self.var

    def denoise(self, B, A):
        B, A = np.asarray(B, float), np.asarray(A, float)
        prec = A + 1.0 / self.var
        m = (B + self.mean / self.var) / prec
        return m, np.broadcast_to(1.0 / prec, m.shape).copy()

    def _quadrature(self, n):
        z, w = hermite_rule(n)
        return self.mean + np.sqrt(self.var) * z, w

    def _b_mixture(self, Bhat):
        Bhat = np.asarray(Bhat, float)
        return (np.ones(1), (Bhat * self.mean)[..., None],
                np.sqrt(Bhat * Bhat * self.var + Bhat)[..., None])

    def scalar_channel_mixture(self, n: int = 80):
        """One component ``N(mean, var)``: B is exactly Gaussian, any number of nodes is exact."""
        return np.ones(1), np.array([self.mean]), np.array([self.var])

    def exact_mixture(self):
        return np.ones(1), np.array([self.mean]), np.array([self.var])

    def se_overlap(self, Bhat, *, n: int = 80):
        """Closed form ``q = (Bhat (var + mean^2) + mean^2 / var) / (Bhat + 1 / var)``
        (Zdeborova & Krzakala 2016, sec. 4.1); ``n`` is unused."""
        Bhat = np.asarray(Bhat, float)
        mu, v = self.mean, self.var
        return (Bhat * (v + mu * mu) + mu * mu / v) / (Bhat + 1.0 / v)

    def se_mmse(self, Bhat, *, n: int = 80):
        """Closed form ``mmse = var / (1 + Bhat var)``; ``n`` is unused."""
        Bhat = np.asarray(Bhat, float)
        return self.var / (1.0 + Bhat * self.var)

    def se_free_entropy(self, Bhat, *, n: int = 80):
        """Closed form ``psi = (Bhat (var + mean^2) - log(1 + Bhat var)) / 2``; ``n`` is unused."""
        Bhat = np.asarray(Bhat, float)
        mu, v = self.mean, self.var
        return 0.5 * (Bhat * (v + mu * mu) - np.log1p(Bhat * v))

    def information_dimension(self) -> float:
        """1: an absolutely continuous law (Wu & Verdu 2012)."""
        return 1.0


@dataclass(frozen=True)
class Rademacher(Prior):
    """Uniform prior on {-1, +1}: log Z = log cosh(B) - A/2, E x = tanh(B)."""

    name = "rademacher"

    @property
    def first_moment(self) -> float:
        return 0.0

    @property
    def second_moment(self) -> float:
        return 1.0

    def entropy(self) -> float:
        """Shannon entropy of one coordinate, ``log 2`` (nats): the bound of the mutual information
        per variable."""
        return float(np.log(2.0))

    def sample(self, size, rng=None):
        return _rng(rng).choice(np.array([-1.0, 1.0]), size=size)

    def log_partition(self, B, A):
        B, A = np.asarray(B, float), np.asarray(A, float)
        aB = np.abs(B)
        return aB + np.log1p(np.exp(-2.0 * aB)) - np.log(2.0) - 0.5 * A

    def denoise(self, B, A):
        B, A = np.broadcast_arrays(np.asarray(B, float), np.asarray(A, float))
        m = np.tanh(B)
        return m, 1.0 - m * m

    def _quadrature(self, n):
        return np.array([-1.0, 1.0]), np.array([0.5, 0.5])

    def _b_mixture(self, Bhat):
        Bhat = np.asarray(Bhat, float)
        sd = np.sqrt(Bhat)[..., None]
        return np.array([0.5, 0.5]), Bhat[..., None] * np.array([-1.0, 1.0]), np.concatenate([sd, sd], -1)

    def _b_breakpoints(self, A):
        return np.zeros(np.shape(A) + (1,))  # tanh(B) switches at B = 0

    def _switches(self, A):
        return np.zeros(np.shape(A) + (1,))  # tanh(B) switches sign at B = 0

    def exact_mixture(self):
        return np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.zeros(2)

    def information_dimension(self) -> float:
        """0: a discrete law (Wu & Verdu 2012)."""
        return 0.0


@dataclass(frozen=True)
class GaussBernoulli(Prior):
    """Sparse prior (1 - rho) delta_0 + rho N(mean, var)  (Krzakala et al., PRX 2, 021005 (2012)).

    log Z = log[(1 - rho) + rho Z_G(B, A)], with Z_G the Gaussian partition function.
    """

    rho: float
    mean: float = 0.0
    var: float = 1.0
    name = "gauss-bernoulli"
    hermite_inaccurate = True

    def __post_init__(self):
        check_interval("rho", self.rho, 0.0, 1.0, owner="GaussBernoulli prior", closed_lo=False)
        check_real("mean", self.mean, owner="GaussBernoulli prior")
        check_positive("var", self.var, owner="GaussBernoulli prior")
        for k in ("rho", "mean", "var"):
            object.__setattr__(self, k, float(getattr(self, k)))

    @property
    def first_moment(self) -> float:
        return self.rho * self.mean

    @property
    def second_moment(self) -> float:
        return self.rho * (self.var + self.mean**2)

    def sample(self, size, rng=None):
        g = _rng(rng)
        nz = g.random(size) < self.rho
        return np.where(nz, self.mean + np.sqrt(self.var) * g.standard_normal(size), 0.0)

    def _gauss(self):
        return Gaussian(self.mean, self.var)

    def _log_parts(self, B, A):
        lzg = self._gauss().log_partition(B, A)
        if self.rho >= 1.0:
            return np.full_like(lzg, -np.inf), lzg
        return np.full_like(lzg, np.log1p(-self.rho)), np.log(self.rho) + lzg

    def log_partition(self, B, A):
        l0, l1 = self._log_parts(B, A)
        return np.logaddexp(l0, l1)

    def denoise(self, B, A):
        l0, l1 = self._log_parts(B, A)
        pi = np.exp(l1 - np.logaddexp(l0, l1))  # posterior probability of the slab
        mg, vg = self._gauss().denoise(B, A)
        m = pi * mg
        v = pi * (vg + mg * mg) - m * m
        return m, np.maximum(v, 0.0)

    def _quadrature(self, n):
        z, w = hermite_rule(n)
        xs = np.concatenate([[0.0], self.mean + np.sqrt(self.var) * z])
        ws = np.concatenate([[1.0 - self.rho], self.rho * w])
        return xs, ws

    def _b_mixture(self, Bhat):
        Bhat = np.asarray(Bhat, float)
        mu = np.stack([np.zeros_like(Bhat), Bhat * self.mean], -1)
        sd = np.stack([np.sqrt(Bhat), np.sqrt(Bhat * Bhat * self.var + Bhat)], -1)
        return np.array([1.0 - self.rho, self.rho]), mu, sd

    def _b_breakpoints(self, A):
        """Where the posterior weight of the slab switches: (B + mean/var)^2 = K with
        K = 2 (A + 1/var) [log((1-rho)/rho) + log(1 + A var)/2 + mean^2/(2 var)], and a
        ladder of points around them on the scale of the switch, (A + 1/var) / sqrt(K)."""
        A = np.asarray(A, float)
        prec = A + 1.0 / self.var
        K = 2.0 * prec * (np.log((1.0 - self.rho) / self.rho) + 0.5 * np.log1p(A * self.var)
                          + 0.5 * self.mean**2 / self.var) if self.rho < 1 else np.zeros_like(A)
        rootK = np.sqrt(np.maximum(K, 1e-12))
        width = np.minimum(prec / rootK, rootK)
        ladder = np.array([-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0])
        c = -self.mean / self.var
        return np.concatenate([c + rootK[..., None] + width[..., None] * ladder,
                               c - rootK[..., None] + width[..., None] * ladder], -1)

    def _se_through_b_law(self) -> bool:
        # centred slab with a spike: the law of B by composite Legendre (_expect_B)
        return self.mean == 0 and self.rho < 1

    def scalar_channel_nodes(self, n: int = 80):
        """Composite Gauss-Legendre (24 pieces of 8 nodes on ``[-10, 10]``) in the noise and in the
        slab, plus the spike atom: the posterior weight of the slab is a sharp function of B at
        large SNR, which Gauss-Hermite resolves poorly.  ``n`` is unused."""
        u, wu = composite_legendre_nodes(np.zeros(()), np.ones(()), None, 8, 10.0, 24)
        xs = np.concatenate([[0.0], self.mean + np.sqrt(self.var) * u])
        ws = np.concatenate([[1.0 - self.rho], self.rho * wu / wu.sum()])
        return xs, ws, u, wu / wu.sum()

    def se_overlap(self, Bhat, *, n: int = 80):
        """Centred slab (``mean = 0``, ``rho < 1``): :meth:`overlap` through the law of B (composite
        Gauss-Legendre with cuts at the spike/slab switch, 1e-15 vs adaptive quadrature; ``Bhat``
        floored at 1e-300); else the product rule of :meth:`scalar_channel_nodes`."""
        if self._se_through_b_law():
            return self.overlap(np.maximum(np.asarray(Bhat, float), 1e-300))
        return super().se_overlap(Bhat, n=n)

    def se_mmse(self, Bhat, *, n: int = 80):
        """Centred slab: :meth:`mmse` (mean posterior variance) through the law of B, as in
        :meth:`se_overlap`; else ``rho - q``."""
        if self._se_through_b_law():
            return self.mmse(np.maximum(np.asarray(Bhat, float), 1e-300))
        return super().se_mmse(Bhat, n=n)

    def se_free_entropy(self, Bhat, *, n: int = 80):
        """Centred slab: :meth:`free_entropy_term` through the law of B, as in :meth:`se_overlap`;
        else the product rule of :meth:`scalar_channel_nodes`."""
        if self._se_through_b_law():
            return self.free_entropy_term(np.maximum(np.asarray(Bhat, float), 1e-300))
        return super().se_free_entropy(Bhat, n=n)

    def exact_mixture(self):
        if self.rho >= 1:
            return np.ones(1), np.array([self.mean]), np.array([self.var])
        return np.array([1.0 - self.rho, self.rho]), np.array([0.0, self.mean]), np.array([0.0, self.var])

    def information_dimension(self) -> float:
        """``rho``, the weight of the absolutely continuous slab (Wu & Verdu 2012)."""
        return float(self.rho)


@dataclass(frozen=True)
class SparseRademacher(Prior):
    """Sparse (Bernoulli-)Rademacher prior (1 - rho) delta_0 + rho/2 (delta_{-1} + delta_{+1})
    (Lesieur, Krzakala & Zdeborova, J. Stat. Mech. (2017) 073403, sec. "sparse PCA").

    ``rho`` is the fraction of non-zeros (as for :class:`GaussBernoulli`); ``E x^2 = rho``.
    log Z(B, A) = log[(1 - rho) + rho cosh(B) exp(-A/2)].
    """

    rho: float
    name = "sparse-rademacher"

    def __post_init__(self):
        check_interval("rho", self.rho, 0.0, 1.0, owner="SparseRademacher prior", closed_lo=False)
        object.__setattr__(self, "rho", float(self.rho))

    @property
    def first_moment(self) -> float:
        return 0.0

    @property
    def second_moment(self) -> float:
        return self.rho

    def entropy(self) -> float:
        """Shannon entropy of one coordinate (nats): ``h(rho) + rho log 2``, the bound of the mutual
        information per variable."""
        r = self.rho
        h = -(1 - r) * np.log1p(-r) - r * np.log(r) if r < 1 else 0.0
        return float(h + r * np.log(2.0))

    def sample(self, size, rng=None):
        g = _rng(rng)
        nz = g.random(size) < self.rho
        return np.where(nz, g.choice(np.array([-1.0, 1.0]), size=size), 0.0)

    def _log_parts(self, B, A):
        B, A = np.broadcast_arrays(np.asarray(B, float), np.asarray(A, float))
        aB = np.abs(B)
        logcosh = aB + np.log1p(np.exp(-2.0 * aB)) - np.log(2.0)
        l1 = np.log(self.rho) + logcosh - 0.5 * A
        if self.rho >= 1.0:
            return np.full_like(l1, -np.inf), l1
        return np.full_like(l1, np.log1p(-self.rho)), l1

    def log_partition(self, B, A):
        l0, l1 = self._log_parts(B, A)
        return np.logaddexp(l0, l1)

    def denoise(self, B, A):
        l0, l1 = self._log_parts(B, A)
        pi = np.exp(l1 - np.logaddexp(l0, l1))  # posterior probability of a non-zero
        m = pi * np.tanh(np.asarray(B, float))
        return m, np.maximum(pi - m * m, 0.0)

    def _quadrature(self, n):
        return np.array([0.0, -1.0, 1.0]), np.array([1.0 - self.rho, 0.5 * self.rho, 0.5 * self.rho])

    def exact_mixture(self):
        return np.array([1.0 - self.rho, 0.5 * self.rho, 0.5 * self.rho]), np.array([0.0, -1.0, 1.0]), np.zeros(3)

    def _switches(self, A):
        """B = 0 (the sign) and ``|B| = s`` where ``rho cosh(s) e^{-A/2} = 1 - rho`` (the posterior
        weight of the non-zero atoms crosses 1/2; 0 where there is no such s)."""
        A = np.asarray(A, float)
        c = np.log((1.0 - self.rho) / self.rho) + 0.5 * A if self.rho < 1 else np.full(A.shape, -np.inf)
        sw = np.where(c > 0, np.arccosh(np.exp(np.clip(c, 0.0, 700.0))), 0.0)
        return np.stack([-sw, np.zeros_like(A), sw], -1)

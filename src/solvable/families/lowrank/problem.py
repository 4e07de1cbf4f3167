"""Low-rank (spiked) matrix estimation problems: spiked Wigner and spiked Wishart.

Conventions (docs/conventions.md, "Spiked matrix models"):

- ``SpikedWigner(prior, snr, profile=None)``: ``Y = sqrt(snr / n) x x^T + W`` with ``x_i`` i.i.d.
  from ``prior`` and ``W`` symmetric Gaussian, off-diagonal variance 1 and diagonal variance 2
  (GOE scaled so that the spectrum of ``W / sqrt(n)`` fills ``[-2, 2]``).  With a ``profile``
  the noise entry ``W_ij`` has variance ``Delta_{g(i) g(j)}`` (block-constant), the
  inhomogeneous model of Guionnet, Ko, Krzakala & Zdeborova (2022).
- ``SpikedWishart(prior_u, prior_v, snr, ratio)``: ``Y = sqrt(snr / n) u v^T + W`` with ``Y`` of
  shape ``(n, m)``, ``ratio = m / n``, ``u_i`` i.i.d. from ``prior_u``, ``v_j`` from ``prior_v`` and
  ``W`` i.i.d. N(0, 1) (Miolane, arXiv:1702.00473, eq. (1), ``alpha = ratio``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.core.contract import Problem
from solvable.core.validate import as_param, check_positive
from solvable.blocks.priors import Prior

__all__ = ["NoiseProfile", "SpikedWigner", "SpikedWishart"]


@dataclass(frozen=True, eq=False)
class NoiseProfile:
    """Block-constant noise variance profile of an inhomogeneous spiked Wigner model.

    ``variances`` is a symmetric ``q x q`` matrix ``Delta_ab > 0`` (the variance of ``W_ij`` when
    ``i`` is in block ``a`` and ``j`` in block ``b``); ``fractions`` gives the block sizes
    ``c_a = |block a| / n`` (positive, summing to 1).  Guionnet, Ko, Krzakala & Zdeborova,
    arXiv:2302.06665, eq. (1.1); Mergny, Ko & Krzakala, ICML 2024 (arXiv:2403.03695).
    """

    variances: Any
    fractions: Any

    def __post_init__(self):
        try:
            D = np.array(self.variances, dtype=float)
            c = np.array(self.fractions, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(
                f"NoiseProfile: variances and fractions must be numeric arrays, got "
                f"variances={self.variances!r}, fractions={self.fractions!r}"
            ) from None
        if D.ndim == 0:
            D = D.reshape(1, 1)
        c = np.atleast_1d(c)
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise ValueError(f"NoiseProfile: variances must be a square q x q matrix, got shape {D.shape}")
        if c.ndim != 1 or c.shape[0] != D.shape[0]:
            raise ValueError(
                f"NoiseProfile: fractions must be a vector of length q={D.shape[0]}, got fractions={self.fractions!r}"
            )
        if not np.all(np.isfinite(D)) or np.any(D <= 0):
            raise ValueError(f"NoiseProfile: variances must be finite and > 0, got variances={D.tolist()!r}")
        if not np.allclose(D, D.T, rtol=1e-12, atol=1e-12):
            raise ValueError(f"NoiseProfile: variances must be symmetric, got variances={D.tolist()!r}")
        if not np.all(np.isfinite(c)) or np.any(c <= 0):
            raise ValueError(f"NoiseProfile: fractions must be > 0, got fractions={c.tolist()!r}")
        if abs(c.sum() - 1.0) > 1e-8:
            raise ValueError(f"NoiseProfile: fractions must sum to 1, got fractions={c.tolist()!r} (sum {c.sum()!r})")
        D = 0.5 * (D + D.T)
        D.setflags(write=False)
        c = c.copy()
        c.setflags(write=False)
        object.__setattr__(self, "variances", D)
        object.__setattr__(self, "fractions", c)

    @classmethod
    def homogeneous(cls, variance: float = 1.0) -> "NoiseProfile":
        """One block of variance ``variance``."""
        return cls([[variance]], [1.0])

    @property
    def n_blocks(self) -> int:
        return int(self.fractions.shape[0])

    @property
    def is_homogeneous(self) -> bool:
        """True when every block has variance 1 (the plain spiked Wigner model)."""
        return bool(np.allclose(self.variances, 1.0))

    @property
    def snr_matrix(self) -> np.ndarray:
        """``M_ab = c_b / Delta_ab``: the linearised state evolution is ``m_a <- snr rho^2 sum_b M_ab m_b``
        (Guionnet et al. 2022, eq. (2.6); Mergny et al. 2024, the matrix of eq. (1.4))."""
        return self.fractions[None, :] / self.variances

    @property
    def top_eigenvalue(self) -> float:
        """``lambda_max(M)``, computed on the symmetric form ``diag(sqrt c) Delta^{-1} diag(sqrt c)``.

        The weak-recovery (AMP / spectral) threshold of a zero-mean prior is
        ``snr rho^2 lambda_max = 1`` (Mergny, Ko & Krzakala 2024, Theorem 2.3)."""
        s = np.sqrt(self.fractions)
        S = s[:, None] * s[None, :] / self.variances
        return float(np.linalg.eigvalsh(S)[-1])

    def groups(self, n: int) -> np.ndarray:
        """Block label of each of ``n`` indices: contiguous blocks of sizes ``round(c_a n)``."""
        bounds = np.round(np.cumsum(self.fractions) * n).astype(int)
        bounds[-1] = n
        labels = np.searchsorted(bounds, np.arange(n), side="right")
        return labels.astype(int)

    def __eq__(self, other):
        return (
            isinstance(other, NoiseProfile)
            and np.array_equal(self.variances, other.variances)
            and np.array_equal(self.fractions, other.fractions)
        )

    __hash__ = None


def _as_profile(profile) -> NoiseProfile | None:
    if profile is None or isinstance(profile, NoiseProfile):
        return profile
    if isinstance(profile, dict):
        keys = set(profile)
        if keys != {"variances", "fractions"}:
            raise ValueError(
                f"SpikedWigner: a profile dict needs exactly the keys 'variances' and 'fractions', got {sorted(keys)}"
            )
        return NoiseProfile(profile["variances"], profile["fractions"])
    raise ValueError(
        f"SpikedWigner: profile must be None, a NoiseProfile or a dict(variances=..., fractions=...), got {profile!r}"
    )


@dataclass(frozen=True, eq=False)
class SpikedWigner(Problem):
    """Symmetric rank-one spiked matrix: ``Y = sqrt(snr / n) x x^T + W`` (see the module docstring).

    ``snr`` may be a scalar or a 1D array (a curve).  ``profile`` (a :class:`NoiseProfile` or a
    dict with ``variances`` and ``fractions``) makes the noise block-inhomogeneous:
    ``Var W_ij = Delta_{g(i) g(j)}``.
    """

    prior: Prior
    snr: Any = 1.0
    profile: Any = None

    curve_params = ("snr",)

    def __post_init__(self):
        if not isinstance(self.prior, Prior):
            raise ValueError(f"SpikedWigner: prior must be a solvable.priors.Prior, got prior={self.prior!r}")
        check_positive("snr", self.snr, owner="SpikedWigner")
        if np.ndim(self.snr) > 1:
            raise ValueError(f"SpikedWigner: snr must be a scalar or a 1D array, got shape {np.shape(self.snr)}")
        object.__setattr__(self, "snr", as_param(self.snr))
        object.__setattr__(self, "profile", _as_profile(self.profile))

    @property
    def rho(self) -> float:
        """rho = E x_i^2 = |x|^2 / n."""
        return self.prior.second_moment

    @property
    def noise_profile(self) -> NoiseProfile:
        """The profile, or the homogeneous one-block profile when ``profile`` is None."""
        return self.profile if self.profile is not None else NoiseProfile.homogeneous()


@dataclass(frozen=True, eq=False)
class SpikedWishart(Problem):
    """Rectangular rank-one spiked matrix: ``Y = sqrt(snr / n) u v^T + W``, ``Y`` of shape ``(n, m)``,
    ``ratio = m / n``, ``u ~ prior_u`` (n coordinates), ``v ~ prior_v`` (m coordinates), ``W_ij ~ N(0, 1)``.

    With ``prior_v = Gaussian()`` the columns of ``Y`` are ``m`` samples of the spiked covariance
    model ``N(0, I_n + (snr / n) u u^T)`` (Johnstone's model, with ``n`` the dimension).
    ``snr`` may be a scalar or a 1D array.
    """

    prior_u: Prior
    prior_v: Prior
    snr: Any = 1.0
    ratio: float = 1.0

    curve_params = ("snr",)

    def __post_init__(self):
        for name in ("prior_u", "prior_v"):
            p = getattr(self, name)
            if not isinstance(p, Prior):
                raise ValueError(f"SpikedWishart: {name} must be a solvable.priors.Prior, got {name}={p!r}")
        check_positive("snr", self.snr, owner="SpikedWishart")
        if np.ndim(self.snr) > 1:
            raise ValueError(f"SpikedWishart: snr must be a scalar or a 1D array, got shape {np.shape(self.snr)}")
        check_positive("ratio", self.ratio, owner="SpikedWishart")
        if np.ndim(self.ratio) != 0:
            raise ValueError(f"SpikedWishart: ratio must be a scalar, got ratio={self.ratio!r}")
        object.__setattr__(self, "snr", as_param(self.snr))
        object.__setattr__(self, "ratio", float(self.ratio))

    @property
    def rho_u(self) -> float:
        return self.prior_u.second_moment

    @property
    def rho_v(self) -> float:
        return self.prior_v.second_moment



"""Gaussian mixtures: K clusters of Gaussian inputs with their own means and covariances.

Convention (Loureiro, Sicuro, Gerbelot, Pacco, Krzakala, Zdeborova, NeurIPS 2021, sec. 2):
a sample of cluster ``k`` (probability ``weights[k]``) is

    x = mu_k + Sigma_k^{1/2} z,     z ~ N(0, I_d),

with means of norm O(1) (``|mu_k|`` is the cluster's distance from the origin, e.g. means
``+-mu`` with ``|mu| = s``) and covariances of O(1) eigenvalues, so that a student's
pre-activation ``w . x / sqrt(d) + b`` (weights ``w_i = O(1)``) has, in cluster ``k``, mean
``m_k + b`` with ``m_k = w . mu_k / sqrt(d)`` and variance ``q_k = w^T Sigma_k w / d``.

Three ways to give the covariances:

* ``None`` (identity) or one number per cluster (``Sigma_k = s_k I``): the theory depends on
  the means through their Gram matrix only (:meth:`Mixture.from_gram` builds a mixture from it);
* ``(K, p)`` arrays of eigenvalues in a common eigenbasis (commuting covariances), the means
  given by their ``p`` coordinates in that basis;
* ``(K, p, p)`` matrices (need not commute): the theory is then the deterministic equivalent at
  dimension ``p``, and simulations run at ``d = p``.

``labels``: for binary classification, the label (+1 or -1) of each cluster (default for
K = 2: cluster 0 is +1, cluster 1 is -1; several clusters may share a label, e.g. an XOR
mixture of four clusters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.blocks.data.spectra import _profile
from solvable.core.contract import fields_equal

__all__ = ["Mixture"]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, float)
    a.setflags(write=False)
    return a


def _profiles(values: np.ndarray, d: int) -> np.ndarray:
    """Resample the rows of ``values`` (profiles on a uniform grid of [0, 1]) to length d."""
    return np.stack([_profile(row, d) for row in np.asarray(values, float)])


@dataclass(frozen=True, eq=False)
class Mixture:
    """A mixture of K Gaussian clusters (see the module docstring for the conventions).

    ``means``: (K, p) array (``p`` any dimension: the coordinates of the means, padded with zeros
    in a simulation at ``d > p`` when the covariances are scalar).  ``covariances``: None, K
    numbers, a (K, p) array of eigenvalues or (K, p, p) matrices.  ``weights``: K positive
    numbers summing to one (default uniform).  ``labels``: the +-1 label of each cluster for
    binary classification (default (+1, -1) when K = 2).
    """

    means: Any
    covariances: Any = None
    weights: Any = None
    labels: Any = None

    def __post_init__(self):
        mu = np.asarray(self.means, float) if np.size(self.means) else np.zeros((0, 0))
        if mu.ndim == 1:
            mu = mu[:, None]
        if mu.ndim != 2 or mu.shape[0] < 1 or mu.shape[1] < 1:
            raise ValueError(f"Mixture: means must be a (K, p) array with K >= 1, got shape {np.shape(self.means)}")
        if not np.all(np.isfinite(mu)):
            raise ValueError(f"Mixture: means must be finite, got means={self.means!r}")
        K, p = mu.shape
        cov = self.covariances
        if cov is None:
            kind, cov = "scalar", np.ones(K)
        else:
            cov = np.asarray(cov, float)
            if cov.ndim == 0:
                cov = np.full(K, float(cov))
            if not np.all(np.isfinite(cov)):
                raise ValueError(f"Mixture: covariances must be finite, got covariances={self.covariances!r}")
            if cov.shape == (K,):
                kind = "scalar"
                if np.any(cov <= 0):
                    raise ValueError(f"Mixture: the cluster variances must be > 0, got covariances={cov.tolist()}")
            elif cov.shape == (K, p):
                kind = "diagonal"
                if np.any(cov < 0):
                    k, j = np.argwhere(cov < 0)[0]
                    raise ValueError(f"Mixture: covariance {k} is not positive semi-definite (eigenvalue "
                                     f"{float(cov[k, j])!r} at coordinate {int(j)})")
                if np.any(cov.mean(axis=1) <= 0):
                    raise ValueError("Mixture: a covariance is identically zero")
            elif cov.shape == (K, p, p):
                kind = "full"
                if not np.allclose(cov, np.swapaxes(cov, 1, 2), rtol=1e-12, atol=1e-12 * np.abs(cov).max()):
                    raise ValueError("Mixture: the covariance matrices must be symmetric")
                for k in range(K):
                    ev = np.linalg.eigvalsh(cov[k])
                    if ev[0] < -1e-10 * max(ev[-1], 1e-300):
                        raise ValueError(f"Mixture: covariance {k} is not positive semi-definite (smallest "
                                         f"eigenvalue {ev[0]:.3g})")
                cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
            else:
                raise ValueError(f"Mixture: covariances must be None, K = {K} numbers, a (K, p) = ({K}, {p}) "
                                 f"array of eigenvalues or (K, p, p) matrices, got shape {cov.shape}")
        if self.weights is None:
            wt = np.full(K, 1.0 / K)
        else:
            wt = np.atleast_1d(np.asarray(self.weights, float))
            if wt.shape != (K,) or not np.all(np.isfinite(wt)) or np.any(wt <= 0):
                raise ValueError(f"Mixture: weights must be {K} positive numbers, got weights={self.weights!r}")
            if abs(wt.sum() - 1.0) > 1e-10:
                raise ValueError(f"Mixture: weights must sum to one, got sum {wt.sum()!r} (weights={wt.tolist()})")
        if self.labels is None:
            lab = np.array([1.0, -1.0]) if K == 2 else None
        else:
            lab = np.atleast_1d(np.asarray(self.labels, float))
            if lab.shape != (K,) or not np.all(np.abs(lab) == 1):
                raise ValueError(f"Mixture: labels must be K = {K} values in {{+1, -1}}, got labels={self.labels!r}")
        object.__setattr__(self, "means", _frozen(mu))
        object.__setattr__(self, "covariances", _frozen(cov))
        object.__setattr__(self, "weights", _frozen(wt))
        object.__setattr__(self, "labels", None if lab is None else _frozen(lab))
        object.__setattr__(self, "_kind", kind)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_gram(cls, gram, covariances=None, weights=None, labels=None) -> "Mixture":
        """A mixture given by the Gram matrix ``G_kl = mu_k . mu_l`` of its means (scalar
        covariances: ``None`` or one variance per cluster), the means realised in K coordinates."""
        G = np.atleast_2d(np.asarray(gram, float))
        if G.ndim != 2 or G.shape[0] != G.shape[1] or not np.all(np.isfinite(G)):
            raise ValueError(f"Mixture.from_gram: gram must be a finite square matrix, got gram={gram!r}")
        if not np.allclose(G, G.T, atol=1e-12 * max(1.0, np.abs(G).max())):
            raise ValueError("Mixture.from_gram: gram must be symmetric")
        ev, U = np.linalg.eigh(G)
        if ev[0] < -1e-10 * max(1.0, ev[-1]):
            raise ValueError(f"Mixture.from_gram: gram is not positive semi-definite (eigenvalue {ev[0]:.3g})")
        if covariances is not None and np.ndim(covariances) > 1:
            raise ValueError("Mixture.from_gram: covariances must be None or one variance per cluster")
        return cls(U * np.sqrt(np.maximum(ev, 0.0)), covariances, weights, labels)

    @classmethod
    def symmetric(cls, separation: float, covariance=None, weight: float = 0.5) -> "Mixture":
        """Two clusters ``+-mu`` with ``|mu| = separation`` (labels +1, -1), weight of the +1 cluster
        ``weight``; ``covariance`` None, a variance, or a (p,) spectrum shared by both (``mu`` is
        then along the first coordinate)."""
        if not (np.isfinite(separation) and separation >= 0):
            raise ValueError(f"Mixture.symmetric: separation must be finite and >= 0, got {separation!r}")
        if covariance is None or np.ndim(covariance) == 0:
            mu = np.array([[separation], [-separation]])
            cov = None if covariance is None else np.full(2, float(covariance))
        else:
            ev = np.asarray(covariance, float)
            mu = np.zeros((2, ev.size))
            mu[0, 0], mu[1, 0] = separation, -separation
            cov = np.stack([ev, ev])
        return cls(mu, cov, [weight, 1.0 - weight])

    # ------------------------------------------------------------------ structure
    @property
    def K(self) -> int:
        """The number of clusters."""
        return self.means.shape[0]

    @property
    def p(self) -> int:
        """The dimension in which the means (and diagonal / full covariances) are given."""
        return self.means.shape[1]

    @property
    def kind(self) -> str:
        """"scalar" (Sigma_k = s_k I), "diagonal" (commuting) or "full"."""
        return self._kind

    @property
    def gram(self) -> np.ndarray:
        """``G_kl = mu_k . mu_l``."""
        return self.means @ self.means.T

    @property
    def shared_covariance(self) -> bool:
        """Whether every cluster has the same covariance."""
        c = self.covariances
        return bool(np.all(c == c[0]))

    @property
    def is_binary(self) -> bool:
        """Whether the clusters carry +-1 labels (binary classification)."""
        return self.labels is not None

    def diagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Scalar and diagonal kinds as ``(S, Mu)``: eigenvalues (K, p') and the means' coordinates
        (K, p') in the common eigenbasis (scalar covariances: ``p' = p``, constant rows)."""
        if self.kind == "full":
            raise ValueError("Mixture.diagonal: the covariances are full matrices")
        S = self.covariances[:, None] * np.ones(self.p) if self.kind == "scalar" else self.covariances
        return S, self.means

    def mean_covariance(self) -> np.ndarray:
        """``sum_k weights_k Sigma_k``: its (p,) eigenvalues for scalar / diagonal covariances, the
        (p, p) matrix for full ones."""
        if self.kind == "full":
            return np.einsum("k,kij->ij", self.weights, self.covariances)
        S, _ = self.diagonal()
        return self.weights @ S

    # ------------------------------------------------------------------ sampling
    def embed(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """Means (K, d) and covariance factors for a simulation at dimension ``d``: (K, d)
        standard deviations (scalar / diagonal) or (K, d, d) square roots (full)."""
        K, p = self.means.shape
        if self.kind == "scalar":
            if d < p:
                raise ValueError(f"Mixture: the means are given in p = {p} dimensions; simulate at d >= {p}, got d={d}")
            mu = np.zeros((K, d))
            mu[:, :p] = self.means
            return mu, np.sqrt(self.covariances)[:, None] * np.ones(d)
        if self.kind == "diagonal":
            if d == p:
                return self.means.copy(), np.sqrt(self.covariances)
            # profiles over [0, 1] resampled to d, the means rescaled to keep their norms
            return _profiles(self.means, d) * np.sqrt(p / d), np.sqrt(_profiles(self.covariances, d))
        if d != p:
            raise ValueError(f"Mixture: full covariance matrices are given at p = {p}; simulate at d = {p}, got d={d}")
        roots = []
        for C in self.covariances:
            ev, U = np.linalg.eigh(C)
            roots.append((U * np.sqrt(np.maximum(ev, 0.0))) @ U.T)
        return self.means.copy(), np.stack(roots)

    def sample(self, n: int, d: int, rng: np.random.Generator):
        """``n`` samples at dimension ``d``: ``(X, clusters, (means, factors))`` with X of shape
        (n, d), the cluster index of each row, and the embedded means / covariance factors."""
        mu, fac = self.embed(d)
        c = rng.choice(self.K, size=n, p=self.weights)
        Z = rng.standard_normal((n, d))
        if fac.ndim == 2:
            X = mu[c] + Z * fac[c]
        else:
            X = mu[c].copy()
            for k in range(self.K):
                sel = c == k
                X[sel] += Z[sel] @ fac[k]
        return X, c, (mu, fac)

    def __eq__(self, other):
        if not isinstance(other, Mixture):
            return NotImplemented
        return fields_equal(self, other)

    __hash__ = None

    def __repr__(self):
        return (f"Mixture(K={self.K}, p={self.p}, kind={self.kind!r}, weights={np.round(self.weights, 4).tolist()}, "
                f"labels={None if self.labels is None else self.labels.astype(int).tolist()})")

"""Exact asymptotics of multi-class ERM on Gaussian mixtures (K classes = the cluster index).

Model (Loureiro, Sicuro, Gerbelot, Pacco, Krzakala, Zdeborova, NeurIPS 2021, "Learning Gaussian
mixtures with generalised linear models", sec. 2 and Thm. 1 for K clusters): ``x = mu_k +
Sigma_k^{1/2} z`` in cluster ``k`` (weight ``rho_k``), label ``y = e_k`` (one-hot); ERM minimises
``sum_i loss(y_i, W x_i / sqrt(d) + b) + lam |W|_F^2 / 2`` over ``W`` (K x d) and ``b`` (K,
unpenalised when ``bias=True``), ``n = alpha d``.

Losses (K-dimensional, in this module, usable by name in ``ERM``):

* ``"cross_entropy"`` (softmax / multinomial logistic), ``logsumexp(z) - z_k``.  It is invariant
  under ``z -> z + t 1``: the L2 penalty makes ``1^T W = 0``, and the bias is reported with
  ``sum_j b_j = 0``.  The equations are written in the ``D = K - 1`` coordinates
  ``z~ = P^T z`` (``P`` an orthonormal basis of ``1^perp``), where the loss is strictly convex.
* ``"square"`` / ``"multiclass_square"``: ``|e_k - z|^2 / 2`` on one-hot labels (``D = K``).
* ``"multiclass_hinge"``: the one-vs-rest sum of hinges ``sum_j max(0, 1 - y~_j z_j)`` with
  ``y~_j = +1`` for the true class and ``-1`` otherwise (Rifkin & Klautau, JMLR 2004, "In defense
  of one-vs-all classification"; Vapnik 1998, sec. 10.10).  Its ERM decouples into K binary
  hinge problems on the same data; the theory still couples them through the overlaps
  ``Q_k[i, j]`` of different rows of ``W``, which set the argmax test error.

Order parameters, per cluster ``k``, in the ``D`` loss coordinates: ``m_k = W mu_k / sqrt(d)``
(D), ``Q_k = W Sigma_k W^T / d`` (D x D), ``V_k`` (D x D), and ``b`` (D).  With ``omega = m_k + b +
Q_k^{1/2} xi`` (``xi ~ N(0, I_D)``), the proximal operator ``prox(omega) = argmin_z loss(e_k, z) +
(z - omega)^T V_k^{-1} (z - omega) / 2`` and ``f = V_k^{-1} (prox - omega) = -grad loss(prox)``,
the saddle point (Loureiro et al. 2021, Thm. 1, eqs. (11)-(13) in matrix form) is

    mhat_k = alpha rho_k E[f],   Qhat_k = alpha rho_k E[f f^T],   Vhat_k = -alpha rho_k E[d f / d omega],
    sum_k rho_k E[f] = 0                                   (the bias is optimal),

and, for commuting covariances (eigenvalues ``S_ki`` in a common basis, means' coordinates
``mu_ki``), per direction ``i``: ``A_i = lam I_D + sum_k S_ki Vhat_k``, ``r_i = A_i^{-1} sum_k
mhat_k mu_ki``,

    m_k = sum_i mu_ki r_i,   V_k = < S_ki A_i^{-1} >_i,
    Q_k = sum_i S_ki r_i r_i^T + < S_ki A_i^{-1} (sum_l S_li Qhat_l) A_i^{-1} >_i

(``<.>_i`` the average over the ``d`` directions; full covariance matrices: the same with
``A = lam I + sum_k Vhat_k (x) Sigma_k`` of size Dp).  For K = 1 output these are the binary
equations of :mod:`solvable.families.mixtures.equations`.

Metrics (exact given the order parameters): the test error of cluster ``k`` is ``1 - P(argmax_j
h_j = k)``, ``h ~ N(m_k + b, Q_k)`` in the K class coordinates, a (K-1)-dimensional Gaussian
orthant probability (:func:`argmax_probability`, also used by the simulation); training loss
``E loss(e_k, prox)``; training error ``P(argmax prox != k)``.

Numerics: square loss in closed form (its prox is linear); cross-entropy by a tensor
Gauss-Hermite rule in ``D`` dimensions after the symmetric square root of ``Q_k`` (``n_nodes``
per dimension; spectral convergence, the prox is analytic), the prox by a batched Newton
iteration with backtracking in D dimensions; the one-vs-rest hinge in closed form (its prox is
piecewise linear per coordinate) except the cross moments ``E f_i f_j``, a composite
Gauss-Legendre rule in ``omega_i`` split at the kinks times the closed-form conditional
expectation of ``f_j``.  All points of a curve are iterated at once (Anderson-accelerated).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, ndtr, softmax

from solvable.blocks.losses import Loss, register_loss
from solvable.core.contract import SaddlePoint
from solvable.families.mixtures.equations import MixtureERM, MixtureERMOptions
from solvable.families.mixtures.separability import (MAX_K, DegenerateCapacity, capacity_update,
                                                      separability_fixed_point)
from solvable.numerics.gauss import composite_legendre_nodes, hermite_rule, legendre_rule
from solvable.numerics.special import norm_pdf

__all__ = ["CrossEntropy", "MulticlassSquare", "MulticlassHinge", "MulticlassMixtureERM",
           "MulticlassMixtureERMOptions", "argmax_probability", "class_errors", "multiclass_loss", "is_multiclass",
           "multiclass_fields", "check_multiclass", "multiclass_bayes_error",
           "multiclass_separability_threshold"]

#: the largest K of the one-vs-rest hinge: its training error at K >= 5 is a 12^K-node tensor rule
#: (K = 6: 5.5 s a point; K = 7 would need 17.6 million nodes, several GiB)
MAX_HINGE_K = 6


def _onehot(c, K):
    return np.eye(K)[np.asarray(c, int)]


# --------------------------------------------------------------------------- K-class losses
class MulticlassLoss(Loss):
    """A loss of K-class scores ``z`` (last axis) and a class index ``c``: ``value(c, z)``."""

    is_classification = True
    is_multiclass = True

    def basis(self, K: int) -> np.ndarray:
        """The (K, D) orthonormal basis of the coordinates the loss depends on."""
        return np.eye(K)


@dataclass(frozen=True)
class CrossEntropy(MulticlassLoss):
    """``logsumexp(z) - z_c`` (softmax cross-entropy, multinomial logistic regression)."""

    name = "cross_entropy"

    def value(self, c, z):
        z = np.asarray(z, float)
        return logsumexp(z, axis=-1) - np.take_along_axis(z, np.asarray(c, int)[..., None], -1)[..., 0]

    def grad(self, c, z):
        z = np.asarray(z, float)
        return softmax(z, axis=-1) - _onehot(c, z.shape[-1])

    def basis(self, K):
        # orthonormal basis of the sum-zero subspace (Helmert contrasts)
        P = np.zeros((K, K - 1))
        for j in range(1, K):
            P[:j, j - 1] = 1.0
            P[j, j - 1] = -j
            P[:, j - 1] /= np.sqrt(j * (j + 1))
        return P


@dataclass(frozen=True)
class MulticlassSquare(MulticlassLoss):
    """``|e_c - z|^2 / 2`` (square loss on one-hot labels)."""

    name = "multiclass_square"

    def value(self, c, z):
        z = np.asarray(z, float)
        return 0.5 * np.sum((_onehot(c, z.shape[-1]) - z) ** 2, axis=-1)

    def grad(self, c, z):
        z = np.asarray(z, float)
        return z - _onehot(c, z.shape[-1])


@dataclass(frozen=True)
class MulticlassHinge(MulticlassLoss):
    """One-vs-rest hinge ``sum_j max(0, 1 - y~_j z_j)``, ``y~_j = +1`` if ``j = c`` else ``-1``
    (Rifkin & Klautau, JMLR 2004)."""

    name = "multiclass_hinge"
    smooth = False

    def value(self, c, z):
        z = np.asarray(z, float)
        yt = 2 * _onehot(c, z.shape[-1]) - 1
        return np.sum(np.maximum(0.0, 1.0 - yt * z), axis=-1)

    def grad(self, c, z):
        z = np.asarray(z, float)
        yt = 2 * _onehot(c, z.shape[-1]) - 1
        return np.where(yt * z < 1.0, -yt, 0.0)


register_loss(CrossEntropy, "cross_entropy", "softmax", "multinomial")
register_loss(MulticlassSquare, "multiclass_square", "onehot_square")
register_loss(MulticlassHinge, "multiclass_hinge", "ovr_hinge")


def is_multiclass(loss) -> bool:
    return bool(getattr(loss, "is_multiclass", False))


def multiclass_loss(loss, K: int):
    """The K-class loss ERM uses on a K-class problem: a multi-class loss itself, the square
    loss on one-hot labels for ``square``; a ValueError for a binary-only loss."""
    if is_multiclass(loss):
        return loss
    if getattr(loss, "is_square", False):
        return MulticlassSquare()
    raise ValueError(f"GaussianMixture ERM: the {getattr(loss, 'name', loss)!r} loss is for binary (+-1) labels, and "
                     f"this problem has K = {K} classes; use 'cross_entropy', 'square' (one-hot) or 'multiclass_hinge'")


# --------------------------------------------------------------------------- Gaussian orthants
def _orthant(mu, C, n_nodes=12, width=12.0):
    """``P(delta > 0)`` for ``delta ~ N(mu, C)`` (batched: mu (B, n), C (B, n, n)), by sequential
    conditioning on the first coordinate: a composite Gauss-Legendre rule in its standardised
    variable on ``[lo, width]`` (``lo`` where it turns positive), cut where each remaining
    coordinate's conditional mean crosses 0 (at a few of its conditional widths), times the
    orthant probability of the rest given it (recursively; closed form in one dimension)."""
    B, n = mu.shape
    s1 = np.sqrt(np.maximum(C[:, 0, 0], 1e-300))
    if n == 1:
        return ndtr(mu[:, 0] / s1)
    lo = np.clip(-mu[:, 0] / s1, -width, width)
    beta = C[:, 1:, 0] / s1[:, None]  # conditional mean of the rest: mu_r + beta z
    Cr = C[:, 1:, 1:] - beta[:, :, None] * beta[:, None, :]
    sr = np.sqrt(np.maximum(np.diagonal(Cr, axis1=1, axis2=2), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        zc = -mu[:, 1:] / beta
        wd = sr / np.abs(beta)
    cuts = [lo[:, None] + (width - lo[:, None]) * np.linspace(0, 1, 13)[None, 1:-1]]
    for a in (-8.0, -3.0, -1.0, 0.0, 1.0, 3.0, 8.0):
        c = zc + a * wd
        cuts.append(np.where(np.isfinite(c), c, lo[:, None]))
    cuts = np.clip(np.concatenate(cuts, axis=1), lo[:, None], width)
    edges = np.sort(np.concatenate([lo[:, None], cuts, np.full((B, 1), width)], axis=1), axis=1)
    x, w = legendre_rule(n_nodes)
    a, b = edges[:, :-1], edges[:, 1:]
    z = (0.5 * (a + b))[..., None] + (0.5 * (b - a))[..., None] * x  # (B, P, n_nodes)
    wz = (0.5 * (b - a))[..., None] * w * norm_pdf(z)
    z, wz = z.reshape(B, -1), wz.reshape(B, -1)
    M = z.shape[1]
    mr = mu[:, None, 1:] + beta[:, None, :] * z[..., None]  # (B, M, n-1)
    Crr = np.broadcast_to(Cr[:, None], (B, M, n - 1, n - 1)).reshape(B * M, n - 1, n - 1)
    inner = _orthant(mr.reshape(B * M, n - 1), Crr, n_nodes, width).reshape(B, M)
    return np.sum(wz * inner, axis=1) * (lo < width)


def argmax_probability(mean, cov, k: int, *, jitter: float = 1e-13) -> np.ndarray:
    """``P(argmax_j h_j = k)`` for ``h ~ N(mean, cov)`` (mean (..., K), cov (..., K, K)): the
    (K-1)-dimensional orthant probability of the differences ``h_k - h_j``, computed by
    deterministic quadrature (:func:`_orthant`; ~1e-12 for K <= 4; K >= 5 uses scipy's
    ``multivariate_normal.cdf`` with a fixed seed, ~1e-6).  Shared by the theory and the
    simulation (the test error given ``W``, ``b``)."""
    mean, cov = np.asarray(mean, float), np.asarray(cov, float)
    K = mean.shape[-1]
    if K == 1:
        return np.ones(mean.shape[:-1])
    Dm = np.delete(np.eye(K), k, axis=0)
    Dm[:, k] = 1.0
    Dm = Dm * 1.0
    Dm[np.arange(K - 1), np.delete(np.arange(K), k)] = -1.0
    mu = mean @ Dm.T
    C = Dm @ cov @ Dm.T
    tr = np.trace(C, axis1=-2, axis2=-1)
    C = C + (jitter * tr + 1e-300)[..., None, None] * np.eye(K - 1)
    shape = mu.shape[:-1]
    mu, C = mu.reshape(-1, K - 1), C.reshape(-1, K - 1, K - 1)
    if K - 1 <= 3:
        return _orthant(mu, C).reshape(shape)
    from scipy.stats import multivariate_normal

    out = np.array([multivariate_normal(mean=np.zeros(K - 1), cov=c, allow_singular=True).cdf(
        m, rng=np.random.default_rng(0)) for m, c in zip(mu, C)])
    return out.reshape(shape)


def class_errors(mean, cov):
    """The test error in each cluster, ``1 - P(argmax h = k)`` with ``h ~ N(mean[..., k, :],
    cov[..., k, :, :])`` (K class coordinates): mean (..., K, K), cov (..., K, K, K)."""
    K = mean.shape[-1]
    return np.stack([1.0 - argmax_probability(mean[..., k, :], cov[..., k, :, :], k) for k in range(K)], axis=-1)


def multiclass_bayes_error(data) -> float:
    """The error of the Bayes classifier that knows the mixture, for K clusters sharing one
    covariance ``Sigma`` (labels = the cluster index): the rule ``argmax_k mu_k^T Sigma^{-1} x -
    mu_k^T Sigma^{-1} mu_k / 2 + log rho_k`` (linear discriminant analysis; Hastie, Tibshirani,
    Friedman, The Elements of Statistical Learning, sec. 4.3, eq. (4.10)); in cluster ``c`` its
    scores are Gaussian with means ``G_kc - G_kk / 2 + log rho_k`` and covariance ``G = M Sigma^{-1}
    M^T``, so the error is ``sum_c rho_c (1 - P(argmax = c))`` (:func:`argmax_probability`).  For
    K = 2 this is the binary ``bayes_error``."""
    if not data.shared_covariance:
        raise ValueError("bayes_error: implemented for clusters sharing one covariance (heteroscedastic clusters in "
                         "high dimension are told apart by their norms)")
    Mu = data.means
    if data.kind == "full":
        G = Mu @ np.linalg.solve(data.covariances[0], Mu.T)
    else:
        S, _ = data.diagonal()
        if np.any(S[0] <= 0):
            raise ValueError("bayes_error: the shared covariance is singular")
        G = (Mu / S[0]) @ Mu.T
    K, rho = data.K, data.weights
    mean = G - 0.5 * np.diag(G)[:, None] + np.log(rho)[:, None]  # mean[k, c] = score k in cluster c
    return float(sum(rho[c] * (1.0 - argmax_probability(mean[:, c], G, c)) for c in range(K)))


# --------------------------------------------------------------------------- matrix helpers
def _sym(A):
    return 0.5 * (A + np.swapaxes(A, -1, -2))


def _sqrtm_psd(A):
    ev, U = np.linalg.eigh(_sym(A))
    return (U * np.sqrt(np.maximum(ev, 0.0))[..., None, :]) @ np.swapaxes(U, -1, -2)


def _clip_pd(A, floor=1e-12):
    ev, U = np.linalg.eigh(_sym(A))
    ev = np.maximum(ev, floor * np.maximum(ev.max(axis=-1, keepdims=True), 1e-300))
    return (U * ev[..., None, :]) @ np.swapaxes(U, -1, -2)


def _tensor_hermite(n, D, drop=1e-13):
    """The D-fold tensor product of the n-node Gauss-Hermite rule (probabilists'), without the
    nodes whose weights add up to less than ``drop`` (the far corners: the integrands here are
    bounded, so they change the expectations by less than ``drop`` times their bound)."""
    z, w = hermite_rule(n)
    grids = np.meshgrid(*([z] * D), indexing="ij")
    wg = np.meshgrid(*([w] * D), indexing="ij")
    X, W = np.stack([g.ravel() for g in grids], axis=-1), np.prod(np.stack([g.ravel() for g in wg]), axis=0)
    order = np.argsort(W)
    keep = np.ones(len(W), bool)
    keep[order[np.cumsum(W[order]) < drop]] = False
    return X[keep], W[keep]


def _solve(A, b):
    """``A^{-1} b`` for batches of small systems (closed form for 1 x 1 and 2 x 2)."""
    D = A.shape[-1]
    if D == 1:
        return b / A[..., 0, :]
    if D == 2:
        a, bb, c, d = A[..., 0, 0], A[..., 0, 1], A[..., 1, 0], A[..., 1, 1]
        det = a * d - bb * c
        return np.stack([(d * b[..., 0] - bb * b[..., 1]) / det, (a * b[..., 1] - c * b[..., 0]) / det], axis=-1)
    return np.linalg.solve(A, b[..., None])[..., 0]


def _inv(A):
    """Inverses of batches of small matrices (closed form for 1 x 1 and 2 x 2)."""
    D = A.shape[-1]
    if D == 1:
        return 1.0 / A
    if D == 2:
        a, b, c, d = A[..., 0, 0], A[..., 0, 1], A[..., 1, 0], A[..., 1, 1]
        det = a * d - b * c
        return np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[..., None, None]
    return np.linalg.inv(A)


# --------------------------------------------------------------------------- channels
class _SquareChannel:
    """Square loss on one-hot labels: everything in closed form (f = (I + V)^{-1} (y - omega))."""

    def __init__(self, K, n_nodes):
        self.K, self.D = K, K

    def moments(self, mean, Q, V, metrics=False, keys=None):
        N, C, D = mean.shape
        Y = np.broadcast_to(np.eye(C, D), mean.shape)
        G = np.linalg.inv(np.eye(D) + V)
        r = Y - mean
        Ef = np.einsum("ncab,ncb->nca", G, r)
        Eff = G @ (r[..., :, None] * r[..., None, :] + Q) @ G
        Edf = -G
        out = (Ef, Eff, Edf)
        if metrics:
            # prox - y = (I + V)^{-1} (omega - y): the loss is tr(Eff) / 2, the prox Gaussian
            mp = np.einsum("ncab,ncb->nca", G, mean + np.einsum("ncab,ncb->nca", V, Y))
            Cp = G @ Q @ G
            tr_err = class_errors(mp, Cp)
            out += (0.5 * np.trace(Eff, axis1=-2, axis2=-1), tr_err)
        return out


class _CrossEntropyChannel:
    """Cross-entropy in the D = K - 1 sum-zero coordinates: tensor Gauss-Hermite cubature, the
    prox by batched Newton with backtracking."""

    def __init__(self, K, n_nodes):
        self.K, self.D = K, K - 1
        self.P = CrossEntropy().basis(K)
        self.PP = np.einsum("ka,kb->kab", self.P, self.P).reshape(K, -1)
        self.n_nodes = n_nodes
        self._warm = {}

    def _lgh(self, c, zt, hess=True):
        """Reduced loss, gradient (and Hessian) at ``zt`` (M, D) for classes ``c`` (M,).  Computed
        class-major, (K, M), so that the reductions over the K classes run over long rows."""
        z = self.P @ zt.T  # (K, M)
        zm = z.max(axis=0)
        e = np.exp(z - zm)
        se = e.sum(axis=0)
        idx = np.arange(z.shape[1])
        l = zm + np.log(se) - z[c, idx]
        if not hess:
            return l
        s = e / se
        sp = self.P.T @ s  # (D, M)
        g = (sp - self.P.T[:, c]).T
        H = (self.PP.T @ s).reshape(self.D, self.D, -1) - sp[:, None, :] * sp[None, :, :]
        return l, g, np.ascontiguousarray(H.transpose(2, 0, 1))

    def prox(self, c, om, V, Vinv, tol=1e-13, max_iter=60, z0=None):
        """``argmin_z loss(c, z) + (z - om)^T V^{-1} (z - om) / 2`` for rows om (M, D), classes c
        (M,), V and its inverse (M, D, D): Newton's method on ``z - om + V grad(z) = 0`` with
        backtracking on the objective (Armijo), rows frozen once converged; returns ``(z, loss,
        grad, hess)`` at the prox; ``z0``: a starting point (default ``om``)."""
        z = om.copy() if z0 is None else z0.copy()
        D = self.D
        act = np.arange(len(z))
        for _ in range(max_iter):
            full = len(act) == len(z)
            za, oa, Va, Via, ca = (z, om, V, Vinv, c) if full else (z[act], om[act], V[act], Vinv[act], c[act])
            l, g, H = self._lgh(ca, za)
            G = za - oa + np.einsum("mab,mb->ma", Va, g)
            done = np.max(np.abs(G), axis=1) < tol * np.maximum(1.0, np.max(np.abs(za), axis=1))
            if done.all():
                if full:  # converged where it started (a warm start): the loss terms are at hand
                    return z, l, g, H
                break
            keep = ~done
            act, za, oa, Va, Via, ca, l, g, H, G = (t[keep] for t in (act, za, oa, Va, Via, ca, l, g, H, G))
            J = np.eye(D) + Va @ H
            step = -_solve(J, G)
            r = za - oa
            F0 = l + 0.5 * np.einsum("ma,mab,mb->m", r, Via, r)
            slope = np.einsum("ma,ma->m", np.einsum("mab,mb->ma", Via, G), step)
            t = np.ones(len(za))
            # short steps (|dz| < 0.05, where the loss's Hessian is Lipschitz with constant < 1) are in
            # Newton's quadratic-convergence region: no backtracking there
            chk = np.flatnonzero(np.max(np.abs(step), axis=1) > 0.05)
            for _ in range(40):
                if not len(chk):
                    break
                zn = za[chk] + t[chk, None] * step[chk]
                rn = zn - oa[chk]
                Fn = self._lgh(ca[chk], zn, hess=False) + 0.5 * np.einsum("ma,mab,mb->m", rn, Via[chk], rn)
                bad = Fn > F0[chk] + 1e-4 * t[chk] * slope[chk] + 1e-13 * (1.0 + np.abs(F0[chk]))
                if not bad.any():
                    break
                chk = chk[bad]
                t[chk] *= 0.5
            z[act] = za + t[:, None] * step
        l, g, H = self._lgh(c, z)
        return z, l, g, H

    def _nodes(self, mean, Q, n):
        xi, w = _tensor_hermite(n, self.D)
        R = _sqrtm_psd(Q)
        om = mean[..., None, :] + np.einsum("ncab,mb->ncma", R, xi)
        return om, w

    def _prox_nodes(self, mean, Q, V, n, tol=1e-13, keys=None):
        """The prox at the tensor rule's nodes: ``(z, loss, grad, hess)`` of shapes (N, C, M, ...)
        and the weights (M,).  ``keys`` (N,): row labels (the curve parameter) under which the
        prox is kept as the next call's starting point (Newton then takes a few steps)."""
        N, C, D = mean.shape
        om, w = self._nodes(mean, Q, n)
        M = om.shape[2]
        z0 = om.copy()
        if keys is not None:
            for i, k in enumerate(keys):
                prev = self._warm.get((float(k), n))
                if prev is not None:
                    z0[i] = prev
        rep = lambda X: np.broadcast_to(X[:, :, None], (N, C, M) + X.shape[2:]).reshape((-1,) + X.shape[2:])
        cls = np.broadcast_to(np.arange(C)[None, :, None], (N, C, M)).ravel()
        out = self.prox(cls, om.reshape(-1, D), rep(V), rep(_inv(V)), tol=tol, z0=z0.reshape(-1, D))
        out = tuple(t.reshape((N, C, M) + t.shape[1:]) for t in out)
        if keys is not None:
            for i, k in enumerate(keys):
                self._warm[(float(k), n)] = out[0][i]
        return out, w

    def moments(self, mean, Q, V, metrics=False, keys=None):
        N, C, D = mean.shape
        (z, l, g, H), w = self._prox_nodes(mean, Q, V, self.n_nodes, keys=keys)
        f = -g
        J = np.eye(D) + V[:, :, None] @ H
        df = -H @ _inv(J)
        Ef = np.einsum("m,ncma->nca", w, f)
        Eff = np.einsum("m,ncma,ncmb->ncab", w, f, f)
        Edf = _sym(np.einsum("m,ncmab->ncab", w, df))
        out = (Ef, Eff, Edf)
        if metrics:
            out += (np.einsum("m,ncm->nc", w, l), self.train_error(mean, Q, V))
        return out

    def train_error(self, mean, Q, V, n=6, near=(0.5, 1.5, 4.0), around=(-5.0, -2.5, 0.0, 2.5, 5.0), spread=4):
        """``P(argmax prox != k)``.  K = 2: a Gaussian tail (the prox is increasing).  K = 3 (D = 2):
        exactly, in the prox variable ``z``: the prox is the inverse of ``T(z) = z + V grad l(z)``,
        so ``P(z in R) = int_R N(T(z); omega-law) det(I + V H(z)) dz``, summed over the cones ``R``
        where another class wins (no cancellation when the error is small); in a cone's coordinates ``u = N z >= 0`` (``N`` its facet normals) a tensor
        composite Gauss-Legendre rule (``n`` nodes per piece), cut near the facets (where the
        softmax bends) and around the image of the mean.  K >= 4: the indicator on a tensor
        Gauss-Hermite rule (~1e-3)."""
        N, C, D = mean.shape
        if D == 1:  # K = 2: the prox is increasing, class 0 wins iff omega~ > V l'(0) (prox = 0 there)
            g0 = self._lgh(np.arange(C), np.zeros((C, 1)))[1][:, 0]  # l~'(c, 0)
            thr = V[..., 0, 0] * g0 - mean[..., 0]
            sgn = np.where(np.arange(C) == 0, 1.0, -1.0)
            return ndtr(sgn * thr / np.sqrt(np.maximum(Q[..., 0, 0], 1e-300)))
        if D > 2:
            (z, *_), w = self._prox_nodes(mean, Q, V, 30, tol=1e-9)
            wrong = np.argmax(z @ self.P.T, axis=-1) != np.arange(C)[None, :, None]
            return np.einsum("m,ncm->nc", w, wrong.astype(float))
        x, wl = legendre_rule(n)
        out = np.zeros((N, C))
        Qi = _inv(Q + 1e-300 * np.eye(D))
        ldet = np.log(np.maximum(np.linalg.det(Q), 1e-300))
        for c in range(C):
            z0 = self.prox(np.full(N, c), mean[:, c], V[:, c], _inv(V[:, c]))[0]
            sz = np.sqrt(np.maximum(np.linalg.eigvalsh(Q[:, c])[:, -1], 0.0))
            J0i = _inv(np.eye(D) + V[:, c] @ self._lgh(np.full(N, c), z0)[2])
            Sz = J0i @ Q[:, c] @ np.swapaxes(J0i, -1, -2)
            vn = np.linalg.norm(V[:, c], axis=(-2, -1))
            for k in range(C):  # the cone where class k != c wins
                if k == c:
                    continue
                Nm = np.stack([self.P[k] - self.P[j] for j in range(C) if j != k])  # facet normals (D, D)
                Bm = np.linalg.inv(Nm)
                u0 = z0 @ Nm.T
                su = np.sqrt(np.maximum(np.einsum("ia,nab,ib->ni", Nm, Sz, Nm), 0.0))  # (N, D)
                umax = np.maximum(u0, 0.0) + np.linalg.norm(Nm, axis=1) * (12 * sz + 2.0 * vn + 12.0)[:, None]
                nodes, weights = [], []
                for i in range(D):
                    cuts = np.concatenate([np.broadcast_to(near, (N, len(near))),
                                           u0[:, i, None] + su[:, i, None] * np.asarray(around),
                                           umax[:, i, None] * np.linspace(0, 1, spread + 1)[1:-1]], axis=1)
                    e = np.sort(np.clip(np.concatenate([np.zeros((N, 1)), cuts, umax[:, i, None]], axis=1),
                                        0.0, umax[:, i, None]), axis=1)
                    a, b = e[:, :-1, None], e[:, 1:, None]
                    nodes.append(((a + b) / 2 + (b - a) / 2 * x).reshape(N, -1))
                    weights.append(((b - a) / 2 * wl).reshape(N, -1))
                U = np.stack(np.broadcast_arrays(nodes[0][:, :, None], nodes[1][:, None, :]), -1).reshape(N, -1, D)
                Wt = (weights[0][:, :, None] * weights[1][:, None, :]).reshape(N, -1)
                M = U.shape[1]
                Z = U @ Bm.T  # (N, M, D)
                _, g, H = self._lgh(np.full(N * M, c), Z.reshape(-1, D))
                g, H = g.reshape(N, M, D), H.reshape(N, M, D, D)
                r = Z + np.einsum("nab,nmb->nma", V[:, c], g) - mean[:, c, None]  # T(z) - mean
                dens = np.exp(-0.5 * np.einsum("nma,nab,nmb->nm", r, Qi[:, c], r) - 0.5 * ldet[:, c, None]) / (2 * np.pi)
                detJ = np.linalg.det(np.eye(D) + V[:, c, None] @ H)
                out[:, c] += np.abs(np.linalg.det(Bm)) * np.sum(Wt * dens * detJ, axis=1)
        return out


def _ramp_moments(tau, s, V):
    """For ``t ~ N(tau, s^2)`` and ``g = clip(t / V, 0, 1)``: ``E g``, ``E g^2``, ``P(0 < t < V)``,
    ``E (t - V)_+`` (closed forms of truncated Gaussian moments; ``s = 0`` allowed)."""
    s = np.maximum(s, 1e-300)
    a, b = -tau / s, (V - tau) / s

    def relu(c):  # E (t - c)_+
        u = (tau - c) / s
        return (tau - c) * ndtr(u) + s * norm_pdf(u)

    Eg = (relu(0.0) - relu(V)) / V
    Pmid = ndtr(b) - ndtr(a)
    Et2 = (tau * tau + s * s) * Pmid + 2 * tau * s * (norm_pdf(a) - norm_pdf(b)) + s * s * (
        np.where(np.isfinite(a), a, 0.0) * norm_pdf(a) - np.where(np.isfinite(b), b, 0.0) * norm_pdf(b))
    Eg2 = Et2 / (V * V) + ndtr(-b)
    return Eg, Eg2, Pmid, relu(V)


class _HingeChannel:
    """One-vs-rest hinge: per coordinate ``f_j = y~_j clip((1 - y~_j omega_j) / V_jj, 0, 1)`` (V
    stays diagonal); closed forms, and the cross moments by a 1D composite Gauss-Legendre rule."""

    def __init__(self, K, n_nodes):
        self.K, self.D = K, K
        self.n_nodes = n_nodes

    def moments(self, mean, Q, V, metrics=False, keys=None):
        N, C, D = mean.shape
        yt = 2 * np.eye(C, D) - 1.0  # (C, D)
        v = np.diagonal(V, axis1=-2, axis2=-1)  # (N, C, D)
        sd = np.sqrt(np.maximum(np.diagonal(Q, axis1=-2, axis2=-1), 0.0))
        tau = 1.0 - yt * mean
        Eg, Eg2, Pmid, Eloss = _ramp_moments(tau, sd, v)
        Ef = yt * Eg
        Edf = np.zeros((N, C, D, D))
        Edf[..., np.arange(D), np.arange(D)] = -Pmid / v
        # cross moments E g_i g_j: omega_i on a composite rule cut at its kinks (t_i = 0, V_i)
        kinks = np.stack([(1.0 - 0.0) * yt * np.ones_like(mean), yt * (1.0 - v)], axis=-1)  # omega where t = 0, V
        zi, wi = composite_legendre_nodes(mean, np.maximum(sd, 1e-300), kinks, self.n_nodes, 10.0)  # (N,C,D,M)
        omi = mean[..., None] + sd[..., None] * zi
        gi = np.clip((1.0 - yt[..., None] * omi) / v[..., None], 0.0, 1.0)  # (N,C,D,M)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = Q / np.maximum(np.diagonal(Q, axis1=-2, axis2=-1)[..., :, None], 1e-300)  # beta[i, j] = Q_ij / Q_ii
        cm = mean[..., None, :, None] + beta[..., None] * (omi[..., :, None, :] - mean[..., :, None, None])  # (N,C,i,j,M)
        cv = np.diagonal(Q, axis1=-2, axis2=-1)[..., None, :] - beta * Q  # Q_jj - Q_ij^2 / Q_ii
        cs = np.sqrt(np.maximum(cv, 0.0))[..., None]
        gj = _ramp_moments(1.0 - yt[None, :, None, :, None] * cm, cs, v[:, :, None, :, None])[0]
        Egg = np.einsum("ncim,ncijm->ncij", wi * gi, gj)
        Egg = _sym(Egg)
        Egg[..., np.arange(D), np.arange(D)] = Eg2
        Eff = yt[:, :, None] * yt[:, None, :] * Egg
        out = (Ef, Eff, Edf)
        if metrics:
            out += (Eloss.sum(-1), self.train_error(mean, Q, V))
        return out

    def train_error(self, mean, Q, V, n=24):
        """``P(argmax prox != k)``, exactly: the prox is increasing in each coordinate, so given
        ``omega_k`` (prox value ``v``) class ``j`` loses iff ``omega_j < v + V_jj 1(v > -1)``: a
        (K-1)-dimensional orthant probability of the conditional Gaussian (:func:`_orthant`),
        integrated over ``omega_k`` by a composite Gauss-Legendre rule (``n`` nodes per piece) cut at
        the prox's kinks and where ``v = -1`` (K >= 5: the indicator on a Gauss-Hermite rule)."""
        N, C, D = mean.shape
        v = np.diagonal(V, axis1=-2, axis2=-1)
        if C - 1 > 3:
            xi, w = _tensor_hermite(12, D)
            om = mean[..., None, :] + np.einsum("ncab,mb->ncma", _sqrtm_psd(Q), xi)
            yt = (2 * np.eye(C, D) - 1.0)[None, :, None, :]
            a = yt * om
            pr = yt * np.where(a >= 1.0, a, np.where(a <= 1.0 - v[:, :, None], a + v[:, :, None], 1.0))
            return np.einsum("m,ncm->nc", w, (np.argmax(pr, axis=-1) != np.arange(C)[None, :, None]).astype(float))
        out = np.zeros((N, C))
        for c in range(C):
            rest = [j for j in range(C) if j != c]
            mu, q = mean[:, c, c], np.maximum(Q[:, c, c, c], 1e-300)
            vc = v[:, c, c]
            kinks = np.stack([1.0 - vc, np.ones(N), -1.0 - vc], axis=-1)
            zz, wz = composite_legendre_nodes(mu, np.sqrt(q), kinks, n, 10.0)  # (N, M)
            om = mu[:, None] + np.sqrt(q)[:, None] * zz
            val = np.where(om <= 1.0 - vc[:, None], om + vc[:, None], np.where(om <= 1.0, 1.0, om))  # prox_k
            beta = Q[:, c, rest, c] / q[:, None]  # (N, K-1)
            cm = mean[:, c, rest][:, None, :] + beta[:, None, :] * (om - mu[:, None])[..., None]
            cov = Q[:, c][:, rest][:, :, rest] - beta[:, :, None] * Q[:, c, c, rest][:, None, :]
            h = val[..., None] + np.where(val[..., None] > -1.0, v[:, c, rest][:, None, :], 0.0)
            M = zz.shape[1]
            cov = cov + (1e-13 * np.trace(cov, axis1=-2, axis2=-1) + 1e-300)[:, None, None] * np.eye(C - 1)
            pr = _orthant((h - cm).reshape(N * M, C - 1),
                          np.broadcast_to(cov[:, None], (N, M, C - 1, C - 1)).reshape(N * M, C - 1, C - 1))
            out[:, c] = 1.0 - np.sum(wz * pr.reshape(N, M), axis=1)
        return out


_CHANNELS = {"cross_entropy": _CrossEntropyChannel, "multiclass_square": _SquareChannel,
             "multiclass_hinge": _HingeChannel}


# --------------------------------------------------------------------------- penalty side
class _MatrixPenaltySide:
    """The L2 penalty side with D x D blocks: commuting covariances direction by direction, full
    ones as the (Dp x Dp) Kronecker system (see the module docstring)."""

    def __init__(self, mix, lam, D):
        self.lam, self.D = float(lam), D
        self.Mu = mix.means
        self.full = mix.kind == "full"
        self.S = mix.covariances if self.full else mix.diagonal()[0]

    def __call__(self, mhat, Qhat, Vhat):
        lam, Mu, S, D = self.lam, self.Mu, self.S, self.D
        N = mhat.shape[0]
        if not self.full:
            p = S.shape[1]
            A = lam * np.eye(D) + np.einsum("ci,ncab->niab", S, Vhat)
            Ai = np.linalg.inv(A)
            r = np.einsum("niab,nib->nia", Ai, np.einsum("ci,nca->nia", Mu, mhat))
            m = np.einsum("ci,nia->nca", Mu, r)
            V = np.einsum("ci,niab->ncab", S, Ai) / p
            T = Ai @ np.einsum("li,nlab->niab", S, Qhat) @ Ai
            Q = np.einsum("ci,nia,nib->ncab", S, r, r) + np.einsum("ci,niab->ncab", S, T) / p
            norm = np.sum(r * r, axis=(1, 2)) + np.einsum("niaa->n", T) / p
            return m, _sym(Q), _sym(V), norm
        p = S.shape[-1]
        kron = lambda X, Y: np.einsum("ncab,cij->naibj", X, Y).reshape(N, D * p, D * p)
        A = lam * np.eye(D * p) + kron(Vhat, S)
        Ai = np.linalg.inv(A)
        r = np.einsum("nxy,ny->nx", Ai, np.einsum("ci,nca->nai", Mu, mhat).reshape(N, D * p)).reshape(N, D, p)
        m = np.einsum("ci,nai->nca", Mu, r)
        A5 = Ai.reshape(N, D, p, D, p)
        V = np.einsum("najbi,cij->ncab", A5, S) / p
        T = (Ai @ kron(Qhat, S) @ Ai).reshape(N, D, p, D, p)
        Q = np.einsum("nai,cij,nbj->ncab", r, S, r) + np.einsum("najbi,cij->ncab", T, S) / p
        norm = np.sum(r * r, axis=(1, 2)) + np.einsum("naiai->n", T) / p
        return m, _sym(Q), _sym(V), norm


# --------------------------------------------------------------------------- the engine
@dataclass(frozen=True)
class MulticlassMixtureERMOptions(MixtureERMOptions):
    """The binary engine's settings (the same names, so that the pair has one set of options);
    here ``n_nodes`` is the number of Gauss-Hermite nodes per dimension of the cross-entropy
    cubature (Gauss-Legendre nodes per piece for the hinge's cross moments)."""


def _vech_idx(D):
    return np.triu_indices(D)


class MulticlassMixtureERM(MixtureERM):
    """Multi-class ERM (cross-entropy, square on one-hot labels, one-vs-rest hinge; L2 penalty,
    optional bias) on a :class:`~solvable.families.mixtures.problem.GaussianMixture` whose class is
    the cluster index (see the module docstring).  Solver state: per cluster ``m_k`` (D), the
    upper triangles of ``Q_k`` and ``V_k``, then ``b`` (D); the solver (Anderson, damped Picard
    retry, Newton polish) is the binary engine's."""

    Options = MulticlassMixtureERMOptions
    param = "alpha"

    def __init__(self, problem, learner, options):
        SaddlePoint.__init__(self, problem, learner, options)
        check_multiclass(problem, learner)
        mix = problem.data
        self.K = mix.K
        self.rho = mix.weights
        self.loss = multiclass_loss(learner.loss, self.K)
        self.channel = _CHANNELS[self.loss.name](self.K, options.n_nodes)
        self.D = D = self.channel.D
        self.P = self.loss.basis(self.K)
        pen = learner.penalty
        if pen.l1_part > 0:  # L1 / elastic net: the soft-threshold side (multiclass_l1)
            from solvable.families.mixtures.multiclass_l1 import MulticlassElasticNetSide

            self.pen = MulticlassElasticNetSide(mix, pen.l2_part, pen.l1_part, self.loss, options.n_nodes)
        else:
            self.pen = _MatrixPenaltySide(mix, pen.lam, D)
        self.iu = _vech_idx(D)
        nt = len(self.iu[0])
        self.state = tuple(f"m_{k}_{a}" for k in range(self.K) for a in range(D)) + tuple(
            f"{s}_{k}_{j}" for s in ("Q", "V") for k in range(self.K) for j in range(nt)) + tuple(
            f"b_{a}" for a in range(D))

    def _decode(self, x):
        N, K, D = len(x), self.K, self.D
        nt = len(self.iu[0])
        m = x[:, :K * D].reshape(N, K, D)
        o = K * D
        Q, V = np.zeros((N, K, D, D)), np.zeros((N, K, D, D))
        for X, blk in ((Q, x[:, o:o + K * nt]), (V, x[:, o + K * nt:o + 2 * K * nt])):
            X[..., self.iu[0], self.iu[1]] = blk.reshape(N, K, nt)
            X[..., self.iu[1], self.iu[0]] = blk.reshape(N, K, nt)
        b = x[:, o + 2 * K * nt:]
        return m, Q, V, b

    def _encode(self, m, Q, V, b):
        N = len(m)
        tri = lambda X: X[..., self.iu[0], self.iu[1]].reshape(N, -1)
        return np.column_stack([m.reshape(N, -1), tri(Q), tri(V), b])

    def starts(self, alpha):
        n, K, D = len(alpha), self.K, self.D
        eye = np.broadcast_to(np.eye(D), (n, K, D, D))
        return {"uninformative": self._encode(np.zeros((n, K, D)), eye, eye, np.zeros((n, D)))}

    def _moments(self, x, metrics=False, keys=None):
        m, Q, V, b = self._decode(x)
        Q = _clip_pd(Q, 0.0) if self.D > 1 else np.maximum(Q, 0.0)
        V = _clip_pd(V)
        return self.channel.moments(m + b[:, None, :], Q, V, metrics=metrics, keys=keys), (m, Q, V, b)

    def _hats(self, alpha, mom):
        Ef, Eff, Edf = mom[:3]
        w = alpha[:, None] * self.rho[None, :]
        return w[..., None] * Ef, _sym(w[..., None, None] * Eff), -_sym(w[..., None, None] * Edf)

    def step(self, alpha, x):
        mom, (_, Q_old, _, b) = self._moments(x, keys=alpha)
        m, Q, V, _ = self.pen(*self._hats(alpha, mom))
        if self.learner.bias:  # Newton step on sum_k rho_k E f(b) = 0 (E df is negative definite)
            F = np.einsum("k,nka->na", self.rho, mom[0])
            J = np.einsum("k,nkab->nab", self.rho, mom[2])
            db = -np.linalg.solve(J - 1e-300 * np.eye(self.D), F[..., None])[..., 0]
            cap = 1.0 + 2.0 * np.sqrt(np.max(np.trace(Q_old, axis1=-2, axis2=-1), axis=1))
            nd = np.linalg.norm(db, axis=1)
            db = db * np.minimum(1.0, cap / np.maximum(nd, 1e-300))[:, None]
            b = b + np.where(np.isfinite(db), db, 0.0)
        return self._encode(m, Q, V, b)

    #: the cubature is checked at the solution with a finer rule (:meth:`_verify`), refined up to
    #: MAX_NODES per dimension (numpy's Hermite rule overflows beyond ~170 nodes)
    CUBATURE_RTOL = 1e-6
    MAX_NODES = 150

    def _verify(self, alpha, x, conv, info):
        """The fixed point must not depend on the cubature: one step of the map with a finer rule
        (``1.5 n + 8`` nodes per dimension) must leave the converged rows within ``CUBATURE_RTOL``
        (relative).  Rows that move more (the nearly separable regime at small lam, where the
        cross-entropy prox bends sharply) are re-solved with the finer rule, twice at most, and
        reported as not converged if they still move (``info["cubature_residual"]``)."""
        import dataclasses

        x, conv = x.copy(), conv.copy()
        eng, res = self, np.zeros(len(alpha))
        for _ in range(3):
            ok = np.flatnonzero(conv)
            if not len(ok):
                break
            n_fine = min(eng.options.n_nodes * 3 // 2 + 8, self.MAX_NODES)
            finer = type(self)(self.problem, self.learner, dataclasses.replace(eng.options, n_nodes=n_fine))
            res[ok] = np.max(np.abs(finer.step(alpha[ok], x[ok]) - x[ok]) / (1.0 + np.abs(x[ok])), axis=1)
            bad = ok[~(res[ok] <= self.CUBATURE_RTOL)]  # NaN (a map that breaks down there) included
            if not len(bad) or n_fine == eng.options.n_nodes or n_fine == self.MAX_NODES and eng is not self:
                break
            eng = finer  # re-solve the rows that moved with the finer rule, from where they are
            xb, cb, _ = eng._solve_rows(alpha[bad], x[bad])
            x[bad], conv[bad] = xb, cb
            self.channel = eng.channel  # the observables with the finer rule too
        bad = conv & ~(res <= self.CUBATURE_RTOL)
        conv[bad] = False
        info = dict(info, cubature_residual=res, cubature_nodes=eng.options.n_nodes)
        if bad.any():
            r = np.array(np.broadcast_to(info.get("residual", np.nan), conv.shape), float)
            r[bad] = res[bad]
            info["residual"] = r
        return x, conv, info

    def observables(self, alpha, x):
        K, P = self.K, self.P
        mom, (m, Q, V, b) = self._moments(x, metrics=True, keys=alpha)
        hats = self._hats(alpha, mom)
        _, _, _, norm = self.pen(*hats)
        Eloss, tr_err = mom[3], mom[4]
        mW, QK = m @ P.T, P @ Q @ P.T  # the overlaps in class coordinates, (N, K, K) and (N, K, K, K)
        if hasattr(self.pen, "class_overlaps"):  # L1: W's component along 1 is not zero (cross-entropy)
            mW, QK, _ = self.pen.class_overlaps(*hats)
        mK = mW + (b @ P.T)[:, None, :]  # class scores' means (N, K, K)
        err = class_errors(mK, QK)
        out = {}
        for k in range(K):
            mk = mW[:, k]
            for i in range(K):
                out[f"m_{k}_{i}"] = mk[:, i]
            for i in range(K):
                for j in range(i, K):
                    out[f"q_{k}_{i}_{j}"] = QK[:, k, i, j]
        bK = b @ P.T
        out.update({f"bias_{i}": bK[:, i] for i in range(K)})
        out.update({f"test_error_{k}": err[:, k] for k in range(K)})
        out.update({"norm": norm, "test_error": err @ self.rho, "train_loss": Eloss @ self.rho,
                    "train_error": tr_err @ self.rho})
        if self.problem.data.shared_covariance:
            out["bayes_error"] = np.full(len(alpha), multiclass_bayes_error(self.problem.data))
        return out


def multiclass_fields(K: int) -> tuple:
    """The fields theory and simulation of K-class ERM both return."""
    return (tuple(f"m_{k}_{i}" for k in range(K) for i in range(K))
            + tuple(f"q_{k}_{i}_{j}" for k in range(K) for i in range(K) for j in range(i, K))
            + tuple(f"bias_{i}" for i in range(K)) + tuple(f"test_error_{k}" for k in range(K))
            + ("norm", "test_error", "train_loss", "train_error"))


def check_multiclass(problem, learner) -> None:
    """The errors of the multi-class pair (see :func:`solvable.families.mixtures.equations._check`)."""
    from solvable.blocks.learners import ERM

    if not isinstance(learner, ERM):
        raise ValueError(f"GaussianMixture: the learner must be ERM, got {learner!r}")
    K = problem.data.K
    if K < 2:
        raise ValueError(f"GaussianMixture: multi-class ERM needs K >= 2 clusters, got K = {K}")
    if problem.labels != "cluster" or problem.flip != 0.0:
        raise ValueError(f"GaussianMixture: multi-class ERM takes the cluster index as the label (labels='cluster', "
                         f"flip=0), got labels={problem.labels!r}, flip={problem.flip!r}")
    loss = multiclass_loss(learner.loss, K)
    if loss.name == "multiclass_hinge" and K > MAX_HINGE_K:
        raise ValueError(f"GaussianMixture multi-class ERM: the one-vs-rest hinge is implemented for K <= {MAX_HINGE_K} "
                         f"classes (its training error is a K-dimensional cubature of a discontinuous integrand, "
                         f"12^K nodes), got K = {K}; use 'multiclass_square' or 'cross_entropy'")
    pen = learner.penalty
    if getattr(pen, "l1_ratio", None) is None:
        raise ValueError(f"GaussianMixture ERM: only the L2 and L1 / elastic-net penalties are implemented, got {pen!r}")
    if pen.l1_part > 0:
        from solvable.families.mixtures.multiclass_l1 import check_multiclass_l1

        check_multiclass_l1(problem, learner, loss)
    if not (np.isfinite(pen.lam) and pen.lam >= 0):
        raise ValueError(f"GaussianMixture ERM: lam must be finite and >= 0, got lam={pen.lam!r}")
    if pen.lam == 0:
        raise ValueError("GaussianMixture multi-class ERM: lam = 0 is not implemented (the minimiser may not exist "
                         "below the separability threshold); use lam > 0, e.g. 1e-4")


# --------------------------------------------------------------------------- K-class separability
def _cone_moments(mean, Q, V, Nm, n_r=12, n_t=12, pieces=(8, 2)):
    """For ``omega ~ N(mean, Q)`` in 2D and the V-metric projection ``Pi`` onto the cone ``{z: Nm z
    >= 0}`` (two facets): ``E Delta``, ``E Delta Delta^T``, ``E P_A`` and ``E N_A (N_A^T V N_A)^{-1}
    N_A^T``, with ``Delta = Pi(omega) - omega = -P_A omega`` (``P_A`` the V-projection on the active
    facets' normals).  The four regions (no, one or both facets active) are cones at 0: in the
    whitened variable, polar coordinates around the image of 0, split at the regions' boundary
    rays, composite Gauss-Legendre in angle and radius (smooth on each piece)."""
    L = np.linalg.cholesky(Q)
    Li = np.linalg.inv(L)
    x0 = -Li @ mean  # the image of omega = 0
    # the cone's edges (on facet 2, oriented into facet 1's side, and vice versa), and the rays -V n_i
    # beyond which both facets are active
    rays = [np.array([-Nm[1, 1], Nm[1, 0]]), np.array([Nm[0, 1], -Nm[0, 0]])]
    rays = [r if Nm[i] @ r >= 0 else -r for i, r in enumerate(rays)]
    rays += [-V @ Nm[0], -V @ Nm[1]]
    ang = np.sort(np.mod([np.arctan2(*(Li @ r)[::-1]) for r in rays], 2 * np.pi))
    dist = float(np.linalg.norm(x0))
    cuts = list(ang)
    if dist > 1.0:  # seen from the apex the Gaussian's mass spans an angle ~ 6 / dist around the origin's direction
        t0 = np.arctan2(-x0[1], -x0[0])
        cuts += list(np.mod(t0 + np.arange(-4, 5) * 1.5 / dist, 2 * np.pi))
    cuts = np.sort(np.mod(cuts, 2 * np.pi))
    edges = np.r_[cuts, cuts[0] + 2 * np.pi]
    xg, wg = legendre_rule(n_t)
    th, wt = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        for s in range(pieces[1]):
            lo, hi = a + (b - a) * s / pieces[1], a + (b - a) * (s + 1) / pieces[1]
            th.append((lo + hi) / 2 + (hi - lo) / 2 * xg)
            wt.append((hi - lo) / 2 * wg)
    th, wt = np.concatenate(th), np.concatenate(wt)
    R = dist + 12.0
    xr, wr = legendre_rule(n_r)
    re = np.unique(np.clip(np.r_[np.linspace(0, R, pieces[0] + 1), dist + np.array([-6, -3, -1.5, 0, 1.5, 3, 6])],
                           0, R))
    a_, b_ = re[:-1, None], re[1:, None]
    r = ((a_ + b_) / 2 + (b_ - a_) / 2 * xr).ravel()
    w_r = ((b_ - a_) / 2 * wr).ravel()
    U = np.stack([np.cos(th), np.sin(th)], -1)  # (T, 2)
    xi = x0 + r[:, None, None] * U[None]  # (R, T, 2)
    wgt = (w_r * r)[:, None] * wt[None] * np.exp(-0.5 * np.sum(xi * xi, -1)) / (2 * np.pi)
    om = xi @ L.T + mean
    s = om @ Nm.T  # (R, T, 2) constraint values
    Mn = Nm @ V @ Nm.T
    lam2 = -np.linalg.solve(Mn, s.reshape(-1, 2).T).T.reshape(s.shape)  # both active: multipliers
    both = np.all(lam2 >= 0, -1) & ~np.all(s >= 0, -1)
    PA = np.zeros(om.shape + (2,))
    SA = np.zeros(om.shape + (2,))
    one = np.zeros(om.shape[:-1], bool)
    for i in range(2):
        n = Nm[i]
        Pi = om - np.outer(np.ones(1), V @ n)[0] * (s[..., i:i + 1] / (n @ V @ n))
        sel = (s[..., i] < 0) & (Pi @ Nm[1 - i] >= 0) & ~both & ~one
        one |= sel
        PA[sel] = np.outer(V @ n, n) / (n @ V @ n)
        SA[sel] = np.outer(n, n) / (n @ V @ n)
    PA[both] = np.eye(2)
    SA[both] = Nm.T @ np.linalg.inv(Mn) @ Nm
    D = -np.einsum("rtab,rtb->rta", PA, om)
    return (np.einsum("rt,rta->a", wgt, D), np.einsum("rt,rta,rtb->ab", wgt, D, D),
            np.einsum("rt,rtab->ab", wgt, PA), np.einsum("rt,rtab->ab", wgt, SA))


def multiclass_separability_threshold(data, *, bias: bool = True, tol: float = 1e-8, max_iter: int = 3000,
                                      pieces=(4, 1), options: dict | None = None) -> float:
    """The sample ratio ``alpha*`` below which n = alpha d samples of a K-cluster mixture (K = 2 to 5,
    labels = the cluster index, clusters sharing one covariance) are linearly separable in the
    multi-class sense (some ``W, b`` puts every sample's own score strictly first; the capacity of
    Cover 1965 and Gardner 1988): the cross-entropy minimiser at ``lam = 0`` exists only above it.

    Derived here (no published formula was found) from the replica equations of this module at
    the capacity of the max-margin (zero-margin) constraint, where the problem is scale-free: with
    ``Pi_k`` the V-metric projection onto the cone where class ``k`` wins, ``Delta_k = Pi_k(omega)
    - omega``, ``omega ~ N(m_k + b, Q)`` (whitened means, Gram ``G``),

        alpha sum_k rho_k E[I - d Pi_k] = I,     m_k = alpha sum_l G_kl rho_l E Delta_l,
        Q = alpha^2 sum_kl rho_k rho_l G_kl E Delta_k E Delta_l^T + alpha sum_k rho_k E Delta_k Delta_k^T,
        sum_k rho_k E Delta_k = 0 (bias),

    solved by damped iteration (``Q`` and ``V`` up to scale), the expectations by a polar rule over the
    projection's four regions (:func:`_cone_moments`).  For K = 2 these reduce to Gordon's formula
    (:func:`~solvable.families.mixtures.equations.separability_threshold`, used there; the tests check
    the identities at Gordon's optimum); zero means give 12/5; LP feasibility at d = 100-150 agrees
    (2.406 +- 0.029 against 2.4 at zero means, 3.12 +- 0.08 against 3.187 for means 1.0 e_k, 7.28 +-
    0.10 against 7.362 for 2.0 e_k).

    K = 4, 5 (:func:`~solvable.families.mixtures.separability.separability_fixed_point`, ``options``
    passed to it; ``tol``, ``pieces`` are K = 3's): the same equations in D = K - 1 dimensions, the
    expectations over the 2^D regions of the projection (simplicial cones) with the radial integral
    exact and a Gauss-Jacobi rule on the angular simplices
    (:func:`~solvable.families.mixtures.separability.cone_moments`), Anderson-accelerated.  Run at
    K = 3 the general code agrees with the polar rule to 2e-10; zero means give, at K = 4, 3 / (3 (1/4
    + arcsin(1/3) / 2 pi) / 2 + 1/2 + 3 (3 arccos(1/3) - pi) / 4 pi) = 2.7580125 (to 1e-9); means
    1.0 e_k: 3.5950 (K = 4), 3.9722 (K = 5).  Where ``V`` tends to a singular matrix (unequal weights or
    generic means with a bias) there is no regular fixed point and the singular limit's alpha is wrong
    (K = 3, zero means, weights (0.5, 0.3, 0.2): 2.6204, above the rigorous bound 2.6051).  K = 3 with a
    bias: the bounds of :func:`~solvable.families.mixtures.separability.hierarchical_bounds` (a pair's
    binary capacity above, a pair's and the merged binary problem's below, both by Gordon's formula);
    where they meet alpha* is their value (that case: 2.6050668, LP 2.594 +- 0.022, 2.538 +- 0.030,
    2.531 +- 0.029 at d = 40, 80, 160); otherwise a degenerate (or not converging) fixed point is a
    ValueError that gives the bounds (along weights from equal to that case the regular branch ends on
    the lower bound).  Ordinal (rank-1) separation
    (:func:`~solvable.families.mixtures.separability.ordinal_capacity`) does not raise the lower bound:
    its thresholds give a hierarchical structure.  K = 4 with a bias where the fixed point degenerates:
    the bounds of :func:`~solvable.families.mixtures.separability.k4_bounds` (pairs and triples above,
    hierarchical trees below); where they meet alpha* is their value (means 1.0 e_k, weights 0.1-0.4:
    3.6735515), else a DegenerateCapacity (a ValueError) states them.  K = 5: a degenerate fixed point
    is a ValueError; K >= 6 is not implemented (2^(K-1) cones of n^(K-2) nodes per class)."""
    if not data.shared_covariance:
        raise ValueError("multiclass_separability_threshold: implemented for clusters sharing one covariance")
    K = data.K
    if K == 2:
        from solvable.blocks.data.mixture import Mixture
        from solvable.families.mixtures.equations import separability_threshold

        return separability_threshold(Mixture(data.means, data.covariances, data.weights, [1.0, -1.0]), bias=bias)
    if not 2 <= K <= MAX_K:
        raise ValueError(f"multiclass_separability_threshold: implemented for K = 2 to {MAX_K} clusters, got K = {K}"
                         + (f" (K >= 6: the cubature's 2^(K-1) cones of n^(K-2) nodes per class, n >= 8 for 1e-6, "
                            f"would take minutes per threshold)" if K > MAX_K else ""))
    Mu = data.means
    if data.kind == "full":
        G = Mu @ np.linalg.solve(data.covariances[0], Mu.T)
    else:
        G = (Mu / data.diagonal()[0][0]) @ Mu.T
    rho = data.weights
    if K >= 4:
        try:
            return separability_fixed_point(G, rho, bias=bias, max_iter=max_iter, **(options or {}))[0]
        except DegenerateCapacity as e:
            if not (bias and K == 4):
                raise
            from solvable.families.mixtures.separability import k4_bounds

            lower, upper, structure = k4_bounds(G, rho)
            if lower >= upper * (1 - 1e-12):
                return upper
            raise DegenerateCapacity(f"{e}; alpha* lies between the bounds {lower:.8g} ({structure}) and "
                                     f"{upper:.8g} (k4_bounds)") from None
    # K = 3: the general solver first (Anderson on the conic rule: 0.0-0.2 s, where the damped polar
    # iteration below took up to 73 s for unequal weights and fell into a 2-cycle at means 3.0 e_k;
    # the two agree to 7e-9 where both converge), the polar iteration where it fails
    # With a bias, rigorous bounds from binary separability (hierarchical_bounds): where they meet (one
    # pair the bottleneck, e.g. zero means, weights (0.5, 0.3, 0.2): 2.6050668) that is alpha*; there V
    # tends to a singular matrix and the fixed point's alpha is wrong (2.6204, above the upper bound)
    upper = np.inf
    if bias:
        from solvable.families.mixtures.separability import hierarchical_bounds

        lower, upper, _ = hierarchical_bounds(G, rho)
        if lower >= upper * (1 - 1e-12):
            return upper
    try:
        alpha = separability_fixed_point(G, rho, bias=bias, max_iter=max_iter, **(options or {}))[0]
    except DegenerateCapacity as e:
        raise DegenerateCapacity(str(e) + (f"; alpha* lies between the rigorous bounds {lower:.8g} and {upper:.8g} "
                                           f"(hierarchical_bounds; conjectured: alpha* = the lower one, the "
                                           f"hierarchical structures being the only limits left)" if bias else "")) from None
    except ValueError as e:
        general = str(e) + (f"; alpha* lies between the rigorous bounds {lower:.8g} and {upper:.8g} "
                            f"(hierarchical_bounds)" if bias else "")
    else:
        if alpha > upper * (1 + 1e-8):
            raise ValueError(f"multiclass_separability_threshold: the fixed point's alpha {alpha:.8g} exceeds the "
                             f"pairwise upper bound {upper:.8g}")
        return alpha
    P = CrossEntropy().basis(K)
    Nms = [np.stack([P[k] - P[j] for j in range(K) if j != k]) for k in range(K)]
    D = K - 1
    m, b, Q, V = np.zeros((K, D)), np.zeros(D), np.eye(D) / D, np.eye(D)
    alpha = np.nan
    for it in range(max_iter):
        mom = [_cone_moments(m[k] + b, Q, V, Nms[k], pieces=pieces) for k in range(K)]
        a_new, m_new, b_new, Q_new, V_new = capacity_update(mom, rho, G, b, bias)
        step = max(np.max(np.abs(m_new - m)), np.max(np.abs(Q_new - Q)), np.max(np.abs(V_new - V)),
                   np.max(np.abs(b_new - b)), abs(a_new - alpha) if np.isfinite(alpha) else 1.0)
        m, b, Q, V, alpha = 0.5 * (m + m_new), 0.5 * (b + b_new), 0.5 * (Q + Q_new), 0.5 * (V + V_new), a_new
        if step < tol:
            if alpha > upper * (1 + 1e-8):
                raise ValueError(f"multiclass_separability_threshold: the polar iteration's alpha {alpha:.8g} exceeds "
                                 f"the pairwise upper bound {upper:.8g} (V tends to a singular matrix); the general "
                                 f"solver: {general}")
            return float(alpha)
    raise ValueError(f"multiclass_separability_threshold: the iteration did not converge (last change {step:.2e}; "
                     f"the general solver: {general})")

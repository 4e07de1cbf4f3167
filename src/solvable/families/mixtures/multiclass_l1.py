"""The L1 / elastic-net penalty side of multi-class ERM on Gaussian mixtures (commuting covariances).

Penalty ``l1 |W|_1 + l2 |W|_F^2 / 2`` on the K x d weights in the K class coordinates (``l1``,
``l2`` the penalty's :attr:`~solvable.blocks.penalties.Penalty.l1_part` / ``l2_part``).  The
covariances commute (a (K, p) spectrum ``S_ki``), the means are dense profiles ``mu_ki`` over its
``p`` coordinates, each coordinate standing for ``d / p`` inputs: the conventions of the binary
side :func:`~solvable.families.mixtures.equations._elastic_net_side`.

Equations.  The loss side is :mod:`~solvable.families.mixtures.multiclass` unchanged (Loureiro,
Sicuro, Gerbelot, Pacco, Krzakala, Zdeborova, NeurIPS 2021, Thm. 1): conjugates ``mhat_k`` (D),
``Qhat_k``, ``Vhat_k`` (D x D) in the loss's ``D`` coordinates ``z~ = P^T z`` (``P`` the loss's
(K, D) basis: ``1^perp`` for the cross-entropy, ``I_K`` otherwise).  The penalty separates over the
coordinates of the common eigenbasis (the scalar channel of Aubin, Krzakala, Lu, Zdeborova,
NeurIPS 2020, eq. (9), made D-dimensional, with the means' field as in Loureiro et al. 2021): at
coordinate ``i`` the column ``w_i`` of ``W`` (K class coordinates) is

    w_i(B) = argmin_w  l1 |w|_1 + l2 |w|^2 / 2 + (P^T w)^T A_i (P^T w) / 2 - B^T P^T w,
    A_i = sum_k S_ki Vhat_k,    B ~ N(beta_i, Sigma_i),
    beta_i = sqrt(p) sum_k mhat_k mu_ki,    Sigma_i = sum_k S_ki Qhat_k,

and with ``w~_i = P^T w_i``, ``<.>_i`` the average over the ``p`` coordinates,

    m_k = sum_i mu_ki E[w~_i] / sqrt(p),    Q_k = < S_ki E[w~_i w~_i^T] >_i,
    V_k = < S_ki E[d w~_i / d B] >_i,        |W|_F^2 / d = < E |w_i|^2 >_i.

At ``l1 = 0``, ``w~_i = (l2 + A_i)^{-1} B`` and these are the L2 side's formulas; for K = 2 classes
under the square loss / one-vs-rest hinge each row of ``W`` is the binary side.  The overlaps in
class coordinates (the observables ``m_k_j``, ``q_k_i_j``) are the same averages of ``E[w_i]``,
``E[w_i w_i^T]``.  For the cross-entropy the loss does not see ``1^T w_i``; the L1 term fixes it
(the median of the class scores' shifts), uniquely when ``l2 > 0`` or K is odd.  Under a large pure
L1 penalty the hinge can collapse towards ``W = 0`` with ``Vhat -> 0`` (the coordinate problems lose
their quadratic part): rows where ``|W|^2`` stops being finite are returned as NaN (not converged).

The proximal map, exactly.  ``w(B)`` minimises ``l1 |w|_1 + w^T M w / 2 - c^T w`` with ``M = l2 I
+ P A P^T``, ``c = P B``: for each sign pattern ``s`` in ``{-1, 0, 1}^K`` (support ``S``) the
candidate ``w_S = M_SS^{-1} (c_S - l1 s_S)`` is the minimiser on the polyhedron of ``c`` where its
KKT conditions hold (``s_j w_j >= 0`` on ``S``, ``|c_j - (M w)_j| <= l1`` off it); these
polyhedra tile the space (M positive definite on the patterns that occur), ``w`` is affine on
each, with Jacobian ``d w / d c = E_S M_SS^{-1} E_S^T``.

The Gaussian expectations (no Monte Carlo).  ``V`` stays diagonal for the square loss and the
one-vs-rest hinge (``Vhat_k`` diagonal makes ``M`` diagonal and the Jacobians diagonal), so ``w``
is coordinatewise ``soft(B_j, l1) / M_jj``: its moments in closed form (the binary side's), the
cross moments ``E w_i w_j`` by conditioning on ``B_i`` (closed form in ``B_j``) and a composite
Gauss-Legendre rule in ``B_i`` cut at its kinks ``+-l1`` (spectral: the integrand is smooth
between them).  The cross-entropy (D = K - 1 <= 2) is coupled: after whitening, ``B = beta +
L R xi`` (``L`` the square root of ``Sigma``, ``R`` a fixed rotation so that no kink is parallel
to the lines), along each line ``xi = (x, t)`` every polyhedron is an interval of ``t``, found
in closed form from its linear constraints, and the integrals of the affine ``w`` (quadratic
``w w^T``) against the Gaussian in ``t`` are closed forms (``Phi``, ``phi``); K = 2 (D = 1) is
then exact, and K = 3 integrates over ``x`` by a composite Gauss-Legendre rule cut at the
abscissae of the tiling's vertices, where the line integrals stop being smooth.  Measured at a
K = 3 fixed point (10 points of a curve, L1 and elastic net): 7e-12 with the default 20 nodes per
piece (``n_nodes / 2``) against 40, 2e-7 with 13; a Gauss-Hermite rule over ``x`` instead converged
like ``1 / n`` (the Jacobian's mean moved by 1e-2 between 80 and 160 nodes).  The decoupled cross
moments: 5e-10 with 16 nodes per piece, 1e-15 with 24.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.special import ndtr

from solvable.families.mixtures.equations import _elastic_net_side
from solvable.numerics.gauss import composite_legendre_nodes
from solvable.numerics.special import norm_pdf

__all__ = ["MulticlassElasticNetSide", "check_multiclass_l1"]

#: the rotation of the whitened variable: the lines of integration run along its last column
_ANGLE = 0.6154797086703874  # arctan(1 / sqrt(2)): no kink of a symmetric problem is parallel to it
_WIDTH = 10.0  # the outer rule's range, in standard deviations


def check_multiclass_l1(problem, learner, loss) -> None:
    """The cases the multi-class L1 / elastic-net side covers (else a ValueError naming the value)."""
    pen, mix = learner.penalty, problem.data
    if mix.kind != "diagonal":
        raise ValueError(f"GaussianMixture multi-class ERM: the L1 / elastic-net penalty ({pen!r}) is implemented for "
                         f"commuting covariances given as a (K, p) spectrum, the means as dense profiles over its p "
                         f"coordinates (e.g. Mixture(means, np.ones((K, p))) for isotropic clusters); got "
                         f"{mix.kind} covariances")
    if not (np.isfinite(pen.lam) and pen.lam > 0):
        raise ValueError(f"GaussianMixture multi-class ERM: the L1 / elastic-net penalty needs lam > 0, got {pen!r}")
    K = mix.K
    if loss.name == "cross_entropy":
        if K > 3:
            raise ValueError(f"GaussianMixture multi-class ERM: the L1 / elastic-net penalty with the cross-entropy is "
                             f"implemented for K <= 3 classes (its prox couples the K - 1 loss coordinates), got "
                             f"K = {K}; use 'multiclass_square' or 'multiclass_hinge'")
        if pen.l2_part == 0 and K % 2 == 0:
            raise ValueError(f"GaussianMixture multi-class ERM: with the cross-entropy and a pure L1 penalty ({pen!r}) the "
                             f"minimiser's shift along 1 is not unique for an even K = {K}; use an elastic net "
                             f"(l1_ratio < 1)")


def _soft_moments(beta, var, a, l1):
    """``E w, E w^2, E dw/dB`` for ``w = soft(B, l1) / a``, ``B ~ N(beta, var)`` (arrays of one shape):
    the binary side's closed forms, one coordinate and one cluster per row."""
    shp = np.shape(beta)
    one = np.ones((1, 1))
    cols = [np.reshape(t, (-1, 1)) for t in (beta, var, a)]
    Ew, Ew2, dw, _ = _elastic_net_side(one, one, 0.0, l1, cols[0], cols[1], cols[2])
    return Ew.reshape(shp), Ew2.reshape(shp), dw.reshape(shp)


def _rotation(D):
    if D == 1:
        return np.ones((1, 1))
    c, s = np.cos(_ANGLE), np.sin(_ANGLE)
    return np.array([[c, -s], [s, c]])


class MulticlassElasticNetSide:
    """The penalty side of ``l1 |W|_1 + l2 |W|_F^2 / 2`` for commuting covariances (see the module
    docstring); called like :class:`~solvable.families.mixtures.multiclass._MatrixPenaltySide`.
    Coordinates with the same spectrum and means are one problem (weighted by their number)."""

    def __init__(self, mix, l2, l1, loss, n_nodes=40):
        S, Mu = mix.diagonal()
        K, p = S.shape
        cols, inv, cnt = np.unique(np.concatenate([S, Mu]).T, axis=0, return_inverse=True, return_counts=True)
        self.S, self.Mu = cols[:, :K].T, cols[:, K:].T  # (K, G): the distinct coordinates
        self.frac = cnt / p
        self.p, self.K = p, K
        self.l1, self.l2 = float(l1), float(l2)
        self.P = loss.basis(K)
        self.D = self.P.shape[1]
        self.coupled = loss.name == "cross_entropy"
        self.n_piece = max(12, int(n_nodes) // 2)
        self.patterns = np.array(list(itertools.product((-1.0, 0.0, 1.0), repeat=K)))

    # ------------------------------------------------------------------ the side
    def _fields(self, mhat, Qhat, Vhat):
        A = np.einsum("cg,ncab->ngab", self.S, Vhat)
        Sig = np.einsum("cg,ncab->ngab", self.S, Qhat)
        beta = np.sqrt(self.p) * np.einsum("cg,nca->nga", self.Mu, mhat)
        return A, Sig, beta

    def class_moments(self, mhat, Qhat, Vhat):
        """``(E w, E w w^T, E dw/dc)`` per distinct coordinate, in class coordinates: (N, G, K), (N, G, K, K)
        twice (``dw / dB = (dw / dc) P``)."""
        A, Sig, beta = self._fields(mhat, Qhat, Vhat)
        if self.coupled:
            return self._coupled(A, Sig, beta)
        return self._decoupled(A, Sig, beta)

    def class_overlaps(self, mhat, Qhat, Vhat):
        """The overlaps in the K class coordinates: ``m`` (N, C, K), ``Q`` (N, C, K, K), and ``|W|_F^2 / d``."""
        from solvable.families.mixtures.multiclass import _clip_pd

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a collapse: NaN rows
            Ew, Eww, _ = self.class_moments(mhat, Qhat, Vhat)
            m = np.einsum("cg,nga->nca", self.Mu * self.frac * np.sqrt(self.p), Ew)
            Q = np.einsum("cg,ngab->ncab", self.S * self.frac, Eww)
        # positive semi-definite (where w is 0 but for far tails, E w w^T is a sum of cancelling 1e-60s)
        ok = np.isfinite(Q).all(axis=(-2, -1))
        Q[ok] = _clip_pd(Q[ok], 0.0)
        return m, Q, np.einsum("g,ngaa->n", self.frac, Eww)

    def __call__(self, mhat, Qhat, Vhat):
        P = self.P
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a collapse: NaN rows below
            Ew, Eww, EJ = self.class_moments(mhat, Qhat, Vhat)
            wt = self.frac
            m = np.einsum("cg,nga->nca", self.Mu * wt * np.sqrt(self.p), Ew @ P)
            Q = np.einsum("cg,ngab->ncab", self.S * wt, P.T @ Eww @ P)
            V = np.einsum("cg,ngab->ncab", self.S * wt, P.T @ EJ @ P)
            norm = np.einsum("g,ngaa->n", wt, Eww)
        # the hinge with a pure L1 penalty can collapse towards W = 0 with Vhat -> 0 (the quadratic part of the
        # coordinate problems vanishes and the rare nonzero w_i blow up): such rows are reported as not converged
        bad = ~np.isfinite(norm)
        m, Q, V, norm = (np.where(bad.reshape((-1,) + (1,) * (t.ndim - 1)), np.nan, t) for t in (m, Q, V, norm))
        return m, 0.5 * (Q + np.swapaxes(Q, -1, -2)), 0.5 * (V + np.swapaxes(V, -1, -2)), norm

    # ------------------------------------------------------------------ square, one-vs-rest hinge: V diagonal
    def _decoupled(self, A, Sig, beta):
        """``w_j = soft(B_j, l1) / M_jj`` (``M = l2 + diag A``): closed forms, the cross moments
        ``E w_i w_j`` by a composite rule in ``B_i`` cut at ``+-l1`` times ``E[w_j | B_i]``."""
        l1, K = self.l1, self.K
        a = self.l2 + np.diagonal(A, axis1=-2, axis2=-1)  # (N, G, K)
        var = np.maximum(np.diagonal(Sig, axis1=-2, axis2=-1), 0.0)
        Ew, Ew2, dw = _soft_moments(beta, var, a, l1)
        Eww = np.zeros(A.shape)
        Eww[..., np.arange(K), np.arange(K)] = Ew2
        sd = np.sqrt(var)
        for i, j in itertools.combinations(range(K), 2):
            bi, si = beta[..., i], np.maximum(sd[..., i], 1e-300)
            kinks = np.stack([np.full_like(bi, -l1), np.full_like(bi, l1)], -1)
            z, wz = composite_legendre_nodes(bi, si, kinks, self.n_piece, _WIDTH, pieces=4)
            Bi = bi[..., None] + sd[..., i, None] * z
            wi = np.sign(Bi) * np.maximum(np.abs(Bi) - l1, 0.0) / a[..., i, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = np.where(var[..., i] > 0, Sig[..., i, j] / np.maximum(sd[..., i], 1e-300), 0.0)
            cm = beta[..., j, None] + slope[..., None] * z
            cv = np.maximum(var[..., j] - slope * slope, 0.0)[..., None] * np.ones_like(z)
            Ewj = _soft_moments(cm, cv, np.broadcast_to(a[..., j, None], z.shape), l1)[0]
            Eww[..., i, j] = Eww[..., j, i] = np.sum(wz * wi * Ewj, axis=-1)
        EJ = np.zeros(A.shape)
        EJ[..., np.arange(K), np.arange(K)] = dw
        return Ew, Eww, EJ

    # ------------------------------------------------------------------ cross-entropy: coupled, D = K - 1 <= 2
    def _pieces(self, M):
        """Per sign pattern: its support and ``H = E_S M_SS^{-1} E_S^T`` (None where ``M_SS`` is
        singular: the full support of the cross-entropy at ``l2 = 0``, never a minimiser for odd K)."""
        out = []
        for s in self.patterns:
            S = np.flatnonzero(s)
            H = np.zeros(M.shape)
            if len(S):
                if len(S) == self.K and self.l2 == 0.0:
                    continue
                H[..., S[:, None], S] = np.linalg.inv(M[..., S[:, None], S])
            out.append((s, H))
        return out

    def _constraints(self, s, H, M, c, g):
        """The pattern's KKT conditions along ``c + t g`` as ``alpha + gamma t >= 0``; also the
        candidate ``w = a + t b``.  ``c`` (..., X, K), ``g`` (..., K)."""
        a = (c - self.l1 * s) @ H  # H and M are symmetric
        b = (H @ g[..., None])[..., 0]
        e = c - a @ M
        f = g - (M @ b[..., None])[..., 0]
        on = s != 0
        l1 = self.l1
        alpha = np.concatenate([s[on] * a[..., on], l1 - e[..., ~on], l1 + e[..., ~on]], axis=-1)
        gamma = np.concatenate([s[on] * b[..., on], -f[..., ~on], f[..., ~on]], axis=-1)
        return a, b, alpha, gamma

    def _vertex_cuts(self, pieces, M, c0, T):
        """The x-abscissae of the tiling's vertices (two KKT conditions of a pattern tight, the rest
        satisfied) in the whitened plane ``c = c0 + T (x, t)``: (N, G, n_cuts), padded with ``_WIDTH``."""
        cand = []
        cx = np.stack([c0, c0 + T[..., 0]], axis=-2)  # x = 0 and x = 1
        for s, H in pieces:
            _, _, al, ga = self._constraints(s, H, M, cx, T[..., 1])
            a0, ax = al[..., 0, :], al[..., 1, :] - al[..., 0, :]
            n = al.shape[-1]
            for i, j in itertools.combinations(range(n), 2):
                det = ax[..., i] * ga[..., j] - ax[..., j] * ga[..., i]
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # parallel constraints
                    x = (-a0[..., i] * ga[..., j] + a0[..., j] * ga[..., i]) / det
                    t = (-ax[..., i] * a0[..., j] + ax[..., j] * a0[..., i]) / det
                    val = a0 + ax * x[..., None] + ga * t[..., None]
                    scale = 1e-9 * (1.0 + np.abs(a0) + np.abs(ax * x[..., None]) + np.abs(ga * t[..., None]))
                    ok = np.isfinite(x) & np.isfinite(t) & np.all(val >= -scale, axis=-1) & (np.abs(x) < _WIDTH)
                cand.append(np.where(ok, x, np.inf))
        cand = np.sort(np.stack(cand, -1), axis=-1)
        dup = np.zeros(cand.shape, bool)
        with np.errstate(invalid="ignore"):  # inf - inf past the last vertex
            dup[..., 1:] = np.abs(np.diff(cand, axis=-1)) < 1e-10
        cand = np.sort(np.where(dup, np.inf, cand), axis=-1)
        n_cut = max(int(np.max(np.sum(np.isfinite(cand), axis=-1))), 1)
        return np.minimum(cand[..., :n_cut], _WIDTH)

    def _coupled(self, A, Sig, beta):
        from solvable.families.mixtures.multiclass import _sqrtm_psd

        P, D, K = self.P, self.D, self.K
        M = self.l2 * np.eye(K) + P @ A @ P.T
        T = P @ _sqrtm_psd(Sig) @ _rotation(D)  # (N, G, K, D)
        c0 = np.einsum("ka,nga->ngk", P, beta)
        pieces = self._pieces(M)
        if D == 1:
            cx, wx = c0[..., None, :], np.ones(c0.shape[:-1] + (1,))
        else:
            cuts = self._vertex_cuts(pieces, M, c0, T)
            x, wx = composite_legendre_nodes(np.zeros(c0.shape[:-1]), np.ones(c0.shape[:-1]), cuts, self.n_piece,
                                             _WIDTH, pieces=4)
            cx = c0[..., None, :] + T[..., None, :, 0] * x[..., None]
        g = T[..., D - 1]
        Ew, Eww, EJ = np.zeros(c0.shape), np.zeros(M.shape), np.zeros(M.shape)
        for s, H in pieces:
            a, b, al, ga = self._constraints(s, H, M, cx, g)
            ga = np.broadcast_to(ga[..., None, :], al.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = -al / ga
            lo = np.max(np.where(ga > 0, r, -np.inf), axis=-1)
            hi = np.min(np.where(ga < 0, r, np.inf), axis=-1)
            ok = np.all((ga != 0) | (al >= 0), axis=-1) & (hi > lo)
            lo, hi = np.where(ok, lo, 0.0), np.where(ok, hi, 0.0)
            plo, phi = norm_pdf(np.clip(lo, -40, 40)), norm_pdf(np.clip(hi, -40, 40))
            m0 = wx * (ndtr(hi) - ndtr(lo))
            m1 = wx * (plo - phi)
            m2 = m0 + wx * (np.clip(lo, -40, 40) * plo - np.clip(hi, -40, 40) * phi)
            A0 = (m1[..., None, :] @ a)[..., 0, :]
            Ew += (m0[..., None, :] @ a)[..., 0, :] + m1.sum(-1)[..., None] * b
            Eww += (np.swapaxes(a * m0[..., None], -1, -2) @ a + A0[..., :, None] * b[..., None, :]
                    + b[..., :, None] * A0[..., None, :] + m2.sum(-1)[..., None, None] * b[..., :, None] * b[..., None, :])
            EJ += m0.sum(-1)[..., None, None] * H
        return Ew, Eww, EJ

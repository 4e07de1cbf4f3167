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
between them).  The cross-entropy (D = K - 1 <= 3) is coupled: after whitening, ``B = beta +
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

K = 4 (D = 3), by slices.  ``xi = (x1, y)``; for fixed ``x1`` every polyhedron's slice is a polygon
``{y : al + g y >= 0}`` in the plane, and its Gaussian moments ``int_P (1, y, y y^T) phi_2`` are
closed forms (:meth:`MulticlassElasticNetSide._slice_moments`): the mass is ``1[0 in P] - sum_edges
[T(h, s_B / h) - T(h, s_A / h)]`` (Owen's T, ``scipy.special.owens_t``; the polygon as the signed
sum of the triangles joining 0 to its edges), the first and second moments follow by the divergence
theorem from integrals of ``phi_2`` along the edges (``Phi``, ``phi``).  A slice changes shape only
where the plane passes a vertex of the tiling, so the x1-integral is a composite Gauss-Legendre rule
cut at the vertices' abscissae (three KKT conditions of a pattern tight, the rest satisfied; ``n_nodes
/ 2`` nodes per piece, 4 equal pieces over ``[-10, 10]`` besides); between cuts which lines bound
each edge is fixed, so it is found once per piece.  This replaces the brief's first design (t exact
per line, a composite rule over x2 cut where the line meets the projected edges, one over x1 cut at
the projected vertices and the projected edges' crossings): the x2-rule had to be evaluated on
hundreds of lines per x1 node for all 59 patterns, while the exact slices cost one pass over the
edges; the integral over a slice being exact, the crossings of projected edges (vertices of no
slice) are not kinks of the x1-integrand and need no cut.  The slicing direction is chosen per
coordinate, from 400 fixed directions, as the one farthest from the normals of the faces within 9
of 0 (:func:`_slicing_rotation`): a face nearly parallel to the slices sweeps across them on an x1
scale ``tan`` of their angle, which a fixed direction left unresolved (on 20 random conjugates,
far from isotropic: 2e-7 on ``E dw/dc`` at 20 nodes per piece against 40; 8e-13 with the chosen
direction, 8e-9 at 12 nodes).  Sign patterns of one sign with ``2 |S| >= K`` are empty (``1^T c = 0``
forces ``l2 1^T w + l1 (|S| + sum of the free subgradients) = 0``) and skipped: 59 of 81.
Measured: against coordinate descent on 40000 draws all z-scores below 2.3; at K = 4 fixed points
(p = 200, 8 distinct coordinates, ``ElasticNet(0.3, 0.5)``, alpha = 0.5, 1, 4) the side's output with
the default 20 nodes per piece against 60: 2e-10, 8e-11, 1e-9 (40: < 1e-13; 12: 9e-10, 1e-8,
2e-7).  Time: 26 s per point of a 4-point K = 4 curve there (default ``n_nodes = 40``; a 2-core
machine under a load of 4-5), this side 9 s of a 30 s point, the rest the loss side's D = 3
cubature.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.special import ndtr, owens_t

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
        if K > 4:
            raise ValueError(f"GaussianMixture multi-class ERM: the L1 / elastic-net penalty with the cross-entropy is "
                             f"implemented for K <= 4 classes (its prox couples the K - 1 loss coordinates), got "
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
    if D == 3:  # chosen per coordinate afterwards (_slicing_rotation)
        return np.eye(3)
    c, s = np.cos(_ANGLE), np.sin(_ANGLE)
    return np.array([[c, -s], [s, c]])


def _fibonacci_hemisphere(n):
    i = np.arange(n) + 0.5
    z = i / n  # z > 0: a direction and its opposite slice alike
    r = np.sqrt(1.0 - z * z)
    phi = np.pi * (1.0 + np.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)


_DIRECTIONS_T = np.ascontiguousarray(_fibonacci_hemisphere(400).T)  # (3, 400)


def _slicing_rotation(al, Ga):
    """A rotation (N, G, 3, 3) of the whitened ``xi`` (``xi_old = R xi``) whose first axis (the
    slices' normal) makes the largest smallest angle with the normals of the planes ``al + Ga xi =
    0`` passing within 9 of 0, from a fixed set of 400 directions: a face nearly parallel to the
    slices moves fast across them (the slices' moments vary on a scale ``tan`` of that angle)."""
    nrm = np.linalg.norm(Ga, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where((nrm > 0)[..., None], Ga / nrm[..., None], 0.0)
        near = np.abs(al) < 9.0 * nrm
    N, G = al.shape[:2]
    nu = np.where(near[..., None], nu, 0.0).reshape(N, G, -1, 3)
    dots = nu[..., 0, None] * _DIRECTIONS_T[0] + nu[..., 1, None] * _DIRECTIONS_T[1] + nu[..., 2, None] * _DIRECTIONS_T[2]
    cos = np.max(np.abs(dots), axis=-2)  # (N, G, candidates); elementwise: a batched matmul here was 10x slower
    d = _DIRECTIONS_T.T[np.argmin(cos, axis=-1)]
    ax = np.eye(3)[np.argmin(np.abs(d), axis=-1)]
    e2 = np.cross(d, ax)
    e2 /= np.linalg.norm(e2, axis=-1, keepdims=True)
    return np.stack([d, e2, np.cross(d, e2)], axis=-1)


def _unique_cuts(cand, tol=1e-10):
    """The finite abscissae in ``cand`` (..., n), sorted and without duplicates (closer than ``tol``
    to the previous one), padded with ``_WIDTH`` to a common number (at least 1)."""
    cand = np.sort(cand, axis=-1)
    dup = np.zeros(cand.shape, bool)
    with np.errstate(invalid="ignore"):  # inf - inf past the last vertex
        dup[..., 1:] = np.abs(np.diff(cand, axis=-1)) < tol
    cand = np.sort(np.where(dup, np.inf, cand), axis=-1)
    n_cut = max(int(np.max(np.sum(np.isfinite(cand), axis=-1))), 1)
    return np.minimum(cand[..., :n_cut], _WIDTH)


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
        return _unique_cuts(np.stack(cand, -1))

    def _coupled(self, A, Sig, beta):
        from solvable.families.mixtures.multiclass import _sqrtm_psd

        P, D, K = self.P, self.D, self.K
        M = self.l2 * np.eye(K) + P @ A @ P.T
        T = P @ _sqrtm_psd(Sig) @ _rotation(D)  # (N, G, K, D)
        c0 = np.einsum("ka,nga->ngk", P, beta)
        pieces = self._pieces(M)
        if D == 3:
            return self._coupled3(pieces, M, c0, T)
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

    # ------------------------------------------------------------------ cross-entropy, D = 3: slices x1 = const
    def _polyhedra(self, pieces, M, c0, T):
        """Every pattern at once in the whitened ``xi`` (``c = c0 + T xi``): its KKT conditions
        ``alpha + Gamma xi >= 0`` (N, G, NP, nc), (N, G, NP, nc, D) (padded with ``1 >= 0``), the
        candidate ``w = a + Bw xi`` (N, G, NP, K), (N, G, NP, K, D) and ``H`` (N, G, NP, K, K)."""
        K, l1 = self.K, self.l1
        s = np.array([p[0] for p in pieces])
        H = np.stack([p[1] for p in pieces], axis=-3)
        a = np.einsum("ngk,ngpkj->ngpj", c0, H) - l1 * np.einsum("pk,ngpkj->ngpj", s, H)
        Bw = np.einsum("ngpkj,ngjd->ngpkd", H, T)
        e0 = c0[:, :, None] - np.einsum("ngpk,ngkj->ngpj", a, M)
        E = T[:, :, None] - np.einsum("ngjk,ngpkd->ngpjd", M, Bw)
        one = np.ones(a.shape[:-1] + (1,))
        al = np.concatenate([s * a, l1 - e0, l1 + e0, one], axis=-1)
        Ga = np.concatenate([s[..., None] * Bw, -E, E, 0.0 * Bw[..., :1, :]], axis=-2)
        rows = [[j for j in range(K) if si[j]] + [K + j for j in range(K) if not si[j]]
                + [2 * K + j for j in range(K) if not si[j]] for si in s]
        nc = max(map(len, rows))
        idx = np.array([r + [3 * K] * (nc - len(r)) for r in rows])
        pr = np.arange(len(s))[:, None]
        return al[:, :, pr, idx], Ga[:, :, pr, idx, :], a, Bw, H

    @staticmethod
    def _vertex_cuts3(al, Ga):
        """The x1-abscissae of the tiling's vertices (three KKT conditions of a pattern tight, the
        rest satisfied): (N, G, n_cuts), padded with ``_WIDTH``."""
        tri = np.array(list(itertools.combinations(range(al.shape[-1]), 3)))
        Gt, at = Ga[:, :, :, tri, :], al[:, :, :, tri]
        r0, r1, r2 = Gt[..., 0, :], Gt[..., 1, :], Gt[..., 2, :]
        c12, c20, c01 = np.cross(r1, r2), np.cross(r2, r0), np.cross(r0, r1)
        det = np.sum(r0 * c12, axis=-1)  # Cramer's rule
        ok = np.abs(det) > 1e-10 * np.prod(np.linalg.norm(Gt, axis=-1), axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = -(at[..., 0, None] * c12 + at[..., 1, None] * c20 + at[..., 2, None] * c01) / det[..., None]
        xi = np.where(ok[..., None], xi, 0.0)
        val = al[:, :, :, None, :] + np.einsum("ngpcd,ngptd->ngptc", Ga, xi)
        scale = 1e-9 * (1.0 + np.abs(al[:, :, :, None, :]) + np.einsum("ngpcd,ngptd->ngptc", np.abs(Ga), np.abs(xi)))
        ok &= np.all(val >= -scale, axis=-1) & (np.abs(xi[..., 0]) < _WIDTH)
        # vertices closer than 1e-7 share a cut (the rule's error from a kink that close to a cut is ~1e-14)
        return _unique_cuts(np.where(ok, xi[..., 0], np.inf).reshape(al.shape[:2] + (-1,)), 1e-7)

    @staticmethod
    def _slice_moments(al, Ga, x, wx, n):
        """The standard Gaussian's moments over the polyhedra ``{xi : al + Ga xi >= 0}`` (al (N, G,
        NP, nc), Ga (N, G, NP, nc, 3)), ``xi = (x1, y)``, ``sum_x wx x^k int_P (1, y, y y^T) phi_2``:
        (N, G, 3, NP) for k = 0, 1, 2, (N, G, 2, NP, 2) for k = 0, 1, (N, G, NP, 2, 2) for k = 0, with
        the composite rule ``x, wx`` (N, G, X; ``n`` nodes per piece) over x1 and the slices ``P =
        {y : al + Ga (x1, y) >= 0}`` in closed form.  ``int_P phi_2 = 1[0 in P] - sum_edges [T(h, s_B
        / h) - T(h, s_A / h)]`` (Owen's T; the edge on the line at signed distance ``h`` from 0 along
        its outward normal ``n``, from ``s_A`` to ``s_B`` along ``u = rot90(n)``: the polygon as the
        signed sum of the triangles joining 0 to its edges, their angles summing to 1[0 in P]); by the
        divergence theorem ``int_P y phi_2 = -sum_e n int_e phi_2`` and ``int_P y y^T phi_2 = I int_P
        phi_2 - sum_e int_e y n^T phi_2`` (``Phi``, ``phi`` along the edges).  An edge's ends are
        where it meets other lines; which ones changes only at a vertex, i.e. at a cut of the
        x1-rule, so they are picked once per piece (at its midpoint)."""
        N, G, NP, nc = al.shape
        g2 = Ga[..., 1:]
        nrm = np.linalg.norm(g2, axis=-1)
        edge = nrm > 1e-12 * (1.0 + np.max(nrm, axis=-1, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            nv = np.where(edge[..., None], -g2 / nrm[..., None], 0.0)
            inv = np.where(edge, 1.0 / nrm, 0.0)
        uv = np.stack([-nv[..., 1], nv[..., 0]], axis=-1)
        self_ = np.eye(nc, dtype=bool)
        Gn = np.einsum("...kd,...jd->...jk", g2, nv)  # (N, G, NP, j the edge, k another line)
        Gu = np.where(self_, 0.0, np.einsum("...kd,...jd->...jk", g2, uv))
        xp = x.reshape(N, G, -1, n)  # (N, G, pieces, n)
        # the lines' offsets and the edges' distances at the pieces' midpoints: (N, G, pieces, NP, nc)
        am = al[:, :, None] + Ga[:, :, None, ..., 0] * xp.mean(-1)[..., None, None]
        hm = am * inv[:, :, None]
        num = np.where(self_, 1.0, am[..., None, :] + hm[..., :, None] * Gn[:, :, None])
        den = np.broadcast_to(Gu[:, :, None], num.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = -num / den
        rlo, rhi = np.where(den > 0, r, -np.inf), np.where(den < 0, r, np.inf)
        okm = edge[:, :, None] & np.all((den != 0) | (num >= 0), axis=-1) & (rhi.min(-1) > rlo.max(-1))
        # only the (piece, pattern, edge) that are edges of the slices: M entries, each at its piece's n nodes
        ent = np.nonzero(okm)
        nn, gg, qq, pp, jj = ent
        xe, we = xp[nn, gg, qq], wx.reshape(xp.shape)[nn, gg, qq]  # (M, n)
        h = (al[nn, gg, pp, jj, None] + Ga[nn, gg, pp, jj, 0, None] * xe) * inv[nn, gg, pp, jj, None]
        ends = []
        for k, has, far in ((np.argmax(rlo, axis=-1), np.any(Gu > 0, axis=-1), -np.inf),
                            (np.argmin(rhi, axis=-1), np.any(Gu < 0, axis=-1), np.inf)):
            # the end on line k, s = -(al_k + Ga_k0 x1 + h_j Gn_jk) / Gu_jk, affine in x1 on the piece
            k = k[ent]
            gn, gu = Gn[nn, gg, pp, jj, k], Gu[nn, gg, pp, jj, k]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                p0 = -(al[nn, gg, pp, k] + al[nn, gg, pp, jj] * inv[nn, gg, pp, jj] * gn) / gu
                p1 = -(Ga[nn, gg, pp, k, 0] + Ga[nn, gg, pp, jj, 0] * inv[nn, gg, pp, jj] * gn) / gu
                e = p0[:, None] + p1[:, None] * xe
            ends.append(np.where(has[nn, gg, pp, jj, None], e, far))
        lo, hi = ends
        # edges farther than sqrt(80) from 0 in the whitened space weigh < exp(-40) x1^2: left out
        ok = (hi > lo) & (h * h + xe * xe < 80.0)
        hv, sA, sB = h[ok], lo[ok], hi[ok]
        hv = np.where(hv == 0.0, 1e-300, hv)
        with np.errstate(divide="ignore", over="ignore"):
            dT = owens_t(hv, sB / hv) - owens_t(hv, sA / hv)
        phh = norm_pdf(hv)
        out = np.zeros((3,) + ok.shape)
        out[0][ok], out[1][ok] = dT, phh * (ndtr(sB) - ndtr(sA))
        out[2][ok] = phh * (norm_pdf(np.clip(sA, -40, 40)) - norm_pdf(np.clip(sB, -40, 40)))
        xw = we[None] * xe[None] ** np.arange(3)[:, None, None]  # (3, M, n)
        fp = np.ravel_multi_index((nn, gg, pp), (N, G, NP))
        fe = fp * nc + jj
        sums = lambda idx, v, size: np.bincount(idx, v, minlength=size)  # noqa: E731
        Tk = np.stack([sums(fp, np.sum(xw[k] * out[0], axis=-1), N * G * NP) for k in range(3)], -1)
        c = [sums(fe, np.sum(u, axis=-1), N * G * NP * nc).reshape(N, G, NP, nc)
             for u in (xw[0] * out[1], xw[1] * out[1], xw[0] * out[1] * h, xw[0] * out[2])]
        # 1[0 in P]: x1 in the interval where the x1-axis crosses the polyhedron
        g0 = Ga[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            r0 = -al / g0
        in_lo = np.max(np.where(g0 > 0, r0, -np.inf), axis=-1)
        in_hi = np.min(np.where(g0 < 0, r0, np.inf), axis=-1)
        in_ok = np.all((g0 != 0) | (al >= 0), axis=-1)
        ins = (x[..., None] >= in_lo[:, :, None]) & (x[..., None] <= in_hi[:, :, None]) & in_ok[:, :, None]
        xk = wx[:, :, None] * x[:, :, None] ** np.arange(3)[:, None]  # (N, G, 3, X)
        mu0 = np.einsum("ngkx,ngxp->ngkp", xk, ins) - np.moveaxis(Tk.reshape(N, G, NP, 3), -1, 2)
        nu = -np.stack([np.einsum("ngpj,ngpjd->ngpd", c[0], nv), np.einsum("ngpj,ngpjd->ngpd", c[1], nv)], axis=2)
        S2 = (mu0[:, :, 0, :, None, None] * np.eye(2) - np.einsum("ngpj,ngpjd,ngpje->ngpde", c[2], nv, nv)
              - np.einsum("ngpj,ngpjd,ngpje->ngpde", c[3], uv, nv))
        return mu0, nu, 0.5 * (S2 + np.swapaxes(S2, -1, -2))

    def _coupled3(self, pieces, M, c0, T):
        """D = 3: ``xi = (x1, y)``, ``w = a + b1 x1 + B2 y`` on each polyhedron; the slices ``x1 =
        const`` exactly (:meth:`_slice_moments`), the x1-integral by a composite Gauss-Legendre rule
        cut at the abscissae of the tiling's vertices."""
        # a pattern of one sign with 2 |S| >= K is empty on 1^T c = 0 (there 1^T M w = l2 1^T w)
        pieces = [(s, H) for s, H in pieces if not (abs(s.sum()) == np.abs(s).sum() and 2 * np.abs(s).sum() >= self.K)]
        al, Ga, a, Bw, H = self._polyhedra(pieces, M, c0, T)
        R = _slicing_rotation(al, Ga)  # x1 away from the normals of the faces near 0
        Ga, Bw = Ga @ R[:, :, None], Bw @ R[:, :, None]
        cuts = self._vertex_cuts3(al, Ga)
        x, wx = composite_legendre_nodes(np.zeros(c0.shape[:-1]), np.ones(c0.shape[:-1]), cuts, self.n_piece,
                                         _WIDTH, pieces=4)
        mu0, nu, S2 = self._slice_moments(al, Ga, x, wx, self.n_piece)
        b1, B2 = Bw[..., 0], Bw[..., 1:]
        v0, v1 = np.einsum("ngpkd,ngpd->ngpk", B2, nu[:, :, 0]), np.einsum("ngpkd,ngpd->ngpk", B2, nu[:, :, 1])
        Ew = np.einsum("ngp,ngpk->ngk", mu0[:, :, 0], a) + np.einsum("ngp,ngpk->ngk", mu0[:, :, 1], b1) + v0.sum(2)
        X = (np.einsum("ngp,ngpk,ngpl->ngkl", mu0[:, :, 1], a, b1) + np.einsum("ngpk,ngpl->ngkl", a, v0)
             + np.einsum("ngpk,ngpl->ngkl", b1, v1))
        Eww = (np.einsum("ngp,ngpk,ngpl->ngkl", mu0[:, :, 0], a, a) + np.einsum("ngp,ngpk,ngpl->ngkl", mu0[:, :, 2], b1, b1)
               + X + np.swapaxes(X, -1, -2) + np.einsum("ngpkd,ngpde,ngple->ngkl", B2, S2, B2, optimize=True))
        EJ = np.einsum("ngp,ngpkl->ngkl", mu0[:, :, 0], H)
        return Ew, Eww, EJ

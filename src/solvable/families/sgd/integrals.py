"""Gaussian integrals of the online-SGD order parameters, shared by the ODEs (equations.py) and
the simulation (experiment.py): closed forms for erf/erf (Saad & Solla 1995) and ReLU/ReLU,
Gauss-Hermite quadrature otherwise, and the test error as a function of the overlaps
(Saad & Solla 1995, Eq. (6)).  Given the weights, the local fields of a fresh Gaussian input are
exactly ``N(0, Omega)`` with the measured overlaps, so the same formula gives the finite-d test
error of a simulated run without sampling."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from solvable.blocks.activations import Activation
from solvable.numerics.gauss import hermite_rule

__all__ = ["erf_integrals", "relu_integrals", "relu_four_point", "quadrature_integrals", "committee_integrals",
           "generalisation_error", "has_closed_form"]

_PI = np.pi


# ----------------------------------------------------------------------------------------
# Gaussian integrals
# ----------------------------------------------------------------------------------------

def erf_integrals(Omega: np.ndarray, K: int) -> dict[str, np.ndarray]:
    """I2, I3, I4, J2 for ``g = h = erf(x/sqrt 2)`` in closed form.

    Saad & Solla, PRE 52, 4225 (1995), Appendix (Eqs. A1-A4) / Goldt et al., NeurIPS 2019, App. C:
    ``I2 = (2/pi) arcsin(C12 / sqrt((1+C11)(1+C22)))``,
    ``I3 = (2/pi) (C23 (1+C11) - C12 C13) / ((1+C11) sqrt(L3))``, ``L3 = (1+C11)(1+C33) - C13^2``,
    ``I4 = (4/pi^2) arcsin(L0 / sqrt(L1 L2)) / sqrt(L4)``, ``J2 = (2/pi) / sqrt(L4)``,
    ``L4 = (1+C11)(1+C22) - C12^2``.
    """
    O = np.asarray(Omega, dtype=float)
    dg = np.diag(O)
    OK = O[:K]  # (K, F)
    # I2[p, q]
    I2 = (2 / _PI) * np.arcsin(np.clip(O / np.sqrt(np.outer(1 + dg, 1 + dg)), -1.0, 1.0))
    # I3[i, b, p]: C11 = O_ii, C12 = O_ib, C13 = O_ip, C23 = O_bp, C33 = O_pp
    C11 = dg[:K, None, None]
    C12 = OK[:, :, None]
    C13 = OK[:, None, :]
    C23 = O[None, :, :]
    C33 = dg[None, None, :]
    L3 = (1 + C11) * (1 + C33) - C13**2
    I3 = (2 / _PI) * (C23 * (1 + C11) - C12 * C13) / ((1 + C11) * np.sqrt(L3))
    # I4[i, k, p, q]
    a = dg[:K, None, None, None]
    b = dg[None, :K, None, None]
    C12 = O[:K, :K][:, :, None, None]
    C13 = OK[:, None, :, None]
    C14 = OK[:, None, None, :]
    C23 = OK[None, :, :, None]
    C24 = OK[None, :, None, :]
    C34 = O[None, None, :, :]
    C33 = dg[None, None, :, None]
    C44 = dg[None, None, None, :]
    L4 = (1 + a) * (1 + b) - C12**2
    L0 = L4 * C34 - C23 * C24 * (1 + a) - C13 * C14 * (1 + b) + C12 * C13 * C24 + C12 * C14 * C23
    L1 = L4 * (1 + C33) - C23**2 * (1 + a) - C13**2 * (1 + b) + 2 * C12 * C13 * C23
    L2 = L4 * (1 + C44) - C24**2 * (1 + a) - C14**2 * (1 + b) + 2 * C12 * C14 * C24
    I4 = (4 / _PI**2) / np.sqrt(L4) * np.arcsin(np.clip(L0 / np.sqrt(L1 * L2), -1.0, 1.0))
    J2 = (2 / _PI) / np.sqrt(L4[:, :, 0, 0])
    return {"I2": I2, "I3": I3, "I4": I4, "J2": J2}


def _relu_pair(C11, C22, C12):
    """E[relu(a) relu(b)] and P(a > 0, b > 0) (Cho & Saul 2009, arc-cosine kernels n = 1, 0)."""
    s = np.sqrt(np.maximum(C11 * C22, 1e-300))
    cos = np.clip(C12 / s, -1.0, 1.0)
    th = np.arccos(cos)
    k1 = s / (2 * _PI) * (np.sin(th) + (_PI - th) * cos)
    k0 = (_PI - th) / (2 * _PI)
    return k1, k0


def _orthant2(s11, s22, s12):
    """``P(x > 0, y > 0)`` for a centred bivariate Gaussian (Sheppard's formula)."""
    r = np.clip(s12 / np.sqrt(np.maximum(s11 * s22, 1e-300)), -1.0, 1.0)
    return 0.25 + np.arcsin(r) / (2 * _PI)


def _cov_given_1(C, a, x, y, u2):
    """``Cov(x_x, x_y | x_a = 0)`` under ``C(tau) = D + tau (C - D)``, ``u2 = 1 - tau`` (``x, y != a``),
    split as (value at tau = 1) + (exact correction) to avoid round-off for repeated fields."""
    caa = np.maximum(C[..., a, a], 1e-300)[..., None]
    cxa, cya, cxy = C[..., x, a][..., None], C[..., y, a][..., None], C[..., x, y][..., None]
    # Schur complements written as (C_xy C_aa - C_xa C_ya) / C_aa: exactly 0 when x_x or x_y repeats x_a
    if x == y:
        return np.maximum(cxy * caa - cxa * cxa, 0.0) / caa + u2 * (2 - u2) * cxa**2 / caa
    return (1 - u2) * ((cxy * caa - cxa * cya) / caa + u2 * cxa * cya / caa)


def _joint_density_2(C, g, h, u2):
    """Density of ``(x_g, x_h)`` at 0 under ``C(tau) = D + tau (C - D)`` and its 2x2 determinant,
    ``det C_gh + (1 - tau^2) C_gh^2`` with ``u2 = 1 - tau`` exact (positive for ``tau < 1`` even when
    ``x_g``, ``x_h`` are repeated fields)."""
    cgh = C[..., g, h][..., None]
    det = np.maximum(C[..., g, g] * C[..., h, h] - C[..., g, h] ** 2, 0.0)[..., None] + u2 * (2 - u2) * cgh**2 + 1e-300
    return 1.0 / (2 * _PI * np.sqrt(det)), det


def _cov_given_2(C, g, h, x, y, u2, det):
    """``Cov(x_x, x_y | x_g = x_h = 0)`` under ``C(tau)`` (``x, y`` not in ``{g, h}``), through ``C`` and
    ``u2 = 1 - tau`` so that a degenerate pair ``(g, h)`` leaves a finite ratio instead of round-off / tiny."""
    e = lambda a, b: C[..., a, b][..., None]  # noqa: E731
    tau = 1 - u2
    cross = e(x, g) * e(y, h) + e(x, h) * e(y, g)
    # c_x^T adj(C_gh) c_y at tau = 1, grouped so that it is exactly 0 for repeated fields x_g == x_h
    n1 = e(x, g) * (e(h, h) * e(y, g) - e(g, h) * e(y, h)) + e(x, h) * (e(g, g) * e(y, h) - e(g, h) * e(y, g))
    num = n1 + u2 * e(g, h) * cross
    base = e(x, y) if x == y else tau * e(x, y)
    return base - tau**2 * num / det


def _orthant2_given_2(C, g, h, o1, o2, u2):
    """``p_{g,h}(0, 0) P(x_o1 > 0, x_o2 > 0 | x_g = x_h = 0)`` under ``C(tau)``."""
    dens, det = _joint_density_2(C, g, h, u2)
    return dens * _orthant2(_cov_given_2(C, g, h, o1, o1, u2, det), _cov_given_2(C, g, h, o2, o2, u2, det),
                            _cov_given_2(C, g, h, o1, o2, u2, det))


def _delta_step_step_relu(C, u2, a, s1, s2, r):
    """``E[delta(x_a) 1(x_s1 > 0) 1(x_s2 > 0) relu(x_r)]`` under ``C(tau)``, by Stein's lemma on ``x_r``
    given ``x_a = 0``: ``sum_v Cov(x_r, x_v | x_a) p_{a,v}(0, 0) P(other two > 0 | x_a = x_v = 0)``."""
    out = 0.0
    for v, (o1, o2) in ((s1, (s2, r)), (s2, (s1, r)), (r, (s1, s2))):
        out = out + _cov_given_1(C, a, r, v, u2) * _orthant2_given_2(C, a, v, o1, o2, u2)
    return out


@lru_cache(maxsize=8)
def _interpolation_rule(n_panel: int):
    """Nodes/weights in ``tau`` on [0, 1] from ``tau = 1 - u^2`` and composite Gauss-Legendre in ``u``,
    with panels graded geometrically towards ``u = 0`` (the singular end for degenerate covariances)."""
    edges = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.4, 1.0)
    z, w = np.polynomial.legendre.leggauss(n_panel)
    u = np.concatenate([lo + (hi - lo) * (z + 1) / 2 for lo, hi in zip(edges[:-1], edges[1:])])
    wu = np.concatenate([w * (hi - lo) / 2 for lo, hi in zip(edges[:-1], edges[1:])])
    for a in (u, wu):
        a.setflags(write=False)
    return u, wu


def relu_four_point(C: np.ndarray, n_panel: int = 10) -> np.ndarray:
    """``E[1(x_0 > 0) 1(x_1 > 0) relu(x_2) relu(x_3)]`` for centred Gaussians ``x ~ N(0, C)``.

    ``C``: covariances of shape ``(..., 4, 4)``, PSD, singular allowed (repeated fields).
    Gaussian interpolation (Slepian/Plackett): with ``C(tau) = D + tau (C - D)``, ``D = diag(C)``,
    ``dE_tau[F]/dtau = sum_{u<v} C_uv E_tau[d_u d_v F]`` (Plackett, Biometrika 41, 351 (1954);
    the heat equation of the Gaussian density).  For ``F = 1(x_0>0)1(x_1>0) relu(x_2) relu(x_3)``
    every second derivative but ``d_2 d_3 F`` (the 4D orthant indicator) puts deltas on one or two
    fields and leaves closed forms: the arc-cosine kernel ``E[relu relu]`` (Cho & Saul 2009) and
    ``E[1 1 relu]`` (Stein's lemma plus Sheppard's orthant probability) of the conditional Gaussian.
    The orthant probability is itself ``1/16 + int_0^tau P4'`` with Plackett's closed-form ``P4'``;
    integrating by parts, ``E[F] = E_0[F] + C_23/16 + int_0^1 [sum_{(u,v) != (2,3)} C_uv E_tau[d_u d_v F]
    + C_23 (1 - tau) P4'(tau)] dtau`` (derived here; tested against Monte Carlo and exact special cases).
    The ``tau`` integral uses ``tau = 1 - u^2`` (removing the ``(1 - tau)^{-1/2}`` end singularity of
    degenerate ``C``) and ``n_panel`` Gauss-Legendre nodes on each of 8 geometrically graded panels;
    the rule converges spectrally (max error over ODE-like covariances, repeated and nearly repeated
    fields included: ~2e-9 at ``n_panel = 8``, ~1e-11 at the default 10, ~5e-13 at 12).
    """
    C = np.asarray(C, dtype=float)
    if C.shape[-2:] != (4, 4):
        raise ValueError(f"C must have shape (..., 4, 4), got {C.shape}")
    u, wu = _interpolation_rule(int(n_panel))
    tau = 1.0 - u**2
    wt = 2 * u * wu  # dtau = 2 u du
    u2 = u**2  # 1 - tau, exact
    Cn = C[..., None, :, :]
    dens, det = _joint_density_2(C, 0, 1, u2)
    g = Cn[..., 0, 1] * dens * _relu_pair(_cov_given_2(C, 0, 1, 2, 2, u2, det), _cov_given_2(C, 0, 1, 3, 3, u2, det),
                                          _cov_given_2(C, 0, 1, 2, 3, u2, det))[0]
    for a, other in ((0, 1), (1, 0)):
        g = g + Cn[..., a, 2] * _delta_step_step_relu(C, u2, a, other, 2, 3)
        g = g + Cn[..., a, 3] * _delta_step_step_relu(C, u2, a, other, 3, 2)
    dP4 = 0.0
    for p in range(4):
        for q in range(p + 1, 4):
            r1, r2 = [x for x in range(4) if x not in (p, q)]
            dP4 = dP4 + Cn[..., p, q] * _orthant2_given_2(C, p, q, r1, r2, u2)
    g = g + Cn[..., 2, 3] * (1 - tau) * dP4
    E0 = 0.25 * np.sqrt(np.maximum(C[..., 2, 2] * C[..., 3, 3], 0.0)) / (2 * _PI)
    return E0 + C[..., 2, 3] / 16 + g @ wt


def relu_integrals(Omega: np.ndarray, K: int, n_panel: int = 10) -> dict[str, np.ndarray]:
    """I2, I3, I4, J2 for ``g = h = relu``, all exact (I4 up to a ~1e-11 one-dimensional quadrature).

    I2 and J2: arc-cosine kernels (Cho & Saul, NIPS 2009, Eq. 6 with n = 1 and n = 0).
    I3 = E[1(a>0) b relu(c)] by Stein's lemma, ``E[b F(a, c)] = C_ab E[d_a F] + C_bc E[d_c F]``:
    ``E[delta(a) relu(c)] = sqrt(C11 C33 - C13^2) / (2 pi C11)`` and ``E[1(a>0) 1(c>0)] = (pi - theta_13)/(2 pi)``,
    so ``I3 = C12 sqrt(C11 C33 - C13^2) / (2 pi C11) + C23 (pi - theta_13) / (2 pi)`` (derived here;
    checked against quadrature in the tests).  I4 (it contains a 4D orthant probability, which has
    no elementary closed form) by :func:`relu_four_point`, a Gaussian-interpolation reduction to a
    one-dimensional integral of closed-form bivariate quantities, vectorised over all index combinations.
    """
    O = np.asarray(Omega, dtype=float)
    dg = np.diag(O)
    F = O.shape[0]
    I2, _ = _relu_pair(dg[:, None], dg[None, :], O)
    _, J2 = _relu_pair(dg[:K, None], dg[None, :K], O[:K, :K])
    C11 = np.maximum(dg[:K, None, None], 1e-300)
    C12 = O[:K, :, None]
    C13 = O[:K, None, :]
    C23 = O[None, :, :]
    C33 = dg[None, None, :]
    _, k0 = _relu_pair(C11, C33, C13)
    I3 = C12 * np.sqrt(np.maximum(C11 * C33 - C13**2, 0.0)) / (2 * _PI * C11) + C23 * k0
    i, k, p, q = np.meshgrid(np.arange(K), np.arange(K), np.arange(F), np.arange(F), indexing="ij")
    sel = (i <= k) & (p <= q)  # symmetry in (i, k) and in (p, q)
    ii, kk, pp, qq = i[sel], k[sel], p[sel], q[sel]
    idx = np.stack([ii, kk, pp, qq], -1)
    vals = relu_four_point(O[idx[:, :, None], idx[:, None, :]], n_panel=n_panel)
    I4 = np.empty((K, K, F, F))
    I4[ii, kk, pp, qq] = vals
    I4[kk, ii, pp, qq] = vals
    I4[ii, kk, qq, pp] = vals
    I4[kk, ii, qq, pp] = vals
    return {"I2": I2, "I3": I3, "I4": I4, "J2": J2}


def _sqrt_psd(C: np.ndarray) -> np.ndarray:
    """Symmetric square roots of a batch of PSD matrices (works for singular ones)."""
    lam, V = np.linalg.eigh(C)
    return (V * np.sqrt(np.clip(lam, 0.0, None))[..., None, :]) @ np.swapaxes(V, -1, -2)


@lru_cache(maxsize=32)
def _tensor_nodes(n: int, D: int):
    z, w = hermite_rule(n)
    grids = np.meshgrid(*([z] * D), indexing="ij")
    Z = np.stack([g.reshape(-1) for g in grids], axis=-1)  # (n^D, D)
    W = np.ones(1)
    for _ in range(D):
        W = np.multiply.outer(W, w).reshape(-1)
    Z.setflags(write=False)
    W.setflags(write=False)
    return Z, W


def _midpoint_derivative(act: Activation):
    """The derivative, with the mean of the one-sided values at kinks.

    With a rank-deficient covariance (repeated fields) many tensor nodes land exactly on a kink
    (``f = 0``); counting them with ``relu'(0) = 0`` biases the rule, the midpoint value does not.
    """
    if not act.kinks:
        return act.derivative
    kinks = np.asarray(act.kinks, dtype=float)

    def deriv(z):
        out = act.derivative(z)
        for k in kinks:
            at = np.abs(z - k) <= 1e-12 * (1.0 + abs(k))
            if at.any():
                mid = 0.5 * (act.derivative(np.full(1, k + 1e-9)) + act.derivative(np.full(1, k - 1e-9)))[0]
                out = np.where(at, mid, out)
        return out

    return deriv


def quadrature_integrals(
    Omega: np.ndarray,
    K: int,
    student: Activation,
    teacher: Activation,
    orders: tuple[int, int, int] = (40, 16, 8),
    which: tuple[str, ...] = ("I2", "I3", "I4", "J2"),
) -> dict[str, np.ndarray]:
    """I2, I3, I4, J2 by tensor Gauss-Hermite quadrature in 2, 3 and 4 correlated dimensions.

    For a covariance ``C`` of the fields involved, ``f = C^{1/2} z`` with ``z`` on the
    probabilists' Gauss-Hermite tensor grid (``orders`` = nodes per dimension for the 2D (I2, J2),
    3D (I3) and 4D (I4) integrals).  Exact for polynomial activations of low enough degree,
    spectrally accurate for smooth ones, slowly convergent (but deterministic) for kinks.
    Vectorised over all index combinations at once.
    """
    O = np.asarray(Omega, dtype=float)
    F = O.shape[0]
    out: dict[str, np.ndarray] = {}
    is_student = np.arange(F) < K
    dstudent = _midpoint_derivative(student)

    def act_on(values, mask):
        # values (..., N), mask (...,) broadcast: student activation where mask else teacher
        hs = student(values)
        if student is teacher:
            return hs
        return np.where(mask[..., None], hs, teacher(values))

    if "I2" in which or "J2" in which:
        Z, Wq = _tensor_nodes(orders[0], 2)
        if "I2" in which:
            p, q = np.meshgrid(np.arange(F), np.arange(F), indexing="ij")
            C = np.stack([np.stack([O[p, p], O[p, q]], -1), np.stack([O[q, p], O[q, q]], -1)], -2)
            f = Z @ np.swapaxes(_sqrt_psd(C), -1, -2)  # (F, F, N, 2)
            out["I2"] = (act_on(f[..., 0], is_student[p]) * act_on(f[..., 1], is_student[q])) @ Wq
        if "J2" in which:
            i, k = np.meshgrid(np.arange(K), np.arange(K), indexing="ij")
            C = np.stack([np.stack([O[i, i], O[i, k]], -1), np.stack([O[k, i], O[k, k]], -1)], -2)
            f = Z @ np.swapaxes(_sqrt_psd(C), -1, -2)
            out["J2"] = (dstudent(f[..., 0]) * dstudent(f[..., 1])) @ Wq
    if "I3" in which:
        Z, Wq = _tensor_nodes(orders[1], 3)
        i, b, p = np.meshgrid(np.arange(K), np.arange(F), np.arange(F), indexing="ij")
        idx = [i, b, p]
        C = np.stack([np.stack([O[u, v] for v in idx], -1) for u in idx], -2)
        f = Z @ np.swapaxes(_sqrt_psd(C), -1, -2)
        out["I3"] = (dstudent(f[..., 0]) * f[..., 1] * act_on(f[..., 2], is_student[p])) @ Wq
    if "I4" in which:
        Z, Wq = _tensor_nodes(orders[2], 4)
        i, k, p, q = np.meshgrid(np.arange(K), np.arange(K), np.arange(F), np.arange(F), indexing="ij")
        # symmetry: compute only i <= k, p <= q
        sel = (i <= k) & (p <= q)
        ii, kk, pp, qq = i[sel], k[sel], p[sel], q[sel]
        idx = [ii, kk, pp, qq]
        C = np.stack([np.stack([O[u, v] for v in idx], -1) for u in idx], -2)
        R = np.swapaxes(_sqrt_psd(C), -1, -2)
        vals = np.empty(ii.size)
        step = max(1, int(4_000_000 // Z.shape[0]))
        for s0 in range(0, ii.size, step):
            f = Z @ R[s0:s0 + step]
            sl = slice(s0, s0 + step)
            vals[sl] = (
                dstudent(f[..., 0]) * dstudent(f[..., 1])
                * act_on(f[..., 2], is_student[pp[sl]]) * act_on(f[..., 3], is_student[qq[sl]])
            ) @ Wq
        I4 = np.empty((K, K, F, F))
        I4[ii, kk, pp, qq] = vals
        I4[kk, ii, pp, qq] = vals
        I4[ii, kk, qq, pp] = vals
        I4[kk, ii, qq, pp] = vals
        out["I4"] = I4
    return out


def _integral_method(student: Activation, teacher: Activation, method: str) -> str:
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got method={method!r}")
    same = student == teacher
    closed = same and student.name in ("erf", "relu")
    if method == "closed" and not closed:
        raise ValueError(
            f"no closed form for student activation {student.name!r} with teacher activation {teacher.name!r}; "
            "closed forms exist for erf/erf and relu/relu (use method='quadrature')"
        )
    if method == "auto":
        return "closed" if closed else "quadrature"
    return method


def committee_integrals(
    Omega: np.ndarray, K: int, student: Activation, teacher: Activation, method: str = "auto",
    orders: tuple[int, int, int] = (40, 16, 8),
) -> dict[str, np.ndarray]:
    """All Gaussian integrals of the ODEs at covariance ``Omega`` (student fields first)."""
    how = _integral_method(student, teacher, method)
    if how == "closed":
        if student.name == "erf":
            return erf_integrals(Omega, K)
        return relu_integrals(Omega, K)
    return quadrature_integrals(Omega, K, student, teacher, orders)


def _omega(Q, R, T):
    """``[[Q, R], [R^T, T]]`` (assembled by slices: ``np.block``'s checks were a fifth of an ODE step)."""
    K, M = R.shape
    O = np.empty((K + M, K + M))
    O[:K, :K] = Q
    O[:K, K:] = R
    O[K:, :K] = R.T
    O[K:, K:] = T
    return O


def generalisation_error(Q, R, T, v, vstar, c, student, teacher, method="auto", orders=(40, 16, 8)) -> float:
    """``test_error = E[(yhat - y)^2]/2`` on noiseless labels (Saad & Solla 1995, Eq. (6))."""
    K = Q.shape[0]
    O = _omega(Q, R, T)
    if _integral_method(student, teacher, method) == "closed":
        I2 = erf_integrals(O, K)["I2"] if student.name == "erf" else _relu_pair(np.diag(O)[:, None], np.diag(O)[None, :], O)[0]
    else:
        I2 = quadrature_integrals(O, K, student, teacher, orders, which=("I2",))["I2"]
    s = np.concatenate([-c * np.asarray(v, float), np.asarray(vstar, float)])
    # a quadratic form >= 0; clip the ~1e-16 round-off of the cancellation at perfect learning
    return max(0.5 * float(s @ I2 @ s), 0.0)


def has_closed_form(student: Activation, teacher: Activation) -> bool:
    """Whether the integrals of this (student, teacher) pair are in closed form (erf/erf, ReLU/ReLU)."""
    return _integral_method(student, teacher, "auto") == "closed"

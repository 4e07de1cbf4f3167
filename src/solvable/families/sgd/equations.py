"""Online-SGD ODEs for two-layer networks (committee machines) on Gaussian inputs.

Student ``yhat = c sum_i v_i h(lambda_i)``, ``lambda_i = w_i.x/sqrt d``; teacher
``y = sum_m v*_m g(nu_m) + sqrt(noise) xi``, ``nu_m = w*_m.x/sqrt d``.  With
``Delta = y - yhat`` and ``t = steps/d``, the order parameters ``Q = W W^T/d``,
``R = W W*^T/d`` (and ``v`` if trained) follow, as ``d -> infinity``
(Saad & Solla, PRE 52, 4225 (1995), Eqs. (10)-(11); Goldt et al., NeurIPS 2019, Eqs. (8)-(10);
Veiga et al., NeurIPS 2022, Eq. (7) for the normalisations):

* ``dR_in/dt = lr c v_i E[h'(lambda_i) nu_n Delta] - lr wd R_in``
* ``dQ_ik/dt = lr c (v_i E[h'(lambda_i) lambda_k Delta] + v_k E[h'(lambda_k) lambda_i Delta])
  + (lr^2 c^2 v_i v_k / B) (E[h'(lambda_i) h'(lambda_k) Delta0^2] + noise E[h'(lambda_i) h'(lambda_k)])
  - 2 lr wd Q_ik``
* ``dv_i/dt = lr_v c E[h(lambda_i) Delta]``  (second layer, updated with step ``lr_v/d``)
* ``test_error = E[Delta0^2] / 2`` (``Delta0``: noiseless ``Delta``).

All expectations are over the Gaussian local fields ``f = (lambda, nu) ~ N(0, Omega)``,
``Omega = [[Q, R], [R^T, T]]``, and reduce to the two-, three- and four-point integrals
``I2(p,q) = E[s_p(f_p) s_q(f_q)]``, ``I3(i,b,p) = E[h'(f_i) f_b s_p(f_p)]``,
``I4(i,k,p,q) = E[h'(f_i) h'(f_k) s_p(f_p) s_q(f_q)]`` and ``J2(i,k) = E[h'(f_i) h'(f_k)]``
(``s_p`` is ``h`` for student fields, ``g`` for teacher fields).  They are computed

* in closed form for erf (Saad & Solla 1995, Eqs. (A1)-(A4); Goldt et al. 2019, App. C),
* in closed form for ReLU for I2 (arc-cosine kernel, Cho & Saul 2009), J2 (orthant
  probability) and I3 (Stein's lemma reduction, derived in :func:`relu_integrals`), and I4
  (which contains a 4D orthant probability) by an exact reduction to a 1D integral of closed
  forms (Gaussian interpolation, :func:`relu_four_point`), accurate to ~1e-9,
* for any other activation by tensor Gauss-Hermite quadrature over the 2/3/4-dimensional
  correlated Gaussian (symmetric square root of the covariance, deterministic, vectorised
  over all index combinations).
"""
from __future__ import annotations

import time as _time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from solvable.blocks.activations import Activation
from solvable.families.sgd.learner import OnlineSGD
from solvable.numerics.gauss import hermite_rule
from solvable.families.sgd.problem import Committee, draw_committee_init
from solvable.core.results import Prediction

__all__ = [
    "erf_integrals",
    "relu_integrals",
    "relu_four_point",
    "quadrature_integrals",
    "committee_integrals",
    "ode_rhs",
    "generalisation_error",
    "initial_order_parameters",
    "integrate_committee_ode",
]

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


# ----------------------------------------------------------------------------------------
# The ODEs
# ----------------------------------------------------------------------------------------

def _omega(Q, R, T):
    return np.block([[Q, R], [R.T, T]])


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


def ode_rhs(Q, R, T, v, vstar, *, c, lr, lr_v, noise, weight_decay, batch_size, train_v,
            student, teacher, method="auto", orders=(40, 16, 8), spherical=False):
    """Right-hand side ``(dQ/dt, dR/dt, dv/dt, test_error)`` of the online-SGD ODEs (module docstring).

    ``spherical``: rows renormalised to ``Q_ii = 1`` after each step; to first order in 1/d the
    renormalisation adds ``-R_in D_i/2`` to ``dR_in/dt`` and ``-Q_ik (D_i + D_k)/2`` to ``dQ_ik/dt``, with
    ``D_i`` the unconstrained ``dQ_ii/dt`` (expansion of ``w/|w|``; cf. Ben Arous et al., JMLR 2021, Sec. 2).
    """
    K = Q.shape[0]
    ints = committee_integrals(_omega(Q, R, T), K, student, teacher, method, orders)
    s = np.concatenate([-c * v, vstar])
    A3 = ints["I3"] @ s  # (K, F): E[h'(lambda_i) f_b Delta0]
    dR = lr * c * v[:, None] * A3[:, K:] - lr * weight_decay * R
    first = v[:, None] * A3[:, :K]
    B4 = np.einsum("ikpq,p,q->ik", ints["I4"], s, s)
    dQ = lr * c * (first + first.T) + (lr**2 * c**2 / batch_size) * np.outer(v, v) * (B4 + noise * ints["J2"])
    dQ = dQ - 2 * lr * weight_decay * Q
    if spherical:
        D = np.diag(dQ).copy()
        dR = dR - 0.5 * R * D[:, None]
        dQ = dQ - 0.5 * Q * (D[:, None] + D[None, :])
    dv = lr_v * c * (ints["I2"][:K] @ s) if train_v else np.zeros(K)
    eg = 0.5 * float(s @ ints["I2"] @ s)
    return dQ, dR, dv, eg


def initial_order_parameters(problem: Committee, learner: OnlineSGD, d: int | None = 1000, seed: int = 0) -> dict:
    """Initial ``Q0, R0, T, v0``.

    With ``learner.init`` a dict of weights: their overlaps (the teacher ``W_teacher`` is
    drawn as in the simulation with ``seed`` when not given).  With ``init="random"`` and an
    integer ``d``: the overlaps of the weights a simulation at dimension ``d`` with this
    ``seed`` starts from (same draws, :func:`solvable.families.sgd.problem.draw_committee_init`),
    so theory and simulation start together.  With ``d=None``: the ``d -> infinity`` values
    ``Q0 = init_scale^2 I``, ``R0 = 0``, ``T = problem.T`` (a symmetric start, which never
    leaves the symmetric plateau of a symmetric teacher).
    """
    K, M = learner.width, problem.k
    if isinstance(learner.init, dict):
        W0 = np.asarray(learner.init["W"], dtype=float)
        dd = W0.shape[1]
        if "W_teacher" in learner.init:
            Ws = np.asarray(learner.init["W_teacher"], dtype=float)
            if Ws.shape != (M, dd):
                raise ValueError(f"init['W_teacher'] must have shape (k={M}, d={dd}), got {Ws.shape}")
        else:
            _, Ws, _ = draw_committee_init(problem, K, learner.init_scale, dd, seed)
        if learner.spherical:
            W0 = W0 * (np.sqrt(dd) / np.linalg.norm(W0, axis=1, keepdims=True))
        v0 = np.asarray(learner.init.get("v", np.ones(K)), dtype=float)
        return {"Q": W0 @ W0.T / dd, "R": W0 @ Ws.T / dd, "T": Ws @ Ws.T / dd, "v": v0.copy(), "d": dd}
    if d is None:
        return {"Q": (1.0 if learner.spherical else learner.init_scale**2) * np.eye(K), "R": np.zeros((K, M)), "T": problem.T, "v": np.ones(K), "d": None}
    if isinstance(d, bool) or int(d) != d or d < 2:
        raise ValueError(f"d must be an integer >= 2 or None, got d={d!r}")
    W0, Ws, _ = draw_committee_init(problem, K, learner.init_scale, int(d), seed, spherical=learner.spherical)
    return {"Q": W0 @ W0.T / d, "R": W0 @ Ws.T / d, "T": Ws @ Ws.T / d, "v": np.ones(K), "d": int(d)}


def integrate_committee_ode(
    Q0, R0, T, v0, vstar, times, *, c, lr, lr_v, noise, weight_decay=0.0, batch_size=1, train_v=False,
    student, teacher, method="auto", orders=(40, 16, 8), solver="RK45", rtol=1e-8, atol=1e-10,
    blowup=1e6, spherical=False, max_seconds: float | None = 60.0,
) -> dict[str, Any]:
    """Integrate the ODEs with :func:`scipy.integrate.solve_ivp` (adaptive) and sample them at ``times``.

    Returns arrays over ``times``: ``Q (n, K, K)``, ``R (n, K, M)``, ``v (n, K)``, ``test_error (n,)``,
    plus ``success``/``message``.  Integration stops (``success=False``, the later times NaN) if
    ``|Q|`` exceeds ``blowup`` (a learning rate beyond the stable range) or once it has run for
    ``max_seconds`` of wall-clock time (None: no limit), so that a costly right-hand side never hangs.
    """
    Q0 = np.asarray(Q0, float)
    R0 = np.asarray(R0, float)
    T = np.asarray(T, float)
    v0 = np.asarray(v0, float)
    vstar = np.asarray(vstar, float)
    K, M = R0.shape
    iu = np.triu_indices(K)
    nq = iu[0].size

    def unpack(y):
        Q = np.zeros((K, K))
        Q[iu] = y[:nq]
        Q = Q + np.triu(Q, 1).T
        R = y[nq:nq + K * M].reshape(K, M)
        v = y[nq + K * M:]
        return Q, R, v

    kw = dict(c=c, lr=lr, lr_v=lr_v, noise=noise, weight_decay=weight_decay, batch_size=batch_size,
              train_v=train_v, student=student, teacher=teacher, method=method, orders=orders,
              spherical=spherical)

    def f(t, y):
        Q, R, v = unpack(y)
        dQ, dR, dv, _ = ode_rhs(Q, R, T, v, vstar, **kw)
        return np.concatenate([dQ[iu], dR.ravel(), dv])

    def blow(t, y):
        return blowup - np.max(np.abs(y[:nq]))

    blow.terminal = True
    start = _time.perf_counter()

    stop = []

    def budget(t, y):  # crosses zero at the first step end past the wall-clock budget: stops there
        if not stop and max_seconds is not None and _time.perf_counter() - start > max_seconds:
            stop.append(t)
        return stop[0] - t if stop else 1.0

    budget.terminal = True
    y0 = np.concatenate([Q0[iu], R0.ravel(), v0])
    times = np.asarray(times, float)
    sol = solve_ivp(f, (float(times[0]), float(times[-1])), y0, method=solver, t_eval=times,
                    rtol=rtol, atol=atol, events=[blow, budget])
    n = times.size
    Qs = np.full((n, K, K), np.nan)
    Rs = np.full((n, K, M), np.nan)
    vs = np.full((n, K), np.nan)
    eg = np.full(n, np.nan)
    for j in range(sol.y.shape[1]):
        Q, R, v = unpack(sol.y[:, j])
        Qs[j], Rs[j], vs[j] = Q, R, v
        eg[j] = generalisation_error(Q, R, T, v, vstar, c, student, teacher, method, orders)
    ok = bool(sol.status == 0 and sol.y.shape[1] == n)
    if sol.status != 1:
        msg = sol.message
    elif len(sol.t_events[0]):
        msg = f"|Q| exceeded {blowup:g} at t={sol.t_events[0][0]:.4g}: learning rate too large"
    else:
        msg = (f"stopped at t={sol.t_events[1][0]:.4g} of {times[-1]:g} after max_seconds={max_seconds:g} s of wall-clock time "
               f"({sol.nfev} right-hand-side evaluations, {1e3 * (_time.perf_counter() - start) / max(sol.nfev, 1):.1f} ms "
               f"each): raise max_seconds, or lower the quadrature orders")
    return {"Q": Qs, "R": Rs, "v": vs, "test_error": eg, "success": ok, "message": msg, "nfev": sol.nfev}


def _trajectory_frame(t, fields: dict[str, np.ndarray]) -> pd.DataFrame:
    cols = {"t": t, "test_error": fields["test_error"]}
    for name in ("Q", "R", "T"):
        A = fields[name]
        for a in range(A.shape[1]):
            for b in range(A.shape[2]):
                cols[f"{name}_{a}{b}"] = A[:, a, b]
    for a in range(fields["v"].shape[1]):
        cols[f"v_{a}"] = fields["v"][:, a]
    return pd.DataFrame(cols)


def predict_committee_sgd(
    problem: Committee,
    learner: OnlineSGD,
    *,
    d: int | None = 1000,
    seed: int = 0,
    Q0=None,
    R0=None,
    T=None,
    v0=None,
    method: str = "auto",
    orders: tuple[int, int, int] = (40, 16, 8),
    solver: str = "LSODA",
    rtol: float | None = None,
    atol: float | None = None,
    max_seconds: float | None = 60.0,
) -> Prediction:
    """The ODE learning curve of online SGD (Saad & Solla 1995; Goldt et al. 2019).

    Initial conditions: ``Q0``/``R0``/``T``/``v0`` if given; else those of the weights a
    simulation at dimension ``d`` with ``seed`` starts from (default ``d=1000, seed=0``;
    ``d=None``: the symmetric ``d -> infinity`` start), see :func:`initial_order_parameters`.
    ``solver``/``rtol``/``atol``: passed to :func:`scipy.integrate.solve_ivp` (defaults: LSODA, 1e-8, 1e-10;
    for kinked activations integrated by quadrature (e.g. sign), whose terms are only piecewise smooth in
    the order parameters, RK45 with 1e-5, 1e-8; ReLU/ReLU has exact integrals and the smooth defaults).
    ``method``: ``"auto"`` (closed forms for erf and ReLU, quadrature otherwise),
    ``"closed"`` or ``"quadrature"``; ``orders``: Gauss-Hermite nodes per dimension (2D, 3D, 4D).
    Returns arrays over the time grid: ``t``, ``test_error``, ``Q``, ``R``, ``T``, ``v``, and
    ``trajectory`` (a DataFrame, one row per time).  If the ODE blows up (learning rate too large)
    the remaining times are NaN and ``converged`` is False (reported by ``sv.predict``'s ``on_fail``); the
    same when the integration has run for ``max_seconds`` (default 60 s of wall-clock time; None: no limit).
    """
    K, M = learner.width, problem.k
    ic = initial_order_parameters(problem, learner, d=d, seed=seed)
    Q0 = ic["Q"] if Q0 is None else np.asarray(Q0, float)
    R0 = ic["R"] if R0 is None else np.asarray(R0, float)
    Tm = ic["T"] if T is None else np.asarray(T, float)
    v0 = ic["v"] if v0 is None else np.asarray(v0, float)
    if Q0.shape != (K, K) or R0.shape != (K, M) or Tm.shape != (M, M) or v0.shape != (K,):
        raise ValueError(
            f"initial conditions must have shapes Q0 ({K},{K}), R0 ({K},{M}), T ({M},{M}), v0 ({K},); "
            f"got {Q0.shape}, {R0.shape}, {Tm.shape}, {v0.shape}"
        )
    # kinked activations integrated by quadrature (e.g. sign): fixed nodes make the right-hand side
    # piecewise smooth, a tight tolerance would only chase the jumps.  ReLU/ReLU uses exact integrals
    # (smooth right-hand side), hence the smooth defaults.
    how = _integral_method(learner.activation, problem.activation, method)
    kinked = bool(learner.activation.kinks or problem.activation.kinks) and how != "closed"
    if rtol is None:
        rtol = 1e-5 if kinked else 1e-8
    if atol is None:
        atol = 1e-8 if kinked else 1e-10
    if kinked and solver == "LSODA":
        solver = "RK45"
    t = learner.time_grid()
    if t[0] != 0.0:
        t_int = np.concatenate([[0.0], t])
    else:
        t_int = t
    t0 = _time.perf_counter()
    out = integrate_committee_ode(
        Q0, R0, Tm, v0, problem.second_layer, t_int, c=learner.output_scale, lr=learner.lr_first_eff,
        lr_v=learner.lr_second_eff, noise=problem.noise, weight_decay=learner.weight_decay,
        batch_size=learner.batch_size, train_v=learner.train_second_layer, student=learner.activation,
        teacher=problem.activation, method=method, orders=orders, solver=solver, rtol=rtol, atol=atol,
        spherical=learner.spherical, max_seconds=max_seconds,
    )
    sl = slice(t_int.size - t.size, None)
    fields = {
        "t": t,
        "test_error": out["test_error"][sl],
        "Q": out["Q"][sl],
        "R": out["R"][sl],
        "T": np.broadcast_to(Tm, (t.size, M, M)).copy(),
        "v": out["v"][sl],
    }
    info = {
        "message": out["message"], "nfev": out["nfev"], "seconds": _time.perf_counter() - t0,
        "integrals": _integral_method(learner.activation, problem.activation, method),
        "init_d": ic["d"], "init_seed": seed,
    }
    if not out["success"]:  # the times after the failure are NaN already; the driver reports it
        info["failure"] = f"online-SGD ODE integration failed: {out['message']}"
        info["blanked"] = True
    return Prediction(fields, problem=problem, learner=learner, converged=out["success"],
                      trajectory=_trajectory_frame(t, fields), info=info)

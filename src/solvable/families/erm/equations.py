"""Exact asymptotics of empirical risk minimisation on Gaussian data.

Problem: ``GLM(prior, channel, alpha, data)`` with ``data`` None (isotropic), or a data
model of :mod:`solvable.data` (a covariance spectrum, the Gaussian covariate model, and
any model that gives a :class:`~solvable.data.Spectrum`).  Learner: ``ERM(loss, penalty)``.

Equations (Loureiro, Gerbelot, Cui, Goldt, Krzakala, Mezard, Zdeborova, NeurIPS 2021,
eqs. (2.7)-(2.9) / Thm. 1; Aubin, Krzakala, Lu, Zdeborova, NeurIPS 2020, eqs. (8)-(9) for the
isotropic case).  With ``f = (prox_V(y, omega) - omega) / V`` the loss side reads

    Vhat = -a E[ d_omega f ],   qhat = a E[ f^2 ],   mhat = a E[ (z - m omega / q) f ] / (rho - m^2 / q),

(``a = alpha / ratio``; ``(z, omega)`` centred Gaussian with covariance ``[[rho, m], [m, q]]``,
``y ~ P(y | z)``; the mhat form is Stein's lemma applied to Loureiro et al.'s
``int dy d_omega Z0 f``), and for an L2 penalty the penalty side is a sum over the spectral
measure ``(omega_k, power_k, weight_k)`` (eq. (2.9) of Loureiro et al. in the eigenbasis):

    V = sum_k w_k om_k / (lam + Vhat om_k),
    m = mhat sum_k w_k om_k p_k / (lam + Vhat om_k),
    q = sum_k w_k om_k^2 (mhat^2 p_k + qhat) / (lam + Vhat om_k)^2.

For L1 / ElasticNet (isotropic data) the penalty side is the scalar channel
``w = prox_{pen / Vhat}((mhat theta + sqrt(qhat) xi) / Vhat)`` with ``theta ~ prior``
(Aubin et al. 2020 eq. (9); Thrampoulidis, Abbasi, Hassibi, IEEE TIT 2018 for the CGMT view):
``m = E theta w``, ``q = E w^2``, ``V = E[d w / d B]``.

Numerics: all outer expectations are computed on fixed quadrature grids, vectorised over
every alpha (and lam) of the curve and every node at once, with the loss prox evaluated in one
call and split at its kinks (:meth:`Loss.prox_kinks`).  Classification channels (``Sign``,
``Probit``; labels +-1) integrate ``z`` analytically (``Z_out`` and ``gout`` of the channel at
mean ``m omega / q`` and variance ``rho - m^2/q``), leaving a 1D composite Gauss-Legendre
integral over ``omega`` split at the kinks of the prox.  A linear channel (``Channel.is_linear``)
uses a 2D rule in ``(omega, y - omega)`` split at the prox kinks; other regression channels a
3D rule (``z`` split at the channel's kinks, output noise, ``omega | z`` split at the prox
kinks).  The square loss has a closed-form loss side (from :meth:`Channel.label_moments`).
The fixed point is iterated for all points of a curve at once (``solve_fixed_point(batch=True)``,
Anderson).
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from scipy import optimize

from solvable.blocks.channels import Channel
from solvable.blocks.data.spectra import DataModel, Isotropic, Spectrum
from solvable.blocks.learners import ERM
from solvable.blocks.losses import Loss
from solvable.numerics.fixed_point import ConvergenceError, ConvergenceWarning, newton_rows, solve_fixed_point
from solvable.numerics.gauss import composite_legendre_nodes, hermite_rule
from solvable.blocks.penalties import Penalty
from solvable.blocks.problems import GLM
from solvable.core.results import Prediction

__all__ = ["erm_theory", "optimal_penalty", "separability_threshold"]

_TINY = 1e-300


# --------------------------------------------------------------------------- validation
def _check_pair(loss: Loss, penalty: Penalty, channel: Channel) -> None:
    if not isinstance(loss, Loss):
        raise ValueError(f"ERM: loss must be a solvable.losses.Loss, got {loss!r}")
    if not loss.has_prox:
        raise ValueError(f"ERM theory: unsupported loss {loss!r}; supported: Square, Logistic, Hinge, HardMargin, "
                         f"Huber, Absolute, Tukey")
    if loss.is_constraint and getattr(penalty, "l1_ratio", None) != 0.0:
        raise ValueError(f"ERM: the hard-margin (max-margin) classifier needs an L2 penalty, got {penalty!r}")
    if getattr(penalty, "l1_ratio", None) is None:
        raise ValueError(f"ERM theory: unsupported penalty {penalty!r}; supported: L2, L1, ElasticNet")
    if getattr(loss, "can_jump", False) and not (channel.is_linear or hasattr(channel, "components")):
        raise ValueError(f"ERM theory: the {loss.name} loss (a non-convex loss whose proximal step can jump) is "
                         f"implemented on the Linear and Outliers channels, got {channel!r}")
    if loss.is_classification and not channel.is_classification:
        raise ValueError(
            f"ERM: the {loss.name} loss is a classification loss (labels +-1) but the channel "
            f"{channel!r} is a regression channel; use Square, Huber or Absolute"
        )


def _check_negative_ridge(loss: Loss, penalty: Penalty, spec: Spectrum, a, lams) -> None:
    """A negative L2 strength: the square loss on isotropic inputs, above the convexity bound ``-(sqrt(alpha)
    - 1)^2`` (the lower edge of the Marchenko-Pastur law of ``A^T A``, ``A = X / sqrt(d)``; none for ``alpha <=
    1``, where ``A^T A`` has a null space and the objective is unbounded below)."""
    if not loss.is_square:  # sum_mu loss + lam |w|^2 / 2 -> -inf along any direction when the loss grows slower
        # than quadratically (linearly: Huber, absolute, logistic, hinge; bounded: Tukey)
        raise ValueError(f"ERM: lam={float(np.min(lams))!r} < 0 with the {loss.name} loss: a loss that grows slower "
                         f"than quadratically makes the objective unbounded below for every lam < 0 (no minimiser "
                         f"exists); a negative lam is for the square loss")
    if not (penalty.l1_ratio == 0.0 and spec.is_isotropic):
        raise ValueError(f"ERM: a negative lam is implemented for the square loss with an L2 penalty on isotropic "
                         f"inputs (data=None), got penalty={penalty!r}, data with a non-trivial spectrum")
    bound = -np.where(a > 1.0, (np.sqrt(a) - 1.0) ** 2, 0.0)
    bad = lams <= bound
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"ERM: lam={float(lams[i])!r} at alpha={float(a[i])!r} is at or below the convexity bound "
                         f"-(sqrt(alpha) - 1)^2 = {float(bound[i]):.6g} (0 for alpha <= 1): the objective is unbounded "
                         f"below")


def _check_no_bias(learner: ERM) -> None:
    if learner.bias:
        raise ValueError("ERM on a GLM: bias=True is not supported (the teacher-student GLM engine fits no "
                         "intercept); the Gaussian-mixture family (solvable.GaussianMixture) fits one")


def _spectrum(problem: GLM) -> Spectrum:
    data = problem.data
    if data is None:
        data = Isotropic()
    if not isinstance(data, DataModel):
        raise ValueError(f"ERM theory: data must be None or a solvable.data.DataModel, got data={data!r}")
    return data.spectrum(problem.prior)


# --------------------------------------------------------------------------- loss side
class _LossSide:
    """Outer expectations of the loss side for a fixed (loss, channel, rho)."""

    def __init__(self, loss: Loss, channel: Channel, rho: float, *, n: int = 40, n_noise: int = 16):
        self.loss, self.channel, self.rho, self.n, self.n_noise = loss, channel, float(rho), n, n_noise
        if loss.is_square:  # closed form from E[z y], E[y^2] of the channel
            self.kind = "square"
            self.Ezy, self.Ey2 = channel.label_moments(self.rho)
        elif channel.is_classification:
            self.kind = "classification"
        elif channel.is_linear:
            self.kind = "linear"
        elif hasattr(channel, "components"):  # a mixture of Gaussian channels y = s z + sqrt(D) xi (Outliers)
            self.kind = "mixture"
        else:
            self.kind = "regression"

    def __call__(self, m, q, V, a, *, metrics: bool = False, s2=None, loss=None, yf: bool = False):
        """(mhat, qhat, Vhat) [and train_loss] for arrays of rows.  ``s2``: ``rho - m^2 / q`` when
        the caller knows it without cancellation (classification channels only).  ``loss`` (a
        classification channel only) replaces the side's loss for this call (adversarial training's
        margin-shifted loss, whose shift depends on the row); ``yf`` appends ``a E[y f_out]``."""
        if self.kind == "classification":
            return self._classification(m, q, V, a, metrics, s2, loss=loss, yf=yf)
        if loss is not None or yf:
            raise ValueError("_LossSide: a replaced loss and E[y f_out] are for classification channels")
        return getattr(self, "_" + self.kind)(m, q, V, a, metrics)

    def _square(self, m, q, V, a, metrics):
        Ery2 = self.Ey2 - 2.0 * m / self.rho * self.Ezy + q  # E (y - omega)^2
        Vhat = a / (1.0 + V)
        mhat = a * self.Ezy / self.rho / (1.0 + V)
        qhat = a * Ery2 / (1.0 + V) ** 2
        out = (mhat, qhat, Vhat)
        if metrics == "replicon":  # d_omega f = -1 / (1 + V)
            return out + (a / (1.0 + V) ** 2,)
        if metrics:
            return out + (0.5 * Ery2 / (1.0 + V) ** 2,)
        return out

    def _classification(self, m, q, V, a, metrics, s2=None, loss=None, yf=False, sharp=None):
        loss = self.loss if loss is None else loss
        ch, rho = self.channel, self.rho
        sq = np.sqrt(q)
        s2f = np.maximum(rho - m * m / q, 1e-12 * rho) if s2 is None else np.maximum(s2, 1e-300)
        # near-perfect overlap: Z_out(y, m omega / q, s2) steps at omega = 0 over a width
        # sqrt(s2) q / |m| << sqrt(q); cuts at a few such widths resolve it
        wpk = np.sqrt(s2f + getattr(ch, "noise", 0.0)) * q / np.maximum(np.abs(m), _TINY)
        need = wpk < 0.3 * sq
        if sharp is None and need.any() and not need.all():
            # the rows that need the cuts and the others apart: every row of one call shares its node count, so
            # the sharp rows had made every row take the 6 extra pieces (a 20-point logistic curve, alpha in
            # [0.5, 10]: 96 -> 83 ms, measured side by side, the same numbers to 2e-16)
            def part(ix):
                ss = None if s2 is None else np.asarray(s2)[ix]
                return self._classification(m[ix], q[ix], V[ix], np.broadcast_to(a, m.shape)[ix], metrics, ss,
                                            loss=None if loss is self.loss else _row_loss(loss, ix), yf=yf,
                                            sharp=bool(need[ix][0]))
            i1, i0 = np.flatnonzero(need), np.flatnonzero(~need)
            r1, r0 = part(i1), part(i0)
            out = []
            for x1, x0 in zip(r1, r0):
                x = np.empty(len(m))
                x[i1], x[i0] = x1, x0
                out.append(x)
            return tuple(out)
        ylab = np.array([1.0, -1.0])
        kinks = loss.prox_kinks(ylab[None, :], V[:, None]).reshape(len(V), -1)
        bp = np.concatenate([kinks, np.zeros((len(V), 1))], axis=1)
        if need.any():
            bp = np.concatenate([bp, wpk[:, None] * np.array([-8.0, -2.5, -0.7, 0.7, 2.5, 8.0])], axis=1)
        s, ws = composite_legendre_nodes(np.zeros_like(sq), sq, bp, self.n, 10.0)
        om = (sq[:, None] * s)[:, None, :]  # (N, 1, M)
        y = ylab[None, :, None]  # (1, 2, 1)
        mu = (m / q)[:, None, None] * om
        s2 = s2f[:, None, None]
        logZ, g0, _ = ch.output_moments(y, mu, s2)
        Zw = np.exp(logZ) * ws[:, None, :]
        return _conjugates(loss, y, om, V[:, None, None], Zw, g0, a, metrics, yf=y if yf else None)

    def _mixture(self, m, q, V, a, metrics):
        """A mixture of Gaussian channels: every conjugate (and the training loss) is an expectation over
        the joint law of (y, omega), so it is the mixture of the components' (for mhat too: ``Z0 d log Z0 =
        sum_c p_c d Z_c``)."""
        out = None
        for p, c in self.channel.components:
            if p > 0:
                part = self._linear(m, q, V, a, metrics, slope=c.slope, D=c.noise)
                out = [p * x for x in part] if out is None else [o + p * x for o, x in zip(out, part)]
        return tuple(out)

    def _linear(self, m, q, V, a, metrics, slope=1.0, D=None):
        """(omega, r = y - omega) jointly Gaussian for ``y = slope z + sqrt(D) xi``; prox kinks are fixed in r."""
        loss, rho = self.loss, self.rho
        D = self.channel.noise if D is None else D
        N = len(V)
        sq = np.sqrt(q)
        u, wu = composite_legendre_nodes(np.zeros(N), sq, None, self.n, 10.0)  # omega = sq u
        om = sq[:, None] * u  # (N, Mo)
        var_r = np.maximum(slope * slope * rho + D - 2 * slope * m + q, 0.0)
        cov = slope * m - q
        reg = cov / q  # the regression coefficient of r on omega
        cvar = np.maximum(var_r - reg * cov, 1e-14 * np.maximum(var_r, 1e-300))
        rc = reg[:, None] * om  # conditional mean of r
        kin = loss.prox_kinks(np.zeros(N), V)  # kinks for y = 0: omega = -c, +c  ->  r = +-c
        bp = np.broadcast_to((-kin)[:, None, :], (N, om.shape[1], kin.shape[-1]))
        sd = np.broadcast_to(np.sqrt(cvar)[:, None], rc.shape)
        v, wv = composite_legendre_nodes(rc, sd, bp, self.n, 10.0)
        r = rc[..., None] + sd[..., None] * v  # (N, Mo, Mr)
        omb = om[..., None]
        y = omb + r
        W = wu[..., None] * wv
        s2 = slope * slope * np.maximum(rho - m * m / q, 0.0) + D
        g0 = slope * (y - slope * (m / q)[:, None, None] * omb) / np.maximum(s2, _TINY)[:, None, None]
        stein = None
        if getattr(loss, "can_jump", False):  # E[d_omega f | y] = E[(omega - E[omega | y]) f | y] / Var(omega | y)
            vy = slope * slope * rho + D
            cyo = slope * m / np.maximum(vy, _TINY)
            vo = np.maximum(q - slope * m * cyo, 1e-14 * q)
            stein = (omb - cyo[:, None, None] * y) / vo[:, None, None]
        return _conjugates(loss, y, omb, V[:, None, None], W, g0, a, metrics, stein=stein)

    def _regression(self, m, q, V, a, metrics):
        """z (outer, split at the channel's kinks), output noise, omega | z (split at prox kinks)."""
        loss, ch, rho = self.loss, self.channel, self.rho
        N = len(V)
        bpz = np.asarray(ch.kinks, float) if ch.kinks else None
        # z: a composite rule (8 pieces of 20 nodes): the omega-integral varies on the scale where
        # the label phi(z) crosses the prox kinks around omega, far finer than the Gaussian's for a
        # curved phi (Square): one 40-node Legendre rule on [-10, 10] sd was 1.7e-2 (noisy) to
        # 1.2e-1 (noiseless) off there, now <= 7e-5 against a 640-node rule (issue 13)
        u, wu = composite_legendre_nodes(np.zeros(N), np.full(N, np.sqrt(rho)), bpz, 20, 10.0, 8)
        z = np.sqrt(rho) * u  # (N, Mz)
        if ch.noise > 0:
            xi, wxi = hermite_rule(self.n_noise)
        else:
            xi, wxi = np.zeros(1), np.ones(1)
        y = ch.phi(z)[..., None] + np.sqrt(ch.noise) * xi  # (N, Mz, Mx)
        center = np.broadcast_to(((m / rho)[:, None] * z)[..., None], y.shape)
        tau = np.sqrt(np.maximum(q - m * m / rho, 1e-14 * q))
        sd = np.broadcast_to(tau[:, None, None], y.shape)
        bp = loss.prox_kinks(y, V[:, None, None])
        v, wv = composite_legendre_nodes(center, sd, bp, self.n, 10.0)
        om = center[..., None] + sd[..., None] * v  # (N, Mz, Mx, Mo)
        yb = y[..., None]
        W = wu[:, :, None, None] * wxi[None, None, :, None] * wv
        den = np.maximum(rho - m * m / q, 1e-14 * rho)
        g0 = (z[:, :, None, None] - (m / q)[:, None, None, None] * om) / den[:, None, None, None]
        return _conjugates(loss, yb, om, V[:, None, None, None], W, g0, a, metrics)


def _row_loss(loss, ix):
    """A row-dependent loss (adversarial training's margin shift, one per row) restricted to the rows ``ix``."""
    sub = getattr(loss, "rows", None)
    if sub is None:
        raise ValueError(f"_LossSide: a replaced loss must support rows(ix) to split its rows, got {loss!r}")
    return sub(ix)


def _conjugates(loss, y, om, Vb, W, g0, a, metrics, stein=None, yf=None):
    """Loss-side conjugates from quadrature weights W (leading axis = grid point):
    Vhat = -a E[df_out], qhat = a E[f_out^2], mhat = a E[g0 f_out], with f_out = (prox - omega)/V
    (Loureiro et al. 2021, eq. (2.8)); with ``metrics`` also E[loss(y, prox)] (the training loss), with
    ``metrics="replicon"`` instead ``a E[(d_omega f_out)^2]``; with labels ``yf`` (classification) last
    ``a E[y f_out]`` (the conjugate of an attack norm in adversarial training)."""
    p, dp = loss.prox_and_derivative(y, om, Vb)
    f = (p - om) / Vb
    df = (dp - 1.0) / Vb
    ax = tuple(range(1, W.ndim))
    Vhat = -a * np.sum(W * df, axis=ax)
    jumps = None
    if stein is not None:  # a proximal step that can jump: d_omega f has a Dirac mass at a jump, which the
        # pointwise derivative misses, and a sharp peak near one; Stein's lemma over omega | y (``stein`` =
        # (omega - E[omega|y]) / Var(omega|y)) integrates both (Tukey at V = 1.2, 40 nodes a piece: 0.3% off
        # where the derivative was 45% off).  Where the prox jumps the replicon is infinite (its (d f)^2)
        jumps = np.asarray(loss.prox_jumps(Vb), bool).reshape(Vb.shape[0], -1).any(axis=1)
        Vhat = -a * np.sum(W * f * stein, axis=ax)
    qhat = a * np.sum(W * f * f, axis=ax)
    mhat = a * np.sum(W * g0 * f, axis=ax)
    extra = () if yf is None else (a * np.sum(W * yf * f, axis=ax),)
    if metrics == "replicon":  # a E[(d_omega f)^2], the loss side of the replicon (:func:`_stability`)
        rep = a * np.sum(W * df * df, axis=ax)
        return (mhat, qhat, Vhat, (rep if jumps is None else np.where(jumps, np.inf, rep))) + extra
    if metrics:
        return (mhat, qhat, Vhat, np.sum(W * loss.value(y, p), axis=ax)) + extra
    return (mhat, qhat, Vhat) + extra


# --------------------------------------------------------------------------- penalty side
def _l2_inv(spec: Spectrum, lam, Vhat, shift=None):
    """``1 / (lam + shift_k + Vhat om_k)`` (rows x modes), 0 on the null eigenvalues: the L2 side's resolvent
    (``shift``, rows x modes: an extra quadratic penalty diagonal in the same basis, e.g. adversarial training's
    ``Phat delta_k``)."""
    om = spec.omega[None, :]
    den = lam[:, None] + Vhat[:, None] * om if shift is None else lam[:, None] + shift + Vhat[:, None] * om
    pos = om > 0
    return np.where(pos, 1.0 / np.where(pos, den, 1.0), 0.0)


def _mode_second_moments(spec: Spectrum, inv, mhat, qhat):
    """``E w_k^2 = om_k (mhat^2 power_k + qhat) inv_k^2`` (rows x modes) for the resolvent ``inv`` of
    :func:`_l2_inv`: the estimator's second moment along each mode (Loureiro et al. 2021, eq. (2.9): ``q = sum_k
    w_k om_k E w_k^2``, ``|w|^2 / P = sum_k w_k E w_k^2``)."""
    return spec.omega[None, :] * (mhat[:, None] ** 2 * spec.power[None, :] + qhat[:, None]) * inv * inv


def _l2_side(spec: Spectrum, lam, mhat, qhat, Vhat, *, gap: bool = False):
    """Loureiro et al. 2021, eq. (2.9) with an L2 penalty, in the eigenbasis of Omega.

    ``gap=True`` also returns ``rho q - m^2`` without cancellation: with ``u_k = om_k / (lam +
    Vhat om_k)`` and ``S = sum_k w_k p_k``, it is ``mhat^2 [(rho - S) sum w p u^2 + S Var_wp(u)]
    + rho qhat sum w u^2`` (Cauchy-Schwarz gap as a variance, two-pass)."""
    om, pw, wt = spec.omega[None, :], spec.power[None, :], spec.weight[None, :]
    inv = _l2_inv(spec, lam, Vhat)
    V = np.sum(wt * om * inv, axis=1)
    m = mhat * np.sum(wt * om * pw * inv, axis=1)
    q = np.sum(wt * om * om * (mhat[:, None] ** 2 * pw + qhat[:, None]) * inv * inv, axis=1)
    if not gap:
        return m, q, V
    u = om * inv
    S = np.sum(wt * pw)
    ubar = np.sum(wt * pw * u, axis=1, keepdims=True) / max(S, _TINY)
    var = np.sum(wt * pw * (u - ubar) ** 2, axis=1)
    g = mhat ** 2 * (max(spec.rho - S, 0.0) * np.sum(wt * pw * u * u, axis=1) + S * var) \
        + spec.rho * qhat * np.sum(wt * u * u, axis=1)
    return m, q, V, g


def _hard_margin_V(spec: Spectrum, lam, c):
    """V of the max-margin fixed point given ``c = Vhat V = a P(y omega < 1)``.

    For the hard-margin constraint ``f_out = (y - omega) 1[y omega < 1] / V``, so ``Vhat V``,
    ``qhat V^2`` and ``mhat V`` depend on (m, q) only; the L2 side ``V = sum_k w_k om_k /
    (lam + Vhat om_k)`` then reads ``sum_k w_k om_k / (lam V + c om_k) = 1``, decreasing and
    convex in V: solved by Newton from the right (monotone after the first step).  It has a
    root iff ``c < sum_{om_k > 0} w_k`` (fewer support vectors than features); otherwise a tiny
    V is returned, which increases q at the next step and so reduces c."""
    om, wt = spec.omega[None, :], spec.weight[None, :]
    lam = np.asarray(lam, float)[:, None]
    c = np.asarray(c, float)[:, None]
    V = np.sum(wt * om, axis=1, keepdims=True) / lam  # h(V) <= 1 here
    for _ in range(100):
        den = lam * V + c * om
        h = np.sum(wt * om / den, axis=1, keepdims=True) - 1.0
        dh = -np.sum(wt * om * lam / den ** 2, axis=1, keepdims=True)
        Vn = V - h / dh
        Vn = np.where(Vn > 0, Vn, 0.1 * V)
        done = np.abs(Vn - V) <= 1e-14 * V
        V = Vn
        if done.all():
            break
    return np.maximum(V[:, 0], 1e-300)


class _SeparableSide:
    """Scalar-channel penalty side for L1 / ElasticNet on isotropic data (Aubin et al. 2020, eq. (9))."""

    def __init__(self, prior, lam, l1_ratio, *, n: int = 40):
        self.prior, self.n = prior, n
        self.lam = np.asarray(lam, float)
        self.r = float(l1_ratio)
        self.mixture = prior.exact_mixture()
        if self.mixture is None:
            self.th, self.wth = prior._quadrature(60)

    def __call__(self, mhat, qhat, Vhat):
        if self.mixture is not None:
            return self._through_b_law(mhat, qhat, Vhat)
        N = len(mhat)
        l1 = self.lam * self.r
        l2 = self.lam * (1.0 - self.r)
        th = self.th[None, :]
        center = mhat[:, None] * th  # B = mhat theta + sqrt(qhat) xi
        sd = np.broadcast_to(np.sqrt(qhat)[:, None], center.shape)
        bp = np.broadcast_to(np.stack([-l1, l1], -1)[:, None, :], (N, th.shape[1], 2))
        v, wv = composite_legendre_nodes(center, sd, bp, self.n, 10.0)
        B = center[..., None] + sd[..., None] * v
        l1b, l2b, Vh = l1[:, None, None], l2[:, None, None], Vhat[:, None, None]
        w = np.sign(B) * np.maximum(np.abs(B) - l1b, 0.0) / (Vh + l2b)
        dw = np.where(np.abs(B) > l1b, 1.0, 0.0) / (Vh + l2b)
        W = self.wth[None, :, None] * wv
        m = np.sum(W * th[..., None] * w, axis=(1, 2))
        q = np.sum(W * w * w, axis=(1, 2))
        V = np.sum(W * dw, axis=(1, 2))
        return m, q, V

    def _through_b_law(self, mhat, qhat, Vhat):
        """For a prior that is a finite Gaussian mixture: ``B = mhat theta + sqrt(qhat) xi`` is a
        Gaussian mixture, ``E[theta | B]`` linear in each component, and every term a 1D integral
        in B cut at the soft-threshold kinks ``|B| = l1`` (exact however narrow the components
        get; a fixed rule in theta missed the kinks once ``sqrt(qhat) / mhat`` fell below its node
        spacing, e.g. mse 0.0168 for 0.0146 at alpha = 2, lam = 0.1, noiseless linear teacher)."""
        pi, mu, var = (np.asarray(t, float) for t in self.mixture)
        N, K = len(mhat), len(pi)
        l1 = (self.lam * self.r) * np.ones(N)
        l2 = (self.lam * (1.0 - self.r)) * np.ones(N)
        center = mhat[:, None] * mu[None, :]  # (N, K)
        sB2 = mhat[:, None] ** 2 * var[None, :] + qhat[:, None]
        sd = np.sqrt(sB2)
        bp = np.broadcast_to(np.stack([-l1, l1], -1)[:, None, :], (N, K, 2))
        v, wv = composite_legendre_nodes(center, sd, bp, self.n, 10.0)
        B = center[..., None] + sd[..., None] * v  # (N, K, nodes)
        beta = (mhat[:, None] * var[None, :] / sB2)[..., None]
        theta_B = mu[None, :, None] + beta * (B - center[..., None])  # E[theta | B, component]
        l1b, l2b, Vh = l1[:, None, None], l2[:, None, None], Vhat[:, None, None]
        w = np.sign(B) * np.maximum(np.abs(B) - l1b, 0.0) / (Vh + l2b)
        dw = np.where(np.abs(B) > l1b, 1.0, 0.0) / (Vh + l2b)
        W = pi[None, :, None] * wv
        return (np.sum(W * theta_B * w, axis=(1, 2)), np.sum(W * w * w, axis=(1, 2)),
                np.sum(W * dw, axis=(1, 2)))


# --------------------------------------------------------------------------- square loss + L2
def _square_l2(spec: Spectrum, a, lam, b: float, noise_eff: float):
    """Closed form of the square-loss / L2 saddle point on a spectrum, without cancellations.

    The fixed point reduces to one monotone scalar equation for the effective regularisation
    ``kappa = lam / Vhat`` (Cui, Loureiro, Krzakala, Zdeborova, NeurIPS 2021, eq. (9) in the
    units ``lam = lambda n / P``; Bordelon, Canatar, Pehlevan, ICML 2020, eq. (8); Loureiro et al.
    2021, eqs. (2.7)-(2.9) with the square loss):

        h(kappa) = a - lam / kappa - sum_k w_k om_k / (kappa + om_k) = 0,

    increasing in kappa with the bracket ``[lam / a, (lam + E om) / a]``.  With
    ``g_k = om_k / (kappa + om_k)``, ``1 - g_k = kappa / (kappa + om_k)``, ``y = b z + eps``
    (``b = E[zy] / rho``, ``noise_eff = E y^2 - b^2 rho``) the test error is the sum of
    non-negative bias and variance terms (the bias-variance form of Cui et al. 2021, section 2;
    Canatar, Bordelon, Pehlevan, Nat. Commun. 2021; derived here from eqs. (2.7)-(2.9) of
    Loureiro et al. 2021: per mode ``p - 2 b p g + q_k = b^2 p (1 - g)^2 + v g^2``):

        bias = b^2 [ (rho - sum_k w_k p_k) + sum_k w_k p_k (1 - g_k)^2 ],
        E_g  = (noise_eff + bias) / (1 - sum_k w_k g_k^2 / a),

    where ``a - sum w g^2 = Vhat + sum w g (1 - g)`` (from the kappa equation) is evaluated as a
    sum of non-negative terms.  ``test_error = E_g`` (noise included), ``v = E_g / a = qhat /
    Vhat^2`` is the variance per mode, and ``mse = rho - 2 m + q`` is evaluated as
    ``(rho - sum w p) + sum_k w_k [p_k (1 - b g_k)^2 + v g_k^2]``.  Returns (fields, extras):
    two dicts of arrays, extras holding ``kappa``, ``bias`` and ``variance`` (``E_g = noise_eff +
    bias + variance``, each term computed without subtraction).
    """
    om, pw, wt = spec.omega[None, :], spec.power[None, :], spec.weight[None, :]
    a = np.asarray(a, float)
    lam = np.asarray(lam, float)
    pos = om > 0
    Eom = float(np.sum(spec.weight * spec.omega))
    N = len(a)

    def S1(kap):
        return np.sum(wt * np.where(pos, om / (kap[:, None] + om + ~pos), 0.0), axis=1)

    kappa = np.zeros(N)
    live = lam > 0
    if live.any():
        la, aa = lam[live], a[live]
        lo = np.log(la / aa)
        hi = np.log((la + Eom) / aa)
        for _ in range(200):  # bisection in log kappa down to round-off (h is monotone)
            mid = 0.5 * (lo + hi)
            k = np.exp(mid)
            with np.errstate(all="ignore"):
                h = aa - la / k - S1(k)
            up = h > 0
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
            if np.all(hi - lo < 1e-15 * np.maximum(1.0, np.abs(hi))):
                break
        kappa[live] = np.exp(0.5 * (lo + hi))
    neg = lam < 0
    if neg.any():  # isotropic (checked): a kappa^2 + (a - lam - 1) kappa - lam = 0, the root on the branch of lam -> 0
        an, ln = a[neg], lam[neg]
        kappa[neg] = (-(an - ln - 1.0) + np.sqrt(np.maximum((an - ln - 1.0) ** 2 + 4.0 * an * ln, 0.0))) / (2.0 * an)
    kb = kappa[:, None]
    den = np.where(pos, kb + om, 1.0)
    g = np.where(pos, om / den, 0.0)
    one_g = np.where(pos, kb / den, 1.0)
    s1 = np.sum(wt * g, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        nz = lam != 0
        Vhat = np.where(nz, lam / np.where(nz, kappa, 1.0), a - s1)  # lam = 0: kappa = 0, a > 1
    V = s1 / Vhat
    unexpl = max(spec.rho - float(np.sum(spec.weight * spec.power)), 0.0)
    bias = b * b * (unexpl + np.sum(wt * pw * one_g ** 2, axis=1))
    dfree = Vhat + np.sum(wt * g * one_g, axis=1)  # = a - sum w g^2 > 0
    Eg = a * (noise_eff + bias) / dfree
    v = Eg / a
    m = b * np.sum(wt * pw * g, axis=1)
    q = np.sum(wt * (b * b * pw + v[:, None]) * g * g, axis=1)
    one_bg = (1.0 - b) + b * one_g
    mse = unexpl + np.sum(wt * (pw * one_bg ** 2 + v[:, None] * g * g), axis=1)
    return {
        "m": m, "q": q, "V": V, "mhat": b * Vhat, "qhat": Vhat * Vhat * v, "Vhat": Vhat,
        "test_error": Eg, "train_loss": 0.5 * Eg * (Vhat / a) ** 2, "mse": mse,
    }, {"kappa": kappa, "bias": bias, "variance": (noise_eff + bias) * np.sum(wt * g * g, axis=1) / dfree}


def _stability(S_loss, spec: Spectrum, lam, Vhat) -> dict:
    """``replicon`` and ``stable`` of the replica-symmetric ERM saddle point with an L2 penalty: the
    replicon eigenvalue ``S_loss x sum_k w_k om_k^2 / (lam + Vhat om_k)^2``, ``S_loss = a E[(d_omega f_out)^2]``
    the loss side's response ``d qhat / d q`` (``a / (1 + V)^2`` for the square loss) times the penalty side's
    ``d q / d qhat``; the RS solution is stable (de Almeida-Thouless) where it is below 1 (Vilucchio, Dandi,
    Gerbelot, Krzakala 2025, sec. 3; for isotropic inputs ``alpha E[(dprox - 1)^2] < 1``).  A convex loss
    keeps it below 1 (``0 <= dprox <= 1`` and ``Vhat V <= alpha E[1 - dprox]``)."""
    om, wt = spec.omega[None, :], spec.weight[None, :]
    with np.errstate(all="ignore"):
        rep = S_loss * np.sum(wt * om * om * _l2_inv(spec, lam, Vhat) ** 2, axis=1)
    return {"replicon": rep, "stable": (rep < 1.0).astype(float)}


# --------------------------------------------------------------------------- metrics
def separability_threshold(channel: Channel, rho: float = 1.0, explained: float | None = None) -> float:
    """alpha_c below which n = alpha d labelled Gaussian points are linearly separable (no intercept).

    alpha_c = 1 / min_t E[(G - t Y U)_+^2] with G ~ N(0,1) independent, U the standardised
    teacher direction visible to the student, Y ~ P(y | z) (Candes & Sur, Ann. Stat. 2020,
    Thm. 1 without intercept; Cover 1965 / Gardner 1988 give alpha_c = 2 for random labels).
    ``explained``: the variance of z linear in the student features (default rho).
    """
    if not channel.is_classification:
        raise ValueError("separability_threshold: needs a classification channel")
    explained = rho if explained is None else explained
    c = np.sqrt(max(explained, 0.0) / rho)  # corr(z, U)
    u, wu = composite_legendre_nodes(np.zeros(()), np.ones(()), np.zeros(1), 60, 10.0)
    # z = sqrt(rho) (c U + sqrt(1 - c^2) eta); P(y | U) by quadrature over eta
    eta, we = composite_legendre_nodes(np.zeros(()), np.ones(()), None, 40, 10.0)
    g, wg = composite_legendre_nodes(np.zeros(()), np.ones(()), np.zeros(1), 60, 10.0)

    z = np.sqrt(rho) * (c * u[:, None] + np.sqrt(max(1 - c * c, 0.0)) * eta[None, :])
    Pp = np.sum(channel.prob(1.0, z) * we[None, :], axis=1) if hasattr(channel, "prob") else None

    def h(t):
        tot = 0.0
        for yv, Py in ((1.0, Pp), (-1.0, 1.0 - Pp)):
            x = g[:, None] - t * yv * u[None, :]
            tot += np.sum(wg[:, None] * wu[None, :] * Py[None, :] * np.maximum(x, 0.0) ** 2)
        return tot

    res = optimize.minimize_scalar(h, bounds=(-50.0, 50.0), method="bounded", options={"xatol": 1e-10})
    if abs(res.x) > 49.0 and h(4.0 * res.x) < h(res.x):
        # the infimum is approached as |t| -> infinity (e.g. a noiseless teacher fully visible to
        # the student: Y U > 0 almost surely), so the data are separable at every alpha
        return float("inf")
    return float(1.0 / min(h(res.x), h(0.0)))


# --------------------------------------------------------------------------- the solver
def _rows(alpha, lam):
    a = np.atleast_1d(np.asarray(alpha, float))
    l = np.atleast_1d(np.asarray(lam, float))
    a, l = np.broadcast_arrays(a, l)
    return a.ravel().copy(), l.ravel().copy()


def erm_theory(
    problem: GLM,
    learner: ERM,
    *,
    lam=None,
    x0=None,
    tol: float = 1e-10,
    rtol: float = 1e-9,
    max_iter: int = 400,
    n_picard: int = 150,
    lam_continuation: float = 1e-2,
    newton_first: bool | None = None,
    damping: float = 0.0,
    anderson: int = 4,
    on_fail: str = "warn",
    n_nodes: int = 40,
    metric_rtol: float = 1e-7,
) -> Prediction:
    """Asymptotic m, q, V (and conjugates), test_error, train_loss, mse of ERM.

    ``problem.alpha`` may be an array (a curve); ``lam`` (optional) overrides the penalty's lam
    and may be an array broadcast against alpha (used by :func:`optimal_penalty`).
    ``x0``: initial (m, q, V) rows (warm start).  Points whose fixed point does not converge
    get NaN fields and ``converged=False`` (with a ConvergenceWarning, or a ConvergenceError
    with ``on_fail="raise"``); the last iterate and residuals are in ``info``.

    Convergence: ``tol`` / ``rtol`` bound the step of the fixed point on ``(m, q, V)``; on top,
    a point counts as converged only when one more application of the saddle-point map moves
    ``mse = rho - 2 m + q`` and ``test_error`` by at most ``metric_rtol`` relative (these are
    differences of O(1) numbers and can be orders of magnitude smaller than ``m, q``); points
    that fail are refined by Newton at ``tol = 1e-15`` and flagged otherwise.  The square loss
    with an L2 penalty is solved in closed form (:func:`_square_l2`: one monotone scalar
    equation, errors as sums of non-negative bias and variance terms), accurate to round-off.
    """
    options = dict(x0=x0, tol=tol, rtol=rtol, max_iter=max_iter, n_picard=n_picard, lam_continuation=lam_continuation,
                   newton_first=newton_first, damping=damping, anderson=anderson, on_fail=on_fail, n_nodes=n_nodes,
                   metric_rtol=metric_rtol)
    loss, pen = learner.loss, learner.penalty
    if loss.solver == "nonconvex" and x0 is None and pen.l1_ratio == 0.0:
        _check_pair(loss, pen, problem.channel)
        _check_no_bias(learner)
        del options["x0"]
        return _nonconvex_branches(problem, learner, lam, options)
    return _erm_fixed_point(problem, learner, lam=lam, **options)


def _erm_fixed_point(problem: GLM, learner: ERM, *, lam, x0, tol, rtol, max_iter, n_picard, lam_continuation,
                     newton_first, damping, anderson, on_fail, n_nodes, metric_rtol) -> Prediction:
    """The fixed point of :func:`erm_theory` from one start (the default path, or ``x0``)."""
    loss, pen, ch = learner.loss, learner.penalty, problem.channel
    _check_pair(loss, pen, ch)
    _check_no_bias(learner)
    spec = _spectrum(problem)
    rho = spec.rho
    lam_in = pen.lam if lam is None else lam
    if not np.all(np.isfinite(lam_in)):
        raise ValueError(f"ERM: lam must be finite, got lam={lam_in!r}")
    alpha, lams = _rows(problem.alpha, lam_in)
    a = alpha / spec.ratio
    is_l2 = pen.l1_ratio == 0.0
    if np.any(lams < 0):
        _check_negative_ridge(loss, pen, spec, a, lams)
    if not is_l2 and not spec.is_isotropic:
        raise ValueError("ERM theory: L1 / ElasticNet penalties are supported on isotropic data only (data=None)")
    l2_frac = 1.0 - pen.l1_ratio
    _check_existence(loss, ch, spec, a, lams)
    hard = loss.is_constraint  # max margin: solved by _solve_hard_margin, not by iterating F
    if hard:  # the max-margin w does not depend on lam; lam = 0 reads as 1
        lams = np.where(lams == 0, 1.0, lams)
    cur = {"lam": lams}

    if loss.is_square and is_l2:
        return _square_l2_prediction(problem, learner, spec, a, alpha, l2_frac * lams, lams, lam_in, on_fail)

    side = _LossSide(loss, ch, rho, n=n_nodes)
    if is_l2:
        def pen_side(mh, qh, Vh, idx):
            return _l2_side(spec, l2_frac * cur["lam"][idx], mh, qh, Vh)
    else:
        sep = _SeparableSide(problem.prior, lams, pen.l1_ratio)

        def pen_side(mh, qh, Vh, idx):
            sep.lam = cur["lam"][idx]
            return sep(mh, qh, Vh)

    N = len(a)

    def F(X):
        # column 3 carries the row index (solve_fixed_point passes only the rows still running)
        idx = X[:, 3].astype(int)
        m, q, V = X[:, 0], np.maximum(X[:, 1], 1e-300), np.maximum(X[:, 2], 1e-300)
        mh, qh, Vh = side(m, q, V, a[idx])
        Vh = np.maximum(Vh, 1e-300)
        qh = np.maximum(qh, 1e-300)
        m2, q2, V2 = pen_side(mh, qh, Vh, idx)
        return np.stack([m2, q2, V2, X[:, 3]], axis=1)

    if x0 is None:
        X0 = np.column_stack([np.full(N, 0.1 * rho), np.full(N, rho), np.ones(N)])
    else:
        X0 = np.array(np.broadcast_to(np.asarray(x0, float), (N, 3)))
    X0 = np.column_stack([X0, np.arange(N)])

    def solve(Xs, rows, newton_first=False):
        """Picard/Anderson (batched) then Newton on the rows that remain (or, from a warm
        start, Newton first and Picard + Newton on the rows where it fails)."""
        if newton_first:
            Xn, okn, nn = _newton_rows(F, Xs, rows, tol=max(rtol, tol), max_iter=40)
            if okn.all():
                return Xn, okn, 0, nn, None
            Xo = Xn.copy()
            r_ = np.flatnonzero(~okn)
            Xr, okr, npic, nn2, res = solve(Xs[r_], rows[r_])
            Xo[r_] = Xr
            okn[r_] = okr
            return Xo, okn, npic, nn + nn2, res
        Xs = np.column_stack([Xs, rows])
        res = solve_fixed_point(
            F, Xs, damping=damping, anderson=anderson, tol=tol, rtol=rtol, max_iter=min(max_iter, n_picard),
            on_fail="ignore", lower=np.array([-np.inf, 1e-300, 1e-300, -np.inf]), batch=True,
            name="ERM saddle point",
        )
        Xo = res.x[:, :3].copy()
        ok = np.asarray(res.converged, bool).copy()
        nn = 0
        if not ok.all():
            r_ = np.flatnonzero(~ok)
            Xn, okn, nn = _newton_rows(F, Xo[r_], rows[r_], tol=max(rtol, tol), max_iter=max(max_iter - res.n_iter, 1))
            Xo[r_] = Xn
            ok[r_] = okn
        return Xo, ok, res.n_iter, nn, res

    X = X0[:, :3].copy()
    all_rows = np.arange(N, dtype=float)
    small = (lams < lam_continuation) & (not hard)
    if x0 is None and small.any():
        # continuation in lam (stiff small-lam regime): lam_c = 1e-2, 1e-3, ... down to each row's lam
        lc = lam_continuation
        first = True
        while True:
            rows = np.flatnonzero(small & (lams < lc))
            if not len(rows):
                break
            cur["lam"] = np.maximum(lams, lc)
            Xs, ok, *_ = solve(X[rows], all_rows[rows], newton_first=not first)
            X[rows[ok]] = Xs[ok]
            first = False
            lc /= np.sqrt(10.0)
        cur["lam"] = lams
    nf = bool(x0 is None and small.any()) if newton_first is None else bool(newton_first)
    if hard:
        X, theta_hm, conv, n_newton = _solve_hard_margin(side, spec, l2_frac * lams, a,
                                                         None if x0 is None else X, tol)
        n_pic, res = 0, None
    else:
        X, conv, n_pic, n_newton, res = solve(X, all_rows, newton_first=nf)

    # metric-level check: the step of the map must resolve mse and test_error to metric_rtol
    moments = ch.label_moments(rho)

    def metric_step(Xm, ids):
        with np.errstate(all="ignore"):
            X1 = F(np.column_stack([Xm, ids]))[:, :3]
            out = np.zeros(len(Xm))
            for fn in (lambda Y: rho - 2 * Y[:, 0] + Y[:, 1],
                       lambda Y: ch.student_test_error(Y[:, 0], Y[:, 1], rho, moments=moments)):
                v0, v1 = fn(Xm), fn(X1)
                out = np.maximum(out, np.abs(v1 - v0) / np.maximum(np.abs(v0), 1e-13 * (1.0 + rho)))
        return np.where(np.isfinite(out), out, np.inf)

    n_refine = 0
    if metric_rtol is not None and conv.any() and not hard:
        rc = np.flatnonzero(conv)
        err = metric_step(X[rc], all_rows[rc])
        loose = rc[err > metric_rtol]
        if len(loose):
            n_refine = len(loose)
            Xn, _, nn3 = _newton_rows(F, X[loose], all_rows[loose], tol=1e-15, max_iter=40)
            n_newton += nn3
            errn = metric_step(Xn, all_rows[loose])
            better = errn < err[err > metric_rtol]
            X[loose[better]] = Xn[better]
            conv[loose[~(errn <= metric_rtol)]] = False
    m, q, V = X[:, 0], X[:, 1], X[:, 2]
    with np.errstate(all="ignore"):
        mh, qh, Vh, train = side(m, q, V, a, metrics=True, s2=rho * np.sin(theta_hm) ** 2 if hard else None)
    with np.errstate(all="ignore"):  # max margin: the angle without cancellation
        test = ch.student_test_error(m, q, rho, moments=moments, angle=theta_hm if hard else None)
    values = {
        "m": m, "q": q, "V": V, "mhat": mh, "qhat": qh, "Vhat": Vh,
        "test_error": test, "train_loss": train, "mse": rho - 2 * m + q,
    }
    if is_l2 and not hard:  # the replica-symmetric solution's stability (its replicon below 1)
        with np.errstate(all="ignore"):
            values.update(_stability(side(m, q, V, a, metrics="replicon")[3], spec, l2_frac * lams, Vh))
    # (an infinite replicon is a result: a proximal step that jumps)
    bad = ~conv | ~np.all(np.isfinite(np.column_stack([v for k, v in values.items() if k != "replicon"])), axis=1)
    info = {"n_iter": n_pic, "n_newton": n_newton, "n_metric_refined": n_refine, "rho": rho,
            "message": res.message if res is not None else (
                "max-margin root (MINPACK hybr with continuation in alpha)" if hard else "converged (Newton)"),
            "diagnostics": res.diagnostics if res is not None else {}}
    if bad.any():
        info["last_iterate"] = X.copy()
        msg = (
            f"ERM saddle point did not converge at {int(bad.sum())} of {N} points "
            f"(alpha={alpha[bad][:5].tolist()}, lam={lams[bad][:5].tolist()}): "
            f"{res.message if res is not None else ('no root of the max-margin equations found (hybr from the previous row, a ladder in alpha and generic starts)' if hard else 'Newton')}"
            + (f"; mse / test_error not resolved to metric_rtol={metric_rtol:g} at some points" if n_refine else "")
        )
        _report_failure(values, bad, info, msg, on_fail, res)
    return _package(values, bad, problem, learner, lam_in, lams, info)


#: the starts of a non-convex loss's fixed point besides the default path (fractions of rho for m and q; V):
#: informative (a small V near the teacher), a large norm with a large V; each fixed point they reach is a branch
_NONCONVEX_STARTS = {"informative": (0.99, 1.0, 0.05), "large": (0.3, 3.0, 3.0)}
#: the iterations an extra start gets (a search for other fixed points: one that has not converged by then is
#: dropped; the default path keeps its full budget).  Measured: the branches found converge in 7-23 iterations;
#: the large start at alpha = 8 (Tukey, far outliers) crawled 124 iterations (4.9 s) to the informative one's point
_NONCONVEX_BUDGET = 30


def _nonconvex_branches(problem, learner, lam, options: dict) -> Prediction:
    """A non-convex loss (Tukey, :class:`~solvable.blocks.losses.Bounded`): the replica fixed point from the default
    path and from the starts of ``_NONCONVEX_STARTS``.  Several fixed points can exist (a good one near the teacher
    and a bad one of large norm; Tukey under outliers at small lam).  Each describes a stationary point; the global
    minimiser is the one of lowest training objective per sample, ``train_objective = train_loss + lam |w|^2 /
    (2 n)`` (the ground-state energy), among the branches where the replica-symmetric solution is stable (replicon
    below 1: there the RS formula is exact, Vilucchio, Dandi, Rossignol, Gerbelot, Krzakala 2025); where no branch
    is stable the RS energies are not reliable and the default path is kept (with its ``stable = 0``).  The others
    are in ``branches`` when they differ.  Each extra start gets ``_NONCONVEX_BUDGET`` iterations.  A "fixed point" with ``V`` or ``q`` at the floor of the iteration
    (1e-200) is an artefact, not a solution, and is counted as not converged."""
    on_fail = options.pop("on_fail")
    spec = _spectrum(problem)
    rho = spec.rho
    runs = {"default": _erm_fixed_point(problem, learner, lam=lam, x0=None, on_fail="ignore", **options)}
    extra = dict(options, max_iter=min(options["max_iter"], _NONCONVEX_BUDGET), n_picard=min(options["n_picard"],
                                                                                        _NONCONVEX_BUDGET))
    for name, (fm, fq, V) in _NONCONVEX_STARTS.items():
        runs[name] = _erm_fixed_point(problem, learner, lam=lam, x0=(fm * rho, fq * rho, V), on_fail="ignore", **extra)
    scalar = np.ndim(runs["default"]["m"]) == 0
    row = lambda v: np.atleast_1d(np.asarray(v, float))  # noqa: E731
    objs, oks = {}, {}
    for name, r in runs.items():
        lam_r = row(r["lam"]) if "lam" in r else np.full(row(r["m"]).shape, float(learner.penalty.lam))
        a = row(np.asarray(problem.alpha, float) * np.ones(row(r["m"]).shape)) / spec.ratio
        mh, qh, Vh = row(r["mhat"]), row(r["qhat"]), row(r["Vhat"])
        inv = _l2_inv(spec, (1.0 - learner.penalty.l1_ratio) * lam_r, Vh)
        w2 = np.sum(spec.weight[None, :] * _mode_second_moments(spec, inv, mh, qh), axis=1)  # |w|^2 / P
        objs[name] = row(r["train_loss"]) + lam_r * w2 / (2.0 * a)
        oks[name] = row(r.converged).astype(bool) & (row(r["V"]) > 1e-200) & (row(r["q"]) > 1e-200 * rho) \
            & np.isfinite(objs[name])
    names = list(runs)
    O = np.stack([np.where(oks[n], objs[n], np.inf) for n in names])
    stable = np.stack([oks[n] & (row(runs[n]["replicon"]) < 1.0) for n in names])
    Os = np.where(stable, O, np.inf)
    best = np.min(Os, axis=0)
    with np.errstate(invalid="ignore"):  # the first start (default, informative, large) within round-off of the lowest
        pick = np.argmax(Os <= best + 1e-9 * (1.0 + np.abs(best)), axis=0)
    # no stable branch: the RS energies are not reliable there (a bound only), keep the default path if it converged
    none = ~stable.any(axis=0)
    pick = np.where(none, np.where(oks["default"], 0, np.argmin(O, axis=0)), pick)
    conv = np.isfinite(O[pick, np.arange(O.shape[1])])
    keys = list(runs["default"].keys())
    values = {}
    for k in keys:
        col = np.stack([row(runs[n][k]) for n in names])
        values[k] = np.where(conv, col[pick, np.arange(col.shape[1])], np.nan)
    values["train_objective"] = np.where(conv, O[pick, np.arange(O.shape[1])], np.nan)
    differ = any(np.any(oks[n] & oks["default"] & (np.abs(row(runs[n]["q"]) - row(runs["default"]["q"]))
                                                     > 1e-6 * (1.0 + np.abs(row(runs["default"]["q"]))))) for n in names[1:])
    branches = {}
    if differ:
        for n in names:
            bv = {k: row(runs[n][k]) for k in keys}
            bv["train_objective"] = objs[n]
            bv = {k: (float(v[0]) if scalar else v) for k, v in bv.items()}
            branches[n] = Prediction(bv, problem=problem, learner=learner,
                                     converged=bool(oks[n][0]) if scalar else oks[n], info=runs[n].info)
    info = dict(runs["default"].info)
    info["branch"] = np.array(names, dtype=object)[pick] if not scalar else names[int(pick[0])]
    info["starts"] = {"default": "the default path", **{n: f"(m, q, V) = {v}" for n, v in _NONCONVEX_STARTS.items()}}
    if not conv.all():
        msg = (f"ERM saddle point (non-convex {learner.loss.name} loss) did not converge from any start at "
               f"{int((~conv).sum())} of {conv.size} points")
        info["failure"] = msg
        if on_fail == "raise":
            raise ConvergenceError(msg, None)
        if on_fail == "warn":
            warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    if scalar:
        values = {k: float(v[0]) for k, v in values.items()}
    return Prediction(values, problem=problem, learner=learner, converged=bool(conv[0]) if scalar else conv,
                      branches=branches, info=info)


def _package(values: dict, bad: np.ndarray, problem, learner, lam_in, lams, info: dict,
             extras: dict | None = None) -> Prediction:
    """The Prediction: scalar fields (and scalar ``extras`` in info) for a scalar (alpha, lam), the
    ``lam`` column for a lam grid."""
    converged: Any
    if "rho" in info:  # channel-specific fields (e.g. the excess error under outliers), NaN where blanked
        values.update(problem.channel.metrics(values["m"], values["q"], info["rho"]))
    if np.ndim(problem.alpha) == 0 and np.ndim(lam_in) == 0:
        values = {k: float(v[0]) for k, v in values.items()}
        info.update({k: float(v[0]) for k, v in (extras or {}).items()})
        converged = bool(~bad[0])
    else:
        converged = ~bad
    if np.ndim(lam_in) > 0:
        values["lam"] = lams
    return Prediction(values, problem=problem, learner=learner, converged=converged, info=info)


def _report_failure(values: dict, bad: np.ndarray, info: dict, msg: str, on_fail: str, res) -> None:
    """Blank the points that failed (NaN fields, never a silent last iterate) and report them:
    a ConvergenceError (``on_fail="raise"``) or a ConvergenceWarning (``"warn"``)."""
    info["message"] = msg
    info["failure"] = msg
    info["blanked"] = True  # the failed points are NaN here already (the last iterate is in info)
    for k in values:
        values[k] = np.where(bad, np.nan, values[k])
    if on_fail == "raise":
        raise ConvergenceError(msg, res)
    if on_fail == "warn":
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)


def _square_l2_prediction(problem, learner, spec, a, alpha, lam_l2, lams, lam_in, on_fail) -> Prediction:
    """Square loss + L2 penalty: the closed form of :func:`_square_l2` (no fixed-point iteration)."""
    ch, rho = problem.channel, spec.rho
    b, noise_eff = ch.linear_part(rho)
    values, extras = _square_l2(spec, a, lam_l2, b, noise_eff)
    values.update(_stability(a / (1.0 + values["V"]) ** 2, spec, lam_l2, values["Vhat"]))  # d_omega f = -1 / (1 + V)
    if ch.is_classification:  # the 0-1 error instead of E (y - omega)^2
        with np.errstate(all="ignore"):
            values["test_error"] = ch.student_test_error(values["m"], values["q"], rho)
    N = len(a)
    bad = ~np.all(np.isfinite(np.column_stack(list(values.values()))), axis=1)
    info = {"n_iter": 0, "n_newton": 0, "rho": rho, "message": "closed form (square loss, L2 penalty)",
            "diagnostics": {}, **extras}
    if bad.any():
        msg = (f"ERM (square loss, L2) closed form is not finite at {int(bad.sum())} of {N} points "
               f"(alpha={alpha[bad][:5].tolist()}, lam={lams[bad][:5].tolist()})")
        _report_failure(values, bad, info, msg, on_fail, None)
    return _package(values, bad, problem, learner, lam_in, lams, info, extras)


def _newton_rows(F, X, rows, *, tol=1e-10, max_iter=100):
    """Batched Newton on G(y) = T(F(x)) - y, y = (m, log q, log V) (:func:`~solvable.numerics.fixed_point.newton_rows`),
    the row index travelling as the fourth column of the map's argument."""
    return newton_rows(F, X, extra=rows.astype(float), log=_LOG_QV, tol=tol, max_iter=max_iter)


_LOG_QV = np.array([False, True, True])  # Newton works in (m, log q, log V)


def _solve_hard_margin(side, spec: Spectrum, lam, a, X0, tol: float):
    """Max-margin fixed point.  V is slaved to (m, q) (:func:`_hard_margin_V`), and the Picard
    iteration of (m, q) is unstable at large alpha (an eigenvalue of its Jacobian crosses 1 near
    alpha ~ 20 on isotropic data), so the root is found by MINPACK's hybrid Powell method in
    ``(logit(theta / pi), log q)``, ``theta = arccos(m / sqrt(rho q))`` the student-teacher angle,
    row by row in increasing alpha, each row warm-started from the previous solution
    (continuation along the curve, refined into steps of at most a factor 2 in alpha where a
    direct step fails; a first row that fails from the generic starts is reached from an anchor
    at alpha / 8, / 64, / 512).  ``theta`` enters and leaves the map without cancellation
    (``rho - m^2 / q = rho sin^2 theta``; :func:`_l2_side` with ``gap=True``), so the error
    ``theta / pi`` stays accurate to ~1e-12 relative as it goes to 0.

    Returns (X = (m, q, V) rows, theta, converged, number of map evaluations)."""
    from scipy.special import expit

    rho = spec.rho
    N = len(a)
    X = np.full((N, 3), np.nan)
    theta = np.full(N, np.nan)
    ok = np.zeros(N, bool)
    nfev = 0

    def hm_map(y, a_val, lam_val):
        th, q = np.pi * expit(y[0]), np.exp(y[1])
        m = np.cos(th) * np.sqrt(rho * q)
        ar = lambda v: np.array([v], float)  # noqa: E731
        with np.errstate(all="ignore"):
            M, Q, C = side(ar(m), ar(q), ar(1.0), ar(a_val), s2=ar(rho * np.sin(th) ** 2))
            V = _hard_margin_V(spec, ar(lam_val), C)
            m2, q2, _, g2 = _l2_side(spec, ar(lam_val), M / V, Q / V ** 2, C / V, gap=True)
            th2 = np.arctan2(np.sqrt(np.maximum(g2, 0.0)), m2)  # tan theta = sqrt(rho q - m^2) / m
        return float(th2[0]), float(q2[0]), float(V[0]), float(m2[0])

    def G(y, a_val, lam_val):
        th2, q2, _, _ = hm_map(y, a_val, lam_val)
        with np.errstate(all="ignore"):
            th2 = min(max(th2, 1e-300), np.pi * (1 - 1e-16))
            g = np.array([np.log(th2) - np.log(np.pi - th2) - y[0], np.log(q2) - y[1]])
        return np.where(np.isfinite(g), g, 1e6)

    def solve_at(a_val, lam_val, starts):
        nonlocal nfev
        for y0 in starts:
            r = optimize.root(G, y0, args=(a_val, lam_val), method="hybr", options={"xtol": 1e-14})
            nfev += int(r.nfev)
            if np.max(np.abs(G(r.x, a_val, lam_val))) < max(tol, 1e-11):
                return r.x
        return None

    def ladder(a_from, y, a_to, lam_val):
        """Continuation from a solved a_from to a_to in geometric steps of at most a factor 2."""
        k = int(np.ceil(abs(np.log(a_to / a_from)) / np.log(2.0)))
        for a_val in np.geomspace(a_from, a_to, k + 1)[1:]:
            y = solve_at(a_val, lam_val, [y])
            if y is None:
                return None
        return y

    generic = [np.array([-1.0, 0.0]), np.array([-2.0, 0.0])]
    prev = None  # (a, y) of the last solved row
    for i in np.argsort(a, kind="stable"):
        ai, li = float(a[i]), float(lam[i])
        y = None
        if X0 is not None and np.all(np.isfinite(X0[i])) and X0[i, 1] > 0:
            th0 = np.arccos(np.clip(X0[i, 0] / np.sqrt(rho * X0[i, 1]), -1 + 1e-15, 1 - 1e-15))
            y = solve_at(ai, li, [np.array([np.log(th0) - np.log(np.pi - th0), np.log(X0[i, 1])])])
        if y is None and prev is not None:
            y = solve_at(ai, li, [prev[1]])
            if y is None:
                y = ladder(prev[0], prev[1], ai, li)
        if y is None:
            y = solve_at(ai, li, generic)
        if y is None:  # anchor at a smaller alpha, then continue up
            for k in (3, 6, 9):
                a0 = ai / 2.0 ** k
                y0 = solve_at(a0, li, generic)
                if y0 is not None:
                    y = ladder(a0, y0, ai, li)
                    break
        if y is not None:
            th2, q2, V2, m2 = hm_map(y, ai, li)
            X[i] = m2, q2, V2
            theta[i] = th2
            ok[i] = True
            prev = (ai, y)
    return X, theta, ok, nfev


def _check_existence(loss, channel, spec, a, lams):
    """Errors where the ERM minimiser does not exist or is not unique (lam = 0)."""
    if loss.is_constraint:
        ac = separability_threshold(channel, spec.rho, spec.explained)
        if np.any(a >= ac):
            raise ValueError(
                f"ERM: the max-margin (hard-margin) classifier exists only while the data are linearly "
                f"separable, but alpha/ratio = {a[a >= ac].min():g} >= alpha_c = {ac:.6g}; use the hinge "
                f"or logistic loss with lam > 0"
            )
        return
    zero = lams == 0
    if not zero.any():
        return
    az = a[zero]
    if loss.is_classification:
        ac = separability_threshold(channel, spec.rho, spec.explained)
        if np.any(az <= ac):
            raise ValueError(
                f"ERM: with the {loss.name} loss and lam = 0 the minimiser does not exist for "
                f"alpha/ratio = {az[az <= ac].min():g} <= alpha_c = {ac:.6g}: the data are linearly "
                f"separable and the norm of w diverges (use lam > 0; lam -> 0 gives the max-margin direction)"
            )
    else:
        if np.any(az <= 1.0):
            raise ValueError(
                f"ERM: with the {loss.name} loss and lam = 0 the minimiser is not unique for "
                f"alpha/ratio = {az[az <= 1].min():g} <= 1 (the data can be interpolated); use a small "
                f"lam > 0 (lam -> 0+ gives the min-norm interpolator)"
            )




def optimal_penalty(
    problem: GLM,
    learner: ERM,
    metric: str = "test_error",
    *,
    lam_range: tuple[float, float] = (1e-5, 1e2),
    n_grid: int = 15,
    xtol: float = 1e-4,
    optimize_delta: bool = False,
    delta_range: tuple[float, float] = (1e-2, 1e2),
    **options,
) -> Prediction:
    """The penalty strength (and, with ``optimize_delta=True``, the Huber delta) that minimises
    ``metric`` (a field of :func:`erm_theory`, default ``"test_error"``), for every alpha.

    A coarse log-grid of ``n_grid`` values of lam over ``lam_range`` (all alphas and all lams in
    one batched fixed point) brackets the minimum; a golden-section search in ``log lam``,
    batched over alphas and warm-started from the bracketing solutions, refines it to ``xtol``
    (in log10 lam).  Returns the Prediction at the optimum with extra fields ``lam`` (and
    ``delta``); ``info["at_boundary"]`` flags optima at the ends of the range.
    """
    if not isinstance(learner, ERM):
        raise ValueError(f"optimal_penalty: learner must be an ERM, got {learner!r}")
    lo, hi = (float(t) for t in lam_range)
    if not 0 < lo < hi:
        raise ValueError(f"optimal_penalty: lam_range must satisfy 0 < lo < hi, got {lam_range!r}")
    if optimize_delta:
        if not hasattr(learner.loss, "delta"):
            raise ValueError("optimal_penalty: optimize_delta=True needs the Huber loss")
        dlo, dhi = (float(t) for t in delta_range)
        if not 0 < dlo < dhi:
            raise ValueError(f"optimal_penalty: delta_range must satisfy 0 < lo < hi, got {delta_range!r}")
        if np.ndim(problem.alpha) > 0:
            preds = [optimal_penalty(problem.at(alpha=float(a_)), learner, metric, lam_range=lam_range,
                                     n_grid=n_grid, xtol=xtol, optimize_delta=True, delta_range=delta_range,
                                     **options) for a_ in problem.alpha]
            return _stack_predictions(preds, problem, learner)

        def inner(logdelta):
            lrn = learner.at(loss=dataclasses.replace(learner.loss, delta=float(10 ** logdelta)))
            return optimal_penalty(problem, lrn, metric, lam_range=lam_range, n_grid=n_grid, xtol=xtol, **options)

        cache = {}

        def obj(ld):
            p = inner(ld)
            cache[ld] = p
            v = p[metric]
            return v if np.isfinite(v) else np.inf

        grid = np.linspace(np.log10(dlo), np.log10(dhi), 9)
        vals = [obj(g) for g in grid]
        k = int(np.argmin(vals))
        br = (grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)])
        optimize.minimize_scalar(obj, bounds=br, method="bounded", options={"xatol": 1e-3})
        best = min(cache, key=lambda t: cache[t][metric] if np.isfinite(cache[t][metric]) else np.inf)
        p = cache[best]
        vals_ = dict(p.to_dict())
        vals_.pop("converged", None)
        vals_["delta"] = float(10 ** best)
        info = dict(p.info)
        info["delta_at_boundary"] = bool(k in (0, len(grid) - 1) and abs(best - grid[k]) < 1e-2)
        best_loss = dataclasses.replace(learner.loss, delta=float(10 ** best))
        return Prediction(vals_, problem=problem, learner=learner.at(loss=best_loss), converged=p.converged, info=info)

    alphas = np.atleast_1d(np.asarray(problem.alpha, float))
    A = len(alphas)
    grid = np.logspace(np.log10(lo), np.log10(hi), n_grid)
    opts = dict(options)
    opts["on_fail"] = "ignore"
    # coarse grid, from the largest lam down, each lam warm-started from the previous one; stop
    # once every alpha has seen its metric rise at two consecutive grid points past its minimum
    pa = problem.at(alpha=alphas)
    vals = np.full((A, n_grid), np.inf)
    X = np.full((A, n_grid, 3), np.nan)
    xprev = None
    rises = np.zeros(A, int)
    for j in range(n_grid - 1, -1, -1):
        p = erm_theory(pa, learner, lam=np.full(A, grid[j]), x0=xprev, newton_first=xprev is not None, **opts)
        if metric not in p:
            raise ValueError(f"optimal_penalty: unknown metric {metric!r}; fields: {sorted(p)}")
        v = np.asarray(p[metric], float)
        vals[:, j] = np.where(np.isfinite(v), v, np.inf)
        xj = np.column_stack([p["m"], p["q"], p["V"]])
        okj = np.all(np.isfinite(xj), axis=1)
        X[:, j] = xj
        if xprev is None:
            xprev = np.where(okj[:, None], xj, np.column_stack([np.full(A, 0.1), np.ones(A), np.ones(A)]))
        else:
            xprev = np.where(okj[:, None], xj, xprev)
        if j < n_grid - 1:
            best_so_far = np.min(vals[:, j:], axis=1)
            rises = np.where(vals[:, j] > best_so_far, rises + 1, 0)
            if np.all(rises >= 2):
                break
    if np.all(~np.isfinite(vals), axis=1).any():
        raise ConvergenceError("optimal_penalty: no value of lam in the grid converged for some alpha", None)
    k = np.argmin(vals, axis=1)
    x_best = X[np.arange(A), k]
    lg = np.log10(grid)
    a_ = lg[np.maximum(k - 1, 0)]
    b_ = lg[np.minimum(k + 1, n_grid - 1)]
    gr = (np.sqrt(5) - 1) / 2

    def evaluate(loglam, x0):
        p = erm_theory(problem.at(alpha=alphas), learner, lam=10 ** loglam, x0=x0, newton_first=True, **opts)
        v = np.asarray(p[metric], float)
        xx = np.column_stack([p["m"], p["q"], p["V"]])
        ok = np.all(np.isfinite(xx), axis=1)
        return np.where(np.isfinite(v), v, np.inf), np.where(ok[:, None], xx, x0)

    c = b_ - gr * (b_ - a_)
    d_ = a_ + gr * (b_ - a_)
    fc, xc = evaluate(c, x_best)
    fd, xd = evaluate(d_, x_best)
    for _ in range(200):
        if np.all(b_ - a_ < xtol):
            break
        left = fc < fd  # minimum in [a, d]
        b_ = np.where(left, d_, b_)
        a_ = np.where(left, a_, c)
        new_c = np.where(left, b_ - gr * (b_ - a_), d_)
        new_d = np.where(left, c, a_ + gr * (b_ - a_))
        fc_old, fd_old, xc_old, xd_old = fc, fd, xc, xd
        # the reused point keeps its value; the new one is evaluated (batched over alphas)
        pts = np.where(left, new_c, new_d)
        fx, xx = evaluate(pts, np.where(left[:, None], xc_old, xd_old))
        fc = np.where(left, fx, fd_old)
        xc = np.where(left[:, None], xx, xd_old)
        fd = np.where(left, fc_old, fx)
        xd = np.where(left[:, None], xc_old, xx)
        c, d_ = new_c, new_d
    loglam = np.where(fc < fd, c, d_)
    xbest = np.where((fc < fd)[:, None], xc, xd)
    final = erm_theory(problem.at(alpha=alphas), learner, lam=10 ** loglam, x0=xbest, **options)
    values = {k_: np.asarray(v) for k_, v in final.to_dict().items() if k_ != "converged"}
    values["lam"] = 10 ** loglam
    at_b = (np.abs(loglam - lg[0]) < 2 * xtol) | (np.abs(loglam - lg[-1]) < 2 * xtol)
    info = dict(final.info)
    info["at_boundary"] = at_b if A > 1 else bool(at_b[0])
    if at_b.any():
        warnings.warn(
            f"optimal_penalty: the optimum lies at the end of lam_range={lam_range} for alpha={alphas[at_b].tolist()}",
            RuntimeWarning, stacklevel=2,
        )
    conv = np.asarray(final.converged)
    if np.ndim(problem.alpha) == 0:
        values = {k_: float(np.ravel(v)[0]) for k_, v in values.items()}
        conv = bool(np.ravel(conv)[0])
    return Prediction(values, problem=problem, learner=learner, converged=conv, info=info)


def _stack_predictions(preds, problem, learner) -> Prediction:
    keys = [k for k in preds[0].to_dict() if k != "converged"]
    values = {k: np.array([p[k] for p in preds]) for k in keys}
    conv = np.array([bool(p.converged) for p in preds])
    return Prediction(values, problem=problem, learner=learner, converged=conv,
                      info={"points": [p.info for p in preds]})

"""ERM on a Gaussian mixture labelled by a single-index teacher (Pesce, Krzakala, Loureiro,
Stephan, ICML 2023, "Are Gaussian data all you need? The extents and limits of universality in
high-dimensional generalized linear estimation", sec. 2-3).

Model: ``x = mu_k + sqrt(s_k) z`` in cluster ``k`` (weight ``rho_k``, scalar covariances
``s_k I``), label ``y = f0(nu)`` with the teacher field ``nu = theta . x / sqrt(d)`` and ``f0`` a
Sign channel (noise, flips).  The teacher has a component in the span of the means,
``theta_par / sqrt(d) = a`` (given in the means' coordinates: the teacher's mean in cluster ``k``
is ``t_k = mu_k . a``, its *alignment* with the means), and a bulk part of norm
``|theta_perp|^2 / d = tau^2``; ``T = |a|^2 + tau^2 = |theta|^2 / d``.  ERM minimises
``sum_i loss(y_i, w . x_i / sqrt(d) + b) + lam |w|^2 / 2``.

Order parameters: ``m_k = w . mu_k / sqrt(d)``, ``N = |w|^2 / d`` (so ``q_k = s_k N``), the
teacher overlap ``R = w . theta / d`` (``r_k = s_k R``), ``A`` (``V_k = s_k / A``) and the bias.
In cluster ``k`` the teacher field is ``nu ~ N(t_k, s_k T)`` and, given ``nu``, the student's
``omega = m_k + b + (r_k / (s_k T)) (nu - t_k) + sqrt(q_k - r_k^2 / (s_k T)) xi``.  With
``f = (prox_{V_k loss(y, .)}(omega) - omega) / V_k`` the loss side reads (the Gaussian covariate
model's equations of Loureiro et al., NeurIPS 2021, eqs. (2.7)-(2.9), per cluster, with the
cluster means of the mixture model of Loureiro et al., NeurIPS 2021, Thm. 1)

    mhat_k = alpha rho_k E[f],  qhat_k = alpha rho_k E[f^2],  Vhat_k = -alpha rho_k E[d_omega f],
    rhat_k = alpha rho_k (E[f (nu - t_k)] - r_k E[d_omega f]) / (s_k T),

(``rhat`` is the derivative of the energetic term in ``r``, after Stein's lemma on ``xi``), and
the L2 side, with ``A = lam + sum_k s_k Vhat_k``, ``S = sum_k s_k rhat_k``, ``G`` the Gram matrix
of the means and ``P = sum_k s_k qhat_k``:

    m = (G mhat + S t) / A,      R = (mhat . t + S T) / A,
    N = (mhat^T G mhat + 2 S mhat . t + S^2 T + P) / A^2.

(The student is ``w / sqrt(d) = (sum_k mhat_k mu_k + S theta / sqrt(d)) / A`` plus a bulk noise of
norm ``P / A^2``.)  One zero-mean cluster is the Gaussian-covariate ERM of
:mod:`solvable.families.erm` on ``GLM(Gaussian(T), Sign)`` (tests check it to 1e-8).

The test error is ``sum_k rho_k P(y != sign(lambda))`` with ``(lambda, nu)`` Gaussian in each
cluster, computed from the same nodes in ``nu``.

**Commuting or full covariances** (:class:`GeneralTeacherMixtureERM`).  The teacher is then a
vector ``a = theta / sqrt(d)`` in the means' p coordinates and the order parameters are per
cluster, ``(m_k, q_k, r_k = w^T Sigma_k theta / d, V_k)``: the loss side is the same, and the
penalty side is that of :mod:`~solvable.families.mixtures.equations` (Loureiro et al., NeurIPS
2021, Thm. 1) with the teacher's fields ``Sigma_k a`` read as K more "means" whose conjugates are
``rhat_k``: with ``A = lam I + sum_k Vhat_k Sigma_k`` and
``u = sum_k mhat_k mu_k + sum_k rhat_k Sigma_k a``,

    m_k = mu_k^T A^{-1} u,    r_k = a^T Sigma_k A^{-1} u,    V_k = tr(Sigma_k A^{-1}) / p,
    q_k = u^T A^{-1} Sigma_k A^{-1} u + sum_l qhat_l tr(Sigma_k A^{-1} Sigma_l A^{-1}) / p,

(the Gaussian covariate model's equations of Loureiro et al. 2021, eqs. (2.7)-(2.9), with
``Phi = Psi = Omega = Sigma_k`` per cluster), and for an L1 / elastic-net penalty on a spectrum the
separable soft-threshold side (:func:`~solvable.families.mixtures.equations._elastic_net_side`)
with the same extended means.  One zero-mean cluster is the Gaussian covariate ERM of
:mod:`solvable.families.erm` with ``Covariance`` data (tests check it to 1e-8).

**Regression channels** (``y = phi(nu) + sqrt(Delta) eta``; square, Huber or absolute loss, all
functions of the residual ``y - z``): the proximal map then depends on ``y - omega`` only, which
given ``nu`` is Gaussian of variance ``cond + Delta``, so the output noise joins the variance of
``omega`` exactly and the labels are the noiseless ``phi(nu)`` at the nodes.  The test error is
the mean squared error ``E (y - lambda - b)^2`` (noise included, as in :mod:`solvable.families.erm`).
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from solvable.core.contract import SaddlePoint
from solvable.families.mixtures.equations import (MixtureERM, _loss_expectations, _PenaltySide, bias_step, omega_cuts,
                                                  runaway_rows)
from solvable.families.mixtures.experiment import MixtureERMExperiment, _draw, root_times
from solvable.numerics.gauss import composite_legendre_nodes

__all__ = ["TeacherMixtureERM", "GeneralTeacherMixtureERM", "TeacherMixtureERMExperiment", "teacher_nodes",
           "teacher_cluster_errors", "sign_teacher_errors"]

_YLAB = np.array([1.0, -1.0])


def teacher_nodes(t, var, channel, n: int = 40):
    """Nodes of a regression teacher's field ``nu ~ N(t_k, var_k)`` in each cluster: ``(nu (K, J), ys
    (K, J, 1), table (K, J, 1), noise)`` with ``ys = phi(nu)`` the noiseless labels, ``table`` the
    weights (Gauss-Legendre pieces over 12 standard deviations, split at the channel's kinks) and
    ``noise`` the output noise's variance (module docstring: it joins the variance of omega).  A Sign
    / Probit teacher's field is integrated out in closed form instead (:func:`_sign_rule`)."""
    if channel.is_classification:
        raise ValueError(f"teacher_nodes: for regression channels (a {channel.name} teacher's field is integrated "
                         f"out in closed form, _sign_rule), got channel={channel!r}")
    t = np.asarray(t, float)
    sd = np.sqrt(np.asarray(var, float))
    z, w = composite_legendre_nodes(t, sd, list(channel.kinks), n, 12.0, pieces=3)
    nu = t[:, None] + sd[:, None] * z
    return nu, channel.phi(nu)[..., None], w[..., None], float(channel.noise)


#: cuts of the omega-rule around the label law's step, in units of its width (:func:`_sign_rule`)
_LABEL_CUTS = np.array([-10.0, -4.0, -1.5, -0.5, 0.0, 0.5, 1.5, 4.0, 10.0])


def _sign_rule(m, q, r, t, rho_th, b, channel, bp, n):
    """The law of the student's field given a Sign / Probit teacher, with the teacher field
    integrated out: for rows ``m, q, r`` (N, K), teacher means / variances ``t, rho_th`` (K,), biases
    ``b`` (N,), Gauss-Legendre nodes of ``omega = lambda + b``, ``lambda ~ N(m_k, q_k)``, per label
    ``y = (+1, -1)``: ``(omega, weights (pdf included), P(y | lambda), E[(nu - t_k) 1{y} | lambda])``,
    each (N, K, 2, M).  Given ``lambda``, ``nu ~ N(mu, s2)`` with ``mu = t + (r / q)(lambda - m)``,
    ``s2 = rho_th - r^2 / q``, so (Gaussian integrals of ``P(y | nu) = flip + (1 - 2 flip)
    Phi(y nu / sqrt(noise))``)

        P(y | lambda) = flip + (1 - 2 flip) Phi(y mu / s),   s^2 = s2 + noise,
        E[(nu - t) 1{y} | lambda] = (mu - t) P(y | lambda) + (1 - 2 flip) y s2 phi(mu / s) / s

    (the second by Stein's lemma).  ``P(y | lambda)`` steps at ``mu = 0`` over a width ``s q / |r|``
    in ``lambda``: the rule is cut there (:data:`_LABEL_CUTS`) besides at ``bp`` (N, K, 2, B)."""
    from solvable.numerics.special import norm_pdf

    N, K = m.shape
    y = np.broadcast_to(_YLAB, (N, K, 2))
    mean = np.broadcast_to((m + b[:, None])[..., None], (N, K, 2))
    sd = np.broadcast_to(np.sqrt(q)[..., None], (N, K, 2))
    s2 = np.maximum(rho_th[None] - r * r / q, 0.0)
    s = np.sqrt(s2 + channel.noise)
    ok = np.abs(r) > 0
    rs = np.where(ok, r, 1.0)
    step = np.where(ok, m + b[:, None] - t[None] * q / rs, m + b[:, None])      # omega where mu = 0
    width = np.where(ok, s * q / np.abs(rs), np.sqrt(q))
    cuts = step[..., None] + width[..., None] * _LABEL_CUTS                     # (N, K, C)
    bps = np.concatenate([bp, np.broadcast_to(cuts[:, :, None, :], (N, K, 2, len(_LABEL_CUTS)))], axis=-1)
    u, wu = composite_legendre_nodes(mean, sd, bps, n, 10.0)
    om = mean[..., None] + sd[..., None] * u
    mu = t[None, :, None, None] + (r / q)[..., None, None] * (om - mean[..., None])
    ss = s[..., None, None]
    yy = y[..., None]
    keep = 1.0 - 2.0 * channel.flip
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(ss > 0, yy * mu / ss, np.sign(yy * mu) * np.inf)
        P = channel.flip + keep * ndtr(z)
        dens = np.where(ss > 0, s2[..., None, None] * norm_pdf(np.where(ss > 0, mu / ss, 0.0)) / ss, 0.0)
    Enu = (mu - t[None, :, None, None]) * P + keep * yy * dens
    return om, wu, P, Enu


def sign_teacher_errors(m, q, r, t, rho_th, b, channel, n: int = 40):
    """Per-cluster test error ``P(y != sign(lambda + b))`` of a student with overlaps ``m, q, r``
    (N, K) and biases ``b`` (N,) under a Sign / Probit teacher: the teacher field integrated out
    (:func:`_sign_rule`), the student's field by Gauss-Legendre cut at ``lambda + b = 0``; shared by
    the theory and the simulation."""
    N, K = m.shape
    om, wu, P, _ = _sign_rule(m, q, r, t, rho_th, b, channel, np.zeros((N, K, 2, 1)), n)
    wrong = _YLAB[:, None] * om < 0
    return np.sum(wu * P * wrong, axis=(-2, -1))


def _sign_teacher_expectations(loss, m, q, r, t, rho_th, V, b, channel, n_nodes, metrics=False):
    """The loss side under a Sign / Probit teacher, the teacher field integrated out in closed form
    (:func:`_sign_rule`; one rule in omega per row, cluster and label): ``E f, E f^2, E df,
    E[f (nu - t)]`` (N, K) and, with ``metrics``, ``E loss``, the test and the training error."""
    N, K = m.shape
    y = np.broadcast_to(_YLAB, (N, K, 2))
    Vb = np.broadcast_to(V[..., None], (N, K, 2))
    g0 = loss.grad(y, 0.0) if not loss.is_constraint else np.zeros_like(y)
    # cut also where the test and training errors' indicators jump (omega = 0, omega = V loss'(y, 0))
    bp, n_nodes = omega_cuts(loss, y, Vb, n_nodes, extra=np.stack([np.zeros_like(Vb), Vb * g0], axis=-1))
    om, wu, P, Enu = _sign_rule(m, q, r, t, rho_th, b, channel, bp, n_nodes)
    yy, VV = y[..., None], Vb[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        p, dp = loss.prox_and_derivative(yy, om, VV)
        f = (p - om) / VV
        df = (dp - 1.0) / VV
        W = wu * P
        out = tuple(np.sum(W * a, axis=(-2, -1)) for a in (f, f * f, df)) + (np.sum(wu * Enu * f, axis=(-2, -1)),)
        if metrics:
            out += (np.sum(W * loss.value(yy, p), axis=(-2, -1)), np.sum(W * (yy * om < 0), axis=(-2, -1)),
                    np.sum(W * (yy * (om - VV * g0[..., None]) < 0), axis=(-2, -1)))
    return out


class TeacherMixtureERM(MixtureERM):
    """ERM on a GaussianMixture with ``labels="teacher"`` and scalar covariances (module
    docstring).  Solver state: ``(v / sqrt(N), c tau / sqrt(N), log N, log(1 / A), b / sqrt(N))``
    with ``v`` the student's component in the span of the means (``w_par / sqrt(d)``, in the means'
    coordinates) and ``c`` its coefficient along the teacher's bulk ``theta_perp``.  Commuting or
    full covariances: :class:`GeneralTeacherMixtureERM` (:meth:`engine_for` picks it)."""

    def __init__(self, problem, learner, options):
        SaddlePoint.__init__(self, problem, learner, options)
        from solvable.families.mixtures.equations import _check

        _check(problem, learner)
        mix = problem.data
        self.K, self.p, self.rho, self.s = mix.K, mix.p, mix.weights, mix.covariances
        self.Mu = mix.means
        self.a = problem.teacher
        self.t = problem.teacher_means
        self.T = problem.teacher_norm
        self.rho_th = problem.teacher_variances              # the teacher field's variance per cluster
        self.lam = learner.penalty.l2_part
        ch = self.channel = problem.channel
        self.classify = ch.is_classification
        if self.classify:  # the teacher field is integrated out in closed form (_sign_rule)
            self.noise = 0.0
            pp = ch.flip + (1 - 2 * ch.flip) * ndtr(self.t / np.sqrt(self.rho_th + ch.noise))
            self.table = np.stack([pp, 1.0 - pp], axis=1)       # P(y | cluster), y = (+1, -1)
        else:
            self.nu, self.ys, self.tab, self.noise = teacher_nodes(self.t, self.rho_th, ch, max(options.n_nodes // 2, 16))
        self._init_state(problem)

    def _init_state(self, problem):
        self.P = problem.spike_matrices                     # (K, p, p)
        self.tau2 = self.T - self.a @ self.a
        self.state = (tuple(f"v_{i}" for i in range(self.p)) + ("c_bulk", "log_N", "log_chi", "b_scaled"))

    def _decode(self, x):
        p = self.p
        N = np.exp(np.clip(x[:, p + 1], -690.0, 690.0))
        sN = np.sqrt(N)
        v = x[:, :p] * sN[:, None]
        c = x[:, p] * sN / np.sqrt(self.tau2) if self.tau2 > 0 else np.zeros(len(x))
        return v, c, N, np.exp(np.clip(x[:, p + 2], -690, 690)), x[:, p + 3] * sN

    def _encode(self, v, c, N, chi, b):
        N = np.maximum(N, 1e-300)
        sN = np.sqrt(N)
        return runaway_rows(np.column_stack([v / sN[:, None], c * np.sqrt(self.tau2) / sN, np.log(N),
                                             np.log(np.maximum(chi, 1e-300)), b / sN]), np.log(N))

    def starts(self, alpha):
        n = len(alpha)
        return {"uninformative": self._encode(np.zeros((n, self.p)), np.zeros(n), np.ones(n), np.ones(n), np.zeros(n))}

    @classmethod
    def engine_for(cls, problem, learner):
        """This engine for scalar covariances, :class:`GeneralTeacherMixtureERM` for a spectrum or matrices."""
        return cls if problem.data.kind == "scalar" else GeneralTeacherMixtureERM

    def _constant_objective(self, c):
        """The training loss per sample of the constant predictor ``c`` (``w = 0``): from the labels'
        marginals (classification) or over the nodes of the teacher field and of its output noise."""
        if self.classify:
            return MixtureERM._constant_objective(self, c)
        ys, tab = self.ys, self.tab
        if self.noise > 0:
            from solvable.numerics.gauss import hermite_rule

            eta, we = hermite_rule(24)
            ys = ys + np.sqrt(self.noise) * eta
            tab = tab * we
        return float(self.rho @ np.sum(tab * self.learner.loss.value(ys, c), axis=(1, 2)))

    def _collapsed(self, x):
        """No row of this state collapses (:meth:`MixtureERM._collapse_rows` reads the binary state)."""
        return np.zeros(len(x), bool)

    def _overlaps(self, x):
        """``(m, q, r, V, b)`` per row and cluster (``b`` per row), and ``(norm, R)`` per row (None
        where the state does not hold them)."""
        v, c, N, chi, b = self._decode(x)
        s = self.s
        m = v @ self.Mu.T
        R = v @ self.a + c * self.tau2
        q = s[None] * N[:, None] + np.einsum("ni,kij,nj->nk", v, self.P, v)
        r = s[None] * R[:, None] + np.einsum("ni,kij,j->nk", v, self.P, self.a)
        return m, q, r, s[None] * chi[:, None], b, (N, R)

    def _fields(self, x):
        """Order parameters and, per (row, cluster, nu node), the mean of omega given nu and its
        conditional variance."""
        m, q, r, V, b, nr = self._overlaps(x)
        cond = np.maximum(q - r * r / self.rho_th[None], 1e-300)
        slope = r / self.rho_th[None]
        mean = m[..., None] + slope[..., None] * (self.nu - self.t[:, None])[None]  # (n, K, J)
        return m, q, r, V, b, cond, mean, nr

    def _hats(self, alpha, x, metrics=False):
        """``(mhat, qhat, Vhat, rhat)`` [and with ``metrics`` ``E loss`` (classification: also the
        test and training errors) per cluster] and ``(E f, E df)``."""
        if self.classify:
            m, q, r, V, b, _ = self._overlaps(x)
            out = _sign_teacher_expectations(self.learner.loss, m, q, r, self.t, self.rho_th, V, b, self.channel,
                                             self.options.n_nodes, metrics)
            Ef, Ef2, Edf, Efnu = out[:4]
            extra = out[4:]
        else:  # nodes of the teacher field; the output noise joins the variance of omega (module docstring)
            m, q, r, V, b, cond, mean, _ = self._fields(x)
            n, K, J = mean.shape
            L = self.tab.shape[-1]
            flat = lambda a: np.broadcast_to(a[..., None], (n, K, J)).reshape(n, K * J)  # noqa: E731
            out = _loss_expectations(self.learner.loss, mean.reshape(n, K * J), flat(cond + self.noise), flat(V), b,
                                     self.tab.reshape(K * J, L), self.options.n_nodes, metrics=metrics,
                                     y=self.ys.reshape(K * J, L))
            parts = [o.reshape(n, K, J) for o in out]
            Ef, Ef2, Edf = (p.sum(-1) for p in parts[:3])
            Efnu = np.sum(parts[0] * (self.nu - self.t[:, None])[None], axis=-1)
            extra = (parts[3].sum(-1),) if metrics else ()
        w = alpha[:, None] * self.rho[None, :]
        rhat = w * (Efnu - r * Edf) / self.rho_th[None]
        return (w * Ef, w * Ef2, -w * Edf, rhat) + tuple(extra) + ((Ef, Edf),)

    def _penalty(self, mhat, qhat, Vhat, rhat):
        """The L2 side: ``v = (A + sum_k Vhat_k P_k)^{-1} (sum_k mhat_k mu_k + (S + sum_k rhat_k P_k) a)``,
        ``c = S / A``, bulk noise ``sum_k s_k qhat_k / A^2`` (module docstring)."""
        s = self.s
        A = self.lam + Vhat @ s
        S = rhat @ s
        M = A[:, None, None] * np.eye(self.p) + np.einsum("nk,kij->nij", Vhat, self.P)
        u = mhat @ self.Mu + S[:, None] * self.a + np.einsum("nk,kij,j->ni", rhat, self.P, self.a)
        v = np.linalg.solve(M, u[..., None])[..., 0]
        c = S / A
        N = (v * v).sum(-1) + c * c * self.tau2 + (qhat @ s) / (A * A)
        return v, c, N, 1.0 / A

    def step(self, alpha, x):
        mhat, qhat, Vhat, rhat, (Ef, Edf) = self._hats(alpha, x)
        b = self._bias_update(x, Ef, Edf)
        return self._encode(*self._penalty(mhat, qhat, Vhat, rhat), b)

    def _bias_update(self, x, Ef, Edf):
        """The bias's stationarity ``sum_k rho_k E f = 0`` (as :class:`MixtureERM`)."""
        m, q, r, V, b, _ = self._overlaps(x)
        if not self.learner.bias:
            return b
        return bias_step(b, Ef @ self.rho, -(Edf @ self.rho), 1.0 + 2.0 * np.sqrt(np.max(q + self.noise, axis=1)))

    def _norm_overlap(self, alpha, x, hats):
        """``(norm, R)`` = ``(|w|^2 / d, w . theta / d)`` per row."""
        return self._overlaps(x)[5]

    def observables(self, alpha, x):
        K = self.K
        m, q, r, V, b, _ = self._overlaps(x)
        hats = self._hats(alpha, x, metrics=True)
        N, R = self._norm_overlap(alpha, x, hats)
        Eloss = hats[4]
        if self.classify:
            err_k = hats[5]
        else:
            _, _, _, _, _, cond, mean, _ = self._fields(x)
            err_k = teacher_cluster_errors(mean, cond, b, self.ys, self.tab, self.noise)
        out = {f"m_{k}": m[:, k] for k in range(K)}
        out.update({f"q_{k}": q[:, k] for k in range(K)})
        out.update({f"r_{k}": r[:, k] for k in range(K)})
        out.update({f"V_{k}": V[:, k] for k in range(K)})
        out.update({f"test_error_{k}": err_k[:, k] for k in range(K)})
        out.update({"teacher_overlap": R, "cosine": R / np.sqrt(N * self.T), "bias": b, "norm": N,
                    "test_error": err_k @ self.rho, "train_loss": Eloss @ self.rho})
        if self.classify:  # P(y prox < 0): the prox vanishes at omega = V loss'(y, 0) (as in MixtureERM)
            out["train_error"] = hats[6] @ self.rho
        if self.learner.loss.is_constraint:  # every training margin is >= 1: the geometric margin 1 / |w|
            out["train_error"] = np.zeros(len(alpha))
            out["margin"] = 1.0 / np.sqrt(N)
        return out


class GeneralTeacherMixtureERM(TeacherMixtureERM):
    """ERM on a teacher-labelled mixture with commuting (a (K, p) spectrum) or full covariances
    (module docstring), L2 or (on a spectrum) L1 / elastic-net penalty.  Solver state:
    ``(m_k / sqrt(q_k), log q_k, r_k / sqrt(q_k), log V_k, b / sqrt(sum_k rho_k q_k))``."""

    def _init_state(self, problem):
        K = self.K
        self.pen = _PenaltySide(problem.data, self.learner.penalty.l2_part, self.learner.penalty.l1_part)
        mix, a = problem.data, self.a
        Sa = mix.covariances * a if mix.kind == "diagonal" else mix.covariances @ a  # the fields Sigma_k a
        # the teacher's fields and the teacher itself as more "means": m_ext = (m_k, r_k, R)
        self.pen.Mu = np.vstack([mix.means, Sa, a[None]])
        self.state = tuple(f"{s}_{k}" for s in ("cos", "log_q", "r_scaled", "log_V") for k in range(K)) + ("b_scaled",)

    def _decode(self, x):
        K = self.K
        q = np.exp(np.clip(x[:, K:2 * K], -690.0, 690.0))
        sq = np.sqrt(q)
        V = np.exp(np.clip(x[:, 3 * K:4 * K], -690.0, 690.0))
        return x[:, :K] * sq, q, x[:, 2 * K:3 * K] * sq, V, x[:, 4 * K] * np.sqrt(q @ self.rho)

    def _encode(self, m, q, r, V, b):
        q = np.maximum(q, 1e-300)
        sq = np.sqrt(q)
        return runaway_rows(np.column_stack([m / sq, np.log(q), r / sq, np.log(np.maximum(V, 1e-300)),
                                             b / np.sqrt(q @ self.rho)]), np.log(q))

    def starts(self, alpha):
        n, K = len(alpha), self.K
        z, o = np.zeros((n, K)), np.ones((n, K))
        return {"uninformative": self._encode(z, o, z, o, np.zeros(n))}

    def _overlaps(self, x):
        m, q, r, V, b = self._decode(x)
        return m, q, r, V, b, None

    def _side(self, mhat, qhat, Vhat, rhat):
        """``(m, r, R, q, V, norm)`` from the conjugates (the penalty side with the extended means)."""
        K = self.K
        ext = np.column_stack([mhat, rhat, np.zeros(len(mhat))])
        mx, q, V, norm = self.pen(ext, qhat, Vhat)
        return mx[:, :K], mx[:, K:2 * K], mx[:, 2 * K], q, V, norm

    def step(self, alpha, x):
        mhat, qhat, Vhat, rhat, (Ef, Edf) = self._hats(alpha, x)
        b = self._bias_update(x, Ef, Edf)
        m, r, _, q, V, _ = self._side(mhat, qhat, Vhat, rhat)
        return self._encode(m, q, r, V, b)

    def _norm_overlap(self, alpha, x, hats):
        _, _, R, _, _, norm = self._side(*hats[:4])
        return norm, R


def teacher_cluster_errors(mean, cond, b, ys, table, noise=0.0):
    """Per-cluster test error (the mean squared error, output noise included) of a regression
    teacher's labels from the nodes of its field (:func:`teacher_nodes`), for rows of ``mean`` (n, K,
    J) (the mean of the student's field ``lambda`` given ``nu``), conditional variances ``cond`` (n, K)
    and biases ``b`` (n,): ``noise + sum_j table[k, j] ((phi(nu_kj) - mean_kj - b)^2 + cond_k)``; shared
    by the theory and the simulation (a Sign / Probit teacher: :func:`sign_teacher_errors`)."""
    res = ys[None] - (mean + np.asarray(b)[:, None, None])[..., None]
    return noise + np.sum(table[None] * (res * res + cond[..., None, None]), axis=(-2, -1))


class TeacherMixtureERMExperiment(MixtureERMExperiment):
    """One seed of ERM on a mixture labelled by a single-index teacher, at dimension ``d``.  The
    teacher: scalar covariances, ``theta = sqrt(d) a`` on the means' first ``p`` coordinates
    (:meth:`Mixture.embed`) plus a bulk Gaussian direction on the other ``d - p`` coordinates
    normalised to ``|theta_perp|^2 = tau^2 d``; a spectrum, ``theta / sqrt(d)`` the teacher's profile
    embedded as the means are; full matrices (``d = p``), ``theta = sqrt(d) a``.  Labels from the
    channel; the fit by the exact solvers (:func:`~solvable.families.mixtures.experiment.fit_binary`).
    Measured: ``m_k``, ``q_k = w^T Sigma_k w / d``, ``r_k = w^T Sigma_k theta / d``, ``norm``,
    ``teacher_overlap = w . theta / d``, ``cosine``, ``bias``, the test errors exactly given ``w``
    (:func:`teacher_cluster_errors`, the theory's formula, at the sample's own teacher fields) and
    the training loss and (classification) error."""

    @classmethod
    def engine_for(cls, problem, learner):
        return cls

    def sample(self, d, rng):
        from solvable.blocks.data.mixture import _profiles
        from solvable.families.mixtures.equations import _check

        pb = self.problem
        _check(pb, self.learner)
        mix = pb.data
        p = mix.p
        if mix.kind == "scalar" and d <= p:
            raise ValueError(f"simulate: the teacher's bulk needs d > p = {p}, got d={d}")
        X, c, (mu, fac) = _draw(pb, d, rng)
        if pb.spikes is not None:  # the finite-rank parts P_k of the covariances, in the means' coordinates
            for k in range(mix.K):
                ev, U = np.linalg.eigh(pb.spikes[k])
                sel = c == k
                X[sel, :p] += rng.standard_normal((int(sel.sum()), p)) @ (U * np.sqrt(np.maximum(ev, 0.0))).T
        if mix.kind == "scalar":
            tau2 = pb.teacher_norm - pb.teacher @ pb.teacher
            theta = np.zeros(d)
            theta[:p] = np.sqrt(d) * pb.teacher
            g = rng.standard_normal(d - p)
            theta[p:] = g * np.sqrt(tau2 * d / (g @ g))
        elif mix.kind == "diagonal" and d != p:
            theta = np.sqrt(d) * _profiles(pb.teacher[None], d)[0] * np.sqrt(p / d)
        else:
            theta = np.sqrt(d) * pb.teacher
        y = pb.channel.sample(X @ theta / np.sqrt(d), rng)
        return {"X": X, "y": y, "c": c, "mu": mu, "fac": fac, "theta": theta, "d": d}

    def measure(self, data, est):
        w, b = est
        pb, d, fac, theta = self.problem, data["d"], data["fac"], data["theta"]
        K, p = pb.data.K, pb.data.p
        m = data["mu"] @ w / np.sqrt(d)
        t = data["mu"] @ theta / np.sqrt(d)
        Fw, Ft = root_times(fac, w), root_times(fac, theta)
        q, r, rho_th = (Fw * Fw).sum(1) / d, (Fw * Ft).sum(1) / d, (Ft * Ft).sum(1) / d
        if pb.spikes is not None:
            v, a, P = w[:p] / np.sqrt(d), theta[:p] / np.sqrt(d), pb.spikes
            q = q + np.einsum("i,kij,j->k", v, P, v)
            r = r + np.einsum("i,kij,j->k", v, P, a)
            rho_th = rho_th + np.einsum("i,kij,j->k", a, P, a)
        N, T, R = float(w @ w / d), float(theta @ theta / d), float(w @ theta / d)
        ch = pb.channel
        if ch.is_classification:
            err_k = sign_teacher_errors(m[None], q[None], r[None], t, rho_th, np.array([b]), ch)[0]
        else:
            nu, ys, tab, noise = teacher_nodes(t, rho_th, ch, 40)
            cond = np.maximum(q - r * r / rho_th, 1e-300)
            mean = m[:, None] + (r / rho_th)[:, None] * (nu - t[:, None])
            err_k = teacher_cluster_errors(mean[None], cond[None], np.array([b]), ys, tab, noise)[0]
        out = {f"m_{k}": float(m[k]) for k in range(K)}
        out.update({f"q_{k}": float(q[k]) for k in range(K)})
        out.update({f"r_{k}": float(r[k]) for k in range(K)})
        out.update({f"test_error_{k}": float(err_k[k]) for k in range(K)})
        out.update({"teacher_overlap": R, "cosine": R / np.sqrt(N * T), "bias": b, "norm": N,
                    "test_error": float(err_k @ pb.data.weights)})
        out.update(self.training_fields(data, w, b, classify=ch.is_classification))
        return out


def teacher_separability_threshold(problem, *, bias: bool = True) -> float:
    """The sample ratio ``alpha*`` below which n = alpha d samples of a mixture labelled by a Sign /
    Probit teacher are linearly separable (so the max-margin classifier exists below it, and the
    lam = 0 logistic / hinge minimiser only above it); ``inf`` for a noiseless teacher, which
    separates its own samples.

    Gordon's comparison (the form of :func:`~solvable.families.mixtures.equations.separability_threshold`;
    Candes & Sur, PNAS 2020, "The phase transition for the existence of the maximum likelihood
    estimate in high-dimensional logistic regression", eq. (5), for one cluster): after whitening by
    the shared variance ``s``, a unit weight vector with component ``v`` in the span of the means and
    the teacher (``v_par`` in the means' coordinates, ``v_tau`` along the teacher's bulk) has, in
    cluster ``k``, the field ``lambda ~ N(v_par . mu_k / sqrt(s), 1)`` once Gordon's Gaussian for the
    orthogonal part is added, correlated with the teacher's ``nu ~ N(t_k, s T)`` by
    ``r = sqrt(s) (v_par . a + v_tau tau)``:

        1 / alpha* = min_{|v| < 1, b} sum_k rho_k sum_y E[P(y | lambda) (-y (lambda + b))_+^2] / (1 - |v|^2),

    the label law given ``lambda`` in closed form (:func:`_sign_rule`), the rest by Gauss-Legendre cut
    at ``lambda + b = 0``.  For one cluster this is Candes & Sur's ``min_t E[(Z - t Y V)_+^2]``.
    Scalar covariances shared by the clusters, no spikes."""
    from scipy import optimize

    mix, ch = problem.data, problem.channel
    if problem.labels != "teacher" or not ch.is_classification:
        raise ValueError("teacher_separability_threshold: needs labels='teacher' with a Sign / Probit channel")
    if ch.noise == 0 and ch.flip == 0:  # whatever the covariances
        return np.inf
    if mix.kind != "scalar" or not mix.shared_covariance or problem.spikes is not None:
        raise ValueError("teacher_separability_threshold: implemented for scalar covariances shared by the clusters "
                         f"and no spikes, got {mix.kind} covariances (shared: {mix.shared_covariance}), "
                         f"spikes={'yes' if problem.spikes is not None else 'no'}")
    s = float(mix.covariances[0])
    a, T, rho, K, p = problem.teacher, problem.teacher_norm, mix.weights, mix.K, mix.p
    tau = np.sqrt(max(T - a @ a, 0.0))
    t, rho_th = problem.teacher_means, np.full(K, s * T)
    Mw = mix.means / np.sqrt(s)
    bp = np.zeros((1, K, 2, 1))

    def objective(v, b):
        n2 = v @ v
        m = (Mw @ v[:p])[None]
        r = np.full((1, K), np.sqrt(s) * (v[:p] @ a + v[p] * tau))
        om, wu, P, _ = _sign_rule(m, np.ones((1, K)), r, t, rho_th, np.array([b]), ch, bp, 40)
        viol = np.maximum(-_YLAB[:, None] * om, 0.0)
        return float(rho @ np.sum(wu * P * viol * viol, axis=(-2, -1))[0]) / (1.0 - n2)

    def obj_u(z):
        u, b = z[:p + 1], (z[p + 1] if bias else 0.0)
        nu = np.linalg.norm(u)
        return objective(u if nu == 0 else u / nu * np.tanh(nu), b)

    best, rng = None, np.random.default_rng(0)
    for start in [np.zeros(p + 2)] + [np.r_[rng.standard_normal(p + 1), 0.0] for _ in range(4)]:
        res = optimize.minimize(obj_u, start, method="BFGS", options={"gtol": 1e-11, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    return float(1.0 / best.fun)

"""Joint asymptotics of K ERM estimators trained on one data set with sample weights.

Model: teacher ``theta ~ prior`` (``rho = E theta^2``), inputs from the GLM's data model
(isotropic or a covariance spectrum), labels ``y ~ P(y | z)``, ``z = theta . x / sqrt(d)``.  Estimator
``k`` minimises ``sum_mu p_mu^k loss_k(y_mu, w . x_mu / sqrt(d)) + lam_k |w|^2 / 2`` with weights
``p_mu`` i.i.d. over samples (:mod:`~solvable.families.joint.problem`).

Equations (Loureiro, Gerbelot, Refinetti, Sicuro, Krzakala 2022, "Fluctuations, bias, variance &
ensemble of learners", eqs. (9)-(10); with sample weights, Clarte, Vandenbroucque, Dalle, Loureiro,
Krzakala, Zdeborova 2024, "Analysis of bootstrap and subsampling in high-dimensional regularized
regression", eqs. (8)-(9)).  The local fields ``(z, omega_1, ..., omega_K)`` are jointly Gaussian with
covariance ``[[rho, m^T], [m, Q]]``; with the weighted prox ``f_k = (prox_{V_k p_k loss_k}(y, omega_k) -
omega_k) / V_k`` (each estimator's prox involves its own field only: the weighted loss separates),

    Vhat_k = -a E[d_omega f_k],     mhat_k = a E[g0_k f_k],     Qhat_kl = a E[f_k f_l],

(``a = alpha x pool factor / ratio``; ``g0_k = d_omega0 log Z0`` at ``omega0 = m_k omega_k / Q_kk``, the
single-estimator form of the ERM engine), and the L2 penalty side in the eigenbasis of the data
covariance (eigenvalues ``om_i``, teacher power ``pw_i``, weights ``w_i``):

    V_k = sum_i w_i om_i / (lam_k + Vhat_k om_i),   m_k = mhat_k sum_i w_i om_i pw_i / (lam_k + Vhat_k om_i),
    Q_kl = sum_i w_i om_i^2 (mhat_k mhat_l pw_i + Qhat_kl) / ((lam_k + Vhat_k om_i) (lam_l + Vhat_l om_i)).

The diagonal ``(m_k, Q_kk, V_k)`` is each estimator alone (ERM with random sample weights); the
cross-overlaps ``Q_kl`` couple them through ``Qhat_kl``.  For a weight ``p``, ``prox_{V p loss} =
prox_{V' loss}`` with ``V' = V p``, so ``f = p f_single(V')``: the expectations are sums over the
weight law (:meth:`SampleWeights.marginal`, and :meth:`SampleWeights.pair` for ``k != l``).

Numerics.  The square loss: closed forms (``f = p (y - omega) / (1 + V p)`` is affine; ``E (y -
omega_k)(y - omega_l) = E y y' - (m_k + m_l) E[z y] / rho + Q_kl``, ``E y y' = E y^2`` for shared labels
and ``E[E[y | z]^2]`` for resampled ones).  The logistic loss on a classification channel: the label
integrated out (``Z0`` of the channel given the students' fields), the diagonal terms on a composite
Gauss-Legendre rule in ``omega_k`` cut at 0 and, near perfect overlap, at a few widths of the step of
``Z0``; the cross terms on a 2D rule ``omega_k = sqrt(Q_kk) u``, ``omega_l = beta omega_k + tau t``
whose inner rule in ``t`` is cut, for each ``u``, where the teacher's conditional mean crosses 0 (the
step of ``Z0`` runs along a line of the ``(u, t)`` plane; cut there, every piece is smooth).  The
fixed point is iterated for all points of a curve at once (Anderson).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvable.blocks.data.spectra import DataModel, Isotropic
from solvable.core.contract import SaddlePoint, SaddlePointOptions
from solvable.families.joint.problem import ensemble_fields
from solvable.numerics.fixed_point import solve_fixed_point
from solvable.numerics.gauss import composite_legendre_nodes

__all__ = ["JointERMTheory", "JointOptions", "check_joint"]

_STEP_CUTS = np.array([-8.0, -2.5, -0.7, 0.7, 2.5, 8.0])


@dataclass(frozen=True)
class JointOptions(SaddlePointOptions):
    """Solver settings (a row stops at ``|F(x) - x| < tol``; Anderson mixing of depth ``anderson``)
    and ``n_nodes``, the Gauss-Legendre nodes per piece of the logistic loss side's rules."""

    tol: float = 1e-13
    max_iter: int = 3000
    anderson: int = 4
    n_nodes: int = 40


def _is_bayes(lr) -> bool:
    from solvable.blocks.learners import BayesOptimal

    return isinstance(lr, BayesOptimal)


def check_joint(problem, learner) -> None:
    """The cases the engine covers; anything else is a ValueError naming the value."""
    from solvable.blocks.learners import ERM
    from solvable.blocks.priors import Gaussian

    from solvable.families.joint.gibbs import GibbsPosterior

    ch = problem.channel
    for k, lr in enumerate(learner.learners):
        if isinstance(lr, GibbsPosterior):
            if lr.loss.name == "logistic" and not ch.is_classification:
                raise ValueError(f"JointERM: the logistic GibbsPosterior (estimator {k}) needs a classification "
                                 f"channel (Sign, Probit), got {ch!r}")
            continue
        if _is_bayes(lr):
            if not (isinstance(problem.prior, Gaussian) and problem.prior.mean == 0.0):
                raise ValueError(f"JointERM: the BayesOptimal() estimator is implemented for a centred Gaussian prior "
                                 f"(its posterior mean is then a ridge-like estimator), got {problem.prior!r}")
            if problem.data is not None:
                raise ValueError("JointERM: the BayesOptimal() estimator is implemented for isotropic data (data=None)")
            if not (ch.is_classification or (ch.is_linear and getattr(ch, "noise", 0.0) > 0)):
                raise ValueError(f"JointERM: the BayesOptimal() estimator is implemented for classification channels "
                                 f"(Sign, Probit) and the Linear channel with noise > 0, got {ch!r}")
            continue
        loss = lr.loss
        if loss.name not in ("square", "logistic"):
            raise ValueError(f"JointERM: estimator {k} has the {loss.name!r} loss; implemented: 'square' (any channel) "
                             f"and 'logistic' (classification channels)")
        if loss.name == "logistic" and not ch.is_classification:
            raise ValueError(f"JointERM: the logistic loss (estimator {k}) needs a classification channel (Sign, "
                             f"Probit), got {ch!r}")
        lam = lr.penalty.lam
        if not (np.isfinite(lam) and lam > 0):
            raise ValueError(f"JointERM: estimator {k} needs a ridge lam > 0, got lam={lam!r}")
    if learner.labels == "resampled" and any(not isinstance(lr, ERM) or lr.loss.name != "square"
                                             for lr in learner.learners):
        raise ValueError("JointERM: labels='resampled' is implemented for the square loss only")
    data = problem.data if problem.data is not None else Isotropic()
    if not isinstance(data, DataModel):
        raise ValueError(f"JointERM: data must be None or a solvable.data.DataModel, got data={problem.data!r}")
    if learner.features == "independent":
        from solvable.blocks.data.kernels import RandomFeatures

        if not isinstance(problem.data, RandomFeatures):
            raise ValueError(f"JointERM: features='independent' needs random-features data (data=sv.data."
                             f"RandomFeatures(...): each estimator draws its own feature map), got data={problem.data!r}")


class JointERMTheory(SaddlePoint):
    """The joint fixed point of K weighted ERM estimators (module docstring).  State per row:
    ``(m_k, Q_kk, V_k)`` for every k, then ``Q_kl`` for every pair ``k < l``."""

    Options = JointOptions
    param = "alpha"

    def __init__(self, problem, learner, options):
        super().__init__(problem, learner, options)
        check_joint(problem, learner)
        self.K = K = learner.K
        self.pairs = learner.pairs
        self.state = tuple(f"{s}_{k}" for k in range(K) for s in ("m", "q", "V")) + tuple(
            f"q_{k}_{l}" for k, l in self.pairs)
        data = problem.data if problem.data is not None else Isotropic()
        self.spec = data.spectrum(problem.prior)
        self.rho = float(self.spec.rho)
        self.ch = problem.channel
        self.factor = learner.weights.alpha_factor(K) / self.spec.ratio
        self.pv, self.pp = learner.weights.marginal(K)
        self.qv, self.qp = learner.weights.pair(K)
        # the Bayes-optimal estimator of a N(0, rho) prior: ERM with lam = 1 / rho whose "loss side" is the
        # channel's output function gout (the posterior mean's state evolution: Zdeborova & Krzakala 2016,
        # eqs. (129)-(136)); on the Linear channel it is ridge with lam = noise / rho (closed form)
        from solvable.blocks.losses import Square

        from solvable.families.joint.gibbs import GibbsPosterior, TiltedChannel

        self.bayes = [_is_bayes(lr) and self.ch.is_classification for lr in learner.learners]
        # a Gibbs posterior: ERM with lam -> beta lam, its loss scaled by beta (the square loss: closed
        # form; the logistic loss: the tilted channel)
        self.beta = np.array([lr.beta if isinstance(lr, GibbsPosterior) else 1.0 for lr in learner.learners])
        self.tilted = [TiltedChannel(lr.loss, lr.beta) if isinstance(lr, GibbsPosterior) and lr.loss.name != "square"
                       else None for lr in learner.learners]
        self.lams = np.array([(1.0 / self.rho if self.ch.is_classification else self.ch.noise / self.rho)
                              if _is_bayes(lr) else lr.beta * lr.lam if isinstance(lr, GibbsPosterior)
                              else lr.penalty.lam for lr in learner.learners], float)
        self.losses = [Square() if _is_bayes(lr) else lr.loss for lr in learner.learners]
        self.has_train_loss = [not (_is_bayes(lr) or isinstance(lr, GibbsPosterior)) for lr in learner.learners]
        self.Ezy, self.Ey2 = self.ch.label_moments(self.rho)
        if learner.labels == "resampled":  # E[E[y | z]^2]: two independent draws given z
            u, wu = composite_legendre_nodes(np.zeros(()), np.ones(()), None, 60, 12.0)
            ys, ws = self.ch.y_given_z(np.sqrt(self.rho) * u, n=40)
            self.Eyy = float(np.sum(wu * np.sum(ys * ws, -1) ** 2))
        else:
            self.Eyy = self.Ey2

    # ------------------------------------------------------------------ state layout
    def _split(self, x):
        K = self.K
        m, q, V = x[:, 0:3 * K:3], x[:, 1:3 * K:3], x[:, 2:3 * K:3]
        return m, np.maximum(q, 1e-300), np.maximum(V, 1e-300), x[:, 3 * K:]

    def starts(self, alpha):
        N, K = len(alpha), self.K
        row = []
        for _ in range(K):
            row += [0.1 * self.rho, 0.5 * self.rho, 1.0]
        row += [0.3 * self.rho] * len(self.pairs)
        return {"uninformative": np.tile(np.array(row), (N, 1))}

    # ------------------------------------------------------------------ loss side
    def _diagonal(self, k, m, q, V, a, metrics=False, stability=False):
        """(mhat, Qhat_kk, Vhat[, train loss]) of estimator k for rows (m, q, V), alpha-scaled ``a``;
        ``stability=True``: (mhat, Qhat_kk, Vhat, a E[(d_omega f)^2]) instead (the jackknife's resolvent)."""
        pv, pp = self.pv[self.pv > 0], self.pp[self.pv > 0]
        loss = self.losses[k]
        if loss.name == "square" and not self.bayes[k]:
            bv = self.beta[k] * pv  # a Gibbs posterior's loss is beta loss
            g = bv[None, :] / (1.0 + V[:, None] * bv[None, :])  # (N, P)
            Ery2 = self.Ey2 - 2.0 * m / self.rho * self.Ezy + q
            Vh = a * np.sum(pp * g, 1)
            mh = Vh * self.Ezy / self.rho
            qh = a * Ery2 * np.sum(pp * g * g, 1)
            if stability:  # d_omega f = -g
                return mh, qh, Vh, a * np.sum(pp * g * g, 1)
            if metrics:  # sum_p P(p) p E (y - prox)^2 / 2, prox residual (y - omega) / (1 + V p)
                return mh, qh, Vh, 0.5 * Ery2 * np.sum(pp * pv / (1.0 + V[:, None] * pv) ** 2, 1)
            return mh, qh, Vh
        om, W, logZ, g0 = self._omega_rule(m, q, a)  # (N, 2, M)
        y = np.array([1.0, -1.0])[None, None, :, None]
        if self.bayes[k]:  # the posterior mean: f = gout at the estimator's own V (weight 1)
            _, f, df = self.ch.output_moments(y, om[:, None], V[:, None, None, None])
        elif self.tilted[k] is not None:  # a Gibbs posterior (weight 1): the tilted channel
            _, f, df = self.tilted[k].output_moments(y, om[:, None], V[:, None, None, None])
        else:
            Vp = V[:, None, None, None] * pv[None, :, None, None]  # (N, P, 1, 1)
            pr, dpr = loss.prox_and_derivative(y, om[:, None], Vp)
            f = (pr - om[:, None]) / V[:, None, None, None]
            df = (dpr - 1.0) / V[:, None, None, None]
        Wz = (W * np.exp(logZ))[:, None]  # (N, 1, 2, M)
        P = pp[None, :, None, None]
        Vh = -a * np.sum(P * Wz * df, axis=(1, 2, 3))
        qh = a * np.sum(P * Wz * f * f, axis=(1, 2, 3))
        mh = a * np.sum(P * Wz * g0[:, None] * f, axis=(1, 2, 3))
        if stability:
            return mh, qh, Vh, a * np.sum(P * Wz * df * df, axis=(1, 2, 3))
        if metrics:  # no training loss for the posterior mean
            tl = np.full(len(m), np.nan) if not self.has_train_loss[k] else np.sum(
                P * pv[None, :, None, None] * Wz * loss.value(y, pr), axis=(1, 2, 3))
            return mh, qh, Vh, tl
        return mh, qh, Vh

    def _omega_rule(self, m, q, a):
        """Nodes of omega ~ N(0, q) (N, 2, M) with weights, and log Z0, g0 of the channel for y = +-1
        at mean ``m omega / q``, variance ``rho - m^2 / q`` (the label integrated out)."""
        rho, ch, n = self.rho, self.ch, self.options.n_nodes
        sq = np.sqrt(q)
        s2 = np.maximum(rho - m * m / q, 1e-12 * rho)
        bp = np.zeros((len(q), 1))
        wpk = np.sqrt(s2 + getattr(ch, "noise", 0.0)) * q / np.maximum(np.abs(m), 1e-300)
        if np.any(wpk < 0.3 * sq):
            bp = np.concatenate([bp, wpk[:, None] * _STEP_CUTS], axis=1)
        s, ws = composite_legendre_nodes(np.zeros_like(sq), sq, bp, n, 10.0)
        om = np.broadcast_to((sq[:, None] * s)[:, None, :], (len(q), 2, s.shape[1]))
        y = np.array([1.0, -1.0])[None, :, None]
        logZ, g0, _ = ch.output_moments(y, (m / q)[:, None, None] * om, s2[:, None, None])
        return om, np.broadcast_to(ws[:, None, :], om.shape), logZ, g0

    def _cross(self, k, l, m, q, V, qkl, a):
        """Qhat_kl = a sum_{p_k, p_l} P(p_k, p_l) E[f_k f_l] for rows."""
        qv, qp = self.qv, self.qp
        keep = (qv[:, 0] > 0) & (qv[:, 1] > 0)
        qv, qp = qv[keep], qp[keep]
        if not len(qp):
            return np.zeros(len(qkl))
        lk, ll = self.losses[k], self.losses[l]
        if lk.name == "square" and ll.name == "square":
            E = self.Eyy - (m[:, k] + m[:, l]) / self.rho * self.Ezy + qkl
            bk, bl = self.beta[k] * qv[None, :, 0], self.beta[l] * qv[None, :, 1]
            gk = bk / (1.0 + V[:, k, None] * bk)
            gl = bl / (1.0 + V[:, l, None] * bl)
            return a * E * np.sum(qp * gk * gl, 1)
        return a * self._cross_quadrature(k, l, m, q, V, qkl, qv, qp)

    def _cross_quadrature(self, k, l, m, q, V, qkl, qv, qp):
        """E[f_k f_l] summed over the pair law, classification channel (2D rule, module docstring)."""
        rho, ch, n = self.rho, self.ch, self.options.n_nodes
        N = len(qkl)
        qk, ql, mk, ml = q[:, k], q[:, l], m[:, k], m[:, l]
        sk = np.sqrt(qk)
        c = np.clip(qkl / np.sqrt(qk * ql), -1.0, 1.0)
        beta = qkl / qk
        tau = np.sqrt(np.maximum(ql * (1.0 - c * c), 1e-24 * ql))
        au = mk / sk  # Cov(z, u)
        at = (ml - beta * mk) / tau  # Cov(z, t)
        cap = np.sqrt(np.maximum(rho - au * au, 0.0))
        at = np.clip(at, -cap, cap)
        s2 = np.maximum(rho - au * au - at * at, 1e-12 * rho)
        noise = getattr(ch, "noise", 0.0)
        # outer u: cut at 0 and, where the step of Z0 is narrow along u, at a few of its widths
        wu_step = np.sqrt(s2 + noise) / np.maximum(np.sqrt(au * au + at * at), 1e-300)
        bpu = np.zeros((N, 1))
        if np.any(wu_step < 0.3):
            bpu = np.concatenate([bpu, wu_step[:, None] * _STEP_CUTS], axis=1)
        u, wu = composite_legendre_nodes(np.zeros(N), np.ones(N), bpu, n, 10.0)  # (N, Mu)
        # inner t: cut where the teacher's conditional mean au u + at t crosses 0 (and around it when
        # the step is narrow)
        safe = np.abs(at) > 1e-300
        tstar = np.where(safe[:, None], -au[:, None] * u / np.where(safe, at, 1.0)[:, None], 0.0)[..., None]
        width = np.sqrt(s2 + noise) / np.maximum(np.abs(at), 1e-300)
        if np.any(width < 0.3):
            tstar = np.concatenate([tstar, tstar + width[:, None, None] * _STEP_CUTS], axis=-1)
        ones = np.ones(u.shape)
        t, wt = composite_legendre_nodes(0.0 * ones, ones, tstar, n, 10.0)  # (N, Mu, Mt)
        omk = (sk[:, None] * u)  # (N, Mu)
        oml = beta[:, None, None] * omk[..., None] + tau[:, None, None] * t  # (N, Mu, Mt)
        mu_z = au[:, None, None] * u[..., None] + at[:, None, None] * t
        y = np.array([1.0, -1.0])
        out = np.zeros(N)
        pk_vals = np.unique(qv[:, 0])
        pl_vals = np.unique(qv[:, 1])
        for iy, yy in enumerate(y):
            logZ, _, _ = ch.output_moments(yy, mu_z, s2[:, None, None])
            Wz = wu[..., None] * wt * np.exp(logZ)  # (N, Mu, Mt)
            fk = {pk: self._fout(k, yy, omk, V[:, k, None], pk) for pk in pk_vals}  # (N, Mu)
            fl = {pl: self._fout(l, yy, oml, V[:, l, None, None], pl) for pl in pl_vals}  # (N, Mu, Mt)
            inner = {pl: np.sum(Wz * fl[pl], axis=2) for pl in pl_vals}  # (N, Mu)
            for (pk, pl), pr_ in zip(qv, qp):
                out += pr_ * np.sum(fk[pk] * inner[pl], axis=1)
        return out

    def _fout(self, k, y, om, V, p):
        """``f_k`` at weight ``p``: ``(prox_{V p loss}(y, om) - om) / V`` (ERM) or ``gout(y, om, V)``
        (the posterior mean, weight 1)."""
        if self.bayes[k]:
            return self.ch.output_moments(y, om, V)[1]
        if self.tilted[k] is not None:
            return self.tilted[k].output_moments(y, om, V)[1]
        return (self.losses[k].prox(y, om, V * p * self.beta[k]) - om) / V

    # ------------------------------------------------------------------ penalty side
    def _inv(self, Vh):
        """``1 / (lam_k + Vhat_k om_i)`` (N, K, S), 0 on the null eigenvalues."""
        om = self.spec.omega[None, None, :]
        den = self.lams[None, :, None] + Vh[:, :, None] * om
        pos = om > 0
        return np.where(pos, 1.0 / np.where(pos, den, 1.0), 0.0)

    def _penalty_diag(self, mh, qh, Vh):
        sp = self.spec
        om, pw, wt = sp.omega[None, None, :], sp.power[None, None, :], sp.weight[None, None, :]
        inv = self._inv(Vh)
        V = np.sum(wt * om * inv, axis=2)
        m = mh * np.sum(wt * om * pw * inv, axis=2)
        q = np.sum(wt * om * om * (mh[:, :, None] ** 2 * pw + qh[:, :, None]) * inv * inv, axis=2)
        return m, q, V

    def _penalty_cross(self, k, l, mh, Vh):
        """``(A, B)`` with ``Q_kl = A + B Qhat_kl`` (the cross term of the L2 side).

        Independent feature maps (``features="independent"``, random features ``v_k = sigma(F_k x /
        sqrt d)``): the estimator is ``w_k = A_k (mhat_k t_k + b_k)``, ``A_k = (lam_k + Vhat_k Omega_k)^-1``,
        ``t_k = sqrt(p) E[v_k z]``, ``Cov(b_k, b_l) = Qhat_kl Omega_kl`` with ``Omega_kl = E[v_k v_l^T] =
        mu1^2 F_k F_l^T / d``, so that ``Q_kl = w_k^T Omega_kl w_l / p`` involves ``G_k = mu1^2 F_k^T A_k F_k /
        d`` only, through ``theta^T G_k G_l theta / d`` and ``tr(G_k G_l) / p``.  The ``G_k`` are invariant under
        rotations of input space and independent: asymptotically free, the traces factorise, ``tr(G_k G_l) /
        d -> tau_k tau_l`` with ``tau_k = tr G_k / d = m_k / (mhat_k rho)`` (Loureiro, Gerbelot, Refinetti,
        Sicuro, Krzakala 2022, "Fluctuations, bias, variance & ensemble of learners", sec. 5, where the
        traces are left as matrix expressions), hence

            Q_kl = tau_k tau_l (rho mhat_k mhat_l + Qhat_kl / gamma),   tau_k = sum_i w_i om_i pw_i /
            (rho (lam_k + Vhat_k om_i)),   gamma = p / d.
        """
        sp = self.spec
        inv = self._inv(Vh)
        if self.learner.features == "independent":
            tk, tl = (np.sum(sp.weight * sp.omega * sp.power * inv[:, j], axis=1) / self.rho for j in (k, l))
            return self.rho * mh[:, k] * mh[:, l] * tk * tl, tk * tl / sp.ratio
        B = np.sum(sp.weight * sp.omega ** 2 * inv[:, k] * inv[:, l], axis=1)
        A = mh[:, k] * mh[:, l] * np.sum(sp.weight * sp.omega ** 2 * sp.power * inv[:, k] * inv[:, l], axis=1)
        return A, B

    def _diag_hats(self, a, x):
        m, q, V, _ = self._split(x)
        N = len(a)
        mh, qh, Vh = np.zeros((N, self.K)), np.zeros((N, self.K)), np.zeros((N, self.K))
        for k in range(self.K):
            mh[:, k], qh[:, k], Vh[:, k] = self._diagonal(k, m[:, k], q[:, k], V[:, k], a)
        return mh, qh, np.maximum(Vh, 1e-300)

    def _diag_step(self, a, x, out):
        """One step of the diagonal ``(m_k, Q_kk, V_k)`` into ``out``'s first ``3 K`` columns; returns the
        conjugates ``mhat, Vhat`` (the cross terms' penalty side needs them)."""
        mh, qh, Vh = self._diag_hats(a, x)
        nd = 3 * self.K
        out[:, 0:nd:3], out[:, 1:nd:3], out[:, 2:nd:3] = self._penalty_diag(mh, qh, Vh)
        return mh, Vh

    def step(self, alpha, x):
        """The full map (diagonal and cross terms), one application."""
        a = alpha * self.factor
        m, q, V, qc = self._split(x)
        out = np.empty_like(x)
        mh, Vh = self._diag_step(a, x, out)
        for j, (k, l) in enumerate(self.pairs):
            A, B = self._penalty_cross(k, l, mh, Vh)
            lim = np.sqrt(q[:, k] * q[:, l])
            out[:, 3 * self.K + j] = A + B * self._cross(k, l, m, q, V, np.clip(qc[:, j], -lim, lim), a)
        return out

    def solve(self, alpha, x0):
        """The diagonal ``(m_k, Q_kk, V_k)`` by the batched fixed-point iteration (they do not depend
        on the cross terms), then each ``Q_kl`` as the root of ``A + B Qhat_kl(Q_kl) - Q_kl`` on
        ``[-sqrt(Q_kk Q_ll), sqrt(Q_kk Q_ll)]`` (Illinois regula falsi, all rows at once: the map
        sends the interval into itself, by Cauchy-Schwarz on both sides)."""
        o, K = self.options, self.K
        nd = 3 * K

        def dstep(XP):
            out = np.empty_like(XP)
            self._diag_step(XP[:, nd] * self.factor, XP[:, :nd], out)
            out[:, nd] = XP[:, nd]
            return out

        lower = np.r_[np.tile([-np.inf, 1e-300, 1e-300], K), -np.inf]
        res = solve_fixed_point(dstep, np.column_stack([x0[:, :nd], alpha]), batch=True, tol=o.tol, rtol=o.rtol,
                                max_iter=o.max_iter, damping=o.damping, anderson=o.anderson, on_fail="ignore",
                                lower=lower, name="JointERM (each estimator)")
        X = np.array(x0, float)
        X[:, :nd] = res.x[:, :nd]
        conv = np.asarray(res.converged, bool) & np.all(np.isfinite(X[:, :nd]), axis=1)
        if not conv.all() and o.anderson:
            # Anderson mixing can overshoot to q < 0 where the overlaps are tiny (a Gibbs posterior at lam
            # ~ 1e8: q ~ 1e-17): those rows again by the plain damped iteration from their start
            r_ = np.flatnonzero(~conv)
            res2 = solve_fixed_point(dstep, np.column_stack([x0[r_, :nd], alpha[r_]]), batch=True, tol=o.tol,
                                     rtol=o.rtol, max_iter=o.max_iter, damping=max(o.damping, 0.2), anderson=0,
                                     on_fail="ignore", lower=lower, name="JointERM (each estimator, plain)")
            ok2 = np.asarray(res2.converged, bool) & np.all(np.isfinite(res2.x[:, :nd]), axis=1)
            X[r_[ok2], :nd] = res2.x[ok2, :nd]
            conv[r_[ok2]] = True
        a = alpha * self.factor
        m, q, V, _ = self._split(X)
        resid = np.zeros(len(alpha))
        if self.pairs:
            with np.errstate(all="ignore"):
                mh, _, Vh = self._diag_hats(a, X)
            for j, (k, l) in enumerate(self.pairs):
                c, ok, r = self._cross_root(k, l, m, q, V, mh, Vh, a, conv)
                X[:, nd + j] = c
                conv &= ok
                resid = np.maximum(resid, r)
        return X, conv, {"n_iter": res.n_iter, "residual": resid}

    def _cross_root(self, k, l, m, q, V, mh, Vh, a, rows_ok, max_iter=100):
        N = len(a)
        c = np.full(N, np.nan)
        ok = np.zeros(N, bool)
        resid = np.full(N, np.nan)
        idx = np.flatnonzero(rows_ok)
        if not len(idx):
            return c, ok, resid
        A, B = self._penalty_cross(k, l, mh[idx], Vh[idx])
        mi, qi, Vi, ai = m[idx], q[idx], V[idx], a[idx]
        lim = np.sqrt(qi[:, k] * qi[:, l])

        def G(x, r):
            return A[r] + B[r] * self._cross(k, l, mi[r], qi[r], Vi[r], x, ai[r]) - x

        all_r = np.arange(len(idx))
        lo, hi = -lim.copy(), lim.copy()
        glo, ghi = G(lo, all_r), G(hi, all_r)
        # the map sends [-lim, lim] into itself up to round-off: clip the end values' signs
        glo, ghi = np.maximum(glo, 0.0), np.minimum(ghi, 0.0)
        x = np.where(glo - ghi > 0, lo + glo * (hi - lo) / np.where(glo - ghi > 0, glo - ghi, 1.0), 0.5 * (lo + hi))
        done = (glo == 0) | (ghi == 0)
        x = np.where(glo == 0, lo, np.where(ghi == 0, hi, x))
        gx = np.zeros(len(idx))
        side = np.zeros(len(idx), int)
        tol = self.options.tol * np.maximum(1.0, lim)
        for _ in range(max_iter):
            r = np.flatnonzero(~done)
            if not len(r):
                break
            g = G(x[r], r)
            gx[r] = g
            pos = g > 0
            # Illinois: keep the bracket, halve the stale end's value when the same side moves twice
            rl, rh = r[pos], r[~pos]
            lo[rl], glo[rl] = x[rl], g[pos]
            ghi[rl] *= np.where(side[rl] == 1, 0.5, 1.0)
            hi[rh], ghi[rh] = x[rh], g[~pos]
            glo[rh] *= np.where(side[rh] == -1, 0.5, 1.0)
            side[rl], side[rh] = 1, -1
            den = glo[r] - ghi[r]
            xn = np.where(den > 0, lo[r] + glo[r] * (hi[r] - lo[r]) / np.where(den > 0, den, 1.0), 0.5 * (lo[r] + hi[r]))
            done[r] = (np.abs(g) < tol[r]) | (hi[r] - lo[r] < tol[r])
            x[r] = np.where(done[r], x[r], xn)
        c[idx] = x
        ok[idx] = done & np.isfinite(x)
        resid[idx] = np.abs(gx)
        return c, ok, resid

    # ------------------------------------------------------------------ observables
    def observables(self, alpha, x):
        m, q, V, qc = self._split(x)
        K, rho, ch = self.K, self.rho, self.ch
        a = alpha * self.factor
        moments = (self.Ezy, self.Ey2)
        out = {}
        Q = np.zeros((len(alpha), K, K))
        for k in range(K):
            Q[:, k, k] = q[:, k]
        for j, (k, l) in enumerate(self.pairs):
            Q[:, k, l] = Q[:, l, k] = qc[:, j]
        with np.errstate(all="ignore"):
            for k in range(K):
                out[f"m_{k}"] = m[:, k]
                out[f"V_{k}"] = V[:, k]
                out[f"test_error_{k}"] = ch.student_test_error(m[:, k], q[:, k], rho, moments=moments)
                if self.has_train_loss[k]:  # per sample of a data set (FreshData: the pool has K of them)
                    out[f"train_loss_{k}"] = (self.learner.weights.alpha_factor(K)
                                              * self._diagonal(k, m[:, k], q[:, k], V[:, k], a, metrics=True)[3])
            for k in range(K):
                for l in range(k, K):
                    out[f"q_{k}_{l}"] = Q[:, k, l]
            out.update(ensemble_fields(m, Q, rho, ch, moments, self.learner.exchangeable))
            out.update(self._parameter_norms(a, x))
        return out

    def _parameter_norms(self, a, x):
        """Parameter-space second moments per parameter (``p`` of them): ``w_norm_k = |w_k|^2 / p`` of the
        estimator and, for a posterior mean (Bayes, Gibbs), ``w_var_k = tr Cov_post(w) / p``.  In the
        eigenbasis of the features the estimator is ``w_i = (mhat sqrt(om_i) c_i + sqrt(Qhat om_i) xi_i) /
        (lam + Vhat om_i)`` and the posterior's precision ``lam + Vhat om_i`` (the L2 side's Gaussian
        channel), so ``w_norm = sum_i w_i om_i (mhat^2 pw_i + Qhat) / (lam + Vhat om_i)^2``, ``w_var = sum_i
        w_i / (lam + Vhat om_i)`` (null eigenvalues: the prior's ``1 / lam``); on isotropic inputs they are
        ``q`` and ``V``.  ``E <|w|^2> / p = w_norm + w_var`` is what the evidence's integration along the
        prior strength needs (:func:`~solvable.families.joint.gibbs.evidence`)."""
        sp = self.spec
        mh, qh, Vh = self._diag_hats(a, x)
        inv = self._inv(Vh)
        om, pw, wt = sp.omega[None, None, :], sp.power[None, None, :], sp.weight[None, None, :]
        norm = np.sum(wt * om * (mh[:, :, None] ** 2 * pw + qh[:, :, None]) * inv * inv, axis=2)
        out = {f"w_norm_{k}": norm[:, k] for k in range(self.K)}
        for k, lr in enumerate(self.learner.learners):
            if not self.has_train_loss[k]:  # a posterior mean
                out[f"w_var_{k}"] = np.sum(sp.weight / (self.lams[k] + Vh[:, k, None] * sp.omega), axis=1)
        return out

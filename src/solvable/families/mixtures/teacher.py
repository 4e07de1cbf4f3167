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
"""
from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from solvable.core.contract import SaddlePoint
from solvable.families.mixtures.equations import MixtureERM, _loss_expectations, bias_step
from solvable.families.mixtures.experiment import MixtureERMExperiment, _draw, fit_binary
from solvable.numerics.gauss import composite_legendre_nodes

__all__ = ["TeacherMixtureERM", "TeacherMixtureERMExperiment", "teacher_nodes", "teacher_cluster_errors"]

_YLAB = np.array([1.0, -1.0])


def teacher_nodes(problem, n: int = 40):
    """Nodes of the teacher field in each cluster: ``(nu (K, J), table (K, J, 2))`` with
    ``table[k, j, y] = w_j P(y | nu_kj)`` over ``y = (+1, -1)`` (Gauss-Legendre pieces over 12
    standard deviations, split at the channel's jump ``nu = 0``)."""
    t = problem.teacher_means
    sd = np.sqrt(problem.teacher_variances)
    z, w = composite_legendre_nodes(t, sd, [0.0], n, 12.0, pieces=3)
    nu = t[:, None] + sd[:, None] * z
    ch = problem.channel
    table = w[..., None] * np.stack([ch.prob(1.0, nu), ch.prob(-1.0, nu)], axis=-1)
    return nu, table


class TeacherMixtureERM(MixtureERM):
    """ERM on a GaussianMixture with ``labels="teacher"`` (module docstring).  Solver state:
    ``(v / sqrt(N), c tau / sqrt(N), log N, log(1 / A), b / sqrt(N))`` with ``v`` the student's
    component in the span of the means (``w_par / sqrt(d)``, in the means' coordinates) and ``c`` its
    coefficient along the teacher's bulk ``theta_perp``."""

    def __init__(self, problem, learner, options):
        SaddlePoint.__init__(self, problem, learner, options)
        from solvable.families.mixtures.equations import _check

        _check(problem, learner)
        mix = problem.data
        self.K, self.p, self.rho, self.s = mix.K, mix.p, mix.weights, mix.covariances
        self.Mu = mix.means
        self.a = problem.teacher
        self.P = problem.spike_matrices                     # (K, p, p)
        self.t = problem.teacher_means
        self.T = problem.teacher_norm
        self.tau2 = self.T - self.a @ self.a
        self.rho_th = problem.teacher_variances              # s_k T + a^T P_k a
        self.lam = learner.penalty.lam
        self.nu, self.tab = teacher_nodes(problem, max(options.n_nodes // 2, 16))
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
        return np.column_stack([v / sN[:, None], c * np.sqrt(self.tau2) / sN, np.log(N),
                                np.log(np.maximum(chi, 1e-300)), b / sN])

    def starts(self, alpha):
        n = len(alpha)
        return {"uninformative": self._encode(np.zeros((n, self.p)), np.zeros(n), np.ones(n), np.ones(n), np.zeros(n))}

    @classmethod
    def engine_for(cls, problem, learner):
        return cls

    def _label_marginal(self):
        return self.rho @ self.tab.sum(axis=1)

    def _collapsed(self, x):
        """No row of this state collapses (:meth:`MixtureERM._collapse_rows` reads the binary state)."""
        return np.zeros(len(x), bool)

    def _fields(self, x):
        """Order parameters and, per (row, cluster, nu node), the mean / variance of omega given nu."""
        v, c, N, chi, b = self._decode(x)
        s = self.s
        m = v @ self.Mu.T
        R = v @ self.a + c * self.tau2
        vPv = np.einsum("ni,kij,nj->nk", v, self.P, v)
        vPa = np.einsum("ni,kij,j->nk", v, self.P, self.a)
        q = s[None] * N[:, None] + vPv                                     # (n, K)
        r = s[None] * R[:, None] + vPa
        cond = np.maximum(q - r * r / self.rho_th[None], 1e-300)
        slope = r / self.rho_th[None]
        mean = m[..., None] + slope[..., None] * (self.nu - self.t[:, None])[None]  # (n, K, J)
        V = s[None] * chi[:, None]
        return m, N, R, chi, b, q, r, cond, mean, V

    def _hats(self, alpha, x, metrics=False):
        m, N, R, chi, b, q, r, cond, mean, V = self._fields(x)
        n, K, J = mean.shape
        flat = lambda a: np.broadcast_to(a[..., None], (n, K, J)).reshape(n, K * J)  # noqa: E731
        out = _loss_expectations(self.learner.loss, mean.reshape(n, K * J), flat(cond), flat(V), b,
                                 self.tab.reshape(K * J, 2), self.options.n_nodes, metrics=metrics)
        parts = [o.reshape(n, K, J) for o in out]
        Ef, Ef2, Edf = (p.sum(-1) for p in parts[:3])
        Efnu = np.sum(parts[0] * (self.nu - self.t[:, None])[None], axis=-1)
        w = alpha[:, None] * self.rho[None, :]
        rhat = w * (Efnu - r * Edf) / self.rho_th[None]
        extra = (parts[3].sum(-1),) if metrics else ()
        return (w * Ef, w * Ef2, -w * Edf, rhat) + extra + ((Ef, Edf),)

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
        v, c, N, chi = self._penalty(mhat, qhat, Vhat, rhat)
        b = self._decode(x)[4]
        if self.learner.bias:  # the bias's stationarity sum_k rho_k E f = 0 (as MixtureERM)
            q_old = self._fields(x)[5]
            b = bias_step(b, Ef @ self.rho, -(Edf @ self.rho), 1.0 + 2.0 * np.sqrt(np.max(q_old, axis=1)))
        return self._encode(v, c, N, chi, b)

    def observables(self, alpha, x):
        K = self.K
        m, N, R, chi, b, q, r, cond, mean, V = self._fields(x)
        mhat, qhat, Vhat, rhat, Eloss, _ = self._hats(alpha, x, metrics=True)
        err_k = teacher_cluster_errors(mean, cond, b, self.tab)
        # training error P(y prox < 0): the prox vanishes at omega = V loss'(y, 0) (as in MixtureERM)
        g0 = self.learner.loss.grad(_YLAB, 0.0)
        thr = ((V[..., None] * g0 * _YLAB)[:, :, None, :] - (mean + b[:, None, None])[..., None] * _YLAB) \
            / np.sqrt(cond)[..., None, None]
        tr_err = np.sum(self.tab[None] * ndtr(thr), axis=(-2, -1)) @ self.rho
        out = {f"m_{k}": m[:, k] for k in range(K)}
        out.update({f"q_{k}": q[:, k] for k in range(K)})
        out.update({f"V_{k}": V[:, k] for k in range(K)})
        out.update({f"test_error_{k}": err_k[:, k] for k in range(K)})
        out.update({"teacher_overlap": R, "cosine": R / np.sqrt(N * self.T), "bias": b, "norm": N,
                    "test_error": err_k @ self.rho, "train_loss": Eloss @ self.rho,
                    "train_error": tr_err})
        return out


def teacher_cluster_errors(mean, cond, b, table):
    """Per-cluster test error ``P(y sign(lambda) < 0)`` from the nodes of the teacher field:
    ``sum_j sum_y table[k, j, y] Phi(-y (mean_kj + b) / sqrt(cond_k))`` for rows of ``mean``
    (n, K, J), conditional variances ``cond`` (n, K), biases ``b`` (n,); shared by the theory and
    the simulation."""
    z = (mean + np.asarray(b)[:, None, None])[..., None] * _YLAB / np.sqrt(cond)[..., None, None]
    return np.sum(table[None] * ndtr(-z), axis=(-2, -1))



class TeacherMixtureERMExperiment(MixtureERMExperiment):
    """One seed of ERM on a mixture labelled by a single-index teacher, at dimension ``d``: the
    means in the first ``p`` coordinates (:meth:`Mixture.embed`), the teacher
    ``theta = sqrt(d) a`` there plus a bulk Gaussian direction on the other ``d - p`` coordinates
    normalised to ``|theta_perp|^2 = tau^2 d``; labels from the channel; the fit by the exact
    solvers (:func:`~solvable.families.mixtures.experiment.fit_binary`).  Measured: ``m_k``,
    ``q_k = s_k |w|^2 / d``, ``norm``, ``teacher_overlap = w . theta / d``, ``cosine``, ``bias``, the
    test errors exactly given ``w`` (:func:`teacher_cluster_errors`, the theory's formula) and the
    training loss and error."""

    @classmethod
    def engine_for(cls, problem, learner):
        return cls

    def sample(self, d, rng):
        from solvable.families.mixtures.equations import _check

        pb = self.problem
        _check(pb, self.learner)
        p = pb.data.means.shape[1]
        if d <= p:
            raise ValueError(f"simulate: the teacher's bulk needs d > p = {p}, got d={d}")
        X, c, (mu, fac) = _draw(pb, d, rng)
        if pb.spikes is not None:  # the finite-rank parts P_k of the covariances, in the means' coordinates
            for k in range(pb.data.K):
                ev, U = np.linalg.eigh(pb.spikes[k])
                sel = c == k
                X[sel, :p] += rng.standard_normal((int(sel.sum()), p)) @ (U * np.sqrt(np.maximum(ev, 0.0))).T
        tau2 = pb.teacher_norm - pb.teacher @ pb.teacher
        theta = np.zeros(d)
        theta[:p] = np.sqrt(d) * pb.teacher
        g = rng.standard_normal(d - p)
        theta[p:] = g * np.sqrt(tau2 * d / (g @ g))
        y = pb.channel.sample(X @ theta / np.sqrt(d), rng)
        return {"X": X, "y": y, "c": c, "mu": mu, "theta": theta, "d": d}

    def fit(self, data, rng):
        return fit_binary(self.learner.loss, self.learner, data["X"] / np.sqrt(data["d"]), data["y"])

    def measure(self, data, est):
        w, b = est
        pb, d = self.problem, data["d"]
        s, K, p = pb.data.covariances, pb.data.K, pb.data.p
        m = data["mu"] @ w / np.sqrt(d)
        N = float(w @ w / d)
        T = float(data["theta"] @ data["theta"] / d)
        R = float(w @ data["theta"] / d)
        nu, tab = teacher_nodes(pb, 40)
        v, a, P = w[:p] / np.sqrt(d), data["theta"][:p] / np.sqrt(d), pb.spike_matrices
        q = s * N + np.einsum("i,kij,j->k", v, P, v)
        r = s * R + np.einsum("i,kij,j->k", v, P, a)
        rho_th = s * T + np.einsum("i,kij,j->k", a, P, a)
        cond = np.maximum(q - r * r / rho_th, 1e-300)
        mean = m[:, None] + (r / rho_th)[:, None] * (nu - pb.teacher_means[:, None])
        err_k = teacher_cluster_errors(mean[None], cond[None], np.array([b]), tab)[0]
        z = data["X"] @ w / np.sqrt(d) + b
        y = data["y"]
        out = {f"m_{k}": float(m[k]) for k in range(K)}
        out.update({f"q_{k}": float(q[k]) for k in range(K)})
        out.update({f"test_error_{k}": float(err_k[k]) for k in range(K)})
        out.update({"teacher_overlap": R, "cosine": R / np.sqrt(N * T), "bias": b, "norm": N,
                    "test_error": float(err_k @ pb.data.weights),
                    "train_loss": float(np.mean(self.learner.loss.value(y, z))),
                    "train_error": float(np.mean(y * z <= 0))})
        return out

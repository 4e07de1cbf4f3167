"""Exact asymptotics of ERM on Gaussian mixtures (binary labels), the separability threshold,
and the Bayes error.

Model (Loureiro, Sicuro, Gerbelot, Pacco, Krzakala, Zdeborova, NeurIPS 2021, "Learning
Gaussian mixtures with generalised linear models", sec. 2): ``x = mu_k + Sigma_k^{1/2} z`` in
cluster ``k`` (weight ``rho_k``), label ``y`` with ``P(y | k) = pi_k(y)``; ERM minimises
``sum_i loss(y_i, w . x_i / sqrt(d) + b) + lam |w|^2 / 2``, ``n = alpha d``.

Order parameters, per cluster: ``m_k = w . mu_k / sqrt(d)``, ``q_k = w^T Sigma_k w / d``,
``V_k`` (the susceptibility ``tr(Sigma_k H^{-1}) / d`` of the Hessian ``H``), and the bias ``b``.
The replica saddle point (their Thm. 1, eqs. (11)-(13), written for binary labels and one
weight vector) reads, with ``omega = m_k + b + sqrt(q_k) xi`` and ``f = (prox_{V_k loss(y, .)}
(omega) - omega) / V_k``:

    mhat_k = alpha rho_k E_{y, xi}[f],   qhat_k = alpha rho_k E[f^2],   Vhat_k = -alpha rho_k E[d_omega f],
    sum_k rho_k E[f] = 0          (the bias is optimal: the training gradient in b vanishes),

and, with ``A = lam I + sum_k Vhat_k Sigma_k`` and ``u = sum_k mhat_k mu_k``,

    V_k = tr(Sigma_k A^{-1}) / d,     m_k = mu_k^T A^{-1} u,
    q_k = u^T A^{-1} Sigma_k A^{-1} u + sum_l qhat_l tr(Sigma_k A^{-1} Sigma_l A^{-1}) / d.

(The means have O(1) norms: their terms carry no 1/d.)  Commuting covariances make every
trace an average over the common eigenbasis; non-commuting ones are evaluated as matrices at
the mixture's dimension ``p`` (the deterministic equivalent).  With one cluster of zero mean and
random labels these are the Gaussian-covariate equations of Loureiro et al. (NeurIPS 2021,
eqs. (2.7)-(2.9)), which the tests check to 1e-10 against :mod:`solvable.families.erm`.

Metrics, exact given the order parameters (Gaussian clusters): test error
``sum_k rho_k sum_y pi_k(y) Phi(-y (m_k + b) / sqrt(q_k))``; training loss
``E loss(y, prox)``; training error ``P(y prox < 0)``, with ``prox = 0`` at
``omega = V loss'(y, 0)`` (the prox is increasing), so it is a Gaussian tail in closed form.

The hard-margin constraint (``ERM("hard_margin", L2(lam))``, the max-margin classifier below the
separability threshold) is the same fixed point with the prox a projection on ``y z >= 1``; its
``margin = 1 / sqrt(norm)``, checked against Gordon's variational formula (Gardner 1988; Deng,
Kammoun, Thrampoulidis 2021, Thm. 1) in tests/test_mixtures_max_margin.py.

Numerics: the xi-expectations are composite Gauss-Legendre rules on [-10, 10] standard
deviations split at the kinks of the prox (:meth:`Loss.prox_kinks`), vectorised over every
point of the curve, cluster and label; the bias is updated by a Newton step on the stationarity
equation; the fixed point is iterated for all points at once (Anderson-accelerated), the rows left
over continued by Newton from converged neighbours (:meth:`MixtureERM._solve_rows`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import ndtr

from solvable.blocks.data.mixture import Mixture
from solvable.blocks.learners import ERM
from solvable.core.contract import SaddlePoint, SaddlePointOptions
from solvable.numerics.fixed_point import newton_rows
from solvable.numerics.gauss import composite_legendre_nodes

__all__ = ["MixtureERM", "MixtureERMOptions", "cluster_errors", "bias_step", "separability_threshold", "bayes_error", "bayes_optimal_error",
           "gaussian_equivalent", "universality_gap"]

_YLAB = np.array([1.0, -1.0])
_CURVE_Z = np.r_[-np.geomspace(0.5, 30.0, 8)[::-1], 0.0, np.geomspace(0.5, 30.0, 8)]


# --------------------------------------------------------------------------- penalty side
class _PenaltySide:
    """The L2 penalty side for scalar / diagonal (commuting) or full covariances; with ``l1 > 0``
    (L1 / elastic net, diagonal covariances only) the separable soft-threshold side
    (:func:`_elastic_net_side`)."""

    def __init__(self, mix: Mixture, lam: float, l1: float = 0.0):
        self.kind = "full" if mix.kind == "full" else "diagonal"
        self.lam = float(lam)
        self.l1 = float(l1)
        self.Mu = mix.means
        if self.kind == "diagonal":
            self.S, _ = mix.diagonal()
            if lam == 0 and np.any(self.S.sum(axis=0) == 0):
                raise ValueError("GaussianMixture ERM: lam = 0 with a direction of zero variance in every cluster "
                                 "(the minimiser is not unique); use lam > 0")
        else:
            self.S = mix.covariances

    def __call__(self, mhat, qhat, Vhat):
        """(m, q, V, norm) for rows of conjugates (N, K)."""
        Mu, S, lam = self.Mu, self.S, self.lam
        if self.l1 > 0:
            return _elastic_net_side(Mu, S, lam, self.l1, mhat, qhat, Vhat)
        u = mhat @ Mu  # (N, p)
        if self.kind == "diagonal":
            A = lam + Vhat @ S  # (N, p)
            inv = 1.0 / A
            V = (S[None] * inv[:, None, :]).mean(axis=-1)
            r = u * inv
            m = r @ Mu.T
            noise = (qhat @ S) * inv * inv  # (N, p)
            q = (S[None] * (r * r)[:, None, :]).sum(-1) + (S[None] * noise[:, None, :]).mean(-1)
            norm = (r * r).sum(-1) + noise.mean(-1)
            return m, q, V, norm
        # batched matrix products throughout (BLAS; the four-index einsums took 80% of a p = 200 solve)
        N, p = len(u), S.shape[-1]
        A = lam * np.eye(p) + np.einsum("nk,kij->nij", Vhat, S)
        Ainv = np.linalg.inv(A)
        B = np.matmul(S[None], Ainv[:, None])  # Sigma_k A^{-1}, (N, K, p, p)
        V = np.einsum("nkii->nk", B) / p
        r = np.matmul(Ainv, u[..., None])[..., 0]
        m = r @ Mu.T
        Bf = B.reshape(N, len(S), p * p)
        T = np.matmul(Bf, B.swapaxes(-1, -2).reshape(N, len(S), p * p).swapaxes(1, 2)) / p  # tr(S_k A^-1 S_l A^-1) / p
        Sr = np.matmul(S[None], r[:, None, :, None])[..., 0]  # Sigma_k r, (N, K, p)
        q = (Sr * r[:, None, :]).sum(-1) + np.einsum("nkl,nl->nk", T, qhat)
        trBA = np.matmul(Bf, Ainv.swapaxes(-1, -2).reshape(N, p * p, 1))[..., 0]  # tr(Sigma_l A^-2)
        norm = (r * r).sum(-1) + (qhat * trBA).sum(-1) / p
        return m, q, V, norm


def _elastic_net_side(Mu, S, l2, l1, mhat, qhat, Vhat):
    """The penalty side of ``l1 |w|_1 + l2 |w|^2 / 2`` for commuting covariances, the means given as
    dense profiles over the ``p`` coordinates of the common eigenbasis (each coordinate stands for
    ``d / p`` of the ``d`` inputs; :meth:`Mixture.embed` resamples them so).  The problem separates
    over coordinates (the scalar channel of Aubin, Krzakala, Lu, Zdeborova, NeurIPS 2020, eq. (9),
    with the means' field added as in Loureiro et al., NeurIPS 2021, Thm. 1): at coordinate ``i``,
    ``w_i = soft(B_i, l1) / (l2 + A_i)`` with ``A_i = sum_k Vhat_k S_ki`` and
    ``B_i ~ N(beta_i, sigma_i^2)``, ``beta_i = sqrt(p) sum_k mhat_k mu_ki``,
    ``sigma_i^2 = sum_k qhat_k S_ki``; then ``m_k = sum_i mu_ki E w_i / sqrt(p)``,
    ``q_k = mean_i S_ki E w_i^2``, ``V_k = mean_i S_ki P(|B_i| > l1) / (l2 + A_i)``, the Gaussian
    moments of the soft threshold in closed form.  At ``l1 = 0`` these are the L2 side's formulas."""
    from solvable.numerics.special import norm_pdf

    p = Mu.shape[1]
    A = l2 + Vhat @ S                                   # (N, p)
    beta = np.sqrt(p) * (mhat @ Mu)
    sig = np.sqrt(np.maximum(qhat @ S, 1e-300))
    a, c = (l1 - beta) / sig, (-l1 - beta) / sig
    pa, pc = norm_pdf(a), norm_pdf(c)
    Pa, Pc = ndtr(-a), ndtr(c)
    e1 = (beta - l1) * Pa + sig * pa + (beta + l1) * Pc - sig * pc
    e2 = (((beta - l1) ** 2 + sig * sig) * Pa + sig * (beta - l1) * pa
          + ((beta + l1) ** 2 + sig * sig) * Pc - sig * (beta + l1) * pc)
    Ew, Ew2, dw = e1 / A, e2 / (A * A), (Pa + Pc) / A
    m = Ew @ Mu.T / np.sqrt(p)
    q = (S[None] * Ew2[:, None, :]).mean(-1)
    V = (S[None] * dw[:, None, :]).mean(-1)
    return m, q, V, Ew2.mean(-1)


# --------------------------------------------------------------------------- loss side
def omega_cuts(loss, y, Vb, n_nodes, extra=None):
    """Breakpoints of the loss side's rule in ``omega`` for labels ``y`` and variances ``Vb`` (same
    shape), and the Gauss-Legendre nodes per piece: the prox's kinks, ``extra`` cuts (..., B), and for
    a smooth margin loss the images ``omega(z) = z + V loss'(y, z)`` of a grid of ``z`` around the
    margin, where the prox bends (at small lam, V is large and the bend is sharp on the scale of
    sqrt(q): one 40-node rule was 1e-2 off there), with half the nodes per piece (18 pieces reach the
    same accuracy)."""
    bp = loss.prox_kinks(y, Vb)
    if extra is not None:
        bp = np.concatenate([bp, extra], axis=-1)
    if loss.is_classification and loss.smooth:
        zc = y[..., None] * _CURVE_Z
        bp = np.concatenate([bp, zc + Vb[..., None] * loss.grad(y[..., None], zc)], axis=-1)
        n_nodes = max(n_nodes // 2, 8)
    return bp, n_nodes


def _loss_expectations(loss, m, q, V, b, table, n_nodes, *, metrics=False, y=None):
    """E_xi over omega = m_k + b + sqrt(q_k) xi for each row, cluster and label: returns the
    label-weighted E f, E f^2, E df (N, K) [and E loss].  The labels are ``y = (+1, -1)`` with
    weights ``table`` (K, 2), or given as ``y`` (K, L) with weights ``table`` (K, L) (e.g. the
    nodes of a regression target's law, :func:`~solvable.families.mixtures.teacher.teacher_nodes`)."""
    N, K = m.shape
    L = table.shape[-1]
    y = np.broadcast_to(_YLAB if y is None else y, (N, K, L))
    Vb = np.broadcast_to(V[..., None], (N, K, L))
    mean = np.broadcast_to((m + b[:, None])[..., None], (N, K, L))
    sd = np.broadcast_to(np.sqrt(q)[..., None], (N, K, L))
    bp, n_nodes = omega_cuts(loss, y, Vb, n_nodes)
    u, wu = composite_legendre_nodes(mean, sd, bp, n_nodes, 10.0)
    om = mean[..., None] + sd[..., None] * u  # (N, K, 2, M)
    yy, VV = y[..., None], Vb[..., None]
    # an iterate on its way to a failure (e.g. the max margin above the separability threshold) may
    # overflow here: such rows end unconverged and are reported, without numpy's warnings on top
    with np.errstate(over="ignore", invalid="ignore"):
        p, dp = loss.prox_and_derivative(yy, om, VV)
        f = (p - om) / VV
        df = (dp - 1.0) / VV
        W = wu * table[None, :, :, None]
        Ef, Ef2, Edf = (np.sum(W * t, axis=(-2, -1)) for t in (f, f * f, df))
        if metrics:
            return Ef, Ef2, Edf, np.sum(W * loss.value(yy, p), axis=(-2, -1))
    return Ef, Ef2, Edf


@dataclass(frozen=True)
class MixtureERMOptions(SaddlePointOptions):
    """The fixed-point settings (Anderson mixing of depth 4 by default), ``n_nodes`` (the
    Gauss-Legendre nodes per piece of the loss-side quadrature) and ``newton_iter`` (the budget of
    the Newton polish of rows the iteration leaves unconverged; 0: none)."""

    tol: float = 1e-13
    rtol: float = 1e-11
    max_iter: int = 5000
    anderson: int = 4
    n_nodes: int = 40
    newton_iter: int = 100


class MixtureERM(SaddlePoint):
    """ERM (any loss of the blocks with a proximal operator, L2 penalty, optional bias) on a
    :class:`~solvable.families.mixtures.problem.GaussianMixture` with binary labels (see the
    module docstring for the equations).  Solver state: ``(m_k / sqrt(q_k), log q_k, log V_k,
    b / sqrt(sum_k rho_k q_k))``."""

    Options = MixtureERMOptions
    param = "alpha"

    def __init__(self, problem, learner, options):
        super().__init__(problem, learner, options)
        _check(problem, learner)
        mix = problem.data
        self.K = mix.K
        self.rho = mix.weights
        self.table = problem.label_table  # (K, 2)
        self.pen = _PenaltySide(mix, learner.penalty.l2_part, learner.penalty.l1_part)
        self.state = tuple(f"{s}_{k}" for s in ("cos", "log_q", "log_V") for k in range(self.K)) + ("b_scaled",)

    # the solver's variables are scale-free, (m_k / sqrt(q_k), log q_k, log V_k, b / sqrt(qbar)) with
    # qbar = sum_k rho_k q_k: in the separable regime at small lam, q grows like 1/lam^2 and a tolerance
    # relative to the largest variable would let m and b drift; these stay O(1) (issue 16)
    def _decode(self, x):
        K = self.K
        lq = np.clip(x[:, K:2 * K], -690.0, 690.0)
        q, V = np.exp(lq), np.exp(np.clip(x[:, 2 * K:3 * K], -690.0, 690.0))
        return x[:, :K] * np.sqrt(q), q, V, x[:, 3 * K] * np.sqrt(q @ self.rho)

    def _encode(self, m, q, V, b):
        q = np.maximum(q, 1e-300)
        return runaway_rows(np.column_stack([m / np.sqrt(q), np.log(q), np.log(np.maximum(V, 1e-300)),
                                             b / np.sqrt(q @ self.rho)]), np.log(q))

    def starts(self, alpha):
        n, K = len(alpha), self.K
        return {"uninformative": self._encode(np.zeros((n, K)), np.ones((n, K)), np.ones((n, K)), np.zeros(n))}

    @classmethod
    def engine_for(cls, problem, learner):
        """The multi-class engine (:mod:`solvable.families.mixtures.multiclass`) where the class is
        the cluster index (clusters without +-1 labels, or a K-class loss), else this one."""
        v = variant(problem, learner)
        if v == "multiclass":
            from solvable.families.mixtures.multiclass import MulticlassMixtureERM

            return MulticlassMixtureERM
        if v == "teacher":
            from solvable.families.mixtures.teacher import TeacherMixtureERM

            return TeacherMixtureERM.engine_for(problem, learner)
        return cls

    def solve(self, alpha, x0):
        """The batched fixed-point solver (:meth:`_solve_rows`), its converged rows then checked
        (:meth:`_verify`); hinge rows that fail are tested for the collapse to ``w = 0``
        (:meth:`_collapse_rows`)."""
        x, solved, info = self._solve_rows(alpha, x0)
        x, conv, info = self._verify(alpha, x, solved, info)
        if (~conv).any() and conv.any() and self.options.newton_iter > 0:
            # rows the checks refuse (a run-away iterate that met the tolerance, e.g. b = 2e14 for the
            # hinge with a bias at alpha = 0.88): continued from their verified neighbours
            xc, cc = self._continue_rows(alpha, x, conv, x0)
            new = np.flatnonzero(cc & ~conv)
            if len(new):
                xv, cv, _ = self._verify(alpha[new], xc[new], np.ones(len(new), bool), {})
                ok = new[cv]
                x, conv = x.copy(), conv.copy()
                x[ok], conv[ok] = xv[cv], True
                info = self._with_residuals(alpha, x, info, ok)
        # rows the checks refused were never tested for the collapse (_solve_rows tests the rows it
        # cannot solve, from the same start)
        return self._try_collapse(alpha, x, conv, x0, info, np.flatnonzero(solved & ~conv))

    def _with_residuals(self, alpha, x, info, rows):
        """``info`` with ``residual[rows]`` set to the rows' one-step residual ``max |step(x) - x|``."""
        res = np.array(np.broadcast_to(info.get("residual", np.nan), (len(x),)), float)
        if len(rows):
            res[rows] = np.max(np.abs(self.step(alpha[rows], x[rows]) - x[rows]), axis=1)
        return dict(info, residual=res)

    def _try_collapse(self, alpha, x, conv, x0, info, rows):
        """Test ``rows`` for the exact collapse to ``w = 0`` (:meth:`_collapse_rows`; only where
        :meth:`_may_collapse`) and mark those that collapsed converged, listed in ``info["collapsed"]``."""
        if not len(rows) or not self._may_collapse():
            return x, conv, info
        xc, cc = self._collapse_rows(alpha[rows], x0[rows])
        if cc.any():
            x, conv = x.copy(), conv.copy()
            x[rows[cc]], conv[rows[cc]] = xc[cc], True
            info = dict(info, collapsed=np.concatenate([np.atleast_1d(info.get("collapsed", [])), alpha[rows[cc]]]))
        return x, conv, info

    def _may_collapse(self) -> bool:
        """Whether rows may collapse to ``w = 0`` exactly (:meth:`_collapse_rows`): the hinge with a
        bias, binary engine."""
        return self.learner.loss.name == "hinge" and self.learner.bias and type(self) is MixtureERM

    def _solve_rows(self, alpha, x0):
        """Anderson-accelerated iteration (:data:`QUICK_ITER` steps); rows it leaves unconverged are
        continued from converged neighbours (:meth:`_continue_rows`), then tried by Newton
        (:meth:`_newton`); what is left gets the full budget of iterations, damped Picard steps (e.g.
        separable data at tiny lam, where the norm is large and the map contracts slowly) and a
        final Newton polish."""
        o = self.options
        quick = dataclasses.replace(o, max_iter=min(o.max_iter, self.QUICK_ITER))
        x, conv, info = self.iterate(alpha, x0, quick)
        if (~conv).any() and o.newton_iter > 0:  # continuation from converged neighbours, or along a ladder
            before = conv
            x, conv = self._continue_rows(alpha, x, conv, x0)
            new = np.flatnonzero(conv & ~before)
            if len(new):
                info = dict(self._with_residuals(alpha, x, info, new), continued=alpha[new])
        bad = ~conv
        if bad.any() and o.newton_iter > 0:
            # a slowly contracting row (far clusters at tiny alpha: 5000 Anderson steps, 35 s, while
            # Anderson threw the bias to -1e9 on the way) is solved by Newton in a few steps
            x, conv, info = self._newton(alpha, x, conv, x0, info, min(30, o.newton_iter))
            bad = ~conv
        if bad.any():  # w = 0 exactly? (before the full budget: 10 s -> 1 s)
            x, conv, info = self._try_collapse(alpha, x, conv, x0, info, np.flatnonzero(bad))
            bad = ~conv
        if bad.any() and o.max_iter > quick.max_iter:  # the full budget for what is left
            xr, cr, ir = self.iterate(alpha[bad], x0[bad], o)
            x, conv = x.copy(), conv.copy()
            x[bad], conv[bad] = xr, cr
            res = np.array(np.broadcast_to(info.get("residual", np.nan), conv.shape), float)
            res[bad] = ir["residual"]
            info = dict(info, n_iter=ir["n_iter"], residual=res)
            bad = ~conv
        if bad.any() and self.options.anderson > 0:
            # Anderson mixing can stall where the estimator collapses geometrically to w = 0
            # (the constant classifier is optimal); damped Picard from the start gets there
            o = self.options
            xr, cr, ir = self.iterate(alpha[bad], x0[bad], dataclasses.replace(o, anderson=0, damping=max(o.damping, 0.5)))
            x, conv = x.copy(), conv.copy()
            x[bad], conv[bad] = xr, cr
            res = np.array(info["residual"], float)
            res[bad] = ir["residual"]
            info = dict(info, residual=res, picard_rows=int(bad.sum()), picard_iter=ir["n_iter"])
            bad = ~conv
        if bad.any() and self.options.newton_iter > 0:
            x, conv, info = self._newton(alpha, x, conv, x0, info, self.options.newton_iter)
        return x, conv, info

    def _newton(self, alpha, x, conv, x0, info, max_iter):
        """Batched Newton on the fixed-point equation for the unconverged rows, from their iterate and,
        where that fails, from the uninformative start (the iteration may have run away along an
        unstable direction of the map, e.g. the square loss near alpha = 1 at small lam, where the
        means' overlaps flip sign and grow each step, leaving Newton a hopeless start: from ``x0`` it
        converged in 7 steps where 5000 Anderson steps diverged; issue 16, found by the fuzz).
        Returns ``(x, conv, info)`` with the rows' one-step residuals and ``newton_rows`` /
        ``newton_iter`` in ``info``."""
        bad = np.flatnonzero(~conv)
        start = np.where(np.isfinite(x[bad]).all(axis=1)[:, None], x[bad], x0[bad])
        xn, cn, it = self._newton_from(start, alpha[bad], max_iter)
        if not cn.all():
            retry = np.flatnonzero(~cn)
            xr, cr, it2 = self._newton_from(x0[bad][retry], alpha[bad][retry], max_iter)
            xn[retry[cr]], cn[retry[cr]] = xr[cr], True
            it = max(it, it2)
        x, conv = x.copy(), conv.copy()
        x[bad], conv[bad] = xn, cn
        info = self._with_residuals(alpha, x, info, bad[cn])
        return x, conv, dict(info, newton_rows=info.get("newton_rows", 0) + len(bad),
                             newton_iter=max(int(it), int(info.get("newton_iter", 0))))

    def _newton_from(self, start, alpha, max_iter):
        """Batched Newton on ``x = step(alpha, x)`` from ``start``: ``(x, converged and finite, iterations)``."""
        xn, cn, it = newton_rows(lambda X: self.step(X[:, -1], X[:, :-1]), start, extra=alpha,
                                 tol=max(self.options.rtol, 1e-12), max_iter=max_iter)
        return xn, cn & np.isfinite(xn).all(axis=1), it

    #: the first pass's budget of iterations (:meth:`_solve_rows`): rows not converged by then are
    #: continued from their neighbours before the full budget is spent on them
    QUICK_ITER = 400

    def _continue_rows(self, alpha, x, conv, x0, ladder: int = 12):
        """Newton continuation for the rows the first pass left unconverged (issue 16: the hinge with a
        bias at large alpha, where the iteration from the uninformative start runs away but Newton
        from the solution at a nearby alpha converges in 5 steps).  Each such row starts from the
        converged row nearest in ``log alpha``, nearest first; a row with no converged row on the
        curve is reached along a ladder of ``ladder`` sample ratios from ``min(alpha, 1) / 4``, whose
        first rung is solved by the iteration.  Rows that fail stay unconverged (the full budget,
        damped Picard and Newton follow)."""
        x, conv = x.copy(), conv.copy()
        newton = lambda start, a: self._newton_from(start, a, min(30, self.options.newton_iter))[:2]  # noqa: E731
        la = np.log(alpha)
        if not conv.any():  # a ladder for the row of smallest alpha: it seeds the others
            i = int(np.argmin(alpha))
            rungs = np.geomspace(min(alpha[i], 1.0) / 4, alpha[i], ladder)
            xr, cr, _ = self.iterate(rungs[:1], x0[i:i + 1], dataclasses.replace(self.options, max_iter=self.QUICK_ITER))
            if not cr[0]:
                return x, conv
            for a in rungs[1:]:
                xr, cr = newton(xr, np.array([a]))
                if not cr[0]:
                    return x, conv
            x[i], conv[i] = xr[0], True
        todo = np.flatnonzero(~conv)
        ok = np.flatnonzero(conv)
        for i in todo[np.argsort(np.min(np.abs(la[todo, None] - la[None, ok]), axis=1))]:
            ok = np.flatnonzero(conv)
            j = ok[np.argmin(np.abs(la[ok] - la[i]))]
            xr, cr = newton(x[j:j + 1], alpha[i:i + 1])
            if cr[0]:
                x[i], conv[i] = xr[0], True
        return x, conv

    #: log q of a row whose estimator collapsed to w = 0 (:meth:`_collapse_rows`)
    COLLAPSED = -700.0

    def _collapse_rows(self, alpha, x0, steps: int = 300, window: int = 100):
        """Rows where the estimator is exactly ``w = 0``: the hinge with a bias, at large alpha with
        label noise and weak means, where the constant classifier ``b* = -+1`` (the kink of the
        majority label) is optimal because the majority's samples at the kink have set-valued
        subgradients that cancel the minority's (tests/test_mixtures_max_margin.py checks it at
        finite d by LP feasibility of the KKT conditions).  The replica map then contracts ``q``
        geometrically towards 0 while ``b`` settles, a fixed point the scale-free state cannot
        reach: plain Picard steps from the start detect it (over the last ``window`` of ``steps``
        steps the median ``q`` below e^-25 of its start and the median ``b`` within 1e-6 of the
        constant classifier's ``b*``).  Returns the rows' states, marked with ``log q = COLLAPSED``
        and holding ``b*``, and which rows collapsed."""
        K = self.K
        p_plus, p_minus = self._label_marginal()
        if p_plus == p_minus:  # no majority: no kink minimises the constant hinge uniquely
            return x0, np.zeros(len(x0), bool)
        b_star = -1.0 if p_minus > p_plus else 1.0  # the constant hinge's minimiser: the majority's kink
        x = x0.copy()
        lq0 = x[:, K:2 * K].mean(axis=1)
        lqs, bs = [], []
        with np.errstate(all="ignore"):
            for it in range(steps):
                x = self.step(alpha, x)
                if it >= steps - window:
                    lqs.append(np.where(np.isfinite(x[:, K:2 * K]).all(1), x[:, K:2 * K].max(1), np.inf))
                    bs.append(self._decode(x)[3])
        lq_med, b_med = np.median(lqs, axis=0), np.median(bs, axis=0)
        ok = (lq_med < lq0 - 25.0) & (np.abs(b_med - b_star) <= 1e-6)
        xc = np.zeros_like(x)
        xc[:, K:2 * K] = self.COLLAPSED
        xc[:, 3 * K] = b_star  # the bias itself (q is 0): read by observables
        return xc, ok

    def _label_marginal(self):
        """``(P(y = +1), P(y = -1))`` over the mixture."""
        return self.rho @ self.table

    def _constant_objective(self, c):
        """The training loss per sample of the constant predictor ``c`` (``w = 0``)."""
        return float(self._label_marginal() @ self.learner.loss.value(_YLAB, np.full(2, c)))

    def _verify(self, alpha, x, conv, info):
        """Rows the iteration calls converged must solve the problem (issue 16: a run-away iterate,
        ``b`` and ``q`` growing together with ratios settled, met the relative tolerance at
        ``b = 1.5e13``, ``q = 3000`` for a hinge with a bias at lam = 0.1): the bias's stationarity
        ``sum_k rho_k E f = 0`` within 1e-6 of ``sqrt(E f^2)``, and the ERM objective per sample,
        ``train_loss + lam norm / (2 alpha)``, at most the best constant classifier's (``w = 0``).
        Rows that fail are reported as not converged, with ``bias_residual`` / ``objective_excess``
        in ``info``."""
        if not conv.any():
            return x, conv, info
        from scipy.optimize import minimize_scalar

        ok = np.flatnonzero(conv & ~self._collapsed(x))
        a, xo = alpha[ok], x[ok]
        hats = self._hats(a, xo)
        Ef = hats[-1][0]
        bad = np.zeros(len(ok), bool)
        if self.learner.bias:
            F = np.abs(Ef @ self.rho)
            scale = np.sqrt(hats[1].sum(axis=1) / a)
            bad |= F > 1e-6 * scale + 1e-12
            info = dict(info, bias_residual=F)
        obs = self.observables(a, xo)
        lam = self.learner.penalty.l2_part  # L1: a lower bound of the objective
        const = self._constant_objective
        L0 = minimize_scalar(const, bounds=(-50.0, 50.0), method="bounded",
                             options={"xatol": 1e-10}).fun if self.learner.bias else const(0.0)
        excess = obs["train_loss"] + lam * obs["norm"] / (2 * a) - min(L0, const(0.0))
        bad |= ~(excess <= 1e-6 * (1.0 + abs(L0)))
        info = dict(info, objective_excess=excess)
        if bad.any():
            conv = conv.copy()
            conv[ok[bad]] = False
            res = np.array(np.broadcast_to(info.get("residual", np.nan), conv.shape), float)
            res[ok[bad]] = np.inf
            info = dict(info, residual=res, not_a_minimiser=alpha[ok[bad]])
        return x, conv, info

    def _hats(self, alpha, x, metrics=False):
        m, q, V, b = self._decode(x)
        out = _loss_expectations(self.learner.loss, m, q, V, b, self.table, self.options.n_nodes, metrics=metrics)
        Ef, Ef2, Edf = out[:3]
        w = alpha[:, None] * self.rho[None, :]
        return (w * Ef, w * Ef2, -w * Edf) + tuple(out[3:]) + ((Ef, Edf),)

    def step(self, alpha, x):
        mhat, qhat, Vhat, (Ef, Edf) = self._hats(alpha, x)
        m, q, V, norm = self.pen(mhat, qhat, Vhat)
        _, q_old, _, b = self._decode(x)
        if self.learner.bias:
            b = bias_step(b, Ef @ self.rho, -(Edf @ self.rho), 1.0 + 2.0 * np.sqrt(np.max(q_old, axis=1)))
        return self._encode(m, q, V, b)

    def _collapsed(self, x):
        return x[:, self.K] <= self.COLLAPSED

    def _constant_classifier(self, b):
        """The fields of ``w = 0`` with bias ``b`` (rows of :meth:`_collapse_rows`): exact."""
        K, tab, rho, loss = self.K, self.table, self.rho, self.learner.loss
        n = len(b)
        wrong = (b[:, None] * _YLAB[None, :] < 0) + 0.5 * (b[:, None] == 0)  # (n, 2)
        err_k = wrong @ tab.T                                                   # (n, K)
        lossv = loss.value(_YLAB[None, :], b[:, None])                         # (n, 2)
        out = {f"{s}_{k}": np.zeros(n) for s in ("m", "q", "V") for k in range(K)}
        out.update({f"test_error_{k}": err_k[:, k] for k in range(K)})
        out.update({"bias": b, "norm": np.zeros(n), "test_error": err_k @ rho,
                    "train_loss": (lossv @ tab.T) @ rho,
                    "train_error": ((b[:, None] * _YLAB[None, :] <= 0) @ tab.T) @ rho})
        be = _bayes_error_or_none(self.problem)
        if be is not None:
            out["bayes_error"] = np.full(n, be)
        return out

    def observables(self, alpha, x):
        col = self._collapsed(x)
        if col.any():  # rows collapsed to w = 0 are exact; the others as usual
            const = self._constant_classifier(x[col, 3 * self.K])
            if col.all():
                return const
            rest = self.observables(alpha[~col], x[~col])
            out = {k: np.full(len(alpha), np.nan) for k in rest}
            for k, v in out.items():
                v[~col] = rest[k]
                if k in const:
                    v[col] = const[k]
            return out
        K = self.K
        m, q, V, b = self._decode(x)
        loss = self.learner.loss
        mhat, qhat, Vhat, Eloss, _ = self._hats(alpha, x, metrics=True)
        _, _, _, norm = self.pen(mhat, qhat, Vhat)
        tab, rho = self.table, self.rho
        err_k = cluster_errors(m, q, b, tab)
        if loss.is_constraint:  # every training margin is >= 1
            tr_err = np.zeros(len(alpha))
        else:
            g0 = loss.grad(_YLAB, 0.0)  # loss'(y, 0): prox = 0 at omega = V loss'(y, 0)
            thr = (V[..., None] * g0 * _YLAB - (m + b[:, None])[..., None] * _YLAB) / np.sqrt(q)[..., None]
            tr_err = np.sum(tab[None] * ndtr(thr), axis=-1) @ rho
        out = {f"{s}_{k}": arr[:, k] for s, arr in (("m", m), ("q", q), ("V", V)) for k in range(K)}
        out.update({f"test_error_{k}": err_k[:, k] for k in range(K)})
        out.update({"bias": b, "norm": norm, "test_error": err_k @ rho, "train_loss": Eloss @ rho,
                    "train_error": tr_err})
        if loss.is_constraint:  # the geometric margin min_i y_i z_i / |w| (|w|^2 / d = norm, min margin 1)
            out["margin"] = 1.0 / np.sqrt(norm)
        be = _bayes_error_or_none(self.problem)
        if be is not None:
            out["bayes_error"] = np.full(len(alpha), be)
        return out


#: a row whose log-variance passes this is running away along an unstable direction of the map
#: (:func:`runaway_rows`); a genuine solution at lam = 1e-8 has log q of about 40
RUNAWAY_LOG = 200.0


def runaway_rows(x, logs):
    """``x`` with its rows set to NaN where any of ``logs`` (the rows' log-variances) exceeds
    :data:`RUNAWAY_LOG`: the fixed-point solver then stops such a row at its last finite iterate at
    once (instead of iterating a divergence to ``max_iter``) and the Newton polish restarts it from
    the uninformative start (:meth:`MixtureERM._solve_rows`)."""
    bad = np.any(np.asarray(logs).reshape(len(x), -1) > RUNAWAY_LOG, axis=1)
    if bad.any():
        x = np.array(x, float)
        x[bad] = np.nan
    return x


def bias_step(b, F, D, cap):
    """One step on the bias's stationarity ``F(b) = sum_k rho_k E f = 0`` (``F`` decreases in ``b``,
    ``D = -F'(b) >= 0``): Newton within a trust region ``cap`` of the data's scale (where the loss
    is flat around the margins ``D`` is tiny and a plain Newton step would throw ``b`` far outside
    every cluster), and where ``D`` vanishes (no sample at a curved part of the loss, e.g. the
    hinge with every sample on its linear part) a step of two standard deviations of the fields
    (``cap - 1``) in the direction of ``F``: a flat region is left instead of freezing ``b`` there (found by the fuzz: hinge with a
    bias, label noise and weak means at alpha = 31.6 froze b at 1164, with q = 3000 and
    "converged")."""
    flat = ~(D > 1e-12 * np.abs(F))
    db = np.where(flat, np.sign(F) * (cap - 1.0), F / np.where(flat, 1.0, D))  # flat: two std of the fields
    return b + np.clip(db, -cap, cap)


def cluster_errors(m, q, b, table):
    """The test error in each cluster, ``sum_y pi_k(y) Phi(-y (m_k + b) / sqrt(q_k))`` (exact for
    Gaussian clusters), for the rows ``m, q`` (..., K) and biases ``b`` (...): shared by the theory
    and the simulation."""
    shift = (m + np.asarray(b)[..., None])[..., None] * _YLAB  # y (m + b)
    sq = np.sqrt(np.asarray(q, float))[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        # q = 0 (w = 0, e.g. an L1 penalty that thresholds every weight): the sign of y b decides, a tie
        # (b = 0) counting one half (the constant classifier's convention)
        p_wrong = np.where(sq > 0, ndtr(-shift / np.where(sq > 0, sq, 1.0)), (shift < 0) + 0.5 * (shift == 0))
    return np.sum(table * p_wrong, axis=-1)


def variant(problem, learner) -> str | None:
    """Which equations a (GaussianMixture, ERM) instance needs: ``"multiclass"`` (the class is the
    cluster index), ``"teacher"`` (a single-index teacher labels the mixture) or None (binary or
    random labels); the theory's and the simulation's ``engine_for`` both read it."""
    if is_multiclass_pair(problem, learner):
        return "multiclass"
    return "teacher" if problem.labels == "teacher" else None


def is_multiclass_pair(problem, learner) -> bool:
    """Whether ERM on this mixture is multi-class (labels = the cluster index): the clusters carry no
    +-1 labels, or the loss is a K-class loss."""
    return bool(getattr(getattr(learner, "loss", None), "is_multiclass", False)) or (
        problem.labels == "cluster" and not problem.data.is_binary)


def _check(problem, learner) -> None:
    if not isinstance(learner, ERM):
        raise ValueError(f"GaussianMixture: the learner must be ERM, got {learner!r}")
    loss, pen = learner.loss, learner.penalty
    if not loss.has_prox:
        raise ValueError(f"GaussianMixture ERM: unsupported loss {loss!r}")
    if getattr(pen, "l1_ratio", None) != 0.0:
        if getattr(pen, "l1_ratio", None) is None:
            raise ValueError(f"GaussianMixture ERM: unsupported penalty {pen!r}")
        if problem.data.kind != "diagonal" or loss.is_constraint or is_multiclass_pair(problem, learner):
            raise ValueError(f"GaussianMixture ERM: the L1 / elastic-net penalty ({pen!r}) is implemented for binary, "
                             f"random or teacher labels on commuting covariances given as a (K, p) spectrum, the means as dense "
                             f"profiles over its p coordinates (e.g. Mixture(means, np.ones((K, p))) for isotropic "
                             f"clusters); got {problem.data.kind} covariances, labels={problem.labels!r}, "
                             f"loss {loss.name!r}")
    if pen.lam < 0 or not np.isfinite(pen.lam):
        raise ValueError(f"GaussianMixture ERM: lam must be finite and >= 0, got lam={pen.lam!r}")
    if problem.labels == "teacher":
        if problem.is_regression and loss.is_classification:
            raise ValueError(f"GaussianMixture ERM: the {loss.name} loss is for +-1 labels; the teacher's "
                             f"{problem.channel.name} channel gives real-valued (regression) targets: use a regression "
                             f"loss (square, huber, absolute)")
        if problem.is_regression and loss.name == "absolute" and problem.channel.is_linear and problem.channel.noise == 0:
            raise ValueError("GaussianMixture ERM: the absolute loss on a noiseless Linear teacher recovers the teacher "
                             "exactly (every residual 0) above a sample ratio that depends on lam, a degenerate fixed "
                             "point the equations do not represent; give the channel some noise (e.g. Linear(1e-6)) "
                             "or use the square / Huber loss")
        if problem.is_regression and pen.lam == 0 and np.any(np.atleast_1d(problem.alpha) <= 1.0):
            a = np.atleast_1d(problem.alpha)
            raise ValueError(f"GaussianMixture ERM: with lam = 0 the regression minimiser is not unique at alpha <= 1 "
                             f"(got alpha = {a[a <= 1.0]}); use lam > 0")
        ch = problem.channel
        a = np.atleast_1d(problem.alpha)
        if loss.is_constraint or (pen.lam == 0 and loss.is_classification):
            # the max-margin classifier exists while the samples are separable, the lam = 0 margin-loss
            # minimiser once they are not: always / never for a noiseless sign teacher (it separates its
            # own samples), else below / above teacher_separability_threshold
            from solvable.families.mixtures.teacher import teacher_separability_threshold

            try:
                ac = teacher_separability_threshold(problem, bias=learner.bias)
            except ValueError as e:
                raise ValueError(f"GaussianMixture ERM with a teacher: the {loss.name} loss at lam = {pen.lam!r} needs "
                                 f"the separability threshold of the teacher's labels: {e}") from None
            if loss.is_constraint:
                if pen.lam <= 0:
                    raise ValueError(f"GaussianMixture ERM: the hard-margin classifier needs lam > 0 (it fixes the "
                                     f"scale of w), got lam={pen.lam!r}")
                if np.any(a >= ac):
                    raise ValueError(f"GaussianMixture ERM: the max-margin classifier exists only below the "
                                     f"separability threshold alpha* = {ac:.6g} of the teacher's labels (got alpha = "
                                     f"{a[a >= ac]})")
            elif np.any(a <= ac):
                raise ValueError(f"GaussianMixture ERM: with the {loss.name} loss and lam = 0 the minimiser does not "
                                 f"exist below the separability threshold alpha* = {ac:.6g} of the teacher's labels "
                                 f"(got alpha = {a[a <= ac]}); use lam > 0")
        return
    tab = problem.label_table
    if np.all(tab[:, 1] == 0) or np.all(tab[:, 0] == 0):
        raise ValueError(f"GaussianMixture: every cluster has the same label ({problem.data.labels.tolist()}, flip=0): "
                         f"there is nothing to classify (K = {problem.data.K})")
    if loss.is_constraint:
        _check_max_margin(problem, pen.lam, learner.bias)
    elif pen.lam == 0 and loss.is_classification:
        a = np.atleast_1d(problem.alpha)
        try:
            ac = separability_threshold(problem.data, flip=problem.flip, labels=problem.labels, bias=learner.bias)
        except ValueError:
            ac = None
        if ac is not None and np.any(a <= ac):
            raise ValueError(f"GaussianMixture ERM: with the {loss.name} loss and lam = 0 the minimiser does not exist "
                             f"below the separability threshold alpha* = {ac:.6g} (got alpha = {a[a <= ac]}); use lam > 0")


def _check_max_margin(problem, lam: float, bias: bool) -> None:
    """The max-margin classifier (``ERM("hard_margin", L2(lam))``: ``min lam |w|^2 / 2`` subject to
    ``y (w . x / sqrt d + b) >= 1``) exists only while the samples are separable: below
    :func:`separability_threshold` (checked where it is known: clusters sharing a covariance)."""
    if lam <= 0:
        raise ValueError(f"GaussianMixture ERM: the hard-margin classifier needs lam > 0 (it fixes the scale of w), "
                         f"got lam={lam!r}")
    if problem.data.shared_covariance:
        a = np.atleast_1d(problem.alpha)
        ac = separability_threshold(problem.data, flip=problem.flip, labels=problem.labels, bias=bias)
        if np.any(a >= ac):
            raise ValueError(f"GaussianMixture ERM: the max-margin classifier exists only below the separability "
                             f"threshold alpha* = {ac:.6g} (the samples are not separable above it), got alpha = "
                             f"{a[a >= ac]}")


# --------------------------------------------------------------------------- separability
def _hinge_sq(c):
    """E[(Z - c)_+^2] = (1 + c^2) Phi(-c) - c phi(c), Z ~ N(0, 1)."""
    return (1 + c * c) * ndtr(-c) - c * np.exp(-0.5 * c * c) / np.sqrt(2 * np.pi)


def separability_threshold(data: Mixture, *, flip: float = 0.0, labels: str = "cluster", bias: bool = True) -> float:
    """The sample ratio ``alpha*`` below which n = alpha d samples of the binary mixture are
    linearly separable (the maximum-likelihood logistic estimator and the max-margin classifier
    exist only above / below it), for clusters sharing one covariance.

    Gordon's comparison theorem (Gardner 1988 for ``s = 0``; the form used by Mignacco et al.,
    ICML 2020, sec. 3, and Deng, Kammoun, Thrampoulidis 2021, Thm. 1): after whitening by the
    shared covariance (separability is affine-invariant), with ``v`` the component of the unit
    weight vector in the span of the means and ``c = y (mu_k . v + b)``,

        1 / alpha* = min_{|v| < 1, b} sum_k rho_k sum_y pi_k(y) E[(Z - c)_+^2] / (1 - |v|^2).

    Means ``+-mu`` with ``|mu| = s``: ``min_t E[(Z - t s)_+^2] / (1 - t^2)`` (Cover's 2 at s = 0).
    Label noise (``flip > 0``) or random labels are included through ``pi``.  ``bias=False``
    fixes ``b = 0``.
    """
    if not isinstance(data, Mixture):
        raise ValueError(f"separability_threshold: data must be a Mixture, got {data!r}")
    if not data.shared_covariance:
        raise ValueError("separability_threshold: implemented for clusters sharing one covariance "
                         "(heteroscedastic clusters change Gordon's comparison)")
    if data.kind == "full":
        C = data.covariances[0]
        ev, U = np.linalg.eigh(C)
        if ev[0] <= 1e-12 * ev[-1]:
            raise ValueError("separability_threshold: the shared covariance is singular")
        Wm = (data.means @ U) / np.sqrt(ev)
    else:
        S, _ = data.diagonal()
        if np.any(S[0] <= 0):
            raise ValueError("separability_threshold: the shared covariance is singular")
        Wm = data.means / np.sqrt(S[0])
    G = Wm @ Wm.T
    ev, U = np.linalg.eigh(G)
    keep = ev > 1e-14 * max(ev.max(), 1e-300)
    coords = U[:, keep] * np.sqrt(ev[keep])  # whitened means in r = rank dimensions
    r = coords.shape[1]
    from solvable.families.mixtures.problem import label_table

    if not (data.is_binary or labels == "random"):
        raise ValueError("separability_threshold: the mixture has no +-1 labels")
    tab = label_table(data, labels, flip)
    rho = data.weights

    def objective(z):
        v, b = z[:r], (z[r] if bias else 0.0)
        n2 = v @ v
        if n2 >= 1:
            return 1e300
        mv = coords @ v + b  # (K,)
        c = mv[:, None] * _YLAB[None, :]
        return float(np.sum(rho[:, None] * tab * _hinge_sq(c)) / (1 - n2))

    def obj_u(zu):
        u, b = zu[:r], zu[r]
        nu = np.linalg.norm(u)
        v = u if nu == 0 else u / nu * np.tanh(nu)
        return objective(np.r_[v, b])

    # v = tanh(|u|) u / |u| stays inside the unit ball; a few starts (the objective is smooth)
    best = None
    rng = np.random.default_rng(0)
    for start in [np.zeros(r + 1)] + [np.r_[rng.standard_normal(r), 0.0] for _ in range(4)]:
        res = optimize.minimize(obj_u, start, method="Nelder-Mead" if r + 1 <= 2 else "BFGS",
                                options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20000} if r + 1 <= 2 else
                                {"gtol": 1e-12, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    return float(1.0 / best.fun)


# --------------------------------------------------------------------------- Bayes errors
def bayes_error(data: Mixture) -> float:
    """The error of the Bayes classifier that knows the mixture (two clusters of opposite labels
    sharing a covariance): with the Mahalanobis distance ``D`` of the means and ``L = log(rho_+ /
    rho_-)``, ``rho_+ Phi(-D/2 - L/D) + rho_- Phi(-D/2 + L/D)`` (e.g. Hastie, Tibshirani, Friedman,
    The Elements of Statistical Learning, sec. 4.3).  A mixture without +-1 labels (the label is
    the cluster index): the K-class rule, :func:`~solvable.families.mixtures.multiclass.multiclass_bayes_error`."""
    if not data.is_binary:  # labels = the cluster index
        from solvable.families.mixtures.multiclass import multiclass_bayes_error

        return multiclass_bayes_error(data)
    if data.K != 2 or data.labels[0] == data.labels[1] or not data.shared_covariance:
        raise ValueError("bayes_error: implemented for two clusters of opposite labels sharing a covariance, and "
                         "for K clusters labelled by their index (Mixture without labels) sharing a covariance")
    dmu = data.means[0] - data.means[1]
    if data.kind == "full":
        D2 = float(dmu @ np.linalg.solve(data.covariances[0], dmu))
    else:
        S, _ = data.diagonal()
        D2 = float(np.sum(dmu * dmu / S[0]))
    plus = 0 if data.labels[0] > 0 else 1
    rp, rm = data.weights[plus], data.weights[1 - plus]
    D = np.sqrt(D2)
    if D == 0:
        return float(min(rp, rm))
    L = np.log(rp / rm)
    return float(rp * ndtr(-D / 2 - L / D) + rm * ndtr(-D / 2 + L / D))


def _bayes_error_or_none(problem):
    if problem.labels != "cluster":
        return None
    try:
        e = bayes_error(problem.data)
    except ValueError:
        return None
    f = problem.flip
    return f + (1 - 2 * f) * e


def bayes_optimal_error(separation: float, alpha) -> np.ndarray:
    """The Bayes-optimal test error after n = alpha d samples of the symmetric balanced mixture
    ``+-mu``, identity covariance, ``|mu| = s`` and a rotation-invariant prior on ``mu``:
    ``Phi(-s^2 / sqrt(s^2 + 1 / alpha))`` (the posterior-mean direction ``sum y_i x_i``, cosine
    ``sqrt(alpha s^2 / (1 + alpha s^2))`` with ``mu``; Mignacco, Krzakala, Lu, Urbani, Zdeborova,
    ICML 2020, eq. (14) with ``Delta = 1 / s^2``), tending to ``bayes_error = Phi(-s)``."""
    a = np.asarray(alpha, float)
    if np.any(a <= 0) or not (np.isfinite(separation) and separation >= 0):
        raise ValueError(f"bayes_optimal_error: need separation >= 0 and alpha > 0, got {separation!r}, {alpha!r}")
    s = float(separation)
    return ndtr(-s * s / np.sqrt(s * s + 1.0 / a))


# --------------------------------------------------------------------------- universality
def gaussian_equivalent(problem):
    """The single Gaussian with the mixture's mean and covariance, with the same labels.

    Implemented for random labels (Gerace, Krzakala, Loureiro, Stephan, Zdeborova 2022), where the
    labels carry no information on the cluster: one cluster of mean ``sum_k rho_k mu_k`` and
    covariance ``sum_k rho_k Sigma_k + sum_k rho_k (mu_k - mu)(mu_k - mu)^T``.  For scalar and
    commuting covariances the finite-rank spread of the means is left out (it has O(1) norm, so it
    changes no trace, and with random labels the estimator has no component along the means);
    for full matrices it is included exactly.
    """
    from solvable.families.mixtures.problem import GaussianMixture

    if problem.labels == "teacher":
        return _teacher_equivalent(problem)
    if problem.labels != "random":
        raise ValueError("gaussian_equivalent: implemented for random and teacher labels (cluster labels have no "
                         "single-Gaussian equivalent)")
    mix = problem.data
    mean = mix.weights @ mix.means
    if mix.kind == "full":
        spread = mix.means - mean
        cov = mix.mean_covariance() + np.einsum("k,ki,kj->ij", mix.weights, spread, spread)
        eq = Mixture(mean[None], cov[None], labels=[1.0])
    elif mix.kind == "diagonal":
        eq = Mixture(mean[None], mix.mean_covariance()[None], labels=[1.0])
    else:
        eq = Mixture(mean[None], [float(mix.weights @ mix.covariances)], labels=[1.0])
    return GaussianMixture(eq, alpha=problem.alpha, labels="random")


def _teacher_equivalent(problem):
    """The single Gaussian of a teacher-labelled mixture (Pesce, Krzakala, Loureiro, Stephan 2023):
    mean ``mu = sum_k rho_k mu_k``, covariance ``sum_k rho_k s_k I`` plus the finite-rank spike
    ``sum_k rho_k (P_k + (mu_k - mu)(mu_k - mu)^T)`` in the means' span (which the scalar /
    commuting random-label equivalent may drop, but which carries the teacher's variance along
    the means when the teacher is aligned with them), the same teacher and channel.  Full
    covariances: one cluster with the (p, p) matrix ``sum_k rho_k Sigma_k`` plus the same spread of
    the means, at dimension p (its O(1/p) effect on the traces included, as in the mixture's own
    deterministic equivalent at p).  A spectrum: refused (the spread is a finite-rank spike that a
    spectrum cannot carry)."""
    from solvable.families.mixtures.problem import GaussianMixture

    mix = problem.data
    rho = mix.weights
    mean = rho @ mix.means
    spread = mix.means - mean
    S = np.einsum("k,ki,kj->ij", rho, spread, spread)
    if mix.kind == "diagonal":
        raise ValueError("gaussian_equivalent: with a teacher on a spectrum the spread of the means is a finite-rank "
                         "spike, which a (K, p) spectrum (coordinates standing for d / p inputs each) cannot carry; give "
                         "the covariances as (K, p, p) matrices (the equivalent is then taken at dimension p) or "
                         "scalar covariances with the means in their own coordinates")
    if mix.kind == "full":  # at dimension p: one (p, p) covariance, the spread of the means included
        eq = Mixture(mean[None], (mix.mean_covariance() + S)[None])
        return GaussianMixture(eq, alpha=problem.alpha, labels="teacher", teacher=problem.teacher,
                               channel=problem.channel)
    P = np.einsum("k,kij->ij", rho, problem.spike_matrices) + S
    eq = Mixture(mean[None], [float(rho @ mix.covariances)])
    return GaussianMixture(eq, alpha=problem.alpha, labels="teacher", teacher=problem.teacher,
                           teacher_norm=problem.teacher_norm, channel=problem.channel, spikes=P[None])


def universality_gap(problem, learner, fields=("train_loss", "train_error", "norm"), **options) -> dict:
    """The mixture's prediction against its single-Gaussian equivalent (:func:`gaussian_equivalent`):
    ``{"mixture": Prediction, "gaussian": Prediction, "gap": {field: mixture - gaussian}}``.

    Gerace et al. (2022): with random labels the minimum training loss is universal as ``lam -> 0``
    (the gap vanishes), while at finite ``lam`` heteroscedastic clouds and their equivalent differ.
    Teacher labels (Pesce et al. 2023): add ``"test_error"`` to ``fields``; whether the gap vanishes
    depends on the teacher's alignment with the means (tests/test_mixtures_teacher.py)."""
    from solvable.core.registry import predict

    eq = gaussian_equivalent(problem)
    a, b = predict(problem, learner, **options), predict(eq, learner, **options)
    return {"mixture": a, "gaussian": b, "gap": {f: np.asarray(a[f]) - np.asarray(b[f]) for f in fields}}

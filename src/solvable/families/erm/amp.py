"""Approximate message passing for empirical risk minimisation, and its state evolution.

:class:`ProximalAMP` is generalised AMP (Rangan 2011, "Generalized approximate message passing for estimation
with random linear mixing", Algorithm 1, in its MAP form) with the proximal denoisers of the ERM problem ``sum_mu
loss(y_mu, w . x_mu / sqrt(d)) + lam |w|^2 / 2`` (Bayati & Montanari 2012 for the LASSO; Aubin, Krzakala, Lu,
Zdeborova 2020, sec. 3; Vilucchio, Dandi, Rossignol, Gerbelot, Krzakala 2025, who use it to reach the replica
formula of a non-convex GLM algorithmically).  With ``A = X / sqrt(d)`` (``n x d``):

    omega^t = A w^t - V^t g^{t-1}                          (the Onsager term)
    g^t     = (prox_{V^t loss}(y, omega^t) - omega^t) / V^t,  Vhat^t = -(1/d) sum_mu d_omega g^t_mu
    w^{t+1} = (A^T g^t + Vhat^t w^t) / (lam + Vhat^t),       V^{t+1} = 1 / (lam + Vhat^t)

from ``w^0 = 0``, ``g^{-1} = 0``, ``V^0 = 1 / lam`` (the ridge's scale; option ``V0``).  Its fixed points are the
stationary points of the ERM objective: ``lam w = A^T g`` with ``g = -loss'(y, A w)``.  For the square loss both
denoisers are linear in their inputs (a *linearised* AMP), for ``lam < 0`` too.

**State evolution** (Bayati & Montanari 2011; Javanmard & Montanari 2013): at large ``d`` the overlaps ``m_t = w^t
. theta / d``, ``q_t = |w^t|^2 / d`` and ``V_t`` follow the ERM saddle-point map of
:mod:`solvable.families.erm.equations` (Loureiro et al. 2021, eqs. (2.8)-(2.9)) iterated from ``(0, 0, V^0)``.
The fixed point the iteration reaches is therefore the ERM replica fixed point.  The trajectory is in
``info["trajectory"]``: AMP at finite ``d`` follows it iteration by iteration.

**Convergence of the algorithm.**  The state evolution is a recursion on three numbers; it converges even where the
algorithm does not.  Whether AMP's iterates converge is decided by the linearisation of the ``d``-dimensional map
around its fixed point.  Its growth factor is the replicon: the loss side's ``a E[(d_omega f_out)^2]`` times the
penalty side's ``sum_k w_k om_k^2 / (lam + Vhat om_k)^2`` (Bolthausen 2014 for the SK model; Vilucchio et al. 2025
for GLMs).  The predictions carry the ``replicon`` and ``stable`` fields of the fixed point.  At ``replicon < 1``
AMP converges to the ERM minimiser: to 1e-9 of the exact solver at d = 400 for convex losses, and for Tukey where
it is stable.  At ``replicon > 1`` (a non-convex loss past its replica-symmetric region) its iterates keep moving
at large d.  For Tukey at ``alpha = 5``, ``lam = 1e-3``, replicon 1.25, the step is still ``2.6e-3`` after 400
iterations at d = 800.  Where the prox jumps the replicon is infinite.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvable.blocks.data.spectra import Isotropic
from solvable.blocks.learners import Learner
from solvable.blocks.losses import Loss, get_loss
from solvable.blocks.penalties import L2, Penalty, get_penalty
from solvable.core.contract import Experiment, SaddlePoint, SaddlePointOptions, _last_residual
from solvable.core.validate import check_int, check_positive, sample_count
from solvable.numerics.fixed_point import solve_fixed_point

__all__ = ["ProximalAMP", "ProximalAMPStateEvolution", "ProximalAMPExperiment"]


@dataclass(frozen=True)
class ProximalAMP(Learner):
    """GAMP with the proximal denoisers of ``ERM(loss, penalty)`` (module docstring): its fixed points are the ERM
    estimator's, its state evolution the ERM saddle-point map iterated from the algorithm's start.

    ``loss``: a loss with a proximal step; ``penalty``: ``L2(lam)`` (``lam < 0`` for the square loss above the
    convexity bound, as :class:`~solvable.blocks.learners.ERM`); ``max_iter``, ``tol`` (on the step of ``(m, q,
    V)`` in the state evolution, on ``|w^{t+1} - w^t| / sqrt(d)`` in the algorithm); ``V0``: the starting ``V``
    (None: ``1 / lam``, or 1 for ``lam <= 0``)."""

    loss: Any = "square"
    penalty: Any = field(default_factory=lambda: L2(0.1))
    max_iter: int = 300
    tol: float = 1e-9
    V0: float | None = None

    def __post_init__(self):
        loss = self.loss if isinstance(self.loss, Loss) else get_loss(self.loss)
        pen = self.penalty if isinstance(self.penalty, Penalty) else get_penalty(self.penalty)
        if not loss.has_prox or loss.is_constraint:
            raise ValueError(f"ProximalAMP: the loss needs a proximal step (not a hard constraint), got loss={loss!r}")
        if pen.l1_ratio != 0.0:
            raise ValueError(f"ProximalAMP: implemented for an L2 penalty, got penalty={pen!r}")
        check_int("max_iter", self.max_iter, owner="ProximalAMP")
        check_positive("tol", self.tol, owner="ProximalAMP")
        if self.V0 is not None:
            check_positive("V0", self.V0, owner="ProximalAMP")
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "penalty", pen)

    def start_V(self) -> float:
        lam = float(self.penalty.lam)
        return float(self.V0) if self.V0 is not None else (1.0 / lam if lam > 0 else 1.0)


@dataclass(frozen=True)
class _SEOptions(SaddlePointOptions):
    """Options of the state evolution: ``n_nodes`` (Gauss-Legendre nodes per piece of the loss side); its number of
    iterations and tolerance are the learner's ``max_iter`` and ``tol`` (the algorithm's)."""

    n_nodes: int = 40


def _erm_parts(problem, learner, n_nodes):
    """The ERM loss side and the L2 penalty side of the saddle-point map, on isotropic data."""
    from solvable.families.erm.equations import _LossSide, _check_negative_ridge, _check_pair, _l2_side, _spectrum

    if problem.data is not None:
        raise ValueError(f"ProximalAMP: implemented for isotropic inputs (data=None), got data={problem.data!r}")
    _check_pair(learner.loss, learner.penalty, problem.channel)
    spec = _spectrum(problem)
    lam = float(learner.penalty.lam)
    a = np.atleast_1d(np.asarray(problem.alpha, float))
    if lam < 0:
        _check_negative_ridge(learner.loss, learner.penalty, spec, a, np.full(a.shape, lam))
    side = _LossSide(learner.loss, problem.channel, spec.rho, n=n_nodes)

    def pen(mh, qh, Vh):
        return _l2_side(spec, np.full(mh.shape, lam), mh, qh, Vh)

    return spec, side, pen


class ProximalAMPStateEvolution(SaddlePoint):
    """The state evolution of :class:`ProximalAMP`: the ERM saddle-point map iterated without acceleration from
    ``(m, q, V) = (0, 0, V^0)``, ``max_iter`` steps at most (module docstring)."""

    Options = _SEOptions
    param = "alpha"
    state = ("m", "q", "V")

    def __init__(self, problem, learner, options):
        super().__init__(problem, learner, dataclasses.replace(options, max_iter=learner.max_iter, tol=learner.tol,
                                                               rtol=learner.tol))
        self.spec, self.side, self.pen = _erm_parts(problem, learner, options.n_nodes)
        self.rho = self.spec.rho

    def starts(self, p):
        N = len(p)
        return {"amp": np.column_stack([np.zeros(N), np.zeros(N), np.full(N, self.learner.start_V())])}

    def step(self, p, x):
        # the start w^0 = 0 has q = 0 (omega = 0 exactly): the loss side's quadratures (Stein's lemma over omega | y
        # for a prox that can jump) need a spread of omega, so q is floored at 1e-14 rho (omega's sd 1e-7 sqrt(rho))
        m, q, V = x[:, 0], np.maximum(x[:, 1], 1e-14 * self.rho), np.maximum(x[:, 2], 1e-300)
        with np.errstate(all="ignore"):
            mh, qh, Vh = self.side(m, q, V, np.asarray(p, float))
        return np.column_stack(self.pen(mh, np.maximum(qh, 0.0), Vh))

    def solve(self, p, x0):
        """The plain iteration (what AMP does: no damping, no acceleration) by the batched fixed-point solver: a row
        stops where the step of ``(m, q, V)`` falls below ``tol (1 + max |x|)``; ``info["trajectory"]``: the iterates
        ``(T + 1, N, 3)``, ``x0`` first, NaN once a row has stopped."""
        o = self.options
        res = solve_fixed_point(lambda x, q: self.step(q, x), np.asarray(x0, float), batch=True, params=p, tol=o.tol,
                                rtol=o.rtol, max_iter=o.max_iter, on_fail="ignore", history=True,
                                name="ProximalAMP state evolution")
        return res.x, np.asarray(res.converged, bool), {"n_iter": res.n_iter_rows, "residual": _last_residual(res, len(p)),
                                                        "trajectory": res.history}

    def observables(self, p, x):
        from solvable.families.erm.equations import _stability

        m, q, V = x.T
        ch = self.problem.channel
        lam = np.full(len(m), float(self.learner.penalty.lam))
        with np.errstate(all="ignore"):
            test = ch.student_test_error(m, q, self.rho)
            mh, qh, Vh, rep = self.side(m, np.maximum(q, 1e-14 * self.rho), np.maximum(V, 1e-300), np.asarray(p, float),
                                        metrics="replicon")
            stab = _stability(rep, self.spec, lam, Vh)
        return {"m": m, "q": q, "V": V, "mse": self.rho - 2 * m + q, "test_error": test, **stab}


class ProximalAMPExperiment(Experiment):
    """:class:`ProximalAMP` at dimension ``d``: the algorithm of the module docstring on isotropic Gaussian data,
    ``max_iter`` iterations at most; the measured fields of the last iterate (``m``, ``q``, ``mse``, ``test_error``,
    the exact expectation given ``w``), ``n_iter`` and, in ``trajectory`` (an option, default False), the
    overlaps of every iterate."""

    def sample(self, d, rng):
        pb = self.problem
        if pb.data is not None:
            raise ValueError(f"ProximalAMP: implemented for isotropic inputs (data=None), got data={pb.data!r}")
        n = sample_count(pb.alpha, d)
        X, z, info = Isotropic().sample(n, d, pb.prior, rng)
        return {"A": X / np.sqrt(d), "y": pb.channel.sample(z, rng), "info": info}

    def fit(self, data, rng):
        return run_proximal_amp(self.learner, data["A"], data["y"], theta=data["info"]["theta"])

    def measure(self, data, est):
        w, traj = est
        m, q = data["info"]["overlaps"](w)
        rho = data["info"]["rho"]
        return {"m": m, "q": q, "mse": rho - 2 * m + q,
                "test_error": float(self.problem.channel.student_test_error(m, q, rho)), "n_iter": float(len(traj) - 1)}


def run_proximal_amp(learner: ProximalAMP, A: np.ndarray, y: np.ndarray, *, theta=None):
    """ProximalAMP on data ``(A, y)`` (``A = X / sqrt(d)``): ``(w, trajectory)``, the last iterate and, per iterate,
    ``(m, q, V)`` (``m = nan`` without ``theta``; ``V`` the mean output variance).  The variances are scalars
    (AMP's form of GAMP, Rangan 2011, with ``tau^x_i = 1 / (lam + Vhat)``, ``Vhat = (1/d) sum_mu |a_mu|^2 tau^s_mu``,
    ``tau^p_mu = |a_mu|^2 tau^x``): GAMP's per-coordinate ``Vhat_i`` concentrate on them, and for a non-convex
    loss (``tau^s < 0`` where ``loss'' < 0``) a per-coordinate ``lam + Vhat_i`` may cross 0 at finite d."""
    A = np.asarray(A, float)
    y = np.asarray(y, float)
    n, d = A.shape
    loss, lam = learner.loss, float(learner.penalty.lam)
    row2 = np.einsum("ij,ij->i", A, A)  # |a_mu|^2 (-> 1)
    w = np.zeros(d)
    g = np.zeros(n)
    Vp = row2 * learner.start_V()

    def overlaps(w, Vp):
        return (float(w @ theta / d) if theta is not None else np.nan, float(w @ w / d), float(np.mean(Vp)))

    traj = [overlaps(w, Vp)]
    for _ in range(learner.max_iter):
        om = A @ w - Vp * g
        p, dp = loss.prox_and_derivative(y, om, Vp)
        g = (p - om) / Vp
        ts = (1.0 - dp) / Vp  # tau^s = -d g / d omega
        Vhat = float(row2 @ ts) / d
        den = lam + Vhat
        if not (np.isfinite(den) and den > 0):
            raise FloatingPointError(f"ProximalAMP: lam + Vhat = {den!r} <= 0 at iteration {len(traj)}: the algorithm "
                                     f"left the region where its L2 step is defined")
        w_new = (A.T @ g + Vhat * w) / den
        Vp = row2 / den
        step = float(np.linalg.norm(w_new - w) / np.sqrt(d))
        w = w_new
        traj.append(overlaps(w, Vp))
        if step < learner.tol * (1.0 + float(np.linalg.norm(w) / np.sqrt(d))):
            break
    return w, np.array(traj)

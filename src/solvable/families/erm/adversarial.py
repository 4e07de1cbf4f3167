"""Adversarial training of margin-based linear classifiers, and the robust test error of any linear
classifier (Tanner, Vilucchio, Loureiro, Krzakala, "A high dimensional statistical model for adversarial
training: geometry and trade-offs", AISTATS 2025, sec. 2-4).

**The attack.**  A test point ``x`` may be moved by ``delta`` with ``delta^T Sigma_delta^{-1} delta <= eps^2``
before the classifier ``sign(w . x / sqrt(d))`` sees it.  For a linear classifier the inner maximisation is
closed form: the worst ``delta = -eps y Sigma_delta w / |w|_{Sigma_delta}`` lowers the margin ``y omega``
(``omega = w . x / sqrt(d)``) by ``eps sqrt(P)``, ``P = w^T Sigma_delta w / d`` (the attack norm; ``P = |w|^2 / d``
for the isotropic attack ``Sigma_delta = I``), so

    robust_test_error(eps) = P(y omega < eps sqrt(P)),

a function of the overlaps only: given ``z``, ``omega`` is Gaussian with mean ``m z / rho`` and variance ``q -
m^2 / rho``; the label's law ``P(y | z)`` is the channel's.  At ``eps = 0`` it is the test error.

**Adversarial training** (:class:`AdversarialERM`) minimises the worst-case training loss,

    sum_mu g(y_mu w . x_mu / sqrt(d) - eps sqrt(w^T Sigma_delta w / d)) + lam |w|^2 / 2,

for a convex non-increasing margin loss ``g`` (logistic, hinge).  The loss depends on the estimator through the
order parameter ``P`` as well as through the margins.  The replica fixed point (Tanner et al., sec. 3) has a
fourth overlap ``P`` and its conjugate ``Phat``.

* **Loss side.**  It is the ERM loss side of the margin-shifted loss ``g(y omega - c)``, with ``c = eps
  sqrt(P)``: its proximal step is ``c y + prox_g(y, omega - c y)``.  This gives ``mhat, qhat, Vhat``.  The new
  conjugate is

      Phat = 2 alpha d E[M] / dP = alpha eps E[y f_out] / sqrt(P),

  where ``-g'(y prox - c) = y f_out`` at the proximal point.
* **Penalty side.**  It is a ridge with the matrix ``lam I + Phat Sigma_delta`` (a sample's gradient of the
  attack term is ``-eps g' Sigma_delta w / (d sqrt(P))``).  In a common eigenbasis of ``Sigma_x`` (eigenvalues
  ``omega_k``, teacher power ``power_k``, weights ``c_k``) and ``Sigma_delta`` (``delta_k``), with ``A_k = lam +
  Phat delta_k + Vhat omega_k`` and ``E w_k^2 = omega_k (mhat^2 power_k + qhat) / A_k^2``:

      V = sum_k c_k omega_k / A_k,    m = mhat sum_k c_k omega_k power_k / A_k,
      q = sum_k c_k omega_k E w_k^2,   P = sum_k c_k delta_k E w_k^2.

At ``eps = 0`` this is the plain ERM fixed point.  The block feature model
(:class:`solvable.data.BlockFeatures`) has one mode per block.  The attack geometry ``attack`` gives the
eigenvalues ``delta_k`` of ``Sigma_delta`` per mode of the data's spectrum.

**Usefulness and robustness of a block** (Ilyas et al. 2019, as used by Tanner et al., sec. 4).  The block's
share of the prediction, ``f_k(x) = w_k . x_k / sqrt(d)``, has usefulness ``U_k = E[y f_k] = m_k E[y z] / rho``.
Its robust usefulness under an attack ``(eps, Sigma_upsilon)`` is ``R_k = E[inf_delta y f_k(x + delta)] = U_k -
eps sqrt(P_k)``, with ``P_k = c_k upsilon_k E w_k^2`` (:func:`block_metrics`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from solvable.blocks.channels import Channel
from solvable.blocks.data.spectra import DataModel, Isotropic, Spectrum
from solvable.blocks.learners import Learner
from solvable.blocks.losses import Loss, get_loss
from solvable.blocks.penalties import L2, Penalty, get_penalty
from solvable.core.contract import SaddlePoint, SaddlePointOptions, _last_residual, fields_equal
from solvable.numerics.fixed_point import newton_rows, solve_fixed_point
from solvable.numerics.gauss import composite_legendre_nodes
from solvable.families.erm.equations import _LossSide, _l2_inv, _mode_second_moments

__all__ = ["AdversarialERM", "AdversarialTraining", "robust_test_error", "block_metrics", "attack_norm",
           "critical_eps", "simulate_robust_test_error"]


def _check_eps(eps, owner="robust_test_error", what="the attack budget eps"):
    e = np.asarray(eps, float)
    if not np.all(np.isfinite(e)) or np.any(e < 0):
        raise ValueError(f"{owner}: {what} must be finite and >= 0, got eps={eps!r}")
    return e


def _check_attack(attack, owner: str):
    """None (the isotropic attack), a number > 0 (``Sigma_delta = s I``) or a 1D array >= 0, not all zero,
    one value per mode of the data's spectrum."""
    if attack is None:
        return None
    a = np.asarray(attack, float)
    if a.ndim > 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0) or not np.any(a > 0):
        raise ValueError(f"{owner}: attack must be None, a number > 0 or a 1D array of values >= 0 (not all 0), "
                         f"one per mode of the data (per block of BlockFeatures), got attack={attack!r}")
    a = a.copy()
    a.setflags(write=False)
    return a


def _attack_modes(attack, spec: Spectrum, owner: str) -> np.ndarray:
    """The eigenvalues of an attack geometry on the modes of ``spec``."""
    if attack is None:
        return np.ones_like(spec.omega)
    if np.ndim(attack) == 0:
        return np.full_like(spec.omega, float(attack))
    a = np.asarray(attack, float)
    if a.shape != spec.omega.shape:
        raise ValueError(f"{owner}: the attack geometry has {a.size} values but the data have {spec.omega.size} modes "
                         f"(give one value per block of BlockFeatures, per eigenvalue of Covariance)")
    return a


def _spectrum_for_attack(problem, owner: str) -> tuple[DataModel, Spectrum]:
    data = Isotropic() if problem.data is None else problem.data
    if type(data).mode_profile is DataModel.mode_profile:
        raise ValueError(f"{owner}: an attack geometry needs data whose covariance commutes with it: isotropic "
                         f"(data=None), solvable.data.Covariance or solvable.data.BlockFeatures, got data={problem.data!r}")
    return data, data.spectrum(problem.prior)


def _robust_error(ch: Channel, rho: float, m, q, t) -> np.ndarray:
    """``P(y omega < t)`` for ``(z, omega)`` centred Gaussian with ``E z^2 = rho``, ``E z omega = m``, ``E omega^2
    = q`` and ``y ~ P(y | z)`` (rows of ``m, q, t``): ``z`` on a composite Gauss-Legendre rule cut at 0, where
    the labels' law steps, and the Gaussian ``omega | z`` in closed form."""
    m, q, t = (np.atleast_1d(np.asarray(v, float)) for v in (m, q, t))
    m, q, t = np.broadcast_arrays(m, q, t)
    N = m.size
    sd = np.sqrt(np.maximum(q - m * m / rho, 0.0))
    u, wu = composite_legendre_nodes(np.zeros(N), np.ones(N), np.zeros((N, 1)), 60, 12.0)
    z = np.sqrt(rho) * u  # (N, M)
    p_up = ch.prob(1.0, z)  # P(y = +1 | z)
    mu = (m / rho)[:, None] * z
    tt = t[:, None]
    s = sd[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.where(s > 0, ndtr((tt - mu) / np.where(s > 0, s, 1.0)), (mu < tt).astype(float))  # P(omega < t)
        above = np.where(s > 0, ndtr((mu + tt) / np.where(s > 0, s, 1.0)), (mu > -tt).astype(float))  # P(omega > -t)
    out = np.sum(wu * (p_up * below + (1.0 - p_up) * above), axis=1)
    return np.where(q > 0, out, 0.5)  # w = 0 (omega = 0): chance, as the test error


# ------------------------------------------------------------------------------------ the learner
@dataclass(frozen=True, eq=False)
class AdversarialERM(Learner):
    """Adversarial training of a linear classifier (module docstring): minimise ``sum_mu g(y_mu w . x_mu /
    sqrt(d) - eps sqrt(w^T Sigma_delta w / d)) + lam |w|^2 / 2``.

    ``loss``: a convex non-increasing margin loss (``"logistic"``, ``"hinge"``); ``penalty``: ``L2(lam)`` with
    ``lam > 0``; ``eps >= 0``: the training attack budget (``eps = 0`` is plain ERM); ``attack``: the geometry
    ``Sigma_delta``: None (the isotropic attack, ``|delta|_2 <= eps``), a number ``s > 0`` (``Sigma_delta = s
    I``) or one eigenvalue per mode of the data's spectrum (per block of :class:`solvable.data.BlockFeatures`,
    per eigenvalue of :class:`solvable.data.Covariance`).  Fields: the ERM fields and ``P`` (the attack norm
    ``w^T Sigma_delta w / d``), ``Phat``, ``robust_test_error`` (under the training attack)."""

    loss: Any = "logistic"
    penalty: Any = field(default_factory=lambda: L2(0.1))
    eps: float = 0.0
    attack: Any = None

    def __post_init__(self):
        loss = self.loss if isinstance(self.loss, Loss) else get_loss(self.loss)
        pen = self.penalty if isinstance(self.penalty, Penalty) else get_penalty(self.penalty)
        if not loss.is_classification or loss.is_constraint or not loss.has_prox:
            raise ValueError(f"AdversarialERM: the loss must be a convex non-increasing margin loss with a proximal "
                             f"step (logistic, hinge), got loss={loss!r}")
        if pen.l1_ratio != 0.0 or not (np.isfinite(pen.lam) and pen.lam > 0):
            raise ValueError(f"AdversarialERM: the penalty must be L2(lam) with a finite lam > 0, got penalty={pen!r}")
        e = _check_eps(self.eps, "AdversarialERM", "the training attack budget eps")
        if e.ndim:
            raise ValueError(f"AdversarialERM: eps must be a number (sweep over eps point by point), got eps={self.eps!r}")
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "penalty", pen)
        object.__setattr__(self, "eps", float(e))
        object.__setattr__(self, "attack", _check_attack(self.attack, "AdversarialERM"))

    def __eq__(self, other):
        return fields_equal(self, other)

    __hash__ = None


class _ShiftedMargin(Loss):
    """The margin-shifted loss ``g(y z - c)`` of a margin loss ``g``, one shift ``c`` per row of the ERM loss side
    (a row's arrays lead with the row axis): ``prox = c y + prox_g(y, omega - c y)`` (y = +-1)."""

    is_classification = True

    def __init__(self, base: Loss, c: np.ndarray):
        self.base, self.c = base, np.asarray(c, float)

    def rows(self, ix):
        """The loss of the rows ``ix`` (the ERM loss side splits its rows by quadrature)."""
        return _ShiftedMargin(self.base, self.c[ix])

    def _c(self, ndim):
        return self.c.reshape((-1,) + (1,) * (ndim - 1))

    def value(self, y, z):
        c = self._c(np.ndim(z))
        return self.base.value(y, z - c * y)

    def prox_and_derivative(self, y, omega, V):
        c = self._c(max(np.ndim(omega), np.ndim(V)))
        p, dp = self.base.prox_and_derivative(y, omega - c * y, V)
        return p + c * y, dp

    def prox(self, y, omega, V):
        return self.prox_and_derivative(y, omega, V)[0]

    def dprox(self, y, omega, V):
        return self.prox_and_derivative(y, omega, V)[1]

    def prox_kinks(self, y, V):
        k = self.base.prox_kinks(y, V)
        y = np.broadcast_to(np.asarray(y, float), k.shape[:-1])
        return k + (self._c(y.ndim) * y)[..., None]


# ------------------------------------------------------------------------------------ the theory
def _critical_eps(spec: Spectrum, delta: np.ndarray, Ezy: float, a) -> np.ndarray:
    """``eps_c(alpha)`` of :func:`critical_eps` from the spectrum, the attack's eigenvalues and ``E[y z]``."""
    om, pw, wt = spec.omega, spec.power, spec.weight
    seen = om > 0
    if np.any(seen & (delta <= 0)):
        return np.full(np.shape(a), np.inf)  # an undefended direction with signal or noise: w = 0 is never optimal
    dl = np.where(seen, delta, 1.0)
    signal = (Ezy / spec.rho) ** 2 * float(np.sum(wt * om * pw / dl))
    noise = float(np.sum(wt * om / dl))
    return np.sqrt(signal + noise / np.asarray(a, float))


def critical_eps(problem, learner) -> np.ndarray | float:
    """The training budget above which adversarial training returns ``w = 0`` exactly (a number, or one per point
    of an alpha curve), for any convex non-increasing margin loss with ``g'(0) < 0`` and any ``lam``.

    ``w = 0`` is the minimiser iff 0 is in the subdifferential there: ``eps n |w|_{Sigma_delta} / sqrt(d) >= (sum_mu
    y_mu x_mu / sqrt(d)) . w / sqrt(d)`` for every ``w`` (the attack term is a norm, non-differentiable at 0, like a
    group lasso).  With ``sum_mu y_mu x_mu = n E[y x] + sqrt(n)`` Gaussian noise of covariance ``Sigma_x``, as d grows
    this is ``eps >= eps_c``,

        eps_c^2 = (E[y z] / rho)^2 sum_k c_k omega_k power_k / delta_k + (1 / alpha) sum_k c_k omega_k / delta_k

    (isotropic sign teacher and attack: ``eps_c^2 = 2 / pi + 1 / alpha``).  Past ``eps_c`` the replica fixed point
    sits at ``m = q = P = 0`` with ``Phat`` infinite; below it ``q`` vanishes like ``(eps_c - eps)^2`` (logistic).
    An attack that leaves a direction of the data undefended (``delta_k = 0``) gives ``eps_c = inf``."""
    _, spec = _spectrum_for_attack(problem, "critical_eps")
    delta = _attack_modes(learner.attack, spec, "critical_eps")
    a = np.asarray(problem.alpha, float) / spec.ratio
    out = _critical_eps(spec, delta, float(problem.channel.label_moments(spec.rho)[0]), a)
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class AdversarialOptions(SaddlePointOptions):
    """Options of the adversarial-training saddle point: the batched Picard / Anderson iteration
    (``tol``, ``rtol`` on the step of ``(m, q, V, P)``), at most ``newton`` Newton steps on the rows it leaves
    (0: none), and ``n_nodes`` (the Gauss-Legendre nodes per piece of the loss-side quadrature)."""

    newton: int = 60
    tol: float = 1e-11
    rtol: float = 1e-10
    max_iter: int = 400
    anderson: int = 4
    n_nodes: int = 40


_LOG = np.array([False, True, True, True])  # Newton in (m, log q, log V, log P)


class AdversarialTraining(SaddlePoint):
    """The replica fixed point of adversarial training (module docstring; Tanner et al. 2025, sec. 3):
    state ``(m, q, V, P)``, a curve in ``alpha``."""

    Options = AdversarialOptions
    param = "alpha"
    state = ("m", "q", "V", "P")

    def __init__(self, problem, learner, options):
        super().__init__(problem, learner, options)
        ch = problem.channel
        if not ch.is_classification:
            raise ValueError(f"AdversarialERM: needs a classification channel (Sign, Probit), got channel={ch!r}")
        data, spec = _spectrum_for_attack(problem, "AdversarialERM")
        if spec.ratio != 1.0:
            raise ValueError("AdversarialERM: the student must see the teacher's inputs (ratio 1)")
        self.spec, self.rho = spec, spec.rho
        self.delta = _attack_modes(learner.attack, spec, "AdversarialERM")
        self.lam, self.eps = learner.penalty.lam, learner.eps
        self.side = _LossSide(learner.loss, ch, spec.rho, n=options.n_nodes)
        self.Ezy = float(ch.label_moments(spec.rho)[0])

    def trivial(self, p) -> np.ndarray:
        """The rows where ``eps >= eps_c`` (:func:`critical_eps`): ``w = 0`` exactly."""
        return self.eps >= _critical_eps(self.spec, self.delta, self.Ezy, np.asarray(p, float))

    def starts(self, p):
        N = len(p)
        r = self.rho
        return {"start": np.column_stack([np.full(N, 0.1 * r), np.full(N, r), np.ones(N), np.full(N, r)])}

    def hats(self, p, x, metrics=False):
        """``(mhat, qhat, Vhat, Phat)`` [and the training loss] at rows ``x = (m, q, V, P)``."""
        m, q, V, P = (np.maximum(x[:, j], 1e-300) if j else x[:, j] for j in range(4))
        sP = np.sqrt(P)
        shifted = _ShiftedMargin(self.side.loss, self.eps * sP)
        out = self.side(m, q, V, np.asarray(p, float), metrics=metrics, loss=shifted, yf=True)
        Phat = self.eps * out[-1] / sP
        return out[:3] + (Phat,) + out[3:-1]

    def penalty_side(self, mh, qh, Vh, Ph):
        """``(m, q, V, P)`` and the per-mode ``E w_k^2`` (module docstring)."""
        s, dl = self.spec, self.delta[None, :]
        om, pw, wt = s.omega[None, :], s.power[None, :], s.weight[None, :]
        inv = _l2_inv(s, np.full(len(mh), self.lam), Vh, Ph[:, None] * dl)
        w2 = _mode_second_moments(s, inv, mh, qh)
        return (mh * np.sum(wt * om * pw * inv, axis=1), np.sum(wt * om * w2, axis=1), np.sum(wt * om * inv, axis=1),
                np.sum(wt * dl * w2, axis=1)), w2

    def step(self, p, x):
        mh, qh, Vh, Ph = self.hats(p, x)
        (m, q, V, P), _ = self.penalty_side(mh, np.maximum(qh, 1e-300), np.maximum(Vh, 1e-300), np.maximum(Ph, 0.0))
        return np.column_stack([m, q, V, P])

    def solve(self, p, x0):
        triv = self.trivial(p)
        X = np.zeros((len(p), 4))
        ok = np.ones(len(p), bool)
        info = {"n_iter": 0, "residual": np.zeros(len(p)), "n_newton": 0, "trivial": triv}
        if (~triv).any():
            r = np.flatnonzero(~triv)
            X[r], ok[r], inf = self._solve(p[r], x0[r])
            info["n_iter"], info["n_newton"] = inf["n_iter"], inf["n_newton"]
            info["residual"][r] = inf["residual"]
        return X, ok, info

    def _solve(self, p, x0):
        o = self.options
        # the parameter of each row travels as params (not as a column of the state: the stopping rule's rtol
        # max|x| would otherwise count alpha)
        res = solve_fixed_point(lambda x, q: self.step(q, x), np.asarray(x0, float), batch=True, params=p, tol=o.tol,
                                rtol=o.rtol, max_iter=o.max_iter, damping=o.damping, anderson=o.anderson,
                                on_fail="ignore", lower=np.array([-np.inf, 1e-300, 1e-300, 1e-300]),
                                name="adversarial training")
        X, ok = res.x.copy(), np.asarray(res.converged, bool).copy()
        info = {"n_iter": res.n_iter, "residual": _last_residual(res, len(p))}
        n_newton = 0
        if not ok.all() and o.newton > 0:
            r = np.flatnonzero(~ok)

            def F(XP):
                return self.step(XP[:, 4], XP[:, :4])

            Xn, okn, n_newton = newton_rows(F, X[r], extra=p[r], log=_LOG, tol=max(self.options.rtol, 1e-12),
                                            max_iter=o.newton)
            better = okn | ~np.all(np.isfinite(X[r]), axis=1)
            X[r[better]] = Xn[better]
            ok[r] = okn
            if okn.any():
                res = np.asarray(info["residual"], float).copy()
                res[r[okn]] = np.max(np.abs(F(np.column_stack([Xn[okn], p[r][okn]])) - Xn[okn]), axis=1)
                info["residual"] = res
        info["n_newton"] = n_newton
        return X, ok, info

    def observables(self, p, x):
        with np.errstate(all="ignore"):
            mh, qh, Vh, Ph, train = self.hats(p, x, metrics=True)
            m, q, V, P = x.T
            triv = self.trivial(p)
            if triv.any():  # w = 0: f_out = -y g'(0) (V -> 0), so mhat = a |g'(0)| E[y z] / rho, qhat = a g'(0)^2,
                # Vhat = a g''(0); Phat is infinite (the attack norm's subgradient at 0); the loss is g(0)
                ln = self.learner.loss
                g1, g2, g0 = float(ln.grad(1.0, 0.0)), float(ln.hess(1.0, 0.0)), float(ln.value(1.0, 0.0))
                a = np.asarray(p, float)
                mh = np.where(triv, a * abs(g1) * self.Ezy / self.rho, mh)
                qh = np.where(triv, a * g1 * g1, qh)
                Vh = np.where(triv, a * g2, Vh)
                Ph = np.where(triv, np.inf, Ph)
                train = np.where(triv, g0, train)
            ch = self.problem.channel
            return {"m": m, "q": q, "V": V, "P": P, "mhat": mh, "qhat": qh, "Vhat": Vh, "Phat": Ph,
                    "test_error": ch.student_test_error(m, q, self.rho),
                    "robust_test_error": _robust_error(ch, self.rho, m, q, self.eps * np.sqrt(np.maximum(P, 0.0))),
                    "train_loss": train, "mse": self.rho - 2 * m + q}


# ------------------------------------------------------------------------------------ metrics of a prediction
def _second_moments(pred, owner: str):
    """``(spec, E w_k^2 (rows x modes), m_k-part (rows x modes), lam)`` of an L2 ERM or AdversarialERM
    prediction on data with a mode profile."""
    pb, ln = pred.problem, pred.learner
    _, spec = _spectrum_for_attack(pb, owner)
    pen = ln.penalty
    if pen.l1_ratio != 0.0:
        raise ValueError(f"{owner}: needs an L2 penalty (its per-mode second moments), got penalty={pen!r}")
    if getattr(ln.loss, "is_constraint", False):
        raise ValueError(f"{owner}: not for the max-margin classifier (its conjugates are not in the prediction)")
    row = lambda k: np.atleast_1d(np.asarray(pred[k], float))  # noqa: E731
    mh, qh, Vh = row("mhat"), row("qhat"), row("Vhat")
    lam = row("lam") if "lam" in pred else np.full(mh.shape, float(pen.lam))
    shift = row("Phat")[:, None] * _attack_modes(ln.attack, spec, owner)[None, :] if isinstance(ln, AdversarialERM) \
        else None
    inv = _l2_inv(spec, lam, Vh, shift)
    return spec, _mode_second_moments(spec, inv, mh, qh), mh[:, None] * spec.omega[None, :] * spec.power[None, :] * inv


def attack_norm(pred, attack=None) -> np.ndarray | float:
    """``P = w^T Sigma_upsilon w / d`` of the estimator of an ERM (L2) or :class:`AdversarialERM` prediction
    under an attack geometry ``attack`` (None: the isotropic attack, ``|w|^2 / d``; a number; or one value
    per mode of the data), from the per-mode second moments of the fixed point (module docstring)."""
    att = _check_attack(attack, "attack_norm")
    spec, w2, _ = _second_moments(pred, "attack_norm")
    out = np.sum(spec.weight[None, :] * _attack_modes(att, spec, "attack_norm")[None, :] * w2, axis=1)
    return float(out[0]) if np.ndim(pred["m"]) == 0 else out


def robust_test_error(pred, eps, attack=None) -> np.ndarray | float:
    """``P(y omega < eps sqrt(P))`` (module docstring) for an ERM or :class:`AdversarialERM` prediction on a
    classification channel, at test budgets ``eps`` (a number or an array; a curve of ``pred`` gives one row per
    point) and the test attack geometry ``attack`` (None: isotropic; a number; or one value per mode of the
    data).  ``P`` is ``q`` for the isotropic attack on isotropic data, otherwise :func:`attack_norm`."""
    pb = pred.problem
    ch = pb.channel
    if not ch.is_classification:
        raise ValueError(f"robust_test_error: needs a classification channel (Sign, Probit), got {ch!r}")
    e = _check_eps(eps)
    att = _check_attack(attack, "robust_test_error")
    m = np.atleast_1d(np.asarray(pred["m"], float))
    q = np.atleast_1d(np.asarray(pred["q"], float))
    if pb.data is None and att is None:
        P = q
    else:
        P = np.atleast_1d(attack_norm(pred, att))
    rho = float(pred.info.get("rho", None) or _spectrum_for_attack(pb, "robust_test_error")[1].rho)
    out = np.stack([_robust_error(ch, rho, m, q, ej * np.sqrt(P)) for ej in e.ravel()], axis=1)
    out = out.reshape((len(m),) + e.shape)
    return float(out.reshape(-1)[0]) if np.ndim(pred["m"]) == 0 and e.ndim == 0 else (out[0] if np.ndim(pred["m"]) == 0 else out)


def block_metrics(pred, eps: float | None = None, attack=None):
    """Per mode of the data (per block of :class:`solvable.data.BlockFeatures`) of an ERM (L2) or
    :class:`AdversarialERM` prediction: a pandas DataFrame with the block's weight ``fraction``, its overlaps
    ``m`` (its share of ``E z omega``), ``q`` (of ``E omega^2``), ``P`` (of the attack norm under ``attack``),
    its ``usefulness`` ``E[y f_k] = m_k E[y z] / rho`` and its ``robustness`` ``usefulness - eps sqrt(P_k)``
    (module docstring).  ``eps`` and ``attack`` default to the training attack of an AdversarialERM (and to
    ``eps = 0``, isotropic, for plain ERM).  A curve gives one row per (point, block), with a ``point``
    column."""
    import pandas as pd

    ln = pred.learner
    if eps is None:
        eps = ln.eps if isinstance(ln, AdversarialERM) else 0.0
        if attack is None and isinstance(ln, AdversarialERM):
            attack = ln.attack
    e = float(_check_eps(eps, "block_metrics"))
    att = _check_attack(attack, "block_metrics")
    ch = pred.problem.channel
    if not ch.is_classification:
        raise ValueError(f"block_metrics: needs a classification channel (Sign, Probit), got {ch!r}")
    spec, w2, mk = _second_moments(pred, "block_metrics")
    wt = spec.weight[None, :]
    Pk = wt * _attack_modes(att, spec, "block_metrics")[None, :] * w2
    Ezy = ch.label_moments(spec.rho)[0]
    use = wt * mk * Ezy / spec.rho
    N, K = w2.shape
    df = pd.DataFrame({"point": np.repeat(np.arange(N), K), "block": np.tile(np.arange(K), N),
                       "fraction": np.tile(spec.weight, N), "m": (wt * mk).ravel(),
                       "q": (wt * spec.omega[None, :] * w2).ravel(), "P": Pk.ravel(), "usefulness": use.ravel(),
                       "robustness": (use - e * np.sqrt(Pk)).ravel()})
    return df.drop(columns="point") if np.ndim(pred["m"]) == 0 else df


def simulate_robust_test_error(problem, learner, eps, *, d: int, seeds, n_test: int = 100_000) -> np.ndarray:
    """The robust test error of ERM (or :class:`AdversarialERM`) classifiers fitted at dimension ``d`` on isotropic
    inputs (the family's exact solvers), each attacked on ``n_test`` fresh samples by the exact worst isotropic
    perturbation ``delta = -eps y w / |w|``: ``(len(seeds), len(eps))``."""
    from solvable.families.erm.solvers import solve_adversarial, solve_erm

    e = np.atleast_1d(_check_eps(eps))
    ch = problem.channel
    if not ch.is_classification or problem.data is not None or np.ndim(problem.alpha) > 0:
        raise ValueError("simulate_robust_test_error: a classification channel, isotropic inputs and a scalar alpha")
    n = int(round(float(problem.alpha) * d))
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        X, z, info = Isotropic().sample(n, d, problem.prior, rng)
        theta = info["theta"]
        y = ch.sample(z, rng)
        if isinstance(learner, AdversarialERM):
            D = np.full(d, 1.0 if learner.attack is None else float(_attack_modes(learner.attack, Isotropic().spectrum(
                problem.prior), "simulate_robust_test_error")[0]))
            w = solve_adversarial(learner.loss, learner.penalty.lam, X / np.sqrt(d), y, learner.eps, D)
        else:
            w = solve_erm(learner.loss, learner.penalty, X / np.sqrt(d), y)
        Xt = rng.standard_normal((n_test, d))
        yt = ch.sample(Xt @ theta / np.sqrt(d), rng)
        margin = yt * (Xt @ w) / np.sqrt(d)
        norm = np.linalg.norm(w) / np.sqrt(d)
        rows.append([float(np.mean(margin - ej * norm < 0)) for ej in e])  # the attacked margin y w.(x + delta)/sqrt d
    return np.array(rows)

"""The Gibbs posterior (pseudo-Bayes, mismatched Bayes) of a loss and a Gaussian prior.

``P(w | data) ~ exp(-beta [sum_mu loss(y_mu, w . x_mu / sqrt(d)) + lam |w|^2 / 2])``: the inverse
temperature ``beta`` and the prior strength ``lam`` are the learner's (Clarte, Loureiro, Krzakala,
Zdeborova 2023, "On double-descent in uncertainty quantification in overparametrized models", sec. 2:
the logistic likelihood with a Gaussian prior; ``beta = 1`` is Bayesian logistic regression, ``beta ->
infinity`` ERM).  The estimator is the posterior mean; its confidence the posterior predictive
``E_post[sigma(w . x / sqrt(d))]`` for the logistic loss.

Replica-symmetric equations (exact for this log-concave measure; e.g. Zdeborova & Krzakala, Adv.
Phys. 2016, sec. 4, for general channels and priors): the ERM equations of
:mod:`~solvable.families.joint.equations` with ``lam -> beta lam`` and the proximal step replaced by
the tilted channel

    Z(y, omega, V) = int dz N(z; omega, V) exp(-beta loss(y, z)),   f = d_omega log Z = E_t[z - omega] / V,
    d_omega f = Var_t(z) / V^2 - 1 / V,

``E_t`` the mean under the tilted law ``N(z; omega, V) exp(-beta loss) / Z``; ``V = Q - q`` is the
posterior variance.  As ``beta -> infinity`` (``V ~ V_ERM / beta``) the tilted law concentrates on the
prox and these are the ERM equations.  The tilted integrals: Gauss-Hermite in ``z`` centred on the
tilted law's mode (the prox of ``beta V loss``) with its Laplace width, the ratio of the integrand to
that Gaussian being smooth (log-concave times Gaussian), so the rule stays accurate from ``beta V -> 0``
to the ERM limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.blocks.learners import Learner
from solvable.blocks.losses import Loss, get_loss
from scipy import optimize

from solvable.numerics.gauss import legendre_rule

__all__ = ["GibbsPosterior", "TiltedChannel", "evidence", "empirical_bayes"]


@dataclass(frozen=True)
class GibbsPosterior(Learner):
    """The posterior mean of ``exp(-beta [sum loss + lam |w|^2 / 2])`` (module docstring)."""

    loss: Any = "logistic"
    lam: float = 1.0
    beta: float = 1.0

    def __post_init__(self):
        loss = self.loss if isinstance(self.loss, Loss) else get_loss(self.loss)
        object.__setattr__(self, "loss", loss)
        for name in ("lam", "beta"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not (
                    np.isfinite(v) and v > 0):
                what = "the inverse temperature beta" if name == "beta" else "the prior strength lam"
                raise ValueError(f"GibbsPosterior: {what} must be finite and > 0, got {name}={v!r}")
            object.__setattr__(self, name, float(v))
        if loss.name not in ("logistic", "square"):
            raise ValueError(f"GibbsPosterior: implemented for the logistic and square losses, got {loss.name!r}")


class TiltedChannel:
    """``(log Z, f, d_omega f)`` of ``Z(y, omega, V) = int N(z; omega, V) exp(-beta loss(y, z)) dz``
    (vectorised; the output-function interface of a channel, so that GAMP runs on it)."""


    def __init__(self, loss: Loss, beta: float, n: int = 24):
        self.loss, self.beta, self.n = loss, float(beta), n
        x, w = legendre_rule(n)
        self.x, self.w = (x + 1) / 2, w / 2  # on [0, 1]

    def _logdens(self, y, omega, V, z):
        return -0.5 * (z - omega) ** 2 / V - self.beta * self.loss.value(y, z)

    def _edge(self, y, omega, V, zs, g0, sign):
        """The point on one side of the mode where the (concave) log density has dropped by ``DROP``:
        bisection between the mode and ``sqrt(2 DROP V)`` away (where the Gaussian part alone has)."""
        lo, hi = np.zeros_like(zs), np.sqrt(2 * self.DROP * V)
        for _ in range(25):  # the end need not be sharp: the density there is e^-40 of its peak
            mid = 0.5 * (lo + hi)
            below = self._logdens(y, omega, V, zs + sign * mid) < g0 - self.DROP
            hi, lo = np.where(below, mid, hi), np.where(below, lo, mid)
        return zs + sign * hi

    DROP = 40.0

    def output_moments(self, y, omega, V):
        y, omega, V = np.broadcast_arrays(np.asarray(y, float), np.asarray(omega, float), np.asarray(V, float))
        zs = self.loss.prox(y, omega, self.beta * V)  # the mode of the tilted law (log-concave)
        g0 = self._logdens(y, omega, V, zs)
        a, b = self._edge(y, omega, V, zs, g0, -1.0), self._edge(y, omega, V, zs, g0, 1.0)
        # pieces cut at the mode and at a Laplace width on each side of it (a sharp side and a long
        # Gaussian tail are then each resolved)
        lap = 1.0 / np.sqrt(1.0 / V + self.beta * self.loss.hess(y, zs))
        cuts = np.stack([a, np.maximum(zs - 2 * lap, a), zs, np.minimum(zs + 2 * lap, b), b], axis=-1)
        lo, wid = cuts[..., :-1, None], np.diff(cuts, axis=-1)[..., None]
        z = (lo + wid * self.x).reshape(zs.shape + (-1,))
        wz = (wid * self.w).reshape(zs.shape + (-1,))
        r = wz * np.exp(self._logdens(y[..., None], omega[..., None], V[..., None], z) - g0[..., None])
        Z = np.sum(r, axis=-1)
        mean = np.sum(r * z, axis=-1) / Z
        var = np.maximum(np.sum(r * (z - mean[..., None]) ** 2, axis=-1) / Z, 0.0)
        logZ = np.log(Z) + g0 - 0.5 * np.log(2 * np.pi * V)
        return logZ, (mean - omega) / V, var / V ** 2 - 1.0 / V


#: where the integration along the prior strength switches to the exponential tail (lam' = lam e^12; the
#: integrand is then A e^-s up to O(e^-2s))
S_MAX = 12.0


def evidence(problem, learner: GibbsPosterior, *, n_per_piece: int = 8, tol: float = 1e-12) -> np.ndarray | float:
    """The log evidence per sample, ``(1 / n) E log int dP(w) prod_mu L(y_mu | w . x_mu / sqrt(d))``, of the
    Gibbs posterior's model: prior ``N(0, 1 / (beta lam))``, likelihood ``L = exp(-beta loss)`` (the
    logistic likelihood ``sigma(y z)^beta``; for the square loss the Gaussian of variance ``1 / beta``,
    normalised), for every ``alpha`` of the problem.  At ``beta = 1`` it is the marginal likelihood that
    empirical Bayes maximises over ``lam``.

    Thermodynamic integration along the prior strength (no free-entropy formula needed): with ``p``
    parameters (``p = d`` on isotropic inputs, ``gamma d`` on random features) and ``phi = log Z / p``,
    ``d phi / d lam = 1 / (2 lam) - beta E <|w|^2> / (2 p)`` (the prior's normalisation and the posterior's
    second moment ``E <|w|^2> / p = w_norm + w_var``, both from the replica fixed point; ``q + V`` on
    isotropic inputs), and ``phi -> (n / p) E[log L(y, 0)]`` as ``lam -> infinity`` (``w -> 0``); so
    ``phi(lam) = phi(inf) - int_0^inf (1 - beta lam' E <|w|^2> / p) / 2 ds``, ``lam' = lam e^s``, by a
    composite Gauss-Legendre rule in ``s`` (pieces ``[0, 1, 2, 4, 8, 12]``) and the exact tail of the
    integrand's ``e^-s`` decay beyond; the evidence per sample is ``(p / n) phi``.  Checked against the
    exact finite-d evidence of ridge (isotropic and random features), its maximum at the true prior, and
    the rule's convergence (tests/test_joint.py)."""
    edges = np.array([0.0, 1.0, 2.0, 4.0, 8.0, S_MAX])
    x, w = legendre_rule(n_per_piece)
    # the tail beyond S_MAX: the integrand is A e^-s there (w is then tiny and linear in the data), so
    # int_S^inf = its value at S (a node with weight 1)
    s = np.r_[(edges[:-1, None] + np.diff(edges)[:, None] * (x + 1) / 2).ravel(), S_MAX]
    ws = np.r_[(np.diff(edges)[:, None] * w / 2).ravel(), 1.0]
    integral = np.tensordot(ws, _path_integrand(problem, learner.loss, learner.beta, learner.lam, s, tol), axes=1)
    out = _from_integral(problem, learner.loss, learner.beta, integral)
    return float(out[0]) if np.ndim(problem.alpha) == 0 else out


def _path_integrand(problem, loss, beta, lam, s, tol):
    """``(1 - beta lam' E <|w|^2> / p) / 2`` at ``lam' = lam e^s`` (the integrand of :func:`evidence`), rows
    of s by points of the problem's alpha: ``(len(s), N)``."""
    from solvable.core.registry import predict
    from solvable.families.joint.problem import JointERM

    vals = []
    for si in s:
        li = lam * np.exp(si)
        r = predict(problem, JointERM(GibbsPosterior(loss, li, beta), K=1), tol=tol, on_fail="raise")
        vals.append(0.5 * (1.0 - beta * li * (np.atleast_1d(r.w_norm_0) + np.atleast_1d(r.w_var_0))))
    return np.array(vals)


def _from_integral(problem, loss, beta, integral):
    """The evidence per sample from ``int_{s(lam)}^inf`` of the integrand (see :func:`evidence`)."""
    from solvable.blocks.data.spectra import Isotropic

    # n / p: samples per parameter
    alpha = np.asarray(problem.alpha, float) / (problem.data or Isotropic()).spectrum(problem.prior).ratio
    if loss.name == "logistic":
        phi_inf, norm = -alpha * beta * np.log(2.0), 0.0
    else:  # square: E[-beta y^2 / 2] and the Gaussian likelihood's normalisation (1/2) log(beta / 2 pi)
        _, Ey2 = problem.channel.label_moments(float(problem.rho))
        phi_inf, norm = -alpha * beta * Ey2 / 2.0, 0.5 * np.log(beta / (2 * np.pi))
    return (phi_inf - integral) / alpha + norm


def empirical_bayes(problem, loss="logistic", beta: float = 1.0, lam_range=(1e-3, 1e2), *, n_grid: int = 64,
                    tol: float = 1e-12):
    """Empirical Bayes: the prior strength ``lam`` in ``lam_range`` of largest evidence, and that evidence,
    for every ``alpha`` of the problem: ``(lam*, evidence)``.  One integration path serves every
    ``lam``: the integrand of :func:`evidence` on ``n_grid`` points of ``s = log(lam' / lam_min)`` up to
    ``log(lam_max / lam_min) + S_MAX`` (a cubic spline between them), the evidence at ``lam`` its integral
    from ``s(lam)``, maximised by a bounded scalar search on the spline (to about 1e-4 relative in lam)."""
    from scipy.interpolate import CubicSpline

    lo, hi = (float(v) for v in lam_range)
    if not (0 < lo < hi < np.inf):
        raise ValueError(f"empirical_bayes: lam_range must be 0 < lo < hi < inf, got {lam_range!r}")
    g = GibbsPosterior(loss, lo, beta)
    top = np.log(hi / lo) + S_MAX
    s = np.linspace(0.0, top, n_grid)
    vals = _path_integrand(problem, g.loss, beta, lo, s, tol)  # (n_grid, N)
    scalar = np.ndim(problem.alpha) == 0
    lam_star, ev = [], []
    for j in range(vals.shape[1]):
        sp = CubicSpline(s, vals[:, j])
        anti = sp.antiderivative()
        tail = vals[-1, j]  # the e^-s tail beyond the last point, as in evidence()
        pj = problem if scalar else problem.at(alpha=float(np.asarray(problem.alpha)[j]))
        f = lambda x: -float(_from_integral(pj, g.loss, beta, anti(top) - anti(x) + tail))
        res = optimize.minimize_scalar(f, bounds=(0.0, np.log(hi / lo)), method="bounded", options={"xatol": 1e-6})
        if min(res.x, np.log(hi / lo) - res.x) < 1e-3:  # a maximum on the boundary is no maximum
            a = float(np.asarray(problem.alpha).reshape(-1)[j])
            raise ValueError(f"empirical_bayes: at alpha = {a:g} the evidence is largest at the end of "
                             f"lam_range={lam_range!r} (lam = {lo * np.exp(res.x):.4g}, evidence {-res.fun:.8g}); "
                             f"widen the range")
        lam_star.append(lo * np.exp(res.x))
        ev.append(-res.fun)
    lam_star, ev = np.array(lam_star), np.array(ev)
    return (float(lam_star[0]), float(ev[0])) if scalar else (lam_star, ev)

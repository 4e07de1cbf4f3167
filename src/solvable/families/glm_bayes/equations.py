"""Bayes-optimal generalized linear models: replica formula, state evolution of GAMP,
phase transitions.

Model (docs/conventions.md): ``theta_i ~ P0`` i.i.d., ``x ~ N(0, I_d)``,
``z = theta . x / sqrt(d)`` (``Var z = rho = E theta^2``), ``y ~ P_out(. | z)``,
``n = alpha d``.

Replica-symmetric free entropy (Barbier, Krzakala, Macris, Miolane & Zdeborova, PNAS 116,
5451 (2019), eqs. (6)-(8); Zdeborova & Krzakala, Adv. Phys. 65, 453 (2016), eq. (97)):

    phi(q, qhat) = psi_P0(qhat) - q qhat / 2 + alpha psi_out(q),
    psi_P0(qhat) = E log Z0(qhat x0 + sqrt(qhat) xi, qhat)          (prior.free_entropy_term)
    psi_out(q)   = E log Z_out(y, omega, rho - q),  omega ~ N(0, q),
                   z | omega ~ N(omega, rho - q),  y ~ P_out(. | z).

Its stationary points are the fixed points of state evolution (the Nishimori form,
PNAS 2019 eq. (9); Rangan, ISIT 2011, for GAMP):

    qhat = alpha E[gout(y, omega, rho - q)^2],      q = E[x0 E(x | B = qhat x0 + sqrt(qhat) xi)].

We iterate in the variable ``E = rho - q`` (the MSE), floored at ``1e-13 rho`` so that
perfect-recovery branches are represented without underflow.  The Bayes-optimal
prediction is the stable fixed point of largest free entropy among the branches reached
from an uninformative start (``q0 = overlap(qhat0)``, ``qhat0 = 1e-6``: the prior mean
plus a vanishing amount of side information, which breaks the symmetric fixed point
``q = 0`` of phase retrieval) and from an informative start (``E = 1e-13 rho``).

Mutual information (PNAS 2019, eq. (3) and Thm. 1):
``I(theta; y | X) / d = -phi + alpha E_z E_{y|z} log P_out(y | z)``: it is ``+inf`` for
noiseless continuous channels (Linear/ReLU/Abs/Square at noise 0), and ``-phi`` for the
noiseless sign channel.

Noiseless continuous channels: ``phi`` diverges like ``-(c alpha - d_P) / 2 log E`` as
``E -> 0``, with ``d_P`` the Renyi information dimension of the prior (1 Gaussian, rho for
Gauss-Bernoulli, 0 discrete) and ``c = lim E E[gout^2]`` the fraction of informative outputs
(1; 1/2 for ReLU).  A perfect-recovery branch therefore has ``phi = +inf`` if
``c alpha > d_P`` and ``-inf`` otherwise (Wu & Verdu, IEEE TIT 2012; Krzakala et al.,
PRX 2, 021005 (2012): ``alpha_IT = rho`` for noiseless compressed sensing).

Test errors (PNAS 2019, sec. "Generalization error"): the Bayes posterior of a new local
field is ``z ~ N(omega, rho - q)`` with ``omega ~ N(0, q)``; the Bayes classifier predicts
``argmax_y Z_out(y, omega, rho - q)``, so ``test_error = 1 - E_omega max_y Z_out``; for
regression the Bayes prediction is ``E[y | omega] = E_{z ~ N(omega, V)} phi(z)`` (``phi`` the conditional
mean ``E[y | z]``) and ``test_error = E y^2 - E_omega (E[y | omega])^2`` (``E y^2`` from the channel's
:meth:`~solvable.blocks.channels.Channel.label_moments`: ``E phi(z)^2 + noise`` for additive noise).
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from solvable.blocks.channels import Channel
from solvable.blocks.learners import AMP, BayesOptimal
from solvable.numerics.fixed_point import ConvergenceWarning, solve_fixed_point
from solvable.numerics.gauss import composite_legendre_nodes, gauss_expect, hermite_rule, legendre_rule
from solvable.numerics.interpolate import ChebyshevPanels
from solvable.numerics.special import log_Phi
from solvable.blocks.priors import Prior
from solvable.blocks.problems import GLM
from solvable.core.results import Prediction
from solvable.core.transitions import FixedPointFamily, branches, locate_transitions, refine_switch

__all__ = ["GLMEquations", "glm_family", "state_evolution", "glm_phase_transitions", "information_dimension"]

E_FLOOR = 1e-13  # relative to rho: smallest MSE represented
PERFECT_TOL = 1e-9  # relative MSE below which a branch is "perfect recovery"
QHAT_MAX = 1e15
SQUARE_DIRECT = 160  # overlaps a computation integrates directly before the noisy Square interpolant
RTOL = 1e-6  # a fixed point also needs |step| <= RTOL (E - E_floor): slow approaches to E = 0 are not cut short
QHAT0 = 1e-6  # side information of the uninformative start
_CS = np.array([-20.0, -6.0, -2.0, -0.5, 0.5, 2.0, 6.0, 20.0])  # boundary-layer breakpoints / sqrt(V + noise)
_FIX = np.array([-6.0, -3.0, -1.5, 1.5, 3.0, 6.0])  # breakpoints / std of the integration variable


# ---------------------------------------------------------------------------------------------
# Noisy ReLU / Abs / Square channels: the local field integrated out (closed form; 1D rule for
# Square), 2D (omega, y) quadrature, and a piecewise Chebyshev interpolant in sqrt(V) shared by
# every call with the same channel noise and rho.
_LOG_SQRT2PI = 0.5 * np.log(2.0 * np.pi)
_PL_OMEGA_CUTS = np.array([1.5, 3.0, 5.0])  # std of omega
_PL_Y0_CUTS = np.array([0.0, -2.0, 2.0, -5.0, 5.0])  # sqrt(noise), around y = 0
_PL_BULK_CUTS = np.array([0.0, -1.0, 1.0, -2.5, 2.5, -5.0, 5.0])  # sqrt(V + noise), around |omega|
# Square's z rule: the law N(omega, V) of z out to 9 std (its tail beyond 5 std, 5.7e-7 of the
# mass, left to the next 8 nodes cost G ~3e-7 relative near perfect recovery)
_SQ_Z_CUTS = np.array([0.0, -2.0, 2.0, -5.0, 5.0, -7.0, 7.0, -9.0, 9.0])
# Square: std of y given omega, around its mean (out to 9 std: the tails weigh (y - omega^2)^2 in G)
_PL_SQUARE_CUTS = np.array([0.0, -1.0, 1.0, -2.5, 2.5, -4.0, 4.0, -5.5, 5.5, -7.0, 7.0, -9.0, 9.0])


def _legendre_pieces(edges, n):
    """Composite Gauss-Legendre on the pieces between sorted ``edges`` (``... + (P + 1,)``):
    nodes and weights of shape ``... + (P n,)``."""
    x, w = legendre_rule(n)
    a, b = edges[..., :-1], edges[..., 1:]
    h = 0.5 * (b - a)
    t = (0.5 * (a + b))[..., None] + h[..., None] * x
    shape = edges.shape[:-1] + ((edges.shape[-1] - 1) * n,)
    return t.reshape(shape), (h[..., None] * w).reshape(shape)


def _pl_noisy_moments(kind, D, y, om, V):
    """``(log Z_out, gout)`` of ``y = phi(z) + sqrt(D) xi`` with ``phi`` = ReLU or Abs, ``D > 0``.

    ``Z_out(y | omega, V) = int dz N(z; omega, V) N(y; phi(z), D)`` is a sum of two terms, one
    per linear piece of ``phi``, each a Gaussian in ``y`` times a normal CDF (derived here by
    completing the square in ``z``; checked against ``channel.output_moments`` and nested
    adaptive quadrature in tests/test_glm_bayes.py):

        ReLU: Z = Phi(-omega / sqrt V) N(y; 0, D) + N(y; omega, V + D) Phi(t_+),
        Abs:  Z = N(y; omega, V + D) Phi(t_+) + N(y; -omega, V + D) Phi(t_-),
        t_+- = (y V +- omega D) / ((V + D) sqrt(v)),   v = V D / (V + D),

    and ``gout = d_omega log Z`` is the posterior-weighted mix of the terms' log-derivatives
    (``d_omega log Phi(t) = (dt / d omega) phi(t) / Phi(t)``).  Same values as
    ``channel.output_moments`` (to rounding), without the posterior variance."""
    s2 = V + D
    sv = np.sqrt(V * D / s2)
    c = (D / s2) / sv
    if kind == "relu":
        sV = np.sqrt(V)
        a = -om / sV
        la = log_Phi(a)
        l1 = la - 0.5 * y * y / D - 0.5 * np.log(D) - _LOG_SQRT2PI
        g1 = -np.exp(-0.5 * a * a - _LOG_SQRT2PI - la) / sV
        t = (om * D + y * V) / (s2 * sv)
        lt = log_Phi(t)
        l2 = lt - 0.5 * (y - om) ** 2 / s2 - 0.5 * np.log(s2) - _LOG_SQRT2PI
        g2 = (y - om) / s2 + c * np.exp(-0.5 * t * t - _LOG_SQRT2PI - lt)
    else:
        tp = (y * V + om * D) / (s2 * sv)
        tm = (y * V - om * D) / (s2 * sv)
        lp, lm = log_Phi(tp), log_Phi(tm)
        l1 = lp - 0.5 * (y - om) ** 2 / s2 - 0.5 * np.log(s2) - _LOG_SQRT2PI
        l2 = lm - 0.5 * (y + om) ** 2 / s2 - 0.5 * np.log(s2) - _LOG_SQRT2PI
        g1 = (y - om) / s2 + c * np.exp(-0.5 * tp * tp - _LOG_SQRT2PI - lp)
        g2 = -(y + om) / s2 - c * np.exp(-0.5 * tm * tm - _LOG_SQRT2PI - lm)
    lz = np.logaddexp(l1, l2)
    return lz, g2 + np.exp(l1 - lz) * (g1 - g2)



def _square_noisy_moments(D, y, om, V, n=8):
    """``(log Z_out, gout)`` of ``y = z^2 + sqrt(D) xi``, ``D > 0``:
    ``Z_out = int dz N(z; omega, V) N(y; z^2, D)`` and ``E[z | y, omega]`` by composite
    Gauss-Legendre in ``|z|`` over ``|z^2 - y| < 9 sqrt(D)`` (both signs of ``z`` on the same
    nodes), cut at ``z^2 = y + (0, +-2, +-4) sqrt(D)`` and ``|z| = |omega + (0, +-2, +-5, +-7, +-9)
    sqrt(V)|``; ``gout`` is a blend of two exact forms (below) that keeps it accurate at ``V << D``
    (near perfect recovery).  8 nodes per piece agree with 16-24 to ~1e-9 in the integrated ``G``,
    ``psi`` from ``V = 1e-10`` to ``V = rho`` (tests/test_glm_bayes.py)."""
    sd = np.sqrt(D)
    y, om, V = y[..., None], om[..., None], V[..., None]
    zlo = np.sqrt(np.maximum(y - 9 * sd, 0.0))
    zhi = np.sqrt(y + 9 * sd)
    cz = np.sqrt(np.maximum(y + sd * np.array([-4.0, -2.0, 0.0, 2.0, 4.0]), 0.0))
    cw = np.abs(om + np.sqrt(V) * _SQ_Z_CUTS)
    lead = np.broadcast_shapes(cz.shape[:-1], cw.shape[:-1])
    cuts = np.clip(np.concatenate([np.broadcast_to(cz, lead + cz.shape[-1:]),
                                   np.broadcast_to(cw, lead + cw.shape[-1:])], -1), zlo, zhi)
    ends = lead + (1,)
    r, wr = _legendre_pieces(np.sort(np.concatenate([np.broadcast_to(zlo, ends), cuts, np.broadcast_to(zhi, ends)], -1), -1), n)
    lik = -0.5 * ((r * r - y) / sd) ** 2 - 0.5 * np.log(D * V) - 2 * _LOG_SQRT2PI
    lp = lik - 0.5 * (r - om) ** 2 / V
    lm = lik - 0.5 * (r + om) ** 2 / V
    mx = np.maximum(lp.max(-1, keepdims=True), lm.max(-1, keepdims=True))
    ep, em = np.exp(lp - mx), np.exp(lm - mx)
    Z = np.sum(wr * (ep + em), -1)
    # gout = E[z - omega | y] / V, and by Stein's lemma also E[d_z log N(y; z^2, D) | y] =
    # E[2 z (y - z^2) / D | y].  The first integrates an odd function of z - omega whose integral
    # is O(V) times its size (at V = 1e-4, D = 6.7e-3 it lost 1e-4 relative: issue 13), the second
    # one of y - z^2, cancelling at V >> D; blended with the weight D / (D + V) on the second.
    Vb = V[..., 0]
    lam = D / (D + Vb)
    Md = np.sum(wr * ((r - om) * ep - (r + om) * em), -1) / Vb
    Ms = np.sum(wr * (2.0 * r * (y - r * r) / D) * (ep - em), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lz = np.log(Z) + mx[..., 0]
        g = np.where(Z > 0, (lam * Ms + (1.0 - lam) * Md) / Z, 0.0)
    return lz, g

def _pl_noisy_expect(kind, D, rho, q, n=8):
    """``(E gout^2, E log Z_out)`` over ``omega ~ N(0, q)``, ``y ~ Z_out(. | omega, rho - q)``
    for noisy ReLU / Abs / Square (1D arrays ``q``): the local field is integrated out
    analytically (:func:`_pl_noisy_moments`; for Square by the 1D rule
    :func:`_square_noisy_moments`), leaving a 2D composite Gauss-Legendre rule.  Square's ``y``
    is cut at 0, ``+-(2, 5) sqrt(D)`` and ``(|omega| + (0, +-1, +-2.5, +-5) sqrt(V))^2``, over
    ``[-9 sqrt(D), (|omega| + 9 sqrt(V))^2 + 9 sqrt(D)]``; Square(0.1) at ``q = 0.5``: ``G``
    0.89969380 (adaptive nested quadrature 0.899693805, the former 3D rule 0.89953316).

    ``omega`` (in units of ``sqrt q``, on ``[-9, 9]``; ``[0, 9]`` for the even Abs channel) is
    split at 0, at ``(1, 4) sqrt(V)`` and ``(1, 4) sqrt(V + D)`` (where ``P(z < 0 | omega)``
    and the law of ``y`` change) and at 1.5, 3, 5 std; ``y`` (over ``9 sqrt(V + D)`` beyond
    the bulk, ``9 sqrt(D)`` below 0) at 0, ``+-(2, 5) sqrt(D)``, the bulk ``|omega| + (0, +-1,
    +-2.5, +-5) sqrt(V + D)`` and the posterior's ``z = 0`` edge ``y = -+omega D / V`` (``t = 0``,
    width ``sqrt(V + D) sqrt(D / V)``).  ``n`` nodes per piece; accuracy (``G`` ~3e-8 relative,
    ``psi`` ~1e-8 absolute at ``n = 8``) measured against
    nested adaptive quadrature in tests/test_glm_bayes.py."""
    q = np.asarray(q, float)
    V = rho - q
    s = np.sqrt(V + D)
    sd = np.sqrt(D)
    W, Y = 9.0, 9.0
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(q)
        scales = np.concatenate([s[:, None] * np.array([1.0, 4.0]), np.sqrt(V)[:, None] * np.array([1.0, 4.0])], -1)
        bw = np.where(q[:, None] > 0, scales / sq[:, None], W)
    even = kind != "relu"
    bu = np.concatenate([bw, np.broadcast_to(_PL_OMEGA_CUTS, q.shape + _PL_OMEGA_CUTS.shape)], -1)
    Wc = np.full(q.shape + (1,), W)
    bu = np.concatenate([0 * Wc, bu, Wc] if even else [-Wc, -bu, 0 * Wc, bu, Wc], -1)
    u, wu = _legendre_pieces(np.sort(np.clip(bu, -W, W), -1), n)
    wu = wu * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi) * (2.0 if even else 1.0)
    om = sq[:, None] * u
    S = s[:, None, None]
    ws = S * np.sqrt(D / V)[:, None, None]
    ystar = -om[..., None] * (D / V)[:, None, None]
    near0 = np.broadcast_to(_PL_Y0_CUTS * sd, om.shape + _PL_Y0_CUTS.shape)
    edge = np.array([0.0, -3.0, 3.0])
    if kind == "relu":
        lo, hi = np.full(om.shape, -Y * sd), np.maximum(Y * sd, om + Y * s[:, None])  # y >= sqrt(D) xi
        cy = np.concatenate([near0, om[..., None] + S * _PL_BULK_CUTS, ystar + ws * edge], -1)
    elif kind == "abs":
        a = np.abs(om)
        lo, hi = np.full(om.shape, -Y * sd), a + Y * s[:, None]
        cy = np.concatenate([near0, a[..., None] + S * _PL_BULK_CUTS,
                             ystar + ws * edge, -ystar + ws * edge], -1)
    else:  # square: y = z^2 + noise, z ~ N(omega, V); bulk at (|omega| + k sqrt(V))^2
        a = np.abs(om)
        sV = np.sqrt(V)[:, None]
        lo, hi = np.full(om.shape, -Y * sd), (a + Y * sV) ** 2 + Y * sd
        # the law of y given omega: mean omega^2 + V, std sqrt(4 omega^2 V + 2 V^2 + D); at V << D it
        # is N(omega^2, D), whose bulk the z-scale cuts alone left to 8 nodes over [5 sqrt(D), omega^2]
        # (issue 13: G 6% off at V = 1e-6 rho, D = 0.0067, i.e. near perfect recovery)
        sy = np.sqrt(4 * om * om * V[:, None] + 2 * (V * V)[:, None] + D)
        cy = np.concatenate([near0, np.maximum(a[..., None] + sV[..., None] * _PL_BULK_CUTS, 0.0) ** 2,
                             (om * om + V[:, None])[..., None] + sy[..., None] * _PL_SQUARE_CUTS], -1)
    e = np.concatenate([lo[..., None], np.clip(cy, lo[..., None], hi[..., None]), hi[..., None]], -1)
    y, wy = _legendre_pieces(np.sort(e, -1), n)
    if kind == "square":
        lz, g = _square_noisy_moments(D, y, np.broadcast_to(om[..., None], y.shape), np.broadcast_to(V[:, None, None], y.shape))
    else:
        lz, g = _pl_noisy_moments(kind, D, y, om[..., None], V[:, None, None])
    Z = np.exp(lz)
    ww = wy * wu[..., None]
    pos = Z > 0  # Z underflows far out in the tails (Square at small V): those nodes weigh nothing
    with np.errstate(invalid="ignore"):  # 0 * log 0 at those nodes, masked
        return (np.einsum("qwy,qwy->q", np.where(pos, Z * g * g, 0.0), ww),
                np.einsum("qwy,qwy->q", np.where(pos, Z * lz, 0.0), ww))


def _pl_noisy_expect_chunked(kind, D, rho, q, n=8):
    """:func:`_pl_noisy_expect` over a 1D array ``q`` in chunks that bound the memory of the
    (omega, y[, z]) node blocks (24 overlaps at a time; one for Square's 3D rule)."""
    m = 24 if kind != "square" else 1
    parts = [_pl_noisy_expect(kind, D, rho, q[i:i + m], n=n) for i in range(0, len(q), m)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class _PLInterpolant:
    """Piecewise Chebyshev interpolant (:class:`~solvable.numerics.interpolate.ChebyshevPanels`)
    of ``(G, psi)(q)`` in ``u = sqrt((rho - q) / rho)`` on ``[0, 1]``: a panel is bisected until
    the last two of its 16 Chebyshev coefficients are below ``tol`` times the largest value on
    the panel (at least 1 for ``psi``; local scale: relative accuracy also where ``G -> 0`` at
    ``q -> 0``; for the even Abs / Square channels ``G / q`` is interpolated).  ``u`` rather than
    ``q`` because the kink of ``phi`` makes half-integer powers of ``V`` plausible; the
    coefficients decay geometrically in ``u``.  Features sit at ``u ~ sqrt(D / rho)``, so the
    initial panels are cut at ``(1, 4) sqrt(D / rho)``."""

    def __init__(self, f, rho, D, *, tol=1e-8, max_depth=12, even=False):
        self.rho = rho
        self.even = even

        def fu(u):
            qq = rho * (1.0 - u * u)
            G, psi = f(qq)
            if not (np.all(np.isfinite(G)) and np.all(np.isfinite(psi))):
                raise FloatingPointError("non-finite channel integral while building the interpolant")
            return (G / qq if even else G), psi  # even: G = O(q) at q -> 0, interpolate G / q

        s0 = np.sqrt(D / rho)
        edges = np.unique(np.clip(np.array([0.0, s0, 4 * s0, 1.0]), 0.0, 1.0))
        self.panels = ChebyshevPanels(fu, edges, tol=tol, max_depth=max_depth, scale_floor=(0.0, 1.0))
        self.n_evals = self.panels.n_evals

    def __call__(self, q):
        q = np.asarray(q, float)
        out = self.panels(np.sqrt(np.clip(1.0 - q / self.rho, 0.0, 1.0)))
        if self.even:
            out[0] = out[0] * q
        return out


_PL_CACHE: dict = {}


def _pl_interpolant(kind: str, D: float, rho: float, n: int | None = None) -> _PLInterpolant:
    """The cached interpolant of ``(G, psi)(q)`` for a noisy ReLU / Abs / Square channel.  ``n`` nodes per
    piece of the (omega, y) rule: 8, or 12 for ``D < 1e-3 rho`` (the steps of the posterior at
    ``z = 0`` get sharper: measured errors at ``D = 1e-4 rho`` ~2e-6 with 8, ~5e-7 with 12)."""
    if n is None:
        n = 8 if D >= 1e-3 * rho or kind == "square" else 12
    key = (kind, float(D), float(rho), int(n))
    hit = _PL_CACHE.get(key)
    if hit is None:
        if len(_PL_CACHE) > 32:
            _PL_CACHE.clear()
        f = lambda q: _pl_noisy_expect_chunked(kind, D, rho, q, n=n)
        # Square: each evaluation has an inner z integral (~0.1 s); a looser panel tolerance keeps
        # the build to ~250 evaluations (~40 s, once per noise and rho)
        hit = _PL_CACHE[key] = _PLInterpolant(f, rho, D, even=kind != "relu", tol=1e-7 if kind == "square" else 1e-8)
    return hit


def information_dimension(prior: Prior) -> float:
    """Renyi information dimension ``d_P = lim_{s -> inf} s mmse(s)`` of the prior (Wu & Verdu 2012):
    1 for a Gaussian, the non-zero fraction for Gauss-Bernoulli, 0 for discrete priors
    (:meth:`~solvable.blocks.priors.Prior.information_dimension`)."""
    return prior.information_dimension()


class GLMEquations:
    """The scalar integrals of the replica formula for one (prior, channel) pair, vectorised
    over arrays of overlaps ``q`` (and ``alpha``).

    ``n_z``/``n_w``/``n_y``: quadrature nodes (per Legendre piece for the local field, Hermite
    for the inner field and the output noise) of the generic 3D rule; noisy ReLU / Abs /
    Square use the 2D rule and interpolant of ``_pl_interpolant`` instead (cached per noise
    and rho).
    """

    def __init__(self, prior: Prior, channel: Channel, *, n_z: int = 10, n_w: int = 12, n_y: int = 8, n_prior: int = 80):
        self.prior, self.channel = prior, channel
        self.rho = float(prior.second_moment)
        self.mean = float(prior.first_moment)
        self.noise = float(channel.noise)
        self.flip = float(channel.flip)
        if self.noise < 0:
            raise ValueError(f"channel noise must be >= 0, got noise={self.noise!r}")
        self.discrete = bool(channel.is_classification)
        self.linear = bool(channel.is_linear)
        self.noiseless = self.noise == 0 and self.flip == 0
        self.noiseless_continuous = self.noiseless and not self.discrete
        self.n_z, self.n_w, self.n_y, self.n_prior = n_z, n_w, n_y, n_prior
        if self.discrete:
            ys, _ = channel.y_given_z(np.zeros(1))
            self.labels = np.unique(ys)
        self.d_P = information_dimension(prior) if self.noiseless_continuous else None
        self.c_out = float(channel.informative_fraction)
        self._fold = self.noiseless and bool(channel.folds_sign)
        # noisy ReLU / Abs / Square: local field integrated out (closed form; 1D for Square),
        # 2D (omega, y) rule, interpolated in q
        self._pl = channel.phi_kind if self.noise > 0 else None
        # noisy Square: each overlap costs a 3D rule (~0.1 s) and the interpolant ~100-250 of them,
        # so the first SQUARE_DIRECT overlaps of a computation are integrated directly (a single
        # point's state evolution needs 20-100: 2-16 s instead of a 20-40 s build), the rest
        # interpolated (curves, transition scans)
        self._pl_direct_left = SQUARE_DIRECT if self._pl == "square" else 0
        self._cache: dict = {}  # channel integrals at the last few arrays of overlaps (they depend on q only)

    # ---------------------------------------------------------------- channel integrals
    def _expect_discrete(self, q, what):
        """E over omega ~ N(0, q) of sum_y Z_out(y, omega, V) h(y, omega): 1D Legendre with a
        boundary layer of width sqrt(V + noise) around omega = 0 (the sign kink)."""
        V = self.rho - q
        s = np.sqrt(V + self.noise)
        bp = np.concatenate([np.zeros(q.shape + (1,)), s[..., None] * _CS, np.sqrt(q)[..., None] * _FIX], axis=-1)
        labels = self.labels
        if self.channel.sign_symmetric and "correct" not in what:
            # P(y | z) = P(-y | -z) and the omega grid is symmetric: the y = -1 term equals the
            # y = +1 term at -omega, so sum_y = 2 x (y = +1 term) under E_omega
            labels = np.array([1.0])

        def f(w):
            Vb = V[..., None]
            lz = []
            gs = []
            for y in labels:
                logZ, g, _ = self.channel.output_moments(np.full_like(w, y), w, Vb)
                lz.append(logZ)
                gs.append(g)
            lz, gs = np.stack(lz), np.stack(gs)
            Z = np.exp(lz)
            out = []
            for k in what:
                if k == "G":
                    out.append(np.sum(Z * gs * gs, axis=0))
                elif k == "psi":
                    out.append(np.sum(np.where(Z > 0, Z * lz, 0.0), axis=0))
                elif k == "correct":
                    out.append(np.max(Z, axis=0))
            return np.stack(out)

        vals = gauss_expect(f, 0.0, q, method="legendre", breakpoints=bp, n=self.n_z)
        if len(labels) == 1:
            vals = 2.0 * vals
        return dict(zip(what, vals))

    def _expect_continuous(self, q, what):
        """E over (z, omega) (var z = rho, cov = var omega = q) and y | z of h(y, omega):
        the local field z outer (Legendre, split at the channel's kinks and at a boundary
        layer of width sqrt(V + noise)), omega | z ~ N(q z / rho, q V / rho) inner (Hermite),
        the output noise by Hermite (``channel.y_given_z``)."""
        rho = self.rho
        V = self.rho - q
        s = np.sqrt(V + self.noise)
        kinks = np.array(sorted(set((0.0,) + tuple(self.channel.kinks))))
        bp = np.concatenate([np.broadcast_to(kinks, q.shape + kinks.shape), (s[..., None] * _CS),
                             np.full(q.shape + _FIX.shape, np.sqrt(rho) * _FIX)], axis=-1)
        u, wu = composite_legendre_nodes(np.zeros_like(q), np.full_like(q, np.sqrt(rho)), bp, self.n_z, 12.0)
        z = np.sqrt(rho) * u  # grid + (Nz,)
        v, wv = hermite_rule(self.n_w)
        om = (q / rho)[..., None, None] * z[..., None] + np.sqrt(q * V / rho)[..., None, None] * v  # grid+(Nz,nw)
        ys, wy = self.channel.y_given_z(z, n=self.n_y)  # grid + (Nz, m)
        Y = ys[..., None, :]
        W = om[..., None]
        logZ, g, _ = self.channel.output_moments(Y, W, V[..., None, None, None])
        out = []
        for k in what:
            if k == "G":
                h = g * g
            elif k == "psi":
                h = logZ
            else:
                raise KeyError(k)
            inner = np.einsum("...ijm,j,...im->...i", h, wv, wy)
            out.append(np.sum(inner * wu, axis=-1))
        return dict(zip(what, out))

    def channel_expect(self, q, what=("G",)) -> dict:
        """``{"G": E gout^2, "psi": psi_out, "correct": E max_y Z_out}`` at overlaps ``q``."""
        q = np.asarray(q, dtype=float)
        V = self.rho - q
        if self.linear:
            s2 = V + self.noise
            res = {}
            for k in what:
                if k == "G":
                    res[k] = 1.0 / s2
                elif k == "psi":
                    res[k] = -0.5 * np.log(2 * np.pi * s2) - 0.5
            return res
        key = (q.shape, q.tobytes())
        hit = self._cache.get(key)
        need = tuple(k for k in what if hit is None or k not in hit)
        res = dict(hit or {})
        if need:
            res.update(self._channel_expect(q, need))
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[key] = res
        return {k: res[k].copy() for k in what}

    def _channel_expect(self, q, what):
        if self.discrete:
            return self._expect_discrete(q, what)
        if self._pl is not None and ("G" in what or "psi" in what):
            if 0 < q.size <= self._pl_direct_left:
                self._pl_direct_left -= q.size
                G, psi = (v.reshape(q.shape) for v in _pl_noisy_expect_chunked(self._pl, self.noise, self.rho, q.reshape(-1)))
            else:
                G, psi = _pl_interpolant(self._pl, self.noise, self.rho)(q)
            res = {k: v for k, v in (("G", np.maximum(G, 0.0)), ("psi", psi)) if k in what}
            rest = tuple(k for k in what if k not in res)
            if rest:
                res.update(self._channel_expect_generic(q, rest))
            return res
        if self._fold and ("G" in what or "psi" in what):
            res = {}
            if "G" in what:
                res["G"] = self._fold_G(q)
            if "psi" in what:  # chunked: a (32 x 48) node block per overlap
                flat = q.reshape(-1)
                res["psi"] = np.concatenate([self._fold_psi(flat[i:i + 2000])
                                             for i in range(0, max(len(flat), 1), 2000)]).reshape(q.shape)
            rest = tuple(k for k in what if k not in ("G", "psi"))
            if rest:
                res.update(self._channel_expect_generic(q, rest))
            return res
        return self._channel_expect_generic(q, what)

    def _fold_G(self, q):
        """``E gout^2`` for the noiseless Abs / Square channels (phase retrieval), reduced to a
        1D integral.  The posterior of ``z`` given ``y`` and ``omega`` is two atoms ``+-|z|``,
        ``gout = (|z| tanh(|z| omega / V) - omega) / V``, and ``gout^2`` is even in ``z``.
        Symmetrising the joint Gaussian density of ``(z, omega)`` under ``z -> -z``
        (its cross term is ``z omega / V``) and using ``E[z^2 + omega^2 - 2 z omega] = V`` gives
        ``V^2 G = V - C E_sym[z^2 sech(z omega / V)]``; in whitened polar coordinates
        (``z = sqrt(V) s``, ``omega = sqrt(q V / rho) t``, ``x = (s^2 + t^2) / 2``)

            V G(q) = 1 - sqrt(V / rho) (2 / pi) int_0^{pi/2} F(c sin(phi)) dphi,   c = sqrt(q / rho),
            F(k) = int_0^inf x e^{-x} sech(k x) dx
                 = [psi_1((1 + k) / (4k)) - psi_1((1 + 3k) / (4k))] / (8 k^2)

        (expanding ``sech`` in ``e^{-(2n+1) k x}``; ``psi_1`` the trigamma function; for
        ``k < 1e-3`` the series ``1 - 3k^2 + 25k^4 - 427k^6``).  The phi integral has a smooth
        integrand on a fixed interval: 32 Gauss-Legendre nodes give ~1e-14 (checked against
        adaptive quadrature, tests/test_glm_bayes.py).  Derivation: this module; the channel
        from Barbier et al., PNAS 2019 (phase retrieval example)."""
        from scipy.special import polygamma

        rho = self.rho
        q, V, c, phi, w = self._fold_nodes(q)
        k = c[..., None] * np.sin(phi)
        small = k < 1e-3
        kl = np.where(small, 1.0, k)
        Fl = (polygamma(1, (1 + kl) / (4 * kl)) - polygamma(1, (1 + 3 * kl) / (4 * kl))) / (8 * kl * kl)
        k2 = k * k
        Fs = 1.0 + k2 * (-3.0 + k2 * (25.0 - 427.0 * k2))
        H = np.einsum("...j,j->...", np.where(small, Fs, Fl), w) * 0.5  # (2/pi) * (pi/4) * sum w F
        with np.errstate(divide="ignore", invalid="ignore"):
            G = (1.0 - np.sqrt(V / rho) * H) / V
        return np.where(q > 0, np.maximum(G, 0.0), 0.0)

    def _fold_nodes(self, q):
        """Shared by :meth:`_fold_G` and :meth:`_fold_psi`: ``q`` clipped to ``[0, rho]``,
        ``V = rho - q``, ``c = sqrt(q / rho)`` and the 32 Gauss-Legendre nodes ``phi`` in
        ``(0, pi/2)`` with their weights (on ``[-1, 1]``)."""
        q = np.clip(np.asarray(q, float), 0.0, self.rho)
        x, w = legendre_rule(32)
        return q, self.rho - q, np.sqrt(q / self.rho), (x + 1.0) * (np.pi / 4), w

    def _fold_psi(self, q):
        """``psi_out(q) = E log Z_out`` for the noiseless Abs / Square channels, reduced as in
        :meth:`_fold_G`.  For Abs ``log Z_out = -log(2 pi V) / 2 - (a^2 + omega^2) / (2V)
        + log 2cosh(a omega / V)`` (``a = |z|``); with ``log 2cosh u = |u| + log(1 + e^{-2|u|})``,
        the bivariate-normal moment ``E|z omega| = (2/pi) sqrt(rho q) (sqrt(1-c^2) + c arcsin c)``
        and ``x = sqrt(V / q)``:

            psi = -log(2 pi V)/2 - 1/2 + 2q/(pi V) (x - arctan x)
                  + sqrt(V/rho) (2/pi) int_0^{pi/2} J(c sin(phi)) dphi,
            J(k) = int_0^inf e^{-u} cosh(k u) log(1 + e^{-2 k u}) du

        (32 Gauss-Legendre x 48 Gauss-Laguerre nodes, ~1e-12).  Square (``y = z^2``) adds the
        Jacobian ``-E log(2|z|) = -log 2 - log(rho)/2 + (gamma + log 2)/2``."""
        rho = self.rho
        q, V, c, phi, wl = self._fold_nodes(q)
        u, wg = np.polynomial.laguerre.laggauss(48)
        y = (c[..., None] * np.sin(phi))[..., None] * u  # grid + (32, 48)
        e = np.exp(-2.0 * y)
        eyL = np.where(y < 30.0, np.exp(np.minimum(y, 30.0)) * np.log1p(e), np.exp(-y) * (1.0 - 0.5 * e))
        J = np.einsum("...ij,i,j->...", 0.5 * eyL * (1.0 + e), wl, wg) * 0.5  # (2/pi) (pi/4) sum
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.sqrt(V / q)
            x2 = x * x
            xat = np.where(x < 1e-2, x * x2 * (1 / 3 - x2 * (1 / 5 - x2 * (1 / 7 - x2 / 9))), x - np.arctan(x))
            mid = np.where(q > 0, 2.0 * q / (np.pi * V) * xat, 0.0)
        psi = -0.5 * np.log(2 * np.pi * V) - 0.5 + mid + np.sqrt(V / rho) * J
        return self.channel.fold_free_entropy(psi, rho)

    def _channel_expect_generic(self, q, what):
        # chunk the grid to bound memory (noisy channels have an output-noise axis too)
        flat = q.reshape(-1)
        per_row = (10 * self.n_z * (len(_CS) + 2)) * self.n_w * (1 if self.noise == 0 else self.n_y)
        if self.channel.phi_kind == "square" and self.noise > 0:
            per_row *= 300
        chunk = max(1, int(4e6 // per_row))
        parts = [self._expect_continuous(flat[i:i + chunk], what) for i in range(0, len(flat), chunk)]
        return {k: np.concatenate([p[k] for p in parts]).reshape(q.shape) for k in what}

    def G(self, q):
        return self.channel_expect(q, ("G",))["G"]

    # ---------------------------------------------------------------- prior integrals
    def prior_overlap(self, qhat):
        """q(qhat) = E[x0 E(x | B)] = E[E(x | B)^2] (:meth:`~solvable.blocks.priors.Prior.se_overlap`)."""
        return self.prior.se_overlap(qhat, n=self.n_prior)

    def prior_mmse(self, qhat):
        """mmse(qhat) = E[Var(x | B)] = rho - q(qhat) (:meth:`~solvable.blocks.priors.Prior.se_mmse`;
        the priors with a closed form or a law of B compute the mean posterior variance, free of
        cancellation when q -> rho: the fold of noiseless compressed sensing at rho = 0.9 sits at
        qhat ~ 100, where ``rho - q`` lost ~1e-2 of the threshold)."""
        return self.prior.se_mmse(qhat, n=self.n_prior)

    def prior_free_entropy(self, qhat):
        """psi_P0(qhat) = E log Z0(B, qhat) (:meth:`~solvable.blocks.priors.Prior.se_free_entropy`)."""
        return self.prior.se_free_entropy(qhat, n=self.n_prior)

    # ---------------------------------------------------------------- state evolution
    def qhat_of(self, alpha, E):
        q = self.rho - E
        return np.minimum(alpha * self.G(q), QHAT_MAX)

    def mse_of_qhat(self, qhat):
        qhat = np.minimum(np.asarray(qhat, float), QHAT_MAX)
        return np.clip(self.prior_mmse(qhat), E_FLOOR * self.rho, self.rho)

    def step(self, alpha, E):
        """One iteration of state evolution on the MSE: ``E -> rho - q(alpha G(rho - E))``."""
        return self.mse_of_qhat(self.qhat_of(alpha, E))

    def perfect_slope(self, alpha) -> np.ndarray:
        """Slope ``lambda(alpha) = lim_{E -> 0} step(alpha, E) / E`` of state evolution at the
        perfect-recovery fixed point ``E = 0``: it is stable iff ``lambda < 1``.

        Linearising ``E -> mmse(alpha G(rho - E))`` at ``E = 0``: ``E G(rho - E) -> c`` (the
        fraction of outputs that reveal ``z``) and ``s mmse(s) -> d_P`` (the prior's information
        dimension, Wu & Verdu, IEEE TIT 58, 3721 (2012)), so ``lambda = d_P / (c alpha)`` for
        noiseless continuous channels and ``lambda = 0`` for noiseless classification
        (``G`` grows faster than ``1/E``; here ``<= 1e-5``, the MSE floor over ``E``).  Neither
        limit is assumed here: the ratio is evaluated with the model's own integrals at
        ``E = (1e-6, 1e-7, 1e-8) rho`` and extrapolated to ``E = 0`` by Aitken's delta-squared
        (the leading correction is a power of ``E``, e.g. ``sqrt(E)`` for ReLU from the ``y = 0`` outputs, ``E`` for Linear + Gaussian);
        for Gaussian x noiseless ReLU this gives ``lambda(2) - 1 = -2.6e-8`` (Gaussian x Linear:
        ``lambda(1) - 1 = 5e-9``)."""
        a = np.atleast_1d(np.asarray(alpha, float))
        Es = self.rho * np.array([1e-6, 1e-7, 1e-8])
        r = self.step(a[:, None], np.broadcast_to(Es, (len(a), 3))) / Es
        d1, d2 = r[:, 1] - r[:, 0], r[:, 2] - r[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ext = r[:, 2] + d2 * d2 / (d1 - d2)
        # geometric corrections only (same sign, shrinking); else the last ratio
        ok = (d1 * d2 > 0) & (np.abs(d2) < np.abs(d1)) & np.isfinite(ext)
        return np.where(ok, ext, r[:, 2]).reshape(np.shape(alpha))

    def E_uninformative(self, qhat0: float = QHAT0):
        return float(self.mse_of_qhat(np.asarray(qhat0)))

    # ---------------------------------------------------------------- free entropy etc.
    def is_perfect(self, E):
        return np.asarray(E) <= PERFECT_TOL * self.rho

    def free_entropy(self, alpha, E):
        """phi(q, qhat) at ``q = rho - E``, ``qhat = alpha G(q)`` (PNAS 2019, eq. (6))."""
        alpha, E = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(E, float))
        q = self.rho - E
        ce = self.channel_expect(q, ("G", "psi"))
        qhat = np.minimum(alpha * ce["G"], QHAT_MAX)
        phi = self.prior_free_entropy(qhat) - 0.5 * q * qhat + alpha * ce["psi"]
        if self.noiseless_continuous:
            perfect = self.is_perfect(E)
            phi = np.where(perfect, np.where(self.c_out * alpha > self.d_P, np.inf, -np.inf), phi)
        elif callable(getattr(self.prior, "entropy", None)):
            # a perfect-recovery fixed point of a discrete prior, represented by the floor E_FLOOR:
            # its free entropy is the limit E -> 0, -H(P0) + alpha E log P_out(y|z) (then the mutual
            # information is exactly the prior's entropy).  At E = 1e-13 itself the sign channel's
            # psi_out(q) ~ -sqrt(E) put the mutual information 1.1e-7 alpha above H (issue 13).
            floor = E <= E_FLOOR * self.rho * (1 + 1e-9)
            if np.any(floor):
                phi = np.where(floor, -self.prior.entropy() + alpha * self.channel_log_likelihood(), phi)
        return phi

    def channel_log_likelihood(self) -> float:
        """``E_z E_{y|z} log P_out(y|z)`` (minus the conditional entropy of the output)."""
        if self.discrete:
            if self.noise == 0:
                f = self.flip
                return 0.0 if f == 0 else float(f * np.log(f) + (1 - f) * np.log1p(-f))
            ch = self.channel

            def h(z):
                tot = 0.0
                for y in self.labels:
                    p = ch.prob(y, z)
                    tot = tot + np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
                return tot

            sn = np.sqrt(self.noise)
            return float(gauss_expect(h, 0.0, self.rho, method="legendre", breakpoints=sn * _CS, n=30))
        ent = self.channel.output_entropy(self.rho)
        if ent is not None:  # a channel with its own conditional entropy (a noise mixture: Outliers)
            return -ent
        if self.noise == 0:
            return np.inf
        return float(-0.5 * np.log(2 * np.pi * np.e * self.noise))

    def test_error(self, E):
        """Bayes-optimal test error at MSE ``E`` (0-1 error, or test MSE with noise)."""
        E = np.asarray(E, float)
        q = self.rho - E
        if self.discrete:
            return 1.0 - self.channel_expect(q, ("correct",))["correct"]
        if self.linear:
            return E + self.noise
        ch = self.channel
        kinks = np.array(ch.kinks, dtype=float)
        V = E
        Ey2 = ch.label_moments(self.rho)[1]  # E y^2 (noise included; any channel, the Outliers mixture too)
        s = np.sqrt(V)
        bp = np.concatenate([np.broadcast_to(kinks, q.shape + kinks.shape), s[..., None] * _CS,
                             np.sqrt(q)[..., None] * _FIX], axis=-1)

        def outer(w):  # w: grid + (nodes,)
            Vb = np.broadcast_to(V[..., None], w.shape)
            m = ch.mean_output(w, Vb)
            return m * m

        Em2 = gauss_expect(outer, 0.0, q, method="legendre", breakpoints=bp, n=16)
        return np.maximum(Ey2 - Em2, 0.0)

    def q_zero_is_fixed(self) -> bool:
        """Whether q = 0 is a fixed point of state evolution (zero-mean prior, E gout^2 = 0 at q = 0)."""
        return abs(self.mean) < 1e-14 and float(self.G(np.zeros(1))[0]) < 1e-12

    def weak_recovery_threshold(self) -> float | None:
        """``alpha_WR = 1 / (rho^2 G'(0))`` from the linear stability of q = 0
        (Mondelli & Montanari, FoCM 2019; PNAS 2019 eq. (12)), None if q = 0 is not a fixed point."""
        if not self.q_zero_is_fixed():
            return None
        h = 1e-4 * self.rho
        g1, g2 = self.G(np.array([h, 2 * h]))
        d1 = 2 * g1 / h - g2 / (2 * h)  # Richardson: G(q) = G'(0) q + O(q^2)
        if d1 <= 0:
            return None
        # the prior's overlap at small qhat: q ~ rho^2 qhat (zero mean) -- measured, not assumed
        s = 1e-6
        dq = float(self.prior_overlap(np.array([s]))[0]) / s
        return float(1.0 / (dq * d1))


def glm_family(eq: GLMEquations, *, qhat0: float = QHAT0, max_iter: int = 5000, damping: float = 0.0, tol: float = 1e-11) -> FixedPointFamily:
    """The GLM state evolution as a :class:`FixedPointFamily` in the parameter ``alpha``."""
    rho = eq.rho
    E0 = eq.E_uninformative(qhat0)

    def weak(lo, hi, learner, found):
        a = eq.weak_recovery_threshold()
        if learner == "bayes":
            it = found.get("information_theoretic")
            if it is not None and (a is None or it < a) and eq.q_zero_is_fixed():
                # a first-order jump out of q = 0 before the linear instability
                b = branches(fam, np.array([it * (1 - 1e-6)]))
                if b.overlap_uninformative[0] < 1e-3:
                    a = it
        return a if a is not None and lo <= a <= hi else None

    fam = FixedPointFamily(
        step=lambda a, x: eq.step(a[:, None], x),
        free_entropy=lambda a, x: eq.free_entropy(a, x[:, 0]),
        uninformative=lambda a: np.full((len(a), 1), E0),
        informative=lambda a: np.full((len(a), 1), E_FLOOR * rho),
        overlap=lambda a, x: 1.0 - x[:, 0] / rho,
        lower=E_FLOOR * rho,
        upper=rho,
        weak_recovery=weak,
        perfect_slope=(lambda a: eq.perfect_slope(a)) if eq.noiseless else None,
        damping=damping,
        tol=tol * rho,
        rtol=RTOL,
        max_iter=max_iter,
        same_tol=1e-6,
        perfect_tol=PERFECT_TOL if eq.noiseless else None,
        accelerate=True,
        name=f"GLM state evolution ({type(eq.prior).__name__} prior, {type(eq.channel).__name__} channel)",
        # E -> mmse(alpha G(rho - E)) decreases in alpha: the folds of the fixed-point curve alpha(E)
        saddle_grid=rho * np.geomspace(1e-9, 1.0, 300),
    )
    return fam


def _alphas(problem: GLM) -> tuple[np.ndarray, bool]:
    a = np.atleast_1d(np.asarray(problem.alpha, dtype=float))
    if np.any(~np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"alpha must lie in (0, inf), got alpha={problem.alpha!r}")
    return a, np.ndim(problem.alpha) == 0


def _equations(problem: GLM, quadrature: dict) -> GLMEquations:
    if problem.data is not None:
        raise ValueError("the Bayes-optimal GLM theory covers isotropic Gaussian inputs only (data=None)")
    return GLMEquations(problem.prior, problem.channel, **{k: v for k, v in quadrature.items() if v is not None})


def _fields(eq: GLMEquations, alpha, E, phi=None) -> dict:
    q = eq.rho - E
    qhat = eq.qhat_of(alpha, E)
    if phi is None:
        phi = eq.free_entropy(alpha, E)
    ll = eq.channel_log_likelihood()
    with np.errstate(invalid="ignore"):
        mi = np.where(np.isinf(ll), np.inf, -phi + alpha * (ll if np.isfinite(ll) else 0.0))
    return {
        "alpha": alpha, "rho": eq.rho, "q": q, "m": q, "mse": E, "qhat": qhat,
        "test_error": eq.test_error(E), "free_entropy": phi, "mutual_information": mi,
        **eq.channel.bayes_metrics(q, eq.rho),
    }


def _pack(values: dict, scalar: bool) -> dict:
    if scalar:
        return {k: (float(np.asarray(v).reshape(-1)[0]) if np.ndim(v) else float(v)) for k, v in values.items()}
    return {k: (np.asarray(v, float) if np.ndim(v) else float(v)) for k, v in values.items()}


def _failure(conv, alphas, message) -> dict:
    """``{"failure": message}`` where state evolution did not converge (the driver reports it)."""
    if np.all(conv):
        return {}
    return {"failure": f"{message}: state evolution did not converge at alpha = {np.asarray(alphas)[~np.asarray(conv)]}"}


def predict_bayes_optimal(problem: GLM, learner: BayesOptimal, *, max_iter: int = 5000, tol: float = 1e-11,
                          qhat0: float = QHAT0, n_z: int | None = None, n_w: int | None = None,
                          n_y: int | None = None, n_prior: int | None = None) -> Prediction:
    """Bayes-optimal GLM: the fixed point of largest free entropy (PNAS 2019, Thm. 1).

    Options: ``max_iter`` (default 5000), ``tol`` (1e-11, relative to rho), ``qhat0`` (side
    information of the uninformative start, 1e-6), quadrature sizes ``n_z, n_w, n_y, n_prior``
    (None: the defaults of :class:`GLMEquations`).  Returns q (= m), mse, qhat, test_error,
    free_entropy, mutual_information, alpha, rho; ``branches`` holds both branches
    ("uninformative", "informative") wherever they differ somewhere on the curve.
    """
    alphas, scalar = _alphas(problem)
    eq = _equations(problem, dict(n_z=n_z, n_w=n_w, n_y=n_y, n_prior=n_prior))
    fam = glm_family(eq, qhat0=qhat0, max_iter=max_iter, tol=tol)
    B = branches(fam, alphas)
    conv = np.where(B.select_informative, B.converged_informative, B.converged_uninformative)
    # the fields of each branch are computed once (where the branches differ) and selected
    f_un = _fields(eq, alphas, B.x_uninformative[:, 0], B.phi_uninformative)
    f_in = dict(f_un)
    co = np.any(B.x_informative != B.x_uninformative, axis=1)
    if co.any():
        sub = _fields(eq, alphas[co], B.x_informative[co, 0], B.phi_informative[co])
        for k, v in sub.items():
            if np.ndim(v):
                f_in[k] = np.array(np.broadcast_to(f_un[k], alphas.shape), float)
                f_in[k][co] = v
    sel = B.select_informative
    vals = {k: (np.where(sel, f_in[k], f_un[k]) if np.ndim(f_un[k]) else f_un[k]) for k in f_un}
    brs = {}
    if B.coexist.any():
        for name, fv, cv in (("uninformative", f_un, B.converged_uninformative),
                             ("informative", f_in, B.converged_informative)):
            brs[name] = Prediction(_pack(fv, scalar), problem=problem, learner=learner,
                                   converged=bool(cv[0]) if scalar else cv)
    info = {"selected": np.where(B.select_informative, "informative", "uninformative") if not scalar
            else ("informative" if B.select_informative[0] else "uninformative"),
            "coexist": B.coexist[0] if scalar else B.coexist, **_failure(conv, alphas, fam.name)}
    return Prediction(_pack(vals, scalar), problem=problem, learner=learner,
                      converged=bool(conv[0]) if scalar else conv, branches=brs, info=info)


def state_evolution(eq: GLMEquations, alphas, *, E0, iterations: int, damping: float = 0.0, tol: float | None = None,
                    accelerate: bool = False):
    """Iterate state evolution from ``E0`` for ``iterations`` steps (all alphas at once);
    with ``tol`` rows stop once ``|E_{t+1} - E_t| < tol rho`` and ``|E_{t+1} - E_t| <= RTOL
    (E_t - E_floor)`` (the rule of the branch solver, :func:`glm_family`: a step is small
    relative to the distance from perfect recovery, so a start at ``E = 1e-13 rho`` whose first
    step is ``~1e-12`` is not mistaken for a fixed point; issue 13: Gauss-Bernoulli x ReLU at
    alpha = 0.23 stopped there, mse 2.5e-13 against the fixed point 0.434).  Returns (E history
    list of arrays with NaN after a row stopped, converged flags, number of iterations per row).

    The trajectory of damped AMP, ``E_{t+1} = (1 - damping) F(E_t) + damping E_t``
    (:func:`~solvable.numerics.fixed_point.solve_fixed_point` with ``trajectory=True``).
    ``accelerate`` (only with ``tol``): safeguarded geometric extrapolation of the iterates
    (:func:`~solvable.numerics.fixed_point.safeguarded_aitken`); the fixed point and the stopping rule are unchanged, but
    the history then holds the accelerated iterates and the counts are map evaluations."""
    alphas = np.asarray(alphas, float)
    x0 = np.broadcast_to(np.asarray(E0, float), alphas.shape).reshape(-1, 1)
    acc = accelerate and tol is not None
    res = solve_fixed_point(
        lambda E, a: eq.step(a, E[:, 0])[:, None], x0, batch=True, params=alphas.reshape(-1),
        damping=damping, trajectory=True, tol=None if tol is None else tol * eq.rho, max_iter=int(iterations),
        rtol=0.0 if tol is None else RTOL, rtol_to=None if tol is None else np.full_like(x0, E_FLOOR * eq.rho),
        accelerate="aitken" if acc else None, lower=E_FLOOR * eq.rho if acc else None, upper=eq.rho if acc else None,
        clip="extrapolation", on_fail="ignore", on_nonfinite="propagate", history=True, name="GLM state evolution",
    )
    hist = res.history[:, :, 0].reshape((-1,) + alphas.shape)
    return (res.x[:, 0].reshape(alphas.shape), hist, res.converged.reshape(alphas.shape),
            res.n_iter_rows.reshape(alphas.shape))


def predict_amp(problem: GLM, learner: AMP, *, iterations: int | None = None, qhat0: float = QHAT0,
                q0: float | None = None, accelerate: bool = True, n_z: int | None = None, n_w: int | None = None,
                n_y: int | None = None, n_prior: int | None = None) -> Prediction:
    """State evolution of GAMP (Rangan, ISIT 2011; PNAS 2019 eq. (9)) from the learner's start.

    ``init="uninformative"``: ``q0 = overlap(qhat0)`` (prior mean plus side information
    ``qhat0``, default 1e-6); ``"informative"``: ``E0 = 1e-13 rho``.  Options:
    ``iterations`` (run exactly that many steps, no early stop; the trajectory then has
    ``iterations + 1`` rows; ``converged`` is True, the state after those steps being the result,
    and ``info["at_fixed_point"]`` says whether the last step moved by less than
    ``learner.tol rho``), ``qhat0``, ``q0`` (explicit initial overlap),
    quadrature sizes.  Without ``iterations`` it runs up to ``learner.max_iter`` steps and
    stops at ``|E_{t+1} - E_t| < learner.tol rho``; ``converged`` tells whether it did.
    There the iteration is accelerated by safeguarded geometric extrapolation (same fixed
    point; ``n_iter`` counts map evaluations and the trajectory holds the accelerated
    iterates) unless ``accelerate=False`` (the plain state-evolution trajectory).
    ``trajectory``: DataFrame with columns alpha, iteration, q, m, mse.  ``free_entropy`` and
    ``mutual_information`` are the replica potential evaluated at AMP's fixed point: they are the
    Bayes-optimal ones where AMP reaches the Bayes-optimal fixed point, and elsewhere (the hard
    phase) ``mutual_information`` exceeds the true one, possibly beyond the prior's entropy (e.g.
    Rademacher x Square(0.044) at alpha = 0.64: 0.90 > log 2, where the Bayes-optimal one is log 2).
    """
    alphas, scalar = _alphas(problem)
    eq = _equations(problem, dict(n_z=n_z, n_w=n_w, n_y=n_y, n_prior=n_prior))
    extra = {}
    if learner.init == "informative":
        E0 = E_FLOOR * eq.rho
    elif q0 is not None:
        if not 0 <= q0 <= eq.rho:
            raise ValueError(f"q0 must lie in [0, rho={eq.rho}], got q0={q0!r}")
        E0 = max(eq.rho - q0, E_FLOOR * eq.rho)
    else:
        E0 = eq.E_uninformative(qhat0)
    if iterations is not None:
        if int(iterations) != iterations or iterations < 0:
            raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
        E, hist, conv, n_it = state_evolution(eq, alphas, E0=E0, iterations=int(iterations), damping=learner.damping)
        # the state after exactly `iterations` steps is what was asked for (converged: computed);
        # whether it is a fixed point of state evolution is said separately (issue 13)
        last = hist[-1] - hist[-2] if hist.shape[0] > 1 else np.full(alphas.shape, np.inf)
        extra["at_fixed_point"] = np.abs(last) < learner.tol * eq.rho
        conv = np.ones(alphas.shape, bool)
    else:
        E, hist, conv, n_it = state_evolution(eq, alphas, E0=E0, iterations=learner.max_iter,
                                             damping=learner.damping, tol=learner.tol, accelerate=bool(accelerate))
        extra = _failure(conv, alphas, "GLM AMP state evolution")
    vals = _fields(eq, alphas, E)
    rows = []
    T = hist.shape[0]
    for j, a in enumerate(alphas):
        Ej = hist[:, j]
        keep = np.isfinite(Ej)
        rows.append(pd.DataFrame({"alpha": a, "iteration": np.arange(T)[keep], "q": eq.rho - Ej[keep],
                                  "m": eq.rho - Ej[keep], "mse": Ej[keep]}))
    traj = pd.concat(rows, ignore_index=True)
    vals["n_iter"] = n_it.astype(float)
    return Prediction(_pack(vals, scalar), problem=problem, learner=learner,
                      converged=bool(conv[0]) if scalar else conv, trajectory=traj,
                      info={"E0": E0, **extra})


def glm_phase_transitions(problem: GLM, lo: float, hi: float, *, kind: str = "bayes", n_grid: int = 41,
                          xtol: float = 5e-5, max_iter: int = 4000) -> dict:
    """Thresholds in ``alpha`` over ``[lo, hi]`` (``kind="bayes"`` or ``"algorithmic"`` for AMP),
    located on a grid of ``n_grid`` points refined to ``xtol`` (see :mod:`._transitions`).
    Near a spinodal the uninformative iteration is stopped after ``max_iter`` steps (then it
    still sits on the plateau): the resulting bias is below ``xtol`` for the families tested.
    Continuous transitions to perfect recovery (noiseless channels; e.g. Gaussian x ReLU at 2,
    Gaussian x Linear at 1) are located where the slope of state evolution at ``E = 0``
    (:meth:`GLMEquations.perfect_slope`) crosses 1, to ~1e-7; there all of
    ``information_theoretic``, ``algorithmic`` and ``perfect_recovery`` take that value
    (:func:`._transitions.continuous_perfect_transitions`)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 or not lo < hi:
        raise ValueError(f"alpha range must satisfy 0 < lo < hi < inf, got alpha=({lo}, {hi})")
    eq = _equations(problem, {})
    fam = glm_family(eq, max_iter=max_iter)
    return locate_transitions(fam, lo, hi, learner=kind, n_grid=n_grid, xtol=xtol)


def _transitions(problem: GLM, learner, param: str, rng: tuple[float, float], kind: str) -> dict:
    if param != "alpha":
        raise ValueError(f"GLM phase transitions are located in alpha, got {param}=...")
    lo, hi = rng
    out = glm_phase_transitions(problem, lo, hi, kind=kind)
    it, alg = out.get("information_theoretic"), out.get("algorithmic")
    if it is not None and (alg is None or alg - it > 1e-6 * alg):
        out["order"] = "first"  # a coexistence window: the free entropies cross before AMP succeeds
    elif any(v is not None for v in out.values()):
        out["order"] = "second"
    else:
        out["order"] = None
    return out


def transitions_bayes_optimal(problem: GLM, learner: BayesOptimal, param: str, rng) -> dict:
    """Thresholds of the Bayes-optimal GLM in ``alpha`` (see :mod:`._transitions`)."""
    return _transitions(problem, learner, param, rng, "bayes")


def transitions_amp(problem: GLM, learner: AMP, param: str, rng) -> dict:
    """Thresholds for GAMP: ``algorithmic`` (where it starts to succeed), ``perfect_recovery``
    of the uninformative branch, ``weak_recovery`` (linear instability of q = 0), and the
    problem's ``information_theoretic`` threshold for reference."""
    return _transitions(problem, learner, param, rng, "algorithmic")

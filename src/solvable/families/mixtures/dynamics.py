"""Online SGD of a two-layer network on a Gaussian mixture: the ODEs of the order parameters.

Model (Refinetti, Goldt, Krzakala, Zdeborova, ICML 2021, "Classifying high-dimensional Gaussian
mixtures: where kernel methods fail and neural networks succeed", arXiv:2102.11742, its setup and
the ODEs of its two-layer-network section; equation numbers not checked here: derived anew, the
conventions read in the authors' code, github.com/mariaref/rfvs2lnn_GMM_online, include/iid_Ode.py; the
mixture convention of :mod:`solvable.blocks.data.mixture`): cluster ``a`` (weight ``rho_a``,
label ``y`` with ``P(y | a)`` from :attr:`GaussianMixture.label_table`) draws
``x = mu_a + sqrt(s_a) z`` with O(1)-norm means and scalar variances ``s_a``; the student is
``phi(x) = c sum_k v_k g(lambda_k)``, ``lambda = W x / sqrt(d)``, trained by one-pass SGD on the
square loss ``(y - phi)^2 / 2`` (the update of :class:`~solvable.families.sgd.OnlineSGD`:
``w_k += (lr / sqrt d) c v_k g'(lambda_k) Delta x``, ``Delta = y - phi``, and
``v_k += (lr_v / d) c g(lambda_k) Delta`` if the second layer is trained).

Order parameters: ``Q = W W^T / d`` and ``M_{k b} = w_k . mu_b / sqrt(d)`` (one column per
cluster), and ``v``.  In cluster ``a`` the local fields are exactly Gaussian,
``lambda ~ N(M[:, a], s_a Q)``, and the projection ``nu_b = x . mu_b`` of the input on a mean is
jointly Gaussian with them (mean ``G_ab = mu_a . mu_b``, ``Cov(nu_b, lambda) = s_a M[:, b]``).
Writing ``lambda = M[:, a] + sqrt(s_a) L xi`` (``L L^T = Q``, ``xi ~ N(0, I_K)``), the regression
``E[nu_b | xi] = G_ab + sqrt(s_a) (L^+ M[:, b]) . xi`` reduces every expectation to K
dimensions.  With ``t = steps / d`` and ``d -> infinity`` (Refinetti et al. 2021, the
ODEs of its two-layer-network section; Saad & Solla 1995 for the structure; the ``s_a`` in the quadratic term is
``|x|^2 / d -> s_a``):

    dM_kb/dt = lr c v_k sum_a rho_a E_a[g'(lambda_k) Delta nu_b]                    - lr wd M_kb
    dQ_kl/dt = lr c sum_a rho_a (v_k E_a[g'_k Delta lambda_l] + v_l E_a[g'_l Delta lambda_k])
               + (lr^2 c^2 / B) v_k v_l sum_a rho_a s_a E_a[g'_k g'_l Delta^2]          - 2 lr wd Q_kl
    dv_k/dt  = lr_v c sum_a rho_a E_a[g(lambda_k) Delta]            (trained second layer only)

(``E_a[Delta | lambda] = ybar_a - phi``, ``E_a[Delta^2 | lambda] = 1 - 2 ybar_a phi + phi^2``,
``ybar_a = E[y | a]``: label noise and random labels enter through them.)

Metrics, exact given the order parameters: ``test_error = sum_a rho_a sum_y P(y | a)
P_a(y phi <= 0)`` (the 0-1 error of ``sign(phi)``; ``phi = 0``, e.g. every ReLU unit off, counts
as an error) and ``mse = E[(y - phi)^2]``.  The same functions
(:func:`sgd_mixture_metrics`) give the errors of a finite-d run from its measured overlaps.

Numerics (deterministic, no Monte Carlo): the K-dimensional Gaussian expectations are tensor
Gauss-Hermite rules in the whitened coordinates ``xi``.  The whitening is ``L = Q^{1/2} H`` with
``H`` the reflection sending ``e_1`` to ``sign(v)/sqrt(K)``, so that every unit loads on ``xi_1``
and, for increasing activations, moves along it in the direction that raises ``phi`` (a line
``xi_1`` then crosses the decision boundary transversally; with ``e_1 -> (1, ..., 1)/sqrt(K)`` and
``v = (1, 1, -1, -1)`` the lines ran parallel to it and the 0-1 error was 1e-2 off).  Kinked activations (ReLU, sign) integrate ``xi_1`` line by line with Gauss-Legendre
pieces split where a unit crosses its kink (exact up to the rule's order on each smooth piece),
the other ``K - 1`` coordinates by Gauss-Hermite.  The 0-1 error integrates ``xi_1`` exactly
along each line (the sign changes of ``phi`` located on a grid of [-8, 8] and refined by
bisection) and the other coordinates by Gauss-Hermite.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import ndtr

from solvable.core.contract import Dynamics, DynamicsOptions
from solvable.numerics.gauss import composite_legendre_nodes, hermite_rule

__all__ = ["MixtureSGD", "MixtureSGDOptions", "sgd_mixture_metrics", "sgd_mixture_rhs", "sgd_mixture_fields",
           "check_sgd_mixture"]

_T = 8.0  # the xi_1 lines run over [-T, T]: the tails carry Phi(-8) = 6e-16
_SQRT2PI = np.sqrt(2.0 * np.pi)


# --------------------------------------------------------------------------- validation
def check_sgd_mixture(problem, learner) -> None:
    """The inputs the ODEs and the simulation support (clear errors naming the value)."""
    from solvable.families.mixtures.problem import GaussianMixture
    from solvable.families.sgd.learner import OnlineSGD

    if not isinstance(problem, GaussianMixture):
        raise ValueError(f"online SGD on a mixture: the problem must be a GaussianMixture, got {problem!r}")
    if not isinstance(learner, OnlineSGD):
        raise ValueError(f"GaussianMixture + online SGD: the learner must be OnlineSGD, got {learner!r}")
    mix = problem.data
    if mix.kind != "scalar":
        raise ValueError(f"GaussianMixture + OnlineSGD: only scalar cluster covariances (Sigma_a = s_a I) are "
                         f"implemented, got covariances of kind {mix.kind!r} (shape {mix.covariances.shape})")
    if problem.labels == "cluster" and not mix.is_binary:
        raise ValueError(f"GaussianMixture + OnlineSGD: the mixture needs +-1 cluster labels, got labels={mix.labels!r}")
    if learner.spherical:
        raise ValueError("GaussianMixture + OnlineSGD: spherical=True is not implemented on mixtures")
    if not (np.isfinite(learner.lr) and learner.lr > 0):
        raise ValueError(f"GaussianMixture + OnlineSGD: the learning rate must be > 0, got lr={learner.lr!r}")
    if isinstance(learner.init, dict) and "W_teacher" in learner.init:
        raise ValueError("GaussianMixture + OnlineSGD: init['W_teacher'] has no meaning on a mixture (no teacher)")


# --------------------------------------------------------------------------- quadrature
@lru_cache(maxsize=32)
def _hermite_tensor(dim: int, n: int):
    """Tensor Gauss-Hermite nodes (n^dim, dim) and weights for E over N(0, I_dim)."""
    x, w = hermite_rule(n)
    if dim == 0:
        return np.zeros((1, 0)), np.ones(1)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    wg = np.meshgrid(*([w] * dim), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.prod(np.stack([g.ravel() for g in wg], axis=1), axis=1)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def _reflection(u: np.ndarray) -> np.ndarray:
    """The Householder reflection H (symmetric, orthogonal) with H e_1 = u (a unit vector)."""
    K = u.size
    w = -u.copy()
    w[0] += 1.0
    nw = w @ w
    return np.eye(K) if nw < 1e-30 else np.eye(K) - 2.0 * np.outer(w, w) / nw


def _whiten(Q, v):
    """``(L, L^+)``: ``L L^T = Q`` with ``L = Q^{1/2} H``, ``H e_1 = sign(v) / sqrt(K)`` (module
    docstring: along ``xi_1`` every unit moves in the direction that raises ``phi`` for increasing
    activations, so ``phi`` crosses zero transversally); ``L^+`` the pseudo-inverse (directions of
    zero variance dropped)."""
    K = Q.shape[0]
    e, U = np.linalg.eigh(0.5 * (Q + Q.T))
    e = np.clip(e, 0.0, None)
    keep = e > 1e-12 * max(float(e.max()), 1e-300)
    r = np.sqrt(e)
    inv = np.where(keep, 1.0 / np.where(keep, r, 1.0), 0.0)
    H = _reflection(np.where(np.asarray(v) < 0, -1.0, 1.0) / np.sqrt(K))
    L = (U * r) @ U.T @ H
    Linv = H @ (U * inv) @ U.T
    return L, Linv


def _line_nodes(a, b, kinks, n_line):
    """Gauss-Legendre nodes on the lines ``lambda = a + b xi_1`` (a: (..., K), b: (..., K)), xi_1 in
    [-T, T] split where some unit crosses a kink: ``(xi_1 (..., m), weights (..., m))`` with the
    N(0, 1) density folded into the weights."""
    bb = np.broadcast_to(b, a.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        cuts = np.concatenate([(kink - a) / bb for kink in kinks], axis=-1)  # non-finite: clipped to the ends
    return composite_legendre_nodes(np.zeros(a.shape[:-1]), 1.0, cuts, n_line, _T)


def _cluster_nodes(M, Q, v, s, act, n_nodes, n_line):
    """Nodes of the per-cluster expectations: ``xi (C, P, K)``, ``lam (C, P, K)``, ``weights (C, P)``."""
    K, C = M.shape
    L, _ = _whiten(Q, v)
    sq = np.sqrt(s)
    if not act.kinks:
        xi, w = _hermite_tensor(K, n_nodes)
        lam = M.T[:, None, :] + sq[:, None, None] * (xi @ L.T)[None]
        return np.broadcast_to(xi, (C,) + xi.shape), lam, np.broadcast_to(w, (C, w.size))
    xo, wo = _hermite_tensor(K - 1, n_nodes)  # (Po, K-1)
    a = M.T[:, None, :] + sq[:, None, None] * (xo @ L[:, 1:].T)[None]  # (C, Po, K)
    b = sq[:, None] * L[:, 0][None]  # (C, K)
    x1, w1 = _line_nodes(a, b[:, None, :], act.kinks, n_line)  # (C, Po, m)
    m = x1.shape[-1]
    lam = a[:, :, None, :] + x1[..., None] * b[:, None, None, :]  # (C, Po, m, K)
    xi = np.concatenate([x1[..., None], np.broadcast_to(xo[None, :, None, :], (C, xo.shape[0], m, K - 1))], axis=-1)
    w = w1 * wo[None, :, None]
    P = xo.shape[0] * m
    return xi.reshape(C, P, K), lam.reshape(C, P, K), w.reshape(C, P)


def _default_nodes(K: int, kinked: bool) -> int:
    if kinked:
        return {1: 1, 2: 24, 3: 14, 4: 9}.get(K, 6)
    return {1: 40, 2: 24, 3: 14, 4: 10}.get(K, 7)


# --------------------------------------------------------------------------- the ODEs
def _mixture_arrays(problem):
    mix = problem.data
    tab = problem.label_table
    return dict(rho=np.asarray(mix.weights), s=np.asarray(mix.covariances, float), G=mix.gram,
                ybar=tab[:, 0] - tab[:, 1], table=tab)


def sgd_mixture_rhs(M, Q, v, problem, learner, n_nodes=None, n_line=8):
    """``(dM/dt, dQ/dt, dv/dt, mse)`` of the ODEs (module docstring) at the order parameters
    ``M`` (K, C), ``Q`` (K, K), ``v`` (K,)."""
    arr = _mixture_arrays(problem)
    act, c = learner.activation, learner.output_scale
    lr, lr_v, wd, B = learner.lr_first_eff, learner.lr_second_eff, learner.weight_decay, learner.batch_size
    K = Q.shape[0]
    n = n_nodes or _default_nodes(K, bool(act.kinks))
    rho, s, G, ybar = arr["rho"], arr["s"], arr["G"], arr["ybar"]
    xi, lam, w = _cluster_nodes(M, Q, v, s, act, n, n_line)
    g, gp = act(lam), act.derivative(lam)
    phi = c * (g @ v)  # (C, P)
    D1 = ybar[:, None] - phi
    D2 = 1.0 - 2.0 * ybar[:, None] * phi + phi * phi
    wr = w * rho[:, None]  # (C, P): rho_a times the quadrature weights
    gD = gp * D1[..., None]  # (C, P, K)
    wgD = w[..., None] * gD
    A = wgD.sum(axis=1)  # (C, K): E_a[g'_k Delta]
    Bx = np.swapaxes(wgD, 1, 2) @ xi  # (C, K, K): E_a[g'_k Delta xi_j]
    Dl = np.einsum("c,ckl->kl", rho, np.swapaxes(wgD, 1, 2) @ lam)  # sum_a rho_a E_a[g'_k Delta lambda_l]
    wN = (wr * s[:, None] * D2)[..., None] * gp
    N2 = np.einsum("cpk,cpl->kl", wN, gp, optimize=True)  # sum_a rho_a s_a E_a[g'_k g'_l Delta^2]
    _, Linv = _whiten(Q, v)
    proj = Linv @ M  # (K_j, C_b): the regression of nu_b on xi
    EnuD = np.einsum("a,ak,ab->kb", rho, A, G) + np.einsum("a,akj,jb->kb", rho * np.sqrt(s), Bx, proj)
    dM = lr * c * v[:, None] * EnuD - lr * wd * M
    first = v[:, None] * Dl
    dQ = lr * c * (first + first.T) + (lr * lr * c * c / B) * np.outer(v, v) * N2 - 2.0 * lr * wd * Q
    dv = lr_v * c * ((wr * D1).ravel() @ g.reshape(-1, K)) if learner.train_second_layer else np.zeros(K)
    mse = float(np.sum(wr * D2))
    return dM, dQ, dv, mse


def _sign_measures(a, b, f, T=_T, n_grid=97, n_bisect=36):
    """``(P(f > 0), P(f < 0))`` along the lines ``lambda = a + b xi_1`` (a: (L, K), b: (L, K)),
    ``xi_1 ~ N(0, 1)``: the changes of sign located on a grid of [-T, T] and refined by bisection."""
    t = np.linspace(-T, T, n_grid)
    vals = f(a[:, None, :] + t[None, :, None] * b[:, None, :])  # (L, G)
    Phi = ndtr(t)
    out = []
    for sgn in (1.0, -1.0):
        pred = sgn * vals > 0
        full = (pred[:, :-1] & pred[:, 1:]) * np.diff(Phi)[None]
        m = full.sum(axis=1) + pred[:, 0] * Phi[0] + pred[:, -1] * (1.0 - Phi[-1])
        li, ci = np.nonzero(pred[:, :-1] != pred[:, 1:])
        if li.size:
            lo, hi = t[ci].copy(), t[ci + 1].copy()
            left = pred[li, ci]  # the predicate on the left end of the cell
            aa, bb = a[li], b[li]
            for _ in range(n_bisect):
                mid = 0.5 * (lo + hi)
                same = (sgn * f(aa + mid[:, None] * bb) > 0) == left
                lo = np.where(same, mid, lo)
                hi = np.where(same, hi, mid)
            r = 0.5 * (lo + hi)
            np.add.at(m, li, np.where(left, ndtr(r) - Phi[ci], Phi[ci + 1] - ndtr(r)))
        out.append(m)
    return out


@lru_cache(maxsize=32)
def _trapezoid_tensor(dim: int, n: int, T: float = 6.5):
    """The trapezoidal rule on ``n`` equispaced points of [-T, T] per dimension with the N(0, 1)
    density (normalised): a tail event of the outer coordinates weighs as much as the grid
    resolves it, where Gauss-Hermite nodes thin out (the 0-1 error of a trained network is one)."""
    if dim == 0:
        return np.zeros((1, 0)), np.ones(1)
    x = np.linspace(-T, T, n)
    w = np.exp(-0.5 * x * x)
    w /= w.sum()
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    wg = np.meshgrid(*([w] * dim), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    weights = np.prod(np.stack([g.ravel() for g in wg], axis=1), axis=1)
    return nodes, weights


def sgd_mixture_metrics(M, Q, v, problem, learner, n_nodes=None, n_line=8, n_err=None):
    """``(test_error, test_error per cluster (C,), mse)`` of the network with overlaps ``M, Q, v``:
    the 0-1 error ``P(y phi <= 0)`` and ``E[(y - phi)^2]``, exact for Gaussian clusters (module
    docstring).  Shared by the theory and the finite-d simulation."""
    arr = _mixture_arrays(problem)
    act, c = learner.activation, learner.output_scale
    K, C = M.shape
    n = n_err or {1: 1, 2: 121, 3: 41, 4: 25}.get(K, 13)
    L, _ = _whiten(Q, v)
    xo, wo = _trapezoid_tensor(K - 1, n)
    sq = np.sqrt(arr["s"])
    a = (M.T[:, None, :] + sq[:, None, None] * (xo @ L[:, 1:].T)[None]).reshape(-1, K)  # (C Po, K)
    b = np.repeat(sq[:, None] * L[:, 0][None], xo.shape[0], axis=0)

    def phi(lam):
        return c * (act(lam) @ v)

    pos, neg = (m.reshape(C, -1) @ wo for m in _sign_measures(a, b, phi))  # P_a(phi > 0), P_a(phi < 0)
    tab = arr["table"]
    err_c = tab[:, 0] * (1.0 - pos) + tab[:, 1] * (1.0 - neg)
    mse = _mse(M, Q, v, problem, learner, n_nodes, n_line)
    return float(err_c @ arr["rho"]), err_c, mse


def _mse(M, Q, v, problem, learner, n_nodes, n_line):
    arr = _mixture_arrays(problem)
    act, c = learner.activation, learner.output_scale
    K = Q.shape[0]
    n = n_nodes or _default_nodes(K, bool(act.kinks))
    _, lam, w = _cluster_nodes(M, Q, v, arr["s"], act, n, n_line)
    phi = c * (act(lam) @ v)
    D2 = 1.0 - 2.0 * arr["ybar"][:, None] * phi + phi * phi
    return float(np.einsum("c,cp,cp->", arr["rho"], w, D2))


def sgd_mixture_fields(M, Q, v, problem, learner, **quad) -> dict:
    """The fields of one time: ``Q_kl`` (k <= l), ``M_kb``, ``v_k``, ``test_error``, ``test_error_b``, ``mse``."""
    K, C = M.shape
    err, err_c, mse = sgd_mixture_metrics(M, Q, v, problem, learner, **quad)
    out = {f"Q_{k}{l}": float(Q[k, l]) for k in range(K) for l in range(k, K)}
    out.update({f"M_{k}{b}": float(M[k, b]) for k in range(K) for b in range(C)})
    out.update({f"v_{k}": float(v[k]) for k in range(K)})
    out.update({f"test_error_{b}": float(err_c[b]) for b in range(C)})
    out.update({"test_error": err, "mse": mse})
    return out


def field_names(K: int, C: int) -> list[str]:
    """The fields of :func:`sgd_mixture_fields` for K units and C clusters."""
    return ([f"Q_{k}{l}" for k in range(K) for l in range(k, K)] + [f"M_{k}{b}" for k in range(K) for b in range(C)]
            + [f"v_{k}" for k in range(K)] + [f"test_error_{b}" for b in range(C)] + ["test_error", "mse"])


def stack_rows(rows, K: int, C: int) -> dict:
    """Per-time field dicts (None: a time after a failure or blow-up) as arrays over time (NaN there)."""
    return {k: np.array([np.nan if r is None else r[k] for r in rows]) for k in field_names(K, C)}


# --------------------------------------------------------------------------- initial conditions
def initial_weights(learner, K: int, d: int, rng: np.random.Generator):
    """The first-layer weights and second layer a run at dimension ``d`` starts from: ``init['W']``
    / ``init['v']`` when given, else ``W0`` i.i.d. N(0, init_scale^2) (the first draw of ``rng``) and
    ``v0 = 1``."""
    if isinstance(learner.init, dict):
        W0 = np.asarray(learner.init["W"], float)
        if W0.shape != (K, d):
            raise ValueError(f"GaussianMixture + OnlineSGD: init['W'] has shape {W0.shape}, need (width={K}, d={d})")
        v0 = np.asarray(learner.init.get("v", np.ones(K)), float)
        return W0.copy(), v0.copy()
    return learner.init_scale * rng.standard_normal((K, d)), np.ones(K)


def overlaps(W, means, d):
    """``(Q, M)``: ``W W^T / d`` and ``W mu^T / sqrt(d)`` for the embedded means (C, d)."""
    return W @ W.T / d, W @ means.T / np.sqrt(d)


@dataclass(frozen=True)
class MixtureSGDOptions(DynamicsOptions):
    """ODE settings (:func:`scipy.integrate.solve_ivp`), the initial condition and the quadrature.

    ``d``, ``seed``: start from the overlaps of the weights a simulation at dimension ``d`` with
    this seed starts from (``sv.simulate(..., seeds=[seed])`` draws the same ``W0``); ``d=None``:
    the ``d -> infinity`` start ``Q = init_scale^2 I``, ``M = 0`` (a fixed point of symmetric
    mixtures such as the XOR: the network never leaves it).  ``Q0``, ``M0``, ``v0``: explicit
    initial overlaps (override).  ``n_nodes``: Gauss-Hermite nodes per dimension (None: by K);
    ``n_line``: Gauss-Legendre nodes per smooth piece of a line (kinked activations); ``n_err``:
    trapezoidal points per outer dimension of the 0-1 error (None: by K); ``max_seconds``: the
    wall-clock budget of the integration (the right-hand side turns NaN past it, or once
    ``|x| > 1e8``, and the later times are NaN with ``converged=False``; None: no limit)."""

    method: str = "RK45"
    rtol: float = 1e-7
    atol: float = 1e-9
    d: int | None = 1000
    seed: int = 0
    Q0: object = None
    M0: object = None
    v0: object = None
    n_nodes: int | None = None
    n_line: int = 8
    n_err: int | None = None
    max_seconds: float | None = 300.0


class MixtureSGD(Dynamics):
    """The online-SGD ODEs of a two-layer network on a :class:`GaussianMixture` (module docstring)."""

    Options = MixtureSGDOptions

    def __init__(self, problem, learner, options):
        super().__init__(problem, learner, options)
        check_sgd_mixture(problem, learner)
        self.K, self.C = learner.width, problem.data.K
        self.iu = np.triu_indices(self.K)
        self.quad = {"n_nodes": options.n_nodes, "n_line": options.n_line}
        self.quad_err = dict(self.quad, n_err=options.n_err)

    def initial_state(self):
        self._start, self._warned = time.perf_counter(), False  # the driver integrates right after
        o, K, C = self.options, self.K, self.C
        mix = self.problem.data
        if isinstance(self.learner.init, dict):
            W0, v0 = initial_weights(self.learner, K, np.shape(self.learner.init["W"])[1], None)
            Q, M = overlaps(W0, mix.embed(W0.shape[1])[0], W0.shape[1])
        elif o.d is None:
            Q, M, v0 = self.learner.init_scale ** 2 * np.eye(K), np.zeros((K, C)), np.ones(K)
        else:
            if isinstance(o.d, bool) or int(o.d) != o.d or o.d < 2:
                raise ValueError(f"GaussianMixture + OnlineSGD: d must be an integer >= 2 or None, got d={o.d!r}")
            d = int(o.d)
            W0, v0 = initial_weights(self.learner, K, d, np.random.default_rng(o.seed))
            Q, M = overlaps(W0, mix.embed(d)[0], d)
        Q = Q if o.Q0 is None else np.asarray(o.Q0, float)
        M = M if o.M0 is None else np.asarray(o.M0, float)
        v0 = v0 if o.v0 is None else np.asarray(o.v0, float)
        if Q.shape != (K, K) or M.shape != (K, C) or v0.shape != (K,):
            raise ValueError(f"GaussianMixture + OnlineSGD: initial overlaps must have shapes Q0 ({K}, {K}), "
                             f"M0 ({K}, {C}), v0 ({K},); got {Q.shape}, {M.shape}, {v0.shape}")
        return np.concatenate([Q[self.iu], M.ravel(), v0])

    def unpack(self, x):
        K, C = self.K, self.C
        nq = self.iu[0].size
        Q = np.zeros((K, K))
        Q[self.iu] = x[:nq]
        Q = Q + np.triu(Q, 1).T
        return Q, x[nq:nq + K * C].reshape(K, C), x[nq + K * C:]

    def rhs(self, t, x):
        Q, M, v = self.unpack(x)
        budget = self.options.max_seconds
        # (never at t = 0: the solver's first step size needs one finite evaluation)
        late = budget is not None and t > 0 and time.perf_counter() - self._start > budget
        if late and not self._warned:
            self._warned = True
            warnings.warn(f"GaussianMixture + OnlineSGD: the ODE integration stopped at t = {t:.4g} after "
                          f"max_seconds={budget:g} s of wall-clock time; raise max_seconds or lower n_nodes",
                          RuntimeWarning, stacklevel=2)
        if late or not np.all(np.isfinite(x)) or np.abs(x).max() > 1e8:
            return np.full_like(x, np.nan)
        dM, dQ, dv, _ = sgd_mixture_rhs(M, Q, v, self.problem, self.learner, **self.quad)
        return np.concatenate([dQ[self.iu], dM.ravel(), dv])

    def times(self):
        return self.learner.time_grid()

    def observables(self, t, X):
        rows = []
        for x in X:
            if np.all(np.isfinite(x)):
                Q, M, v = self.unpack(x)
                rows.append(sgd_mixture_fields(M, Q, v, self.problem, self.learner, **self.quad_err))
            else:
                rows.append(None)
        return stack_rows(rows, self.K, self.C)

"""Data models for random features and kernels under source/capacity conditions (layer 3).

Both classes are :class:`solvable.data.DataModel` s: the theory of ``GLM(..., data=model)`` with an
``ERM`` learner comes from the Gaussian covariate engine (:mod:`solvable.families.erm.equations`) through
:meth:`spectrum`, and ``simulate`` draws finite-size data through :meth:`sample`.

:class:`RandomFeatures`
    ``p = gamma d`` features ``v = sigma(F x / sqrt d)`` of Gaussian inputs ``x ~ N(0, I_d)``,
    ``F`` a ``p x d`` matrix of i.i.d. N(0, 1) entries; teacher ``z = theta . x / sqrt d``.
    **Theory** uses the Gaussian equivalent model (Mei & Montanari 2019, sec. 2 / Goldt et al.
    2022, eq. (1.5); Gerace et al. ICML 2020, eq. (2.4)):

        v  ~  mu0 1 + mu1 F x / sqrt d + mu_star xi,      xi ~ N(0, I_p),

    ``mu0 = E sigma(g)``, ``mu1 = E g sigma(g)``, ``mu_star^2 = E sigma(g)^2 - mu0^2 - mu1^2``.  The
    student covariance is ``Omega = mu1^2 F F^T / d + mu_star^2 I`` (plus the rank-one constant
    mode ``mu0^2 1 1^T``, whose weight 1/p in the spectral measure vanishes as p -> infinity:
    it is dropped, see the note below), ``Phi = E[x v^T] = mu1 F^T / sqrt d`` and ``Psi = I_d``.
    In the eigenbasis of ``F F^T / d`` (eigenvalues ``lambda_k``, Marchenko-Pastur law of ratio
    ``gamma`` with an atom ``1 - 1/gamma`` at 0 when ``gamma > 1``) the spectral measure of
    :mod:`solvable.data` is, averaging over a teacher with i.i.d. coordinates of second moment
    ``rho``,

        omega_k = mu1^2 lambda_k + mu_star^2,
        power_k = gamma mu1^2 rho lambda_k / omega_k,       (Loureiro et al. 2021, sec. 2, eq. (1.3))

    (``power_k = P E b_k^2 / omega_k`` with ``b = U^T Phi^T theta / d``).  ``spectrum_method="mp"``
    integrates the MP law by Gaussian quadrature (Golub-Welsch from its recurrence coefficients,
    robust at gamma = 1 where the density diverges at the hard edge); ``"empirical"`` diagonalises one sampled
    ``F F^T / d`` at large p (a check of the closed form, and the route for ensembles without one).

    **Simulation** uses REAL random features (not the equivalent Gaussian model), so that a
    comparison with the theory tests Gaussian equivalence itself.  The population overlaps of a
    student ``w`` are exact: with ``h_i = f_i . x / sqrt d`` (variance ``s_i^2 = |f_i|^2 / d``),
    ``E[z sigma(h_i)] = (theta . f_i / d) mu_1(s_i) / s_i`` (Stein) and, for ``i != j``,
    ``E[sigma(h_i) sigma(h_j)] = sum_k mu_k(s_i) mu_k(s_j) r_ij^k / k!`` (Mehler's formula;
    ``r_ij = f_i . f_j / (d s_i s_j)``, ``mu_k(s) = E[sigma(s g) He_k(g)]``), so ``m = E[z yhat]``
    and ``q = E[yhat^2]`` involve no test-set sampling.

    Note on ``mu0``: the constant mode acts on the student as an intercept ``mu0 (w . 1) / sqrt p``
    (one direction among p, penalised like the others).  Its effect on the learning curves is
    O(1/p) for targets of zero mean, which is what the theory describes (``mu0`` is reported in
    :attr:`RandomFeatures.coefficients` but does not enter the spectrum).

:class:`PowerLaw`
    A Gaussian design in the eigenbasis of a kernel (Cui, Loureiro, Krzakala, Zdeborova, NeurIPS
    2021, sec. 2, eqs. (2)-(4)): features ``v_k = sqrt(omega_k) g_k``, ``k = 1..P``, with
    **capacity** ``omega_k = k^(-a)`` (``a > 1``) and **source** condition
    ``theta*_k^2 omega_k = k^(-1 - 2 a r)`` (``r >= 0``), target ``z = sum_k theta*_k v_k`` (so
    ``rho = sum_k k^(-1-2ar)``).  Kernel rates are about n growing at a *fixed* spectrum, so the
    ``d`` of ``alpha = n / d`` is the truncation size: ``P = d = n_modes``, ``alpha = n / n_modes``
    (:meth:`PowerLaw.alpha`), and the ridge penalty of the ERM convention
    ``sum_mu (y - w.v/sqrt P)^2 / 2 + lam |w|^2 / 2`` relates to the KRR regularisation of Cui et
    al. (``(1/2n) sum (y - f)^2 + lambda/2 |f|_H^2``) by ``lam = lambda n / P``
    (:meth:`PowerLaw.penalty`).  With ``exact_modes=K`` only the first K modes are summed exactly
    and the tail ``K < k <= n_modes`` is integrated by Gauss-Legendre in ``log k`` (so truncations
    of 10^7 modes cost a few hundred spectral nodes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from solvable.numerics.gauss import legendre_rule  # cached: a 1,000-node rule is a 0.6 s eigenproblem
from scipy.linalg import eigh_tridiagonal

from solvable.blocks.activations import Activation, get_activation
from solvable.blocks.data.spectra import DataModel, Spectrum
from solvable.numerics.gauss import hermite_rule

__all__ = ["RandomFeatures", "PowerLaw", "marchenko_pastur_quadrature", "scaled_hermite_coefficients"]


# --------------------------------------------------------------------------- Marchenko-Pastur
@lru_cache(maxsize=32)
def _mp_quadrature_cached(gamma: float, n: int):
    # Gauss quadrature of MP(c), c <= 1 (no atom), by Golub-Welsch from its Jacobi parameters:
    # MP(c) is the free Poisson law of rate 1/c and jump c, with recurrence coefficients
    # a_0 = 1, a_k = 1 + c (k >= 1) and b_k^2 = c (Hora & Obata 2007, sec. 4; moments 1, 1+c, 1+3c+c^2).
    c = min(gamma, 1.0 / gamma)
    diag = np.full(n, 1.0 + c)
    diag[0] = 1.0
    off = np.full(n - 1, math.sqrt(c))
    x, U = eigh_tridiagonal(diag, off)
    w = U[0, :] ** 2
    x = np.maximum(x, 0.0)
    w = w / w.sum()
    if gamma > 1.0:  # nonzero eigenvalues of F F^T/d are those of F^T F/d = gamma * MP(1/gamma)
        x = np.concatenate([[0.0], gamma * x])
        w = np.concatenate([[1.0 - 1.0 / gamma], w / gamma])
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def marchenko_pastur_quadrature(gamma: float, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the Marchenko-Pastur law of ``F F^T / d`` (F: p x d, i.i.d. N(0,1),
    ``gamma = p / d``): ``sum w f(lambda) ~= integral f dMP_gamma``, weights summing to one, with the
    atom ``1 - 1/gamma`` at 0 when ``gamma > 1`` (Marchenko & Pastur 1967; Bai & Silverstein 2010,
    Thm. 3.6: density ``sqrt((b - x)(x - a)) / (2 pi gamma x)`` on ``[(1 - sqrt gamma)^2, (1 + sqrt gamma)^2]``).
    Gaussian quadrature (Golub-Welsch): exact for polynomials of degree ``2 n - 1``, robust at
    ``gamma = 1`` where the density diverges as ``x^(-1/2)`` at the hard edge.
    """
    if not np.isfinite(gamma) or gamma <= 0:
        raise ValueError(f"marchenko_pastur_quadrature: gamma must be > 0, got gamma={gamma!r}")
    if int(n) != n or n < 2:
        raise ValueError(f"marchenko_pastur_quadrature: n must be an integer >= 2, got n={n!r}")
    return _mp_quadrature_cached(float(gamma), int(n))


@lru_cache(maxsize=8)
def _empirical_eigenvalues(p: int, gamma: float, seed: int):
    """Eigenvalues of one sampled F F^T / d (p x d, d = p / gamma), uniform weights."""
    d = max(1, int(round(p / gamma)))
    F = np.random.default_rng(seed).standard_normal((p, d))
    if p <= d:
        lam = np.linalg.eigvalsh(F @ F.T / d)
    else:  # nonzero eigenvalues from the d x d matrix, the rest are zeros
        lam = np.concatenate([np.zeros(p - d), np.linalg.eigvalsh(F.T @ F / d)])
    lam = np.maximum(lam, 0.0)
    w = np.full(p, 1.0 / p)
    lam.setflags(write=False)
    w.setflags(write=False)
    return lam, w


# --------------------------------------------------------------------------- Hermite data
def _activation_rule(act: Activation, n: int = 160):
    """Quadrature (nodes, weights) for E over g ~ N(0,1), split at 0 for kinked activations."""
    if act.kinks:
        x, w = legendre_rule(n // 2)
        L = 12.0
        g = np.concatenate([-L / 2 * (1 - x), L / 2 * (1 + x)])  # [-L, 0] and [0, L]
        wg = np.concatenate([w, w]) * (L / 2) * np.exp(-0.5 * g * g) / math.sqrt(2 * math.pi)
        return g, wg
    return hermite_rule(n)


def scaled_hermite_coefficients(activation, s, kmax: int = 12) -> np.ndarray:
    """``mu_k(s) = E[sigma(s g) He_k(g)]``, g ~ N(0, 1), for each scale in ``s``; shape (len(s), kmax+1).

    (Probabilists' Hermite polynomials, ``E He_j He_k = k! delta_jk``; at ``s = 1`` these are the
    coefficients of :meth:`solvable.activations.Activation.hermite_coefficients`.)
    """
    act = get_activation(activation)
    s = np.atleast_1d(np.asarray(s, float))
    g, wg = _activation_rule(act)
    vals = act(s[:, None] * g[None, :]) * wg[None, :]  # (S, M)
    He = np.empty((kmax + 1, g.size))
    He[0] = 1.0
    if kmax >= 1:
        He[1] = g
    for k in range(1, kmax):
        He[k + 1] = g * He[k] - k * He[k - 1]
    return vals @ He.T


# --------------------------------------------------------------------------- random features
@dataclass(frozen=True)
class RandomFeatures(DataModel):
    """``p = gamma d`` random features ``sigma(F x / sqrt d)`` of Gaussian inputs (see the module docstring).

    ``activation``: a name of :func:`solvable.activations.get_activation` or an Activation;
    ``gamma = p / d`` (> 0); ``spectrum_method``: ``"mp"`` (Marchenko-Pastur quadrature with
    ``n_nodes`` nodes) or ``"empirical"`` (one sampled ``F F^T / d`` with ``n_empirical`` rows,
    seeded by ``seed``).  ``ratio = gamma``; ``alpha = n / d`` as everywhere.
    """

    activation: Any = "erf"
    gamma: float = 1.0
    spectrum_method: str = "mp"
    n_nodes: int = 200
    n_empirical: int = 2000
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "activation", get_activation(self.activation))
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, (int, float, np.floating, np.integer)) or not np.isfinite(g) or g <= 0:
            raise ValueError(f"RandomFeatures: gamma = p/d must be a finite number > 0, got gamma={g!r}")
        object.__setattr__(self, "gamma", float(g))
        if self.spectrum_method not in ("mp", "empirical"):
            raise ValueError(f"RandomFeatures: spectrum_method must be 'mp' or 'empirical', got {self.spectrum_method!r}")
        if int(self.n_nodes) != self.n_nodes or self.n_nodes < 8:
            raise ValueError(f"RandomFeatures: n_nodes must be an integer >= 8, got {self.n_nodes!r}")
        if int(self.n_empirical) != self.n_empirical or self.n_empirical < 10:
            raise ValueError(f"RandomFeatures: n_empirical must be an integer >= 10, got {self.n_empirical!r}")

    @property
    def ratio(self) -> float:  # type: ignore[override]
        return self.gamma

    @property
    def coefficients(self) -> dict:
        """Gaussian-equivalence coefficients ``mu0, mu1, mu_star`` of the activation."""
        return dict(self.activation.gaussian_equivalence)

    # ---------------------------------------------------------------- theory
    def feature_eigenvalues(self) -> tuple[np.ndarray, np.ndarray]:
        """(lambda_k, weight_k): the spectral measure of ``F F^T / d``."""
        if self.spectrum_method == "mp":
            return marchenko_pastur_quadrature(self.gamma, self.n_nodes)
        return _empirical_eigenvalues(int(self.n_empirical), self.gamma, int(self.seed))

    def spectrum(self, prior) -> Spectrum:
        """Spectral measure of the Gaussian equivalent model (module docstring; Loureiro et al. 2021, sec. 2)."""
        c = self.coefficients
        mu1, mus = c["mu1"], c["mu_star"]
        rho = float(prior.second_moment)
        lam, wt = self.feature_eigenvalues()
        omega = mu1**2 * lam + mus**2
        pos = omega > 0
        power = np.where(pos, self.gamma * mu1**2 * rho * lam / np.where(pos, omega, 1.0), 0.0)
        if not np.any(omega > 0):
            raise ValueError(f"RandomFeatures: the activation {self.activation!r} has mu1 = mu_star = 0 (constant features)")
        # sum(wt * power) = rho gamma mu1^2 E[lambda / omega] <= rho min(1, gamma); clip round-off only
        expl = float(np.sum(wt * power))
        if expl > rho * (1 + 1e-8):
            raise RuntimeError(f"RandomFeatures.spectrum: explained variance {expl!r} exceeds rho={rho!r}")
        if expl > rho:
            power = power * (rho / expl)
        return Spectrum(omega, power, wt, rho, self.gamma)

    # ---------------------------------------------------------------- simulation
    def sample(self, n: int, d: int, prior, rng: np.random.Generator):
        """Real random features: ``V = sigma(X F^T / sqrt d)`` (n x p), ``z = X theta / sqrt d``.

        ``info``: ``overlaps(w) -> (m, q)`` exact population overlaps (Stein + Mehler, module
        docstring), ``rho = |theta|^2 / d``, ``theta``, ``F``, and ``features(X)`` (the feature map).
        """
        n, d = int(n), int(d)
        if n < 1 or d < 1:
            raise ValueError(f"RandomFeatures.sample: need n >= 1 and d >= 1, got n={n}, d={d}")
        p = max(1, self.student_dim(d))
        act = self.activation
        F = rng.standard_normal((p, d))
        theta = np.asarray(prior.sample_signal(d, rng), float)
        X = rng.standard_normal((n, d))
        sd = math.sqrt(d)
        V = act(X @ F.T / sd)
        z = X @ theta / sd
        overlaps = _rf_overlaps(act, F, theta)

        def features(Xnew):
            return act(np.asarray(Xnew, float) @ F.T / sd)

        return V, z, {"overlaps": overlaps, "rho": float(theta @ theta / d), "theta": theta, "F": F,
                      "features": features}

    def sample_maps(self, n: int, d: int, prior, rng: np.random.Generator, K: int):
        """``K`` independent feature maps ``F_1, ..., F_K`` on the same inputs and teacher (an ensemble
        of random-features learners, Loureiro et al. 2022, "Fluctuations, bias, variance & ensemble of
        learners", sec. 5): ``(Vs, z, info)`` with ``Vs[k] = sigma(X F_k^T / sqrt d)``; ``info``: ``rho``,
        ``overlaps[k](w) -> (m, q)`` of learner k alone and ``cross(k, l, w_k, w_l) -> E[yhat_k yhat_l]``
        (the exact cross kernel of two maps, :func:`_rf_kernel`)."""
        n, d, K = int(n), int(d), int(K)
        if n < 1 or d < 1 or K < 1:
            raise ValueError(f"RandomFeatures.sample_maps: need n, d, K >= 1, got n={n}, d={d}, K={K}")
        p = max(1, self.student_dim(d))
        act = self.activation
        Fs = [rng.standard_normal((p, d)) for _ in range(K)]
        theta = np.asarray(prior.sample_signal(d, rng), float)
        X = rng.standard_normal((n, d))
        sd = math.sqrt(d)
        Vs = [act(X @ F.T / sd) for F in Fs]
        z = X @ theta / sd
        cache: dict = {}

        def cross(k, l, wk, wl):
            if k == l:
                raise ValueError("cross: k and l must differ (overlaps[k] gives a learner's own q)")
            if (k, l) not in cache:
                cache[(k, l)] = _rf_kernel(act, Fs[k], Fs[l])
            return float(np.asarray(wk, float) @ cache[(k, l)] @ np.asarray(wl, float) / p)

        return Vs, z, {"overlaps": [_rf_overlaps(act, F, theta) for F in Fs], "cross": cross,
                       "rho": float(theta @ theta / d), "theta": theta, "Fs": Fs}


def _rf_kernel(act: Activation, F1: np.ndarray, F2: np.ndarray | None = None, kmax: int = 12) -> np.ndarray:
    """``E[sigma(f_i . x / sqrt d) sigma(g_j . x / sqrt d)]`` over ``x ~ N(0, I_d)`` for the rows ``f_i`` of
    ``F1`` and ``g_j`` of ``F2`` (``F2=None``: ``F1`` itself, the diagonal exact), by Mehler's formula
    ``sum_k mu_k(s_i) mu_k(s_j) R_ij^k / k!`` with ``R_ij`` the correlation of the two pre-activations
    (the module docstring; truncated at ``kmax``)."""
    same = F2 is None
    F2 = F1 if same else F2
    d = F1.shape[1]
    s1 = np.sqrt(np.sum(F1 * F1, axis=1) / d)
    s2 = s1 if same else np.sqrt(np.sum(F2 * F2, axis=1) / d)
    mu1 = scaled_hermite_coefficients(act, s1, kmax)  # (p1, K+1)
    mu2 = mu1 if same else scaled_hermite_coefficients(act, s2, kmax)
    R = (F1 @ F2.T / d) / np.outer(s1, s2)
    if same:
        np.fill_diagonal(R, 0.0)
    K = np.zeros(R.shape)
    Rk = np.ones(R.shape)
    fact = 1.0
    for k in range(kmax + 1):
        if k > 0:
            Rk = Rk * R
            fact *= k
        K += np.outer(mu1[:, k], mu2[:, k]) * Rk / fact
    if same:
        g, wg = _activation_rule(act)
        np.fill_diagonal(K, (act(s1[:, None] * g[None, :]) ** 2) @ wg)  # E sigma(s_i g)^2
    return K


def _rf_overlaps(act: Activation, F: np.ndarray, theta: np.ndarray, kmax: int = 12):
    """Exact ``(m, q) = (E[z yhat], E[yhat^2])`` of ``yhat = w . sigma(F x / sqrt d) / sqrt p``."""
    p, d = F.shape
    s = np.sqrt(np.sum(F * F, axis=1) / d)
    mu = scaled_hermite_coefficients(act, s, 1)
    cz = (F @ theta / d) / s * mu[:, 1]  # E[z sigma(h_i)]
    cache: dict = {}

    def overlaps(w):
        if "K" not in cache:
            cache["K"] = _rf_kernel(act, F, kmax=kmax)
        w = np.asarray(w, float)
        m = float(cz @ w / math.sqrt(p))
        q = float(w @ cache["K"] @ w / p)
        return m, q

    return overlaps


# --------------------------------------------------------------------------- power-law kernels
@dataclass(frozen=True)
class PowerLaw(DataModel):
    """Kernel features under capacity ``a`` and source ``r`` (Cui et al. 2021; module docstring).

    ``omega_k = scale * k^(-capacity)``, ``theta*_k^2 omega_k = k^(-1 - 2 capacity source)``,
    ``k = 1..n_modes``.  ``exact_modes``: number of leading modes summed exactly in the theory
    (None: all); the tail is integrated in ``log k`` with ``tail_nodes`` Gauss-Legendre nodes per
    decade.  Use ``d = n_modes`` and ``alpha = n / n_modes`` (:meth:`alpha`), and
    ``lam = lambda_KRR * n / n_modes`` (:meth:`penalty`).  The GLM's prior is not used.
    """

    capacity: float = 2.0
    source: float = 0.5
    n_modes: int = 1000
    exact_modes: int | None = None
    tail_nodes: int = 24
    scale: float = 1.0

    def __post_init__(self):
        a, r = self.capacity, self.source
        if not np.isfinite(a) or a <= 1:
            raise ValueError(f"PowerLaw: capacity must be > 1 (summable spectrum), got capacity={a!r}")
        if not np.isfinite(r) or r < 0:
            raise ValueError(f"PowerLaw: source must be >= 0, got source={r!r}")
        if int(self.n_modes) != self.n_modes or self.n_modes < 1:
            raise ValueError(f"PowerLaw: n_modes must be a positive integer, got n_modes={self.n_modes!r}")
        if self.exact_modes is not None and (int(self.exact_modes) != self.exact_modes or self.exact_modes < 1):
            raise ValueError(f"PowerLaw: exact_modes must be None or a positive integer, got {self.exact_modes!r}")
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"PowerLaw: scale must be > 0, got scale={self.scale!r}")
        if int(self.tail_nodes) != self.tail_nodes or self.tail_nodes < 2:
            raise ValueError(f"PowerLaw: tail_nodes must be an integer >= 2, got {self.tail_nodes!r}")
        object.__setattr__(self, "n_modes", int(self.n_modes))

    # ------------------------------------------------------------ scaling helpers
    def alpha(self, n) -> np.ndarray | float:
        """``alpha = n / n_modes`` (the ``d`` of the problem is the truncation size)."""
        return np.asarray(n, float) / self.n_modes if np.ndim(n) else float(n) / self.n_modes

    def penalty(self, n, lam_krr) -> np.ndarray | float:
        """The ERM ``lam`` equivalent to the KRR regularisation ``lambda`` of Cui et al. 2021 at n samples:
        ``lam = lambda n / n_modes``."""
        out = np.asarray(lam_krr, float) * np.asarray(n, float) / self.n_modes
        return out if out.ndim else float(out)

    def modes(self, P: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(omega_k, theta*_k^2 omega_k) for k = 1..P (default n_modes)."""
        P = self.n_modes if P is None else int(P)
        k = np.arange(1, P + 1, dtype=float)
        return self.scale * k ** (-self.capacity), k ** (-1.0 - 2.0 * self.capacity * self.source)

    @property
    def rho(self) -> float:
        """``Var z = sum_{k <= n_modes} k^(-1 - 2 a r)``."""
        return float(self.spectrum(None).rho)

    # ------------------------------------------------------------ theory
    def spectrum(self, prior) -> Spectrum:
        """Spectral measure: ``omega_k``, ``power_k = P theta*_k^2 omega_k`` (the ``c_k^2`` of
        :mod:`solvable.data`, ``z = sum_k c_k g_k / sqrt P``), weights ``1/P`` (tail: ``dk / P``)."""
        P = self.n_modes
        K = P if self.exact_modes is None else min(int(self.exact_modes), P)
        om, tp = self.modes(K)
        wt = np.full(K, 1.0 / P)
        if K < P:
            lo, hi = math.log(K + 0.5), math.log(P + 0.5)
            nn = max(4, int(math.ceil(self.tail_nodes * (hi - lo) / math.log(10.0))))
            x, w = legendre_rule(nn)
            t = lo + 0.5 * (hi - lo) * (1 + x)
            k = np.exp(t)
            wk = 0.5 * (hi - lo) * w * k  # dk = k dt
            om = np.concatenate([om, self.scale * k ** (-self.capacity)])
            tp = np.concatenate([tp, k ** (-1.0 - 2.0 * self.capacity * self.source)])
            wt = np.concatenate([wt, wk / P])
        wt = wt / wt.sum()  # the tail rule integrates dk exactly up to round-off
        rho = float(np.sum(wt * P * tp))
        return Spectrum(om, P * tp, wt, rho, 1.0)

    # ------------------------------------------------------------ simulation
    def student_dim(self, d: int) -> int:
        return int(d)

    def sample(self, n: int, d: int, prior, rng: np.random.Generator):
        """Gaussian design with ``P = d`` modes: ``V = G sqrt(omega)``, ``z = V theta*`` (exact overlaps).

        For the comparison with :meth:`spectrum` use ``d = n_modes`` (the theory's truncation)."""
        n, P = int(n), int(d)
        if n < 1 or P < 1:
            raise ValueError(f"PowerLaw.sample: need n >= 1 and d >= 1, got n={n}, d={d}")
        om, tp = self.modes(P)
        c = np.sqrt(P * tp)  # z = sum_k c_k g_k / sqrt P
        G = rng.standard_normal((n, P))
        V = G * np.sqrt(om)
        z = G @ c / math.sqrt(P)
        sq = np.sqrt(om)

        def overlaps(w):
            w = np.asarray(w, float)
            return float(np.dot(c * sq, w) / P), float(np.dot(om * w, w) / P)

        return V, z, {"overlaps": overlaps, "rho": float(c @ c / P)}

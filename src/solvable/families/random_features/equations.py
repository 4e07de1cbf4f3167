"""Random features and kernel ridge regression: closed forms and decay rates.

The learning curves of ERM on random features and on power-law kernels come from the Gaussian
covariate engine (:mod:`solvable.families.erm.equations`) with the data models of :mod:`solvable.data`.
This module holds what is *independent* of that engine:

* :func:`mei_montanari_test_error`: the closed form of the test error of random-features ridge
  regression (Mei & Montanari, CPAM 2022 / arXiv:1908.05355, Definition 1 and Theorem 1),
  used as an independent reference;
* :func:`rates`: the decay exponents of the excess test error of kernel ridge regression under
  source and capacity conditions, in the noiseless and noisy regimes and the crossover between
  them, as functions of the regularisation decay ``lambda ~ n^(-ell)`` (Cui, Loureiro, Krzakala,
  Zdeborova, NeurIPS 2021, sec. 3 and Fig. 1).
"""
from __future__ import annotations

import math

import numpy as np

from solvable.blocks.activations import get_activation

__all__ = ["mei_montanari_test_error", "mei_montanari_nu", "rates"]


# --------------------------------------------------------------------------- Mei & Montanari
def _positive_root(A, B, C):
    """Positive root of A x^2 + B x - C = 0 (A >= 0, C > 0), cancellation-free."""
    return 2.0 * C / (B + np.sqrt(B * B + 4.0 * A * C))


def mei_montanari_nu(psi1, psi2, lbar, zeta, *, iters: int = 200):
    """``(a1, a2)`` with ``nu_j = i a_j`` the solution of Mei & Montanari's Definition 1 at
    ``xi = i sqrt(psi1 psi2 lbar)``:

        nu1 = psi1 (-xi - nu2 - zeta^2 nu2 / (1 - zeta^2 nu1 nu2))^(-1),
        nu2 = psi2 (-xi - nu1 - zeta^2 nu1 / (1 - zeta^2 nu1 nu2))^(-1).

    On the imaginary axis ``nu_j = i a_j`` with ``a_j > 0``; eliminating ``a1`` (a quadratic in
    ``a1`` at fixed ``a2``) leaves a scalar equation in ``a2`` on ``(0, psi2 / s]``, solved by
    bisection in ``log a2`` (vectorised over broadcast inputs).
    """
    psi1, psi2, lbar, zeta = np.broadcast_arrays(*(np.asarray(v, float) for v in (psi1, psi2, lbar, zeta)))
    s = np.sqrt(psi1 * psi2 * lbar)
    z2 = zeta * zeta

    def g(aj, psi):  # a_i solving a_i (s + aj + z2 aj / (1 + z2 a_i aj)) = psi
        return _positive_root(z2 * aj * (s + aj), s + aj + z2 * aj * (1.0 - psi), psi)

    lo = np.full(s.shape, -60.0)
    hi = np.log(psi2 / s)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        a2 = np.exp(mid)
        h = a2 - g(g(a2, psi1), psi2)
        neg = h < 0
        lo = np.where(neg, mid, lo)
        hi = np.where(neg, hi, mid)
    a2 = np.exp(0.5 * (lo + hi))
    a1 = g(a2, psi1)
    return a1, a2


def mei_montanari_test_error(activation, gamma, alpha, lam, *, rho: float = 1.0, noise: float = 0.0,
                             f1_sq: float | None = None, fstar_sq: float = 0.0, parts: bool = False):
    """Asymptotic test error ``E (y - yhat)^2`` (noise included) of random-features ridge regression.

    Mei & Montanari (arXiv:1908.05355, Definition 1 + Theorem 1):
    ``R = F1^2 B + (tau^2 + F*^2) V + F*^2`` with ``B = E1 / E0``, ``V = E2 / E0``,
    ``chi = nu1 nu2`` at ``xi = i sqrt(psi1 psi2 lbar)``, ``zeta = mu1 / mu_star``,
    ``lbar = lambda_MM / mu_star^2``;  ``R`` excludes the label noise, the returned test error is
    ``R + noise``.

    Conventions mapped to solvable's: ``psi1 = N / d = gamma``, ``psi2 = n / d = alpha``;
    MM minimise ``(1/n) sum (y - sum_j a_j sigma_j)^2 + (N lambda_MM / d) |a|^2``, which is solvable's
    ``sum (y - w . v / sqrt p)^2 / 2 + lam |w|^2 / 2`` with ``a = w / sqrt p`` and
    ``lambda_MM = lam / alpha``.  Teacher ``y = z + noise``: ``F1^2 = rho`` (default), ``F*^2 = 0``;
    for a nonlinear target ``y = phi(z)`` pass ``f1_sq = (E z phi(z))^2 / rho`` and
    ``fstar_sq = Var phi - f1_sq``.  ``mu0`` does not enter.  With ``parts=True`` also returns
    ``{"B", "V", "chi", "R"}``.
    """
    act = get_activation(activation)
    c = act.gaussian_equivalence
    mu1, mus = c["mu1"], c["mu_star"]
    if mus <= 1e-12:
        raise ValueError(f"mei_montanari_test_error: needs mu_star > 0 (a nonlinear activation), got {act!r}")
    gamma, alpha, lam = (np.asarray(v, float) for v in (gamma, alpha, lam))
    if np.any(gamma <= 0) or np.any(alpha <= 0):
        raise ValueError(f"mei_montanari_test_error: gamma and alpha must be > 0, got gamma={gamma}, alpha={alpha}")
    if np.any(lam <= 0):
        raise ValueError(f"mei_montanari_test_error: lam must be > 0 (take a small lam for the ridgeless limit), got lam={lam}")
    f1 = rho if f1_sq is None else float(f1_sq)
    psi1, psi2 = gamma, alpha
    lbar = lam / alpha / mus**2
    zeta = mu1 / mus
    a1, a2 = mei_montanari_nu(psi1, psi2, lbar, zeta)
    chi = -a1 * a2
    z2 = zeta * zeta
    z4, z6 = z2 * z2, z2 * z2 * z2
    p12 = psi1 * psi2
    E0 = (-chi**5 * z6 + 3 * chi**4 * z4 + (p12 - psi2 - psi1 + 1) * chi**3 * z6 - 2 * chi**3 * z4
          - 3 * chi**3 * z2 + (psi1 + psi2 - 3 * p12 + 1) * chi**2 * z4 + 2 * chi**2 * z2 + chi**2
          + 3 * p12 * chi * z2 - p12)
    E1 = psi2 * chi**3 * z4 - psi2 * chi**2 * z2 + p12 * chi * z2 - p12
    E2 = (chi**5 * z6 - 3 * chi**4 * z4 + (psi1 - 1) * chi**3 * z6 + 2 * chi**3 * z4 + 3 * chi**3 * z2
          + (-psi1 - 1) * chi**2 * z4 - 2 * chi**2 * z2 - chi**2)
    B = E1 / E0
    V = E2 / E0
    R = f1 * B + (noise + fstar_sq) * V + fstar_sq
    out = R + noise
    out = float(out) if np.ndim(out) == 0 else out
    if parts:
        return out, {"B": B, "V": V, "chi": chi, "R": R}
    return out


# --------------------------------------------------------------------------- rates
def rates(capacity: float, source: float, ell: float | None = None, *, noise: float | None = None,
          task: str = "ridge") -> dict:
    """Predicted decay exponents of the excess test error, ``eps_g - sigma^2 ~ n^(-exponent)``.

    Kernel ridge regression under capacity ``a`` (``omega_k ~ k^-a``) and source ``r``
    (``theta*_k^2 omega_k ~ k^(-1-2ar)``), regularisation ``lambda ~ n^(-ell)``
    (Cui, Loureiro, Krzakala, Zdeborova, NeurIPS 2021, sec. 3, eqs. (11)-(14) and Fig. 1);
    with ``rt = min(r, 1)`` (saturation of ridge at r = 1):

    * ``noiseless`` (sigma = 0, or n below the crossover): ``2 rt min(ell, a)``;
    * ``noisy`` (n above the crossover): ``2 rt ell`` for ``ell <= ell_opt``,
      ``1 - ell / a`` for ``ell_opt <= ell <= a`` (variance dominated), ``0`` for ``ell >= a``;
    * ``ell_opt = a / (1 + 2 a rt)``: the optimal decay, with the classical minimax rate
      ``optimal = 2 a rt / (1 + 2 a rt)``;
    * ``crossover``: True when ``ell > ell_opt``, i.e. a noisy learning curve first decays with the
      noiseless exponent and then crosses over to the (slower) noisy one; with ``noise = sigma^2``
      given, ``n_crossover`` is the scaling ``sigma^(-2 / (noiseless - noisy))`` of the crossover
      sample size (up to an O(1) constant).

    ``ell=None`` returns only the ``ell``-independent values (``ell_opt``, ``optimal``, and the
    noiseless exponent at ``ell >= a``, ``2 a rt``).

    Kernel classification of a noiseless sign target ``y = sign(z)`` (Cui, Loureiro, Krzakala,
    Zdeborova, Mach. Learn.: Sci. Technol. 2023): the 0-1 test error decays as ``n^(-exponent)``
    (key ``"exponent"``; the ``ell``-dependent keys are not given):

    * ``task="svm"`` (alias ``"max_margin"``): the max-margin SVM (``ERM(HardMargin(), L2)``),
      ``exponent = a rs / (1 + a rs)`` with ``rs = min(r, 1/2)``: the error saturates at source
      1/2 (log corrections at r = 1/2 exactly);
    * ``task="ridge_classification"``: the optimally regularised ridge classifier (square loss on
      the labels), ``exponent = a rt / (1 + 2 a rt)`` with ``rt = min(r, 1)`` (also under key
      ``"optimal"``).  Heuristic: the nonlinear part of ``sign(z)`` acts on ridge as noise of
      variance ``1 - 2/pi``, so the squared error of the learned direction decays with the noisy
      optimal KRR rate and the 0-1 error ``arccos(m / sqrt(rho q)) / pi`` with its square root.

    Both exponents, including the saturation points, are reproduced by fitting the learning
    curves of the Gaussian covariate engine with a :class:`~solvable.data.PowerLaw` spectrum
    (tests/test_kernels_rates.py), the SVM one through the max-margin fixed point.
    """
    a, r = float(capacity), float(source)
    if not np.isfinite(a) or a <= 1:
        raise ValueError(f"rates: capacity must be > 1, got capacity={capacity!r}")
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"rates: source must be >= 0, got source={source!r}")
    task = {"max_margin": "svm"}.get(task, task)
    if task not in ("ridge", "ridge_classification", "svm"):
        raise ValueError(f"rates: unknown task {task!r}; implemented: 'ridge' (kernel ridge regression), "
                         f"'ridge_classification' (optimally regularised ridge classifier), "
                         f"'svm' = 'max_margin' (max-margin SVM)")
    rt = min(r, 1.0)
    if task in ("ridge_classification", "svm") and ell is not None:
        raise ValueError(f"rates: task={task!r} has no regularisation exponent (give ell=None)")
    if task == "ridge_classification":
        e = a * rt / (1.0 + 2.0 * a * rt)
        return {"capacity": a, "source": r, "task": task, "exponent": e, "optimal": e}
    if task == "svm":
        rs = min(r, 0.5)
        return {"capacity": a, "source": r, "task": task, "exponent": a * rs / (1.0 + a * rs)}
    ell_opt = a / (1.0 + 2.0 * a * rt)
    out = {"capacity": a, "source": r, "ell_opt": ell_opt, "optimal": 2 * a * rt / (1 + 2 * a * rt),
           "interpolation": 2 * a * rt}
    if ell is None:
        return out
    ell = float(ell)
    if not np.isfinite(ell) or ell < 0:
        raise ValueError(f"rates: ell must be >= 0, got ell={ell!r}")
    noiseless = 2.0 * rt * min(ell, a)
    if ell <= ell_opt:
        noisy = 2.0 * rt * ell
    elif ell <= a:
        noisy = 1.0 - ell / a
    else:
        noisy = 0.0
    out.update(ell=ell, noiseless=noiseless, noisy=noisy, crossover=bool(ell > ell_opt and noiseless > noisy))
    if noise is not None:
        if noise < 0:
            raise ValueError(f"rates: noise must be >= 0, got noise={noise!r}")
        out["n_crossover"] = (noise ** (-1.0 / (noiseless - noisy)) if out["crossover"] and noise > 0 else math.inf)
    return out

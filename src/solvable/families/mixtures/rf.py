"""Random features on a Gaussian mixture: the feature-space mixture (Gaussian equivalence per
cluster) and the matched finite-size random-features simulation.

Refinetti, Goldt, Krzakala, Zdeborova (ICML 2021), the section on random features on Gaussian
mixtures (and RF_analytical_error.py of their code): with a fixed random first layer ``F`` (p x d, i.i.d. N(0, 1)) the features
``phi(x) = sigma(F x / sqrt(d)) - c0`` of an input of cluster ``a`` are, in the high-dimensional
limit, equivalent to a Gaussian of the features' exact mean and covariance given ``a``; the
random-features classifier (ERM on ``w . phi / sqrt(p) + b``) is then ERM on a Gaussian mixture
in feature space with full (p x p) covariances, solved by the mixture engine
(:class:`~solvable.families.mixtures.equations.MixtureERM`; Loureiro et al., NeurIPS 2021, for the
equations).

Per cluster, ``u = F x / sqrt(d)`` is Gaussian with ``E u_i = f_i . mu_a / sqrt(d)``,
``Cov(u_i, u_j) = s_a f_i . f_j / d``.  With ``xi_i`` the standardised ``u_i`` and the Hermite
coefficients ``c_k(i) = E[sigma(u_i) He_k(xi_i)]`` (one-dimensional quadrature, split at the
activation's kinks), Mehler's expansion gives for ``i != j`` (correlation ``r_ij``)

    Cov(sigma(u_i), sigma(u_j)) = sum_{k >= 1} c_k(i) c_k(j) r_ij^k / k!,

kept to ``k = 3`` (the ``k = 2`` term is the O(1) spike along the mean feature; the rest is
O(1/d^2) per entry), and the exact variance on the diagonal.  ``c0`` centres the features on
their mixture mean (a constant shift, absorbed by a bias).  The first-order (``k = 1``) part is the
usual Gaussian equivalence (Mei & Montanari 2022; Goldt et al. 2022); the means carry the
cluster structure: for the XOR mixture the label information sits in second order,
``c_2(i) (f_i . mu)^2 / d``, so the linear-regime kernel error stays near 1/2 (Refinetti et al.
2021).
"""
from __future__ import annotations

import math

import numpy as np

from solvable.blocks.activations import Activation, get_activation
from solvable.numerics.gauss import composite_legendre_nodes

__all__ = ["random_features_mixture", "rf_feature_moments", "simulate_random_features_mixture"]

_KMAX = 3


def _hermite_coefficients(act, mean, sd, kmax=_KMAX, n=40):
    """``c_k = E[sigma(mean + sd xi) He_k(xi)]`` for k = 0..kmax, and ``E[sigma^2]`` (arrays like mean)."""
    z, w = composite_legendre_nodes(mean, sd, list(act.kinks), n, 10.0)
    vals = act(mean[..., None] + sd[..., None] * z)
    he = [np.ones_like(z), z]
    for k in range(2, kmax + 1):
        he.append(z * he[-1] - (k - 1) * he[-2])
    return np.stack([np.sum(w * vals * h, axis=-1) for h in he[:kmax + 1]]), np.sum(w * vals * vals, axis=-1)


def rf_feature_moments(F, means, variances, activation):
    """Means (C, p) and covariances (C, p, p) of ``sigma(F x / sqrt(d))`` given each cluster
    (``x = mu_a + sqrt(s_a) z``, means (C, d), variances (C,)): module docstring."""
    act = activation if isinstance(activation, Activation) else get_activation(activation)
    F = np.asarray(F, float)
    p, d = F.shape
    r = np.sqrt(np.sum(F * F, axis=1) / d)  # |f_i| / sqrt(d)
    Fn = F / (r[:, None] * np.sqrt(d))
    corr = Fn @ Fn.T
    np.fill_diagonal(corr, 0.0)
    C = means.shape[0]
    mean_out = np.empty((C, p))
    cov_out = np.empty((C, p, p))
    for a in range(C):
        m = F @ means[a] / np.sqrt(d)
        sd = np.sqrt(variances[a]) * r
        ck, e2 = _hermite_coefficients(act, m, sd)
        cov = np.zeros((p, p))
        for k in range(1, _KMAX + 1):
            cov += np.outer(ck[k], ck[k]) * corr ** k / math.factorial(k)
        cov[np.diag_indices(p)] = e2 - ck[0] ** 2
        mean_out[a], cov_out[a] = ck[0], cov
    return mean_out, cov_out


def _features(problem, activation, p, d, seed):
    from solvable.families.mixtures.problem import GaussianMixture

    if not isinstance(problem, GaussianMixture):
        raise ValueError(f"random_features_mixture: problem must be a GaussianMixture, got {problem!r}")
    mix = problem.data
    if mix.kind != "scalar":
        raise ValueError(f"random_features_mixture: scalar cluster covariances only, got kind {mix.kind!r}")
    for name, val in (("p", p), ("d", d)):
        if isinstance(val, bool) or int(val) != val or val < 2:
            raise ValueError(f"random_features_mixture: {name} must be an integer >= 2, got {name}={val!r}")
    p, d = int(p), int(d)
    F = np.random.default_rng(seed).standard_normal((p, d))
    mu, _ = mix.embed(d)
    means, covs = rf_feature_moments(F, mu, mix.covariances, activation)
    c0 = mix.weights @ means
    return F, c0, means - c0, covs


def random_features_mixture(problem, activation="relu", *, p: int, d: int, seed: int = 0):
    """The random-features problem on ``problem`` (a :class:`GaussianMixture` with scalar
    covariances) as a :class:`GaussianMixture` in feature space: features
    ``sigma(F x / sqrt(d)) - c0`` with ``F`` (p x d) drawn from ``default_rng(seed)``, each
    cluster replaced by the Gaussian of its features' mean and covariance (module docstring),
    ``alpha`` rescaled to ``n / p = alpha d / p`` (``n = alpha d`` samples).  Predict with
    ``sv.predict(rf_problem, sv.ERM(...))`` (the mixture engine at dimension ``p``)."""
    from solvable.blocks.data.mixture import Mixture

    _, _, means, covs = _features(problem, activation, p, d, seed)
    mix = problem.data
    feat = Mixture(means, covs, mix.weights, mix.labels)
    return problem.at(data=feat, alpha=np.asarray(problem.alpha, float) * d / p if np.ndim(problem.alpha)
                      else float(problem.alpha) * d / p)


def simulate_random_features_mixture(problem, learner, activation="relu", *, p: int, d: int, seed: int = 0,
                                     seeds=range(4), n_test: int = 20000) -> list[dict]:
    """Random-features ERM at finite size: the first layer ``F`` of ``random_features_mixture``
    (same ``seed``), ``n = round(alpha d)`` samples of the mixture per data seed, the features
    ``sigma(F x / sqrt(d)) - c0``, ERM with the exact solvers
    (:func:`solvable.families.erm.solvers.solve_erm`, a bias column as in
    :class:`~solvable.families.mixtures.experiment.MixtureERMExperiment`); the test error on
    ``n_test`` fresh samples (``y (w . phi / sqrt(p) + b) <= 0`` counts as an error).  One dict per
    data seed: ``test_error``, ``train_loss``, ``train_error``."""
    from solvable.families.erm.solvers import solve_erm
    from solvable.families.mixtures.experiment import BIAS_COLUMN

    act = activation if isinstance(activation, Activation) else get_activation(activation)
    F, c0, _, _ = _features(problem, act, p, d, seed)
    mix, tab = problem.data, problem.label_table
    n = int(round(float(problem.alpha) * d))
    out = []
    for s in seeds:
        rng = np.random.default_rng([int(seed), int(s)])

        def draw(m):
            X, c, _ = mix.sample(m, d, rng)
            y = np.where(rng.random(m) < tab[c, 0], 1.0, -1.0)
            return (act(X @ F.T / np.sqrt(d)) - c0) / np.sqrt(p), y

        A, y = draw(n)
        if learner.bias:
            A = np.column_stack([A, np.full(n, BIAS_COLUMN)])
        w = solve_erm(learner.loss, learner.penalty, A, y)
        b = float(w[-1] * BIAS_COLUMN) if learner.bias else 0.0
        w = w[:-1] if learner.bias else w
        At, yt = draw(int(n_test))
        z = (A[:, :p] @ w + b)
        zt = At @ w + b
        out.append({"test_error": float(np.mean(yt * zt <= 0)), "train_loss": float(np.mean(learner.loss.value(y, z))),
                    "train_error": float(np.mean(y * z <= 0))})
    return out

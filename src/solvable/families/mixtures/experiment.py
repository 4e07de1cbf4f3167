"""Finite-size ERM on Gaussian mixtures (the counterpart of
:mod:`solvable.families.mixtures.equations`).

Per seed: draw ``n = round(alpha d)`` samples of the mixture at dimension ``d``
(:meth:`solvable.data.Mixture.sample`), their labels, and minimise
``sum_i loss(y_i, w . x_i / sqrt(d) + b) + lam |w|^2 / 2`` with the exact solvers of
:func:`solvable.families.erm.solvers.solve_erm` (closed form, L-BFGS + Newton, active sets).
The bias is the weight of a constant column ``c = 10`` appended to ``X / sqrt(d)``: it is
penalised by ``lam b^2 / (2 c^2)``, which moves it by a relative ``O(lam / (c^2 n))``, far below
the ``1 / sqrt(d)`` fluctuations measured.

Measured with the theory's names: ``m_k = w . mu_k / sqrt(d)``, ``q_k = w^T Sigma_k w / d``,
``norm = |w|^2 / d``, ``bias``; the test errors exactly given ``w`` (Gaussian clusters:
:func:`~solvable.families.mixtures.equations.cluster_errors`, the theory's formula, no test-set noise), and the training loss and
error on the training set.
"""
from __future__ import annotations

import numpy as np

from solvable.core.contract import Experiment
from solvable.families.mixtures.equations import _check, cluster_errors

__all__ = ["MixtureERMExperiment", "BIAS_COLUMN"]

BIAS_COLUMN = 10.0


class MixtureERMExperiment(Experiment):
    """One seed of ERM on a Gaussian mixture (see the module docstring)."""

    def sample(self, d, rng):
        pb = self.problem
        _check(pb, self.learner)
        n = int(round(float(pb.alpha) * d))
        if n < 1:
            raise ValueError(f"simulate: alpha * d = {float(pb.alpha) * d} gives no samples")
        X, c, (mu, fac) = pb.data.sample(n, d, rng)
        tab = pb.label_table
        y = np.where(rng.random(n) < tab[c, 0], 1.0, -1.0)
        return {"X": X, "y": y, "c": c, "mu": mu, "fac": fac, "d": d}

    def fit(self, data, rng):
        from solvable.families.erm.solvers import solve_erm

        A = data["X"] / np.sqrt(data["d"])
        if self.learner.bias:
            A = np.column_stack([A, np.full(len(A), BIAS_COLUMN)])
        w = solve_erm(self.learner.loss, self.learner.penalty, A, data["y"])
        if self.learner.bias:
            return w[:-1], float(w[-1] * BIAS_COLUMN)
        return w, 0.0

    def measure(self, data, est):
        w, b = est
        d, mu, fac = data["d"], data["mu"], data["fac"]
        K = mu.shape[0]
        m = mu @ w / np.sqrt(d)
        if fac.ndim == 2:
            q = ((fac * w) ** 2).sum(axis=1) / d
        else:
            q = np.array([np.sum((fac[k] @ w) ** 2) for k in range(K)]) / d
        err_k = cluster_errors(m, q, b, self.problem.label_table)
        rho = self.problem.data.weights
        z = data["X"] @ w / np.sqrt(d) + b
        y = data["y"]
        out = {f"{s}_{k}": float(arr[k]) for s, arr in (("m", m), ("q", q)) for k in range(K)}
        out.update({f"test_error_{k}": float(err_k[k]) for k in range(K)})
        out.update({"bias": b, "norm": float(w @ w / d), "test_error": float(err_k @ rho),
                    "train_loss": float(np.mean(self.learner.loss.value(y, z))),
                    "train_error": float(np.mean(y * z <= 0))})
        return out

"""Finite-d online SGD of a two-layer network on a Gaussian mixture (the counterpart of
:mod:`solvable.families.mixtures.dynamics`).

Per seed (``rng = default_rng(seed)``): ``W0`` i.i.d. N(0, init_scale^2) is the first draw (the
theory's ``d, seed`` options draw the same, so both start from the same overlaps), then a
stream of fresh samples: cluster ``a ~ rho``, ``x = mu_a + sqrt(s_a) z``, label ``y ~ P(y | a)``,
and the update of :class:`~solvable.families.sgd.OnlineSGD` (Refinetti et al., ICML 2021,
and their code; Saad & Solla 1995):

    w_k <- (1 - lr wd / d) w_k + (lr / (B sqrt d)) sum_b c v_k g'(lambda_kb) Delta_b x_b,
    v_k <- v_k + (lr_v / (B d)) sum_b c g(lambda_kb) Delta_b          (if the second layer is trained).

A chunk of steps is drawn at once; within it the local fields follow from the Gram matrix of the
chunk's inputs (the trick of :mod:`solvable.families.sgd.algorithm`), so a step costs O(K B) and
never touches a d-vector.  Measured at the learner's times: ``Q = W W^T / d``, ``M = W mu^T /
sqrt(d)``, ``v`` and, from them, the exact test error and mse
(:func:`~solvable.families.mixtures.dynamics.sgd_mixture_fields`, the theory's function: given
``W`` the local fields of a fresh sample of cluster ``a`` are exactly ``N(M[:, a], s_a Q)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvable.core.contract import Experiment, ExperimentOptions
from solvable.families.mixtures.dynamics import (check_sgd_mixture, initial_weights, overlaps,
                                                 sgd_mixture_fields, stack_rows)

__all__ = ["MixtureSGDExperiment", "MixtureSGDExperimentOptions", "online_sgd_mixture"]


@np.errstate(over="ignore", invalid="ignore")  # a blow-up is caught at the end of its chunk
def online_sgd_mixture(W0, v0, mix, table, d, rng, record_steps, *, act, c, lr, lr_v, weight_decay=0.0,
                       batch_size=1, train_v=False, chunk_steps=256, blowup=1e8):
    """Run online SGD from ``W0`` (K, d), ``v0`` (K,) on samples of ``mix`` (a
    :class:`~solvable.data.Mixture`, labels drawn from ``table`` = P(y | cluster)) and return the
    weights at ``record_steps``: a list of ``(W, v)`` (None after a blow-up)."""
    W = np.array(W0, float)
    v = np.array(v0, float)
    K = W.shape[0]
    B = int(batch_size)
    sqd = np.sqrt(d)
    shrink = 1.0 - lr * weight_decay / d
    a_w = lr / (B * sqd)
    a_v = lr_v / (B * d)
    mu, fac = mix.embed(d)
    out = []
    rec = 0
    record_steps = np.asarray(record_steps, np.int64)
    while rec < record_steps.size and record_steps[rec] == 0:
        out.append((W.copy(), v.copy()))
        rec += 1
    total = int(record_steps[-1])
    step = 0
    while step < total:
        n = min(chunk_steps, total - step)
        nB = n * B
        cl = rng.choice(mix.K, size=nB, p=mix.weights)
        X = mu[cl] + rng.standard_normal((nB, d)) * fac[cl]
        y = np.where(rng.random(nB) < table[cl, 0], 1.0, -1.0)
        L0 = X @ W.T / sqd  # (nB, K)
        G = X @ X.T / d
        P = np.zeros((nB, K))
        A = np.empty((nB, K))
        gsc = 1.0  # W_t = gsc (W_chunk + a_w sum_s A_s^T x_s)
        for j in range(n):
            r = slice(j * B, (j + 1) * B)
            lam = gsc * (L0[r] + (lr / B) * P[r])
            h = act(lam)
            delta = y[r] - c * (h @ v)
            a = (c * delta)[:, None] * act.derivative(lam) * v
            g_new = shrink * gsc
            A[r] = a / g_new
            P += G[:, r] @ A[r]
            gsc = g_new
            if train_v:
                v = v + a_v * c * (delta @ h)
            step += 1
            while rec < record_steps.size and record_steps[rec] == step:
                jj = (j + 1) * B
                out.append((gsc * (W + a_w * (A[:jj].T @ X[:jj])), v.copy()))
                rec += 1
        W = gsc * (W + a_w * (A.T @ X))
        if not np.all(np.isfinite(W)) or np.abs(W).max() > blowup:
            out.extend([None] * (record_steps.size - len(out)))
            break
    return out


@dataclass(frozen=True)
class MixtureSGDExperimentOptions(ExperimentOptions):
    """``v0``: the initial second layer (None: ``init['v']`` or ones; the theory's ``v0`` option);
    ``n_nodes``, ``n_line``, ``n_err``: the quadrature of the exact test error (as the theory's)."""

    v0: object = None
    n_nodes: int | None = None
    n_line: int = 8
    n_err: int | None = None


class MixtureSGDExperiment(Experiment):
    """One seed of online SGD on a Gaussian mixture (module docstring)."""

    Options = MixtureSGDExperimentOptions

    def sample(self, d, rng):
        check_sgd_mixture(self.problem, self.learner)
        K = self.learner.width
        if self.problem.data.p > d:
            raise ValueError(f"simulate: the means are given in p = {self.problem.data.p} dimensions; need d >= p, got d={d}")
        W0, v0 = initial_weights(self.learner, K, d, rng)
        if self.options.v0 is not None:
            v0 = np.asarray(self.options.v0, float)
        return {"W0": W0, "v0": v0, "d": d, "rng": rng}

    def fit(self, data, rng):
        ln, pb = self.learner, self.problem
        t = ln.time_grid()
        steps = np.round(t * data["d"]).astype(np.int64)
        return online_sgd_mixture(data["W0"], data["v0"], pb.data, pb.label_table, data["d"], data["rng"], steps,
                                  act=ln.activation, c=ln.output_scale, lr=ln.lr_first_eff, lr_v=ln.lr_second_eff,
                                  weight_decay=ln.weight_decay, batch_size=ln.batch_size,
                                  train_v=ln.train_second_layer)

    def measure(self, data, est):
        d = data["d"]
        mu, _ = self.problem.data.embed(d)
        o = self.options
        quad = {"n_nodes": o.n_nodes, "n_line": o.n_line, "n_err": o.n_err}
        rows = []
        for item in est:
            if item is None:
                rows.append(None)
                continue
            W, v = item
            Q, M = overlaps(W, mu, d)
            rows.append(sgd_mixture_fields(M, Q, v, self.problem, self.learner, **quad))
        out = stack_rows(rows, self.learner.width, self.problem.data.K)
        out["t"] = np.round(self.learner.time_grid() * d) / d
        return out


def sgd_registration() -> dict:
    """The (GaussianMixture, OnlineSGD) entries of the mixtures family's registration: theory,
    simulation, common fields and a contract example."""
    from solvable.blocks.data.mixture import Mixture
    from solvable.core.registry import Example
    from solvable.families.mixtures.dynamics import MixtureSGD
    from solvable.families.mixtures.problem import GaussianMixture
    from solvable.families.sgd.learner import OnlineSGD

    pair = (GaussianMixture, OnlineSGD)
    example = Example(GaussianMixture(Mixture.symmetric(1.0, covariance=0.5)),
                      OnlineSGD(width=2, lr=0.5, time=2.0, n_times=5, train_second_layer=True), d=60,
                      theory_options={"d": 60}, fail_options={"max_seconds": 0.0})
    return {"theory": {pair: MixtureSGD}, "simulation": {pair: MixtureSGDExperiment},
            "fields": {pair: ("t", "test_error", "mse", "Q_00", "Q_01", "Q_11", "M_00", "M_10", "v_0", "v_1")},
            "examples": [example]}

"""Finite-d online SGD of a two-layer student on a committee teacher (matches ``theory.sgd_ode``).

All seeds run together (``batched=True``).  Each seed draws its teacher, its initial student
and its data stream exactly as :func:`solvable.families.sgd.problem.draw_committee_init` says, so
``predict(problem, learner, d=d, seed=s)`` starts from the same overlaps as seed ``s`` here.
``test_error = E[(yhat - y)^2]/2`` on fresh noiseless labels: given the weights, the local fields
``(lambda, nu)`` of a fresh Gaussian input are exactly ``N(0, Omega_d)`` with the measured finite-d
overlaps, so for erf/erf and ReLU/ReLU it is computed exactly from them by the closed forms the
ODEs use (:func:`solvable.families.sgd.integrals.generalisation_error`); for other activations
it is estimated on ``n_test`` fresh fields per time (same common random numbers at every time of
a seed).  This replaced a Monte Carlo estimate everywhere, which took 61% of the simulation time
of a K = 2 erf committee at d = 1000 (issue 14).
"""
from __future__ import annotations

import numpy as np

from solvable.families.sgd.algorithm import online_sgd_committee
from solvable.families.sgd.integrals import generalisation_error, has_closed_form
from solvable.families.sgd.learner import OnlineSGD
from solvable.families.sgd.problem import Committee, draw_committee_init

__all__ = ["simulate_committee_sgd"]


def _test_error(Q, R, T, v, vstar, c, student, teacher, z):
    """Monte Carlo ``E[(yhat - y)^2]/2`` over fresh fields ``f = Omega^{1/2} z`` (z fixed)."""
    K = Q.shape[0]
    Om = np.block([[Q, R], [R.T, T]])
    lam_, U = np.linalg.eigh(Om)
    root = (U * np.sqrt(np.clip(lam_, 0, None))) @ U.T
    f = z @ root
    y = teacher(f[:, K:]) @ vstar
    yhat = c * (student(f[:, :K]) @ v)
    return 0.5 * float(np.mean((yhat - y) ** 2))


def simulate_committee_sgd(problem: Committee, learner: OnlineSGD, *, d: int, seeds, n_test: int = 100_000) -> list[dict]:
    """One dict per seed with arrays over the learner's time grid: ``t`` (= recorded steps / d),
    ``test_error``, ``Q``, ``R``, ``T``, ``v`` (and ``diverged``)."""
    K, M = learner.width, problem.k
    t_grid = learner.time_grid()
    steps = np.round(t_grid * d).astype(np.int64)
    W0s, Wss, rngs, v0s = [], [], [], []
    for s in seeds:
        W0, Ws, rng = draw_committee_init(problem, K, learner.init_scale, d, s, spherical=learner.spherical)
        v0 = np.ones(K)
        if isinstance(learner.init, dict):
            W0 = np.asarray(learner.init["W"], dtype=float)
            if W0.shape != (K, d):
                raise ValueError(f"init['W'] has shape {W0.shape}, but the simulation runs at d={d}: need ({K}, {d})")
            if "W_teacher" in learner.init:
                Ws = np.asarray(learner.init["W_teacher"], dtype=float)
                if Ws.shape != (M, d):
                    raise ValueError(f"init['W_teacher'] must have shape ({M}, {d}), got {Ws.shape}")
            v0 = np.asarray(learner.init.get("v", v0), dtype=float)
            if learner.spherical:
                W0 = W0 * (np.sqrt(d) / np.linalg.norm(W0, axis=1, keepdims=True))
        W0s.append(W0)
        Wss.append(Ws)
        rngs.append(rng)
        v0s.append(v0)
    out = online_sgd_committee(
        np.stack(W0s), np.stack(Wss), np.stack(v0s), problem.second_layer, rngs, steps,
        student=learner.activation, student_derivative=learner.activation.derivative,
        teacher=problem.activation, c=learner.output_scale, lr=learner.lr_first_eff,
        lr_v=learner.lr_second_eff, noise=problem.noise, weight_decay=learner.weight_decay,
        batch_size=learner.batch_size, train_v=learner.train_second_layer,
        spherical=learner.spherical,
    )
    runs = []
    exact = has_closed_form(learner.activation, problem.activation)
    for j, s in enumerate(seeds):
        if exact:
            def error(Q, R, T, v):
                return generalisation_error(Q, R, T, v, problem.second_layer, learner.output_scale,
                                            learner.activation, problem.activation)
        else:
            z = np.random.default_rng([int(s), 7]).standard_normal((n_test, K + M))

            def error(Q, R, T, v, z=z):
                return _test_error(Q, R, T, v, problem.second_layer, learner.output_scale, learner.activation,
                                   problem.activation, z)
        eg = np.array([
            error(out["Q"][j, i], out["R"][j, i], out["T"][j], out["v"][j, i])
            if np.all(np.isfinite(out["Q"][j, i])) else np.nan
            for i in range(steps.size)
        ])
        runs.append({
            "t": steps / d,
            "test_error": eg,
            "Q": out["Q"][j],
            "R": out["R"][j],
            "T": np.broadcast_to(out["T"][j], (steps.size, M, M)).copy(),
            "v": out["v"][j],
            "diverged": float(out["diverged"][j]),
        })
    return runs

"""Timing of the ERM theory engine (solvable.families.erm.equations).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_erm.py
Prints the time per curve (median of repeats, imports and a warm-up call excluded).
Target (issue 4): a 20-point logistic curve, alpha in [0.5, 10], lam = 0.1, sign teacher,
well under 1 s on one core.
"""
from __future__ import annotations

import time

import numpy as np

import solvable as sv


def bench(label, problem, learner, repeats=5, **kw):
    sv.predict(problem, learner, **kw)  # warm-up (caches of quadrature rules)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        p = sv.predict(problem, learner, **kw)
        ts.append(time.perf_counter() - t)
    n = np.size(problem.alpha)
    ok = bool(np.all(p.converged))
    print(f"{label:<58s} {np.median(ts) * 1e3:8.1f} ms per curve ({n} points, converged={ok})")
    return np.median(ts)


def main():
    G = sv.priors.Gaussian()
    alpha = np.linspace(0.5, 10, 20)
    sign = sv.GLM(G, sv.channels.Sign(), alpha=alpha)
    t = bench("logistic, lam=0.1, sign teacher (target < 1 s)", sign, sv.ERM("logistic", sv.penalties.L2(0.1)))
    bench("hinge, lam=0.1, sign teacher", sign, sv.ERM("hinge", sv.penalties.L2(0.1)))
    bench("hinge, lam=1e-4 (max-margin limit, continuation)", sign, sv.ERM("hinge", sv.penalties.L2(1e-4)))
    bench("logistic, lam=0.1, Sign(noise=0.1, flip=0.1)", sign.at(channel=sv.channels.Sign(0.1, 0.1)),
          sv.ERM("logistic", sv.penalties.L2(0.1)))
    lin = sv.GLM(G, sv.channels.Linear(0.5), alpha=alpha)
    bench("ridge, lam=0.01, linear teacher", lin, sv.ERM("square", sv.penalties.L2(0.01)))
    bench("huber(1), lam=0.1, linear teacher", lin, sv.ERM(sv.losses.Huber(1.0), sv.penalties.L2(0.1)))
    bench("absolute, lam=0.1, linear teacher", lin, sv.ERM("absolute", sv.penalties.L2(0.1)))
    bench("logistic, lam=0.1, Covariance(200 eigenvalues)",
          sign.at(data=sv.data.Covariance(np.linspace(0.1, 3, 200))), sv.ERM("logistic", sv.penalties.L2(0.1)))
    bench("lasso, lam=0.1, Gauss-Bernoulli(0.2) prior",
          sv.GLM(sv.priors.GaussBernoulli(0.2), sv.channels.Linear(0.1), alpha=alpha), sv.ERM("square", sv.penalties.L1(0.1)))
    t0 = time.perf_counter()
    sv.optimal_penalty(sign, sv.ERM("logistic", sv.penalties.L2(0.1)))
    print(f"{'optimal_penalty, logistic, 20 alphas':<58s} {(time.perf_counter() - t0) * 1e3:8.1f} ms")
    print(f"\nlogistic target: {'PASS' if t < 1.0 else 'FAIL'} ({t:.3f} s < 1 s)")


if __name__ == "__main__":
    main()

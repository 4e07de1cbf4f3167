"""Finite-size ERM fits against scikit-learn, measured in the same run (issue 14).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_erm_solvers.py
Logistic regression, L2(lam = 0.1), sign teacher, d = 1000, n = 2000 (solvable's convention: ``A = X / sqrt(d)``,
scikit-learn's ``LogisticRegression(C = 1 / lam, fit_intercept=False)`` on the same ``A`` minimises the same
objective): the median time per fit over seeds, the test errors (equal to ~1e-7) and the KKT residuals
(:func:`solvable.families.erm.solvers.kkt_residual`).  The issue's target is 3x faster than scikit-learn.
"""
from __future__ import annotations

import time
import warnings

import numpy as np


def main(d=1000, n=2000, lam=0.1, seeds=10):
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from solvable.blocks.losses import get_loss
    from solvable.blocks.penalties import L2
    from solvable.families.erm.solvers import kkt_residual, solve_erm

    loss, pen = get_loss("logistic"), L2(lam)
    ours, ref, gap, k_ours, k_ref = [], [], [], [], []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(seeds):
            rng = np.random.default_rng(s)
            theta = rng.standard_normal(d)
            X = rng.standard_normal((n, d))
            A, y = X / np.sqrt(d), np.sign(X @ theta / np.sqrt(d))
            t = time.perf_counter()
            w = solve_erm(loss, pen, A, y)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            ws = LogisticRegression(C=1.0 / lam, fit_intercept=False, tol=1e-8, max_iter=10000).fit(A, y).coef_[0]
            ref.append(time.perf_counter() - t)
            err = [np.arccos(v @ theta / np.linalg.norm(v) / np.linalg.norm(theta)) / np.pi for v in (w, ws)]
            gap.append(abs(err[0] - err[1]))
            k_ours.append(kkt_residual(loss, pen, A, y, w))
            k_ref.append(kkt_residual(loss, pen, A, y, ws))
    a, b = np.median(ours), np.median(ref)
    print(f"logistic, d={d}, n={n}, lam={lam}, {seeds} seeds, one thread")
    print(f"  solvable     {a * 1e3:7.1f} ms per fit   KKT residual <= {max(k_ours):.1e}")
    print(f"  scikit-learn {b * 1e3:7.1f} ms per fit   KKT residual <= {max(k_ref):.1e}")
    print(f"  ratio (scikit-learn / solvable) = {b / a:.2f}  (target >= 3); max |test error difference| = {max(gap):.1e}")


if __name__ == "__main__":
    main()

"""Timings of the online-SGD family: ODE learning curves and vectorised simulations.

Run: ``python benchmarks/bench_sgd.py``.  Prints wall-clock seconds; no asserts.
"""
from __future__ import annotations

import time

import numpy as np

import solvable as sv


def _time(label, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<62s} {time.perf_counter() - t0:7.2f} s")
    return out


def main() -> None:
    p2 = sv.Committee(k=2)
    l2 = sv.OnlineSGD(width=2, lr=0.5, time=1000.0, init_scale=0.5, n_times=100)
    pred = _time("ODE erf K=M=2, lr=0.5, t in [0, 1000] (closed forms)", lambda: sv.predict(p2, l2, d=1000))
    print(f"    RHS evaluations: {pred.info['nfev']}, final test_error {pred.test_error[-1]:.2e}")
    p3 = sv.Committee(k=3)
    _time("ODE erf K=M=3, lr=0.5, t in [0, 1000]", lambda: sv.predict(p3, l2.at(width=3), d=1000))
    _time("ODE tanh K=M=2 (generic quadrature), t in [0, 20]",
          lambda: sv.predict(sv.Committee(k=2, activation="tanh"), l2.at(activation="tanh", time=20.0), d=1000))
    _time("ODE relu K=M=2 (exact integrals, I4 by 1D reduction), t in [0, 20]",
          lambda: sv.predict(sv.Committee(k=2, activation="relu"), l2.at(activation="relu", lr=0.1, time=20.0), d=1000))
    ls = sv.OnlineSGD(width=2, lr=0.5, time=20.0, init_scale=0.5, n_times=20)
    for d, seeds in ((500, 1), (500, 8), (2000, 4)):
        steps = int(20 * d)
        _time(f"simulation erf K=M=2, d={d}, {seeds} seeds, {steps} steps",
              lambda: sv.simulate(p2, ls, d=d, seeds=list(range(seeds))))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

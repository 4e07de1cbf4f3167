"""Timings of the low-rank (spiked matrix) engines.  Run: python benchmarks/bench_lowrank.py"""
from __future__ import annotations

import time

import numpy as np

import solvable as sv
from solvable.blocks.priors import GaussBernoulli, Rademacher, SparseRademacher


def timed(label, fn, repeat=1):
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    dt = (time.perf_counter() - t) / repeat
    print(f"{label:<62s} {dt * 1e3:9.1f} ms")
    return out


def main():
    curve = np.linspace(0.2, 5.0, 200)
    timed("Bayes-optimal curve, Rademacher, 200 snr", lambda: sv.predict(sv.SpikedWigner(Rademacher(), curve), sv.BayesOptimal()))
    timed("Bayes-optimal curve, sparse Rademacher(0.05), 200 snr",
          lambda: sv.predict(sv.SpikedWigner(SparseRademacher(0.05), curve * 100), sv.BayesOptimal()))
    timed("Bayes-optimal curve, Gauss-Bernoulli(0.1), 10 snr",
          lambda: sv.predict(sv.SpikedWigner(GaussBernoulli(0.1), np.linspace(20, 200, 10)), sv.BayesOptimal()))
    timed("phase_transitions, sparse Rademacher(0.05)",
          lambda: sv.phase_transitions(sv.SpikedWigner(SparseRademacher(0.05), 1.0), sv.BayesOptimal(), snr=(100, 600)))
    prof = sv.NoiseProfile([[1.0, 4.0], [4.0, 0.5]], [0.4, 0.6])
    timed("Bayes-optimal curve, 2-block profile, 50 snr",
          lambda: sv.predict(sv.SpikedWigner(Rademacher(), np.linspace(0.5, 4, 50), profile=prof), sv.BayesOptimal()))
    timed("Wishart Bayes-optimal curve, 200 snr",
          lambda: sv.predict(sv.SpikedWishart(Rademacher(), GaussBernoulli(0.3), curve, 2.0), sv.BayesOptimal()))
    for d in (500, 2000):
        prob = sv.SpikedWigner(Rademacher(), 2.0)
        timed(f"simulate AMP, Rademacher, d={d}, 1 seed", lambda: sv.simulate(prob, sv.AMP(), d=d, seeds=1))
        timed(f"simulate PCA, d={d}, 1 seed", lambda: sv.simulate(prob, sv.Spectral(), d=d, seeds=1))


if __name__ == "__main__":
    main()

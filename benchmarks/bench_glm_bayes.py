"""Timings of the Bayes-optimal GLM engine: 200-point alpha curves (BO and AMP state
evolution) for several prior x channel pairs, and one phase-transition scan.

Run: ``python benchmarks/bench_glm_bayes.py`` (single-threaded BLAS recommended).
"""
import time
import warnings

import numpy as np

import solvable as sv

P, C = sv.priors, sv.channels
PAIRS = [
    ("Gaussian x Linear(0.1)", P.Gaussian(), C.Linear(0.1)),
    ("Gaussian x Sign", P.Gaussian(), C.Sign()),
    ("Rademacher x Sign", P.Rademacher(), C.Sign()),
    ("GaussBernoulli(0.2) x Linear(1e-4)", P.GaussBernoulli(0.2), C.Linear(1e-4)),
    ("Gaussian x Probit", P.Gaussian(), C.Probit()),
    ("Gaussian x Abs", P.Gaussian(), C.Abs()),
    ("Gaussian x Square", P.Gaussian(), C.Square()),
]
# noisy continuous channels need a 3D integral (local field, inner field, output noise): slower
SLOW_PAIRS = [("Gaussian x ReLU(0.01)", P.Gaussian(), C.ReLU(0.01)), ("Gaussian x Abs(0.01)", P.Gaussian(), C.Abs(0.01))]


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def main():
    alphas = np.linspace(0.1, 3.0, 200)
    print(f"{'pair':40s} {'BO 200 pts':>12s} {'AMP 200 pts':>12s}")
    for name, prior, ch in PAIRS:
        prob = sv.GLM(prior=prior, channel=ch, alpha=alphas)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, tb = timed(lambda: sv.predict(prob, sv.BayesOptimal()))
            _, ta = timed(lambda: sv.predict(prob, sv.AMP()))
        print(f"{name:40s} {tb:11.3f}s {ta:11.3f}s")
    alphas = np.linspace(0.1, 3.0, 20)
    for name, prior, ch in SLOW_PAIRS:
        prob = sv.GLM(prior=prior, channel=ch, alpha=alphas)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, tb = timed(lambda: sv.predict(prob, sv.BayesOptimal()))
        print(f"{name:40s} {tb:11.3f}s (20 points, BO)")
    prob = sv.GLM(prior=P.Rademacher(), channel=C.Sign(), alpha=1.0)
    out, t = timed(lambda: sv.phase_transitions(prob, sv.BayesOptimal(), alpha=(0.5, 3.0)))
    print(f"phase_transitions Rademacher x Sign on (0.5, 3): {t:.1f}s  {out}")


if __name__ == "__main__":
    main()

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
# noisy ReLU / Abs: output noise integrated analytically, 2D (omega, y) rule interpolated in sqrt(V)
# (built once per channel and rho, ~0.1-0.7 s, then cached).  Before (3D rule, every iteration):
# 20-point BO curve 4.6 s ReLU(0.01), 3.7 s ReLU(0.1), 6.3 s Abs(0.01) on the same machine;
# Square(0.1): 3.9 s per evaluation of the channel integrals, a 20-point curve did not finish in 9 min.
NOISY_PAIRS = [("Gaussian x ReLU(0.01)", P.Gaussian(), C.ReLU(0.01)), ("Gaussian x ReLU(0.1)", P.Gaussian(), C.ReLU(0.1)),
               ("Gaussian x Abs(0.01)", P.Gaussian(), C.Abs(0.01)),
               ("Gaussian x Square(0.1)", P.Gaussian(), C.Square(0.1))]  # its build takes ~20-40 s (inner z integral)


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
    from solvable.families.glm_bayes import equations as glm_bayes

    print(f"{'noisy pair':40s} {'BO 20 pts (first, incl. build)':>31s} {'BO 20 pts':>10s} {'BO 200 pts':>11s} {'AMP 200 pts':>12s}")
    for name, prior, ch in NOISY_PAIRS:
        glm_bayes._PL_CACHE.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p20 = sv.GLM(prior=prior, channel=ch, alpha=np.linspace(0.1, 3.0, 20))
            p200 = sv.GLM(prior=prior, channel=ch, alpha=alphas)
            _, t1 = timed(lambda: sv.predict(p20, sv.BayesOptimal()))
            _, t2 = timed(lambda: sv.predict(p20, sv.BayesOptimal()))
            _, t3 = timed(lambda: sv.predict(p200, sv.BayesOptimal()))
            _, t4 = timed(lambda: sv.predict(p200, sv.AMP()))
        print(f"{name:40s} {t1:30.3f}s {t2:9.3f}s {t3:10.3f}s {t4:11.3f}s")
    prob = sv.GLM(prior=P.Rademacher(), channel=C.Sign(), alpha=1.0)
    out, t = timed(lambda: sv.phase_transitions(prob, sv.BayesOptimal(), alpha=(0.5, 3.0)))
    print(f"phase_transitions Rademacher x Sign on (0.5, 3): {t:.1f}s  {out}")


if __name__ == "__main__":
    main()

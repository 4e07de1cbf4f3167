"""Random features and kernel ridge: timings and the headline numbers.

Run: python benchmarks/bench_rf.py   (single core: OMP_NUM_THREADS=1)

Prints (1) the time of a 40-point random-features ridge curve through the Gaussian covariate
engine and its agreement with the Mei-Montanari closed form, (2) logistic / hinge RF curves,
(3) kernel-ridge learning curves (10^15 modes, tail quadrature) with fitted vs predicted exponents,
(4) max-margin SVM learning curves on a power-law spectrum (kernel classification rates) against
the hinge route at small lam, (5) real random features vs theory at d = 200.
"""
from __future__ import annotations

import time

import numpy as np

import solvable as sv
from solvable.blocks.data.kernels import PowerLaw, RandomFeatures
from solvable.families.random_features.equations import mei_montanari_test_error


def timed(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return out, best


def main():
    G = sv.priors.Gaussian()
    al = np.linspace(0.2, 5.0, 40)
    print("== random-features ridge, 40-point curve (erf, gamma=2, lam=1e-2, noise 0.1)")
    pb = sv.GLM(G, sv.channels.Linear(0.1), alpha=al, data=RandomFeatures("erf", 2.0))
    le = sv.ERM(sv.losses.Square(), sv.penalties.L2(1e-2))
    pr, t = timed(lambda: sv.predict(pb, le))
    mm, t_mm = timed(lambda: mei_montanari_test_error("erf", 2.0, al, 1e-2, noise=0.1))
    print(f"   engine {t * 1e3:.1f} ms, Mei-Montanari {t_mm * 1e3:.1f} ms, max rel diff {np.max(np.abs(pr.test_error / mm - 1)):.1e}")
    for loss in (sv.losses.Logistic(), sv.losses.Hinge()):
        pb = sv.GLM(G, sv.channels.Sign(), alpha=al, data=RandomFeatures("relu", 2.0))
        pr, t = timed(lambda: sv.predict(pb, sv.ERM(loss, sv.penalties.L2(0.1))))
        print(f"== {loss.name} on relu RF, 40-point curve: {t * 1e3:.1f} ms (converged {np.all(pr.converged)})")

    print("== kernel ridge, power-law spectrum: fitted vs predicted exponents (n = 1e3..1e6)")
    ns = np.logspace(1, 7, 61)
    for a, r, ell, noise, reg in [(2, 0.3, 3.0, 0.0, "noiseless"), (2, 0.3, 0.5, 0.0, "noiseless"),
                                  (2, 0.3, 0.5, 0.5, "noisy"), (2, 0.3, 1.5, 0.5, "noisy")]:
        pl = PowerLaw(a, r, n_modes=10**15, exact_modes=2000, tail_nodes=48)
        pb = sv.GLM(G, sv.channels.Linear(noise), alpha=pl.alpha(ns), data=pl)
        pr, t = timed(lambda: sv.predict(pb, sv.ERM(sv.losses.Square(), sv.penalties.L2(1.0)),
                                         lam=pl.penalty(ns, ns ** -ell), tol=1e-15, rtol=1e-14), repeat=1)
        e = pr.test_error - noise
        s = (ns >= 1e3 * 0.999) & (ns <= 1e6 * 1.001)
        fit = -np.polyfit(np.log(ns[s]), np.log(e[s]), 1)[0]
        print(f"   a={a} r={r} ell={ell} noise={noise}: fitted {fit:.4f}, predicted {sv.rates(a, r, ell)[reg]:.4f}"
              f"  ({ns.size}-point curve in {t * 1e3:.0f} ms)")

    print("== kernel classification, max-margin SVM: 21-point curve n = 1e2..1e7 (10^13 modes)")
    ns = np.logspace(2, 7, 21)
    for a, r in [(2, 0.3), (3, 1.0)]:
        pl = PowerLaw(a, r, n_modes=10**13, exact_modes=2000, tail_nodes=32)
        pb = sv.GLM(G, sv.channels.Sign(), alpha=pl.alpha(ns), data=pl)
        pr, t = timed(lambda: sv.predict(pb, sv.ERM("hard_margin", sv.penalties.L2(1.0))), repeat=1)
        s = ns >= 1e4 * 0.999
        fit = -np.polyfit(np.log(ns[s]), np.log(pr.test_error[s]), 1)[0]
        print(f"   a={a} r={r}: fitted {fit:.4f}, predicted {sv.rates(a, r, task='svm')['exponent']:.4f}"
              f"  ({t * 1e3:.0f} ms, converged {np.all(pr.converged)})")
    print("   hinge at lam = 1e-5 (continuation in lam), same curve for a=2 r=0.3, 6 points n = 1e2..1e4:")
    pl = PowerLaw(2, 0.3, n_modes=10**13, exact_modes=2000, tail_nodes=32)
    pb = sv.GLM(G, sv.channels.Sign(), alpha=pl.alpha(np.logspace(2, 4, 6)), data=pl)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr, t = timed(lambda: sv.predict(pb, sv.ERM("hinge", sv.penalties.L2(1e-5))), repeat=1)
    print(f"   {t * 1e3:.0f} ms (converged {int(np.sum(pr.converged))}/6)")

    print("== real random features (d=200, 10 seeds) vs theory")
    for act, ch, loss, alpha in [("erf", sv.channels.Linear(0.1), sv.losses.Square(), 1.0),
                                 ("relu", sv.channels.Linear(0.1), sv.losses.Square(), 1.0),
                                 ("relu", sv.channels.Sign(), sv.losses.Logistic(), 2.0)]:
        pb = sv.GLM(G, ch, alpha=alpha, data=RandomFeatures(act, 2.0))
        le = sv.ERM(loss, sv.penalties.L2(0.05 if loss.name == "square" else 0.1))
        th = sv.predict(pb, le)
        t = time.perf_counter()
        si = sv.simulate(pb, le, d=200, seeds=10)
        print(f"   {act} {loss.name}: theory {th.test_error:.4f}, simulation {si.test_error:.4f} +- {si.se('test_error'):.4f}"
              f"  ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()

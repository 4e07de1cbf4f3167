"""Timing of the multi-class Gaussian-mixture ERM theory (solvable.families.mixtures.multiclass).

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_mixtures_multiclass.py
Prints the time per point of 20-point K = 3 curves (median of repeats, warm-up excluded), and the
ratio against the approach of the authors' code (Loureiro et al. 2021, IdePHICS/GCMProject): the
same fixed point with every loss-side expectation estimated by 50,000 Monte Carlo samples per
cluster and update (written here with NumPy, the same K-dim prox and penalty side), with the
accuracy each reaches.
"""
from __future__ import annotations

import time

import numpy as np

import solvable as sv
from bench_mixtures import bench  # benchmarks/ is on the path when this script runs
from solvable.families.mixtures.multiclass import MulticlassMixtureERM, _sqrtm_psd, _inv

L2 = sv.penalties.L2


def monte_carlo_point(problem, learner, *, samples=50_000, iters=60, tol=1e-4, damping=0.5, seed=0):
    """The reference method: damped Picard iteration with Monte Carlo loss-side expectations
    (cross-entropy); stops when an update moves the state by less than ``tol`` (relative) or after
    ``iters`` updates (the Monte Carlo noise, ~1/sqrt(samples), sets its floor)."""
    rng = np.random.default_rng(seed)
    eng = MulticlassMixtureERM(problem, learner, MulticlassMixtureERM.Options())
    ch, K, D, rho = eng.channel, eng.K, eng.D, eng.rho
    alpha = np.atleast_1d(float(problem.alpha))
    x = eng.starts(alpha)["uninformative"]
    for it in range(iters):
        m, Q, V, b = eng._decode(x)
        xi = rng.standard_normal((K, samples, D))
        om = (m + b[:, None])[0][:, None, :] + np.einsum("kab,kmb->kma", _sqrtm_psd(Q[0]), xi)
        cls = np.repeat(np.arange(K), samples)
        Vr = np.repeat(V[0], samples, axis=0)
        z, _, g, H = ch.prox(cls, om.reshape(-1, D), Vr, _inv(Vr))
        f = -g.reshape(K, samples, D)
        df = (-H @ _inv(np.eye(D) + Vr @ H)).reshape(K, samples, D, D)
        mom = (f.mean(1)[None], np.einsum("kma,kmb->kab", f, f)[None] / samples, df.mean(1)[None])
        mm, QQ, VV, _ = eng.pen(*eng._hats(alpha, mom))
        if learner.bias:
            F = np.einsum("k,nka->na", rho, mom[0])
            J = np.einsum("k,nkab->nab", rho, mom[2])
            b = b - np.linalg.solve(J, F[..., None])[..., 0]
        new = (1 - damping) * eng._encode(mm, QQ, VV, b) + damping * x
        step = np.max(np.abs(new - x)) / max(1.0, np.max(np.abs(x)))
        x = new
        if step < tol:
            break
    return eng.observables(alpha, x), it + 1


def main():
    alpha = np.linspace(0.5, 5, 20)
    mu = np.array([[1.5, 0.0, 0.0], [0.0, 1.2, 0.3], [-0.5, -0.4, 1.3]])
    mix = sv.data.Mixture(mu, [1.0, 0.7, 1.4], [0.4, 0.35, 0.25])
    pb = sv.GaussianMixture(mix, alpha=alpha)
    sym = sv.GaussianMixture(sv.data.Mixture(np.eye(3) * 1.5), alpha=alpha)
    _, t_ce = bench("cross-entropy, lam=0.1, bias, K=3 (symmetric)", sym, sv.ERM("cross_entropy", L2(0.1), bias=True))
    bench("cross-entropy, lam=0.1, bias, K=3 (heteroscedastic)", pb, sv.ERM("cross_entropy", L2(0.1), bias=True))
    bench("square (one-hot), lam=0.1, bias, K=3", pb, sv.ERM("square", L2(0.1), bias=True))
    bench("one-vs-rest hinge, lam=0.1, bias, K=3", pb, sv.ERM("multiclass_hinge", L2(0.1), bias=True))

    pt = sym.at(alpha=2.0)
    lr = sv.ERM("cross_entropy", L2(0.1), bias=True)
    exact = sv.predict(pt, lr, n_nodes=96)
    t = time.perf_counter()
    p1 = sv.predict(pt, lr)
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    mc, it = monte_carlo_point(pt, lr)
    t_mc = time.perf_counter() - t
    err_mc = abs(float(mc["q_0_0_0"][0]) - exact.q_0_0_0) / exact.q_0_0_0
    err_q = abs(p1.q_0_0_0 - exact.q_0_0_0) / exact.q_0_0_0
    print(f"\nreference (Monte Carlo, 50,000 samples per cluster and update, {it} updates): {t_mc:.1f} s per point, "
          f"relative error of q_0_0_0 {err_mc:.1e}, test error {float(mc['test_error'][0]):.6f}")
    print(f"solvable (Gauss-Hermite cubature, 40 nodes per dimension): {t_one * 1e3:.0f} ms for this point alone, "
          f"{t_ce * 1e3:.0f} ms per point on a 20-point curve; relative error of q_0_0_0 {err_q:.1e} (vs 96 nodes), "
          f"test error {p1.test_error:.6f}; ratio {t_mc / t_one:.0f}x (single point), {t_mc / t_ce:.0f}x (on a curve)")


if __name__ == "__main__":
    main()

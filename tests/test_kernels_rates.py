"""Kernel ridge regression under source/capacity conditions: sv.rates (Cui, Loureiro, Krzakala,
Zdeborova 2021) vs exponents fitted on the learning curves of the Gaussian covariate engine with a
PowerLaw spectrum, in each regime; and KRR simulations on a synthetic Gaussian design."""
from __future__ import annotations

import numpy as np
import pytest

import solvable as sv
from solvable.blocks.data.kernels import PowerLaw

# 10^15 modes: the first 2000 summed exactly, the tail by quadrature in log k (see PowerLaw); the
# truncation is invisible for n <= 10^11.  Default tolerances: the square-loss engine returns the
# excess error as separate bias and variance terms (no cancellation), accurate down to 1e-10.
P = 10**15


def excess_curve(a, r, ell, noise, ns):
    pl = PowerLaw(a, r, n_modes=P, exact_modes=2000, tail_nodes=48)
    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(noise), alpha=pl.alpha(ns), data=pl)
    pr = sv.predict(pb, sv.ERM(sv.losses.Square(), sv.penalties.L2(1.0)), lam=pl.penalty(ns, ns ** (-ell)))
    assert np.all(pr.converged)
    return pr.test_error - noise


def fitted_exponent(ns, e, lo, hi):
    s = (ns >= lo * 0.999) & (ns <= hi * 1.001)
    return -np.polyfit(np.log(ns[s]), np.log(e[s]), 1)[0]


def test_rates_values():
    R = sv.rates(2.0, 0.5)
    # classical minimax rate of optimally regularised noisy KRR, 2 a r / (2 a r + 1)
    # (Caponnetto & De Vito 2007), reached at ell_opt = a / (1 + 2 a r)
    assert R["optimal"] == pytest.approx(2 / 3) and R["ell_opt"] == pytest.approx(2 / 3)
    R = sv.rates(2.0, 0.3, 1.5, noise=1e-4)
    assert R["noiseless"] == pytest.approx(0.9) and R["noisy"] == pytest.approx(0.25) and R["crossover"]
    assert R["n_crossover"] == pytest.approx(1e-4 ** (-1 / 0.65))
    assert sv.rates(2.0, 0.3, 0.5)["crossover"] is False
    assert sv.rates(2.0, 0.3, 3.0)["noisy"] == 0.0 and sv.rates(2.0, 0.3, 3.0)["noiseless"] == pytest.approx(1.2)
    assert sv.rates(2.0, 1.7, 3.0)["noiseless"] == pytest.approx(4.0)  # saturation: min(r, 1)
    with pytest.raises(ValueError, match="capacity"):
        sv.rates(0.5, 0.3)
    with pytest.raises(ValueError, match="task"):
        sv.rates(2.0, 0.3, 1.0, task="svm")
    assert sv.rates(2.0, 0.3, task="ridge_classification")["optimal"] == pytest.approx(0.6 / 2.2)


# (capacity, source, ell, noise, fit window, regime)
REGIMES = [
    (2.0, 0.3, 3.0, 0.0, (1e2, 1e5), "noiseless"),   # ell > a: 2 a r (interpolation)
    (2.0, 0.3, 0.5, 0.0, (1e3, 1e6), "noiseless"),   # ell < a: 2 ell r
    (2.0, 0.3, 0.5, 0.5, (1e3, 1e6), "noisy"),       # ell < ell_opt: bias dominated, 2 ell r
    (2.0, 0.3, 1.5, 0.5, (1e3, 1e6), "noisy"),       # ell_opt < ell < a: variance, 1 - ell/a
    (2.0, 0.3, 3.0, 0.5, (1e3, 1e6), "noisy"),       # ell > a: no decay
    (2.0, 0.3, 2.0 / 2.2, 0.5, (1e3, 1e6), "noisy"), # ell = ell_opt: 2ar/(1+2ar)
    (3.0, 0.25, 4.0, 0.0, (1e2, 1e5), "noiseless"),
]


@pytest.mark.parametrize("a,r,ell,noise,window,regime", REGIMES)
def test_fitted_exponents_match_rates(a, r, ell, noise, window, regime):
    ns = np.logspace(1, 7, 61)
    e = excess_curve(a, r, ell, noise, ns)
    got = fitted_exponent(ns, e, *window)
    want = sv.rates(a, r, ell)[regime]
    assert abs(got - want) < 0.05, (got, want)


def test_crossover_noiseless_to_noisy():
    """Small noise: the curve first decays with the noiseless exponent, then, past
    n* ~ sigma^(-2 / (noiseless - noisy)), with the noisy one; the noiseless curve keeps its rate."""
    a, r, ell, noise = 2.0, 0.4, 1.5, 1e-6
    R = sv.rates(a, r, ell, noise=noise)
    assert R["crossover"] and 1e5 < R["n_crossover"] < 1e7
    ns = np.logspace(1, 11, 101)
    e = excess_curve(a, r, ell, noise, ns)
    e0 = excess_curve(a, r, ell, 0.0, ns)
    early = fitted_exponent(ns, e, 1e3, 1e5)   # >= 20x below n*
    late = fitted_exponent(ns, e, 1e9, 1e11)   # >= 100x above n*
    assert abs(early - R["noiseless"]) < 0.05, early
    assert abs(late - R["noisy"]) < 0.05, late
    assert abs(fitted_exponent(ns, e0, 1e7, 1e9) - R["noiseless"]) < 0.05


def _krr_sim_vs_theory(n_modes, ns, seeds):
    pl = PowerLaw(2.0, 0.3, n_modes=n_modes)
    for n in ns:
        for noise in (0.0, 0.1):
            lam = pl.penalty(n, 1e-3)
            pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(noise), alpha=pl.alpha(n), data=pl)
            learner = sv.ERM(sv.losses.Square(), sv.penalties.L2(lam))
            th = sv.predict(pb, learner)
            si = sv.simulate(pb, learner, d=n_modes, seeds=seeds)
            t, s, se = th.test_error - noise, si.test_error - noise, si.se("test_error")
            # finite-size allowance: the deterministic equivalent of KRR is exact up to O(1/n)
            # relative corrections (measured: the n = 30 deviation is ~1 se), allow 1/n relative
            assert abs(s - t) <= 4 * se + t / n, (n, noise, t, s, se)


def test_krr_simulation_matches_theory():
    """Ridge on V = G sqrt(omega) with P = 1000 modes (the theory's truncation), n = 30..300."""
    _krr_sim_vs_theory(1000, (30, 100, 300), seeds=10)


@pytest.mark.slow
def test_krr_simulation_matches_theory_large():
    _krr_sim_vs_theory(4000, (100, 400, 1600), seeds=20)


def _ridge_classification_exponent(a, r, ns):
    import warnings

    pl = PowerLaw(a, r, n_modes=10**12, exact_modes=2000, tail_nodes=32)
    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=pl.alpha(ns), data=pl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pr = sv.families.erm.equations.optimal_penalty(pb, sv.ERM(sv.losses.Square(), sv.penalties.L2(1.0)),
                                           lam_range=(1e-30, 1e2), tol=1e-13, rtol=1e-12)
    assert np.all(pr.converged) and not np.any(pr.info.get("at_boundary", False))
    return -np.polyfit(np.log(ns), np.log(pr.test_error), 1)[0]


def test_ridge_classification_rate():
    """0-1 error of the optimally regularised ridge classifier on a sign target (engine + optimal_penalty)."""
    got = _ridge_classification_exponent(1.5, 0.4, np.logspace(4, 6, 3))
    assert abs(got - sv.rates(1.5, 0.4, task="ridge_classification")["optimal"]) < 0.05, got


@pytest.mark.slow
@pytest.mark.parametrize("a,r", [(2.0, 0.3), (2.0, 0.7), (2.0, 1.5)])
def test_ridge_classification_rate_more(a, r):
    got = _ridge_classification_exponent(a, r, np.logspace(4, 6, 4))
    assert abs(got - sv.rates(a, r, task="ridge_classification")["optimal"]) < 0.05, got


def test_ridge_classification_simulation_matches_theory():
    """Square loss on sign labels, Gaussian design with P = 500 power-law modes (the theory's
    truncation): 0-1 error and overlaps within 4 standard errors (40 seeds)."""
    pl = PowerLaw(2.0, 0.3, n_modes=500)
    for n, lam_krr in ((50, 1e-2), (200, 1e-3)):
        pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=pl.alpha(n), data=pl)
        learner = sv.ERM(sv.losses.Square(), sv.penalties.L2(pl.penalty(n, lam_krr)))
        th = sv.predict(pb, learner)
        si = sv.simulate(pb, learner, d=500, seeds=40)
        for f in ("test_error", "m", "q"):
            assert abs(getattr(si, f) - getattr(th, f)) < 4 * si.se(f), (n, f, getattr(th, f), getattr(si, f), si.se(f))

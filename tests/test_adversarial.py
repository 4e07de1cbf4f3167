"""The robust test error of a linear classifier under an isotropic L2 attack (issue 18; Tanner, Vilucchio,
Loureiro, Krzakala): the published test error at eps = 0, a Monte Carlo from the theory's joint Gaussian,
and real attacked classifiers (the exact inner maximisation of a linear classifier)."""
import numpy as np
import pytest

import solvable as sv
from solvable.families.erm.adversarial import robust_test_error, simulate_robust_test_error

G = sv.priors.Gaussian()
PB = sv.GLM(G, sv.channels.Sign(), alpha=2.0)
LOGISTIC = sv.ERM("logistic", sv.penalties.L2(0.1))


def test_published_and_monte_carlo():
    """Plain logistic (no adversarial training), sign teacher, alpha = 2, lam = 0.1: at eps = 0 the robust
    error is the test error 0.179662 (published); for eps > 0 against 4e6 draws of (z, omega) from the
    theory's joint Gaussian (0.22199 and 0.31929 at eps = 0.1, 0.3; measured within 1 se)."""
    r = sv.predict(PB, LOGISTIC)
    assert abs(robust_test_error(r, 0.0) - 0.179662) < 5e-7
    np.testing.assert_allclose(robust_test_error(r, 0.0), r.test_error, rtol=1e-12)
    m, q = float(r.m), float(r.q)
    rng = np.random.default_rng(0)
    N = 4_000_000
    z = rng.standard_normal(N)
    om = m * z + np.sqrt(q - m * m) * rng.standard_normal(N)
    for e, th in zip((0.1, 0.3), robust_test_error(r, [0.1, 0.3])):
        hit = np.sign(z) * om < e * np.sqrt(q)
        assert abs(hit.mean() - th) < 5 * hit.std() / np.sqrt(N), (e, hit.mean(), th)


def test_probit_curve_and_monotone():
    """A curve in alpha on a probit teacher: one row per point, increasing in eps, eps = 0 the test error."""
    r = sv.predict(PB.at(channel=sv.channels.Probit(0.3), alpha=np.array([0.5, 2.0, 5.0])), LOGISTIC)
    v = robust_test_error(r, np.array([0.0, 0.2, 0.5]))
    assert v.shape == (3, 3) and np.all(np.diff(v, axis=1) > 0)
    np.testing.assert_allclose(v[:, 0], r.test_error, rtol=1e-10)


@pytest.mark.parametrize("d, seeds", [(200, 6), pytest.param(800, 8, marks=pytest.mark.slow)])
def test_against_attacked_classifiers(d, seeds):
    """Logistic classifiers fitted at dimension d, attacked on 4e4 fresh samples each by the worst
    perturbation: within 4 se of the theory at eps = 0.1, 0.3."""
    th = robust_test_error(sv.predict(PB, LOGISTIC), [0.1, 0.3])
    sim = simulate_robust_test_error(PB, LOGISTIC, [0.1, 0.3], d=d, seeds=range(seeds), n_test=40_000)
    se = sim.std(axis=0, ddof=1) / np.sqrt(len(sim))
    assert np.all(np.abs(sim.mean(axis=0) - th) < 4 * se), (sim.mean(axis=0), th, se)


def test_errors():
    r = sv.predict(PB, LOGISTIC)
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        robust_test_error(r, -0.1)
    with pytest.raises(ValueError, match="needs a classification channel"):
        robust_test_error(sv.predict(sv.GLM(G, sv.channels.Linear(0.5), alpha=2.0), sv.ERM("square", sv.penalties.L2(0.1))), 0.1)

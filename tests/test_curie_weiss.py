"""The Curie-Weiss family (the worked example of docs/adding_a_family.md), tested three ways:
against an independent computation (root finding, the exact finite-N law), against textbook
values (beta_c = 1/J, m ~ sqrt(3 (beta - 1)), m = tanh(2 m) at beta = 2), and against its own
simulations (exact Gibbs samples, heat-bath Glauber dynamics) within their error bars."""
import numpy as np
import pytest
from scipy.optimize import brentq

import solvable as sv
from solvable.families.curie_weiss import CurieWeiss, Equilibrium, Glauber, magnetisation_law


def _m_root(beta, h=0.0, J=1.0):
    f = lambda m: m - np.tanh(beta * (J * m + h))
    return brentq(f, 1e-9, 1.0) if beta * J > 1 or h > 0 else 0.0


@pytest.mark.parametrize("beta,h,J", [(0.5, 0.0, 1.0), (1.3, 0.0, 1.0), (2.0, 0.0, 1.0), (0.8, 0.2, 1.0), (1.2, 0.05, 2.0)])
def test_fixed_point_matches_root_finding(beta, h, J):
    p = sv.predict(CurieWeiss(beta=beta, field=h, coupling=J), Equilibrium())
    assert p.converged
    assert p.m == pytest.approx(_m_root(beta, h, J), abs=1e-10)
    assert p.free_entropy == pytest.approx(np.log(2 * np.cosh(beta * (J * p.m + h))) - beta * J * p.m**2 / 2, abs=1e-12)


def test_susceptibility_is_dm_dh():
    beta, h, eps = 1.4, 0.1, 1e-6
    chi = sv.predict(CurieWeiss(beta=beta, field=h), Equilibrium()).susceptibility
    dm = (_m_root(beta, h + eps) - _m_root(beta, h - eps)) / (2 * eps)
    assert chi == pytest.approx(dm, rel=1e-6)


def test_textbook_values():
    # m = tanh(2 m): 0.957504024...; critical point beta_c = 1 / J with m ~ sqrt(3 (beta J - 1))
    assert sv.predict(CurieWeiss(beta=2.0), Equilibrium()).m == pytest.approx(0.9575040240772687, abs=1e-10)
    for tau in (1e-2, 3e-3):
        m = sv.predict(CurieWeiss(beta=1 + tau), Equilibrium()).m
        assert m / np.sqrt(3 * tau) == pytest.approx(1.0, abs=2 * tau)  # m = sqrt(3 tau) (1 + O(tau))
    t = sv.phase_transitions(CurieWeiss(coupling=2.0), Equilibrium(), beta=(0.2, 2.0))
    assert t["weak_recovery"] == 0.5 and t["order"] == "second" and t["spinodal"] is None
    assert abs(t["algorithmic"] - 0.5) < 1e-3
    assert all(v is None for v in sv.phase_transitions(CurieWeiss(field=0.1), Equilibrium(), beta=(0.5, 2.0)).values())


def test_curve_equals_points_and_branch_of_largest_free_entropy():
    betas = np.array([0.6, 1.2, 1.8])
    curve = sv.predict(CurieWeiss(beta=betas), Equilibrium())
    for i, b in enumerate(betas):
        assert curve.m[i] == pytest.approx(sv.predict(CurieWeiss(beta=b), Equilibrium()).m, abs=1e-14)
    np.testing.assert_array_equal(curve.beta, betas)


def test_equilibrium_simulation_and_finite_size_effect():
    pb = CurieWeiss(beta=1.5)
    th = sv.predict(pb, Equilibrium())
    sim = sv.simulate(pb, Equilibrium(), d=2000, seeds=40)
    assert abs(sim.m - th.m) < 4 * sim.se("m") + 2e-3
    # the exact finite-N mean of |M| / N approaches the theory as N grows (like 1/N)
    gaps = []
    for N in (100, 400, 1600):
        M, p = magnetisation_law(N, 1.5, 1.0, 0.0)
        gaps.append(abs(np.sum(p * np.abs(M)) / N - th.m))
    assert gaps[0] > 3 * gaps[1] > 9 * gaps[2]


def test_glauber_dynamics_simulation_follows_the_ode():
    pb, lrn = CurieWeiss(beta=1.3, field=0.05), Glauber(time=4.0, n_times=9, m0=-0.2)
    th = sv.predict(pb, lrn)
    sim = sv.simulate(pb, lrn, d=2000, seeds=8)
    assert np.all(np.abs(sim.m - th.m) < 4 * sim.se("m")[1:].max() + 1e-2)
    long = sv.predict(pb, Glauber(time=200.0, n_times=3, m0=0.9))
    assert long.m[-1] == pytest.approx(sv.predict(pb, Equilibrium()).m, abs=1e-7)  # relaxes to equilibrium


def test_bad_inputs():
    with pytest.raises(ValueError, match="beta"):
        CurieWeiss(beta=-1.0)
    with pytest.raises(ValueError, match="m0"):
        Glauber(m0=2.0)
    with pytest.raises(TypeError, match="unknown option 'tolerance'; valid options: anderson"):
        sv.predict(CurieWeiss(), Equilibrium(), tolerance=1e-3)
    with pytest.warns(sv.ConvergenceWarning, match="did not converge at beta"):
        p = sv.predict(CurieWeiss(beta=1.5), Equilibrium(), max_iter=2)
    assert not p.converged and np.isnan(p.m) and np.isfinite(p.info["last_iterate"]["m"])

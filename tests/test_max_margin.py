"""Max-margin (hard-margin SVM) classifier: the HardMargin loss, its fixed point in the ERM engine,
its exact finite-size solver, simulations, and the kernel classification rates of Cui, Loureiro,
Krzakala, Zdeborova (Mach. Learn.: Sci. Technol. 2023)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize

import solvable as sv
from solvable.families.erm.solvers import kkt_residual, max_margin, solve_erm
from solvable.blocks.data.kernels import PowerLaw
from test_erm import max_margin_reference

G = sv.priors.Gaussian()
MM = sv.ERM("hard_margin", sv.penalties.L2(1.0))


# --------------------------------------------------------------------------- the loss block
def test_hard_margin_prox_is_the_projection():
    loss = sv.losses.HardMargin()
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, om, V = rng.choice([-1.0, 1.0]), 3 * rng.standard_normal(), rng.uniform(0.1, 3)
        # argmin (z - om)^2 / 2V subject to y z >= 1, by a bounded scalar minimisation
        lo, hi = (1.0, 50.0) if y > 0 else (-50.0, -1.0)
        ref = optimize.minimize_scalar(lambda z: (z - om) ** 2, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-12}).x
        assert abs(loss.prox(y, om, V) - ref) < 1e-6  # bounded Brent: ~1e-8 at the boundary
        assert loss.dprox(y, om, V) == (1.0 if y * om > 1 else 0.0)
        assert abs(loss.moreau(y, om, V) - (ref - om) ** 2 / (2 * V)) < 1e-6
    assert sv.losses.get_loss("max_margin") == loss and loss.is_classification


# --------------------------------------------------------------------------- theory
def test_max_margin_theory_matches_reference_formula():
    """Isotropic noiseless perceptron: the max-margin error from the independent formula of
    Montanari, Ruan, Sohn, Yan (2019) up to alpha = 100 (the hinge route at lam -> 0 was limited
    to alpha <~ 20; the angle is now carried without cancellation)."""
    alpha = np.array([0.5, 2.0, 5.0, 20.0, 100.0])
    p = sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=alpha), MM)
    assert np.all(p.converged)
    for i, a in enumerate(alpha):
        kappa, err = max_margin_reference(a)
        assert abs(p.test_error[i] / err - 1) < 1e-7, (a, p.test_error[i], err)
        assert abs(1 / np.sqrt(p.q[i]) / kappa - 1) < 1e-6  # margin 1 at norm sqrt(q)
        assert p.train_loss[i] == 0.0
    # alpha eps -> 0.5005 (Opper et al. 1990): at alpha = 100 the O(1/alpha) correction is 4e-4
    assert abs(100 * p.test_error[-1] - 0.5005) < 1e-3


def test_max_margin_equals_hinge_at_small_lam():
    """Hinge with lam below the largest dual multiplier is exactly the max-margin classifier; the
    two fixed points (continuation in lam vs the dedicated max-margin solver) agree, on isotropic
    data and on a power-law spectrum, and the max-margin one does not depend on lam."""
    pl = PowerLaw(2.0, 0.3, n_modes=1000)
    for pb in (sv.GLM(G, sv.channels.Sign(), alpha=np.array([0.7, 3.0])),
               sv.GLM(G, sv.channels.Sign(), alpha=pl.alpha(np.array([100.0, 400.0])), data=pl)):
        mm = sv.predict(pb, MM)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = sv.predict(pb, sv.ERM("hinge", sv.penalties.L2(1e-6)))
        # asymptotically the hinge caps the dual multipliers at 1 / lam (f_out <= 1), so the two
        # differ by the Gaussian tail of multipliers above the cap: measured 3e-1, 3e-2, 1.4e-6,
        # 2.5e-9 relative at lam = 1e-3 .. 1e-6 (n = 400 here)
        np.testing.assert_allclose(mm.test_error, h.test_error, rtol=1e-7)
        np.testing.assert_allclose(mm.q, h.q, rtol=1e-7)
        for lam in (0.0, 1e-3):
            other = sv.predict(pb, sv.ERM("hard_margin", sv.penalties.L2(lam)))
            np.testing.assert_allclose(other.test_error, mm.test_error, rtol=1e-9)
            np.testing.assert_allclose(other.q, mm.q, rtol=1e-8)


def test_max_margin_errors():
    # label noise: separable only below alpha_c (Candes & Sur), the max-margin classifier above
    # it does not exist
    ch = sv.channels.Sign(flip=0.1)
    ac = sv.families.erm.equations.separability_threshold(ch)
    with pytest.raises(ValueError, match="separable"):
        sv.predict(sv.GLM(G, ch, alpha=1.1 * ac), MM)
    p = sv.predict(sv.GLM(G, ch, alpha=0.5 * ac), MM)
    assert p.converged and 0 < p.test_error < 0.5
    with pytest.raises(ValueError, match="L2 penalty"):
        sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=1.0), sv.ERM("hard_margin", sv.penalties.L1(0.1)))
    with pytest.raises(ValueError, match="classification"):
        sv.predict(sv.GLM(G, sv.channels.Linear(0.1), alpha=1.0), MM)


# --------------------------------------------------------------------------- finite-size solver
def test_max_margin_solver_kkt_and_hinge():
    rng = np.random.default_rng(1)
    for n, P in ((80, 200), (300, 100)):
        X = rng.standard_normal((n, P))
        y = np.sign(X @ rng.standard_normal(P))
        A = X / np.sqrt(P)
        w = max_margin(A, y)
        assert kkt_residual(sv.losses.HardMargin(), sv.penalties.L2(1.0), A, y, w) < 1e-10
        assert np.min(y * (A @ w)) > 1 - 1e-10
        # hinge at a lam below 1 / max(dual multiplier) is the same classifier
        wh = solve_erm(sv.losses.Hinge(), sv.penalties.L2(1e-6), A, y)
        assert np.linalg.norm(wh - w) < 1e-6 * np.linalg.norm(w)
        # a wrong solution is detected
        assert kkt_residual(sv.losses.HardMargin(), sv.penalties.L2(1.0), A, y, 1.01 * w) > 1e-3
    X = rng.standard_normal((400, 50))
    y = rng.choice([-1.0, 1.0], 400)  # random labels at n / P = 8 > 2: not separable
    with pytest.raises(ValueError, match="not linearly separable"):
        max_margin(X / np.sqrt(50), y)


# --------------------------------------------------------------------------- simulations
def _sim_vs_theory(pb, d, seeds, k=3.5):
    th = sv.predict(pb, MM)
    si = sv.simulate(pb, MM, d=d, seeds=seeds)
    for f in ("test_error", "q", "m"):
        t, s, se = getattr(th, f), getattr(si, f), si.se(f)
        assert abs(s - t) < k * se, (f, t, s, se)
    assert si.train_loss == 0.0


def test_max_margin_simulation_isotropic():
    _sim_vs_theory(sv.GLM(G, sv.channels.Sign(), alpha=2.0), d=100, seeds=60)


def test_max_margin_simulation_power_law():
    """Gaussian design with P = 500 power-law modes (the theory's truncation), n = 50 and 200."""
    pl = PowerLaw(2.0, 0.3, n_modes=500)
    for n in (50, 200):
        _sim_vs_theory(sv.GLM(G, sv.channels.Sign(), alpha=pl.alpha(n), data=pl), d=500, seeds=40)


@pytest.mark.slow
def test_max_margin_simulation_large():
    _sim_vs_theory(sv.GLM(G, sv.channels.Sign(), alpha=2.0), d=400, seeds=50)
    pl = PowerLaw(2.0, 0.3, n_modes=2000)
    _sim_vs_theory(sv.GLM(G, sv.channels.Sign(), alpha=pl.alpha(400), data=pl), d=2000, seeds=20)


# --------------------------------------------------------------------------- kernel classification rates
def test_svm_rates_values():
    R = sv.rates(2.0, 0.3, task="svm")
    assert R["exponent"] == pytest.approx(0.6 / 1.6)
    assert sv.rates(2.0, 0.3, task="max_margin")["exponent"] == R["exponent"]
    # saturation at source 1/2 (ridge classification saturates at 1)
    assert sv.rates(2.0, 1.5, task="svm")["exponent"] == pytest.approx(0.5)
    assert sv.rates(2.0, 1.5, task="ridge_classification")["exponent"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="regularisation"):
        sv.rates(2.0, 0.3, 1.0, task="svm")
    with pytest.raises(ValueError, match="task"):
        sv.rates(2.0, 0.3, task="perceptron")


def svm_curve(a, r, ns):
    pl = PowerLaw(a, r, n_modes=10**13, exact_modes=2000, tail_nodes=32)
    p = sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=pl.alpha(ns), data=pl), MM)
    assert np.all(p.converged)
    return p.test_error


@pytest.mark.parametrize("a,r", [(2.0, 0.3), (1.5, 0.2), (3.0, 0.3), (2.0, 0.7), (3.0, 1.5)])
def test_svm_fitted_exponent_matches_rates(a, r):
    """Max-margin learning curve over n = 10^4 .. 10^7 (the truncation at 10^13 modes is invisible
    there): the fitted exponent is a min(r, 1/2) / (1 + a min(r, 1/2)) within 0.005 (measured:
    1e-4 .. 2e-3), below and above the saturation at r = 1/2."""
    ns = np.logspace(4, 7, 7)
    e = svm_curve(a, r, ns)
    got = -np.polyfit(np.log(ns), np.log(e), 1)[0]
    assert abs(got - sv.rates(a, r, task="svm")["exponent"]) < 0.005, got


def test_svm_rate_at_saturation_point_has_log_corrections():
    """At r = 1/2 exactly the local slope creeps up towards a / (2 + a) (within 0.05 by 10^7)."""
    ns = np.logspace(4, 7, 7)
    e = svm_curve(2.0, 0.5, ns)
    slopes = -np.diff(np.log(e)) / np.diff(np.log(ns))
    assert np.all(np.diff(slopes) > 0) and abs(slopes[-1] - 0.5) < 0.05


def test_max_margin_on_real_random_features():
    """ReLU random features (p = 2d) of Gaussian inputs, sign teacher: the teacher is only partly
    visible to the features, so the data stop being separable at alpha_c = 3.85 per feature.
    Max margin at alpha = 0.5 against the Gaussian-equivalent theory: the 0-1 error within 4 se;
    q carries a finite-size excess measured as 0.028, 0.030, 0.014 at d = 100, 150, 400 (shrinking
    ~ d^-1/2), allowed as 0.3 / sqrt(d)."""
    from solvable.blocks.data.kernels import RandomFeatures

    data = RandomFeatures("relu", 2.0)
    spec = data.spectrum(G)
    assert abs(sv.families.erm.equations.separability_threshold(sv.channels.Sign(), spec.rho, spec.explained) - 3.846) < 1e-3
    pb = sv.GLM(G, sv.channels.Sign(), alpha=0.5, data=data)
    th = sv.predict(pb, MM)
    d = 100
    si = sv.simulate(pb, MM, d=d, seeds=40)
    assert abs(si.test_error - th.test_error) < 4 * si.se("test_error")
    assert abs(si.q - th.q) < 4 * si.se("q") + 0.3 / np.sqrt(d)


def test_max_margin_failure_is_reported(monkeypatch):
    """If the root finder never lands on a root, the point is NaN, converged=False, with a
    ConvergenceWarning that says so (never a silent last iterate)."""
    from types import SimpleNamespace

    from solvable.numerics.fixed_point import ConvergenceWarning
    from solvable.families.erm import equations as erm

    monkeypatch.setattr(erm.optimize, "root", lambda G, y0, args=(), **kw: SimpleNamespace(x=np.array([5.0, 5.0]), nfev=1))
    with pytest.warns(ConvergenceWarning, match="max-margin"):
        p = sv.predict(sv.GLM(G, sv.channels.Sign(), alpha=2.0), MM)
    assert p.converged is False and np.isnan(p.test_error)

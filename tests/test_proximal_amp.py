"""ProximalAMP (issue 18): GAMP with the proximal denoisers of an ERM problem, its state evolution (the ERM
saddle-point map iterated from the algorithm's start), and its finite-d run; the replicon decides whether the
algorithm converges (Vilucchio, Dandi, Rossignol, Gerbelot, Krzakala 2025)."""
import numpy as np
import pytest

import solvable as sv
from solvable.families.erm import ProximalAMP
from solvable.families.erm.amp import ProximalAMPStateEvolution, run_proximal_amp
from solvable.families.erm.solvers import solve_erm

G = sv.priors.Gaussian()
L2 = sv.penalties.L2
OUT = sv.channels.Outliers(1.0, 5.0, 0.3, 0.0)
CASES = [
    (sv.channels.Sign(), "logistic", 0.1),
    (sv.channels.Probit(0.2), "hinge", 0.3),
    (sv.channels.Linear(0.5), "huber", 0.5),
    (OUT, sv.losses.Tukey(3.0), 1.0),  # non-convex, replicon 0.25: stable
    (sv.channels.Linear(0.5), "square", -0.04),  # negative ridge above the convexity bound: linear denoisers
]


@pytest.mark.parametrize("ch, loss, lam", CASES)
def test_state_evolution_reaches_the_erm_fixed_point(ch, loss, lam):
    pb = sv.GLM(G, ch, alpha=np.array([1.5, 3.0]))
    r = sv.predict(pb, ProximalAMP(loss, L2(lam)))
    e = sv.predict(pb, sv.ERM(loss, L2(lam)))
    assert np.all(r.converged)
    for k in ("m", "q", "V", "test_error", "replicon"):
        np.testing.assert_allclose(r[k], e[k], rtol=2e-7, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("ch, loss, lam", CASES)
def test_the_algorithm_converges_to_the_erm_minimiser(ch, loss, lam):
    """At d = 300, alpha = 3: AMP's last iterate is the exact solver's minimiser to 1e-6 (relative)."""
    d = 300
    rng = np.random.default_rng(3)
    th = rng.standard_normal(d)
    X = rng.standard_normal((3 * d, d))
    y = ch.sample(X @ th / np.sqrt(d), rng)
    ln = ProximalAMP(loss, L2(lam), max_iter=500, tol=1e-11)
    w, traj = run_proximal_amp(ln, X / np.sqrt(d), y, theta=th)
    we = solve_erm(ln.loss, ln.penalty, X / np.sqrt(d), y)
    assert len(traj) - 1 < 500
    assert np.linalg.norm(w - we) / np.linalg.norm(we) < 1e-6


def test_the_algorithm_follows_its_state_evolution():
    """Logistic, sign teacher, alpha = 2, lam = 0.05: the overlaps (m_t, q_t) of AMP's iterates at d = 500, over 10
    seeds, follow the state evolution iteration by iteration (within 4 se, measured |z| <= 2.5)."""
    a, d, S = 2.0, 500, 10
    pb = sv.GLM(G, sv.channels.Sign(), alpha=a)
    ln = ProximalAMP("logistic", L2(0.05), max_iter=8, tol=1e-14)
    sp = ProximalAMPStateEvolution(pb, ln, ProximalAMPStateEvolution.Options())
    _, _, info = sp.solve(np.array([a]), sp.starts(np.array([a]))["amp"])
    T = info["trajectory"][:, 0, :2]
    runs = []
    for seed in range(S):
        rng = np.random.default_rng(seed)
        th = rng.standard_normal(d)
        X = rng.standard_normal((int(a * d), d))
        runs.append(run_proximal_amp(ln, X / np.sqrt(d), np.sign(X @ th), theta=th)[1][:9, :2])
    runs = np.array(runs)
    mean, se = runs.mean(0), runs.std(0, ddof=1) / np.sqrt(S)
    assert np.all(np.abs(mean[1:] - T[1:9]) < 4 * se[1:]), (mean, T)
    assert T[1, 1] < 0.6 * T[-1, 1]  # a real trajectory, not a fixed point from the start


@pytest.mark.parametrize("lam, converges", [(1.0, True), (1e-3, False)])
def test_the_replicon_decides_whether_the_algorithm_converges(lam, converges):
    """Tukey (tau = 3) under far outliers at alpha = 5: replicon 0.25 at lam = 1 (AMP converges within 60
    iterations at d = 400) and 1.25 at lam = 1e-3 (its step is still above 1e-4 after 200 iterations), while the
    state evolution converges in both cases."""
    ch = sv.channels.Outliers(1.0, 50.0, 0.3, 0.0)
    pb = sv.GLM(G, ch, alpha=5.0)
    ln = ProximalAMP(sv.losses.Tukey(3.0), L2(lam), max_iter=200, tol=1e-9)
    r = sv.predict(pb, ln)
    assert r.converged and bool(r.stable) == converges
    d = 400
    rng = np.random.default_rng(1)
    th = rng.standard_normal(d)
    X = rng.standard_normal((5 * d, d))
    _, traj = run_proximal_amp(ln, X / np.sqrt(d), ch.sample(X @ th / np.sqrt(d), rng), theta=th)
    if converges:
        assert len(traj) - 1 < 60
    else:
        assert len(traj) - 1 == 200 and abs(traj[-1, 1] - traj[-2, 1]) > 1e-4


def test_simulate_matches_theory():
    pb = sv.GLM(G, sv.channels.Linear(0.5), alpha=2.0)
    ln = ProximalAMP("huber", L2(0.3))
    r, s = sv.predict(pb, ln), sv.simulate(pb, ln, d=300, seeds=8)
    for k in ("m", "q", "mse", "test_error"):
        assert abs(s[k] - r[k]) < 4 * s.se(k), (k, s[k], r[k], s.se(k))


def test_errors():
    with pytest.raises(ValueError, match="L2 penalty"):
        ProximalAMP("huber", sv.penalties.L1(0.1))
    with pytest.raises(ValueError, match="proximal step"):
        ProximalAMP("hard_margin", L2(0.1))
    with pytest.raises(ValueError, match="isotropic inputs"):
        sv.predict(sv.GLM(G, sv.channels.Linear(0.5), alpha=2.0, data=sv.data.Covariance([1.0, 2.0])),
                   ProximalAMP("huber", L2(0.1)))
    with pytest.raises(ValueError, match="convexity bound"):
        sv.predict(sv.GLM(G, sv.channels.Linear(0.5), alpha=2.0), ProximalAMP("square", L2(-0.5)))
    with pytest.raises(ValueError, match="max_iter"):
        ProximalAMP("huber", L2(0.1), max_iter=0)

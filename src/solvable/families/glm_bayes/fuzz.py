"""Random valid inputs of the Bayes-optimal GLM and AMP theory (the fuzz suite,
:mod:`solvable.core.fuzz`), and the properties specific to them."""
from __future__ import annotations

import numpy as np

from solvable.blocks import channels as C
from solvable.blocks import priors as P
from solvable.blocks.learners import AMP, BayesOptimal
from solvable.blocks.problems import GLM
from solvable.core.fuzz import loguniform as _loguniform



def random_prior(rng):
    k = rng.integers(4)
    if k == 0:
        return P.Gaussian()
    if k == 1:
        return P.Rademacher()
    if k == 2:
        return P.GaussBernoulli(rho=float(rng.uniform(0.02, 1.0)), mean=float(rng.choice([0.0, rng.normal()])))
    return P.SparseRademacher(rho=float(rng.uniform(0.02, 1.0)))


def random_noise(rng, lo=1e-3, hi=10.0):
    return 0.0 if rng.random() < 0.3 else _loguniform(rng, lo, hi)


def random_channel(rng):
    k = rng.integers(6)
    noise = random_noise(rng)
    return [C.Sign(noise=noise), C.Probit(noise=max(noise, 1e-3)), C.Linear(noise), C.ReLU(noise), C.Abs(noise),
            C.Square(noise)][k]


def random_alpha(rng):
    return _loguniform(rng, 1e-3, 1e3)


def sample_bayes(rng):
    return GLM(random_prior(rng), random_channel(rng), alpha=random_alpha(rng)), BayesOptimal(), {}


def sample_amp(rng):
    init = "informative" if rng.random() < 0.3 else "uninformative"
    return GLM(random_prior(rng), random_channel(rng), alpha=random_alpha(rng)), AMP(init=init), {}


def invariants(problem, learner, pred) -> list[str]:
    """Mutual information within [0, H(x)] for discrete priors; the Bayes-optimal mse at most
    the AMP mse (uninformative start) on the same problem, and non-increasing in alpha."""
    from solvable.core.registry import predict

    bad = []
    if not np.all(pred.converged):
        return bad
    H = getattr(problem.prior, "entropy", None)
    mi = float(np.asarray(pred.get("mutual_information", np.nan)))
    # (for AMP the field is the replica potential at AMP's fixed point, which exceeds the mutual
    # information where that fixed point is not the Bayes-optimal one: no bound there)
    if isinstance(learner, BayesOptimal) and callable(H) and np.isfinite(mi) and mi > H() * (1 + 1e-6) + 1e-9:
        bad.append(f"mutual information {mi} above the prior entropy {H()}")
    if isinstance(learner, BayesOptimal):
        amp = predict(problem, AMP(), on_fail="ignore")
        if np.all(amp.converged) and pred.mse > amp.mse * (1 + 1e-6) + 1e-10:
            bad.append(f"Bayes-optimal mse {pred.mse} above AMP's {amp.mse}")
        more = predict(problem.at(alpha=1.25 * float(problem.alpha)), learner, on_fail="ignore")
        if np.all(more.converged) and more.mse > pred.mse * (1 + 1e-6) + 1e-10:
            bad.append(f"Bayes-optimal mse increases with alpha: {pred.mse} -> {more.mse} at 1.25 alpha")
    if isinstance(learner, AMP) and "at_fixed_point" not in pred.info:
        bad += reached_fixed_point(problem, learner, float(pred.mse), float(pred.info["E0"]))
    if isinstance(learner, AMP) and learner.init == "uninformative":
        bo = predict(problem, BayesOptimal(), on_fail="ignore")
        if np.all(bo.converged) and pred.mse < bo.mse * (1 - 1e-6) - 1e-10:
            bad.append(f"AMP mse {pred.mse} below the Bayes-optimal {bo.mse}")
    if isinstance(learner, AMP) and learner.init == "informative":
        bo = predict(problem, BayesOptimal(), on_fail="ignore")
        # both stop once a step is below 1e-6 of the distance to perfect recovery, i.e. within
        # 1e-6 / (1 - F'(E)) of the fixed point (F' the slope of state evolution there)
        if np.all(bo.converged) and pred.mse > bo.mse * (1 + 2e-6 / _contraction_gap(problem, float(bo.mse))) + 1e-10:
            bad.append(f"AMP from the signal: mse {pred.mse} above the Bayes-optimal {bo.mse} (the informative "
                       "branch is the one of least mse)")
    return bad


def reached_fixed_point(problem, learner, E: float, E0: float, n: int | None = None) -> list[str]:
    """An independent check of AMP's state evolution (issue 13: an informative start was stopped
    after one step at mse 2.5e-13, far from the fixed point 0.434): ``E`` must be a fixed point of
    ``F`` (``|F(E) - E|`` small) and the first one met from the start ``E0``: ``g = F - E`` keeps
    the sign it has at the start on a geometric grid of ``n`` points between ``E0`` and ``E``
    (beyond a relative margin), so no fixed point was stepped over.  ``n`` defaults to 80, and to
    24 for a noisy Square channel, whose map is integrated directly at ~0.15 s a point (80 points
    took 15 s of a 30 s fuzz budget)."""
    from solvable.families.glm_bayes.equations import E_FLOOR

    if n is None:
        from solvable.blocks.channels import Square

        n = 24 if isinstance(problem.channel, Square) and problem.channel.noise > 0 else 80
    F, rho = _se_map(problem)
    bad = []
    r = float(F(np.array([E]))[0] - E)
    if abs(r) > 1e-5 * max(E, 1e-9 * rho):
        bad.append(f"AMP mse {E} is not a fixed point of state evolution: F(E) - E = {r}")
    lo, hi = sorted((max(E0, E_FLOOR * rho), max(E, E_FLOOR * rho)))
    if hi > lo * (1 + 1e-2):
        grid = np.geomspace(lo, hi, n)
        grid = grid[(grid > lo * (1 + 1e-3)) & (grid < hi * (1 - 1e-3))]
        g = F(grid) - grid
        toward = 1.0 if E > E0 else -1.0  # the sign of g on the way from E0 to E
        wrong = g * toward < -1e-6 * grid
        if np.any(wrong):
            x = grid[np.argmax(wrong)] if E > E0 else grid[::-1][np.argmax(wrong[::-1])]
            bad.append(f"AMP ({learner.init} start, E0 = {E0:.3g}) stepped over a fixed point near mse {x:.6g} to {E}")
    return bad


def _se_map(problem):
    """``(F, rho)``: the state-evolution map ``E -> F(E)`` of the problem at its alpha, and rho."""
    from solvable.families.glm_bayes.equations import _equations

    eq = _equations(problem, {})
    a = float(problem.alpha)
    return (lambda x: eq.step(np.full(np.shape(x), a), np.asarray(x, float))), eq.rho


def _contraction_gap(problem, E: float) -> float:
    """``1 - F'(E)`` of state evolution at ``E`` (central difference; at least 1e-3)."""
    from solvable.families.glm_bayes.equations import E_FLOOR

    F, rho = _se_map(problem)
    h = max(1e-4 * E, E_FLOOR * rho)
    x = np.array([max(E - h, E_FLOOR * rho), E + h])
    f = F(x)
    return float(max(1.0 - (f[1] - f[0]) / (x[1] - x[0]), 1e-3))

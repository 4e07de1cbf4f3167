"""Random valid inputs of the Bayes-optimal GLM and AMP theory (the fuzz suite,
:mod:`solvable.core.fuzz`), and the properties specific to them."""
from __future__ import annotations

import numpy as np

from solvable.blocks import channels as C
from solvable.blocks import priors as P
from solvable.blocks.learners import AMP, BayesOptimal
from solvable.blocks.problems import GLM


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


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
    if isinstance(learner, AMP) and learner.init == "uninformative":
        bo = predict(problem, BayesOptimal(), on_fail="ignore")
        if np.all(bo.converged) and pred.mse < bo.mse * (1 - 1e-6) - 1e-10:
            bad.append(f"AMP mse {pred.mse} below the Bayes-optimal {bo.mse}")
    return bad

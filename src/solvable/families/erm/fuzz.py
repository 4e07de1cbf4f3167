"""Random valid inputs of the ERM theory (the fuzz suite, :mod:`solvable.core.fuzz`), and the
properties specific to it."""
from __future__ import annotations

import numpy as np

from solvable.blocks import channels as C
from solvable.blocks import losses as Lo
from solvable.blocks import penalties as Pe
from solvable.blocks import priors as P
from solvable.blocks.learners import BayesOptimal, ERM
from solvable.blocks.problems import GLM
from solvable.core.fuzz import loguniform as _loguniform


def sample_erm(rng):
    classification = rng.random() < 0.5
    noise = 0.0 if rng.random() < 0.3 else _loguniform(rng, 1e-3, 10.0)
    if classification:
        loss = [Lo.Logistic(), Lo.Hinge(), Lo.Square()][rng.integers(3)]
        channel = [C.Sign(noise=noise), C.Probit(noise=max(noise, 1e-3))][rng.integers(2)]
    else:
        loss = [Lo.Square(), Lo.Huber(_loguniform(rng, 0.1, 10.0)), Lo.Absolute(), Lo.Tukey(_loguniform(rng, 0.3, 10.0))][
            rng.integers(4)]
        outliers = C.Outliers(max(noise, 1e-3), _loguniform(rng, 1e-2, 10.0), float(rng.uniform(0.0, 0.9)),
                              float(rng.uniform(-1.0, 2.0)))
        channel = [C.Linear(noise), C.ReLU(noise), C.Abs(noise), C.Square(noise), outliers][rng.integers(5)]
    lam = _loguniform(rng, 1e-8, 1e3)
    pen = [Pe.L2(lam), Pe.L1(lam), Pe.ElasticNet(lam, float(rng.uniform(0.1, 0.9)))][rng.choice(3, p=[0.6, 0.25, 0.15])]
    prior = [P.Gaussian(), P.Rademacher(), P.GaussBernoulli(rho=float(rng.uniform(0.05, 1.0)))][rng.integers(3)]
    return GLM(prior, channel, alpha=_loguniform(rng, 1e-3, 1e3)), ERM(loss, pen), {}


def invariants(problem, learner, pred) -> list[str]:
    """No ERM estimator beats the Bayes-optimal mse (where that theory covers the problem)."""
    from solvable.core.registry import predict

    if not np.all(pred.converged) or problem.data is not None:
        return []
    try:
        bo = predict(problem, BayesOptimal(), on_fail="ignore")
    except (ValueError, TypeError):
        return []
    if not np.all(bo.converged):
        return []
    # the ERM estimate is compared after its optimal rescaling (ERM's norm is not the posterior's):
    # min_c E|c w - theta|^2 / d = rho - m^2 / q
    m, q, rho = float(pred.m), float(pred.q), problem.rho
    best = rho - m * m / q if q > 0 else rho
    if best < float(bo.mse) * (1 - 1e-5) - 1e-8:
        return [f"ERM (optimally rescaled) mse {best} below the Bayes-optimal {float(bo.mse)}"]
    return []

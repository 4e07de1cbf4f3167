"""Random valid inputs of the joint ERM theory (the fuzz suite, :mod:`solvable.core.fuzz`), and the
properties specific to it."""
from __future__ import annotations

import numpy as np

from solvable.blocks import channels as C
from solvable.blocks import penalties as Pe
from solvable.blocks import priors as P
from solvable.blocks.learners import ERM, BayesOptimal
from solvable.blocks.problems import GLM
from solvable.core.fuzz import loguniform as _loguniform
from solvable.families.joint.gibbs import GibbsPosterior
from solvable.families.joint.problem import FreshData, Full, JointERM, PairBootstrap, Subsampling, WeightLaw


def sample_joint(rng):
    classification = rng.random() < 0.5
    noise = 0.0 if rng.random() < 0.3 else _loguniform(rng, 1e-3, 10.0)
    if classification:
        channel = [C.Sign(noise=noise), C.Probit(noise=max(noise, 1e-3))][rng.integers(2)]
        losses = ["logistic", "square"]
    else:
        channel = [C.Linear(noise), C.ReLU(noise)][rng.integers(2)]
        losses = ["square"]
    K = int(rng.integers(1, 4))
    learners = tuple(ERM(str(rng.choice(losses)), Pe.L2(_loguniform(rng, 1e-3, 1e2))) for _ in range(K))
    law = WeightLaw((0.0, 1.0, 3.0), tuple(rng.dirichlet(np.ones(3))))  # integer weights: logistic simulates
    weights = [Full(), PairBootstrap(int(rng.integers(3, 9))), Subsampling(float(rng.uniform(0.05, 1.0))), law,
               FreshData()][rng.integers(5 if K >= 2 else 4)]
    labels = "resampled" if (not classification and rng.random() < 0.3) else "shared"
    prior = P.Gaussian(var=float(rng.uniform(0.3, 2.0)))
    if rng.random() < 0.25 and (classification or noise > 0):  # the posterior mean beside the ERM estimators
        learners = (BayesOptimal(),) + learners[1:] if K > 1 else (BayesOptimal(), learners[0])
        weights, labels = Full(), "shared"
    elif rng.random() < 0.25:  # a Gibbs posterior beside them
        gibbs = GibbsPosterior(str(rng.choice(losses)), _loguniform(rng, 1e-2, 1e2), _loguniform(rng, 0.1, 100.0))
        learners = (gibbs,) + learners[1:]
        weights, labels = Full(), "shared"
    data, features = None, "shared"
    if rng.random() < 0.25 and not any(isinstance(x, BayesOptimal) for x in learners):
        # random features, one map per estimator or one shared map
        from solvable.blocks.data.kernels import RandomFeatures

        data = RandomFeatures(str(rng.choice(["erf", "relu", "tanh"])), gamma=_loguniform(rng, 0.1, 10.0))
        features = "independent" if rng.random() < 0.7 else "shared"
    return (GLM(prior, channel, alpha=_loguniform(rng, 1e-2, 1e2), data=data),
            JointERM(learners, weights, labels=labels, features=features), {})


def invariants(problem, learner, pred) -> list[str]:
    """The cross-overlap matrix is a Gram matrix: Q_kl^2 <= Q_kk Q_ll (positive semi-definite for K = 2)."""
    out = []
    K = learner.K
    for k in range(K):
        for l in range(k + 1, K):
            qkk, qll, qkl = (np.asarray(pred[f"q_{a}_{b}"], float) for a, b in ((k, k), (l, l), (k, l)))
            if np.any(qkl ** 2 > qkk * qll * (1 + 1e-8) + 1e-14):
                out.append(f"q_{k}_{l}^2 = {qkl ** 2} above q_{k}_{k} q_{l}_{l} = {qkk * qll}")
    return out

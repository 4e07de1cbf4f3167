"""Random valid inputs of the spiked-matrix theory (the fuzz suite, :mod:`solvable.core.fuzz`)."""
from __future__ import annotations

import numpy as np

from solvable.blocks import priors as P
from solvable.blocks.learners import AMP, BayesOptimal, Spectral
from solvable.families.lowrank.problem import SpikedWigner, SpikedWishart


def _prior(rng):
    k = rng.integers(4)
    return [P.Gaussian(), P.Rademacher(), P.SparseRademacher(rho=float(rng.uniform(0.02, 1.0))),
            P.GaussBernoulli(rho=float(rng.uniform(0.02, 1.0)))][k]


def _snr(rng):
    return float(np.exp(rng.uniform(np.log(1e-2), np.log(1e2))))


def _problem(rng, wishart):
    if wishart:
        return SpikedWishart(_prior(rng), _prior(rng), snr=_snr(rng), ratio=float(np.exp(rng.uniform(-2, 2))))
    return SpikedWigner(_prior(rng), snr=_snr(rng))


def make(learner_kind, wishart):
    def sample(rng):
        pb = _problem(rng, wishart)
        learner = {"bayes": BayesOptimal(), "amp": AMP(init="informative" if rng.random() < 0.3 else "uninformative"),
                   "spectral": Spectral()}[learner_kind]
        return pb, learner, {}

    return sample


def invariants(problem, learner, pred) -> list[str]:
    """PCA's overlap vanishes below its BBP threshold."""
    bad = []
    if isinstance(learner, Spectral) and isinstance(problem, SpikedWigner) and problem.profile is None:
        if problem.snr * problem.rho**2 < 1 and float(pred.overlap) > 1e-12:
            bad.append(f"PCA overlap {pred.overlap} > 0 below the BBP threshold")
    return bad

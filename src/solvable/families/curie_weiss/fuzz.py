"""Random valid inputs of the Curie-Weiss theory (the fuzz suite, :mod:`solvable.core.fuzz`)."""
from __future__ import annotations

import numpy as np

from solvable.families.curie_weiss.problem import CurieWeiss, Equilibrium


def sample_equilibrium(rng):
    pb = CurieWeiss(beta=float(np.exp(rng.uniform(-3, 3))), field=float(rng.choice([0.0, rng.exponential()])),
                    coupling=float(np.exp(rng.uniform(-1, 1))))
    return pb, Equilibrium(), {}


def invariants(problem, learner, pred) -> list[str]:
    return [] if abs(float(pred.m)) <= 1 + 1e-12 else [f"|m| = {pred.m} > 1"]

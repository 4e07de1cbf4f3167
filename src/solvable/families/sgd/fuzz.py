"""Random valid inputs of the online-SGD ODEs (the fuzz suite, :mod:`solvable.core.fuzz`)."""
from __future__ import annotations

import numpy as np

from solvable.families.sgd.learner import OnlineSGD
from solvable.families.sgd.problem import Committee

_ACTS = ["erf", "relu", "tanh", "sign", "quadratic", "linear", "he2", "he3", "he4"]


def sample_sgd(rng):
    k = int(rng.integers(1, 3))
    width = int(rng.integers(1, 4))
    teacher, student = _ACTS[rng.integers(len(_ACTS))], _ACTS[rng.integers(len(_ACTS))]
    lr = float(np.exp(rng.uniform(np.log(1e-2), np.log(2.0))))
    noise = 0.0 if rng.random() < 0.5 else float(rng.uniform(0, 1))
    learner = OnlineSGD(width=width, activation=student, lr=lr, time=float(rng.uniform(1, 20)), n_times=10,
                        normalization=["sum", "mean", "sqrt"][rng.integers(3)])
    return Committee(k=k, activation=teacher, noise=noise), learner, {"d": None, "max_seconds": 5.0}

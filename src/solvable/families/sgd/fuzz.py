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


def invariants(problem, learner, pred) -> list[str]:
    """The student's overlap matrix Q(t) stays positive semi-definite (a Gram matrix) and the
    test error non-negative, at every time the ODE reached."""
    bad = []
    Q = np.asarray(pred["Q"], float)
    ok = np.all(np.isfinite(Q.reshape(len(Q), -1)), axis=1)
    if ok.any():
        ev = np.linalg.eigvalsh(Q[ok])
        scale = np.maximum(1.0, np.abs(ev).max(axis=1))
        if np.any(ev.min(axis=1) < -1e-8 * scale):
            bad.append(f"Q(t) not positive semi-definite: min eigenvalue {ev.min():.3g}")
    e = np.asarray(pred["test_error"], float)
    if np.any(e[np.isfinite(e)] < -1e-12):
        bad.append(f"negative test error {e.min():.3g}")
    return bad

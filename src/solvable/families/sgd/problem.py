"""Committee-machine teachers (two-layer networks) for the learning-dynamics family.

Teacher (Saad & Solla, PRE 52, 4225 (1995); Goldt et al., NeurIPS 2019, Sec. 2):
``y = sum_m v*_m g(w*_m . x / sqrt(d)) + sqrt(noise) xi`` with ``x ~ N(0, I_d)``,
``xi ~ N(0, 1)``, teacher rows ``w*_m`` with i.i.d. N(0, 1) entries (so
``T = W* W*^T / d -> I``) and ``g`` an activation of :mod:`solvable.activations`
(default ``erf(z / sqrt 2)``).  ``k = 1`` with a Hermite activation is a single-index
target of given information exponent (Ben Arous, Gheissari & Jagannath, JMLR 2021).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.core.contract import Problem
from solvable.core.validate import check_int, check_positive, check_real
from solvable.blocks.activations import Activation, get_activation

__all__ = ["Committee", "draw_committee_init"]


@dataclass(frozen=True, eq=False)
class Committee(Problem):
    """Soft-committee / two-layer teacher ``y = sum_m v*_m g(w*_m.x/sqrt d) + sqrt(noise) xi``.

    ``k``: number of teacher hidden units; ``activation``: name or Activation (``g``);
    ``noise``: variance of the additive output noise; ``second_layer``: the teacher's
    second-layer weights ``v*`` (length ``k``; None means all ones);
    ``teacher_overlap``: ``T = W* W*^T / d`` used by the theory when no finite-``d`` draw
    is requested (None means the identity, the ``d -> infinity`` limit of i.i.d. N(0, 1)
    teacher weights).
    """

    k: int = 2
    activation: Any = "erf"
    noise: float = 0.0
    second_layer: Any = None
    teacher_overlap: Any = None

    def __post_init__(self):
        check_int("k", self.k, owner="Committee")
        act = get_activation(self.activation) if not isinstance(self.activation, Activation) else self.activation
        object.__setattr__(self, "activation", act)
        check_positive("noise", self.noise, owner="Committee", allow_zero=True)
        object.__setattr__(self, "noise", float(self.noise))
        if self.second_layer is None:
            v = np.ones(self.k)
        else:
            check_real("second_layer", self.second_layer, owner="Committee")
            v = np.array(self.second_layer, dtype=float).reshape(-1)
            if v.size != self.k:
                raise ValueError(
                    f"Committee: second_layer must have k={self.k} entries, got second_layer={self.second_layer!r}"
                )
        v.setflags(write=False)
        object.__setattr__(self, "second_layer", v)
        if self.teacher_overlap is not None:
            T = np.array(self.teacher_overlap, dtype=float)
            if T.shape != (self.k, self.k) or not np.all(np.isfinite(T)) or not np.allclose(T, T.T):
                raise ValueError(
                    f"Committee: teacher_overlap must be a finite symmetric {self.k}x{self.k} matrix, "
                    f"got teacher_overlap={self.teacher_overlap!r}"
                )
            if np.linalg.eigvalsh(T).min() < -1e-12:
                raise ValueError(f"Committee: teacher_overlap must be positive semi-definite, got {self.teacher_overlap!r}")
            T.setflags(write=False)
            object.__setattr__(self, "teacher_overlap", T)

    @property
    def T(self) -> np.ndarray:
        """The teacher overlap ``T = W* W*^T / d`` of the asymptotic theory."""
        return np.eye(self.k) if self.teacher_overlap is None else np.array(self.teacher_overlap)

    def sample_teacher(self, d: int, rng: np.random.Generator) -> np.ndarray:
        """Teacher first-layer weights ``W*`` (shape ``(k, d)``, i.i.d. N(0, 1))."""
        return rng.standard_normal((self.k, d))

    def labels(self, Wstar: np.ndarray, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Labels for inputs ``x`` (shape ``(..., d)``); noise added when ``rng`` is given."""
        d = x.shape[-1]
        nu = x @ Wstar.T / np.sqrt(d)
        y = self.activation(nu) @ self.second_layer
        if rng is not None and self.noise > 0:
            y = y + np.sqrt(self.noise) * rng.standard_normal(y.shape)
        return y

    def __eq__(self, other):
        return (
            isinstance(other, Committee)
            and (self.k, self.activation, self.noise) == (other.k, other.activation, other.noise)
            and np.array_equal(self.second_layer, other.second_layer)
            and np.array_equal(self.T, other.T)
        )

    __hash__ = None


def draw_committee_init(problem: Committee, width: int, init_scale: float, d: int, seed: int, spherical: bool = False):
    """The initial weights of a finite-``d`` run, drawn exactly as the simulation does.

    Returns ``(W0, Wstar, rng_data)``: the student's ``W0`` (``width x d``, i.i.d.
    N(0, init_scale^2)), the teacher's ``W*`` (``k x d``, i.i.d. N(0, 1)) and the generator of
    the data stream (``spherical``: the student rows are rescaled to ``|w_i|^2 = d``).  The seed is split with :class:`numpy.random.SeedSequence` so the
    initial weights do not depend on how long the data stream is.
    """
    ss = np.random.SeedSequence(int(seed))
    s_teacher, s_student, s_data = ss.spawn(3)
    Wstar = problem.sample_teacher(d, np.random.default_rng(s_teacher))
    W0 = init_scale * np.random.default_rng(s_student).standard_normal((width, d))
    if spherical:
        W0 = W0 * (np.sqrt(d) / np.linalg.norm(W0, axis=1, keepdims=True))
    return W0, Wstar, np.random.default_rng(s_data)

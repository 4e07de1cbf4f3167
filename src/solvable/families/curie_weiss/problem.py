"""The Curie-Weiss model: N Ising spins with an all-to-all ferromagnetic coupling in a field.

    P(s) ~ exp( beta J M^2 / (2 N) + beta h M ),   M = sum_i s_i,   s_i = +-1,

the textbook exactly solvable model of a phase transition (Curie-Weiss mean-field theory;
e.g. Nishimori, *Statistical Physics of Spin Glasses and Information Processing*, OUP 2001,
ch. 1; Mezard & Montanari, *Information, Physics, and Computation*, OUP 2009, sec. 2.5).
It is the worked example of docs/adding_a_family.md: a complete family in one folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.blocks.learners import Learner
from solvable.core.contract import Problem
from solvable.core.validate import as_param, check_int, check_interval, check_positive, check_real

__all__ = ["CurieWeiss", "Equilibrium", "Glauber"]


@dataclass(frozen=True, eq=False)
class CurieWeiss(Problem):
    """Curie-Weiss ferromagnet at inverse temperature ``beta`` (a scalar or a 1D array: a curve),
    coupling ``coupling`` (J > 0) and field ``field`` (h >= 0; the model is symmetric under
    h -> -h, m -> -m)."""

    beta: Any = 1.0
    field: float = 0.0
    coupling: float = 1.0

    curve_params = ("beta",)

    def __post_init__(self):
        check_positive("beta", self.beta, owner="CurieWeiss")
        if np.ndim(self.beta) > 1:
            raise ValueError(f"CurieWeiss: beta must be a scalar or a 1D array, got shape {np.shape(self.beta)}")
        object.__setattr__(self, "beta", as_param(self.beta))
        check_positive("field", self.field, owner="CurieWeiss", allow_zero=True)
        check_positive("coupling", self.coupling, owner="CurieWeiss")
        object.__setattr__(self, "field", float(self.field))
        object.__setattr__(self, "coupling", float(self.coupling))


@dataclass(frozen=True)
class Equilibrium(Learner):
    """Sampling the Gibbs measure (the equilibrium state); theory: the mean-field fixed point."""


@dataclass(frozen=True)
class Glauber(Learner):
    """Heat-bath Glauber dynamics from magnetisation ``m0``, run to ``time`` (one unit = N
    single-spin updates), recorded at ``n_times`` equally spaced times from 0."""

    time: float = 10.0
    n_times: int = 41
    m0: float = 1.0

    def __post_init__(self):
        check_positive("time", self.time, owner="Glauber")
        check_int("n_times", self.n_times, owner="Glauber", minimum=2)
        check_real("m0", self.m0, owner="Glauber")
        check_interval("m0", self.m0, -1.0, 1.0, owner="Glauber")

    def times(self) -> np.ndarray:
        return np.linspace(0.0, float(self.time), int(self.n_times))

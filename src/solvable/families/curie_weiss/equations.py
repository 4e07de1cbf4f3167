"""Theory of the Curie-Weiss model: the mean-field fixed point (exact as N -> infinity) and the
mean-field Glauber dynamics.

Equilibrium (Nishimori 2001, eqs. (1.19)-(1.21); Mezard & Montanari 2009, sec. 2.5.2): the
magnetisation solves ``m = tanh(beta (J m + h))``; of the solutions, the one of largest free
entropy ``phi(m) = log 2 cosh(beta (J m + h)) - beta J m^2 / 2`` is the equilibrium.  At h = 0
the paramagnet m = 0 loses stability at ``beta_c = 1 / J`` (a continuous transition, with
``m ~ sqrt(3 (beta J - 1))`` just above it).

Dynamics (Glauber, J. Math. Phys. 4, 294 (1963); Suzuki & Kubo, J. Phys. Soc. Jpn. 24, 51
(1968)): under heat-bath updates at rate 1 per spin, ``dm/dt = -m + tanh(beta (J m + h))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvable.core.contract import Dynamics, DynamicsOptions, SaddlePoint, SaddlePointOptions

__all__ = ["CurieWeissEquilibrium", "GlauberMeanField", "EquilibriumOptions"]


@dataclass(frozen=True)
class EquilibriumOptions(SaddlePointOptions):
    """The solver settings and the magnetisation ``m_start`` of the nearly paramagnetic start.
    (No Anderson acceleration by default: near m = 0 the map is almost linear, and Anderson
    mixing would jump to the unstable paramagnet above beta_c.)"""

    m_start: float = 1e-6


class CurieWeissEquilibrium(SaddlePoint):
    """``m = tanh(beta (J m + h))`` from a nearly paramagnetic start (``m_start``, the
    "uninformative" branch) and from the ordered state m = 1 ("informative")."""

    Options = EquilibriumOptions
    param = "beta"
    state = ("m",)
    lower, upper = -1.0, 1.0

    def starts(self, beta):
        n = len(beta)
        return {"uninformative": np.full((n, 1), self.options.m_start), "informative": np.ones((n, 1))}

    def _h(self, beta, m):
        pb = self.problem
        return beta[:, None] * (pb.coupling * m + pb.field)

    def step(self, beta, x):
        return np.tanh(self._h(beta, x))

    def free_entropy(self, beta, x):
        m = x[:, 0]
        h = self._h(beta, x)[:, 0]
        return np.logaddexp(h, -h) - 0.5 * beta * self.problem.coupling * m**2  # log 2 cosh h - beta J m^2 / 2

    def overlap(self, beta, x):
        return np.abs(x[:, 0])

    def weak_recovery(self):
        pb = self.problem
        return 1.0 / pb.coupling if pb.field == 0 else None

    def observables(self, beta, x):
        m = x[:, 0]
        J, h = self.problem.coupling, self.problem.field
        with np.errstate(divide="ignore"):
            chi = beta * (1 - m**2) / (1 - beta * J * (1 - m**2))  # d m / d h (fluctuation-dissipation)
        return {"m": m, "energy": -0.5 * J * m**2 - h * m, "susceptibility": chi,
                "free_entropy": self.free_entropy(beta, x)}


class GlauberMeanField(Dynamics):
    """``dm/dt = -m + tanh(beta (J m + h))`` from the learner's ``m0`` (a number: no draw)."""

    Options = DynamicsOptions

    def initial_state(self):
        if np.ndim(self.problem.beta):
            raise ValueError("Glauber dynamics: give a scalar beta")
        return np.array([self.learner.m0])

    def rhs(self, t, x):
        pb = self.problem
        return -x + np.tanh(float(pb.beta) * (pb.coupling * x + pb.field))

    def times(self):
        return self.learner.times()

    def observables(self, t, x):
        m = x[:, 0]
        pb = self.problem
        return {"m": m, "energy": -0.5 * pb.coupling * m**2 - pb.field * m}

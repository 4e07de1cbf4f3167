"""Finite-N simulations of the Curie-Weiss model (N = d spins).

Equilibrium: an exact sample of the Gibbs measure, drawn through the law of the magnetisation
``P(M) ~ binom(N, (N + M)/2) exp(beta J M^2 / (2N) + beta h M)`` (all configurations with the
same M are equally likely).  Glauber: random-sequential heat-bath updates, the spin set to +1
with probability ``(1 + tanh(beta (J (M - s_i) / N + h))) / 2``; the state is the number of up
spins, exactly (mean field: only M matters).  Both measure the theory's fields.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from solvable.core.contract import Experiment, ExperimentOptions

__all__ = ["EquilibriumSample", "GlauberRun", "magnetisation_law"]


def magnetisation_law(N: int, beta: float, coupling: float, field: float) -> tuple[np.ndarray, np.ndarray]:
    """The exact finite-N law of M: the values ``-N, -N + 2, ..., N`` and their probabilities."""
    k = np.arange(N + 1)  # number of up spins
    M = 2 * k - N
    logw = gammaln(N + 1) - gammaln(k + 1) - gammaln(N - k + 1) + beta * coupling * M**2 / (2 * N) + beta * field * M
    w = np.exp(logw - logw.max())
    return M, w / w.sum()


class EquilibriumSample(Experiment):
    """One exact Gibbs sample; ``m = |M| / N`` at h = 0 (the two ordered states are equivalent),
    ``M / N`` otherwise."""

    def sample(self, d, rng):
        pb = self.problem
        M, p = magnetisation_law(d, float(pb.beta), pb.coupling, pb.field)
        return {"N": d, "M": int(rng.choice(M, p=p))}

    def fit(self, data, rng):
        return data["M"] / data["N"]

    def measure(self, data, m):
        pb = self.problem
        m_abs = abs(m) if pb.field == 0 else m
        return {"m": m_abs, "energy": -0.5 * pb.coupling * m**2 - pb.field * m}


@dataclass(frozen=True)
class GlauberOptions(ExperimentOptions):
    """``sweeps_per_record``: none (recorded at the learner's times)."""


class GlauberRun(Experiment):
    """Heat-bath Glauber dynamics of N spins from magnetisation ``m0`` (rounded to the lattice)."""

    Options = GlauberOptions

    def sample(self, d, rng):
        if np.ndim(self.problem.beta):
            raise ValueError("simulate: give a scalar beta")
        n_up = int(round((1 + self.learner.m0) / 2 * d))
        return {"N": d, "n_up": n_up}

    def fit(self, data, rng):
        pb, N = self.problem, data["N"]
        beta, J, h = float(pb.beta), pb.coupling, pb.field
        t = self.learner.times()
        steps = np.round(t * N).astype(int)
        n_up = data["n_up"]
        out = np.empty(t.size)
        u_pick, u_flip = rng.random(steps[-1]), rng.random(steps[-1])
        j = 0
        for step in range(steps[-1] + 1):
            while j < t.size and steps[j] == step:
                out[j] = (2 * n_up - N) / N
                j += 1
            if step == steps[-1]:
                break
            s = 1 if u_pick[step] < n_up / N else -1  # the chosen spin
            M_other = 2 * n_up - N - s
            up = u_flip[step] < 0.5 * (1 + np.tanh(beta * (J * M_other / N + h)))
            n_up += (1 if up else 0) - (1 if s == 1 else 0)
        return out

    def measure(self, data, m):
        pb = self.problem
        return {"t": self.learner.times(), "m": m, "energy": -0.5 * pb.coupling * m**2 - pb.field * m}

"""Finite-size simulation of ERM on Gaussian data (the counterpart of :mod:`solvable.families.erm.equations`).

Per seed: draw the teacher and n = round(alpha d) samples from the data model (isotropic,
:class:`~solvable.data.Covariance`, :class:`~solvable.data.GaussianCovariate`, or any
:class:`~solvable.data.DataModel`), labels from the channel, solve the ERM problem with
:func:`solvable.families.erm.solvers.solve_erm` on ``A = V / sqrt(P)``, and measure

* ``m, q`` (exact population overlaps of the estimator, see :mod:`solvable.data`);
* ``test_error``: the exact expectation over a fresh sample given ``w``
  (:meth:`~solvable.blocks.channels.Channel.student_test_error`, shared with the theory: the 0-1 error
  ``flip + (1 - 2 flip) arccos(m / sqrt(q (rho + noise))) / pi`` for sign/probit channels,
  ``E y^2 - 2 (m / rho) E[z y] + q`` for regression channels, with the realised ``rho``),
  so no test-set noise is added;
* ``train_loss`` = mean loss on the training set at the minimiser; ``mse = rho - 2 m + q``.

A data model may add ``info["evaluate"](w, channel) -> dict`` to :meth:`DataModel.sample`
to override fields (e.g. a test error measured on fresh non-Gaussian features, to check
Gaussian equivalence rather than assume it).
"""
from __future__ import annotations

import numpy as np

from solvable.core.contract import Experiment
from solvable.core.validate import sample_count
from solvable.families.erm.solvers import solve_erm
from solvable.blocks.data.spectra import DataModel, Isotropic
from solvable.blocks.learners import ERM
from solvable.blocks.problems import GLM

__all__ = ["simulate_erm_once", "AdversarialExperiment"]


def simulate_erm_once(problem: GLM, learner: ERM, *, d: int, rng: np.random.Generator) -> dict:
    """One seed of the ERM experiment at dimension d (see the module docstring)."""
    if np.ndim(problem.alpha) > 0:
        raise ValueError("simulate: give a scalar alpha (sweep over a curve point by point)")
    loss, pen, ch = learner.loss, learner.penalty, problem.channel
    if learner.bias:
        raise ValueError("simulate: ERM on a GLM fits no intercept (bias=True is for solvable.GaussianMixture)")
    if loss.is_classification and not ch.is_classification:
        raise ValueError(f"ERM: the {loss.name} loss needs a classification channel, got {ch!r}")
    data = problem.data if problem.data is not None else Isotropic()
    if not isinstance(data, DataModel):
        raise ValueError(f"simulate: data must be None or a solvable.data.DataModel, got {data!r}")
    n = sample_count(problem.alpha, d)
    V, z, info = data.sample(n, d, problem.prior, rng)
    y = ch.sample(z, rng)
    P = V.shape[1]
    A = V / np.sqrt(P)
    w = solve_erm(loss, pen, A, y)
    m, q = info["overlaps"](w)
    rho = info["rho"]
    test = ch.student_test_error(m, q, rho)
    out = {
        "m": m,
        "q": q,
        "test_error": float(test),
        "train_loss": float(np.mean(loss.value(y, A @ w))),
        "mse": rho - 2 * m + q,
    }
    out.update({k: float(v) for k, v in ch.metrics(m, q, rho).items()})
    if "evaluate" in info:  # data models whose population metrics are measured otherwise (e.g. real features)
        out.update(info["evaluate"](w, ch))
    return out


class AdversarialExperiment(Experiment):
    """One seed of adversarial training at dimension ``d`` (:class:`~solvable.families.erm.adversarial.AdversarialERM`):
    the data model's features and labels, the exact adversarial-training estimator
    (:func:`~solvable.families.erm.solvers.solve_adversarial`, the attack geometry's diagonal in the features'
    coordinates from :meth:`~solvable.blocks.data.DataModel.mode_profile`), and the theory's fields: ``m, q`` (exact
    population overlaps), ``P = w^T Sigma_delta w / d``, ``test_error`` and ``robust_test_error`` (the exact
    expectations over a fresh sample given ``w``: the attacked margin is ``y omega - eps sqrt(P)``),
    ``train_loss`` (the mean attacked loss on the training set) and ``mse``."""

    def sample(self, d, rng):
        from solvable.families.erm.adversarial import _attack_modes, _spectrum_for_attack

        pb, ln = self.problem, self.learner
        if not pb.channel.is_classification:
            raise ValueError(f"AdversarialERM: needs a classification channel (Sign, Probit), got {pb.channel!r}")
        data, spec = _spectrum_for_attack(pb, "AdversarialERM")
        n = sample_count(pb.alpha, d)
        V, z, info = data.sample(n, d, pb.prior, rng)
        P = V.shape[1]
        Dg = data.mode_profile(_attack_modes(ln.attack, spec, "AdversarialERM"), d)
        return {"A": V / np.sqrt(P), "y": pb.channel.sample(z, rng), "D": Dg, "info": info}

    def fit(self, data, rng):
        from solvable.families.erm.solvers import solve_adversarial

        ln = self.learner
        return solve_adversarial(ln.loss, ln.penalty.lam, data["A"], data["y"], ln.eps, data["D"])

    def measure(self, data, w):
        from solvable.families.erm.adversarial import _robust_error

        ln, ch = self.learner, self.problem.channel
        A, y, D, info = data["A"], data["y"], data["D"], data["info"]
        m, q = info["overlaps"](w)
        rho = info["rho"]
        Pn = float(w @ (D * w)) / len(w)
        c = ln.eps * np.sqrt(Pn)
        return {"m": m, "q": q, "P": Pn, "mse": rho - 2 * m + q,
                "test_error": float(ch.student_test_error(m, q, rho)),
                "robust_test_error": float(_robust_error(ch, rho, m, q, c)[0]),
                "train_loss": float(np.mean(ln.loss.value(y, A @ w - c * y)))}

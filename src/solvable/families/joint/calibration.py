"""Calibration and uncertainty of linear classifiers from their overlaps (classification channels).

A probabilistic classifier reports a confidence ``p(x)`` that ``y = +1``: ``sigma(omega / T)`` for
logistic ERM (``omega = w . x / sqrt(d)``, temperature ``T``), ``Z_out(1, omega, V)`` for the
Bayes-optimal posterior predictive.  Its calibration at level ``p`` (Clarte, Loureiro, Krzakala,
Zdeborova 2022, "Theoretical characterization of uncertainty in high-dimensional linear
classification", eq. (4)) is

    Delta_p = p - P(y = 1 | p(x) = p),

positive where the classifier is over-confident.  Given the classifier's field ``omega``, the teacher's
field is Gaussian with mean ``(m / q) omega`` and variance ``rho - m^2 / q``, so ``P(y = 1 | omega) =
Z0(1, m omega / q, rho - m^2 / q)`` of the channel: every quantity here is a closed form or a 1D
integral in ``(m, q)``.  The Bayes-optimal classifier is calibrated (``m = q``, ``V = rho - q``:
``Delta_p = 0``, the Nishimori identity).

Post-hoc recalibration (Clarte, Loureiro, Krzakala, Zdeborova 2023, "Expectation consistency for
calibration of neural networks"): temperature scaling picks ``T`` minimising the population
cross-entropy ``E[-log sigma(y omega / T)]``; expectation consistency picks ``T`` such that the mean
confidence ``E[max(p, 1 - p)]`` equals the accuracy ``1 - test error``.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.special import expit, logit

from solvable.numerics.gauss import composite_legendre_nodes, hermite_rule

__all__ = ["calibration", "conditional_confidence", "temperature_scaling", "expectation_consistency"]


def _estimator(pred, estimator):
    """``(kind, m, q, rho, channel)`` of one estimator of a scalar prediction (ERM or JointERM)."""
    from solvable.blocks.learners import ERM

    from solvable.families.joint.equations import _is_bayes

    pb, lr = pred.problem, pred.learner
    ch = pb.channel
    if not ch.is_classification:
        raise ValueError(f"calibration: needs a classification channel (Sign, Probit), got {ch!r}")
    if np.ndim(pred["alpha"]) != 0:
        raise ValueError("calibration: give the prediction of one point (a scalar alpha)")
    rho = float(pb.rho)
    if isinstance(lr, ERM):
        kind, m, q = lr.loss.name, float(pred.m), float(pred.q)
    else:
        k = 0 if estimator is None else int(estimator)
        if not 0 <= k < lr.K:
            raise ValueError(f"calibration: estimator must be in 0..{lr.K - 1}, got estimator={estimator!r}")
        kind = "bayes" if _is_bayes(lr.learners[k]) else lr.learners[k].loss.name
        m, q = float(pred[f"m_{k}"]), float(pred[f"q_{k}_{k}"])
    if kind not in ("logistic", "bayes"):
        raise ValueError(f"calibration: the {kind!r} estimator reports no probability; logistic ERM and "
                         f"BayesOptimal() do")
    return kind, m, q, rho, ch


def _confidence(kind, omega, q, rho, ch, T):
    if kind == "bayes":
        return np.exp(ch.output_moments(1.0, omega, rho - q)[0])
    return expit(omega / T)


def _omega_of(kind, p, q, rho, ch, T):
    """The field at which the classifier's confidence is ``p``."""
    if kind == "logistic":
        return T * logit(p)
    f = lambda w, pp: np.exp(ch.output_moments(1.0, w, rho - q)[0]) - pp
    hi = 50.0 * np.sqrt(rho - q + getattr(ch, "noise", 0.0) + 1e-300)
    return np.array([optimize.brentq(f, -hi, hi, args=(pp,), xtol=1e-14) for pp in np.atleast_1d(p)])


def calibration(pred, p, *, estimator=None, temperature: float = 1.0):
    """``Delta_p = p - P(y = 1 | confidence p)`` (module docstring) for the logistic ERM or
    Bayes-optimal estimator of ``pred`` (a scalar ``sv.predict`` result of ``ERM`` or ``JointERM``;
    ``estimator`` picks the JointERM estimator), at confidence levels ``p`` in (0, 1); ``temperature``
    rescales the logistic confidence ``sigma(omega / T)``."""
    kind, m, q, rho, ch = _estimator(pred, estimator)
    p = np.asarray(p, float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError(f"calibration: confidence levels must be in (0, 1), got {p}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"calibration: the temperature must be > 0, got temperature={temperature!r}")
    om = _omega_of(kind, p, q, rho, ch, temperature)
    py = np.exp(ch.output_moments(1.0, (m / q) * om, max(rho - m * m / q, 1e-300))[0])
    return p - py.reshape(p.shape)


def conditional_confidence(pred, p, *, given: int, of: int):
    """Mean and standard deviation of estimator ``of``'s confidence over the inputs where estimator
    ``given`` reports ``p`` (a JointERM prediction; e.g. the Bayes-optimal uncertainty where logistic
    ERM is confident): the fields are jointly Gaussian with the overlaps ``q_k_l``."""
    kg, _, qg, rho, ch = _estimator(pred, given)
    ko, _, qo, _, _ = _estimator(pred, of)
    a, b = sorted((given, of))
    qgo = float(pred[f"q_{a}_{b}"])
    p = np.asarray(p, float)
    om = _omega_of(kg, p, qg, rho, ch, 1.0).reshape(-1, 1)
    x, w = hermite_rule(80)
    oo = (qgo / qg) * om + np.sqrt(max(qo - qgo * qgo / qg, 0.0)) * x[None, :]
    c = _confidence(ko, oo, qo, rho, ch, 1.0)
    mean = np.sum(w * c, axis=1)
    sd = np.sqrt(np.maximum(np.sum(w * c * c, axis=1) - mean ** 2, 0.0))
    return mean.reshape(p.shape), sd.reshape(p.shape)


def _fresh(m, q, rho, ch, n=60):
    """Nodes of omega ~ N(0, q) (cut at 0) and P(y = 1 | omega)."""
    s, w = composite_legendre_nodes(np.zeros(()), np.sqrt(q) * np.ones(()), np.zeros(1), n, 10.0)
    om = np.sqrt(q) * s
    return om, w, np.exp(ch.output_moments(1.0, (m / q) * om, max(rho - m * m / q, 1e-300))[0])


def temperature_scaling(pred, *, estimator=None) -> float:
    """The temperature ``T`` minimising the population cross-entropy ``E[-log sigma(y omega / T)]`` of a
    logistic ERM estimator (a 1D minimisation over the exact law of ``(y, omega)``)."""
    kind, m, q, rho, ch = _estimator(pred, estimator)
    if kind != "logistic":
        raise ValueError("temperature_scaling: for logistic ERM estimators")
    om, w, p1 = _fresh(m, q, rho, ch)

    def ce(logT):
        z = om / np.exp(logT)
        return float(np.sum(w * (p1 * np.logaddexp(0.0, -z) + (1 - p1) * np.logaddexp(0.0, z))))

    r = optimize.minimize_scalar(ce, bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-12})
    return float(np.exp(r.x))


def expectation_consistency(pred, *, estimator=None) -> float:
    """The temperature ``T`` at which the mean confidence ``E[max(p, 1 - p)]`` of ``sigma(omega / T)``
    equals the accuracy ``P(y omega > 0)`` (a 1D root; the accuracy does not depend on T)."""
    kind, m, q, rho, ch = _estimator(pred, estimator)
    if kind != "logistic":
        raise ValueError("expectation_consistency: for logistic ERM estimators")
    om, w, p1 = _fresh(m, q, rho, ch)
    acc = float(np.sum(w * np.where(om > 0, p1, 1 - p1)))

    def gap(logT):
        return float(np.sum(w * expit(np.abs(om) / np.exp(logT)))) - acc

    return float(np.exp(optimize.brentq(gap, -20.0, 20.0, xtol=1e-14)))

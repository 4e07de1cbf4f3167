"""Calibration and uncertainty of linear classifiers from their overlaps (classification channels).

A probabilistic classifier reports a confidence ``p(x)`` that ``y = +1``: ``sigma(omega / T)`` for
logistic ERM (``omega = w . x / sqrt(d)``, temperature ``T``), ``Z_out(1, omega, V)`` for the
Bayes-optimal posterior predictive, ``E[sigma(z)]``, ``z ~ N(omega, V)`` for a logistic Gibbs posterior
(:mod:`~solvable.families.joint.gibbs`; ``V`` its posterior variance of the field).  Its calibration at level ``p`` (Clarte, Loureiro, Krzakala,
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

__all__ = ["calibration", "conditional_confidence", "temperature_scaling", "expectation_consistency",
           "simulate_calibration", "simulate_temperatures"]


def _estimator(pred, estimator):
    """``(kind, m, q, rho, channel, scalar)`` of one estimator of a prediction (ERM or JointERM): ``m``,
    ``q`` as arrays over the points of a curve."""
    from solvable.blocks.learners import ERM

    from solvable.families.joint.equations import _is_bayes

    from solvable.families.joint.gibbs import GibbsPosterior

    pb, lr = pred.problem, pred.learner
    ch = pb.channel
    if not ch.is_classification:
        raise ValueError(f"calibration: needs a classification channel (Sign, Probit), got {ch!r}")
    rho = float(pb.rho)
    V = None
    if isinstance(lr, ERM):
        kind, m, q = lr.loss.name, pred["m"], pred["q"]
    else:
        k = 0 if estimator is None else int(estimator)
        if not 0 <= k < lr.K:
            raise ValueError(f"calibration: estimator must be in 0..{lr.K - 1}, got estimator={estimator!r}")
        est = lr.learners[k]
        kind = "bayes" if _is_bayes(est) else est.loss.name
        if isinstance(est, GibbsPosterior) and kind == "logistic":
            kind, V = "gibbs", np.atleast_1d(np.asarray(pred[f"V_{k}"], float))
        m, q = pred[f"m_{k}"], pred[f"q_{k}_{k}"]
    if kind not in ("logistic", "bayes", "gibbs"):
        raise ValueError(f"calibration: the {kind!r} estimator reports no probability; logistic ERM, a logistic "
                         f"GibbsPosterior and BayesOptimal() do")
    scalar = np.ndim(m) == 0
    m, q = np.atleast_1d(np.asarray(m, float)), np.atleast_1d(np.asarray(q, float))
    if kind != "gibbs":  # the Bayes predictive's variance is rho - q (unused for ERM)
        V = rho - q
    return kind, m, q, V, rho, ch, scalar


def _rows(fn, m, q, scalar):
    out = [fn(float(mi), float(qi)) for mi, qi in zip(m, q)]
    return out[0] if scalar else np.array(out)


def _confidence(kind, omega, V, ch, T):
    """The classifier's ``P(y = 1)`` at field ``omega``: ``sigma(omega / T)`` (ERM), the posterior
    predictive ``Z_out(1, omega, V)`` (Bayes) or ``E[sigma(z)]``, ``z ~ N(omega, V)`` (Gibbs posterior)."""
    if kind == "bayes":
        return np.exp(ch.output_moments(1.0, omega, V)[0])
    if kind == "gibbs":
        x, w = hermite_rule(60)
        return np.sum(w * expit(np.asarray(omega, float)[..., None] + np.sqrt(V) * x), axis=-1)
    return expit(omega / T)


def _omega_of(kind, p, V, ch, T):
    """The field at which the classifier's confidence is ``p``."""
    if kind == "logistic":
        return T * logit(p)
    hi = 50.0 * np.sqrt(V + getattr(ch, "noise", 0.0) + 1.0)
    f = lambda w, pp: float(_confidence(kind, w, V, ch, T)) - pp
    return np.array([optimize.brentq(f, -hi, hi, args=(pp,), xtol=1e-14) for pp in np.atleast_1d(p)])


def calibration(pred, p, *, estimator=None, temperature=1.0):
    """``Delta_p = p - P(y = 1 | confidence p)`` (module docstring) for the logistic ERM or
    Bayes-optimal estimator of ``pred`` (an ``sv.predict`` result of ``ERM`` or ``JointERM``; a curve
    gives one row per point; ``estimator`` picks the JointERM estimator), at confidence levels ``p`` in
    (0, 1); ``temperature`` (a number, or one per point) rescales the logistic confidence
    ``sigma(omega / T)``."""
    kind, m, q, Vs, rho, ch, scalar = _estimator(pred, estimator)
    p = np.asarray(p, float)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError(f"calibration: confidence levels must be in (0, 1), got {p}")
    T = np.broadcast_to(np.asarray(temperature, float), m.shape)
    if not np.all(np.isfinite(T) & (T > 0)):
        raise ValueError(f"calibration: the temperature must be > 0, got temperature={temperature!r}")
    out = []
    for mi, qi, Ti, Vi in zip(m, q, T, Vs):
        om = _omega_of(kind, p, Vi, ch, Ti)
        py = np.exp(ch.output_moments(1.0, (mi / qi) * om, max(rho - mi * mi / qi, 1e-300))[0])
        out.append(p - py.reshape(p.shape))
    return out[0] if scalar else np.array(out)


def conditional_confidence(pred, p, *, given: int, of: int):
    """Mean and standard deviation of estimator ``of``'s confidence over the inputs where estimator
    ``given`` reports ``p`` (a scalar JointERM prediction; e.g. the Bayes-optimal uncertainty where
    logistic ERM is confident): the fields are jointly Gaussian with the overlaps ``q_k_l``."""
    kg, _, qg, Vg, rho, ch, scalar = _estimator(pred, given)
    ko, _, qo, Vo, _, _, _ = _estimator(pred, of)
    if not scalar:
        raise ValueError("conditional_confidence: give the prediction of one point (a scalar alpha)")
    qg, qo, Vg, Vo = float(qg[0]), float(qo[0]), float(Vg[0]), float(Vo[0])
    a, b = sorted((given, of))
    qgo = float(pred[f"q_{a}_{b}"])
    p = np.asarray(p, float)
    om = _omega_of(kg, p, Vg, ch, 1.0).reshape(-1, 1)
    x, w = hermite_rule(80)
    oo = (qgo / qg) * om + np.sqrt(max(qo - qgo * qgo / qg, 0.0)) * x[None, :]
    c = _confidence(ko, oo, Vo, ch, 1.0)
    mean = np.sum(w * c, axis=1)
    sd = np.sqrt(np.maximum(np.sum(w * c * c, axis=1) - mean ** 2, 0.0))
    return mean.reshape(p.shape), sd.reshape(p.shape)


def _fresh(m, q, rho, ch, n=60):
    """Nodes of omega ~ N(0, q) (cut at 0) and P(y = 1 | omega)."""
    s, w = composite_legendre_nodes(np.zeros(()), np.sqrt(q) * np.ones(()), np.zeros(1), n, 10.0)
    om = np.sqrt(q) * s
    return om, w, np.exp(ch.output_moments(1.0, (m / q) * om, max(rho - m * m / q, 1e-300))[0])


def temperature_scaling(pred, *, estimator=None):
    """The temperature ``T`` minimising the population cross-entropy ``E[-log sigma(y omega / T)]`` of a
    logistic ERM estimator (a 1D minimisation over the exact law of ``(y, omega)``; one per point of a
    curve)."""
    kind, m, q, _, rho, ch, scalar = _estimator(pred, estimator)
    if kind != "logistic":
        raise ValueError("temperature_scaling: for logistic ERM estimators")

    def one(mi, qi):
        om, w, p1 = _fresh(mi, qi, rho, ch)

        def ce(logT):
            z = om / np.exp(logT)
            return float(np.sum(w * (p1 * np.logaddexp(0.0, -z) + (1 - p1) * np.logaddexp(0.0, z))))

        r = optimize.minimize_scalar(ce, bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-12})
        return float(np.exp(r.x))

    return _rows(one, m, q, scalar)


def expectation_consistency(pred, *, estimator=None):
    """The temperature ``T`` at which the mean confidence ``E[max(p, 1 - p)]`` of ``sigma(omega / T)``
    equals the accuracy ``P(y omega > 0)`` (a 1D root; the accuracy does not depend on T)."""
    kind, m, q, _, rho, ch, scalar = _estimator(pred, estimator)
    if kind != "logistic":
        raise ValueError("expectation_consistency: for logistic ERM estimators")

    def one(mi, qi):
        om, w, p1 = _fresh(mi, qi, rho, ch)
        acc = float(np.sum(w * np.where(om > 0, p1, 1 - p1)))

        def gap(logT):
            return float(np.sum(w * expit(np.abs(om) / np.exp(logT)))) - acc

        return float(np.exp(optimize.brentq(gap, -20.0, 20.0, xtol=1e-14)))

    return _rows(one, m, q, scalar)


def _fitted_fields(problem, lam, d, seed, n_test):
    """One seed: logistic ERM (``lam``) fitted on ``round(alpha d)`` samples, and its fields and the
    labels on ``n_test`` fresh samples."""
    from solvable.blocks.learners import ERM
    from solvable.blocks.penalties import L2
    from solvable.families.erm.solvers import solve_erm

    if not problem.channel.is_classification:
        raise ValueError(f"simulate: calibration needs a classification channel, got {problem.channel!r}")
    ch, lr = problem.channel, ERM("logistic", L2(lam))
    n = int(round(float(problem.alpha) * d))
    rng = np.random.default_rng(seed)
    if problem.data is not None:  # a data model (e.g. random features): training and test rows from one draw
        Xv, z, _ = problem.data.sample(n + n_test, d, problem.prior, rng)
        A = Xv / np.sqrt(Xv.shape[1])
        y = ch.sample(z, rng)
        w = solve_erm(lr.loss, lr.penalty, A[:n], y[:n])
        return A[n:] @ w, y[n:]
    theta = problem.prior.sample_signal(d, rng)
    X = rng.standard_normal((n, d))
    w = solve_erm(lr.loss, lr.penalty, X / np.sqrt(d), ch.sample(X @ theta / np.sqrt(d), rng))
    Xt = rng.standard_normal((n_test, d))
    return Xt @ w / np.sqrt(d), ch.sample(Xt @ theta / np.sqrt(d), rng)


def simulate_temperatures(problem, lam: float, *, d: int, seeds, n_val: int = 50_000) -> np.ndarray:
    """Finite-size temperatures of logistic ERM (``lam``): per seed, the temperature scaling and the
    expectation consistency temperatures measured on ``n_val`` fresh validation samples (the empirical
    cross-entropy minimised; the mean confidence matched to the accuracy); returns ``(len(seeds), 2)``."""
    rows = []
    for seed in seeds:
        om, y = _fitted_fields(problem, lam, d, seed, n_val)
        ce = lambda lt: float(np.mean(np.logaddexp(0.0, -y * om / np.exp(lt))))
        t_ts = np.exp(optimize.minimize_scalar(ce, bounds=(-8.0, 8.0), method="bounded", options={"xatol": 1e-10}).x)
        acc = float(np.mean(y * om > 0))
        t_ec = np.exp(optimize.brentq(lambda lt: float(np.mean(expit(np.abs(om) / np.exp(lt)))) - acc, -20.0, 20.0))
        rows.append([t_ts, t_ec])
    return np.array(rows)


def simulate_calibration(problem, lam: float, p, *, d: int, seeds, n_test: int = 50_000) -> np.ndarray:
    """Finite-size ``Delta_p`` of logistic ERM (``lam``): per seed, fit on ``round(alpha d)`` samples
    (:func:`solvable.families.erm.solvers.solve_erm`), then on ``n_test`` fresh samples the empirical
    ``P(y = 1 | confidence within 0.01 of p)``; returns ``(len(seeds), len(p))``."""
    p = np.atleast_1d(np.asarray(p, float))
    rows = []
    for seed in seeds:
        om, yt = _fitted_fields(problem, lam, d, seed, n_test)
        conf = expit(om)
        rows.append([pp - np.mean(yt[np.abs(conf - pp) < 0.01] == 1) for pp in p])
    return np.array(rows)

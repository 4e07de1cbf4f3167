"""Random valid inputs of the ERM theory (the fuzz suite, :mod:`solvable.core.fuzz`), and the
properties specific to it."""
from __future__ import annotations

import numpy as np

from solvable.blocks import channels as C
from solvable.blocks import losses as Lo
from solvable.blocks import penalties as Pe
from solvable.blocks import priors as P
from solvable.blocks.learners import BayesOptimal, ERM
from solvable.blocks.problems import GLM
from solvable.core.fuzz import loguniform as _loguniform


def sample_erm(rng):
    classification = rng.random() < 0.5
    noise = 0.0 if rng.random() < 0.3 else _loguniform(rng, 1e-3, 10.0)
    if classification:
        loss = [Lo.Logistic(), Lo.Hinge(), Lo.Square()][rng.integers(3)]
        channel = [C.Sign(noise=noise), C.Probit(noise=max(noise, 1e-3))][rng.integers(2)]
    else:
        loss = [Lo.Square(), Lo.Huber(_loguniform(rng, 0.1, 10.0)), Lo.Absolute(), Lo.Tukey(_loguniform(rng, 0.3, 10.0))][
            rng.integers(4)]
        outliers = C.Outliers(max(noise, 1e-3), _loguniform(rng, 1e-2, 10.0), float(rng.uniform(0.0, 0.9)),
                              float(rng.uniform(-1.0, 2.0)))
        channel = [C.Linear(noise), C.ReLU(noise), C.Abs(noise), C.Square(noise), outliers][rng.integers(5)]
    lam = _loguniform(rng, 1e-8, 1e3)
    pen = [Pe.L2(lam), Pe.L1(lam), Pe.ElasticNet(lam, float(rng.uniform(0.1, 0.9)))][rng.choice(3, p=[0.6, 0.25, 0.15])]
    prior = [P.Gaussian(), P.Rademacher(), P.GaussBernoulli(rho=float(rng.uniform(0.05, 1.0)))][rng.integers(3)]
    return GLM(prior, channel, alpha=_loguniform(rng, 1e-3, 1e3)), ERM(loss, pen), {}


def invariants(problem, learner, pred) -> list[str]:
    """No ERM estimator beats the Bayes-optimal mse (where that theory covers the problem); adversarial training:
    at eps = 0 it is plain ERM, and the robust test error is at least the test error."""
    from solvable.core.registry import predict
    from solvable.families.erm.adversarial import AdversarialERM

    if isinstance(learner, AdversarialERM):
        return _adversarial_invariants(problem, learner, pred)
    if not isinstance(learner, ERM):  # ProximalAMP: its fixed point is the ERM one, whose draws check the bound
        return []

    if not np.all(pred.converged) or problem.data is not None:
        return []
    try:
        bo = predict(problem, BayesOptimal(), on_fail="ignore")
    except (ValueError, TypeError):
        return []
    if not np.all(bo.converged):
        return []
    # the ERM estimate is compared after its optimal rescaling (ERM's norm is not the posterior's):
    # min_c E|c w - theta|^2 / d = rho - m^2 / q
    m, q, rho = float(pred.m), float(pred.q), problem.rho
    best = rho - m * m / q if q > 0 else rho
    if best < float(bo.mse) * (1 - 1e-5) - 1e-8:
        return [f"ERM (optimally rescaled) mse {best} below the Bayes-optimal {float(bo.mse)}"]
    return []


def sample_adversarial(rng):
    """Adversarial training: logistic or hinge, a sign or probit teacher, isotropic or block data (1-3 blocks,
    with a per-block attack geometry or the isotropic one), eps in [0, 1], lam in [1e-3, 10]."""
    from solvable.blocks.data.spectra import BlockFeatures
    from solvable.families.erm.adversarial import AdversarialERM

    noise = 0.0 if rng.random() < 0.4 else _loguniform(rng, 1e-3, 1.0)
    channel = [C.Sign(noise=noise), C.Probit(noise=max(noise, 1e-3))][rng.integers(2)]
    loss = [Lo.Logistic(), Lo.Hinge()][rng.integers(2)]
    data, attack = None, None
    if rng.random() < 0.6:
        K = int(rng.integers(1, 4))
        c = rng.dirichlet(np.ones(K))
        c = np.maximum(c, 0.05)
        data = BlockFeatures(c / c.sum(), np.exp(rng.uniform(-1.5, 1.5, K)), np.exp(rng.uniform(-1.5, 1.0, K)))
        if rng.random() < 0.7:
            attack = np.exp(rng.uniform(-2.0, 1.0, K))
    elif rng.random() < 0.3:
        attack = float(np.exp(rng.uniform(-1.0, 1.0)))
    learner = AdversarialERM(loss, Pe.L2(_loguniform(rng, 1e-3, 10.0)), eps=float(rng.uniform(0.0, 1.0)), attack=attack)
    return GLM(P.Gaussian(), channel, alpha=_loguniform(rng, 0.05, 20.0), data=data), learner, {}


def _adversarial_invariants(problem, learner, pred) -> list[str]:
    from solvable.core.registry import predict

    if not np.all(pred.converged):
        return []
    out = []
    if not np.all(pred.robust_test_error >= pred.test_error - 1e-12):
        out.append(f"robust test error {pred.robust_test_error} below the test error {pred.test_error}")
    plain = predict(problem, ERM(learner.loss, learner.penalty), on_fail="ignore")
    if learner.eps == 0 and np.all(plain.converged):
        for k in ("m", "q", "V"):
            if not np.allclose(pred[k], plain[k], rtol=1e-6, atol=1e-9):
                out.append(f"eps = 0: {k} = {pred[k]} differs from plain ERM's {plain[k]}")
    return out


def sample_proximal_amp(rng):
    """ProximalAMP: an ERM draw with an L2 penalty on isotropic data (the state evolution's fixed point is the ERM
    one), 300 iterations at most."""
    from solvable.families.erm.amp import ProximalAMP

    problem, learner, _ = sample_erm(rng)
    lam = learner.penalty.lam if learner.penalty.l1_ratio == 0.0 else _loguniform(rng, 1e-3, 1e2)
    return problem, ProximalAMP(learner.loss, Pe.L2(max(lam, 1e-4))), {}

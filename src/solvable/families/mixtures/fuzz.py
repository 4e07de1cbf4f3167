"""Random valid inputs of the Gaussian-mixture ERM theory (the fuzz suite, :mod:`solvable.core.fuzz`)."""
from __future__ import annotations

import numpy as np

from solvable.blocks.data.mixture import Mixture
from solvable.blocks.learners import ERM
from solvable.blocks.penalties import L2, ElasticNet
from solvable.families.mixtures.problem import GaussianMixture

_LOSSES = ("square", "logistic", "hinge", "hard_margin")


def _sample_multiclass(rng):
    """A K-class problem (labels = the cluster index): K = 3 with a K-class loss, or K = 2 with
    cross-entropy; lam >= 0.05 (the cubature's range, docs/mixtures.md)."""
    K = int(rng.choice([2, 3, 3]))
    p = int(rng.choice([K, 6]))
    mu = rng.standard_normal((K, p)) * np.exp(rng.uniform(-1.5, 0.7))
    cov = None if rng.random() < 0.5 else np.exp(rng.uniform(-0.7, 0.7, K))
    loss = "cross_entropy" if K == 2 else str(rng.choice(["cross_entropy", "square", "multiclass_hinge"]))
    pb = GaussianMixture(Mixture(mu, cov, rng.dirichlet(np.ones(K) * 3)),
                         alpha=float(np.exp(rng.uniform(np.log(0.1), np.log(3.0 if loss == "multiclass_hinge" else 10.0)))))
    lr = ERM(loss, L2(float(np.exp(rng.uniform(np.log(0.05), np.log(5))))), bias=bool(rng.random() < 0.5))
    if rng.random() < 0.3:  # L1 / elastic net: commuting covariances as a (K, p) spectrum, dense means
        p = 12
        mu = rng.standard_normal((K, p)) * np.exp(rng.uniform(-1.5, 0.7)) / np.sqrt(p)
        S = np.exp(rng.uniform(-0.7, 0.7, (K, p)))
        pb = GaussianMixture(Mixture(mu, S, rng.dirichlet(np.ones(K) * 3)), alpha=pb.alpha)
        # (pure L1 with the cross-entropy and an even K leaves W's shift along 1 free: a clear error)
        ratio = 0.5 if loss == "cross_entropy" and K % 2 == 0 else float(rng.choice([1.0, 0.5]))
        pen = ElasticNet(float(np.exp(rng.uniform(np.log(0.05), np.log(2)))), ratio)
        lr = ERM(loss, pen, bias=lr.bias)
    return pb, lr, {}


def sample_mixture_erm(rng):
    if rng.random() < 0.25:
        return _sample_multiclass(rng)
    K = int(rng.choice([2, 3, 4]))
    p = int(rng.choice([K, 8]))
    mu = rng.standard_normal((K, p)) * np.exp(rng.uniform(-2, 1))
    kind = rng.choice(["identity", "scalar", "diagonal"])
    cov = None if kind == "identity" else (np.exp(rng.uniform(-1, 1, K)) if kind == "scalar"
                                           else np.exp(rng.uniform(-1, 1, (K, p))))
    w = rng.dirichlet(np.ones(K) * 3)
    labels = np.r_[1.0, -1.0, rng.choice([1.0, -1.0], K - 2)]
    random = rng.random() < 0.2
    pb = GaussianMixture(Mixture(mu, cov, w, labels), alpha=float(np.exp(rng.uniform(np.log(0.05), np.log(50)))),
                         labels="random" if random else "cluster", flip=0.0 if random else float(rng.uniform(0, 0.3)))
    lr = ERM(str(rng.choice(_LOSSES)), L2(float(np.exp(rng.uniform(np.log(1e-3), np.log(10))))),
             bias=bool(rng.random() < 0.5))
    if kind == "diagonal" and lr.loss.name != "hard_margin" and rng.random() < 0.25:  # L1 / elastic net
        lam = float(np.exp(rng.uniform(np.log(1e-3), np.log(3))))
        lr = ERM(lr.loss.name, ElasticNet(lam, float(rng.choice([1.0, 0.5]))), bias=lr.bias)
    if rng.random() < 0.25:  # a single-index teacher
        pb, lr = _teacher_case(rng, Mixture(mu, cov, w, labels), pb.alpha, lr, kind, p)
    return pb, lr, {}


def _teacher_case(rng, mix, alpha, lr, kind, p):
    """A single-index teacher on the mixture: in the means' span plus a bulk (scalar covariances) or a
    dense vector (a spectrum); a Sign / Probit channel, or a regression channel with a regression loss."""
    from solvable.blocks import channels

    if kind == "diagonal":
        a = rng.standard_normal(p) * np.exp(rng.uniform(-1.5, 0.5)) / np.sqrt(p)
        norm = None
    else:
        a = rng.standard_normal(p) * np.exp(rng.uniform(-3, 0)) * (rng.random() < 0.7)
        norm = float(a @ a + np.exp(rng.uniform(-2, 1)))
    noise = float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0))) * (rng.random() < 0.8))
    if lr.loss.is_constraint:  # max margin: a noiseless sign teacher (always separable)
        ch = channels.Sign()
        lr = ERM(lr.loss.name, L2(max(lr.penalty.lam, 1e-3)), bias=lr.bias)
    elif rng.random() < 0.4:  # regression
        ch = [channels.Linear, channels.ReLU, channels.Abs][int(rng.integers(3))](noise)
        lr = ERM(str(rng.choice(["square", "huber", "absolute"])), lr.penalty, bias=lr.bias)
        if lr.penalty.lam == 0 and alpha <= 1.0:
            alpha = 1.0 + alpha
    else:
        ch = channels.Probit(noise) if noise > 0 and rng.random() < 0.3 else channels.Sign(noise, float(rng.uniform(0, 0.2)))
    pb = GaussianMixture(mix, alpha=alpha, labels="teacher", teacher=a, teacher_norm=norm, channel=ch)
    return pb, lr


def invariants(problem, learner, pred) -> list[str]:
    bad = []
    if not bool(np.all(pred.converged)):  # reported as not converged (NaN fields): nothing to check
        return bad
    K = problem.data.K
    if "q_0_0_0" in pred:  # multi-class: per cluster the K x K score covariance
        for k in range(K):
            for i in range(K):
                if not float(pred[f"q_{k}_{i}_{i}"]) >= -1e-12:
                    bad.append(f"q_{k}_{i}_{i} = {pred[f'q_{k}_{i}_{i}']} < 0")
            if not -1e-12 <= float(pred[f"test_error_{k}"]) <= 1 + 1e-12:
                bad.append(f"test_error_{k} outside [0, 1]")
        K = 0
    regression = getattr(problem, "is_regression", False)
    collapsed = "norm" in pred and float(pred.norm) == 0.0  # w = 0 exactly (the hinge's collapse): q_k = 0
    for k in range(K):
        if not (float(getattr(pred, f"q_{k}")) > 0 or (collapsed and float(getattr(pred, f"q_{k}")) == 0.0)):
            bad.append(f"q_{k} = {getattr(pred, f'q_{k}')} <= 0")
        if not 0 <= float(getattr(pred, f"test_error_{k}")) <= (np.inf if regression else 1):
            bad.append(f"test_error_{k} = {getattr(pred, f'test_error_{k}')} outside [0, {np.inf if regression else 1}]")
    if regression:  # the mean squared error, output noise included
        if not float(pred.test_error) >= problem.channel.noise - 1e-12:
            bad.append(f"test_error = {pred.test_error} below the output noise {problem.channel.noise}")
    elif not 0 <= float(pred.test_error) <= 1:
        bad.append(f"test_error = {pred.test_error} outside [0, 1]")
    if float(pred.train_loss) < -1e-12:
        bad.append(f"train_loss = {pred.train_loss} < 0")
    if "bayes_error" in pred and float(pred.test_error) < float(pred.bayes_error) - 1e-9:
        bad.append(f"test_error {pred.test_error} below the Bayes error {pred.bayes_error}")
    return bad

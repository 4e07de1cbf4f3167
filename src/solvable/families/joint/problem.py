"""Several ERM estimators on one data set: the laws of their sample weights and the learner.

An estimator ``k`` minimises ``sum_mu p_mu^k loss_k(y_mu, w . x_mu / sqrt(d)) + lam_k |w|^2 / 2``,
the weights ``p_mu = (p_mu^1, ..., p_mu^K)`` i.i.d. over samples from a law given here (Clarte,
Vandenbroucque, Dalle, Loureiro, Krzakala, Zdeborova 2024, "Analysis of bootstrap and subsampling
in high-dimensional regularized regression", sec. 2; Loureiro, Gerbelot, Refinetti, Sicuro,
Krzakala 2022, "Fluctuations, bias, variance & ensemble of learners", sec. 2).  The theory needs
the law of one estimator's weight (:meth:`SampleWeights.marginal`) and of two estimators' weights
(:meth:`SampleWeights.pair`); the simulation draws the real thing (:meth:`SampleWeights.draw`:
bootstrap resamples of n out of n with replacement, subsamples without replacement), whose
weights are asymptotically independent with these laws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from solvable.blocks.learners import ERM, BayesOptimal, Learner

__all__ = ["SampleWeights", "Full", "PairBootstrap", "Subsampling", "FreshData", "WeightLaw", "JointERM",
           "ensemble_fields"]


@dataclass(frozen=True)
class SampleWeights:
    """The law of the sample weights of K estimators trained on one data set (base class)."""

    def marginal(self, K: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values, probs)``: the law of one of the K estimators' weight on one sample of the pool."""
        raise NotImplementedError

    def pair(self, K: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values (M, 2), probs (M,))``: the joint law of two different estimators' weights
        (independent by default)."""
        v, p = self.marginal(K)
        V1, V2 = np.meshgrid(v, v, indexing="ij")
        return np.column_stack([V1.ravel(), V2.ravel()]), np.outer(p, p).ravel()

    def alpha_factor(self, K: int) -> float:
        """Samples in the pool per sample of one estimator's data set (``alpha`` counts the latter)."""
        return 1.0

    def draw(self, n: int, K: int, rng: np.random.Generator) -> np.ndarray:
        """Integer weights (n_pool, K) of a finite-size run with ``n`` samples per data set."""
        raise NotImplementedError


@dataclass(frozen=True)
class Full(SampleWeights):
    """Every estimator sees every sample once (estimators differ only by their loss / penalty)."""

    def marginal(self, K):
        return np.ones(1), np.ones(1)

    def pair(self, K):
        return np.ones((1, 2)), np.ones(1)

    def draw(self, n, K, rng):
        return np.ones((n, K), dtype=int)


@dataclass(frozen=True)
class PairBootstrap(SampleWeights):
    """The pair bootstrap: each estimator is trained on n samples drawn with replacement from the n
    (a multinomial count per sample, asymptotically independent Poisson(1) weights; the theory
    truncates them at ``p_max`` and renormalises: the mass above 8 is 1.1e-6)."""

    p_max: int = 8

    def __post_init__(self):
        if int(self.p_max) != self.p_max or self.p_max < 1:
            raise ValueError(f"PairBootstrap: p_max must be an integer >= 1, got p_max={self.p_max!r}")

    def marginal(self, K):
        v = np.arange(int(self.p_max) + 1, dtype=float)
        p = np.exp(-1.0 - gammaln(v + 1.0))  # Poisson(1)
        return v, p / p.sum()

    def draw(self, n, K, rng):
        return np.stack([rng.multinomial(n, np.full(n, 1.0 / n)) for _ in range(K)], axis=1)


@dataclass(frozen=True)
class Subsampling(SampleWeights):
    """Subsampling: each estimator is trained on ``round(r n)`` of the n samples, drawn without
    replacement (asymptotically independent Bernoulli(r) weights)."""

    r: float = 0.5

    def __post_init__(self):
        if not (isinstance(self.r, (int, float, np.floating)) and 0.0 < float(self.r) <= 1.0):
            raise ValueError(f"Subsampling: the ratio r must be in (0, 1], got r={self.r!r}")
        object.__setattr__(self, "r", float(self.r))

    def marginal(self, K):
        return np.array([0.0, 1.0]), np.array([1.0 - self.r, self.r])

    def draw(self, n, K, rng):
        m = int(round(self.r * n))
        out = np.zeros((n, K), dtype=int)
        for k in range(K):
            out[rng.choice(n, size=m, replace=False), k] = 1
        return out


@dataclass(frozen=True)
class FreshData(SampleWeights):
    """Independent data sets: each estimator has its own n samples from the same teacher (the
    pool has K n samples, each in one estimator's set), the reference for the true variance."""

    def marginal(self, K):  # per pool sample (alpha_factor = K): in one estimator's set with probability 1/K
        return np.array([0.0, 1.0]), np.array([1.0 - 1.0 / K, 1.0 / K])

    def pair(self, K):  # a pool sample is in at most one set
        return np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), np.array([1.0 / K, 1.0 / K, 1.0 - 2.0 / K])

    def alpha_factor(self, K):
        return float(K)

    def draw(self, n, K, rng):
        out = np.zeros((n * K, K), dtype=int)
        for k in range(K):
            out[k * n:(k + 1) * n, k] = 1
        return out


@dataclass(frozen=True)
class WeightLaw(SampleWeights):
    """Any law of i.i.d. sample weights, independent across estimators: ``values`` (>= 0) taken with
    probabilities ``probs`` (a distribution: >= 0, summing to 1).  E.g. ``WeightLaw((0, 1, 2), (0.25, 0.5,
    0.25))``.  The simulation draws the weights i.i.d. from it (the logistic loss needs integer values
    there: it repeats rows)."""

    values: tuple = (1.0,)
    probs: tuple = (1.0,)

    def __post_init__(self):
        v = np.atleast_1d(np.asarray(self.values, float))
        p = np.atleast_1d(np.asarray(self.probs, float))
        if v.ndim != 1 or p.shape != v.shape:
            raise ValueError(f"WeightLaw: values and probs must be 1D of the same length, got values={self.values!r}, "
                             f"probs={self.probs!r}")
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"WeightLaw: weights must be finite and >= 0, got values={self.values!r}")
        if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
            raise ValueError(f"WeightLaw: probs must be a distribution (>= 0, summing to 1), got probs={self.probs!r} "
                             f"(sum {p.sum()!r})")
        if not np.any((v > 0) & (p > 0)):
            raise ValueError(f"WeightLaw: every sample would have weight 0, got values={self.values!r}, "
                             f"probs={self.probs!r}")
        object.__setattr__(self, "values", tuple(float(x) for x in v))
        object.__setattr__(self, "probs", tuple(float(x) for x in p))

    def marginal(self, K):
        return np.array(self.values), np.array(self.probs)

    def draw(self, n, K, rng):
        v = np.array(self.values)
        out = rng.choice(v, size=(n, K), p=np.array(self.probs))
        return out.astype(int) if np.all(v == np.round(v)) else out


_LABELS = ("shared", "resampled")
_FEATURES = ("shared", "independent")


@dataclass(frozen=True)
class JointERM(Learner):
    """K ERM estimators trained on the same data with sample weights (``weights``), studied
    jointly: their teacher overlaps ``m_k``, cross-overlaps ``q_k_l`` and variances ``V_k``.

    ``learners``: ERM learners (L2 penalty, no bias), or one ERM and ``K``: ``JointERM(ERM(...),
    weights=PairBootstrap(), K=2)``.  One of them may be ``BayesOptimal()``, the posterior mean of
    a Gaussian prior on the full data (``weights=Full()``): ``JointERM((BayesOptimal(), ERM(...)))``
    gives the joint law of the Bayes and ERM predictors (calibration, uncertainty); others may be
    :class:`~solvable.families.joint.gibbs.GibbsPosterior` (a mismatched posterior mean).
    ``labels="resampled"``: each estimator sees its own draw of the labels from the teacher's channel
    given the same inputs (label resampling; square loss only).
    ``features="independent"``: on random-features data (``data=sv.data.RandomFeatures(...)``) each
    estimator has its own feature map ``sigma(F_k x / sqrt d)``, the ``F_k`` independent (an ensemble
    of random-features learners, Loureiro et al. 2022, sec. 5); ``"shared"`` (default): one map.
    """

    learners: Any = ()
    weights: SampleWeights = field(default_factory=Full)
    K: int | None = None
    labels: str = "shared"
    features: str = "shared"

    def __post_init__(self):
        from solvable.families.joint.gibbs import GibbsPosterior

        ls = self.learners
        if isinstance(ls, (ERM, GibbsPosterior)):
            k = 2 if self.K is None else self.K
            if int(k) != k or k < 1:
                raise ValueError(f"JointERM: K must be an integer >= 1, got K={self.K!r}")
            ls = (ls,) * int(k)
        ls = tuple(ls)
        if not ls or not all(isinstance(x, (ERM, BayesOptimal, GibbsPosterior)) for x in ls):
            raise ValueError(f"JointERM: learners must be ERM or GibbsPosterior learners (or one ERM with K), and "
                             f"at most one BayesOptimal(), got {self.learners!r}")
        if sum(isinstance(x, BayesOptimal) for x in ls) > 1:
            raise ValueError("JointERM: at most one BayesOptimal() learner (two would be the same estimator)")
        if self.K is not None and self.K != len(ls):
            raise ValueError(f"JointERM: K={self.K!r} but {len(ls)} learners were given")
        for x in ls:
            if isinstance(x, (BayesOptimal, GibbsPosterior)):
                continue
            if getattr(x.penalty, "l1_ratio", None) != 0.0:
                raise ValueError(f"JointERM: only the L2 penalty is implemented, got {x.penalty!r}")
            if x.bias:
                raise ValueError("JointERM: bias=True is not supported (the teacher-student GLM fits no intercept)")
        if not isinstance(self.weights, SampleWeights):
            raise ValueError(f"JointERM: weights must be a SampleWeights law (Full(), PairBootstrap(), Subsampling(r), "
                             f"FreshData(), WeightLaw(values, probs)), got {self.weights!r}")
        if isinstance(self.weights, FreshData) and len(ls) < 2:
            raise ValueError("JointERM: FreshData needs K >= 2 estimators")
        if any(isinstance(x, (BayesOptimal, GibbsPosterior)) for x in ls) and (
                not isinstance(self.weights, Full) or self.labels != "shared"):
            raise ValueError(f"JointERM: the BayesOptimal() and GibbsPosterior estimators use all the data once: "
                             f"weights=Full() and labels='shared', got weights={self.weights!r}, labels={self.labels!r}")
        if self.labels not in _LABELS:
            raise ValueError(f"JointERM: labels must be one of {_LABELS}, got labels={self.labels!r}")
        if self.features not in _FEATURES:
            raise ValueError(f"JointERM: features must be one of {_FEATURES}, got features={self.features!r}")
        if self.features == "independent" and any(isinstance(x, BayesOptimal) for x in ls):
            raise ValueError("JointERM: features='independent' is for ERM / GibbsPosterior estimators on random "
                             "features (the BayesOptimal() estimator sees the inputs themselves)")
        object.__setattr__(self, "learners", ls)
        object.__setattr__(self, "K", len(ls))

    @property
    def exchangeable(self) -> bool:
        """The same learner K times (so that the infinite ensemble of its replicas is defined)."""
        return self.K >= 2 and all(x == self.learners[0] for x in self.learners[1:])

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return [(k, l) for k in range(self.K) for l in range(k + 1, self.K)]


def ensemble_fields(m, Q, rho, channel, moments, exchangeable: bool) -> dict:
    """The fields of the ensemble from the overlaps ``m`` (N, K) and ``Q`` (N, K, K), shared by the
    theory and the simulation: ``variance`` (the mean over pairs of ``(Q_kk + Q_ll - 2 Q_kl) / 2``, the
    variance across estimators of a fresh prediction), ``ensemble_test_error`` (the averaged estimator,
    overlaps ``mean m_k``, ``mean Q_kl``) and, for exchangeable estimators, ``bagged_test_error``: the
    infinite ensemble (overlaps ``mean m_k``, ``mean_{k != l} Q_kl``; Loureiro et al. 2022, sec. 4: for
    the square loss ``test_error_k = bagged_test_error + (Q_kk - Q_kl)``, the bias-variance split)."""
    K = m.shape[1]
    out = {}
    mbar = m.mean(axis=1)
    if K >= 2:
        off = ~np.eye(K, dtype=bool)
        out["variance"] = np.mean([(Q[:, k, k] + Q[:, l, l] - 2.0 * Q[:, k, l]) / 2.0
                                   for k in range(K) for l in range(k + 1, K)], axis=0)
        if exchangeable:
            out["bagged_test_error"] = channel.student_test_error(mbar, Q[:, off].mean(axis=1), rho, moments=moments)
    out["ensemble_test_error"] = channel.student_test_error(mbar, Q.mean(axis=(1, 2)), rho, moments=moments)
    return out

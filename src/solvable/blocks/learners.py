"""Learners: what is run on the data.  Frozen dataclasses with validated fields.

``BayesOptimal`` (the posterior mean; its theory is the replica formula), ``AMP``
(approximate message passing and its state evolution), ``ERM(loss, penalty)``
(empirical risk minimisation), ``Spectral`` (spectral / PCA estimators).  Other families
add their own learners in their package (e.g. ``families.sgd.learner.OnlineSGD``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvable.core.validate import check_int, check_interval, check_positive, check_real
from solvable.blocks.losses import Loss, get_loss
from solvable.blocks.penalties import L2, Penalty, get_penalty

__all__ = ["Learner", "BayesOptimal", "AMP", "ERM", "Spectral"]


class Learner:
    """Base class of learners."""

    def at(self, **changes):
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class BayesOptimal(Learner):
    """The Bayes-optimal estimator (posterior mean); theory: the replica-symmetric formula."""


@dataclass(frozen=True)
class AMP(Learner):
    """Approximate message passing (GAMP for GLMs, low-rank AMP for spiked matrices).

    ``init``: "uninformative" (what an algorithm can do) or "informative" (started at the
    signal, to follow the other branch).  ``max_iter`` bounds both the algorithm and its
    state evolution; ``damping`` is the fraction of the old iterate kept.
    """

    damping: float = 0.0
    max_iter: int = 500
    tol: float = 1e-8
    init: str = "uninformative"

    def __post_init__(self):
        check_interval("damping", self.damping, 0.0, 1.0, owner="AMP", closed_hi=False)
        check_int("max_iter", self.max_iter, owner="AMP")
        check_positive("tol", self.tol, owner="AMP")
        if self.init not in ("uninformative", "informative"):
            raise ValueError(f"AMP: init must be 'uninformative' or 'informative', got init={self.init!r}")


@dataclass(frozen=True)
class ERM(Learner):
    """Empirical risk minimisation: minimise sum_mu loss(y_mu, w.x_mu/sqrt(d) + b) + penalty(w).

    ``loss`` and ``penalty`` are blocks (or names: ``ERM("logistic", "l2")`` gives L2(0)).
    ``bias``: fit an unpenalised intercept ``b`` (default False: ``b = 0``; supported by the
    Gaussian-mixture family, where clusters need not be centred).
    """

    loss: Any = "square"
    penalty: Any = field(default_factory=lambda: L2(0.0))
    bias: bool = False

    def __post_init__(self):
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ValueError(f"ERM: bias must be True or False, got bias={self.bias!r}")
        loss = self.loss if isinstance(self.loss, Loss) else get_loss(self.loss)
        pen = self.penalty if isinstance(self.penalty, Penalty) else get_penalty(self.penalty)
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "penalty", pen)


@dataclass(frozen=True)
class Spectral(Learner):
    """Spectral estimator: top eigenvector of the data matrix (``method="pca"``) or of a
    pre-processed matrix (``method`` names the pre-processing, family-specific)."""

    method: str = "pca"

"""The Gaussian-mixture classification problem: n = alpha d samples of a
:class:`~solvable.data.Mixture`, labelled by their cluster (binary: the cluster's +-1 label,
flipped with probability ``flip``) or at random."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solvable.blocks.data.mixture import Mixture
from solvable.core.contract import Problem
from solvable.core.validate import as_param, check_interval, check_positive

__all__ = ["GaussianMixture", "label_table"]


@dataclass(frozen=True, eq=False)
class GaussianMixture(Problem):
    """Classification of a Gaussian mixture: ``x`` from the cluster ``k ~ weights`` of ``data``
    (a :class:`solvable.data.Mixture`), label ``y`` = the +-1 label of cluster ``k``
    (``labels="cluster"``, each label flipped with probability ``flip``; a mixture without +-1
    labels, or a K-class loss such as ``"cross_entropy"``: multi-class classification, the label
    is the cluster index, docs/mixtures.md) or a fair coin
    independent of ``x`` (``labels="random"``: the random-label / memorisation problem of Gerace,
    Krzakala, Loureiro, Stephan, Zdeborova 2022); ``n = alpha d`` samples.

    ``alpha`` may be a 1D array (a curve).
    """

    data: Any
    alpha: Any = 1.0
    labels: str = "cluster"
    flip: float = 0.0

    curve_params = ("alpha",)

    def __post_init__(self):
        if not isinstance(self.data, Mixture):
            raise ValueError(f"GaussianMixture: data must be a solvable.data.Mixture, got data={self.data!r}")
        check_positive("alpha", self.alpha, owner="GaussianMixture")
        object.__setattr__(self, "alpha", as_param(self.alpha, "alpha", "GaussianMixture"))
        if self.labels not in ("cluster", "random"):
            raise ValueError(f"GaussianMixture: labels must be 'cluster' or 'random', got labels={self.labels!r}")
        check_interval("flip", self.flip, 0.0, 0.5, owner="GaussianMixture")
        object.__setattr__(self, "flip", float(self.flip))
        if self.labels == "random" and self.flip != 0.0:
            raise ValueError(f"GaussianMixture: random labels take no flip, got flip={self.flip!r}")
        if self.labels == "cluster" and not self.data.is_binary:
            # multi-class classification: the label is the cluster index
            if self.data.K < 2:
                raise ValueError(f"GaussianMixture: one cluster (K = {self.data.K}) and no +-1 label: there is nothing "
                                 f"to classify; give labels='random' or a mixture of K >= 2 clusters")
            if self.flip != 0.0:
                raise ValueError(f"GaussianMixture: label noise (flip) is for +-1 labels; the multi-class problem "
                                 f"(K = {self.data.K}, labels = the cluster index) takes flip=0, got flip={self.flip!r}")

    @property
    def label_table(self):
        """``P(y | cluster)`` as a (K, 2) array over ``y = (+1, -1)``."""
        return label_table(self.data, self.labels, self.flip)


def label_table(data: Mixture, labels: str = "cluster", flip: float = 0.0):
    """``P(y | cluster)`` as a (K, 2) array over ``y = (+1, -1)``: fair coins for random labels,
    else each cluster's label kept with probability ``1 - flip``."""
    import numpy as np

    if labels == "random":
        return np.full((data.K, 2), 0.5)
    if not data.is_binary:
        raise ValueError(f"the mixture's clusters carry no +-1 labels (K = {data.K})")
    plus = (data.labels > 0).astype(float)
    return np.stack([plus * (1 - flip) + (1 - plus) * flip, (1 - plus) * (1 - flip) + plus * flip], axis=1)

"""Penalties (regularisers) of ERM with their proximal operators.

Conventions (Loureiro et al., NeurIPS 2021): ``L2(lam) = lam/2 |w|^2``,
``L1(lam) = lam |w|_1``, ``ElasticNet(lam, l1_ratio) = lam (l1_ratio |w|_1 +
(1 - l1_ratio)/2 |w|^2)`` (the scikit-learn parametrisation, up to its 1/n).
``prox(x, gamma) = argmin_w penalty(w) + (w - x)^2 / (2 gamma)``, coordinatewise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvable.core.validate import check_interval, check_positive

__all__ = ["Penalty", "L2", "L1", "ElasticNet", "get_penalty"]


class Penalty:
    name: str = "penalty"
    lam: float = 0.0
    #: the share r of lam on |w|_1 when the penalty has the elastic-net form
    #: lam (r |w|_1 + (1 - r)/2 |w|^2) (0 for L2, 1 for L1); None for a penalty of another form
    l1_ratio: float | None = None

    def value(self, w) -> float:
        raise NotImplementedError

    def prox(self, x, gamma):
        raise NotImplementedError

    def dprox(self, x, gamma):
        raise NotImplementedError

    def _gamma(self, gamma):
        gamma = np.asarray(gamma, float)
        if np.any(gamma <= 0):
            raise ValueError(f"prox needs gamma > 0, got min gamma={float(np.min(gamma))!r}")
        return gamma

    @property
    def l2_part(self) -> float:
        """Coefficient of |w|^2/2 (for closed forms on Gaussian data)."""
        return 0.0

    @property
    def l1_part(self) -> float:
        return 0.0


def _soft(x, t):
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


@dataclass(frozen=True)
class L2(Penalty):
    """lam/2 |w|^2;  prox = x / (1 + gamma lam).  ``lam`` may be negative (ridge below zero, down to the
    convexity bound of the problem: the ERM engine takes it for the square loss on isotropic data, with
    ``lam > -(sqrt(alpha) - 1)^2``; engines that cannot take it raise)."""

    lam: float = 0.0
    name = "l2"
    l1_ratio = 0.0

    def __post_init__(self):
        lam = self.lam
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.integer, np.floating)) or not np.isfinite(lam):
            raise ValueError(f"L2 penalty: lam must be a finite number, got lam={lam!r}")
        object.__setattr__(self, "lam", float(lam))

    def value(self, w):
        w = np.asarray(w, float)
        return 0.5 * self.lam * np.sum(w * w, axis=-1)

    def prox(self, x, gamma):
        return np.asarray(x, float) / (1.0 + self._gamma(gamma) * self.lam)

    def dprox(self, x, gamma):
        return np.broadcast_to(1.0 / (1.0 + self._gamma(gamma) * self.lam), np.shape(x)).copy()

    @property
    def l2_part(self):
        return self.lam


@dataclass(frozen=True)
class L1(Penalty):
    """lam |w|_1;  prox = soft thresholding at gamma lam."""

    lam: float = 0.0
    name = "l1"
    l1_ratio = 1.0

    def __post_init__(self):
        check_positive("lam", self.lam, owner="L1 penalty", allow_zero=True)
        object.__setattr__(self, "lam", float(self.lam))

    def value(self, w):
        return self.lam * np.sum(np.abs(np.asarray(w, float)), axis=-1)

    def prox(self, x, gamma):
        return _soft(np.asarray(x, float), self._gamma(gamma) * self.lam)

    def dprox(self, x, gamma):
        return np.where(np.abs(np.asarray(x, float)) > self._gamma(gamma) * self.lam, 1.0, 0.0)

    @property
    def l1_part(self):
        return self.lam


@dataclass(frozen=True)
class ElasticNet(Penalty):
    """lam (l1_ratio |w|_1 + (1 - l1_ratio)/2 |w|^2);  prox = soft(x, g lam r) / (1 + g lam (1-r))."""

    lam: float = 0.0
    l1_ratio: float = 0.5
    name = "elasticnet"

    def __post_init__(self):
        check_positive("lam", self.lam, owner="ElasticNet penalty", allow_zero=True)
        check_interval("l1_ratio", self.l1_ratio, 0.0, 1.0, owner="ElasticNet penalty")
        object.__setattr__(self, "lam", float(self.lam))
        object.__setattr__(self, "l1_ratio", float(self.l1_ratio))

    def value(self, w):
        w = np.asarray(w, float)
        r = self.l1_ratio
        return self.lam * (r * np.sum(np.abs(w), axis=-1) + 0.5 * (1 - r) * np.sum(w * w, axis=-1))

    def prox(self, x, gamma):
        g = self._gamma(gamma)
        r = self.l1_ratio
        return _soft(np.asarray(x, float), g * self.lam * r) / (1.0 + g * self.lam * (1 - r))

    def dprox(self, x, gamma):
        g = self._gamma(gamma)
        r = self.l1_ratio
        return np.where(np.abs(np.asarray(x, float)) > g * self.lam * r, 1.0, 0.0) / (1.0 + g * self.lam * (1 - r))

    @property
    def l2_part(self):
        return self.lam * (1 - self.l1_ratio)

    @property
    def l1_part(self):
        return self.lam * self.l1_ratio


_PENALTIES = {"l2": L2, "ridge": L2, "l1": L1, "lasso": L1, "elasticnet": ElasticNet}


def get_penalty(name: str | Penalty, **kwargs) -> Penalty:
    if isinstance(name, Penalty):
        return name
    key = str(name).lower().replace("_", "").replace("-", "")
    if key not in _PENALTIES:
        raise ValueError(f"unknown penalty {name!r}; known penalties: {sorted(set(_PENALTIES))}")
    return _PENALTIES[key](**kwargs)

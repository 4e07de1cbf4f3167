"""The generalized linear model (teacher-student perceptron and relatives)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.core.contract import Problem
from solvable.core.validate import as_param, check_positive
from solvable.blocks.channels import Channel
from solvable.blocks.priors import Prior

__all__ = ["GLM"]


@dataclass(frozen=True, eq=False)
class GLM(Problem):
    """Teacher-student GLM: theta ~ prior (i.i.d. coordinates), x ~ N(0, I_d) (or ``data``),
    y = channel(theta . x / sqrt(d)), n = alpha d samples.

    ``alpha`` may be a scalar or a 1D array (a curve; engines that support it vectorise).
    ``data`` is None for isotropic Gaussian inputs, or a data model of :mod:`solvable.data`
    (a covariance spectrum, the Gaussian covariate model, random features, ...).
    """

    prior: Prior
    channel: Channel
    alpha: Any = 1.0
    data: Any = None

    curve_params = ("alpha",)

    def __post_init__(self):
        if not isinstance(self.prior, Prior):
            raise ValueError(f"GLM: prior must be a solvable.priors.Prior, got prior={self.prior!r}")
        if not isinstance(self.channel, Channel):
            raise ValueError(f"GLM: channel must be a solvable.channels.Channel, got channel={self.channel!r}")
        check_positive("alpha", self.alpha, owner="GLM")
        object.__setattr__(self, "alpha", as_param(self.alpha, "alpha", "GLM"))

    @property
    def rho(self) -> float:
        """rho = E theta_i^2 = |theta|^2 / d."""
        return self.prior.second_moment

"""The online-SGD learner of the learning-dynamics family (two-layer students trained one
sample (or one mini-batch) at a time)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solvable.blocks.learners import Learner
from solvable.core.contract import fields_equal
from solvable.core.validate import check_int, check_interval, check_positive, check_real

__all__ = ["OnlineSGD"]


_NORMALIZATIONS = {"sum": lambda k: 1.0, "mean": lambda k: 1.0 / k, "sqrt": lambda k: k ** -0.5}
_LR_SCALINGS = {"none": 0.0, "saad-solla": 0.0, "mean-field": 1.0}


@dataclass(frozen=True, eq=False)
class OnlineSGD(Learner):
    """One-pass (online) SGD on the square loss for a two-layer student (learning dynamics).

    Student ``yhat = c sum_i v_i h(w_i.x/sqrt d)`` with ``c`` from ``normalization``
    (``"sum"``: 1, ``"mean"``: 1/width, ``"sqrt"``: 1/sqrt(width)); each step draws
    ``batch_size`` fresh samples and updates ``w_i <- w_i (1 - lr wd/d) - (lr/sqrt d) <dL/dlambda_i x>``
    with ``L = (yhat - y)^2/2`` and, if ``train_second_layer``, ``v_i <- v_i - (lr_second/d) <dL/dv_i>``
    (Saad & Solla 1995; Goldt et al. NeurIPS 2019, Eq. 5).  Time ``t = steps / d`` runs to ``time``.

    ``init``: ``"random"`` (``W0`` i.i.d. N(0, init_scale^2), second layer ``v0 = 1``) or a dict
    with ``"W"`` (width x d) and optionally ``"W_teacher"`` (k x d) and ``"v"`` (width).
    ``lr_scaling``: the width exponent ``kappa`` of Veiga et al. (NeurIPS 2022): the learning
    rates used are ``lr * width**kappa`` (``"none"``/``"saad-solla"``: 0, ``"mean-field"``: 1, or a number).
    ``spherical``: renormalise every ``w_i`` to ``|w_i|^2 = d`` after each step (spherical online SGD of
    Ben Arous, Gheissari & Jagannath, JMLR 2021; the initial rows are normalised too, so ``Q_ii = 1``).
    ``times``: explicit time grid; otherwise ``n_times`` points, 0 and then log-spaced from
    ``t_min`` (default ``min(0.01, time/100)``) to ``time``.
    """

    width: int = 2
    activation: Any = "erf"
    lr: float = 0.5
    time: float = 100.0
    train_second_layer: bool = False
    normalization: str = "sum"
    weight_decay: float = 0.0
    lr_second: float | None = None
    batch_size: int = 1
    init: Any = "random"
    init_scale: float = 1.0
    lr_scaling: Any = "none"
    n_times: int = 100
    t_min: float | None = None
    times: Any = None
    spherical: bool = False

    def __post_init__(self):
        from solvable.blocks.activations import Activation, get_activation
        import numpy as np

        own = "OnlineSGD"
        check_int("width", self.width, owner=own)
        act = self.activation if isinstance(self.activation, Activation) else get_activation(self.activation)
        object.__setattr__(self, "activation", act)
        check_positive("lr", self.lr, owner=own)
        check_positive("time", self.time, owner=own)
        if not isinstance(self.train_second_layer, (bool, np.bool_)):
            raise ValueError(f"{own}: train_second_layer must be a bool, got train_second_layer={self.train_second_layer!r}")
        if self.normalization not in _NORMALIZATIONS:
            raise ValueError(f"{own}: normalization must be one of {sorted(_NORMALIZATIONS)}, got normalization={self.normalization!r}")
        check_positive("weight_decay", self.weight_decay, owner=own, allow_zero=True)
        if not isinstance(self.spherical, (bool, np.bool_)):
            raise ValueError(f"{own}: spherical must be a bool, got spherical={self.spherical!r}")
        if self.lr_second is not None:
            check_positive("lr_second", self.lr_second, owner=own)
        check_int("batch_size", self.batch_size, owner=own)
        check_positive("init_scale", self.init_scale, owner=own, allow_zero=True)
        if isinstance(self.lr_scaling, str):
            if self.lr_scaling not in _LR_SCALINGS:
                raise ValueError(f"{own}: lr_scaling must be a number or one of {sorted(_LR_SCALINGS)}, got lr_scaling={self.lr_scaling!r}")
        else:
            check_real("lr_scaling", self.lr_scaling, owner=own)
        check_int("n_times", self.n_times, owner=own, minimum=2)
        if self.t_min is not None:
            check_interval("t_min", self.t_min, 0.0, float(self.time), owner=own, closed_lo=False, closed_hi=False)
        if isinstance(self.init, str):
            if self.init != "random":
                raise ValueError(f"{own}: init must be 'random' or a dict with 'W' (and 'W_teacher', 'v'), got init={self.init!r}")
        elif isinstance(self.init, dict):
            bad = set(self.init) - {"W", "W_teacher", "v"}
            if "W" not in self.init or bad:
                raise ValueError(f"{own}: init dict needs key 'W' and may have 'W_teacher', 'v'; got keys {sorted(self.init)}")
            W = np.asarray(self.init["W"], dtype=float)
            if W.ndim != 2 or W.shape[0] != self.width or not np.all(np.isfinite(W)):
                raise ValueError(f"{own}: init['W'] must be a finite (width={self.width}) x d array, got shape {W.shape}")
            if "v" in self.init and np.asarray(self.init["v"]).shape != (self.width,):
                raise ValueError(f"{own}: init['v'] must have width={self.width} entries, got {self.init['v']!r}")
        else:
            raise ValueError(f"{own}: init must be 'random' or a dict, got init={self.init!r}")
        if self.times is not None:
            t = np.asarray(self.times, dtype=float)
            if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(np.diff(t) <= 0):
                raise ValueError(f"{own}: times must be an increasing 1D array of times >= 0, got times={self.times!r}")
            t = t.copy()
            t.setflags(write=False)
            object.__setattr__(self, "times", t)

    def __eq__(self, other):
        return fields_equal(self, other) if type(other) is type(self) else NotImplemented

    __hash__ = None

    @property
    def output_scale(self) -> float:
        """The output normalisation ``c`` (1, 1/width or 1/sqrt(width))."""
        return float(_NORMALIZATIONS[self.normalization](self.width))

    @property
    def kappa(self) -> float:
        """Width exponent of the learning rates (Veiga et al. 2022)."""
        return float(_LR_SCALINGS[self.lr_scaling]) if isinstance(self.lr_scaling, str) else float(self.lr_scaling)

    @property
    def lr_first_eff(self) -> float:
        """Learning rate of the first layer actually used: ``lr * width**kappa``."""
        return float(self.lr) * self.width ** self.kappa

    @property
    def lr_second_eff(self) -> float:
        """Learning rate of the second layer actually used: ``(lr_second or lr) * width**kappa``."""
        base = float(self.lr if self.lr_second is None else self.lr_second)
        return base * self.width ** self.kappa

    def time_grid(self):
        """The output times: ``times`` if given, else 0 then log-spaced points up to ``time``."""
        import numpy as np

        if self.times is not None:
            return np.array(self.times)
        tmin = self.t_min if self.t_min is not None else min(0.01, self.time / 100.0)
        return np.concatenate([[0.0], np.geomspace(tmin, self.time, self.n_times - 1)])

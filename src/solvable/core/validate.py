"""Small validators that give clear errors naming the field and the value."""
from __future__ import annotations

import numbers

import numpy as np


def _arr(value):
    return np.asarray(value, dtype=float)


def check_real(name: str, value, *, owner: str = "") -> None:
    where = f"{owner}: " if owner else ""
    try:
        a = _arr(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}{name} must be a real number, got {name}={value!r}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}{name} must be finite, got {name}={value!r}")


def check_positive(name: str, value, *, owner: str = "", allow_zero: bool = False, allow_inf: bool = False) -> None:
    where = f"{owner}: " if owner else ""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{where}{name} must be a number, got {name}={value!r}")
    try:
        a = _arr(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}{name} must be a real number, got {name}={value!r}") from None
    if np.any(np.isnan(a)) or (not allow_inf and np.any(np.isinf(a))):
        raise ValueError(f"{where}{name} must be finite, got {name}={value!r}")
    bad = a < 0 if allow_zero else a <= 0
    if np.any(bad):
        what = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{where}{name} must be {what}, got {name}={value!r}")


def check_interval(name: str, value, lo: float, hi: float, *, owner: str = "", closed_lo=True, closed_hi=True) -> None:
    where = f"{owner}: " if owner else ""
    check_real(name, value, owner=owner)
    a = _arr(value)
    ok_lo = a >= lo if closed_lo else a > lo
    ok_hi = a <= hi if closed_hi else a < hi
    if not np.all(ok_lo & ok_hi):
        l = "[" if closed_lo else "("
        r = "]" if closed_hi else ")"
        raise ValueError(f"{where}{name} must lie in {l}{lo}, {hi}{r}, got {name}={value!r}")


def check_int(name: str, value, *, owner: str = "", minimum: int = 1) -> None:
    where = f"{owner}: " if owner else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}{name} must be an integer >= {minimum}, got {name}={value!r}")


def as_param(value, name: str = "value", owner: str | None = None):
    """Store a scalar as float and an array-like as a read-only 1D float array (a curve); an
    array of more dimensions is a ValueError naming ``name``."""
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return float(a)
    if a.ndim > 1:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}{name} must be a scalar or a 1D array (a curve), got an array of shape {a.shape}")
    a = a.copy()
    a.setflags(write=False)
    return a


def sample_count(alpha, d: int) -> int:
    """``n = round(alpha d)`` samples of a simulation at dimension ``d``; a clear error where that is none."""
    n = int(round(float(alpha) * d))
    if n < 1:
        raise ValueError(f"simulate: alpha * d = {float(alpha) * d} gives no samples")
    return n

"""Result containers shared by theory (:class:`Prediction`) and simulation
(:class:`SimulationResult`).  Both expose the same field names, so that

>>> abs(theory.test_error - sim.test_error) < 3 * sim.se("test_error")   # doctest: +SKIP

is the whole comparison.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable

import numpy as np
import pandas as pd

__all__ = ["Prediction", "SimulationResult", "aggregate"]


def _plain(v):
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


class _FieldAccess(Mapping):
    _values: dict

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; fields: {sorted(self._values)}"
            ) from None

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._values))


class Prediction(_FieldAccess):
    """Order parameters and metrics of one theory point (or of a curve, with array fields).

    Fields are read by attribute (``p.q``) or key (``p["q"]``).  Extra attributes:
    ``converged`` (bool, or array for curves), ``branches`` (other fixed-point branches, each
    a Prediction, where the equations have several), ``trajectory`` (a DataFrame of iterations
    or time where the engine gives one), ``info`` (diagnostics), ``problem`` and ``learner``.
    """

    def __init__(
        self,
        values: dict[str, Any],
        *,
        problem=None,
        learner=None,
        converged: bool | np.ndarray = True,
        branches: dict[str, "Prediction"] | None = None,
        trajectory: pd.DataFrame | None = None,
        info: dict | None = None,
    ):
        object.__setattr__(self, "_values", {k: _plain(v) for k, v in values.items()})
        object.__setattr__(self, "problem", problem)
        object.__setattr__(self, "learner", learner)
        object.__setattr__(self, "converged", converged)
        object.__setattr__(self, "branches", branches or {})
        object.__setattr__(self, "trajectory", trajectory)
        object.__setattr__(self, "info", info or {})

    def __setattr__(self, name, value):
        raise AttributeError("Prediction is read-only")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (``converged`` included)."""
        d = dict(self._values)
        d["converged"] = _plain(self.converged) if np.ndim(self.converged) == 0 else np.asarray(self.converged)
        return d

    def to_frame(self) -> pd.DataFrame:
        """One row per point: scalar fields repeated, 1D array fields as columns."""
        d = self.to_dict()
        n = max((np.size(v) for v in d.values() if isinstance(v, (np.ndarray, list))), default=1)
        cols = {}
        for k, v in d.items():
            a = np.asarray(v)
            if a.ndim == 0:
                cols[k] = np.repeat(a.item() if a.dtype != object else v, n)
            elif a.ndim == 1 and a.size == n:
                cols[k] = a
        return pd.DataFrame(cols)

    def __repr__(self):
        def fmt(v):
            if isinstance(v, float):
                return f"{v:.6g}"
            if isinstance(v, np.ndarray):
                return _preview(v)
            return repr(v)

        body = ", ".join(f"{k}={fmt(v)}" for k, v in self._values.items())
        extra = "" if np.all(self.converged) else ", converged=False"
        return f"Prediction({body}{extra})"

    def _repr_html_(self) -> str:
        """Notebook display: the pair, then :meth:`to_frame` as a table (rows that did not converge flagged)."""
        head = _html_head("Prediction", self.problem, self.learner)
        if not np.all(self.converged):
            head += f"<br><b>not converged</b> at {int(np.size(self.converged) - np.sum(self.converged))} point(s)"
        return head + self.to_frame().to_html(float_format=lambda x: f"{x:.6g}", index=False, max_rows=60)


def _html_head(kind: str, problem, learner) -> str:
    import html

    what = ", ".join(html.escape(repr(x)) for x in (problem, learner) if x is not None)
    return f"<b>{kind}</b>" + (f" <small>({what})</small>" if what else "")


def _preview(a: np.ndarray) -> str:
    """A short view of an array field: its values when few, else the first two, the last and the
    count (``[0.5, 0.75, ..., 5] (20 points)``); other shapes as their shape."""
    if a.ndim != 1 or a.dtype.kind not in "biuf":
        return f"array(shape={a.shape})"
    f = lambda x: f"{x:.4g}"
    if a.size <= 4:
        return "[" + ", ".join(f(x) for x in a) + "]"
    return f"[{f(a[0])}, {f(a[1])}, ..., {f(a[-1])}] ({a.size} points)"


def aggregate(samples: list[dict[str, Any]]) -> tuple[dict, dict]:
    """Mean and standard error (std / sqrt(n), ddof=1) over seeds, field by field.

    Array-valued fields (trajectories) of equal shape are aggregated elementwise; fields
    that are not numbers are kept from the first sample.
    """
    mean, se = {}, {}
    if not samples:
        return mean, se
    keys = list(samples[0])
    n = len(samples)
    for k in keys:
        vals = [s.get(k) for s in samples]
        try:
            arr = np.asarray(vals, dtype=float)
        except (TypeError, ValueError):
            mean[k] = vals[0]
            continue
        mean[k] = _plain(np.mean(arr, axis=0))
        se[k] = _plain(np.std(arr, axis=0, ddof=1) / np.sqrt(n)) if n > 1 else _plain(np.full(arr.shape[1:], np.nan) if arr.ndim > 1 else np.nan)
    return mean, se


class SimulationResult(_FieldAccess):
    """Finite-size measurements over seeds: the same field names as :class:`Prediction`.

    ``r.test_error`` is the mean over seeds, ``r.se("test_error")`` its standard error,
    ``r.samples`` a DataFrame with one row per seed (scalar fields only), ``r.runs`` the raw
    per-seed dicts, ``r.d`` and ``r.seeds`` the size and seeds used.
    """

    def __init__(self, runs: list[dict[str, Any]], *, d: int, seeds: Iterable[int], problem=None, learner=None):
        mean, se = aggregate(runs)
        object.__setattr__(self, "_values", mean)
        object.__setattr__(self, "_se", se)
        object.__setattr__(self, "runs", runs)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "seeds", list(seeds))
        object.__setattr__(self, "problem", problem)
        object.__setattr__(self, "learner", learner)

    def __setattr__(self, name, value):
        raise AttributeError("SimulationResult is read-only")

    def se(self, name: str):
        """Standard error of the mean of a field over seeds."""
        if name not in self._se:
            raise KeyError(f"no standard error for {name!r}; fields: {sorted(self._se)}")
        return self._se[name]

    @property
    def stderr(self) -> dict[str, Any]:
        return dict(self._se)

    @property
    def samples(self) -> pd.DataFrame:
        rows = []
        for seed, r in zip(self.seeds, self.runs):
            row = {"seed": seed}
            row.update({k: _plain(v) for k, v in r.items() if np.ndim(v) == 0})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One row: the problem's curve parameters (``alpha``, ``snr``, ...), ``d``, ``n_seeds``,
        the means of the scalar fields and their standard errors (``<field>_se``); see
        :attr:`samples` for one row per seed."""
        row = {p: getattr(self.problem, p) for p in getattr(self.problem, "curve_params", ())
               if np.ndim(getattr(self.problem, p)) == 0}
        row.update({k: v for k, v in self.to_dict().items() if np.ndim(v) == 0})
        return pd.DataFrame([row])

    def to_dict(self) -> dict[str, Any]:
        """Means, and standard errors under ``<field>_se``."""
        d = dict(self._values)
        d.update({f"{k}_se": v for k, v in self._se.items()})
        d["d"] = self.d
        d["n_seeds"] = len(self.seeds)
        return d

    def __repr__(self):
        parts = []
        for k, v in self._values.items():
            if isinstance(v, float):
                s = self._se.get(k)
                parts.append(f"{k}={v:.5g}" + (f"+-{s:.2g}" if isinstance(s, float) and np.isfinite(s) else ""))
            elif isinstance(v, np.ndarray):
                parts.append(f"{k}=array(shape={v.shape})")
        return f"SimulationResult(d={self.d}, seeds={len(self.seeds)}, " + ", ".join(parts) + ")"

    def _repr_html_(self) -> str:
        """Notebook display: the pair, then the mean and standard error of every scalar field at ``d`` over the
        seeds (:attr:`samples` has one row per seed)."""
        rows = [{"field": k, "mean": v, "se": self._se.get(k, np.nan)} for k, v in self._values.items()
                if np.ndim(v) == 0 and isinstance(v, (int, float))]
        head = _html_head("SimulationResult", self.problem, self.learner) + f"<br>d = {self.d}, {len(self.seeds)} seeds"
        return head + pd.DataFrame(rows).to_html(float_format=lambda x: f"{x:.5g}", index=False)

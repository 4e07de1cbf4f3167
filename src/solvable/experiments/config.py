"""Configurations of sweep tasks: dotted paths into nested frozen dataclasses, a
canonical JSON form of problems and learners, and the stable hash that keys the store.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from typing import Any

import numpy as np

__all__ = ["resolve_path", "replace_path", "get_path", "canonical", "config_key", "canonical_json",
           "DEFAULT_MAX_POINTS", "size_problem"]

#: The largest grid (points, and simulation tasks) a sweep builds unless told otherwise.
DEFAULT_MAX_POINTS = 1_000_000


def _field_names(obj) -> list[str]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [f.name for f in dataclasses.fields(obj)]
    return []


def resolve_path(problem, learner, path: str) -> tuple[str, tuple[str, ...]]:
    """Where a dotted ``path`` points: ``("problem"|"learner", segments)``.

    ``"problem.x"`` / ``"learner.x"`` name the root explicitly; otherwise the first segment is
    looked up among the problem's fields first, then the learner's.  The bare names
    ``"problem"`` and ``"learner"`` replace the whole object.
    """
    if not isinstance(path, str) or not path or any(not s for s in path.split(".")):
        raise ValueError(f"over: a grid key must be a dotted field path like 'alpha' or 'penalty.lam', got {path!r}")
    parts = tuple(path.split("."))
    if parts[0] in ("problem", "learner"):
        root, rest = parts[0], parts[1:]
    elif parts[0] in _field_names(problem):
        root, rest = "problem", parts
    elif parts[0] in _field_names(learner):
        root, rest = "learner", parts
    else:
        raise ValueError(
            f"over: {path!r} is not a field of the problem ({type(problem).__name__}: "
            f"{', '.join(_field_names(problem)) or 'no fields'}) nor of the learner "
            f"({type(learner).__name__}: {', '.join(_field_names(learner)) or 'no fields'})"
        )
    obj = problem if root == "problem" else learner
    for i, seg in enumerate(rest):
        names = _field_names(obj)
        if seg not in names:
            where = ".".join((root,) + rest[:i]) or root
            raise ValueError(
                f"over: {path!r}: {where} ({type(obj).__name__}) has no field {seg!r}; "
                f"fields: {', '.join(names) or 'none'}"
            )
        obj = getattr(obj, seg)
    return root, rest


def _replace(obj, segs: tuple[str, ...], value):
    if not segs:
        return value
    head, rest = segs[0], segs[1:]
    return dataclasses.replace(obj, **{head: _replace(getattr(obj, head), rest, value)})


def replace_path(problem, learner, path: str, value):
    """``(problem, learner)`` with the field at dotted ``path`` set to ``value``
    (nested frozen dataclasses are rebuilt with :func:`dataclasses.replace`, so their
    validation runs again)."""
    root, segs = resolve_path(problem, learner, path)
    if root == "problem":
        return _replace(problem, segs, value), learner
    return problem, _replace(learner, segs, value)


def get_path(problem, learner, path: str):
    """The current value at dotted ``path``."""
    root, segs = resolve_path(problem, learner, path)
    obj = problem if root == "problem" else learner
    for s in segs:
        obj = getattr(obj, s)
    return obj


def canonical(obj) -> Any:
    """A JSON-able canonical form: dataclasses become ``{"__type__": "module.Class", field: ...}``,
    arrays become lists, floats are kept exactly (``repr`` round-trips)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return 0.0 if x == 0 else x
    if isinstance(obj, np.ndarray):
        return [canonical(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": f"{type(obj).__module__}.{type(obj).__qualname__}"}
        for f in dataclasses.fields(obj):
            out[f.name] = canonical(getattr(obj, f.name))
        return out
    if isinstance(obj, type):
        return {"__class__": f"{obj.__module__}.{obj.__qualname__}"}
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if callable(obj) and isinstance(name, str):
        return {"__callable__": f"{getattr(obj, '__module__', None) or '?'}.{name}"}
    r = repr(obj)
    if " at 0x" not in r:
        return {"__repr__": f"{type(obj).__module__}.{r}"}
    raise TypeError(
        f"cannot build a stable key for {type(obj).__name__} value {obj!r}: problem and learner "
        "fields must be numbers, strings, arrays or dataclasses"
    )


def canonical_json(obj) -> str:
    """Canonical JSON text (sorted keys, no spaces) of :func:`canonical`."""
    return json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_key(config: dict) -> str:
    """sha256 (hex) of the canonical JSON of a task configuration."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def size_problem(sizes: dict[str, int], n_d: int = 0, n_seeds: int = 0, max_points: int | None = DEFAULT_MAX_POINTS
                 ) -> tuple[str, str] | None:
    """What is wrong with a sweep of these axis sizes (``{grid key: count}``), ``n_d`` simulated
    dimensions and ``n_seeds`` seeds under the limit ``max_points`` (on grid points and on
    simulation tasks; None: no limit), as ``(where, message)`` with ``where`` "over" or
    "simulate", or None when it fits.  Counted from the sizes alone, so a grid too big for
    memory is refused before anything is allocated."""
    if max_points is None:
        return None
    if isinstance(max_points, bool) or not isinstance(max_points, numbers.Integral) or max_points < 1:
        return "max_points", f"expected a positive integer or None, got max_points={max_points!r}"
    points = math.prod(int(n) for n in sizes.values())
    how = (" (raise the limit with max_points: in the spec, --max-points on the command line or "
           "sweep(max_points=...), or split the sweep)")
    if points > max_points:
        axes = " x ".join(f"{k}: {int(n):,}" for k, n in sizes.items())
        return "over", f"the grid has {points:,} points ({axes}), more than max_points={int(max_points):,}{how}"
    tasks = points * n_d * n_seeds
    if tasks > max_points:
        return "simulate", (f"the sweep has {tasks:,} simulation tasks ({points:,} points x {n_d:,} d x "
                            f"{n_seeds:,} seeds), more than max_points={int(max_points):,}{how}")
    return None

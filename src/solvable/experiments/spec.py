"""Sweeps described in YAML (``solvable sweep SPEC.yaml``), validated key by key.

A spec::

    problem:                       # a problem class of solvable and its fields
      type: GLM
      prior: Rademacher            # a block by name, or {type: Gaussian, var: 1.0}
      channel: {type: Sign}
      alpha: 1.0
    learner:                       # or `learners: {label: {type: ...}, ...}` to compare several
      type: ERM
      loss: logistic
      penalty: {type: L2, lam: 0.01}
    over:                          # grid axes: dotted paths into the problem, then the learner
      alpha: {linspace: [0.5, 3.0, 6]}      # also {geomspace: [a, b, n]} or a list
      penalty.lam: [0.001, 0.1]
    simulate: {d: 200, seeds: 4}   # optional; other keys go to the simulation
    theory: true                   # optional
    aggregate: true                # optional: mean and standard error over seeds
    theory_options: {}             # optional: passed to predict
    plot: {x: alpha, y: test_error, hue: null, logx: false, logy: false}   # optional
    max_points: 1000000            # optional: the largest grid accepted (points, simulation tasks)

Every mistake raises :class:`SpecError` (a ValueError) whose message names the key and what
was expected there.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from solvable.experiments.config import DEFAULT_MAX_POINTS, size_problem

__all__ = ["SpecError", "SweepSpec", "load_spec", "parse_spec", "build_object"]

TOP_KEYS = ("problem", "learner", "learners", "over", "simulate", "theory", "aggregate", "theory_options", "plot",
            "name", "description", "max_points")
PLOT_KEYS = ("x", "y", "hue", "logx", "logy", "title")


class SpecError(ValueError):
    """A mistake in a sweep spec; the message names the key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


def _namespaces():
    import solvable
    from solvable.blocks import activations, channels, data, learners, losses, penalties, priors
    from solvable.core.registry import learner_types, problem_types

    registered_learners = _namespace("learners", learner_types())
    blocks = {
        "prior": (priors, priors.Prior), "prior_u": (priors, priors.Prior), "prior_v": (priors, priors.Prior),
        "channel": (channels, channels.Channel), "loss": (losses, losses.Loss),
        "penalty": (penalties, penalties.Penalty), "learner": (registered_learners, learners.Learner),
    }
    mods = [_namespace("problems", problem_types()), solvable, registered_learners, priors, channels, losses,
            penalties, activations, data]
    return blocks, mods


def _namespace(name, classes):
    """A module-like namespace of registered classes (``__all__`` lists them)."""
    import types

    ns = types.SimpleNamespace(**{c.__name__: c for c in classes})
    ns.__all__ = sorted(c.__name__ for c in classes)
    return ns


def _classes(module, base=None) -> dict[str, type]:
    out = {}
    for name in getattr(module, "__all__", dir(module)):
        obj = getattr(module, name, None)
        if inspect.isclass(obj) and not name.startswith("_") and (base is None or (issubclass(obj, base) and obj is not base)):
            if base is not None or dataclasses.is_dataclass(obj):
                out[name] = obj
    return out


def _find_class(key: str, name: Any, role: str) -> type:
    blocks, mods = _namespaces()
    if role == "problem":
        from solvable.core.registry import problem_types

        choices = {c.__name__: c for c in problem_types()}
        what = "problem"
    elif role in blocks:
        mod, base = blocks[role]
        choices = _classes(mod, base)
        what = role
    else:
        choices = {}
        for m in mods:
            for k, v in _classes(m).items():
                choices.setdefault(k, v)
        what = "type"
    if not isinstance(name, str):
        raise SpecError(key, f"expected a {what} name (one of {', '.join(sorted(choices))}), got {name!r}")
    for k, v in choices.items():
        if k.lower() == name.lower().replace("-", "").replace("_", "") or k.lower() == name.lower():
            return v
    raise SpecError(key, f"unknown {what} {name!r}; expected one of: {', '.join(sorted(choices))}")


def build_object(key: str, value: Any, role: str) -> Any:
    """Build a block / problem / learner from a spec value: a mapping with ``type`` and fields,
    or (for blocks) a bare name.  ``key`` is the dotted spec key used in error messages."""
    blocks, _ = _namespaces()
    if isinstance(value, str) and (role in blocks or role == "problem"):
        if role == "loss":
            from solvable.blocks.losses import get_loss

            try:
                return get_loss(value)
            except (ValueError, KeyError) as e:
                raise SpecError(key, str(e)) from None
        value = {"type": value}
    if not isinstance(value, Mapping):
        if role in blocks or role == "problem":
            raise SpecError(key, f"expected a mapping with 'type' (e.g. {{type: ...}}), got {value!r}")
        return value
    if "type" not in value:
        raise SpecError(key, f"missing 'type' (the class name of the {role})")
    cls = _find_class(f"{key}.type", value["type"], role)
    names = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
    kwargs = {}
    for k, v in value.items():
        if k == "type":
            continue
        if names is not None and k not in names:
            raise SpecError(f"{key}.{k}", f"{cls.__name__} has no field {k!r}; fields: {', '.join(names) or 'none'}")
        kwargs[k] = build_object(f"{key}.{k}", v, k) if (isinstance(v, Mapping) or k in blocks) else _plain(f"{key}.{k}", v)
    try:
        return cls(**kwargs)
    except SpecError:
        raise
    except (ValueError, TypeError) as e:
        raise SpecError(key, f"{e}") from None


def _plain(key, v):
    if isinstance(v, list):
        if v and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v):
            return np.asarray(v, dtype=float)
    return v


def _declared_size(value: Any) -> int:
    """The number of values a grid axis of the spec declares, read before building it (a
    malformed axis counts 1: building it reports the mistake)."""
    if isinstance(value, Mapping):
        spaces = {"linspace", "geomspace", "logspace"} & set(value)
        if spaces:
            args = value[next(iter(spaces))]
            n = args[2] if isinstance(args, list) and len(args) == 3 else 1
            ok = isinstance(n, numbers.Real) and not isinstance(n, bool) and math.isfinite(n) and n >= 1
            return int(n) if ok else 1
        return 1 if "type" in value else len(value)
    return len(value) if isinstance(value, list) else 1


def _axis(key: str, value: Any) -> Any:
    last = key.rsplit(".", 1)[-1]
    blocks, _ = _namespaces()
    role = last if last in blocks else "learner" if key in ("learner", "learner.learner") else "problem" if key == "problem" else None
    if isinstance(value, Mapping):
        spaces = {"linspace", "geomspace", "logspace"} & set(value)
        if spaces:
            if len(value) != 1:
                raise SpecError(f"over.{key}", f"give one of linspace/geomspace/logspace alone, got keys {sorted(value)}")
            (how, args), = value.items()
            ok = (isinstance(args, list) and len(args) == 3 and all(isinstance(a, numbers.Real) and not isinstance(a, bool) for a in args)
                  and float(args[2]).is_integer() and args[2] >= 1)
            if not ok:
                raise SpecError(f"over.{key}.{how}", f"expected [start, stop, count] (numbers, count an integer >= 1), got {args!r}")
            a, b, n = float(args[0]), float(args[1]), int(args[2])
            if how == "linspace":
                return np.linspace(a, b, n)
            if how == "logspace":
                return np.logspace(a, b, n)
            if a <= 0 or b <= 0:
                raise SpecError(f"over.{key}.geomspace", f"start and stop must be > 0, got {args!r}")
            return np.geomspace(a, b, n)
        if "type" in value:
            return [build_object(f"over.{key}", value, role or last)]
        return {str(lbl): (build_object(f"over.{key}.{lbl}", v, role or last) if (isinstance(v, Mapping) or role) else v)
                for lbl, v in value.items()}
    if isinstance(value, list):
        if not value:
            raise SpecError(f"over.{key}", "expected a non-empty list of values")
        out = []
        for i, v in enumerate(value):
            if isinstance(v, Mapping) or (role and isinstance(v, str)):
                out.append(build_object(f"over.{key}[{i}]", v, role or last))
            elif isinstance(v, (numbers.Real, str)) or v is None:
                out.append(v)
            else:
                raise SpecError(f"over.{key}[{i}]", f"expected a number, a string or a mapping, got {v!r}")
        return out
    if isinstance(value, (numbers.Real, str)):
        return [build_object(f"over.{key}", value, role)] if role and isinstance(value, str) else [value]
    raise SpecError(f"over.{key}", f"expected a list, {{linspace: [start, stop, count]}}, {{geomspace: ...}} or "
                                   f"{{label: value}}, got {value!r}")


@dataclass
class SweepSpec:
    """A validated spec: the arguments of :func:`solvable.sweep` plus plot settings."""

    problem: Any
    learner: Any
    over: dict = field(default_factory=dict)
    simulate: dict | None = None
    theory: bool = True
    aggregate: bool = False
    theory_options: dict = field(default_factory=dict)
    plot: dict | None = None
    name: str = "sweep"
    max_points: int = DEFAULT_MAX_POINTS

    def run(self, **kw):
        """Run the sweep (``kw``: store, executor, workers, progress)."""
        from solvable.experiments.sweep import sweep

        kw.setdefault("max_points", self.max_points)
        return sweep(self.problem, self.learner, self.over, simulate=self.simulate, theory=self.theory,
                     theory_options=self.theory_options, aggregate=self.aggregate, **kw)


def _bool(key, v):
    if not isinstance(v, bool):
        raise SpecError(key, f"expected true or false, got {v!r}")
    return v


def parse_spec(raw: Any, max_points: int | None = None) -> SweepSpec:
    """Validate a spec (the parsed YAML mapping) and build its objects.  ``max_points`` (e.g.
    from the command line) overrides the spec's ``max_points`` key; a grid bigger than the limit
    is refused from its declared sizes, before any array is built."""
    if not isinstance(raw, Mapping):
        raise SpecError("", f"a spec must be a mapping with keys problem, learner, over, ...; got {type(raw).__name__}")
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise SpecError(str(unknown[0]), f"unknown key; expected one of: {', '.join(TOP_KEYS)}")
    if max_points is None:
        max_points = raw.get("max_points", DEFAULT_MAX_POINTS)
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
            raise SpecError("max_points", f"expected a positive integer, got {max_points!r}")
    if "problem" not in raw:
        raise SpecError("problem", "missing (a mapping with 'type', e.g. {type: GLM, prior: Gaussian, channel: Sign})")
    problem = build_object("problem", raw["problem"], "problem")
    if ("learner" in raw) == ("learners" in raw):
        raise SpecError("learner", "give exactly one of 'learner' (a mapping with 'type') or 'learners' ({label: learner})")
    over_raw = raw.get("over") or {}
    if not isinstance(over_raw, Mapping):
        raise SpecError("over", f"expected a mapping {{field path: values}}, got {over_raw!r}")
    over: dict[str, Any] = {}
    if "learners" in raw:
        ls = raw["learners"]
        if not isinstance(ls, Mapping) or not ls:
            raise SpecError("learners", f"expected a non-empty mapping {{label: {{type: ..., ...}}}}, got {ls!r}")
        built = {str(k): build_object(f"learners.{k}", v, "learner") for k, v in ls.items()}
        learner = next(iter(built.values()))
        over["learner"] = built
    else:
        learner = build_object("learner", raw["learner"], "learner")
    from solvable.experiments.config import resolve_path

    sizes = {str(k): _declared_size(v) for k, v in over_raw.items()}
    if "learners" in raw:
        sizes = {"learner": len(over["learner"]), **sizes}
    too_big = size_problem(sizes, max_points=max_points)
    if too_big:
        raise SpecError(*too_big)
    for k, v in over_raw.items():
        if not isinstance(k, str):
            raise SpecError(f"over.{k}", "grid keys must be dotted field paths (strings)")
        try:
            resolve_path(problem, learner, k)
        except ValueError as e:
            raise SpecError(f"over.{k}", str(e).removeprefix("over: ")) from None
        over[k] = _axis(k, v)
    simulate = raw.get("simulate")
    if simulate is not None:
        if not isinstance(simulate, Mapping):
            raise SpecError("simulate", f"expected a mapping like {{d: 200, seeds: 4}}, got {simulate!r}")
        simulate = dict(simulate)
        if "d" not in simulate:
            raise SpecError("simulate.d", "missing (the dimension: an integer >= 2, or a list of them)")
        d = simulate["d"]
        ds = d if isinstance(d, list) else [d]
        if not ds or any(isinstance(x, bool) or not isinstance(x, int) or x < 2 for x in ds):
            raise SpecError("simulate.d", f"expected an integer >= 2 or a list of them, got {d!r}")
        s = simulate.get("seeds", 5)
        ok = (isinstance(s, int) and not isinstance(s, bool) and s >= 1) or (
            isinstance(s, list) and s and all(isinstance(x, int) and not isinstance(x, bool) for x in s))
        if not ok:
            raise SpecError("simulate.seeds", f"expected a count >= 1 or a list of integer seeds, got {s!r}")
        too_big = size_problem(sizes, len(ds), s if isinstance(s, int) else len(s), max_points)
        if too_big:
            raise SpecError(*too_big)
    plot = raw.get("plot")
    if plot is not None:
        if not isinstance(plot, Mapping):
            raise SpecError("plot", f"expected a mapping like {{x: alpha, y: test_error}}, got {plot!r}")
        bad = [k for k in plot if k not in PLOT_KEYS]
        if bad:
            raise SpecError(f"plot.{bad[0]}", f"unknown key; expected one of: {', '.join(PLOT_KEYS)}")
        plot = dict(plot)
    topt = raw.get("theory_options") or {}
    if not isinstance(topt, Mapping):
        raise SpecError("theory_options", f"expected a mapping, got {topt!r}")
    name = raw.get("name", "sweep")
    if not isinstance(name, str) or not name:
        raise SpecError("name", f"expected a non-empty string, got {name!r}")
    return SweepSpec(
        problem=problem, learner=learner, over=over, simulate=simulate,
        theory=_bool("theory", raw.get("theory", True)), aggregate=_bool("aggregate", raw.get("aggregate", False)),
        theory_options=dict(topt), plot=plot, name=name, max_points=max_points,
    )


def _unique_key_loader(path: str):
    """A yaml SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    mark = key_node.start_mark
                    try:
                        first = seen.setdefault(key, mark)
                    except TypeError:  # an unhashable key: yaml reports it
                        continue
                    if first is not mark:
                        raise SpecError(str(key), f"duplicate key in {path!r} (line {first.line + 1}, column "
                                                  f"{first.column + 1} and line {mark.line + 1}, column "
                                                  f"{mark.column + 1}); give each key once")
            return super().construct_mapping(node, deep)

    return Loader


def load_spec(path: str | Path, max_points: int | None = None) -> SweepSpec:
    """Read and validate a YAML spec file (``max_points``: see :func:`parse_spec`)."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise SpecError("", f"{str(p)!r} is a directory, not a spec file (give the path of a YAML file)")
    if not p.is_file():
        raise SpecError("", f"spec file {str(p)!r} does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpecError("", f"{str(p)!r} is not a text (UTF-8) file: byte {e.start} is {e.object[e.start:e.start + 1]!r}; "
                            f"a spec is a YAML text file") from None
    except OSError as e:
        raise SpecError("", f"cannot read {str(p)!r}: {e.strerror or e}") from None
    try:
        raw = yaml.load(text, Loader=_unique_key_loader(str(p)))
    except yaml.YAMLError as e:
        raise SpecError("", f"{str(p)!r} is not valid YAML: {e}") from None
    return parse_spec(raw, max_points=max_points)

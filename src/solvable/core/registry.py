"""The registry of families and the driver behind ``predict``, ``simulate`` and
``phase_transitions``.

A family registers itself once, from its package ``__init__``::

    register_family(
        "toy", doc="docs/adding_a_family.md",
        theory={(ToyProblem, BayesOptimal): predict_toy},
        simulation={(ToyProblem, BayesOptimal): simulate_toy},
        transitions={(ToyProblem, BayesOptimal): transitions_toy},
        axis_labels={"snr": "signal-to-noise ratio"},
    )

(the decorators ``register_theory`` / ``register_simulation`` / ``register_transitions`` do the
same for one pair).  What is common to every family lives here, in the driver, not in the
engines:

* **options**: the options of a pair are the keyword parameters of its engine function (with
  their defaults), plus ``on_fail``.  :func:`options` returns them as a frozen dataclass
  (``sv.options(problem, learner)``); an unknown option is a ``TypeError`` that names it and
  lists the valid ones, for every family, before anything is computed.
* **the failure policy**: an engine never warns or raises because a fixed point did not
  converge; it returns ``converged=False`` there (an array for curves) with its message in
  ``info["failure"]`` (and residuals in ``info``).  The driver then blanks those points (NaN
  fields; the last iterate is kept in ``info["last_iterate"]``), and warns
  (``ConvergenceWarning``, ``on_fail="warn"``, the default), raises (``ConvergenceError``,
  ``"raise"``) or stays silent (``"ignore"``).  A result is never the last iterate presented
  as a converged point.
* **the phase-transition layout**: every locator's output is completed to the same keys,
  :data:`TRANSITION_KEYS`.

A simulation function is called once per seed with a fresh ``numpy.random.Generator``
(seeded by ``seed``) and returns a dict of measured fields.  With ``batched=True`` it is
called once with ``seeds=[...]`` and returns a list of dicts (one per seed).  Its options are
validated like the theory's.  Dispatch follows the MRO of both types, so a subclass inherits
its parent's engine.
"""
from __future__ import annotations

import dataclasses
import inspect
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from solvable.core.results import Prediction, SimulationResult
from solvable.numerics.fixed_point import ConvergenceError, ConvergenceWarning

__all__ = [
    "register_family",
    "register_theory",
    "register_simulation",
    "register_transitions",
    "families",
    "options",
    "predict",
    "simulate",
    "simulation_threads",
    "phase_transitions",
    "supported_pairs",
    "problem_types",
    "learner_types",
    "axis_labels",
    "UnsupportedPairError",
    "Family",
    "Example",
    "TRANSITION_KEYS",
    "ON_FAIL",
]

#: the keys of every ``phase_transitions`` result (None where a family has no such threshold)
TRANSITION_KEYS = ("weak_recovery", "spinodal", "information_theoretic", "algorithmic", "perfect_recovery",
                   "order")
#: the failure policies
ON_FAIL = ("warn", "raise", "ignore")

_THEORY: dict[tuple[type, type], "_Engine"] = {}
_SIMULATION: dict[tuple[type, type], "_Engine"] = {}
_TRANSITIONS: dict[tuple[type, type], "_Engine"] = {}
_FAMILIES: dict[str, "Family"] = {}


class UnsupportedPairError(NotImplementedError, ValueError):
    """No engine for this (problem, learner) pair."""


@dataclass(frozen=True)
class Example:
    """A small instance of a pair, for the contract checks (:mod:`solvable.core.checks`):
    ``problem`` and ``learner`` (scalar parameters), the simulation size ``d``, options of the
    theory (``theory_options``), and options (``fail_options``, optionally with ``fail_learner``)
    under which the theory cannot converge (None: the pair has no such knob), and ``fields``, the
    fields its theory and simulation both return where they differ from the pair's (e.g. a
    variant such as the multi-class mixture engine; None: the family's ``fields`` of the pair)."""

    problem: Any
    learner: Any
    d: int = 60
    theory_options: dict = field(default_factory=dict)
    fail_options: dict | None = None
    fail_learner: Any = None
    fields: tuple | None = None


@dataclass(frozen=True)
class Family:
    """A registered family: its name, docs page, pairs, the fields that theory and simulation
    of a pair both return (``fields``: ``{(P, L): names}``), examples for the contract checks,
    axis labels and gallery recipe modules."""

    name: str
    doc: str = ""
    theory: tuple = ()
    simulation: tuple = ()
    transitions: tuple = ()
    fields: dict = field(default_factory=dict)
    examples: tuple = ()
    axis_labels: dict = field(default_factory=dict)
    recipes: tuple = ()
    fuzz: dict = field(default_factory=dict)
    invariants: Callable | None = None


# ---------------------------------------------------------------------------------------------
# engines and their options
# ---------------------------------------------------------------------------------------------
_RESERVED = {"problem", "learner", "d", "rng", "seeds", "param", "bounds", "rng_bounds"}


class _Engine:
    """A registered function with the options read from its signature."""

    def __init__(self, fn: Callable, kind: str, pair: tuple[type, type], *, batched: bool = False,
                 positional: int = 2, reserved: Iterable[str] = (), defaults: dict | None = None):
        self.fn, self.kind, self.pair, self.batched = fn, kind, pair, batched
        if defaults is not None:  # a contract class: its Options dataclass
            self.defaults = dict(defaults)
        else:  # a function: its keyword parameters
            params = list(inspect.signature(fn).parameters.values())[positional:]
            skip = set(reserved)
            self.defaults = {p.name: (None if p.default is p.empty else p.default) for p in params
                             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in skip}
        self.takes_on_fail = "on_fail" in self.defaults
        if kind == "theory":  # the driver owns the failure policy
            self.defaults["on_fail"] = "warn"

    @property
    def label(self) -> str:
        return f"{self.kind}({self.pair[0].__name__}, {self.pair[1].__name__})"

    def validate(self, given: dict) -> dict:
        """The given options, checked against the engine's (TypeError for an unknown one)."""
        bad = sorted(set(given) - set(self.defaults))
        if bad:
            plural = "s" if len(bad) > 1 else ""
            raise TypeError(
                f"{self.label}: unknown option{plural} {', '.join(repr(b) for b in bad)}; "
                f"valid options: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        if "on_fail" in given and given["on_fail"] not in ON_FAIL:
            raise ValueError(f"on_fail must be one of {ON_FAIL}, got on_fail={given['on_fail']!r}")
        return dict(given)

    def options_class(self) -> type:
        name = f"{self.pair[0].__name__}{self.pair[1].__name__}{self.kind.capitalize()}Options"
        fields_ = [(k, Any, dataclasses.field(default=v)) for k, v in self.defaults.items()
                   if not isinstance(v, (list, dict, set, np.ndarray))]
        fields_ += [(k, Any, dataclasses.field(default_factory=lambda v=v: v)) for k, v in self.defaults.items()
                    if isinstance(v, (list, dict, set, np.ndarray))]
        doc = (f"Options of {self.label} (the keyword parameters of "
               f"{self.fn.__module__}.{self.fn.__qualname__}, with their defaults).")
        cls = dataclasses.make_dataclass(name, fields_, frozen=True, namespace={"__doc__": doc})
        return cls


def _register(table, problem_type, learner_type, engine: _Engine):
    for t, what in ((problem_type, "problem"), (learner_type, "learner")):
        if not isinstance(t, type):
            raise TypeError(f"register: the {what} type must be a class, got {t!r}")
    table[(problem_type, learner_type)] = engine


def register_theory(problem_type: type, learner_type: type):
    """Register ``fn(problem, learner, *, option=default, ...) -> Prediction`` for a pair."""
    def deco(fn):
        _register(_THEORY, problem_type, learner_type, _Engine(fn, "theory", (problem_type, learner_type)))
        return fn

    return deco


def register_simulation(problem_type: type, learner_type: type, *, batched: bool = False):
    """Register ``fn(problem, learner, *, d, rng, option=default, ...) -> dict`` (per seed) or, with
    ``batched=True``, ``fn(problem, learner, *, d, seeds, ...) -> list[dict]``."""
    def deco(fn):
        _register(_SIMULATION, problem_type, learner_type,
                  _Engine(fn, "simulation", (problem_type, learner_type), batched=batched, reserved=("d", "rng", "seeds")))
        return fn

    return deco


def register_transitions(problem_type: type, learner_type: type):
    """Register ``fn(problem, learner, param, (lo, hi)) -> dict`` (keys of :data:`TRANSITION_KEYS`)."""
    def deco(fn):
        _register(_TRANSITIONS, problem_type, learner_type,
                  _Engine(fn, "transitions", (problem_type, learner_type), positional=4))
        return fn

    return deco


def register_family(name: str, *, doc: str = "", theory: dict | None = None, simulation: dict | None = None,
                    transitions: dict | None = None, batched: Iterable[tuple[type, type]] = (),
                    fields: dict | None = None, examples: Iterable[Example] = (),
                    axis_labels: dict | None = None, recipes: Iterable[str] = (), fuzz: dict | None = None,
                    invariants: Callable | None = None) -> Family:
    """Register a family in one call.

    ``theory``, ``simulation``, ``transitions``: ``{(ProblemType, LearnerType): engine}``, where an
    engine is a function (``fn(problem, learner, *, option=default, ...)``) or a contract class of
    :mod:`solvable.core.contract` (:class:`SaddlePoint`, :class:`Dynamics`, :class:`Experiment`;
    a SaddlePoint with a free entropy and an overlap also gets ``phase_transitions``);
    ``batched``: the pairs whose simulation takes all seeds at once; ``fields``: per pair, the
    field names theory and simulation both return (checked by the contract tests);
    ``examples``: :class:`Example` instances for the contract tests; ``axis_labels``: labels of
    the family's parameters and fields (``sv.plot``); ``recipes``: gallery recipe modules;
    ``fuzz``: per pair, a sampler ``sample(rng) -> (problem, learner, options)`` of random valid
    inputs, and ``invariants(problem, learner, prediction) -> list[str]`` the family's own
    properties (both used by the fuzz suite, :mod:`solvable.core.fuzz`).
    """
    from solvable.core import contract

    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_family: name must be an identifier, got {name!r}")
    batched = set(batched)
    transitions = dict(transitions or {})
    for pair, eng in (theory or {}).items():
        if isinstance(eng, type) and issubclass(eng, (contract.SaddlePoint, contract.Dynamics)):
            cls, run = eng, (contract.run_saddle_point if issubclass(eng, contract.SaddlePoint) else contract.run_dynamics)
            fn = _contract_engine(cls, run, "theory")
            _register(_THEORY, *pair, _Engine(fn, "theory", pair, defaults=contract.option_defaults(cls)))
            if (issubclass(cls, contract.SaddlePoint) and cls.free_entropy is not None and cls.overlap is not None
                    and pair not in transitions):
                transitions[pair] = lambda problem, learner, param, bounds, _c=cls: contract.saddle_point_transitions(
                    _c, problem, learner, param, bounds)
        else:
            register_theory(*pair)(eng)
    for pair, eng in (simulation or {}).items():
        if isinstance(eng, type) and issubclass(eng, contract.Experiment):
            fn = _contract_engine(eng, contract.run_experiment, "simulation")
            _register(_SIMULATION, *pair, _Engine(fn, "simulation", pair, defaults=contract.option_defaults(eng)))
        else:
            register_simulation(*pair, batched=pair in batched)(eng)
    for pair, fn in transitions.items():
        register_transitions(*pair)(fn)
    fam = Family(name, doc, tuple(theory or ()), tuple(simulation or ()), tuple(transitions),
                 dict(fields or {}), tuple(examples), dict(axis_labels or {}), tuple(recipes), dict(fuzz or {}),
                 invariants)
    _FAMILIES[name] = fam
    return fam


def _contract_engine(cls, run, kind):
    # a contract class may pick a variant for the instance (``engine_for(problem, learner) -> class``,
    # e.g. the multi-class engine of the mixture family); the variant takes the registered
    # class's option names
    pick = getattr(cls, "engine_for", None)
    if kind == "theory":
        def engine(problem, learner, **options):
            return run(cls if pick is None else pick(problem, learner), problem, learner, **options)
    else:
        def engine(problem, learner, *, d, rng, **options):
            return run(cls if pick is None else pick(problem, learner), problem, learner, d=d, rng=rng, **options)
    engine.__qualname__ = f"{cls.__qualname__} ({run.__name__})"
    engine.__module__ = cls.__module__
    engine.__doc__ = cls.__doc__
    return engine


def families() -> dict[str, Family]:
    """The registered families, by name."""
    return dict(_FAMILIES)


def axis_labels() -> dict[str, str]:
    """The axis labels the registered families declare (merged; ``sv.plot`` uses them)."""
    out: dict[str, str] = {}
    for fam in _FAMILIES.values():
        out.update(fam.axis_labels)
    return out


def _lookup(table, problem, learner, what: str) -> _Engine:
    if isinstance(learner, type) or isinstance(problem, type):
        which, obj = ("learner", learner) if isinstance(learner, type) else ("problem", problem)
        raise TypeError(f"{what}: the {which} must be an instance, got the class {obj.__name__}; "
                        f"write {obj.__name__}() (with its fields)")
    for P in type(problem).__mro__:
        for L in type(learner).__mro__:
            if (P, L) in table:
                return table[(P, L)]
    pairs = ", ".join(f"({p.__name__}, {l.__name__})" for p, l in sorted(table, key=lambda k: (k[0].__name__, k[1].__name__)))
    raise UnsupportedPairError(
        f"no {what} for the pair ({type(problem).__name__}, {type(learner).__name__}); "
        f"supported pairs: {pairs or 'none registered'}"
    )


def supported_pairs() -> dict[str, list[tuple[str, str]]]:
    """The registered (problem, learner) pairs, by kind: theory, simulation, transitions."""
    name = lambda t: sorted((p.__name__, l.__name__) for p, l in t)
    return {"theory": name(_THEORY), "simulation": name(_SIMULATION), "transitions": name(_TRANSITIONS)}


def problem_types() -> list[type]:
    """Every problem type that has a registered theory, simulation or locator."""
    seen = {p for t in (_THEORY, _SIMULATION, _TRANSITIONS) for p, _ in t}
    return sorted(seen, key=lambda c: c.__name__)


def learner_types() -> list[type]:
    """Every learner type that has a registered theory, simulation or locator."""
    seen = {l for t in (_THEORY, _SIMULATION, _TRANSITIONS) for _, l in t}
    return sorted(seen, key=lambda c: c.__name__)


def options(problem, learner, kind: str = "theory"):
    """The options of ``predict`` (``kind="theory"``) or ``simulate`` (``"simulation"``) for this
    pair, as a frozen dataclass holding the defaults (``dataclasses.fields`` lists them)."""
    table = {"theory": _THEORY, "simulation": _SIMULATION}.get(kind)
    if table is None:
        raise ValueError(f"kind must be 'theory' or 'simulation', got kind={kind!r}")
    return _lookup(table, problem, learner, f"{kind} engine").options_class()()


# ---------------------------------------------------------------------------------------------
# the failure policy
# ---------------------------------------------------------------------------------------------
def apply_failure_policy(pred: Prediction, on_fail: str, label: str) -> Prediction:
    """Blank the points of ``pred`` that did not converge and report them (see module docs)."""
    conv = np.asarray(pred.converged, bool)
    if conv.all():
        return pred
    bad = ~conv
    msg = pred.info.get("failure") or pred.info.get("message") or "the fixed point did not converge"
    if conv.ndim and "did not converge" not in msg and "failed" not in msg:
        msg = f"{msg} (at {int(bad.sum())} of {bad.size} points)"
    values, last = {}, {}
    keep = set(getattr(pred.problem, "curve_params", ()))  # the curve's x axis is not a result
    for k, v in (() if pred.info.get("blanked") else pred.items()):
        a = np.asarray(v) if not isinstance(v, (str, bytes)) else None
        if a is None or a.dtype.kind not in "fc" or k in keep:
            values[k] = v
            continue
        last[k] = v
        if a.ndim == 0 or conv.ndim == 0:
            values[k] = np.full_like(a, np.nan) if a.ndim else float("nan")
        elif a.shape[:1] == bad.shape:
            b = a.copy()
            b[bad] = np.nan
            values[k] = b
        else:
            values[k] = v
    info = dict(pred.info)
    info.setdefault("failure", msg)
    if info.get("blanked"):
        values = dict(pred.items())
    else:
        info.setdefault("last_iterate", last)
    out = Prediction(values, problem=pred.problem, learner=pred.learner, converged=pred.converged,
                     branches=pred.branches, trajectory=pred.trajectory, info=info)
    if on_fail == "raise":
        raise ConvergenceError(f"{label}: {msg}", out)
    if on_fail == "warn":
        warnings.warn(f"{label}: {msg}", ConvergenceWarning, stacklevel=3)
    return out


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------
def predict(problem, learner, **options) -> Prediction:
    """The asymptotic theory of ``learner`` on ``problem`` (dispatched on the pair's types).

    Options are the pair's (``sv.options(problem, learner)`` lists them with their defaults) and
    ``on_fail`` ("warn", "raise" or "ignore": what happens at points whose fixed point did not
    converge; they are NaN in any case, with the last iterate in ``info["last_iterate"]``).
    """
    eng = _lookup(_THEORY, problem, learner, "theory engine")
    opts = eng.validate(options)
    on_fail = opts.pop("on_fail", "warn")
    if eng.takes_on_fail:
        opts["on_fail"] = "ignore"
    pred = _with_params(eng.fn(problem, learner, **opts), problem)
    return apply_failure_policy(pred, on_fail, f"predict({type(problem).__name__}, {type(learner).__name__})")


def _with_params(pred: Prediction, problem) -> Prediction:
    """Add the problem's curve parameters (``alpha``, ``snr``, ...) to the fields where missing."""
    missing = [p for p in getattr(problem, "curve_params", ()) if p not in pred]
    if not missing:
        return pred
    values = {**{p: getattr(problem, p) for p in missing}, **dict(pred.items())}
    return Prediction(values, problem=pred.problem, learner=pred.learner, converged=pred.converged,
                      branches=pred.branches, trajectory=pred.trajectory, info=pred.info)


def _seed_list(seeds) -> list[int]:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive count or a list of seeds, got seeds={seeds!r}")
        return list(range(int(seeds)))
    if isinstance(seeds, (str, bytes)):
        raise ValueError(f"seeds must be a positive count or a list of seeds, got seeds={seeds!r}")
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise ValueError(f"seeds must be a positive count or a list of seeds, got seeds={seeds!r}") from None
    if not out:
        raise ValueError("seeds must not be empty")
    return out


#: above this d a single fit gains from BLAS threads; below it threads only cost (measured: logistic
#: ERM at d = 400, 8 seeds, 0.77 s with 2 OpenBLAS threads and 0.20 s with one)
THREADED_D = 4000


def simulation_threads(d: int, threads: int | None = None) -> int | None:
    """The BLAS / OpenMP threads a simulation at dimension ``d`` runs with: ``threads`` if given
    (a positive integer), else the environment variable ``SOLVABLE_THREADS``, else one thread up to
    ``d = THREADED_D`` and the library's default (None: no limit) above."""
    import os

    if threads is None and os.environ.get("SOLVABLE_THREADS"):
        threads = os.environ["SOLVABLE_THREADS"]
        try:
            threads = int(threads)
        except ValueError:
            raise ValueError(f"SOLVABLE_THREADS must be a positive integer, got {threads!r}") from None
    if threads is None:
        return 1 if d <= THREADED_D else None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got threads={threads!r}")
    return int(threads)


def simulate(problem, learner, d: int = 500, seeds: int | Iterable[int] = 5, *, threads: int | None = None,
             **options) -> SimulationResult:
    """A finite-size simulation of ``learner`` on ``problem`` at dimension ``d``, over seeds.

    Returns the same field names as :func:`predict`, averaged over seeds with standard errors.
    Options are the pair's (``sv.options(problem, learner, "simulation")``).  ``threads``: the
    BLAS / OpenMP threads of the run (:func:`simulation_threads`: one by default up to d = 4000,
    so that parallel workers x threads <= cores); the limit holds during the call only (the
    process's settings are restored) and is recorded as ``result.threads``.
    """
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 2:
        raise ValueError(f"d must be an integer >= 2, got d={d!r}")
    eng = _lookup(_SIMULATION, problem, learner, "simulation")
    opts = eng.validate(options)
    seed_list = _seed_list(seeds)
    n_threads = simulation_threads(int(d), threads)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads):
        if eng.batched:
            runs = list(eng.fn(problem, learner, d=int(d), seeds=seed_list, **opts))
        else:
            runs = [eng.fn(problem, learner, d=int(d), rng=np.random.default_rng(s), **opts) for s in seed_list]
    out = SimulationResult(runs, d=int(d), seeds=seed_list, problem=problem, learner=learner)
    object.__setattr__(out, "threads", n_threads)
    return out


def phase_transitions(problem, learner, **ranges) -> dict:
    """Locate the phase transitions of ``problem`` for ``learner`` over a parameter range,
    e.g. ``phase_transitions(glm, BayesOptimal(), alpha=(0.5, 3.0))`` or
    ``phase_transitions(spiked, BayesOptimal(), snr=(0.1, 5.0))``.

    Returns a dict with the keys of :data:`TRANSITION_KEYS` for every family:
    ``weak_recovery``, ``spinodal``, ``information_theoretic``, ``algorithmic``,
    ``perfect_recovery`` (None where there is none in the range) and ``order`` ("first",
    "second" or None).
    """
    if len(ranges) != 1:
        raise ValueError(f"give exactly one parameter range, e.g. alpha=(0.5, 3.0); got {sorted(ranges)}")
    (param, rng), = ranges.items()
    try:
        lo, hi = (float(t) for t in rng)
    except (TypeError, ValueError):
        raise ValueError(f"{param} must be a pair (lo, hi), got {param}={rng!r}") from None
    if not lo < hi:
        raise ValueError(f"{param} range must satisfy lo < hi, got {param}={rng!r}")
    eng = _lookup(_TRANSITIONS, problem, learner, "phase-transition locator")
    found = dict(eng.fn(problem, learner, param, (lo, hi)))
    extra = sorted(set(found) - set(TRANSITION_KEYS))
    if extra:
        raise RuntimeError(f"{eng.label} returned keys outside the common layout: {extra}")
    return {k: found.get(k) for k in TRANSITION_KEYS}

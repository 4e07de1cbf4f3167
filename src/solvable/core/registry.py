"""One registry that maps (problem type, learner type) pairs to theory engines,
finite-size simulations and phase-transition locators.

Engines register themselves with decorators::

    @register_theory(GLM, BayesOptimal)
    def _predict_glm_bo(problem, learner, **options) -> Prediction: ...

    @register_simulation(GLM, AMP)
    def _simulate_glm_amp(problem, learner, *, d, rng, **options) -> dict[str, float]: ...

A simulation function is called once per seed with a fresh ``numpy.random.Generator``
(seeded by ``seed``) and returns a dict of measured fields.  With ``batched=True`` it is
called once with ``seeds=[...]`` and returns a list of dicts (one per seed).
Dispatch follows the MRO of both types, so a subclass inherits its parent's engine.
"""
from __future__ import annotations

import numbers
from typing import Callable, Iterable

import numpy as np

from solvable.core.results import Prediction, SimulationResult

__all__ = [
    "register_theory",
    "register_simulation",
    "register_transitions",
    "predict",
    "simulate",
    "phase_transitions",
    "supported_pairs",
    "UnsupportedPairError",
]

_THEORY: dict[tuple[type, type], Callable] = {}
_SIMULATION: dict[tuple[type, type], tuple[Callable, bool]] = {}
_TRANSITIONS: dict[tuple[type, type], Callable] = {}


class UnsupportedPairError(NotImplementedError, ValueError):
    """No engine for this (problem, learner) pair."""


def _register(table, problem_type, learner_type, value):
    key = (problem_type, learner_type)
    table[key] = value


def register_theory(problem_type: type, learner_type: type):
    def deco(fn):
        _register(_THEORY, problem_type, learner_type, fn)
        return fn

    return deco


def register_simulation(problem_type: type, learner_type: type, *, batched: bool = False):
    def deco(fn):
        _register(_SIMULATION, problem_type, learner_type, (fn, batched))
        return fn

    return deco


def register_transitions(problem_type: type, learner_type: type):
    def deco(fn):
        _register(_TRANSITIONS, problem_type, learner_type, fn)
        return fn

    return deco


def _lookup(table, problem, learner, what: str):
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


def predict(problem, learner, **options) -> Prediction:
    """The asymptotic theory of ``learner`` on ``problem`` (dispatched on the pair's types)."""
    fn = _lookup(_THEORY, problem, learner, "theory engine")
    return fn(problem, learner, **options)


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


def simulate(problem, learner, d: int = 500, seeds: int | Iterable[int] = 5, **options) -> SimulationResult:
    """A finite-size simulation of ``learner`` on ``problem`` at dimension ``d``, over seeds.

    Returns the same field names as :func:`predict`, averaged over seeds with standard errors.
    """
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 2:
        raise ValueError(f"d must be an integer >= 2, got d={d!r}")
    fn, batched = _lookup(_SIMULATION, problem, learner, "simulation")
    seed_list = _seed_list(seeds)
    if batched:
        runs = list(fn(problem, learner, d=int(d), seeds=seed_list, **options))
    else:
        runs = [fn(problem, learner, d=int(d), rng=np.random.default_rng(s), **options) for s in seed_list]
    return SimulationResult(runs, d=int(d), seeds=seed_list, problem=problem, learner=learner)


def phase_transitions(problem, learner, **ranges) -> dict:
    """Locate the phase transitions of ``problem`` for ``learner`` over a parameter range,
    e.g. ``phase_transitions(glm, BayesOptimal(), alpha=(0.5, 3.0))`` or
    ``phase_transitions(spiked, BayesOptimal(), snr=(0.1, 5.0))``.

    Returns a dict with keys ``weak_recovery``, ``information_theoretic``, ``algorithmic`` and
    ``perfect_recovery`` (None where there is none in the range).
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
    fn = _lookup(_TRANSITIONS, problem, learner, "phase-transition locator")
    return fn(problem, learner, param, (lo, hi))

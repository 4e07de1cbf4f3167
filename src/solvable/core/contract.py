"""The family contract: what a theory family implements, and the driver that runs it.

A family writes its physics, the driver does the rest (option validation, the curve, the
solver loop, branch selection by free entropy, the failure policy, packaging, phase
transitions).  Three contracts, one per kind of engine:

:class:`SaddlePoint` (replica / state-evolution equations)
    ``param`` (the problem field that makes a curve, e.g. ``"alpha"``), ``state`` (names of
    the order parameters), ``starts(p)`` (uninformative / informative starting points),
    ``step(p, x)`` (one application of the equations, batched over rows), ``observables(p, x)``
    (the fields), optional ``free_entropy(p, x)`` (then the branch of largest free entropy is
    selected, and ``phase_transitions`` is available), optional ``closed_form(p)`` and
    optional ``solve(p)`` (a custom solver returning ``(x, converged, info)``).
:class:`Dynamics` (ODEs of learning dynamics, DMFT, ...)
    ``initial_state()`` from the problem and learner alone, ``rhs(t, x)``, ``times()``,
    ``observables(t, x)``.
:class:`Experiment` (the finite-size simulation)
    ``sample(d, rng)``, ``fit(data, rng)``, ``measure(data, estimate)`` returning the same
    field names as the theory.

Each contract class carries an ``Options`` frozen dataclass (its fields and defaults are the
options of ``predict`` / ``simulate`` for the pair).  Register the classes with
:func:`solvable.core.registry.register_family`; docs/adding_a_family.md walks through a
complete example (:mod:`solvable.families.curie_weiss`).

:class:`Problem` is the base class of problems (``at``, array-aware equality, ``is_curve``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvable.core.results import Prediction
from solvable.numerics.fixed_point import solve_fixed_point

__all__ = ["Problem", "fields_equal", "SaddlePoint", "SaddlePointOptions", "Dynamics", "DynamicsOptions", "Experiment",
           "ExperimentOptions", "run_saddle_point", "run_dynamics", "run_experiment", "saddle_point_transitions"]


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def fields_equal(a, b) -> bool:
    """Equality of two dataclass instances of the same type, field by field (arrays and dicts of
    arrays elementwise): the ``__eq__`` of problems and of learners that hold arrays."""
    return type(a) is type(b) and all(_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))


class Problem:
    """Base class of problems (frozen dataclasses declared with ``eq=False``).

    ``curve_params``: the fields that may be 1D arrays (a curve); ``at(**changes)`` returns a
    copy with fields changed; equality compares fields, arrays elementwise; problems are not
    hashable (they may hold arrays).
    """

    curve_params: tuple = ()

    def at(self, **changes):
        """A copy with some fields changed (e.g. ``problem.at(alpha=2.0)``)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_curve(self) -> bool:
        """Whether a curve parameter is an array."""
        return any(np.ndim(getattr(self, p)) > 0 for p in self.curve_params)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return fields_equal(self, other)

    __hash__ = None


# ---------------------------------------------------------------------------------------------
# saddle points
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SaddlePointOptions:
    """Options of a saddle-point engine: the batched fixed-point solver's settings
    (:func:`solvable.numerics.solve_fixed_point`; a row stops at ``|F(x) - x| < tol + rtol max|x|``)."""

    tol: float = 1e-12
    rtol: float = 0.0
    max_iter: int = 10000
    damping: float = 0.0
    anderson: int = 0


class SaddlePoint:
    """Replica / state-evolution equations of one (problem, learner) pair (see module docs).

    Subclasses set ``param``, ``state`` and implement ``starts``, ``step``, ``observables``;
    ``free_entropy``, ``overlap`` (normalised to [0, 1], for phase transitions),
    ``weak_recovery`` (a linear-stability threshold or None), ``closed_form`` and ``solve``
    are optional.  ``self.problem``, ``self.learner`` and ``self.options`` are set by the driver.
    """

    Options = SaddlePointOptions
    param: str = "alpha"
    state: tuple = ()
    lower: float | None = None
    upper: float | None = None

    def __init__(self, problem, learner, options):
        self.problem, self.learner, self.options = problem, learner, options

    # --- to implement
    def starts(self, p: np.ndarray) -> dict[str, np.ndarray]:
        """Starting points ``{"uninformative": (N, k), "informative": (N, k)}`` (one or more)."""
        raise NotImplementedError

    def step(self, p: np.ndarray, x: np.ndarray) -> np.ndarray:
        """One step of the equations for rows ``x`` (N, k) at parameters ``p`` (N,)."""
        raise NotImplementedError

    def observables(self, p: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        """The fields at the fixed points ``x`` (each of shape (N,))."""
        raise NotImplementedError

    # --- optional
    free_entropy = None  # (p, x) -> (N,): then the branch of largest free entropy is selected
    overlap = None  # (p, x) -> (N,) in [0, 1]: tells branches apart (phase transitions)

    def weak_recovery(self) -> float | None:
        """Where the trivial fixed point loses stability (None: none or unknown)."""
        return None

    def closed_form(self, p: np.ndarray) -> dict | None:
        """The fields in closed form, or None (then the equations are solved)."""
        return None

    def solve(self, p: np.ndarray, x0: np.ndarray):
        """Solve from ``x0``: ``(x, converged, info)``.  Default: the batched fixed-point solver, the
        parameter of each row travelling with it as an extra column (the solver freezes converged
        rows and calls the map on the others only)."""
        return self.iterate(p, x0, self.options)

    def iterate(self, p: np.ndarray, x0: np.ndarray, o: SaddlePointOptions):
        """The batched fixed-point iteration of :meth:`step` from ``x0`` under the solver settings
        ``o`` (the default :meth:`solve`; a custom solve may retry rows under other settings)."""
        k = x0.shape[1]

        def step(XP):
            return np.column_stack([self.step(XP[:, k], XP[:, :k]), XP[:, k]])

        lower = None if self.lower is None else np.r_[np.full(k, self.lower), -np.inf]
        upper = None if self.upper is None else np.r_[np.full(k, self.upper), np.inf]
        res = solve_fixed_point(step, np.column_stack([x0, p]), batch=True, tol=o.tol, rtol=o.rtol, max_iter=o.max_iter,
                                damping=o.damping, anderson=o.anderson, on_fail="ignore", lower=lower, upper=upper,
                                name=type(self).__name__)
        return res.x[:, :k], np.asarray(res.converged, bool), {"n_iter": res.n_iter, "residual": _last_residual(res, len(p))}


def _last_residual(res, n: int) -> np.ndarray:
    """Each row's last finite residual ``|F(x) - x|`` (rows are frozen once converged)."""
    r = np.asarray(res.residuals, float)
    if r.ndim != 2 or not len(r):
        return np.full(n, np.nan)
    finite = np.isfinite(r)
    idx = np.where(finite.any(axis=0), r.shape[0] - 1 - np.argmax(finite[::-1], axis=0), 0)
    return np.where(finite.any(axis=0), r[idx, np.arange(r.shape[1])], np.nan)


def _params(problem, name: str) -> tuple[np.ndarray, bool]:
    v = getattr(problem, name)
    return np.atleast_1d(np.asarray(v, float)), np.ndim(v) == 0


def _pack(values: dict, scalar: bool) -> dict:
    if scalar:
        return {k: (np.asarray(v).reshape(-1)[0].item() if np.ndim(v) else v) for k, v in values.items()}
    return {k: (np.asarray(v) if np.ndim(v) else v) for k, v in values.items()}


def solve_branches(sp: SaddlePoint, p: np.ndarray) -> dict[str, tuple]:
    """Every start's fixed point: ``{start: (x, converged, info)}``."""
    return {name: sp.solve(p, np.asarray(x0, float)) for name, x0 in sp.starts(p).items()}


def run_saddle_point(cls: type, problem, learner, **options) -> Prediction:
    """The driver of a :class:`SaddlePoint`: solve every start for the whole curve at once,
    select the branch of largest free entropy, package the fields (the curve parameter
    included), report points that did not converge (``converged=False``, ``info["failure"]``)."""
    sp = cls(problem, learner, cls.Options(**options))
    p, scalar = _params(problem, cls.param)
    closed = sp.closed_form(p)
    if closed is not None:
        vals = {cls.param: p, **closed}
        return Prediction(_pack(vals, scalar), problem=problem, learner=learner, info={"method": "closed form"})
    sols = solve_branches(sp, p)
    names = list(sols)
    fields = {n: {cls.param: p, **sp.observables(p, sols[n][0])} for n in names}
    chosen = np.zeros(len(p), int)
    if sp.free_entropy is not None and len(names) > 1:
        phis = np.stack([np.asarray(sp.free_entropy(p, sols[n][0]), float) for n in names])
        conv = np.stack([sols[n][1] for n in names])
        phis = np.where(conv, phis, -np.inf)
        chosen = np.argmax(phis + 1e-13 * (np.arange(len(names))[:, None] == 0), axis=0)  # ties: the first start
    rows = np.arange(len(p))
    vals = {k: np.asarray(fields[names[0]][k], float).copy() for k in fields[names[0]]}
    for j, n in enumerate(names[1:], start=1):
        for k in vals:
            vals[k] = np.where(chosen == j, np.asarray(fields[n][k], float), vals[k])
    conv = np.stack([sols[n][1] for n in names])[chosen, rows]
    info = {"branch": np.array(names, dtype=object)[chosen] if not scalar else names[chosen[0]],
            "n_iter": {n: sols[n][2].get("n_iter") for n in names},
            "residual": np.stack([np.asarray(sols[n][2].get("residual", np.nan), float) * np.ones(len(p))
                                  for n in names])[chosen, rows]}
    if not conv.all():
        info["failure"] = (f"{cls.__name__}: the fixed point did not converge at {cls.param} = {p[~conv]} "
                           f"(residual {info['residual'][~conv]}, max_iter={sp.options.max_iter})")
    branches = {}
    if len(names) > 1 and any(np.any(np.abs(sols[n][0] - sols[names[0]][0]) > 1e-9) for n in names[1:]):
        branches = {n: Prediction(_pack(fields[n], scalar), problem=problem, learner=learner,
                                  converged=bool(sols[n][1][0]) if scalar else sols[n][1]) for n in names}
    return Prediction(_pack(vals, scalar), problem=problem, learner=learner,
                      converged=bool(conv[0]) if scalar else conv, branches=branches, info=info)


def saddle_point_transitions(cls: type, problem, learner, param: str, bounds) -> dict:
    """Phase transitions of a :class:`SaddlePoint` with a free entropy and an ``overlap``, by the
    shared locator :func:`solvable.core.transitions.locate_branch_transitions`."""
    from solvable.core.transitions import locate_branch_transitions

    if param != cls.param:
        raise ValueError(f"{cls.__name__}: phase transitions are located in {cls.param}, got {param}=...")
    if cls.free_entropy is None or cls.overlap is None:
        raise ValueError(f"{cls.__name__} has no free entropy / overlap: no phase transitions")
    sp = cls(problem, learner, cls.Options())

    def branches(ps):
        ps = np.asarray(ps, float)
        sols = solve_branches(sp, ps)
        (xu, _, _), (xi, _, _) = sols["uninformative"], sols["informative"]
        return sp.overlap(ps, xu), sp.overlap(ps, xi), sp.free_entropy(ps, xu), sp.free_entropy(ps, xi)

    wr = sp.weak_recovery()
    lo, hi = bounds
    return locate_branch_transitions(branches, lo, hi, weak_recovery=wr if wr is not None and lo <= wr <= hi else None)


# ---------------------------------------------------------------------------------------------
# dynamics
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DynamicsOptions:
    """Options of an ODE engine (:func:`scipy.integrate.solve_ivp`)."""

    method: str = "LSODA"
    rtol: float = 1e-9
    atol: float = 1e-11


class Dynamics:
    """ODEs of one (problem, learner) pair (see module docs).  Subclasses implement
    ``initial_state()`` (a flat vector, from the problem and learner alone: never a simulated
    draw unless the user asks), ``rhs(t, x)``, ``times()`` and ``observables(t, x)`` (``x`` of
    shape (T, k), fields of shape (T,))."""

    Options = DynamicsOptions

    def __init__(self, problem, learner, options):
        self.problem, self.learner, self.options = problem, learner, options

    def initial_state(self) -> np.ndarray:
        raise NotImplementedError

    def rhs(self, t: float, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def times(self) -> np.ndarray:
        raise NotImplementedError

    def observables(self, t: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


def run_dynamics(cls: type, problem, learner, **options) -> Prediction:
    """The driver of a :class:`Dynamics`: integrate from the initial state over ``times()``; if the
    integration fails, the times after the failure are NaN and ``converged`` is False."""
    from scipy.integrate import solve_ivp

    dy = cls(problem, learner, cls.Options(**options))
    t = np.asarray(dy.times(), float)
    x0 = np.asarray(dy.initial_state(), float)
    o = dy.options
    sol = solve_ivp(dy.rhs, (0.0, float(t[-1])), x0, t_eval=t, method=o.method, rtol=o.rtol, atol=o.atol)
    X = np.full((t.size, x0.size), np.nan)
    Y = np.asarray(sol.y, float).reshape(x0.size, -1)  # an empty list when the first step already failed
    X[: Y.shape[1]] = Y.T
    ok = bool(sol.success) and Y.shape[1] == t.size
    info = {"message": sol.message, "nfev": int(sol.nfev)}
    if not ok:
        info["failure"] = f"{cls.__name__}: ODE integration failed: {sol.message}"
        info["blanked"] = True
    vals = {"t": t, **dy.observables(t, X)}
    return Prediction(vals, problem=problem, learner=learner, converged=ok, info=info)


# ---------------------------------------------------------------------------------------------
# experiments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentOptions:
    """Options of a finite-size experiment (none by default)."""


class Experiment:
    """The finite-size simulation of one pair: ``sample(d, rng)`` the data (and the truth),
    ``fit(data, rng)`` the learner's estimate, ``measure(data, estimate)`` a dict of fields with
    the theory's names.  ``self.problem``, ``self.learner``, ``self.options`` are set."""

    Options = ExperimentOptions

    def __init__(self, problem, learner, options):
        self.problem, self.learner, self.options = problem, learner, options

    def sample(self, d: int, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def fit(self, data, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def measure(self, data, estimate) -> dict:
        raise NotImplementedError


def run_experiment(cls: type, problem, learner, *, d: int, rng: np.random.Generator, **options) -> dict:
    """The driver of an :class:`Experiment`: one seed (sample, fit, measure)."""
    for name in getattr(problem, "curve_params", ()):
        if np.ndim(getattr(problem, name)) > 0:
            raise ValueError(f"simulate: give a scalar {name} (sweep over a curve point by point)")
    ex = cls(problem, learner, cls.Options(**options))
    data = ex.sample(d, rng)
    return dict(ex.measure(data, ex.fit(data, rng)))


def option_defaults(cls: type) -> dict:
    """The options (and defaults) of a contract class."""
    return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls.Options)}

"""Fuzzing the theory: random valid inputs for every registered pair, and what must hold for
each of them (issue 13: no silent wrong numbers, no hangs).

Each family registers, per pair, a *sampler* ``sample(rng) -> (problem, learner, options)``
drawing a random valid input (``register_family(fuzz={(P, L): sampler})``), and optionally
``invariants(problem, learner, prediction) -> list[str]`` (family-specific properties, e.g.
the Bayes-optimal error below every other learner's).  :func:`run_case` runs one draw with a
wall-clock budget and classifies the outcome:

``ok``         finite fields satisfying every invariant (or points reported as not converged);
``error``      a clear error: ``ValueError`` / ``TypeError`` / ``ConvergenceError`` (bad or
               unsupported input, said so);
``violation``  a number that breaks an invariant: a silent wrong number;
``crash``      any other exception (``ZeroDivisionError``, ``LinAlgError``, ...);
``timeout``    the prediction ran past its budget (or the checks past three times it: their
               independent scans and extra predictions are the suite's cost, not the engine's).

Generic invariants (:func:`generic_invariants`): converged points are finite; ``mse``, ``q``,
``mutual_information`` are >= 0; ``m^2 <= rho q`` (Cauchy-Schwarz) where the problem has
``rho``; a classification test error lies in [0, 1]; a normalised ``overlap`` in [0, 1].
"""
from __future__ import annotations

import signal
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from solvable.core import registry
from solvable.numerics.fixed_point import ConvergenceError, ConvergenceWarning

__all__ = ["Outcome", "run_case", "generic_invariants", "samplers", "CaseTimeout", "loguniform"]


def loguniform(rng, lo, hi) -> float:
    """A draw log-uniform on ``[lo, hi]`` (the samplers' scale parameters)."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

_CLEAR = (ValueError, TypeError, ConvergenceError)


class CaseTimeout(Exception):
    """A fuzz case ran past its wall-clock budget."""


@dataclass
class Outcome:
    kind: str  # ok | error | violation | crash | timeout
    detail: str
    seconds: float
    case: tuple


@contextmanager
def _alarm(seconds: float):
    if seconds is None or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(*_):
        raise CaseTimeout(f"ran past {seconds:g} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _arr(v):
    return np.asarray(v, float) if isinstance(v, (int, float, np.ndarray, np.floating)) and not isinstance(v, bool) else None


def generic_invariants(problem, learner, pred) -> list[str]:
    """Properties every prediction must have (see the module docs)."""
    bad = []
    conv = np.asarray(pred.converged, bool)
    for k, v in pred.items():
        a = _arr(v)
        if a is None or a.dtype.kind != "f":
            continue
        rows = a if a.ndim == 0 or conv.ndim == 0 or a.shape[:1] != conv.shape else a[conv]
        if conv.ndim == 0 and not conv:
            continue
        # fields where +-inf is a result: an infinite free entropy (perfect recovery), an infinite replicon (a
        # proximal step that jumps: replica symmetry broken), an infinite Phat (adversarial training at w = 0, where
        # the attack norm's subgradient is a set)
        if k in ("free_entropy", "mutual_information", "free_energy", "replicon", "Phat") and np.isinf(rows).any():
            rows = rows[np.isfinite(rows)] if rows.ndim else (rows if np.isfinite(rows) else np.array([]))
        if np.any(~np.isfinite(rows)) and k not in ("susceptibility",):
            bad.append(f"{k} is not finite at a converged point: {np.asarray(v)!r}")
    get = lambda k: _arr(pred[k]) if k in pred else None
    tol = 1e-9
    for k in ("mse", "q", "mutual_information", "V", "top_eigenvalue", "top_singular_value"):
        a = get(k)
        if a is not None and np.any(a[np.isfinite(a)] < -tol * (1 + np.abs(a[np.isfinite(a)]))):
            bad.append(f"{k} < 0: {a!r}")
    rho = getattr(problem, "rho", None)
    data = getattr(problem, "data", None)
    if data is not None and hasattr(data, "spectrum"):  # overlaps in prediction space: rho = Var z of the data model
        rho = float(data.spectrum(problem.prior).rho)
    m, q = get("m"), get("q")
    if m is not None and q is not None and isinstance(rho, float):
        with np.errstate(invalid="ignore"):
            excess = m**2 - rho * q
        if np.any(excess[np.isfinite(excess)] > 1e-7 * (rho * np.abs(q[np.isfinite(excess)]) + 1e-12)):
            bad.append(f"m^2 > rho q (Cauchy-Schwarz): m={m!r}, q={q!r}, rho={rho}")
    ch = getattr(problem, "channel", None)
    e = get("test_error")
    if e is not None and ch is not None and getattr(ch, "is_classification", False):
        f = e[np.isfinite(e)]
        if np.any(f < -tol) or np.any(f > 1 + tol):
            bad.append(f"classification test_error outside [0, 1]: {e!r}")
    for k in ("overlap", "overlap_u", "overlap_v"):
        a = get(k)
        if a is not None:
            f = a[np.isfinite(a)]
            if np.any(f < -tol) or np.any(f > 1 + 1e-7):
                bad.append(f"{k} outside [0, 1]: {a!r}")
    return bad


def samplers() -> dict[tuple[type, type], tuple]:
    """Every registered sampler: ``{(P, L): (family, sampler)}``."""
    return {pair: (fam, fn) for fam in registry.families().values() for pair, fn in fam.fuzz.items()}


def run_case(problem, learner, options: dict, *, budget: float = 60.0, invariants=None) -> Outcome:
    """Predict one draw within ``budget`` seconds and classify the outcome (module docs)."""
    case = (problem, learner, options)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            with _alarm(budget):  # the prediction's own budget (a user-facing hang or a slow case)
                pred = registry.predict(problem, learner, **options)
            # the checks (independent scans, further predictions) are the suite's cost, not the
            # engine's: a wider allowance that still stops a hang
            with _alarm(3 * budget):
                bad = generic_invariants(problem, learner, pred)
                if invariants is not None:
                    bad += invariants(problem, learner, pred)
    except CaseTimeout as e:
        return Outcome("timeout", str(e), time.perf_counter() - t0, case)
    except _CLEAR as e:
        return Outcome("error", f"{type(e).__name__}: {e}", time.perf_counter() - t0, case)
    except Exception as e:  # noqa: BLE001  (anything else is a crash: what the fuzzer looks for)
        return Outcome("crash", f"{type(e).__name__}: {e}", time.perf_counter() - t0, case)
    dt = time.perf_counter() - t0
    if bad:
        return Outcome("violation", "; ".join(bad), dt, case)
    return Outcome("ok", "", dt, case)


def run_simulation_case(problem, learner, *, d: int, seeds=(0, 1), budget: float = 60.0) -> Outcome:
    """Simulate one draw at a small ``d`` within ``budget`` seconds and classify the outcome: every
    measured number finite, or a clear error (module docs)."""
    case = (problem, learner, {"d": d})
    t0 = time.perf_counter()
    try:
        with _alarm(budget), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            res = registry.simulate(problem, learner, d=d, seeds=list(seeds))
    except CaseTimeout as e:
        return Outcome("timeout", str(e), time.perf_counter() - t0, case)
    except registry.UnsupportedPairError as e:
        return Outcome("error", f"{type(e).__name__}: {e}", time.perf_counter() - t0, case)
    except _CLEAR as e:
        return Outcome("error", f"{type(e).__name__}: {e}", time.perf_counter() - t0, case)
    except Exception as e:  # noqa: BLE001
        return Outcome("crash", f"{type(e).__name__}: {e}", time.perf_counter() - t0, case)
    bad = []
    flagged = any(float(np.nan_to_num(res.get(k, 0.0))) > 0 for k in ("diverged",))  # a reported divergence
    for k, v in res.items():
        a = _arr(v)
        if a is not None and a.dtype.kind == "f" and not np.all(np.isfinite(a)) and not flagged:
            bad.append(f"{k} is not finite: {np.asarray(v)!r}")
    kind = "violation" if bad else "ok"
    return Outcome(kind, "; ".join(bad), time.perf_counter() - t0, case)

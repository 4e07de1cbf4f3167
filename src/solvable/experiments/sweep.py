"""``sweep``: theory and simulations over a grid of problem / learner parameters, as a tidy
pandas DataFrame, computed on an executor and (optionally) stored as it goes in a resumable
SQLite file.
"""
from __future__ import annotations

import dataclasses
import itertools
import linecache
import numbers
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from solvable.core import registry as registry
from solvable.core.results import Prediction
from solvable.experiments.config import (
    DEFAULT_MAX_POINTS, canonical, canonical_json, config_key, replace_path, resolve_path, size_problem,
)
from solvable.experiments.executors import default_workers, resolve_executor, run_tasks
from solvable.experiments.store import Store

__all__ = ["sweep", "SweepError", "SweepInputError", "OptionError", "aggregate_table", "FIELD_ORDER"]

#: Conventional order of the field columns (others follow in order of appearance).
FIELD_ORDER = ["m", "q", "V", "test_error", "train_loss", "mse", "free_entropy", "mutual_information"]


class SweepError(RuntimeError):
    """A sweep task failed (the finished ones are kept in the store, if any)."""


class SweepInputError(SweepError, ValueError):
    """A sweep task was refused by solvable's own checks of its values (a ``ValueError`` that
    solvable raises, e.g. the logistic loss with lam = 0 on separable data): bad input at that
    grid point rather than a failure of the computation."""


class OptionError(TypeError, ValueError):
    """An option of ``theory_options`` or ``simulate`` that the pair's engine does not take
    (found before anything is computed)."""


_PACKAGE = str(Path(__file__).resolve().parents[1]) + os.sep


def _mark_input_error(err: BaseException) -> BaseException:
    """Flag ``err`` (in the worker, where its traceback still exists) when it is a ValueError
    raised by a ``raise`` statement in solvable's code: a deliberate check of the values.  A
    ValueError from numpy / scipy, or from an expression in solvable (a shape mismatch), is not."""
    if isinstance(err, ValueError) and not isinstance(err, np.linalg.LinAlgError):
        tb = err.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            fname = tb.tb_frame.f_code.co_filename
            line = linecache.getline(fname, tb.tb_lineno).lstrip()
            if fname.startswith(_PACKAGE) and line.startswith("raise"):
                err.solvable_input_error = True
    return err


# ---------------------------------------------------------------------------------------------
# the grid
# ---------------------------------------------------------------------------------------------
def _label(v) -> Any:
    """What a grid value looks like in the table: numbers and strings as they are, objects by repr."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        return v
    return repr(v)


def _axis(path: str, values) -> tuple[list, list]:
    """(labels, values) of one grid axis: a 1D sequence/array, a ``{label: value}`` mapping or a scalar."""
    if isinstance(values, Mapping):
        if not values:
            raise ValueError(f"over[{path!r}] is empty")
        return [str(k) for k in values], list(values.values())
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable) or dataclasses.is_dataclass(values):
        values = [values]
    elif isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"over[{path!r}] must be one-dimensional, got an array of shape {values.shape}")
        values = values.tolist()
    values = list(values)
    if not values:
        raise ValueError(f"over[{path!r}] is empty")
    return [_label(v) for v in values], values


@dataclass
class _Point:
    index: tuple
    params: dict          # column -> label
    problem: Any
    learner: Any


def _build_grid(problem, learner, over: Mapping, max_points=DEFAULT_MAX_POINTS, n_d: int = 0, n_seeds: int = 0
                ) -> tuple[list[str], list[list], list[_Point]]:
    paths = list(over)
    axes = []
    for p in paths:
        resolve_path(problem, learner, p)
        axes.append(_axis(p, over[p]))
    too_big = size_problem({p: len(a[0]) for p, a in zip(paths, axes)}, n_d, n_seeds, max_points)
    if too_big:
        raise ValueError(": ".join(too_big))
    points = []
    for idx in itertools.product(*(range(len(a[0])) for a in axes)):
        pr, le = problem, learner
        params = {}
        for p, (labels, values), i in zip(paths, axes, idx):
            try:
                pr, le = replace_path(pr, le, p, values[i])
            except (ValueError, TypeError) as e:
                raise ValueError(f"over[{p!r}] = {values[i]!r}: {e}") from None
            params[p] = labels[i]
        points.append(_Point(idx, params, pr, le))
    return paths, axes, points


def _vector_axis(problem, learner, paths, axes, vectorize) -> str | None:
    """The grid axis whose values are passed to ``predict`` as one array (a curve)."""
    if vectorize in (None, False):
        return None

    def ok(p, values):
        root, segs = resolve_path(problem, learner, p)
        return (root == "problem" and len(segs) == 1 and len(values) > 1
                and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values))

    if vectorize in ("auto", True):
        cands = [p for p, (_, vals) in zip(paths, axes) if ok(p, vals)]
        if not cands:
            return None
        return "alpha" if "alpha" in cands else cands[0]
    if vectorize not in paths:
        raise ValueError(f"vectorize={vectorize!r} is not a grid key; grid keys: {paths}")
    return vectorize


# ---------------------------------------------------------------------------------------------
# tasks (run in workers: module-level functions and plain dataclasses, so they pickle)
# ---------------------------------------------------------------------------------------------
@dataclass
class _TheoryTask:
    problem: Any                      # the group's problem and learner (vector axis not yet set)
    learner: Any
    points: list                      # [(key, problem, learner, axis value or None)]
    vector_path: str | None
    options: dict = field(default_factory=dict)


@dataclass
class _SimTask:
    key: str
    problem: Any
    learner: Any
    d: int
    seed: int
    options: dict = field(default_factory=dict)


def _prediction_values(pred) -> dict:
    if isinstance(pred, Prediction):
        return pred.to_dict()
    if isinstance(pred, Mapping):
        return dict(pred)
    raise TypeError(f"a theory engine returned {type(pred).__name__}, expected a Prediction")


def _split_curve(pred, n: int) -> list[dict] | None:
    vals = _prediction_values(pred)
    out = [dict() for _ in range(n)]
    for k, v in vals.items():
        a = np.asarray(v) if not isinstance(v, str) else np.asarray(v, dtype=object)
        if a.ndim == 0:
            for o in out:
                o[k] = v
        elif a.shape[0] == n:
            for i, o in enumerate(out):
                x = a[i]
                o[k] = x.item() if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0) else x
        else:
            return None
    return out


def _run_theory(task: _TheoryTask) -> list[tuple[str, dict | None, BaseException | None, float]]:
    """Theory for a group of points that differ only along the vector axis: one curve call when
    the engine accepts an array there, else one call per point (in grid order)."""
    n = len(task.points)
    if task.vector_path is not None and n > 1:
        t0 = time.perf_counter()
        try:
            values = np.asarray([p[3] for p in task.points], dtype=float)
            pr, le = replace_path(task.problem, task.learner, task.vector_path, values)
            split = _split_curve(registry.predict(pr, le, **task.options), n)
        except Exception:
            split = None
        if split is not None:
            dt = (time.perf_counter() - t0) / n
            return [(p[0], s, None, dt) for p, s in zip(task.points, split)]
    out = []
    for key, pr, le, _ in task.points:
        t0 = time.perf_counter()
        try:
            out.append((key, _prediction_values(registry.predict(pr, le, **task.options)), None,
                        time.perf_counter() - t0))
        except Exception as e:
            out.append((key, None, _mark_input_error(e), time.perf_counter() - t0))
    return out


def _run_simulation(task: _SimTask) -> tuple[dict, float]:
    t0 = time.perf_counter()
    res = registry.simulate(task.problem, task.learner, d=task.d, seeds=[task.seed], **task.options)
    row = dict(res.runs[0])
    row["threads"] = float("nan") if res.threads is None else float(res.threads)  # recorded with the row
    return row, time.perf_counter() - t0


def _run_task(task):
    if isinstance(task, _TheoryTask):
        return _run_theory(task)
    try:
        return _run_simulation(task)
    except Exception as e:
        raise _mark_input_error(e)


def _task_keys(task) -> list[str]:
    return [p[0] for p in task.points] if isinstance(task, _TheoryTask) else [task.key]


def _restrict(task, keys):
    """``task`` reduced to ``keys`` (theory points of a group), or None when none is left."""
    keys = set(keys)
    if isinstance(task, _SimTask):
        return task if task.key in keys else None
    members = [p for p in task.points if p[0] in keys]
    if not members:
        return None
    return _TheoryTask(members[0][1], members[0][2], members, task.vector_path, task.options)


def _claimed(store, owner, tasks, issued: list, deferred: list):
    """The tasks of ``tasks`` (reduced to the keys this owner could claim), claimed one by one as
    they are drawn; keys stored or claimed by another live sweep go to ``deferred``."""
    for task in tasks:
        claimed, busy = store.claim(_task_keys(task), owner)
        if busy:
            deferred.append(_restrict(task, busy))
        if claimed:
            task = _restrict(task, claimed)
            issued.append(task)
            yield task


def _check_options(pairs, theory: bool, theory_options: dict, simulate: bool, sim_opts: dict) -> None:
    """Unknown options of ``theory_options`` / ``simulate`` as :class:`OptionError`, before any work."""
    for pr, le in pairs:
        checks = [("theory_options", registry._THEORY, "theory engine", theory_options)] if theory else []
        if simulate:  # ``threads`` belongs to sv.simulate itself
            checks.append(("simulate", registry._SIMULATION, "simulation",
                           {k: v for k, v in sim_opts.items() if k != "threads"}))
        for where, table, what, opts in checks:
            engine = registry._lookup(table, pr, le, what)
            try:
                engine.validate(opts)
            except TypeError as e:
                raise OptionError(f"{where}: {e}") from None


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, enabled: bool, total: int, description: str):
        self._p = None
        if enabled and total > 0:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            # auto_refresh=False: no background thread (the local pool forks workers)
            self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TimeRemainingColumn(), console=Console(stderr=True), auto_refresh=False,
                               transient=False)
            self._p.start()
            self._t = self._p.add_task(description, total=total)
            self._p.refresh()

    def advance(self, n: int = 1):
        if self._p is not None:
            self._p.advance(self._t, n)
            self._p.refresh()

    def close(self):
        if self._p is not None:
            self._p.stop()


# ---------------------------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------------------------
def _scalar(v) -> bool:
    if isinstance(v, (str, bool, numbers.Number, np.generic)):
        return True
    return isinstance(v, np.ndarray) and v.ndim == 0


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _parse_simulate(simulate) -> tuple[list[int], list[int], dict]:
    if not isinstance(simulate, Mapping):
        raise ValueError(f"simulate must be a dict like {{'d': 500, 'seeds': 5}}, got simulate={simulate!r}")
    opts = dict(simulate)
    if "d" not in opts:
        raise ValueError("simulate: missing key 'd' (the dimension, an integer >= 2, or a list of them)")
    d = opts.pop("d")
    ds = list(d) if isinstance(d, (list, tuple, np.ndarray)) else [d]
    for x in ds:
        if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 2:
            raise ValueError(f"simulate: d must be an integer >= 2 (or a list of them), got d={d!r}")
    seeds = registry._seed_list(opts.pop("seeds", 5))
    return [int(x) for x in ds], seeds, opts


def _n_seeds(simulate) -> int:
    """The number of seeds ``simulate`` asks for, without building their list."""
    s = simulate.get("seeds", 5) if isinstance(simulate, Mapping) else 0
    if isinstance(s, numbers.Integral) and not isinstance(s, bool):
        return max(int(s), 0)
    try:
        return len(s)
    except TypeError:
        return 0


def sweep(
    problem,
    learner,
    over: Mapping[str, Any] | None = None,
    *,
    simulate: Mapping[str, Any] | None = None,
    theory: bool = True,
    theory_options: Mapping[str, Any] | None = None,
    store: str | Store | None = None,
    executor: Any = None,
    workers: int | None = None,
    progress: bool | None = None,
    aggregate: bool = False,
    vectorize: str | bool | None = "auto",
    refresh: bool = False,
    explode: str | None = None,
    max_points: int | None = DEFAULT_MAX_POINTS,
) -> pd.DataFrame:
    """Theory (and simulations) of ``learner`` on ``problem`` over a grid, as a tidy DataFrame.

    Parameters
    ----------
    over
        ``{path: values}``: a grid axis per dotted field path into the problem then the learner
        (``"alpha"``, ``"penalty.lam"``, ``"channel.noise"``, ``"learner.loss"``, or ``"learner"``
        to compare learners); values are a 1D array / list, or a ``{label: value}`` dict (the
        label goes in the table).  The grid is the Cartesian product of the axes.
    simulate
        ``{"d": 500, "seeds": 5, **options}`` to add finite-size simulations: one task per point,
        dimension and seed (``d`` may be a list, for finite-size scaling; ``seeds`` a count,
        meaning seeds 0..n-1, or a list).  Seed ``s`` gives the same numbers as
        ``sv.simulate(problem, learner, d, seeds=[s])`` at that point, serially or in parallel.
        Other keys are passed to the simulation.
    theory, theory_options
        Whether to compute the theory, and options passed to ``sv.predict``.
    store
        A SQLite file (or :class:`Store`): each finished task is committed as it finishes, keyed
        by the sha256 of its full configuration; tasks already there are read, not recomputed.
        ``refresh=True`` recomputes them.  Several sweeps may share a store at once: each claims
        the tasks it is about to compute, skips those another running sweep has claimed, and
        reads them from the store when that sweep has stored them (or computes them, if that
        sweep died).  A damaged row is warned about and recomputed.
    executor
        None (a local process pool when there is work for more than one CPU, else in-process),
        ``"serial"``, ``"local"``, ``"dask"``, a ``concurrent.futures.Executor`` or a
        ``distributed.Client``.  ``workers`` bounds the local pool / new Dask cluster.
    progress
        A progress bar on stderr (None: only when stderr is a terminal).
    aggregate
        Simulations as one row per point (and d) with the mean of each field, its standard
        error ``<field>_se`` and ``n_seeds``, instead of one row per seed.
    vectorize
        The grid axis given to ``predict`` as one array, so the engine continues its fixed point
        along the curve (``"auto"``: ``alpha`` if it is a grid key, else the first numeric
        top-level problem field; None: one call per point).  Engines that reject an array are
        called point by point.
    max_points
        The largest grid (number of points, and of simulation tasks) the sweep accepts; a bigger
        one is refused (``ValueError`` naming the count) before anything is built.  None: no limit.

    Returns
    -------
    DataFrame with columns ``kind`` ("theory" / "simulation"), one per grid key, ``d`` and
    ``seed`` (simulations), then the scalar fields (``converged`` for theory).  Array-valued
    fields (e.g. trajectories) are not put in the table; they are kept in the store.
    With ``explode="t"`` (the name of a 1D array field, e.g. the time grid of a learning curve)
    each point gives one row per element of that array, with every 1D array field of the same
    length alongside (tidy learning curves).  ``df.attrs`` holds ``computed`` and ``cached`` task
    counts.
    """
    over = dict(over or {})
    theory_options = dict(theory_options or {})
    if simulate is not None:
        d = simulate.get("d") if isinstance(simulate, Mapping) else None
        n_d = len(d) if isinstance(d, (list, tuple, np.ndarray)) else 1
        n_seeds = _n_seeds(simulate)
    else:
        n_d = n_seeds = 0
    paths, axes, points = _build_grid(problem, learner, over, max_points, n_d, n_seeds)
    if simulate is not None:
        ds, seeds, sim_opts = _parse_simulate(simulate)
    else:
        ds, seeds, sim_opts = [], [], {}
    if not theory and simulate is None:
        raise ValueError("nothing to do: theory=False and simulate=None")

    # fail early on unsupported pairs and unknown options
    pairs = [(p.problem, p.learner) for p in {(type(p.problem), type(p.learner)): p for p in points}.values()]
    _check_options(pairs, theory, theory_options, simulate is not None, sim_opts)

    from .. import __version__

    # every task of the sweep, keyed
    base = {"problem": None, "learner": None}
    theory_keys, sim_specs = [], []
    configs: dict[str, str] = {}
    params_of: dict[str, dict] = {}
    for pt in points:
        cp, cl = canonical(pt.problem), canonical(pt.learner)
        if theory:
            cfg = dict(base, kind="theory", problem=cp, learner=cl, options=canonical(theory_options))
            k = config_key(cfg)
            configs[k] = canonical_json(cfg)
            params_of[k] = pt.params
            theory_keys.append(k)
        for d in ds:
            for s in seeds:
                cfg = dict(base, kind="simulation", problem=cp, learner=cl, d=d, seed=s, options=canonical(sim_opts))
                k = config_key(cfg)
                configs[k] = canonical_json(cfg)
                params_of[k] = dict(pt.params, d=d, seed=s)
                sim_specs.append((k, pt, d, s))

    own_store = isinstance(store, (str, bytes)) or hasattr(store, "__fspath__")
    st = Store(store) if own_store else store
    owner = st.new_owner() if st is not None else None
    try:
        all_keys = list(configs)
        if st is not None and refresh:
            st.delete(all_keys)
        cached = st.get_many(all_keys) if st is not None else {}
        results: dict[str, dict] = {k: v["values"] for k, v in cached.items()}
        old = {v["version"] for v in cached.values()} - {__version__}
        if old:
            warnings.warn(
                f"{sum(v['version'] != __version__ for v in cached.values())} results in the store were computed "
                f"by solvable {', '.join(sorted(old))} (this is {__version__}); pass refresh=True to recompute them",
                stacklevel=2,
            )

        # theory tasks: group the missing points by everything except the vector axis
        vec = _vector_axis(problem, learner, paths, axes, vectorize) if theory else None
        tasks: list = []
        if theory:
            groups: dict[tuple, list] = {}
            vi = paths.index(vec) if vec is not None else None
            for pt, k in zip(points, theory_keys):
                if k in results:
                    continue
                gkey = pt.index[:vi] + pt.index[vi + 1:] if vi is not None else pt.index
                val = axes[vi][1][pt.index[vi]] if vi is not None else None
                groups.setdefault(gkey, []).append((k, pt.problem, pt.learner, val))
            for members in groups.values():
                first = members[0]
                tasks.append(_TheoryTask(first[1], first[2], members, vec, theory_options))
        for k, pt, d, s in sim_specs:
            if k not in results:
                tasks.append(_SimTask(k, pt.problem, pt.learner, d, s, sim_opts))

        n_units = sum(len(t.points) if isinstance(t, _TheoryTask) else 1 for t in tasks)
        show = sys.stderr.isatty() if progress is None else bool(progress)
        bar = _Progress(show, n_units, "sweep")
        computed = 0
        beat = [time.monotonic()]

        def tick():  # a sign of life for the claims, at most every lease / 4
            if st is not None and time.monotonic() - beat[0] > st.lease / 4:
                st.heartbeat(owner)
                beat[0] = time.monotonic()

        try:
            n_sim = sum(isinstance(t, _SimTask) for t in tasks)
            with resolve_executor(executor, n_sim if n_sim > 1 else len(tasks), workers) as (kind, ex):
                # with a store, tasks are claimed as they are drawn, a few per worker ahead
                window = None if st is None else 2 * (getattr(ex, "_max_workers", None) or workers or default_workers())
                pending, wait = tasks, 0.02
                while pending:
                    issued: list = [] if st is not None else pending
                    deferred: list = []
                    source = pending if st is None else _claimed(st, owner, pending, issued, deferred)
                    for i, res, err in run_tasks(kind, ex, _run_task, source, window=window, tick=tick,
                                                 tick_every=st.lease / 4 if st is not None else 30.0):
                        task = issued[i]
                        if err is not None:
                            _raise_task_error(task, err, params_of)
                        if isinstance(task, _TheoryTask):
                            rows = []
                            first_err = None
                            for key, vals, e, dt in res:
                                if e is not None:
                                    first_err = first_err or (key, e)
                                    continue
                                rows.append(dict(key=key, kind="theory", config=configs[key], params=params_of[key],
                                                 values=vals, version=__version__, elapsed=dt))
                                results[key] = vals
                            if st is not None and rows:
                                st.put_many(rows, owner=owner)
                            computed += len(rows)
                            bar.advance(len(res))
                            if first_err is not None:
                                _raise_task_error(task, first_err[1], params_of, key=first_err[0])
                        else:
                            vals, dt = res
                            if st is not None:
                                st.put_many([dict(key=task.key, kind="simulation", config=configs[task.key],
                                                  params=params_of[task.key], values=vals, version=__version__,
                                                  elapsed=dt)], owner=owner)
                            results[task.key] = vals
                            computed += 1
                            bar.advance(1)
                    if not deferred:
                        break
                    # keys another live sweep holds: read what it stored, then claim the rest again
                    # (they come back when it has died or released them), waiting while it works
                    got = st.get_many([k for t in deferred for k in _task_keys(t)])
                    results.update((k, v["values"]) for k, v in got.items())
                    cached.update(got)
                    bar.advance(len(got))
                    pending = [t for t in (_restrict(t, [k for k in _task_keys(t) if k not in results])
                                           for t in deferred) if t is not None]
                    if pending and not issued and not got:
                        time.sleep(wait)
                        wait = min(1.0, wait * 1.5)
                    else:
                        wait = 0.02
        finally:
            bar.close()
    except BaseException:
        if st is not None:  # free the claims; the error in flight is the one to report
            try:
                st.release(owner)
            except Exception:
                pass
            if own_store:
                st.close()
        raise
    if st is not None:
        st.release(owner)
        if own_store:
            st.close()

    # the table, in grid order
    rows = []
    for pt, k in zip(points, theory_keys):
        rows.extend(_rows("theory", pt.params, results[k], explode))
    for k, pt, d, s in sim_specs:
        rows.extend(_rows("simulation", dict(pt.params, d=d, seed=s), results[k], explode))
    table = _frame(rows, paths + ([explode] if explode else []))
    if aggregate:
        table = aggregate_table(table, paths + ([explode] if explode else []))
    table.attrs.update(computed=computed, cached=len(cached), grid=paths + ([explode] if explode else []))
    return table


def _raise_task_error(task, err, params_of, key=None):
    if isinstance(task, _TheoryTask):
        key = key or task.points[0][0]
        what = "theory"
    else:
        key = task.key
        what = "simulation"
    where = ", ".join(f"{k}={v}" for k, v in params_of[key].items())
    cls = SweepInputError if getattr(err, "solvable_input_error", False) else SweepError
    raise cls(f"{what} failed at {where or 'the base point'}: {type(err).__name__}: {err}") from err


def _rows(kind, params, values, explode=None) -> list[dict]:
    row = {"kind": kind}
    row.update(params)
    for k, v in values.items():
        if k in row:
            continue
        if _scalar(v):
            row[k] = _plain(v)
    if explode is None:
        return [row]
    axis = values.get(explode)
    if axis is None or np.ndim(axis) != 1:
        raise SweepError(f"explode={explode!r}: the {kind} results have no 1D array field {explode!r}; "
                         f"fields: {sorted(values)}")
    axis = np.asarray(axis)
    cols = {k: np.asarray(v) for k, v in values.items()
            if k not in row and not _scalar(v) and np.ndim(v) >= 1 and np.shape(v)[0] == axis.size}
    out = []
    for i in range(axis.size):
        r = dict(row)
        r[explode] = _plain(axis[i])
        for k, a in cols.items():
            if a.ndim == 1 and k != explode:
                r[k] = _plain(a[i])
        out.append(r)
    return out


def _frame(rows, paths) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    lead = ["kind"] + [p for p in paths if p in df.columns] + [c for c in ("d", "seed") if c in df.columns]
    fields = [c for c in df.columns if c not in lead]
    fields = [f for f in FIELD_ORDER if f in fields] + [f for f in fields if f not in FIELD_ORDER and f != "converged"]
    fields += ["converged"] if "converged" in df.columns else []
    df = df[lead + fields]
    for c in ("d", "seed"):
        if c in df.columns:
            df[c] = df[c].astype("Int64")
    return df.reset_index(drop=True)


def aggregate_table(table: pd.DataFrame, grid: list[str] | None = None) -> pd.DataFrame:
    """Simulation rows averaged over seeds: per point (and ``d``) the mean of each numeric
    field, its standard error ``<field>_se`` (std with ddof=1 over sqrt(n)) and ``n_seeds``;
    theory rows are kept as they are."""
    if "seed" not in table.columns:
        return table
    grid = list(grid if grid is not None else table.attrs.get("grid", []))
    sims = table[table["kind"] == "simulation"]
    theo = table[table["kind"] != "simulation"].drop(columns=["seed", "d"], errors="ignore")
    keys = ["kind"] + grid + ["d"]
    fields = [c for c in sims.columns if c not in keys + ["seed"] and pd.api.types.is_numeric_dtype(sims[c])]
    if len(sims):
        g = sims.groupby(keys, sort=False, dropna=False)
        mean = g[fields].mean()
        n = g.size().rename("n_seeds")
        se = g[fields].std(ddof=1).div(np.sqrt(n), axis=0)
        se.columns = [f"{c}_se" for c in fields]
        agg = pd.concat([mean, se, n], axis=1).reset_index()
        cols = keys + [c for f in fields for c in (f, f"{f}_se")] + ["n_seeds"]
        agg = agg[cols]
    else:
        agg = pd.DataFrame(columns=keys)
    out = pd.concat([theo, agg], ignore_index=True, sort=False) if len(theo) else agg
    for c in ("d", "n_seeds"):
        if c in out.columns:
            out[c] = out[c].astype("Int64")
    out.attrs.update(table.attrs)
    return out


def load(store, *, aggregate: bool = False) -> pd.DataFrame:
    """A stored sweep as a tidy DataFrame, without declaring the sweep again: one row per stored task (theory points;
    simulations per ``d`` and seed), with the sweep's parameters as columns, the scalar fields, and the ``version``
    of the library that computed the row (provenance).  ``aggregate=True`` averages the simulations over seeds
    (:func:`aggregate_table`).  A store holds the tasks of every sweep run against it: their parameter columns
    are the union (NaN where a sweep did not vary one).  Damaged rows are left out with a warning
    (:meth:`Store.get_many`)."""
    p = Path(store) if isinstance(store, (str, bytes)) or hasattr(store, "__fspath__") else None
    if p is not None and not p.is_file():
        from solvable.experiments.store import StoreError

        raise StoreError(f"load: no store at {str(p)!r} (a file written by sweep(..., store=...))")
    st = Store(p) if p is not None else store
    try:
        got = st.get_many(sorted(st.keys()))
    finally:
        if p is not None:
            st.close()
    rows, paths = [], []
    for key in got:
        r = got[key]
        for row in _rows(r["kind"], r["params"], r["values"]):
            row["version"] = r["version"]
            rows.append(row)
        paths += [k for k in r["params"] if k not in ("d", "seed") and k not in paths]
    if not rows:
        return pd.DataFrame(columns=["kind"])
    table = _frame(rows, paths)
    order = ["kind"] + paths + [c for c in ("d", "seed") if c in table.columns]
    table = table.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)
    table = table[[c for c in table.columns if c != "version"] + ["version"]]
    if aggregate:
        table = aggregate_table(table.drop(columns="version"), paths)
    table.attrs.update(grid=paths, store=str(getattr(st, "path", store)))
    return table

"""Where sweep tasks run: in-process, a local process pool, any
:class:`concurrent.futures.Executor`, or a Dask cluster (``distributed.Client``).

All of them are driven through :func:`run_tasks`, which yields ``(index, result, error)``
as tasks finish, so that the sweep can commit each result to the store at once.
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import queue
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

__all__ = ["resolve_executor", "run_tasks", "DASK_MISSING"]

DASK_MISSING = (
    "executor='dask' needs Dask's distributed scheduler, which is not installed; "
    "install it with: pip install 'solvable[dask]'"
)


def _is_dask_client(obj) -> bool:
    t = type(obj)
    return t.__name__ == "Client" and t.__module__.startswith("distributed")


def _import_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ImportError(DASK_MISSING) from None
    return distributed


def default_workers() -> int:
    """Workers of the local pool: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover  (not Linux)
        return max(1, os.cpu_count() or 1)


@contextmanager
def resolve_executor(executor: Any, n_tasks: int, workers: int | None = None):
    """A context manager giving ``("serial", None)``, ``("futures", Executor)`` or
    ``("dask", Client)``; pools and clusters it creates are shut down on exit.

    ``executor``: None (a local process pool when there is more than one task and more than
    one CPU, else in-process), ``"serial"``, ``"local"``, ``"dask"`` (the current Dask client
    if there is one, else a new ``LocalCluster``), a :class:`concurrent.futures.Executor` or a
    ``distributed.Client``.
    """
    n_workers = workers or default_workers()
    if executor is None:
        executor = "local" if (n_tasks > 1 and n_workers > 1) else "serial"
    if isinstance(executor, str):
        name = executor.lower()
        if name == "serial":
            yield "serial", None
        elif name == "local":
            if n_tasks <= 1 or n_workers <= 1:
                yield "serial", None
                return
            with cf.ProcessPoolExecutor(max_workers=min(n_workers, n_tasks)) as pool:
                yield "futures", pool
        elif name == "dask":
            distributed = _import_distributed()
            try:
                client = distributed.get_client()
            except ValueError:
                client = None
            if client is not None:
                yield "dask", client
            else:
                with distributed.Client(n_workers=n_workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None) as client:
                    yield "dask", client
        else:
            raise ValueError(
                f"executor must be None, 'serial', 'local', 'dask', a concurrent.futures.Executor or a "
                f"distributed.Client; got executor={executor!r}"
            )
    elif isinstance(executor, cf.Executor):
        yield "futures", executor
    elif _is_dask_client(executor):
        yield "dask", executor
    else:
        raise ValueError(
            f"executor must be None, 'serial', 'local', 'dask', a concurrent.futures.Executor or a "
            f"distributed.Client; got executor={executor!r}"
        )


def _call(fn, task):
    try:
        return fn(task), None
    except Exception as e:  # reported to the caller, who decides
        return None, e


def run_tasks(kind: str, executor, fn: Callable, tasks: Iterable, *, window: int | None = None,
              tick: Callable[[], Any] | None = None, tick_every: float = 30.0
              ) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run ``fn(task)`` for every task; yield ``(index, result, error)`` as they finish.

    ``tasks`` may be a lazy iterable: with a pool, at most ``window`` tasks are in flight (all of
    them when None) and the next one is drawn only when one finishes, so a task is taken from the
    iterable just before it can run (``index`` counts in the order they are drawn).  ``tick``
    is called before each task (serial) or between results and at least every ``tick_every``
    seconds while a pool works (a sign of life for the store's claims)."""
    if kind == "serial":
        for i, t in enumerate(tasks):
            if tick is not None:
                tick()
            res, err = _call(fn, t)
            yield i, res, err
    elif kind == "futures":
        source = iter(tasks)
        limit = window if window is not None else float("inf")
        futs: dict = {}
        finished: queue.SimpleQueue = queue.SimpleQueue()  # futures as they finish (done callbacks)
        drawn = 0

        def fill():
            nonlocal drawn
            while len(futs) < limit:
                t = next(source, _END)
                if t is _END:
                    return
                f = executor.submit(fn, t)
                futs[f] = drawn
                drawn += 1
                f.add_done_callback(finished.put)

        try:
            fill()
            while futs:
                try:
                    f = finished.get(timeout=tick_every)
                except queue.Empty:
                    f = None
                if tick is not None:
                    tick()
                if f is None or f not in futs:
                    continue
                i = futs.pop(f)
                err = f.exception()
                yield i, (None if err else f.result()), err
                fill()
        finally:
            for f in futs:
                f.cancel()
    elif kind == "dask":
        distributed = _import_distributed()
        futs = executor.map(fn, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        try:
            for f in distributed.as_completed(futs):
                if tick is not None:
                    tick()
                if f.status == "error":
                    yield index[f.key], None, f.exception()
                else:
                    yield index[f.key], f.result(), None
        finally:
            executor.cancel([f for f in futs if not f.done()])
    else:  # pragma: no cover
        raise ValueError(kind)


_END = object()

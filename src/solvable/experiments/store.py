"""An embedded result store (stdlib :mod:`sqlite3`, WAL mode).

One row per finished task, committed as soon as the task finishes, keyed by the sha256 of
the canonical JSON of its full configuration (problem, learner, kind, d, seed, options; see
:func:`solvable.experiments.config.config_key`), with the library version that computed it.
A sweep run again against the same file computes only the keys that are missing, so an
interrupted sweep resumes where it stopped.
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = ["Store", "to_jsonable"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key      TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    config   TEXT NOT NULL,
    params   TEXT NOT NULL,
    "values" TEXT NOT NULL,
    version  TEXT NOT NULL,
    created  REAL NOT NULL,
    elapsed  REAL
)
"""


def to_jsonable(v: Any) -> Any:
    """Numbers, arrays and nested containers as plain JSON values (NaN/inf as strings)."""
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return to_jsonable(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return {"__repr__": repr(v)}


def _from_jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"__float__"}:
            return float(v["__float__"])
        return {k: _from_jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        out = [_from_jsonable(x) for x in v]
        try:
            arr = np.asarray(out, dtype=float)
            return arr
        except (TypeError, ValueError):
            return out
    return v


class Store:
    """A SQLite file of finished sweep tasks.

    >>> store = Store("results.sqlite")                    # doctest: +SKIP
    >>> store.missing(keys); store.put(key, ...); store.get_many(keys)   # doctest: +SKIP

    Only the process that runs the sweep writes (workers return results to it), so there is
    a single writer; WAL mode lets other processes read while it writes.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise ValueError(f"store: directory {str(self.path.parent)!r} does not exist (store={str(path)!r})")
        try:
            self._con = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"store: {str(path)!r} is not a solvable SQLite store ({e})") from None

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._con.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def keys(self) -> set[str]:
        return {r[0] for r in self._con.execute("SELECT key FROM results")}

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys of ``keys`` not in the store (order kept)."""
        have = self.keys()
        return [k for k in keys if k not in have]

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """``{key: {"values": ..., "version": ..., "params": ...}}`` for the stored keys."""
        keys = list(keys)
        out: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f'SELECT key, "values", version, params, kind FROM results WHERE key IN ({",".join("?" * len(chunk))})'
            for key, values, version, params, kind in self._con.execute(q, chunk):
                out[key] = {
                    "values": _from_jsonable(json.loads(values)),
                    "version": version,
                    "params": json.loads(params),
                    "kind": kind,
                }
        return out

    def versions(self) -> dict[str, int]:
        """Number of rows by the library version that computed them."""
        return dict(self._con.execute("SELECT version, COUNT(*) FROM results GROUP BY version").fetchall())

    # -- writing ---------------------------------------------------------------------------
    def put_many(self, rows: Iterable[dict]) -> int:
        """Insert finished tasks in one transaction; a key already present is left untouched.

        Each row: ``key, kind, config (JSON text), params (dict), values (dict), version, elapsed``.
        Returns the number of rows inserted.
        """
        from .. import __version__

        rows = list(rows)
        now = time.time()
        data = [
            (
                r["key"], r["kind"], r["config"], json.dumps(to_jsonable(r.get("params", {})), sort_keys=True),
                json.dumps(to_jsonable(r["values"])), r.get("version", __version__), now, r.get("elapsed"),
            )
            for r in rows
        ]
        cur = self._con.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            before = self._con.total_changes
            cur.executemany(
                'INSERT OR IGNORE INTO results (key, kind, config, params, "values", version, created, elapsed) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                data,
            )
            n = self._con.total_changes - before
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return n

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        cur = self._con.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany("DELETE FROM results WHERE key = ?", [(k,) for k in keys])
        cur.execute("COMMIT")

    def close(self) -> None:
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Store({str(self.path)!r}, rows={len(self)})"

"""An embedded result store (stdlib :mod:`sqlite3`, WAL mode).

One row per finished task, committed as soon as the task finishes, keyed by the sha256 of
the canonical JSON of its full configuration (problem, learner, kind, d, seed, options; see
:func:`solvable.experiments.config.config_key`), with the library version that computed it.
A sweep run again against the same file computes only the keys that are missing, so an
interrupted sweep resumes where it stopped.

Integrity: the file is marked as a solvable store (``PRAGMA application_id``, and the store
format in ``PRAGMA user_version``), so another application's database is refused rather than
written into; every row carries a checksum (sha256 of its key, kind, params and values), checked
when it is read, so a damaged or edited row is reported and recomputed rather than served; a
file damaged below the rows (``database disk image is malformed``) raises
:class:`StoreCorruptError`, which says how many rows :meth:`Store.recover` can copy out.

Concurrent sweeps on one file coordinate through claims: a sweep claims the keys it is about to
compute (``claims`` table), under an owner whose lease it renews (``owners`` table); other
sweeps skip those keys, then read them once they are stored, and compute them themselves if
their owner died (a dead process on this host, or a lease not renewed in time).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = ["Store", "StoreError", "StoreCorruptError", "StoreWarning", "to_jsonable", "APPLICATION_ID", "FORMAT"]

#: ``PRAGMA application_id`` of a solvable store (``"solv"`` in ASCII).
APPLICATION_ID = 0x736F6C76
#: The store format (``PRAGMA user_version``): 1 was unmarked, without checksums or claims
#: (such files are upgraded when opened); 2 adds the marker, row checksums and claims.
FORMAT = 2

#: The columns of the first format; a ``results`` table without them is not a solvable store's.
_COLUMNS = ("key", "kind", "config", "params", "values", "version", "created", "elapsed")
_TABLES = ("results", "claims", "owners")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS results (
        key      TEXT PRIMARY KEY,
        kind     TEXT NOT NULL,
        config   TEXT NOT NULL,
        params   TEXT NOT NULL,
        "values" TEXT NOT NULL,
        version  TEXT NOT NULL,
        created  REAL NOT NULL,
        elapsed  REAL,
        checksum TEXT
    )""",
    "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, "
    "expires REAL NOT NULL)",
)
_ROW = 'key, kind, config, params, "values", version, created, elapsed, checksum'
_CHUNK = 500  # keys per IN (...) query


class StoreError(ValueError):
    """A file that cannot be used as a store: not SQLite, another application's database, a
    ``results`` table of another schema, a directory, a newer store format."""


class StoreCorruptError(StoreError):
    """The store's file is damaged below the rows; the message says how many rows are readable
    and how to copy them out (:meth:`Store.recover`)."""


class StoreWarning(UserWarning):
    """Something about the store a user should know, that does not stop the sweep (an empty
    file taken as a new store, damaged rows treated as missing)."""


class _BadRow(Exception):
    pass


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


def row_checksum(key: str, kind: str, params: str, values: str) -> str:
    """The checksum of a row: sha256 (hex) of its key, kind, params and values (the stored JSON
    text), NUL-separated.  The version, time stamps and config are not covered (the key is the
    hash of the config)."""
    h = hashlib.sha256()
    for part in (key, kind, params, values):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _decode(row) -> dict:
    """``{"values", "version", "params", "kind"}`` of a stored row, or :class:`_BadRow` saying
    what is wrong with it (a checksum that does not match, JSON that does not parse)."""
    key, kind, _config, params, values, version, _created, _elapsed, checksum = row
    if not all(isinstance(x, str) for x in (kind, params, values)):
        raise _BadRow("a field is not text")
    if checksum is not None and checksum != row_checksum(key, kind, params, values):
        raise _BadRow("checksum mismatch: the row was changed after it was written")
    try:
        vals, pars = json.loads(values), json.loads(params)
        if not isinstance(vals, dict):
            raise _BadRow(f"values are not a JSON object but {type(vals).__name__}")
        return {"values": _from_jsonable(vals), "version": version, "params": pars, "kind": kind}
    except (ValueError, TypeError, RecursionError) as e:  # json.JSONDecodeError is a ValueError
        raise _BadRow(f"invalid JSON: {e}") from None


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _host() -> str:
    import socket

    return socket.gethostname()


def _create(path: Path) -> None:
    """A new, empty store at ``path``, made beside it and linked into place, so that the file
    never exists half made (another process opening it meanwhile sees it complete, or not at all)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        con = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            for stmt in _SCHEMA:
                con.execute(stmt)
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {FORMAT}")
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
        try:
            os.link(tmp, path)  # atomic, and never over a file another process made meanwhile
        except FileExistsError:
            pass
        except OSError:  # no hard links here: made in place by the opener (sqlite3.connect)
            pass
    except sqlite3.Error:
        pass  # e.g. a read-only directory: sqlite3.connect reports it
    finally:
        for p in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            try:
                p.unlink()
            except OSError:
                pass


def _recovered_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.recovered{path.suffix or '.sqlite'}")


def _count_rows(con) -> int | None:
    """Rows of ``results`` by its key index (readable when the table itself is damaged), else
    by the table; None if neither can be read."""
    for q in ("SELECT COUNT(*) FROM results INDEXED BY sqlite_autoindex_results_1", "SELECT COUNT(*) FROM results"):
        try:
            return con.execute(q).fetchone()[0]
        except sqlite3.DatabaseError:
            continue
    return None


def _readable_rows(con, columns: str, probe: int = 1000) -> Iterator[tuple]:
    """Every row of ``results`` that SQLite can still read, by rowid (in chunks, then one by one
    in a chunk that fails), skipping damaged pages.  When the largest rowid cannot be read,
    probing stops ``probe`` rowids after the last row found."""
    try:
        top = con.execute("SELECT MAX(rowid) FROM results").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = None
    start, last_hit, step = 1, 0, 256
    while (start <= top) if top is not None else (start <= last_hit + probe):
        stop = start + step - 1
        try:
            rows = con.execute(f"SELECT rowid, {columns} FROM results WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                               (start, stop)).fetchall()
        except sqlite3.DatabaseError:
            rows = []
            for rowid in range(start, stop + 1):
                try:
                    r = con.execute(f"SELECT rowid, {columns} FROM results WHERE rowid = ?", (rowid,)).fetchone()
                except sqlite3.DatabaseError:
                    continue
                if r is not None:
                    rows.append(r)
        for r in rows:
            last_hit = max(last_hit, r[0])
            yield r[1:]
        start = stop + 1


def _salvage(con, columns: str) -> tuple[list[tuple], int | None]:
    """(intact rows, rows the key index counts) of a possibly damaged ``results`` table."""
    good = []
    for row in _readable_rows(con, columns):
        try:
            _decode(row)
        except _BadRow:
            continue
        good.append(row)
    return good, _count_rows(con)


class Store:
    """A SQLite file of finished sweep tasks.

    >>> store = Store("results.sqlite")                    # doctest: +SKIP
    >>> store.missing(keys); store.put_many(rows); store.get_many(keys)   # doctest: +SKIP

    Within one sweep only the process that runs it writes (workers return results to it); several
    sweeps may share a file (WAL mode; they coordinate through :meth:`claim`).  ``lease``: seconds
    a sweep's claims stay valid without a sign of life (it renews them as it runs); past it,
    another sweep takes them over.
    """

    def __init__(self, path: str | Path, *, lease: float = 300.0):
        self.path = Path(path)
        self.lease = float(lease)
        if not self.lease > 0:
            raise ValueError(f"store: lease must be > 0 seconds, got lease={lease!r}")
        self._invalid: set[str] = set()  # keys of damaged rows seen: replaced when recomputed
        name = str(path)
        if self.path.is_dir():
            raise StoreError(f"store: {name!r} is a directory, not a solvable SQLite store (give a file name)")
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"store: directory {str(self.path.parent)!r} does not exist (store={name!r})")
        if not self.path.exists():
            _create(self.path)
        empty = self.path.is_file() and self.path.stat().st_size == 0
        try:
            self._con = sqlite3.connect(name, timeout=30.0, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"store: cannot open {name!r} ({e})") from None
        try:
            self._setup()
        except StoreError:
            self._con.close()
            raise
        except sqlite3.OperationalError as e:
            self._con.close()
            if "locked" in str(e) or "busy" in str(e):
                raise StoreError(f"store: {name!r} stayed locked by another process for 30 s ({e})") from None
            if "readonly" in str(e):
                raise StoreError(f"store: {name!r} cannot be written ({e}); a store must be a writable file "
                                 f"in a writable directory") from None
            raise StoreError(f"store: {name!r} is not a solvable SQLite store ({e})") from None
        except sqlite3.DatabaseError as e:
            self._con.close()
            raise StoreError(f"store: {name!r} is not a solvable SQLite store ({e})") from None
        if empty:
            warnings.warn(f"store: {name!r} was an empty file (0 bytes); started a new store in it",
                          StoreWarning, stacklevel=2)

    # -- opening ---------------------------------------------------------------------------
    def _inspect(self) -> tuple[str, bool]:
        """("new" | "legacy" | "ours", whether the schema needs an upgrade); StoreError for a
        file that is not (and cannot become) a solvable store."""
        con, name = self._con, str(self.path)
        app = con.execute("PRAGMA application_id").fetchone()[0]
        fmt = con.execute("PRAGMA user_version").fetchone()[0]
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name")]
        if app not in (0, APPLICATION_ID):
            raise StoreError(f"store: {name!r} is another application's SQLite database (application_id "
                             f"{app:#x}, not solvable's {APPLICATION_ID:#x}); refusing to write into it")
        if app == APPLICATION_ID and fmt > FORMAT:
            raise StoreError(f"store: {name!r} has store format {fmt}, newer than this solvable reads "
                             f"({FORMAT}); upgrade solvable to use it")
        cols = []
        if "results" in tables:
            cols = [r[1] for r in con.execute("PRAGMA table_info(results)")]
            missing = [c for c in _COLUMNS if c not in cols]
            if missing:
                raise StoreError(f"store: {name!r} has a 'results' table of another schema (columns: "
                                 f"{', '.join(cols)}; a solvable store has {', '.join(_COLUMNS)}, checksum): "
                                 f"not a solvable store, refusing to write into it")
        if app == 0:
            if not tables:
                return "new", True
            foreign = [t for t in tables if t not in _TABLES]
            if "results" not in tables or foreign:
                hint = (f"; Store.recover({name!r}, 'new.sqlite') copies its solvable rows into a new store"
                        if "results" in tables else "")
                raise StoreError(f"store: {name!r} is another application's SQLite database (tables: "
                                 f"{', '.join(foreign or tables)}), not a solvable store; refusing to write into it"
                                 + hint)
            return "legacy", True
        return "ours", fmt < FORMAT or any(t not in tables for t in _TABLES) or "checksum" not in cols

    def _setup(self) -> None:
        con = self._con
        state, upgrade = self._inspect()
        if upgrade:
            with self._transaction() as cur:
                state, upgrade = self._inspect()  # again, under the write lock (another process may have been first)
                if upgrade:
                    for stmt in _SCHEMA:
                        cur.execute(stmt)
                    if "checksum" not in [r[1] for r in cur.execute("PRAGMA table_info(results)")]:
                        # rows of the first format keep a NULL checksum: unverified, written before checksums
                        cur.execute("ALTER TABLE results ADD COLUMN checksum TEXT")
                    cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    cur.execute(f"PRAGMA user_version = {FORMAT}")
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def _transaction(self):
        cur = self._con.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            try:
                cur.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    @contextmanager
    def _guard(self):
        """SQLite's 'malformed' / 'not a database' as :class:`StoreCorruptError`, with what can be
        recovered (locks and other operational errors pass through)."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if type(e) is not sqlite3.DatabaseError:
                raise
            good, total = _salvage(self._con, _ROW)
            name, dest = str(self.path), str(_recovered_path(self.path))
            of = f" of {total}" if total is not None else ""
            todo = (f"{len(good)}{of} rows are intact and readable: Store.recover({name!r}) copies them into "
                    f"{dest!r}, a new store to use instead" if good else
                    f"none of its{of} rows can be read: move the file away to start a new store")
            raise StoreCorruptError(f"store: {name!r} is damaged ({e}); {todo}") from None

    def _select(self, sql: str, keys: list[str], extra: tuple = ()) -> list[tuple]:
        out = []
        with self._guard():
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i:i + _CHUNK]
                out.extend(self._con.execute(sql.format(qs=",".join("?" * len(chunk))), (*extra, *chunk)).fetchall())
        return out

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._guard():
            return self._con.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def keys(self) -> set[str]:
        with self._guard():
            return {r[0] for r in self._con.execute("SELECT key FROM results")}

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys of ``keys`` not in the store (order kept)."""
        have = self.keys()
        return [k for k in keys if k not in have]

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """``{key: {"values": ..., "version": ..., "params": ..., "kind": ...}}`` for the stored keys.

        A damaged row (its checksum does not match, or its JSON does not parse) is left out, as
        if it were missing, with a :class:`StoreWarning` naming its key; the next
        :meth:`put_many` of that key replaces it."""
        out: dict[str, dict] = {}
        bad: dict[str, str] = {}
        for row in self._select(f"SELECT {_ROW} FROM results WHERE key IN ({{qs}})", list(keys)):
            try:
                out[row[0]] = _decode(row)
            except _BadRow as e:
                bad[row[0]] = str(e)
        new = {k: v for k, v in bad.items() if k not in self._invalid}
        self._invalid.update(bad)
        if new:
            shown = "; ".join(f"{k} ({why})" for k, why in list(new.items())[:5])
            more = f"; and {len(new) - 5} more" if len(new) > 5 else ""
            warnings.warn(f"store {str(self.path)!r}: {len(new)} damaged row(s) treated as missing, to be "
                          f"recomputed: {shown}{more}", StoreWarning, stacklevel=2)
        return out

    def versions(self) -> dict[str, int]:
        """Number of rows by the library version that computed them."""
        with self._guard():
            return dict(self._con.execute("SELECT version, COUNT(*) FROM results GROUP BY version").fetchall())

    def verify(self) -> dict:
        """Check every row: ``{"rows", "verified", "unverified" (no checksum: written before
        checksums), "damaged": {key: what is wrong}}``."""
        out = {"rows": 0, "verified": 0, "unverified": 0, "damaged": {}}
        with self._guard():
            for row in self._con.execute(f"SELECT {_ROW} FROM results"):
                out["rows"] += 1
                try:
                    _decode(row)
                except _BadRow as e:
                    out["damaged"][row[0]] = str(e)
                    continue
                out["verified" if row[-1] is not None else "unverified"] += 1
        return out

    @staticmethod
    def recover(path: str | Path, into: str | Path | None = None) -> int:
        """Copy the intact rows of a damaged store ``path`` into a new store ``into`` (default:
        ``<name>.recovered.sqlite`` beside it) and return how many were copied.

        Rows on damaged pages of the file, and rows whose checksum or JSON is wrong, are left
        behind (they are recomputed by the next sweep that needs them).  ``path`` is only read.
        """
        src = Path(path)
        dest = Path(into) if into is not None else _recovered_path(src)
        if not src.is_file():
            raise StoreError(f"store: {str(src)!r} is not a file")
        if dest.exists():
            raise StoreError(f"store: {str(dest)!r} exists; recover into a new file")
        try:
            con = sqlite3.connect(src.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.Error as e:
            raise StoreError(f"store: cannot open {str(src)!r} ({e})") from None
        try:
            try:
                cols = [r[1] for r in con.execute("PRAGMA table_info(results)")]
            except sqlite3.DatabaseError as e:
                raise StoreError(f"store: nothing can be recovered from {str(src)!r}: its table list is "
                                 f"unreadable ({e})") from None
            if any(c not in cols for c in _COLUMNS):
                raise StoreError(f"store: {str(src)!r} has no solvable 'results' table to recover")
            columns = _ROW if "checksum" in cols else _ROW.replace("checksum", "NULL")
            good, _ = _salvage(con, columns)
        finally:
            con.close()
        with Store(dest) as out, out._transaction() as cur:
            cur.executemany(f"INSERT OR IGNORE INTO results ({_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", good)
        return len(good)

    # -- writing ---------------------------------------------------------------------------
    def put_many(self, rows: Iterable[dict], *, owner: str | None = None) -> int:
        """Insert finished tasks in one transaction; a key already present is left untouched
        (unless its row was found damaged: then it is replaced).  Their claims are dropped.

        Each row: ``key, kind, config (JSON text), params (dict), values (dict), version, elapsed``.
        Returns the number of rows inserted.
        """
        from .. import __version__

        rows = list(rows)
        now = time.time()
        data, keys = [], []
        for r in rows:
            params = json.dumps(to_jsonable(r.get("params", {})), sort_keys=True)
            values = json.dumps(to_jsonable(r["values"]))
            data.append((r["key"], r["kind"], r["config"], params, values, r.get("version", __version__), now,
                         r.get("elapsed"), row_checksum(r["key"], r["kind"], params, values)))
            keys.append(r["key"])
        replace = [d for d in data if d[0] in self._invalid]
        fresh = [d for d in data if d[0] not in self._invalid]
        with self._guard(), self._transaction() as cur:
            before = self._con.total_changes
            cur.executemany(f"INSERT OR IGNORE INTO results ({_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", fresh)
            cur.executemany(f"INSERT OR REPLACE INTO results ({_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", replace)
            n = self._con.total_changes - before
            cur.executemany("DELETE FROM claims WHERE key = ?", [(k,) for k in keys])
            if owner is not None:
                cur.execute("UPDATE owners SET expires = ? WHERE owner = ?", (now + self.lease, owner))
        self._invalid.difference_update(keys)
        return n

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        with self._guard(), self._transaction() as cur:
            cur.executemany("DELETE FROM results WHERE key = ?", [(k,) for k in keys])

    # -- claims (concurrent sweeps) --------------------------------------------------------
    def new_owner(self) -> str:
        """A fresh owner id for :meth:`claim` (``host:pid:random``)."""
        return f"{_host()}:{os.getpid()}:{os.urandom(6).hex()}"

    def _alive(self, cur, owner: str, now: float, host: str) -> bool:
        row = cur.execute("SELECT host, pid, expires FROM owners WHERE owner = ?", (owner,)).fetchone()
        if row is None or row[2] < now:
            return False
        return row[0] != host or _pid_alive(int(row[1]))

    def claim(self, keys: Iterable[str], owner: str) -> tuple[list[str], list[str]]:
        """Claim ``keys`` for ``owner`` (and renew its lease): ``(claimed, busy)``, where ``busy``
        are the keys already stored or claimed by another live owner.  Claims of dead owners (a
        process of this host that is gone, or a lease not renewed in time) are taken over."""
        keys = list(keys)
        now, host = time.time(), _host()
        claimed, busy = [], []
        with self._guard(), self._transaction() as cur:
            cur.execute("INSERT OR REPLACE INTO owners (owner, host, pid, expires) VALUES (?, ?, ?, ?)",
                        (owner, host, os.getpid(), now + self.lease))
            stored = {r[0] for r in self._select("SELECT key FROM results WHERE key IN ({qs})", keys)}
            held = dict(self._select("SELECT key, owner FROM claims WHERE key IN ({qs})", keys))
            others = {o for o in held.values() if o != owner}
            dead = {o for o in others if not self._alive(cur, o, now, host)}
            for o in dead:
                cur.execute("DELETE FROM claims WHERE owner = ?", (o,))
                cur.execute("DELETE FROM owners WHERE owner = ?", (o,))
            for k in keys:
                live_other = k in held and held[k] != owner and held[k] not in dead
                if live_other or (k in stored and k not in self._invalid):
                    busy.append(k)
                else:
                    claimed.append(k)
            cur.executemany("INSERT OR REPLACE INTO claims (key, owner) VALUES (?, ?)", [(k, owner) for k in claimed])
        return claimed, busy

    def heartbeat(self, owner: str) -> None:
        """Renew ``owner``'s lease."""
        with self._guard(), self._transaction() as cur:
            cur.execute("UPDATE owners SET expires = ? WHERE owner = ?", (time.time() + self.lease, owner))

    def release(self, owner: str) -> None:
        """Drop ``owner`` and its claims (the keys it did not store become free)."""
        with self._guard(), self._transaction() as cur:
            cur.execute("DELETE FROM claims WHERE owner = ?", (owner,))
            cur.execute("DELETE FROM owners WHERE owner = ?", (owner,))

    def close(self) -> None:
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Store({str(self.path)!r}, rows={len(self)})"

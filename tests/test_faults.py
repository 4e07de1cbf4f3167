"""Faults at the edges: damaged and foreign store files, concurrent and killed sweeps on one
store, and user mistakes on the command line (exit 2, one line, no traceback).

The sweeps are a few points of ridge-regression theory (GLM, ERM with the square loss), a few
milliseconds each; where two sweeps must overlap, each task is slowed down by a few ms."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import solvable as sv
from solvable.cli import main
from solvable.core import registry
from solvable.experiments.store import (
    APPLICATION_ID, FORMAT, Store, StoreCorruptError, StoreError, StoreWarning, row_checksum,
)
from solvable.experiments.sweep import OptionError, SweepError, SweepInputError

sweep_mod = sys.modules["solvable.experiments.sweep"]  # (solvable.experiments.sweep is the function)

PROBLEM = sv.GLM(prior=sv.priors.Gaussian(), channel=sv.channels.Linear(noise=0.1), alpha=1.0)
LEARNER = sv.ERM(loss="square", penalty=sv.penalties.L2(0.1))
OVER = {"alpha": np.linspace(0.5, 2.0, 6), "penalty.lam": [0.1, 1.0]}
N_TASKS = 12

RIDGE_SPEC = """\
problem: {type: GLM, prior: Gaussian, channel: {type: Linear, noise: 0.1}, alpha: 1.0}
learner: {type: ERM, loss: square, penalty: {type: L2, lam: 0.1}}
over:
  alpha: [0.5, 1.0, 2.0]
"""


def ridge(store=None, over=OVER, **kw):
    """The cheap sweep of these tests: one task per point (no vectorisation), in-process."""
    return sv.sweep(PROBLEM, LEARNER, over, store=store, progress=False, executor="serial", vectorize=None, **kw)


@pytest.fixture(scope="module")
def fresh():
    """The table of the sweep, computed without a store."""
    return ridge()


@pytest.fixture
def db(tmp_path):
    """A store holding the finished sweep."""
    path = tmp_path / "runs.sqlite"
    assert ridge(path).attrs["computed"] == N_TASKS
    return path


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as con:
        return con.execute('SELECT key, kind, params, "values", checksum FROM results ORDER BY rowid').fetchall()


def slow_tasks(monkeypatch, delay=0.01, counter=None):
    """Slow every sweep task down (so that concurrent sweeps overlap) and count the points computed."""
    run = sweep_mod._run_task

    def slowed(task):
        time.sleep(delay)
        if counter is not None:
            with counter["lock"]:
                counter["n"] += len(task.points) if hasattr(task, "points") else 1
        return run(task)

    monkeypatch.setattr(sweep_mod, "_run_task", slowed)


# --------------------------------------------------------------------------------------------
# files that are not stores
# --------------------------------------------------------------------------------------------
def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[:50])


def _garbage_header(path):
    data = bytearray(path.read_bytes())
    data[:100] = np.random.default_rng(0).bytes(100)
    path.write_bytes(bytes(data))


def _text(path):
    path.write_text("alpha,test_error\n0.5,0.3\n")


@pytest.mark.parametrize("damage", [_truncated, _garbage_header, _text])
def test_files_that_are_not_stores_are_refused_and_left_alone(db, damage):
    for p in db.parent.glob(db.name + "-*"):  # no WAL / shm left over: the file is all there is
        p.unlink()
    damage(db)
    before = db.read_bytes()
    with pytest.raises(StoreError, match=rf"store: '{db}' is not a solvable SQLite store \("):
        ridge(db)
    assert db.read_bytes() == before


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match=rf"'{tmp_path}' is a directory, not a solvable SQLite store"):
        ridge(tmp_path)


def test_empty_file_is_a_new_store_said_once(tmp_path, fresh):
    path = tmp_path / "empty.sqlite"
    path.touch()
    with pytest.warns(StoreWarning) as rec:
        table = ridge(path)
    msgs = [str(w.message) for w in rec if issubclass(w.category, StoreWarning)]
    assert msgs == [f"store: '{path}' was an empty file (0 bytes); started a new store in it"]
    pd.testing.assert_frame_equal(table, fresh)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ridge(path).attrs["cached"] == N_TASKS


def test_another_applications_database_is_refused_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO users (name) VALUES ('ada')")
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=rf"store: '{path}' is another application's SQLite database "
                                         r"\(tables: users\), not a solvable store; refusing to write into it"):
        ridge(path)
    assert path.read_bytes() == before
    # an application that marks its files (PRAGMA application_id), even with no table yet
    marked = tmp_path / "marked.db"
    with sqlite3.connect(marked) as con:
        con.execute("PRAGMA application_id = 42")
    con.close()
    with pytest.raises(StoreError, match=r"another application's SQLite database \(application_id 0x2a"):
        Store(marked)


def test_a_results_table_of_another_schema_is_named(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, score REAL)")
    con.close()
    with pytest.raises(StoreError, match=rf"store: '{path}' has a 'results' table of another schema "
                                         r"\(columns: id, score; a solvable store has key, kind, config"):
        ridge(path)


def test_a_newer_store_format_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA user_version = {FORMAT + 1}")
    con.close()
    with pytest.raises(StoreError, match=f"store format {FORMAT + 1}, newer than this solvable reads"):
        Store(path)


# --------------------------------------------------------------------------------------------
# stores written before the marker and the checksums
# --------------------------------------------------------------------------------------------
OLD_SCHEMA = """CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL,
    params TEXT NOT NULL, "values" TEXT NOT NULL, version TEXT NOT NULL, created REAL NOT NULL, elapsed REAL)"""


def _as_old_store(path, dest):
    """``dest``: the rows of store ``path`` in the first format (no marker, no checksum column)."""
    with sqlite3.connect(dest) as new, sqlite3.connect(path) as old:
        new.execute("PRAGMA journal_mode=WAL")
        new.execute(OLD_SCHEMA)
        cols = 'key, kind, config, params, "values", version, created, elapsed'
        new.executemany(f"INSERT INTO results ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        old.execute(f"SELECT {cols} FROM results").fetchall())
    new.close()
    old.close()


def test_old_stores_open_and_are_upgraded(db, tmp_path, fresh):
    old = tmp_path / "old.sqlite"
    _as_old_store(db, old)
    with sqlite3.connect(old) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0
    con.close()
    table = ridge(old, over=dict(OVER, alpha=np.append(OVER["alpha"], 3.0)))
    assert table.attrs["cached"] == N_TASKS and table.attrs["computed"] == 2
    pd.testing.assert_frame_equal(table[table.alpha != 3.0].reset_index(drop=True), fresh)
    with sqlite3.connect(old) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert con.execute("PRAGMA user_version").fetchone()[0] == FORMAT
        n_null, n_sum = con.execute("SELECT SUM(checksum IS NULL), SUM(checksum IS NOT NULL) FROM results").fetchone()
    con.close()
    assert (n_null, n_sum) == (N_TASKS, 2)  # old rows unverified, new rows checksummed
    with Store(old) as st:
        report = st.verify()
    assert report == {"rows": N_TASKS + 2, "verified": 2, "unverified": N_TASKS, "damaged": {}}


# --------------------------------------------------------------------------------------------
# damaged rows and damaged files
# --------------------------------------------------------------------------------------------
def test_invalid_json_rows_are_named_and_recomputed(db, fresh):
    (k1, kind, params, values, _), (k2, *_), *_ = rows(db)
    bad = values[: len(values) // 2]  # a row cut short, with a checksum of what was written
    with sqlite3.connect(db) as con:
        con.execute('UPDATE results SET "values" = ?, checksum = ? WHERE key = ?',
                    (bad, row_checksum(k1, kind, params, bad), k1))
        con.execute('UPDATE results SET "values" = ?, checksum = NULL WHERE key = ?', ("[1, 2", k2))
    con.close()
    with pytest.warns(StoreWarning, match=r"2 damaged row\(s\) treated as missing, to be recomputed: ") as rec:
        table = ridge(db)
    msg = str(rec[0].message)
    assert f"{k1} (invalid JSON: " in msg and f"{k2} (invalid JSON: " in msg
    assert table.attrs["computed"] == 2 and table.attrs["cached"] == N_TASKS - 2
    pd.testing.assert_frame_equal(table, fresh)
    with Store(db) as st:  # the damaged rows were replaced
        assert st.verify()["damaged"] == {} and len(st) == N_TASKS


def test_plausible_but_wrong_numbers_fail_the_checksum(db, fresh):
    key, _, _, values, checksum = rows(db)[3]
    assert checksum is not None
    edited = values.replace('"m": 0.', '"m": 0.0', 1)
    assert edited != values
    with sqlite3.connect(db) as con:
        con.execute('UPDATE results SET "values" = ? WHERE key = ?', (edited, key))
    con.close()
    with Store(db) as st:
        assert st.verify()["damaged"] == {key: "checksum mismatch: the row was changed after it was written"}
    with pytest.warns(StoreWarning, match=f"1 damaged row.*{key} \\(checksum mismatch"):
        table = ridge(db)
    assert table.attrs["computed"] == 1
    pd.testing.assert_frame_equal(table, fresh)
    assert {r[0]: r[3] for r in rows(db)}[key] == values  # the row was replaced


def _damaged_copies(path, tmp_path):
    """Copies of store ``path`` with one page (of 4096 bytes) overwritten by garbage, one per page."""
    data = path.read_bytes()
    rng = np.random.default_rng(1)
    for page in range(1, len(data) // 4096):
        copy = tmp_path / f"damaged{page}.sqlite"
        buf = bytearray(data)
        buf[page * 4096:(page + 1) * 4096] = rng.bytes(4096)
        copy.write_bytes(bytes(buf))
        yield copy


def test_garbage_mid_file_says_what_can_be_recovered(tmp_path, fresh, capsys):
    over = {"alpha": np.linspace(0.5, 2.0, 20), "penalty.lam": [0.1, 1.0]}
    path = tmp_path / "big.sqlite"
    full = ridge(path, over=over)
    total = len(full)
    seen = []
    for copy in _damaged_copies(path, tmp_path):
        try:
            ridge(copy, over=over)
        except StoreCorruptError as e:
            seen.append((copy, str(e)))
    # a damaged leaf page of the table: some rows lost, the others readable
    readable = [(c, m, int(m.split("; ")[1].split(" of ")[0])) for c, m in seen if f" of {total} rows are intact" in m]
    partial = [r for r in readable if 0 < r[2] < total]
    assert partial, [m for _, m in seen]
    copy, msg, n_ok = partial[0]
    assert msg == (f"store: '{copy}' is damaged (database disk image is malformed); {n_ok} of {total} rows are "
                   f"intact and readable: Store.recover('{copy}') copies them into "
                   f"'{copy.with_name(copy.stem + '.recovered.sqlite')}', a new store to use instead")
    assert Store.recover(copy) == n_ok
    with pytest.raises(StoreError, match="exists; recover into a new file"):
        Store.recover(copy)
    table = ridge(copy.with_name(copy.stem + ".recovered.sqlite"), over=over)
    assert table.attrs["cached"] == n_ok and table.attrs["computed"] == total - n_ok
    pd.testing.assert_frame_equal(table, full)
    # the command line: exit 2, one line
    spec = tmp_path / "s.yaml"
    spec.write_text(RIDGE_SPEC)
    code, err = _cli(capsys, "sweep", str(spec), "--store", str(copy))
    assert code == 2 and f"'{copy}' is damaged" in err and "Store.recover(" in err


# --------------------------------------------------------------------------------------------
# concurrent sweeps on one store
# --------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("error::solvable.experiments.store.StoreWarning")  # no 'empty file' from a race
def test_two_concurrent_sweeps_share_the_work(tmp_path, monkeypatch, fresh):
    path = tmp_path / "shared.sqlite"
    counter = {"n": 0, "lock": threading.Lock()}
    slow_tasks(monkeypatch, 0.02, counter)
    barrier = threading.Barrier(2)
    out, errors = [None, None], []

    def run(i):
        try:
            barrier.wait()
            out[i] = ridge(path)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for table in out:
        pd.testing.assert_frame_equal(table, fresh)
        assert table.attrs["computed"] + table.attrs["cached"] == N_TASKS
    assert counter["n"] == out[0].attrs["computed"] + out[1].attrs["computed"]
    assert N_TASKS <= counter["n"] < 2 * N_TASKS
    assert min(t.attrs["computed"] for t in out) > 0  # both worked
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM results").fetchone() == (N_TASKS, N_TASKS)
        assert con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM owners").fetchone()[0] == 0
    con.close()


def _child_sweep(path, start, conn):
    start.wait()
    table = ridge(path)
    conn.send((table.attrs["computed"], table.to_json()))
    conn.close()


def test_two_concurrent_processes_share_the_work(tmp_path, monkeypatch, fresh):
    path = tmp_path / "procs.sqlite"
    slow_tasks(monkeypatch, 0.02)  # inherited by the forked children
    ctx = mp.get_context("fork")
    start = ctx.Event()
    pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
    procs = [ctx.Process(target=_child_sweep, args=(path, start, w)) for _, w in pipes]
    for p in procs:
        p.start()
    start.set()
    got = [r.recv() for r, _ in pipes]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    computed = [c for c, _ in got]
    assert N_TASKS <= sum(computed) < 2 * N_TASKS, computed
    tables = [pd.read_json(__import__("io").StringIO(j)) for _, j in got]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert ridge(path).attrs["cached"] == N_TASKS
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM results").fetchone() == (N_TASKS, N_TASKS)
    con.close()


def _claim_all(path, owner, host=None, pid=None, expires=None):
    keys = [r[0] for r in rows(path)]
    with sqlite3.connect(path) as con:
        con.execute("DELETE FROM results")
        con.execute("INSERT INTO owners VALUES (?, ?, ?, ?)",
                    (owner, host or __import__("socket").gethostname(), pid or os.getpid(), expires))
        con.executemany("INSERT INTO claims VALUES (?, ?)", [(k, owner) for k in keys])
    con.close()
    return keys


def test_claims_of_a_dead_process_are_taken_over_at_once(db, fresh):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _claim_all(db, "elsewhere:dead", pid=int(dead.stdout), expires=time.time() + 3600)
    t0 = time.perf_counter()
    table = ridge(db)
    assert time.perf_counter() - t0 < 5 and table.attrs["computed"] == N_TASKS
    pd.testing.assert_frame_equal(table, fresh)


def test_claims_of_an_expired_lease_are_taken_over(db, fresh):
    _claim_all(db, "live:expired", expires=time.time() - 1)  # this (live) process, lease run out
    t0 = time.perf_counter()
    table = ridge(db)
    assert time.perf_counter() - t0 < 5 and table.attrs["computed"] == N_TASKS


def test_a_live_claim_is_waited_for_then_taken_over(db, fresh):
    _claim_all(db, "live:slow", expires=time.time() + 0.4)
    t0 = time.perf_counter()
    table = ridge(db)
    assert time.perf_counter() - t0 >= 0.35 and table.attrs["computed"] == N_TASKS
    pd.testing.assert_frame_equal(table, fresh)


def test_what_a_live_claimant_stores_is_read_not_recomputed(db, fresh):
    with Store(db) as st:
        done = st.get_many(st.keys())
    stored = {r[0]: r for r in rows(db)}
    keys = _claim_all(db, "live:working", expires=time.time() + 60)
    mine = keys[:4]

    def finish():  # the claimant stores its rows, then goes away leaving 8 keys unfinished
        time.sleep(0.2)
        with Store(db) as st:
            st.put_many([dict(key=k, kind="theory", config="{}", params=done[k]["params"], values=done[k]["values"])
                         for k in mine])
            st.release("live:working")

    t = threading.Thread(target=finish)
    t.start()
    table = ridge(db)
    t.join()
    assert table.attrs["cached"] == 4 and table.attrs["computed"] == N_TASKS - 4
    pd.testing.assert_frame_equal(table, fresh)
    assert set(stored) == {r[0] for r in rows(db)}


def _killable_sweep(path):
    ridge(path)


@pytest.mark.parametrize("trial", range(3))
def test_sweep_killed_at_a_random_point_resumes_without_waiting(tmp_path, monkeypatch, fresh, trial):
    path = tmp_path / "killed.sqlite"
    slow_tasks(monkeypatch, 0.03)
    delay = np.random.default_rng(trial).uniform(0.0, 0.3)
    proc = mp.get_context("fork").Process(target=_killable_sweep, args=(path,))
    proc.start()
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    monkeypatch.undo()
    before = len(rows(path)) if path.exists() else 0
    t0 = time.perf_counter()
    table = ridge(path)  # the dead sweep's claims are taken over at once (lease: 300 s)
    assert time.perf_counter() - t0 < 5
    assert table.attrs["cached"] == before and table.attrs["computed"] == N_TASKS - before
    pd.testing.assert_frame_equal(table, fresh)
    with Store(path) as st:
        assert st.verify() == {"rows": N_TASKS, "verified": N_TASKS, "unverified": 0, "damaged": {}}


# --------------------------------------------------------------------------------------------
# grid size, options, values the engines refuse (library)
# --------------------------------------------------------------------------------------------
def test_grid_too_big_is_refused_before_it_is_built():
    with pytest.raises(ValueError, match=r"over: the grid has 2,000 points \(alpha: 2,000\), more than max_points=1,000"):
        ridge(over={"alpha": np.linspace(0.5, 2, 2000)}, max_points=1000)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"the sweep has 6,000,000,000 simulation tasks \(6 points x 1 d x "
                                         r"1,000,000,000 seeds\), more than max_points=1,000,000"):
        ridge(over={"alpha": OVER["alpha"]}, simulate={"d": 10, "seeds": 10**9})
    assert time.perf_counter() - t0 < 1  # no list of a billion seeds
    assert len(ridge(over={"alpha": np.linspace(0.5, 2, 30)}, max_points=None)) == 30


def test_unknown_options_are_refused_before_computing(monkeypatch):
    def never(task):
        raise AssertionError("a task ran")

    monkeypatch.setattr(sweep_mod, "_run_task", never)
    with pytest.raises(OptionError, match=r"theory_options: theory\(GLM, ERM\): unknown option 'bogus'; valid options: "):
        ridge(theory_options={"bogus": 1})
    with pytest.raises(OptionError, match=r"simulate: simulation\(GLM, ERM\): unknown option 'tol'"):
        ridge(simulate={"d": 10, "seeds": 1, "tol": 1e-3}, theory=False)


def test_spiked_matrix_theory_rejects_unknown_options():
    """Spiked-matrix engines used to ignore unknown theory options; the registry checks them now."""
    problem = sv.SpikedWigner(sv.priors.Rademacher(), snr=2.0)
    for learner in (sv.Spectral(), sv.BayesOptimal()):
        with pytest.raises(TypeError, match=r"unknown option 'bogus'"):
            sv.predict(problem, learner, bogus=1)
        with pytest.raises(OptionError, match=rf"theory_options: theory\(SpikedWigner, {type(learner).__name__}\): "
                                              r"unknown option 'bogus'"):
            sv.sweep(problem, learner, {"snr": [1.0, 2.0]}, theory_options={"bogus": 1}, progress=False)


def test_values_an_engine_refuses_are_input_errors():
    problem = sv.GLM(prior=sv.priors.Gaussian(), channel=sv.channels.Sign(), alpha=0.5)
    learner = sv.ERM(loss="logistic", penalty=sv.penalties.L2(0.0))
    with pytest.raises(SweepInputError, match="linearly separable") as e:
        sv.sweep(problem, learner, progress=False, executor="serial")
    assert isinstance(e.value, ValueError) and isinstance(e.value, SweepError)


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------
def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, err


def _one_line_error(code, err, *parts):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("solvable: error: "), err
    for p in parts:
        assert p in lines[0], (p, lines[0])


SEP = "problem: {type: GLM, prior: Gaussian, channel: Sign, alpha: 0.5}\nlearner: {type: ERM, loss: logistic, " \
      "penalty: {type: L2, lam: 0.0}}\n"


@pytest.mark.parametrize("text, parts", [
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\n"
     "over: {alpha: {linspace: [0.1, 1, 100000000]}}\n", ["over: the grid has 100,000,000 points", "max_points"]),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\n"
     "over: {alpha: {linspace: [0.1, 1, 10000]}, penalty.lam: {geomspace: [0.1, 1, 10000]}}\n",
     ["the grid has 100,000,000 points (alpha: 10,000 x penalty.lam: 10,000)"]),
    (RIDGE_SPEC + "max_points: 2\n", ["the grid has 3 points (alpha: 3), more than max_points=2"]),
    (RIDGE_SPEC + "simulate: {d: 10, seeds: 400000}\n", ["simulate: the sweep has 1,200,000 simulation tasks"]),
    (RIDGE_SPEC + "theory_options: {bogus: 1}\n", ["theory_options: theory(GLM, ERM): unknown option 'bogus'"]),
    (RIDGE_SPEC + "simulate: {d: 10, seeds: 1, bogus: 2}\n", ["simulate: simulation(GLM, ERM): unknown option 'bogus'"]),
    ("problem: {type: SpikedWigner, prior: Rademacher, snr: 2.0}\nlearner: {type: Spectral}\n"
     "theory_options: {bogus: 1}\n", ["theory(SpikedWigner, Spectral): unknown option 'bogus'"]),
    (SEP, ["theory failed at the base point: ValueError: ", "linearly separable"]),
    (SEP + "theory: false\nsimulate: {d: 20, seeds: 1}\n", ["simulation failed at d=20, seed=0: ", "linearly separable"]),
    (RIDGE_SPEC + "over:\n  alpha: [3.0]\n", ["invalid spec", "over: duplicate key in ", "(line 3, column 1 and line 5"]),
    ("problem: {type: GLM, prior: Gaussian, prior: Rademacher, channel: Sign}\nlearner: {type: ERM}\n",
     ["prior: duplicate key in "]),
])
def test_spec_mistakes_exit_2_with_one_line(capsys, tmp_path, text, parts):
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    t0 = time.perf_counter()
    code, err = _cli(capsys, "sweep", str(spec), "--executor", "serial", "--no-progress")
    _one_line_error(code, err, *parts)
    assert time.perf_counter() - t0 < 10


def test_max_points_flag_overrides_the_spec(capsys, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(RIDGE_SPEC + "max_points: 2\n")
    code, err = _cli(capsys, "sweep", str(spec), "--max-points", "3", "--executor", "serial")
    assert code == 0, err
    _one_line_error(*_cli(capsys, "sweep", str(spec), "--max-points", "0"), "--max-points must be >= 1")


def test_file_mistakes_exit_2_with_one_line(capsys, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(RIDGE_SPEC)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    _one_line_error(*_cli(capsys, "sweep", str(binary)), f"'{binary}' is not a text (UTF-8) file")
    _one_line_error(*_cli(capsys, "sweep", str(tmp_path)), f"'{tmp_path}' is a directory, not a spec file")
    afile = tmp_path / "out.txt"
    afile.write_text("keep me")
    _one_line_error(*_cli(capsys, "sweep", str(spec), "--out", str(afile)), f"--out '{afile}' exists and is not a directory")
    assert afile.read_text() == "keep me"
    _one_line_error(*_cli(capsys, "sweep", str(spec), "--store", str(tmp_path)), f"'{tmp_path}' is a directory")
    app = tmp_path / "app.db"
    with sqlite3.connect(app) as con:
        con.execute("CREATE TABLE users (id INTEGER)")
    con.close()
    _one_line_error(*_cli(capsys, "sweep", str(spec), "--store", str(app)), f"store: '{app}' is another application's")
    _one_line_error(*_cli(capsys, "sweep", str(spec), "--store", str(binary)),
                    f"store: '{binary}' is not a solvable SQLite store")


def test_internal_errors_still_exit_1(capsys, tmp_path, monkeypatch):
    """A ValueError that numpy raises inside an engine (a bug, not a bad value) is a failure."""
    def buggy(problem, learner, **opts):
        return np.ones(2) + np.ones(3)

    pair = (sv.GLM, sv.Spectral)
    monkeypatch.setitem(registry._THEORY, pair, registry._Engine(buggy, "theory", pair))
    spec = tmp_path / "b.yaml"
    spec.write_text("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: Spectral}\n")
    code, err = _cli(capsys, "sweep", str(spec), "--executor", "serial")
    assert code == 1 and "theory failed at the base point: ValueError: operands could not be broadcast" in err
    assert "Traceback" not in err

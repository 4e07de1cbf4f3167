"""Tests of the experiments layer (sweep, store, executors, plots) on a toy (problem, learner)
pair registered here, so that they do not depend on any theory family."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import solvable as sv
from solvable.experiments import Store, SweepError, aggregate_table, config_key, replace_path
from solvable.blocks.learners import Learner
from solvable.core.registry import register_simulation, register_theory

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# a toy pair: theory test_error = scale * noise / (alpha + lam), simulation = that + N(0, 1/d)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyInner:
    scale: float = 1.0

    def __post_init__(self):
        if self.scale <= 0:
            raise ValueError(f"ToyInner: scale must be > 0, got scale={self.scale!r}")


@dataclass(frozen=True, eq=False)
class ToyProblem:
    alpha: Any = 1.0
    noise: float = 0.5
    inner: ToyInner = field(default_factory=ToyInner)

    def __post_init__(self):
        object.__setattr__(self, "alpha", np.asarray(self.alpha, float) if np.ndim(self.alpha) else float(self.alpha))


@dataclass(frozen=True)
class ToyLearner(Learner):
    lam: float = 0.0


@dataclass(frozen=True)
class ScalarOnlyLearner(Learner):
    """Its theory rejects array alpha (forces the per-point fallback)."""
    lam: float = 0.0


CALLS = {"theory": 0, "theory_points": 0}


def toy_error(alpha, noise, scale, lam):
    return scale * noise / (np.asarray(alpha) + lam)


@register_theory(ToyProblem, ToyLearner)
def _toy_theory(problem, learner, **opts):
    CALLS["theory"] += 1
    CALLS["theory_points"] += np.size(problem.alpha)
    e = toy_error(problem.alpha, problem.noise, problem.inner.scale, learner.lam)
    return sv.Prediction({"m": np.asarray(problem.alpha) / (1 + np.asarray(problem.alpha)), "test_error": e,
                          "rho": 1.0}, problem=problem, learner=learner)


@register_theory(ToyProblem, ScalarOnlyLearner)
def _toy_theory_scalar(problem, learner, **opts):
    if np.ndim(problem.alpha):
        raise ValueError("alpha must be a scalar")
    return _toy_theory(problem, ToyLearner(learner.lam))


def _toy_sim(problem, learner, *, d, rng, fail_at=None):
    delay = float(os.environ.get("SOLVABLE_TOY_DELAY", "0"))
    if delay:
        time.sleep(delay)
    if fail_at is not None and problem.alpha == fail_at:
        raise RuntimeError("toy failure")
    e = toy_error(problem.alpha, problem.noise, problem.inner.scale, learner.lam)
    return {"test_error": e + rng.normal() / np.sqrt(d), "m": problem.alpha / (1 + problem.alpha),
            "t": np.array([0.0, 1.0, 2.0]), "trajectory": rng.normal(size=3)}


register_simulation(ToyProblem, ToyLearner)(_toy_sim)
register_simulation(ToyProblem, ScalarOnlyLearner)(_toy_sim)

ALPHAS = np.array([0.5, 1.0, 2.0, 4.0])


# --------------------------------------------------------------------------------------------
# grid and paths
# --------------------------------------------------------------------------------------------
def test_replace_path_nested_and_learner_fields():
    p, l = replace_path(ToyProblem(), ToyLearner(), "inner.scale", 3.0)
    assert p.inner.scale == 3.0 and l == ToyLearner()
    p, l = replace_path(ToyProblem(), ToyLearner(), "lam", 0.2)
    assert l.lam == 0.2
    with pytest.raises(ValueError, match="inner.scale.*must be > 0"):
        sv.sweep(ToyProblem(), ToyLearner(), over={"inner.scale": [1.0, -1.0]}, progress=False)
    with pytest.raises(ValueError, match="'nope' is not a field of the problem .*noise.*learner"):
        sv.sweep(ToyProblem(), ToyLearner(), over={"nope": [1.0]}, progress=False)
    with pytest.raises(ValueError, match="has no field 'bad'"):
        sv.sweep(ToyProblem(), ToyLearner(), over={"inner.bad": [1.0]}, progress=False)


def test_sweep_theory_table_and_vectorisation():
    CALLS.update(theory=0, theory_points=0)
    t = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS, "lam": [0.0, 0.5]}, progress=False,
                 executor="serial")
    assert list(t.columns[:3]) == ["kind", "alpha", "lam"]
    assert len(t) == 8 and set(t["kind"]) == {"theory"}
    expected = toy_error(t["alpha"], 0.5, 1.0, t["lam"])
    np.testing.assert_allclose(t["test_error"], expected, rtol=0, atol=0)
    assert t["converged"].all()
    # one curve call per value of lam (the alpha axis is vectorised), 8 points in all
    assert CALLS == {"theory": 2, "theory_points": 8}
    # grid order: the last axis varies fastest
    assert list(t["lam"][:2]) == [0.0, 0.5] and list(t["alpha"][:2]) == [0.5, 0.5]


def test_per_point_fallback_equals_vectorised():
    a = sv.sweep(ToyProblem(), ScalarOnlyLearner(), over={"alpha": ALPHAS}, progress=False, executor="serial")
    b = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS}, progress=False, executor="serial")
    CALLS.update(theory=0, theory_points=0)
    c = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS}, progress=False, executor="serial",
                 vectorize=None)
    assert CALLS == {"theory": 4, "theory_points": 4}
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(b, c)


def test_simulation_rows_match_simulate_and_aggregate():
    t = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS[:2]}, simulate={"d": 50, "seeds": 3},
                 progress=False, executor="serial")
    sims = t[t.kind == "simulation"]
    assert len(sims) == 6 and list(sims["seed"]) == [0, 1, 2, 0, 1, 2] and set(sims["d"]) == {50}
    assert "trajectory" not in t.columns  # array fields stay out of the table
    ref = sv.simulate(ToyProblem(alpha=1.0), ToyLearner(), d=50, seeds=3)
    got = sims[sims.alpha == 1.0]
    np.testing.assert_array_equal(got["test_error"].to_numpy(), ref.samples["test_error"].to_numpy())
    agg = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS[:2]}, simulate={"d": 50, "seeds": 3},
                   progress=False, executor="serial", aggregate=True)
    row = agg[(agg.kind == "simulation") & (agg.alpha == 1.0)].iloc[0]
    assert row["n_seeds"] == 3
    assert row["test_error"] == pytest.approx(ref.test_error, abs=1e-15)
    assert row["test_error_se"] == pytest.approx(ref.se("test_error"), abs=1e-15)
    pd.testing.assert_frame_equal(aggregate_table(t), agg)


def test_explode_learning_curves():
    kw = dict(over={"alpha": [1.0, 2.0]}, simulate={"d": 20, "seeds": 2}, theory=False, progress=False,
              executor="serial")
    t = sv.sweep(ToyProblem(), ToyLearner(), explode="t", **kw)
    assert len(t) == 2 * 2 * 3 and list(t["t"][:3]) == [0.0, 1.0, 2.0]
    ref = sv.simulate(ToyProblem(alpha=2.0), ToyLearner(), d=20, seeds=[1]).runs[0]
    got = t[(t.alpha == 2.0) & (t.seed == 1)]
    np.testing.assert_array_equal(got["trajectory"], ref["trajectory"])
    assert (got["test_error"] == ref["test_error"]).all()          # scalars repeated along t
    agg = sv.sweep(ToyProblem(), ToyLearner(), explode="t", aggregate=True, **kw)
    assert len(agg) == 2 * 3 and set(agg["n_seeds"]) == {2} and "trajectory_se" in agg.columns
    with pytest.raises(SweepError, match="no 1D array field 'time'"):
        sv.sweep(ToyProblem(), ToyLearner(), explode="time", **kw)


def test_learner_axis_with_labels_and_finite_size_list():
    t = sv.sweep(ToyProblem(), ToyLearner(), over={"learner": {"plain": ToyLearner(), "ridge": ToyLearner(1.0)},
                                                  "alpha": [1.0]},
                 simulate={"d": [20, 40], "seeds": 2}, progress=False, executor="serial")
    assert set(t["learner"]) == {"plain", "ridge"}
    assert sorted(set(t["d"].dropna())) == [20, 40]
    th = t[t.kind == "theory"].set_index("learner")["test_error"]
    assert th["plain"] == pytest.approx(0.5) and th["ridge"] == pytest.approx(0.25)


def test_bad_inputs():
    with pytest.raises(ValueError, match="simulate: missing key 'd'"):
        sv.sweep(ToyProblem(), ToyLearner(), simulate={"seeds": 2})
    with pytest.raises(ValueError, match="d must be an integer >= 2"):
        sv.sweep(ToyProblem(), ToyLearner(), simulate={"d": 1.5})
    with pytest.raises(ValueError, match="executor must be"):
        sv.sweep(ToyProblem(), ToyLearner(), executor="gpu", progress=False)
    with pytest.raises(sv.UnsupportedPairError, match="ToyProblem, AMP"):
        sv.sweep(ToyProblem(), sv.AMP(), over={"alpha": [1.0]})
    with pytest.raises(SweepError, match="simulation failed at alpha=2.0, d=10, seed=0: RuntimeError: toy failure"):
        sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": [1.0, 2.0]}, simulate={"d": 10, "seeds": 1, "fail_at": 2.0},
                 progress=False, executor="serial")


# --------------------------------------------------------------------------------------------
# store
# --------------------------------------------------------------------------------------------
def test_config_key_is_stable_and_discriminating():
    cfg = lambda **kw: {"kind": "simulation", "problem": sv.experiments.canonical(ToyProblem(**kw)), "d": 10, "seed": 0}
    k = config_key(cfg())
    assert k == config_key(cfg()) and len(k) == 64
    assert k != config_key(cfg(noise=0.6)) and k != config_key(cfg(inner=ToyInner(2.0)))
    assert config_key(cfg(alpha=1)) == config_key(cfg(alpha=1.0))


def test_store_resumes_and_reuses(tmp_path):
    db = tmp_path / "s.sqlite"
    kw = dict(over={"alpha": ALPHAS}, simulate={"d": 30, "seeds": 2}, progress=False, executor="serial")
    a = sv.sweep(ToyProblem(), ToyLearner(), store=db, **kw)
    assert a.attrs["computed"] == 4 + 8 and a.attrs["cached"] == 0
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM results").fetchone() == (12, 12)
        assert {r[0] for r in con.execute("SELECT version FROM results")} == {sv.__version__}
    b = sv.sweep(ToyProblem(), ToyLearner(), store=db, **kw)
    assert b.attrs["computed"] == 0 and b.attrs["cached"] == 12
    pd.testing.assert_frame_equal(a, b)
    # a bigger grid computes only the new points
    c = sv.sweep(ToyProblem(), ToyLearner(), store=db, **dict(kw, over={"alpha": np.append(ALPHAS, 8.0)}))
    assert c.attrs["computed"] == 1 + 2 and c.attrs["cached"] == 12
    assert len(Store(db)) == 15


def test_load_a_stored_sweep(tmp_path):
    """sv.load reads a finished sweep back as the table the sweep returned (same rows, same values), with the
    version that computed each row; aggregate=True is the sweep's aggregated table; no store is a clear error."""
    db = tmp_path / "l.sqlite"
    kw = dict(over={"alpha": ALPHAS}, simulate={"d": 30, "seeds": 2}, progress=False, executor="serial")
    a = sv.sweep(ToyProblem(), ToyLearner(), store=db, **kw)
    got = sv.load(db)
    assert set(got["version"]) == {sv.__version__} and got.attrs["grid"] == ["alpha"]
    key = ["kind", "alpha", "d", "seed"]
    pd.testing.assert_frame_equal(
        got.drop(columns="version").sort_values(key).reset_index(drop=True),
        a.sort_values(key).reset_index(drop=True), check_like=True)
    agg = sv.load(db, aggregate=True)
    b = sv.sweep(ToyProblem(), ToyLearner(), store=db, aggregate=True, **kw)
    pd.testing.assert_frame_equal(agg.sort_values(["kind", "alpha"]).reset_index(drop=True),
                                  b.sort_values(["kind", "alpha"]).reset_index(drop=True), check_like=True)
    with pytest.raises(sv.experiments.StoreError, match="no store at"):
        sv.load(tmp_path / "missing.sqlite")


def test_rows_of_another_version_are_reused_with_a_warning(tmp_path):
    db = tmp_path / "v.sqlite"
    kw = dict(over={"alpha": [1.0, 2.0]}, progress=False, executor="serial")
    a = sv.sweep(ToyProblem(), ToyLearner(), store=db, **kw)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE results SET version = '0.0.1'")
    with pytest.warns(UserWarning, match="2 results in the store were computed by solvable 0.0.1.*refresh=True"):
        b = sv.sweep(ToyProblem(), ToyLearner(), store=db, **kw)
    pd.testing.assert_frame_equal(a, b)
    c = sv.sweep(ToyProblem(), ToyLearner(), store=db, refresh=True, **kw)
    assert c.attrs["computed"] == 2 and c.attrs["cached"] == 0
    with sqlite3.connect(db) as con:
        assert {r[0] for r in con.execute("SELECT version FROM results")} == {sv.__version__}


def test_sigkill_mid_sweep_then_resume(tmp_path):
    """A sweep killed with SIGKILL loses nothing it committed, and resuming computes only the rest."""
    db = tmp_path / "k.sqlite"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(HERE)!r})
        import solvable as sv, test_experiments as T
        sv.sweep(T.ToyProblem(), T.ToyLearner(), over={{"alpha": T.ALPHAS}}, simulate={{"d": 20, "seeds": 8}},
                 store={str(db)!r}, executor="serial", progress=False)
        print("FINISHED")
    """)
    env = dict(os.environ, SOLVABLE_TOY_DELAY="0.1")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    total = 4 + 4 * 8
    n = 0
    t0 = time.time()
    try:
        while time.time() - t0 < 60:
            if db.exists():
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                        n = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
            if n >= 10 or proc.poll() is not None:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    out = proc.stdout.read().decode()
    assert "FINISHED" not in out, "the sweep finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as con:
        before = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert 10 <= before < total
    kw = dict(over={"alpha": ALPHAS}, simulate={"d": 20, "seeds": 8}, executor="serial", progress=False)
    resumed = sv.sweep(ToyProblem(), ToyLearner(), store=db, **kw)
    assert resumed.attrs["cached"] == before and resumed.attrs["computed"] == total - before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM results").fetchone() == (total, total)
    fresh = sv.sweep(ToyProblem(), ToyLearner(), **kw)
    pd.testing.assert_frame_equal(resumed, fresh)


# --------------------------------------------------------------------------------------------
# executors
# --------------------------------------------------------------------------------------------
def test_parallel_equals_serial():
    kw = dict(over={"alpha": ALPHAS[:3], "noise": [0.1, 0.3]}, simulate={"d": 40, "seeds": 3}, progress=False)
    serial = sv.sweep(ToyProblem(), ToyLearner(), executor="serial", **kw)
    pool = sv.sweep(ToyProblem(), ToyLearner(), executor="local", workers=2, **kw)
    pd.testing.assert_frame_equal(serial, pool)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as ex:
        threads = sv.sweep(ToyProblem(), ToyLearner(), executor=ex, **kw)
    pd.testing.assert_frame_equal(serial, threads)


def test_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    kw = dict(over={"alpha": ALPHAS[:2]}, simulate={"d": 30, "seeds": 2}, progress=False)
    serial = sv.sweep(ToyProblem(), ToyLearner(), executor="serial", **kw)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        got = sv.sweep(ToyProblem(), ToyLearner(), executor=client, **kw)
        pd.testing.assert_frame_equal(serial, got)
        # executor="dask" picks up the running client
        got2 = sv.sweep(ToyProblem(), ToyLearner(), executor="dask", **kw)
        pd.testing.assert_frame_equal(serial, got2)


def test_dask_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'solvable\[dask\]'"):
        sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": [1.0]}, executor="dask", progress=False)


def test_progress_bar_renders(capsys):
    sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS}, simulate={"d": 10, "seeds": 2},
             executor="serial", progress=True)
    err = capsys.readouterr().err
    assert "sweep" in err and "12/12" in err


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------
def test_plot_lines_points_and_files(tmp_path):
    import matplotlib.pyplot as plt

    t = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS, "lam": [0.0, 1.0]},
                 simulate={"d": 30, "seeds": 3}, progress=False, executor="serial")
    for ext in ("png", "pdf", "svg"):
        ax = sv.plot(t, x="alpha", y="test_error", logx=True, save=tmp_path / f"f.{ext}")
        assert (tmp_path / f"f.{ext}").stat().st_size > 1000
        plt.close(ax.figure)
    ax = sv.plot(t, x="alpha", y="test_error")
    assert len(ax.get_lines()) >= 2                         # one theory line per lam (hue picked automatically)
    assert ax.get_xlabel().startswith("sample ratio") and ax.get_ylabel() == "test error"
    th_line = [l for l in ax.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) == 4][0]
    np.testing.assert_allclose(th_line.get_ydata(), toy_error(ALPHAS, 0.5, 1.0, 0.0))
    assert len(ax.containers) == 2                          # error bars: one container per lam
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="save must end in .png, .pdf or .svg"):
        sv.plot(t, x="alpha", y="test_error", save=tmp_path / "f.bmp")
    with pytest.raises(ValueError, match="y='nope' is not a column"):
        sv.plot(t, x="alpha", y="nope")
    three = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS, "lam": [0.0, 1.0], "noise": [0.1, 0.2]},
                     progress=False, executor="serial")
    with pytest.raises(ValueError, match="name one as hue"):
        sv.plot(three, x="alpha", y="test_error")


def test_phase_diagram(tmp_path):
    import matplotlib.pyplot as plt
    from solvable.experiments import plot_phase_diagram

    t = sv.sweep(ToyProblem(), ToyLearner(), over={"alpha": ALPHAS, "noise": [0.1, 0.2, 0.4]}, progress=False,
                 executor="serial")
    line = {"toy transition": (np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.4]))}
    ax = plot_phase_diagram(t, x="alpha", y="noise", z="test_error", transitions=line, save=tmp_path / "p.png")
    assert (tmp_path / "p.png").exists()
    mesh = ax.collections[0]
    assert mesh.get_array().size == 12
    np.testing.assert_allclose(np.sort(np.asarray(mesh.get_array()).ravel()),
                               np.sort(toy_error(t["alpha"], t["noise"], 1.0, 0.0)))
    assert ax.get_lines()[0].get_label() == "toy transition"
    plt.close(ax.figure)

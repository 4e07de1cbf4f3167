"""The ``solvable`` command line: exit codes, messages, sweep specs, outputs.  The sweep tests
register a stand-in engine for (GLM, Spectral) with monkeypatch, so they do not depend on any
theory family; the demo test runs the real engines when they are registered."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import solvable as sv
from solvable.core import registry as registry
from solvable.cli import main


def fake_theory(problem, learner, **opts):
    a = np.asarray(problem.alpha, float)
    return sv.Prediction({"m": a / (1 + a), "test_error": 0.5 / (1 + a)}, problem=problem, learner=learner)


def fake_sim(problem, learner, *, d, rng, **opts):
    return {"m": problem.alpha / (1 + problem.alpha), "test_error": 0.5 / (1 + problem.alpha) + rng.normal() / d}


def broken_theory(problem, learner, **opts):
    raise RuntimeError("the engine broke")


@pytest.fixture
def fake_engine(monkeypatch):
    pair = (sv.GLM, sv.Spectral)
    monkeypatch.setitem(registry._THEORY, pair, registry._Engine(fake_theory, "theory", pair))
    monkeypatch.setitem(registry._SIMULATION, pair, registry._Engine(fake_sim, "simulation", pair, reserved=("d", "rng")))


SPEC = """
name: toy
problem: {type: GLM, prior: Gaussian, channel: {type: Sign}, alpha: 1.0}
learner: {type: Spectral}
over:
  alpha: {linspace: [0.5, 2.0, 4]}
simulate: {d: 20, seeds: 2}
aggregate: true
plot: {x: alpha, y: test_error}
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and "Supported (problem, learner) pairs" in out and "Gallery recipes" in out
    code, out, err = run(capsys, "list", "--json")
    data = json.loads(out)
    assert code == 0 and set(data["pairs"]) == {"theory", "simulation", "transitions"}
    assert [list(p) for p in sv.supported_pairs()["theory"]] == data["pairs"]["theory"]


@pytest.mark.parametrize("argv, msg", [
    (["bogus"], "invalid choice"),
    (["reproduce", "no-such-recipe"], "unknown recipe 'no-such-recipe'"),
    (["sweep", "missing.yaml"], "does not exist"),
    (["sweep", "x.yaml", "--json", "--csv"], "not allowed with argument"),
    ([], "usage"),
])
def test_usage_errors_exit_2_without_traceback(capsys, argv, msg):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert msg in err and "Traceback" not in err


@pytest.mark.parametrize("text, key, expected", [
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\noverr: {}", "overr",
     "unknown key; expected one of: problem, learner"),
    ("problem: {type: GLM, prior: Gausian, channel: Sign}\nlearner: {type: ERM}", "problem.prior.type",
     "unknown prior 'Gausian'; expected one of: GaussBernoulli, Gaussian, Rademacher"),
    ("problem: {type: GLM, prior: Gaussian, channel: {type: Sign, nosie: 1}}\nlearner: {type: ERM}",
     "problem.channel.nosie", "Sign has no field 'nosie'; fields: noise, flip"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign, alpha: -1}\nlearner: {type: ERM}", "problem",
     "alpha must be > 0, got alpha=-1"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM, penalty: {type: L1, lam: -1}}",
     "learner.penalty", "lam must be >= 0"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\nover: {alpha: {linspace: [1, 2]}}",
     "over.alpha.linspace", "expected [start, stop, count]"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\nover: {lamb: [1, 2]}",
     "over.lamb", "is not a field of the problem"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\nsimulate: {d: 1.5}",
     "simulate.d", "expected an integer >= 2"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\nsimulate: {d: 10, seeds: 0}",
     "simulate.seeds", "expected a count >= 1"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: ERM}\nplot: {x: alpha, colour: red}",
     "plot.colour", "unknown key"),
    ("problem: {type: Nope}\nlearner: {type: ERM}", "problem.type", "unknown problem 'Nope'"),
    ("- 1\n- 2\n", "", "a spec must be a mapping"),
    ("problem: [1, 2]", "problem", "expected a mapping with 'type'"),
    ("problem: {type: GLM, prior: Gaussian, channel: Sign}\n  bad indent: [", "", "is not valid YAML"),
])
def test_spec_mistakes_name_the_key(capsys, tmp_path, text, key, expected):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    code, out, err = run(capsys, "sweep", str(p))
    assert code == 2, err
    assert "Traceback" not in err
    assert f"{key}: " in err if key else True
    assert expected in err


def test_sweep_spec_outputs_and_store(capsys, tmp_path, fake_engine):
    spec = tmp_path / "toy.yaml"
    spec.write_text(SPEC)
    store = tmp_path / "toy.sqlite"
    code, out, err = run(capsys, "sweep", str(spec), "--csv", "--store", str(store), "--out", str(tmp_path / "o"),
                         "--executor", "serial")
    assert code == 0, err
    table = pd.read_csv(__import__("io").StringIO(out))
    assert set(table["kind"]) == {"theory", "simulation"}
    th = table[table.kind == "theory"]
    np.testing.assert_allclose(th["test_error"], 0.5 / (1 + np.linspace(0.5, 2.0, 4)))
    sims = table[table.kind == "simulation"]
    assert len(sims) == 4 and set(sims["n_seeds"]) == {2} and "test_error_se" in table.columns
    assert (tmp_path / "o" / "toy.csv").exists() and (tmp_path / "o" / "toy.png").stat().st_size > 1000
    assert len(sv.experiments.Store(store)) == 4 + 8
    assert "12 task(s) computed, 0 read from the store" in err
    code, out2, err = run(capsys, "sweep", str(spec), "--json", "--store", str(store), "--executor", "serial")
    assert code == 0
    assert "0 task(s) computed, 12 read from the store" in err  # a rerun says what came from the store
    recs = json.loads(out2)
    assert len(recs) == 8 and recs[0]["kind"] == "theory"


def test_sweep_learners_mapping(capsys, tmp_path, fake_engine):
    spec = tmp_path / "l.yaml"
    spec.write_text("problem: {type: GLM, prior: Gaussian, channel: Sign}\n"
                    "learners: {pca: {type: Spectral}, other: {type: Spectral, method: other}}\n"
                    "over: {alpha: [1.0, 2.0]}\n")
    code, out, err = run(capsys, "sweep", str(spec), "--json")
    assert code == 0, err
    assert {r["learner"] for r in json.loads(out)} == {"pca", "other"}


def test_failures_exit_1_with_a_message(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(registry._THEORY, (sv.GLM, sv.Spectral),
                        registry._Engine(broken_theory, "theory", (sv.GLM, sv.Spectral)))
    spec = tmp_path / "b.yaml"
    spec.write_text("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: Spectral}\n")
    code, out, err = run(capsys, "sweep", str(spec), "--executor", "serial")
    assert code == 1
    assert "theory failed at the base point: RuntimeError: the engine broke" in err and "Traceback" not in err


def test_unsupported_pair_is_bad_input(capsys, tmp_path):
    spec = tmp_path / "u.yaml"
    spec.write_text("problem: {type: GLM, prior: Gaussian, channel: Sign}\nlearner: {type: Spectral, method: zzz}\n")
    if ("GLM", "Spectral") in sv.supported_pairs()["theory"]:
        pytest.skip("(GLM, Spectral) has an engine now")
    code, out, err = run(capsys, "sweep", str(spec))
    assert code == 2 and "no theory engine for the pair (GLM, Spectral)" in err


@pytest.mark.skipif(("GLM", "ERM") not in sv.supported_pairs()["simulation"], reason="needs the ERM engine")
def test_demo_small(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "--out", str(tmp_path), "--d", "40", "--seeds", "2", "--executor", "serial")
    assert code == 0, err
    assert "logistic" in out and "Theory (test error)" in out
    assert (tmp_path / "demo.png").stat().st_size > 1000
    table = pd.read_csv(tmp_path / "demo.csv")
    assert {"theory", "simulation"} <= set(table["kind"])


def test_console_script_entry_point():
    """The installed `solvable` script (pyproject: solvable = solvable.cli:main) passes exit codes on."""
    exe = shutil.which("solvable")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from solvable.cli import main; sys.exit(main())"]
    r = subprocess.run(cmd + ["reproduce"], capture_output=True, text=True)
    assert r.returncode == 2 and "the following arguments are required: name" in r.stderr


def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0 and out.strip() == f"solvable {sv.__version__}"

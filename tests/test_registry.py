"""Registry dispatch, result containers, and validation of problems and learners."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import solvable as sv
from solvable.core import registry as registry
from solvable.blocks.channels import Linear, Sign
from solvable.blocks.learners import AMP, ERM, BayesOptimal, Learner
from solvable.blocks.losses import Hinge, Logistic, Square
from solvable.blocks.penalties import L1, L2
from solvable.blocks.priors import Gaussian, GaussBernoulli, Rademacher
from solvable.core.results import Prediction, SimulationResult, aggregate


@dataclass(frozen=True)
class _ToyProblem:
    a: float = 1.0


@dataclass(frozen=True)
class _ToySubProblem(_ToyProblem):
    pass


@dataclass(frozen=True)
class _ToyLearner(Learner):
    pass


@dataclass(frozen=True)
class _OtherLearner(Learner):
    pass


@pytest.fixture
def toy_registry():
    """Register toy engines for the test and remove them afterwards."""
    added = []

    @registry.register_theory(_ToyProblem, _ToyLearner)
    def theory(problem, learner, scale=1.0):
        return Prediction({"m": problem.a * scale, "q": 2.0}, problem=problem, learner=learner)

    @registry.register_simulation(_ToyProblem, _ToyLearner)
    def simulation(problem, learner, *, d, rng, noise=1.0):
        return {"m": problem.a + noise * rng.standard_normal() / np.sqrt(d), "d_seen": d}

    @registry.register_simulation(_ToySubProblem, _OtherLearner, batched=True)
    def batched(problem, learner, *, d, seeds):
        return [{"m": float(s)} for s in seeds]

    @registry.register_transitions(_ToyProblem, _ToyLearner)
    def transitions(problem, learner, param, rng):
        if param == "snr":  # a key outside the common layout
            return {"weak_recovery": 0.5 * (rng[0] + rng[1]), "param": param}
        return {"weak_recovery": 0.5 * (rng[0] + rng[1])}

    added = [(registry._THEORY, (_ToyProblem, _ToyLearner)), (registry._SIMULATION, (_ToyProblem, _ToyLearner)),
             (registry._SIMULATION, (_ToySubProblem, _OtherLearner)), (registry._TRANSITIONS, (_ToyProblem, _ToyLearner))]
    yield
    for table, key in added:
        table.pop(key, None)


def test_predict_dispatches_by_mro(toy_registry):
    p = sv.predict(_ToyProblem(3.0), _ToyLearner(), scale=2.0)
    assert p.m == 6.0 and p["q"] == 2.0
    # a subclass inherits its parent's engine
    assert sv.predict(_ToySubProblem(1.5), _ToyLearner()).m == 1.5
    assert ("_ToyProblem", "_ToyLearner") in sv.supported_pairs()["theory"]


def test_unsupported_pair_names_the_pair_and_lists_supported(toy_registry):
    with pytest.raises(sv.UnsupportedPairError) as info:
        sv.predict(_ToyProblem(), _OtherLearner())
    msg = str(info.value)
    assert "(_ToyProblem, _OtherLearner)" in msg and "supported pairs" in msg and "(_ToyProblem, _ToyLearner)" in msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, NotImplementedError)
    with pytest.raises(sv.UnsupportedPairError, match="no simulation"):
        sv.simulate(_ToyProblem(), _OtherLearner(), d=10, seeds=2)
    with pytest.raises(sv.UnsupportedPairError, match="phase-transition"):
        sv.phase_transitions(_ToyProblem(), _OtherLearner(), alpha=(0.1, 1.0))


def test_simulate_aggregates_over_seeds(toy_registry):
    r = sv.simulate(_ToyProblem(1.0), _ToyLearner(), d=100, seeds=20)
    ms = np.array([run["m"] for run in r.runs])
    assert r.m == pytest.approx(ms.mean())
    assert r.se("m") == pytest.approx(ms.std(ddof=1) / np.sqrt(20))
    assert r.d == 100 and r.seeds == list(range(20)) and r.d_seen == 100
    # the simulated mean agrees with the truth within its standard error
    assert abs(r.m - 1.0) < 4 * r.se("m")
    d = r.to_dict()
    assert d["m"] == r.m and d["m_se"] == r.se("m") and d["n_seeds"] == 20 and d["d"] == 100
    assert list(r.samples.columns) == ["seed", "m", "d_seen"] and len(r.samples) == 20
    assert r.stderr["m"] == r.se("m")
    with pytest.raises(KeyError, match="no standard error"):
        r.se("nope")


def test_simulate_seeds_reproducible(toy_registry):
    a = sv.simulate(_ToyProblem(), _ToyLearner(), d=50, seeds=[3, 7])
    b = sv.simulate(_ToyProblem(), _ToyLearner(), d=50, seeds=[3, 7])
    c = sv.simulate(_ToyProblem(), _ToyLearner(), d=50, seeds=3)  # int = count: seeds 0, 1, 2
    assert a.runs == b.runs and a.seeds == [3, 7]
    assert c.seeds == [0, 1, 2]
    assert c.runs[0] != a.runs[0]
    single = sv.simulate(_ToyProblem(), _ToyLearner(), d=50, seeds=[7])
    assert single.runs[0] == a.runs[1]  # a seed gives the same run whatever its companions
    assert np.isnan(single.se("m"))  # one seed: no standard error


def test_batched_simulation(toy_registry):
    r = sv.simulate(_ToySubProblem(), _OtherLearner(), d=10, seeds=[1, 2, 6])
    assert r.m == pytest.approx(3.0) and r.se("m") == pytest.approx(np.std([1, 2, 6], ddof=1) / np.sqrt(3))


@pytest.mark.parametrize("d", [1, 0, -5, 2.5, True, "100"])
def test_simulate_bad_d(toy_registry, d):
    with pytest.raises(ValueError, match="d must be an integer"):
        sv.simulate(_ToyProblem(), _ToyLearner(), d=d, seeds=2)


@pytest.mark.parametrize("seeds", [0, -1, [], "abc", None, 1.5])
def test_simulate_bad_seeds(toy_registry, seeds):
    with pytest.raises(ValueError, match="seeds"):
        sv.simulate(_ToyProblem(), _ToyLearner(), d=10, seeds=seeds)


def test_phase_transitions_dispatch_and_validation(toy_registry):
    out = sv.phase_transitions(_ToyProblem(), _ToyLearner(), alpha=(0.5, 1.5))
    # one layout for every family: the missing thresholds are None
    assert out == {k: (1.0 if k == "weak_recovery" else None) for k in registry.TRANSITION_KEYS}
    with pytest.raises(RuntimeError, match="outside the common layout"):
        sv.phase_transitions(_ToyProblem(), _ToyLearner(), snr=(0.5, 1.5))
    with pytest.raises(ValueError, match="exactly one"):
        sv.phase_transitions(_ToyProblem(), _ToyLearner(), alpha=(0, 1), snr=(0, 1))
    with pytest.raises(ValueError, match="lo < hi"):
        sv.phase_transitions(_ToyProblem(), _ToyLearner(), alpha=(2.0, 1.0))
    with pytest.raises(ValueError, match="pair"):
        sv.phase_transitions(_ToyProblem(), _ToyLearner(), alpha=3.0)


def test_registry_cleaned_after_fixture():
    assert (_ToyProblem, _ToyLearner) not in registry._THEORY


# ----------------------------------------------------------------------------- results


def test_prediction_access():
    p = Prediction({"m": np.float64(0.5), "q": np.array(0.7), "curve": np.arange(3.0)}, converged=True, info={"it": 3})
    assert p.m == 0.5 and p["q"] == 0.7 and isinstance(p.m, float) and isinstance(p.q, float)
    assert set(p) == {"m", "q", "curve"} and len(p) == 3
    assert p.to_dict()["converged"] is True and p.info == {"it": 3}
    with pytest.raises(AttributeError, match="no field 'mse'"):
        p.mse
    with pytest.raises(KeyError):
        p["mse"]
    with pytest.raises(AttributeError, match="read-only"):
        p.m = 1.0
    assert "m=0.5" in repr(p)


def test_prediction_to_frame():
    p = Prediction({"alpha": np.array([0.5, 1.0, 2.0]), "q": np.array([0.1, 0.2, 0.4]), "rho": 1.0},
                   converged=np.array([True, True, False]))
    df = p.to_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    assert list(df["rho"]) == [1.0, 1.0, 1.0] and list(df["converged"]) == [True, True, False]
    assert "converged=False" in repr(p)
    single = Prediction({"m": 0.1, "q": 0.2}).to_frame()
    assert len(single) == 1 and single["q"].iloc[0] == 0.2


def test_aggregate_arrays_and_non_numbers():
    mean, se = aggregate([{"x": 1.0, "traj": np.array([1.0, 2.0]), "tag": "a"}, {"x": 3.0, "traj": np.array([3.0, 4.0]), "tag": "b"}])
    assert mean["x"] == 2.0 and se["x"] == pytest.approx(1.0)
    np.testing.assert_allclose(mean["traj"], [2.0, 3.0])
    np.testing.assert_allclose(se["traj"], [1.0, 1.0])
    assert mean["tag"] == "a" and "tag" not in se
    r = SimulationResult([{"x": 1.0}, {"x": 2.0}], d=10, seeds=[0, 1])
    assert "SimulationResult(d=10, seeds=2" in repr(r)
    with pytest.raises(AttributeError):
        r.x = 3


# ----------------------------------------------------------------------------- problems and learners


def test_glm_fields():
    g = sv.GLM(Gaussian(), Sign(), alpha=2)
    assert g.alpha == 2.0 and isinstance(g.alpha, float) and g.rho == 1.0 and not g.is_curve
    assert sv.GLM(GaussBernoulli(0.2), Linear(0.1), alpha=1.0).rho == pytest.approx(0.2)
    curve = sv.GLM(Rademacher(), Sign(), alpha=[0.5, 1.0, 2.0])
    assert curve.is_curve and curve.alpha.shape == (3,)
    with pytest.raises(ValueError):
        curve.alpha[0] = 3.0  # read-only
    h = g.at(alpha=3.0)
    assert h.alpha == 3.0 and g.alpha == 2.0 and h.prior == g.prior
    assert g == sv.GLM(Gaussian(), Sign(), alpha=2.0) and g != h


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": [0.5, 0.0, 1.0]}, "alpha"),
        ({"alpha": [1.0, -2.0]}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": "many"}, "alpha"),
        ({"prior": "gaussian"}, "prior"),
        ({"channel": Logistic()}, "channel"),
    ],
)
def test_glm_validation(kw, match):
    args = {"prior": Gaussian(), "channel": Sign(), "alpha": 1.0}
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        sv.GLM(**args)


def test_erm_learner():
    e = ERM("logistic", "l2")
    assert isinstance(e.loss, Logistic) and isinstance(e.penalty, L2) and e.penalty.lam == 0.0
    e = ERM(Hinge(), L1(0.3))
    assert e.penalty.lam == 0.3
    assert isinstance(ERM().loss, Square)
    assert e.at(penalty=L2(1.0)).penalty == L2(1.0)
    with pytest.raises(ValueError, match="unknown loss 'cauchy'"):
        ERM("cauchy")
    with pytest.raises(ValueError, match="unknown penalty"):
        ERM("square", "l0")


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"damping": 1.0}, "damping"),
        ({"damping": -0.1}, "damping"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 10.5}, "max_iter"),
        ({"tol": 0.0}, "tol"),
        ({"init": "random"}, "init"),
    ],
)
def test_amp_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        AMP(**kw)


def test_learners_are_frozen():
    a = AMP(damping=0.3)
    assert a.damping == 0.3 and a.init == "uninformative"
    with pytest.raises(Exception):
        a.damping = 0.5
    assert BayesOptimal() == BayesOptimal()


def test_simulation_threads_limit_the_call_only_and_are_recorded(monkeypatch):
    """Issue 14: BLAS threads are limited during a simulation (one by default up to d = 4000, so
    parallel workers x threads <= cores), restored afterwards, and recorded."""
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info()]
    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=2.0)
    lrn = sv.ERM("logistic", sv.penalties.L2(0.1))
    res = sv.simulate(pb, lrn, d=40, seeds=2)
    assert res.threads == 1 and [i["num_threads"] for i in threadpool_info()] == before
    assert sv.simulate(pb, lrn, d=40, seeds=1, threads=2).threads == 2
    assert registry.simulation_threads(5000) is None
    monkeypatch.setenv("SOLVABLE_THREADS", "3")
    assert registry.simulation_threads(40) == 3
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        sv.simulate(pb, lrn, d=40, seeds=1, threads=0)
    monkeypatch.setenv("SOLVABLE_THREADS", "many")
    with pytest.raises(ValueError, match="SOLVABLE_THREADS"):
        sv.simulate(pb, lrn, d=40, seeds=1)
    monkeypatch.delenv("SOLVABLE_THREADS")
    table = sv.sweep(pb, lrn, over={"alpha": [1.0, 2.0]}, simulate={"d": 30, "seeds": 1}, theory=False,
                     executor="serial", progress=False)
    assert "threads" in table and set(table["threads"].dropna()) == {1.0}


def test_curve_results_show_their_values_and_frames_carry_the_parameters():
    """Issue 15: a curve's repr shows values (not ``array(shape=(20,))``), ``to_frame`` of every
    curve has its x axis, ``SimulationResult.to_frame`` exists, and a 2D alpha is a clear error."""
    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=np.linspace(1.0, 2.0, 20))
    p = sv.predict(pb, sv.ERM("logistic", sv.penalties.L2(0.1)))
    assert "alpha=[1, 1.053, ..., 2] (20 points)" in repr(p)
    assert list(p.to_frame()["alpha"]) == list(pb.alpha)
    sp = sv.predict(sv.SpikedWigner(sv.priors.Rademacher(), snr=np.array([0.5, 2.0])), sv.Spectral())
    assert "snr" in sp.to_frame()
    sim = sv.simulate(pb.at(alpha=1.5), sv.ERM("logistic", sv.penalties.L2(0.1)), d=40, seeds=2)
    f = sim.to_frame()
    assert f.loc[0, "alpha"] == 1.5 and f.loc[0, "n_seeds"] == 2 and "m_se" in f
    with pytest.raises(ValueError, match=r"GLM: alpha must be a scalar or a 1D array \(a curve\), got an array of shape \(2, 2\)"):
        sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=np.ones((2, 2)))


def test_notebook_display():
    """Prediction and SimulationResult render as HTML tables in a notebook (``_repr_html_``): the pair, every
    scalar field, the points that did not converge flagged."""
    import solvable as sv

    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=np.array([1.0, 2.0]))
    ln = sv.ERM("logistic", sv.penalties.L2(0.1))
    html = sv.predict(pb, ln)._repr_html_()
    assert html.startswith("<b>Prediction</b>") and "<table" in html and "test_error" in html and "GLM(" in html
    assert html.count("<tr") == 3  # header and two points
    bad = sv.predict(pb, ln, max_iter=1, n_picard=1, on_fail="ignore")._repr_html_()
    assert "not converged" in bad
    s = sv.simulate(pb.at(alpha=2.0), ln, d=40, seeds=3)._repr_html_()
    assert "d = 40, 3 seeds" in s and "test_error" in s and "<td>" in s

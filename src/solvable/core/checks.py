"""Contract checks of a registered (problem, learner) pair, in the spirit of scikit-learn's
``check_estimator``: what every family must satisfy, run by tests/test_contract.py over the
examples each family registers (``register_family(examples=[Example(...), ...])``).

- theory and simulation return the family's common fields (``register_family(fields=...)``),
  and a theory result carries its curve parameter;
- a curve (an array parameter) equals the pointwise results;
- an unknown option is a ``TypeError`` naming it and listing the valid ones;
- non-convergence is reported (``converged=False``, NaN fields, a ``ConvergenceWarning``,
  a ``ConvergenceError`` with ``on_fail="raise"``), where the example says how to force it;
- a seed reproduces its simulation;
- problems and learners have a repr, pickle, and compare equal after a round trip;
- the pair is listed by ``solvable list``.

Each check raises ``AssertionError`` with a message saying what failed; :func:`check_pair`
runs them all and returns the names of those that ran.
"""
from __future__ import annotations

import contextlib
import io
import pickle
import warnings

import numpy as np

from solvable.core import registry
from solvable.core.registry import Example
from solvable.numerics.fixed_point import ConvergenceError, ConvergenceWarning

__all__ = ["check_pair", "examples", "CHECKS"]


def examples() -> list[tuple[str, Example]]:
    """Every registered family's examples, as ``(family name, example)``."""
    return [(name, ex) for name, fam in registry.families().items() for ex in fam.examples]


def _pair(ex: Example):
    return type(ex.problem), type(ex.learner)


def _label(ex: Example) -> str:
    return f"({type(ex.problem).__name__}, {type(ex.learner).__name__})"


def _family_of(ex: Example):
    for fam in registry.families().values():
        if ex in fam.examples:
            return fam
    raise AssertionError(f"{_label(ex)}: the example belongs to no registered family")


def _has(table, ex) -> bool:
    try:
        registry._lookup(table, ex.problem, ex.learner, "engine")
        return True
    except registry.UnsupportedPairError:
        return False


def _quiet_predict(problem, learner, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return registry.predict(problem, learner, **opts)


def check_fields(ex: Example) -> None:
    fam = _family_of(ex)
    want = set(ex.fields if ex.fields is not None else fam.fields.get(_pair(ex), ()))
    th = _quiet_predict(ex.problem, ex.learner, **ex.theory_options)
    assert want <= set(th), f"{_label(ex)}: theory lacks the common fields {sorted(want - set(th))}"
    for p in getattr(ex.problem, "curve_params", ()):
        assert p in th, f"{_label(ex)}: theory result lacks its curve parameter {p!r}"
    if _has(registry._SIMULATION, ex):
        sim = registry.simulate(ex.problem, ex.learner, d=ex.d, seeds=2)
        assert want <= set(sim), f"{_label(ex)}: simulation lacks the common fields {sorted(want - set(sim))}"


def check_curve(ex: Example) -> None:
    params = getattr(ex.problem, "curve_params", ())
    if not params:
        return
    name = params[0]
    single = _quiet_predict(ex.problem, ex.learner, **ex.theory_options)
    if any(isinstance(v, np.ndarray) and v.ndim for v in single.values()):
        return False  # a trajectory per point (dynamics): curves are point by point
    v = float(getattr(ex.problem, name))
    grid = v * np.array([0.85, 1.0, 1.2])
    curve = _quiet_predict(ex.problem.at(**{name: grid}), ex.learner, **ex.theory_options)
    for i, g in enumerate(grid):
        point = _quiet_predict(ex.problem.at(**{name: float(g)}), ex.learner, **ex.theory_options)
        for k, pv in point.items():
            if not isinstance(pv, (float, int, np.floating)) or isinstance(pv, bool):
                continue
            cv = np.asarray(curve[k])
            if cv.ndim == 0:  # a constant of the curve (e.g. rho)
                cv = np.full(grid.shape, cv.item())
            assert cv.shape[:1] == grid.shape, f"{_label(ex)}: curve field {k!r} has shape {cv.shape}"
            ok = np.isclose(cv[i], pv, rtol=1e-7, atol=1e-9) or (np.isnan(cv[i]) and np.isnan(pv))
            assert ok, f"{_label(ex)}: curve and point differ in {k!r} at {name}={g}: {cv[i]!r} vs {pv!r}"


def check_bad_option(ex: Example) -> None:
    try:
        registry.predict(ex.problem, ex.learner, not_an_option=1)
    except TypeError as e:
        msg = str(e)
        assert "not_an_option" in msg and "valid options" in msg, f"{_label(ex)}: unclear error {msg!r}"
    else:
        raise AssertionError(f"{_label(ex)}: an unknown option was accepted")
    if _has(registry._SIMULATION, ex):
        try:
            registry.simulate(ex.problem, ex.learner, d=ex.d, seeds=1, not_an_option=1)
        except TypeError as e:
            assert "not_an_option" in str(e), f"{_label(ex)}: unclear simulate error {e!r}"
        else:
            raise AssertionError(f"{_label(ex)}: simulate accepted an unknown option")


def check_nonconvergence(ex: Example) -> bool:
    if ex.fail_options is None and ex.fail_learner is None:
        return False
    learner = ex.fail_learner if ex.fail_learner is not None else ex.learner
    opts = {**ex.theory_options, **(ex.fail_options or {})}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = registry.predict(ex.problem, learner, **opts)
    assert not np.all(pred.converged), f"{_label(ex)}: the forced failure was reported as converged"
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught), f"{_label(ex)}: no ConvergenceWarning"
    assert "failure" in pred.info, f"{_label(ex)}: no info['failure'] message"
    nums = [np.asarray(v, float) for v in pred.values() if isinstance(v, (float, np.ndarray)) and np.asarray(v).dtype.kind == "f"]
    assert any(np.isnan(a).any() for a in nums), f"{_label(ex)}: a failed point kept finite numbers"
    try:
        registry.predict(ex.problem, learner, **{**opts, "on_fail": "raise"})
    except ConvergenceError:
        pass
    else:
        raise AssertionError(f"{_label(ex)}: on_fail='raise' did not raise ConvergenceError")
    return True


def check_seeds(ex: Example) -> bool:
    if not _has(registry._SIMULATION, ex):
        return False
    a = registry.simulate(ex.problem, ex.learner, d=ex.d, seeds=[3])
    b = registry.simulate(ex.problem, ex.learner, d=ex.d, seeds=[3])
    for k in a:
        va, vb = np.asarray(a[k]), np.asarray(b[k])
        same = np.array_equal(va, vb, equal_nan=va.dtype.kind == "f")
        assert same, f"{_label(ex)}: seed 3 did not reproduce field {k!r}"
    return True


def check_pickle_repr(ex: Example) -> None:
    for obj in (ex.problem, ex.learner):
        assert isinstance(repr(obj), str) and type(obj).__name__ in repr(obj), f"bad repr {repr(obj)!r}"
        back = pickle.loads(pickle.dumps(obj))
        assert back == obj, f"{type(obj).__name__} does not survive pickling: {obj!r} -> {back!r}"


def check_listed(ex: Example) -> None:
    from solvable.cli import main

    P, L = _pair(ex)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["list"])
    assert code == 0, "solvable list failed"
    assert f"{P.__name__} + {L.__name__}" in buf.getvalue(), f"{_label(ex)} is not in `solvable list`"


CHECKS = {"fields": check_fields, "curve": check_curve, "bad_option": check_bad_option,
          "nonconvergence": check_nonconvergence, "seeds": check_seeds, "pickle_repr": check_pickle_repr,
          "listed": check_listed}


def check_pair(ex: Example) -> list[str]:
    """Run every check on an example; returns the names of the checks that applied."""
    ran = []
    for name, fn in CHECKS.items():
        if fn(ex) is not False:
            ran.append(name)
    return ran

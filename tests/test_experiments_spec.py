"""YAML sweep specs: parsing into the same objects as the Python API."""
from __future__ import annotations

import numpy as np
import pytest

import solvable as sv
from solvable.experiments.spec import SpecError, load_spec, parse_spec


def test_spec_builds_blocks_axes_and_learners(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("""
name: demo
problem: {type: GLM, prior: {type: Gaussian, var: 2.0}, channel: {type: Sign, noise: 0.1}, alpha: 1.0}
learners:
  logistic: {type: ERM, loss: logistic, penalty: {type: L2, lam: 0.01}}
  hinge: {type: ERM, loss: Hinge, penalty: {type: L2, lam: 0.01}}
over:
  alpha: {geomspace: [0.5, 4, 4]}
  penalty.lam: [0.001, 0.1]
  prior: [Rademacher, {type: Gaussian}]
simulate: {d: [50, 100], seeds: [3, 4]}
aggregate: true
""")
    spec = load_spec(p)
    assert spec.name == "demo" and spec.aggregate
    assert spec.problem == sv.GLM(sv.priors.Gaussian(var=2.0), sv.channels.Sign(noise=0.1), alpha=1.0)
    assert spec.over["learner"]["hinge"] == sv.ERM(sv.losses.Hinge(), sv.penalties.L2(0.01))
    np.testing.assert_allclose(spec.over["alpha"], [0.5, 1.0, 2.0, 4.0])
    assert spec.over["prior"] == [sv.priors.Rademacher(), sv.priors.Gaussian()]
    assert spec.simulate == {"d": [50, 100], "seeds": [3, 4]}


def test_spec_error_is_a_value_error_naming_the_key():
    with pytest.raises(SpecError) as e:
        parse_spec({"problem": {"type": "GLM", "prior": "Gaussian", "channel": "Sign"},
                    "learner": {"type": "ERM", "penalty": {"type": "L3"}}})
    assert isinstance(e.value, ValueError)
    assert e.value.key == "learner.penalty.type"
    assert "unknown penalty 'L3'; expected one of: ElasticNet, L1, L2" in str(e.value)
    with pytest.raises(SpecError, match="give exactly one of 'learner'"):
        parse_spec({"problem": {"type": "GLM", "prior": "Gaussian", "channel": "Sign"}})

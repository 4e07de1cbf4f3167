"""Several estimators on one data set, jointly: bootstrap, subsampling, ensembles and the true
variance; the Bayes-optimal estimator beside ERM, calibration and its post-hoc fixes (docs/joint.md)."""
from solvable.families.joint.calibration import (calibration, conditional_confidence, expectation_consistency,
                                                 simulate_calibration, simulate_temperatures, temperature_scaling)
from solvable.families.joint.gibbs import GibbsPosterior, empirical_bayes, evidence
from solvable.families.joint.residual import (jackknife_variance, residual_bootstrap_variance, simulate_jackknife,
                                              simulate_residual_bootstrap)
from solvable.families.joint.problem import (FreshData, Full, JointERM, PairBootstrap, SampleWeights, Subsampling,
                                             WeightLaw)

__all__ = ["JointERM", "GibbsPosterior", "evidence", "empirical_bayes", "SampleWeights", "Full", "PairBootstrap", "Subsampling", "FreshData", "WeightLaw", "calibration",
           "conditional_confidence", "temperature_scaling", "expectation_consistency", "simulate_calibration",
           "simulate_temperatures", "residual_bootstrap_variance", "simulate_residual_bootstrap",
           "jackknife_variance", "simulate_jackknife"]


def _register():
    from solvable.blocks.channels import Linear, Sign
    from solvable.blocks.learners import ERM
    from solvable.blocks.penalties import L2
    from solvable.blocks.priors import Gaussian
    from solvable.blocks.problems import GLM
    from solvable.core.registry import Example, register_family
    from solvable.families.joint import fuzz
    from solvable.families.joint.equations import JointERMTheory
    from solvable.families.joint.experiment import simulate_joint_once

    return register_family(
        "joint",
        doc="docs/joint.md",
        theory={(GLM, JointERM): JointERMTheory},
        simulation={(GLM, JointERM): simulate_joint_once},
        fields={(GLM, JointERM): ("m_0", "m_1", "q_0_0", "q_0_1", "q_1_1", "test_error_0", "test_error_1",
                                  "variance", "ensemble_test_error")},
        examples=[
            Example(GLM(Gaussian(), Linear(1.0), alpha=1.0), JointERM(ERM("square", L2(0.1)), weights=PairBootstrap()),
                    d=80, fail_options={"max_iter": 2}),
            Example(GLM(Gaussian(), Sign(), alpha=2.0), JointERM(ERM("logistic", L2(0.5)), weights=Subsampling(0.6)),
                    d=80, fail_options={"max_iter": 2}),
        ],
        axis_labels={"alpha": r"sample ratio $\alpha = n/d$", "variance": "variance across estimators",
                     "ensemble_test_error": "test error of the averaged estimator"},
        fuzz={(GLM, JointERM): fuzz.sample_joint},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

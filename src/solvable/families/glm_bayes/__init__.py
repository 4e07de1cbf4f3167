"""Bayes-optimal learning of generalised linear models and GAMP: the replica formula, state
evolution, phase transitions, and GAMP at finite d (docs/glm_bayes.md)."""
from solvable.families.glm_bayes.equations import GLMEquations, information_dimension, state_evolution

__all__ = ["GLMEquations", "information_dimension", "state_evolution"]


def _register():
    """Register the family (its pairs, common fields, contract examples, axis labels)."""
    from solvable.blocks.channels import Sign
    from solvable.blocks.learners import AMP, BayesOptimal
    from solvable.blocks.priors import Rademacher
    from solvable.blocks.problems import GLM
    from solvable.core.registry import Example, register_family
    from solvable.families.glm_bayes.equations import (
        predict_amp,
        predict_bayes_optimal,
        transitions_amp,
        transitions_bayes_optimal,
    )
    from solvable.families.glm_bayes import fuzz
    from solvable.families.glm_bayes.experiment import run_gamp

    return register_family(
        "glm_bayes",
        doc="docs/glm_bayes.md",
        theory={(GLM, BayesOptimal): predict_bayes_optimal, (GLM, AMP): predict_amp},
        simulation={(GLM, BayesOptimal): run_gamp, (GLM, AMP): run_gamp},
        transitions={(GLM, BayesOptimal): transitions_bayes_optimal, (GLM, AMP): transitions_amp},
        fields={(GLM, BayesOptimal): ("m", "q", "mse", "test_error"), (GLM, AMP): ("m", "q", "mse", "test_error")},
        examples=[
            Example(GLM(Rademacher(), Sign(), alpha=1.0), BayesOptimal(), d=80, fail_options={"max_iter": 2}),
            Example(GLM(Rademacher(), Sign(), alpha=1.8), AMP(), d=80, fail_learner=AMP(max_iter=2)),
        ],
        axis_labels={"alpha": r"sample ratio $\alpha = n/d$", "qhat": r"conjugate overlap $\hat q$"},
        fuzz={(GLM, BayesOptimal): fuzz.sample_bayes, (GLM, AMP): fuzz.sample_amp},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

"""Empirical risk minimisation on Gaussian data (isotropic, covariances, the Gaussian covariate
model, random features): the replica fixed point, max-margin, optimal penalties, and the
finite-size solvers (docs/erm.md)."""
from solvable.families.erm.equations import erm_theory, optimal_penalty, separability_threshold

__all__ = ["erm_theory", "optimal_penalty", "separability_threshold"]


def _register():
    """Register the family (its pairs, common fields, contract examples, axis labels)."""
    from solvable.blocks.channels import Linear, Sign
    from solvable.blocks.learners import ERM
    from solvable.blocks.penalties import L2
    from solvable.blocks.priors import Gaussian
    from solvable.blocks.problems import GLM
    from solvable.core.registry import Example, register_family
    from solvable.families.erm.equations import erm_theory
    from solvable.families.erm import fuzz
    from solvable.families.erm.experiment import simulate_erm_once

    return register_family(
        "erm",
        doc="docs/erm.md",
        theory={(GLM, ERM): erm_theory},
        simulation={(GLM, ERM): simulate_erm_once},
        fields={(GLM, ERM): ("m", "q", "mse", "test_error", "train_loss")},
        examples=[
            Example(GLM(Gaussian(), Sign(), alpha=1.5), ERM("logistic", L2(0.1)), d=80,
                    fail_options={"max_iter": 2, "n_picard": 2}),
            Example(GLM(Gaussian(), Linear(0.5), alpha=1.5), ERM("huber", L2(0.1)), d=80,
                    fail_options={"max_iter": 2, "n_picard": 2}),
        ],
        axis_labels={"alpha": r"sample ratio $\alpha = n/d$", "V": r"variance $V$", "lam": r"regularisation $\lambda$",
                     "penalty.lam": r"regularisation $\lambda$", "train_loss": "training loss",
                     "train_error": "training error"},
        fuzz={(GLM, ERM): fuzz.sample_erm},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

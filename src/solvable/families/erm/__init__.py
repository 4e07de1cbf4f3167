"""Empirical risk minimisation on Gaussian data (isotropic, covariances, the Gaussian covariate
model, random features): the replica fixed point, max-margin, optimal penalties, and the
finite-size solvers (docs/erm.md)."""
from solvable.families.erm.adversarial import AdversarialERM, attack_norm, block_metrics, critical_eps, robust_test_error
from solvable.families.erm.amp import ProximalAMP
from solvable.families.erm.equations import erm_theory, optimal_penalty, separability_threshold

__all__ = ["erm_theory", "optimal_penalty", "separability_threshold", "AdversarialERM", "ProximalAMP", "robust_test_error",
           "critical_eps",
           "attack_norm", "block_metrics"]


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
    from solvable.blocks.data.spectra import BlockFeatures
    from solvable.families.erm.adversarial import AdversarialERM, AdversarialTraining
    from solvable.families.erm.amp import ProximalAMP, ProximalAMPExperiment, ProximalAMPStateEvolution
    from solvable.families.erm.experiment import AdversarialExperiment, simulate_erm_once

    return register_family(
        "erm",
        doc="docs/erm.md",
        theory={(GLM, ERM): erm_theory, (GLM, AdversarialERM): AdversarialTraining,
                (GLM, ProximalAMP): ProximalAMPStateEvolution},
        simulation={(GLM, ERM): simulate_erm_once, (GLM, AdversarialERM): AdversarialExperiment,
                    (GLM, ProximalAMP): ProximalAMPExperiment},
        fields={(GLM, ERM): ("m", "q", "mse", "test_error", "train_loss"),
                (GLM, AdversarialERM): ("m", "q", "P", "mse", "test_error", "robust_test_error", "train_loss"),
                (GLM, ProximalAMP): ("m", "q", "mse", "test_error")},
        examples=[
            Example(GLM(Gaussian(), Sign(), alpha=1.5), ERM("logistic", L2(0.1)), d=80,
                    fail_options={"max_iter": 2, "n_picard": 2}),
            Example(GLM(Gaussian(), Linear(0.5), alpha=1.5), ERM("huber", L2(0.1)), d=80,
                    fail_options={"max_iter": 2, "n_picard": 2}),
            Example(GLM(Gaussian(), Sign(), alpha=1.5, data=BlockFeatures([0.5, 0.5], [2.0, 0.5])),
                    AdversarialERM("logistic", L2(0.1), eps=0.3, attack=[1.0, 0.2]), d=80,
                    fail_options={"max_iter": 2, "anderson": 0, "newton": 0}),
            Example(GLM(Gaussian(), Linear(0.5), alpha=2.0), ProximalAMP("huber", L2(0.3)), d=80,
                    fail_learner=ProximalAMP("huber", L2(0.3), max_iter=2)),
        ],
        axis_labels={"alpha": r"sample ratio $\alpha = n/d$", "V": r"variance $V$", "lam": r"regularisation $\lambda$",
                     "penalty.lam": r"regularisation $\lambda$", "train_loss": "training loss",
                     "train_error": "training error", "learner.eps": r"training attack $\varepsilon$",
                     "robust_test_error": "robust test error", "P": r"attack norm $P$"},
        fuzz={(GLM, ERM): fuzz.sample_erm, (GLM, AdversarialERM): fuzz.sample_adversarial,
              (GLM, ProximalAMP): fuzz.sample_proximal_amp},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

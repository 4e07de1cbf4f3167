"""Gaussian mixtures: ERM on binary-labelled mixtures (means, covariances, weights, bias, label
noise, random labels), the separability threshold, the Bayes error, with exact finite-size
simulations (docs/mixtures.md)."""
from solvable.families.mixtures.equations import (bayes_error, bayes_optimal_error, gaussian_equivalent,
                                                  separability_threshold, universality_gap)
from solvable.families.mixtures.problem import GaussianMixture
from solvable.families.mixtures.multiclass import (  # also registers the K-class losses
    argmax_probability, multiclass_separability_threshold)
from solvable.families.mixtures.rf import random_features_mixture, simulate_random_features_mixture
from solvable.families.mixtures.teacher import teacher_separability_threshold

__all__ = ["GaussianMixture", "separability_threshold", "bayes_error", "bayes_optimal_error", "gaussian_equivalent",
           "universality_gap", "argmax_probability", "multiclass_separability_threshold", "random_features_mixture",
           "simulate_random_features_mixture", "teacher_separability_threshold"]


def _register():
    """Register the family (its pair, common fields, contract examples, axis labels)."""
    from solvable.blocks.data.mixture import Mixture
    from solvable.blocks.learners import ERM
    from solvable.blocks.channels import Linear
    from solvable.blocks.penalties import L1, L2
    from solvable.core.registry import Example, register_family
    import numpy as np

    from solvable.families.mixtures import fuzz
    from solvable.families.mixtures.equations import MixtureERM
    from solvable.families.mixtures.multiclass import multiclass_fields
    from solvable.families.mixtures.experiment import MixtureERMExperiment
    from solvable.families.mixtures.sgd_simulation import sgd_registration

    pair = (GaussianMixture, ERM)
    sgd = sgd_registration()  # online SGD of a two-layer network (Refinetti et al. 2021)
    return register_family(
        "mixtures",
        doc="docs/mixtures.md",
        theory={pair: MixtureERM, **sgd["theory"]},
        simulation={pair: MixtureERMExperiment, **sgd["simulation"]},
        fields={pair: ("m_0", "m_1", "q_0", "q_1", "bias", "norm", "test_error", "train_loss", "train_error"),
                **sgd["fields"]},
        examples=[*sgd["examples"],
            Example(GaussianMixture(Mixture.symmetric(1.0), alpha=2.0), ERM("logistic", L2(0.1)), d=100,
                    fail_options={"max_iter": 2, "newton_iter": 0}),
            Example(GaussianMixture(Mixture.symmetric(1.0, weight=0.7), alpha=2.0), ERM("hinge", L2(0.1), bias=True),
                    d=100, fail_options={"max_iter": 2, "newton_iter": 0}),
            # multi-class (labels = the cluster index): the variant engine of the same pair
            Example(GaussianMixture(Mixture(np.eye(3) * 1.5, weights=[0.4, 0.35, 0.25]), alpha=2.0),
                    ERM("cross_entropy", L2(0.1), bias=True), d=60, fail_options={"max_iter": 2, "newton_iter": 0},
                    fields=multiclass_fields(3)),
            Example(GaussianMixture(Mixture(np.eye(3) * 1.5), alpha=1.5), ERM("square", L2(0.1)), d=60,
                    fields=multiclass_fields(3)),
            # a single-index teacher on the mixture (the teacher variant), L1 on a spectrum, max margin
            Example(GaussianMixture(Mixture.symmetric(1.5), alpha=2.0, labels="teacher", teacher=[0.8]),
                    ERM("logistic", L2(0.1), bias=True), d=80, fail_options={"max_iter": 2, "newton_iter": 0}),
            Example(GaussianMixture(Mixture(np.r_[1.0, 0.5, np.zeros(38)][None] * [[1.0], [-1.0]], np.ones((2, 40))),
                                    alpha=1.5), ERM("square", L1(0.1)), d=40),
            Example(GaussianMixture(Mixture.symmetric(1.0, weight=0.7), alpha=1.0), ERM("hard_margin", L2(1.0), bias=True),
                    d=100),
            # a regression teacher on clusters with different spectra (the per-cluster teacher engine)
            Example(GaussianMixture(Mixture(np.r_[1.0, 0.5, np.zeros(38)][None] * [[1.0], [-1.0]],
                                            np.stack([np.linspace(0.5, 1.5, 40), np.linspace(1.5, 0.5, 40)])),
                                    alpha=2.0, labels="teacher", teacher=np.r_[0.5, np.full(39, 0.1)],
                                    channel=Linear(0.2)),
                    ERM("huber", L2(0.1), bias=True), d=40, fail_options={"max_iter": 2, "newton_iter": 0},
                    fields=("m_0", "m_1", "q_0", "r_0", "bias", "norm", "teacher_overlap", "test_error", "train_loss")),
        ],
        axis_labels={"alpha": r"sample ratio $\alpha = n/d$", "bias": "bias $b$", "norm": r"$|w|^2/d$",
                     "train_error": "training error", "bayes_error": "Bayes error"},
        fuzz={pair: fuzz.sample_mixture_erm},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

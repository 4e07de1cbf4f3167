"""Spiked matrices (Wigner and Wishart, with noise profiles): Bayes-optimal, AMP and spectral
theory, phase transitions, and low-rank AMP / PCA at finite d (docs/lowrank.md)."""
from solvable.families.lowrank.equations import pca_profile_threshold, state_evolution
from solvable.families.lowrank.problem import NoiseProfile, SpikedWigner, SpikedWishart

__all__ = ["NoiseProfile", "SpikedWigner", "SpikedWishart", "pca_profile_threshold", "state_evolution"]


def _register():
    """Register the family (its pairs, common fields, contract examples, axis labels)."""
    from solvable.blocks.learners import AMP, BayesOptimal, Spectral
    from solvable.blocks.priors import Gaussian, Rademacher
    from solvable.core.registry import Example, register_family
    from solvable.families.lowrank import fuzz
    from solvable.families.lowrank.equations import (
        _predict_amp,
        _predict_bayes,
        _predict_spectral,
        _transitions_bayes,
        _transitions_spectral,
    )
    from solvable.families.lowrank.experiment import (
        _simulate_wigner_amp,
        _simulate_wigner_spectral,
        _simulate_wishart_amp,
        _simulate_wishart_spectral,
    )
    from solvable.families.lowrank.problem import SpikedWigner, SpikedWishart

    _W, _S = SpikedWigner, SpikedWishart
    return register_family(
        "lowrank",
        doc="docs/lowrank.md",
        theory={(_W, BayesOptimal): _predict_bayes, (_S, BayesOptimal): _predict_bayes, (_W, AMP): _predict_amp,
                (_S, AMP): _predict_amp, (_W, Spectral): _predict_spectral, (_S, Spectral): _predict_spectral},
        simulation={(_W, AMP): _simulate_wigner_amp, (_S, AMP): _simulate_wishart_amp,
                    (_W, Spectral): _simulate_wigner_spectral, (_S, Spectral): _simulate_wishart_spectral},
        transitions={(_W, BayesOptimal): _transitions_bayes, (_S, BayesOptimal): _transitions_bayes,
                     (_W, AMP): _transitions_bayes, (_S, AMP): _transitions_bayes,
                     (_W, Spectral): _transitions_spectral, (_S, Spectral): _transitions_spectral},
        fields={(_W, AMP): ("m", "q", "mse", "overlap"), (_S, AMP): ("m_u", "m_v", "mse", "overlap_u", "overlap_v"),
                (_W, Spectral): ("overlap", "top_eigenvalue"), (_S, Spectral): ("overlap_u", "overlap_v", "top_singular_value")},
        examples=[
            Example(_W(Rademacher(), snr=2.0), BayesOptimal()),
            Example(_W(Rademacher(), snr=2.0), AMP(), d=200, fail_learner=AMP(max_iter=2)),
            Example(_W(Rademacher(), snr=2.0), Spectral(), d=200),
            Example(_S(Rademacher(), Gaussian(), snr=2.0, ratio=2.0), AMP(), d=200, fail_learner=AMP(max_iter=2)),
            Example(_S(Rademacher(), Gaussian(), snr=2.0, ratio=2.0), Spectral(), d=200),
        ],
        axis_labels={"snr": r"signal-to-noise ratio $\lambda$", "overlap": r"overlap $(\hat x\cdot x)^2/(|\hat x|^2|x|^2)$",
                     "top_eigenvalue": "top eigenvalue"},
        fuzz={(_W, BayesOptimal): fuzz.make("bayes", False), (_S, BayesOptimal): fuzz.make("bayes", True),
              (_W, AMP): fuzz.make("amp", False), (_S, AMP): fuzz.make("amp", True),
              (_W, Spectral): fuzz.make("spectral", False), (_S, Spectral): fuzz.make("spectral", True)},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

"""Spiked matrices (Wigner and Wishart, with noise profiles): Bayes-optimal, AMP and spectral
theory, phase transitions, and low-rank AMP / PCA at finite d (docs/lowrank.md)."""
from solvable.families.lowrank.problem import NoiseProfile, SpikedWigner, SpikedWishart
from solvable.families.lowrank import equations, experiment  # noqa: F401  (registers the pairs)
from solvable.families.lowrank.equations import pca_profile_threshold, state_evolution

__all__ = ["NoiseProfile", "SpikedWigner", "SpikedWishart", "pca_profile_threshold", "state_evolution"]

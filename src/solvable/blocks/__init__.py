"""Layer 3, the blocks: the vocabulary of the field that problems and learners are made of.

priors (denoisers, log-partitions), channels (sampling, output functions), losses and
penalties (proximal operators, Moreau envelopes), activations (Hermite coefficients), data
models (spectra for theory, samplers for simulation), the learners shared by several
families (``BayesOptimal``, ``AMP``, ``ERM``, ``Spectral``) and the problems shared by
several families (``GLM``).  Engines call these interfaces only; a fast path special to one
block is a method that block overrides.
"""
from solvable.blocks import activations, channels, data, learners, losses, penalties, priors, problems

__all__ = ["activations", "channels", "data", "learners", "losses", "penalties", "priors", "problems"]

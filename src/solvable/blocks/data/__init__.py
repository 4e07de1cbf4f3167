"""Data models (the covariates of a problem), described by their spectra for the theory and
sampled for the simulations: isotropic inputs, covariance spectra, the Gaussian covariate
model, random features of Gaussian inputs, power-law (kernel) spectra.

The contract a new data model implements is :class:`DataModel` (``spectrum(prior)`` for the
theory, ``sample(...)`` for the simulation), see :mod:`solvable.blocks.data.spectra`.
"""
from solvable.blocks.data.mixture import Mixture
from solvable.blocks.data.spectra import BlockFeatures, Covariance, DataModel, GaussianCovariate, Isotropic, Spectrum
from solvable.blocks.data.kernels import (
    PowerLaw,
    RandomFeatures,
    marchenko_pastur_quadrature,
    scaled_hermite_coefficients,
)

__all__ = ["Mixture", "Spectrum", "DataModel", "Isotropic", "Covariance", "GaussianCovariate", "BlockFeatures", "RandomFeatures", "PowerLaw",
           "marchenko_pastur_quadrature", "scaled_hermite_coefficients"]

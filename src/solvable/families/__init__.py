"""Layer 4, the theory families: one package each (problem, equations = theory, experiment =
finite-size simulation, algorithms, recipes).  Importing a family package registers it (its
``register_family`` call); adding a family is its folder plus one line in :data:`FAMILIES`.
A family imports numerics, core and blocks, never another family."""
import importlib as _importlib

FAMILIES = (
    "glm_bayes",  # Bayes-optimal GLMs and GAMP
    "erm",  # ERM on Gaussian covariate models
    "lowrank",  # spiked matrices
    "sgd",  # online-SGD ODEs
    "random_features",  # random features and kernel rates
    "mixtures",  # ERM on Gaussian mixtures
    "joint",  # several ERM estimators at once: bootstrap, subsampling, ensembles
    "curie_weiss",  # the worked example of docs/adding_a_family.md
)

for _name in FAMILIES:
    globals()[_name] = _importlib.import_module(f"{__name__}.{_name}")

__all__ = list(FAMILIES)

"""Random features and kernels: the Mei-Montanari closed form and the decay rates of kernel
ridge, SVM and ridge classification (docs/random_features.md).  The learning curves
themselves are ERM on ``data.RandomFeatures`` / ``data.PowerLaw`` (the ERM family)."""
from solvable.families.random_features.equations import mei_montanari_test_error, rates

__all__ = ["mei_montanari_test_error", "rates"]

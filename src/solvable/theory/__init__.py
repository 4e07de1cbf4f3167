"""Layer 4: theory engines.  Importing a module registers its engines in the registry."""
from . import glm_bayes  # noqa: F401  (issue: Bayes-optimal GLM)
from . import erm  # noqa: F401  (ERM on Gaussian data)
from . import lowrank  # noqa: F401  (spiked matrices)
from . import sgd_ode  # noqa: F401  (online SGD ODEs)

"""Shared test helpers: hypothesis profile and reference integrals."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "solvable",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile(os.environ.get("SOLVABLE_HYPOTHESIS_PROFILE", "solvable"))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # the suite runs in one process per core (pytest-xdist, pyproject's addopts): one BLAS thread
    # each, not a full pool per worker (oversubscription)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


#: the longest tests of the default run (5-19 s each on two cores): collected first, so that
#: pytest-xdist's load scheduling starts them on both workers at once and fills the end of the run
#: with short tests (collected in file order they could start last and leave a worker idle)
_LONG_FIRST = ("test_experiments_gallery.py::test_recipe_quick", "test_fuzz.py::test_fuzz_fast",
               "test_fuzz.py::test_fuzz_simulation_small_d", "test_regression_snapshot.py::test_snapshot_cases",
               "test_mixtures.py::test_theory_matches_simulation", "test_sgd_sim.py::test_single_index_he3_simulation",
               "test_glm_bayes.py::test_noiseless_cs", "test_erm.py::test_regression_loss_side_on_a_curved")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda it: 0 if any(k in it.nodeid for k in _LONG_FIRST) else 1)  # stable: file order otherwise

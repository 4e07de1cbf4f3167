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

"""The engine-contract refactor keeps every number: recompute the regression snapshot taken
before the move (tests/regression/snapshot.json, written by tests/regression/snapshot.py)
and compare every value to 1e-10 relative."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "regression"))
import snapshot  # noqa: E402

REFERENCE = json.loads(snapshot.SNAPSHOT.read_text())

# one worker computes the snapshot (a module fixture is per process: under xdist's default load
# distribution two or more workers each spent ~15 s recomputing it)
pytestmark = pytest.mark.xdist_group("regression-snapshot")


@pytest.fixture(scope="module")
def recomputed():
    return snapshot.compute()


def test_snapshot_is_large():
    assert len(REFERENCE) >= 100 and snapshot.n_values(REFERENCE) >= 3000


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_snapshot_case(recomputed, name):
    ref, new = REFERENCE[name], recomputed[name]
    missing = sorted(set(ref) - set(new))
    assert not missing, f"{name}: fields gone: {missing}"
    bad = {k: (ref[k], new[k]) for k in ref if not snapshot.close(ref[k], new[k])}
    assert not bad, f"{name}: changed beyond 1e-10 relative: {bad}"

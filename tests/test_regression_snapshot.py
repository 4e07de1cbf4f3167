"""The engine-contract refactor keeps every number: recompute the regression snapshot taken
before the move (tests/regression/snapshot.json, written by tests/regression/snapshot.py)
and compare every value to 1e-10 relative."""
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent / "regression"))
import snapshot  # noqa: E402

REFERENCE = json.loads(snapshot.SNAPSHOT.read_text())


def test_snapshot_is_large():
    assert len(REFERENCE) >= 100 and snapshot.n_values(REFERENCE) >= 3000


def test_snapshot_cases():
    """Every case of the snapshot, recomputed once (one test: a module fixture is per xdist worker, and
    with one test a case the snapshot, ~15 s, was recomputed by two or more workers); the message lists
    every case that changed."""
    recomputed = snapshot.compute()
    problems = {}
    for name in sorted(REFERENCE):
        ref, new = REFERENCE[name], recomputed[name]
        missing = sorted(set(ref) - set(new))
        bad = {k: (ref[k], new[k]) for k in ref if k in new and not snapshot.close(ref[k], new[k])}
        if missing or bad:
            problems[name] = {"fields gone": missing, "changed beyond 1e-10 relative": bad}
    assert not problems, problems

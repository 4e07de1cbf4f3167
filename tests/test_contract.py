"""The contract suite: every registered family's examples pass every contract check
(solvable.core.checks), and every registered pair has an example."""
import pytest

import solvable as sv
from solvable.core import checks, registry

EXAMPLES = checks.examples()


def _id(item):
    fam, ex = item
    return f"{fam}:{type(ex.problem).__name__}-{type(ex.learner).__name__}"


@pytest.mark.parametrize("check", sorted(checks.CHECKS))
@pytest.mark.parametrize("item", EXAMPLES, ids=[_id(e) for e in EXAMPLES])
def test_contract(item, check):
    _, ex = item
    if checks.CHECKS[check](ex) is False:
        pytest.skip(f"{check} does not apply to this example")


def test_every_theory_pair_has_an_example():
    covered = {(type(ex.problem), type(ex.learner)) for _, ex in EXAMPLES}
    pairs = {pair for fam in registry.families().values() for pair in fam.theory}
    missing = sorted(f"{p.__name__}+{l.__name__}" for p, l in pairs if (p, l) not in covered)
    # SpikedWishart + BayesOptimal shares the engine of SpikedWigner + BayesOptimal (covered)
    assert set(missing) <= {"SpikedWishart+BayesOptimal"}, missing


def test_every_family_is_registered_once_with_docs():
    fams = registry.families()
    assert {"glm_bayes", "erm", "lowrank", "sgd"} <= set(fams)
    for name, fam in fams.items():
        if fam.theory:
            assert fam.doc.startswith("docs/"), f"{name} has no docs page"


def test_public_api_matches_all():
    """``__all__`` lists what is public: the top level and every family namespace."""
    import types

    for mod in [sv] + [getattr(sv.families, n) for n in sv.families.FAMILIES]:
        public = {n for n in dir(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), types.ModuleType)}
        assert public <= set(mod.__all__), f"{mod.__name__}: public but not in __all__: {sorted(public - set(mod.__all__))}"
        assert all(hasattr(mod, n) for n in mod.__all__), f"{mod.__name__}: __all__ names a missing attribute"
    assert sv.optimal_penalty is sv.families.erm.optimal_penalty and sv.rates is sv.families.random_features.rates

"""Learning dynamics of online SGD in two-layer networks: the Saad-Solla / Goldt et al. ODEs
and the matched SGD runs (docs/dynamics.md)."""
from solvable.families.sgd.equations import initial_order_parameters, integrate_committee_ode
from solvable.families.sgd.learner import OnlineSGD
from solvable.families.sgd.problem import Committee

__all__ = ["Committee", "OnlineSGD", "initial_order_parameters", "integrate_committee_ode"]


def _register():
    """Register the family (its pairs, common fields, contract examples, axis labels)."""
    from solvable.core.registry import Example, register_family
    from solvable.families.sgd import fuzz
    from solvable.families.sgd.equations import predict_committee_sgd
    from solvable.families.sgd.experiment import simulate_committee_sgd
    from solvable.families.sgd.learner import OnlineSGD
    from solvable.families.sgd.problem import Committee

    return register_family(
        "sgd",
        doc="docs/dynamics.md",
        theory={(Committee, OnlineSGD): predict_committee_sgd},
        simulation={(Committee, OnlineSGD): simulate_committee_sgd},
        batched=[(Committee, OnlineSGD)],
        fields={(Committee, OnlineSGD): ("t", "test_error", "Q", "R", "T", "v")},
        examples=[
            Example(Committee(k=2), OnlineSGD(width=2, lr=0.5, time=2.0, n_times=5), d=60, theory_options={"d": 60}),
            Example(Committee(k=1, activation="linear"), OnlineSGD(width=1, activation="linear", lr=0.5, time=2.0, n_times=5),
                    d=60, fail_learner=OnlineSGD(width=1, activation="linear", lr=5.0, time=100.0, n_times=10)),
        ],
        axis_labels={"t": r"time $t$ (steps / d)", "time": r"time $t$", "lr": r"learning rate $\eta$"},
        fuzz={(Committee, OnlineSGD): fuzz.sample_sgd},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

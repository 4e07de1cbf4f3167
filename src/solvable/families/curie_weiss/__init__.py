"""The Curie-Weiss model: mean-field equilibrium and Glauber dynamics, with exact finite-N
simulations.  The worked example of docs/adding_a_family.md (a complete family in one folder)."""
from solvable.families.curie_weiss.experiment import magnetisation_law
from solvable.families.curie_weiss.problem import CurieWeiss, Equilibrium, Glauber

__all__ = ["CurieWeiss", "Equilibrium", "Glauber", "magnetisation_law"]


def _register():
    """Register the family (its pairs, common fields, contract examples, axis labels)."""
    from solvable.core.registry import Example, register_family
    from solvable.families.curie_weiss import fuzz
    from solvable.families.curie_weiss.equations import CurieWeissEquilibrium, GlauberMeanField
    from solvable.families.curie_weiss.experiment import EquilibriumSample, GlauberRun
    from solvable.families.curie_weiss.problem import CurieWeiss, Equilibrium, Glauber

    return register_family(
        "curie_weiss",
        doc="docs/adding_a_family.md",
        theory={(CurieWeiss, Equilibrium): CurieWeissEquilibrium, (CurieWeiss, Glauber): GlauberMeanField},
        simulation={(CurieWeiss, Equilibrium): EquilibriumSample, (CurieWeiss, Glauber): GlauberRun},
        fields={(CurieWeiss, Equilibrium): ("m", "energy"), (CurieWeiss, Glauber): ("t", "m", "energy")},
        examples=[
            Example(CurieWeiss(beta=1.5), Equilibrium(), d=400, fail_options={"max_iter": 2}),
            Example(CurieWeiss(beta=1.5), Glauber(time=2.0, n_times=5), d=400),
        ],
        axis_labels={"beta": r"inverse temperature $\beta$", "energy": "energy per spin",
                     "susceptibility": r"susceptibility $\chi$"},
        fuzz={(CurieWeiss, Equilibrium): fuzz.sample_equilibrium},
        invariants=fuzz.invariants,
    )


_FAMILY = _register()

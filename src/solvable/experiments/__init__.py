"""Layer 6, experiments: ``sweep`` over grids (theory and seeded simulations, on a local pool
or a Dask cluster, stored in a resumable SQLite file), ``plot``, phase diagrams, and the
gallery of recipes that reproduce published figures."""
from solvable.experiments.config import canonical, config_key, replace_path
from solvable.experiments.plot import plot, plot_phase_diagram, transition_lines
from solvable.experiments.store import Store, StoreCorruptError, StoreError, StoreWarning
from solvable.experiments.sweep import OptionError, SweepError, SweepInputError, aggregate_table, load, sweep

__all__ = [
    "sweep", "load", "SweepError", "SweepInputError", "OptionError", "aggregate_table", "Store", "StoreError",
    "StoreCorruptError", "StoreWarning", "plot", "plot_phase_diagram", "transition_lines",
    "canonical", "config_key", "replace_path",
]

"""Layer 6, experiments: ``sweep`` over grids (theory and seeded simulations, on a local pool
or a Dask cluster, stored in a resumable SQLite file), ``plot``, phase diagrams, and the
gallery of recipes that reproduce published figures."""
from .config import canonical, config_key, replace_path
from .plot import plot, plot_phase_diagram, transition_lines
from .store import Store
from .sweep import SweepError, aggregate_table, sweep

__all__ = [
    "sweep", "SweepError", "aggregate_table", "Store", "plot", "plot_phase_diagram", "transition_lines",
    "canonical", "config_key", "replace_path",
]

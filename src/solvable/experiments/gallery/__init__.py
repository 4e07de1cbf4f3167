"""The gallery: recipes that reproduce published figures of the field.

Each recipe is a function ``fn(quick, out, **run) -> RecipeResult`` registered with
:func:`recipe`; it runs a sweep (theory and simulation), draws the figure and checks its own
numbers: theory against simulation (within 4 standard errors plus a stated finite-size
allowance) and against the published values it names.  ``quick=True`` runs in seconds (CI).
A recipe is listed only when the engines it needs are registered.

>>> import solvable.experiments.gallery as g          # doctest: +SKIP
>>> g.reproduce("perceptron", quick=True).ok          # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["Check", "RecipeResult", "Recipe", "recipe", "recipes", "get_recipe", "reproduce", "RECIPES"]


@dataclass
class Check:
    """One number a recipe checks: ``|value - expected| <= tol`` (``relation="~"``), or a bound: ``value >= expected
    - tol`` (``">="``, :meth:`at_least`) or ``value <= expected + tol`` (``"<="``, :meth:`at_most`)."""

    name: str
    value: float
    expected: float
    tol: float
    source: str = ""
    relation: str = "~"

    @classmethod
    def at_least(cls, name: str, value: float, bound: float, source: str = "", *, tol: float = 0.0) -> "Check":
        """``value >= bound - tol``."""
        return cls(name, float(value), float(bound), float(tol), source, ">=")

    @classmethod
    def at_most(cls, name: str, value: float, bound: float, source: str = "", *, tol: float = 0.0) -> "Check":
        """``value <= bound + tol``."""
        return cls(name, float(value), float(bound), float(tol), source, "<=")

    @property
    def passed(self) -> bool:
        if not np.isfinite(self.value):
            return False
        if self.relation == ">=":
            return bool(self.value >= self.expected - self.tol)
        if self.relation == "<=":
            return bool(self.value <= self.expected + self.tol)
        return bool(abs(self.value - self.expected) <= self.tol)

    def __str__(self):
        mark = "ok  " if self.passed else "FAIL"
        src = f"  [{self.source}]" if self.source else ""
        if self.relation in (">=", "<="):
            tol = f" (tol {self.tol:.2g})" if self.tol else ""
            return f"{mark} {self.name}: {self.value:.5g} {self.relation} {self.expected:.5g}{tol}{src}"
        return f"{mark} {self.name}: {self.value:.5g} vs {self.expected:.5g} (tol {self.tol:.2g}){src}"


@dataclass
class RecipeResult:
    name: str
    table: pd.DataFrame
    checks: list[Check] = field(default_factory=list)
    figure: Path | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class Recipe:
    name: str
    title: str
    reference: str
    requires: tuple                     # ((problem class name, learner class name, "theory"|"simulation"), ...)
    fn: Callable
    description: str = ""

    def available(self) -> bool:
        from solvable.core.registry import supported_pairs

        pairs = supported_pairs()
        return all((p, l) in pairs[kind] for p, l, kind in self.requires)

    def missing(self) -> list[str]:
        from solvable.core.registry import supported_pairs

        pairs = supported_pairs()
        return [f"{kind} of ({p}, {l})" for p, l, kind in self.requires if (p, l) not in pairs[kind]]


RECIPES: dict[str, Recipe] = {}


def recipe(name: str, title: str, reference: str, requires: tuple, description: str = ""):
    """Register a gallery recipe."""
    def deco(fn):
        RECIPES[name] = Recipe(name, title, reference, tuple(requires), fn, description or (fn.__doc__ or "").strip())
        return fn

    return deco


def recipes(available_only: bool = True) -> list[Recipe]:
    """The recipes (by default only those whose engines are registered)."""
    return [r for r in RECIPES.values() if r.available() or not available_only]


def get_recipe(name: str) -> Recipe:
    r = RECIPES.get(name)
    avail = ", ".join(x.name for x in recipes()) or "none"
    if r is None:
        raise ValueError(f"unknown recipe {name!r}; available: {avail}")
    if not r.available():
        raise ValueError(f"recipe {name!r} needs {', '.join(r.missing())}, which are not available; available: {avail}")
    return r


def reproduce(name: str, quick: bool = False, out: str | Path | None = None, **run) -> RecipeResult:
    """Run recipe ``name``; writes ``<name>.png`` and ``<name>.csv`` to ``out`` when given.
    ``run``: executor, workers, store, progress (passed to the sweeps)."""
    r = get_recipe(name)
    outdir = Path(out) if out is not None else None
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
    res = r.fn(quick=quick, out=outdir, **run)
    if outdir is not None:
        csv = outdir / f"{name}.csv"
        res.table.to_csv(csv, index=False)
        res.files.append(csv)
    return res


# ---------------------------------------------------------------------------------------------
# helpers shared by recipes
# ---------------------------------------------------------------------------------------------
def theory_vs_simulation(table: pd.DataFrame, y: str, *, by: list[str], allowance: float, n_se: float = 4.0,
                         name: str = "", source: str = "") -> list[Check]:
    """A check per simulated point: the theory value against the mean over seeds, tolerance
    ``n_se`` standard errors plus a finite-size ``allowance``."""
    th = table[table["kind"] == "theory"].set_index(by)[y]
    sims = table[table["kind"] == "simulation"]
    checks = []
    for key, g in sims.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        t = th.loc[key if len(key) > 1 else key[0]]
        t = float(t.iloc[0]) if isinstance(t, pd.Series) else float(t)
        vals = g[y].to_numpy(float)
        se = float(np.std(vals, ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else float("nan")
        where = ", ".join(f"{b}={_fmt(k)}" for b, k in zip(by, key))
        checks.append(Check(f"{name or y} theory vs simulation at {where} (d={int(g['d'].iloc[0])}, {len(vals)} seeds)",
                            float(np.mean(vals)), t, n_se * (se if np.isfinite(se) else 0.0) + allowance, source))
    return checks


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _save(ax, out: Path | None, name: str) -> Path | None:
    import matplotlib.pyplot as plt

    path = None
    if out is not None:
        path = out / f"{name}.png"
        ax.figure.savefig(path, bbox_inches="tight", dpi=150)
    plt.close(ax.figure)
    return path


def _run_kw(run: dict) -> dict:
    kw = {k: run[k] for k in ("executor", "workers", "store", "progress") if k in run}
    kw.setdefault("progress", False)
    return kw


# ---------------------------------------------------------------------------------------------
# recipes
# ---------------------------------------------------------------------------------------------
from solvable.experiments.gallery import perceptron, double_descent, spiked_wigner, saad_solla, random_features, kernel_classification, sparse_pca, compressed_sensing, mixtures, mixture_sgd, resampling, calibration, ensembles, robust, adversarial  # noqa: E402,F401,E501  (register the recipes)

"""Plots of sweep tables: theory as lines, simulations as points with error bars, and phase
diagrams (a 2D sweep as a heat map with the located transition lines on top)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["plot", "plot_phase_diagram", "transition_lines", "AXIS_LABELS", "axis_label"]

#: Axis labels of the field names every family shares (docs/conventions.md); each family adds
#: the labels of its own parameters and fields when it registers (``register_family(axis_labels=...)``).
AXIS_LABELS = {
    "m": r"overlap $m = w\cdot\theta/d$",
    "q": r"self-overlap $q = |w|^2/d$",
    "test_error": "test error",
    "mse": r"estimation error $|w-\theta|^2/d$",
    "free_entropy": "free entropy",
    "mutual_information": "mutual information per variable",
    "generalization_error": "generalisation error",
    "gamma": r"width ratio $\gamma = p/d$",
    "noise": r"noise variance $\Delta$",
    "channel.noise": r"noise variance $\Delta$",
    "d": "dimension $d$",
}

_FORMATS = {".png", ".pdf", ".svg"}


def axis_label(name: str) -> str:
    """The conventional label of a column (the name itself when there is none)."""
    from solvable.core.registry import axis_labels

    labels = {**axis_labels(), **AXIS_LABELS}
    return labels.get(name, labels.get(name.rsplit(".", 1)[-1], name))


def _check_save(save):
    if save is None:
        return None
    p = Path(save)
    if p.suffix.lower() not in _FORMATS:
        raise ValueError(f"save must end in .png, .pdf or .svg, got save={str(save)!r}")
    return p


def _axes(ax):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    return fig, ax


def _grid_cols(table: pd.DataFrame) -> list[str]:
    g = table.attrs.get("grid")
    if g:
        return [c for c in g if c in table.columns]
    return []


def _sim_summary(sims: pd.DataFrame, keys: list[str], y: str) -> pd.DataFrame:
    """Mean and standard error of y per keys (already aggregated tables are used as they are)."""
    if f"{y}_se" in sims.columns and "seed" not in sims.columns:
        return sims[keys + [y, f"{y}_se"]].rename(columns={y: "mean", f"{y}_se": "se"})
    g = sims.groupby(keys, sort=True, dropna=False)[y]
    out = pd.DataFrame({"mean": g.mean(), "se": g.std(ddof=1) / np.sqrt(g.count())}).reset_index()
    return out


def _label_axes(ax, xlabel: str, ylabel: str, logx: bool, logy: bool, title: str | None) -> None:
    """Axis labels, log scales and title, shared by :func:`plot` and :func:`plot_phase_diagram`."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)


def plot(
    table: pd.DataFrame,
    x: str = "alpha",
    y: str = "test_error",
    hue: str | None = None,
    *,
    logx: bool = False,
    logy: bool = False,
    ax=None,
    save: str | Path | None = None,
    title: str | None = None,
    theory: bool = True,
    simulation: bool = True,
    label: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    styles: Mapping[Any, Mapping] | None = None,
):
    """Theory as lines and simulations as points with error bars (one standard error).

    ``hue`` names a column whose values get their own colour (by default the one other grid
    column that varies, if there is exactly one).  Tables with several ``d`` draw one marker
    per ``d``.  ``styles`` maps hue values to line keywords (e.g. ``{"Bayes-optimal": {"color": "k",
    "ls": "--"}}``).  ``save`` writes a PNG, PDF or SVG.  Returns the matplotlib Axes.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"plot: table must be a pandas DataFrame (from sv.sweep), got {type(table).__name__}")
    for name, col in (("x", x), ("y", y)):
        if col not in table.columns:
            raise ValueError(f"plot: {name}={col!r} is not a column of the table; columns: {list(table.columns)}")
    if hue is not None and hue not in table.columns:
        raise ValueError(f"plot: hue={hue!r} is not a column of the table; columns: {list(table.columns)}")
    save = _check_save(save)
    kind = table["kind"] if "kind" in table.columns else pd.Series("theory", index=table.index)
    if hue is None:
        others = [c for c in _grid_cols(table) if c != x and table[c].nunique(dropna=False) > 1]
        if len(others) == 1:
            hue = others[0]
        elif len(others) > 1:
            raise ValueError(f"plot: the table varies in {others} besides x={x!r}; name one as hue= "
                             "and select the others (e.g. table[table[...] == ...])")
    fig, ax = _axes(ax)
    groups = list(pd.unique(table[hue])) if hue is not None else [None]
    colors = [f"C{i % 10}" for i in range(len(groups))]
    markers = "osD^v<>ph*"
    for g, c in zip(groups, colors):
        sub = table if g is None else table[table[hue] == g]
        k = kind.loc[sub.index]
        name = label if g is None else f"{g}" if isinstance(g, str) else f"{hue.rsplit('.', 1)[-1]}={g:g}" if isinstance(g, float) else f"{hue}={g}"
        th = sub[k == "theory"]
        drew_line = False
        if theory and len(th) and th[y].notna().any():
            th = th.sort_values(x)
            st = dict((styles or {}).get(g, {}))
            c = st.pop("color", c)
            ax.plot(th[x], th[y], st.pop("ls", "-"), color=c, label=name, **st)
            drew_line = True
        sims = sub[k == "simulation"]
        if simulation and len(sims) and sims[y].notna().any():
            ds = sorted(sims["d"].dropna().unique()) if "d" in sims.columns else [None]
            for j, d in enumerate(ds):
                sd = sims if d is None else sims[sims["d"] == d]
                s = _sim_summary(sd, [x], y).sort_values(x)
                lab = None
                if not drew_line or len(ds) > 1:
                    lab = " ".join(t for t in ((name or "") if not drew_line else "", f"d={int(d)}" if d is not None and len(ds) > 1 else "") if t) or None
                ax.errorbar(s[x], s["mean"], yerr=s["se"].fillna(0.0), fmt=markers[j % len(markers)], color=c,
                            ms=4.5, capsize=2, lw=1, label=lab)
    _label_axes(ax, xlabel or axis_label(x), ylabel or axis_label(y), logx, logy, title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=9)
    if (kind == "simulation").any() and (kind == "theory").any():
        ax.text(0.99, 0.01, "lines: theory, points: simulation", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="0.4")
    if save is not None:
        fig.savefig(save, bbox_inches="tight", dpi=150)
    return ax


def transition_lines(problem, learner, x: str, x_range: tuple[float, float], y: str, y_values) -> dict[str, tuple]:
    """Transition lines of a phase diagram: for each value of the dotted field ``y`` (e.g.
    ``"channel.noise"``), ``sv.phase_transitions(problem, learner, x=x_range)``; returns
    ``{name: (x_values, y_values)}`` for every transition found at some y."""
    from solvable.core.registry import phase_transitions
    from solvable.experiments.config import replace_path

    found: dict[str, tuple[list, list]] = {}
    for yv in np.asarray(y_values, dtype=float):
        pr, le = replace_path(problem, learner, y, float(yv))
        tr = phase_transitions(pr, le, **{x: x_range})
        for name, val in tr.items():
            if val is None:
                continue
            try:
                v = float(val)
            except (TypeError, ValueError):
                continue
            if np.isfinite(v):
                xs, ys = found.setdefault(name, ([], []))
                xs.append(v)
                ys.append(float(yv))
    return {k: (np.asarray(a), np.asarray(b)) for k, (a, b) in found.items()}


def plot_phase_diagram(
    table: pd.DataFrame,
    x: str,
    y: str,
    z: str,
    *,
    transitions: Mapping[str, Any] | None = None,
    kind: str = "theory",
    ax=None,
    save: str | Path | None = None,
    cmap: str = "viridis",
    logx: bool = False,
    logy: bool = False,
    title: str | None = None,
):
    """A 2D sweep as a heat map of ``z`` over (``x``, ``y``), with transition lines on top.

    ``transitions``: ``{name: (x_values, y_values)}`` (e.g. from :func:`transition_lines`) or
    ``{name: DataFrame with columns x and y}``.  Uses the rows of ``kind`` (theory by default;
    simulation rows are averaged over seeds).  Returns the matplotlib Axes.
    """
    for name, col in (("x", x), ("y", y), ("z", z)):
        if col not in table.columns:
            raise ValueError(f"plot_phase_diagram: {name}={col!r} is not a column; columns: {list(table.columns)}")
    save = _check_save(save)
    sub = table[table["kind"] == kind] if "kind" in table.columns else table
    if sub.empty:
        raise ValueError(f"plot_phase_diagram: the table has no {kind!r} rows")
    grid = sub.pivot_table(index=y, columns=x, values=z, aggfunc="mean")
    if grid.shape[0] < 2 or grid.shape[1] < 2:
        raise ValueError(f"plot_phase_diagram: need at least 2 values of both {x!r} and {y!r}, got a {grid.shape[1]}x{grid.shape[0]} grid")
    fig, ax = _axes(ax)
    mesh = ax.pcolormesh(grid.columns.to_numpy(float), grid.index.to_numpy(float), grid.to_numpy(float),
                         shading="nearest", cmap=cmap)
    fig.colorbar(mesh, ax=ax, label=axis_label(z))
    styles = ["-", "--", ":", "-."]
    for i, (name, line) in enumerate((transitions or {}).items()):
        if isinstance(line, pd.DataFrame):
            xs, ys = line[x].to_numpy(float), line[y].to_numpy(float)
        else:
            xs, ys = (np.asarray(v, dtype=float) for v in line)
        order = np.argsort(ys)
        ax.plot(xs[order], ys[order], styles[i % len(styles)], color="w", lw=2, label=name.replace("_", " "))
    if transitions:
        ax.legend(frameon=False, fontsize=8, labelcolor="w", loc="best")
    _label_axes(ax, axis_label(x), axis_label(y), logx, logy, title)
    if save is not None:
        fig.savefig(save, bbox_inches="tight", dpi=150)
    return ax

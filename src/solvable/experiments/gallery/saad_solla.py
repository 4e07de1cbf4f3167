"""Online SGD of a soft committee machine: the plateau of Saad & Solla (PRE 52, 4225 (1995),
Figs. 1-2; Goldt et al., NeurIPS 2019, Fig. 1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _run_kw, _save, recipe


@recipe(
    "saad-solla",
    "Online SGD of a two-layer network: the Saad-Solla plateau, ODE vs simulation",
    "Saad & Solla, PRE 52, 4225 (1995), Figs. 1-2; Goldt et al., NeurIPS 2019",
    requires=(("Committee", "OnlineSGD", "theory"), ("Committee", "OnlineSGD", "simulation")),
)
def saad_solla(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Teacher and student: soft committees of 2 erf units; student weights start small
    (init_scale 0.01), learning rate 0.5.  The test error falls to a plateau (the symmetric
    fixed point, where no student unit has specialised) and leaves it at t ~ 100-200.  Each seed
    is compared with the ODE started from that seed's initial overlaps."""
    import pandas as pd

    import solvable as sv

    problem = sv.Committee(k=2, activation="erf")
    d, seeds, T = (100, 2, 300.0) if quick else (500, 4, 400.0)
    learner = sv.OnlineSGD(width=2, activation="erf", lr=0.5, time=T, n_times=25 if quick else 60, init_scale=0.01)
    kw = _run_kw(run)
    sims = sv.sweep(problem, learner, simulate={"d": d, "seeds": seeds}, theory=False, explode="t", **kw)
    rows = []
    for s in range(seeds):
        # the ODE from the overlaps of the very weights simulation seed s starts from
        p = sv.predict(problem, learner, d=d, seed=s)
        rows.append(pd.DataFrame({"kind": "theory", "seed": s, "t": p.t, "test_error": p.test_error}))
    theory = pd.concat(rows, ignore_index=True)
    table = pd.concat([theory, sims], ignore_index=True, sort=False)
    table.attrs["grid"] = ["seed", "t"]
    checks = []
    window = (10.0, 100.0)
    for s in range(seeds):
        th = theory[theory.seed == s].set_index("t")["test_error"]
        # the simulation records at whole steps: the same time grid, rounded to multiples of 1/d
        sm = sims[sims.seed == s]["test_error"].to_numpy(float)
        inside = (th.index >= window[0]) & (th.index <= window[1])
        dev = float(np.max(np.abs(sm[inside] - th.to_numpy()[inside])))
        # SGD fluctuates around the ODE by O(1/sqrt(d)) relative to the error: 10% of the plateau
        # height at d = 100; twice that (0.003) bounds it, the Monte Carlo test error adds ~1%.
        checks.append(Check(f"max |simulation - ODE| on the plateau t in {window} (seed {s}, d={d})", dev, 0.0,
                            0.03 / np.sqrt(d), "Saad & Solla 1995 (ODEs exact as d -> infinity)"))
        plateau = th[inside]
        flat = float((plateau.max() - plateau.min()) / plateau.mean())
        checks.append(Check(f"ODE plateau: relative variation of the error for t in {window} (seed {s}), small",
                            flat, 0.0, 0.1, "Saad & Solla 1995, Fig. 1"))
        drop = float(th.iloc[-1] / plateau.mean())
        checks.append(Check(f"ODE escapes the plateau: final error / plateau error (seed {s}), < 0.2", drop,
                            0.0, 0.2, "Saad & Solla 1995, Fig. 1"))
    ax = sv.plot(table, x="t", y="test_error", hue="seed", logx=True, logy=True,
                 title="Online SGD, 2-unit erf committees: the plateau", xlabel="time t = steps / d")
    fig = _save(ax, out, "saad-solla")
    return RecipeResult("saad-solla", table, checks, fig, [fig] if fig else [])

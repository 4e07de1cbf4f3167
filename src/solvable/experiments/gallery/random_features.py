"""Double descent of random-features ridge regression (Mei & Montanari, CPAM 75 (2022),
Thm. 1 and Fig. 1; Gerace et al., ICML 2020)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _run_kw, _save, recipe, theory_vs_simulation

try:  # the random-features data model and the closed form of Mei & Montanari
    from solvable.blocks.data.kernels import RandomFeatures
    from solvable.families.random_features.equations import mei_montanari_test_error
except ImportError:  # pragma: no cover  (that family is not installed: the recipe is not listed)
    RandomFeatures = None

ALPHA = 2.0     # n / d
NOISE = 0.1     # label noise variance
ACT = "relu"

if RandomFeatures is not None:

    @recipe(
        "rf-double-descent",
        "Random-features ridge regression: double descent in the number of features",
        "Mei & Montanari, CPAM 2022, Thm. 1, Fig. 1",
        requires=(("GLM", "ERM", "theory"), ("GLM", "ERM", "simulation")),
    )
    def rf_double_descent(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
        """Linear Gaussian teacher (noise 0.1), n = 2d samples, p = gamma d ReLU random
        features, ridge with lam -> 0 and lam = 0.1: test error against gamma = p/d, with the
        interpolation peak at p = n (gamma = 2)."""
        import pandas as pd

        import solvable as sv

        problem = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(noise=NOISE), alpha=ALPHA,
                         data=RandomFeatures(ACT, gamma=1.0))
        learner = sv.ERM(sv.losses.Square(), sv.penalties.L2(1e-4))
        lams = {"ridgeless (lam=1e-4)": 1e-4, "lam=0.1": 0.1}
        g_sim = np.array([0.5, 4.0]) if quick else np.array([0.5, 1.0, 3.0, 4.0, 6.0])
        g_th = np.unique(np.concatenate([np.geomspace(0.1, 10.0, 30 if quick else 120), g_sim, [ALPHA]]))
        d, seeds = (200, 6) if quick else (400, 10)
        kw = _run_kw(run)
        th = sv.sweep(problem, learner, over={"penalty.lam": lams, "data.gamma": g_th}, **kw)
        sims = sv.sweep(problem, learner, over={"penalty.lam": lams, "data.gamma": g_sim},
                        simulate={"d": d, "seeds": seeds}, theory=False, **kw)
        table = pd.concat([th, sims], ignore_index=True)
        table.attrs["grid"] = ["penalty.lam", "data.gamma"]
        # finite size: with p = gamma d features the fluctuations are in the se; the O(1/d)
        # bias of the ridge error away from the peak is below 0.02 at d = 200 (errors ~ 0.3-1).
        checks = theory_vs_simulation(table, "test_error", by=["penalty.lam", "data.gamma"], allowance=0.02)
        for lab, lam in lams.items():
            t = th[th["penalty.lam"] == lab].set_index("data.gamma")["test_error"]
            for gm in (0.5, ALPHA, 4.0):
                ref = float(mei_montanari_test_error(ACT, gm, ALPHA, lam, noise=NOISE))
                checks.append(Check(f"{lab}: test error at gamma={gm}", float(t.loc[gm]), ref, 1e-6 * max(1.0, ref),
                                    "Mei & Montanari 2022, Thm. 1"))
        t = th[th["penalty.lam"] == "ridgeless (lam=1e-4)"].set_index("data.gamma")["test_error"]
        peak = float(t.idxmax())
        checks.append(Check("ridgeless: gamma of the peak (p = n)", peak, ALPHA, 0.15 * ALPHA,
                            "Mei & Montanari 2022, Fig. 1"))
        ax = sv.plot(table, x="data.gamma", y="test_error", hue="penalty.lam", logx=True, logy=True,
                     xlabel=r"features per dimension $\gamma = p/d$",
                     title=f"Random features ({ACT}), n/d = {ALPHA}, noise {NOISE}")
        fig = _save(ax, out, "rf-double-descent")
        return RecipeResult("rf-double-descent", table, checks, fig, [fig] if fig else [])

"""Bootstrap and subsampling variance against the true variance of ridge regression (Clarte,
Vandenbroucque, Dalle, Loureiro, Krzakala, Zdeborova 2024, "Analysis of bootstrap and subsampling in
high-dimensional regularized regression", Fig. 1: the variance a resampling method estimates is not
the variance over fresh data sets)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _run_kw, _save, recipe, theory_vs_simulation

#: noise variance of the linear teacher and the ridge strength of the figure
NOISE, LAM = 1.0, 0.1
#: the published pair-bootstrap overlaps at alpha = 1 (Clarte et al. 2024, authors' package
#: BootstrapAsymptotics, state evolution stopped at relative tolerance 1e-4: docs/joint.md)
PUBLISHED_Q = (1.35642, 0.79981)


@recipe(
    "bootstrap-variance",
    "Bootstrap and subsampling variance against the true variance of ridge regression",
    "Clarte, Vandenbroucque, Dalle, Loureiro, Krzakala, Zdeborova 2024, Fig. 1",
    requires=(("GLM", "JointERM", "theory"), ("GLM", "JointERM", "simulation")),
)
def bootstrap_variance(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Gaussian teacher, linear channel with noise 1, ridge with lam = 0.1: the variance across two
    pair-bootstrap replicates, across two subsamples (r = 0.5) and across two independent data sets
    (the true variance), against alpha = n/d."""
    import pandas as pd

    import solvable as sv
    from solvable.families.joint import FreshData, JointERM, PairBootstrap, Subsampling

    problem = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(NOISE), alpha=1.0)
    ridge = sv.ERM("square", sv.penalties.L2(LAM))
    learners = {"pair bootstrap": JointERM(ridge, weights=PairBootstrap()),
                "subsampling r=0.5": JointERM(ridge, weights=Subsampling(0.5)),
                "true (fresh data)": JointERM(ridge, weights=FreshData())}
    a_sim = np.array([0.5, 2.0]) if quick else np.array([0.3, 0.7, 1.0, 2.0, 4.0])
    a_th = np.unique(np.concatenate([np.geomspace(0.1, 10.0, 40 if quick else 120), a_sim, [1.0]]))
    d, seeds = (200, 8) if quick else (500, 20)
    kw = _run_kw(run)
    first = next(iter(learners.values()))
    th = sv.sweep(problem, first, over={"learner": learners, "alpha": a_th}, **kw)
    sims = sv.sweep(problem, first, over={"learner": learners, "alpha": a_sim}, simulate={"d": d, "seeds": seeds},
                    theory=False, **kw)
    table = pd.concat([th, sims], ignore_index=True)
    table.attrs["grid"] = ["learner", "alpha"]
    checks = theory_vs_simulation(table, "variance", by=["learner", "alpha"], allowance=0.0)
    boot = th[th["learner"] == "pair bootstrap"].set_index("alpha")
    for f, v in zip(("q_0_0", "q_0_1"), PUBLISHED_Q):
        checks.append(Check(f"pair bootstrap {f} at alpha=1", float(boot.loc[1.0, f]), v, 2e-4,
                            "Clarte et al. 2024 (BootstrapAsymptotics, rtol 1e-4)"))
    true = th[th["learner"] == "true (fresh data)"].set_index("alpha")
    gap = float(np.max(np.abs(true["variance"] - (true["q_0_0"] - true["m_0"] ** 2))))
    checks.append(Check("true variance = q - m^2 / rho (fresh data sets: Q_12 = m^2 / rho)", gap, 0.0, 1e-10,
                        "Loureiro et al. 2022"))
    ax = sv.plot(table, x="alpha", y="variance", hue="learner", logx=True,
                 title=f"Ridge (lam = {LAM}), noise variance {NOISE}: variance of w.x")
    fig = _save(ax, out, "bootstrap-variance")
    return RecipeResult("bootstrap-variance", table, checks, fig, [fig] if fig else [])

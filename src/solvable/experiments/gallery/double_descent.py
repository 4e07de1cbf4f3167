"""Double descent of ridge / min-norm least squares (Hastie, Montanari, Rosset & Tibshirani,
Ann. Statist. 50 (2022), Thm. 1 and Fig. 1; optimal regularisation removes the peak:
Nakkiran, Venkat, Kakade & Ma, ICLR 2021)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _run_kw, _save, recipe, theory_vs_simulation

#: noise variance Delta of the linear teacher y = theta.x/sqrt(d) + sqrt(Delta) xi
NOISE = 0.25
#: the ridgeless limit is approached with this small L2 strength (its effect on the error is O(lam))
LAM_RIDGELESS = 1e-4


def ridgeless_test_error(alpha, noise: float = NOISE, rho: float = 1.0):
    """Min-norm least squares, isotropic Gaussian data, n/d = alpha (Hastie et al. 2022, Thm. 1,
    with gamma = 1/alpha): excess risk ``rho (1 - alpha) + noise alpha / (1 - alpha)`` for alpha < 1,
    ``noise / (alpha - 1)`` for alpha > 1; the test error here includes the noise (conventions)."""
    a = np.asarray(alpha, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(a < 1, rho * (1 - a) + noise * a / (1 - a), noise / (a - 1))
    return noise + excess


@recipe(
    "double-descent",
    "Double descent of ridge / min-norm regression, and its cure by optimal regularisation",
    "Hastie, Montanari, Rosset & Tibshirani, Ann. Statist. 2022, Thm. 1, Fig. 1; Nakkiran et al., ICLR 2021",
    requires=(("GLM", "ERM", "theory"), ("GLM", "ERM", "simulation")),
)
def double_descent(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Gaussian teacher, linear channel with noise 0.25: test error of ridge regression against
    alpha = n/d for a vanishing, a small and the optimal (lam = noise) regularisation."""
    import pandas as pd

    import solvable as sv

    problem = sv.GLM(sv.priors.Gaussian(), sv.channels.Linear(noise=NOISE), alpha=1.0)
    learner = sv.ERM(sv.losses.Square(), sv.penalties.L2(LAM_RIDGELESS))
    lams = {"ridgeless": LAM_RIDGELESS, "lam=0.05": 0.05, "optimal (lam=noise)": NOISE}
    a_sim = np.array([0.5, 2.0]) if quick else np.array([0.25, 0.5, 0.75, 1.5, 2.0, 3.0])
    a_th = np.unique(np.concatenate([np.linspace(0.05, 3.0, 60 if quick else 240), a_sim, [1.0]]))
    d, seeds = (200, 8) if quick else (500, 16)
    kw = _run_kw(run)
    th = sv.sweep(problem, learner, over={"penalty.lam": lams, "alpha": a_th}, **kw)
    sims = sv.sweep(problem, learner, over={"penalty.lam": {k: lams[k] for k in ("ridgeless", "optimal (lam=noise)")},
                                            "alpha": a_sim}, simulate={"d": d, "seeds": seeds}, theory=False, **kw)
    table = pd.concat([th, sims], ignore_index=True)
    table.attrs["grid"] = ["penalty.lam", "alpha"]
    # finite size: the min-norm excess error at finite d has mean rho (1 - alpha) + noise n / (d - n - 1)
    # (alpha < 1), an O(1/d) correction of the variance term: 0.0025 at alpha = 0.5, d = 200 (quick)
    # and 0.006 at alpha = 0.75, d = 500 (full); the allowance 0.01 covers it.
    checks = theory_vs_simulation(table, "test_error", by=["penalty.lam", "alpha"], allowance=0.01)
    # published closed form of the ridgeless limit, away from the peak at alpha = 1
    t = th[th["penalty.lam"] == "ridgeless"].set_index("alpha")["test_error"]
    for a in (0.5, 2.0):
        checks.append(Check(f"ridgeless test error at alpha={a}", float(t.loc[a]), float(ridgeless_test_error(a)),
                            2e-3, "Hastie et al. 2022, Thm. 1"))
    # the peak: the ridgeless error at alpha = 1 is at least 10x the error at alpha = 0.5 and 2
    peak = float(t.loc[1.0] / max(t.loc[0.5], t.loc[2.0]))
    checks.append(Check.at_least("ridgeless peak at alpha=1 / max(error at 0.5, 2) >= 10",
                                 peak, 10.0, "Hastie et al. 2022, Fig. 1"))
    opt = th[th["penalty.lam"] == "optimal (lam=noise)"].sort_values("alpha")
    # optimal ridge has no peak: its error decreases monotonically with alpha
    inc = float(np.max(np.diff(opt["test_error"].to_numpy())))
    checks.append(Check("optimal ridge: largest increase of the error along alpha (<= 0)", inc, min(inc, 0.0), 0.0,
                        "Nakkiran et al. 2021"))
    if ("GLM", "BayesOptimal") in sv.supported_pairs()["theory"]:
        # lam = noise / rho makes ridge the posterior mean of a Gaussian prior: Bayes-optimal
        bo = sv.predict(problem.at(alpha=opt["alpha"].to_numpy()), sv.BayesOptimal()).test_error
        dev = float(np.max(np.abs(np.asarray(bo) - opt["test_error"].to_numpy())))
        checks.append(Check("max |optimal ridge - Bayes-optimal| test error over alpha", dev, 0.0, 1e-6,
                            "ridge with lam = noise/rho is the posterior mean (Gaussian prior)"))
    ax = sv.plot(table, x="alpha", y="test_error", hue="penalty.lam", logy=True,
                 title=f"Ridge regression, noise variance {NOISE}")
    ax.set_ylim(0.2, 20)
    fig = _save(ax, out, "double-descent")
    return RecipeResult("double-descent", table, checks, fig, [fig] if fig else [])

"""Teacher-student perceptron: Bayes-optimal vs logistic vs hinge (Aubin, Krzakala, Lu &
Zdeborova, NeurIPS 2020, Fig. 1).  Also the engine of ``solvable demo``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from solvable.experiments.gallery import Check, RecipeResult, _run_kw, _save, recipe, theory_vs_simulation

#: L2 strength of the ERM learners of the figure (lam/2 |w|^2 next to the sum of n losses).
LAM = 0.01

# Opper & Haussler, PRL 66, 2677 (1991) (and Aubin et al. 2020, Sec. 4): for the Gaussian
# teacher with a noiseless sign channel, the Bayes-optimal test error decays as c / alpha with
# c = 0.4417 (to the four digits the latter quote).
BO_RATE = 0.4417


#: Line styles of the figure: the Bayes-optimal bound in black, dashed, on top of the ERM curves.
STYLES = {"Bayes-optimal": {"color": "k", "ls": "--", "zorder": 5}}


def perceptron_learners(lam: float = LAM) -> dict:
    """The learners of the figure that have a theory engine: ``{label: learner}``."""
    import solvable as sv

    cands = {
        "Bayes-optimal": sv.BayesOptimal(),
        "logistic": sv.ERM(sv.losses.Logistic(), sv.penalties.L2(lam)),
        "hinge": sv.ERM(sv.losses.Hinge(), sv.penalties.L2(lam)),
        "ridge": sv.ERM(sv.losses.Square(), sv.penalties.L2(lam)),
    }
    have = set(sv.supported_pairs()["theory"])
    return {k: v for k, v in cands.items() if ("GLM", type(v).__name__) in have}


def perceptron_table(alphas_theory, alphas_sim, *, d: int, seeds: int, lam: float = LAM, prior=None,
                     **run) -> pd.DataFrame:
    """Theory over ``alphas_theory`` and simulations over ``alphas_sim`` for every learner of
    :func:`perceptron_learners` (simulations only for learners that have one)."""
    import solvable as sv

    problem = sv.GLM(prior=prior or sv.priors.Gaussian(), channel=sv.channels.Sign(), alpha=1.0)
    learners = perceptron_learners(lam)
    if not learners:
        raise ValueError("no theory engine for the perceptron (GLM with BayesOptimal or ERM) is registered")
    kw = _run_kw(run)
    # the simulated alphas are theory points too, so that they compare exactly
    alphas_theory = np.unique(np.concatenate([np.asarray(alphas_theory, float), np.asarray(alphas_sim, float)]))
    th = sv.sweep(problem, next(iter(learners.values())), over={"learner": learners, "alpha": alphas_theory}, **kw)
    sim_pairs = set(sv.supported_pairs()["simulation"])
    simulable = {k: v for k, v in learners.items() if ("GLM", type(v).__name__) in sim_pairs}
    parts = [th]
    if simulable and len(alphas_sim):
        sims = sv.sweep(problem, next(iter(simulable.values())), over={"learner": simulable, "alpha": alphas_sim},
                        simulate={"d": d, "seeds": seeds}, theory=False, **kw)
        parts.append(sims)
    table = pd.concat(parts, ignore_index=True, sort=False)
    table.attrs["grid"] = ["learner", "alpha"]
    return table


def summary_table(table: pd.DataFrame, y: str = "test_error") -> pd.DataFrame:
    """Per simulated alpha and learner: theory, simulation mean and standard error."""
    sims = table[table["kind"] == "simulation"]
    th = table[table["kind"] == "theory"].set_index(["learner", "alpha"])[y]
    rows = []
    for (lab, a), g in sims.groupby(["learner", "alpha"], sort=False):
        v = g[y].to_numpy(float)
        t = th.get((lab, a), np.nan)
        rows.append({"learner": lab, "alpha": a, "theory": float(t), "simulation": v.mean(),
                     "se": v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan, "d": int(g["d"].iloc[0]),
                     "seeds": len(v)})
    return pd.DataFrame(rows)


@recipe(
    "perceptron",
    "Teacher-student perceptron: Bayes-optimal vs logistic vs hinge",
    "Aubin, Krzakala, Lu & Zdeborova, NeurIPS 2020, Fig. 1; Opper & Haussler, PRL 1991",
    requires=(("GLM", "BayesOptimal", "theory"), ("GLM", "ERM", "theory"), ("GLM", "ERM", "simulation")),
)
def perceptron(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Gaussian teacher, sign channel: test error of the Bayes-optimal estimator and of
    L2-regularised logistic, hinge and square-loss (ridge) ERM against alpha, with simulations."""
    import solvable as sv

    if quick:
        a_th, a_sim, d, seeds = np.linspace(0.25, 4.0, 16), np.array([0.5, 2.0]), 200, 6
    else:
        a_th, a_sim, d, seeds = np.linspace(0.1, 8.0, 80), np.array([0.5, 1.0, 2.0, 4.0]), 500, 8
    table = perceptron_table(a_th, a_sim, d=d, seeds=seeds, **run)
    # finite size: the 0-1 test error of ERM at d has an O(1/d) bias; 0.01 bounds it for d >= 200
    # (the estimator's overlaps converge at rate 1/sqrt(d), the error is smooth in them).
    checks = theory_vs_simulation(table, "test_error", by=["learner", "alpha"], allowance=0.01)
    # published value: alpha * e_BO(alpha) -> 0.4417 (Richardson extrapolation from two large alphas)
    big = np.array([100.0, 200.0])
    e = np.asarray(sv.predict(sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=big), sv.BayesOptimal()).test_error)
    rate = 2 * big[1] * e[1] - big[0] * e[0]
    checks.append(Check("Bayes-optimal rate alpha * test_error at alpha -> inf", float(rate), BO_RATE, 0.005,
                        "Opper & Haussler 1991; Aubin et al. 2020"))
    # ordering of the figure: Bayes-optimal is below both ERMs at every alpha of the theory grid
    # no estimator beats the Bayes-optimal error (up to the engines' numerical accuracy, 1e-4)
    th = table[table.kind == "theory"].pivot_table(index="alpha", columns="learner", values="test_error")
    gap = float((th[[c for c in th.columns if c != "Bayes-optimal"]].min(axis=1) - th["Bayes-optimal"]).min())
    checks.append(Check("min over alpha of (best ERM - Bayes-optimal) test error, >= 0", gap, max(gap, 0.0), 1e-4,
                        "Aubin et al. 2020, Fig. 1"))
    ax = sv.plot(table, x="alpha", y="test_error", hue="learner", styles=STYLES,
                 title="Teacher-student perceptron (Gaussian teacher)")
    fig = _save(ax, out, "perceptron")
    return RecipeResult("perceptron", table, checks, fig, [fig] if fig else [])

"""Adversarial training on the block feature model: the trade-off between clean and robust test error, and
which features to defend (Tanner, Vilucchio, Loureiro, Krzakala, "A high dimensional statistical model for
adversarial training: geometry and trade-offs", AISTATS 2025, sec. 4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _save, recipe, theory_vs_simulation

#: two blocks of half the coordinates each, explaining the same teacher power: a robust block (variance 1,
#: teacher 1) and a non-robust one (variance 0.1, teacher 10: useful, but only through large weights, which an
#: attack of the same budget exploits)
FRACTIONS, VARIANCES, TEACHER = (0.5, 0.5), (1.0, 0.1), (1.0, 10.0)
#: the defences: which block the training attack covers (eigenvalues of Sigma_delta per block)
DEFENCES = {"uniform": None, "robust block only": [1.0, 1e-6], "non-robust block only": [1e-6, 1.0]}
EPS_TEST, ALPHA, LAM = 0.2, 5.0, 0.01


@recipe(
    "adversarial-tradeoff",
    "Adversarial training on two feature blocks: clean vs robust test error as the training budget grows, "
    "for three defences, with usefulness and robustness per block",
    "Tanner, Vilucchio, Loureiro, Krzakala 2025, sec. 4",
    requires=(("GLM", "AdversarialERM", "theory"), ("GLM", "AdversarialERM", "simulation")),
)
def adversarial_tradeoff(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Sign teacher on the block feature model (a robust and a non-robust block), logistic loss, alpha = 5, lam =
    0.01.  Adversarial training with budget eps in [0, 0.6] under three geometries (the uniform attack, the robust
    block only, the non-robust block only); the clean test error and the robust test error under the isotropic
    attack of budget 0.2, and the usefulness and robustness of each block under the uniform defence.  Simulations
    of the uniform defence at eps = 0.2 (where the training attack is the test attack) and of the robust-block
    defence at eps = 0.2."""
    import matplotlib.pyplot as plt
    import pandas as pd

    import solvable as sv
    from solvable.families.erm import AdversarialERM, block_metrics, robust_test_error

    data = sv.data.BlockFeatures(FRACTIONS, VARIANCES, TEACHER)
    pb = sv.GLM(sv.priors.Gaussian(), sv.channels.Sign(), alpha=ALPHA, data=data)
    epss = np.linspace(0.0, 0.6, 7 if quick else 31)
    d, seeds = (150, 6) if quick else (400, 10)
    rows, blocks = [], []
    for name, att in DEFENCES.items():
        for e in epss:
            r = sv.predict(pb, AdversarialERM("logistic", sv.penalties.L2(LAM), eps=float(e), attack=att))
            rows.append({"kind": "theory", "defence": name, "eps": float(e), "test_error": float(r.test_error),
                         "robust_test_error": float(robust_test_error(r, EPS_TEST)),
                         "converged": bool(r.converged)})
            if name == "uniform":
                bm = block_metrics(r, eps=EPS_TEST)
                blocks += [{"eps": float(e), "block": int(b), "usefulness": u, "robustness": v}
                           for b, u, v in zip(bm["block"], bm["usefulness"], bm["robustness"])]
    sims = [("uniform", EPS_TEST), ("robust block only", EPS_TEST)]
    for name, e in sims:
        ln = AdversarialERM("logistic", sv.penalties.L2(LAM), eps=e, attack=DEFENCES[name])
        s = sv.simulate(pb, ln, d=d, seeds=seeds)
        th = sv.predict(pb, ln)
        rows.append({"kind": "theory", "defence": name, "eps": e, "test_error": float(th.test_error),
                     "train_robust_error": float(th.robust_test_error), "converged": bool(th.converged)})
        rows += [{"kind": "simulation", "defence": name, "eps": e, "test_error": t, "train_robust_error": rb,
                  "d": d, "seed": i} for i, (t, rb) in enumerate(zip(s.samples["test_error"].to_numpy(float),
                                                                     s.samples["robust_test_error"].to_numpy(float)))]
    table = pd.DataFrame(rows)
    table.attrs["grid"] = ["defence", "eps"]
    src = "Tanner et al. 2025"
    simrows = table[table["train_robust_error"].notna()]  # the simulated points and their theory rows
    checks = theory_vs_simulation(simrows, "test_error", by=["defence", "eps"], allowance=0.0, source=src)
    checks += theory_vs_simulation(simrows, "train_robust_error", by=["defence", "eps"], allowance=0.0,
                                   name="robust test error (the training attack)", source=src)
    th = table[(table["kind"] == "theory") & table["robust_test_error"].notna()]
    checks.append(Check("every theory point converged (min of the flag)", float(th["converged"].min()), 1.0, 0.0, src))
    uni = th[th["defence"] == "uniform"].sort_values("eps")
    gain = float(uni["robust_test_error"].iloc[0] - uni["robust_test_error"].min())
    checks.append(Check.at_least("uniform defence: the robust error drops below plain training's (gain > 0)",
                                 gain, 1e-6, src))
    cost = float(uni["test_error"].diff().dropna().min())
    checks.append(Check.at_least("uniform defence: the clean error grows with eps (min step >= 0: the trade-off)",
                                 cost, 0.0, src))
    best = th.groupby("defence")["robust_test_error"].min()
    checks.append(Check.at_least("best robust error: defending the non-robust block beats defending the robust block (gap > 0)",
                                 float(best["robust block only"] - best["non-robust block only"]), 1e-6, src))

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.0, 4.3))
    for (name, g), c in zip(th.groupby("defence", sort=False), ("C0", "C1", "C2")):
        g = g.sort_values("eps")
        ax.plot(g["test_error"], g["robust_test_error"], "-", color=c, label=name)
        ax.plot(g["test_error"].iloc[0], g["robust_test_error"].iloc[0], "ko", ms=4)
    ax.set_xlabel("clean test error")
    ax.set_ylabel(rf"robust test error ($\varepsilon_{{test}} = {EPS_TEST:g}$, isotropic)")
    ax.set_title(r"training budget $\varepsilon$ from 0 (black dot) to 0.6", fontsize=9)
    ax.legend(fontsize=8)
    bdf = pd.DataFrame(blocks)
    for b, c in zip((0, 1), ("C3", "C4")):
        g = bdf[bdf["block"] == b]
        lab = "robust block" if b == 0 else "non-robust block"
        bx.plot(g["eps"], g["usefulness"], "-", color=c, label=f"{lab}: usefulness")
        bx.plot(g["eps"], g["robustness"], "--", color=c, label=f"{lab}: robustness")
    bx.axhline(0.0, color="0.6", lw=0.8)
    bx.set_xlabel(r"training budget $\varepsilon$ (uniform defence)")
    bx.set_ylabel(r"$E[y f_k]$ and $E[\inf_\delta y f_k(x + \delta)]$")
    bx.set_title(rf"per block, attack $\varepsilon_{{test}} = {EPS_TEST:g}$ (alpha = {ALPHA:g}, lam = {LAM:g})", fontsize=9)
    bx.legend(fontsize=7)
    table = pd.concat([table, bdf.assign(kind="theory", defence="uniform (per block)")], ignore_index=True)
    fig_path = _save(ax, out, "adversarial-tradeoff")
    return RecipeResult("adversarial-tradeoff", table, checks, fig_path, [fig_path] if fig_path else [])

"""Over-confidence of logistic regression against the calibrated Bayes-optimal classifier (Clarte,
Loureiro, Krzakala, Zdeborova 2022, "Theoretical characterization of uncertainty in
high-dimensional linear classification", Fig. 2: Delta_p = p - P(y = 1 | confidence p) against alpha),
and its cure by temperature scaling / expectation consistency (Clarte et al. 2023)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _save, recipe, theory_vs_simulation

#: the teacher (probit with noise variance 0.25), the confidence level and the ridge strengths
NOISE, LEVEL, LAMS = 0.25, 0.75, (1e-4, 0.1)


@recipe(
    "calibration",
    "Calibration of logistic regression against the Bayes-optimal classifier",
    "Clarte, Loureiro, Krzakala, Zdeborova 2022, Fig. 2; Clarte et al. 2023 (temperature scaling, EC)",
    requires=(("GLM", "JointERM", "theory"),),
)
def calibration_curve(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Probit teacher (noise 0.25): Delta_0.75 of logistic ERM at two penalties, of the Bayes-optimal
    posterior predictive (0), and of logistic ERM after temperature scaling, against alpha; finite-size
    Delta_0.75 of fitted classifiers on fresh samples."""
    import pandas as pd

    import solvable as sv
    from solvable.families.joint import JointERM
    from solvable.families.joint.calibration import calibration, simulate_calibration, temperature_scaling

    a_sim = np.array([2.0]) if quick else np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    a_th = np.unique(np.concatenate([np.geomspace(0.2, 10.0, 12 if quick else 50), a_sim]))
    d, seeds, n_test = (120, 5, 20_000) if quick else (400, 12, 100_000)
    rows = []
    probit = sv.GLM(sv.priors.Gaussian(), sv.channels.Probit(NOISE), alpha=a_th)
    for lam in LAMS:  # one curve a penalty (the joint fixed point vectorised over alpha)
        r = sv.predict(probit, JointERM((sv.BayesOptimal(), sv.ERM("logistic", sv.penalties.L2(lam)))))
        T = temperature_scaling(r, estimator=1)
        curves = {f"logistic lam={lam:g}": calibration(r, [LEVEL], estimator=1)[:, 0]}
        if lam == LAMS[0]:
            curves["Bayes-optimal"] = calibration(r, [LEVEL], estimator=0)[:, 0]
            curves[f"logistic lam={lam:g}, temperature scaled"] = calibration(r, [LEVEL], estimator=1,
                                                                              temperature=T)[:, 0]
        for name, c in curves.items():
            rows += [{"kind": "theory", "learner": name, "alpha": a, "calibration": v} for a, v in zip(a_th, c)]
        for a in a_sim:
            sim = simulate_calibration(probit.at(alpha=float(a)), lam, [LEVEL], d=d, seeds=range(seeds), n_test=n_test)
            rows += [{"kind": "simulation", "learner": f"logistic lam={lam:g}", "alpha": a, "calibration": v,
                      "d": d, "seed": s} for s, v in enumerate(sim[:, 0])]
    table = pd.DataFrame(rows)
    table.attrs["grid"] = ["learner", "alpha"]
    checks = theory_vs_simulation(table, "calibration", by=["learner", "alpha"], allowance=0.0)
    th = table[table["kind"] == "theory"]
    bo = th[th["learner"] == "Bayes-optimal"]["calibration"].abs().max()
    checks.append(Check("max |Delta_p| of the Bayes-optimal predictive over alpha", float(bo), 0.0, 1e-10,
                        "Nishimori identity"))
    ts = th[th["learner"].str.endswith("temperature scaled")]["calibration"].abs().max()
    raw = th[th["learner"] == f"logistic lam={LAMS[0]:g}"]["calibration"].abs().max()
    checks.append(Check("temperature scaling: max |Delta_0.75| over alpha, as a fraction of the unscaled one (< 0.2)",
                        float(ts / raw), min(float(ts / raw), 0.2), 0.0, "Clarte et al. 2023"))
    ax = sv.plot(table, x="alpha", y="calibration", hue="learner", logx=True,
                 styles={"Bayes-optimal": {"color": "k", "ls": "--"}},
                 ylabel=rf"$\Delta_p = p - P(y=1\,|\,\hat p = p)$ at $p = {LEVEL}$",
                 title=f"Probit teacher (noise {NOISE}): over-confidence of logistic regression")
    fig = _save(ax, out, "calibration")
    return RecipeResult("calibration", table, checks, fig, [fig] if fig else [])


@recipe(
    "temperature-scaling-vs-ec",
    "Post-hoc calibration of logistic regression: temperature scaling against expectation consistency",
    "Clarte, Loureiro, Krzakala, Zdeborova 2023, 'Expectation consistency for calibration of neural networks'",
    requires=(("GLM", "ERM", "theory"),),
)
def temperature_scaling_vs_ec(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Probit teacher (noise 0.25), logistic ERM with lam = 0.1: the temperature of temperature scaling
    (population cross-entropy minimised) and of expectation consistency (mean confidence = accuracy)
    against alpha, from the overlaps; finite-size temperatures measured on fresh validation samples
    (alpha = 2: theory 1.2106 / 1.2350; measured 1.221 +- 0.022 / 1.244 +- 0.023 at d = 150, 20 seeds,
    1.212 +- 0.014 / 1.233 +- 0.015 at d = 600, 10 seeds)."""
    import pandas as pd

    import solvable as sv
    from solvable.families.joint.calibration import (expectation_consistency, simulate_temperatures,
                                                     temperature_scaling)

    lam = 0.1
    a_sim = np.array([2.0]) if quick else np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    a_th = np.unique(np.concatenate([np.geomspace(0.2, 10.0, 15 if quick else 50), a_sim]))
    d, seeds, n_val = (150, 5, 30_000) if quick else (400, 16, 100_000)
    probit = sv.GLM(sv.priors.Gaussian(), sv.channels.Probit(NOISE), alpha=a_th)
    r = sv.predict(probit, sv.ERM("logistic", sv.penalties.L2(lam)))
    rows = [{"kind": "theory", "method": name, "alpha": a, "temperature": t}
            for name, ts in (("temperature scaling", temperature_scaling(r)), ("expectation consistency",
                                                                              expectation_consistency(r)))
            for a, t in zip(a_th, ts)]
    for a in a_sim:
        sim = simulate_temperatures(probit.at(alpha=float(a)), lam, d=d, seeds=range(seeds), n_val=n_val)
        for j, name in enumerate(("temperature scaling", "expectation consistency")):
            rows += [{"kind": "simulation", "method": name, "alpha": a, "temperature": v, "d": d, "seed": s}
                     for s, v in enumerate(sim[:, j])]
    table = pd.DataFrame(rows)
    table.attrs["grid"] = ["method", "alpha"]
    checks = theory_vs_simulation(table, "temperature", by=["method", "alpha"], allowance=0.0)
    th = table[table["kind"] == "theory"].pivot(index="alpha", columns="method", values="temperature")
    gap = float((th["expectation consistency"] - th["temperature scaling"]).loc[2.0])
    checks.append(Check("T_EC - T_TS at alpha = 2 (the two differ on the probit teacher; measured 0.0244)", gap,
                        max(gap, 0.01), 0.0, "Clarte et al. 2023"))
    ax = sv.plot(table, x="alpha", y="temperature", hue="method", logx=True,
                 title=f"Logistic regression (lam = {lam}) on a probit teacher: the recalibrating temperature")
    fig = _save(ax, out, "temperature-scaling-vs-ec")
    return RecipeResult("temperature-scaling-vs-ec", table, checks, fig, [fig] if fig else [])

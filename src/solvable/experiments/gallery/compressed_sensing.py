"""Phase diagram of noiseless compressed sensing with a Gauss-Bernoulli signal (Krzakala, Mezard,
Sausset, Sun & Zdeborova, Phys. Rev. X 2, 021005 (2012), Fig. 1, and J. Stat. Mech. P08009 (2012);
Donoho, Maleki & Montanari, PNAS 106, 18914 (2009)).

In the (rho, alpha = n/d) plane: recovery is impossible below the information-theoretic line
``alpha_IT = rho`` (Wu & Verdu 2012: the Renyi information dimension of the prior), hard between
it and the algorithmic (AMP / BP spinodal) line ``alpha_alg(rho)``, easy above it; L1 (basis
pursuit, LASSO with lam -> 0) recovers only above the Donoho-Tanner line, which lies above
``alpha_alg``.

Published values: no table of ``alpha_alg(rho)`` was found in the sources searched (the papers
give it as a curve), so the AMP line is checked against its independent characterisation instead:
with noiseless linear measurements state evolution is ``E -> mmse(alpha / E)`` (Krzakala et al.,
JSTAT 2012; Donoho, Maleki & Montanari 2009), whose uninformative fixed point exists iff
``alpha <= max_s s mmse(s)``.  The engine's fold is checked against it to 1e-9 (measured ~1e-15 for
rho = 0.05..0.95); the lines are drawn from the formulas over the whole range.  The L1 line is the closed form of Donoho, Maleki & Montanari 2009
(the minimax MSE of soft thresholding, ``M^+-(eps)``), checked against the ERM engine.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from solvable.experiments.gallery import Check, RecipeResult, _save, recipe, theory_vs_simulation

RHO_SIM = 0.2
ALPHA_SIM = (0.30, 0.45)     # on either side of alpha_alg(0.2) = 0.3554
L1_LAM = 1e-4                # basis pursuit as the lam -> 0 limit of the LASSO


def amp_threshold_formula(prior) -> float:
    """``max_s s mmse(s)`` of the prior's scalar Gaussian channel: the AMP threshold of noiseless
    compressed sensing (Krzakala et al., JSTAT 2012; the fold of ``E -> mmse(alpha/E)``).
    A grid over log s brackets the maximum, Brent polishes it."""
    from scipy.optimize import minimize_scalar

    u = np.linspace(-4.0, 10.0, 281)
    g = np.exp(u) * np.asarray(prior.mmse(np.exp(u)), dtype=float)
    i = int(np.argmax(g))
    if i in (0, len(u) - 1):
        raise ValueError(f"amp_threshold_formula: max of s mmse(s) not bracketed on s in [e^-4, e^10] for {prior!r}")
    r = minimize_scalar(lambda x: -np.exp(x) * float(prior.mmse(np.exp(x))), bracket=(u[i - 1], u[i], u[i + 1]),
                        method="brent", tol=1e-12)
    return float(-r.fun)


def donoho_tanner(eps: float) -> float:
    """L1 (basis pursuit) phase transition for symmetric signals with a fraction ``eps`` of
    nonzeros: ``alpha_L1 = min_tau eps (1 + tau^2) + 2 (1 - eps) [(1 + tau^2) Phi(-tau) - tau phi(tau)]``
    (Donoho, Maleki & Montanari, PNAS 2009, minimax MSE ``M^+-(eps)`` of soft thresholding;
    equal to the Donoho-Tanner weak threshold of the cross-polytope)."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import norm

    def M(t):
        return eps * (1 + t * t) + 2 * (1 - eps) * ((1 + t * t) * norm.cdf(-t) - t * norm.pdf(t))

    return float(minimize_scalar(M, bounds=(0.0, 10.0), method="bounded", options={"xatol": 1e-12}).fun)


@recipe(
    "compressed-sensing",
    "Noiseless compressed sensing: impossible / hard / easy phases of AMP vs the L1 line",
    "Krzakala, Mezard, Sausset, Sun & Zdeborova, PRX 2012, Fig. 1; Donoho, Maleki & Montanari, PNAS 2009",
    requires=(("GLM", "BayesOptimal", "transitions"), ("GLM", "AMP", "theory"), ("GLM", "AMP", "simulation")),
)
def compressed_sensing(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Gauss-Bernoulli signal (density rho), Gaussian matrix, y = X theta / sqrt(d): the lines
    alpha_IT = rho, alpha_alg(rho) (fold of state evolution) and the L1 (Donoho-Tanner) line;
    GAMP at rho = 0.2 below (alpha = 0.30: stuck, mse O(rho)) and above (0.45: exact recovery)
    the AMP line against state evolution."""
    import matplotlib.pyplot as plt
    import pandas as pd

    import solvable as sv

    # the engine's thresholds at a few rhos (each phase_transitions call takes a few seconds); the
    # lines are drawn over the whole range from the formulas
    rhos = np.array([RHO_SIM]) if quick else np.round(np.arange(0.05, 0.951, 0.05), 2)
    rhos = np.unique(np.concatenate([rhos, [RHO_SIM]]))
    r_line = np.linspace(0.01, 0.99, 25 if quick else 99)
    rows, checks = [], []
    for rho in r_line:
        prior = sv.priors.GaussBernoulli(float(rho))
        for q, a in (("alpha_IT_formula", float(rho)), ("alpha_AMP_formula", amp_threshold_formula(prior)),
                     ("alpha_L1_formula", donoho_tanner(float(rho)))):
            rows.append({"kind": "theory", "quantity": q, "rho": float(rho), "alpha": a})
    eng = {"IT": [], "AMP": []}
    for rho in rhos:
        prior = sv.priors.GaussBernoulli(float(rho))
        pb = sv.GLM(prior, sv.channels.Linear(0.0), alpha=float(rho))
        a_formula = amp_threshold_formula(prior)
        tr = sv.phase_transitions(pb, sv.BayesOptimal(), alpha=(0.5 * rho, min(a_formula + 0.05, 0.999)))
        a_it = float(tr["information_theoretic"] if tr["information_theoretic"] is not None else np.nan)
        a_alg = float(tr["algorithmic"] if tr["algorithmic"] is not None else np.nan)
        for line, a in (("IT", a_it), ("AMP", a_alg)):
            eng[line].append(a)
            rows.append({"kind": "theory", "quantity": f"alpha_{line}_engine", "rho": float(rho), "alpha": a})
        # (1) the fold located by the engine against max_s s mmse(s) (prior.mmse agrees with an
        # adaptive scipy.integrate.quad of the scalar channel to 1e-16 at s = 5..123).  Measured:
        # ~1e-15 for rho = 0.1..0.9 (the engine uses the prior's composite rule in B; its former
        # 80-node rule put the fold 4.5e-6 off at rho = 0.4 and 1.8e-2 at 0.9)
        checks.append(Check(f"alpha_alg(rho={rho:.2f}) vs max_s s mmse(s)", a_alg, a_formula, 1e-9,
                            "Krzakala et al. JSTAT 2012; Donoho, Maleki & Montanari 2009"))
        # (2) alpha_IT = rho: the information dimension of Gauss-Bernoulli is rho (Wu & Verdu 2012)
        checks.append(Check(f"alpha_IT(rho={rho:.2f}) = rho", a_it, float(rho), 5e-5,
                            "Wu & Verdu, IEEE Trans. IT 2012; Krzakala et al. PRX 2012"))
    lines = {k: [] for k in ("IT", "AMP", "L1")}
    for row in rows:
        if row["quantity"].endswith("_formula"):
            lines[row["quantity"].split("_")[1]].append(row["alpha"])
    # the ordering of the phases: IT < AMP < L1 at every rho
    sel = r_line <= 0.9
    gap = float(np.min(np.minimum(np.subtract(lines["AMP"], lines["IT"]), np.subtract(lines["L1"], lines["AMP"]))[sel]))
    checks.append(Check.at_least("min over rho <= 0.9 of the gaps alpha_AMP - alpha_IT, alpha_L1 - alpha_AMP (>= 1e-3)",
                                 gap, 1e-3, "Krzakala et al. PRX 2012, Fig. 1"))

    # the L1 line against the ERM engine: square loss + L1(lam), lam = 1e-4 (basis pursuit limit):
    # 0.01 below the line the mse is 4.2e-4 at rho = 0.2 (it vanishes continuously at the line; the
    # value 3.6e-3 of the engine before issue 13 came from a penalty side that missed the soft-threshold
    # kinks, 0.8% off in V at its own fixed point), 0.01 above it is O(lam^2) (1.0e-6 at rho = 0.2):
    # the check asks for an mse an order of magnitude above the recovery side's bound.  Closer to the
    # line the ERM fixed point does not converge at lam <= 1e-5.
    have_erm = ("GLM", "ERM") in set(sv.supported_pairs()["theory"])
    if have_erm:
        pb = sv.GLM(sv.priors.GaussBernoulli(RHO_SIM), sv.channels.Linear(0.0), alpha=RHO_SIM)
        a_l1 = donoho_tanner(RHO_SIM)
        erm = sv.ERM("square", sv.penalties.L1(L1_LAM))
        lo_mse = float(sv.predict(pb.at(alpha=a_l1 - 0.01), erm).mse)
        hi_mse = float(sv.predict(pb.at(alpha=a_l1 + 0.01), erm).mse)
        for a, v in ((a_l1 - 0.01, lo_mse), (a_l1 + 0.01, hi_mse)):
            rows.append({"kind": "theory", "quantity": f"mse_L1(lam={L1_LAM:g})", "rho": RHO_SIM, "alpha": a, "mse": v})
        checks.append(Check.at_least(f"L1 (lam={L1_LAM:g}) mse at alpha_L1 - 0.01, rho={RHO_SIM}: no recovery (>= 1e-4)",
                                     lo_mse, 1e-4, "Donoho, Maleki & Montanari 2009 (L1 line)"))
        checks.append(Check(f"L1 (lam={L1_LAM:g}) mse at alpha_L1 + 0.01, rho={RHO_SIM}: recovery (<= 1e-5)", hi_mse,
                            0.0, 1e-5, "Donoho, Maleki & Montanari 2009 (L1 line)"))

    # theory vs simulation: GAMP at rho = 0.2 on either side of the AMP line
    d, seeds = (1000, 8) if quick else (2000, 16)
    pb = sv.GLM(sv.priors.GaussBernoulli(RHO_SIM), sv.channels.Linear(0.0), alpha=RHO_SIM)
    sim_rows = []
    for a in ALPHA_SIM:
        p = sv.predict(pb.at(alpha=a), sv.AMP())
        sim_rows.append({"kind": "theory", "quantity": "mse_AMP", "rho": RHO_SIM, "alpha": a, "mse": float(p.mse)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # GAMP stuck in the hard phase need not settle
            s = sv.simulate(pb.at(alpha=a), sv.AMP(), d=d, seeds=seeds)
        for i, v in enumerate(s.samples["mse"].to_numpy(float)):
            sim_rows.append({"kind": "simulation", "quantity": "mse_AMP", "rho": RHO_SIM, "alpha": a, "mse": v,
                             "d": d, "seed": i})
    sim_tab = pd.DataFrame(sim_rows)
    # finite size: in the hard phase GAMP fluctuates around the uninformative fixed point; at
    # alpha = 0.30 the measured mean mse is 0.090 +- 0.013 (d = 500, 10 seeds), 0.089 +- 0.005
    # (d = 1000, 10 seeds), 0.092 +- 0.006 (d = 2000, 6 seeds) against 0.0839 (and at alpha = 0.25:
    # 0.119, 0.115, 0.125 +- 0.007 against 0.114): a bias of at most ~0.008 that these sizes do
    # not resolve as shrinking; the seed-to-seed spread is in the se, the allowance 0.01 covers
    # the bias.  Above the line GAMP stops at mse ~ 1e-9 (its stopping rule
    # mean((xhat_t - xhat_{t-1})^2) < tol rho; measured 0.8e-9..1.0e-9 for d = 500..2000), where
    # state evolution gives exact recovery (2e-14, its floor): allowance 1e-7.
    lo_tab = sim_tab[sim_tab.alpha == ALPHA_SIM[0]]
    hi_tab = sim_tab[sim_tab.alpha == ALPHA_SIM[1]]
    src = "state evolution (Donoho, Maleki & Montanari 2009; Bayati & Montanari 2011)"
    checks += theory_vs_simulation(lo_tab, "mse", by=["rho", "alpha"], allowance=0.01, name="AMP mse (hard phase)",
                                   source=src)
    checks += theory_vs_simulation(hi_tab, "mse", by=["rho", "alpha"], allowance=1e-7, name="AMP mse (easy phase)",
                                   source=src)
    table = pd.concat([pd.DataFrame(rows), sim_tab], ignore_index=True)
    table.attrs["grid"] = ["quantity", "rho", "alpha"]

    # the figure
    fig, ax = plt.subplots(figsize=(6.0, 4.6))
    r = r_line
    it, amp, l1 = (np.asarray(lines[k], float) for k in ("IT", "AMP", "L1"))
    ax.fill_between(r, 0, it, color="0.85", lw=0)
    ax.fill_between(r, it, amp, color="tab:orange", alpha=0.35, lw=0)
    ax.fill_between(r, amp, 1.0, color="tab:green", alpha=0.25, lw=0)
    ax.plot(r, it, "k-", lw=2, label=r"$\alpha_{IT} = \rho$ (information theoretic)")
    ax.plot(r, amp, "-", color="tab:red", lw=2, label=r"$\alpha_{alg}(\rho) = \max_s\, s\,$mmse$(s)$ (AMP)")
    ax.plot(rhos, eng["AMP"], "+", color="k", ms=8, mew=1.5, label="fold of state evolution (engine)")
    ax.plot(r, l1, "--", color="tab:blue", lw=2, label=r"$\alpha_{L1}(\rho)$ (basis pursuit, Donoho-Tanner)")
    sims = sim_tab[sim_tab.kind == "simulation"].groupby("alpha")["mse"].mean()
    for a, m in sims.items():
        ok = m < 1e-4 * RHO_SIM
        ax.plot([RHO_SIM], [a], "o" if ok else "X", ms=9, mfc="w" if ok else "tab:red", mec="k", zorder=6)
        ax.annotate(f"GAMP d={d}: mse {m:.1e}", (RHO_SIM, a), xytext=(8, -3), textcoords="offset points", fontsize=8,
                    bbox={"fc": "w", "ec": "none", "alpha": 0.7, "pad": 1})
    for x, y, lab in ((0.7, 0.3, "impossible"), (0.5, 0.5 * (0.5 + amp[np.argmin(np.abs(r - 0.5))]), "hard"),
                      (0.1, 0.55, "easy")):
        ax.text(x, y, lab, fontsize=11, ha="center", va="center", style="italic")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(r"signal density $\rho$")
    ax.set_ylabel(r"measurement rate $\alpha = n/d$")
    ax.set_title("Noiseless compressed sensing, Gauss-Bernoulli signal")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    fig_path = _save(ax, out, "compressed-sensing")
    return RecipeResult("compressed-sensing", table, checks, fig_path, [fig_path] if fig_path else [])

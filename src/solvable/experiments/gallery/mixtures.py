"""Gaussian mixtures: learning curves against the Bayes errors, the separability threshold as a
function of the cluster separation, and the universality of random-label training losses
(Mignacco, Krzakala, Lu, Urbani, Zdeborova, ICML 2020; Loureiro et al., NeurIPS 2021; Gerace,
Krzakala, Loureiro, Stephan, Zdeborova 2022)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from solvable.experiments.gallery import Check, RecipeResult, _run_kw, _save, recipe, theory_vs_simulation

_PAIR = (("GaussianMixture", "ERM", "theory"), ("GaussianMixture", "ERM", "simulation"))


def _learning_table(problem, learners, a_th, a_sim, d, seeds, run, simulated=None):
    """Theory curves of ``learners`` and simulations of ``simulated`` (default: all of them)."""
    import solvable as sv

    kw = _run_kw(run)
    a_th = np.unique(np.concatenate([a_th, a_sim]))
    first = next(iter(learners.values()))
    th = sv.sweep(problem, first, over={"learner": learners, "alpha": a_th}, **kw)
    sims = sv.sweep(problem, first, over={"learner": learners if simulated is None else simulated, "alpha": a_sim},
                    simulate={"d": d, "seeds": seeds}, theory=False, **kw)
    table = pd.concat([th, sims], ignore_index=True, sort=False)
    table.attrs["grid"] = ["learner", "alpha"]
    return table


@recipe(
    "mixture_learning_curves",
    "Binary Gaussian mixture: logistic, hinge and ridge with a bias against the Bayes errors",
    "Mignacco, Krzakala, Lu, Urbani & Zdeborova, ICML 2020, Figs. 1-2; Loureiro et al., NeurIPS 2021",
    requires=_PAIR,
)
def mixture_learning_curves(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Two clusters +-mu (|mu| = 1) of weights 0.7 / 0.3: the test error of L2-regularised
    logistic, hinge and square-loss ERM with a bias against alpha, with simulations, the oracle
    Bayes error and the Bayes-optimal error of the balanced mixture."""
    import solvable as sv
    from solvable.families.mixtures import bayes_error, bayes_optimal_error

    mix = sv.data.Mixture.symmetric(1.0, weight=0.7)
    problem = sv.GaussianMixture(mix, alpha=1.0)
    L2 = sv.penalties.L2
    learners = {"logistic": sv.ERM("logistic", L2(0.1), bias=True), "hinge": sv.ERM("hinge", L2(0.1), bias=True),
                "ridge": sv.ERM("square", L2(0.1), bias=True)}
    if quick:
        a_th, a_sim, d, seeds = np.linspace(0.25, 5.0, 12), np.array([1.0, 3.0]), 100, 4
    else:
        a_th, a_sim, d, seeds = np.geomspace(0.1, 20.0, 60), np.array([0.5, 1.0, 2.0, 5.0]), 500, 10
    table = _learning_table(problem, learners, a_th, a_sim, d, seeds, run)
    checks = theory_vs_simulation(table, "test_error", by=["learner", "alpha"], allowance=0.01)
    th = table[table.kind == "theory"]
    be = bayes_error(mix)
    checks.append(Check.at_least("min test error - Bayes error, >= 0", float(th.test_error.min() - be), 0.0,
                        "the Bayes classifier bounds every estimator", tol=1e-12))
    # published closed form: the balanced mixture's ridge at lam -> infinity is Bayes-optimal
    a = np.array([0.5, 2.0])
    bal = sv.predict(sv.GaussianMixture(sv.data.Mixture.symmetric(1.0), alpha=a), sv.ERM("square", L2(1e8)))
    checks.append(Check("balanced ridge at lam -> inf vs Phi(-s^2/sqrt(s^2 + 1/alpha)), alpha = 2",
                        float(bal.test_error[1]), float(bayes_optimal_error(1.0, 2.0)), 1e-6,
                        "Mignacco et al. 2020, eq. (14)"))
    ax = sv.plot(table, x="alpha", y="test_error", hue="learner", title="Gaussian mixture, weights 0.7 / 0.3, |mu| = 1")
    ax.axhline(be, color="k", ls=":", label="Bayes error (oracle)")
    ax.legend()
    fig = _save(ax, out, "mixture_learning_curves")
    return RecipeResult("mixture_learning_curves", table, checks, fig, [fig] if fig else [])


def empirical_threshold(s: float, d: int, rng: np.random.Generator, n_max_ratio: float | None = None) -> float:
    """The smallest n / d at which one growing sequence of samples of the mixture +-mu (|mu| = s)
    stops being linearly separable (bisection on nested samples, LP feasibility)."""
    import solvable as sv
    from solvable.families.erm.solvers import linearly_separable
    from solvable.families.mixtures import separability_threshold

    if n_max_ratio is None:  # twice the asymptotic threshold: separable there with vanishing probability
        n_max_ratio = 2.0 * separability_threshold(sv.data.Mixture.symmetric(s)) + 2.0
    n_max = int(n_max_ratio * d)
    y = rng.choice([1.0, -1.0], n_max)
    X = rng.standard_normal((n_max, d))
    X[:, 0] += s * y
    lo, hi = 1, n_max  # separable at lo, not at hi (checked)
    if linearly_separable(X, y):
        return float("inf")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if linearly_separable(X[:mid], y[:mid]):
            lo = mid
        else:
            hi = mid
    return hi / d


@recipe(
    "mixture_separability",
    "Separability threshold of a two-cluster mixture against the cluster separation",
    "Gardner 1988; Mignacco et al., ICML 2020, sec. 3; Deng, Kammoun & Thrampoulidis 2021",
    requires=_PAIR,
)
def mixture_separability(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """alpha*(s) from Gordon's comparison (above it the logistic MLE exists and the max-margin
    classifier does not), against the empirical threshold of LP feasibility at finite d."""
    import matplotlib.pyplot as plt

    import solvable as sv
    from solvable.families.mixtures import separability_threshold

    s_th = np.linspace(0.0, 3.0, 13 if quick else 121)
    s_sim, d, seeds = (np.array([0.5]), 80, 6) if quick else (np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5]), 300, 12)
    rows = [{"kind": "theory", "separation": s, "alpha_star": separability_threshold(sv.data.Mixture.symmetric(s))}
            for s in s_th]
    rng = np.random.default_rng(0)
    for s in s_sim:
        for seed in range(seeds):
            rows.append({"kind": "simulation", "separation": s, "seed": seed, "d": d,
                         "alpha_star": empirical_threshold(s, d, rng)})
    table = pd.DataFrame(rows)
    checks = [Check("alpha*(0) (Cover)", float(table.alpha_star[table.separation == 0].iloc[0]), 2.0, 1e-9, "Cover 1965"),
              Check("alpha*(0.5)", separability_threshold(sv.data.Mixture.symmetric(0.5)), 2.3412, 1e-4,
                    "min_t E[(Z - t s)_+^2]/(1 - t^2), computed independently")]
    for s in s_sim:
        v = table[(table.kind == "simulation") & (table.separation == s)].alpha_star.to_numpy(float)
        th = separability_threshold(sv.data.Mixture.symmetric(s))
        # finite d: the threshold's window has width O(1/sqrt(d)) and its centre an O(1/d) shift
        checks.append(Check(f"empirical threshold at s={s:g} (d={d}, {seeds} seeds)", float(v.mean()), th,
                            4 * v.std(ddof=1) / np.sqrt(len(v)) + 3.0 / d, "LP feasibility"))
    fig_, ax = plt.subplots(figsize=(5, 3.5))
    t = table[table.kind == "theory"]
    ax.plot(t.separation, t.alpha_star, "k-", label=r"theory $\alpha^*(s)$")
    sm = table[table.kind == "simulation"].groupby("separation").alpha_star.agg(["mean", "sem"]).reset_index()
    ax.errorbar(sm.separation, sm["mean"], yerr=sm["sem"], fmt="o", label=f"LP feasibility, d={d}")
    ax.set_xlabel(r"separation $s = |\mu|$")
    ax.set_ylabel(r"separability threshold $\alpha^*$")
    ax.legend()
    fig = _save(ax, out, "mixture_separability")
    return RecipeResult("mixture_separability", table, checks, fig, [fig] if fig else [])


@recipe(
    "random_label_universality",
    "Random labels: the minimum training loss does not depend on the covariance or the clusters",
    "Gerace, Krzakala, Loureiro, Stephan & Zdeborova 2022",
    requires=_PAIR,
)
def random_label_universality(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Square loss at lam -> 0 on random labels: the training loss (1/2)(1 - 1/alpha) for
    alpha > 1 from an isotropic Gaussian, two clouds +-e1, heteroscedastic clouds and an
    anisotropic spectrum, with simulations."""
    import solvable as sv

    p = 40
    mixes = {
        "isotropic": sv.data.Mixture(np.zeros((1, 1)), labels=[1.0]),
        "two clouds +-e1": sv.data.Mixture(np.array([[1.0], [-1.0]])),
        "heteroscedastic clouds": sv.data.Mixture(np.array([[1.0, 0.0], [0.0, 2.0]]), [0.5, 2.0], [0.3, 0.7]),
        "anisotropic": sv.data.Mixture(np.zeros((1, p)), np.linspace(0.1, 3.0, p)[None], labels=[1.0]),
    }
    lr = sv.ERM("square", sv.penalties.L2(1e-6))
    a_th = np.linspace(1.1, 5.0, 12 if quick else 60)
    a_sim, d, seeds = (np.array([1.5, 3.0]), 100, 6) if quick else (np.array([1.5, 2.0, 3.0, 4.0]), 4 * p, 10)
    a_th = np.unique(np.concatenate([a_th, a_sim]))
    kw = _run_kw(run)
    parts = []
    for name, mix in mixes.items():
        pb = sv.GaussianMixture(mix, alpha=1.0, labels="random")
        for frame in (sv.sweep(pb, lr, over={"alpha": a_th}, **kw),
                      sv.sweep(pb, lr, over={"alpha": a_sim}, simulate={"d": d, "seeds": seeds}, theory=False, **kw)):
            frame["data"] = name
            parts.append(frame)
    table = pd.concat(parts, ignore_index=True, sort=False)
    table.attrs["grid"] = ["data", "alpha"]
    checks = []
    th = table[table.kind == "theory"]
    dev = float(np.max(np.abs(th.train_loss - 0.5 * (1 - 1 / th.alpha))))
    checks.append(Check("max |train loss - (1/2)(1 - 1/alpha)| over data and alpha", dev, 0.0, 1e-5,
                        "Gerace et al. 2022 (universality for lam -> 0)"))
    # finite d: the training loss has a 1/d correction (d parameters vs (n - d) residual degrees)
    checks += theory_vs_simulation(table, "train_loss", by=["data", "alpha"], allowance=1.5 / d)
    ax = sv.plot(table, x="alpha", y="train_loss", hue="data", title="Random labels, square loss, lam -> 0")
    fig = _save(ax, out, "random_label_universality")
    return RecipeResult("random_label_universality", table, checks, fig, [fig] if fig else [])


@recipe(
    "mixture_multiclass_curves",
    "Three-class Gaussian mixture: cross-entropy, one-hot ridge and one-vs-rest hinge against the Bayes error",
    "Loureiro, Sicuro, Gerbelot, Pacco, Krzakala & Zdeborova, NeurIPS 2021, Thm. 1 (K clusters)",
    requires=_PAIR,
)
def mixture_multiclass_curves(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Three clusters (means 1.5 e_k, identity covariance, weights 0.45 / 0.35 / 0.2) labelled by
    their index: the argmax test error of L2-regularised (lam = 0.1) multi-class ERM with a bias
    against alpha, with simulations, and the error of the Bayes classifier that knows the mixture
    (linear discriminant analysis)."""
    import solvable as sv
    from solvable.families.mixtures import bayes_error

    mix = sv.data.Mixture(np.eye(3) * 1.5, weights=[0.45, 0.35, 0.2])
    problem = sv.GaussianMixture(mix, alpha=1.0)
    L2 = sv.penalties.L2
    learners = {"cross-entropy": sv.ERM("cross_entropy", L2(0.1), bias=True),
                "one-hot ridge": sv.ERM("square", L2(0.1), bias=True),
                "one-vs-rest hinge": sv.ERM("multiclass_hinge", L2(0.1), bias=True)}
    if quick:  # the one-vs-rest hinge's active-set fits are the slow simulations: theory only
        a_th, a_sim, d, seeds = np.array([0.5, 1.0, 3.0, 5.0]), np.array([2.0]), 80, 4
        simulated = {k: v for k, v in learners.items() if k != "one-vs-rest hinge"}
    else:
        a_th, a_sim, d, seeds = np.geomspace(0.2, 20.0, 30), np.array([0.5, 1.0, 2.0, 5.0]), 300, 10
        simulated = None
    table = _learning_table(problem, learners, a_th, a_sim, d, seeds, run, simulated)
    checks = theory_vs_simulation(table, "test_error", by=["learner", "alpha"], allowance=0.01)
    th = table[table.kind == "theory"]
    be = bayes_error(mix)
    checks.append(Check.at_least("min test error - Bayes error, >= 0", float(th.test_error.min() - be), 0.0,
                        "the Bayes classifier bounds every estimator", tol=1e-12))
    # K = 2: softmax cross-entropy is logistic regression on z_0 - z_1 (lam / 2)
    two = sv.GaussianMixture(sv.data.Mixture.symmetric(1.0, weight=0.7), alpha=2.0)
    ce, lo = sv.predict(two, sv.ERM("cross_entropy", L2(0.2), bias=True)), sv.predict(two, sv.ERM("logistic", L2(0.1), bias=True))
    checks.append(Check("K = 2 cross-entropy vs logistic (lam / 2), test error", float(ce.test_error),
                        float(lo.test_error), 1e-8, "softmax over two logits is the logistic loss"))
    ax = sv.plot(table, x="alpha", y="test_error", hue="learner", title="3-class Gaussian mixture, |mu_k| = 1.5")
    ax.axhline(be, color="k", ls=":", label="Bayes classifier (oracle LDA)")
    ax.legend()
    fig = _save(ax, out, "mixture_multiclass_curves")
    return RecipeResult("mixture_multiclass_curves", table, checks, fig, [fig] if fig else [])


@recipe(
    "teacher_mixture_universality",
    "A teacher on a Gaussian mixture: the single Gaussian with its mean and covariance agrees until the teacher "
    "aligns with the means",
    "Pesce, Krzakala, Loureiro & Stephan, ICML 2023 ('Are Gaussian data all you need?'), Figs. 1-2",
    requires=_PAIR,
)
def teacher_mixture_universality(quick: bool = False, out: Path | None = None, **run) -> RecipeResult:
    """Two homoscedastic clouds +-1.5 e_1 labelled by a sign teacher ``theta / sqrt(d) = a e_1 +
    theta_perp`` (``|theta|^2 / d = 1.5``): the test error of logistic regression (lam = 0.1, bias)
    against alpha on the mixture and on its single-Gaussian equivalent (same mean and covariance:
    a spike along the means), for a teacher orthogonal to the means (a = 0: the curves coincide)
    and aligned with them (a = 1: the Gaussian model is wrong), with simulations of both."""
    import solvable as sv
    from solvable.families.mixtures import gaussian_equivalent

    mix = sv.data.Mixture.symmetric(1.5)
    lr = sv.ERM("logistic", sv.penalties.L2(0.1), bias=True)
    a_th = np.geomspace(0.2, 10.0, 10 if quick else 40)
    a_sim, d, seeds = (np.array([2.0]), 100, 4) if quick else (np.array([0.5, 2.0, 5.0]), 400, 10)
    a_th = np.unique(np.concatenate([a_th, a_sim]))
    kw = _run_kw(run)
    parts = []
    for align in (0.0, 1.0):
        pb = sv.GaussianMixture(mix, alpha=1.0, labels="teacher", teacher=[align], teacher_norm=1.5)
        for model, prob in (("mixture", pb), ("Gaussian equivalent", gaussian_equivalent(pb))):
            for frame in (sv.sweep(prob, lr, over={"alpha": a_th}, **kw),
                          sv.sweep(prob, lr, over={"alpha": a_sim}, simulate={"d": d, "seeds": seeds}, theory=False,
                                   **kw)):
                frame["data"] = f"{model}, a = {align:g}"
                parts.append(frame)
    table = pd.concat(parts, ignore_index=True, sort=False)
    table.attrs["grid"] = ["data", "alpha"]
    th = table[table.kind == "theory"].set_index(["data", "alpha"]).test_error
    gap0 = float(np.max(np.abs(th["mixture, a = 0"] - th["Gaussian equivalent, a = 0"])))
    gap1 = float(np.max(np.abs(th["mixture, a = 1"] - th["Gaussian equivalent, a = 1"])))
    checks = [Check("orthogonal teacher: max |mixture - Gaussian| test error", gap0, 0.0, 1e-9,
                    "Pesce et al. 2023: universality holds"),
              Check("aligned teacher: max |mixture - Gaussian| test error > 0.01", float(gap1 > 0.01), 1.0, 0.0,
                    "Pesce et al. 2023: universality fails along the means")]
    checks += theory_vs_simulation(table, "test_error", by=["data", "alpha"], allowance=0.01)
    ax = sv.plot(table, x="alpha", y="test_error", hue="data", title="Sign teacher on two clouds +-1.5 e1, logistic")
    fig = _save(ax, out, "teacher_mixture_universality")
    return RecipeResult("teacher_mixture_universality", table, checks, fig, [fig] if fig else [])

"""Finite-size simulation of K weighted ERM estimators on one data set (the counterpart of
:mod:`solvable.families.joint.equations`).

Per seed: draw the teacher and a pool of ``n x pool factor`` samples (``n = round(alpha d)``) from the
GLM's data model, labels from the channel (a fresh draw per estimator for ``labels="resampled"``),
the weights from the law (:meth:`SampleWeights.draw`: real bootstrap resamples, real subsamples,
disjoint data sets), and fit every estimator exactly (the posterior mean of ``BayesOptimal()`` by GAMP,
:func:`solvable.families.glm_bayes.gamp.gamp`, run to convergence; a ``GibbsPosterior``'s by GAMP on its
tilted channel with the prior ``N(0, 1 / (beta lam))``, or on a data model that is not i.i.d. inputs by
Hamiltonian Monte Carlo, :mod:`~solvable.families.joint.mcmc`): the square loss on ``sqrt(p)``-scaled rows, the
logistic loss on the rows repeated ``p`` times (integer weights: the same objective), both by
:func:`solvable.families.erm.solvers.solve_erm`.  Measured: ``m_k``, ``q_k_l`` (population overlaps,
cross terms by polarisation of the data model's ``overlaps``, or, for independent feature maps, the
exact cross kernel of :meth:`~solvable.data.RandomFeatures.sample_maps`), the exact test errors given the
weights, the parameter norms ``w_norm_k = |w_k|^2 / p``, the weighted training loss ``sum_mu p_mu
loss(y_mu, omega_mu) / n``, the posterior variance ``V_k`` (and ``w_var_k``) of a Bayes or Gibbs
estimator (GAMP's mean variance), and the ensemble's fields
(:func:`~solvable.families.joint.problem.ensemble_fields`, shared with the theory).
"""
from __future__ import annotations

import numpy as np

from solvable.blocks.data.spectra import Isotropic
from solvable.core.validate import sample_count
from solvable.families.joint.equations import _is_bayes, check_joint
from solvable.families.joint.gibbs import GibbsPosterior, TiltedChannel
from solvable.families.joint.problem import ensemble_fields

__all__ = ["simulate_joint_once"]


def _posterior_model(problem, lr):
    """``(prior, channel, GAMP options, name)`` whose GAMP fixed point is the estimator ``lr``'s posterior
    mean (the Bayes-optimal one, or a Gibbs posterior's on its tilted channel with the prior ``N(0, 1 /
    (beta lam))``), ``"hmc"`` for a Gibbs posterior on a data model other than i.i.d. inputs (sampled by
    Hamiltonian Monte Carlo: GAMP's fixed point is its posterior mean on i.i.d. inputs only), or None for an
    ERM estimator."""
    if _is_bayes(lr):  # Gaussian prior and isotropic data: check_joint
        return problem.prior, problem.channel, {"max_iter": 1000}, "BayesOptimal() estimator"
    if isinstance(lr, GibbsPosterior):
        if problem.data is not None:  # not i.i.d. inputs: sampled by Hamiltonian Monte Carlo instead
            return "hmc"
        from solvable.blocks.priors import Gaussian

        return (Gaussian(var=1.0 / (lr.beta * lr.lam)), TiltedChannel(lr.loss, lr.beta),
                {"max_iter": 2000, "damping": 0.3}, "Gibbs posterior")
    return None


def simulate_joint_once(problem, learner, *, d: int, rng: np.random.Generator, n_hmc: int = 2000) -> dict:
    """One seed at dimension d (module docstring); ``n_hmc``: posterior samples of a Gibbs posterior on a
    data model (Hamiltonian Monte Carlo, :func:`~solvable.families.joint.mcmc.gibbs_posterior_moments`)."""
    from solvable.families.erm.solvers import solve_erm

    if np.ndim(problem.alpha) > 0:
        raise ValueError("simulate: give a scalar alpha (sweep over a curve point by point)")
    check_joint(problem, learner)
    K, ch = learner.K, problem.channel
    n = sample_count(problem.alpha, d)
    data = problem.data if problem.data is not None else Isotropic()
    P = learner.weights.draw(n, K, rng)
    if learner.features == "independent":  # one feature map per estimator on the same inputs
        Xvs, z, info = data.sample_maps(P.shape[0], d, problem.prior, rng, K)
        own = info["overlaps"]

        def cross(k, l, wk, wl):
            return info["cross"](k, l, wk, wl)
    else:
        Xv, z, info = data.sample(P.shape[0], d, problem.prior, rng)
        Xvs = [Xv] * K
        own = [info["overlaps"]] * K

        def cross(k, l, wk, wl):  # polarisation of the shared map's quadratic form
            return (info["overlaps"](wk + wl)[1] - info["overlaps"](wk)[1] - info["overlaps"](wl)[1]) / 2.0
    y0 = ch.sample(z, rng)
    W, train, post_var, post_wvar = [], {}, {}, {}
    for k, lr in enumerate(learner.learners):
        Xv = Xvs[k]
        A = Xv / np.sqrt(Xv.shape[1])
        y = ch.sample(z, rng) if (learner.labels == "resampled" and k > 0) else y0
        p = P[:, k]
        posterior = _posterior_model(problem, lr)
        if posterior == "hmc":  # a Gibbs posterior on a data model (random features, a spectrum)
            from solvable.families.joint.mcmc import gibbs_posterior_moments

            mc = gibbs_posterior_moments(A, y, lr.loss.name, lr.lam, lr.beta, rng, n_samples=n_hmc)
            W.append(mc["mean"])
            ev, U = np.linalg.eigh(mc["cov"])
            # prediction-space posterior variance E_x Var_post(w . v / sqrt(p)) = tr(K Cov) / p (K the features'
            # population kernel), parameter-space tr(Cov) / p
            post_var[k] = float(sum(max(e, 0.0) * own[k](U[:, j])[1] for j, e in enumerate(ev)))
            post_wvar[k] = float(np.mean(np.diag(mc["cov"])))
            continue
        if posterior is not None:  # a posterior mean, by GAMP run to convergence
            from solvable.families.glm_bayes.gamp import gamp

            prior, channel, opts, what = posterior
            res = gamp(Xv, y, prior, channel, tol=1e-12, **opts)
            if not res.converged:
                raise RuntimeError(f"simulate: GAMP did not converge for the {what} at d = {d}")
            W.append(res.x_hat)
            post_var[k] = post_wvar[k] = float(np.mean(res.v_hat))  # on i.i.d. inputs the two coincide
            continue
        if lr.loss.name == "square":
            s = np.sqrt(p)
            w = solve_erm(lr.loss, lr.penalty, A * s[:, None], y * s)
        else:
            if not np.all(p == np.round(p)):
                raise ValueError(f"simulate: the logistic loss is fitted on rows repeated by their weights, which "
                                 f"must be integers; the law {learner.weights!r} has non-integer weights")
            idx = np.repeat(np.arange(len(p)), p.astype(int))
            w = solve_erm(lr.loss, lr.penalty, A[idx], y[idx])
        W.append(w)
        train[k] = float(np.sum(p * lr.loss.value(y, A @ w)) / n)
    rho = info["rho"]
    moments = ch.label_moments(rho)
    out = {}
    mq = [own[k](w) for k, w in enumerate(W)]
    Q = np.zeros((K, K))
    for k in range(K):
        Q[k, k] = mq[k][1]
    for k in range(K):
        for l in range(k + 1, K):
            Q[k, l] = Q[l, k] = cross(k, l, W[k], W[l])
    for k, v in post_var.items():  # the posterior variance V_k of a Bayes or Gibbs estimator, and w_var_k
        out[f"V_{k}"] = v
        out[f"w_var_{k}"] = post_wvar[k]
    for k in range(K):
        out[f"m_{k}"] = mq[k][0]
        out[f"w_norm_{k}"] = float(W[k] @ W[k] / len(W[k]))
        out[f"test_error_{k}"] = float(ch.student_test_error(mq[k][0], Q[k, k], rho, moments=moments))
        if k in train:  # ERM estimators (a posterior mean has no training loss)
            out[f"train_loss_{k}"] = train[k]
        for l in range(k, K):
            out[f"q_{k}_{l}"] = Q[k, l]
    ms = np.array([[x[0] for x in mq]])
    out.update({k: float(np.asarray(v).reshape(-1)[0])
                for k, v in ensemble_fields(ms, Q[None], rho, ch, moments, learner.exchangeable).items()})
    return out

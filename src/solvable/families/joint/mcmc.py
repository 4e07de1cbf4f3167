"""Finite-size samples of the Gibbs posterior by Hamiltonian Monte Carlo: an independent check of the
GAMP / replica predictions of :mod:`~solvable.families.joint.gibbs`.

The target is the Gibbs posterior of a loss and a Gaussian prior,

    P(w) ~ exp(-beta [sum_mu loss(y_mu, (A w)_mu) + lam |w|^2 / 2]),    w in R^p,

with ``A`` the (n, p) matrix of already scaled rows (features / sqrt(p)); ``loss`` is the logistic loss
``log(1 + exp(-y z))`` (labels +-1) or the square loss ``(y - z)^2 / 2``.  The potential is convex, so
the posterior is log-concave with a unique mode.

Method: Hamiltonian Monte Carlo (Neal 2011, "MCMC using Hamiltonian dynamics", in Handbook of Markov
Chain Monte Carlo, ch. 5): leapfrog trajectories and a Metropolis correction on the total energy.  It
runs in whitened coordinates ``x``, ``w = w* + L^-T x``, with ``w*`` the posterior mode (the ERM
minimiser, :func:`~solvable.families.erm.solvers.solve_erm`) and ``L L^T = beta (lam I + A^T
diag(loss''(y, A w*)) A)`` the Cholesky factor of the Hessian of the potential there; the transformed target has unit Hessian at its mode (exactly a standard
normal for the square loss), so one step size fits every direction.  The step size ``eps`` is adapted
during warm-up by dual averaging to a mean acceptance probability 0.8 (Hoffman & Gelman 2014, "The
No-U-Turn sampler", JMLR 15, sec. 3.2) and jittered by +-20% per trajectory.  A trajectory takes
``min(n_leapfrog, ceil((pi / 2) / eps))`` steps: about a quarter period of the unit Gaussian, after which
an exact trajectory's end ``x cos t + r sin t`` is independent of its start.  Always taking
``n_leapfrog = 16`` steps would run for ``16 eps ~ 5-9`` (``eps ~ 0.3-0.55`` at p = 60-400), near a full
period, looping back towards the start (measured: 2-6 times fewer effective samples at about 3 times
the cost).
``ess_min`` is the batch-means effective sample size (batches of ``sqrt(N)`` samples; Flegal & Jones
2010), the smallest over the log density and the first five coordinates.  The checks
(tests/test_joint_mcmc.py): the square loss against its closed-form Gaussian posterior, the logistic
loss at p = 2 against a 2D quadrature, and at n = 200, p = 100 against the GAMP fixed point.
"""
from __future__ import annotations

import time

import numpy as np
from scipy import linalg

__all__ = ["gibbs_posterior_moments"]

_LOSSES = ("logistic", "square")
#: the trajectory time, in whitened units: a quarter period of the unit Gaussian, where the end point of
#: an exact trajectory is independent of its start (x cos t + r sin t); longer ones loop back towards it
_QUARTER_PERIOD = np.pi / 2


def _check_positive(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (np.isfinite(v) and v > 0):
        raise ValueError(f"gibbs_posterior_moments: {name} must be finite and > 0, got {name}={v!r}")
    return float(v)


def _check_int(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"gibbs_posterior_moments: {name} must be an integer >= {lo}, got {name}={v!r}")
    return int(v)


def _initial_step_size(n_leapfrog):
    """The step size before adaptation (the whitened target has unit scale)."""
    return 1.0 / np.sqrt(n_leapfrog)


def _batch_means_ess(x):
    """Batch-means effective sample size of the series x (batches of floor(sqrt(N)) samples)."""
    x = np.asarray(x, float)
    N = len(x)
    b = max(int(np.sqrt(N)), 1)
    nb = N // b
    if nb < 2:
        return float(N)
    var = np.var(x[: nb * b], ddof=1)
    if var == 0:
        return float(N)
    bm = x[: nb * b].reshape(nb, b).mean(axis=1)
    tau = b * np.var(bm, ddof=1) / var
    return float(N / max(tau, 1e-12))


def gibbs_posterior_moments(A, y, loss: str, lam: float, beta: float, rng: np.random.Generator, *,
                            n_samples: int = 2000, n_warmup: int = 500, n_leapfrog: int = 16,
                            max_seconds: float = 60.0) -> dict:
    """Posterior mean and covariance of ``P(w) ~ exp(-beta [sum_mu loss(y_mu, (A w)_mu) + lam |w|^2 / 2])``
    by Hamiltonian Monte Carlo (Neal 2011, "MCMC using Hamiltonian dynamics"), preconditioned by the
    Cholesky factor of the Hessian at the posterior mode (module docstring).

    ``A``: (n, p), rows already scaled (features / sqrt(p)); ``y``: (n,) labels (+-1 for the logistic
    loss); ``loss``: "logistic" or "square"; ``lam``, ``beta`` > 0; ``rng`` a numpy Generator.
    ``n_samples`` kept trajectories after ``n_warmup`` warm-up ones (step-size adaptation), each of
    at most ``n_leapfrog`` leapfrog steps (a trajectory time ~ pi / 2 in whitened units, module
    docstring).

    Returns a dict: ``mean`` (p,), ``cov`` (p, p) (sample covariance of the kept samples),
    ``acceptance`` (fraction of kept-phase proposals accepted), ``n_samples``, ``ess_min`` (batch-means
    ESS, the smallest over the log density and the first five coordinates), ``seconds``, and
    ``step_size``, ``mode`` (the posterior mode).

    Raises ValueError on bad input, RuntimeError past ``max_seconds`` (saying how many samples were
    drawn) or when the acceptance after warm-up is below 0.3.
    """
    t_start = time.perf_counter()
    if not isinstance(loss, str) or loss not in _LOSSES:
        raise ValueError(f"gibbs_posterior_moments: loss must be one of {_LOSSES}, got loss={loss!r}")
    lam = _check_positive("lam", lam)
    beta = _check_positive("beta", beta)
    max_seconds = _check_positive("max_seconds", max_seconds)
    n_samples = _check_int("n_samples", n_samples, 2)
    n_warmup = _check_int("n_warmup", n_warmup, 0)
    n_leapfrog = _check_int("n_leapfrog", n_leapfrog, 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"gibbs_posterior_moments: rng must be a numpy.random.Generator, got rng={rng!r}")
    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    if A.ndim != 2 or A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError(f"gibbs_posterior_moments: A must be a non-empty (n, p) matrix, got A.shape={A.shape}")
    if y.shape != (A.shape[0],):
        raise ValueError(f"gibbs_posterior_moments: y must have shape (n,) = ({A.shape[0]},) to match "
                         f"A.shape={A.shape}, got y.shape={y.shape}")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(y))):
        raise ValueError("gibbs_posterior_moments: A and y must be finite")
    if loss == "logistic":
        bad = np.flatnonzero((y != 1.0) & (y != -1.0))
        if bad.size:
            raise ValueError(f"gibbs_posterior_moments: the logistic loss needs labels +-1, got "
                             f"y[{bad[0]}]={float(y[bad[0]])!r} ({bad.size} labels not +-1)")
    n, p = A.shape

    # --- the mode and the preconditioner: w = w0 + L^-T x, L L^T = Hessian of the potential at w0
    from solvable.blocks.losses import get_loss
    from solvable.blocks.penalties import L2
    from solvable.families.erm.solvers import solve_erm

    L_ = get_loss(loss)
    w0 = solve_erm(L_, L2(lam), A, y)  # the mode: the ERM minimiser (strictly convex)
    z0 = A @ w0
    h0 = L_.hess(y, z0)
    H = beta * (lam * np.eye(p) + (A.T * h0) @ A)
    L = linalg.cholesky(H, lower=True)
    Linv = linalg.solve_triangular(L, np.eye(p), lower=True)  # L^-1
    B = A @ Linv.T  # z = z0 + B x
    C = Linv @ Linv.T  # |w|^2 = |w0|^2 + 2 c . x + x^T C x
    c = Linv @ w0
    bl = beta * lam

    bC, bc, Bt = bl * C, bl * c, beta * np.ascontiguousarray(B.T)

    def grad_U(x):
        """The gradient of the potential in the whitened coordinates."""
        return Bt @ L_.grad(y, z0 + B @ x) + bC @ x + bc

    def potential(x):
        """The potential ``U(x)`` (up to a constant): ``beta [sum loss + lam |w|^2 / 2]``."""
        return beta * np.sum(L_.value(y, z0 + B @ x)) + x @ (bc + 0.5 * (bC @ x))

    # --- HMC with dual-averaging step size (Hoffman & Gelman 2014, Alg. 5)
    eps = _initial_step_size(n_leapfrog)
    mu, gamma, t0, kappa, target = np.log(10 * eps), 0.05, 10.0, 0.75, 0.8
    Hbar, log_eps_bar = 0.0, 0.0
    x = rng.standard_normal(p)  # the whitened target is near N(0, I): start there
    U, grad = potential(x), grad_U(x)
    n_total = n_warmup + n_samples
    X = np.empty((n_samples, p))
    logp = np.empty(n_samples)
    n_acc = 0
    for it in range(n_total):
        if time.perf_counter() - t_start > max_seconds:
            drawn = it
            raise RuntimeError(f"gibbs_posterior_moments: max_seconds={max_seconds:g} exceeded after {drawn} of "
                               f"{n_total} samples ({min(drawn, n_warmup)} warm-up, {max(drawn - n_warmup, 0)} kept; "
                               f"n={n}, p={p}, n_leapfrog={n_leapfrog})")
        e = eps * rng.uniform(0.8, 1.2)
        n_steps = min(n_leapfrog, max(1, int(np.ceil(_QUARTER_PERIOD / eps))))
        r = rng.standard_normal(p)
        K0 = 0.5 * r @ r
        # a divergent trajectory (step size too large early in the warm-up) may overflow: it is rejected
        with np.errstate(over="ignore", invalid="ignore"):
            xn, gn = x, grad
            rn = r - 0.5 * e * gn
            for step in range(n_steps):
                xn = xn + e * rn
                gn = grad_U(xn)
                if step < n_steps - 1:
                    rn = rn - e * gn
            rn = rn - 0.5 * e * gn
            Un = potential(xn)
            dH = (Un + 0.5 * rn @ rn) - (U + K0)
        a = float(np.exp(min(0.0, -dH))) if np.isfinite(dH) else 0.0
        accepted = rng.uniform() < a
        if accepted:
            x, U, grad = xn, Un, gn
        if it < n_warmup:
            m = it + 1
            Hbar = (1 - 1 / (m + t0)) * Hbar + (target - a) / (m + t0)
            log_eps = mu - np.sqrt(m) / gamma * Hbar
            w_ = m ** (-kappa)
            log_eps_bar = w_ * log_eps + (1 - w_) * log_eps_bar
            eps = float(np.exp(log_eps))
            if it == n_warmup - 1:
                eps = float(np.exp(log_eps_bar))
        else:
            k = it - n_warmup
            X[k] = x
            logp[k] = -U
            n_acc += bool(accepted)

    acceptance = n_acc / n_samples
    W = w0 + X @ Linv  # rows: w0 + L^-T x
    mean = W.mean(axis=0)
    cov = np.atleast_2d(np.cov(W, rowvar=False))
    ess = [_batch_means_ess(logp)] + [_batch_means_ess(W[:, j]) for j in range(min(5, p))]
    ess_min = float(min(ess))
    seconds = time.perf_counter() - t_start
    if acceptance < 0.3:
        raise RuntimeError(f"gibbs_posterior_moments: acceptance {acceptance:.3f} < 0.3 after warm-up "
                           f"(step size {eps:.4g}, n_leapfrog={n_leapfrog}, n_warmup={n_warmup}, n={n}, p={p}, "
                           f"ess_min={ess_min:.1f}, {seconds:.2f} s); lengthen the warm-up or take fewer "
                           f"leapfrog steps")
    return {"mean": mean, "cov": cov, "acceptance": acceptance, "n_samples": n_samples, "ess_min": ess_min,
            "seconds": seconds, "step_size": eps, "mode": w0}

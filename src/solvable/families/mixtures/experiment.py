"""Finite-size ERM on Gaussian mixtures (the counterpart of
:mod:`solvable.families.mixtures.equations`).

Per seed: draw ``n = round(alpha d)`` samples of the mixture at dimension ``d``
(:meth:`solvable.data.Mixture.sample`), their labels, and minimise
``sum_i loss(y_i, w . x_i / sqrt(d) + b) + lam |w|^2 / 2`` with the exact solvers of
:func:`solvable.families.erm.solvers.solve_erm` (closed form, L-BFGS + Newton, active sets).
The bias is the weight of a constant column ``c = 10`` appended to ``X / sqrt(d)``: it is
penalised by ``lam b^2 / (2 c^2)``, which moves it by a relative ``O(lam / (c^2 n))``, far below
the ``1 / sqrt(d)`` fluctuations measured.

Measured with the theory's names: ``m_k = w . mu_k / sqrt(d)``, ``q_k = w^T Sigma_k w / d``,
``norm = |w|^2 / d``, ``bias``; the test errors exactly given ``w`` (Gaussian clusters:
:func:`~solvable.families.mixtures.equations.cluster_errors`, the theory's formula, no test-set noise), and the training loss and
error on the training set.
"""
from __future__ import annotations

import numpy as np

from solvable.core.contract import Experiment
from solvable.core.validate import sample_count
from solvable.families.mixtures.equations import _check, cluster_errors

__all__ = ["MixtureERMExperiment", "MulticlassMixtureERMExperiment", "BIAS_COLUMN", "fit_binary", "root_times"]

BIAS_COLUMN = 10.0


def _draw(problem, d, rng):
    """``n = round(alpha d)`` samples of the problem's mixture: ``(X, clusters, (means, factors))``."""
    n = sample_count(problem.alpha, d)
    return problem.data.sample(n, d, rng)


def fit_binary(loss, learner, A, y):
    """``(w, b)`` minimising ``sum_i loss(y_i, A_i . w + b) + penalty(w)`` by the exact solvers of
    :func:`solvable.families.erm.solvers.solve_erm` (the bias as a constant column, see the module
    docstring; ``b = 0`` without ``learner.bias``)."""
    from solvable.families.erm.solvers import SolverError, solve_erm

    try:
        w = solve_erm(loss, learner.penalty, np.column_stack([A, np.full(len(A), BIAS_COLUMN)]) if learner.bias else A, y)
    except SolverError:
        c = _constant_hinge_classifier(loss, learner, A, y)
        if c is None:
            raise
        return c
    if learner.bias:
        return w[:-1], float(w[-1] * BIAS_COLUMN)
    return w, 0.0


def _constant_hinge_classifier(loss, learner, A, y):
    """``(0, b*)`` when the constant classifier is the exact hinge minimiser (with a bias), else None.

    With ``w = 0`` and ``b* = -+1`` (the majority label's kink), the hinge's subgradients are ``-y``
    off the kink and ``-y beta_i``, ``beta_i in [0, 1]``, on it; ``w = 0`` is optimal iff some
    ``beta`` cancels the gradient in ``w`` (``sum_i g_i a_i = 0``) and in the bias (whose column
    carries the penalty ``lam (b / c)^2 / 2``): a linear feasibility problem (HiGHS).  The active set
    cannot settle there (hundreds of samples exactly at the kink): the collapse regime of
    :meth:`MixtureERM._collapse_rows`."""
    from scipy.optimize import linprog

    if loss.name != "hinge" or not learner.bias or learner.penalty.l1_part > 0:
        return None
    n_plus, n_minus = int(np.sum(y > 0)), int(np.sum(y < 0))
    if n_plus == n_minus:
        return None
    b = -1.0 if n_minus > n_plus else 1.0
    kink = y * b > 0                     # the majority's samples, at margin y b = 1
    g_off = -y[~kink]                    # the others: margin y b = -1 < 1, gradient -y
    lam = float(learner.penalty.l2_part)
    A_eq = np.vstack([(-y[kink])[None, :] * A[kink].T, np.full((1, int(kink.sum())), -y[kink][0] * BIAS_COLUMN)])
    b_eq = -np.r_[A[~kink].T @ g_off, BIAS_COLUMN * g_off.sum() + lam * b / BIAS_COLUMN]
    res = linprog(np.zeros(int(kink.sum())), A_eq=A_eq, b_eq=b_eq, bounds=(0.0, 1.0), method="highs")
    if res.status != 0:
        return None
    return np.zeros(A.shape[1]), b


class MixtureERMExperiment(Experiment):
    """One seed of ERM on a Gaussian mixture (see the module docstring)."""

    @classmethod
    def engine_for(cls, problem, learner):
        """The multi-class experiment where the class is the cluster index, else this one."""
        from solvable.families.mixtures.equations import variant

        v = variant(problem, learner)
        if v == "multiclass":
            return MulticlassMixtureERMExperiment
        if v == "teacher":
            from solvable.families.mixtures.teacher import TeacherMixtureERMExperiment

            return TeacherMixtureERMExperiment
        return cls

    def sample(self, d, rng):
        pb = self.problem
        _check(pb, self.learner)
        X, c, (mu, fac) = _draw(pb, d, rng)
        n = len(X)
        tab = pb.label_table
        y = np.where(rng.random(n) < tab[c, 0], 1.0, -1.0)
        return {"X": X, "y": y, "c": c, "mu": mu, "fac": fac, "d": d}

    def fit(self, data, rng):
        return fit_binary(self.learner.loss, self.learner, data["X"] / np.sqrt(data["d"]), data["y"])

    def measure(self, data, est):
        w, b = est
        d, mu = data["d"], data["mu"]
        K = mu.shape[0]
        m = mu @ w / np.sqrt(d)
        Fw = root_times(data["fac"], w)
        q = (Fw * Fw).sum(axis=1) / d
        err_k = cluster_errors(m, q, b, self.problem.label_table)
        rho = self.problem.data.weights
        out = {f"{s}_{k}": float(arr[k]) for s, arr in (("m", m), ("q", q)) for k in range(K)}
        out.update({f"test_error_{k}": float(err_k[k]) for k in range(K)})
        out.update({"bias": b, "norm": float(w @ w / d), "test_error": float(err_k @ rho)})
        out.update(self.training_fields(data, w, b))
        return out

    def training_fields(self, data, w, b, classify: bool = True) -> dict:
        """The training set's ``train_loss``, ``train_error`` (+-1 labels: ``classify``) and, for the
        hard-margin constraint, the geometric ``margin = min_i y_i z_i / |w|`` (``|w|^2 / d = norm``)."""
        d, y = data["d"], data["y"]
        z = data["X"] @ w / np.sqrt(d) + b
        out = {"train_loss": float(np.mean(self.learner.loss.value(y, z)))}
        if classify:
            out["train_error"] = float(np.mean(y * z <= 0))
        if self.learner.loss.is_constraint:
            out["margin"] = float(np.min(y * z) / np.sqrt(w @ w / d))
        return out


def root_times(fac, v):
    """``Sigma_k^{1/2} v`` for each cluster (K, d), from the factors of :meth:`Mixture.embed`: (K, d)
    standard deviations or (K, d, d) symmetric square roots."""
    return fac * v if fac.ndim == 2 else np.einsum("kij,j->ki", fac, v)


def _fit_cross_entropy(A, c, K, lam, bias, gtol=1e-10):
    """Softmax cross-entropy with ``lam |W|^2 / 2`` (and an unpenalised bias): L-BFGS on the exact
    gradient to a relative gradient norm ``gtol``, then Newton steps on the sum-zero coordinates
    (the minimiser has ``1^T W = 0``; the bias is returned with ``sum b = 0``)."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    n, d = A.shape
    Y = np.eye(K)[c]

    def fg(theta):
        W = theta[:K * d].reshape(K, d)
        b = theta[K * d:] if bias else np.zeros(K)
        Z = A @ W.T + b
        lse = logsumexp(Z, axis=1)
        val = np.sum(lse - Z[np.arange(n), c]) + 0.5 * lam * np.sum(W * W)
        G = softmax(Z, axis=1) - Y
        gW = G.T @ A + lam * W
        g = np.r_[gW.ravel(), G.sum(axis=0)] if bias else gW.ravel()
        return val, g

    x0 = np.zeros(K * d + (K if bias else 0))
    res = minimize(fg, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "maxcor": 30, "gtol": 1e-12, "ftol": 1e-16})
    theta = res.x
    # Newton polish in the sum-zero coordinates: W = P W~, b = P b~ (the loss is invariant along 1)
    from solvable.families.mixtures.multiclass import CrossEntropy

    P = CrossEntropy().basis(K)
    for _ in range(20):
        W = theta[:K * d].reshape(K, d)
        b = theta[K * d:] if bias else np.zeros(K)
        Z = A @ W.T + b
        S = softmax(Z, axis=1)
        G = S - Y
        gW = P.T @ (G.T @ A + lam * W)  # (K-1, d)
        gb = P.T @ G.sum(axis=0)
        g = np.r_[gW.ravel(), gb] if bias else gW.ravel()
        if np.max(np.abs(g)) < gtol * max(1.0, np.sqrt(n)):
            break
        SP = S @ P  # (n, K-1)
        Hs = np.einsum("ka,nk,kb->nab", P, S, P) - SP[:, :, None] * SP[:, None, :]  # per-sample Hessians
        D = K - 1
        Ab = np.column_stack([A, np.ones(n)]) if bias else A
        e = Ab.shape[1]
        H = np.einsum("nab,ni,nj->aibj", Hs, Ab, Ab).reshape(D * e, D * e)
        reg = np.zeros((D, e))
        reg[:, :d] = lam
        H += np.diag(reg.ravel())
        gg = np.column_stack([gW, gb]).ravel() if bias else gW.ravel()
        step = np.linalg.solve(H + 1e-14 * np.eye(D * e), gg).reshape(D, e)
        W = W - P @ step[:, :d]
        b = b - P @ step[:, d] if bias else b
        theta = np.r_[W.ravel(), b] if bias else W.ravel()
    W = theta[:K * d].reshape(K, d)
    W = W - W.mean(axis=0)
    b = theta[K * d:] - theta[K * d:].mean() if bias else np.zeros(K)
    return W, b


def _fit_square(A, c, K, lam, bias):
    """Square loss on one-hot labels: K ridge regressions (with an unpenalised, centred bias)."""
    n, d = A.shape
    Y = np.eye(K)[c]
    if bias:
        am, ym = A.mean(axis=0), Y.mean(axis=0)
        A, Y = A - am, Y - ym
    if n >= d:
        W = np.linalg.solve(A.T @ A + lam * np.eye(d), A.T @ Y).T
    else:
        W = (A.T @ np.linalg.solve(A @ A.T + lam * np.eye(n), Y)).T
    b = ym - W @ am if bias else np.zeros(K)
    return W, b


def _fit_elastic_net(loss, A, c, K, l1, l2, bias, tol=1e-10, max_iter=200000):
    """K-class ERM (cross-entropy or square on one-hot labels) with ``l1 |W|_1 + l2 |W|_F^2 / 2`` and an
    unpenalised bias: FISTA with gradient restarts (O'Donoghue & Candes 2015; step ``1 / L``, ``L`` the
    loss's curvature bound (1/2 for the softmax, Boehning 1992; 1 for the square) times
    ``|[A, 1]|_2^2``, plus ``l2``) until the proximal-gradient step moves ``W, b`` by less than ``tol``."""
    n, d = A.shape
    Ab = np.column_stack([A, np.ones(n)]) if bias else A
    L = (0.5 if loss.name == "cross_entropy" else 1.0) * np.linalg.norm(Ab, 2) ** 2 + l2
    X = np.zeros((K, Ab.shape[1]))
    Y, t = X.copy(), 1.0

    def grad(Z):
        G = loss.grad(c, Ab @ Z.T).T @ Ab
        G[:, :d] += l2 * Z[:, :d]
        return G

    for _ in range(max_iter):
        Xn = Y - grad(Y) / L
        Xn[:, :d] = np.sign(Xn[:, :d]) * np.maximum(np.abs(Xn[:, :d]) - l1 / L, 0.0)
        step = Xn - X
        if np.max(np.abs(step)) < tol * max(1.0, np.max(np.abs(Xn))):
            X = Xn
            break
        if np.sum((Y - Xn) * step) > 0:  # gradient restart
            t = 1.0
        tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        Y = Xn + ((t - 1.0) / tn) * step
        X, t = Xn, tn
    else:
        from solvable.families.erm.solvers import SolverError

        raise SolverError(f"multi-class elastic net: FISTA did not converge in {max_iter} steps")
    W, b = X[:, :d], (X[:, d] if bias else np.zeros(K))
    if loss.name == "cross_entropy":
        b = b - b.mean()  # the softmax does not see the bias's mean (W's shift is fixed by the L1 term)
    return W, b


def _fit_l1_hinge(A, y, l1, bias):
    """Binary hinge with ``l1 |w|_1`` (and an unpenalised bias) as the linear program ``min l1 1^T (u + v) +
    1^T xi`` over ``w = u - v``, ``u, v, xi >= 0``, ``xi_i >= 1 - y_i (A_i w + b)`` (HiGHS, exact)."""
    from scipy.optimize import linprog
    from scipy.sparse import eye, hstack, csr_matrix

    n, d = A.shape
    YA = csr_matrix(y[:, None] * A)
    cols = [-YA, YA, -eye(n)] + ([csr_matrix(-y[:, None])] if bias else [])
    cost = np.r_[np.full(2 * d, l1), np.ones(n), np.zeros(1 if bias else 0)]
    bounds = [(0, None)] * (2 * d + n) + ([(None, None)] if bias else [])
    res = linprog(cost, A_ub=hstack(cols).tocsr(), b_ub=-np.ones(n), bounds=bounds, method="highs")
    if res.status != 0:
        from solvable.families.erm.solvers import SolverError

        raise SolverError(f"L1 hinge: the linear program failed ({res.message})")
    return res.x[:d] - res.x[d:2 * d], (float(res.x[-1]) if bias else 0.0)


class MulticlassMixtureERMExperiment(Experiment):
    """One seed of multi-class ERM on a Gaussian mixture (labels = the cluster index):
    cross-entropy by L-BFGS + Newton, square on one-hot labels in closed form, the one-vs-rest
    hinge as K binary hinge problems (active-set solver); measured with the theory's names
    (:class:`~solvable.families.mixtures.multiclass.MulticlassMixtureERM`)."""

    def sample(self, d, rng):
        from solvable.families.mixtures.multiclass import check_multiclass

        check_multiclass(self.problem, self.learner)
        X, c, (mu, fac) = _draw(self.problem, d, rng)
        return {"X": X, "c": c, "mu": mu, "fac": fac, "d": d}

    def fit(self, data, rng):
        from solvable.blocks.losses import Hinge
        from solvable.families.mixtures.multiclass import multiclass_loss

        K = self.problem.data.K
        loss = multiclass_loss(self.learner.loss, K)
        A = data["X"] / np.sqrt(data["d"])
        lam, bias = self.learner.penalty.lam, self.learner.bias
        pen = self.learner.penalty
        if pen.l1_part > 0:  # L1 / elastic net
            if loss.name != "multiclass_hinge":
                return _fit_elastic_net(loss, A, data["c"], K, pen.l1_part, pen.l2_part, bias)
            if pen.l2_part > 0:
                raise ValueError(f"simulate: the one-vs-rest hinge with an elastic net ({pen!r}) has no finite-size "
                                 f"solver here (pure L1 is a linear program); use L1, or 'cross_entropy' / 'multiclass_square'")
            rows = [_fit_l1_hinge(A, np.where(data["c"] == k, 1.0, -1.0), pen.l1_part, bias) for k in range(K)]
            return np.stack([w for w, _ in rows]), np.array([b for _, b in rows])
        if loss.name == "cross_entropy":
            return _fit_cross_entropy(A, data["c"], K, lam, bias)
        if loss.name == "multiclass_square":
            return _fit_square(A, data["c"], K, lam, bias)
        rows = [fit_binary(Hinge(), self.learner, A, np.where(data["c"] == k, 1.0, -1.0)) for k in range(K)]
        return np.stack([w for w, _ in rows]), np.array([b for _, b in rows])

    def measure(self, data, est):
        from solvable.families.mixtures.multiclass import class_errors, multiclass_loss

        W, b = est
        d, mu, fac, c = data["d"], data["mu"], data["fac"], data["c"]
        K = mu.shape[0]
        m = mu @ W.T / np.sqrt(d)  # m[k, i] = W_i . mu_k / sqrt(d)
        if fac.ndim == 2:
            Q = np.stack([(W * fac[k]) @ (W * fac[k]).T for k in range(K)]) / d
        else:
            Q = np.stack([(W @ fac[k]) @ (W @ fac[k]).T for k in range(K)]) / d
        err = class_errors((m + b)[None], Q[None])[0]
        Z = data["X"] @ W.T / np.sqrt(d) + b
        out = {f"m_{k}_{i}": float(m[k, i]) for k in range(K) for i in range(K)}
        out.update({f"q_{k}_{i}_{j}": float(Q[k, i, j]) for k in range(K) for i in range(K) for j in range(i, K)})
        out.update({f"bias_{i}": float(b[i]) for i in range(K)})
        out.update({f"test_error_{k}": float(err[k]) for k in range(K)})
        loss = multiclass_loss(self.learner.loss, K)
        out.update({"norm": float(np.sum(W * W) / d), "test_error": float(err @ self.problem.data.weights),
                    "train_loss": float(np.mean(loss.value(c, Z))),
                    "train_error": float(np.mean(np.argmax(Z, axis=1) != c))})
        return out

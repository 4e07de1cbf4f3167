"""Online-SGD ODEs for two-layer networks (committee machines) on Gaussian inputs.

Student ``yhat = c sum_i v_i h(lambda_i)``, ``lambda_i = w_i.x/sqrt d``; teacher
``y = sum_m v*_m g(nu_m) + sqrt(noise) xi``, ``nu_m = w*_m.x/sqrt d``.  With
``Delta = y - yhat`` and ``t = steps/d``, the order parameters ``Q = W W^T/d``,
``R = W W*^T/d`` (and ``v`` if trained) follow, as ``d -> infinity``
(Saad & Solla, PRE 52, 4225 (1995), Eqs. (10)-(11); Goldt et al., NeurIPS 2019, Eqs. (8)-(10);
Veiga et al., NeurIPS 2022, Eq. (7) for the normalisations):

* ``dR_in/dt = lr c v_i E[h'(lambda_i) nu_n Delta] - lr wd R_in``
* ``dQ_ik/dt = lr c (v_i E[h'(lambda_i) lambda_k Delta] + v_k E[h'(lambda_k) lambda_i Delta])
  + (lr^2 c^2 v_i v_k / B) (E[h'(lambda_i) h'(lambda_k) Delta0^2] + noise E[h'(lambda_i) h'(lambda_k)])
  - 2 lr wd Q_ik``
* ``dv_i/dt = lr_v c E[h(lambda_i) Delta]``  (second layer, updated with step ``lr_v/d``)
* ``test_error = E[Delta0^2] / 2`` (``Delta0``: noiseless ``Delta``).

All expectations are over the Gaussian local fields ``f = (lambda, nu) ~ N(0, Omega)``,
``Omega = [[Q, R], [R^T, T]]``, and reduce to the two-, three- and four-point integrals
``I2(p,q) = E[s_p(f_p) s_q(f_q)]``, ``I3(i,b,p) = E[h'(f_i) f_b s_p(f_p)]``,
``I4(i,k,p,q) = E[h'(f_i) h'(f_k) s_p(f_p) s_q(f_q)]`` and ``J2(i,k) = E[h'(f_i) h'(f_k)]``
(``s_p`` is ``h`` for student fields, ``g`` for teacher fields).  They are computed

* in closed form for erf (Saad & Solla 1995, Eqs. (A1)-(A4); Goldt et al. 2019, App. C),
* in closed form for ReLU for I2 (arc-cosine kernel, Cho & Saul 2009), J2 (orthant
  probability) and I3 (Stein's lemma reduction, derived in :func:`relu_integrals`), and I4
  (which contains a 4D orthant probability) by an exact reduction to a 1D integral of closed
  forms (Gaussian interpolation, :func:`relu_four_point`), accurate to ~1e-9,
* for any other activation by tensor Gauss-Hermite quadrature over the 2/3/4-dimensional
  correlated Gaussian (symmetric square root of the covariance, deterministic, vectorised
  over all index combinations).
"""
from __future__ import annotations

import time as _time
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from solvable.families.sgd.learner import OnlineSGD
from solvable.families.sgd.problem import Committee, draw_committee_init
from solvable.core.results import Prediction
from solvable.families.sgd.integrals import (  # noqa: F401  (re-exported: the ODEs' integrals)
    _integral_method,
    _omega,
    _relu_pair,
    committee_integrals,
    erf_integrals,
    generalisation_error,
    quadrature_integrals,
    relu_four_point,
    relu_integrals,
)

__all__ = [
    "erf_integrals",
    "relu_integrals",
    "relu_four_point",
    "quadrature_integrals",
    "committee_integrals",
    "ode_rhs",
    "generalisation_error",
    "initial_order_parameters",
    "integrate_committee_ode",
]

# ----------------------------------------------------------------------------------------
# The ODEs
# ----------------------------------------------------------------------------------------

def ode_rhs(Q, R, T, v, vstar, *, c, lr, lr_v, noise, weight_decay, batch_size, train_v,
            student, teacher, method="auto", orders=(40, 16, 8), spherical=False):
    """Right-hand side ``(dQ/dt, dR/dt, dv/dt, test_error)`` of the online-SGD ODEs (module docstring).

    ``spherical``: rows renormalised to ``Q_ii = 1`` after each step; to first order in 1/d the
    renormalisation adds ``-R_in D_i/2`` to ``dR_in/dt`` and ``-Q_ik (D_i + D_k)/2`` to ``dQ_ik/dt``, with
    ``D_i`` the unconstrained ``dQ_ii/dt`` (expansion of ``w/|w|``; cf. Ben Arous et al., JMLR 2021, Sec. 2).
    """
    K = Q.shape[0]
    ints = committee_integrals(_omega(Q, R, T), K, student, teacher, method, orders)
    s = np.concatenate([-c * v, vstar])
    A3 = ints["I3"] @ s  # (K, F): E[h'(lambda_i) f_b Delta0]
    dR = lr * c * v[:, None] * A3[:, K:] - lr * weight_decay * R
    first = v[:, None] * A3[:, :K]
    B4 = np.einsum("ikpq,p,q->ik", ints["I4"], s, s)
    dQ = lr * c * (first + first.T) + (lr**2 * c**2 / batch_size) * np.outer(v, v) * (B4 + noise * ints["J2"])
    dQ = dQ - 2 * lr * weight_decay * Q
    if spherical:
        D = np.diag(dQ).copy()
        dR = dR - 0.5 * R * D[:, None]
        dQ = dQ - 0.5 * Q * (D[:, None] + D[None, :])
    dv = lr_v * c * (ints["I2"][:K] @ s) if train_v else np.zeros(K)
    eg = 0.5 * float(s @ ints["I2"] @ s)
    return dQ, dR, dv, eg


def initial_order_parameters(problem: Committee, learner: OnlineSGD, d: int | None = 1000, seed: int = 0) -> dict:
    """Initial ``Q0, R0, T, v0``.

    With ``learner.init`` a dict of weights: their overlaps (the teacher ``W_teacher`` is
    drawn as in the simulation with ``seed`` when not given).  With ``init="random"`` and an
    integer ``d``: the overlaps of the weights a simulation at dimension ``d`` with this
    ``seed`` starts from (same draws, :func:`solvable.families.sgd.problem.draw_committee_init`),
    so theory and simulation start together.  With ``d=None``: the ``d -> infinity`` values
    ``Q0 = init_scale^2 I``, ``R0 = 0``, ``T = problem.T`` (a symmetric start, which never
    leaves the symmetric plateau of a symmetric teacher).
    """
    K, M = learner.width, problem.k
    if isinstance(learner.init, dict):
        W0 = np.asarray(learner.init["W"], dtype=float)
        dd = W0.shape[1]
        if "W_teacher" in learner.init:
            Ws = np.asarray(learner.init["W_teacher"], dtype=float)
            if Ws.shape != (M, dd):
                raise ValueError(f"init['W_teacher'] must have shape (k={M}, d={dd}), got {Ws.shape}")
        else:
            _, Ws, _ = draw_committee_init(problem, K, learner.init_scale, dd, seed)
        if learner.spherical:
            W0 = W0 * (np.sqrt(dd) / np.linalg.norm(W0, axis=1, keepdims=True))
        v0 = np.asarray(learner.init.get("v", np.ones(K)), dtype=float)
        return {"Q": W0 @ W0.T / dd, "R": W0 @ Ws.T / dd, "T": Ws @ Ws.T / dd, "v": v0.copy(), "d": dd}
    if d is None:
        return {"Q": (1.0 if learner.spherical else learner.init_scale**2) * np.eye(K), "R": np.zeros((K, M)), "T": problem.T, "v": np.ones(K), "d": None}
    if isinstance(d, bool) or int(d) != d or d < 2:
        raise ValueError(f"d must be an integer >= 2 or None, got d={d!r}")
    W0, Ws, _ = draw_committee_init(problem, K, learner.init_scale, int(d), seed, spherical=learner.spherical)
    return {"Q": W0 @ W0.T / d, "R": W0 @ Ws.T / d, "T": Ws @ Ws.T / d, "v": np.ones(K), "d": int(d)}


def integrate_committee_ode(
    Q0, R0, T, v0, vstar, times, *, c, lr, lr_v, noise, weight_decay=0.0, batch_size=1, train_v=False,
    student, teacher, method="auto", orders=(40, 16, 8), solver="RK45", rtol=1e-8, atol=1e-10,
    blowup=1e6, spherical=False, max_seconds: float | None = 60.0,
) -> dict[str, Any]:
    """Integrate the ODEs with :func:`scipy.integrate.solve_ivp` (adaptive) and sample them at ``times``.

    Returns arrays over ``times``: ``Q (n, K, K)``, ``R (n, K, M)``, ``v (n, K)``, ``test_error (n,)``,
    plus ``success``/``message``.  Integration stops (``success=False``, the later times NaN) if
    ``|Q|`` exceeds ``blowup`` (a learning rate beyond the stable range) or once it has run for
    ``max_seconds`` of wall-clock time (None: no limit), so that a costly right-hand side never hangs.
    """
    Q0 = np.asarray(Q0, float)
    R0 = np.asarray(R0, float)
    T = np.asarray(T, float)
    v0 = np.asarray(v0, float)
    vstar = np.asarray(vstar, float)
    K, M = R0.shape
    iu = np.triu_indices(K)
    nq = iu[0].size

    il = (iu[1], iu[0])  # the mirror of the upper triangle

    def unpack(y):
        Q = np.empty((K, K))
        Q[iu] = y[:nq]
        Q[il] = y[:nq]
        R = y[nq:nq + K * M].reshape(K, M)
        v = y[nq + K * M:]
        return Q, R, v

    kw = dict(c=c, lr=lr, lr_v=lr_v, noise=noise, weight_decay=weight_decay, batch_size=batch_size,
              train_v=train_v, student=student, teacher=teacher, method=method, orders=orders,
              spherical=spherical)

    def f(t, y):
        Q, R, v = unpack(y)
        dQ, dR, dv, _ = ode_rhs(Q, R, T, v, vstar, **kw)
        return np.concatenate([dQ[iu], dR.ravel(), dv])

    def blow(t, y):
        return blowup - np.max(np.abs(y[:nq]))

    blow.terminal = True
    start = _time.perf_counter()

    stop = []

    def budget(t, y):  # crosses zero at the first step end past the wall-clock budget: stops there
        if not stop and max_seconds is not None and _time.perf_counter() - start > max_seconds:
            stop.append(t)
        return stop[0] - t if stop else 1.0

    budget.terminal = True
    y0 = np.concatenate([Q0[iu], R0.ravel(), v0])
    times = np.asarray(times, float)
    sol = solve_ivp(f, (float(times[0]), float(times[-1])), y0, method=solver, t_eval=times,
                    rtol=rtol, atol=atol, events=[blow, budget])
    n = times.size
    Qs = np.full((n, K, K), np.nan)
    Rs = np.full((n, K, M), np.nan)
    vs = np.full((n, K), np.nan)
    eg = np.full(n, np.nan)
    for j in range(sol.y.shape[1]):
        Q, R, v = unpack(sol.y[:, j])
        Qs[j], Rs[j], vs[j] = Q, R, v
        eg[j] = generalisation_error(Q, R, T, v, vstar, c, student, teacher, method, orders)
    ok = bool(sol.status == 0 and sol.y.shape[1] == n)
    if sol.status != 1:
        msg = sol.message
    elif len(sol.t_events[0]):
        msg = f"|Q| exceeded {blowup:g} at t={sol.t_events[0][0]:.4g}: learning rate too large"
    else:
        msg = (f"stopped at t={sol.t_events[1][0]:.4g} of {times[-1]:g} after max_seconds={max_seconds:g} s of wall-clock time "
               f"({sol.nfev} right-hand-side evaluations, {1e3 * (_time.perf_counter() - start) / max(sol.nfev, 1):.1f} ms "
               f"each): raise max_seconds, or lower the quadrature orders")
    return {"Q": Qs, "R": Rs, "v": vs, "test_error": eg, "success": ok, "message": msg, "nfev": sol.nfev}


def _trajectory_frame(t, fields: dict[str, np.ndarray]) -> pd.DataFrame:
    cols = {"t": t, "test_error": fields["test_error"]}
    for name in ("Q", "R", "T"):
        A = fields[name]
        for a in range(A.shape[1]):
            for b in range(A.shape[2]):
                cols[f"{name}_{a}{b}"] = A[:, a, b]
    for a in range(fields["v"].shape[1]):
        cols[f"v_{a}"] = fields["v"][:, a]
    return pd.DataFrame(cols)


def predict_committee_sgd(
    problem: Committee,
    learner: OnlineSGD,
    *,
    d: int | None = 1000,
    seed: int = 0,
    Q0=None,
    R0=None,
    T=None,
    v0=None,
    method: str = "auto",
    orders: tuple[int, int, int] = (40, 16, 8),
    solver: str = "LSODA",
    rtol: float | None = None,
    atol: float | None = None,
    max_seconds: float | None = 60.0,
) -> Prediction:
    """The ODE learning curve of online SGD (Saad & Solla 1995; Goldt et al. 2019).

    Initial conditions: ``Q0``/``R0``/``T``/``v0`` if given; else those of the weights a
    simulation at dimension ``d`` with ``seed`` starts from (default ``d=1000, seed=0``;
    ``d=None``: the symmetric ``d -> infinity`` start), see :func:`initial_order_parameters`.
    ``solver``/``rtol``/``atol``: passed to :func:`scipy.integrate.solve_ivp` (defaults: LSODA, 1e-8, 1e-10;
    for kinked activations integrated by quadrature (e.g. sign), whose terms are only piecewise smooth in
    the order parameters, RK45 with 1e-5, 1e-8; ReLU/ReLU has exact integrals and the smooth defaults).
    ``method``: ``"auto"`` (closed forms for erf and ReLU, quadrature otherwise),
    ``"closed"`` or ``"quadrature"``; ``orders``: Gauss-Hermite nodes per dimension (2D, 3D, 4D).
    Returns arrays over the time grid: ``t``, ``test_error``, ``Q``, ``R``, ``T``, ``v``, and
    ``trajectory`` (a DataFrame, one row per time).  If the ODE blows up (learning rate too large)
    the remaining times are NaN and ``converged`` is False (reported by ``sv.predict``'s ``on_fail``); the
    same when the integration has run for ``max_seconds`` (default 60 s of wall-clock time; None: no limit).
    """
    K, M = learner.width, problem.k
    ic = initial_order_parameters(problem, learner, d=d, seed=seed)
    Q0 = ic["Q"] if Q0 is None else np.asarray(Q0, float)
    R0 = ic["R"] if R0 is None else np.asarray(R0, float)
    Tm = ic["T"] if T is None else np.asarray(T, float)
    v0 = ic["v"] if v0 is None else np.asarray(v0, float)
    if Q0.shape != (K, K) or R0.shape != (K, M) or Tm.shape != (M, M) or v0.shape != (K,):
        raise ValueError(
            f"initial conditions must have shapes Q0 ({K},{K}), R0 ({K},{M}), T ({M},{M}), v0 ({K},); "
            f"got {Q0.shape}, {R0.shape}, {Tm.shape}, {v0.shape}"
        )
    # kinked activations integrated by quadrature (e.g. sign): fixed nodes make the right-hand side
    # piecewise smooth, a tight tolerance would only chase the jumps.  ReLU/ReLU uses exact integrals
    # (smooth right-hand side), hence the smooth defaults.
    how = _integral_method(learner.activation, problem.activation, method)
    kinked = bool(learner.activation.kinks or problem.activation.kinks) and how != "closed"
    if rtol is None:
        rtol = 1e-5 if kinked else 1e-8
    if atol is None:
        atol = 1e-8 if kinked else 1e-10
    if kinked and solver == "LSODA":
        solver = "RK45"
    t = learner.time_grid()
    if t[0] != 0.0:
        t_int = np.concatenate([[0.0], t])
    else:
        t_int = t
    t0 = _time.perf_counter()
    out = integrate_committee_ode(
        Q0, R0, Tm, v0, problem.second_layer, t_int, c=learner.output_scale, lr=learner.lr_first_eff,
        lr_v=learner.lr_second_eff, noise=problem.noise, weight_decay=learner.weight_decay,
        batch_size=learner.batch_size, train_v=learner.train_second_layer, student=learner.activation,
        teacher=problem.activation, method=method, orders=orders, solver=solver, rtol=rtol, atol=atol,
        spherical=learner.spherical, max_seconds=max_seconds,
    )
    sl = slice(t_int.size - t.size, None)
    fields = {
        "t": t,
        "test_error": out["test_error"][sl],
        "Q": out["Q"][sl],
        "R": out["R"][sl],
        "T": np.broadcast_to(Tm, (t.size, M, M)).copy(),
        "v": out["v"][sl],
    }
    info = {
        "message": out["message"], "nfev": out["nfev"], "seconds": _time.perf_counter() - t0,
        "integrals": _integral_method(learner.activation, problem.activation, method),
        "init_d": ic["d"], "init_seed": seed,
    }
    if not out["success"]:  # the times after the failure are NaN already; the driver reports it
        info["failure"] = f"online-SGD ODE integration failed: {out['message']}"
        info["blanked"] = True
    return Prediction(fields, problem=problem, learner=learner, converged=out["success"],
                      trajectory=_trajectory_frame(t, fields), info=info)

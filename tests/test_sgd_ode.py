"""Theory of online SGD for committee machines (solvable.families.sgd.equations).

Checked three ways: the Gaussian integrals against independent computations (quadrature,
Monte Carlo, polynomial moments); the ODE against published values (Saad & Solla's symmetric
plateau, the asymptotic error with output noise) and against hand-derived escape rates of
single-index targets; and (tests/test_sgd_sim.py) against the finite-d simulation.
"""
import numpy as np
import pytest
from scipy.optimize import fsolve, minimize_scalar

import solvable as sv
from solvable.blocks.activations import get_activation
from solvable.families.sgd.equations import (
    erf_integrals,
    ode_rhs,
    quadrature_integrals,
    relu_four_point,
    relu_integrals,
)

ERF = get_activation("erf")
RELU = get_activation("relu")


def _random_cov(F, seed):
    A = np.random.default_rng(seed).standard_normal((F, F + 2))
    return A @ A.T / (F + 2)


# ---------------------------------------------------------------- Gaussian integrals

@pytest.mark.parametrize("seed", [0, 1])
def test_erf_closed_forms_match_quadrature(seed):
    O = _random_cov(5, seed)  # K = 2 students, M = 3 teachers
    c = erf_integrals(O, 2)
    q = quadrature_integrals(O, 2, ERF, ERF, orders=(60, 30, 14))
    for name in ("I2", "I3", "J2"):
        np.testing.assert_allclose(c[name], q[name], atol=1e-10, err_msg=name)
    # the 4D tensor rule converges more slowly (14^4 nodes: ~1e-7); check it converges to the closed form
    err14 = np.abs(c["I4"] - q["I4"]).max()
    err8 = np.abs(c["I4"] - quadrature_integrals(O, 2, ERF, ERF, orders=(2, 2, 8), which=("I4",))["I4"]).max()
    assert err14 < 1e-6 and err14 < err8 / 10


def test_erf_closed_forms_degenerate_covariance():
    # repeated fields (lambda_1 == nu_1 after perfect learning): a singular Omega
    O = _random_cov(4, 3)
    O[1] = O[0]
    O[:, 1] = O[:, 0]
    c = erf_integrals(O, 2)
    q = quadrature_integrals(O, 2, ERF, ERF, orders=(40, 30, 14))
    for name in ("I2", "I3", "I4", "J2"):
        assert np.all(np.isfinite(c[name]))
        np.testing.assert_allclose(c[name], q[name], atol=1e-6, err_msg=name)


def test_relu_closed_forms_match_monte_carlo():
    O = _random_cov(4, 5)
    K = 2
    c = relu_integrals(O, K)
    rng = np.random.default_rng(11)
    n = 400_000
    f = rng.standard_normal((n, 4)) @ np.linalg.cholesky(O).T
    g, h = np.maximum(f, 0), (f > 0).astype(float)
    samples = {
        "I2": np.einsum("np,nq->npq", g, g),
        "J2": np.einsum("ni,nk->nik", h[:, :K], h[:, :K]),
        "I3": np.einsum("ni,nb,np->nibp", h[:, :K], f, g),
    }
    for name, s in samples.items():
        mean, se = s.mean(0), s.std(0) / np.sqrt(n)
        assert np.all(np.abs(mean - c[name]) < 5 * se + 1e-12), name


def _relu_pair_exact(caa, cbb, cab):
    """E[relu(a) relu(b)] (Cho & Saul 2009), written out independently of the module."""
    r = cab / np.sqrt(caa * cbb)
    return np.sqrt(caa * cbb) * (np.sqrt(1 - r**2) + (np.pi - np.arccos(r)) * r) / (2 * np.pi)


def _step_relu_exact(caa, ccc, cac):
    """E[1(a > 0) relu(c)] = (C_ac / sqrt(2 pi C_aa) + sqrt(C_cc / (2 pi))) / 2 (Stein's lemma)."""
    return 0.5 * (cac / np.sqrt(2 * np.pi * caa) + np.sqrt(ccc / (2 * np.pi)))


def test_relu_four_point_exact_special_cases():
    """Repeated / independent fields reduce E[1(x0>0) 1(x1>0) relu(x2) relu(x3)] to closed forms."""
    G = _random_cov(3, 21)
    sel = lambda ix: G[np.ix_(ix, ix)]  # noqa: E731
    k1 = _relu_pair_exact(G[0, 0], G[1, 1], G[0, 1])
    r = G[0, 2] / np.sqrt(G[0, 0] * G[2, 2])
    cases = [
        (sel([0, 0, 0, 0]), G[0, 0] / 2),                      # E[relu(a)^2]
        (sel([0, 0, 0, 1]), k1),                               # a = b = c: E[relu(a) relu(d)]
        (sel([0, 1, 0, 1]), k1),                               # a = c, b = d
        (sel([1, 0, 0, 1]), k1),                               # a = d, b = c
        # a = b, c = d: E[1(a>0) relu(c)^2] = C_cc (P(a>0, c>0) + r sqrt(1 - r^2) / (2 pi))
        (sel([0, 0, 2, 2]), G[2, 2] * (0.25 + np.arcsin(r) / (2 * np.pi) + r * np.sqrt(1 - r**2) / (2 * np.pi))),
    ]
    # (a, c) independent of (b, d): the product E[1(a>0) relu(c)] E[1(b>0) relu(d)]
    B = np.zeros((4, 4))
    B[np.ix_([0, 2], [0, 2])] = _random_cov(2, 22)
    B[np.ix_([1, 3], [1, 3])] = _random_cov(2, 23)
    B[0, 2] = B[2, 0] = -0.8 * np.sqrt(B[0, 0] * B[2, 2])  # strong negative correlation
    cases.append((B, _step_relu_exact(B[0, 0], B[2, 2], B[0, 2]) * _step_relu_exact(B[1, 1], B[3, 3], B[1, 3])))
    got = relu_four_point(np.stack([c for c, _ in cases]))
    np.testing.assert_allclose(got, [v for _, v in cases], rtol=0, atol=1e-10)


def test_relu_four_point_matches_2d_quadrature_for_repeated_step():
    """a = b (i = k in the ODE): E[1(a>0) relu(c) relu(d)] = int_{c,d>0} c d p(c,d) Phi(E[a|c,d]/sd[a|c,d]),
    by scipy's adaptive 2D quadrature."""
    from scipy.integrate import dblquad
    from scipy.stats import multivariate_normal, norm

    G = _random_cov(3, 31)
    G[0, 1] = G[1, 0] = -0.6 * np.sqrt(G[0, 0] * G[1, 1])
    assert np.linalg.eigvalsh(G).min() > 0  # (a, c, d) still a covariance
    Scd = G[1:, 1:]
    beta = np.linalg.solve(Scd, G[1:, 0])
    sd = np.sqrt(G[0, 0] - G[1:, 0] @ beta)
    pdf = multivariate_normal(mean=[0, 0], cov=Scd).pdf
    ref, _ = dblquad(lambda d, c: c * d * pdf([c, d]) * norm.cdf((beta[0] * c + beta[1] * d) / sd),
                     0, 12, 0, 12, epsabs=1e-12, epsrel=1e-12)
    got = relu_four_point(G[np.ix_([0, 0, 1, 2], [0, 0, 1, 2])])
    assert abs(got - ref) < 1e-10, (got, ref)


def test_relu_four_point_nearly_degenerate_is_resolved():
    """Near-repeated fields (the ODE near perfect learning): the tau-integral's end layer is resolved,
    i.e. the rule has converged (10 vs 30 nodes per panel) down to a 1e-12 perturbation."""
    G = _random_cov(3, 41)
    for eps in (1e-2, 1e-5, 1e-8, 1e-12):
        C = G[np.ix_([0, 1, 0, 2], [0, 1, 0, 2])].copy()
        C[2, 2] += eps  # x2 = x0 + sqrt(eps) noise
        a, b = relu_four_point(C), relu_four_point(C, n_panel=30)
        assert np.isfinite(a) and abs(a - b) < 1e-10, (eps, a, b)
        # and continuity with the exactly repeated case (error O(sqrt(eps)))
        assert abs(a - relu_four_point(G[np.ix_([0, 1, 0, 2], [0, 1, 0, 2])])) < 2 * np.sqrt(eps)


@pytest.mark.parametrize("degenerate", [False, True])
def test_relu_I4_matches_monte_carlo(degenerate):
    """All I4 entries (K = 2, M = 2) within 5 standard errors of 1e6 Monte Carlo samples (the former
    Gauss-Hermite I4 was off by up to ~0.1 here); degenerate: student 0 equals teacher 0 (singular Omega)."""
    O = _random_cov(4, 5)
    if degenerate:
        O[2] = O[0]
        O[:, 2] = O[:, 0]
    K = 2
    I4 = relu_integrals(O, K)["I4"]
    lam, V = np.linalg.eigh(O)
    f = np.random.default_rng(12).standard_normal((1_000_000, 4)) @ (V * np.sqrt(np.clip(lam, 0, None))).T
    g, h = np.maximum(f, 0), (f > 0).astype(float)
    for i in range(K):
        for k in range(K):
            for p in range(4):
                for q in range(4):
                    s = h[:, i] * h[:, k] * g[:, p] * g[:, q]
                    se = s.std() / np.sqrt(s.size)
                    assert abs(s.mean() - I4[i, k, p, q]) < 5 * se + 1e-12, (i, k, p, q)


def test_quadrature_exact_for_polynomials():
    """he2 = (z^2 - 1)/sqrt2: I2 = (C11 C22 + 2 C12^2 - C11 - C22 + 1)/2 and, by Stein's lemma,
    I3 = E[sqrt2 a b (c^2 - 1)/sqrt2] = C12 C33 + 2 C13 C23 - C12."""
    he2 = get_activation("he2")
    O = _random_cov(3, 7)
    q = quadrature_integrals(O, 1, he2, he2, orders=(4, 4, 4))
    D = np.diag(O)
    I2 = (np.outer(D, D) + 2 * O**2 - D[:, None] - D[None, :] + 1) / 2
    np.testing.assert_allclose(q["I2"], I2, atol=1e-12)
    I3 = O[0][:, None] * D[None, :] + 2 * O[0][None, :] * O - O[0][:, None]
    np.testing.assert_allclose(q["I3"][0], I3, atol=1e-12)


# ---------------------------------------------------------------- published values

def _plateau_published(K):
    """Saad & Solla, PRE 52, 4225 (1995), symmetric phase of the isotropic realisable case (lr -> 0):
    R = 1/sqrt(K(2K-1)), Q = C = 1/(2K-1), eg = (K/pi)(pi/6 - K arcsin(1/(2K)))."""
    return K / np.pi * (np.pi / 6 - K * np.arcsin(1 / (2 * K)))


@pytest.mark.parametrize("K", [2, 3])
def test_symmetric_plateau_height(K):
    pub = _plateau_published(K)
    # (1) independent: minimise the erf generalisation error over identical students w_i = R sum_n w*_n
    eg = lambda R: (K**2 * np.arcsin(K * R * R / (1 + K * R * R)) + K * np.pi / 6
                    - 2 * K**2 * np.arcsin(R / np.sqrt(2 * (1 + K * R * R)))) / np.pi
    opt = minimize_scalar(eg, bounds=(0, 2), method="bounded", options={"xatol": 1e-12})
    assert abs(opt.x - 1 / np.sqrt(K * (2 * K - 1))) < 1e-6
    assert abs(opt.fun - pub) < 1e-10
    # (2) the ODE right-hand side restricted to the symmetric subspace (Q, C, R), lr -> 0
    lr = 1e-4

    def F(y):
        Q, C, R = y
        Qm = np.full((K, K), C) + (Q - C) * np.eye(K)
        dQ, dR, _, _ = ode_rhs(Qm, np.full((K, K), R), np.eye(K), np.ones(K), np.ones(K), c=1.0, lr=lr, lr_v=0.0,
                               noise=0.0, weight_decay=0.0, batch_size=1, train_v=False, student=ERF, teacher=ERF)
        return np.array([dQ[0, 0], dQ[0, 1], dR[0, 0]]) / lr

    y = fsolve(F, [0.8 / (2 * K - 1), 1.2 / (2 * K - 1), 0.9 / np.sqrt(K * (2 * K - 1))], xtol=1e-13)
    assert np.abs(F(y)).max() < 1e-10
    Qm = np.full((K, K), y[1]) + (y[0] - y[1]) * np.eye(K)
    eg_ode = ode_rhs(Qm, np.full((K, K), y[2]), np.eye(K), np.ones(K), np.ones(K), c=1.0, lr=lr, lr_v=0.0, noise=0.0,
                     weight_decay=0.0, batch_size=1, train_v=False, student=ERF, teacher=ERF)[3]
    assert abs(eg_ode - pub) < 1e-4 * 2  # O(lr) shift of the fixed point
    # (3) the integrated ODE from a symmetric start (d = infinity) sits on that plateau: its
    # plateau value approaches the published one linearly in lr
    vals = []
    for lr in (0.1, 0.05):
        learner = sv.OnlineSGD(width=K, lr=lr, time=40 / lr, init_scale=0.3, times=np.array([0.0, 40 / lr]))
        vals.append(sv.predict(sv.Committee(k=K), learner, d=None).test_error[-1])
    extrap = 2 * vals[1] - vals[0]
    assert abs(vals[1] - pub) / pub < 0.06
    assert abs(extrap - pub) / pub < 0.01


@pytest.mark.parametrize("K, time", [(2, 600.0), (3, 1500.0)])
def test_escape_from_plateau_to_zero_error(K, time):
    learner = sv.OnlineSGD(width=K, lr=0.5, time=time, init_scale=0.5, n_times=60)
    pred = sv.predict(sv.Committee(k=K), learner, d=1000, seed=0)
    eg = pred.test_error
    # passes through the plateau (within 25% of the lr -> 0 value at this lr = 0.5) ...
    assert np.any(np.abs(eg / _plateau_published(K) - 1) < 0.25)
    # ... and escapes to perfect learning: R becomes a permutation matrix of the teachers
    assert eg[-1] < 1e-6
    R = pred.R[-1] / np.sqrt(np.diag(pred.T[-1]))[None, :] / np.sqrt(np.diag(pred.Q[-1]))[:, None]
    np.testing.assert_allclose(np.sort(np.abs(R).max(axis=1)), np.ones(K), atol=1e-3)
    assert pred.converged
    assert list(pred.trajectory.columns[:2]) == ["t", "test_error"] and len(pred.trajectory) == eg.size


@pytest.mark.parametrize("K", [1, 2])
def test_asymptotic_error_with_output_noise(K):
    """Small lr, noise sigma^2: eg(t -> inf) = K lr sigma^2 / (2 sqrt3 pi) + O(lr^2) for K = M erf.
    For K = 1 this is derived by hand: at R = Q = T = 1 the noise term feeds dQ/dt with lr^2 sigma^2 J2,
    J2 = 2/(pi sqrt3), while d|w - w*|^2/d/dt = -4 lr eg; (Goldt et al. NeurIPS 2019, Sec. 3: eg ~ lr sigma^2,
    linear in K)."""
    sigma2, lr = 0.1, 0.02
    learner = sv.OnlineSGD(width=K, lr=lr, time=400 / lr, times=np.array([0.0, 200 / lr, 400 / lr]))
    I = np.eye(K)
    pred = sv.predict(sv.Committee(k=K, noise=sigma2), learner, Q0=I, R0=I, T=I)
    eg = pred.test_error
    assert abs(eg[-1] - eg[-2]) < 1e-4 * eg[-1]  # stationary
    ratio = eg[-1] / (lr * sigma2)
    assert abs(ratio / (K / (2 * np.sqrt(3) * np.pi)) - 1) < 0.02  # O(lr) correction: 0.2% at lr = 0.01 per K=1
    # without noise the same start stays at zero error
    pred0 = sv.predict(sv.Committee(k=K), learner, Q0=I, R0=I, T=I)
    assert pred0.test_error[-1] < 1e-12


# ---------------------------------------------------------------- options (exact identities)

def _curve(problem, learner, **kw):
    return sv.predict(problem, learner, d=300, seed=2, **kw)


def test_normalisation_equals_rescaled_second_layer():
    # yhat = (1/k) sum g(.) with v = 1 is the sum-normalised student with v = 1/k
    p = sv.Committee(k=2)
    a = _curve(p, sv.OnlineSGD(width=3, lr=0.4, time=30, normalization="mean", n_times=20))
    b = _curve(p, sv.OnlineSGD(width=3, lr=0.4, time=30, n_times=20), v0=np.full(3, 1 / 3))
    np.testing.assert_allclose(a.test_error, b.test_error, rtol=1e-6)
    np.testing.assert_allclose(a.Q, b.Q, rtol=1e-6, atol=1e-12)


def test_lr_scaling_exponent_is_a_learning_rate_rescaling():
    p = sv.Committee(k=2)
    a = _curve(p, sv.OnlineSGD(width=2, lr=0.2, time=20, lr_scaling=1.0, n_times=15))
    b = _curve(p, sv.OnlineSGD(width=2, lr=0.4, time=20, n_times=15))
    np.testing.assert_allclose(a.R, b.R, rtol=1e-6, atol=1e-12)
    assert sv.OnlineSGD(width=4, lr=0.1, lr_scaling="mean-field").lr_first_eff == pytest.approx(0.4)


def test_weight_decay_shrinks_weights_and_batch_reduces_noise_term():
    p = sv.Committee(k=2, noise=0.5)
    base = sv.OnlineSGD(width=2, lr=0.5, time=50, n_times=10)
    q0 = _curve(p, base).Q[-1].trace()
    assert _curve(p, base.at(weight_decay=0.1)).Q[-1].trace() < q0
    # the lr^2 (noise) term is divided by the batch size: Q grows less
    assert _curve(p, base.at(batch_size=4)).Q[-1].trace() < q0


def test_second_layer_training_moves_v():
    p = sv.Committee(k=2, second_layer=[1.0, 0.5])
    pred = _curve(p, sv.OnlineSGD(width=2, lr=0.5, time=200, train_second_layer=True, n_times=20))
    assert not np.allclose(pred.v[-1], 1.0)
    assert pred.test_error[-1] < 0.2 * pred.test_error[0]


def test_relu_and_generic_quadrature_run():
    for act in ("relu", "tanh"):
        p = sv.Committee(k=2, activation=act)
        pred = _curve(p, sv.OnlineSGD(width=2, activation=act, lr=0.2, time=5, n_times=5))
        assert pred.converged and np.all(np.isfinite(pred.test_error))
        assert pred.test_error[-1] < pred.test_error[0]
        assert pred.info["integrals"] == ("closed" if act == "relu" else "quadrature")


def test_relu_ode_smooth_defaults_are_accurate():
    """With exact integrals the ReLU right-hand side is smooth: the default LSODA (rtol 1e-8) run agrees
    with a tight DOP853 reference (the former Gauss-Hermite I4 moved Q by ~4e-3 at t = 20)."""
    p = sv.Committee(k=2, activation="relu")
    l = sv.OnlineSGD(width=2, activation="relu", lr=0.5, time=5.0, n_times=6)
    a = sv.predict(p, l, d=1000)
    b = sv.predict(p, l, d=1000, solver="DOP853", rtol=1e-11, atol=1e-13)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.test_error, b.test_error, rtol=0, atol=1e-7)
    np.testing.assert_allclose(a.Q, b.Q, rtol=0, atol=1e-7)
    np.testing.assert_allclose(a.R, b.R, rtol=0, atol=1e-7)


def test_blowup_is_reported():
    p = sv.Committee(k=1, activation="linear")
    learner = sv.OnlineSGD(width=1, activation="linear", lr=5.0, time=100, n_times=10)
    with pytest.warns(sv.ConvergenceWarning, match="learning rate too large"):
        pred = sv.predict(p, learner, d=200)
    assert not pred.converged and np.isnan(pred.test_error[-1])
    with pytest.raises(sv.ConvergenceError):
        sv.predict(p, learner, d=200, on_fail="raise")


# ---------------------------------------------------------------- single-index targets

def _escape_time(pred, level=0.5):
    """First time |R| crosses ``level`` (linear interpolation in log t)."""
    R = np.abs(pred.R[:, 0, 0])
    i = int(np.argmax(R > level))
    assert R[i] > level, "no escape"
    lt = np.log(pred.t[i - 1:i + 1])
    return float(np.exp(np.interp(level, R[i - 1:i + 1], lt)))


def _single_index(act, lr, time, R0):
    # tensor Gauss-Hermite exact for the polynomial integrands: degree <= 7 per dimension for He2
    # (4 nodes), <= 10 for He3 (6 nodes; 4 nodes made the noise term 4% small)
    n = {"he2": 4, "he3": 6}[act]
    learner = sv.OnlineSGD(width=1, activation=act, lr=lr, time=time, spherical=True, n_times=400)
    return sv.predict(sv.Committee(k=1, activation=act), learner, Q0=[[1.0]], R0=[[R0]], T=[[1.0]], orders=(n, n, n))


def test_he2_escape_time_grows_like_log_d():
    """Information exponent 2, spherical SGD, fixed lr: linearising at R = 0, Q = 1 (hand derivation
    with He moments) gives dR/dt = (2 lr - 6 lr^2) R, so from R0 = d^-1/2 the escape time grows by
    ln(10) / (2 (2 lr - 6 lr^2)) per decade of d (Ben Arous et al. 2021: n ~ d log d samples)."""
    lr = 0.1
    t = [_escape_time(_single_index("he2", lr, 300.0, d**-0.5)) for d in (1e3, 1e5)]
    per_decade = (t[1] - t[0]) / 2
    assert per_decade == pytest.approx(np.log(10) / (2 * (2 * lr - 6 * lr**2)), rel=0.03)


def test_he3_escape_time_grows_like_d():
    """Information exponent 3: dR/dt = 3 lr R^2 - (lr^2 C/2) R near R = 0 (C = E[h'(l)^2 Delta^2]);
    at fixed lr a start R0 = d^-1/2 << lr never escapes, with lr = eta/sqrt(d) it escapes at
    t ~ d/(3 eta) -> t_esc/d is d-independent: n = t d ~ d^2 = d^(k-1) samples (Ben Arous et al. 2021)."""
    eta = 0.02
    ts = [_escape_time(_single_index("he3", eta / np.sqrt(d), 60 * d / eta, d**-0.5)) / d for d in (1e3, 1e4)]
    assert ts[1] == pytest.approx(ts[0], rel=0.1)
    assert ts[0] > 1 / (3 * eta)  # the lr^2 term only slows the escape
    stuck = _single_index("he3", 0.1, 1e4, 1e-2)  # fixed lr: R decays back to 0
    assert np.abs(stuck.R[-1, 0, 0]) < 1e-3


# ---------------------------------------------------------------- validation

def test_bad_input_messages():
    with pytest.raises(ValueError, match="normalization"):
        sv.OnlineSGD(normalization="max")
    with pytest.raises(ValueError, match="lr"):
        sv.OnlineSGD(lr=-1.0)
    with pytest.raises(ValueError, match="second_layer"):
        sv.Committee(k=2, second_layer=[1.0])
    with pytest.raises(ValueError, match="unknown activation"):
        sv.Committee(activation="swish")
    with pytest.raises(ValueError, match="init"):
        sv.OnlineSGD(width=2, init={"W": np.zeros((3, 10))})
    with pytest.raises(ValueError, match="shapes"):
        sv.predict(sv.Committee(k=2), sv.OnlineSGD(width=2, time=1.0), Q0=np.eye(3))
    with pytest.raises(ValueError, match="method"):
        sv.predict(sv.Committee(k=2), sv.OnlineSGD(width=2, time=1.0), method="magic")
    with pytest.raises(ValueError, match="no closed form"):
        sv.predict(sv.Committee(k=2, activation="tanh"), sv.OnlineSGD(width=2, time=1.0), method="closed")


def test_wall_clock_budget_ends_a_costly_integration_with_a_clear_warning():
    """He3 students integrated by 4D quadrature cost ~30 ms per right-hand side: the integration
    stops at max_seconds with converged=False, NaN later times and a warning saying why (never a hang)."""
    import time

    learner = sv.OnlineSGD(width=2, activation="he3", lr=0.5, time=100.0, n_times=20)
    t0 = time.perf_counter()
    with pytest.warns(sv.ConvergenceWarning, match="max_seconds=0.5 s of wall-clock time"):
        p = sv.predict(sv.Committee(k=2, activation="he3"), learner, d=None, max_seconds=0.5)
    assert time.perf_counter() - t0 < 5.0
    assert not p.converged and np.isnan(p.test_error[-1]) and np.isfinite(p.test_error[0])

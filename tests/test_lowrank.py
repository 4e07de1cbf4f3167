"""Spiked Wigner / Wishart models: theory (state evolution, free entropy, thresholds, BBP) checked
against closed forms, independent computations, published values and finite-size simulations."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize

import solvable as sv
from solvable.blocks.priors import GaussBernoulli, Gaussian, Rademacher, SparseRademacher
from solvable.families.lowrank.equations import _ScalarChannel, state_evolution

BO, AMP, SPEC = sv.BayesOptimal(), sv.AMP(), sv.Spectral()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("snr", [0.0, -1.0, np.nan, [1.0, -2.0]])
def test_bad_snr(snr):
    with pytest.raises(ValueError, match="snr"):
        sv.SpikedWigner(Rademacher(), snr)
    with pytest.raises(ValueError, match="snr"):
        sv.SpikedWishart(Rademacher(), Gaussian(), snr, 1.0)


@pytest.mark.parametrize(
    "variances, fractions, match",
    [
        ([[1.0, 2.0], [3.0, 1.0]], [0.5, 0.5], "symmetric"),
        ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5], "> 0"),
        ([[1.0, -1.0], [-1.0, 1.0]], [0.5, 0.5], "> 0"),
        ([[1.0, 2.0], [2.0, 1.0]], [0.5, 0.6], "sum to 1"),
        ([[1.0, 2.0], [2.0, 1.0]], [1.2, -0.2], "fractions must be > 0"),
        ([[1.0, 2.0], [2.0, 1.0]], [1.0], "length"),
        ([1.0, 2.0], [0.5, 0.5], "square"),
    ],
)
def test_bad_profile(variances, fractions, match):
    with pytest.raises(ValueError, match=match):
        sv.SpikedWigner(Rademacher(), 1.0, profile={"variances": variances, "fractions": fractions})
    with pytest.raises(ValueError, match=match):
        sv.NoiseProfile(variances, fractions)


def test_bad_other_fields():
    with pytest.raises(ValueError, match="prior"):
        sv.SpikedWigner("rademacher", 1.0)
    with pytest.raises(ValueError, match="ratio"):
        sv.SpikedWishart(Rademacher(), Gaussian(), 1.0, 0.0)
    with pytest.raises(ValueError, match="profile"):
        sv.SpikedWigner(Rademacher(), 1.0, profile=[[1.0]])
    with pytest.raises(ValueError, match="rho"):
        SparseRademacher(0.0)
    with pytest.raises(ValueError, match="snr"):
        sv.phase_transitions(sv.SpikedWigner(Rademacher(), 1.0), BO, alpha=(0.5, 2.0))


# ----------------------------------------------------------------------------- priors, scalar channel


def test_sparse_rademacher_prior(rng):
    p = SparseRademacher(0.2)
    B = np.linspace(-6, 6, 13)
    A = np.linspace(0.1, 4.0, 13)
    h = 1e-5
    mean, var = p.denoise(B, A)
    d1 = (p.log_partition(B + h, A) - p.log_partition(B - h, A)) / (2 * h)
    d2 = (p.log_partition(B + h, A) - 2 * p.log_partition(B, A) + p.log_partition(B - h, A)) / h**2
    np.testing.assert_allclose(mean, d1, atol=1e-8)
    np.testing.assert_allclose(var, d2, atol=1e-4)
    x = p.sample(200_000, rng)
    assert set(np.unique(x)) == {-1.0, 0.0, 1.0}
    assert abs(np.mean(x != 0) - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 200_000)
    assert p.second_moment == 0.2 and p.first_moment == 0.0
    # the Bayes denoiser: E[x0 f] = E[f^2] (Nishimori) and overlap(r) -> rho for large r
    r = np.array([0.5, 5.0, 50.0])
    np.testing.assert_allclose(_ScalarChannel(p).overlap(r), p.overlap(r), atol=1e-6)
    assert abs(p.overlap(400.0) - 0.2) < 1e-6


@pytest.mark.parametrize("prior", [Rademacher(), SparseRademacher(0.1), Gaussian(0.3, 2.0), GaussBernoulli(0.2, 0.5, 1.5)])
def test_scalar_channel_matches_prior_and_monte_carlo(prior, rng):
    """The fast scalar-channel integrals vs the prior's own double quadrature and vs Monte Carlo."""
    ch = _ScalarChannel(prior)
    r = np.array([0.0, 0.3, 2.0, 10.0])
    np.testing.assert_allclose(ch.overlap(r), prior.overlap(r), atol=2e-6)
    np.testing.assert_allclose(ch.psi(r), prior.free_entropy_term(r), atol=1e-9)
    x0 = prior.sample(400_000, rng)
    B = 2.0 * x0 + np.sqrt(2.0) * rng.standard_normal(x0.size)
    f = prior.denoise(B, 2.0)[0]
    vals = x0 * f
    assert abs(ch.overlap(2.0) - vals.mean()) < 4 * vals.std() / np.sqrt(x0.size)


# ----------------------------------------------------------------------------- Bayes-optimal theory


def test_gaussian_prior_closed_form():
    """Gaussian prior: m = 1 - 1/snr above snr = 1 (PCA is optimal), free entropy in closed form
    phi = -log(snr)/2 + (snr - 1)/2 - (snr - 1)^2/(4 snr) above, 0 below."""
    snr = np.array([0.3, 0.8, 0.99, 1.01, 1.5, 3.0, 10.0])
    p = sv.predict(sv.SpikedWigner(Gaussian(), snr), BO)
    m_exact = np.maximum(0.0, 1.0 - 1.0 / snr)
    np.testing.assert_allclose(p.m, m_exact, atol=1e-10)
    np.testing.assert_allclose(p.mse, 1.0 - m_exact**2, atol=1e-10)
    phi = np.where(snr > 1, -0.5 * np.log(snr) + (snr - 1) / 2 - (snr - 1) ** 2 / (4 * snr), 0.0)
    np.testing.assert_allclose(p.free_entropy, phi, atol=1e-10)
    np.testing.assert_allclose(p.mutual_information, snr / 4 - phi, atol=1e-10)
    # PCA gives the same squared cosine (Gaussian prior: Bayes = spectral)
    np.testing.assert_allclose(sv.predict(sv.SpikedWigner(Gaussian(), snr), SPEC).overlap, p.overlap, atol=1e-10)


@pytest.mark.parametrize(
    "problem, scale",
    [
        (sv.SpikedWigner(Rademacher(), 1.7), 0.25),
        (sv.SpikedWigner(SparseRademacher(0.3), 20.0), 0.25),
        (sv.SpikedWigner(GaussBernoulli(0.5, 0.4, 1.0), 3.0), 0.25),
        (sv.SpikedWishart(Rademacher(), Gaussian(), 1.6, 1.5), 0.75),  # dI/dsnr = ratio mse / 2
    ],
)
def test_i_mmse_relation(problem, scale):
    """dI/dsnr = (1/4) mse (Wigner) and (ratio/2) mse (Wishart): an independent check of the
    constants of the free entropy (Guo, Shamai & Verdu 2005; Lelarge & Miolane 2019, Cor. 17)."""
    s, h = float(problem.snr), 1e-4
    mi = [sv.predict(problem.at(snr=s + e), BO).mutual_information for e in (-h, h)]
    p = sv.predict(problem, BO)
    factor = scale if isinstance(problem, sv.SpikedWigner) else 0.5 * problem.ratio
    assert abs((mi[1] - mi[0]) / (2 * h) - factor * p.mse) < 1e-6


def test_rademacher_independent_fixed_point_and_continuous_transition():
    """Rademacher: m = E tanh(snr m + sqrt(snr m) z) solved with scipy (quad + brentq);
    continuous transition at snr = 1 (Deshpande, Abbe & Montanari 2016)."""

    def overlap(r):
        f = lambda z: np.tanh(r + np.sqrt(r) * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
        return integrate.quad(f, -12, 12, epsabs=1e-13, limit=200)[0]

    snr = np.array([0.5, 0.95, 1.2, 2.0, 4.0])
    p = sv.predict(sv.SpikedWigner(Rademacher(), snr), BO)
    for s, m in zip(snr, p.m):
        ref = 0.0 if s <= 1 else optimize.brentq(lambda q: overlap(s * q) - q, 1e-6, 1.0, xtol=1e-14)
        # 80-node Gauss-Hermite on tanh(r + sqrt(r) z): ~3e-7 at r ~ 4 (poles at distance pi/(2 sqrt r))
        assert abs(m - ref) < 1e-6
    assert np.all(p.mse[snr <= 1] == 1.0)
    # continuous: m ~ (snr - 1) / ... -> 0 at the threshold, one branch only
    near = sv.predict(sv.SpikedWigner(Rademacher(), 1.001), BO)
    assert 0 < near.m < 0.01
    assert abs(near.branches["informative"].m - near.branches["uninformative"].m) < 1e-9
    t = sv.phase_transitions(sv.SpikedWigner(Rademacher(), 1.0), BO, snr=(0.2, 5.0))
    assert t["order"] == "second"
    for k in ("weak_recovery", "information_theoretic", "algorithmic"):
        assert abs(t[k] - 1.0) < 1e-12
    assert t["perfect_recovery"] is None


def test_sparse_rademacher_first_order_transition():
    """Sparse Rademacher rho = 0.05: a first-order transition with a hard phase.  AMP (uninformative)
    leaves m = 0 at the weak-recovery threshold snr = 1/rho^2 = 400 (Delta_Alg = rho^2 of Lesieur et al.
    2017, sec. 6.1), the information-theoretic threshold (free-entropy crossing) lies below it, and the
    informative branch appears at the spinodal, below both."""
    prob = sv.SpikedWigner(SparseRademacher(0.05), 1.0)
    t = sv.phase_transitions(prob, BO, snr=(100.0, 600.0))
    assert t["order"] == "first"
    assert abs(t["weak_recovery"] - 400.0) < 1e-9
    assert t["spinodal"] < t["information_theoretic"] < t["weak_recovery"] <= t["algorithmic"]
    # the thresholds are where the branches and free entropies say they are
    eps = 1e-3
    s_it = t["information_theoretic"]
    lo, hi = (sv.predict(prob.at(snr=s_it * (1 + e)), BO) for e in (-eps, eps))
    assert lo.m < 0.01 * prob.rho**2 and hi.m > 0.5 * prob.rho
    assert lo.branches["informative"].m > 0.4 * prob.rho  # metastable informative branch exists below IT
    # (near the threshold the SE needs more than max_iter steps: on_fail="ignore" silences that)
    amp_lo = sv.predict(prob.at(snr=t["algorithmic"] * (1 - eps)), AMP, on_fail="ignore")
    amp_hi = sv.predict(prob.at(snr=t["algorithmic"] * (1 + eps)), AMP, on_fail="ignore")
    assert not amp_lo.converged and np.isnan(amp_lo.m)  # never the last iterate presented as a result
    assert amp_lo.info["last_iterate"]["m"] < 0.2 * prob.rho < 0.5 * prob.rho < amp_hi.info["last_iterate"]["m"]
    # the same dict for AMP
    assert sv.phase_transitions(prob, AMP, snr=(100.0, 600.0))["algorithmic"] == t["algorithmic"]


def test_sparse_limit_all_or_nothing_scaling():
    """For rho -> 0 the IT threshold of sparse Rademacher behaves as snr_IT ~ 4 |ln rho| / rho
    (Barbier, Macris & Rush, NeurIPS 2020, arXiv:2006.07971, Thm. 1 in our snr convention); the
    ratio decreases toward 1 as rho decreases (slow, logarithmic corrections)."""
    ratios = []
    for rho in (0.02, 0.002):
        prob = sv.SpikedWigner(SparseRademacher(rho), 1.0)
        c = 4 * abs(np.log(rho)) / rho
        t = sv.phase_transitions(prob, BO, snr=(0.5 * c, 2.0 / rho**2 if rho > 0.01 else 3 * c))
        ratios.append(t["information_theoretic"] / c)
    assert 1.0 < ratios[1] < ratios[0] < 1.6


def test_nonzero_mean_prior_has_no_weak_recovery_threshold():
    prob = sv.SpikedWigner(Gaussian(0.5, 1.0), 0.5)
    p = sv.predict(prob, BO)
    assert p.m > 0  # the mean alone gives an overlap
    t = sv.phase_transitions(prob, BO, snr=(0.1, 5.0))
    assert t["weak_recovery"] is None


# ----------------------------------------------------------------------------- spectral (BBP)


def test_bbp_closed_form_and_normalisation():
    snr = np.array([0.5, 1.0, 2.0, 4.0])
    p = sv.predict(sv.SpikedWigner(Rademacher(), snr), SPEC)
    np.testing.assert_allclose(p.overlap, np.maximum(0, 1 - 1 / snr))
    np.testing.assert_allclose(p.top_eigenvalue, np.where(snr > 1, np.sqrt(snr) + 1 / np.sqrt(snr), 2.0))
    # E x^2 = rho: the spike strength is sqrt(snr) rho, threshold snr = 1/rho^2
    q = sv.predict(sv.SpikedWigner(SparseRademacher(0.5), 9.0), SPEC)
    assert abs(q.overlap - (1 - 1 / (9 * 0.25))) < 1e-12
    t = sv.phase_transitions(sv.SpikedWigner(SparseRademacher(0.5), 1.0), SPEC, snr=(0.5, 10.0))
    assert abs(t["weak_recovery"] - 4.0) < 1e-12


@pytest.mark.parametrize("snr", [0.5, 2.0, 4.0])
def test_pca_simulation_matches_bbp(snr):
    """d = 600, 4 seeds.  Finite-size allowance: below the threshold the squared cosine is O(1/d)
    (plus O(d^{-1/3}) near the edge); above it the fluctuations are O(1/sqrt(d)) ~ 0.04 per seed."""
    prob = sv.SpikedWigner(Rademacher(), snr)
    th, sim = sv.predict(prob, SPEC), sv.simulate(prob, SPEC, d=600, seeds=4)
    if snr < 1:
        assert sim.overlap < 0.05
        assert abs(sim.top_eigenvalue - 2.0) < 0.1  # edge fluctuations ~ d^{-2/3}
    else:
        assert abs(sim.overlap - th.overlap) < 4 * sim.se("overlap") + 0.02
        assert abs(sim.top_eigenvalue - th.top_eigenvalue) < 4 * sim.se("top_eigenvalue") + 0.02


# ----------------------------------------------------------------------------- AMP vs state evolution


def test_amp_iterations_follow_state_evolution():
    """AMP from a side observation (init_snr) vs SE, iteration by iteration, d = 500, 6 seeds.
    Allowance 0.02: O(1/sqrt(d)) finite-size corrections of the overlap per iteration."""
    prob = sv.SpikedWigner(Rademacher(), 1.8)
    se = state_evolution(prob, init_snr=0.3, n_iter=10)
    sim = sv.simulate(prob, AMP, d=500, seeds=6, init_snr=0.3, n_iter=10)
    err = np.abs(np.asarray(sim.m_traj) - se["m"].to_numpy())
    assert np.all(err < 4 * np.asarray(sim.se("m_traj")) + 0.02), err
    # the trajectory actually moves (from m^0 ~ 0.23 to the fixed point ~ 0.54)
    assert se["m"].iloc[-1] - se["m"].iloc[0] > 0.2


def test_amp_uninformative_reaches_bayes_optimal_and_predict_amp():
    prob = sv.SpikedWigner(SparseRademacher(0.3), 20.0)
    th_bo, th_amp = sv.predict(prob, BO), sv.predict(prob, AMP)
    assert abs(th_bo.m - th_amp.m) < 1e-9 and th_amp.converged
    assert th_amp.trajectory is not None and th_amp.trajectory["m"].iloc[-1] == pytest.approx(th_amp.m, abs=1e-6)
    sim = sv.simulate(prob, AMP, d=500, seeds=4)
    # allowance 0.02 (in m / rho ~ 0.07 relative): finite-size, O(1/sqrt(d))
    assert abs(sim.m - th_amp.m) < 4 * sim.se("m") + 0.02 * prob.rho
    assert abs(sim.mse - th_amp.mse) < 4 * sim.se("mse") + 0.02 * prob.rho**2


def test_amp_below_threshold_stays_uninformative():
    prob = sv.SpikedWigner(Rademacher(), 0.6)
    assert sv.predict(prob, AMP).m == 0.0
    sim = sv.simulate(prob, AMP, d=500, seeds=3)
    assert sim.m < 0.1  # |x.xhat|/n of a vector uncorrelated with x: O(1/sqrt(d))


def test_amp_damping_and_informative_init():
    prob = sv.SpikedWigner(SparseRademacher(0.05), 330.0)  # between IT and algorithmic thresholds
    th_u = sv.predict(prob, sv.AMP())
    th_i = sv.predict(prob, sv.AMP(init="informative"))
    assert th_u.m == 0.0 and th_i.m > 0.7 * prob.rho  # hard phase: two AMP fixed points
    sim = sv.simulate(prob, sv.AMP(init="informative", damping=0.3), d=600, seeds=3)
    assert abs(sim.m - th_i.m) < 4 * sim.se("m") + 0.05 * prob.rho


# ----------------------------------------------------------------------------- Wishart


def test_wishart_thresholds_and_bbp():
    """Weak recovery / BBP threshold snr = 1/(sqrt(ratio) rho_u rho_v); BBP overlaps of Benaych-Georges
    & Nadakuditi (2012); Gaussian-Gaussian Bayes = PCA-like continuous transition."""
    ratio = 2.0
    prob = sv.SpikedWishart(Gaussian(), Rademacher(), 1.0, ratio)
    thr = 1 / np.sqrt(ratio)
    for L in (BO, SPEC):
        t = sv.phase_transitions(prob, L, snr=(0.1, 5.0))
        assert abs(t["weak_recovery"] - thr) < 1e-9
    p = sv.predict(prob.at(snr=np.array([0.9 * thr, 1.1 * thr, 2.0])), BO)
    assert p.m_u[0] == 0 and p.m_v[0] == 0 and np.all(p.m_u[1:] > 0)
    s = sv.predict(prob.at(snr=np.array([0.9 * thr, 2.0])), SPEC)
    assert s.overlap_u[0] == 0 and s.overlap_v[0] == 0
    assert abs(s.top_singular_value[0] - (1 + np.sqrt(ratio))) < 1e-12


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_wishart_spectral_simulation(ratio):
    """n = 400; allowance 0.03 for O(1/sqrt(n)) fluctuations of squared cosines."""
    prob = sv.SpikedWishart(Rademacher(), Gaussian(), 3.0, ratio)
    th, sim = sv.predict(prob, SPEC), sv.simulate(prob, SPEC, d=400, seeds=4)
    for k in ("overlap_u", "overlap_v", "top_singular_value"):
        assert abs(sim[k] - th[k]) < 4 * sim.se(k) + 0.03, (k, sim[k], th[k])


def test_wishart_amp_follows_state_evolution():
    prob = sv.SpikedWishart(Rademacher(), Gaussian(), 1.5, 2.0)
    se = state_evolution(prob, init_snr=0.3, n_iter=6)
    sim = sv.simulate(prob, AMP, d=400, seeds=5, init_snr=0.3, n_iter=6)
    for k in ("m_u", "m_v"):
        err = np.abs(np.asarray(sim[f"{k}_traj"]) - se[k].to_numpy())
        assert np.all(err < 4 * np.asarray(sim.se(f"{k}_traj")) + 0.02), (k, err)
    bo = sv.predict(prob, BO)
    assert abs(bo.mse - (1 * 1 - bo.m_u * bo.m_v)) < 1e-12


# ----------------------------------------------------------------------------- inhomogeneous profile

PROFILE = sv.NoiseProfile([[1.0, 4.0], [4.0, 0.5]], [0.4, 0.6])


def test_profile_threshold_is_top_eigenvalue():
    """snr_c = 1 / (rho^2 lambda_max(M)), M_ab = c_b / Delta_ab (Guionnet et al. 2022; Mergny et al. 2024):
    the linearised SE m <- snr rho^2 M m has spectral radius 1 there."""
    M = np.array([[0.4 / 1.0, 0.6 / 4.0], [0.4 / 4.0, 0.6 / 0.5]])
    lam = max(np.linalg.eigvals(M).real)
    assert abs(PROFILE.top_eigenvalue - lam) < 1e-12
    prob = sv.SpikedWigner(Rademacher(), 1.0, profile=PROFILE)
    # plain PCA is not optimal under a profile: its BBP threshold lies above
    assert sv.phase_transitions(prob, SPEC, snr=(0.1, 10.0))["weak_recovery"] > 1.5 / lam
    for L in (BO, AMP, sv.Spectral(method="transformed")):
        t = sv.phase_transitions(prob, L, snr=(0.1, 10.0))
        assert abs(t["weak_recovery"] - 1 / lam) < 1e-9
    p = sv.predict(prob.at(snr=np.array([0.95 / lam, 1.1 / lam])), BO)
    assert p.m[0] < 1e-8 < 1e-3 < p.m[1]
    # a one-block profile of variance D is the homogeneous model at snr / D
    a = sv.predict(sv.SpikedWigner(Rademacher(), 3.0, profile={"variances": [[2.0]], "fractions": [1.0]}), BO)
    b = sv.predict(sv.SpikedWigner(Rademacher(), 1.5), BO)
    assert abs(a.m - b.m) < 1e-10


def test_profile_amp_and_transformed_spectral_recover_above_not_below():
    """d = 600: AMP and the top eigenvector of the transformed matrix are uncorrelated with x below
    snr_c and correlated above (at 0.6 snr_c and 2.2 snr_c); AMP matches the SE block overlaps."""
    lam = PROFILE.top_eigenvalue
    below = sv.SpikedWigner(Rademacher(), 0.6 / lam, profile=PROFILE)
    above = below.at(snr=2.2 / lam)
    ts = sv.Spectral(method="transformed")
    sb, sa = sv.simulate(below, ts, d=600, seeds=3), sv.simulate(above, ts, d=600, seeds=3)
    assert sb.overlap < 0.05 and sa.overlap > 0.3
    ab, aa = sv.simulate(below, AMP, d=600, seeds=3), sv.simulate(above, AMP, d=600, seeds=3)
    assert ab.m < 0.1
    th = sv.predict(above, AMP)
    assert th.m > 0.3
    for k in ("m", "m_0", "m_1"):
        assert abs(aa[k] - th[k]) < 4 * aa.se(k) + 0.03, (k, aa[k], th[k])


# ------------------------------------------------------------- spectral methods under a profile
def test_block_spectral_theory_reduces_to_bbp():
    """Equal variances split into blocks (and one block of variance 2): the quadratic-vector-equation
    route gives the closed-form BBP values, for PCA and for the transformed matrix (outlier at 1)."""
    from solvable.families.lowrank.equations import _block_spiked_top

    c = np.array([0.3, 0.7])
    s = np.sqrt(c)
    for th in (0.7, 1.5, 3.0):
        top, ov, _ = _block_spiked_top(np.ones((2, 2)) * c[None, :], np.zeros(2), th * np.outer(s, s), s)
        assert abs(top - (th + 1 / th if th > 1 else 2.0)) < 1e-10 and abs(ov - max(0.0, 1 - 1 / th**2)) < 1e-10
        top, ov, _ = _block_spiked_top(th**2 * np.ones((2, 2)) * c[None, :], -th**2 * np.ones(2),
                                       th**2 * np.outer(s, s), s)
        assert abs(top - (1.0 if th > 1 else 2 * th - th**2)) < 1e-10 and abs(ov - max(0.0, 1 - 1 / th**2)) < 1e-10
    two = sv.SpikedWigner(Rademacher(), 4.0, profile={"variances": [[2.0, 2.0], [2.0, 2.0]], "fractions": [0.5, 0.5]})
    assert abs(sv.phase_transitions(two, SPEC, snr=(0.1, 10.0))["weak_recovery"] - 2.0) < 1e-9


@pytest.mark.parametrize("profile", [PROFILE, sv.NoiseProfile([[0.5, 2.0, 1.0], [2.0, 1.0, 3.0], [1.0, 3.0, 0.7]],
                                                              [0.2, 0.5, 0.3])])
def test_transformed_spectral_threshold_and_outlier(profile):
    """The outlier of the transformed matrix appears where the weak-recovery threshold
    snr rho^2 lambda_max(M) = 1 of Mergny, Ko & Krzakala (2024, Thm. 2.3) says, here computed
    independently as the snr at which lambda_max(N Theta N) reaches 1 at the edge of the bulk; above
    it the outlier sits at 1 and the overlap grows continuously from 0."""
    from solvable.families.lowrank.equations import _block_spiked_top, _profile_blocks

    lam = profile.top_eigenvalue
    prob = sv.SpikedWigner(Rademacher(), 1.0, profile=profile)
    for f in (1 - 1e-6, 1 + 1e-6):
        edge_lam = _block_spiked_top(*_profile_blocks(prob, f / lam, True), edge_only=True)[2]
        assert (edge_lam - 1) * (f - 1) > 0 and abs(edge_lam - 1) < 1e-5
    p = sv.predict(prob.at(snr=np.array([0.9, 1.001, 1.5, 3.0]) / lam), sv.Spectral(method="transformed"))
    assert p.overlap[0] == 0.0 and 0 < p.overlap[1] < 0.01 < p.overlap[2] < p.overlap[3]
    np.testing.assert_allclose(p.top_eigenvalue[1:], 1.0, atol=1e-10)
    assert p.top_eigenvalue[0] < 1.0


def test_profile_spectral_simulation():
    """d = 1500, 4 seeds: overlap and top eigenvalue of the transformed matrix (1.5 and 3 x threshold)
    and of plain PCA (1.6 x its own threshold) against the theory.  Finite size: the edge fluctuates
    on the n^(-2/3) scale (measured below threshold: 0.982 vs 0.990 at d = 2000), allowed 0.02; the
    overlap within 4 se + 0.03."""
    lam = PROFILE.top_eigenvalue
    prob = sv.SpikedWigner(Rademacher(), 1.0, profile=PROFILE)
    pca_thr = sv.phase_transitions(prob, SPEC, snr=(0.1, 100.0))["weak_recovery"]
    for L, snr in ((sv.Spectral(method="transformed"), 1.5 / lam), (sv.Spectral(method="transformed"), 3.0 / lam),
                   (SPEC, 1.6 * pca_thr)):
        pb = prob.at(snr=snr)
        th, si = sv.predict(pb, L), sv.simulate(pb, L, d=1500, seeds=4)
        assert th.overlap > 0.1
        assert abs(si.overlap - th.overlap) < 4 * si.se("overlap") + 0.03, (L, snr, th.overlap, si.overlap)
        assert abs(si.top_eigenvalue - th.top_eigenvalue) < 4 * si.se("top_eigenvalue") + 0.02


def test_gauss_bernoulli_scalar_channel_vs_adaptive_quadrature():
    """Independent reference: adaptive quadrature (scipy.quad) over the mixture law of B, up to
    large effective SNR (the former 80 x 80 Hermite product rule was off by 4e-4 / 5e-3 at r = 300;
    the composite rule of the prior with cuts at the denoiser's switch: ~1e-15)."""
    p = GaussBernoulli(0.05, 0.3, 1.5)
    ch = _ScalarChannel(p)
    for r in (2.0, 10.0, 50.0, 300.0, 1000.0):
        def ref(fn):
            tot = 0.0
            for wk, mk, vk in ((1 - p.rho, 0.0, 0.0), (p.rho, p.mean, p.var)):
                m, v = r * mk, r * r * vk + r
                g = lambda B: fn(B) * np.exp(-((B - m) ** 2) / (2 * v)) / np.sqrt(2 * np.pi * v)
                tot += wk * integrate.quad(g, m - 14 * np.sqrt(v), m + 14 * np.sqrt(v), limit=500,
                                           epsabs=1e-14, points=[0.0, m])[0]
            return tot
        assert abs(ch.overlap(r) - ref(lambda B: p.denoise(B, r)[0] ** 2)) < 1e-10
        assert abs(ch.psi(r) - ref(lambda B: p.log_partition(B, r))) < 1e-10 * max(1.0, r)


# ----------------------------------------------------------------------------- precise thresholds (saddle-node)


def _brute_saddle(se, m_lo, m_hi, s_lo, s_hi, sgn):
    """Independent saddle-node location: the snr at which the local maximum (``sgn = 1``) or minimum
    (``sgn = -1``) of ``g(m) = F_snr(m) - m`` over ``[m_lo, m_hi]`` touches 0, by a brute-force scan
    of g on 2001 points, bounded Brent in m around the best point, and brentq in snr."""
    def ext(s):
        ms = np.linspace(m_lo, m_hi, 2001)
        g = se.step(ms[:, None], np.full(ms.size, s))[:, 0] - ms
        j = int(np.clip(np.argmax(sgn * g), 1, ms.size - 2))
        r = optimize.minimize_scalar(lambda m: -sgn * (se.step(np.array([[m]]), np.array([s]))[0, 0] - m),
                                     bounds=(ms[j - 1], ms[j + 1]), method="bounded", options={"xatol": 1e-14})
        return -sgn * r.fun  # the extremum of g
    return optimize.brentq(ext, s_lo, s_hi, xtol=1e-13)


def test_sparse_rademacher_thresholds_are_saddle_nodes():
    """The spinodal (informative branch born) and the algorithmic threshold (uninformative branch
    dies) of sparse Rademacher rho = 0.05 are saddle-node bifurcations of the SE map: checked against
    a brute-force scan of F(m) - m (module docstring of :mod:`solvable.core.transitions`) to 1e-10
    relative (measured 1e-13-1e-15), and F'(m*) = 1 there.  The free-entropy crossing agrees with
    brentq on phi_inf - phi_uninf from ``predict`` (the branches of the Bayes-optimal prediction)."""
    from solvable.families.lowrank import equations as lr

    prob = sv.SpikedWigner(SparseRademacher(0.05), 1.0)
    t = sv.phase_transitions(prob, BO, snr=(100.0, 600.0))
    se = lr._se_for(prob)
    rho = prob.rho
    sp = _brute_saddle(se, 0.2 * rho, 0.95 * rho, 280.0, 295.0, 1.0)
    alg = _brute_saddle(se, 1e-6 * rho, 0.1 * rho, 400.5, 405.0, -1.0)
    assert abs(t["spinodal"] - sp) < 1e-10 * sp, (t["spinodal"], sp)
    assert abs(t["algorithmic"] - alg) < 1e-10 * alg, (t["algorithmic"], alg)
    # the saddle-node equations F(m) = m, F'(m) = 1 at the located point
    from solvable.core.transitions import saddle_nodes

    for kind, p, m in saddle_nodes(lambda s, x: se.step(x, s), rho * lr._M_GRID, 100.0, 600.0):
        F = lambda x: se.step(np.array([[x]]), np.array([p]))[0, 0]
        h = 1e-5 * m
        assert abs(F(m) - m) < 1e-12 * rho
        assert abs((F(m + h) - F(m - h)) / (2 * h) - 1.0) < 1e-5
    # information-theoretic: the root of the free-entropy difference of the two branches
    def dphi(s):
        b = sv.predict(prob.at(snr=s), BO).branches
        return b["informative"].free_entropy - b["uninformative"].free_entropy

    it = optimize.brentq(dphi, 298.0, 300.0, xtol=1e-12)
    assert abs(t["information_theoretic"] - it) < 1e-9 * it, (t["information_theoretic"], it)


def test_wishart_symmetric_equals_wigner_thresholds():
    """Wishart with equal priors and ratio 1 has the symmetric fixed points m_u = m_v = m of the
    Wigner SE m = overlap(snr m): the same thresholds through an independent code path (_WishartSE)."""
    w = sv.phase_transitions(sv.SpikedWigner(SparseRademacher(0.05), 1.0), BO, snr=(100.0, 600.0))
    s = sv.phase_transitions(sv.SpikedWishart(SparseRademacher(0.05), SparseRademacher(0.05), 1.0, 1.0), BO,
                             snr=(100.0, 600.0))
    for k in ("spinodal", "information_theoretic", "algorithmic", "weak_recovery"):
        assert abs(w[k] - s[k]) < 1e-9 * w[k], (k, w[k], s[k])


# Thresholds returned by ``phase_transitions`` before the locator was moved onto the shared
# routines of ``_transitions.py`` (k-section of the branch predicates on a 48-point geometric grid).
# Near a saddle-node the branch predicates were blurred (two close roots of F(m) - m missed between
# the bracketing points of the monotone solver): the old spinodal / algorithmic values were off by
# up to 7e-4 relative (checked by plain SE iteration at the midpoint between old and new values, and
# by the saddle-node tests above), the free-entropy crossing by the k-section resolution (<= 1.4e-6).
_LEGACY = {
    "wigner_rademacher": (sv.SpikedWigner(Rademacher(), 1.0), (0.2, 5.0),
                          dict(weak_recovery=1.0, information_theoretic=1.0, algorithmic=1.0, spinodal=None)),
    "wigner_sparse_0.05": (sv.SpikedWigner(SparseRademacher(0.05), 1.0), (100.0, 600.0),
                           dict(weak_recovery=400.0, information_theoretic=298.9236197986978,
                                algorithmic=402.14495520248346, spinodal=288.5672614537162)),
    "wigner_profile": (sv.SpikedWigner(Rademacher(), 1.0, profile=sv.NoiseProfile([[1.0, 4.0], [4.0, 0.5]],
                                                                                  [0.4, 0.6])), (0.1, 10.0),
                       dict(weak_recovery=0.8207956703934671, information_theoretic=0.8207956703934671,
                            algorithmic=0.8207956703934671, spinodal=None)),
    "wishart_rademacher_gauss": (sv.SpikedWishart(Rademacher(), Gaussian(), 1.0, 2.0), (0.1, 5.0),
                                 dict(weak_recovery=0.7071067811865475, information_theoretic=0.7071067811865475,
                                      algorithmic=0.7071067811865475, spinodal=None)),
    "wishart_sparse_gauss": (sv.SpikedWishart(SparseRademacher(0.05), Gaussian(), 1.0, 2.0), (5.0, 200.0),
                             dict(weak_recovery=14.142135623730947, information_theoretic=13.41718006375292,
                                  algorithmic=14.248911802361611, spinodal=13.275858369823467)),
}


@pytest.mark.parametrize("name", sorted(_LEGACY))
def test_thresholds_regression(name):
    """Regression against the thresholds of the former locator (see _LEGACY): exact where no
    refinement is involved, within the measured accuracy of the old predicates otherwise (AMP
    shares the locator: checked in test_sparse_rademacher_first_order_transition)."""
    prob, rng, old = _LEGACY[name]
    t = sv.phase_transitions(prob, BO, snr=rng)
    for k, v in old.items():
        if v is None:
            assert t[k] is None
        elif k in ("spinodal", "algorithmic") and old["spinodal"] is not None:
            assert abs(t[k] - v) < 1e-3 * v, (k, t[k], v)
        elif k == "information_theoretic" and old["spinodal"] is not None:
            assert abs(t[k] - v) < 1.5e-6 * v, (k, t[k], v)
        else:
            assert abs(t[k] - v) < 1e-12 * v, (k, t[k], v)
    assert t["order"] == ("first" if old["spinodal"] is not None else "second")


@pytest.mark.parametrize("rho, wide, narrow, bracket", [
    (0.09, (0.3, 2.5), (0.95, 1.1), (1.016, 1.028)),
    (0.092, (0.8, 1.3), (1.0, 1.05), (1.025, 1.031)),
])
def test_narrow_first_order_window_found_on_wide_range(rho, wide, narrow, bracket):
    """Near the tricritical point (rho* ~ 0.0964) the first-order window of sparse Rademacher is
    narrow (snr rho^2 in ~[1.015, 1.030] at rho = 0.09): a 48-point grid on a wide range used to miss
    it (rho = 0.09 reported "second") or to miss the crossing inside it (rho = 0.092: IT reported
    equal to the algorithmic threshold).  With one-dimensional states the window comes from the
    saddle-nodes of the SE map, whatever the snr grid: the wide range must give the narrow range's
    thresholds, and IT must be the root of phi_inf - phi_uninf of ``predict``'s branches (brentq on a
    bracket inside the window, in units of snr rho^2)."""
    prob = sv.SpikedWigner(SparseRademacher(rho), 1.0)
    tw = sv.phase_transitions(prob, BO, snr=(wide[0] / rho**2, wide[1] / rho**2))
    tn = sv.phase_transitions(prob, BO, snr=(narrow[0] / rho**2, narrow[1] / rho**2))
    assert tw["order"] == tn["order"] == "first"
    for k in ("spinodal", "information_theoretic", "algorithmic"):
        assert abs(tw[k] - tn[k]) < 1e-9 * tn[k], (k, tw[k], tn[k])
    assert tw["spinodal"] < tw["information_theoretic"] < tw["algorithmic"]

    def dphi(x):  # x = snr rho^2
        b = sv.predict(prob.at(snr=x / rho**2), BO).branches
        assert b["informative"].m > b["uninformative"].m + 1e-3 * rho  # both branches exist
        return b["informative"].free_entropy - b["uninformative"].free_entropy

    it = optimize.brentq(dphi, *bracket, xtol=1e-13)
    assert abs(tw["information_theoretic"] * rho**2 - it) < 1e-9, (tw["information_theoretic"] * rho**2, it)
    assert tw["algorithmic"] * rho**2 - it > 1e-3  # the crossing is inside the window, not at its end

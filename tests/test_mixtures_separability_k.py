"""Multi-class separability of K >= 4 Gaussian clusters (solvable.families.mixtures.separability):
the general-D cone moments against the K = 3 polar rule, the closed form at zero means, LP
feasibility at finite d, monotonicity, the bias, errors."""
import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import linprog

from solvable.blocks.data.mixture import Mixture
from solvable.families.mixtures.multiclass import (CrossEntropy, _cone_moments,
                                                   multiclass_separability_threshold)
from solvable.families.mixtures.equations import separability_threshold
from solvable.families.mixtures.separability import (_binary_capacity, _whitened_coords, cone_moments,
                                                     hierarchical_bounds, k4_bounds, ordinal_capacity,
                                                     separability_fixed_point)


def _normals(K, k=0):
    P = CrossEntropy().basis(K)
    return np.stack([P[k] - P[j] for j in range(K) if j != k])


def _random_pd(rng, D):
    A = rng.standard_normal((D, D))
    return A @ A.T / D + 0.3 * np.eye(D)


def test_cone_moments_match_the_polar_rule_in_two_dimensions():
    """D = 2 (K = 3): the simplex rule after the cones' bisection against the polar rule at many
    nodes, including a V so anisotropic that two of the regions are 1 degree wide (measured 2e-13)."""
    rng = np.random.default_rng(1)
    Nm = _normals(3)
    for _ in range(3):
        mean, Q, V = rng.standard_normal(2) * 1.5, _random_pd(rng, 2), _random_pd(rng, 2) * 4
        ref = _cone_moments(mean, Q, V, Nm, n_r=30, n_t=30, pieces=(16, 4))
        got = cone_moments(mean, Q, V, Nm, n=16)
        for a, b in zip(got[:4], ref):
            np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("K", [4, 5])
def test_cone_moments_totals_and_convergence(K):
    """Over all 2^D regions the mass, first and second moments are 1, mean and Q + mean mean^T; the
    expectations converge spectrally in the nodes (default rule against a finer one)."""
    rng = np.random.default_rng(2)
    D = K - 1
    Nm = _normals(K, 1)
    for scale in (0.5, 3.0):
        Q, V = _random_pd(rng, D), _random_pd(rng, D)
        mean = rng.standard_normal(D)
        mean *= scale / np.sqrt(mean @ np.linalg.solve(Q, mean))
        n = 12 if K == 4 else 10
        got = cone_moments(mean, Q, V, Nm, n=n)
        mass, first, second = got[4]
        assert abs(mass - 1) < 1e-8
        np.testing.assert_allclose(first, mean, atol=1e-8)
        np.testing.assert_allclose(second, Q + np.outer(mean, mean), atol=1e-8)
        ref = cone_moments(mean, Q, V, Nm, n=n + 2, max_angle=np.pi / 3)
        for a, b in zip(got[:4], ref[:4]):
            np.testing.assert_allclose(a, b, atol=1e-8)


@pytest.mark.parametrize("mix", [Mixture(np.eye(3) * 1.0), Mixture(np.eye(3) * 2.0),
                                 Mixture(np.zeros((3, 3)), weights=[0.4667, 0.3067, 0.2266])])
def test_general_code_at_k3_matches_the_polar_rule(mix):
    """The general-D fixed point run at K = 3 against multiclass_separability_threshold's K = 3 path
    (measured 2e-10 or better; the third mixture is unequal weights with a bias, V's eigenvalue ratio 0.09,
    near the end of the regular branch)."""
    ref = multiclass_separability_threshold(mix, tol=1e-12)
    got = separability_fixed_point(mix.gram, mix.weights, tol=1e-10)[0]
    assert got == pytest.approx(ref, abs=1e-8)


def test_k4_zero_means_closed_form():
    """Zero means: V, Q isotropic and alpha* = D / E[number of active facets], from the conic intrinsic
    volumes of {z_k >= z_j}: v_1 = 3 (1/4 + arcsin(1/3) / 2 pi) / 2, v_2 = 1/4, v_3 = (3 arccos(1/3) - pi)
    / 4 pi (a spherical triangle of 60-degree sides), alpha* = 3 / (v_1 + 2 v_2 + 3 v_3) = 2.7580124609."""
    v1 = 1.5 * (0.25 + np.arcsin(1 / 3) / (2 * np.pi))
    v3 = (3 * np.arccos(1 / 3) - np.pi) / (4 * np.pi)
    exact = 3 / (v1 + 0.5 + 3 * v3)
    assert multiclass_separability_threshold(Mixture(np.zeros((4, 4)))) == pytest.approx(exact, abs=1e-8)
    assert multiclass_separability_threshold(Mixture(np.zeros((4, 4))), bias=False) == pytest.approx(exact, abs=1e-8)


def _kesler_separable(X, c, K):
    """LP feasibility of (w_c - w_j) . x + b_c - b_j >= 1 for every sample and rival j (Kesler)."""
    n, d = X.shape
    Xb = np.column_stack([X, np.ones(n)])
    i, j = np.nonzero(np.arange(K)[None] != c[:, None])
    rows = np.repeat(np.arange(len(i)), d + 1)
    cols = np.arange(d + 1)
    own, rival = (c[i][:, None] * (d + 1) + cols).ravel(), (j[:, None] * (d + 1) + cols).ravel()
    A = sparse.csr_matrix((np.r_[-Xb[i].ravel(), Xb[i].ravel()], (np.r_[rows, rows], np.r_[own, rival])),
                          shape=(len(i), K * (d + 1)))
    res = linprog(np.zeros(K * (d + 1)), A_ub=A, b_ub=-np.ones(len(i)), bounds=(None, None), method="highs")
    return res.status == 0


def _lp_threshold(mix, d, seeds, rng, lo_hi=(2, 8)):
    """The smallest n / d at which nested samples stop being separable (bisection between ``lo_hi`` times
    d, assumed separable and not), per seed."""
    vals = []
    for _ in range(seeds):
        X, c, _ = mix.sample(int(lo_hi[1] * d), d, rng)
        lo, hi = int(lo_hi[0] * d), int(lo_hi[1] * d)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _kesler_separable(X[:mid], c[:mid], mix.K) else (lo, mid)
        vals.append(hi / d)
    return np.array(vals)


def test_k4_against_lp_feasibility_fast():
    """Four balanced clusters with means 1.0 e_k, alpha* = 3.595: LP feasibility at d = 40, 8 seeds
    (measured by hand at d = 100, 12 seeds: see the docs)."""
    mix = Mixture(np.eye(4))
    th = multiclass_separability_threshold(mix)
    assert th == pytest.approx(3.59498005, abs=1e-6)
    vals = _lp_threshold(mix, 40, 8, np.random.default_rng(0))
    assert abs(vals.mean() - th) < 4 * vals.std(ddof=1) / np.sqrt(len(vals)) + 3.0 / 40, (vals.mean(), th)


def test_k4_monotone_in_the_separation():
    a = [multiclass_separability_threshold(Mixture(np.eye(4) * s)) for s in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)]
    assert np.all(np.diff(a) > 0), a
    # between K = 3 and the same separation's K = 5 would be; above K = 3's
    assert a[2] > multiclass_separability_threshold(Mixture(np.eye(3)))


def test_k4_bias():
    """Symmetric clusters need no bias (b = 0 by symmetry); for unequal means the bias raises alpha*
    (measured 3.8952 against 3.8292), a common offset of the means is absorbed by it, and without a
    bias the offset's direction acts as a noisy bias (between the two)."""
    plain = Mixture(np.eye(4))
    assert multiclass_separability_threshold(plain, bias=False) == pytest.approx(
        multiclass_separability_threshold(plain), abs=1e-8)
    M = np.diag([1.0, 1.0, 1.0, 1.5])
    shifted = Mixture(np.column_stack([M, np.full(4, 2.0)]))
    a_b, a_0 = (multiclass_separability_threshold(Mixture(M), bias=b) for b in (True, False))
    assert a_b > a_0 + 0.05
    assert multiclass_separability_threshold(shifted) == pytest.approx(a_b, abs=1e-7)
    assert a_0 + 0.01 < multiclass_separability_threshold(shifted, bias=False) < a_b - 1e-4


def test_errors():
    with pytest.raises(ValueError, match="K = 6"):
        multiclass_separability_threshold(Mixture(np.eye(6)))
    with pytest.raises(ValueError, match="K = 1"):
        multiclass_separability_threshold(Mixture(np.ones((1, 2))))
    with pytest.raises(ValueError, match="sharing one covariance"):
        multiclass_separability_threshold(Mixture(np.eye(4), [1.0, 2.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="n = 0"):
        separability_fixed_point(np.eye(4), np.ones(4) / 4, n=0)
    with pytest.raises(ValueError, match="max_angle"):
        cone_moments(np.zeros(3), np.eye(3), np.eye(3), _normals(4), max_angle=4.0)
    with pytest.raises(ValueError, match="positive definite"):
        cone_moments(np.zeros(3), -np.eye(3), np.eye(3), _normals(4))


@pytest.mark.slow
def test_k4_degenerate_fixed_point_bounds():
    """Unequal weights with a bias: V tends to a singular matrix before the iteration converges (K = 4).
    Means 1.0 e_k, weights (0.1, 0.2, 0.3, 0.4): the bounds of k4_bounds meet (3.6735515) and that is
    returned; zero means, weights (0.4, 0.3, 0.2, 0.1): they do not (2.8183606, 2.8949187), an error
    states them; generic means, weights (0.4, 0.3, 0.2, 0.1): they meet at 4.8895759 (measured 10-30 s
    each, the degenerate iteration first)."""
    assert multiclass_separability_threshold(Mixture(np.eye(4), weights=[0.1, 0.2, 0.3, 0.4])) == pytest.approx(
        3.6735515028, abs=1e-8)
    with pytest.raises(ValueError, match=r"degenerates.*2\.8183606 \(3\|012\) and 2\.8949187"):
        multiclass_separability_threshold(Mixture(np.zeros((4, 4)), weights=[0.4, 0.3, 0.2, 0.1]))
    gen = Mixture(np.random.default_rng(0).standard_normal((4, 5)), weights=[0.4, 0.3, 0.2, 0.1])
    assert multiclass_separability_threshold(gen) == pytest.approx(4.8895759, abs=1e-6)  # 2 | 013


@pytest.mark.slow
def test_k5_values_and_convergence():
    """K = 5 (D = 4): the default rule (10 nodes per simplex dimension) against 12 nodes, zero means and
    means 1.0 e_k (measured 2.4e-8 and 3.7e-8 apart), above K = 4."""
    for s, k4 in ((0.0, 2.7580124609), (1.0, 3.59498005)):
        a = multiclass_separability_threshold(Mixture(np.eye(5) * s))
        fine = separability_fixed_point(np.eye(5) * s * s, np.ones(5) / 5, n=12, tol=1e-9)[0]
        assert abs(a - fine) < 2e-7
        assert a > k4 + 0.3


def test_k3_far_clusters_use_the_general_solver():
    """Means 3.0 e_k, K = 3: the damped polar iteration fell into a 2-cycle near 15.2 (reported as not
    converged after 3000 steps); the general solver (tried first) reaches the fixed point in well under a
    second, between the K = 2 and K = 4 thresholds of the same clusters (27.37 < 28.89 < 30.28)."""
    import time

    from solvable.data import Mixture
    from solvable.families.mixtures import multiclass_separability_threshold as mst

    t0 = time.perf_counter()
    a3 = mst(Mixture(np.eye(3) * 3.0))
    assert time.perf_counter() - t0 < 10
    a2, a4 = mst(Mixture(np.eye(2) * 3.0)), mst(Mixture(np.eye(4) * 3.0))
    assert a2 < a3 < a4 and a3 > 20  # the polar iteration's cycle sat near 15.2


def test_k3_bias_bottleneck_pair_is_the_capacity():
    """K = 3 with a bias where one pair is the bottleneck: the pairwise upper bound (the pair's binary
    capacity, Gordon, over its weight) meets the hierarchical lower bound, so alpha* is that value exactly.
    Zero means, weights (0.5, 0.3, 0.2): the pair 0-1, 2.0840534 / 0.8 = 2.6050668 (the merged problem
    {0, 1} vs 2 has 2.6676); the fixed point has no regular solution there (V tends to a singular matrix
    along the normal of the 0|1 facet; the singular limit's alpha 2.6204 exceeded the upper bound).
    Measured by LP feasibility (bisection per seed): 2.594 +- 0.022 (d = 40, 80 seeds), 2.538 +- 0.030
    (d = 80, 30 seeds), 2.531 +- 0.029 (d = 160, 24 seeds; at d = 80 equal weights read 2.448 +- 0.020 for 2.4, and K = 2 at weights (0.8,
    0.2) 2.688 +- 0.053 for Gordon's 2.668): below the bound at every d, against the 2.62 formerly returned."""
    mix = Mixture(np.zeros((3, 3)), weights=[0.5, 0.3, 0.2])
    pair = separability_threshold(Mixture.symmetric(0.0, weight=0.625), bias=True) / 0.8
    assert pair == pytest.approx(2.6050668, abs=1e-6)
    assert multiclass_separability_threshold(mix) == pytest.approx(pair, abs=1e-9)
    lower, upper, p = hierarchical_bounds(mix.gram, mix.weights)
    assert lower == pytest.approx(upper, abs=1e-12) and p == (0, 1)
    # generic means, same weights: the general solver had converged to 3.785 with V singular (ratio 2e-10),
    # above the pair 0-1's bound 3.4636; now the exact value
    gen = Mixture(np.random.default_rng(0).standard_normal((3, 4)), weights=[0.5, 0.3, 0.2])
    assert multiclass_separability_threshold(gen) == pytest.approx(3.4635524, abs=1e-6)
    with pytest.raises(ValueError, match="degenerates"):
        separability_fixed_point(gen.gram, gen.weights)


def test_k3_bias_bottleneck_against_lp_fast():
    """LP feasibility at d = 40 (12 seeds) for zero means, weights (0.5, 0.3, 0.2), with a bias, against
    2.6051 (measured by hand: 2.594 +- 0.022 at d = 40, 80 seeds)."""
    mix = Mixture(np.zeros((3, 3)), weights=[0.5, 0.3, 0.2])
    th = multiclass_separability_threshold(mix)
    vals = _lp_threshold(mix, 40, 12, np.random.default_rng(3))
    assert abs(vals.mean() - th) < 4 * vals.std(ddof=1) / np.sqrt(len(vals)) + 3.0 / 40, (vals.mean(), th)


def test_k3_regular_branch_between_the_bounds():
    """Weights moving from equal towards (0.5, 0.3, 0.2) (zero means, bias): the regular fixed point lies
    between the rigorous bounds and meets the lower one as V's small eigenvalue goes to 0 (alpha - lower
    1.0e-2, 5.6e-3, 1.9e-3 at t = 0.8, 0.82, 0.84); equal weights: 2.4 inside (2.156, 3)."""
    eq, tgt = np.ones(3) / 3, np.array([0.5, 0.3, 0.2])
    gaps = []
    for t in (0.0, 0.8, 0.84):
        rho = (1 - t) * eq + t * tgt
        lower, upper, _ = hierarchical_bounds(np.zeros((3, 3)), rho)
        a = multiclass_separability_threshold(Mixture(np.zeros((3, 3)), weights=rho))
        assert lower < a < upper
        gaps.append(a - lower)
    assert gaps[0] == pytest.approx(2.4 - 2.1563147, abs=1e-6)
    assert gaps[1] == pytest.approx(1.02e-2, abs=3e-4) and gaps[2] == pytest.approx(1.93e-3, abs=2e-4)


def _ordinal_separable(X, c, order):
    """LP feasibility of ordinal separation: w . x_i - t_(j-1) >= 1 and t_j - w . x_i >= 1 for a sample of
    class order[j] (thresholds t_1..t_(K-1) free)."""
    n, d = X.shape
    K = len(order)
    pos = np.empty(K, int)
    pos[list(order)] = np.arange(K)
    j = pos[c]
    rows = []
    for keep, sign, col in ((j > 0, -1.0, j - 1), (j < K - 1, 1.0, j)):
        A = np.zeros((keep.sum(), d + K - 1))
        A[:, :d] = sign * X[keep]
        A[np.arange(keep.sum()), d + col[keep]] = -sign
        rows.append(A)
    A = np.vstack(rows)
    res = linprog(np.zeros(d + K - 1), A_ub=sparse.csr_matrix(A), b_ub=-np.ones(len(A)), bounds=(None, None),
                  method="highs")
    return res.status == 0


def test_ordinal_capacity_k2_is_gordons_binary_formula():
    """K = 2: the ordinal capacity (two intervals) is Gordon's formula with a bias (measured 1e-13 to
    1e-15 relative); the grouped form (_binary_capacity, clusters labelled +-1) likewise for K = 3-5
    clusters (1.8e-12 over 100 random cases by hand)."""
    for s, w in ((0.0, 0.5), (0.5, 0.5), (1.0, 0.3), (2.0, 0.8), (0.7, 0.1)):
        m = Mixture.symmetric(s, weight=w)
        assert ordinal_capacity(m.gram, m.weights) == pytest.approx(separability_threshold(m, bias=True), rel=1e-10)
    rng = np.random.default_rng(4)
    for K in (2, 3, 5):
        M = rng.standard_normal((K, 3))
        w = rng.dirichlet(np.ones(K))
        lab = np.where(np.arange(K) % 2 == 0, 1.0, -1.0)
        ref = separability_threshold(Mixture(M, None, w, lab), bias=True)
        assert _binary_capacity(_whitened_coords(M @ M.T), w, lab) == pytest.approx(ref, rel=1e-10)
        if K == 2:
            assert ordinal_capacity(M @ M.T, w) == pytest.approx(ref, rel=1e-10)


def test_ordinal_capacity_against_lp_fast():
    """Means -2 e_1, 0, 2 e_1 (equal weights), order 0 < 1 < 2 along the field: 2.7750251 (a = 0.612 e_1,
    thresholds -+0.612).  LP feasibility of ordinal separation (bisection on nested samples) approaches it
    from above, measured by hand (40 seeds each): 2.938 +- 0.070, 2.862 +- 0.050, 2.766 +- 0.032 at d = 60,
    120, 240; here d = 40, 12 seeds."""
    M = np.array([[-2.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    mix = Mixture(M)
    alpha, order, a, t = ordinal_capacity(mix.gram, mix.weights, details=True)
    assert alpha == pytest.approx(2.7750250918, abs=1e-8) and order == (0, 1, 2)
    assert ordinal_capacity(mix.gram, mix.weights, (0, 1, 2)) == pytest.approx(alpha, abs=1e-12)
    assert ordinal_capacity(mix.gram, mix.weights, (1, 0, 2)) < alpha - 1
    rng, d, vals = np.random.default_rng(11), 40, []
    for _ in range(12):
        X, c, _ = mix.sample(6 * d, d, rng)
        lo, hi = d, 6 * d
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _ordinal_separable(X[:mid], c[:mid], (0, 1, 2)) else (lo, mid)
        vals.append(hi / d)
    vals = np.array(vals)
    assert abs(vals.mean() - alpha) < 4 * vals.std(ddof=1) / np.sqrt(len(vals)) + 6.0 / d, (vals.mean(), alpha)


def test_ordinal_never_beats_the_hierarchical_bound():
    """An ordinal structure k < l < m is feasible only where the pair k, l and the merged problem {k, l}
    vs m are (the thresholds separate them), so its capacity is at most the hierarchical lower bound;
    random K = 3 mixtures (and the cases where that bound is not the pairwise one)."""
    rng = np.random.default_rng(6)
    for _ in range(4):
        M = rng.standard_normal((3, 3)) * rng.uniform(0.3, 1.5)
        w = rng.dirichlet(np.ones(3) * 2)
        G = M @ M.T
        lower = hierarchical_bounds(G, w)[0]
        assert ordinal_capacity(G, w) <= lower * (1 + 1e-10)
    assert ordinal_capacity(np.zeros((3, 3)), np.ones(3) / 3) == pytest.approx(1.5, abs=1e-9)  # middle interval empty


def test_k4_bounds_meet_for_a_bottleneck():
    """Means 1.0 e_k, weights (0.1, 0.2, 0.3, 0.4), bias: the fixed point degenerates, the structure 0 |
    {1, 2, 3} (its K = 3 problem exact) meets the upper bound at 3.6735515; equal weights: the regular
    fixed point 3.59498 lies strictly between the bounds."""
    lower, upper, structure = k4_bounds(np.eye(4), [0.1, 0.2, 0.3, 0.4])
    assert lower == pytest.approx(upper, rel=1e-12) and lower == pytest.approx(3.6735515028, abs=1e-8)
    assert structure == "0|123"
    lower, upper, _ = k4_bounds(np.eye(4), np.ones(4) / 4)
    assert lower < 3.59498005 < upper


def test_k4_bottleneck_against_lp_fast():
    """LP feasibility (Kesler) at d = 30, 8 seeds (bisection between 2.5 d and 5.5 d samples), for means 1.0
    e_k, weights (0.1, 0.2, 0.3, 0.4), bias, against 3.6735515 (test_k4_bounds_meet_for_a_bottleneck; by
    hand: 3.832 +- 0.091, 3.648 +- 0.076, 3.699 +- 0.085 at d = 40, 80, 160)."""
    mix = Mixture(np.eye(4), weights=[0.1, 0.2, 0.3, 0.4])
    th = 3.6735515028
    vals = _lp_threshold(mix, 30, 8, np.random.default_rng(7), lo_hi=(2.5, 5.5))
    assert abs(vals.mean() - th) < 4 * vals.std(ddof=1) / np.sqrt(len(vals)) + 3.0 / 30, (vals.mean(), th)


@pytest.mark.slow
def test_k3_bias_bounds_apart_is_an_error():
    """Zero means, weights (0.66, 0.18, 0.16), bias: the fixed point creeps towards a singular V without
    converging and the bounds differ (2.9917493 hierarchical, 3.0717040 pairwise): an error states them
    (30-70 s: the polar iteration is tried too); the ordinal structures reach only 1.944."""
    mix = Mixture(np.zeros((3, 3)), weights=[0.66, 0.18, 0.16])
    with pytest.raises(ValueError, match=r"2\.9917493 and 3\.071704"):
        multiclass_separability_threshold(mix)
    assert ordinal_capacity(mix.gram, mix.weights) == pytest.approx(1.9444462, abs=1e-6)

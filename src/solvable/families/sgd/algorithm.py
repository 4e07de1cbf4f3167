"""Online (one-pass) SGD for two-layer networks at finite d, vectorised over seeds.

All seeds advance together: weights ``W`` have shape ``(S, K, d)``, inputs of a step
``(S, B, d)``.  Inputs and teacher labels are drawn and computed a chunk of steps at a time
(one matrix product for the teacher fields of the whole chunk), so the per-step work is a
handful of small NumPy calls.  Update (Saad & Solla 1995; Goldt et al. NeurIPS 2019, Eq. 5):
``w_i <- (1 - lr wd/d) w_i + (lr / (B sqrt d)) sum_b c v_i h'(lambda_ib) Delta_b x_b`` and, if the
second layer is trained, ``v_i <- v_i + (lr_v / (B d)) sum_b c h(lambda_ib) Delta_b``.
With ``spherical=True`` every row is renormalised to ``|w_i|^2 = d`` after each step (spherical
online SGD, Ben Arous, Gheissari & Jagannath, JMLR 2021, Eq. (1.3)); ``W0`` must then have such rows.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = ["online_sgd_committee"]


def online_sgd_committee(
    W0: np.ndarray,
    Wstar: np.ndarray,
    v0: np.ndarray,
    vstar: np.ndarray,
    rngs: Sequence[np.random.Generator],
    record_steps: np.ndarray,
    *,
    student: Callable,
    student_derivative: Callable,
    teacher: Callable,
    c: float,
    lr: float,
    lr_v: float,
    noise: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int = 1,
    train_v: bool = False,
    spherical: bool = False,
    chunk_floats: int = 2_000_000,
    chunk_steps: int = 128,
    blowup: float = 1e8,
) -> dict[str, np.ndarray]:
    """Run online SGD for ``S`` independent runs at once and record overlaps at ``record_steps``.

    ``W0`` (S, K, d), ``Wstar`` (S, M, d), ``v0`` (S, K), ``vstar`` (M,); one generator per run
    (its first draw seeds the label-noise stream; the rest is the stream of inputs, step after step).
    Returns ``Q`` (S, n, K, K), ``R`` (S, n, K, M), ``T`` (S, M, M), ``v`` (S, n, K) and
    ``diverged`` (S,) (runs whose weights exceeded ``blowup``; their later records are NaN).
    """
    W = np.array(W0, dtype=float, copy=True)
    Ws = np.asarray(Wstar, dtype=float)
    v = np.array(v0, dtype=float, copy=True)
    vstar = np.asarray(vstar, dtype=float)
    S, K, d = W.shape
    M = Ws.shape[1]
    B = int(batch_size)
    record_steps = np.asarray(record_steps, dtype=np.int64)
    if np.any(np.diff(record_steps) < 0) or record_steps[0] < 0:
        raise ValueError("record_steps must be non-decreasing and >= 0")
    n_rec = record_steps.size
    Qs = np.full((S, n_rec, K, K), np.nan)
    Rs = np.full((S, n_rec, K, M), np.nan)
    vs = np.full((S, n_rec, K), np.nan)
    T = Ws @ np.swapaxes(Ws, 1, 2) / d
    sqd = np.sqrt(d)
    shrink = 1.0 - lr * weight_decay / d
    a_w = lr / (B * sqd)
    a_v = lr_v / (B * d)
    diverged = np.zeros(S, dtype=bool)
    Wst = np.swapaxes(Ws, 1, 2)  # (S, d, M)

    def record(j, Wc=None):
        Wc = W if Wc is None else Wc
        Qs[:, j] = Wc @ np.swapaxes(Wc, 1, 2) / d
        Rs[:, j] = Wc @ Wst / d
        vs[:, j] = v

    total = int(record_steps[-1])
    L = max(1, min(chunk_steps, chunk_floats // max(1, S * B * d)))
    # label noise from its own stream, so results do not depend on the chunking
    noise_rngs = [np.random.default_rng(r.integers(2**63)) for r in rngs]
    rec = 0
    while rec < n_rec and record_steps[rec] == 0:
        record(rec)
        rec += 1
    step = 0
    lrB = lr / B
    while step < total:
        n = min(L, total - step)
        nB = n * B
        # inputs of the chunk, one stream per run: (S, n B, d)
        X = np.stack([r.standard_normal((n, B, d)).reshape(nB, d) for r in rngs], axis=0)
        if noise > 0:
            xi = np.stack([r.standard_normal((n, B)).reshape(nB) for r in noise_rngs], axis=0)
        # Gram trick: within a chunk, lambda_t = gamma^t (lambda0_t + (lr/B) sum_{s<t} G[s, t] A_s),
        # G = X X^T / d, A_s = gamma^-(s+1) grad_s, so the sequential loop never touches d-vectors.
        Y = teacher(X @ Wst / sqd) @ vstar  # (S, nB)
        if noise > 0:
            Y = Y + np.sqrt(noise) * xi
        L0 = X @ np.swapaxes(W, 1, 2) / sqd  # (S, nB, K)
        G = X @ np.swapaxes(X, 1, 2) / d  # (S, nB, nB)
        P = np.zeros((S, nB, K))
        A = np.empty((S, nB, K))
        gsc = np.ones((S, K))  # W_t = gsc * (W_chunkstart + a_w sum_s A_s^T x_s), per run and unit
        for j in range(n):
            r = slice(j * B, (j + 1) * B)
            lam = gsc[:, None, :] * (L0[:, r] + lrB * P[:, r])  # (S, B, K)
            hl = student(lam)
            delta = Y[:, r] - c * np.sum(hl * v[:, None, :], axis=-1)  # (S, B)
            a = (c * delta)[..., None] * student_derivative(lam) * v[:, None, :]  # (S, B, K)
            g_new = shrink * gsc
            if spherical:
                # |w_i'|^2/d of the un-normalised update (Q_ii = 1 before it), then renormalise
                Gb = G[:, r, r]  # (S, B, B)
                q = (shrink**2 + 2 * shrink * lr / (B * d) * np.sum(a * lam, axis=1)
                     + lr**2 / (B * B * d) * np.einsum("sbk,sbc,sck->sk", a, Gb, a))
                Dn = 1.0 / np.sqrt(q)
                g_new = g_new * Dn
                A[:, r] = a * (Dn / g_new)[:, None, :]
            else:
                A[:, r] = a / g_new[:, None, :]
            P += G[:, :, r] @ A[:, r]
            gsc = g_new
            if train_v:
                v = v + a_v * c * np.sum(hl * delta[..., None], axis=1)
            step += 1
            if rec < n_rec and record_steps[rec] == step:
                Wnow = gsc[..., None] * (W + a_w * (np.swapaxes(A[:, : (j + 1) * B], 1, 2) @ X[:, : (j + 1) * B]))
                while rec < n_rec and record_steps[rec] == step:
                    record(rec, Wnow)
                    rec += 1
        W = gsc[..., None] * (W + a_w * (np.swapaxes(A, 1, 2) @ X))
        if spherical:  # remove round-off drift of the norms
            W *= np.sqrt(d) / np.linalg.norm(W, axis=-1, keepdims=True)
        big = ~np.isfinite(W).all(axis=(1, 2)) | (np.abs(W).max(axis=(1, 2)) > blowup)
        if big.any():
            diverged |= big
            W[big] = np.nan
    return {"Q": Qs, "R": Rs, "T": T, "v": vs, "diverged": diverged}

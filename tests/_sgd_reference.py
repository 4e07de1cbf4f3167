"""A plain, step-by-step online SGD (no Gram trick, no batching over seeds): the reference the
vectorised :mod:`solvable.families.sgd.algorithm` is tested against."""
import numpy as np


def reference_sgd(W0, Ws, v0, vstar, seed, steps, *, act, c, lr, lr_v, noise, wd, B, train_v, spherical=False):
    rng = np.random.default_rng(seed)
    nrng = np.random.default_rng(rng.integers(2**63))
    W = W0.copy()
    v = v0.copy()
    d = W.shape[1]
    for _ in range(steps):
        x = rng.standard_normal((B, d))
        xi = nrng.standard_normal(B) if noise > 0 else 0.0
        y = act(x @ Ws.T / np.sqrt(d)) @ vstar + np.sqrt(noise) * xi
        lam = x @ W.T / np.sqrt(d)
        D = y - c * act(lam) @ v
        gr = (c * D)[:, None] * act.derivative(lam) * v[None]
        W = W * (1 - lr * wd / d) + lr / (B * np.sqrt(d)) * gr.T @ x
        if spherical:
            W = W * np.sqrt(d) / np.linalg.norm(W, axis=1, keepdims=True)
        if train_v:
            v = v + lr_v / (B * d) * c * (act(lam) * D[:, None]).sum(0)
    return W @ W.T / d, W @ Ws.T / d, v

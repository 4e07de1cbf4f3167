"""Bracketing root finders, vectorised over many independent brackets."""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["illinois_root"]


def illinois_root(g: Callable[[np.ndarray], np.ndarray], a, b, *, xtol: float, max_iter: int = 60) -> np.ndarray:
    """Roots of ``g`` in the brackets ``[a, b]`` (arrays, one bracket per element, ``a`` and ``b``
    in either order) with ``g(a) >= 0 >= g(b)``, by the Illinois variant of regula falsi
    (Dowell & Jarratt, BIT 11, 168 (1971)): the false-position point replaces the end point of
    its sign, and the function value at an end point that stays twice in a row is halved
    (superlinear convergence without the one-sided stalls of plain regula falsi).

    ``g`` is called elementwise on arrays of the brackets' shape.  Iterates until every
    bracket is shorter than ``xtol`` or has hit an exact zero, at most ``max_iter`` times
    (``>= 1``); returns the last false-position point where ``|g|`` there is at most ``|g|`` at
    both ends, else the bracket's midpoint."""
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got max_iter={max_iter!r}")
    aa, bb = np.asarray(a, float), np.asarray(b, float)
    ga, gb = g(aa), g(bb)
    side = np.zeros(aa.shape, dtype=int)
    for _ in range(int(max_iter)):  # invariant: g(aa) >= 0 >= g(bb)
        den = ga - gb
        c = np.where(den > 0, aa + ga * (bb - aa) / np.where(den > 0, den, 1.0), 0.5 * (aa + bb))
        c = np.clip(c, np.minimum(aa, bb), np.maximum(aa, bb))
        gc = g(c)
        pos = gc > 0
        aa, ga = np.where(pos, c, aa), np.where(pos, gc, ga)
        bb, gb = np.where(pos, bb, c), np.where(pos, gb, gc)
        # Illinois: halve the function value at the end point that stays twice in a row
        gb = np.where(pos & (side == 1), 0.5 * gb, gb)
        ga = np.where(~pos & (side == -1), 0.5 * ga, ga)
        side = np.where(pos, 1, -1)
        if np.all((np.abs(bb - aa) < xtol) | (gc == 0)):
            break
    return np.where(np.abs(gc) <= np.minimum(np.abs(g(aa)), np.abs(g(bb))), c, 0.5 * (aa + bb))

"""Frank-Wolfe solver for the regularised simplex weights of synthetic difference-in-differences.

``min_x  zeta^2 ||x||^2 + ||A x - b||^2 / N``  over the unit simplex, where the columns of
``[A | b]`` are optionally demeaned first (an intercept), as ``synthdid``'s ``sc.weight.fw``:
exact line search along the Frank-Wolfe direction, stopping when an iteration lowers the
objective by less than ``min_decrease^2`` or after ``max_iter`` iterations. Compiled with numba.
"""

from __future__ import annotations

import numpy as np

try:  # numba ships with the locked environment; plain Python is a (slow) fallback
    from numba import njit
except ImportError:  # pragma: no cover

    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


@njit(cache=True)
def fw_weights(Y: np.ndarray, zeta: float, intercept: bool, x0: np.ndarray, min_decrease: float,
               max_iter: int) -> np.ndarray:
    """Weights on the first ``k`` columns of ``Y`` (``N x (k + 1)``) that reproduce its last column.

    ``x0`` is the starting point (on the simplex). Returns the weights.
    """
    N, k1 = Y.shape
    k = k1 - 1
    Z = Y.copy()
    if intercept:
        for j in range(k1):
            Z[:, j] -= Z[:, j].mean()
    A = np.ascontiguousarray(Z[:, :k])
    b = Z[:, k].copy()
    x = x0.copy()
    eta = N * zeta * zeta
    z2 = zeta * zeta
    Ax = A @ x
    prev = np.inf
    last = np.inf
    t = 0
    md2 = min_decrease * min_decrease
    while t < max_iter and (t < 2 or prev - last > md2):
        t += 1
        r = Ax - b
        g = A.T @ r + eta * x  # half gradient
        i = 0
        gmin = g[0]
        for j in range(1, k):
            if g[j] < gmin:
                gmin = g[j]
                i = j
        # direction e_i - x
        moved = False
        for j in range(k):
            if (j == i and x[j] != 1.0) or (j != i and x[j] != 0.0):
                moved = True
                break
        if moved:
            num = 0.0
            dx2 = 0.0
            for j in range(k):
                dj = (1.0 - x[j]) if j == i else -x[j]
                num += g[j] * dj
                dx2 += dj * dj
            derr = A[:, i] - Ax
            den = derr @ derr + eta * dx2
            step = -num / den if den > 0 else 0.0
            if step < 0.0:
                step = 0.0
            elif step > 1.0:
                step = 1.0
            for j in range(k):
                x[j] -= step * x[j]
            x[i] += step
            Ax += step * derr
        err = Ax - b
        prev = last
        last = z2 * (x @ x) + (err @ err) / N
    return x

"""Frank-Wolfe solver for the regularised simplex weights of synthetic difference-in-differences.

``min_x  zeta^2 ||x||^2 + ||A x - b||^2 / N``  over the unit simplex, where the columns of
``[A | b]`` are optionally demeaned first (an intercept), as ``synthdid``'s ``sc.weight.fw``:
exact line search along the Frank-Wolfe direction, stopping when an iteration lowers the
objective by less than ``min_decrease^2`` or after ``max_iter`` iterations. Compiled with numba.
"""

from __future__ import annotations

import numpy as np

from impact.estimators._numba import njit


@njit(cache=True)
def _gram(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A'A`` and ``A'b`` by plain loops (single-threaded: BLAS threads only contend on a busy machine)."""
    n, k = A.shape
    G = np.zeros((k, k))
    c = np.zeros(k)
    for t in range(n):
        bt = b[t]
        for j in range(k):
            a = A[t, j]
            if a != 0.0:
                c[j] += a * bt
                for l in range(j, k):
                    G[j, l] += a * A[t, l]
    for j in range(k):
        for l in range(j + 1, k):
            G[l, j] = G[j, l]
    return G, c


@njit(cache=True)
def _dots(x: np.ndarray, q: np.ndarray, c: np.ndarray) -> tuple[float, float, float]:
    """``x'x``, ``x'q``, ``x'c``."""
    xx = 0.0
    xq = 0.0
    xc = 0.0
    for j in range(len(x)):
        xx += x[j] * x[j]
        xq += x[j] * q[j]
        xc += x[j] * c[j]
    return xx, xq, xc


@njit(cache=True)
def fw_weights(Y: np.ndarray, zeta: float, intercept: bool, x0: np.ndarray, min_decrease: float,
               max_iter: int) -> np.ndarray:
    """Weights on the first ``k`` columns of ``Y`` (``N x (k + 1)``) that reproduce its last column.

    ``x0`` is the starting point (on the simplex). Returns the weights.

    Each iteration costs ``O(k)``: with ``G = A'A`` and ``c = A'b`` formed once, the gradient
    ``A'(Ax - b) + eta x`` and the objective follow from ``q = A'Ax`` and ``x``, which a
    Frank-Wolfe step updates as convex combinations (``q <- (1 - s) q + s G[:, i]``).
    """
    N, k1 = Y.shape
    k = k1 - 1
    Z = Y.copy()
    if intercept:
        for j in range(k1):
            Z[:, j] -= Z[:, j].mean()
    A = np.ascontiguousarray(Z[:, :k])
    b = Z[:, k].copy()
    G, c = _gram(A, b)
    bb = 0.0
    for t in range(N):
        bb += b[t] * b[t]
    x = x0.copy()
    q = np.zeros(k)
    for j in range(k):
        acc = 0.0
        for l in range(k):
            acc += G[j, l] * x[l]
        q[j] = acc
    eta = N * zeta * zeta
    z2 = zeta * zeta
    # scalars of the objective, updated per step and recomputed every 64 iterations
    xx, xq, xc = _dots(x, q, c)
    prev = np.inf
    last = np.inf
    t = 0
    md2 = min_decrease * min_decrease
    while t < max_iter and (t < 2 or prev - last > md2):
        t += 1
        i = 0
        gmin = q[0] - c[0] + eta * x[0]
        for j in range(1, k):
            gj = q[j] - c[j] + eta * x[j]
            if gj < gmin:
                gmin = gj
                i = j
        moved = x[i] != 1.0
        if not moved:
            for j in range(k):
                if j != i and x[j] != 0.0:
                    moved = True
                    break
        if moved:
            # direction d = e_i - x: slope g'd, curvature |A d|^2 + eta |d|^2
            gx = xq - xc + eta * xx
            num = gmin - gx
            dx2 = xx - 2 * x[i] + 1.0
            derr2 = G[i, i] - 2 * q[i] + xq
            den = derr2 + eta * dx2
            step = -num / den if den > 0 else 0.0
            if step < 0.0:
                step = 0.0
            elif step > 1.0:
                step = 1.0
            r = 1.0 - step
            xi, qi = x[i], q[i]
            xx = r * r * xx + 2 * step * r * xi + step * step
            xq = r * r * xq + 2 * step * r * qi + step * step * G[i, i]
            xc = r * xc + step * c[i]
            for j in range(k):
                x[j] *= r
                q[j] += step * (G[j, i] - q[j])
            x[i] += step
        if t % 64 == 0:  # bound the drift of the updated scalars
            xx, xq, xc = _dots(x, q, c)
        prev = last
        last = z2 * xx + (xq - 2 * xc + bb) / N
    return x

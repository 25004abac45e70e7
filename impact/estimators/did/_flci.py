"""Optimal fixed-length confidence interval (FLCI) under smoothness restrictions.

Rambachan and Roth (2023), section 4.1, after Armstrong and Kolesár: among affine estimators
``theta_hat = v'beta_hat`` with ``v = (v_pre, l)``, choose the one whose interval
``v'beta_hat -/+ chi`` is shortest while covering ``theta = l'tau_post`` for every trend
``delta`` in ``Delta^SD(M)`` (second differences at most ``M``). With ``w`` the weights on the
pre-period first differences (``v_pre`` = their differences), the worst-case bias is
``M * b(w)``, ``b(w) = const + sum_j |w_1 + ... + w_j|`` (``sum(w) = sum_t t l_t`` keeps the
bias finite), and ``chi = q_{1-alpha}(|N(M b / h, 1)|) h`` at standard deviation ``h``.

For a given ``h`` the smallest bias is a second-order cone program (HonestDiD solves it with
ECOS); here it is solved exactly as the point of a lasso path where the variance constraint
binds (coordinate descent, numba);
``h`` is chosen by HonestDiD's bisection on the numerical derivative of the half-length,
with its grid search as fallback, and the folded-normal quantile is HonestDiD's simulated
one (R's draws, see :mod:`impact.estimators._rstream`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impact.estimators._numba import njit

from impact.errors import EstimationError
from impact.estimators._rstream import qfoldednormal


@dataclass(frozen=True)
class Flci:
    """The optimal affine estimator ``v'beta`` and its half-length."""

    v: np.ndarray  # weights on all event-study coefficients (pre then post)
    half_length: float
    h: float  # standard deviation of v'beta_hat
    max_bias: float  # worst-case bias at M

    def interval(self, beta: np.ndarray) -> tuple[float, float]:
        c = float(self.v @ beta)
        return c - self.half_length, c + self.half_length


class _Problem:
    """Variance and bias of the affine estimator as functions of the first-difference weights."""

    def __init__(self, sigma: np.ndarray, npre: int, l_vec: np.ndarray):
        npost = len(l_vec)
        self.K = npre
        L = np.eye(npre) - np.eye(npre, k=-1)  # w -> v_pre
        s_pre = sigma[:npre, :npre]
        self.Q = L.T @ s_pre @ L
        self.c = 2 * L.T @ sigma[:npre, npre:] @ l_vec
        self.c0 = float(l_vec @ sigma[npre:, npre:] @ l_vec)
        self.L = L
        t = np.arange(1, npost + 1)
        self.target = float(t @ l_vec)  # sum of the weights
        self.const = sum(abs(float(np.arange(1, s + 1) @ l_vec[npost - s:])) for s in range(1, npost + 1)) - self.target
        self.w_min = self._min_variance_w()
        self._lasso_setup()

    def var(self, w: np.ndarray) -> float:
        return float(w @ self.Q @ w + self.c @ w + self.c0)

    def bias(self, w: np.ndarray) -> float:
        return self.const + float(np.abs(np.cumsum(w)).sum())

    def _min_variance_w(self) -> np.ndarray:
        K = self.K
        kkt = np.zeros((K + 1, K + 1))
        kkt[:K, :K] = 2 * self.Q
        kkt[:K, K] = kkt[K, :K] = 1.0
        rhs = np.concatenate([-self.c, [self.target]])
        return np.linalg.solve(kkt, rhs)[:K]

    def min_bias(self, h: float) -> tuple[float, np.ndarray]:
        """Smallest worst-case bias (per unit M) of an estimator with standard deviation <= h.

        In ``u = cumsum(w)`` (``u_K = sum(w)`` fixed) the bias is ``const + |u_K| + |z|_1`` with
        ``z = u_1..u_{K-1}`` and the variance a convex quadratic ``g(z)``; the solution of
        ``min |z|_1 s.t. g(z) <= h^2`` is the lasso ``min g(z) + lam |z|_1`` at the ``lam`` where
        the constraint binds (found by bisection on ``log lam``; coordinate descent inside).
        """
        h_min = np.sqrt(max(self.var(self.w_min), 0.0))
        if h <= h_min * (1 + 1e-10):
            return self.bias(self.w_min), self.w_min
        z = _lasso_at_variance(self.P, self.p, self.p0, h * h)
        w = self.U_to_w @ np.concatenate([z, [self.target]])
        return self.bias(w), w

    def _lasso_setup(self) -> None:
        K = self.K
        Dm = np.eye(K) - np.eye(K, k=-1)  # u -> w
        self.U_to_w = Dm
        # g(u) = w'Qw + c'w + c0 with w = Dm u, u = (z, target)
        Qu = Dm.T @ self.Q @ Dm
        cu = Dm.T @ self.c
        self.P = np.ascontiguousarray(Qu[:K - 1, :K - 1])
        self.p = np.ascontiguousarray(2 * Qu[:K - 1, K - 1] * self.target + cu[:K - 1])
        self.p0 = float(Qu[K - 1, K - 1] * self.target**2 + cu[K - 1] * self.target + self.c0)


@njit(cache=True)
def _cd_lasso(P: np.ndarray, p: np.ndarray, lam: float, z: np.ndarray) -> None:
    """Coordinate descent for ``min z'Pz + p'z + lam |z|_1`` (in place, warm start ``z``)."""
    n = len(p)
    for _ in range(10000):
        delta = 0.0
        for j in range(n):
            g = p[j]
            for l in range(n):
                if l != j:
                    g += 2.0 * P[j, l] * z[l]
            if g > lam:
                v = -(g - lam) / (2.0 * P[j, j])
            elif g < -lam:
                v = -(g + lam) / (2.0 * P[j, j])
            else:
                v = 0.0
            delta = max(delta, abs(v - z[j]))
            z[j] = v
        if delta <= 1e-13 * (1.0 + np.abs(z).max()):
            return


@njit(cache=True)
def _quad(P, p, p0, z) -> float:
    g = p0
    n = len(p)
    for j in range(n):
        g += p[j] * z[j]
        for l in range(n):
            g += z[j] * P[j, l] * z[l]
    return g


@njit(cache=True)
def _lasso_at_variance(P: np.ndarray, p: np.ndarray, p0: float, h2: float) -> np.ndarray:
    """The lasso path point whose quadratic ``z'Pz + p'z + p0`` equals ``h2`` (the smallest
    |z|_1 at that variance). ``h2 >= p0``: z = 0.

    Bisection on ``log lam`` (coordinate descent at each step) until the active set and signs
    are found on which the path is affine, ``z_A = a + lam b``; there the quadratic in ``lam``
    is solved exactly and the KKT conditions checked.
    """
    n = len(p)
    z = np.zeros(n)
    if n == 0 or h2 >= p0:
        return z
    lam_hi = np.abs(p).max() * 1.0000001 + 1e-300  # z = 0 from here on
    lam_lo = lam_hi * 1e-16
    for _ in range(200):
        lam = np.sqrt(lam_lo * lam_hi)
        _cd_lasso(P, p, lam, z)
        act = np.abs(z) > 0
        k = int(act.sum())
        if k > 0:
            idx = np.flatnonzero(act)
            sg = np.sign(z[idx])
            M = 2.0 * P[idx][:, idx]
            a = np.linalg.solve(M, -p[idx])
            b = np.linalg.solve(M, -sg)
            # var(lam) = p0 + p_A'(a + lam b) + (a + lam b)' P_AA (a + lam b) = c0 + c1 lam + c2 lam^2
            PA = P[idx][:, idx]
            c0 = p0 + p[idx] @ a + a @ PA @ a
            c1 = p[idx] @ b + 2.0 * (a @ PA @ b)
            c2 = b @ PA @ b
            disc = c1 * c1 - 4.0 * c2 * (c0 - h2)
            if c2 > 0 and disc >= 0:
                for root in ((-c1 + np.sqrt(disc)) / (2.0 * c2), (-c1 - np.sqrt(disc)) / (2.0 * c2)):
                    if root <= 0:
                        continue
                    zz = np.zeros(n)
                    zz[idx] = a + root * b
                    ok = True
                    for t in range(k):  # signs kept on the active set
                        if zz[idx[t]] * sg[t] <= 0:
                            ok = False
                    if ok:  # inactive coordinates: |gradient| <= lam
                        for j in range(n):
                            if not act[j]:
                                g = p[j]
                                for l in range(n):
                                    g += 2.0 * P[j, l] * zz[l]
                                if abs(g) > root * (1 + 1e-9):
                                    ok = False
                    if ok:
                        return zz
        if _quad(P, p, p0, z) > h2:
            lam_hi = lam
        else:
            lam_lo = lam
        if lam_hi / lam_lo - 1.0 < 1e-15:
            break
    _cd_lasso(P, p, lam_lo, z)
    return z


def optimal_flci(sigma: np.ndarray, npre: int, l_vec: np.ndarray, M: float, alpha: float,
                 num_points: int = 100, seed: int = 0) -> Flci:
    """HonestDiD's ``findOptimalFLCI`` for ``Delta^SD(M)`` (the interval is ``Flci.interval(beta)``)."""
    l_vec = np.asarray(l_vec, dtype=float)
    if npre < 1:
        raise EstimationError("the fixed-length interval needs at least one pre-period coefficient")
    prob = _Problem(np.asarray(sigma, dtype=float), npre, l_vec)
    w_h0 = np.zeros(npre)
    w_h0[-1] = prob.target
    h0 = np.sqrt(prob.var(w_h0))
    h_min = np.sqrt(max(prob.var(prob.w_min), 0.0))

    def f(h: float) -> float:
        bias, _ = prob.min_bias(h)
        if not np.isfinite(bias):
            return np.nan
        return qfoldednormal(1 - alpha, M * bias / h, seed=seed) * h

    h_star = _derivative_bisection(f, h_min, h0, num_points)
    if np.isnan(h_star):  # HonestDiD falls back to a grid over h
        grid = np.linspace(h_min, h0, num_points)
        vals = np.array([f(h) for h in grid])
        if not np.isfinite(vals).any():
            raise EstimationError("the fixed-length interval could not be optimised (no feasible h)")
        h_star = float(grid[np.nanargmin(vals)])
    bias, w = prob.min_bias(h_star)
    half = qfoldednormal(1 - alpha, M * bias / h_star, seed=seed) * h_star
    v = np.concatenate([prob.L @ w, l_vec])
    return Flci(v=v, half_length=float(half), h=float(h_star), max_bias=float(M * bias))


def _derivative_bisection(f, a: float, b: float, num_points: int) -> float:
    """Minimise the convex half-length ``f`` on ``[a, b]`` by bisection on its numerical
    derivative (HonestDiD's step size, failure checks and iteration limit); nan on failure."""
    eps = np.finfo(float).eps
    failtol = np.sqrt(eps)
    dif = min((b - a) / num_points, abs(b) * eps ** (1 / 3))
    if not dif > 0:
        return a
    fa, fb = f(a), f(b)
    fpa = (f(a + dif) - fa) / dif
    fpb = (f(b - dif) - fb) / -dif
    maxiter = 10 * int(np.ceil(np.log(abs(b - a) / dif) / np.log(2)))
    if fpa > fpb or np.isnan(fa) or np.isnan(fb):
        return np.nan
    if fpb < 0:
        return b
    if fpa > 0:
        return a
    it = 1
    while abs(b - a) > dif:
        it += 1
        x = (a + b) / 2
        fpx = (f(x + dif) - f(x - dif)) / (2 * dif)
        if fpx > fpb + failtol or fpx + failtol < fpa or it > maxiter:
            return np.nan
        if fpx > 0:
            b = x
        else:
            a = x
    return (a + b) / 2

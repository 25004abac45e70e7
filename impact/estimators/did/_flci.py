"""Optimal fixed-length confidence interval (FLCI) under smoothness restrictions.

Rambachan and Roth (2023), section 4.1, after Armstrong and Kolesár: among affine estimators
``theta_hat = v'beta_hat`` with ``v = (v_pre, l)``, choose the one whose interval
``v'beta_hat -/+ chi`` is shortest while covering ``theta = l'tau_post`` for every trend
``delta`` in ``Delta^SD(M)`` (second differences at most ``M``). With ``w`` the weights on the
pre-period first differences (``v_pre`` = their differences), the worst-case bias is
``M * b(w)``, ``b(w) = const + sum_j |w_1 + ... + w_j|`` (``sum(w) = sum_t t l_t`` keeps the
bias finite), and ``chi = q_{1-alpha}(|N(M b / h, 1)|) h`` at standard deviation ``h``.

For a given ``h`` the smallest bias is a second-order cone program (solved with Clarabel);
``h`` is chosen by HonestDiD's bisection on the numerical derivative of the half-length,
with its grid search as fallback, and the folded-normal quantile is HonestDiD's simulated
one (R's draws, see :mod:`impact.estimators._rstream`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

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
        R = np.linalg.cholesky(self.Q + 1e-300 * np.eye(npre)).T  # Q = R'R
        self.R = R
        self.r = np.linalg.solve(R.T, self.c / 2)  # w'Qw + c'w = |Rw + r|^2 - r'r
        self.w_min = self._min_variance_w()

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
        """Smallest worst-case bias (per unit M) of an estimator with standard deviation <= h."""
        import clarabel

        K = self.K
        h_min = np.sqrt(max(self.var(self.w_min), 0.0))
        if h <= h_min * (1 + 1e-10):
            return self.bias(self.w_min), self.w_min
        tau2 = h * h - self.c0 + float(self.r @ self.r)
        lower = np.tril(np.ones((K, K)))
        # x = (U, w): minimise sum(U) s.t. sum(w) = target, |cumsum(w)| <= U, |R w + r| <= sqrt(tau2)
        A = sp.vstack([
            sp.hstack([sp.csc_matrix((1, K)), sp.csc_matrix(np.ones((1, K)))]),
            sp.hstack([-sp.eye(K), sp.csc_matrix(lower)]),
            sp.hstack([-sp.eye(K), sp.csc_matrix(-lower)]),
            sp.csc_matrix((1, 2 * K)),
            sp.hstack([sp.csc_matrix((K, K)), sp.csc_matrix(self.R)]),
        ]).tocsc()
        b = np.concatenate([[self.target], np.zeros(2 * K), [np.sqrt(tau2)], -self.r])
        q = np.concatenate([np.ones(K), np.zeros(K)])
        cones = [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(2 * K), clarabel.SecondOrderConeT(K + 1)]
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-11
        sol = clarabel.DefaultSolver(sp.csc_matrix((2 * K, 2 * K)), q, A, b, cones, settings).solve()
        if str(sol.status) not in ("Solved", "AlmostSolved"):
            return np.inf, self.w_min
        w = np.asarray(sol.x)[K:]
        return self.bias(w), w


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

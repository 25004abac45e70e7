"""Conditional and hybrid moment-inequality tests over a grid of the target parameter.

Andrews, Roth and Pakes (2023, "Inference for linear conditional moment inequalities") as
used by Rambachan and Roth (2023) and their R package ``HonestDiD``: the hypothesis that the
target ``theta`` takes a value means that the moments ``y(theta) = A beta_hat - d - a theta``
satisfy ``E[y] <= X delta`` for some nuisance ``delta``. The test statistic is

    eta = min_{eta, delta} eta   s.t.   y - X delta <= eta * sd(y),

whose dual is ``max lambda'y`` over the polytope ``{lambda >= 0, sd'lambda = 1, X'lambda = 0}``.
The polytope does not depend on ``theta``: this module keeps one simplex tableau of it
(compiled with numba) and re-optimises it, warm-started, for every value of ``theta`` on the
grid and every draw of the least-favourable simulation. From the optimal vertex follow the
conditional (truncated normal) critical value of ARP and, for the hybrid, the least-favourable
first stage.

The statistics and the rules that choose between them (primal when the optimal vertex has
exactly ``k + 1`` binding moments of full rank, otherwise the dual bisection for the
truncation points) follow ``HonestDiD`` so that the confidence sets agree with it on the
same grid.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from impact.estimators import _rstream

from impact.estimators._numba import njit


TOL_LAMBDA = 1e-6  # a moment binds when its multiplier exceeds this (HonestDiD's rule)


# --------------------------------------------------------------------------- simplex core
@njit(cache=True)
def _pivot(T: np.ndarray, alive: np.ndarray, r: int, j: int) -> None:
    T[r, :] /= T[r, j]
    for i in range(T.shape[0]):
        if i != r and alive[i] and T[i, j] != 0.0:
            T[i, :] -= T[i, j] * T[r, :]


@njit(cache=True)
def _optimize(T: np.ndarray, basis: np.ndarray, alive: np.ndarray, inbasis: np.ndarray, c: np.ndarray,
              ncols: int, max_iter: int) -> int:
    """Maximise ``c'x`` from the current basic feasible solution; 0 optimal, 1 unbounded, 2 stalled.

    Dantzig's entering rule, Bland's after 50 degenerate pivots in a row (no cycling).
    """
    p = T.shape[0]
    rhs = T.shape[1] - 1
    scale = 1.0
    for j in range(ncols):
        scale = max(scale, abs(c[j]))
    tol = 1e-11 * scale
    degenerate = 0
    for _ in range(max_iter):
        enter = -1
        best = tol
        for j in range(ncols):
            if inbasis[j]:
                continue
            d = c[j]
            for r in range(p):
                if alive[r]:
                    d -= c[basis[r]] * T[r, j]
            if d > best:
                enter = j
                best = d
                if degenerate > 50:  # Bland: first improving column
                    break
        if enter < 0:
            return 0
        leave = -1
        ratio = np.inf
        for r in range(p):
            if alive[r] and T[r, enter] > 1e-12:
                q = T[r, rhs] / T[r, enter]
                if q < ratio - 1e-15 or (q <= ratio + 1e-15 and leave >= 0 and basis[r] < basis[leave]):
                    ratio = q
                    leave = r
        if leave < 0:
            return 1
        degenerate = degenerate + 1 if ratio <= 1e-15 else 0
        inbasis[basis[leave]] = False
        basis[leave] = enter
        inbasis[enter] = True
        _pivot(T, alive, leave, enter)
    return 2


@njit(cache=True)
def _phase1(E: np.ndarray, b: np.ndarray):
    """Feasible basis of ``{x >= 0 : E x = b}`` (``b >= 0``); artificial columns follow ``x``."""
    p, m = E.shape
    T = np.zeros((p, m + p + 1))
    T[:, :m] = E
    for r in range(p):
        T[r, m + r] = 1.0
    T[:, -1] = b
    basis = np.arange(m, m + p)
    alive = np.ones(p, dtype=np.bool_)
    inbasis = np.zeros(m + p, dtype=np.bool_)
    inbasis[m:] = True
    c = np.zeros(m + p)
    c[m:] = -1.0
    _optimize(T, basis, alive, inbasis, c, m, 50 * (m + p))
    infeas = 0.0
    for r in range(p):
        if basis[r] >= m:
            infeas += T[r, -1]
    if infeas > 1e-9 * max(1.0, np.abs(b).max()):
        return T, basis, alive, inbasis, False
    for r in range(p):  # drive artificial columns out of the basis (their level is zero)
        if basis[r] >= m:
            j_best = -1
            v_best = 1e-9
            for j in range(m):
                if not inbasis[j] and abs(T[r, j]) > v_best:
                    v_best = abs(T[r, j])
                    j_best = j
            if j_best < 0:  # redundant constraint
                alive[r] = False
            else:
                inbasis[basis[r]] = False
                basis[r] = j_best
                inbasis[j_best] = True
                _pivot(T, alive, r, j_best)
    return T, basis, alive, inbasis, True


@njit(cache=True)
def _sweep(T, basis, alive, inbasis, C: np.ndarray, m: int, X_out: np.ndarray) -> np.ndarray:
    """Maximise each row of ``C`` over the polytope, warm-starting each from the last optimum.

    Returns the optimal values (``+inf`` unbounded, ``nan`` stalled) and writes the optimal
    vertices into ``X_out``.
    """
    n = C.shape[0]
    p = T.shape[0]
    vals = np.empty(n)
    c = np.zeros(T.shape[1] - 1)
    for i in range(n):
        c[:m] = C[i]
        status = _optimize(T, basis, alive, inbasis, c, m, 20 * (m + p) + 100)
        X_out[i, :] = 0.0
        if status == 1:
            vals[i] = np.inf
            continue
        if status == 2:
            vals[i] = np.nan
            continue
        v = 0.0
        for r in range(p):
            if alive[r] and basis[r] < m:
                X_out[i, basis[r]] = T[r, -1]
                v += c[basis[r]] * T[r, -1]
        vals[i] = v
    return vals


class DualPolytope:
    """``{lambda >= 0 : sd'lambda = 1, X'lambda = 0}``, the dual feasible set of the ARP program.

    Internally the multipliers are scaled, ``mu = sd * lambda`` (so the first constraint is
    ``sum(mu) = 1``); :meth:`maximize` takes objectives in ``lambda``-space and returns
    ``lambda``.
    """

    def __init__(self, sd: np.ndarray, X: np.ndarray):
        self.sd = np.asarray(sd, dtype=float)
        X = np.asarray(X, dtype=float).reshape(len(self.sd), -1)
        E = np.vstack([np.ones(len(sd)), (X / self.sd[:, None]).T])
        b = np.zeros(E.shape[0])
        b[0] = 1.0
        self.m = len(sd)
        self.T, self.basis, self.alive, self.inbasis, self.feasible = _phase1(np.ascontiguousarray(E), b)

    def maximize(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Max of ``lambda'y`` for each row ``y`` of ``Y``: (values, optimal lambdas).

        Infeasible polytope (the primal is unbounded below): values ``-inf``.
        """
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        if not self.feasible:
            return np.full(len(Y), -np.inf), np.zeros_like(Y)
        mu = np.zeros_like(Y)
        vals = _sweep(self.T, self.basis, self.alive, self.inbasis, np.ascontiguousarray(Y / self.sd), self.m, mu)
        return vals, mu / self.sd


# --------------------------------------------------------------------------- least favourable
def lf_cv_nuisance(X: np.ndarray, sigma: np.ndarray, kappa: float, sims: int = 1000, seed: int = 0) -> float:
    """Least-favourable critical value with nuisance parameters (ARP section 6.2): the
    ``1 - kappa`` quantile of ``eta`` when the moments are mean-zero normal draws (R's draws).

    Only the largest few ``eta`` decide the quantile, so the linear programs are solved in
    decreasing order of a cheap upper bound (``delta`` from a weighted least-squares fit) and
    stop once the bound falls below the ranks that matter; the value equals solving all.
    """
    xi = _rstream.rmvnorm(seed, sims, sigma)  # the moments are the draws themselves, as in HonestDiD
    sd = np.sqrt(np.diag(sigma))
    X = np.asarray(X, dtype=float).reshape(len(sd), -1)
    poly = DualPolytope(sd, X)
    n = len(xi)
    pos = (n - 1) * (1 - kappa)
    need = n - int(np.floor(pos))  # ranks from the top that enter the type-7 quantile
    if not poly.feasible:
        return -np.inf
    Xw = X / sd[:, None]
    try:  # (k, n) weighted least squares
        delta = np.linalg.solve(Xw.T @ Xw, Xw.T @ (xi / sd).T)
    except np.linalg.LinAlgError:
        delta = np.linalg.pinv(Xw.T @ Xw) @ (Xw.T @ (xi / sd).T)
    upper = ((xi / sd) - (Xw @ delta).T).max(axis=1)
    order = np.argsort(-upper, kind="stable")
    eta = np.full(n, -np.inf)
    done = 0
    chunk = max(need * 4, 16)
    while done < n:
        idx = order[done:done + chunk]
        vals, _ = poly.maximize(xi[idx])
        eta[idx] = np.where(np.isfinite(vals), vals, np.nan)
        done += len(idx)
        top = np.sort(eta[np.isfinite(eta)])[::-1]
        if done < n and len(top) >= need and upper[order[done]] < top[need - 1]:
            break  # every remaining draw has eta <= its bound < the smallest rank that matters
    if done < n:  # the unsolved draws only fill the lower ranks: any value below the threshold works
        rest = order[done:]
        eta[rest] = upper[rest]
    eta = eta[~np.isnan(eta)]
    return float(np.quantile(eta, 1 - kappa))


def lf_cv_no_nuisance(sigma: np.ndarray, kappa: float, sims: int = 1000, seed: int = 0) -> float:
    """Least-favourable critical value without nuisance parameters: the ``1 - kappa`` quantile
    of the largest standardised moment under mean-zero normal draws."""
    xi = _rstream.rmvnorm(seed, sims, sigma) / np.sqrt(np.diag(sigma))
    return float(np.quantile(xi.max(axis=1), 1 - kappa))


def truncnorm_quantile(p: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``p``-quantile of the standard normal truncated to ``[lo, hi]`` (elementwise)."""
    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    out = np.full(lo.shape, np.nan)
    ok = lo < hi
    if ok.any():
        out[ok] = stats.truncnorm.ppf(p, lo[ok], hi[ok])
    eq = lo == hi
    out[eq] = lo[eq]
    return out


# --------------------------------------------------------------------------- test with nuisance
@njit(cache=True)
def _lp_max(T, basis, alive, inbasis, cvec, m, lam_out) -> float:
    """One warm-started maximisation (objective in mu-space); writes mu into ``lam_out``."""
    p = T.shape[0]
    c = np.zeros(T.shape[1] - 1)
    c[:m] = cvec
    status = _optimize(T, basis, alive, inbasis, c, m, 20 * (m + p) + 100)
    lam_out[:] = 0.0
    if status != 0:
        return np.nan
    v = 0.0
    for r in range(p):
        if alive[r] and basis[r] < m:
            lam_out[basis[r]] = T[r, -1]
            v += c[basis[r]] * T[r, -1]
    return v


@njit(cache=True)
def _dual_check(T, basis, alive, inbasis, sd, s, b, c, m, mu) -> bool:
    """Is ``c`` a fixed point of ``max_lambda (s + b c)'lambda``? (the vertex goes to ``mu``)"""
    val = _lp_max(T, basis, alive, inbasis, (s + b * c) / sd, m, mu)
    return abs(c - val) <= 1e-6


@njit(cache=True)
def _dual_shortcut(mu, sd, s, b) -> float:
    num = 0.0
    den = 0.0
    for i in range(len(mu)):
        num += mu[i] / sd[i] * s[i]
        den += mu[i] / sd[i] * b[i]
    if abs(num) < 2.220446049250313e-16 ** 0.75:
        num = 0.0
    return num / (1.0 - den)


@njit(cache=True)
def _dual_bounds(T, basis, alive, inbasis, sd, s, b, eta, sigma_b, m):
    """Truncation points (vlo, vup) of the statistic when the optimal vertex is degenerate.

    ARP's Appendix D: ``c`` is a truncation point when ``c`` itself solves
    ``max_lambda (s + b c)'lambda`` (``b = Sigma gamma / gamma'Sigma gamma``, ``s`` the part of
    ``y`` orthogonal to it); the largest and smallest such ``c`` are found by the fixed-point
    shortcut, then bisection, with HonestDiD's tolerances (1e-6) and iteration limits.
    """
    tol_c, maxiters, switchiters = 1e-6, 10000, 10
    mu = np.zeros(m)
    if not _dual_check(T, basis, alive, inbasis, sd, s, b, eta, m, mu):
        return eta, np.inf
    out = np.empty(2)
    for side in range(2):  # 0: vlo, 1: vup
        upper = side == 1
        start = max(100.0, eta + 20 * sigma_b) if upper else min(-100.0, eta - 20 * sigma_b)
        if _dual_check(T, basis, alive, inbasis, sd, s, b, start, m, mu):
            out[side] = np.inf if upper else -np.inf
            continue
        dif = 0.0
        iters = 1
        mid = _dual_shortcut(mu, sd, s, b)
        while not _dual_check(T, basis, alive, inbasis, sd, s, b, mid, m, mu) and iters < maxiters:
            iters += 1
            if iters >= switchiters:
                dif = tol_c + 1
                break
            mid = _dual_shortcut(mu, sd, s, b)
        if upper:
            lo, hi = eta, mid
        else:
            lo, hi = mid, eta
        while dif > tol_c and iters < maxiters:
            iters += 1
            mid = (lo + hi) / 2
            if _dual_check(T, basis, alive, inbasis, sd, s, b, mid, m, mu) == upper:
                lo = mid
            else:
                hi = mid
            dif = hi - lo
        out[side] = mid
    return out[0], out[1]


def _dual_truncation(poly: "DualPolytope", eta: float, y: np.ndarray, gamma: np.ndarray, sigma: np.ndarray
                     ) -> tuple[float, float]:
    gsg = float(gamma @ sigma @ gamma)
    b = sigma @ gamma / gsg
    s = y - b * float(gamma @ y)
    return _dual_bounds(poly.T, poly.basis, poly.alive, poly.inbasis, poly.sd, np.ascontiguousarray(s),
                        np.ascontiguousarray(b), float(eta), float(np.sqrt(gsg)), poly.m)


def nuisance_test_grid(y0: np.ndarray, a: np.ndarray, X: np.ndarray, sigma: np.ndarray, thetas: np.ndarray,
                       alpha: float, hybrid: str, kappa: float, lf_cv: float | None) -> np.ndarray:
    """Acceptance (1) or rejection (0) of ``theta`` for every grid value: the ARP test of
    ``E[y0 - a theta] <= X delta`` (``hybrid`` "ARP": conditional; "LF": least-favourable hybrid).

    All arguments are already restricted to the moments the test uses.
    """
    sd = np.sqrt(np.diag(sigma))
    X = np.asarray(X, dtype=float).reshape(len(y0), -1)
    k = X.shape[1]
    poly = DualPolytope(sd, X)
    Y = y0[None, :] - thetas[:, None] * a[None, :]
    eta, lam = poly.maximize(Y)
    size = alpha if hybrid == "ARP" else (alpha - kappa) / (1 - kappa)
    accept = np.ones(len(thetas))
    undecided = np.isfinite(eta)  # LP failure: HonestDiD does not reject
    if hybrid == "LF":
        first = undecided & (eta > lf_cv)
        accept[first] = 0.0
        undecided &= ~first
    binding = lam > TOL_LAMBDA
    zlo = np.full(len(thetas), np.nan)
    zup = np.full(len(thetas), np.nan)
    stat = np.full(len(thetas), np.nan)
    idx_all = np.flatnonzero(undecided)
    if idx_all.size:
        # runs of grid values with the same binding moments (the optimal vertex changes at a few points)
        b = binding[idx_all]
        starts = np.flatnonzero(np.concatenate([[True], (b[1:] != b[:-1]).any(axis=1) | (np.diff(idx_all) > 1)]))
        for r, st in enumerate(starts):  # a handful of runs
            idx = idx_all[st:starts[r + 1] if r + 1 < len(starts) else len(idx_all)]
            B = binding[idx[0]]
            WB = np.column_stack([sd[B], X[B]])
            # R's primal condition: k + 1 binding moments whose X rows have rank k (then [sd, X] is invertible)
            primal = B.sum() == k + 1 and np.linalg.cond(WB) < 1e12 and (k == 0 or np.linalg.matrix_rank(X[B]) == k)
            if primal:
                Wc = np.column_stack([sd[~B], X[~B]])
                v = np.zeros(len(sd))
                v[B] = np.linalg.solve(WB.T, np.eye(k + 1)[0])
                var_b = float(v @ sigma @ v)
                sb = np.sqrt(var_b)
                G = np.zeros((int((~B).sum()), len(sd)))  # Gamma_B y = Wc WB^{-1} y_B - y_Bc
                G[:, B] = Wc @ np.linalg.inv(WB)
                G[:, ~B] -= np.eye(int((~B).sum()))
                rho = G @ sigma @ v / var_b
                Yg = Y[idx]
                with np.errstate(divide="ignore", invalid="ignore"):  # rho = 0 rows are never used
                    bounds = -(Yg @ G.T) / rho[None, :] + (Yg @ v)[:, None]
                vlo = np.where(rho[None, :] > 0, bounds, -np.inf).max(axis=1) if (rho > 0).any() else np.full(len(idx), -np.inf)
                vup = np.where(rho[None, :] < 0, bounds, np.inf).min(axis=1) if (rho < 0).any() else np.full(len(idx), np.inf)
                if hybrid == "LF":
                    vup = np.minimum(vup, lf_cv)
                zlo[idx], zup[idx], stat[idx] = vlo / sb, vup / sb, eta[idx] / sb
            else:
                for i in idx:  # degenerate vertex: truncation points by the dual bisection
                    gam = lam[i]
                    var_b = float(gam @ sigma @ gam)
                    if abs(var_b) < np.finfo(float).eps:
                        accept[i] = 0.0 if eta[i] > 0 else 1.0
                        undecided[i] = False
                        continue
                    sb = np.sqrt(var_b)
                    vlo, vup = _dual_truncation(poly, float(eta[i]), Y[i], gam, sigma)
                    if hybrid == "LF":
                        vup = min(vup, lf_cv)
                    zlo[i], zup[i], stat[i] = vlo / sb, vup / sb, eta[i] / sb
    test = undecided & (zlo <= stat) & (stat <= zup)  # outside the truncation: not rejected
    if test.any():
        cval = np.maximum(0.0, truncnorm_quantile(1 - size, zlo[test], zup[test]))
        accept[test] = np.where(stat[test] > cval, 0.0, 1.0)
    return accept


# --------------------------------------------------------------------------- test without nuisance
def no_nuisance_test_grid(beta: np.ndarray, sigma: np.ndarray, A: np.ndarray, d: np.ndarray, e: np.ndarray,
                          thetas: np.ndarray, alpha: float, hybrid: str, kappa: float, lf_cv: float | None
                          ) -> np.ndarray:
    """Acceptance of ``theta`` when the target is one coefficient (``y = beta - e theta``) and
    ``A delta <= d`` has no nuisance: the conditional test on the largest standardised moment
    (Andrews, Roth and Pakes), optionally with the least-favourable first stage."""
    sA = np.sqrt(np.einsum("ij,jk,ik->i", A, sigma, A))
    At = A / sA[:, None]
    dt = d / sA
    Y = beta[None, :] - thetas[:, None] * e[None, :]
    moments = Y @ At.T - dt[None, :]
    jmax = moments.argmax(axis=1)
    mmax = moments[np.arange(len(thetas)), jmax]
    size = alpha if hybrid == "ARP" else (alpha - kappa) / (1 - kappa)
    accept = np.ones(len(thetas))
    live = np.ones(len(thetas), dtype=bool)
    if hybrid == "LF":
        live = mmax <= lf_cv
        accept[~live] = 0.0
    for j in np.unique(jmax[live]):  # one block per binding moment
        idx = np.flatnonzero(live & (jmax == j))
        g = At[j]
        gsg = float(g @ sigma @ g)
        c = sigma @ g / gsg
        Abar = At - At[j][None, :]
        dbar = dt - dt[j]
        Z = Y[idx] - np.outer(Y[idx] @ g, c)
        Ac = Abar @ c
        obj = (dbar[None, :] - Z @ Abar.T) / np.where(Ac == 0, np.nan, Ac)[None, :]
        vlo = np.where(Ac[None, :] < 0, obj, -np.inf).max(axis=1)
        vup = np.where(Ac[None, :] > 0, obj, np.inf).min(axis=1)
        sb = np.sqrt(gsg)
        mu = dt[j]
        crit = np.maximum(0.0, mu + sb * truncnorm_quantile(1 - size, (vlo - mu) / sb, (vup - mu) / sb))
        accept[idx] = np.where(mmax[idx] + dt[j] > crit, 0.0, 1.0)
    return accept

"""Numerical core of the synthetic control method.

Two nested problems (Abadie and Gardeazabal 2003; Abadie, Diamond and Hainmueller 2010):

* inner: for predictor weights ``v`` (a diagonal ``V`` on the simplex), the donor weights
  ``w(v) = argmin_w (x1 - X0 w)' V (x1 - X0 w)`` subject to ``w >= 0, sum(w) = 1``;
* outer: ``v* = argmin_v  mean_t (z1_t - Z0_t w(v))^2`` over the fit window.

The inner problem is solved exactly by a primal active-set method for simplex-constrained
least squares (Lawson-Hanson with the sum-to-one row kept as an equality constraint), compiled
with numba when it is available. The outer problem is multimodal, so it is searched by a
compiled Nelder-Mead from several starts (equal weights, the regression-based start of R
``Synth``, random Dirichlet draws), each restarted from its optimum while that improves, and
the best is kept. Predictor weights are bounded below by ``vmin`` (see :func:`fit_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # numba ships with the locked environment (via dowhy/econml); fall back to plain Python
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba

    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


@njit(cache=True)
def _solve_kkt(K: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(K, rhs)
    except Exception:  # exactly singular (duplicate donors): least squares
        return np.linalg.lstsq(K, rhs)[0]


@njit(cache=True)
def _active_set(A: np.ndarray, b: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Primal active-set iterations from a feasible ``w`` (on the simplex); returns the optimum.

    The passive set ``P`` (the support of ``w``) holds the positive weights; on ``P`` the
    equality-constrained least-squares problem is solved through its KKT system
    ``[[A_P'A_P, 1], [1', 0]] [z; mu] = [A_P'b; 1]``; an infeasible ``z`` is approached only
    as far as the simplex allows (donors reaching zero leave ``P``); a donor enters ``P``
    while its KKT multiplier ``g_j - g_P`` (``g = A'(Aw - b) + lam w``) is negative.
    ``lam`` is a tiny ridge that makes the solution unique (see :func:`simplex_lsq`).
    """
    k, J = A.shape
    P = w > 0.0
    scale = 0.0
    for i in range(k):
        for j in range(J):
            scale = max(scale, abs(A[i, j]))
    scale = max(scale, 1e-300)
    tol = 1e-11 * scale * scale * max(k, 1)
    idx = np.empty(J, dtype=np.int64)
    r = np.empty(k)
    just_added = -1
    for _outer in range(4 * J + 20):
        for _inner in range(J + 2):
            m = 0
            for j in range(J):
                if P[j]:
                    idx[m] = j
                    m += 1
            K = np.empty((m + 1, m + 1))
            rhs = np.empty(m + 1)
            tr = 0.0
            for a in range(m):
                ja = idx[a]
                for c in range(a, m):
                    jc = idx[c]
                    acc = 0.0
                    for i in range(k):
                        acc += A[i, ja] * A[i, jc]
                    K[a, c] = acc
                    K[c, a] = acc
                tr += K[a, a]
                acc = 0.0
                for i in range(k):
                    acc += A[i, ja] * b[i]
                rhs[a] = acc
                K[a, m] = 1.0
                K[m, a] = 1.0
            K[m, m] = 0.0
            rhs[m] = 1.0
            ridge = lam + 1e-13 * (tr / m + 1e-300)
            for a in range(m):
                K[a, a] += ridge
            z = _solve_kkt(K, rhs)
            feasible = True
            for a in range(m):
                if not z[a] > 0.0:
                    feasible = False
            if feasible:
                for a in range(m):
                    w[idx[a]] = z[a]
                break
            if just_added >= 0 and m > 1:
                # the entering donor is not positive at the new optimum: numerically optimal
                drop = False
                for a in range(m):
                    if idx[a] == just_added and not z[a] > 0.0:
                        drop = True
                if drop:
                    P[just_added] = False
                    w[just_added] = 0.0
                    just_added = -1
                    continue
            alpha = 1.0
            for a in range(m):
                if not z[a] > 0.0:
                    wa = w[idx[a]]
                    step = wa / (wa - z[a])
                    if step < alpha:
                        alpha = step
            tot = 0.0
            for a in range(m):
                ja = idx[a]
                w[ja] += alpha * (z[a] - w[ja])
                if w[ja] <= 1e-14:
                    w[ja] = 0.0
                    P[ja] = False
                tot += w[ja]
            for a in range(m):
                w[idx[a]] /= tot
            just_added = -1
        just_added = -1
        for i in range(k):
            acc = -b[i]
            for a in range(m):
                acc += A[i, idx[a]] * w[idx[a]]
            r[i] = acc
        gp = 0.0
        for a in range(m):
            acc = 0.0
            for i in range(k):
                acc += A[i, idx[a]] * r[i]
            gp += acc + lam * w[idx[a]]
        gp /= m
        enter = -1
        most = -tol
        for j in range(J):
            if not P[j]:
                acc = 0.0
                for i in range(k):
                    acc += A[i, j] * r[i]
                mult = acc - gp
                if mult < most:
                    most = mult
                    enter = j
        if enter < 0:
            break
        P[enter] = True
        just_added = enter
    tot = w.sum()
    return w / tot


@njit(cache=True)
def simplex_lsq(A: np.ndarray, b: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """Exact solution of ``min ||A w - b||^2 + lam ||w||^2`` s.t. ``w >= 0``, ``sum(w) = 1``.

    ``lam = ridge * trace(A'A) / J`` is tiny: it leaves well-posed problems unchanged to
    working precision but picks the minimum-norm solution when several weight vectors fit the
    predictors equally (more donors than predictors), as an interior-point solver (R
    ``Synth``'s ``ipop``) picks a central one. Without it the outer search can exploit an
    arbitrary choice among tied inner solutions. Starts from the best single column (a
    vertex of the simplex); see :func:`_active_set`.
    """
    k, J = A.shape
    tr = 0.0
    for i in range(k):
        for j in range(J):
            tr += A[i, j] * A[i, j]
    lam = ridge * tr / J
    w = np.zeros(J)
    best = 0
    best_val = np.inf
    for j in range(J):
        s = 0.0
        for i in range(k):
            d = A[i, j] - b[i]
            s += d * d
        if s < best_val:
            best_val = s
            best = j
    w[best] = 1.0
    if J == 1:
        return w
    return _active_set(A, b, w, lam)


@njit(cache=True)
def _outer_loss(
    v: np.ndarray, Xs: np.ndarray, x1: np.ndarray, Z0: np.ndarray, z1: np.ndarray, w: np.ndarray, ridge: float
) -> float:
    """Fit-window MSPE of the synthetic control at predictor weights ``v``; ``w`` receives W(v).

    The inner problem always starts from the same vertex rule (no warm start): near the
    optimum it is often degenerate (several exact fits), and a history-dependent choice among
    them makes the outer loss noisy for the search.
    """
    k, J = Xs.shape
    A = np.empty((k, J))
    b = np.empty(k)
    for i in range(k):
        sv = np.sqrt(v[i])
        b[i] = x1[i] * sv
        for j in range(J):
            A[i, j] = Xs[i, j] * sv
    w[:] = simplex_lsq(A, b, ridge)
    r = z1 - Z0 @ w
    return float(r @ r) / z1.size


@njit(cache=True)
def _loss_at(
    x: np.ndarray, Xs: np.ndarray, x1: np.ndarray, Z0: np.ndarray, z1: np.ndarray, w: np.ndarray,
    ridge: float, vmin: float,
) -> float:
    a = np.abs(x)
    s = a.sum()
    if not s > 0.0:
        return np.inf
    return _outer_loss(vmin + (1.0 - vmin * x.size) * a / s, Xs, x1, Z0, z1, w, ridge)


@njit(cache=True)
def nelder_mead(
    x0: np.ndarray, Xs: np.ndarray, x1: np.ndarray, Z0: np.ndarray, z1: np.ndarray,
    w0: np.ndarray, maxfev: int, xatol: float, fatol: float, adaptive: bool, ridge: float, vmin: float,
):
    """Compiled Nelder-Mead (scipy's variant) on the outer loss at ``v = |x| / sum|x|``.

    Returns ``(x, f, w, n_evaluations)`` with ``w`` the donor weights at the best point.
    """
    n = x0.size
    if adaptive:
        rho, chi, psi, sigma = 1.0, 1.0 + 2.0 / n, 0.75 - 1.0 / (2.0 * n), 1.0 - 1.0 / n
    else:
        rho, chi, psi, sigma = 1.0, 2.0, 0.5, 0.5
    wk = w0.copy()
    sim = np.empty((n + 1, n))
    fsim = np.empty(n + 1)
    wsim = np.empty((n + 1, w0.size))
    sim[0] = x0
    for k in range(n):
        y = x0.copy()
        y[k] = y[k] * 1.05 if y[k] != 0.0 else 0.00025
        sim[k + 1] = y
    for k in range(n + 1):
        fsim[k] = _loss_at(sim[k], Xs, x1, Z0, z1, wk, ridge, vmin)
        wsim[k] = wk
    fcalls = n + 1
    order = np.argsort(fsim)
    sim, fsim, wsim = sim[order], fsim[order], wsim[order]
    while fcalls < maxfev:
        xspread = 0.0
        fspread = 0.0
        for k in range(1, n + 1):
            fspread = max(fspread, abs(fsim[0] - fsim[k]))
            for j in range(n):
                xspread = max(xspread, abs(sim[k, j] - sim[0, j]))
        if xspread <= xatol and fspread <= fatol:
            break
        xbar = np.zeros(n)
        for k in range(n):
            xbar += sim[k]
        xbar /= n
        xr = (1.0 + rho) * xbar - rho * sim[n]
        fxr = _loss_at(xr, Xs, x1, Z0, z1, wk, ridge, vmin)
        wr = wk.copy()
        fcalls += 1
        shrink = False
        if fxr < fsim[0]:
            xe = (1.0 + rho * chi) * xbar - rho * chi * sim[n]
            fxe = _loss_at(xe, Xs, x1, Z0, z1, wk, ridge, vmin)
            fcalls += 1
            if fxe < fxr:
                sim[n], fsim[n], wsim[n] = xe, fxe, wk
            else:
                sim[n], fsim[n], wsim[n] = xr, fxr, wr
        elif fxr < fsim[n - 1]:
            sim[n], fsim[n], wsim[n] = xr, fxr, wr
        elif fxr < fsim[n]:
            xc = (1.0 + psi * rho) * xbar - psi * rho * sim[n]
            fxc = _loss_at(xc, Xs, x1, Z0, z1, wk, ridge, vmin)
            fcalls += 1
            if fxc <= fxr:
                sim[n], fsim[n], wsim[n] = xc, fxc, wk
            else:
                shrink = True
        else:
            xcc = (1.0 - psi) * xbar + psi * sim[n]
            fxcc = _loss_at(xcc, Xs, x1, Z0, z1, wk, ridge, vmin)
            fcalls += 1
            if fxcc < fsim[n]:
                sim[n], fsim[n], wsim[n] = xcc, fxcc, wk
            else:
                shrink = True
        if shrink:
            for k in range(1, n + 1):
                sim[k] = sim[0] + sigma * (sim[k] - sim[0])
                fsim[k] = _loss_at(sim[k], Xs, x1, Z0, z1, wk, ridge, vmin)
                wsim[k] = wk
                fcalls += 1
        order = np.argsort(fsim)
        sim, fsim, wsim = sim[order], fsim[order], wsim[order]
    return sim[0].copy(), fsim[0], wsim[0].copy(), fcalls


def _v_from_x(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    s = a.sum()
    return a / s if s > 0 else np.full(a.size, 1.0 / a.size)


def standardize_predictors(X: np.ndarray) -> np.ndarray:
    """Divide each predictor row by its standard deviation across the units (as R ``Synth``).

    ``X`` is ``k x n`` (predictors by units: the treated unit and its donors).
    """
    sd = X.std(axis=1, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    return X / sd[:, None]


def regression_start(Xs: np.ndarray, Z: np.ndarray) -> np.ndarray | None:
    """R ``Synth``'s regression-based start: diag(B B') of the OLS of outcomes on predictors.

    ``Xs`` is ``k x n`` (scaled predictors, all units), ``Z`` is ``T x n`` (fit-window outcomes).
    """
    n = Xs.shape[1]
    D = np.column_stack([np.ones(n), Xs.T])
    beta, *_ = np.linalg.lstsq(D, Z.T, rcond=None)
    beta = beta[1:]
    sv = np.einsum("kt,kt->k", beta, beta)
    if not np.all(np.isfinite(sv)) or sv.sum() <= 0:
        return None
    return sv / sv.sum()


@dataclass
class WeightFit:
    """Result of one nested fit."""

    w: np.ndarray  # donor weights (J,)
    v: np.ndarray  # predictor weights (k,), sum to one
    loss_v: float  # fit-window outcome MSPE
    loss_w: float  # V-weighted predictor discrepancy (scaled predictors)
    n_evals: int
    starts: list[tuple[str, float]]  # (start name, loss reached)


def fit_weights(
    X: np.ndarray,
    Z: np.ndarray,
    treated: int,
    donors: np.ndarray,
    v: np.ndarray | None = None,
    n_random: int = 4,
    rng: np.random.Generator | int | None = 0,
    maxfev: int | None = None,
    xatol: float = 1e-5,
    fatol: float = 1e-8,
    ridge: float = 0.0,
    vmin: float = 1e-5,
) -> WeightFit:
    """Nested synthetic-control fit for one treated column.

    Parameters
    ----------
    X : (k, n) raw predictor values for all units (columns).
    Z : (T, n) outcomes over the fit window for all units.
    treated : column of the treated unit; ``donors`` : columns of the donor pool.
    v : fixed predictor weights (skips the outer search); ``None`` searches V.
    n_random : number of random Dirichlet starts besides the equal and regression starts.
    maxfev, xatol, fatol : Nelder-Mead budget and tolerances per run (``fatol`` relative to the
        loss at equal weights); each start is restarted from its optimum while that improves
        (at most three runs).
    ridge : relative ridge of the inner problem (0: exact; see :func:`simplex_lsq`).
    vmin : lower bound of every predictor weight. Without it the search can end in a
        "corner" V that puts all weight on one or two predictors, where W is not identified by
        the predictors and only the arbitrary choice among tied inner solutions fits the
        outcome (Becker and Kloessner 2018 discuss such corner solutions; their MSCMT bounds
        V below too). 1e-5 leaves regular solutions unchanged to three decimals.
    """
    cols = np.concatenate([[treated], donors])
    Xs_all = standardize_predictors(X[:, cols])
    x1 = np.ascontiguousarray(Xs_all[:, 0])
    Xs = np.ascontiguousarray(Xs_all[:, 1:])
    z1 = np.ascontiguousarray(Z[:, treated], dtype=float)
    Z0 = np.ascontiguousarray(Z[:, donors], dtype=float)
    k = X.shape[0]

    def finish(vv: np.ndarray, n_evals: int, starts: list, w_search: np.ndarray | None = None) -> WeightFit:
        sv = np.sqrt(vv)
        w = simplex_lsq(Xs * sv[:, None], x1 * sv, ridge)
        if w_search is not None:
            # with a degenerate inner problem (several exact fits) keep the weights the search found
            loss = lambda u: float(np.sum((z1 - Z0 @ u) ** 2))  # noqa: E731
            if loss(w_search) < loss(w) - 1e-12 * max(1.0, loss(w)):
                w = w_search
        w = np.where(w > 1e-12, w, 0.0)
        w = w / w.sum()
        r = z1 - Z0 @ w
        d = x1 - Xs @ w
        return WeightFit(w, vv, float(r @ r) / r.size, float(d @ (vv * d)), n_evals, starts)

    if v is not None or k == 1:
        vv = np.ones(k) / k if v is None else _v_from_x(np.asarray(v, dtype=float))
        return finish(vv, 1, [("fixed", float("nan"))])

    starts: list[tuple[str, np.ndarray]] = [("equal", np.full(k, 1.0 / k))]
    reg = regression_start(Xs_all, np.column_stack([z1, Z0]))
    if reg is not None:
        starts.append(("regression", reg))
    gen = np.random.default_rng(rng)
    for i in range(n_random):
        starts.append((f"random{i + 1}", gen.dirichlet(np.ones(k))))

    maxfev = maxfev or 400 * k
    best_x, best_f, best_w, n_evals = None, np.inf, None, 0
    reached = []
    w0 = simplex_lsq(Xs, x1)
    fatol = fatol * max(_loss_at(starts[0][1], Xs, x1, Z0, z1, w0.copy(), ridge, vmin), 1e-300)
    for name, x0 in starts:
        x, f, wx = np.asarray(x0, dtype=float), np.inf, w0
        for _ in range(3):  # restart from the optimum with a fresh simplex while it improves
            xn, fn, wn, ne = nelder_mead(x, Xs, x1, Z0, z1, wx, maxfev, xatol, fatol, k > 6, ridge, vmin)
            n_evals += ne
            if fn < f - 1e-10:
                x, f, wx = np.abs(xn) / np.abs(xn).sum(), fn, wn
            else:
                break
        reached.append((name, float(f)))
        if f < best_f:
            best_x, best_f, best_w = x, f, wx
    return finish(vmin + (1.0 - vmin * k) * _v_from_x(best_x), n_evals, reached, best_w)


def fit_outcome_only(Z: np.ndarray, treated: int, donors: np.ndarray) -> WeightFit:
    """Donor weights minimising the fit-window outcome MSPE directly (V = identity)."""
    z1 = np.ascontiguousarray(Z[:, treated], dtype=float)
    Z0 = np.ascontiguousarray(Z[:, donors], dtype=float)
    w = simplex_lsq(Z0, z1)
    w = np.where(w > 1e-12, w, 0.0)
    w = w / w.sum()
    r = z1 - Z0 @ w
    mspe = float(r @ r) / r.size
    return WeightFit(w, np.full(Z.shape[0], 1.0 / Z.shape[0]), mspe, mspe, 1, [("identity", mspe)])

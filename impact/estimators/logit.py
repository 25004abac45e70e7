"""The binary logit of every propensity score (matching, weighting, doubly robust DiD).

Maximum likelihood by Newton-Raphson on **standardised** columns (earnings in euros and
indicators on one scale, so that the information matrix is well conditioned), with step
halving on the log-likelihood, a Cholesky solve of each Newton step that falls back to a
rank-revealing least-squares solve, and coefficients and information reported on the
original scale. Optional unit weights (sampling weights, as R ``glm(weights=)``).

Like R ``glm``, a fit whose probabilities come out numerically 0 or 1 (quasi-separation:
some units are predicted with certainty, yet the likelihood has a maximum) is kept and
reported: :attr:`LogitFit.warning` says how many units and the extreme scores, and
:func:`fit_logit_core` issues a :class:`LogitWarning`. A fit that does not converge while
probabilities run to 0 or 1 has no maximum (complete separation) and raises.

Speed: every Newton iteration reads the rows once (a compiled loop gives the linear index,
the probabilities, the log-likelihood and the score; the information is one BLAS product per
block of rows still in cache).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numba
import numpy as np

from impact.errors import DesignError, EstimationError

#: Rows per block of the Newton passes (a block of the design stays in cache).
BLOCK = 8192
#: Fitted probabilities within this of 0 or 1 are "numerically 0 or 1" (R: 10 * .Machine$double.eps).
EXTREME = 10 * np.finfo(float).eps
_WARM_ROWS = 50_000


class LogitWarning(UserWarning):
    """A propensity logit whose fitted probabilities are numerically 0 or 1 for some units."""


@dataclass
class LogitFit:
    """A fitted logit of ``y`` on ``[1, x]``.

    ``coef`` (p + 1,) on the original scale, constant first; ``p`` the fitted probabilities
    and ``eta`` the linear index of every row; ``hess`` the (unaveraged) information
    ``sum_i w_i p_i (1 - p_i) z_i z_i'`` with ``z = [1, x]`` at the estimate; ``extreme`` the
    number of rows with a probability numerically 0 or 1 and ``warning`` its message (None
    when there are none).
    """

    coef: np.ndarray
    p: np.ndarray
    eta: np.ndarray
    hess: np.ndarray
    iterations: int
    loglik: float
    extreme: int = 0
    warning: str | None = None


@numba.njit(cache=True)
def _logit_rows(x, y, w, mu, sd, b, buf, eta, e, grad):
    """One block of rows at coefficients ``b`` (standardised scale): fills ``eta`` and ``e``,
    adds the score ``z'w(y - e)`` to ``grad``, writes ``sqrt(w e(1-e)) z`` into ``buf`` (for
    the information ``z' W z``) and returns the log-likelihood, ``z = [1, (x - mu)/sd]``.
    ``w`` has length 0 for unit weights."""
    n, p = x.shape
    weighted = len(w) > 0
    ll = 0.0
    for i in range(n):
        buf[i, 0] = 1.0
        et = b[0]
        for j in range(p):
            zj = (x[i, j] - mu[j]) / sd[j]
            buf[i, j + 1] = zj
            et += b[j + 1] * zj
        if et >= 0.0:
            t = np.exp(-et)
            ei = 1.0 / (1.0 + t)
            li = y[i] * et - (et + np.log1p(t))
        else:
            t = np.exp(et)
            ei = t / (1.0 + t)
            li = y[i] * et - np.log1p(t)
        wi = w[i] if weighted else 1.0
        ll += wi * li
        eta[i] = et
        e[i] = ei
        r = wi * (y[i] - ei)
        sw = np.sqrt(wi * ei * (1.0 - ei))
        for j in range(p + 1):
            grad[j] += r * buf[i, j]
            buf[i, j] *= sw
    return ll


def _pass(x, y, w, mu, sd, b, eta, e):
    """Log-likelihood, score and information at ``b`` in one pass over the rows (in blocks)."""
    n, p = x.shape
    buf = np.empty((min(BLOCK, max(n, 1)), p + 1))
    hess = np.zeros((p + 1, p + 1))
    grad = np.zeros(p + 1)
    ll = 0.0
    for s in range(0, n, BLOCK):
        m = min(BLOCK, n - s)
        gb = np.zeros(p + 1)
        ll += _logit_rows(x[s : s + m], y[s : s + m], w[s : s + m] if len(w) else w, mu, sd, b, buf,
                          eta[s : s + m], e[s : s + m], gb)
        grad += gb
        bb = buf[:m]
        hess += bb.T @ bb
    return ll, grad, hess


def newton_step(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Solve ``hess @ step = grad``: Cholesky, or a rank-revealing least-squares solve where the
    information is numerically singular (the step then stays in the identified directions)."""
    try:
        c = np.linalg.cholesky(hess)
        return np.linalg.solve(c.T, np.linalg.solve(c, grad))
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(hess, grad, rcond=1e-12)[0]


def _newton(x, y, w, mu, sd, b, max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    """Plain Newton-Raphson (the warm start on a subsample; no diagnostics)."""
    eta, e = np.empty(len(x)), np.empty(len(x))
    for _ in range(max_iter):
        _, grad, hess = _pass(x, y, w, mu, sd, b, eta, e)
        step = newton_step(hess, grad)
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 50:
            return b, False
        b = b + step
        if np.max(np.abs(step)) < tol:
            return b, True
    return b, False


def scale_columns(x: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations that standardise the columns of ``x`` (constant columns: sd 1)."""
    if w is None:
        mu = x.mean(axis=0)
        sd = np.sqrt(np.maximum(((x - mu) ** 2).mean(axis=0), 0.0)) if len(x) else np.ones(x.shape[1])
    else:
        ws = w / w.sum()
        mu = ws @ x
        sd = np.sqrt(np.maximum(ws @ (x - mu) ** 2, 0.0))
    sd = np.where(sd <= 1e-12 * (1 + np.abs(mu)), 1.0, sd)
    return mu, sd


def extreme_message(p: np.ndarray, y: np.ndarray) -> tuple[int, str | None]:
    """The number of fitted probabilities numerically 0 or 1 and a one-line message naming them."""
    lo, hi = p < EXTREME, p > 1 - EXTREME
    k = int(lo.sum() + hi.sum())
    if not k:
        return 0, None
    return k, (f"fitted probabilities numerically 0 or 1 occurred for {k} unit(s) ({int(lo.sum())} at 0, "
               f"{int(hi.sum())} at 1; among them {int((lo & (y == 1)).sum() + (hi & (y == 0)).sum())} predicted "
               f"wrongly; scores range {p.min():.3g}..{p.max():.3g}): quasi-separation, as R glm warns; the "
               "weights of these units are extreme")


def fit_logit_core(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, names: list[str] | None = None,
                   max_iter: int = 100, tol: float = 1e-10, mu: np.ndarray | None = None,
                   sd: np.ndarray | None = None, warn: bool = True) -> LogitFit:
    """Logit of ``y`` (0/1) on a constant and the columns of ``x`` by Newton-Raphson.

    Parameters
    ----------
    x : (n, p) array
        Covariates without the constant.
    y : (n,) array of 0/1
    w : (n,) array, optional
        Non-negative unit weights (default: all 1).
    names : list of str, optional
        Covariate names, for the error messages.
    mu, sd : arrays, optional
        The standardisation (default: column means and standard deviations).
    warn : bool
        Issue a :class:`LogitWarning` for probabilities numerically 0 or 1 (the message is in
        ``LogitFit.warning`` either way).

    Raises
    ------
    DesignError
        Complete separation (no maximum: probabilities run to 0 or 1 and the coefficients
        diverge), naming the fastest-growing covariates.
    EstimationError
        No convergence within ``max_iter`` iterations for another reason.
    """
    x = np.ascontiguousarray(x, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    n, p = x.shape
    names = names or [f"x{j}" for j in range(p)]
    wv = np.empty(0) if w is None else np.ascontiguousarray(w, dtype=float)
    if mu is None or sd is None:
        mu, sd = scale_columns(x, None if w is None else wv)
    ybar = float(y.mean() if w is None else wv @ y / wv.sum())
    if not 0.0 < ybar < 1.0:
        raise DesignError("the propensity model needs both treated and comparison units")
    b = np.zeros(p + 1)
    b[0] = np.log(ybar / (1 - ybar))
    if n > 2 * _WARM_ROWS and w is None:
        # start Newton on the full data from the fit on a systematic subsample: the full-data
        # iterations (the costly ones) then only polish (quadratic convergence)
        sub = slice(0, n, n // _WARM_ROWS)
        bw, ok = _newton(np.ascontiguousarray(x[sub]), np.ascontiguousarray(y[sub]), wv, mu, sd, b, 30, 1e-8)
        if ok:
            b = bw
    eta, e = np.empty(n), np.empty(n)
    ll, grad, hess = _pass(x, y, wv, mu, sd, b, eta, e)
    converged = False
    step = np.zeros(p + 1)
    t = 1.0
    it = 0
    for it in range(1, max_iter + 1):
        step = newton_step(hess, grad)
        if not np.all(np.isfinite(step)):
            raise EstimationError(f"propensity logit: the Newton step is not finite at iteration {it}")
        t = 1.0
        for _ in range(40):  # step halving keeps the log-likelihood increasing
            bn = b + t * step
            lln, gn, hn = _pass(x, y, wv, mu, sd, bn, eta, e)  # (the last pass is the accepted one)
            if lln >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        b, ll_prev, ll, grad, hess = bn, ll, lln, gn, hn
        if abs(ll - ll_prev) <= tol * (abs(ll) + 1) and np.max(np.abs(t * step)) < 1e-6:
            converged = True
            break
    k_ext, msg = extreme_message(e, y)
    if not converged:
        if k_ext:
            grow = [names[j] for j in np.argsort(-np.abs(step[1:]))[:3]]
            raise DesignError(
                f"perfect separation in the propensity-score logit: {k_ext} units are predicted with certainty and "
                f"the coefficients diverge (fastest: {', '.join(grow)}); drop or coarsen these covariates, or "
                "restrict the sample to common support")
        raise EstimationError(f"propensity logit did not converge in {max_iter} Newton iterations")
    if msg is not None and warn:
        warnings.warn(msg, LogitWarning, stacklevel=2)
    coef = np.empty(p + 1)
    coef[1:] = b[1:] / sd
    coef[0] = b[0] - np.sum(b[1:] * mu / sd)
    # information on the original scale from the standardised one: z_std = [1, x] @ M
    M = np.diag(np.concatenate([[1.0], 1.0 / sd]))
    M[0, 1:] = -mu / sd
    Minv = np.linalg.inv(M)
    return LogitFit(coef=coef, p=e, eta=eta, hess=Minv.T @ hess @ Minv, iterations=it, loglik=ll, extreme=k_ext,
                    warning=msg)

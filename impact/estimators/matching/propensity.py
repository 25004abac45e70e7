"""Propensity scores: an unpenalised logit by maximum likelihood, or a flexible classifier.

The logit is fitted by Newton-Raphson (iteratively reweighted least squares) on
standardised covariates, so that earnings in euros and indicators live on one scale;
the coefficients are reported on the original scale. It either converges or raises
:class:`~impact.errors.EstimationError`; designs it cannot fit (perfect separation,
collinear covariates) raise :class:`~impact.errors.DesignError` naming the covariate.

Speed: every Newton iteration reads the rows once (a compiled loop gives the linear index,
the probabilities, the log-likelihood and the score; the information is one BLAS product
per block of rows still in cache), and the separation check comes from the one-pass column
statistics of :mod:`~impact.estimators.matching._colstats` instead of its own passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from impact.errors import DesignError, EstimationError
from impact.estimators.matching._colstats import _BLOCK, ColumnStats, column_stats

_EPS_P = 1e-12


@dataclass
class PropensityModel:
    """A fitted propensity-score model.

    ``score`` is P(D=1 | X) and ``linear`` its logit for every row of the fitting sample.
    For the logit, ``x`` holds the (n, p) covariates of the fit (a reference, not a copy),
    :attr:`design` the (n, p+1) design matrix with a constant (built when asked for),
    ``coef`` the coefficients on the original scale and ``information`` the average Fisher
    information ``(1/n) sum e(1-e) x x'`` (used by the Abadie-Imbens 2016 adjustment).
    """

    kind: str
    score: np.ndarray
    linear: np.ndarray
    covariates: list[str]
    coef: np.ndarray | None = None
    x: np.ndarray | None = None
    information: np.ndarray | None = None
    iterations: int = 0
    loglik: float = float("nan")
    info: dict = field(default_factory=dict)

    @property
    def design(self) -> np.ndarray | None:
        """The (n, p+1) design matrix ``[1, x]`` of the logit (None for other models)."""
        if self.x is None:
            return None
        out = np.empty((len(self.x), self.x.shape[1] + 1))
        out[:, 0] = 1.0
        out[:, 1:] = self.x
        return out

    def design_t_dot(self, v: np.ndarray) -> np.ndarray:
        """``design.T @ v`` for a vector or matrix ``v`` (n rows), without building the design matrix."""
        return np.concatenate([v.sum(axis=0, keepdims=True), self.x.T @ v])

    def coefficients(self):
        """Coefficients as a pandas Series (logit only)."""
        import pandas as pd

        if self.coef is None:
            raise EstimationError(f"a {self.kind} propensity model has no coefficients")
        return pd.Series(self.coef, index=["const", *self.covariates], name="coef")


def _check_collinear(gram: np.ndarray, names: list[str]) -> None:
    """Raise DesignError naming the first covariate that is a linear combination of the constant
    and the covariates before it: a tiny diagonal element of the Cholesky factor of the
    (normalised, weighted) Gram matrix of the standardised design ``[1, z]``."""
    norms = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    a = gram / np.outer(norms, norms)
    try:
        r = np.linalg.cholesky(a).T
        bad = np.flatnonzero(np.abs(np.diag(r)) < 1e-6)
        j = int(bad[0]) if len(bad) else None
    except np.linalg.LinAlgError:
        # numerically singular: eliminate column by column until a pivot (the squared sine of the
        # angle between a column and the span of the ones before it) vanishes
        j, q = None, len(a)
        L = np.zeros_like(a)
        for c in range(q):  # p + 1 columns
            piv = a[c, c] - L[c, :c] @ L[c, :c]
            if piv < 1e-12:
                j = c
                break
            L[c, c] = np.sqrt(piv)
            L[c + 1 :, c] = (a[c + 1 :, c] - L[c + 1 :, :c] @ L[c, :c]) / L[c, c]
    if j is not None:
        raise DesignError(
            f"covariate {names[j - 1]!r} is a linear combination of the constant and the covariates before it "
            f"({', '.join(names[: j - 1]) or 'none'}); drop it"
        )


def _separation_culprits(stats: ColumnStats, names: list[str]) -> list[str]:
    """Covariates that (quasi-)separate treated from controls on their own: no overlap of the
    two groups' ranges, or (a covariate with at most 10 distinct values) a level seen in one
    group only."""
    out = []
    for j, name in enumerate(names):  # a handful of covariates, from the one-pass statistics
        # no control at or above the treated minimum (or at or below the maximum): no overlap
        if stats.hi_g[0, j] < stats.lo_g[1, j] or stats.lo_g[0, j] > stats.hi_g[1, j]:
            out.append(f"{name} (complete: treated and controls do not overlap)")
            continue
        if stats.levels[j] is None:  # continuous
            continue
        for v, nc, nt in zip(stats.levels[j], stats.level_counts[j][0], stats.level_counts[j][1]):
            if (nt == 0) != (nc == 0):
                who = "treated" if nc == 0 else "controls"
                out.append(f"{name}={v:g} (quasi-complete: only {who} have it, {int(nt + nc)} rows)")
    return out


_WARM_ROWS = 50_000


@numba.njit(cache=True)
def _logit_rows(x, y, mu, sd, b, buf, eta, e, grad):
    """One block of rows at coefficients ``b`` (standardised scale): fills ``eta`` and ``e``,
    adds the score ``z'(y - e)`` to ``grad``, writes ``sqrt(e(1-e)) z`` into ``buf`` (for
    the information ``z' W z``) and returns the log-likelihood, ``z = [1, (x - mu)/sd]``."""
    n, p = x.shape
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
            ll += y[i] * et - (et + np.log1p(t))
        else:
            t = np.exp(et)
            ei = t / (1.0 + t)
            ll += y[i] * et - np.log1p(t)
        eta[i] = et
        e[i] = ei
        r = y[i] - ei
        sw = np.sqrt(ei * (1.0 - ei))
        for j in range(p + 1):
            grad[j] += r * buf[i, j]
            buf[i, j] *= sw
    return ll


def _logit_pass(x, y, mu, sd, b, eta, e):
    """Log-likelihood, score and information ``z' diag(e(1-e)) z`` at ``b`` in one pass over the
    rows (in blocks that stay in cache; the Gram of each block is one BLAS call); ``eta`` and
    ``e`` receive the linear index and the fitted probabilities."""
    n, p = x.shape
    buf = np.empty((min(_BLOCK, n), p + 1))
    hess = np.zeros((p + 1, p + 1))
    grad = np.zeros(p + 1)
    ll = 0.0
    for s in range(0, n, _BLOCK):  # about a hundred blocks
        m = min(_BLOCK, n - s)
        gb = np.zeros(p + 1)
        ll += _logit_rows(x[s : s + m], y[s : s + m], mu, sd, b, buf, eta[s : s + m], e[s : s + m], gb)
        grad += gb
        bb = buf[:m]
        hess += bb.T @ bb
    return ll, grad, hess


def _newton(x: np.ndarray, y: np.ndarray, mu: np.ndarray, sd: np.ndarray, b: np.ndarray, max_iter: int,
            tol: float) -> tuple[np.ndarray, bool]:
    """Plain Newton-Raphson for the logit (used for warm starts; no separation diagnostics)."""
    eta, e = np.empty(len(x)), np.empty(len(x))
    for _ in range(max_iter):
        _, grad, hess = _logit_pass(x, y, mu, sd, b, eta, e)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return b, False
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 50:
            return b, False
        b = b + step
        if np.max(np.abs(step)) < tol:
            return b, True
    return b, False


def fit_logit(
    x: np.ndarray,
    d: np.ndarray,
    covariates: list[str],
    max_iter: int = 100,
    tol: float = 1e-10,
    stats: ColumnStats | None = None,
) -> PropensityModel:
    """Unpenalised logit of ``d`` on ``x`` (a constant is added) by Newton-Raphson.

    Each Newton iteration is one pass over the rows (linear index, probabilities,
    log-likelihood, score and information together). ``stats`` are the
    :func:`~impact.estimators.matching._colstats.column_stats` of ``x`` by ``d`` if already
    computed (they give the standardisation and the separation check).

    Raises
    ------
    DesignError
        Perfect or quasi-perfect separation (naming the covariate where one covariate
        does it alone), or collinear covariates.
    EstimationError
        No convergence within ``max_iter`` iterations.
    """
    x = np.ascontiguousarray(x, dtype=float)
    d = np.asarray(d)
    y = d.astype(float)
    n, p = x.shape
    if stats is None:
        stats = column_stats(x, d.astype(bool))
    if stats.nonfinite.any():
        j = int(np.flatnonzero(stats.nonfinite)[0])
        raise DesignError(f"covariate {covariates[j]!r} has {int(stats.nonfinite[j])} missing or non-finite values")
    mu = stats.mean
    sd = np.sqrt(stats.ss / n)
    sd[sd <= 1e-12 * (1 + np.abs(mu))] = 1.0
    culprits = _separation_culprits(stats, covariates)
    b = np.zeros(p + 1)
    b[0] = np.log(y.mean() / (1 - y.mean()))
    if n > 2 * _WARM_ROWS:
        # start Newton on the full data from the fit on a systematic subsample: the full-data
        # iterations (the costly ones) then only polish (quadratic convergence)
        sub = slice(0, n, n // _WARM_ROWS)
        if not culprits:
            bw, ok = _newton(np.ascontiguousarray(x[sub]), np.ascontiguousarray(y[sub]), mu, sd, b, 30, 1e-8)
            if ok:
                b = bw
    eta, e = np.empty(n), np.empty(n)
    ll, grad, hess = _logit_pass(x, y, mu, sd, b, eta, e)
    _check_collinear(hess, covariates)
    if culprits:
        raise DesignError(
            "perfect separation in the propensity-score logit: " + "; ".join(culprits)
            + ". The score would be 0 or 1 for these units: drop or coarsen the covariate, or restrict the sample"
        )
    converged = False
    step = np.zeros(p + 1)
    it = 0
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise EstimationError(f"propensity logit: singular information matrix at iteration {it}") from exc
        t = 1.0
        for _ in range(30):  # step halving keeps the log-likelihood increasing
            bn = b + t * step
            lln, gn, hn = _logit_pass(x, y, mu, sd, bn, eta, e)  # (the last pass is the accepted one)
            if lln >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        b, ll_prev, ll, grad, hess = bn, ll, lln, gn, hn
        if abs(ll - ll_prev) <= tol * (abs(ll) + 1) and np.max(np.abs(t * step)) < 1e-6:
            converged = True
            break
    if not converged:
        # separation: the likelihood keeps creeping up while some fitted scores run to 0 or 1
        sep = ((e < 1e-8) & (y == 0)) | ((e > 1 - 1e-8) & (y == 1))
        if sep.any():
            grow = [covariates[j] for j in np.argsort(-np.abs(step[1:]))[:3]]
            raise DesignError(
                f"perfect separation in the propensity-score logit: {int(sep.sum())} units are predicted with "
                f"certainty and the coefficients diverge (fastest: {', '.join(grow)}); drop or coarsen these "
                "covariates, or restrict the sample to common support"
            )
        raise EstimationError(f"propensity logit did not converge in {max_iter} Newton iterations")
    coef = np.empty(p + 1)
    coef[1:] = b[1:] / sd
    coef[0] = b[0] - np.sum(b[1:] * mu / sd)
    # information on the original scale from the standardised one (hess is at the last iterate):
    # z = design @ M
    M = np.diag(np.concatenate([[1.0], 1.0 / sd]))
    M[0, 1:] = -mu / sd
    Minv = np.linalg.inv(M)
    info = Minv.T @ hess @ Minv / n
    np.clip(e, _EPS_P, 1 - _EPS_P, out=e)
    return PropensityModel(
        kind="logit", score=e, linear=eta, covariates=list(covariates), coef=coef,
        x=x, information=info, iterations=it, loglik=ll,
    )


def fit_flexible(x: np.ndarray, d: np.ndarray, covariates: list[str], seed: int = 0, **kwargs) -> PropensityModel:
    """Propensity score from scikit-learn's ``HistGradientBoostingClassifier`` (out-of-the-box settings).

    No Abadie-Imbens (2016) adjustment is available for it; the score is clipped to
    ``[1e-6, 1 - 1e-6]``.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(random_state=seed, **kwargs)
    clf.fit(x, d.astype(int))
    e = np.clip(clf.predict_proba(x)[:, 1], 1e-6, 1 - 1e-6)
    return PropensityModel(kind="gradient_boosting", score=e, linear=np.log(e / (1 - e)), covariates=list(covariates),
                           info={"n_iter": int(clf.n_iter_)})


def fit_propensity(x: np.ndarray, d: np.ndarray, covariates: list[str], model: str = "logit",
                   stats: ColumnStats | None = None) -> PropensityModel:
    """Dispatch on ``model``: ``"logit"`` (default) or ``"gbm"`` (gradient boosting); ``stats``
    (column statistics of ``x`` by ``d``) spare the logit a pass over the data."""
    if model == "logit":
        return fit_logit(x, d, covariates, stats=stats)
    if model in ("gbm", "gradient_boosting", "flexible"):
        return fit_flexible(x, d, covariates)
    raise DesignError(f"propensity model must be 'logit' or 'gbm', got {model!r}")

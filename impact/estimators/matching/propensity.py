"""Propensity scores: an unpenalised logit by maximum likelihood, or a flexible classifier.

The logit is the shared one of :mod:`impact.estimators.logit` (Newton-Raphson on
standardised covariates, so that earnings in euros and indicators live on one scale;
coefficients on the original scale). Designs it cannot fit (perfect separation, collinear
covariates) raise :class:`~impact.errors.DesignError` naming the covariate; the separation
check comes from the one-pass column statistics of
:mod:`~impact.estimators.matching._colstats` instead of its own passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from impact.errors import DesignError, EstimationError
from impact.estimators.logit import _pass as _logit_pass
from impact.estimators.logit import fit_logit_core
from impact.estimators.matching._colstats import ColumnStats, column_stats

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


def fit_logit(
    x: np.ndarray,
    d: np.ndarray,
    covariates: list[str],
    max_iter: int = 100,
    tol: float = 1e-10,
    stats: ColumnStats | None = None,
) -> PropensityModel:
    """Unpenalised logit of ``d`` on ``x`` (a constant is added) by Newton-Raphson.

    The fit is :func:`impact.estimators.logit.fit_logit_core` (standardised columns, step
    halving, a rank-revealing solve); here the covariates are checked first: ``stats`` are
    the :func:`~impact.estimators.matching._colstats.column_stats` of ``x`` by ``d`` if
    already computed (they give the standardisation and the separation check). Fitted
    probabilities numerically 0 or 1 (quasi-separation) are kept, as R ``glm`` does, with a
    warning in ``info["warning"]``.

    Raises
    ------
    DesignError
        Perfect separation (naming the covariate where one covariate does it alone), or
        collinear covariates.
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
    # collinearity from the Gram matrix of the standardised design at the intercept-only start
    # (one pass over the rows), then separation by single covariates
    b0 = np.zeros(p + 1)
    b0[0] = np.log(y.mean() / (1 - y.mean()))
    _, _, hess0 = _logit_pass(x, y, np.empty(0), mu, sd, b0, np.empty(n), np.empty(n))
    _check_collinear(hess0, covariates)
    culprits = _separation_culprits(stats, covariates)
    if culprits:
        raise DesignError(
            "perfect separation in the propensity-score logit: " + "; ".join(culprits)
            + ". The score would be 0 or 1 for these units: drop or coarsen the covariate, or restrict the sample"
        )
    fit = fit_logit_core(x, y, names=list(covariates), max_iter=max_iter, tol=tol, mu=mu, sd=sd, warn=False)
    e = fit.p
    np.clip(e, _EPS_P, 1 - _EPS_P, out=e)
    return PropensityModel(
        kind="logit", score=e, linear=fit.eta, covariates=list(covariates), coef=fit.coef,
        x=x, information=fit.hess / n, iterations=fit.iterations, loglik=fit.loglik,
        info={"warning": fit.warning} if fit.warning else {},
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

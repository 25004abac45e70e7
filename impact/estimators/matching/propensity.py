"""Propensity scores: an unpenalised logit by maximum likelihood, or a flexible classifier.

The logit is fitted by Newton-Raphson (iteratively reweighted least squares) on
standardised covariates, so that earnings in euros and indicators live on one scale;
the coefficients are reported on the original scale. It either converges or raises
:class:`~impact.errors.EstimationError`; designs it cannot fit (perfect separation,
collinear covariates) raise :class:`~impact.errors.DesignError` naming the covariate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from impact.errors import DesignError, EstimationError

_EPS_P = 1e-12


@dataclass
class PropensityModel:
    """A fitted propensity-score model.

    ``score`` is P(D=1 | X) and ``linear`` its logit for every row of the fitting sample.
    For the logit, ``design`` is the (n, p+1) design matrix with a constant, ``coef`` the
    coefficients on the original scale and ``information`` the average Fisher information
    ``(1/n) sum e(1-e) x x'`` (used by the Abadie-Imbens 2016 adjustment).
    """

    kind: str
    score: np.ndarray
    linear: np.ndarray
    covariates: list[str]
    coef: np.ndarray | None = None
    design: np.ndarray | None = None
    information: np.ndarray | None = None
    iterations: int = 0
    loglik: float = float("nan")
    info: dict = field(default_factory=dict)

    def coefficients(self):
        """Coefficients as a pandas Series (logit only)."""
        import pandas as pd

        if self.coef is None:
            raise EstimationError(f"a {self.kind} propensity model has no coefficients")
        return pd.Series(self.coef, index=["const", *self.covariates], name="coef")


def _check_collinear(z: np.ndarray, names: list[str]) -> None:
    """Raise DesignError naming the first covariate that is a linear combination of the constant
    and the covariates before it (a tiny diagonal element of R in z = QR)."""
    gram = z.T @ z
    norms = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    try:  # R of z = QR is the Cholesky factor of z'z: cheap (p x p) unless it breaks down
        r = np.linalg.cholesky(gram / np.outer(norms, norms)).T
        tol = 1e-6
    except np.linalg.LinAlgError:
        r = np.linalg.qr(z / norms, mode="r")
        tol = 1e-10
    bad = np.flatnonzero(np.abs(np.diag(r)) < tol)
    if len(bad):
        j = int(bad[0])
        raise DesignError(
            f"covariate {names[j - 1]!r} is a linear combination of the constant and the covariates before it "
            f"({', '.join(names[: j - 1]) or 'none'}); drop it"
        )


def _separation_culprits(x: np.ndarray, d: np.ndarray, names: list[str]) -> list[str]:
    """Covariates that (quasi-)separate treated from controls on their own."""
    out = []
    t, c = x[d], x[~d]
    for j, name in enumerate(names):
        if t[:, j].min() > c[:, j].max() or t[:, j].max() < c[:, j].min():
            out.append(f"{name} (complete: treated and controls do not overlap)")
            continue
        vals = np.unique(x[:, j])
        if len(vals) <= 10:  # discrete: a level seen in one group only
            for v in vals:
                nt, nc = int((t[:, j] == v).sum()), int((c[:, j] == v).sum())
                if (nt == 0) != (nc == 0):
                    who = "treated" if nc == 0 else "controls"
                    out.append(f"{name}={v:g} (quasi-complete: only {who} have it, {nt + nc} rows)")
    return out


def fit_logit(
    x: np.ndarray,
    d: np.ndarray,
    covariates: list[str],
    max_iter: int = 100,
    tol: float = 1e-10,
) -> PropensityModel:
    """Unpenalised logit of ``d`` on ``x`` (a constant is added) by Newton-Raphson.

    Raises
    ------
    DesignError
        Perfect or quasi-perfect separation (naming the covariate where one covariate
        does it alone), or collinear covariates.
    EstimationError
        No convergence within ``max_iter`` iterations.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(d, dtype=float)
    n, p = x.shape
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.empty((n, p + 1))
    z[:, 0] = 1.0
    z[:, 1:] = (x - mu) / sd
    _check_collinear(z, covariates)
    culprits = _separation_culprits(x, y == 1, covariates)
    if culprits:
        raise DesignError(
            "perfect separation in the propensity-score logit: " + "; ".join(culprits)
            + ". The score would be 0 or 1 for these units: drop or coarsen the covariate, or restrict the sample"
        )
    b = np.zeros(p + 1)
    b[0] = np.log(y.mean() / (1 - y.mean()))
    eta = z @ b
    ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    converged = False
    step = np.zeros(p + 1)
    it = 0
    for it in range(1, max_iter + 1):
        e = expit(eta)
        w = e * (1 - e)
        grad = z.T @ (y - e)
        hess = (z * w[:, None]).T @ z
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise EstimationError(f"propensity logit: singular information matrix at iteration {it}") from exc
        t = 1.0
        for _ in range(30):  # step halving keeps the log-likelihood increasing
            bn = b + t * step
            etan = z @ bn
            lln = float(np.sum(y * etan - np.logaddexp(0.0, etan)))
            if lln >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        b, eta, ll_prev, ll = bn, etan, ll, lln
        if abs(ll - ll_prev) <= tol * (abs(ll) + 1) and np.max(np.abs(t * step)) < 1e-6:
            converged = True
            break
    eta = z @ b
    e = expit(eta)
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
    design = np.column_stack([np.ones(n), x])
    w = e * (1 - e)
    info = (design * w[:, None]).T @ design / n
    return PropensityModel(
        kind="logit", score=np.clip(e, _EPS_P, 1 - _EPS_P), linear=eta, covariates=list(covariates), coef=coef,
        design=design, information=info, iterations=it, loglik=ll,
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


def fit_propensity(x: np.ndarray, d: np.ndarray, covariates: list[str], model: str = "logit") -> PropensityModel:
    """Dispatch on ``model``: ``"logit"`` (default) or ``"gbm"`` (gradient boosting)."""
    if model == "logit":
        return fit_logit(x, d, covariates)
    if model in ("gbm", "gradient_boosting", "flexible"):
        return fit_flexible(x, d, covariates)
    raise DesignError(f"propensity model must be 'logit' or 'gbm', got {model!r}")

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
    t = x[d]
    tmin, tmax, n1 = t.min(axis=0), t.max(axis=0), len(t)
    del t
    for j, name in enumerate(names):
        # no control at or above the treated minimum (or at or below the maximum): no overlap
        if np.count_nonzero(x[:, j] >= tmin[j]) == n1 or np.count_nonzero(x[:, j] <= tmax[j]) == n1:
            out.append(f"{name} (complete: treated and controls do not overlap)")
            continue
        head = np.unique(x[:64, j])
        if len(head) > 10 or not np.isin(x[:, j], head).all():
            vals = np.unique(x[:, j]) if len(head) <= 10 else head  # (more than 10 levels: continuous)
        else:
            vals = head
        if len(vals) <= 10:  # discrete: a level seen in one group only
            col = x[:, j]
            for v in vals:
                hit = col == v
                nt = int(np.count_nonzero(hit & d))
                nc = int(np.count_nonzero(hit)) - nt
                if (nt == 0) != (nc == 0):
                    who = "treated" if nc == 0 else "controls"
                    out.append(f"{name}={v:g} (quasi-complete: only {who} have it, {nt + nc} rows)")
    return out


_WARM_ROWS = 50_000


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    """Logit log-likelihood sum y*eta - log(1 + exp(eta)) (the cheap form unless exp overflows)."""
    if np.max(eta) < 30.0:
        return float(y @ eta - np.log1p(np.exp(eta)).sum())
    return float(y @ eta - np.logaddexp(0.0, eta).sum())


def _weighted_gram(z: np.ndarray, w: np.ndarray, chunk: int = 32_768) -> np.ndarray:
    """z' diag(w) z, as symmetric products on sqrt(w) z in row blocks that stay in cache."""
    sw = np.sqrt(w)
    g = np.zeros((z.shape[1], z.shape[1]))
    for s in range(0, len(z), chunk):  # a few dozen row blocks
        zs = z[s : s + chunk] * sw[s : s + chunk, None]
        g += zs.T @ zs
    return g


def _newton(z: np.ndarray, y: np.ndarray, b: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, bool]:
    """Plain Newton-Raphson for the logit (used for warm starts; no separation diagnostics)."""
    for _ in range(max_iter):
        eta = z @ b
        e = expit(eta)
        try:
            step = np.linalg.solve((z * (e * (1 - e))[:, None]).T @ z, z.T @ (y - e))
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
    sd = np.sqrt(np.maximum(np.einsum("ij,ij->j", x, x) / n - mu**2, 0.0))  # one pass, no temporary
    sd[sd <= 1e-12 * (1 + np.abs(mu))] = 1.0
    z = np.empty((n, p + 1))
    z[:, 0] = 1.0
    z[:, 1:] = x
    z[:, 1:] -= mu
    z[:, 1:] /= sd
    _check_collinear(z, covariates)
    culprits = _separation_culprits(x, y == 1, covariates)
    if culprits:
        raise DesignError(
            "perfect separation in the propensity-score logit: " + "; ".join(culprits)
            + ". The score would be 0 or 1 for these units: drop or coarsen the covariate, or restrict the sample"
        )
    b = np.zeros(p + 1)
    b[0] = np.log(y.mean() / (1 - y.mean()))
    if n > 2 * _WARM_ROWS:
        # start Newton on the full data from the fit on a systematic subsample: the full-data
        # iterations (the costly ones) then only polish (quadratic convergence)
        sub = slice(0, n, n // _WARM_ROWS)
        bw, ok = _newton(z[sub], y[sub], b, 30, 1e-8)
        if ok:
            b = bw
    eta = z @ b
    ll = _loglik(y, eta)
    converged = False
    step = np.zeros(p + 1)
    it = 0
    for it in range(1, max_iter + 1):
        e = expit(eta)
        w = e * (1 - e)
        grad = z.T @ (y - e)
        hess = _weighted_gram(z, w)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise EstimationError(f"propensity logit: singular information matrix at iteration {it}") from exc
        t = 1.0
        for _ in range(30):  # step halving keeps the log-likelihood increasing
            bn = b + t * step
            etan = z @ bn
            lln = _loglik(y, etan)
            if lln >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        b, eta, ll_prev, ll = bn, etan, ll, lln
        if abs(ll - ll_prev) <= tol * (abs(ll) + 1) and np.max(np.abs(t * step)) < 1e-6:
            converged = True
            break
    e = expit(eta)  # eta = z @ b of the last iterate
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
    design = np.empty((n, p + 1))
    design[:, 0] = 1.0
    design[:, 1:] = x
    # information on the original scale from the standardised one: z = design @ M
    M = np.diag(np.concatenate([[1.0], 1.0 / sd]))
    M[0, 1:] = -mu / sd
    Minv = np.linalg.inv(M)
    info = Minv.T @ _weighted_gram(z, e * (1 - e)) @ Minv / n
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

"""Two-period (2x2) ATT estimators with their influence functions.

The estimators of Sant'Anna and Zhao (2020), as R ``DRDID`` defines them:

* panel data, vectorised over ``m`` outcome changes at once (all cells of one cohort that
  share the comparison units share the propensity model and the OLS design): outcome
  regression (``reg``), normalised inverse probability weighting (``ipw``), the locally
  efficient doubly robust estimator with a logit score and linear outcome regression
  (``dr``) and its "improved" variant (``dr_improved``: propensity score by inverse
  probability tilting, outcome regression weighted by the odds, so that the estimation of
  the nuisance parameters does not enter the influence function);
* repeated cross-sections: ``reg``, ``ipw`` and the locally efficient ``dr``.

Every function returns the ATT estimates and the influence functions (one row per
observation used, ``att_hat - att ~= inf.mean(axis=0)``).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit

from impact.errors import DesignError, EstimationError
from impact.estimators.logit import LogitWarning, fit_logit_core

TRIM = 0.995  # controls with a propensity score at or above this level get no weight
PS_MAX = 1 - 1e-6


def logit_fit(X: np.ndarray, D: np.ndarray, w: np.ndarray, tol: float = 1e-10, max_iter: int = 100):
    """Weighted logit MLE (:func:`impact.estimators.logit.fit_logit_core`; ``X`` has the constant first).

    Returns the fitted probabilities and the inverse information ``(X' diag(w p (1-p)) X)^{-1}``.
    Fitted probabilities numerically 0 or 1 (quasi-separation, which R ``glm`` fits with a
    warning) issue a :class:`~impact.estimators.logit.LogitWarning`; complete separation
    (no maximum) raises :class:`DesignError`, collinear covariates :class:`EstimationError`.
    """
    fit = fit_logit_core(X[:, 1:], D, w, max_iter=max_iter, tol=tol)
    try:
        c = np.linalg.cholesky(fit.hess)
    except np.linalg.LinAlgError as exc:
        raise EstimationError("propensity-score logit: singular information matrix (collinear covariates, or "
                              f"(quasi-)separation: {fit.extreme} unit(s) with probabilities numerically 0 or 1)") from exc
    ci = np.linalg.inv(c)
    return fit.p, ci.T @ ci


def ipt_fit(X: np.ndarray, D: np.ndarray, w: np.ndarray, start: np.ndarray | None = None, max_iter: int = 100):
    """Propensity score by inverse probability tilting (Graham, Pinto and Egel 2012).

    Minimises ``-mean(w * (D * x'g - (1 - D) * exp(x'g)))``; its first-order condition makes the
    odds-weighted comparison units reproduce the treated units' covariate means exactly.
    """
    n = len(D)
    g = np.zeros(X.shape[1])
    w1, w0 = float(w @ D), float(w @ (1 - D))
    g[0] = np.log(w1 / w0)
    if start is not None:
        g = start.copy()

    def loss(gam):
        xb = X @ gam
        return -np.mean(w * np.where(D == 1, xb, -np.exp(np.minimum(xb, 700))))

    cur = loss(g)
    for _ in range(max_iter):
        xb = X @ g
        e = np.exp(np.minimum(xb, 700))
        grad = -(X.T @ (w * np.where(D == 1, 1.0, -e))) / n
        H = (X * (w * (1 - D) * e)[:, None]).T @ X / n
        step = np.linalg.solve(H, grad)
        a = 1.0
        while a > 1e-8:
            new = g - a * step
            val = loss(new)
            if val <= cur + 1e-14 * abs(cur):
                break
            a /= 2
        g, cur = new, val
        if np.max(np.abs(a * step)) < 1e-12 * (1 + np.max(np.abs(g))):
            break
    return expit(X @ g)


def _wls(X: np.ndarray, wts: np.ndarray, Y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of each column of ``Y`` on ``X``; returns (coefficients, (X'WX)^{-1})."""
    XtW = (X * wts[:, None]).T
    A = XtW @ X
    if np.linalg.cond(A) > 1 / np.finfo(float).eps:
        raise DesignError(f"the outcome regression for {what} is singular: too few comparison units or collinear covariates")
    Ainv = np.linalg.inv(A)
    return Ainv @ (XtW @ Y), Ainv


def _check_overlap(ps: np.ndarray, D: np.ndarray, what: str, strict: bool = True) -> None:
    """Scores reaching 0.999: an error (``strict``, or when every treated unit is there: no
    overlap at all), else (as R ``DRDID``, which estimates on) a
    :class:`~impact.estimators.logit.LogitWarning` saying how many units and that comparison
    units at or above the trimming level get no weight."""
    if ps.max() < 0.999:
        return
    msg = f"overlap fails for {what}: estimated propensity scores reach {ps.max():.4f}"
    k1, k0 = int(((ps >= 0.999) & (D == 1)).sum()), int(((ps >= TRIM) & (D == 0)).sum())
    if strict or k1 == int((D == 1).sum()):
        raise DesignError(msg + (" for every treated unit" if k1 == int((D == 1).sum()) else ""))
    warnings.warn(f"{msg} ({k1} treated unit(s) at 0.999 or above; {k0} comparison unit(s) at {TRIM} or above get no "
                  "weight, as R DRDID trims them)", LogitWarning, stacklevel=3)


def independent_columns(X: np.ndarray, w: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Positions of the columns of ``X`` (constant first) that R ``lm``/``glm`` would estimate.

    In column order, a column is kept unless, on the rows with positive weight ``w``, it is
    (to the relative tolerance ``tol``, R's default) a linear combination of the columns kept
    before it; the others are aliased (no variation, or collinear). One pass over the columns.
    """
    A = X[w > 0] * np.sqrt(w[w > 0])[:, None]
    keep = [0]
    Q = A[:, :1] / max(np.linalg.norm(A[:, 0]), np.finfo(float).tiny)
    for j in range(1, X.shape[1]):  # a handful of covariates
        a = A[:, j]
        v = a - Q @ (Q.T @ a)
        v -= Q @ (Q.T @ v)  # a second Gram-Schmidt pass: orthogonal to working precision
        nv = np.linalg.norm(v)
        if nv > tol * np.linalg.norm(a):
            keep.append(j)
            Q = np.column_stack([Q, v / nv])
    return np.asarray(keep)


def panel_nocov(dY: np.ndarray, D: np.ndarray, w: np.ndarray):
    """Unconditional panel DiD (all methods coincide): difference of weighted mean changes.

    ``dY`` is overwritten with the influence functions (treated and comparison rows are
    disjoint, so each row is centred at its own group's mean and scaled once).
    """
    treated = D == 1
    wt, wc = np.where(treated, w, 0.0), np.where(treated, 0.0, w)
    st, sc = wt.sum(), wc.sum()
    n1 = len(D)
    y1 = wt @ dY / st
    y0 = wc @ dY / sc
    dY -= np.where(treated[:, None], y1, y0)
    dY *= np.where(treated, w * (n1 / st), -w * (n1 / sc))[:, None]
    return y1 - y0, dY


def panel_2x2(dY: np.ndarray, D: np.ndarray, w: np.ndarray, X: np.ndarray | None, method: str, what: str = "",
              ps: np.ndarray | None = None, trim: float = TRIM, strict_overlap: bool = True):
    """Panel ATT estimates for the ``m`` columns of ``dY`` (outcome changes) sharing ``D, w, X``.

    Returns ``att`` (m,) and the influence functions ``inf`` (n1, m) on the sample used.
    ``dY`` may be overwritten (it is a scratch array of the caller). ``ps``: a known or
    externally estimated propensity score (``ipw``/``dr``; its estimation then does not
    enter the influence function); ``trim``: comparison units with a score at or above it
    get no weight (1: none trimmed); ``strict_overlap=False``: scores reaching 0.999 are a
    :class:`~impact.estimators.logit.LogitWarning`, not an error (as R ``DRDID``). With ``dY`` an outcome level (no base period) these are
    the cross-sectional ATT estimators (:func:`impact.estimators.matching.ipw`, ``aipw``).
    """
    if X is None:
        return panel_nocov(dY, D, w)
    n1 = len(D)
    C = 1.0 - D
    if method == "reg":
        beta, _ = _wls(X[C == 1], w[C == 1], dY[C == 1], what)
        out = X @ beta
        wt = w * D
        mt = wt.mean()
        eta_t = wt @ dY / wt.sum()
        eta_c = wt @ out / wt.sum()
        XpX_inv = np.linalg.inv((X * (w * C)[:, None]).T @ X / n1)
        M1 = X.T @ wt / n1
        wres = (w * C)[:, None] * (dY - out)
        inf_treat = wt[:, None] * (dY - eta_t) / mt
        inf_cont = (wt[:, None] * (out - eta_c) + wres * (X @ (XpX_inv @ M1))[:, None]) / mt
        return eta_t - eta_c, inf_treat - inf_cont

    Hinv = None
    if ps is not None:
        ps = np.asarray(ps, dtype=float)
    elif method == "dr_improved":
        ps = ipt_fit(X, D, w)
    else:
        ps, Hinv = logit_fit(X, D, w)
        _check_overlap(ps, D, what, strict_overlap)
    ps = np.minimum(ps, PS_MAX)
    keep = np.where(D == 1, 1.0, (ps < trim).astype(float))
    wt = keep * w * D
    wc = keep * w * ps * C / (1 - ps)
    mt, mc = wt.mean(), wc.mean()

    if method == "ipw":
        eta_t = wt @ dY / wt.sum()
        eta_c = wc @ dY / wc.sum()
        inf_treat = wt[:, None] * (dY - eta_t) / mt
        inf_cont = wc[:, None] * (dY - eta_c)
        if Hinv is not None:  # estimation of the logit coefficients
            asy_ps = (w * (D - ps))[:, None] * X @ (Hinv * n1)
            inf_cont += asy_ps @ (X.T @ (wc[:, None] * (dY - eta_c)) / n1)
        return eta_t - eta_c, inf_treat - inf_cont / mc

    if method == "dr_improved":
        odds = ps / (1 - ps)
        beta, _ = _wls(X[C == 1], (w * odds)[C == 1], dY[C == 1], what)
        res = dY - X @ beta
        eta_t = wt @ res / wt.sum()
        eta_c = wc @ res / wc.sum()
        inf = wt[:, None] * (res - eta_t) / mt - wc[:, None] * (res - eta_c) / mc
        return eta_t - eta_c, inf

    if method != "dr":
        raise ValueError(f"unknown method {method!r}")
    wC = w * C
    beta, _ = _wls(X[C == 1], w[C == 1], dY[C == 1], what)
    res = dY - X @ beta
    eta_t = wt @ res / wt.sum()
    eta_c = wc @ res / wc.sum()
    XpX_inv = np.linalg.inv((X * wC[:, None]).T @ X / n1)
    a1 = X @ (XpX_inv @ (X.T @ wt / n1))  # OLS estimation effect on the treated part
    a3 = X @ (XpX_inv @ (X.T @ wc / n1))  # ... and on the comparison part
    # M2 = E[w_c (res - eta_c) X], without an n1 x m temporary
    M2 = ((X * wc[:, None]).T @ res - np.outer(X.T @ wc, eta_c)) / n1
    # treated and comparison rows are disjoint: each row has one coefficient on its residual
    coef = wt / mt - wC * a1 / mt - wc / mc + wC * a3 / mc
    inf = res
    inf *= coef[:, None]
    inf -= np.outer(wt / mt, eta_t)
    inf += np.outer(wc / mc, eta_c)
    if Hinv is not None:  # estimation of the logit coefficients
        asy_ps = (w * (D - ps))[:, None] * X @ (Hinv * n1)
        inf -= asy_ps @ (M2 / mc)
    return eta_t - eta_c, inf


def _ols_rep(X, sel_w, resid, n):
    """Asymptotic linear representation of a weighted OLS fit on the rows with weight ``sel_w``."""
    XpX = (X * sel_w[:, None]).T @ X / n
    if np.linalg.cond(XpX) > 1 / np.finfo(float).eps:
        raise DesignError("an outcome regression in the repeated cross-sections is singular (too few observations in a group-period?)")
    return (sel_w * resid)[:, None] * X @ np.linalg.inv(XpX)


def rcs_2x2(y: np.ndarray, post: np.ndarray, D: np.ndarray, w: np.ndarray, X: np.ndarray | None, method: str, what: str = "",
            strict_overlap: bool = True):
    """ATT from repeated cross-sections (pre and post rows) with its influence function (n1,)."""
    n = len(y)
    if X is None:
        X = np.ones((n, 1))
    C = 1.0 - D
    pre = 1.0 - post

    def fit(mask):
        b, _ = _wls(X[mask], w[mask], y[mask], what)
        return X @ b

    if method == "reg":
        o_pre, o_post = fit((C == 1) & (pre == 1)), fit((C == 1) & (post == 1))
        wtp, wtq, wc = w * D * pre, w * D * post, w * D
        e_tp, e_tq = wtp @ y / wtp.sum(), wtq @ y / wtq.sum()
        e_c = wc @ (o_post - o_pre) / wc.sum()
        att = (e_tq - e_tp) - e_c
        rep_pre = _ols_rep(X, w * C * pre, y - o_pre, n)
        rep_post = _ols_rep(X, w * C * post, y - o_post, n)
        inf_treat = wtq * (y - e_tq) / wtq.mean() - wtp * (y - e_tp) / wtp.mean()
        M1 = X.T @ wc / n
        inf_cont = (wc * (o_post - o_pre - e_c) + rep_post @ M1 - rep_pre @ M1) / wc.mean()
        return att, inf_treat - inf_cont

    if method not in ("ipw", "dr"):
        raise DesignError(f"method {method!r} is not available for repeated cross-sections (use 'dr', 'ipw' or 'reg')")
    ps, Hinv = logit_fit(X, D, w)
    _check_overlap(ps, D, what, strict_overlap)
    ps = np.minimum(ps, PS_MAX)
    trim = np.where(D == 1, 1.0, (ps < TRIM).astype(float))
    odds = ps / (1 - ps)
    w_tp, w_tq = trim * w * D * pre, trim * w * D * post
    w_cp, w_cq = trim * w * odds * C * pre, trim * w * odds * C * post
    asy_ps = (w * (D - ps))[:, None] * X @ (Hinv * n)

    if method == "ipw":
        a_tp, a_tq = w_tp @ y / w_tp.sum(), w_tq @ y / w_tq.sum()
        a_cp, a_cq = w_cp @ y / w_cp.sum(), w_cq @ y / w_cq.sum()
        att = (a_tq - a_tp) - (a_cq - a_cp)
        inf_treat = w_tq * (y - a_tq) / w_tq.mean() - w_tp * (y - a_tp) / w_tp.mean()
        inf_cont = w_cq * (y - a_cq) / w_cq.mean() - w_cp * (y - a_cp) / w_cp.mean()
        M2 = X.T @ (w_cq * (y - a_cq)) / n / w_cq.mean() - X.T @ (w_cp * (y - a_cp)) / n / w_cp.mean()
        return att, inf_treat - (inf_cont + asy_ps @ M2)

    # locally efficient doubly robust (four outcome regressions)
    oc_pre, oc_post = fit((C == 1) & (pre == 1)), fit((C == 1) & (post == 1))
    ot_pre, ot_post = fit((D == 1) & (pre == 1)), fit((D == 1) & (post == 1))
    oc = post * oc_post + pre * oc_pre
    wd, wd1, wd0 = trim * w * D, trim * w * D * post, trim * w * D * pre

    def comp(wts, v):
        return wts * v / wts.mean()

    e_tp, e_tq = comp(w_tp, y - oc), comp(w_tq, y - oc)
    e_cp, e_cq = comp(w_cp, y - oc), comp(w_cq, y - oc)
    e_dq, e_d1 = comp(wd, ot_post - oc_post), comp(wd1, ot_post - oc_post)
    e_dp, e_d0 = comp(wd, ot_pre - oc_pre), comp(wd0, ot_pre - oc_pre)
    a = {k: v.mean() for k, v in dict(tp=e_tp, tq=e_tq, cp=e_cp, cq=e_cq, dq=e_dq, d1=e_d1, dp=e_dp, d0=e_d0).items()}
    att = (a["tq"] - a["tp"]) - (a["cq"] - a["cp"]) + (a["dq"] - a["d1"]) - (a["dp"] - a["d0"])

    rep_cp = _ols_rep(X, w * C * pre, y - oc_pre, n)
    rep_cq = _ols_rep(X, w * C * post, y - oc_post, n)
    rep_tp = _ols_rep(X, w * D * pre, y - ot_pre, n)
    rep_tq = _ols_rep(X, w * D * post, y - ot_post, n)

    inf_tp = e_tp - w_tp * a["tp"] / w_tp.mean()
    inf_tq = e_tq - w_tq * a["tq"] / w_tq.mean()
    M1q = -X.T @ (w_tq * post) / n / w_tq.mean()
    M1p = -X.T @ (w_tp * pre) / n / w_tp.mean()
    # the pre-period OR effects enter with a minus (R DRDID 1.x adds them; a finite-difference
    # check of the influence function and csdid agree with the minus)
    inf_treat = inf_tq - inf_tp + rep_cq @ M1q - rep_cp @ M1p

    inf_cp = e_cp - w_cp * a["cp"] / w_cp.mean()
    inf_cq = e_cq - w_cq * a["cq"] / w_cq.mean()
    M2p = X.T @ (w_cp * (y - oc - a["cp"])) / n / w_cp.mean()
    M2q = X.T @ (w_cq * (y - oc - a["cq"])) / n / w_cq.mean()
    M3q = -X.T @ (w_cq * post) / n / w_cq.mean()
    M3p = -X.T @ (w_cp * pre) / n / w_cp.mean()
    inf_cont = inf_cq - inf_cp + asy_ps @ (M2q - M2p) + rep_cq @ M3q - rep_cp @ M3p

    inf_eff = (e_dq - wd * a["dq"] / wd.mean()) - (e_d1 - wd1 * a["d1"] / wd1.mean())
    inf_eff -= (e_dp - wd * a["dp"] / wd.mean()) - (e_d0 - wd0 * a["d0"] / wd0.mean())
    mom_q = X.T @ (wd / wd.mean() - wd1 / wd1.mean()) / n
    mom_p = X.T @ (wd / wd.mean() - wd0 / wd0.mean()) / n
    inf_or = (rep_tq - rep_cq) @ mom_q - (rep_tp - rep_cp) @ mom_p
    return att, inf_treat - inf_cont + inf_eff + inf_or

"""Propensity-score weighting estimators of the ATT: IPW (Hajek) and doubly robust (AIPW).

Cross-checks beside matching. Both use the unpenalised logit score of
:mod:`impact.estimators.matching.propensity`; standard errors come from influence
functions (:mod:`impact.estimators.inference`), clustered when ``cluster`` is given.

* IPW (Hajek, normalised weights): ``tau = mean_{D=1} Y - sum_{D=0} w_i Y_i / sum_{D=0} w_i``
  with ``w_i = e_i / (1 - e_i)``; its influence function includes the estimation of the
  logit coefficients (M-estimation stacking).
* AIPW (the doubly robust ATT of Sant'Anna and Zhao 2020, cross-section): the same
  weighting applied to residuals from a linear outcome regression fitted on the controls;
  consistent if either the score or the outcome model is right. Its standard error uses the
  influence function with the nuisance models taken as known (exact when both are right).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.inference import influence_se, normal_ci, p_value
from impact.estimators.matching._input import prepare, to_polars
from impact.estimators.matching.balance import balance_table
from impact.estimators.matching.propensity import fit_propensity
from impact.estimators.matching.results import MatchingResults
from impact.estimators.matching.support import check_overlap, overlap_summary, trim_mask
from impact.estimators.results import tidy_estimates


def _setup(data, treatment, outcome, covariates, trim, refit, cluster, horizons, ps_model):
    df = to_polars(data)
    prep = prepare(df, treatment, outcome, covariates, cluster=cluster, horizon=horizons)
    if prep.x.shape[1] == 0:
        raise DesignError("weighting estimators need covariates for the propensity score")
    ps = fit_propensity(prep.x, prep.d, prep.covariates, ps_model, stats=prep.stats)
    keep = np.ones(len(prep.d), bool)
    notes, trim_info = [], {"rule": None}
    if trim is not None:
        keep, trim_info = trim_mask(ps.score, prep.d, trim)
        notes.append(f"trimmed by {trim_info['rule']}: dropped {trim_info['dropped_treated']} treated and "
                     f"{trim_info['dropped_controls']} controls")
        if refit:
            ps = fit_propensity(prep.x[keep], prep.d[keep], prep.covariates, ps_model)
        else:
            from impact.estimators.matching.core import _subset_ps

            ps = _subset_ps(ps, keep)
    check_overlap(ps.score, prep.d[keep])
    return prep, ps, keep, notes, trim_info


def _finish(prep, ps, keep, notes, trim_info, tau, psi, w, method, level, cluster_arr, estimand="ATT"):
    se = np.array([influence_se(psi[:, j], cluster_arr)[0] for j in range(psi.shape[1])])
    lo, hi = normal_ci(tau, se, level)
    d = prep.d[keep]
    est = pd.DataFrame({
        "outcome": prep.outcomes, "estimand": estimand,
        "horizon": [np.nan if h is None else h for h in prep.horizons],
        "estimate": tau, "std_error": se, "ci_lower": lo, "ci_upper": hi, "p_value": p_value(tau, se),
        "n_treated": int(d.sum()), "n_controls": int((~d).sum()), "n_controls_used": int(((w > 0) & ~d).sum()),
    })
    score = np.full(len(prep.d), np.nan)
    score[keep] = ps.score
    full_w = np.zeros(len(prep.d))
    full_w[keep] = w
    return MatchingResults(
        estimates=tidy_estimates(est, level), method=method, level=level, notes=notes,
        info={"n_obs": int(keep.sum()), "n_trimmed": int((~keep).sum()), "propensity": ps.kind},
        balance=balance_table(prep.x[keep], d, prep.covariates, weights=w, estimand="ATT"),
        overlap=overlap_summary(ps.score, d), score=score, treated=prep.d, weights=full_w, propensity=ps,
        estimand_note="average effect on the treated, E[Y(1) - Y(0) | D = 1]", extra={"trim": trim_info},
    )


def ipw(
    data: Any, treatment: str, outcome: str | Sequence[str], covariates: Sequence[str], trim: Any = None,
    refit: bool = False, cluster: str | None = None, level: float = 0.95, horizons: dict[str, Any] | None = None,
    ps_model: str = "logit", estimand: str = "ATT",
) -> MatchingResults:
    """Hajek inverse-probability-weighting estimate of the ATT (odds weights on the controls)."""
    if estimand.upper() != "ATT":
        raise DesignError("ipw() estimates the ATT only")
    prep, ps, keep, notes, trim_info = _setup(data, treatment, outcome, covariates, trim, refit, cluster, horizons,
                                              ps_model)
    d, y = prep.d[keep], prep.y[keep]
    e = ps.score
    n = len(d)
    w = np.where(d, 1.0, e / (1 - e))
    p_bar = d.mean()
    mu1 = y[d].mean(axis=0)
    wc = np.where(d, 0.0, w)
    mu0 = (wc[:, None] * y).sum(axis=0) / wc.sum()
    tau = mu1 - mu0
    # influence function, including the estimation of the logit coefficients
    psi = (d[:, None] * (y - mu1) - wc[:, None] * (y - mu0)) / p_bar
    if ps.x is not None:  # (design is built on each access)
        X = ps.design
        info = (X * (e * (1 - e))[:, None]).T @ X / n
        score_if = np.linalg.solve(info, (X * (d - e)[:, None]).T).T  # (n, p+1)
        for j in range(y.shape[1]):
            G = (X * (wc * (y[:, j] - mu0[j]))[:, None]).sum(axis=0) / n / p_bar  # d mu0 / d theta
            psi[:, j] -= score_if @ G
    cl = None if prep.cluster is None else prep.cluster[keep]
    return _finish(prep, ps, keep, notes, trim_info, tau, psi, w / 1.0, "inverse probability weighting (Hajek, ATT)",
                   level, cl)


def aipw(
    data: Any, treatment: str, outcome: str | Sequence[str], covariates: Sequence[str], trim: Any = None,
    refit: bool = False, cluster: str | None = None, level: float = 0.95, horizons: dict[str, Any] | None = None,
    ps_model: str = "logit", estimand: str = "ATT",
) -> MatchingResults:
    """Doubly robust (augmented IPW) estimate of the ATT: odds-weighted controls' residuals from
    a linear outcome model fitted on the controls."""
    if estimand.upper() != "ATT":
        raise DesignError("aipw() estimates the ATT only")
    prep, ps, keep, notes, trim_info = _setup(data, treatment, outcome, covariates, trim, refit, cluster, horizons,
                                              ps_model)
    d, y, x = prep.d[keep], prep.y[keep], prep.x[keep]
    e = ps.score
    X = np.column_stack([np.ones(len(d)), x])
    beta, *_ = np.linalg.lstsq(X[~d], y[~d], rcond=None)
    m0 = X @ beta
    r = y - m0
    w1 = d.astype(float)
    w0 = np.where(d, 0.0, e / (1 - e))
    a1 = (w1[:, None] * r).sum(axis=0) / w1.sum()
    a0 = (w0[:, None] * r).sum(axis=0) / w0.sum()
    tau = a1 - a0
    psi = w1[:, None] * (r - a1) / w1.mean() - w0[:, None] * (r - a0) / w0.mean()
    cl = None if prep.cluster is None else prep.cluster[keep]
    return _finish(prep, ps, keep, notes, trim_info, tau, psi, np.where(d, 1.0, w0),
                   "augmented inverse probability weighting (doubly robust, ATT)", level, cl)

"""Propensity-score weighting estimators: IPW (Hajek) and doubly robust (AIPW), ATT or ATE.

Cross-checks beside matching. The score is the unpenalised logit of
:mod:`impact.estimators.matching.propensity`, or a known / externally estimated score
(``propensity=``). Standard errors come from influence functions
(:mod:`impact.estimators.inference`; clustered when ``cluster`` is given) that include the
estimation of every nuisance parameter (the stacked M-estimation sandwich, as Stata
``teffects`` and R ``DRDID`` compute it), with divisor ``n``: ``V = sum(psi^2) / n^2``.

Estimands and estimators (``e`` the score, ``D`` treatment):

* IPW, ATT: ``mean_{D=1} Y - sum_{D=0} w Y / sum_{D=0} w`` with odds weights
  ``w = e/(1-e)`` (R ``DRDID::std_ipw_did_panel`` with no base period; Stata
  ``teffects ipw, atet``).
* IPW, ATE: ``sum D Y/e / sum D/e - sum (1-D) Y/(1-e) / sum (1-D)/(1-e)`` (Stata
  ``teffects ipw``).
* AIPW, ATT: the doubly robust ATT of Sant'Anna and Zhao (2020): the odds weighting applied
  to the residuals of a linear outcome regression fitted on the controls (R
  ``DRDID::drdid_panel`` with no base period); consistent if either model is right.
* AIPW, ATE: ``mean[m1 + D (Y - m1)/e] - mean[m0 + (1-D)(Y - m0)/(1-e)]`` with ``m_w`` the
  least-squares fit of Y on the covariates in group ``w`` (Stata ``teffects aipw``).

With an external score its estimation error is not in the standard error (a note says so).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.did._twoperiod import panel_2x2
from impact.estimators.inference import influence_se, normal_ci, p_value
from impact.estimators.matching._input import numeric_column, prepare, to_polars
from impact.estimators.matching.balance import balance_table
from impact.estimators.matching.propensity import fit_propensity
from impact.estimators.matching.results import MatchingResults
from impact.estimators.matching.support import check_overlap, overlap_summary, trim_mask
from impact.estimators.results import tidy_estimates

_ESTIMAND_NOTES = {
    "ATT": "average effect on the treated, E[Y(1) - Y(0) | D = 1]",
    "ATE": "average effect in the whole sample, E[Y(1) - Y(0)]",
}


def _setup(data, treatment, outcome, covariates, trim, refit, cluster, horizons, ps_model, propensity, estimand):
    estimand = estimand.upper()
    if estimand not in _ESTIMAND_NOTES:
        raise DesignError(f"estimand must be 'ATT' or 'ATE' for the weighting estimators, got {estimand!r}")
    df = to_polars(data)
    prep = prepare(df, treatment, outcome, covariates, cluster=cluster, horizon=horizons)
    notes: list[str] = []
    if propensity is not None:
        e = numeric_column(df, propensity, "propensity score") if isinstance(propensity, str) else \
            np.asarray(propensity, dtype=float)
        if len(e) != len(prep.d) or not np.isfinite(e).all() or np.any((e <= 0) | (e >= 1)):
            raise DesignError("a given propensity score must have one value per row, strictly between 0 and 1")
        ps = None
        notes.append("the propensity score is given (known or estimated elsewhere): its estimation error is not "
                     "in the standard errors")
    else:
        if prep.x.shape[1] == 0:
            raise DesignError("weighting estimators need covariates for the propensity score (or propensity=)")
        ps = fit_propensity(prep.x, prep.d, prep.covariates, ps_model, stats=prep.stats)
        e = ps.score
        if ps.info.get("warning"):
            notes.append(f"propensity logit: {ps.info['warning']}")
    keep = np.ones(len(prep.d), bool)
    trim_info: dict = {"rule": None}
    if trim is not None:
        keep, trim_info = trim_mask(e, prep.d, trim)
        notes.append(f"trimmed by {trim_info['rule']}: dropped {trim_info['dropped_treated']} treated and "
                     f"{trim_info['dropped_controls']} controls")
        if refit and ps is not None:
            ps = fit_propensity(prep.x[keep], prep.d[keep], prep.covariates, ps_model)
            e = ps.score
        else:
            from impact.estimators.matching.core import _subset_ps

            e = e[keep]
            ps = None if ps is None else _subset_ps(ps, keep)
    check_overlap(e, prep.d[keep])
    if ps is not None and ps.kind != "logit":
        notes.append(f"a {ps.kind} propensity score: its estimation error is not in the standard errors")
    return prep, ps, e, keep, notes, trim_info, estimand


def _logit_rep(ps, d: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The design ``[1, x]`` and the influence function of the logit coefficients (None:
    the score is not an estimated logit)."""
    if ps is None or ps.kind != "logit" or ps.x is None:
        return None
    X = ps.design
    info = (X * (e * (1 - e))[:, None]).T @ X / len(d)
    return X, np.linalg.solve(info, (X * (d - e)[:, None]).T).T


def _ate(d: np.ndarray, y: np.ndarray, e: np.ndarray, ps, x: np.ndarray | None, doubly_robust: bool):
    """ATE estimates (m,) and influence functions (n, m) of IPW (Hajek) or AIPW with linear outcome
    models by group, including the estimation of the logit and of the outcome regressions."""
    n, m = y.shape
    rep = _logit_rep(ps, d, e)
    D = d.astype(float)
    tau = np.zeros(m)
    psi = np.zeros((n, m))
    # d(g / p_g)/dtheta = (g / p_g) dp X with dp = -(1 - e) (treated, p = e) or e (controls, p = 1 - e)
    for sign, g, p_g, dp in ((1.0, D, e, -(1 - e)), (-1.0, 1 - D, 1 - e, e)):
        wg = g / p_g
        if doubly_robust:
            Z = np.column_stack([np.ones(n), x])
            A = (Z * g[:, None]).T @ Z / n
            beta = np.linalg.solve(A, (Z * g[:, None]).T @ y / n)
            mg = Z @ beta
            mu = (mg + wg[:, None] * (y - mg)).mean(axis=0)
            psi_g = mg + wg[:, None] * (y - mg) - mu
            # estimation of the outcome regression: d mu / d beta = mean[Z (1 - g/p_g)]
            G = Z.T @ (1 - wg) / n
            psi_g += (g * (Z @ np.linalg.solve(A, G)))[:, None] * (y - mg)
            if rep is not None:
                X, ifth = rep
                psi_g += ifth @ (X.T @ ((wg * dp)[:, None] * (y - mg)) / n)
        else:
            sw = wg.mean()
            mu = (wg[:, None] * y).sum(axis=0) / wg.sum()
            psi_g = wg[:, None] * (y - mu)
            if rep is not None:
                X, ifth = rep
                psi_g += ifth @ (X.T @ ((wg * dp)[:, None] * (y - mu)) / n)
            psi_g /= sw
        tau += sign * mu
        psi += sign * psi_g
    return tau, psi


def _estimate(kind, data, treatment, outcome, covariates, estimand, propensity, trim, refit, cluster, level, horizons,
              ps_model):
    prep, ps, e, keep, notes, trim_info, estimand = _setup(data, treatment, outcome, covariates, trim, refit, cluster,
                                                           horizons, ps_model, propensity, estimand)
    d, y = prep.d[keep], prep.y[keep]
    x = prep.x[keep]
    if kind == "aipw" and x.shape[1] == 0:
        raise DesignError("aipw needs covariates for the outcome regression")
    if estimand == "ATT":
        X = np.column_stack([np.ones(len(d)), x])
        given = None if (ps is not None and ps.kind == "logit") else e
        tau, psi = panel_2x2(y.copy(), d.astype(float), np.ones(len(d)), X, "ipw" if kind == "ipw" else "dr",
                             ps=given, trim=1.0)
        w = np.where(d, 1.0, e / (1 - e))
    else:
        tau, psi = _ate(d, y, e, ps, x, kind == "aipw")
        w = np.where(d, 1.0 / e, 1.0 / (1 - e))
    cl = None if prep.cluster is None else prep.cluster[keep]
    se = np.array([influence_se(psi[:, j], cl)[0] for j in range(psi.shape[1])])
    lo, hi = normal_ci(tau, se, level)
    est = pd.DataFrame({
        "outcome": prep.outcomes, "estimand": estimand,
        "horizon": [np.nan if h is None else h for h in prep.horizons],
        "estimate": tau, "std_error": se, "ci_lower": lo, "ci_upper": hi, "p_value": p_value(tau, se),
        "n_treated": int(d.sum()), "n_controls": int((~d).sum()), "n_controls_used": int(((w > 0) & ~d).sum()),
        "n_treated_used": int(d.sum()),
    })
    score = np.full(len(prep.d), np.nan)
    score[keep] = e
    full_w = np.zeros(len(prep.d))
    full_w[keep] = w
    method = {("ipw", "ATT"): "inverse probability weighting (Hajek, ATT)",
              ("ipw", "ATE"): "inverse probability weighting (Hajek, ATE)",
              ("aipw", "ATT"): "augmented inverse probability weighting (doubly robust, ATT)",
              ("aipw", "ATE"): "augmented inverse probability weighting (doubly robust, ATE)"}[(kind, estimand)]
    return MatchingResults(
        estimates=tidy_estimates(est, level), method=method, level=level, notes=notes,
        info={"n_obs": int(keep.sum()), "n_trimmed": int((~keep).sum()),
              "propensity": "given" if propensity is not None else ps.kind,
              "vce": "influence function incl. the estimation of the nuisance models (divisor n)"},
        balance=balance_table(x, d, prep.covariates, weights=w, estimand=estimand) if x.shape[1] else None,
        overlap=overlap_summary(e, d), score=score, treated=prep.d, weights=full_w, propensity=ps,
        estimand_note=_ESTIMAND_NOTES[estimand], extra={"trim": trim_info, "influence": psi},
    )


def ipw(
    data: Any, treatment: str, outcome: str | Sequence[str], covariates: Sequence[str], trim: Any = None,
    refit: bool = False, cluster: str | None = None, level: float = 0.95, horizons: dict[str, Any] | None = None,
    ps_model: str = "logit", estimand: str = "ATT", propensity: str | np.ndarray | None = None,
) -> MatchingResults:
    """Hajek inverse-probability-weighting estimate of the ATT (odds weights on the controls) or the ATE.

    ``propensity``: a column (or array) with a known or externally estimated score instead of
    the logit on ``covariates`` (then only used for balance). See the module docstring for the
    estimators and their standard errors.
    """
    return _estimate("ipw", data, treatment, outcome, covariates, estimand, propensity, trim, refit, cluster, level,
                     horizons, ps_model)


def aipw(
    data: Any, treatment: str, outcome: str | Sequence[str], covariates: Sequence[str], trim: Any = None,
    refit: bool = False, cluster: str | None = None, level: float = 0.95, horizons: dict[str, Any] | None = None,
    ps_model: str = "logit", estimand: str = "ATT", propensity: str | np.ndarray | None = None,
) -> MatchingResults:
    """Doubly robust (augmented IPW) estimate of the ATT (Sant'Anna and Zhao) or the ATE (Stata ``teffects aipw``).

    Outcome regressions are linear in ``covariates``; ``propensity`` as in :func:`ipw`.
    """
    return _estimate("aipw", data, treatment, outcome, covariates, estimand, propensity, trim, refit, cluster, level,
                     horizons, ps_model)

"""Augmented synthetic control (Ben-Michael, Feller and Rothstein 2021), ridge outcome model.

Estimand: the effect path ``alpha_t = Y_1t(1) - Y_1t(0)`` of the treated unit (several
units treated at the same time: their average) for ``t >= T0``, and its average over the
post period.

The synthetic control's weights ``w_scm`` (simplex, matching the pre-period outcomes) leave an
imbalance ``x_1 - X_0'w_scm``; a ridge regression of the post-period outcomes on the
pre-period outcomes among the controls estimates the bias that imbalance causes and removes
it. Equivalently the weights become ``w = w_scm + X_0 (X_0'X_0 + lambda I)^{-1} (x_1 - X_0'w_scm)``
(pre-period outcomes centred at the controls' means), which may be negative: the estimate
then extrapolates beyond the donors' convex hull, by as much as ``weights`` shows. The ridge
penalty is chosen as ``augsynth`` does: leave-one-pre-period-out cross-validation over a
geometric grid below the largest squared singular value, taking the largest ``lambda`` whose
error is within one standard error of the minimum.

Covariates (time-invariant, averaged over the pre-period): with ``residualize=True`` the
pre-period outcomes are residualised on them before weighting and the weights are then
corrected to balance the covariates exactly (``augsynth``'s ``residualize = TRUE``);
otherwise they are appended to the outcomes, scaled like them (``augsynth``'s default).

Intervals (:meth:`AscmResults.interval`): the jackknife+ over pre-periods (Barber et al. 2021
as in ``augsynth``: refit without each pre-period, its held-out error widens the refit's
prediction), for each period and for the average; and the conformal interval (Chernozhukov,
Wüthrich and Zhu 2021 as in ``augsynth``: the null effect is imposed on one post period,
which joins the fit, and the residual of that period is ranked among permuted residuals) for
each period, with the p-value of no effect in any period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.results import EstimationResults, tidy_estimates
from impact.estimators.synth._wide import treatment_times, wide_panel
from impact.estimators.synth.core import SynthResults
from impact.estimators.synth.prep import _fmt_time
from impact.estimators.synth.solver import simplex_lsq

INTERVALS = ("jackknife+", "conformal")


# --------------------------------------------------------------------------- numerical core
@dataclass(frozen=True)
class _Spec:
    """What the fit does besides the data: ridge or not, a fixed lambda, covariate handling."""

    ridge: bool = True
    lam: float | None = None
    residualize: bool = True
    lambda_min_ratio: float = 1e-8
    n_lambda: int = 20
    min_1se: bool = True


@dataclass
class _AugFit:
    weights: np.ndarray  # final weights on the controls
    scm_weights: np.ndarray
    lam: float | None
    lambdas: np.ndarray | None = None
    cv_errors: np.ndarray | None = None
    cv_se: np.ndarray | None = None


def _scm(Xc: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Simplex weights minimising ``|x1 - Xc'w|`` (``Xc``: controls x periods)."""
    w = simplex_lsq(np.ascontiguousarray(Xc.T), np.ascontiguousarray(x1))
    return np.where(w > 1e-12, w, 0.0) / np.where(w > 1e-12, w, 0.0).sum()


def _ridge_adjust(Xc: np.ndarray, x1: np.ndarray, syn: np.ndarray, lam: float) -> np.ndarray:
    r = x1 - Xc.T @ syn
    return Xc @ np.linalg.solve(Xc.T @ Xc + lam * np.eye(Xc.shape[1]), r)


def _cv_lambda(Xc: np.ndarray, x1: np.ndarray, spec: _Spec) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """augsynth's ``cv_lambda`` with one held-out pre-period at a time."""
    lmax = np.linalg.svd(Xc, compute_uv=False)[0] ** 2
    scaler = spec.lambda_min_ratio ** (1 / spec.n_lambda)
    lambdas = lmax * scaler ** np.arange(spec.n_lambda + 1)
    t0 = Xc.shape[1]
    if t0 < 3:
        raise DesignError(f"the ridge penalty is cross-validated over pre-periods; need at least 3, got {t0}")
    err = np.empty((t0 - 1, len(lambdas)))
    for i in range(t0 - 1):  # each pre-period but the last held out in turn
        keep = np.delete(np.arange(t0), i)
        X0, x1k = Xc[:, keep], x1[keep]
        syn = _scm(X0, x1k)
        r = x1k - X0.T @ syn
        G = X0.T @ X0
        for j, lam in enumerate(lambdas):
            w = syn + X0 @ np.linalg.solve(G + lam * np.eye(len(keep)), r)
            err[i, j] = (x1[i] - Xc[:, i] @ w) ** 2
    mean = err.mean(axis=0)
    se = err.std(axis=0, ddof=1) / np.sqrt(err.shape[0])
    k = int(np.argmin(mean))
    lam = float(lambdas[k]) if not spec.min_1se else float(lambdas[mean <= mean[k] + se[k]].max())
    return lam, lambdas, mean, se


def _fit_weights(X: np.ndarray, treated: np.ndarray, Z: np.ndarray | None, spec: _Spec) -> _AugFit:
    """Weights from the pre-period outcome matrix ``X`` (units x pre-periods)."""
    ctrl = ~treated
    Xcent = X - X[ctrl].mean(axis=0)
    Xc, x1 = Xcent[ctrl], Xcent[treated].mean(axis=0)
    Zc = z1 = None
    if Z is not None:
        Zcent = Z - Z[ctrl].mean(axis=0)
        Zc, z1 = Zcent[ctrl], Zcent[treated].mean(axis=0)
        if spec.residualize:
            P = np.linalg.solve(Zc.T @ Zc, Zc.T @ Xc)
            Xc, x1 = Xc - Zc @ P, x1 - z1 @ P
        else:  # append covariates on the outcomes' scale
            sdz = Zc.std(axis=0, ddof=1)
            sdx = Xc.std(ddof=1)
            Xc = np.column_stack([Xc, sdx * Zc / sdz])
            x1 = np.concatenate([x1, sdx * z1 / sdz])
    syn = _scm(Xc, x1)
    lam, lambdas, mean, se = spec.lam, None, None, None
    w = syn.copy()
    if spec.ridge:
        if lam is None:
            lam, lambdas, mean, se = _cv_lambda(Xc, x1, spec)
        w = syn + _ridge_adjust(Xc, x1, syn, lam)
    if Z is not None and spec.residualize:  # balance the covariates exactly
        w = w + Zc @ np.linalg.solve(Zc.T @ Zc, z1 - Zc.T @ w)
    return _AugFit(w, syn, lam, lambdas, mean, se)


# --------------------------------------------------------------------------- results
@dataclass
class AscmResults(EstimationResults):
    """A ridge-augmented synthetic control fit (see the module docstring).

    ``weights`` (controls; may be negative), ``scm_weights`` (the synthetic control's),
    ``ridge`` (the penalty), ``paths`` (time, treated, synthetic, gap, post, synthetic_scm),
    ``lambda_cv`` (penalty grid with cross-validation error), ``diagnostics``.
    """

    treated: Any = None
    treatment_time: Any = None
    weights: pd.Series = field(default_factory=pd.Series)
    scm_weights: pd.Series = field(default_factory=pd.Series)
    ridge: float | None = None
    paths: pd.DataFrame = field(default_factory=pd.DataFrame)
    lambda_cv: pd.DataFrame = field(default_factory=pd.DataFrame)
    diagnostics: dict = field(default_factory=dict)
    _Y: np.ndarray | None = field(default=None, repr=False)
    _treated_rows: np.ndarray | None = field(default=None, repr=False)
    _T0: int = 0
    _Z: np.ndarray | None = field(default=None, repr=False)
    _spec: _Spec | None = field(default=None, repr=False)

    # the average gap over a post-period window, exactly as the synthetic control's (same paths layout)
    att = SynthResults.att

    def interval(self, method: str = "jackknife+", level: float = 0.95, n_perm: int = 1000, grid_size: int = 50,
                 seed: int = 0, permutation: str = "iid") -> pd.DataFrame:
        """Intervals for each post period's effect and (jackknife+) for their average.

        ``method="jackknife+"``: refit without each pre-period (ridge penalty fixed); the
        held-out period's error widens each refit's prediction; bounds are the ``alpha/2`` and
        ``1 - alpha/2`` quantiles across the refits. ``method="conformal"``: for each post
        period, a grid of ``grid_size`` nulls around its estimate (+/- 2 x the RMS of the
        post-period gaps, and 0); the null is imposed on that period, which joins the fit, and
        its residual is ranked among ``n_perm`` permutations (``permutation="iid"``, numpy's
        generator with ``seed``) or the cyclic shifts (``"block"``) of all residuals; the set is
        the range of the nulls with p >= 1 - level. The average row then carries only the
        p-value of no effect in any period.

        Returns a table: ``time`` (``"average"`` last), ``estimate``, ``ci_lower``,
        ``ci_upper``, ``p_value`` (conformal).
        """
        if method not in INTERVALS:
            raise DesignError(f"interval method must be one of {INTERVALS}, got {method!r}")
        if not 0 < level < 1:
            raise DesignError(f"level must be in (0, 1), got {level}")
        alpha = 1 - level
        Y, T0 = self._Y, self._T0
        tr = np.zeros(Y.shape[0], dtype=bool)
        tr[self._treated_rows] = True
        y1 = Y[tr].mean(axis=0)
        post_t = self.paths["time"].to_numpy()[T0:]
        est = self.paths["gap"].to_numpy()[T0:]
        spec = _Spec(**{**self._spec.__dict__, "lam": self.ridge})
        if method == "jackknife+":
            if T0 < 3:
                raise DesignError("the jackknife+ interval needs at least 3 pre-periods")
            lo_d, hi_d = [], []
            for t in range(T0):  # leave each pre-period out
                order = np.concatenate([np.delete(np.arange(T0), t), [t], np.arange(T0, Y.shape[1])])
                f = _fit_weights(Y[:, order[:T0 - 1]], tr, self._Z, spec)
                pred = f.weights @ Y[~tr][:, order]
                err = y1[t] - pred[T0 - 1]
                p = np.concatenate([pred[T0:], [pred[T0:].mean()]])
                lo_d.append(p - abs(err))
                hi_d.append(p + abs(err))
            lo = np.quantile(np.array(lo_d), alpha / 2, axis=0)
            hi = np.quantile(np.array(hi_d), 1 - alpha / 2, axis=0)
            y1p = np.concatenate([y1[T0:], [y1[T0:].mean()]])
            return pd.DataFrame({"time": list(post_t) + ["average"], "estimate": np.concatenate([est, [est.mean()]]),
                                 "ci_lower": y1p - hi, "ci_upper": y1p - lo, "p_value": np.nan})
        if permutation not in ("iid", "block"):
            raise DesignError(f"permutation must be 'iid' or 'block', got {permutation!r}")
        gen = np.random.default_rng(seed)
        post_sd = float(np.sqrt(np.mean(est**2)))

        def pval(h0: np.ndarray, periods: np.ndarray) -> float:
            """p-value of the null ``h0`` on the post periods ``periods`` (which join the fit)."""
            Ya = Y.copy()
            Ya[np.ix_(tr, T0 + periods)] -= h0
            cols = np.concatenate([np.arange(T0), T0 + periods])
            f = _fit_weights(Ya[:, cols], tr, self._Z, spec)
            res = Ya[tr][:, cols].mean(axis=0) - f.weights @ Ya[~tr][:, cols]
            n, k = len(res), len(periods)
            stat = lambda x: np.abs(x).sum(axis=-1) / np.sqrt(k)  # noqa: E731 - augsynth's default statistic (q = 1)
            obs = stat(res[-k:])
            if permutation == "iid":
                perm = np.argsort(gen.random((n_perm, n)), axis=1)
                draws = stat(res[perm][:, -k:])
            else:
                idx = (np.arange(n)[None, :] + np.arange(n)[:, None]) % n
                draws = stat(res[idx][:, -k:])
            return float(np.mean(obs <= draws))

        rows = []
        for j in range(len(est)):  # each post period
            grid = np.concatenate([np.linspace(est[j] - 2 * post_sd, est[j] + 2 * post_sd, grid_size), [0.0]])
            ps = np.array([pval(np.array([g]), np.array([j])) for g in grid])
            acc = grid[ps >= alpha]
            rows.append({"time": post_t[j], "estimate": est[j], "ci_lower": acc.min() if acc.size else np.nan,
                         "ci_upper": acc.max() if acc.size else np.nan, "p_value": ps[-1]})
        p0 = pval(np.zeros(len(est)), np.arange(len(est)))
        rows.append({"time": "average", "estimate": est.mean(), "ci_lower": np.nan, "ci_upper": np.nan, "p_value": p0})
        return pd.DataFrame(rows)


def augmented_synthetic_control(
    data: Any,
    unit: str,
    time: str,
    outcome: str,
    treated: Any,
    treatment_time: Any,
    ridge: float | None = None,
    covariates: Sequence[str] | None = None,
    residualize: bool = True,
    scm: bool = True,
    min_1se: bool = True,
    lambda_min_ratio: float = 1e-8,
    n_lambda: int = 20,
    level: float = 0.95,
) -> AscmResults:
    """Ridge-augmented synthetic control for a treated unit (or the average of several treated
    at the same time).

    Estimand: the post-period effect path of the treated unit(s) and its average
    (:meth:`AscmResults.att`).

    Parameters
    ----------
    data : balanced long panel (polars or pandas), one row per unit and period.
    unit, time, outcome : column names.
    treated : the treated unit or a list of units treated at ``treatment_time``.
    treatment_time : first treated period (pre-period ``t < T0``, post ``t >= T0``).
    ridge : the ridge penalty ``lambda``; ``None`` chooses it by cross-validation (augsynth's
        rule, ``min_1se``, ``lambda_min_ratio``, ``n_lambda``); ``0`` is not allowed (use a tiny value).
    covariates : time-invariant covariates (columns of ``data``, averaged over each unit's
        pre-period rows, missing values skipped).
    residualize : covariates by residualisation (True) or appended to the outcomes (False).
    scm : start from the synthetic control's weights (True) or from uniform weights (ridge ASCM
        around the simple difference).
    """
    if ridge is not None and not ridge > 0:
        raise DesignError(f"ridge must be positive (or None to cross-validate it), got {ridge!r}")
    covs = list(covariates or [])
    Y, units, times, extra = wide_panel(data, unit, time, outcome, covs)
    t0 = treatment_times(units, times, treated, treatment_time, unit)
    if len(set(t0.values())) > 1:
        raise DesignError("the augmented synthetic control needs one treatment time for all treated units "
                          "(staggered adoption: fit each cohort separately)")
    tt = next(iter(t0.values()))
    T0 = int(np.flatnonzero(times == tt)[0])
    if T0 < 2:
        raise DesignError(f"need at least two pre-treatment periods before {_fmt_time(tt)}")
    rows = np.array(sorted(int(np.flatnonzero(units == u)[0]) for u in t0))
    trm = np.zeros(len(units), dtype=bool)
    trm[rows] = True
    if (~trm).sum() < 2:
        raise DesignError("the augmented synthetic control needs at least two donors")
    Z = None
    if covs:
        Z = np.column_stack([np.nanmean(extra[c][:, :T0], axis=1) for c in covs])
        bad = np.isnan(Z)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DesignError(f"covariate {covs[j]!r} is missing in every pre-period for unit {units[i]!r}")
        sd = Z[~trm].std(axis=0)
        if (sd == 0).any():
            raise DesignError(f"covariate {covs[int(np.flatnonzero(sd == 0)[0])]!r} does not vary across the donors")
    spec = _Spec(ridge=True, lam=ridge, residualize=residualize, lambda_min_ratio=lambda_min_ratio,
                 n_lambda=n_lambda, min_1se=min_1se)
    if not scm:
        raise DesignError("scm=False (ridge around uniform weights) is not implemented; use the synthetic control start")
    fit = _fit_weights(Y[:, :T0], trm, Z, spec)
    Yc = Y[~trm]
    y1 = Y[trm].mean(axis=0)
    syn = fit.weights @ Yc
    syn_scm = fit.scm_weights @ Yc
    post = np.arange(len(times)) >= T0
    paths = pd.DataFrame({"time": times, "treated": y1, "synthetic": syn, "gap": y1 - syn, "post": post,
                          "synthetic_scm": syn_scm})
    donors = units[~trm]
    w = pd.Series(fit.weights, index=pd.Index(donors, name=unit), name="weight")
    ws = pd.Series(fit.scm_weights, index=pd.Index(donors, name=unit), name="weight")
    pre_x, pre_1 = Yc[:, :T0], y1[:T0]
    l2 = float(np.sqrt(np.sum((pre_x.T @ fit.weights - pre_1) ** 2)))
    l2_scm = float(np.sqrt(np.sum((pre_x.T @ fit.scm_weights - pre_1) ** 2)))
    l2_unif = float(np.sqrt(np.sum((pre_x.mean(axis=0) - pre_1) ** 2)))
    att_scm = float((y1 - syn_scm)[post].mean())
    diag = {
        "pre_rmse": float(np.sqrt(np.mean((y1 - syn)[:T0] ** 2))),
        "pre_rmse_scm": float(np.sqrt(np.mean((y1 - syn_scm)[:T0] ** 2))),
        "l2_imbalance": l2, "l2_imbalance_scm": l2_scm, "scaled_l2_imbalance": l2 / l2_unif,
        "scaled_l2_imbalance_scm": l2_scm / l2_unif,
        "att_scm": att_scm, "estimated_bias": att_scm - float((y1 - syn)[post].mean()),
        "negative_weight_total": float(-fit.weights[fit.weights < 0].sum()),
        "min_weight": float(fit.weights.min()), "max_weight": float(fit.weights.max()),
        "n_donors_scm": int((fit.scm_weights > 0).sum()), "effective_donors_scm": float(1 / np.sum(fit.scm_weights**2)),
        "n_donors": len(donors), "ridge": fit.lam,
    }
    if Z is not None:
        zc, z1 = Z[~trm], Z[trm].mean(axis=0)
        cen = zc.mean(axis=0)
        diag["covariate_l2_imbalance"] = float(np.sqrt(np.sum((zc.T @ fit.weights - z1) ** 2)))
        diag["scaled_covariate_l2_imbalance"] = diag["covariate_l2_imbalance"] / float(np.sqrt(np.sum((cen - z1) ** 2)))
    cv = pd.DataFrame()
    if fit.lambdas is not None:
        cv = pd.DataFrame({"lambda": fit.lambdas, "cv_error": fit.cv_errors, "cv_se": fit.cv_se,
                           "chosen": fit.lambdas == fit.lam})
    n_post = int(post.sum())
    est_rows = [{"outcome": outcome, "estimand": "ATT", "horizon": "post", "estimate": float((y1 - syn)[post].mean()),
                 "std_error": np.nan, "p_value": np.nan, "n_treated": int(trm.sum()), "n_controls": len(donors)}]
    est_rows += [{"outcome": outcome, "estimand": "gap", "horizon": t, "estimate": float(g), "std_error": np.nan,
                  "p_value": np.nan, "n_treated": int(trm.sum()), "n_controls": len(donors)}
                 for t, g in zip(times[post], (y1 - syn)[post])]
    notes = ["ridge-augmented synthetic control; intervals from interval('jackknife+' | 'conformal')"]
    if diag["negative_weight_total"] > 0:
        notes.append(f"the augmentation puts negative weight {diag['negative_weight_total']:.3f} on donors: the estimate "
                     "extrapolates outside the donors' convex hull")
    return AscmResults(
        estimates=tidy_estimates(est_rows, level), method="augmented synthetic control (ridge)", level=level,
        notes=notes, info={"treatment_time": tt, "n_post": n_post, **{k: v for k, v in diag.items()}},
        treated=treated, treatment_time=tt, weights=w, scm_weights=ws, ridge=fit.lam, paths=paths, lambda_cv=cv,
        diagnostics=diag, _Y=Y, _treated_rows=rows, _T0=T0, _Z=Z, _spec=spec,
    )

"""How robust is this? Refutation tests of the toolkit's estimates with dowhy.

For selection-on-observables estimates (the weighting ATT of
:func:`impact.estimators.matching.ipw`), :func:`refute_ipw` rebuilds the same estimate in
dowhy, checks that dowhy reproduces the toolkit's number, and then runs dowhy's refuters:

* placebo treatment (treatment permuted): the effect should be near zero;
* random common cause (an independent covariate added): the estimate should not move
  beyond its interval;
* data subset (re-estimated on random subsets): the estimate should be stable;
* unobserved common cause (direct simulation over a grid of strengths): how strong a
  hidden confounder would have to be to bring the estimate's interval to zero (the
  tipping strength); an estimate that a weak confounder explains away is flagged fragile.

dowhy's defaults are overridden on purpose: its default sklearn logistic regression is
penalised and may not converge, its weighting clips scores to [0.05, 0.95], and it caches
the score in a data column (so a refuter could reuse the original score). Here the
toolkit's own unpenalised logit is passed as the propensity model, clipping is switched
off, common causes are passed as an ordered list, and the cached score column is removed
before every refit. Panel designs have their own checks: :func:`did_checks` turns the DiD
pre-trend test into a row of the same table (the synthetic-control placebo tests live with
that estimator).

dowhy is imported lazily inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError, EstimationError
from impact.estimators.inference import z_critical

_PS_COL = "_impact_pscore"


class ToolkitLogit:
    """sklearn-style wrapper of the toolkit's unpenalised logit (``fit``/``predict_proba``)."""

    def fit(self, X, t):
        from impact.estimators.matching import fit_logit

        x = np.asarray(X, dtype=float)
        self.model_ = fit_logit(x, np.asarray(t).ravel().astype(bool), [f"x{i}" for i in range(x.shape[1])])
        return self

    def predict_proba(self, X):
        from scipy.special import expit

        x = np.asarray(X, dtype=float)
        p = expit(self.model_.coef[0] + x @ self.model_.coef[1:])
        return np.column_stack([1 - p, p])

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params):
        return self


@dataclass
class RobustnessResults:
    """The "How robust is this?" table: one row per check, with the original estimate, the
    refuted value, a pass/fail verdict and what the check means."""

    table: pd.DataFrame
    estimate: float
    std_error: float
    reproduced: float | None = None
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = f"How robust is this? (estimate {self.estimate:.4f}, s.e. {self.std_error:.4f})"
        return "\n".join([head, self.table.to_string(index=False)] + [f"Note: {n}" for n in self.notes])

    def __str__(self) -> str:
        return self.summary()


def _model(df: pd.DataFrame, treatment: str, outcome: str, covariates: list[str]):
    from dowhy import CausalModel

    model = CausalModel(data=df, treatment=treatment, outcome=outcome, common_causes=list(covariates))
    # maximal adjustment = every listed common cause; the default search over backdoor sets took minutes
    # with ~35 common causes
    return model, model.identify_effect(method_name="maximal-adjustment", proceed_when_unidentifiable=True)


def _method_params() -> dict:
    return {"init_params": {"propensity_score_model": ToolkitLogit(), "min_ps_score": 0.0, "max_ps_score": 1.0,
                            "weighting_scheme": "ips_normalized_weight", "propensity_score_column": _PS_COL}}


def refute_ipw(
    data: Any,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    n_simulations: int = 20,
    subset_fraction: float = 0.8,
    strengths: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.3),
    fragile_below: float = 0.2,
    seed: int = 0,
    level: float = 0.95,
    cluster: str | None = None,
) -> RobustnessResults:
    """Refute the toolkit's weighting ATT (:func:`impact.estimators.matching.ipw`) with dowhy.

    Estimand: the ATT, E[Y(1) - Y(0) | D = 1], under selection on ``covariates``.

    Parameters
    ----------
    strengths
        Grid for the unobserved common cause: probability that the hidden confounder flips
        the treatment, and its linear effect on the outcome in standard deviations of the
        outcome (applied on the diagonal: both at the same strength).
    fragile_below
        The estimate is flagged fragile when a confounder of this strength or less brings
        the estimate within ``z * s.e.`` of zero.
    cluster
        Column of a cluster id (e.g. the person, when controls recur across risk sets): the
        standard error that sets every pass/fail threshold clusters on it. It is not a cause.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # BLAS threads spin against each other on a busy 2-core machine
        return _refute_ipw(data, treatment, outcome, covariates, n_simulations, subset_fraction, strengths,
                           fragile_below, seed, level, cluster)


def _refute_ipw(data, treatment, outcome, covariates, n_simulations, subset_fraction, strengths, fragile_below,
                seed, level, cluster=None) -> RobustnessResults:
    import polars as pl

    from impact.estimators import matching

    df = data.to_pandas() if isinstance(data, pl.DataFrame) else pd.DataFrame(data)
    covariates = list(covariates)
    miss = [c for c in [treatment, outcome, *covariates, *([cluster] if cluster else [])] if c not in df.columns]
    if miss:
        raise DesignError(f"refute_ipw: data lacks columns {miss}")
    cl = df[cluster].to_numpy() if cluster else None
    df = df[[treatment, outcome, *covariates]].copy()
    df[treatment] = df[treatment].astype(int)  # int, not bool: dowhy's binary flip writes 0/1 ints
    tk = df.assign(**{treatment: df[treatment].astype(int)})
    if cluster:
        tk = tk.assign(_impact_cluster=cl)
    res = matching.ipw(pl.from_pandas(tk), treatment, outcome, covariates,
                       cluster="_impact_cluster" if cluster else None)
    est, se = float(res.estimates["estimate"].iloc[0]), float(res.estimates["std_error"].iloc[0])
    z = z_critical(level)

    model, ident = _model(df, treatment, outcome, covariates)
    dw = model.estimate_effect(ident, method_name="backdoor.propensity_score_weighting", target_units="att",
                               method_params=_method_params())
    if abs(dw.value - est) > 1e-6 * max(1.0, abs(est)):
        raise EstimationError(f"dowhy did not reproduce the toolkit's ATT ({dw.value:.6f} vs {est:.6f}); "
                              "refutations would test a different estimate")
    if _PS_COL in model._data:  # dowhy caches the score in the model's data: never reuse it
        model._data.pop(_PS_COL)

    def refute(method: str, **kw) -> Any:
        out = model.refute_estimate(ident, dw, method_name=method, random_seed=seed, **kw)
        if _PS_COL in model._data:
            model._data.pop(_PS_COL)
        return out

    rows = []
    pl_ref = refute("placebo_treatment_refuter", placebo_type="permute", num_simulations=n_simulations)
    ok = abs(pl_ref.new_effect) < z * se
    rows.append(dict(check="placebo treatment (permuted)", estimate=est, refuted=float(pl_ref.new_effect),
                     passed=bool(ok), expectation="near zero (within z x s.e. of the original estimate)"))
    rc = refute("random_common_cause", num_simulations=n_simulations)
    ok = abs(rc.new_effect - est) < z * se
    rows.append(dict(check="random common cause", estimate=est, refuted=float(rc.new_effect), passed=bool(ok),
                     expectation="unchanged (within the original interval)"))
    ds = refute("data_subset_refuter", subset_fraction=subset_fraction, num_simulations=n_simulations)
    ok = abs(ds.new_effect - est) < z * se
    rows.append(dict(check=f"data subset ({subset_fraction:.0%})", estimate=est, refuted=float(ds.new_effect),
                     passed=bool(ok), expectation="unchanged (within the original interval)"))

    # unobserved confounder: a grid of strengths on the diagonal (flip prob = outcome effect in SDs)
    sd_y = float(df[outcome].std())
    sens = []
    for s in strengths:  # a handful of strengths
        r = refute("add_unobserved_common_cause", simulation_method="direct-simulation",
                   confounders_effect_on_treatment="binary_flip", confounders_effect_on_outcome="linear",
                   effect_strength_on_treatment=float(s), effect_strength_on_outcome=float(s) * sd_y)
        sens.append(dict(strength=float(s), estimate=float(np.ravel(r.new_effect)[0])))
    sens = pd.DataFrame(sens)
    sens["explained_away"] = np.sign(est) * sens["estimate"] < z * se
    tip = sens.loc[sens["explained_away"], "strength"]
    tipping = float(tip.min()) if len(tip) else float("inf")
    fragile = tipping <= fragile_below
    rows.append(dict(check="unobserved common cause", estimate=est,
                     refuted=float(sens["estimate"].iloc[-1]), passed=not fragile,
                     expectation=(f"tipping strength {tipping:g}" if np.isfinite(tipping) else
                                  f"no strength up to {max(strengths):g} explains it away") +
                                 f" (fragile if <= {fragile_below:g}: a hidden confounder "
                                 f"flipping {fragile_below:.0%} of treatments and moving the outcome by "
                                 f"{fragile_below:g} SD would explain the effect away)"))
    notes = [f"dowhy reproduced the toolkit's estimate ({dw.value:.6f}) with the toolkit's logit, no score clipping "
             f"and normalised ATT weights", f"{n_simulations} simulations per refuter, seed {seed}",
             *([f"pass/fail thresholds use the standard error clustered on '{cluster}'"] if cluster else []),
             "the refuters test the estimate's stability, not the design: they cannot detect a confounder that is "
             "missing from the data (the sensitivity grid says how strong one would need to be)"]
    return RobustnessResults(table=pd.DataFrame(rows), estimate=est, std_error=se, reproduced=float(dw.value),
                             sensitivity=sens, notes=notes)


def did_checks(res: Any, level: float = 0.95) -> pd.DataFrame:
    """The DiD pre-trend check as a row of the "How robust is this?" table.

    ``res`` is the group-time result of :func:`impact.estimators.did.att_gt`; the check is its
    Wald test that every pre-treatment ATT(g, t) is zero (passed when not rejected at
    ``1 - level``).
    """
    if not hasattr(res, "pretest"):
        raise DesignError(f"did_checks needs an att_gt result with pretest(), got {type(res).__name__}")
    pt = res.pretest()
    return pd.DataFrame([dict(check="DiD pre-trends (Wald, all pre-treatment ATT(g,t) = 0)", estimate=np.nan,
                              refuted=float(pt.statistic), passed=bool(pt.p_value > 1 - level),
                              expectation=f"all pre-treatment effects zero (Wald test not rejected at "
                                          f"{1 - level:.0%}); here chi2({pt.df}) = {pt.statistic:.2f}, "
                                          f"p = {pt.p_value:.3f}")])


def _row(check: str, estimate: float, refuted: float, passed: bool, expectation: str) -> dict:
    return dict(check=check, estimate=float(estimate), refuted=float(refuted), passed=bool(passed),
                expectation=expectation)


def synth_checks(res: Any, placebo: Any = None, in_time: Any = None, leave_one_out: Any = None,
                 level: float = 0.95, time_label: Any = str) -> pd.DataFrame:
    """The synthetic-control placebo tests as rows of the "How robust is this?" table.

    Estimand checked: the ATT of one treated unit, the mean gap over the post-treatment periods.

    * in-space placebo (``res.placebo()``): the treated unit's post/pre RMSPE ratio ranked
      among the donors refitted as if treated; passed when ``p <= 1 - level`` would reject
      (i.e. the effect stands out), the row shows the permutation p-value;
    * the same p-value keeping only placebos with a pre-period fit at most 5 times worse;
    * permutation interval: the ATT minus the spread of the placebo ATTs excludes zero;
    * in-time placebo (``res.in_time_placebo(t)`` fitted on pre-treatment periods only): its
      mean gap over ``[t, T0)`` is within the spread of the placebo ATTs (no 'effect' before
      the treatment);
    * leave-one-out (``res.leave_one_out()``): every refit without one positive-weight donor
      keeps the sign of the ATT.

    ``time_label`` formats a period for the check names (e.g. a month index as ``2018-01``).
    """
    if not hasattr(res, "att") or not hasattr(res, "paths"):
        raise DesignError(f"synth_checks needs a SynthResults, got {type(res).__name__}")
    att = float(res.att())
    alpha = 1 - level
    rows = []
    q = float("nan")
    if placebo is not None:
        g = placebo.gaps
        p_att = g[(~g["treated"]) & (g["time"] >= res.treatment_time)].groupby("unit")["gap"].mean().to_numpy()
        q = float(np.quantile(np.abs(p_att), level)) if p_att.size else float("nan")
        rows.append(_row(f"in-space placebo (rank {placebo.rank} of {placebo.n_units})", att, placebo.p_value,
                         placebo.p_value <= max(alpha, 1 / placebo.n_units),
                         f"the treated area's post/pre RMSPE ratio is among the largest (p = {placebo.p_value:.3f}; "
                         f"the smallest possible p with {placebo.n_units} units is {1 / placebo.n_units:.3f})"))
        f5 = placebo.filtered[placebo.filtered["max_pre_mspe_ratio"] == 5.0]
        if len(f5):
            r = f5.iloc[0]
            rows.append(_row(f"in-space placebo, donors with good pre-fit ({int(r['n_units'])} units)", att,
                             r["p_value"], r["p_value"] <= max(alpha, 1 / r["n_units"]),
                             "same, keeping placebos whose pre-period MSPE is at most 5x the treated area's"))
        rows.append(_row("permutation interval excludes zero", att, q, abs(att) > q,
                         f"|ATT| larger than the {level:.0%} quantile of |placebo ATTs| ({q:.4f})"))
    if in_time is not None:
        gi = float(in_time.att())
        ok = abs(gi) <= q if q == q else abs(gi) < abs(att)
        rows.append(_row(f"in-time placebo (treatment moved back to {time_label(in_time.treatment_time)})", att, gi, ok,
                         "near zero: no 'effect' before the real treatment (within the spread of placebo ATTs)"))
    if leave_one_out is not None and len(leave_one_out.summary):
        s = leave_one_out.summary["att"]
        ok = bool((np.sign(s) == np.sign(att)).all())
        worst = float(s.iloc[int(np.argmin(np.abs(s)))])
        rows.append(_row(f"leave one donor out ({len(s)} refits)", att, worst, ok,
                         f"every refit keeps the sign of the ATT (range {s.min():.4f} to {s.max():.4f})"))
    return pd.DataFrame(rows, columns=["check", "estimate", "refuted", "passed", "expectation"])


def did_placebo_in_time(data: Any, unit: str, time: str, group: str, outcome: str, shift: int = 3,
                        level: float = 0.95, **att_gt_options: Any) -> pd.DataFrame | None:
    """The DiD placebo in time (:func:`impact.estimators.did.placebo_in_time`) as a row of the
    "How robust is this?" table: every cohort's start moved ``shift`` periods earlier, the
    placebo ATT over the fake event times estimated on pre-treatment outcomes only; passed
    when its interval contains zero.

    Returns None when that function is not available in this version of
    :mod:`impact.estimators.did` (the report then says the check was not run).
    """
    try:
        from impact.estimators.did import placebo_in_time
    except ImportError:
        return None
    pr = placebo_in_time(data, unit=unit, time=time, group=group, outcome=outcome, shift=shift, level=level,
                         **att_gt_options)
    o = pr.overall
    return pd.DataFrame([_row(f"DiD placebo in time (cohorts moved {shift} periods earlier)", np.nan, o.estimate,
                              pr.covers_zero,
                              f"near zero: placebo ATT {o.estimate:.4f} [{o.ci_lower:.4f}, {o.ci_upper:.4f}], "
                              f"p = {o.p_value:.3f}")])

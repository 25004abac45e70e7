"""Synthetic control, synthetic DiD, augmented synthetic control and DiD on one area panel, side by side.

Estimand of every row: the average effect on the treated area(s) over the post-treatment
periods (``t >= T0``) of the same panel (same donors, same periods), so the rows differ only by
the estimator. Each row carries the diagnostics that explain why estimators differ:

* ``pre_rmse``: root mean squared pre-period gap between the treated area and its weighted
  comparison (synthetic DiD and DiD after their constant level shift, which they allow);
* ``max_weight``, ``effective_donors`` (``1 / sum w^2``), ``donors_used``: how concentrated the
  donor weights are;
* ``negative_weight``: total negative donor weight (the augmented control's extrapolation
  outside the donors' convex hull);
* ``level_shift``: whether the estimator allows a constant pre-period difference.

Intervals: synthetic control by the noise-scaled placebo interval (``att_interval()``), synthetic
DiD and DiD by ``synthdid``'s placebo (or bootstrap/jackknife) standard errors, the augmented
control by the jackknife+ (or conformal p-value only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.synth.augmented import augmented_synthetic_control
from impact.estimators.synth.core import synthetic_control
from impact.estimators.synth.prep import to_polars
from impact.estimators.synth.sdid import synthetic_did

ESTIMATOR_LABELS = {"sc": "synthetic control", "sdid": "synthetic DiD", "ascm": "augmented synthetic control",
                    "did": "DiD"}
ESTIMATOR_KEYS = tuple(ESTIMATOR_LABELS)


@dataclass
class AreaComparison:
    """``table``: one row per estimator (see the module docstring); ``paths``: long table of
    ``estimator, time, treated, counterfactual, gap, post, time_weight`` (synthetic DiD's time
    weights, else NaN); ``weights``: each estimator's donor weights (Series by donor);
    ``fits``: the results objects."""

    table: pd.DataFrame
    paths: pd.DataFrame
    weights: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict, repr=False)


def _concentration(w: np.ndarray) -> dict:
    w = np.asarray(w, dtype=float)
    return {"max_weight": float(w.max()), "effective_donors": float(1.0 / np.sum(w**2)),
            "donors_used": int((np.abs(w) > 1e-6).sum()),
            "negative_weight": float(-w[w < 0].sum()) + 0.0}  # + 0.0: no "-0" without negative weights


def _path(key: str, time, treated, counterfactual, post, time_weight=np.nan) -> pd.DataFrame:
    treated, counterfactual = np.asarray(treated, dtype=float), np.asarray(counterfactual, dtype=float)
    return pd.DataFrame({"estimator": ESTIMATOR_LABELS[key], "time": np.asarray(time), "treated": treated,
                         "counterfactual": counterfactual, "gap": treated - counterfactual,
                         "post": np.asarray(post, dtype=bool), "time_weight": time_weight})


def compare_area_estimators(
    data: Any,
    unit: str,
    time: str,
    outcome: str,
    treated: Any,
    treatment_time: Any,
    donors: Sequence | None = None,
    truth: float | None = None,
    level: float = 0.95,
    estimators: Sequence[str] = ESTIMATOR_KEYS,
    sc: Any = None,
    sdid_se: str = "placebo",
    replications: int = 200,
    ascm_interval: str = "jackknife+",
    seed: int = 0,
) -> AreaComparison:
    """Fit the estimators on the same panel of one treated area (or several treated at the
    same time, averaged) and its donors; see the module docstring for the table's columns.

    ``estimators``: which of ``"sc"``, ``"sdid"``, ``"ascm"``, ``"did"`` (in that order in the
    table); ``sc``: an existing synthetic-control fit of the same panel to report instead of
    refitting one (e.g. with structural predictors); ``truth``: the true average effect
    (synthetic registers) for the ``truth``/``error``/``covers`` columns.
    """
    unknown = [e for e in estimators if e not in ESTIMATOR_LABELS]
    if unknown or not estimators:
        raise DesignError(f"estimators must be some of {ESTIMATOR_KEYS}, got {list(estimators)}")
    df = to_polars(data)
    treated_list = list(treated) if isinstance(treated, (list, tuple, np.ndarray, set)) else [treated]
    one = treated_list if len(treated_list) > 1 else treated_list[0]
    if donors is not None:
        keep = list(donors) + treated_list
        df = df.filter(df[unit].is_in(keep))
        if df.height == 0:
            raise DesignError(f"no rows left for the treated unit(s) {treated_list} and donors {list(donors)[:5]}...")
    rows, paths, fits, weights = [], [], {}, {}
    if "sc" in estimators:
        sc = sc if sc is not None else synthetic_control(df, unit=unit, time=time, outcome=outcome, treated=one,
                                                         treatment_time=treatment_time)
        fits["sc"] = sc
        iv = sc.att_interval(level=level)
        if len(treated_list) == 1:
            w, pre_rmse = sc.weights, float(sc.pre_rmspe)
            p = sc.paths
            paths.append(_path("sc", p["time"], p["treated"], p["synthetic"], p["post"]))
        else:  # several treated areas: per-area fits pooled in event time
            w = pd.concat([f.weights for f in sc.fits.values()]).groupby(level=0).sum() / len(sc.fits)
            pre_rmse = float(np.mean([f.pre_rmspe for f in sc.fits.values()]))
        weights["sc"] = w
        rows.append({"estimator": ESTIMATOR_LABELS["sc"], "estimate": iv["estimate"], "std_error": iv["std_error"],
                     "ci_lower": iv["ci_lower"], "ci_upper": iv["ci_upper"], "interval": "noise-scaled placebo",
                     "pre_rmse": pre_rmse, "level_shift": False, **_concentration(w.to_numpy())})
    if "sdid" in estimators or "did" in estimators:
        sd = synthetic_did(df, unit, time, outcome, one, treatment_time, se=sdid_se, replications=replications,
                           seed=seed, level=level)
        fits["sdid"] = sd
        comp = sd.comparison.set_index("estimator")
        controls = sd._design.units[sd._design.controls]
        for key in (k for k in ("sdid", "did") if k in estimators):
            c = comp.loc[ESTIMATOR_LABELS[key]]
            f = sd._fits[key][0]
            tr = sd.trends(key)
            gap = tr["treated"] - tr["control_shifted"]
            pre = ~tr["post"]
            weights[key] = pd.Series(f.omega, index=pd.Index(controls, name=unit), name="weight")
            rows.append({"estimator": ESTIMATOR_LABELS[key], "estimate": c["estimate"], "std_error": c["std_error"],
                         "ci_lower": c["ci_lower"], "ci_upper": c["ci_upper"], "interval": f"{sdid_se} s.e.",
                         "pre_rmse": float(np.sqrt(np.mean((gap[pre] - gap[pre].mean()) ** 2))), "level_shift": True,
                         **_concentration(f.omega),
                         "time_weights_used": int((f.lam > 0).sum()) if key == "sdid" else None})
            paths.append(_path(key, tr["time"], tr["treated"], tr["control_shifted"], tr["post"],
                               tr["time_weight"] if key == "sdid" else np.nan))
    if "ascm" in estimators:
        tt = treatment_time if not isinstance(treatment_time, dict) else next(iter(treatment_time.values()))
        asc = augmented_synthetic_control(df, unit, time, outcome, one, tt, level=level)
        fits["ascm"] = asc
        weights["ascm"] = asc.weights
        ai = asc.interval(ascm_interval, level=level).iloc[-1]
        rows.append({"estimator": ESTIMATOR_LABELS["ascm"], "estimate": asc.att(), "std_error": np.nan,
                     "ci_lower": ai["ci_lower"], "ci_upper": ai["ci_upper"], "interval": ascm_interval,
                     "pre_rmse": asc.diagnostics["pre_rmse"], "level_shift": False,
                     **_concentration(asc.weights.to_numpy()), "augmentation": asc.diagnostics["estimated_bias"]})
        ap = asc.paths
        paths.append(_path("ascm", ap["time"], ap["treated"], ap["synthetic"], ap["post"]))
    table = pd.DataFrame(rows)
    order = [ESTIMATOR_LABELS[k] for k in ESTIMATOR_KEYS if k in estimators]
    table = table.set_index("estimator").loc[order].reset_index()
    if truth is not None:
        table["truth"] = float(truth)
        table["error"] = table["estimate"] - truth
        table["covers"] = (table["ci_lower"] <= truth) & (truth <= table["ci_upper"])
    return AreaComparison(table=table, paths=pd.concat(paths, ignore_index=True),
                          weights={ESTIMATOR_LABELS[k]: v for k, v in weights.items()}, fits=fits)

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


@dataclass
class AreaComparison:
    """``table``: one row per estimator (see the module docstring); ``paths``: long table of
    ``estimator, time, treated, counterfactual, gap, post``; ``fits``: the results objects."""

    table: pd.DataFrame
    paths: pd.DataFrame
    fits: dict = field(default_factory=dict, repr=False)


def _concentration(w: np.ndarray) -> dict:
    w = np.asarray(w, dtype=float)
    return {"max_weight": float(w.max()), "effective_donors": float(1.0 / np.sum(w**2)),
            "donors_used": int((np.abs(w) > 1e-6).sum()), "negative_weight": float(-w[w < 0].sum())}


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
    sdid_se: str = "placebo",
    replications: int = 200,
    ascm_interval: str = "jackknife+",
    seed: int = 0,
    n_jobs: int | None = 2,
) -> AreaComparison:
    """Fit the four estimators on the same panel of one treated area (or several treated at the
    same time, averaged) and its donors; see the module docstring for the table's columns.

    ``truth``: the true average effect (synthetic registers) for the ``truth``/``error``/``covers``
    columns.
    """
    df = to_polars(data)
    treated_list = list(treated) if isinstance(treated, (list, tuple, np.ndarray, set)) else [treated]
    if donors is not None:
        keep = list(donors) + treated_list
        df = df.filter(df[unit].is_in(keep))
        if df.height == 0:
            raise DesignError(f"no rows left for the treated unit(s) {treated_list} and donors {list(donors)[:5]}...")
    rows, paths, fits = [], [], {}
    sc = synthetic_control(df, unit=unit, time=time, outcome=outcome, treated=treated_list if len(treated_list) > 1
                           else treated_list[0], treatment_time=treatment_time)
    fits["sc"] = sc
    iv = sc.att_interval(level=level)
    single = sc if len(treated_list) == 1 else None
    if single is not None:
        p = sc.paths
        w = sc.weights.to_numpy()
        pre_rmse = float(sc.pre_rmspe)
    else:  # several treated areas: per-area fits pooled in event time
        p = sc.paths if hasattr(sc, "paths") else None
        w = np.concatenate([f.weights.to_numpy() for f in sc.fits.values()]) / len(sc.fits)
        pre_rmse = float(np.mean([f.pre_rmspe for f in sc.fits.values()]))
    rows.append({"estimator": ESTIMATOR_LABELS["sc"], "estimate": iv["estimate"], "std_error": iv["std_error"],
                 "ci_lower": iv["ci_lower"], "ci_upper": iv["ci_upper"], "interval": "noise-scaled placebo",
                 "pre_rmse": pre_rmse, "level_shift": False, **_concentration(w)})
    if p is not None:
        paths.append(pd.DataFrame({"estimator": ESTIMATOR_LABELS["sc"], "time": p["time"], "treated": p["treated"],
                                   "counterfactual": p["synthetic"], "gap": p["gap"], "post": p["post"]}))

    sd = synthetic_did(df, unit, time, outcome, treated_list if len(treated_list) > 1 else treated_list[0],
                       treatment_time, se=sdid_se, replications=replications, seed=seed, level=level)
    fits["sdid"] = sd
    comp = sd.comparison.set_index("estimator")
    for key, label in (("sdid", "synthetic DiD"), ("did", "DiD")):
        c = comp.loc[label]
        f = sd._fits[key][0]
        tr = sd.trends(key)
        gap = tr["treated"] - tr["control_shifted"]
        pre = ~tr["post"]
        rows.append({"estimator": ESTIMATOR_LABELS[key], "estimate": c["estimate"], "std_error": c["std_error"],
                     "ci_lower": c["ci_lower"], "ci_upper": c["ci_upper"], "interval": f"{sdid_se} s.e.",
                     "pre_rmse": float(np.sqrt(np.mean((gap[pre] - gap[pre].mean()) ** 2))), "level_shift": True,
                     **_concentration(f.omega), "time_weights_used": int((f.lam > 0).sum()) if key == "sdid" else None})
        paths.append(pd.DataFrame({"estimator": ESTIMATOR_LABELS[key], "time": tr["time"], "treated": tr["treated"],
                                   "counterfactual": tr["control_shifted"], "gap": gap, "post": tr["post"]}))

    tt = treatment_time if not isinstance(treatment_time, dict) else next(iter(treatment_time.values()))
    asc = augmented_synthetic_control(df, unit, time, outcome, treated_list if len(treated_list) > 1 else treated_list[0],
                                      tt, level=level)
    fits["ascm"] = asc
    ai = asc.interval(ascm_interval, level=level).iloc[-1]
    rows.append({"estimator": ESTIMATOR_LABELS["ascm"], "estimate": asc.att(), "std_error": np.nan,
                 "ci_lower": ai["ci_lower"], "ci_upper": ai["ci_upper"], "interval": ascm_interval,
                 "pre_rmse": asc.diagnostics["pre_rmse"], "level_shift": False, **_concentration(asc.weights.to_numpy()),
                 "augmentation": asc.diagnostics["estimated_bias"]})
    ap = asc.paths
    paths.append(pd.DataFrame({"estimator": ESTIMATOR_LABELS["ascm"], "time": ap["time"], "treated": ap["treated"],
                               "counterfactual": ap["synthetic"], "gap": ap["gap"], "post": ap["post"]}))
    table = pd.DataFrame(rows)
    order = [ESTIMATOR_LABELS[k] for k in ("sc", "sdid", "ascm", "did")]
    table = table.set_index("estimator").loc[order].reset_index()
    if truth is not None:
        table["truth"] = float(truth)
        table["error"] = table["estimate"] - truth
        table["covers"] = (table["ci_lower"] <= truth) & (truth <= table["ci_upper"])
    return AreaComparison(table=table, paths=pd.concat(paths, ignore_index=True), fits=fits)

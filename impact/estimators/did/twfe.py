"""Two-way fixed-effects baseline (static and event-study) through ``linearmodels``.

Static: ``y_it = a_i + l_t + b * 1{t >= g_i} + e_it``. Event study: one dummy per event time
``e = t - g_i`` of the ever-treated units (``e = -1`` is the reference). Under staggered
adoption with effects that vary over time or cohorts these regressions weight
already-treated units as comparisons and can be badly biased (Goodman-Bacon 2021); they are
here for comparison with :func:`impact.estimators.did.att_gt`, not as the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.estimators.did._prep import _period_expr, _to_polars
from impact.estimators.results import EstimationResults, tidy_estimates


@dataclass
class TwfeResults(EstimationResults):
    """TWFE estimates: one row (static) or one row per event time (event study)."""


def twfe(
    data,
    *,
    unit: str,
    time: str,
    group: str,
    outcome: str,
    cluster: str | None = None,
    event_study: bool = False,
    level: float = 0.95,
) -> TwfeResults:
    """Two-way fixed-effects DiD with unit and period effects (PanelOLS), cluster-robust SEs.

    Estimand (only under homogeneous, static effects): the ATT. ``group`` holds the first
    treated period (0 or null: never treated). Standard errors are clustered by ``cluster``
    (default: the unit).
    """
    from linearmodels.panel import PanelOLS

    df = _to_polars(data)
    missing = [c for c in [unit, time, group, outcome, cluster] if c and c not in df.columns]
    if missing:
        raise DesignError(f"columns not found in the data: {missing}")
    d = df.select(
        _u=pl.col(unit), _t=_period_expr(df, time, "time"), _g=_period_expr(df, group, "group"),
        _y=pl.col(outcome).cast(pl.Float64), _cl=pl.col(cluster) if cluster else pl.col(unit),
    ).with_columns(pl.when(pl.col("_g").is_null() | (pl.col("_g") == 0)).then(np.inf).otherwise(pl.col("_g")).alias("_g"))
    pdf = d.to_pandas()
    pdf["_t"] = pdf["_t"].astype(np.int64)
    pdf = pdf.set_index(["_u", "_t"])
    g = pdf["_g"].to_numpy()
    tt = pdf.index.get_level_values(1).to_numpy().astype(float)
    if event_study:
        e = np.where(np.isfinite(g), tt - g, np.nan)
        es = sorted(int(x) for x in np.unique(e[np.isfinite(e)]) if x != -1)
        exog = pd.DataFrame({f"e{x:+d}": (e == x).astype(float) for x in es}, index=pdf.index)
    else:
        exog = pd.DataFrame({"treated": (np.isfinite(g) & (tt >= g)).astype(float)}, index=pdf.index)
    exog = exog.loc[:, exog.std() > 0]
    model = PanelOLS(pdf["_y"], exog, entity_effects=True, time_effects=True, drop_absorbed=True)
    clusters = pd.DataFrame({"c": pd.factorize(pdf["_cl"])[0]}, index=pdf.index)
    fit = model.fit(cov_type="clustered", clusters=clusters)
    names = list(fit.params.index)
    rows = [{
        "outcome": outcome,
        "estimand": "ATT (TWFE, static)" if not event_study else "ATT(e) (TWFE)",
        "horizon": np.nan if not event_study else int(nm[1:]),
        "estimate": float(fit.params[nm]),
        "std_error": float(fit.std_errors[nm]),
    } for nm in names]
    return TwfeResults(
        estimates=tidy_estimates(rows, level=level), method="two-way fixed effects (linearmodels PanelOLS)",
        level=level, info={"nobs": int(fit.nobs), "event_study": event_study},
    )

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


def twfe_weights(data, *, unit: str, time: str, group: str, by: str = "cell", tol: float = 1e-12,
                 max_iter: int = 5000) -> pd.DataFrame:
    """Implicit weights of the static TWFE coefficient on the treated unit-periods.

    With ``D`` the post-treatment indicator and ``D~`` its residual on unit and period fixed
    effects, the static TWFE coefficient is ``b = sum(D~ y) / sum(D~ D)``. Writing
    ``y = y(0) + D * tau`` gives ``b = TWFE(y(0)) + sum_{D = 1} w_it tau_it`` with
    ``w_it = D~_it / sum(D~ D)`` (de Chaisemartin and D'Haultfoeuille 2020): the weights sum
    to one, may be negative, and under staggered adoption fall with the time since
    treatment, so with dynamic effects ``b`` is not the average effect even when
    ``TWFE(y(0)) = 0``.

    Parameters
    ----------
    data, unit, time, group
        As in :func:`twfe` (``group``: first treated period, 0 or null = never).
    by : {"cell", "unit"}
        ``"cell"``: one row per (group, time) cell with the summed weight and the number of
        units; ``"unit"``: one row per treated unit-period.

    Returns
    -------
    pandas DataFrame
        ``group, time, event_time, weight`` (+ ``n_units`` by cell, ``unit`` by unit).
    """
    if by not in ("cell", "unit"):
        raise DesignError(f"by must be 'cell' or 'unit', got {by!r}")
    df = _to_polars(data)
    missing = [c for c in [unit, time, group] if c not in df.columns]
    if missing:
        raise DesignError(f"columns not found in the data: {missing}")
    d = df.select(_u=pl.col(unit), _t=_period_expr(df, time, "time"), _g=_period_expr(df, group, "group"))
    g = d["_g"].fill_null(0).to_numpy()
    t = d["_t"].to_numpy()
    D = ((g != 0) & (t >= g)).astype(float)
    if D.sum() == 0:
        raise DesignError("no treated unit-periods (every group is 0 or after the last period)")
    uc = d.select(pl.col("_u").rank("dense")).to_series().to_numpy().astype(np.int64) - 1
    tc = np.searchsorted(np.unique(t), t)
    nu, nt = np.bincount(uc).astype(float), np.bincount(tc).astype(float)
    r = D.copy()
    for _ in range(max_iter):  # alternating projections onto the two sets of fixed effects
        su = (np.bincount(uc, r) / nu)[uc]
        r -= su
        st = (np.bincount(tc, r) / nt)[tc]
        r -= st
        if max(np.max(np.abs(su)), np.max(np.abs(st))) < tol:
            break
    else:
        raise DesignError(f"TWFE weights: the fixed-effects projection did not converge in {max_iter} iterations")
    den = float(r @ D)
    if abs(den) < 1e-12:
        raise DesignError("the treatment indicator is absorbed by the unit and period effects")
    w = r / den
    on = D == 1
    out = pd.DataFrame({"unit": d["_u"].to_numpy()[on], "group": g[on], "time": t[on], "weight": w[on]})
    out["event_time"] = out["time"] - out["group"]
    if by == "unit":
        return out[["unit", "group", "time", "event_time", "weight"]]
    cells = out.groupby(["group", "time", "event_time"], as_index=False).agg(weight=("weight", "sum"), n_units=("unit", "size"))
    for c in ("group", "time", "event_time"):
        if np.all(cells[c] == np.round(cells[c])):
            cells[c] = cells[c].astype(np.int64)
    return cells

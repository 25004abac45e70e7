"""Validation and reshaping of a long panel (or repeated cross-sections) for staggered DiD.

Turns a polars or pandas table into integer-coded arrays: unit codes, period positions, the
first-treatment period per unit (``inf`` for never treated), unit weights and covariates,
and for balanced panels the wide ``units x periods`` outcome matrix. Every problem a user
can cause raises :class:`~impact.errors.DesignError` naming the column, units or cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.months import pl_month_index

NEVER = np.inf


def _examples(values, k: int = 5) -> str:
    vals = list(dict.fromkeys(np.asarray(values).tolist()))
    more = f" (and {len(vals) - k} more)" if len(vals) > k else ""
    return ", ".join(map(str, vals[:k])) + more


def _to_polars(data) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pd.DataFrame):
        return pl.from_pandas(data)
    raise DesignError(f"data must be a polars or pandas DataFrame, got {type(data).__name__}")


def _code_units(col: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique unit labels and each row's position among them (O(n) when already sorted)."""
    u = col.to_numpy()
    if u.dtype.kind in "iuf" and len(u) > 1:
        step = u[1:] != u[:-1]
        if np.all(u[1:] >= u[:-1]):
            idx = np.concatenate([[0], np.cumsum(step)])
            return u[np.concatenate([[True], step])], idx
    if u.dtype.kind in "iuf":
        return np.unique(u, return_inverse=True)
    codes = col.unique().sort()
    idx = np.searchsorted(codes.to_numpy(), u) if codes.dtype.is_numeric() else (
        col.cast(pl.Utf8).to_frame("u").join(codes.cast(pl.Utf8).to_frame("u").with_row_index("i"), on="u", how="left", maintain_order="left")["i"].to_numpy()
    )
    return codes.to_numpy(), idx


def _period_expr(df: pl.DataFrame, col: str, role: str) -> pl.Expr:
    """Integer period expression for a time-like column (integers, or dates as month indexes)."""
    dtype = df.schema[col]
    e = pl.col(col)
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return pl_month_index(e).cast(pl.Float64)
    if dtype.is_integer():
        return e.cast(pl.Float64)
    if dtype.is_float():
        bad = df.filter(e.is_not_null() & e.is_finite() & (e != e.floor()))
        if bad.height:
            raise DesignError(
                f"{role} column {col!r} must hold integer periods or dates; non-integer values: "
                f"{_examples(bad[col].to_numpy())}"
            )
        return e
    sample = df[col].drop_nulls().head(3).to_list()
    raise DesignError(
        f"{role} column {col!r} must hold integer periods or dates, got dtype {dtype} (values like {sample})"
    )


@dataclass
class DidData:
    """Integer-coded inputs of the group-time ATT estimators."""

    panel: bool
    n: int  # number of independent units (units in a panel, rows in cross-sections)
    periods: np.ndarray  # (T,) sorted period values
    cohort: np.ndarray  # (n,) first-treatment period per unit, inf = never treated
    w: np.ndarray  # (n,) unit weights, mean one
    unit_ids: np.ndarray  # (n,) original unit labels
    cluster: np.ndarray | None  # (n,) cluster codes, None = unit
    X: np.ndarray | None  # (n, k) covariates with intercept (panel) or rows (cross-sections)
    Xt: np.ndarray | None = None  # (n, T, k) time-varying covariates with intercept (covariates_at="base_period")
    Y: np.ndarray | None = None  # (n, T) wide outcome matrix (balanced panel)
    # repeated cross-sections / unbalanced panel: one entry per row
    row_y: np.ndarray | None = None
    row_t: np.ndarray | None = None  # period position of each row
    row_unit: np.ndarray | None = None  # unit code of each row (== row index for true RCS)
    row_X: np.ndarray | None = None
    row_w: np.ndarray | None = None
    row_cohort: np.ndarray | None = None
    # stacked (risk-set) designs: the cohort each unit belongs to or is a comparison for
    stack: np.ndarray | None = None
    row_stack: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # covariate names (columns 1.. of X)


def prepare(
    data,
    *,
    unit: str | None,
    time: str,
    outcome: str,
    group: str | None,
    treatment: str | None,
    covariates: list[str] | None,
    weights: str | None,
    cluster: str | None,
    panel: bool,
    allow_unbalanced_panel: bool,
    anticipation: int,
    control_group: str,
    comparison_set: str | None = None,
    covariates_at: str | None = None,
) -> DidData:
    """Validate and code a long table for :func:`impact.estimators.did.att_gt`."""
    df = _to_polars(data)
    covariates = list(covariates or [])
    if (group is None) == (treatment is None):
        raise DesignError("give exactly one of group= (first treated period) or treatment= (0/1 indicator)")
    if panel and unit is None:
        raise DesignError("panel=True needs unit= (the unit identifier column)")
    if comparison_set is not None and group is None:
        raise DesignError("comparison_set= needs group= (the first treated period of the treated units)")
    needed = [c for c in [unit, time, outcome, group, treatment, weights, cluster, comparison_set, *covariates] if c]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DesignError(f"columns not found in the data: {missing}; available: {df.columns}")
    if anticipation < 0 or int(anticipation) != anticipation:
        raise DesignError(f"anticipation must be a non-negative integer, got {anticipation!r}")

    cols = {"_t": _period_expr(df, time, "time")}
    if group is not None:
        cols["_g"] = _period_expr(df, group, "group")
    if comparison_set is not None:
        cols["_s"] = _period_expr(df, comparison_set, "comparison_set")
    cols["_u"] = pl.col(unit) if unit else pl.int_range(pl.len())
    d = df.select(
        **cols,
        _y=pl.col(outcome),
        _w=pl.col(weights).cast(pl.Float64) if weights else pl.lit(1.0),
        _cl=pl.col(cluster) if cluster else pl.lit(None),
        _d=pl.col(treatment).cast(pl.Float64) if treatment else pl.lit(None),
        **{f"_x{j}": pl.col(c).cast(pl.Float64) for j, c in enumerate(covariates)},
    )
    if not d.schema["_y"].is_numeric():
        raise DesignError(f"outcome column {outcome!r} must be numeric, got {d.schema['_y']}")
    d = d.with_columns(pl.col("_y").cast(pl.Float64))
    for c, name, role in [("_t", time, "time"), ("_y", outcome, "outcome"), ("_u", unit, "unit")]:
        if name is None:
            continue
        nulls = d.filter(pl.col(c).is_null() | (pl.col(c).is_nan() if d.schema[c].is_float() else pl.lit(False)))
        if nulls.height:
            who = f" for units {_examples(nulls['_u'].to_numpy())}" if unit and c != "_u" else ""
            raise DesignError(f"{role} column {name!r} has {nulls.height} missing values{who}")
    for j, c in enumerate(covariates):
        bad = d.filter(pl.col(f"_x{j}").is_null() | pl.col(f"_x{j}").is_nan())
        if bad.height:
            raise DesignError(
                f"covariate {c!r} has {bad.height} missing values (units {_examples(bad['_u'].to_numpy())})"
            )
    if weights:
        bad = d.filter(pl.col("_w").is_null() | (pl.col("_w") < 0) | pl.col("_w").is_nan())
        if bad.height:
            raise DesignError(f"weights column {weights!r} must be non-negative and non-missing; bad rows for units {_examples(bad['_u'].to_numpy())}")

    # first-treatment period per row
    if treatment is not None:
        if unit is None:
            raise DesignError("treatment= needs unit= to derive each unit's first treated period")
        bad = d.filter(~pl.col("_d").is_in([0.0, 1.0]))
        if bad.height:
            raise DesignError(f"treatment column {treatment!r} must be 0/1; other values for units {_examples(bad['_u'].to_numpy())}")
        d = d.sort("_u", "_t")
        back = d.filter((pl.col("_d").diff().over("_u") < 0)).select("_u").unique().sort("_u")
        if back.height:
            raise DesignError(
                f"treatment must be absorbing (once treated, always treated): treatment in {treatment!r} "
                f"switches back from 1 to 0 for {back.height} units: {_examples(back['_u'].to_numpy())}"
            )
        first = d.filter(pl.col("_d") == 1).group_by("_u").agg(_g=pl.col("_t").min())
        d = d.join(first, on="_u", how="left")
    d = d.with_columns(pl.when(pl.col("_g").is_null() | (pl.col("_g") == 0)).then(np.inf).otherwise(pl.col("_g")).alias("_g"))
    if comparison_set is not None:
        d = _check_comparison_set(d, comparison_set, control_group)

    if unit is not None:
        u_codes, u_idx = _code_units(d["_u"])
        first_row = np.full(len(u_codes), -1)
        first_row[u_idx[::-1]] = np.arange(len(u_idx))[::-1]
        if panel:
            periods0 = np.sort(d["_t"].unique().to_numpy())
            key = u_idx.astype(np.int64) * len(periods0) + np.searchsorted(periods0, d["_t"].to_numpy())
            cnt = np.bincount(key, minlength=len(u_codes) * len(periods0))
            if cnt.max() > 1:
                dup_units = np.unique(np.flatnonzero(cnt > 1) // len(periods0))
                raise DesignError(
                    f"duplicate ({unit}, {time}) rows: {int((cnt > 1).sum())} unit-periods appear more than once, "
                    f"units {_examples(u_codes[dup_units])}"
                )
        # unit-level invariants
        per_unit = {"_g": group or treatment}
        if weights:
            per_unit["_w"] = weights
        if cluster:
            per_unit["_cl"] = cluster
        if comparison_set:
            per_unit["_s"] = comparison_set
        if covariates_at not in (None, "base_period"):
            raise DesignError(f"covariates_at must be None (time-invariant covariates) or 'base_period', got "
                              f"{covariates_at!r}")
        if panel and covariates_at is None:
            per_unit.update({f"_x{j}": c for j, c in enumerate(covariates)})
        for c, name in per_unit.items():
            v = d[c].to_numpy()
            differs = v != v[first_row][u_idx]
            if differs.any():
                bad_units = u_codes[np.unique(u_idx[differs])]
                what = {
                    "_g": "the first treated period (treatment status must not change back or differ across rows)",
                    "_w": "weights",
                    "_cl": "cluster",
                    "_s": "the comparison set",
                }.get(c, "this covariate (the panel design needs time-invariant covariates; pass covariates_at="
                         "'base_period' to use each comparison's base-period values, as R did does)")
                raise DesignError(
                    f"column {name!r} varies within unit for {len(bad_units)} units ({what}): {_examples(bad_units)}"
                )

    periods = np.sort(d["_t"].unique().to_numpy())
    tmin, tmax = periods[0], periods[-1]
    notes: list[str] = []
    # cohorts first treated after the last period are not treated within the window
    late = d.filter(pl.col("_g").is_finite() & (pl.col("_g") > tmax))
    if late.height:
        notes.append(f"{late['_u'].n_unique()} units first treated after the last period are used as never treated")
        d = d.with_columns(pl.when(pl.col("_g") > tmax).then(np.inf).otherwise(pl.col("_g")).alias("_g"))
    # a cohort needs at least one untreated (and non-anticipating) period
    nopre = d.filter(pl.col("_g").is_finite() & (pl.col("_g") - anticipation <= tmin))
    if nopre.height:
        cohorts = np.unique(nopre["_g"].to_numpy())
        units = nopre["_u"].unique().sort().to_numpy()
        raise DesignError(
            f"cohort(s) first treated at {_examples(cohorts.astype(np.int64))} have no pre-treatment period "
            f"(first period {int(tmin)}, anticipation {anticipation}); drop these {len(units)} units "
            f"({_examples(units)}) or extend the window"
        )
    if d["_g"].is_finite().all():
        if control_group == "never_treated":
            raise DesignError("no never-treated units: use control_group='not_yet_treated'")
        gmax = d["_g"].max()
        notes.append(
            f"no never-treated units: periods from {int(gmax - anticipation)} on are dropped and cohort "
            f"{int(gmax)} serves as the not-yet-treated control"
        )
        d = d.filter(pl.col("_t") < gmax - anticipation).with_columns(
            pl.when(pl.col("_g") == gmax).then(np.inf).otherwise(pl.col("_g")).alias("_g")
        )
        periods = np.sort(d["_t"].unique().to_numpy())
    if not d["_g"].is_finite().any():
        raise DesignError("no treated units: every unit is never treated within the periods observed")
    if len(periods) < 2:
        raise DesignError(f"need at least two periods, found {len(periods)}")

    # period positions
    t_pos = np.searchsorted(periods, d["_t"].to_numpy())
    k = len(covariates)

    if panel:
        if d.height != len(u_idx):  # rows were dropped above
            u_codes, u_idx = _code_units(d["_u"])
        n_units = len(u_codes)
        counts = np.bincount(u_idx, minlength=n_units)
        T = len(periods)
        if (counts != T).any() and not allow_unbalanced_panel:
            keep_u = counts == T
            dropped = u_codes[~keep_u]
            if keep_u.sum() == 0:
                raise DesignError("no unit is observed in every period; use allow_unbalanced_panel=True")
            notes.append(
                f"unbalanced panel: {len(dropped)} units not observed in all {T} periods were dropped "
                f"({_examples(dropped)}); use allow_unbalanced_panel=True to keep them"
            )
            keep_rows = keep_u[u_idx]
            d = d.filter(pl.Series(keep_rows))
            t_pos = t_pos[keep_rows]
            u_codes, u_idx = _code_units(d["_u"])
            n_units = len(u_codes)
            counts = np.bincount(u_idx, minlength=n_units)
        first_row = np.full(n_units, -1)
        first_row[u_idx[::-1]] = np.arange(len(u_idx))[::-1]
        cohort = d["_g"].to_numpy()[first_row]
        w = d["_w"].to_numpy()[first_row].astype(float)
        X = np.column_stack([np.ones(n_units)] + [d[f"_x{j}"].to_numpy()[first_row] for j in range(k)])
        Xt = None
        if covariates_at == "base_period" and k:
            if (counts != T).any():
                raise DesignError("covariates_at='base_period' needs a balanced panel (every unit in every period)")
            Xt = np.ones((n_units, T, k + 1))
            for j in range(k):  # a handful of covariates
                Xt[u_idx, t_pos, j + 1] = d[f"_x{j}"].to_numpy()
            varying = [c for j, c in enumerate(covariates) if not np.all(Xt[:, :, j + 1] == Xt[:, :1, j + 1])]
            if varying:
                notes.append(f"time-varying covariates ({', '.join(varying)}) enter each comparison with their values "
                             "in its base period (as R did)")
        cl = None
        if cluster:
            _, cl = np.unique(d["_cl"].to_numpy()[first_row], return_inverse=True)
        if w.sum() <= 0:
            raise DesignError("weights sum to zero")
        w = w / w.mean()
        out = DidData(True, n_units, periods, cohort, w, u_codes, cl, X if k else None, notes=notes, Xt=Xt,
                      names=list(covariates))
        if comparison_set is not None:
            out.stack = d["_s"].to_numpy()[first_row]
        if (counts == T).all():
            Y = np.empty((n_units, T))
            Y[u_idx, t_pos] = d["_y"].to_numpy()
            out.Y = Y
        else:  # unbalanced: estimated as cross-sections, influence functions summed by unit
            out.row_y = d["_y"].to_numpy().astype(float)
            out.row_t = t_pos
            out.row_unit = u_idx
            out.row_X = X[u_idx] if k else None
            out.row_w = w[u_idx]
            out.row_cohort = cohort[u_idx]
            out.row_stack = out.stack[u_idx] if out.stack is not None else None
        return out

    # repeated cross-sections: every row is its own unit
    n = d.height
    w = d["_w"].to_numpy().astype(float)
    if w.sum() <= 0:
        raise DesignError("weights sum to zero")
    w = w / w.mean()
    X = np.column_stack([np.ones(n)] + [d[f"_x{j}"].to_numpy() for j in range(k)]) if k else None
    cl = None
    if cluster:
        _, cl = np.unique(d["_cl"].to_numpy(), return_inverse=True)
    cohort = d["_g"].to_numpy()
    stack = d["_s"].to_numpy() if comparison_set is not None else None
    return DidData(
        False, n, periods, cohort, w, d["_u"].to_numpy(), cl, X, notes=notes,
        row_y=d["_y"].to_numpy().astype(float), row_t=t_pos, row_unit=np.arange(n),
        row_X=X, row_w=w, row_cohort=cohort, stack=stack, row_stack=stack, names=list(covariates),
    )


def _check_comparison_set(d: pl.DataFrame, name: str, control_group: str) -> pl.DataFrame:
    """Validate a stacked design's comparison sets; treated units get their own cohort as set."""
    if control_group != "never_treated":
        raise DesignError(
            "comparison_set= fixes each cohort's comparison units (a stacked, risk-set design): "
            "use control_group='never_treated' (the comparison units may be treated later; that is the estimand)"
        )
    treated = d.filter(pl.col("_g").is_finite())
    bad = treated.filter(pl.col("_s").is_not_null() & (pl.col("_s") != 0) & (pl.col("_s") != pl.col("_g")))
    if bad.height:
        raise DesignError(
            f"comparison_set column {name!r} must equal the group (or be empty) for treated units; "
            f"it differs for units {_examples(bad['_u'].to_numpy())}"
        )
    cohorts = treated["_g"].unique().to_list()
    comp = d.filter(~pl.col("_g").is_finite())
    bad = comp.filter(pl.col("_s").is_null() | ~pl.col("_s").is_in(cohorts))
    if bad.height:
        raise DesignError(
            f"comparison_set column {name!r}: comparison units must name one of the cohorts "
            f"({_examples(sorted(int(c) for c in cohorts))}); units {_examples(bad['_u'].to_numpy())} "
            f"have {_examples(bad['_s'].to_numpy())}"
        )
    return d.with_columns(_s=pl.when(pl.col("_g").is_finite()).then(pl.col("_g")).otherwise(pl.col("_s")))

"""Input checks and matrices for the synthetic control method (the role of R ``Synth::dataprep``).

A long panel (one row per unit x period) becomes:

* ``Y`` (T x n): the outcome of every unit in every period;
* ``X`` (k x n): predictors, each a variable aggregated over a window of periods
  (``(variable, window, aggregate)`` as in ``Synth``'s ``predictors`` and ``special.predictors``);
* the fit window (the periods whose outcome MSPE chooses V).

Conventions: periods are the sorted distinct values of the time column; the pre-treatment
period is ``t < T0`` and the post-treatment period ``t >= T0``. Every check raises
:class:`impact.errors.DesignError` naming the unit, period or variable at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError

AGGREGATES = {
    "mean": np.mean,
    "median": np.median,
    "sum": np.sum,
    "min": np.min,
    "max": np.max,
}


@dataclass(frozen=True)
class PredictorSpec:
    """One predictor: ``variable`` aggregated by ``aggregate`` over the periods ``window``."""

    variable: str
    window: tuple  # the periods (resolved, sorted)
    aggregate: str = "mean"

    @property
    def label(self) -> str:
        w = self.window
        if len(w) == 1:
            span = f"{_fmt_time(w[0])}"
        elif _is_range(w):
            span = f"{_fmt_time(w[0])}-{_fmt_time(w[-1])}"
        else:
            span = ",".join(_fmt_time(t) for t in w)
        return f"{self.variable} ({self.aggregate} {span})" if len(w) > 1 else f"{self.variable} ({span})"


def _fmt_time(t: Any) -> str:
    if isinstance(t, (float, np.floating)) and float(t).is_integer():
        return str(int(t))
    return str(t)


def _is_range(w: tuple) -> bool:
    try:
        d = np.diff(np.asarray(w, dtype=float))
        return bool(np.all(d == 1))
    except (TypeError, ValueError):
        return False


@dataclass
class SynthPanel:
    """Everything the fits need, for all units at once (columns are units)."""

    units: np.ndarray  # unit ids (n,)
    times: np.ndarray  # sorted periods (T,)
    Y: np.ndarray  # (T, n) outcomes
    X: np.ndarray | None  # (k, n) raw predictors, None for the outcome-only variant
    predictor_labels: list[str]
    specs: list[PredictorSpec]
    fit_idx: np.ndarray  # rows of Y in the fit window
    unit_col: str
    time_col: str
    outcome: str

    def col(self, unit: Any) -> int:
        hit = np.nonzero(self.units == unit)[0]
        if hit.size == 0:
            raise DesignError(f"unit {unit!r} is not in column {self.unit_col!r}")
        return int(hit[0])

    @property
    def Z(self) -> np.ndarray:
        return self.Y[self.fit_idx]


def to_polars(data: Any) -> pl.DataFrame:
    """Accept a polars or pandas frame."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, pd.DataFrame):
        return pl.from_pandas(data.reset_index(drop=True))
    raise DesignError(f"data must be a polars or pandas DataFrame, got {type(data).__name__}")


def _require_columns(df: pl.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DesignError(f"column(s) {missing} not found in the panel; it has {df.columns}")


def resolve_window(window: Any, times: np.ndarray, what: str) -> tuple:
    """Turn a window (``(start, end)`` inclusive, a list of periods, or one period) into periods.

    Raises DesignError naming ``what`` and the periods when any lies outside the data.
    """
    lo, hi = times[0], times[-1]
    if isinstance(window, range):
        window = list(window)
    if isinstance(window, tuple) and len(window) == 2:
        start, end = window
        if start > end:
            raise DesignError(f"{what}: window start {start!r} is after its end {end!r}")
        if start < lo or end > hi:
            raise DesignError(
                f"{what}: window {_fmt_time(start)}-{_fmt_time(end)} lies outside the data "
                f"periods {_fmt_time(lo)}-{_fmt_time(hi)}"
            )
        sel = times[(times >= start) & (times <= end)]
        if sel.size == 0:
            raise DesignError(f"{what}: no data periods fall in {_fmt_time(start)}-{_fmt_time(end)}")
        return tuple(sel.tolist())
    vals = list(window) if isinstance(window, (list, np.ndarray, pd.Index, pl.Series)) else [window]
    if not vals:
        raise DesignError(f"{what}: empty window")
    absent = [v for v in vals if not np.any(times == v)]
    if absent:
        raise DesignError(
            f"{what}: period(s) {[_fmt_time(a) for a in absent]} lie outside the data periods "
            f"{_fmt_time(lo)}-{_fmt_time(hi)} (or are not observed)"
        )
    return tuple(sorted(vals))


def parse_specs(
    predictors: Sequence | None, special_predictors: Sequence | None, times: np.ndarray, pre_times: np.ndarray
) -> list[PredictorSpec]:
    """Predictor specs: ``"var"`` (mean over the pre-period), ``(var, window)`` or ``(var, window, agg)``."""
    out: list[PredictorSpec] = []
    for item in list(predictors or []) + list(special_predictors or []):
        if isinstance(item, PredictorSpec):
            out.append(item)
            continue
        if isinstance(item, str):
            var, window, agg = item, (pre_times[0], pre_times[-1]), "mean"
        elif isinstance(item, (tuple, list)) and 2 <= len(item) <= 3:
            var, window = item[0], item[1]
            agg = item[2] if len(item) == 3 else "mean"
        else:
            raise DesignError(
                f"predictor spec {item!r} must be 'variable', (variable, window) or (variable, window, aggregate)"
            )
        if agg not in AGGREGATES:
            raise DesignError(f"predictor {var!r}: aggregate {agg!r} not one of {sorted(AGGREGATES)}")
        out.append(PredictorSpec(str(var), resolve_window(window, times, f"predictor {var!r}"), agg))
    return out


def build_panel(
    data: Any,
    unit: str,
    time: str,
    outcome: str,
    units_used: Sequence,
    treatment_times: dict,
    predictors: Sequence | None,
    special_predictors: Sequence | None,
    fit_window: Any,
    missing_predictors: str = "error",
) -> SynthPanel:
    """Check the panel and build the outcome and predictor matrices for ``units_used``."""
    df = to_polars(data)
    _require_columns(df, [unit, time, outcome])
    all_units = df.get_column(unit).unique().to_numpy()
    for u in units_used:
        if not np.any(all_units == u):
            raise DesignError(f"unit {u!r} is not in the panel (column {unit!r})")
    uarr = np.array(list(units_used), dtype=all_units.dtype if all_units.dtype != object else object)
    df = df.filter(pl.col(unit).is_in(pl.Series(uarr).cast(df.schema[unit]).to_list()))
    if df.get_column(time).null_count():
        raise DesignError(f"column {time!r} has missing periods")
    dup = df.group_by([unit, time]).len().filter(pl.col("len") > 1)
    if dup.height:
        r = dup.row(0, named=True)
        raise DesignError(f"duplicate rows for unit {r[unit]!r} in period {_fmt_time(r[time])} ({dup.height} unit-periods duplicated)")
    times = np.sort(df.get_column(time).unique().to_numpy())
    n, T = len(uarr), len(times)
    if df.height != n * T:
        have = df.group_by(unit).agg(pl.col(time)).rows()
        for u, ts in have:
            miss = np.setdiff1d(times, np.asarray(ts))
            if miss.size:
                shown = [_fmt_time(t) for t in miss[:6]]
                raise DesignError(
                    f"unbalanced panel: unit {u!r} has no row for period(s) {shown}"
                    + (f" and {miss.size - 6} more" if miss.size > 6 else "")
                    + " (every unit needs every period)"
                )
    df = df.sort([unit, time])
    # rows sorted by unit then time: reshape to (n, T) in the order of the sorted units
    sorted_units = df.get_column(unit).unique(maintain_order=True).to_numpy()
    yv = df.get_column(outcome).cast(pl.Float64, strict=False).to_numpy().reshape(len(sorted_units), T)
    order = pd.Index(sorted_units).get_indexer(uarr)
    Y = yv[order].T.copy()
    if np.isnan(Y).any():
        ti, ui = np.argwhere(np.isnan(Y))[0]
        raise DesignError(
            f"outcome {outcome!r} is missing for unit {uarr[ui]!r} in period {_fmt_time(times[ti])} "
            f"({int(np.isnan(Y).sum())} missing values in total)"
        )

    t0_min = min(treatment_times.values())
    pre_times = times[times < t0_min]
    if pre_times.size < 2:
        raise DesignError(
            f"need at least two pre-treatment periods before {_fmt_time(t0_min)}; the data start at {_fmt_time(times[0])}"
        )
    if fit_window is None:
        fit = pre_times
    else:
        fit = np.asarray(resolve_window(fit_window, times, "fit_window"))
    late = [t for t in fit if t >= t0_min]
    if late:
        raise DesignError(f"fit_window includes period {_fmt_time(late[0])} at or after the treatment time {_fmt_time(t0_min)}")
    fit_idx = np.nonzero(np.isin(times, fit))[0]

    specs = parse_specs(predictors, special_predictors, times, pre_times)
    X = None
    if specs:
        rows = []
        for s in specs:
            _require_columns(df, [s.variable])
            post = [t for t in s.window if t >= t0_min]
            if post:
                raise DesignError(
                    f"predictor {s.variable!r}: window period {_fmt_time(post[0])} is at or after the treatment "
                    f"time {_fmt_time(t0_min)}; predictors must be pre-treatment"
                )
            widx = np.nonzero(np.isin(times, s.window))[0]
            vals = df.get_column(s.variable).cast(pl.Float64, strict=False).to_numpy().reshape(len(sorted_units), T)[order][:, widx]
            nanmask = np.isnan(vals)
            if nanmask.any():
                allmiss = nanmask.all(axis=1)
                if missing_predictors == "error" or allmiss.any():
                    ui = int(np.nonzero(allmiss)[0][0]) if allmiss.any() else int(np.nonzero(nanmask.any(axis=1))[0][0])
                    bad_t = [_fmt_time(s.window[j]) for j in np.nonzero(nanmask[ui])[0][:6]]
                    raise DesignError(
                        f"predictor {s.variable!r} is missing for unit {uarr[ui]!r} in period(s) {bad_t} "
                        f"of its window {s.label}"
                        + ("" if allmiss.any() else "; pass missing_predictors='skip' to aggregate the observed periods as R Synth does")
                    )
                agg = {"mean": np.nanmean, "median": np.nanmedian, "sum": np.nansum, "min": np.nanmin, "max": np.nanmax}[s.aggregate]
            else:
                agg = AGGREGATES[s.aggregate]
            rows.append(agg(vals, axis=1))
        X = np.vstack(rows)
    return SynthPanel(
        units=uarr, times=times, Y=Y, X=X, predictor_labels=[s.label for s in specs], specs=specs,
        fit_idx=fit_idx, unit_col=unit, time_col=time, outcome=outcome,
    )

"""Wide outcome matrices for the regression-type panel estimators (synthetic DiD, augmented SCM).

``wide_panel`` checks a long panel (one row per unit and period, no missing outcome) and
returns the ``units x periods`` matrix; ``treatment_times`` resolves the treated units and
their first treated periods. Errors name the unit, period or column at fault.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.estimators.synth.prep import _fmt_time, to_polars


def wide_panel(data: Any, unit: str, time: str, outcome: str, extra: Sequence[str] = ()
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(Y units x periods, units, periods, {column: units x periods}) of a balanced long panel.

    Units and periods are sorted; ``extra`` columns (covariates) may have missing values.
    """
    df = to_polars(data)
    for c in (unit, time, outcome, *extra):
        if c not in df.columns:
            raise DesignError(f"column {c!r} not found in the panel; it has {df.columns}")
    if df.get_column(time).null_count() or df.get_column(unit).null_count():
        raise DesignError(f"columns {unit!r} and {time!r} must not have missing values")
    miss = df.filter(pl.col(outcome).is_null() | pl.col(outcome).cast(pl.Float64, strict=False).is_nan())
    if miss.height:
        r = miss.row(0, named=True)
        raise DesignError(f"outcome {outcome!r} is missing for unit {r[unit]!r} in period {_fmt_time(r[time])} "
                          f"({miss.height} missing values)")
    dup = df.group_by([unit, time]).len().filter(pl.col("len") > 1)
    if dup.height:
        r = dup.row(0, named=True)
        raise DesignError(f"duplicate rows for unit {r[unit]!r} in period {_fmt_time(r[time])}")
    pdf = df.select(list(dict.fromkeys([unit, time, outcome, *extra]))).to_pandas()
    W = pdf.pivot(index=unit, columns=time, values=outcome).sort_index().sort_index(axis=1)
    if W.isna().any().any():
        r, c = np.argwhere(W.isna().to_numpy())[0]
        raise DesignError(f"unbalanced panel: unit {W.index[r]!r} has no row for period {_fmt_time(W.columns[c])} "
                          "(every unit needs every period)")
    ex = {c: pdf.pivot(index=unit, columns=time, values=c).reindex(index=W.index, columns=W.columns).to_numpy(dtype=float)
          for c in extra}
    return W.to_numpy(dtype=float), W.index.to_numpy(), W.columns.to_numpy(), ex


def per_unit_times(treated: list, treatment_time: Any) -> dict:
    """``treated unit -> first treated period`` from one common period or a dict by unit."""
    if not isinstance(treatment_time, dict):
        return {u: treatment_time for u in treated}
    t0 = {}
    for u in treated:
        hit = [k for k in treatment_time if k == u]
        if not hit:
            raise DesignError(f"treatment_time has no period for treated unit {u!r}")
        t0[u] = treatment_time[hit[0]]
    return t0


def treatment_times(units: np.ndarray, times: np.ndarray, treated: Any, treatment_time: Any, unit_col: str
                    ) -> dict[Any, Any]:
    """``{treated unit: first treated period}`` (``treatment_time`` a period or a dict unit -> period)."""
    treated_list = list(treated) if isinstance(treated, (list, tuple, np.ndarray, pd.Index, pl.Series, set)) else [treated]
    if not treated_list:
        raise DesignError("no treated unit given")
    for u in treated_list:
        if not np.any(units == u):
            raise DesignError(f"treated unit {u!r} is not in the panel (column {unit_col!r})")
    t0 = per_unit_times(treated_list, treatment_time)
    for u, tt in t0.items():
        if not np.any(times == tt):
            raise DesignError(f"treatment time {_fmt_time(tt)} of unit {u!r} is not a period of the panel "
                              f"({_fmt_time(times[0])}..{_fmt_time(times[-1])})")
    return t0

"""Calendar months as integer indexes.

Register stages count in whole calendar months: ``month = year * 12 + (month_of_year - 1)``.
Month *h* after an end date is ``month_index(end_date) + h`` (the end month itself is month 0).
Integer months compile identically on DuckDB, Spark and Snowflake.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


def month_index(d: dt.date) -> int:
    """Integer month index of a date."""
    return d.year * 12 + d.month - 1


def month_start(m: int) -> dt.date:
    """First day of the month with index ``m``."""
    return dt.date(m // 12, m % 12 + 1, 1)


def month_end(m: int) -> dt.date:
    """Last day of the month with index ``m``."""
    return month_start(m + 1) - dt.timedelta(days=1)


def month_label(m: int) -> str:
    """``YYYY-MM`` label of a month index."""
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def pl_month_index(col: str | pl.Expr) -> pl.Expr:
    """Polars expression: integer month index of a date column."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.dt.year().cast(pl.Int32) * 12 + e.dt.month().cast(pl.Int32) - 1


def np_month_index(days: np.ndarray) -> np.ndarray:
    """Month index of dates given as numpy ``datetime64[D]``."""
    months = days.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    return months + 1970 * 12

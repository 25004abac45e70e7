"""Turn a pandas or polars table into the numpy arrays the matching estimators use.

Every check that a user can fail happens here, with a message naming the column (and the
rows) at fault: missing values, a non-binary treatment, no treated or no controls, a
covariate that is constant (in the whole sample or within one treatment group).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import polars as pl

from impact.errors import DesignError
from impact.estimators.matching._colstats import ColumnStats, column_stats


def to_polars(data: Any) -> pl.DataFrame:
    """Accept a polars or pandas DataFrame (pandas at the boundary only)."""
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return pl.from_pandas(data.reset_index(drop=True))
    raise DesignError(f"data must be a pandas or polars DataFrame, got {type(data).__name__}")


def as_list(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _row_sample(mask: np.ndarray, k: int = 5) -> str:
    rows = np.flatnonzero(mask)[:k]
    more = "" if mask.sum() <= k else f" (and {int(mask.sum()) - k} more)"
    return ", ".join(str(int(r)) for r in rows) + more


def _check_column(df: pl.DataFrame, name: str, role: str) -> pl.DataType:
    """Raise a clear error for a missing or non-numeric column; return its dtype."""
    if name not in df.columns:
        raise DesignError(f"{role} column {name!r} is not in the data (columns: {', '.join(df.columns)})")
    dt = df.schema[name]
    if dt != pl.Boolean and not dt.is_numeric():
        raise DesignError(f"{role} column {name!r} must be numeric (or boolean), got {dt}")
    return dt


def _check_finite(x: np.ndarray, name: str, role: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        raise DesignError(
            f"{role} column {name!r} has {int(bad.sum())} missing or non-finite values (rows {_row_sample(bad)}); "
            "drop or impute them before matching"
        )


def numeric_column(df: pl.DataFrame, name: str, role: str) -> np.ndarray:
    """A column as float64, with a clear error for a missing column, a non-numeric type or missing values."""
    _check_column(df, name, role)
    x = df.get_column(name).cast(pl.Float64).to_numpy()
    _check_finite(x, name, role)
    return x


def covariate_matrix(df: pl.DataFrame, covs: list[str], d: np.ndarray) -> tuple[np.ndarray, ColumnStats]:
    """The covariates as one C-ordered float64 (n, p) array (built once, by polars) and their
    column statistics by treatment group, with a clear error for a missing, non-numeric, non-finite
    or constant covariate (the first in the order given)."""
    for j, c in enumerate(covs):
        try:
            _check_column(df, c, "covariate")
        except DesignError:
            for c0 in covs[:j]:  # a covariate before it with missing values is reported first
                _check_finite(df.get_column(c0).cast(pl.Float64).to_numpy(), c0, "covariate")
            raise
    if not covs:
        return np.empty((df.height, 0)), column_stats(np.empty((df.height, 0)), d)
    x = df.select([pl.col(c).cast(pl.Float64).alias(f"_{j}") for j, c in enumerate(covs)]).to_numpy(order="c")
    x = np.ascontiguousarray(x, dtype=np.float64)
    return x, checked_stats(x, d, covs)


def checked_stats(x: np.ndarray, d: np.ndarray, covs: list[str]) -> ColumnStats:
    """:func:`column_stats` of the covariates ``x`` by ``d``, with a clear error for a non-finite or
    constant covariate (the first in the order given)."""
    stats = column_stats(x, d)
    for j in np.flatnonzero(stats.nonfinite):
        _check_finite(x[:, j], covs[j], "covariate")
    for j, c in enumerate(covs):
        if stats.lo[j] == stats.hi[j]:
            raise DesignError(f"covariate {c!r} is constant (all values {x[0, j]:g}); drop it from the covariates")
    return stats


def first_appearance(codes: np.ndarray) -> np.ndarray:
    """Integer codes renumbered 0, 1, ... in the order in which they first appear."""
    uniq, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    return rank[inv.reshape(-1)]


@dataclass
class Prepared:
    """Arrays of one estimation sample (rows in the order of the input).

    The exact-matching cells are numbered in the order in which they first appear. The
    methods return altered copies for re-estimation (the refutation checks), each as
    :func:`prepare` would give it for the altered table (the same cell numbering, column
    statistics and checks), without going back to the table."""

    d: np.ndarray  # bool (n,), treated
    y: np.ndarray  # float (n, m) outcomes
    x: np.ndarray  # float (n, p) covariates
    outcomes: list[str]
    covariates: list[str]
    strata: np.ndarray | None  # int codes (n,) of the exact-matching cells
    strata_labels: list[str] | None
    cluster: np.ndarray | None
    horizons: list[Any]
    stats: ColumnStats | None = None  # column statistics of x by d (all rows)
    exact: list[str] = field(default_factory=list)  # the exact-matching columns
    cluster_name: str | None = None
    treatment: str = "treatment"

    def take(self, rows: np.ndarray) -> "Prepared":
        """The rows ``rows`` (an index array, in its order): the sample :func:`prepare` gives
        for those rows of the table."""
        d = self.d[rows]
        _check_groups(d, self.treatment)
        x = self.x[rows]
        strata = labels = None
        if self.strata is not None:
            s = self.strata[rows]
            strata = first_appearance(s)
            old = np.empty(int(strata.max()) + 1 if len(strata) else 0, np.int64)
            old[strata] = s
            labels = [self.strata_labels[i] for i in old]
        return replace(self, d=d, y=self.y[rows], x=x, strata=strata, strata_labels=labels,
                       cluster=None if self.cluster is None else self.cluster[rows],
                       stats=checked_stats(x, d, self.covariates))

    def with_treatment(self, d: np.ndarray) -> "Prepared":
        """The same rows with another treatment indicator (e.g. a placebo)."""
        d = np.asarray(d, bool)
        _check_groups(d, self.treatment)
        return replace(self, d=d, stats=checked_stats(self.x, d, self.covariates))

    def with_covariate(self, name: str, values: np.ndarray) -> "Prepared":
        """The same rows with one more covariate (last)."""
        covs = [*self.covariates, name]
        x = np.column_stack([self.x, np.asarray(values, dtype=np.float64)])
        return replace(self, x=x, covariates=covs, stats=checked_stats(x, self.d, covs))


def _check_groups(d: np.ndarray, treatment: str) -> None:
    if d.all() or not d.any():
        raise DesignError(f"treatment column {treatment!r} has {'no controls' if d.all() else 'no treated units'}")


def prepare(
    data: Any,
    treatment: str,
    outcome: str | Sequence[str],
    covariates: Sequence[str],
    exact: str | Sequence[str] | None = None,
    cluster: str | None = None,
    horizon: dict[str, Any] | None = None,
) -> Prepared:
    """Validate and extract the estimation arrays."""
    df = to_polars(data)
    outcomes = as_list(outcome)
    covs = as_list(covariates)
    if not outcomes:
        raise DesignError("no outcome given")
    if df.height == 0:
        raise DesignError("the data has no rows")
    d_raw = numeric_column(df, treatment, "treatment")
    if not np.isin(d_raw, (0.0, 1.0)).all():
        vals = np.unique(d_raw)[:6]
        raise DesignError(f"treatment column {treatment!r} must be 0/1, found values {vals.tolist()}")
    d = d_raw == 1.0
    _check_groups(d, treatment)
    y = np.column_stack([numeric_column(df, o, "outcome") for o in outcomes])
    x, stats = covariate_matrix(df, covs, d)
    strata = labels = None
    ex = as_list(exact)
    if ex:
        for c in ex:
            if c not in df.columns:
                raise DesignError(f"exact-matching column {c!r} is not in the data")
            if df.get_column(c).null_count():
                bad = df.get_column(c).is_null().to_numpy()
                raise DesignError(f"exact-matching column {c!r} has missing values (rows {_row_sample(bad)})")
        key = df.select(pl.concat_str([pl.col(c).cast(pl.Utf8) for c in ex], separator="|").alias("k")).get_column("k")
        strata = first_appearance(key.cast(pl.Categorical).to_physical().to_numpy())
        first = np.unique(strata, return_index=True)[1]
        key_np = key.to_numpy()
        labels = [", ".join(f"{c}={v}" for c, v in zip(ex, str(key_np[i]).split("|"))) for i in first]
    cl = None
    if cluster is not None:
        if cluster not in df.columns:
            raise DesignError(f"cluster column {cluster!r} is not in the data")
        cl = df.get_column(cluster).to_numpy()
    hz = [(horizon or {}).get(o) for o in outcomes]
    return Prepared(d=d, y=y, x=x, outcomes=outcomes, covariates=covs, strata=strata, strata_labels=labels,
                    cluster=cl, horizons=hz, stats=stats, exact=ex, cluster_name=cluster, treatment=treatment)

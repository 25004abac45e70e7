"""The results objects every estimator returns.

Like ``linearmodels``: a model fits, a results object reports. Every results object has a
tidy ``estimates`` table (one row per estimand x outcome x horizon/event time) with at least
the columns of :data:`ESTIMATE_COLUMNS`, ``params``/``std_errors`` views of it,
``conf_int()``, ``summary()`` and ``to_records()`` (for ``results.json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impact.estimators.inference import normal_ci, p_value

ESTIMATE_COLUMNS = [
    "outcome",
    "estimand",
    "horizon",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "n_treated",
    "n_controls",
]


def tidy_estimates(rows: pd.DataFrame | list[dict], level: float = 0.95) -> pd.DataFrame:
    """Complete a table of estimates: add normal CIs and p-values where missing, order columns."""
    df = pd.DataFrame(rows).copy()
    if "ci_lower" not in df or "ci_upper" not in df:
        lo, hi = normal_ci(df["estimate"], df["std_error"], level)
        df["ci_lower"], df["ci_upper"] = lo, hi
    if "p_value" not in df:
        df["p_value"] = p_value(df["estimate"], df["std_error"])
    first = [c for c in ESTIMATE_COLUMNS if c in df]
    return df[first + [c for c in df.columns if c not in first]].reset_index(drop=True)


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return "."
        return f"{x:,.4f}" if abs(x) < 1000 else f"{x:,.1f}"
    return str(x)


@dataclass
class EstimationResults:
    """Base results: a tidy estimates table plus named diagnostics.

    Subclasses add family-specific tables (balance, group-time effects, donor weights) and
    plots; they keep the estimates table in the shared column layout so that reports,
    ``results.json`` and the validation harness read every family the same way.
    """

    estimates: pd.DataFrame
    method: str = ""
    level: float = 0.95
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def _index(self) -> pd.Index:
        keys = [c for c in ("outcome", "estimand", "horizon") if c in self.estimates]
        if not keys:
            return self.estimates.index
        return pd.MultiIndex.from_frame(self.estimates[keys]) if len(keys) > 1 else pd.Index(self.estimates[keys[0]])

    @property
    def params(self) -> pd.Series:
        return pd.Series(self.estimates["estimate"].to_numpy(), index=self._index(), name="estimate")

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(self.estimates["std_error"].to_numpy(), index=self._index(), name="std_error")

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals (normal, at ``level``; default the level used in fitting)."""
        if level is None or level == self.level:
            lo, hi = self.estimates["ci_lower"].to_numpy(), self.estimates["ci_upper"].to_numpy()
        else:
            lo, hi = normal_ci(self.estimates["estimate"], self.estimates["std_error"], level)
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self._index())

    def summary(self) -> str:
        """Plain-text summary: method, notes and the estimates table."""
        cols = [c for c in ESTIMATE_COLUMNS if c in self.estimates]
        table = self.estimates[cols].to_string(index=False, float_format=_fmt)
        head = [f"{type(self).__name__}: {self.method}".rstrip(": ")]
        head += [f"  {k}: {v}" for k, v in self.info.items() if np.isscalar(v)]
        notes = [f"Note: {n}" for n in self.notes]
        return "\n".join(head + ["", table] + ([""] + notes if notes else []))

    def __str__(self) -> str:
        return self.summary()

    def to_records(self) -> list[dict[str, Any]]:
        """Estimates as JSON-ready records (NaN becomes None)."""
        df = self.estimates.astype(object).where(self.estimates.notna(), None)
        return df.to_dict(orient="records")

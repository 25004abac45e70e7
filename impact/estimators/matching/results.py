"""The results object of the matching family."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impact.estimators.matching.balance import love_plot_data
from impact.estimators.results import EstimationResults, _fmt


@dataclass
class MatchingResults(EstimationResults):
    """Estimates of a matching / weighting estimator plus its diagnostics.

    ``estimates`` has the shared columns (outcome, estimand, horizon, estimate, std_error,
    ci_lower, ci_upper, p_value, n_treated, n_controls) and ``n_controls_used`` (distinct
    comparison units that receive weight). ``balance`` is the cobalt-style balance table,
    ``overlap`` the score distribution by group, ``score`` the propensity score of every
    row of the estimation sample (NaN for trimmed rows; None for Mahalanobis matching
    without a score), ``weights`` the implied weight of every row (0 = unused).
    ``sample_sizes`` (cobalt's sample sizes, one row per group): rows ``all``, ``off_support``
    (trimmed), ``unmatched`` (no weight), ``matched`` (weight > 0) and ``ess``, Kish's effective
    sample size of the weights.
    """

    balance: pd.DataFrame | None = None
    overlap: pd.DataFrame | None = None
    score: np.ndarray | None = None
    treated: np.ndarray | None = None
    weights: np.ndarray | None = None
    propensity: Any = None
    matches: Any = None
    estimand_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    sample_sizes: pd.DataFrame | None = None

    def summary(self) -> str:
        parts = [super().summary()]
        if self.estimand_note:
            parts.append(f"Estimand: {self.estimand_note}")
        if self.balance is not None:
            cols = [c for c in ("covariate", "smd_before", "smd_after", "vr_before", "vr_after", "smd_flag", "vr_flag")
                    if c in self.balance]
            parts += ["", "Balance (standardised mean differences, variance ratios):",
                      self.balance[cols].to_string(index=False, float_format=_fmt)]
        if self.overlap is not None:
            parts += ["", "Overlap (propensity score by group):",
                      self.overlap.to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        return "\n".join(parts)

    def love_plot_data(self) -> pd.DataFrame:
        """Absolute SMD by covariate, before and after (the data of a love plot)."""
        if self.balance is None:
            raise ValueError("no balance table")
        return love_plot_data(self.balance)

    def overlap_plot_data(self) -> pd.DataFrame:
        """Propensity score and group of each row used (the data of an overlap plot)."""
        if self.score is None or self.treated is None:
            raise ValueError("no propensity score (Mahalanobis matching without a score)")
        ok = np.isfinite(self.score)
        return pd.DataFrame({"score": self.score[ok], "group": np.where(self.treated[ok], "treated", "control")})

"""Options of the matching estimator as a study config sets them (``[estimators.matching]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from impact.errors import ConfigError
from impact.options import option

MATCHING = ("matching", "sector")


@dataclass(frozen=True)
class MatchingOptions:
    """``[estimators.matching]``: nearest-neighbour matching on a risk-set design.

    :meth:`match_kwargs` gives the keyword arguments of :func:`impact.estimators.matching.match`.
    """

    method: str = option("propensity", "Distance: nearest neighbours on the propensity score, or Mahalanobis "
                         "distance on the covariates.", kind="str", choices=("propensity", "mahalanobis"),
                         applies=MATCHING)
    k: int = option(5, "Nearest comparison rows per treated row.", kind="int", lo=1, hi=50, applies=MATCHING)
    replace: bool = option(True, "Match with replacement (a comparison row can serve several treated rows).",
                           kind="bool", applies=MATCHING)
    caliper: float | None = option(None, "Largest allowed distance (standard deviations of the logit score; "
                                   "Mahalanobis units); treated rows without a match inside it are left out.",
                                   kind="float", lo=0.0, hi=10.0, applies=MATCHING)
    estimand: str = option("ATT", "Effect on the treated (ATT), on the comparison persons (ATC) or on all (ATE); "
                           "the synthetic truth is the ATT.", kind="str", choices=("ATT", "ATC", "ATE"),
                           applies=MATCHING)
    ties: str = option("all", "Keep every comparison row tied with the k-th nearest ('all', as Stata and R "
                       "Matching) or the first one.", kind="str", choices=("all", "first"), applies=MATCHING)
    se: str = option("abadie_imbens", "Standard errors: Abadie-Imbens (clustered by person) or a person-clustered "
                     "bootstrap that re-matches.", kind="str", choices=("abadie_imbens", "bootstrap"),
                     applies=MATCHING)
    trim: tuple[float, float] | None = option(None, "Common support: drop rows whose propensity score is outside "
                                              "[low, high] before matching.", kind="float_pair", lo=0.0, hi=1.0,
                                              item="two numbers 0 <= low < high <= 1", applies=MATCHING)
    max_controls_per_cell: int | None = option(None, "Keep at most this many comparison rows per exact-matching "
                                               "cell (a reproducible random sample; for very large registers).",
                                               kind="int", lo=1, hi=100_000, applies=MATCHING)

    subgroups: bool = option(True, "Effects by sex, age band, language, months unemployed and service line "
                             "(doubly robust scores, cross-fitted boosting nuisances; adds about a minute on large "
                             "registers).", kind="bool", applies=("matching",))

    def check(self, path: str) -> None:
        if self.trim is not None and not (0 <= self.trim[0] < self.trim[1] <= 1):
            raise ConfigError(f"{path}.trim = {list(self.trim)} is not allowed: expected two numbers "
                              "0 <= low < high <= 1")

    def match_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`impact.estimators.matching.match`."""
        kw: dict[str, Any] = {"k": self.k, "replace": self.replace, "method": self.method,
                              "estimand": self.estimand, "ties": self.ties}
        if self.caliper is not None:
            kw["caliper"] = self.caliper
        if self.trim is not None:
            kw["trim"] = self.trim
        if self.se == "bootstrap":
            kw["vce"] = "bootstrap"
        return kw


#: Keys that [estimators.matching] no longer accepts, and why.
MOVED = {
    "crosscheck": "it was never used; the robustness section refutes the matching estimate",
    "max_controls_per_treated": "use max_controls_per_cell (comparison rows kept per exact-matching cell)",
}

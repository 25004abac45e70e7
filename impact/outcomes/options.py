"""Options of the outcome stage and of the placement follow-up as a study config sets them
(``[outcomes]``, ``[estimators.followup]``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from impact.errors import ConfigError
from impact.options import check_keys, option
from impact.outcomes.config import OutcomeConfig, config_from_dict

MEASURES = ("placement", "time_to_employment", "earnings", "relative_earnings", "return_to_jobseeking", "k_of_h",
            "cost")
GROUP_BY = ("service_type", "subtype", "provider_id", "course_id", "employment_area", "municipality", "segment",
            "sex", "language", "education", "age_band", "employer_sector")
#: Keys of ``[outcomes.employment]``: the outcome stage's definitions (:class:`impact.outcomes.config.OutcomeConfig`).
EMPLOYMENT_KEYS = ("allocation", "income_types", "holiday_compensation", "employment_floor_eur", "employment_rule",
                   "segment_by", "age_bands", "k_of_h", "earnings_windows", "return_windows")
#: Placement horizons the outcome stage always computes (the follow-up's month-by-month view and the cache).
BASE_HORIZONS = (1, 3, 6, 12)


@dataclass(frozen=True)
class OutcomesOptions:
    """``[outcomes]``: what is measured, when, and by which groups."""

    horizons: tuple[int, ...] = option((3, 6, 12), "Months after the end at which placement is measured (follow-up "
                                       "tables, matching effects).", kind="int_list", lo=1, hi=24,
                                       item="a month between 1 and 24 after the end",
                                       applies=("followup", "matching", "sector"))
    measures: tuple[str, ...] | None = option(None, "Columns of the follow-up tables ('cost' for service spells "
                                              "only).", kind="str_list", choices=MEASURES, applies=("followup",),
                                              default_text="placement, time_to_employment, relative_earnings (and "
                                              "cost for service spells)")
    by: tuple[str, ...] | None = option(None, "Groupings of the follow-up tables (the first one also for the curves "
                                        "and the headline).", kind="str_list", choices=GROUP_BY, applies=("followup",),
                                        default_text="service_type for service spells, employment_area for "
                                        "job-seeking spells")
    employment: dict[str, Any] = option(None, "Outcome definitions passed to the outcome stage (allocation, "
                                        "income_types, employment_floor_eur, ...; see docs/outcomes.md).",
                                        kind="table", default_factory=dict, default_text="{} (the outcome stage's "
                                        "defaults)")
    window_months: tuple[int, int] = option((-12, 24), "Event window [before, after] in months: the follow-up's "
                                            "month-by-month curves, the DiD event study (months before and after "
                                            "entry) and synthetic control (months before and after the reform).",
                                            kind="int_pair", item="[before, after] with before < 0 < after",
                                            applies=("followup", "did", "synth"))

    def check(self, path: str) -> None:
        w = self.window_months
        if w[0] >= 0 or w[1] <= 0:
            raise ConfigError(f"{path}.window_months = {list(w)} is not allowed: expected [before, after] with "
                              "before < 0 < after, e.g. [-12, 24]")
        check_keys(self.employment, f"{path}.employment", EMPLOYMENT_KEYS)
        if self.employment:
            try:
                config_from_dict(dict(self.employment), source=f"{path}.employment")
            except ConfigError as e:
                raise ConfigError(str(e).replace("outcome config:", f"{path}.employment:")) from None

    @property
    def sorted_horizons(self) -> tuple[int, ...]:
        return tuple(sorted(self.horizons))

    def groupings(self, unit_kind: str) -> tuple[str, ...]:
        """``by``, or its default for the unit: service type for service spells, employment area otherwise."""
        if self.by is not None:
            return self.by
        return ("service_type",) if unit_kind == "service_spell" else ("employment_area",)

    def columns(self, unit_kind: str) -> tuple[str, ...]:
        """``measures``, or their default for the unit (cost only for service spells)."""
        if self.measures is not None:
            return self.measures
        base = ("placement", "time_to_employment", "relative_earnings")
        return base + (("cost",) if unit_kind == "service_spell" else ())

    def outcome_config(self, extraction_date: dt.date | None, min_cell: int) -> OutcomeConfig:
        """The outcome stage's config: the employment definitions, the horizons (with
        :data:`BASE_HORIZONS`), the extraction date and the minimum cell of its flags."""
        d: dict[str, Any] = dict(self.employment)
        d["horizons"] = sorted(set(self.horizons) | set(BASE_HORIZONS))
        if extraction_date is not None:
            d["extraction_date"] = extraction_date
        d["disclosure_min"] = min_cell
        return config_from_dict(d, source="[outcomes]")


@dataclass(frozen=True)
class FollowupOptions:
    """``[estimators.followup]``: the placement follow-up (runs unless ``enabled = false``)."""

    km: bool = option(True, "Kaplan-Meier curves of the time to employment (table and figure).", kind="bool",
                      applies=("followup",))


#: Keys that [outcomes] and [estimators.followup] no longer accept.
MOVED = {"panel_outcome": "the DiD and synthetic control measure open-market employment; remove the key"}
FOLLOWUP_MOVED = {"by_horizon": "it was never used: the follow-up tables always show every horizon"}

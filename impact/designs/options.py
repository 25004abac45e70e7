"""Options of the evaluation designs: who is treated (``[treatment]``), who they are compared
with (``[comparison]``) and what the comparison is adjusted for (``[design]``)."""

from __future__ import annotations

from dataclasses import dataclass

from impact.errors import ConfigError
from impact.options import option
from impact.registers.schema import EMPLOYER_SECTORS, SERVICE_TYPES

DESIGNS = ("none", "dynamic", "did_cohorts", "synthetic_control", "sector_contrast")
COMPARISONS = ("none", "not_yet_treated", "never_treated", "donors", "other_sector")
#: Which comparisons fit which design.
COMPATIBLE = {"none": ("none",), "dynamic": ("not_yet_treated", "never_treated"),
              "did_cohorts": ("not_yet_treated", "never_treated"), "synthetic_control": ("donors",),
              "sector_contrast": ("other_sector",)}
PERSON_DESIGNS = ("matching", "sector", "did")
MATCHING = ("matching", "sector")
#: Characteristics a design can adjust for (``design.covariates``) and match exactly on (``design.exact``).
COVARIATES = ("age", "sex", "education", "language", "segment", "prior_employment", "prior_earnings")
EXACT = ("sex", "education", "language", "segment")


def month_to_index(label: str) -> int:
    """Integer month index (``impact.months``) of a 'YYYY-MM' label."""
    y, m = label.split("-")[:2]
    return int(y) * 12 + int(m) - 1


@dataclass(frozen=True)
class TreatmentOptions:
    """``[treatment]``: the design and who is treated when."""

    design: str = option("none", "The evaluation design: none (descriptive follow-up), dynamic (risk-set matching, "
                         "and DiD when [estimators.did] is given), did_cohorts (DiD only), sector_contrast (matching "
                         "by employer sector), synthetic_control (an area reform).", kind="str", choices=DESIGNS)
    service_type: str | None = option(None, "The service whose effect is estimated.", kind="str",
                                      choices=tuple(SERVICE_TYPES), applies=PERSON_DESIGNS)
    subtype: str | None = option(None, "Only services of this subtype count as the treatment (e.g. training "
                                 "'vocational').", kind="str", applies=PERSON_DESIGNS)
    employer_sectors: tuple[int, ...] | None = option(None, "Only services with employers of these sectors count as "
                                                      "the treatment (the treatment group of a sector contrast).",
                                                      kind="int_list", choices=tuple(EMPLOYER_SECTORS),
                                                      applies=PERSON_DESIGNS)
    area: str | None = option(None, "Synthetic control: the reformed employment area.", kind="str",
                              applies=("synth",))
    policy_month: str | None = option(None, "Synthetic control: the first month of the reform.", kind="month",
                                      applies=("synth",))
    cohorts_from: str | None = option(None, "Risk-set DiD: the first entry month.", kind="month", applies=("did",))
    cohorts_to: str | None = option(None, "Risk-set DiD: the last entry month.", kind="month", applies=("did",))
    max_elapsed_months: int = option(24, "Only starts within this many months of job seeking count (matching: "
                                     "months since the job-seeking episode began; DiD: since the spell began).",
                                     kind="int", lo=1, hi=120, applies=PERSON_DESIGNS)

    def check(self, path: str) -> None:
        if self.design in ("dynamic", "did_cohorts", "sector_contrast") and self.service_type is None:
            raise ConfigError(f"{path}.service_type is required when {path}.design = '{self.design}' "
                              f"(one of {', '.join(SERVICE_TYPES)})")
        if self.design == "synthetic_control" and (self.area is None or self.policy_month is None):
            raise ConfigError(f"{path}.area and {path}.policy_month ('YYYY-MM') are required when "
                              f"{path}.design = 'synthetic_control'")
        if self.design == "sector_contrast" and not self.employer_sectors:
            raise ConfigError(f"{path}.employer_sectors is required when {path}.design = 'sector_contrast' "
                              f"(codes {', '.join(f'{k} {v}' for k, v in EMPLOYER_SECTORS.items())})")
        if self.cohorts_from and self.cohorts_to and month_to_index(self.cohorts_to) < month_to_index(self.cohorts_from):
            raise ConfigError(f"{path}.cohorts_to = {self.cohorts_to!r} is before {path}.cohorts_from = "
                              f"{self.cohorts_from!r}")


@dataclass(frozen=True)
class ComparisonOptions:
    """``[comparison]``: who the treated are compared with."""

    kind: str = option("none", "not_yet_treated: persons who did not start then (they may start later); "
                       "never_treated: persons who do not start it within the data (conditions on the future); "
                       "other_sector: participants with other employers; donors: other areas.", kind="str",
                       choices=COMPARISONS)
    grace_months: int = option(0, "Matching: comparison persons who start the service within this many months are "
                               "dropped.", kind="int", lo=0, hi=36, applies=MATCHING)
    employer_sectors: tuple[int, ...] | None = option(None, "Sector contrast: the employer sectors of the "
                                                      "comparison group.", kind="int_list",
                                                      choices=tuple(EMPLOYER_SECTORS), applies=("sector",))
    donors: tuple[str, ...] | None = option(None, "Synthetic control: the donor areas (default: every area that is "
                                            "not excluded).", kind="str_list", applies=("synth",))
    exclude_areas: tuple[str, ...] | None = option(None, "Synthetic control: areas that may not be donors (e.g. "
                                                   "reformed later).", kind="str_list", applies=("synth",))
    donors_from_peers: bool = option(False, "Synthetic control: the donors are the statistical peers "
                                     "([estimators.peer_groups]).", kind="bool", applies=("synth",))

    def check(self, path: str) -> None:
        pass


@dataclass(frozen=True)
class CovariateOptions:
    """``[design]``: what the comparison of persons is adjusted for.

    Elapsed unemployment, the calendar month and the employment area are part of every
    person design (exact cells of the matching, the stacking of the DiD) and not listed here.
    """

    covariates: tuple[str, ...] = option(COVARIATES, "Characteristics in the propensity score (matching) and in the "
                                         "outcome regression (DiD).", kind="str_list", choices=COVARIATES,
                                         applies=PERSON_DESIGNS)
    history_months: int = option(12, "Matching: employment and earnings history in two windows, months 1..h and "
                                 "h+1..2h before the risk month.", kind="int", lo=1, hi=36, applies=MATCHING)
    exact: tuple[str, ...] = option((), "Matching: also match exactly on these characteristics.", kind="str_list",
                                    choices=EXACT, nonempty=False, applies=MATCHING)

    def matching_columns(self, available: list[str]) -> list[str]:
        """Score covariates of a risk-set matching design (:func:`impact.designs.dynamic.risk_set_design`
        columns): the elapsed duration always, then the columns of each listed characteristic."""
        return _columns(self.covariates, available, always=("log_elapsed",), by_name=_MATCHING_COLUMNS)

    def exact_columns(self, available: list[str]) -> list[str]:
        """Further exact-matching columns of a risk-set matching design."""
        return _columns(self.exact, available, always=(), by_name=_MATCHING_COLUMNS)

    def did_columns(self, available: list[str]) -> list[str]:
        """Covariates of the risk-set DiD's outcome regression (:func:`impact.designs.did_panels.risk_set_panel`
        columns, plus its prior-employment x months-since-start interactions ``hist_el*``)."""
        return _columns(self.covariates, available, always=("log_elapsed", "long_term"), by_name=_DID_COLUMNS)


def _columns(names: tuple[str, ...], available: list[str], always: tuple[str, ...],
             by_name: dict[str, tuple[str, ...]]) -> list[str]:
    """The columns of ``available`` (in its order) that are always used or belong to a listed characteristic."""
    pats = [p for n in names for p in by_name[n]]
    hit = lambda c: any(c == p or (p.endswith("*") and c.startswith(p[:-1])) for p in pats)  # noqa: E731
    return [c for c in available if c in always or hit(c)]


#: Columns of the risk-set matching design behind each characteristic ("x*": every column starting with x).
_MATCHING_COLUMNS = {"age": ("age", "age_under_25", "age_over_50"), "sex": ("female",),
                     "education": ("educ_basic", "educ_tertiary"), "language": ("lang_sv", "lang_other"),
                     "segment": ("segment_*",), "prior_employment": ("emp_*",), "prior_earnings": ("earn_*",)}
#: Columns of the risk-set DiD panel behind each characteristic.
_DID_COLUMNS = {"age": ("age_u25", "age_o50"), "sex": ("female",), "education": ("educ_basic", "educ_tertiary"),
                "language": ("lang_other",), "segment": ("seg_*",), "prior_employment": ("emp_12m", "hist_el*"),
                "prior_earnings": ()}


#: Keys that [design] no longer accepts, and why.
MOVED = {"segments": "subgroup effects are not estimated yet; remove the key (the report shows effects for the "
                     "whole population)"}

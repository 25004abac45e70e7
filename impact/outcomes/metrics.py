"""The evaluation centre's further metrics (issue #10): one entry point for the outcome stage.

:func:`compute_metric_outcomes` runs, on the materialised person x month panel of the
outcome stage and the optional register tables, each configured metric whose tables are
present:

========================  ===================================================  ==========================
metric                    what                                                 needs
========================  ===================================================  ==========================
``job_offers``            employment 1/3/6 months after a job offer            job_offers
``candidate_searches``    employment after being proposed in a search          job_offers, candidate_searches
``vacancies``             share of vacancies filled                            vacancies
``integration``           time from the integration plan to employment (KM)    integration_plans
``koto``                  foreign-language workforce share, employment and     (persons, spells, panel)
                          unemployment rates per area
``benefit_transitions``   benefit before -> 6 / 12 months after a service       benefit_reports
``industry``              industry of the first employer after a service        payers
``tax``                   municipal tax rate and cost base per service, area    (a tax-rate table)
========================  ===================================================  ==========================

A metric whose table is absent is skipped with a note (old register folders keep working).
Register-stage work is Ibis (:mod:`impact.outcomes.brokerage`, ``integration``, ``benefits``,
``industry``); only unit- and aggregate-level tables come back as polars. Group tables carry
their counts and a ``suppress`` flag (cells under ``disclosure_min`` persons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import ibis.expr.types as ir
import polars as pl

from impact.errors import ConfigError
from impact.options import option
from impact.outcomes.events import employed_after, group_counts  # noqa: F401 (part of this module's API)
from impact.permit import MIN_CELL


METRICS = ("job_offers", "candidate_searches", "vacancies", "integration", "koto", "benefit_transitions",
           "industry", "tax")
#: Register tables each metric needs (besides persons, spells and the panel).
NEEDS: dict[str, tuple[str, ...]] = {
    "job_offers": ("job_offers",), "candidate_searches": ("job_offers", "candidate_searches"),
    "vacancies": ("vacancies",), "integration": ("integration_plans",), "koto": (),
    "benefit_transitions": ("benefit_reports",), "industry": ("payers",), "tax": (),
}
#: Sources of the earnings effects behind the tax estimate (besides a CSV file).
TAX_EFFECT_SOURCES = ("design", "truth")


@dataclass(frozen=True)
class MetricsConfig:
    """Which metrics to compute and their parameters (a study's ``[metrics]`` section).

    ``koto_months`` (month indexes ``year * 12 + month - 1`` of the koto cross-sections;
    ``None``: December of every complete year of the data) and ``disclosure_min`` (group cells
    with fewer persons are flagged ``suppress``) are set by the caller, not by a study config.
    """

    include: tuple[str, ...] = option(METRICS, "The metrics to compute, each with a report section.", kind="str_list",
                                      choices=METRICS, applies=("metrics",))
    offer_horizons: tuple[int, ...] = option((1, 3, 6), "Months after a job offer (candidate search) at which "
                                             "employment is measured.", kind="int_list", lo=1, hi=24,
                                             item="a month between 1 and 24", applies=("metrics",))
    benefit_horizons: tuple[int, ...] = option((6, 12), "Months after a service ended at which the benefit is "
                                               "read.", kind="int_list", lo=1, hi=24, item="a month between 1 and 24",
                                               applies=("metrics",))
    tax_rates: str | None = option(None, "CSV of municipal income tax rates (municipality, year, rate_pct); default: "
                                   "the synthetic table shipped in impact/data.", kind="str", applies=("metrics",))
    tax_effects: tuple[str, ...] = option(("design",), "Where the earnings effects behind the tax estimate come "
                                          "from, in order of preference per service type: 'design' (this study's "
                                          "estimates), 'truth' (synthetic registers) or a CSV (service_type, "
                                          "horizon, estimate, std_error).", kind="str_or_list", applies=("metrics",))
    tax_years: int = option(3, "Follow-up years of the tax estimate.", kind="int", lo=1, hi=3, applies=("metrics",))
    taxable_share: float = option(1.0, "Share of the extra earnings that is taxable.", kind="float", lo=0.0, hi=1.0,
                                  applies=("metrics",))
    koto_months: tuple[int, ...] | None = None
    disclosure_min: int = MIN_CELL

    def __post_init__(self) -> None:
        bad = [m for m in self.include if m not in METRICS]
        if bad:
            raise ConfigError(f"metrics: {bad} unknown; expected some of {list(METRICS)}")
        for key, hs in (("offer_horizons", self.offer_horizons), ("benefit_horizons", self.benefit_horizons)):
            if not hs or not all(isinstance(h, int) and 1 <= h <= 24 for h in hs):
                raise ConfigError(f"metrics: {key} must be whole months 1..24, got {list(hs)}")
        if not 1 <= self.tax_years <= 3:
            raise ConfigError(f"metrics: tax_years must be 1, 2 or 3, got {self.tax_years}")
        object.__setattr__(self, "offer_horizons", tuple(sorted(self.offer_horizons)))
        object.__setattr__(self, "benefit_horizons", tuple(sorted(self.benefit_horizons)))

    def check(self, path: str) -> None:
        for i, e in enumerate(self.tax_effects):
            if e not in TAX_EFFECT_SOURCES and not e.endswith(".csv"):
                raise ConfigError(f"{path}.tax_effects[{i}] = {e!r} is not allowed: expected 'design', 'truth' or a "
                                  "CSV file (service_type, horizon, estimate, std_error); a list gives sources in "
                                  "order of preference per service type")


@dataclass
class MetricOutcomes:
    """Tables of the metrics (name -> polars frame) and notes on what was skipped and why."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def _missing(tables: dict, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n not in tables]


def compute_metric_outcomes(con: Any, tables: dict[str, ir.Table], panel: ir.Table, service_outcomes: pl.DataFrame,
                            last_month: int, extraction_date: Any, cfg: MetricsConfig | None = None,
                            units_filter: Callable[[str, pl.DataFrame], pl.DataFrame] | None = None) -> MetricOutcomes:
    """Run every configured metric whose register tables are present.

    Parameters
    ----------
    tables : the register tables (Ibis) of the run; optional tables may be absent.
    panel : the outcome stage's person x month panel (``person_id``, ``month``, ``employed``,
        ``earnings_eur``), materialised in the backend.
    service_outcomes : the outcome stage's service unit table (polars).
    last_month : last complete month of data; outcomes past it are null.
    units_filter : keeps the rows of a unit table (``"offer"``: job offers by ``offer_month``,
        ``"integration"``: first plans by ``plan_month``) that a study's population allows,
        before the group tables are computed from them.

    Returns
    -------
    MetricOutcomes
        Unit tables (``offer_units``, ``integration_units``, ``benefit_units``,
        ``industry_units``; person-level, for analysis only) and group tables (everything
        else; aggregates with counts and ``suppress``), plus notes for skipped metrics.
    """
    from impact.outcomes import benefits, brokerage, industry, integration, tax

    cfg = cfg or MetricsConfig()
    keep = units_filter or (lambda kind, units: units)
    res = MetricOutcomes()
    m = cfg.disclosure_min
    for name in cfg.include:  # a handful of metrics
        missing = _missing(tables, NEEDS[name])
        if missing:
            res.notes.append(f"{name}: not computed, the register folder has no {', '.join(missing)} table "
                             "(an older extract); the outcome is absent.")
            continue
        if name == "job_offers":
            u = keep("offer", brokerage.offer_units(tables, panel, last_month, cfg.offer_horizons))
            res.tables["offer_units"] = u
            res.tables.update(brokerage.offer_tables(u, cfg.offer_horizons, m))
        elif name == "candidate_searches":
            u = res.tables.get("offer_units")
            if u is None:
                u = keep("offer", brokerage.offer_units(tables, panel, last_month, cfg.offer_horizons))
            res.tables.update(brokerage.search_tables(u, tables["candidate_searches"].to_polars(),
                                                      cfg.offer_horizons, m))
        elif name == "vacancies":
            res.tables.update(brokerage.vacancy_tables(tables["vacancies"], extraction_date, m))
        elif name == "integration":
            u = keep("integration", integration.integration_units(tables, panel, last_month))
            res.tables["integration_units"] = u
            res.tables.update(integration.integration_tables(u, m))
        elif name == "koto":
            months = cfg.koto_months or integration.december_months(panel, last_month)
            res.tables["koto_by_area"] = integration.koto_rates(tables, panel, months, m)
        elif name == "benefit_transitions":
            u = benefits.benefit_units(tables, service_outcomes, last_month, cfg.benefit_horizons)
            res.tables["benefit_units"] = u
            res.tables["benefit_transitions"] = benefits.transition_table(u, cfg.benefit_horizons, m)
        elif name == "industry":
            u = industry.industry_units(tables, service_outcomes)
            res.tables["industry_units"] = u
            res.tables.update(industry.industry_tables(u, tables["persons"], service_outcomes, m))
        elif name == "tax":
            rates = tax.load_tax_rates(cfg.tax_rates)
            persons = tables["persons"].select("person_id", "municipality", "employment_area").to_polars()
            base, note = tax.tax_base(service_outcomes, persons, rates, cfg.tax_years)
            res.tables["tax_base"] = base.with_columns(suppress=pl.col("n") < m)
            if note:
                res.notes.append(note)
    return res




__all__ = ["METRICS", "MetricsConfig", "MetricOutcomes", "compute_metric_outcomes", "employed_after",
           "group_counts"]

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
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.errors import ConfigError


METRICS = ("job_offers", "candidate_searches", "vacancies", "integration", "koto", "benefit_transitions",
           "industry", "tax")
#: Register tables each metric needs (besides persons, spells and the panel).
NEEDS: dict[str, tuple[str, ...]] = {
    "job_offers": ("job_offers",), "candidate_searches": ("job_offers", "candidate_searches"),
    "vacancies": ("vacancies",), "integration": ("integration_plans",), "koto": (),
    "benefit_transitions": ("benefit_reports",), "industry": ("payers",), "tax": (),
}


@dataclass(frozen=True)
class MetricsConfig:
    """Which metrics to compute and their parameters.

    Attributes
    ----------
    metrics : names from :data:`METRICS`.
    offer_horizons : months after the offer (search) month at which employment is measured.
    benefit_horizons : months after a service's end month for the benefit transitions.
    koto_months : month indexes (``year * 12 + month - 1``) of the koto cross-sections;
        ``None``: December of every complete year of the data.
    tax_rates : CSV of municipal income tax rates (municipality, year, rate_pct); ``None``:
        the synthetic table shipped in ``impact/data``.
    tax_years : follow-up years of the tax base (1-3).
    disclosure_min : group cells with fewer persons are flagged ``suppress``.
    """

    metrics: tuple[str, ...] = METRICS
    offer_horizons: tuple[int, ...] = (1, 3, 6)
    benefit_horizons: tuple[int, ...] = (6, 12)
    koto_months: tuple[int, ...] | None = None
    tax_rates: str | None = None
    tax_years: int = 3
    disclosure_min: int = 10

    def __post_init__(self) -> None:
        bad = [m for m in self.metrics if m not in METRICS]
        if bad:
            raise ConfigError(f"metrics: {bad} unknown; expected some of {list(METRICS)}")
        for key, hs in (("offer_horizons", self.offer_horizons), ("benefit_horizons", self.benefit_horizons)):
            if not hs or not all(isinstance(h, int) and 1 <= h <= 24 for h in hs):
                raise ConfigError(f"metrics: {key} must be whole months 1..24, got {list(hs)}")
        if not 1 <= self.tax_years <= 3:
            raise ConfigError(f"metrics: tax_years must be 1, 2 or 3, got {self.tax_years}")


@dataclass
class MetricOutcomes:
    """Tables of the metrics (name -> polars frame) and notes on what was skipped and why."""

    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


def employed_after(units: ir.Table, panel: ir.Table, origin: str, horizons: tuple[int, ...], last_month: int,
                   key: str) -> ir.Table:
    """``employed_{h}m`` of each unit: open-market employed in month ``origin + h``.

    One range join of the units against the employed months of the panel; null where
    ``origin + h`` passes ``last_month`` (not observed), never false.
    """
    H = max(horizons)
    u = units.select(_k=units[key], _p=units.person_id, _o=units[origin])
    e = panel.filter(panel.employed & (panel.month <= last_month)).select(_ep=panel.person_id, _em=panel.month)
    j = u.join(e, [u._p == e._ep, e._em >= u._o + 1, e._em <= u._o + H])
    rel = j._em - j._o
    agg = j.group_by(_a=j._k).aggregate(**{f"_e{h}": ibis.cases((rel == h, 1), else_=0).max() for h in horizons})
    out = units.left_join(agg, units[key] == agg._a)
    cols = {f"employed_{h}m": ibis.cases((out[origin] + h <= last_month, out[f"_e{h}"].fill_null(0) == 1),
                                         else_=ibis.null("boolean")) for h in horizons}
    return out.select(*units.columns, **cols)


def group_counts(units: pl.DataFrame, by: list[str], horizons: tuple[int, ...], min_count: int,
                 person: str = "person_id", prefix: str = "employed") -> pl.DataFrame:
    """Employment shares after an event by group: ``n`` (events), ``n_persons``, and per horizon
    ``n_obs_{h}m``, ``n_{prefix}_{h}m`` and ``{prefix}_{h}m`` (share of the observed);
    ``suppress`` where ``n_persons`` < ``min_count``. A ``Total`` row (by = "Total") is added."""
    aggs: list[pl.Expr] = [pl.len().alias("n"), pl.col(person).n_unique().alias("n_persons")]
    for h in horizons:
        c = f"{prefix}_{h}m"
        aggs += [pl.col(c).is_not_null().sum().alias(f"n_obs_{h}m"), pl.col(c).cast(pl.Int64).sum().alias(f"n_{c}"),
                 pl.col(c).cast(pl.Float64).mean().alias(c)]
    u = units.with_columns([pl.col(b).cast(pl.String).fill_null("(unknown)") for b in by])
    g = u.group_by(by).agg(aggs).sort(by)
    tot = u.select(aggs).with_columns([pl.lit("Total").alias(b) for b in by])
    g = pl.concat([g, tot.select(g.columns)], how="vertical_relaxed")
    return g.with_columns(suppress=pl.col("n_persons") < min_count)


def _missing(tables: dict, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n not in tables]


def compute_metric_outcomes(con: Any, tables: dict[str, ir.Table], panel: ir.Table, service_outcomes: pl.DataFrame,
                            last_month: int, extraction_date: Any, cfg: MetricsConfig | None = None) -> MetricOutcomes:
    """Run every configured metric whose register tables are present.

    Parameters
    ----------
    tables : the register tables (Ibis) of the run; optional tables may be absent.
    panel : the outcome stage's person x month panel (``person_id``, ``month``, ``employed``,
        ``earnings_eur``), materialised in the backend.
    service_outcomes : the outcome stage's service unit table (polars).
    last_month : last complete month of data; outcomes past it are null.

    Returns
    -------
    MetricOutcomes
        Unit tables (``offer_units``, ``integration_units``, ``benefit_units``,
        ``industry_units``; person-level, for analysis only) and group tables (everything
        else; aggregates with counts and ``suppress``), plus notes for skipped metrics.
    """
    from impact.outcomes import benefits, brokerage, industry, integration, tax

    cfg = cfg or MetricsConfig()
    res = MetricOutcomes()
    m = cfg.disclosure_min
    for name in cfg.metrics:  # a handful of metrics
        missing = _missing(tables, NEEDS[name])
        if missing:
            res.notes.append(f"{name}: not computed, the register folder has no {', '.join(missing)} table "
                             "(an older extract); the outcome is absent.")
            continue
        if name == "job_offers":
            u = brokerage.offer_units(tables, panel, last_month, cfg.offer_horizons)
            res.tables["offer_units"] = u
            res.tables.update(brokerage.offer_tables(u, cfg.offer_horizons, m))
        elif name == "candidate_searches":
            u = res.tables.get("offer_units")
            if u is None:
                u = brokerage.offer_units(tables, panel, last_month, cfg.offer_horizons)
            res.tables.update(brokerage.search_tables(u, tables["candidate_searches"].to_polars(),
                                                      cfg.offer_horizons, m))
        elif name == "vacancies":
            res.tables.update(brokerage.vacancy_tables(tables["vacancies"], extraction_date, m))
        elif name == "integration":
            u = integration.integration_units(tables, panel, last_month)
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


def default_tax_rates_path() -> Path:
    """The synthetic municipal tax-rate table shipped with the package."""
    return Path(__file__).resolve().parents[1] / "data" / "municipal_tax_rates_synthetic.csv"

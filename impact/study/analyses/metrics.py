"""The evaluation centre's further metrics (issue #10) on the study's population: job brokerage,
the integration path, koto rates, benefit transitions, industries and municipal tax revenue.

The metric tables come from :func:`impact.outcomes.metrics.compute_metric_outcomes`, given
the service spells of every type that the population rules allow in their start month, and a
filter that keeps the job offers and integration plans of persons the rules allow in their month. This module says which persons (or,
for vacancies, which vacancies) stand behind each published cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import ibis
import pandas as pd
import polars as pl

from impact.outcomes.tables import wilson
from impact.report.disclosure import CELL, TOTAL, Group, Publication, cell_members
from impact.report.wording import text
from impact.study.analyses.followup import km_publication
from impact.study.context import AnalysisResult, FigureSpec, StudyContext

OFFER_BY = ("result_code", "employment_area", "employer_industry")
SEARCH_BY = ("search_result", "employment_area")


@dataclass(frozen=True)
class MetricsFacts:
    """Person-free facts of the metric sections."""

    include: tuple[str, ...]
    offer_horizons: tuple[int, ...]
    benefit_horizons: tuple[int, ...]
    koto_year: int | None = None
    tax_source: str = ""
    tax_missing: str = ""
    tax_service: str | None = None
    notes: tuple[str, ...] = ()
    absent: dict[str, str] = field(default_factory=dict)


def _shares(t: pl.DataFrame, horizons: tuple[int, ...]) -> pd.DataFrame:
    d = t.drop("suppress").to_pandas()
    for h in horizons:
        lo, hi = wilson(d[f"n_employed_{h}m"], d[f"n_obs_{h}m"])
        d[f"employed_{h}m_lo"], d[f"employed_{h}m_hi"] = lo, hi
    return d


def _employment_parts(horizons: tuple[int, ...]) -> dict[str, pl.Expr]:
    parts = {}
    for h in horizons:
        c = f"employed_{h}m"
        parts.update({f"obs:{c}": pl.col(c).is_not_null(), f"yes:{c}": pl.col(c) == True,  # noqa: E712
                      f"no:{c}": pl.col(c) == False})  # noqa: E712
    return parts


def _employment_groups(horizons: tuple[int, ...]) -> tuple[Group, ...]:
    return tuple(Group((f"employed_{h}m", f"employed_{h}m_lo", f"employed_{h}m_hi", f"n_employed_{h}m",
                        f"n_obs_{h}m"), parts=(f"obs:employed_{h}m", f"yes:employed_{h}m", f"no:employed_{h}m"),
                       count=f"n_obs_{h}m", obs=f"obs:employed_{h}m") for h in horizons)


def _event_table(name: str, table: pl.DataFrame, units: pl.DataFrame, by: str, horizons: tuple[int, ...]) -> Publication:
    """Employment after an event (offer, search) by one grouping, resting on the persons behind each cell."""
    u = units.with_columns(pl.col(by).cast(pl.String).fill_null("(no result)" if by in ("result_code",
                                                                                      "search_result") else
                                                                   "(unknown)"))
    return Publication(name, _shares(table, horizons), dims=(by,), count="n",
                       members=cell_members(u, [by], _employment_parts(horizons)), groups=_employment_groups(horizons),
                       counts=("n_persons",))


def _counts_table(name: str, df: pd.DataFrame, key: str, n: str, yes: str, cols: tuple[str, ...]) -> Publication:
    """A table of units counted directly (vacancies): ``n`` per cell, ``yes`` of them; the share and
    its complement each need min_cell units."""
    pc = pl.concat([pl.DataFrame({key: df[key].astype(str).tolist(), "part": part, "n": vals})
                    for part, vals in ((CELL, df[n].tolist()), ("yes", df[yes].tolist()),
                                       ("no", (df[n] - df[yes]).tolist()))])
    return Publication(name, df, dims=(key,), count=n, part_counts=pc, groups=(Group(cols, parts=("yes", "no")),))


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """Compute the [metrics] of the study on its population and say who is behind each cell."""
    from impact.outcomes.metrics import compute_metric_outcomes

    cfg = ctx.cfg
    mc = cfg.metrics
    pop = ctx.population
    # every service type (the follow-up's [unit] selects what it follows; the metrics describe all services),
    # under the population's rules in the month each service starts
    services = pop.restrict(ctx.outcomes.service_outcomes, "start_month")
    month_col = {"offer": "offer_month", "integration": "plan_month"}

    def keep(kind: str, units: pl.DataFrame) -> pl.DataFrame:
        return pop.restrict(units, month_col[kind]) if units.height else units

    tables = dict(ctx.tables)
    if pop.options.restricts_persons:
        tables["persons"] = ibis.memtable(ctx.persons.join(pop.allowed_persons(), on="person_id", how="semi")
                                          .join(ctx.tables["persons"].select("person_id", "municipality").to_polars(),
                                                on="person_id", how="left").to_arrow())
    mcfg = mc if mc.tax_rates is None else _with_rates(mc, cfg.path)
    o = ctx.outcomes
    m = compute_metric_outcomes(ctx.con, tables, ctx.panel, services, o.last_month, o.extraction_date, mcfg,
                                units_filter=keep)
    pubs: dict[str, Publication] = {}
    absent = {}
    h = mc.offer_horizons
    figures = []
    if "offers_by_result_code" in m:
        for by in OFFER_BY:
            pubs[f"offers_by_{by}"] = _event_table(f"offers_by_{by}", m[f"offers_by_{by}"], m["offer_units"], by, h)
        pubs["offers_employment_by_result"] = _offer_curves(pubs["offers_by_result_code"], h)
        figures.append(FigureSpec("offers_employment_by_result", text("offers_figure_caption", ctx.lang),
                                  "offers_employment_by_result", partial(_draw_offers, lang=ctx.lang)))
    if "searches_by_search_result" in m:
        s = m["offer_units"].filter(pl.col("search_id").is_not_null()).join(
            ctx.tables["candidate_searches"].select("search_id", "result_code").to_polars().rename(
                {"result_code": "search_result"}), on="search_id", how="inner")
        for by in SEARCH_BY:
            pubs[f"searches_by_{by}"] = _event_table(f"searches_by_{by}", m[f"searches_by_{by}"], s, by, h)
        sa = s.with_columns(pl.col("employment_area").cast(pl.String).fill_null("(unknown)"))
        mem = cell_members(sa, ["employment_area"], {"yes": pl.col("search_result") == "01",
                                                      "no": pl.col("search_result") != "01"})
        d = m["searches_filled_by_area"].drop("suppress").to_pandas()
        pubs["searches_filled_by_area"] = Publication(
            "searches_filled_by_area", d, dims=("employment_area",), count="n_searches", members=mem,
            groups=(Group(("share_filled_by_proposed", "n_filled_by_proposed"), parts=("yes", "no")),),
            counts=("n_filled",))
    if "vacancies_by_employment_area" in m:
        for by in ("year_closed", "employment_area"):
            d = m[f"vacancies_by_{by}"].drop("suppress").to_pandas()
            pubs[f"vacancies_by_{by}"] = _counts_table(f"vacancies_by_{by}", d, by, "n_vacancies", "n_filled",
                                                       ("share_filled", "n_filled"))
    if "integration_median_by_area" in m:
        u = m["integration_units"].with_columns(pl.col("employment_area").cast(pl.String).fill_null("(unknown)"))
        mem = cell_members(u, ["employment_area"], {"employed": ~pl.col("censored"), "not_employed": pl.col("censored")})
        d = m["integration_median_by_area"].drop("suppress").to_pandas()
        pubs["integration_median_by_area"] = Publication(
            "integration_median_by_area", d, dims=("employment_area",), count="n", members=mem,
            groups=(Group(("median", "median_lower", "median_upper", "events"), parts=("employed", "not_employed")),))
        pubs["integration_km"] = _integration_km(u)
    if "koto_by_area" in m:
        pubs["koto_by_area"], koto_year = _koto(m["koto_by_area"])
    else:
        koto_year = None
    if "benefit_transitions" in m:
        pubs["benefit_transitions"] = _benefits(m["benefit_units"], m["benefit_transitions"], mc.benefit_horizons)
    if "industry_by_service" in m:
        pubs["industry_by_service"] = _industry(m["industry_units"], m["industry_by_service"], ctx)
    facts_tax = ("", "", None)
    if "tax_base" in m:
        from impact.study.analyses.tax import tax_publications

        tax_pubs, facts_tax = tax_publications(ctx, m["tax_base"].drop("suppress"), services, done)
        pubs.update(tax_pubs)
    for name in mc.include:
        if not any(p.startswith(_PREFIX[name]) for p in pubs):
            absent[name] = next((n for n in m.notes if n.startswith(name)), "")
    facts = MetricsFacts(include=mc.include, offer_horizons=h, benefit_horizons=mc.benefit_horizons,
                         koto_year=koto_year, tax_source=facts_tax[0], tax_missing=facts_tax[1],
                         tax_service=facts_tax[2], notes=tuple(m.notes), absent=absent)
    return AnalysisResult(name="metrics", tables=pubs, figures=tuple(figures), facts=facts)


def _offer_curves(table: Publication, horizons: tuple[int, ...]) -> Publication:
    """Share in work by months since the offer, one line per result code (the points of the table)."""
    f = table.frame[table.frame["result_code"] != TOTAL]
    rows = [pd.DataFrame({"group": f["result_code"].astype(str), "month": str(h), "share": f[f"employed_{h}m"],
                          "ci_lower": f[f"employed_{h}m_lo"], "ci_upper": f[f"employed_{h}m_hi"]}) for h in horizons]
    mem = table.members.filter(pl.col("result_code") != TOTAL)
    ms = []
    for h in horizons:  # the persons observed at h are the point's cell; employed and not its parts
        c = f"employed_{h}m"
        ms.append(mem.filter(pl.col("part").is_in([f"obs:{c}", f"yes:{c}", f"no:{c}"])).select(
            pl.col("result_code").alias("group"), pl.lit(str(h)).alias("month"),
            pl.col("part").replace({f"obs:{c}": CELL, f"yes:{c}": "yes", f"no:{c}": "no"}), "person_id"))
    return Publication("offers_employment_by_result", pd.concat(rows, ignore_index=True), slices=("group", "month"),
                       members=pl.concat(ms), groups=(Group(("share", "ci_lower", "ci_upper"), parts=("yes", "no")),),
                       kind="curve")


def _draw_offers(df: pd.DataFrame, lang: str):
    from impact import plots

    d = df.dropna(subset=["share"]).assign(month=lambda x: x["month"].astype(int))
    return plots.band_lines(d, "month", "share", "ci_lower", "ci_upper", group="group", percent=True,
                            xlabel=text("months_since_offer", lang), ylabel=text("share_employed", lang))


_PREFIX = {"job_offers": "offers_", "candidate_searches": "searches_", "vacancies": "vacancies_",
           "integration": "integration_", "koto": "koto_", "benefit_transitions": "benefit_", "industry": "industry_",
           "tax": "tax_"}


def _with_rates(mc, cfg_path: str | None):
    from dataclasses import replace

    p = Path(mc.tax_rates)
    if not p.is_absolute() and not p.exists() and cfg_path:
        p = Path(cfg_path).parent / p
    return replace(mc, tax_rates=str(p))


def _integration_km(u: pl.DataFrame) -> Publication:
    """Kaplan-Meier curve of the months from the first integration plan to work (one unit per person)."""
    return km_publication(u.with_columns(group=pl.lit("all")), "group", max_month=36, name="integration_km")


def _koto(k: pl.DataFrame) -> tuple[Publication, int]:
    month = int(k["month"].max())
    d = k.filter(pl.col("month") == month).drop("month", "suppress", "fl_suppress")
    parts = {CELL: "persons", "emp": "employed", "notemp": None, "unemp": "unemployed", "fl": "fl_persons",
             "fl_emp": "fl_employed", "fl_unemp": "fl_unemployed"}
    rows = []
    for part, col in parts.items():
        v = (d["persons"] - d["employed"]) if col is None else d[col]
        rows.append(pl.DataFrame({"employment_area": d["employment_area"], "part": part, "n": v}))
    rows += [pl.DataFrame({"employment_area": d["employment_area"], "part": "fl_notemp",
                           "n": d["fl_persons"] - d["fl_employed"]}),
             pl.DataFrame({"employment_area": d["employment_area"], "part": "nonfl_wf",
                           "n": d["workforce"] - d["fl_workforce"]})]
    g = (Group(("employment_rate", "employed"), parts=("emp", "notemp")),
         Group(("unemployment_rate", "unemployed", "workforce"), parts=("unemp", "emp")),
         Group(("fl_share_of_workforce", "fl_workforce"), parts=("fl", "nonfl_wf")),
         Group(("fl_employment_rate", "fl_employed", "fl_persons"), parts=("fl", "fl_emp", "fl_notemp")),
         Group(("fl_unemployment_rate", "fl_unemployed"), parts=("fl_unemp", "fl_emp")))
    return Publication("koto_by_area", d.to_pandas(), dims=("employment_area",), count="persons",
                       part_counts=pl.concat(rows, how="vertical_relaxed"), groups=g), month // 12


def _benefits(units: pl.DataFrame, t: pl.DataFrame, horizons: tuple[int, ...]) -> Publication:
    """Before -> after transitions: each (service type, horizon, before) is a one-way table over
    the benefit after, with its Total; a share needs min_cell persons in its cell and outside it."""
    frames, mem = [], []
    for h in horizons:  # a couple of horizons
        u = units.filter(pl.col("benefit_before").is_not_null() & pl.col(f"benefit_{h}m").is_not_null()).select(
            "person_id", "service_type", pl.col("benefit_before").alias("before"),
            pl.col(f"benefit_{h}m").alias("after"))
        u = pl.concat([u, u.with_columns(pl.lit(TOTAL).alias("service_type"))]).with_columns(
            horizon=pl.lit(str(h)))
        cats = sorted(u["after"].unique().to_list())
        parts = {f"not_{c}": pl.col("after") != c for c in cats}
        cm = cell_members(u, ["service_type", "horizon", "before", "after"], parts, total=False)
        tot = u.with_columns(pl.lit(TOTAL).alias("after")).select("service_type", "horizon", "before", "after",
                                                                 pl.lit(CELL).alias("part"), "person_id").unique()
        # the complement of a cell is its row's persons outside it
        comp = cm.filter(pl.col("part") != CELL).with_columns(pl.col("part").str.strip_prefix("not_").alias("_a"))
        comp = comp.select("service_type", "horizon", "before", pl.col("_a").alias("after"), pl.lit("not").alias("part"),
                           "person_id").unique()
        mem += [cm.filter(pl.col("part") == CELL), tot, comp]
        frames.append(t.filter(pl.col("horizon") == h))
    d = pl.concat(frames).drop("suppress").with_columns(pl.col("horizon").cast(pl.String))
    tots = d.group_by("service_type", "horizon", "before").agg(pl.col("n").sum(), pl.col("n_before").first()).with_columns(
        after=pl.lit(TOTAL), n_persons=pl.lit(None, pl.UInt32), share=pl.lit(1.0))
    d = pl.concat([d, tots.select(d.columns)], how="vertical_relaxed").sort("service_type", "horizon", "before", "after")
    return Publication("benefit_transitions", d.to_pandas(), dims=("after",), slices=("service_type", "horizon", "before"),
                       count="n", members=pl.concat(mem, how="vertical_relaxed"), counts=("n_before",),
                       groups=(Group(("share",), parts=("not",)),))


def _industry(units: pl.DataFrame, t: pl.DataFrame, ctx: StudyContext) -> Publication:
    """Placements by industry and service type; the shares of women, foreign-language speakers and
    persons with basic education need min_cell persons with and without the trait."""
    u = units.join(ctx.persons.select("person_id", "sex", "language", "education"), on="person_id", how="left").select(
        "person_id", "service_type", pl.col("first_payer_industry").alias("industry"), "sex", "language", "education")
    traits = {"female": pl.col("sex") == "F", "male": pl.col("sex") != "F", "fl": pl.col("language") == "other",
              "nonfl": pl.col("language") != "other", "basic": pl.col("education") == "basic",
              "nonbasic": pl.col("education") != "basic"}
    mem = cell_members(u, ["industry", "service_type"], traits)
    inds = sorted(u["industry"].unique().to_list())
    other = cell_members(u, ["service_type"], {f"o_{i}": pl.col("industry") != i for i in inds})
    other = other.filter(pl.col("part") != CELL).select(pl.col("part").str.strip_prefix("o_").alias("industry"),
                                                        "service_type", pl.lit("other").alias("part"), "person_id")
    mem = pl.concat([mem, other])
    d = t.drop("suppress").to_pandas()
    groups = (Group(("female_share",), parts=("female", "male")), Group(("foreign_language_share",), parts=("fl", "nonfl")),
              Group(("basic_education_share",), parts=("basic", "nonbasic")),
              Group(("share_of_placements",), parts=("other",)))
    return Publication("industry_by_service", d, dims=("industry", "service_type"), count="n", members=mem,
                       groups=groups, counts=("n_persons", "n_completed"))


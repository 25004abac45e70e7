"""Report sections of the further metrics (brokerage, integration, koto, benefits, industries, tax)."""

from __future__ import annotations

import pandas as pd

from impact import plots
from impact.report.disclosure import TOTAL
from impact.report.render import ReportSection
from impact.report.wording import label, text

MAX_ROWS = 15
BENEFITS = ("none", "labour_market_subsidy", "basic_allowance", "earnings_related_allowance", "startup_grant", "other")


def _top(d, by: str, n: str) -> list:
    f = d.frame
    body = f[f[by] != TOTAL].sort_values(n, ascending=False, na_position="last")
    return list(body.index[:MAX_ROWS]) + list(f.index[f[by] == TOTAL])


def _head(by: str, lang: str) -> str:
    return text(f"head_{by}", lang) if by in ("result_code", "search_result", "employer_industry") else label(by, lang)


def _events_table(d, page, by: str, horizons, caption: str, notes=()) -> object:
    lang = page.lang
    cols = [(by, _head(by, lang), "text"), ("n", text("events", lang), "int"),
            ("n_persons", text("n_persons", lang), "int")]
    cols += [(f"employed_{h}m", text("in_work_at", lang, h=h), "pct", (f"employed_{h}m_lo", f"employed_{h}m_hi"))
             for h in horizons]
    rows = _top(d, by, "n")
    n = list(notes)
    if len(d.frame) - 1 > MAX_ROWS:
        n.append(text("rows_shown", lang, n=MAX_ROWS, total=len(d.frame) - 1, name=d.name))
    return page.table(d, cols, caption, rows=rows, notes=n, name=d.name)


def _brokerage(res, page, f) -> list[ReportSection]:
    lang, t = page.lang, res.tables
    out = []
    if "offers_by_result_code" in t:
        s = ReportSection(key="job-offers", title=text("job_offers", lang), paragraphs=[text("job_offers_text", lang)])
        for by in ("result_code", "employment_area", "employer_industry"):
            s.tables.append(_events_table(t[f"offers_by_{by}"], page, by, f.offer_horizons,
                                          text("offers_caption", lang, by=_head(by, lang).lower()),
                                          [text("result_codes_note", lang)] if by == "result_code" else ()))
        s.figures += page.figures_of(res, prefix="offers")
        out.append(s)
    if "searches_by_search_result" in t:
        s = ReportSection(key="candidate-searches", title=text("candidate_searches", lang),
                          paragraphs=[text("candidate_searches_text", lang)])
        for by in ("search_result", "employment_area"):
            s.tables.append(_events_table(t[f"searches_by_{by}"], page, by, f.offer_horizons,
                                          text("searches_caption", lang, by=_head(by, lang).lower()),
                                          [text("search_results_note", lang)] if by == "search_result" else ()))
        d = t["searches_filled_by_area"]
        s.tables.append(page.table(d, [("employment_area", label("employment_area", lang), "text"),
                                       ("n_searches", text("searches", lang), "int"),
                                       ("share_filled_by_proposed", text("filled_by_proposed", lang), "pct")],
                                   text("searches_filled_caption", lang), rows=_top(d, "employment_area", "n_searches"),
                                   name=d.name))
        out.append(s)
    if "vacancies_by_employment_area" in t:
        s = ReportSection(key="vacancies", title=text("vacancies", lang), paragraphs=[text("vacancies_text", lang)])
        for by in ("year_closed", "employment_area"):
            d = t[f"vacancies_by_{by}"]
            rows = list(d.frame.index) if by == "year_closed" else _top(d, by, "n_vacancies")
            s.tables.append(page.table(d, [(by, _head(by, lang) if by != "year_closed" else text("year_closed", lang),
                                            "text"), ("n_vacancies", text("vacancies_closed", lang), "int"),
                                           ("share_filled", text("share_filled", lang), "pct")],
                                       text("vacancies_caption", lang, by=(text("year_closed", lang) if by == "year_closed"
                                                                           else label(by, lang)).lower()),
                                       rows=rows, name=d.name, notes=[text("vacancies_units_note", lang)]))
        out.append(s)
    return out


def _integration(res, page) -> ReportSection | None:
    lang, t = page.lang, res.tables
    if "integration_median_by_area" not in t:
        return None
    s = ReportSection(key="integration", title=text("integration", lang), paragraphs=[text("integration_text", lang)])
    d = t["integration_median_by_area"]
    s.tables.append(page.table(d, [("employment_area", label("employment_area", lang), "text"),
                                   ("n", text("persons_with_plan", lang), "int"),
                                   ("events", text("employed_by_end", lang), "int"),
                                   ("median", text("median_months_plain", lang), "num0")],
                               text("integration_caption", lang), rows=_top(d, "employment_area", "n"), name=d.name))
    km = t["integration_km"].frame.dropna(subset=["survival"])
    if not km.empty:
        fig = plots.band_lines(km, "month", "survival", "ci_lower", "ci_upper", group="group", step=True, percent=True,
                               xlabel=text("months_since_plan", lang), ylabel=text("share_not_employed", lang))
        s.figures.append(page.save_figure(fig, "integration_km", text("integration_km_caption", lang)))
    return s


def _koto(res, page, f) -> ReportSection | None:
    lang, t = page.lang, res.tables
    if "koto_by_area" not in t:
        return None
    d = t["koto_by_area"]
    s = ReportSection(key="koto", title=text("koto", lang), paragraphs=[text("koto_text", lang, year=f.koto_year)])
    cols = [("employment_area", label("employment_area", lang), "text"), ("workforce", text("workforce", lang), "int")]
    cols += [(c, text(c, lang), "pct") for c in ("fl_share_of_workforce", "employment_rate", "fl_employment_rate",
                                                  "unemployment_rate", "fl_unemployment_rate")]
    s.tables.append(page.table(d, cols, text("koto_caption", lang, year=f.koto_year),
                               rows=_top(d, "employment_area", "persons"), name=d.name))
    return s


def _benefits(res, page, f) -> ReportSection | None:
    lang, t = page.lang, res.tables
    if "benefit_transitions" not in t:
        return None
    d = t["benefit_transitions"]
    pub = d.frame
    s = ReportSection(key="benefits", title=text("benefit_transitions", lang),
                      paragraphs=[text("benefit_transitions_text", lang, h=text("and_join", lang).join(
                          map(str, f.benefit_horizons)))])
    for h in f.benefit_horizons:
        x = pub[(pub["horizon"] == str(h)) & (pub["before"] == "labour_market_subsidy") & (pub["after"] != TOTAL)]
        wide, mk = _wide(d, x, "service_type", "after")
        order = [st for st in wide["service_type"] if st != TOTAL] + [TOTAL]
        ix = [wide.index[wide["service_type"] == st][0] for st in order if (wide["service_type"] == st).any()]
        cols = [("service_type", label("service_type", lang), "text")] + [(c, text(f"benefit_{c}", lang), "pct")
                                                                        for c in BENEFITS if c in wide.columns]
        s.tables.append(page.table_frame(wide, mk, cols, text("benefit_lms_caption", lang, h=h), rows=ix,
                                         name=f"benefit_from_lms_{h}m", notes=[text("benefit_rows_note", lang)]))
    h = max(f.benefit_horizons)
    x = pub[(pub["horizon"] == str(h)) & (pub["service_type"] == TOTAL) & (pub["after"] != TOTAL)]
    wide, mk = _wide(d, x, "before", "after")
    ix = [wide.index[wide["before"] == c][0] for c in BENEFITS if (wide["before"] == c).any()]
    wide["before"] = wide["before"].map(lambda c: text(f"benefit_{c}", lang))
    s.tables.append(page.table_frame(wide, mk, [("before", text("before_after", lang), "text")] +
                                     [(c, text(f"benefit_{c}", lang), "pct") for c in BENEFITS if c in wide.columns],
                                     text("benefit_matrix_caption", lang, h=h), rows=ix, name=f"benefit_matrix_{h}m"))
    return s


def _wide(d, x: pd.DataFrame, index: str, columns: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A long (index, columns, share) slice as a wide table, with the marks of its cells."""
    marks = d.marks.loc[x.index, "share"]
    w = x.assign(_mark=marks.to_numpy()).pivot_table(index=index, columns=columns, values="share", aggfunc="first",
                                                     dropna=False).reset_index()
    m = x.assign(_mark=marks.to_numpy()).pivot(index=index, columns=columns, values="_mark").reset_index()
    m = m.set_index(index).reindex(w[index]).reset_index().fillna(".")
    w.columns.name = None
    m.columns.name = None
    return w, m


def _industry(res, page) -> ReportSection | None:
    lang, t = page.lang, res.tables
    if "industry_by_service" not in t:
        return None
    d = t["industry_by_service"]
    pub = d.frame
    s = ReportSection(key="industry", title=text("industry", lang), paragraphs=[text("industry_text", lang)])
    tot = pub[pub["service_type"] == TOTAL].sort_values("n", ascending=False, na_position="last")
    s.tables.append(page.table(d, [("industry", text("head_industry", lang), "text"), ("n", text("placements", lang), "int"),
                                   ("share_of_placements", text("share_of_placements", lang), "pct"),
                                   ("female_share", text("women", lang), "pct"),
                                   ("foreign_language_share", text("foreign_language", lang), "pct"),
                                   ("basic_education_share", text("basic_only", lang), "pct"),
                                   ("mean_age", text("mean_age", lang), "num1")],
                               text("industry_caption", lang), rows=list(tot.index), name="industry_total"))
    top = [i for i in tot["industry"].tolist() if i != "(unknown)"][:6]
    x = pub[pub["industry"].isin(top)]
    wide, mk = _wide_share(d, x, top)
    s.tables.append(page.table_frame(wide, mk, [("service_type", label("service_type", lang), "text")] +
                                     [(i, i, "pct") for i in top], text("industry_top_caption", lang),
                                     rows=list(wide.index), name="industry_by_service_top",
                                     notes=[text("industry_letters_note", lang)]))
    return s


def _wide_share(d, x: pd.DataFrame, top: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    marks = d.marks.loc[x.index, "share_of_placements"]
    xx = x.assign(_mark=marks.to_numpy())
    w = xx.pivot_table(index="service_type", columns="industry", values="share_of_placements", aggfunc="first",
                       dropna=False).reindex(columns=top).reset_index()
    m = xx.pivot(index="service_type", columns="industry", values="_mark").reindex(columns=top)
    m = m.reindex(w["service_type"]).reset_index().fillna(".")
    w.columns.name = None
    m.columns.name = None
    return w, m


def _tax(res, page, f) -> ReportSection | None:
    lang, t = page.lang, res.tables
    if "tax" not in f.include:
        return None
    s = ReportSection(key="tax", title=text("tax", lang))
    if "tax_revenue_by_service" not in t:
        s.paragraphs.append(text("absent", lang, why=f.tax_missing))
        return s
    mc = page.cfg.metrics
    s.paragraphs.append(text("tax_text", lang, share=f"{mc.taxable_share:.0%}", source=f.tax_source))
    yrs = mc.tax_years
    cols = [("service_type", label("service_type", lang), "text"), ("source", text("effect_source", lang), "text"),
            ("n", text("participants", lang), "int"),
            ("earnings_effect", text("earnings_effect_year", lang, y=yrs), "num0"),
            ("rate", text("tax_rate_year", lang, y=yrs), "num2"),
            ("cum_revenue", text("tax_revenue_years", lang, y=yrs), "num0", ("cum_revenue_lo", "cum_revenue_hi")),
            ("cost_per_participant", text("cost_per_participant", lang), "num0"),
            ("revenue_to_cost", text("revenue_to_cost", lang), "num2", ("revenue_to_cost_lo", "revenue_to_cost_hi")),
            ("total_revenue", text("total_revenue", lang, y=yrs), "num0")]
    d = t["tax_revenue_by_service"]
    s.tables.append(page.table(d, cols, text("tax_caption", lang), rows=list(d.frame.index), name=d.name))
    if "tax_revenue_by_area" in t:
        da = t["tax_revenue_by_area"]
        s.tables.append(page.table(da, [("employment_area", label("employment_area", lang), "text")] + cols[1:],
                                   text("tax_area_caption", lang, service=label(f.tax_service, lang)),
                                   rows=_top(da, "employment_area", "n"), name=da.name))
    lo = d.frame["revenue_to_cost_lo"]
    if (lo.dropna() <= 0).any():
        page.notice(text("tax_uncertain", lang), level="borderline")
    return s


def write(res, page) -> None:
    f = res.facts
    lang = page.lang
    top = ReportSection(key="metrics", title=text("metrics", lang))
    subs = []
    if {"job_offers", "candidate_searches", "vacancies"} & set(f.include):
        subs += _brokerage(res, page, f)
    subs += [_integration(res, page) if "integration" in f.include else None,
             _koto(res, page, f) if "koto" in f.include else None,
             _benefits(res, page, f) if "benefit_transitions" in f.include else None,
             _industry(res, page) if "industry" in f.include else None, _tax(res, page, f)]
    top.subsections = [x for x in subs if x is not None]
    for name, why in f.absent.items():
        if name != "tax":
            top.bullets.append(text("absent", lang, why=why or name))
    top.bullets += list(f.notes)
    page.add_section(top)

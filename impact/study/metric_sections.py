"""Report sections of the further metrics (issue #10): brokerage, integration, benefits,
industry and municipal tax revenue.

:func:`stage_metrics` runs when a study config has a ``[metrics]`` section: it computes the
metric tables (:func:`impact.outcomes.metrics.compute_metric_outcomes`) on the run's panel and
registers, puts every table through disclosure control, publishes them (``tables/``) and adds
one report section per metric. A metric whose register table is absent gets a short section
saying so (older register folders keep working).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from impact.report.disclosure import protect_curves, protect_table
from impact.report.i18n import label
from impact.report.render import ReportSection, frame_to_table, save_figure
from impact.study.followup import wilson

TOTAL = "Total"
MAX_ROWS = 15

#: Fixed text of these sections (English, Finnish).
TEXT: dict[str, tuple[str, str]] = {
    "metrics": ("Brokerage, integration, benefits, industry and tax", "Välitys, kotoutuminen, etuudet, toimialat ja verot"),
    "job_offers": ("Job offers", "Työpaikkatarjoukset"),
    "job_offers_text": ("Share in open-market work 1, 3 and 6 months after the month of a job offer (public job "
                        "brokerage), by the offer's result code, employment area and the employer's industry. "
                        "Descriptive: offers go to job seekers who are already close to work.",
                        "Avoimille työmarkkinoille työllistyneiden osuus 1, 3 ja 6 kuukautta työpaikkatarjouksen "
                        "jälkeen tuloskoodin, työllisyysalueen ja työnantajan toimialan mukaan. Kuvaileva tieto."),
    "candidate_searches": ("Candidate searches", "Hakijahaut"),
    "candidate_searches_text": ("Persons proposed to employers in candidate searches: share in work after the search "
                                "month, by the search result; and the share of searches whose vacancy was filled "
                                "with a proposed person.",
                                "Hakijahaussa työnantajalle ehdotetut: työllistyneiden osuus haun jälkeen haun tuloksen "
                                "mukaan, sekä ehdotetulla täytettyjen hakujen osuus."),
    "vacancies": ("Vacancies filled", "Täyttyneet työpaikat"),
    "vacancies_text": ("Share of the vacancies closed by the extraction date that were filled.",
                       "Poimintapäivään mennessä suljetuista työpaikoista täytettyjen osuus."),
    "integration": ("Integration path: time from the integration plan to work",
                    "Kotoutumispolku: aika kotoutumissuunnitelmasta työhön"),
    "integration_text": ("Months from each person's first integration plan to the first month in open-market work "
                         "(Kaplan-Meier; persons not yet employed at the end of the data are censored).",
                         "Kuukaudet ensimmäisestä kotoutumissuunnitelmasta ensimmäiseen työkuukauteen "
                         "(Kaplan-Meier; sensuroitu, jos ei vielä työllistynyt)."),
    "koto": ("Foreign-language workforce by employment area", "Vieraskielinen työvoima työllisyysalueittain"),
    "koto_text": ("Register population aged 15-64 in December of {year}: the workforce is the employed (open market) "
                  "plus the unemployed (in a job-seeking spell, not employed). The population is everyone in the "
                  "registers (people who were job seekers at some point), not all residents, so the rates describe "
                  "job seekers' labour market, not the area's official rates.",
                  "Rekisteriväestö 15-64-vuotiaat joulukuussa {year}: työvoima = työlliset + työttömät työnhakijat. "
                  "Väestö on rekistereissä olevat (joskus työnhakijoina olleet), ei koko väestö."),
    "benefit_transitions": ("Benefit transitions around services", "Etuussiirtymät palvelujen ympärillä"),
    "benefit_transitions_text": ("The benefit a participant received in the month before the service started and "
                                 "{h} months after it ended (the type with the largest amount in the month; none: "
                                 "no benefit).",
                                 "Etuus palvelun alkua edeltävänä kuukautena ja {h} kuukautta palvelun päättymisen "
                                 "jälkeen (kuukauden suurin etuus; ei etuutta)."),
    "industry": ("Industry of the first employer after a service", "Palvelun jälkeisen ensimmäisen työnantajan toimiala"),
    "industry_text": ("Industry (TOL 2008 section) of the payer of the first open-market job after the service, and "
                      "who was employed in each industry.",
                      "Palvelun jälkeisen ensimmäisen työn maksajan toimiala (TOL 2008) ja työllistyneiden taustat."),
    "tax": ("Municipal tax revenue from the employment effect", "Kunnallisverotuotto työllisyysvaikutuksesta"),
    "tax_text": ("Extra municipal income tax per participant = the estimated effect on earnings in each follow-up year "
                 "x the municipal tax rate of the participants' home municipalities (taxable share {share:.0%}), "
                 "with a 95% interval carried through from the earnings effect (standard errors of the months added: "
                 "conservative). Set against the cost of the service per participant. Effects: {source}.",
                 "Lisäkunnallisvero per osallistuja = arvioitu ansiovaikutus seurantavuonna x kotikunnan "
                 "veroprosentti (verotettava osuus {share:.0%}), 95 %:n luottamusväli ansiovaikutuksesta. "
                 "Verrataan palvelun kustannukseen per osallistuja. Vaikutukset: {source}."),
    "absent": ("Not available: {why}", "Ei saatavilla: {why}"),
}


#: Column headers of the grouping columns that the shared label table does not know.
HEADERS = {"result_code": ("Result of the offer", "Tarjouksen tulos"),
           "search_result": ("Result of the search", "Haun tulos"),
           "employer_industry": ("Employer's industry (TOL 2008)", "Työnantajan toimiala (TOL 2008)")}
BENEFITS = {"none": ("No benefit", "Ei etuutta"), "labour_market_subsidy": ("Labour market subsidy", "Työmarkkinatuki"),
            "basic_allowance": ("Basic allowance", "Peruspäiväraha"),
            "earnings_related_allowance": ("Earnings-related allowance", "Ansiopäiväraha"),
            "startup_grant": ("Start-up grant", "Starttiraha"), "other": ("Other benefit", "Muu etuus")}


def blabel(code: str, lang: str) -> str:
    return BENEFITS.get(code, (code, code))[0 if lang == "en" else 1]


def tx(key: str, lang: str, **kw) -> str:
    s = TEXT[key][0 if lang == "en" else 1]
    return s.format(**kw) if kw else s


def protect(df: pd.DataFrame, dims, count: str, rules, name: str, **kw):
    """:func:`protect_table`, or, when a sparse table cannot be protected, the table with every
    cell but the totals suppressed (``suppressed`` = "table")."""
    from impact.errors import DisclosureError
    from impact.report.disclosure import ProtectedTable

    try:
        return protect_table(df, dims, count=count, rules=rules, name=name, **kw)
    except DisclosureError:
        out = df.reset_index(drop=True).copy()
        dims = [dims] if isinstance(dims, str) else list(dims)
        total = np.logical_and.reduce([out[d].astype(str) == TOTAL for d in dims])
        vals = [c for c in out.columns if c not in dims]
        for c in vals:
            if pd.api.types.is_numeric_dtype(out[c]):
                out[c] = out[c].astype(float)
        out.loc[~total, vals] = np.nan
        out["suppressed"] = np.where(total, "", "table")
        return ProtectedTable(table=out, n_primary=int((~total).sum()),
                              notes=["the table is too sparse to protect cell by cell: only totals are shown"])


def _pub(run, name: str, pt) -> pd.DataFrame:
    run.publish(name, pt.table)
    return pt.table


def _rules(run):
    from impact.study.analyses import rules_of

    return rules_of(run)


def _group_table(run, df: pl.DataFrame, by: str, name: str, horizons, caption: str, notes=()) -> object:
    """Protect and format a ``group_counts`` table (share employed at each horizon, Wilson interval)."""
    lang = run.lang
    d = df.to_pandas()
    m = run.cfg.report.min_cell
    for h in horizons:
        lo, hi = wilson(d[f"n_employed_{h}m"], d[f"n_obs_{h}m"])
        d[f"employed_{h}m_lo"], d[f"employed_{h}m_hi"] = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        few = d[f"n_obs_{h}m"] < m  # a share over fewer observed persons than the minimum: withheld
        d.loc[few, [f"employed_{h}m", f"employed_{h}m_lo", f"employed_{h}m_hi", f"n_employed_{h}m"]] = np.nan
    counts = ["n"] + [c for c in d.columns if c.startswith(("n_obs_", "n_employed_"))]
    pt = protect(d.drop(columns=["suppress"]), by, count="n_persons", rules=_rules(run),
                       count_columns=counts, name=name)
    pub = _pub(run, name, pt)
    body = pub[pub[by] != TOTAL].sort_values("n", ascending=False, na_position="last")
    shown = pd.concat([body.head(MAX_ROWS), pub[pub[by] == TOTAL]], ignore_index=True)
    cols = [(by, HEADERS.get(by, (label(by, lang),) * 2)[0 if lang == "en" else 1], "text"),
            ("n", "Events" if lang == "en" else "Tapahtumia", "int"),
            ("n_persons", "Persons" if lang == "en" else "Henkilöitä", "int")]
    for h in horizons:
        cols.append((f"employed_{h}m", f"In work at {h} m" if lang == "en" else f"Työssä {h} kk", "pct",
                     (f"employed_{h}m_lo", f"employed_{h}m_hi")))
    n = list(pt.notes) + list(notes)
    if len(body) > MAX_ROWS:
        n.append(f"{MAX_ROWS} largest of {len(body)} groups shown; all in tables/{name}.csv.")
    return frame_to_table(shown, cols, caption, lang, n, name=name)


def _offers_figure(run, df: pl.DataFrame, horizons, name: str, caption: str):
    from impact import plots

    d = df.filter(pl.col("result_code") != TOTAL).to_pandas()
    rows = []
    for h in horizons:  # a few horizons
        lo, hi = wilson(d[f"n_employed_{h}m"], d[f"n_obs_{h}m"])
        rows.append(pd.DataFrame({"group": d["result_code"], "month": h, "share": d[f"employed_{h}m"],
                                  "ci_lower": lo, "ci_upper": hi, "n": d[f"n_obs_{h}m"]}))
    cur = protect_curves(pd.concat(rows, ignore_index=True), "group", at_risk="n", rules=_rules(run), name=name)
    run.publish(name, cur)
    if cur.empty:
        return None
    fig = plots.band_lines(cur, "month", "share", "ci_lower", "ci_upper", group="group", percent=True,
                           xlabel="Months since the offer" if run.lang == "en" else "Kuukautta tarjouksesta",
                           ylabel="Share in open-market work" if run.lang == "en" else "Työllisten osuus")
    return save_figure(fig, run.figures_dir, name, caption)


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def _brokerage_sections(run, m, mc) -> list[ReportSection]:
    lang = run.lang
    out = []
    if "offers_by_result_code" in m:
        s = ReportSection(key="job-offers", title=tx("job_offers", lang), paragraphs=[tx("job_offers_text", lang)])
        for by in ("result_code", "employment_area", "employer_industry"):
            cap = f"{tx('job_offers', lang)}: {label(by, lang).lower()}" if lang == "fi" else \
                f"Employment after a job offer by {by.replace('_', ' ')}"
            s.tables.append(_group_table(run, m[f"offers_by_{by}"], by, f"offers_by_{by}", mc.offer_horizons, cap,
                                         ["Result codes: 01 placed, 02 vacancy filled by another applicant, 03 "
                                          "vacancy cancelled, 04 employer rejects, 05 job seeker rejects, 06 other."]
                                         if by == "result_code" else ()))
        fig = _offers_figure(run, m["offers_by_result_code"], mc.offer_horizons, "offers_employment_by_result",
                             "Share in open-market work by months since the job offer, by result code (95% band)."
                             if lang == "en" else "Työllisten osuus tarjouksen jälkeen tuloskoodin mukaan.")
        if fig is not None:
            s.figures.append(fig)
        out.append(s)
    if "searches_by_search_result" in m:
        s = ReportSection(key="candidate-searches", title=tx("candidate_searches", lang),
                          paragraphs=[tx("candidate_searches_text", lang)])
        for by in ("search_result", "employment_area"):
            s.tables.append(_group_table(run, m[f"searches_by_{by}"], by, f"searches_by_{by}", mc.offer_horizons,
                                         f"Employment after being proposed in a candidate search, by "
                                         f"{by.replace('_', ' ')}" if lang == "en" else tx("candidate_searches", lang),
                                         ["Search results: 01 filled with a proposed candidate, 02 filled otherwise, "
                                          "03 not filled or cancelled, 06 other or open."] if by == "search_result" else ()))
        d = m["searches_filled_by_area"].to_pandas().drop(columns=["suppress"])
        pt = protect(d, "employment_area", count="n_searches", rules=_rules(run),
                           count_columns=["n_filled_by_proposed", "n_filled"], name="searches_filled_by_area")
        pub = _pub(run, "searches_filled_by_area", pt)
        s.tables.append(frame_to_table(_top(pub, "employment_area", "n_searches"), [
            ("employment_area", label("employment_area", lang), "text"),
            ("n_searches", "Searches" if lang == "en" else "Hakuja", "int"),
            ("share_filled_by_proposed", "Filled with a proposed person" if lang == "en" else
             "Täytetty ehdotetulla", "pct")], "Candidate searches filled with a proposed person" if lang == "en"
            else "Ehdotetulla täytetyt hakijahaut", lang, pt.notes, name="searches_filled_by_area"))
        out.append(s)
    if "vacancies_by_employment_area" in m:
        s = ReportSection(key="vacancies", title=tx("vacancies", lang), paragraphs=[tx("vacancies_text", lang)])
        for by in ("year_closed", "employment_area"):
            d = m[f"vacancies_by_{by}"].to_pandas().drop(columns=["suppress"])
            pt = protect(d, by, count="n_vacancies", rules=_rules(run), count_columns=["n_filled"],
                               name=f"vacancies_by_{by}")
            pub = _pub(run, f"vacancies_by_{by}", pt)
            shown = pub if by == "year_closed" else _top(pub, by, "n_vacancies")
            s.tables.append(frame_to_table(shown, [
                (by, by.replace("_", " ").capitalize() if lang == "en" else label(by, lang), "text"),
                ("n_vacancies", "Vacancies closed" if lang == "en" else "Suljettuja", "int"),
                ("share_filled", "Share filled" if lang == "en" else "Täytetty", "pct")],
                f"Share of vacancies filled by {by.replace('_', ' ')}" if lang == "en" else tx("vacancies", lang),
                lang, pt.notes, name=f"vacancies_by_{by}"))
        out.append(s)
    return out


def _top(pub: pd.DataFrame, by: str, n: str) -> pd.DataFrame:
    body = pub[pub[by] != TOTAL].sort_values(n, ascending=False, na_position="last")
    return pd.concat([body.head(MAX_ROWS), pub[pub[by] == TOTAL]], ignore_index=True)


def _integration_section(run, m) -> ReportSection | None:
    from impact import plots

    lang = run.lang
    if "integration_median_by_area" not in m:
        return None
    s = ReportSection(key="integration", title=tx("integration", lang), paragraphs=[tx("integration_text", lang)])
    d = m["integration_median_by_area"].to_pandas().drop(columns=["suppress"])
    pt = protect(d, "employment_area", count="n", rules=_rules(run), count_columns=["events"],
                       name="integration_median_by_area")
    pub = _pub(run, "integration_median_by_area", pt)
    s.tables.append(frame_to_table(_top(pub, "employment_area", "n"), [
        ("employment_area", label("employment_area", lang), "text"),
        ("n", "Persons with a plan" if lang == "en" else "Suunnitelman saaneita", "int"),
        ("events", "Employed by the end of data" if lang == "en" else "Työllistyneitä", "int"),
        ("median", "Median months to work" if lang == "en" else "Mediaani kk", "num0")],
        "Time from the integration plan to work" if lang == "en" else tx("integration", lang), lang, pt.notes,
        name="integration_median_by_area"))
    km = m["integration_km"].to_pandas().drop(columns=["suppress"])
    km = km[km["month"] <= 36]
    km = protect_curves(km, "month", at_risk="n_risk", rules=_rules(run), name="integration_km")
    km["group"] = "all"
    run.publish("integration_km", km)
    if not km.empty:
        fig = plots.band_lines(km, "month", "survival", "lower", "upper", group="group", step=True, percent=True,
                               xlabel="Months since the integration plan" if lang == "en" else
                               "Kuukautta suunnitelmasta",
                               ylabel="Share not yet employed" if lang == "en" else "Ei vielä työllistynyt")
        s.figures.append(save_figure(fig, run.figures_dir, "integration_km",
                                     "Kaplan-Meier: share not yet in open-market work by months since the "
                                     "integration plan (95% band)." if lang == "en" else
                                     "Kaplan-Meier: ei vielä työllistyneiden osuus suunnitelman jälkeen."))
    return s


def _koto_section(run, m) -> ReportSection | None:
    lang = run.lang
    if "koto_by_area" not in m:
        return None
    k = m["koto_by_area"]
    month = int(k["month"].max())
    d = k.filter(pl.col("month") == month).drop("month", "suppress", "fl_suppress").to_pandas()
    rules = _rules(run)
    all_cols = ["persons", "workforce", "employment_rate", "unemployment_rate", "employed", "unemployed"]
    fl_cols = ["fl_persons", "fl_workforce", "fl_share_of_workforce", "fl_employment_rate", "fl_unemployment_rate",
               "fl_employed", "fl_unemployed"]
    a = protect(d[["employment_area", *all_cols]], "employment_area", count="persons", rules=rules,
                      count_columns=["workforce", "employed", "unemployed"], name="koto_all")
    b = protect(d[["employment_area", *fl_cols]], "employment_area", count="fl_persons", rules=rules,
                      count_columns=["fl_workforce", "fl_employed", "fl_unemployed"], name="koto_foreign")
    pub = a.table.merge(b.table, on="employment_area", suffixes=("", "_fl"))
    run.publish("koto_by_area", pub)
    s = ReportSection(key="koto", title=tx("koto", lang), paragraphs=[tx("koto_text", lang, year=month // 12)])
    s.tables.append(frame_to_table(_top(pub, "employment_area", "persons"), [
        ("employment_area", label("employment_area", lang), "text"),
        ("workforce", "Workforce" if lang == "en" else "Työvoima", "int"),
        ("fl_share_of_workforce", "Foreign-language share" if lang == "en" else "Vieraskielisten osuus", "pct"),
        ("employment_rate", "Employment rate, all" if lang == "en" else "Työllisyysaste, kaikki", "pct"),
        ("fl_employment_rate", "Employment rate, foreign-language" if lang == "en" else "Työllisyysaste, vieraskieliset", "pct"),
        ("unemployment_rate", "Unemployment rate, all" if lang == "en" else "Työttömyysaste, kaikki", "pct"),
        ("fl_unemployment_rate", "Unemployment rate, foreign-language" if lang == "en" else
         "Työttömyysaste, vieraskieliset", "pct")],
        f"Koto metrics, December {month // 12}" if lang == "en" else f"Koto-mittarit, joulukuu {month // 12}",
        lang, a.notes + b.notes, name="koto_by_area"))
    return s


def _benefit_section(run, m, mc) -> ReportSection | None:
    lang = run.lang
    if "benefit_transitions" not in m:
        return None
    t = m["benefit_transitions"]
    cats = ["none", "labour_market_subsidy", "basic_allowance", "earnings_related_allowance", "startup_grant", "other"]
    s = ReportSection(key="benefits", title=tx("benefit_transitions", lang),
                      paragraphs=[tx("benefit_transitions_text", lang, h=" and ".join(map(str, mc.benefit_horizons)))])
    rules = _rules(run)
    # each (service type, horizon, benefit before) row is a one-way table over the benefit after,
    # its margin the units with that benefit before
    frames = []
    keys = t.select("service_type", "horizon", "before").unique().sort(["service_type", "horizon", "before"]).rows()
    for st, h, before in keys:  # service types x horizons x 6 benefits: a few dozen small tables
        d = t.filter((pl.col("horizon") == h) & (pl.col("service_type") == st) & (pl.col("before") == before))
        d = d.select("after", "n", "share").to_pandas()
        d = pd.concat([d, pd.DataFrame({"after": [TOTAL], "n": [d["n"].sum()], "share": [1.0]})], ignore_index=True)
        p = protect(d, "after", count="n", rules=rules, name="benefit_transitions").table
        p.insert(0, "before", before)
        p.insert(0, "horizon", h)
        p.insert(0, "service_type", st)
        frames.append(p)
    pub = pd.concat(frames, ignore_index=True)
    pub = pub[pub["after"] != TOTAL].reset_index(drop=True)
    run.publish("benefit_transitions", pub)
    for h in mc.benefit_horizons:
        x = pub[(pub["horizon"] == h) & (pub["before"] == "labour_market_subsidy")]
        wide = x.pivot_table(index="service_type", columns="after", values="share", aggfunc="first", dropna=False)
        wide = wide.reindex(columns=[c for c in cats if c in wide.columns]).reset_index()
        order = [st for st in wide["service_type"] if st != TOTAL] + [TOTAL]
        wide = wide.set_index("service_type").loc[[o for o in order if o in set(wide["service_type"])]].reset_index()
        cols = [("service_type", label("service_type", lang), "text")] + [(c, blabel(c, lang), "pct") for c in cats
                                                                          if c in wide.columns]
        s.tables.append(frame_to_table(
            wide, cols, (f"From labour market subsidy before the service to the benefit {h} months after it ended "
                         "(share of those on labour market subsidy before)") if lang == "en" else
            f"Työmarkkinatuelta ennen palvelua: etuus {h} kk palvelun jälkeen", lang,
            ["Rows sum to 100% over the benefit categories (cells under the minimum count shown as ..)."
             if lang == "en" else "Rivit summautuvat 100 %:iin."], name=f"benefit_from_lms_{h}m"))
    h = max(mc.benefit_horizons)
    x = pub[(pub["horizon"] == h) & (pub["service_type"] == TOTAL)]
    wide = x.pivot_table(index="before", columns="after", values="share", aggfunc="first", dropna=False)
    wide = wide.reindex(index=[c for c in cats if c in wide.index],
                        columns=[c for c in cats if c in wide.columns]).reset_index()
    wide["before"] = wide["before"].map(lambda c: blabel(c, lang))
    s.tables.append(frame_to_table(wide, [("before", "Before \u2192 after" if lang == "en" else "Ennen \u2192 jälkeen",
                                           "text")] + [(c, blabel(c, lang), "pct") for c in cats if c in wide.columns],
                                   f"All services: benefit before -> {h} months after the end (row shares)"
                                   if lang == "en" else f"Kaikki palvelut: etuus ennen -> {h} kk jälkeen", lang,
                                   name=f"benefit_matrix_{h}m"))
    return s


def _industry_section(run, m) -> ReportSection | None:
    lang = run.lang
    if "industry_by_service" not in m:
        return None
    d = m["industry_by_service"].to_pandas().drop(columns=["suppress"])
    pt = protect(d, ["industry", "service_type"], count="n", rules=_rules(run),
                 count_columns=["n_persons", "n_completed"], name="industry_by_service")
    pub = _pub(run, "industry_by_service", pt)
    s = ReportSection(key="industry", title=tx("industry", lang), paragraphs=[tx("industry_text", lang)])
    tot = pub[pub["service_type"] == TOTAL].sort_values("n", ascending=False, na_position="last")
    s.tables.append(frame_to_table(tot, [
        ("industry", "Industry (TOL 2008)" if lang == "en" else "Toimiala (TOL 2008)", "text"),
        ("n", "Placements" if lang == "en" else "Sijoittuneita", "int"),
        ("share_of_placements", "Share of placements" if lang == "en" else "Osuus", "pct"),
        ("female_share", "Women" if lang == "en" else "Naisia", "pct"),
        ("foreign_language_share", "Foreign-language" if lang == "en" else "Vieraskielisiä", "pct"),
        ("basic_education_share", "Basic education only" if lang == "en" else "Vain perusaste", "pct"),
        ("mean_age", "Mean age" if lang == "en" else "Keski-ikä", "num1")],
        "All services: first employer's industry and who was employed there" if lang == "en" else
        "Kaikki palvelut: ensimmäisen työnantajan toimiala", lang, pt.notes, name="industry_total"))
    top = [i for i in tot["industry"].tolist() if i != "(unknown)"][:6]
    x = pub[pub["industry"].isin(top)]
    wide = x.pivot_table(index="service_type", columns="industry", values="share_of_placements", aggfunc="first",
                         dropna=False).reindex(columns=top).reset_index()
    s.tables.append(frame_to_table(wide, [("service_type", label("service_type", lang), "text")] +
                                   [(i, i, "pct") for i in top],
                                   "Share of each service's placements in the six largest industries" if lang == "en"
                                   else "Palvelujen sijoittuneiden osuus suurimmille toimialoille", lang,
                                   ["Industry letters: TOL 2008 sections (e.g. C manufacturing, G trade, N "
                                    "administrative and support services, Q health and social work)."],
                                   name="industry_by_service_top"))
    return s


def _tax_effects(run, mc) -> tuple[pl.DataFrame | None, str]:
    """Earnings effects behind the tax estimate (column ``source``) and a phrase naming the sources.

    Sources are tried in the configured order; a service type takes its effects from the
    first source that has it.
    """
    frames, phrases, why = [], [], []
    for src in mc.tax_effects:  # one to three sources
        df, text = _tax_effects_from(run, src)
        if df is None:
            why.append(text)
            continue
        have = set(pl.concat(frames)["service_type"].unique()) if frames else set()
        df = df.filter(~pl.col("service_type").is_in(list(have)))
        if df.height:
            frames.append(df.select("service_type", "horizon", "estimate", "std_error")
                          .with_columns(pl.lit(src).alias("source")))
            phrases.append(text)
    if not frames:
        return None, "; ".join(why)
    return pl.concat(frames, how="vertical_relaxed"), "; ".join(phrases)


def _tax_effects_from(run, src: str) -> tuple[pl.DataFrame | None, str]:
    from impact.outcomes.tax import truth_earnings_effects

    if src == "truth":
        tdir = Path(run.registers_dir) / "truth"
        if not (tdir / "service_effects.parquet").exists():
            return None, "no truth folder in the register folder (tax_effects = 'truth' needs synthetic registers)"
        return truth_earnings_effects(tdir), ("true effects of the simulation on monthly earnings (with the service vs "
                                              "not now), all service types")
    if src == "design":
        from impact.study.runner import all_estimates

        est = all_estimates(run)
        if est.empty or "outcome" not in est:
            return None, "the study estimated no effect on earnings (tax_effects = 'design' needs a design)"
        e = est[est["outcome"].astype(str).str.startswith("earnings_h") & est["std_error"].notna()]
        if "analysis" in e:
            e = e[e["analysis"] == e["analysis"].iloc[0]] if len(e) else e
        if e.empty or run.cfg.treatment.service_type is None:
            return None, "the study estimated no effect on monthly earnings"
        df = pl.DataFrame({"service_type": run.cfg.treatment.service_type,
                           "horizon": e["horizon"].astype(int).to_numpy(), "estimate": e["estimate"].astype(float).to_numpy(),
                           "std_error": e["std_error"].astype(float).to_numpy()})
        an = e["analysis"].iloc[0] if "analysis" in e else "design"
        what = " (starting the service now rather than waiting)" if an == "dynamic_matching" else ""
        return df, (f"this study's estimated effect on monthly earnings, {an}{what}, for "
                    f"{label(run.cfg.treatment.service_type, run.lang).lower()}; constant after its last horizon")
    p = Path(src)
    if not p.is_absolute() and run.cfg.path:
        p = Path(run.cfg.path).parent / p if not p.exists() else p
    if not p.exists():
        return None, f"effects file {src} not found"
    try:
        df = pl.read_csv(p)
        need = ["service_type", "horizon", "estimate", "std_error"]
        df = df.select(pl.col("service_type").cast(pl.String), pl.col("horizon").cast(pl.Int64),
                       pl.col("estimate").cast(pl.Float64), pl.col("std_error").cast(pl.Float64))
    except pl.exceptions.PolarsError as e:
        return None, f"effects file {p.name} unreadable or without the columns {need}: {str(e).splitlines()[0]}"
    return df, f"file {p.name}"


def _tax_section(run, m, mc) -> ReportSection | None:
    from impact.outcomes.tax import tax_revenue

    lang = run.lang
    if "tax_base" not in m:
        return None
    effects, source = _tax_effects(run, mc)
    s = ReportSection(key="tax", title=tx("tax", lang))
    if effects is None:
        s.paragraphs.append(tx("absent", lang, why=source))
        return s
    s.paragraphs.append(tx("tax_text", lang, share=mc.taxable_share, source=source))
    base = m["tax_base"].drop("suppress")
    rev = tax_revenue(base, effects.drop("source"), years=mc.tax_years, taxable_share=mc.taxable_share)
    rev = rev.join(effects.select("service_type", "source").unique(), on="service_type", how="left")
    if rev.height == 0:
        s.paragraphs.append(tx("absent", lang, why="no service type with both participants and an effect"))
        return s
    last = rev.filter(pl.col("year") == mc.tax_years).to_pandas()
    rules = _rules(run)
    per_service = last[last["employment_area"] == TOTAL].drop(columns=["employment_area"])
    pt = protect(per_service, "service_type", count="n", rules=rules, name="tax_revenue_by_service")
    pub = _pub(run, "tax_revenue_by_service", pt)
    yrs = mc.tax_years
    cols = [("service_type", label("service_type", lang), "text"), ("source", "Effect" if lang == "en" else "Vaikutus", "text"),
            ("n", "Participants" if lang == "en" else "Osallistujia", "int"),
            ("earnings_effect", f"Earnings effect, year {yrs} (EUR)" if lang == "en" else f"Ansiovaikutus, vuosi {yrs}", "num0"),
            ("rate", f"Tax rate, year {yrs} (%)" if lang == "en" else f"Veroprosentti, vuosi {yrs}", "num2"),
            ("cum_revenue", f"Tax revenue, years 1-{yrs} (EUR per participant)" if lang == "en" else
             f"Verotuotto vuodet 1-{yrs} (EUR/osallistuja)", "num0", ("cum_revenue_lo", "cum_revenue_hi")),
            ("cost_per_participant", "Cost per participant (EUR)" if lang == "en" else "Kustannus/osallistuja", "num0"),
            ("revenue_to_cost", "Revenue / cost" if lang == "en" else "Tuotto / kustannus", "num2",
             ("revenue_to_cost_lo", "revenue_to_cost_hi")),
            ("total_revenue", f"Total revenue, years 1-{yrs} (EUR)" if lang == "en" else "Verotuotto yhteensä", "num0")]
    s.tables.append(frame_to_table(pub, cols, "Municipal tax revenue against cost, by service" if lang == "en" else
                                   "Kunnallisverotuotto ja kustannus palveluittain", lang, pt.notes,
                                   name="tax_revenue_by_service"))
    # by area for the service with the most participants
    st = per_service.sort_values("n", ascending=False)["service_type"].iloc[0] if len(per_service) else None
    by_area = last[(last["service_type"] == st)].drop(columns=["service_type"])
    pa = protect(by_area, "employment_area", count="n", rules=rules, name="tax_revenue_by_area")
    puba = _pub(run, "tax_revenue_by_area", pa)
    s.tables.append(frame_to_table(_top(puba, "employment_area", "n"),
                                   [("employment_area", label("employment_area", lang), "text")] + cols[1:],
                                   f"Municipal tax revenue by employment area: {label(st, lang)}" if lang == "en" else
                                   f"Kunnallisverotuotto alueittain: {label(st, lang)}", lang, pa.notes,
                                   name="tax_revenue_by_area"))
    allyears = rev.filter(pl.col("employment_area") == TOTAL).drop("employment_area").to_pandas()
    run.publish("tax_revenue_by_year", protect(allyears, ["service_type", "year"], count="n", rules=rules,
                                                      name="tax_revenue_by_year").table)
    if (pub["revenue_to_cost_lo"] <= 0).any():
        run.warnings.append("Municipal tax revenue: the interval of the tax revenue includes zero for some services; "
                            "their revenue-to-cost ratio is very uncertain." if lang == "en" else
                            "Kunnallisverotuoton luottamusväli sisältää nollan joillakin palveluilla.")
    return s


def stage_metrics(run) -> None:
    """Compute the [metrics] of the study and add their report sections (nothing without [metrics])."""
    from impact.outcomes.metrics import MetricsConfig, compute_metric_outcomes

    mc = run.cfg.metrics
    if mc is None:
        return
    with run.progress.stage("metrics (brokerage, integration, benefits, industry, tax)") as info:
        cfg = MetricsConfig(metrics=mc.include, offer_horizons=mc.offer_horizons,
                            benefit_horizons=mc.benefit_horizons, tax_rates=_rates_path(run, mc.tax_rates),
                            tax_years=mc.tax_years, disclosure_min=run.cfg.report.min_cell)
        o = run.outcomes
        m = compute_metric_outcomes(run.con, run.tables, run.panel, o.service_outcomes, o.last_month,
                                    o.extraction_date, cfg)
        run.extra["metrics"] = m
        lang = run.lang
        top = ReportSection(key="metrics", title=tx("metrics", lang))
        subs: list[ReportSection | None] = []
        if {"job_offers", "candidate_searches", "vacancies"} & set(mc.include):
            subs += _brokerage_sections(run, m, cfg)
        if "integration" in mc.include:
            subs.append(_integration_section(run, m))
        if "koto" in mc.include:
            subs.append(_koto_section(run, m))
        if "benefit_transitions" in mc.include:
            subs.append(_benefit_section(run, m, mc))
        if "industry" in mc.include:
            subs.append(_industry_section(run, m))
        if "tax" in mc.include:
            subs.append(_tax_section(run, m, mc))
        top.subsections = [x for x in subs if x is not None]
        top.bullets.extend(m.notes)
        run.sections.append(top)
        info["rows"] = f"{len(top.subsections)} sections, {len(m.tables)} tables" + (
            f"; {len(m.notes)} note(s)" if m.notes else "")


def _rates_path(run, path: str | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute() and not p.exists() and run.cfg.path:
        p = Path(run.cfg.path).parent / p
    return str(p)

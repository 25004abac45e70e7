"""Assemble the report document of a run: question, data, population, design, results, appendix."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from impact.months import month_label
from impact.report.i18n import label, t
from impact.report.render import ReportDoc, ReportSection, ReportTable, fmt_int

#: Plain-language design descriptions: (design, language) -> (design, estimand, assumptions).
DESIGN_TEXT: dict[str, dict[str, list[str]]] = {
    "none": {
        "en": ["This is a descriptive follow-up (phase 1 of the evaluation roadmap). It reports where participants are "
               "after their service ended: the share in the open labour market 3, 6 and 12 months after the end, the "
               "time to the first month in work, earnings relative to similar people, and the cost per placement.",
               "These are outcomes, not effects: participants are selected into services (often the weaker job "
               "seekers), so a low placement rate does not mean the service failed and a high one does not mean it "
               "worked. Effects need a comparison group (see the effect studies)."],
        "fi": ["Tämä on kuvaileva sijoittumisseuranta (arviointisuunnitelman vaihe 1). Se kertoo, missä osallistujat ovat "
               "palvelun päätyttyä: avoimille työmarkkinoille sijoittuneiden osuus 3, 6 ja 12 kuukauden kuluttua, aika "
               "ensimmäiseen työkuukauteen, ansiot suhteessa samankaltaisiin henkilöihin ja kustannus per sijoittunut.",
               "Luvut ovat tuloksia, eivät vaikutuksia: palveluihin valikoidutaan (usein heikommassa asemassa olevat "
               "työnhakijat), joten matala sijoittumisaste ei tarkoita palvelun epäonnistuneen. Vaikutusten arviointi "
               "vaatii vertailuryhmän (ks. vaikuttavuustutkimukset)."],
    },
    "dynamic": {
        "en": ["Dynamic (risk-set) matching: a job seeker who starts the service in month u of unemployment is compared "
               "with job seekers who had been unemployed equally long, were still unemployed and had not started the "
               "service by month u, and who resemble the participant in the recorded characteristics and earnings "
               "history.",
               "Estimand: the average effect on the participants of starting the service now rather than waiting "
               "(the comparison persons may start the service later). Outcomes are measured from the participant's "
               "service start month so that both groups are followed over the same calendar months.",
               "Assumptions: given the matched characteristics (including the earnings and employment history), "
               "starting now or later is as good as random (no unobserved selection); the groups overlap (every "
               "participant has comparable non-participants); one person's participation does not change another's "
               "outcome."],
        "fi": ["Dynaaminen kaltaistus: työnhakija, joka aloittaa palvelun työttömyyden kuukautena u, verrataan "
               "työnhakijoihin, jotka olivat olleet yhtä kauan työttömänä, olivat yhä työttömiä eivätkä olleet "
               "aloittaneet palvelua kuukauteen u mennessä ja jotka muistuttavat osallistujaa rekisteröidyiltä "
               "ominaisuuksiltaan ja ansiohistorialtaan.",
               "Estimoitava suure: keskimääräinen vaikutus osallistujiin, kun palvelu aloitetaan nyt eikä myöhemmin "
               "(vertailuhenkilöt voivat aloittaa palvelun myöhemmin).",
               "Oletukset: kaltaistettujen ominaisuuksien jälkeen aloitusajankohta on kuin satunnainen (ei havaitsematonta "
               "valikoitumista); ryhmät menevät päällekkäin; yhden osallistuminen ei vaikuta toisen tulokseen."],
    },
    "did_cohorts": {
        "en": ["Staggered difference-in-differences (Callaway and Sant'Anna) in months since the start of the "
               "job-seeking spell: spells in which the service starts in the same month of unemployment form a cohort; "
               "each cohort's employment before and after its start is compared with the change over the same months "
               "of unemployment among spells that have not (yet) started it, including those that end in work.",
               "Estimand: the average effect on participants of starting the service in that month of their spell "
               "rather than later, by months since the start (event study), aggregated to an overall effect.",
               "Assumptions: without the service, participants' employment would have evolved like that of job "
               "seekers who start it later (parallel trends, checked on the months before the start); no "
               "anticipation. Counting time from the start of unemployment avoids comparing new job seekers with "
               "people who are not yet unemployed, whose employment falls later (the pre-programme dip)."],
        "fi": ["Porrastettu erotusten erotus (Callaway ja Sant'Anna) työnhakujakson alusta laskettuna: samana "
               "työttömyyskuukautena palvelun aloittaneet muodostavat kohortin; vertailuna ovat jaksot, joissa "
               "palvelu alkaa myöhemmin.",
               "Estimoitava suure: keskimääräinen vaikutus aloittaa palvelu tuona kuukautena eikä myöhemmin, "
               "kuukausittain aloituksesta.",
               "Oletukset: ilman palvelua osallistujien työllisyys olisi kehittynyt kuten myöhemmin aloittavien "
               "(yhdensuuntaiset trendit, tarkistetaan aloitusta edeltävillä kuukausilla); ei ennakointia."],
    },
    "did_risk_set": {
        "en": ["Difference-in-differences, joining now vs not yet (stacked risk sets): for each calendar month, the job "
               "seekers who start the service for the first time that month are compared with job seekers who were "
               "also job seeking at the end of the month before and of that month, lived in the same employment "
               "area, had been unemployed equally long and started no service that month. The comparison persons "
               "may start the service later. Employment is followed month by month before and after the entry "
               "month; the change in the entrants' employment from the month before entry is compared with the "
               "change among the comparison persons over the same calendar months, adjusted for age, sex, "
               "education, language, segment, months of unemployment and prior employment (also by how recently "
               "the unemployment began: employment falls in the month a job-seeking spell starts, by as much as "
               "the person worked before).",
               "Estimand: the average effect on the entrants of joining the service in that month rather than not "
               "yet (the 'not now' counterfactual, in which they may join later), by months since entry (event "
               "study; month 0 is the entry month) and averaged over those months. The months in the service come "
               "first: participants search less while in the service (lock-in), so the effect is negative at first "
               "and any gains come after the service ends. It is not the effect of never participating.",
               "Assumptions: without joining then, the entrants' employment would have changed like that of the "
               "comparison persons with the same characteristics (parallel trends; checked on the months before "
               "entry and by a placebo that moves every entry month earlier); no anticipation of the start; one "
               "person's participation does not change another's outcome. Both groups are job seekers at the same "
               "time, so the dip in employment before a service starts (people enter services only while "
               "unemployed) is shared rather than mistaken for an effect."],
        "fi": ["Erotusten erotus, aloitus nyt vai ei nyt: kunakin kalenterikuukautena palvelun ensimmäistä kertaa "
               "aloittaneita verrataan saman työllisyysalueen työnhakijoihin, jotka olivat työnhakijoina samaan aikaan "
               "eivätkä aloittaneet palvelua tuona kuukautena (he voivat aloittaa myöhemmin).",
               "Estimoitava suure: keskimääräinen vaikutus aloittaa palvelu nyt eikä vielä, kuukausittain "
               "aloituksesta (palvelun aikainen lukkiutumisvaikutus mukana).",
               "Oletukset: ilman aloitusta osallistujien työllisyys olisi muuttunut kuten vertailuhenkilöiden "
               "(yhdensuuntaiset trendit, tarkistetaan aloitusta edeltävillä kuukausilla); ei ennakointia."],
    },
    "sector_contrast": {
        "en": ["Sector contrast: participants placed with the employer sectors of the treatment group are compared with "
               "matched participants of the same service placed with the comparison sectors, at the same elapsed "
               "unemployment and calendar time.",
               "Estimand: the average difference in outcomes for the treatment-sector participants, had they been "
               "placed in the comparison sectors instead.",
               "Assumptions: given the matched characteristics, the sector of the placement is as good as random; the "
               "two groups overlap."],
        "fi": ["Sektorivertailu: työnantajasektorin perusteella muodostetun ryhmän osallistujia verrataan saman palvelun "
               "kaltaistettuihin osallistujiin vertailusektoreilta samalla työttömyyden kestolla ja kalenteriajalla.",
               "Estimoitava suure: keskimääräinen ero tuloksissa, jos osallistujat olisi sijoitettu vertailusektorille.",
               "Oletukset: kaltaistettujen ominaisuuksien jälkeen sektori on kuin satunnainen; ryhmät menevät päällekkäin."],
    },
    "synthetic_control": {
        "en": ["Synthetic control: the reformed employment area is compared with a weighted combination of other areas "
               "(the synthetic area) whose employment tracked the reformed area's before the reform. Peer groups of "
               "statistically similar areas give a second comparison.",
               "Estimand: the effect of the reform on the reformed area's monthly employment rate of job seekers, "
               "month by month after the reform, and on average.",
               "Assumptions: the synthetic area reproduces what would have happened without the reform (good pre-reform "
               "fit); donor areas were not affected by the reform or similar changes. Inference compares the effect "
               "with placebo effects obtained by pretending each donor was reformed."],
        "fi": ["Synteettinen kontrolli: uudistusalueen kehitystä verrataan muiden alueiden painotettuun yhdistelmään, "
               "jonka työllisyys seurasi uudistusaluetta ennen uudistusta. Tilastollisesti samankaltaisten alueiden "
               "vertaisryhmä antaa toisen vertailun.",
               "Estimoitava suure: uudistuksen vaikutus alueen työnhakijoiden kuukausittaiseen työllisyysasteeseen "
               "uudistuksen jälkeen kuukausittain ja keskimäärin.",
               "Oletukset: synteettinen alue kuvaa, mitä ilman uudistusta olisi tapahtunut (hyvä sopivuus ennen "
               "uudistusta); vertailualueisiin ei kohdistunut uudistusta. Päättely vertaa vaikutusta placebo-"
               "vaikutuksiin."],
    },
}


def _fmt_removed(n: int, min_cell: int, lang: str) -> str:
    if 0 < n < min_cell:
        return f"< {min_cell}"
    return fmt_int(n, lang)


def flow_table(run) -> ReportTable:
    lang = run.lang
    m = run.cfg.report.min_cell
    rows = []
    for r in run.population.flow:
        rows.append([r["step"], fmt_int(r["units"], lang), fmt_int(r["persons"], lang),
                     _fmt_removed(r["removed_units"], m, lang), _fmt_removed(r["removed_persons"], m, lang)])
    header = [t("step", lang), t("units_left", lang), t("persons_left", lang), f"{t('removed', lang)} ({t('n', lang).lower()})",
              f"{t('removed', lang)} ({t('persons_left', lang).split()[0].lower()})"]
    return ReportTable(caption=t("exclusions_flow", lang), header=header, rows=rows, align=["l", "r", "r", "r", "r"],
                       name="exclusions_flow")


def data_section(run) -> ReportSection:
    cfg, lang = run.cfg, run.lang
    s = ReportSection(key="data", title=t("data_population", lang))
    if cfg.data.synthetic is not None:
        sy = cfg.data.synthetic
        s.paragraphs.append(t("synthetic_source", lang, scenario=sy.scenario, persons=sy.persons, seed=sy.seed))
    else:
        s.paragraphs.append(t("register_source", lang, path=run.registers_dir))
    s.paragraphs.append(t("extraction", lang, date=run.outcomes.extraction_date.isoformat(),
                          month=month_label(run.outcomes.last_month)))
    rows = [[label(k, lang), fmt_int(v, lang)] for k, v in run.register_rows.items()]
    s.tables.append(ReportTable(caption=t("registers_rows", lang), header=[t("table", lang), t("rows", lang)], rows=rows,
                                align=["l", "r"], name="registers"))
    ex = run.outcomes.exclusions
    if ex.height:
        rows = [[r["table"], r["description"], fmt_int(r["rows"], lang), r["action"]] for r in ex.iter_rows(named=True)]
        s.tables.append(ReportTable(caption="Outcome stage: rows excluded or flagged by rule" if lang == "en" else
                                    "Tulosvaihe: säännöittäin poistetut tai merkityt rivit",
                                    header=[t("table", lang), t("step", lang), t("rows", lang), ""], rows=rows,
                                    align=["l", "l", "r", "l"], name="outcome_exclusions"))
    s.tables.append(flow_table(run))
    return s


def did_text_key(cfg) -> str:
    """DESIGN_TEXT key of the study's DiD design (estimators.did.design)."""
    spec = cfg.estimator("did")
    return "did_cohorts" if spec is not None and spec.options.get("design") == "spell_time" else "did_risk_set"


def design_section(run) -> ReportSection:
    cfg, lang = run.cfg, run.lang
    s = ReportSection(key="design", title=t("design", lang))
    design = cfg.treatment.design
    s.paragraphs.extend(DESIGN_TEXT[did_text_key(cfg) if design == "did_cohorts" else design][lang])
    if design == "dynamic" and cfg.estimator("did"):
        s.paragraphs.extend(DESIGN_TEXT[did_text_key(cfg)][lang])
    extra = run.extra.get("design_notes", [])
    s.bullets.extend(extra)
    return s


def outcome_appendix(run) -> ReportSection:
    lang = run.lang
    oc = run.outcomes.config
    it = oc.income_types
    types = f"{it[0]}-{it[-1]}" if len(it) > 3 else ", ".join(map(str, it))
    txt = t("appendix_outcomes_text", lang, floor=f"{oc.employment_floor_eur:,.0f}", income_types=types,
            allocation=oc.allocation.replace("_", " "), segment=" x ".join(oc.segment_by))
    return ReportSection(key="appendix-outcomes", title=t("appendix_outcomes", lang), paragraphs=[txt])


def disclosure_appendix(run) -> ReportSection:
    r = run.cfg.report
    lang = run.lang
    rounding = t("rounding_text", lang, base=r.rounding) if r.rounding > 1 else ""
    txt = t("disclosure_text", lang, min_cell=r.min_cell, min_payers=r.min_payers, dominance=r.dominance,
            rounding=rounding)
    return ReportSection(key="appendix-disclosure", title=t("disclosure", lang), paragraphs=[txt])


def repro_appendix(run) -> ReportSection:
    from importlib.metadata import version

    lang = run.lang
    txt = t("repro_text", lang, config_hash=run.cfg.hash[:16],
            run_time=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), version=version("impact"))
    return ReportSection(key="appendix-repro", title=t("reproducibility", lang), paragraphs=[txt])


def summary_points(run) -> list[str]:
    lang = run.lang
    pts = list(run.summary)
    tot = run.extra.get("followup_total")
    if tot:
        hs = run.cfg.outcomes.horizons
        parts = []
        for h in hs:
            p = tot.get(f"placed_{h}m")
            if p is not None and p == p:
                parts.append(f"{100 * p:.1f}% ({h} m)" if lang == "en" else f"{100 * p:.1f} % ({h} kk)".replace(".", ","))
        n = tot.get("n")
        if parts and n == n:
            if lang == "en":
                pts.insert(0, f"Of {int(n):,} completed service spells, the share in the open labour market after the "
                              f"service ended was {', '.join(parts)}.")
            else:
                pts.insert(0, f"{fmt_int(n, 'fi')} päättyneestä palvelusta avoimille työmarkkinoille oli "
                              f"sijoittunut {'; '.join(parts)}.")
    return pts


def cost_section(run) -> ReportSection | None:
    """Cost per placement (follow-up) and cost per additional placement (cost / estimated effect)."""
    from impact.report.render import frame_to_table

    rows = run.extra.get("cost_rows")
    if not rows:
        return None
    lang = run.lang
    s = ReportSection(key="cost", title=t("cost", lang), paragraphs=[t("cost_text", lang)])
    df = pd.DataFrame(rows)
    df["label"] = df["analysis"].map(lambda a: {"dynamic_matching": label(run.cfg.treatment.service_type or "", lang),
                                                "sector_treatment": "Private firms" if lang == "en" else "Yritykset",
                                                "sector_comparison": ("Public and third sector" if lang == "en" else
                                                                      "Julkinen ja kolmas sektori")}.get(a, a))
    df["sig"] = df["significant"].map(lambda b: t("yes", lang) if b else t("no", lang))
    cols = [("label", t("group", lang), "text"), ("horizon", t("horizon", lang), "int"),
            ("cost_per_participant", t("cost_per_participant", lang), "num0"), ("effect", t("estimate", lang), "pp"),
            ("cost_per_additional_placement", "Cost per additional placement (EUR)" if lang == "en" else
             "Kustannus per lisäsijoittuminen (EUR)", "num0"),
            ("sig", "Effect significantly > 0" if lang == "en" else "Vaikutus merkitsevästi > 0", "text")]
    s.tables.append(frame_to_table(df, cols, t("cost", lang), lang,
                                   ["Cost per additional placement is shown only where the estimated effect is "
                                    "positive; where the interval includes zero it is very uncertain."] if lang == "en"
                                   else ["Kustannus per lisäsijoittuminen näytetään vain, kun vaikutus on positiivinen."]))
    bad = df[(~df["significant"]) & df["horizon"].isin([6, 12])]
    if len(bad):
        run.warnings.append(("Cost per additional placement is unreliable where the effect is not significantly "
                             f"positive ({', '.join(f'{r.label} {r.horizon} m' for r in bad.itertuples())}).")
                            if lang == "en" else "Kustannus per lisäsijoittuminen on epävarma, kun vaikutus ei ole "
                            "merkitsevästi positiivinen.")
    return s


# ---------------------------------------------------------------------------------------
# How robust is this? (the refutation checks computed by impact.study.analyses.robustness_analysis)
# ---------------------------------------------------------------------------------------

#: Plain-language reading of each kind of check, (passed, failed), by language.
_READINGS: dict[str, dict[str, tuple[str, str]]] = {
    "placebo treatment": {
        "en": ("Giving the treatment to random people instead shows no effect: the estimate is not an artefact of the "
               "method.", "A random placebo treatment shows an 'effect': the method itself produces effects."),
        "fi": ("Satunnainen placebo-käsittely ei näytä vaikutusta.", "Placebo-käsittely näyttää vaikutuksen.")},
    "random common cause": {
        "en": ("Adding an irrelevant variable leaves the estimate where it was.",
               "An irrelevant extra variable moves the estimate: it is unstable."),
        "fi": ("Epäolennainen lisämuuttuja ei muuta estimaattia.", "Epäolennainen lisämuuttuja muuttaa estimaattia.")},
    "data subset": {
        "en": ("Random subsets of the data give the same estimate.", "Random subsets of the data give another estimate."),
        "fi": ("Satunnaiset osa-aineistot antavat saman estimaatin.", "Osa-aineistot antavat eri estimaatin.")},
    "unobserved common cause": {
        "en": ("A hidden confounder as strong as the strongest characteristic we observe would not explain the effect "
               "away.",
               "A hidden confounder no stronger than a characteristic we do observe could explain the effect away: "
               "the estimate is fragile. (The bound compares a hypothetical confounder with the observed ones; it does "
               "not show that such a confounder exists.)"),
        "fi": ("Havaitsematon sekoittava tekijä, joka olisi yhtä voimakas kuin voimakkain havaittu taustatekijä, ei "
               "selittäisi vaikutusta pois.",
               "Havaitsematon sekoittava tekijä, joka ei olisi havaittuja taustatekijöitä voimakkaampi, voisi selittää "
               "vaikutuksen pois: tulos on hauras. (Raja vertaa kuviteltua tekijää havaittuihin; se ei osoita, että "
               "sellainen tekijä on olemassa.)")},
    "DiD pre-trends": {
        "en": ("Before the start, the groups moved in parallel: the comparison is plausible.",
               "The groups already moved differently before the start: the parallel-trends assumption is doubtful."),
        "fi": ("Ryhmät kehittyivät samansuuntaisesti ennen aloitusta.", "Ryhmät erosivat jo ennen aloitusta.")},
    "DiD placebo in time": {
        "en": ("Pretending the start came earlier shows no effect.", "A pretend earlier start shows an 'effect'."),
        "fi": ("Aiemmaksi siirretty aloitus ei näytä vaikutusta.", "Aiemmaksi siirretty aloitus näyttää vaikutuksen.")},
    "in-space placebo": {
        "en": ("The reformed area's change stands out from what areas without the reform show.",
               "Areas without the reform show changes as large: the effect cannot be told apart from chance."),
        "fi": ("Uudistusalueen muutos erottuu placebo-alueista.", "Placebo-alueilla on yhtä suuria muutoksia.")},
    "permutation interval": {
        "en": ("The effect is larger than 95% of placebo effects.", "The effect is within the range of placebo effects."),
        "fi": ("Vaikutus on suurempi kuin 95 % placebo-vaikutuksista.", "Vaikutus on placebo-vaikutusten rajoissa.")},
    "in-time placebo": {
        "en": ("Pretending the reform came a year earlier shows no effect before the real reform.",
               "A pretend earlier reform shows a gap before the real one: the synthetic area does not track well."),
        "fi": ("Vuotta aiemmaksi siirretty uudistus ei näytä vaikutusta.", "Aiemmaksi siirretty uudistus näyttää eron.")},
    "leave one donor out": {
        "en": ("No single donor area drives the result.", "Dropping one donor area changes the sign of the effect."),
        "fi": ("Yksittäinen vertailualue ei ratkaise tulosta.", "Yhden vertailualueen poisto muuttaa vaikutuksen suunnan.")},
}


def _reading(check: str, passed: bool, lang: str) -> str:
    for key, txt in _READINGS.items():  # a handful of kinds
        if check.startswith(key):
            return txt.get(lang, txt["en"])[0 if passed else 1]
    return ""


def _check_value(check: str, value: float, lang: str) -> str:
    """The check's own statistic: chi2 for the pre-trend test, a p-value for placebo ranks, else pp."""
    from impact.report.render import FORMATTERS, fmt_num

    if check.startswith("DiD pre-trends"):
        return "chi2 " + fmt_num(value, 1, lang)
    if check.startswith("in-space placebo"):
        return "p = " + FORMATTERS["p"](value, lang)
    return FORMATTERS["pp"](value, lang)


def robustness_table(tab: pd.DataFrame, lang: str, caption: str) -> ReportTable:
    """The pass/fail table of one analysis (``tab``: check, estimate, refuted, passed, expectation)."""
    from impact.report.render import FORMATTERS

    rows = []
    for r in tab.to_dict("records"):
        rows.append([r["check"], r["expectation"], FORMATTERS["pp"](r["estimate"], lang),
                     _check_value(r["check"], r["refuted"], lang), t("rob_pass" if r["passed"] else "rob_fail", lang),
                     _reading(r["check"], bool(r["passed"]), lang)])
    header = [t(k, lang) for k in ("rob_check", "rob_expected", "rob_original", "rob_refuted", "rob_result",
                                   "rob_reading")]
    return ReportTable(caption=caption, header=header, rows=rows, align=["l", "l", "r", "r", "l", "l"],
                       name="robustness")


def _verdict(tab: pd.DataFrame, lang: str) -> str:
    bad = tab.loc[~tab["passed"].astype(bool), "check"].tolist()
    if not bad:
        return t("rob_all_passed", lang, n=len(tab))
    return t("rob_some_failed", lang, k=len(bad), n=len(tab), checks="; ".join(bad))


def robustness_section(run) -> ReportSection | None:
    """'How robust is this?': one subsection per effect analysis with its checks (None without any)."""
    from impact.report.render import FORMATTERS, fmt_int

    items = run.extra.get("robustness")
    if not items:
        return None
    lang = run.lang
    pp = lambda x: FORMATTERS["pp"](x, lang)  # noqa: E731
    s = ReportSection(key="robustness", title=t("robustness", lang), paragraphs=[t("robustness_intro", lang)])
    for it in items:  # one per effect analysis
        sub = ReportSection(key=f"robustness-{it['analysis']}", title=it["title"])
        info, tab = it["info"], it["table"]
        if tab is None:
            sub.warnings.append(f"{t('rob_not_run', lang)}: {info.get('error', '')}")
            s.subsections.append(sub)
            continue
        if it["kind"] == "matching":
            lo, hi = info["matching_ci"]
            sub.paragraphs.append(
                f"The refuters work on the weighting (inverse-probability) estimate of the same effect: open-market "
                f"work {info['horizon']} months after the service ended, on the same design table (a reproducible "
                f"sample of {fmt_int(info['rows'], lang)} rows with {fmt_int(info['n_treated'], lang)} participants), "
                f"with the same characteristics plus the exact-matching variables. dowhy reproduced the toolkit's "
                f"weighting estimate ({pp(info['reproduced'])}) before refuting it, with the toolkit's own logit, no "
                f"score clipping and normalised weights. The matching estimate in the results is "
                f"{pp(info['matching_estimate'])} [{pp(lo)}, {pp(hi)}]; the weighting estimate is "
                f"{pp(info['ipw_estimate'])} (s.e. {100 * info['ipw_se']:.1f} pp, clustered by person)." if lang == "en" else
                f"Tarkistukset tehdään painotetulle estimaatille ({pp(info['ipw_estimate'])}) samalla asetelmalla; "
                f"kaltaistusestimaatti on {pp(info['matching_estimate'])} [{pp(lo)}, {pp(hi)}].")
        elif it["kind"] == "did":
            if not info.get("placebo_in_time"):
                sub.paragraphs.append(
                    "The placebo-in-time check (treatment dates moved back) is not available in this version "
                    "(impact.estimators.did.placebo)" + (f": {info['placebo_error']}" if info.get("placebo_error") else
                                                         ".") if lang == "en" else
                    "Ajallista placebotarkistusta ei ole tässä versiossa.")
        elif it["kind"] == "synth" and info.get("in_time_error"):
            sub.paragraphs.append(f"In-time placebo not run: {info['in_time_error']}")
        sub.paragraphs.append(_verdict(tab, lang))
        sub.tables.append(robustness_table(tab, lang, it["title"] + (": robustness checks" if lang == "en" else
                                                                      ": luotettavuustarkistukset")))
        sens = info.get("sensitivity")
        if sens is not None and len(sens):
            sub.tables.append(_sensitivity_table(sens, lang))
        s.subsections.append(sub)
    return s


def _sensitivity_table(sens: pd.DataFrame, lang: str) -> ReportTable:
    """The partial-R2 bounds (``sens``: benchmark, k, r2_dz, r2_yz, adjusted_estimate, ci_lower, ci_upper,
    explained_away; from :func:`impact.estimators.refute.ovb_sensitivity`)."""
    from impact.report.render import FORMATTERS, fmt_num

    pp = lambda x: FORMATTERS["pp"](x, lang)  # noqa: E731
    header = [t(k, lang) for k in ("rob_sens_benchmark", "k", "rob_sens_r2_treatment", "rob_sens_r2_outcome",
                                    "rob_sens_estimate", "rob_sens_interval", "rob_explained")]
    rows = [[str(r["benchmark"]), fmt_num(r["k"], 0, lang), fmt_num(r["r2_dz"], 4, lang), fmt_num(r["r2_yz"], 4, lang),
             pp(r["adjusted_estimate"]), f"[{pp(r['ci_lower'])}, {pp(r['ci_upper'])}]",
             t("yes", lang) if r["explained_away"] else t("no", lang)] for r in sens.to_dict("records")]
    return ReportTable(caption=t("rob_sensitivity", lang), header=header, rows=rows,
                       align=["l", "r", "r", "r", "r", "r", "l"], name="robustness_sensitivity")


def build_document(run) -> ReportDoc:
    """The :class:`ReportDoc` of a finished run."""
    from impact.study.analyses import finish_effect_sections

    cfg, lang = run.cfg, run.lang
    finish_effect_sections(run)
    cost = cost_section(run)
    robust = robustness_section(run)
    sections = [data_section(run), design_section(run), *run.sections, *([robust] if robust else []),
                *([cost] if cost else [])]
    appendix = [outcome_appendix(run), *run.appendix, disclosure_appendix(run), repro_appendix(run)]
    sub = f"{cfg.study.name}" + (" · " + ("synthetic data" if lang == "en" else "synteettinen aineisto")
                                 if cfg.data.synthetic else "")
    footer = (f"impact · {cfg.study.name} · config {cfg.hash[:12]} · "
              f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d')}")
    return ReportDoc(lang=lang, title=cfg.report.title or cfg.study.title, question=cfg.study.question, subtitle=sub,
                     summary=summary_points(run), headline=run.headline, warnings=list(run.warnings),
                     sections=sections, appendix=appendix, footer=footer)

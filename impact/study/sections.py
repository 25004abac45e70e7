"""The sections of the report that every study has: data and population, design, and the appendix."""

from __future__ import annotations

import datetime as dt
from typing import Any

from impact.months import month_label
from impact.report.disclosure import Disclosed
from impact.report.render import ReportSection, ReportTable, fmt_int
from impact.report.wording import WORDS, label, text


def _count(n: int, min_cell: int, lang: str) -> str:
    """A count of rows that no person rule covers: under the minimum it is withheld."""
    return ".." if 0 < n < min_cell else fmt_int(n, lang)


def data_section(cfg: Any, info: Any, population: Disclosed, page: Any) -> ReportSection:
    """Data source, extraction, register tables, the outcome stage's exclusions and the population flow."""
    lang = page.lang
    s = ReportSection(key="data", title=text("data_population", lang))
    if info.synthetic:
        sy = cfg.data.synthetic
        s.paragraphs.append(text("synthetic_source", lang, scenario=sy.scenario, persons=fmt_int(sy.persons, lang),
                                 seed=sy.seed))
    else:
        s.paragraphs.append(text("register_source", lang, path=info.registers_dir))
        s.paragraphs.extend(delivery_paragraphs(info.delivery, lang))
    s.paragraphs.append(text("extraction", lang, date=info.extraction_date.isoformat(),
                             month=month_label(info.last_month)))
    settings = cfg.data.settings() if info.backend == cfg.data.backend else {}
    shown = ", ".join(f"{k} {v}" for k, v in settings.items() if k not in ("password", "private_key_file", "authenticator", "user", "account", "token"))
    s.paragraphs.append(text("backend_text", lang, backend=info.backend, settings=f" ({shown})" if shown else ""))
    m = cfg.disclosure.min_cell
    rows = [[label(k, lang), _count(v, m, lang)] for k, v in info.register_rows.items()]
    s.tables.append(ReportTable(caption=text("registers_rows", lang), header=[text("table", lang), text("rows", lang)],
                                rows=rows, align=["l", "r"], name="registers"))
    ex = info.exclusions
    if ex.height:
        def tr(prefix: str, key: str, default: str) -> str:
            return text(f"{prefix}_{key}", lang) if f"{prefix}_{key}" in WORDS else default

        rows = [[" + ".join(label(t, lang) for t in r["table"].split("+")), tr("exclusion", r["rule"], r["description"]),
                 _count(r["rows"], m, lang), tr("action", r["action"], r["action"])] for r in ex.iter_rows(named=True)]
        s.tables.append(ReportTable(caption=text("outcome_exclusions", lang),
                                    header=[text("table", lang), text("step", lang), text("rows", lang), ""], rows=rows,
                                    align=["l", "l", "r", "l"], name="outcome_exclusions",
                                    notes=[text("exclusions_note", lang, min_cell=m)]))
    s.tables.append(page.flow_table(population, text("exclusions_flow", lang)))
    return s


def delivery_paragraphs(facts: dict[str, Any], lang: str) -> list[str]:
    """What the delivery manifest and the import log say of the registers' origin (imported data)."""
    out = []
    if facts.get("source"):
        out.append(text("delivery_source", lang, source=facts["source"]))
    kind = facts.get("source_kind")
    if kind:
        key = f"earnings_source_{kind.replace('-', '_')}"
        out.append(text(key, lang) if key in WORDS else text("earnings_source_other", lang, kind=kind))
    if "subsidised_derived" in facts:
        out.append(text("subsidised_derived" if facts["subsidised_derived"] else "subsidised_reported", lang))
    return out


def design_keys(cfg: Any) -> list[str]:
    """The design texts of the study (wording catalogue keys ``design_<key>``)."""
    d = cfg.treatment.design
    did = cfg.estimator("did")
    did_key = "did_spell_time" if did is not None and did.design == "spell_time" else "did_risk_set"
    if d == "did_cohorts":
        return [did_key]
    keys = [d]
    if d == "dynamic" and cfg.estimator("matching") is None:
        keys = []
    if d == "dynamic" and did is not None:
        keys.append(did_key)
    return keys


def design_section(cfg: Any, lang: str) -> ReportSection:
    s = ReportSection(key="design", title=text("design", lang))
    for k in design_keys(cfg):
        s.paragraphs.extend(text(f"design_{k}", lang).split("\n\n"))
    return s


def outcome_appendix(info: Any, lang: str) -> ReportSection:
    oc = info.outcome_config
    it = oc.income_types
    types = f"{it[0]}-{it[-1]}" if len(it) > 3 else ", ".join(map(str, it))
    txt = text("appendix_outcomes_text", lang, floor=fmt_int(oc.employment_floor_eur, lang), income_types=types,
               allocation=text(f"allocation_{oc.allocation}", lang),
               segment=" x ".join(label(s, lang) for s in oc.segment_by))
    return ReportSection(key="appendix-outcomes", title=text("appendix_outcomes", lang), paragraphs=[txt])


def disclosure_appendix(cfg: Any, lang: str) -> ReportSection:
    r = cfg.disclosure
    rounding = text("rounding_text", lang, base=r.rounding) if r.rounding > 1 else ""
    paras = [text("disclosure_text", lang, min_cell=r.min_cell, min_payers=r.min_payers,
                  dominance=f"{r.dominance:.0%}", rounding=rounding)]
    if r.override_reason:
        paras.append(text("override_text", lang, reason=r.override_reason))
    return ReportSection(key="appendix-disclosure", title=text("disclosure", lang), paragraphs=paras)


def repro_appendix(cfg: Any, lang: str) -> ReportSection:
    from importlib.metadata import version

    txt = text("repro_text", lang, config_hash=cfg.hash[:16], run_time=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
               version=version("impact"))
    return ReportSection(key="appendix-repro", title=text("reproducibility", lang), paragraphs=[txt])

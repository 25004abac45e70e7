"""The report document of a run, built from the disclosed results only.

:class:`Page` is what an analysis's ``write`` function gets: the language, the wording
catalogue, formatting with the disclosure marks, figures drawn from disclosed data, and places
to put sections, warnings, the headline and summary sentences. :func:`build_document`
assembles the whole report; the warnings box on its first page gathers every warning and
borderline check raised anywhere in it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from impact.report.disclosure import Disclosed
from impact.report.render import (FORMATTERS, ReportDoc, ReportFigure, ReportSection, ReportTable, frame_to_table,
                                  legend, save_figure)
from impact.plots import style as plot_style
from impact.report.wording import label, plot_words, text, translate
from impact.study.context import DisclosedResult, Notice


@dataclass
class Page:
    """The writer's view of the report being built (one per run)."""

    cfg: Any
    figures_dir: Path
    sections: list[ReportSection] = field(default_factory=list)
    robustness_subs: list[ReportSection] = field(default_factory=list)
    cost_tables: list[ReportTable] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    headline_table: ReportTable | None = None

    @property
    def lang(self) -> str:
        return self.cfg.report.language

    @property
    def rules(self):
        return self.cfg.disclosure

    def fmt(self, kind: str, value: Any) -> str:
        return FORMATTERS[kind](value, self.lang)

    def table(self, d: Disclosed, columns: list[tuple], caption: str, rows: list | None = None, notes: list | tuple = (),
              name: str = "", frame: pd.DataFrame | None = None) -> ReportTable:
        """A report table of the disclosed publication ``d`` (its marks shown, the legend under it)."""
        f = d.frame if frame is None else frame
        if rows is not None:
            f = f.loc[rows]
        return frame_to_table(f, [c for c in columns if c[0] in f.columns], caption, self.lang,
                              self.notes(d) + list(notes), name=name or d.name, marks=d.marks)

    def notes(self, d: Disclosed) -> list[str]:
        """The disclosure notes of ``d`` in the report's language."""
        return [translate(n, self.lang) for n in d.notes]

    def table_frame(self, frame: pd.DataFrame, marks: pd.DataFrame, columns: list[tuple], caption: str,
                    rows: list | None = None, name: str = "", notes: list | tuple = ()) -> ReportTable:
        """A report table of a reshaped disclosed frame and its reshaped marks."""
        f, m = (frame, marks) if rows is None else (frame.loc[rows], marks.loc[rows])
        return frame_to_table(f, columns, caption, self.lang, list(notes), name=name, marks=m)

    def legend(self, d: Disclosed) -> list[str]:
        return self.notes(d) + legend(set(d.marks.to_numpy().ravel().tolist()), self.lang)

    def flow_table(self, d: Disclosed, caption: str) -> ReportTable:
        """A flow of exclusions (steps, units and persons left, removed) with its marks."""
        lang = self.lang
        def labelled(v: Any) -> Any:  # code values in a step's text (service types, areas) as labels
            return ", ".join(label(x.strip(), lang) for x in v.split(",")) if isinstance(v, str) else v

        f = d.frame.assign(text_step=[text(k, lang, **{a: labelled(v) for a, v in (p or {}).items()})
                                      for k, p in zip(d.frame["key"], d.frame["params"])])
        cols = [("text_step", text("step", lang), "text"), ("units", text("units_left", lang), "int"),
                ("persons", text("persons_left", lang), "int"), ("removed_units", text("removed_units", lang), "int"),
                ("removed_persons", text("removed_persons", lang), "int")]
        return frame_to_table(f, cols, caption, lang, self.notes(d), name=d.name, marks=d.marks)

    def save_figure(self, fig: Any, name: str, caption: str) -> ReportFigure:
        return save_figure(fig, self.figures_dir, name, caption)

    def figures_of(self, res: DisclosedResult, prefix: str | None = None) -> list[ReportFigure]:
        """The figures of an analysis (those named ``prefix...``), drawn from their disclosed data."""
        out = []
        for spec in res.figures:
            if prefix is not None and not spec.name.startswith(prefix):
                continue
            data = res.tables[spec.table].frame
            out.append(self.save_figure(spec.draw(data), spec.name, spec.caption))
        return out

    def notice(self, message: str, level: str = "warning") -> None:
        self.notices.append(Notice(message, level))

    def add_section(self, sec: ReportSection) -> None:
        self.sections.append(sec)

    def add_subsection(self, key: str, sub: ReportSection) -> None:
        """Add ``sub`` to the section ``key`` (the effects section is created when first needed)."""
        for s in self.sections:
            if s.key == key:
                s.subsections.append(sub)
                return
        self.sections.append(ReportSection(key=key, title=text(key, self.lang), subsections=[sub]))

    def headline(self, table: ReportTable) -> None:
        self.headline_table = table

    def summary(self, sentence: str) -> None:
        self.summaries.append(sentence)

    def robustness(self, sub: ReportSection) -> None:
        self.robustness_subs.append(sub)

    def cost(self, res: DisclosedResult, name: str) -> None:
        """The cost table of an effect analysis (cost per additional placement where the effect is > 0)."""
        if name not in res.tables:
            return
        d = res.tables[name]
        lang = self.lang
        f = d.frame.assign(sig=d.frame["significant"].map(lambda b: text("yes" if b else "no", lang)),
                           label=d.frame["analysis"].map(lambda a: text(f"cost_label_{a}", lang,
                                                                        service=label(self.cfg.treatment.service_type,
                                                                                      lang))))
        cols = [("label", text("group", lang), "text"), ("horizon", text("horizon", lang), "int"),
                ("cost_per_participant", text("cost_per_participant", lang), "num0"),
                ("effect", text("estimate", lang), "pp"),
                ("cost_per_additional_placement", text("cost_per_additional", lang), "eur100",
                 ("cost_ci_lower", "cost_ci_upper")),
                ("sig", text("significant", lang), "text")]
        self.cost_tables.append(frame_to_table(f, cols, text("cost", lang), lang, [text("cost_note", lang)] +
                                               self.notes(d), name=name, marks=d.marks))
        bad = f[(~f["significant"].astype(bool)) & f["horizon"].isin([6, 12])]
        if len(bad):
            self.notice(text("cost_unreliable", lang, which=", ".join(f"{r.label} {int(r.horizon)}"
                                                                      for r in bad.itertuples())), level="borderline")


def build_document(cfg: Any, info: Any, population: Disclosed, results: list[DisclosedResult],
                   notices: list[Notice], figures_dir: Path) -> ReportDoc:
    """The :class:`ReportDoc` of a run from its disclosed results.

    ``info`` (:class:`impact.study.runner.RunInfo`) holds the run's register facts (folder, rows,
    extraction date, outcome definitions and exclusions).
    """
    from impact.study import closing, sections
    from impact.study.analyses import ANALYSES
    from impact.study.headline import headline
    from impact.study.truth import truth_notices

    page = Page(cfg=cfg, figures_dir=figures_dir, notices=list(notices))
    lang = page.lang
    with plot_style.context(lang, words=plot_words(lang)):  # every figure in the report's language and style
        for r in results:  # the analyses, in order
            ANALYSES[r.name].write(r, page)
            page.notices += list(r.notices)
            if r.estimates is not None:
                page.notices += truth_notices(r.estimates.frame, lang)
    if cfg.disclosure.override_reason:
        page.notice(text("override_notice", lang, reason=cfg.disclosure.override_reason), level="borderline")
    body = [sections.data_section(cfg, info, population, page), sections.design_section(cfg, lang), *page.sections]
    if page.robustness_subs:
        body.append(ReportSection(key="robustness", title=text("robustness", lang),
                                  paragraphs=[text("robustness_intro", lang)], subsections=page.robustness_subs))
    if page.cost_tables:
        body.append(ReportSection(key="cost", title=text("cost", lang), paragraphs=[text("cost_text", lang)],
                                  tables=page.cost_tables))
    synthetic = info.synthetic or (Path(info.registers_dir) / "truth").is_dir()
    body += [s for s in (closing.limitations_section(cfg, results, lang, synthetic),
                         closing.references_section(cfg, results, lang)) if s is not None]
    appendix = [sections.outcome_appendix(info, lang), sections.disclosure_appendix(cfg, lang),
                sections.repro_appendix(cfg, lang)]
    sub = cfg.study.name + (" · " + text("synthetic_data", lang) if synthetic else "") + \
        " · " + text("phase", lang, phase=cfg.study.phase)
    footer = f"impact · {cfg.study.name} · {text('footer_config', lang)} {cfg.hash[:12]} · " \
             f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
    warn = list(dict.fromkeys(n.text for n in page.notices if n.level == "warning"))
    border = list(dict.fromkeys(n.text for n in page.notices if n.level != "warning"))
    fi = lang == "fi"
    title = (cfg.study.title_fi if fi and cfg.study.title_fi else cfg.report.title or cfg.study.title)
    question = cfg.study.question_fi if fi and cfg.study.question_fi else cfg.study.question
    # an effect study opens with its effects (the follow-up's placement rates stay in their section)
    effects, sentences = headline(cfg, results, lang, page.fmt)
    return ReportDoc(lang=lang, title=title, question=question, subtitle=sub,
                     author=cfg.report.author, description=cfg.study.description,
                     summary=sentences + page.summaries, headline=effects or page.headline_table, warnings=warn,
                     borderline=border, sections=body, appendix=appendix, footer=footer)

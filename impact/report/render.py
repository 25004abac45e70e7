"""Render an evaluation report to HTML (Jinja2) and PDF (WeasyPrint, from the same HTML).

The runner assembles a :class:`ReportDoc` (sections of paragraphs, tables that already
passed disclosure control, figures and warnings); this module only lays it out. Figures
are written as PNG and SVG and embedded in the HTML as data URIs, so ``report.html`` is a
single self-contained file.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from impact.report.disclosure import EMPTY, MARKS, SUPPRESSED, UNDEFINED
from impact.report.wording import label, text

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ReportFigure:
    """A figure: its file stem, caption and the PNG bytes embedded in the HTML."""

    name: str
    caption: str
    png: bytes = b""

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


@dataclass
class ReportTable:
    """A formatted table (strings), with a caption and notes."""

    caption: str
    header: list[str]
    rows: list[list[str | tuple[str, str]]]  # a tuple is (value, interval shown below it)
    notes: list[str] = field(default_factory=list)
    align: list[str] = field(default_factory=list)  # "l" or "r" per column
    name: str = ""


@dataclass
class ReportSection:
    """A section of the report."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    subsections: list["ReportSection"] = field(default_factory=list)


@dataclass
class ReportDoc:
    """The whole report."""

    lang: str
    title: str
    question: str
    subtitle: str = ""
    author: str = ""
    description: str = ""
    summary: list[str] = field(default_factory=list)
    headline: ReportTable | None = None
    warnings: list[str] = field(default_factory=list)  # failed checks, misses of the truth
    borderline: list[str] = field(default_factory=list)  # checks close to failing
    sections: list[ReportSection] = field(default_factory=list)
    appendix: list[ReportSection] = field(default_factory=list)
    footer: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------


def _isnan(x: Any) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x)) or x is pd.NA


def fmt_int(x: Any, lang: str = "en") -> str:
    if _isnan(x):
        return UNDEFINED
    s = f"{int(round(float(x))):,}"
    return s.replace(",", "\u00a0") if lang == "fi" else s


def fmt_num(x: Any, digits: int = 2, lang: str = "en") -> str:
    if _isnan(x):
        return UNDEFINED
    s = f"{float(x):,.{digits}f}"
    if lang == "fi":
        s = s.replace(",", "\u00a0").replace(".", ",")
    return s


def fmt_pct(x: Any, digits: int = 1, lang: str = "en") -> str:
    if _isnan(x):
        return UNDEFINED
    s = f"{100 * float(x):.{digits}f}"
    return (s.replace(".", ",") + "\u00a0%") if lang == "fi" else s + "%"


def fmt_pp(x: Any, digits: int = 1, lang: str = "en") -> str:
    """Percentage points (for effects on shares)."""
    if _isnan(x):
        return UNDEFINED
    s = f"{100 * float(x):+.{digits}f}"
    return (s.replace(".", ",") + "\u00a0%-yks.") if lang == "fi" else s + " pp"


def fmt_pp_abs(x: Any, digits: int = 2, lang: str = "en") -> str:
    """A size in percentage points without a sign (an RMSPE, a standard error)."""
    if _isnan(x):
        return UNDEFINED
    s = f"{100 * float(x):.{digits}f}"
    return (s.replace(".", ",") + "\u00a0%-yks.") if lang == "fi" else s + " pp"


def fmt_interval(lo: Any, hi: Any, f: Callable[[Any], str]) -> str:
    if _isnan(lo) or _isnan(hi):
        return UNDEFINED
    return f"[{f(lo)}, {f(hi)}]"


FORMATTERS: dict[str, Callable[[Any, str], str]] = {
    "int": lambda x, lang: fmt_int(x, lang),
    "num0": lambda x, lang: fmt_num(x, 0, lang),
    "num1": lambda x, lang: fmt_num(x, 1, lang),
    "num2": lambda x, lang: fmt_num(x, 2, lang),
    "num3": lambda x, lang: fmt_num(x, 3, lang),
    "pct": lambda x, lang: fmt_pct(x, 1, lang),
    "num4": lambda x, lang: fmt_num(x, 4, lang),
    "pp": lambda x, lang: fmt_pp(x, 1, lang),
    "pp_abs": lambda x, lang: fmt_pp_abs(x, 2, lang),
    "text": lambda x, lang: UNDEFINED if _isnan(x) else label(str(x), lang),
    "p": lambda x, lang: UNDEFINED if _isnan(x) else ("<0.001" if float(x) < 0.001 else fmt_num(x, 3, lang)),
}


def legend(marks: set[str], lang: str) -> list[str]:
    """The legend line under a table: what each mark in it means."""
    shown = [m for m in (SUPPRESSED, UNDEFINED, EMPTY) if m in marks]
    if not shown:
        return []
    return [text("legend", lang, marks="; ".join(f"{m} {text('mark_' + MARKS[m], lang)}" for m in shown))]


def frame_to_table(
    df: pd.DataFrame,
    columns: list[tuple],
    caption: str,
    lang: str = "en",
    notes: list[str] | None = None,
    name: str = "",
    marks: pd.DataFrame | None = None,
) -> ReportTable:
    """Format a (disclosure-controlled) DataFrame as a :class:`ReportTable`.

    ``columns`` holds ``(column, header, kind)`` or ``(column, header, kind, (lo, hi))``
    where the optional pair names interval columns appended as "[lo, hi]" in the same cell.
    ``marks`` (aligned with ``df`` by index) gives a value's mark (``..`` suppressed by
    disclosure control, ``–`` not defined, ``.`` no observations); a missing value without a
    mark is shown as not defined. The legend of the marks shown goes under the table.
    """
    header = [c[1] for c in columns]
    rows = []
    seen: set[str] = set()
    for i, r in zip(df.index, df.to_dict("records")):
        row = []
        for spec in columns:
            col, _, kind = spec[:3]
            mark = marks.at[i, col] if marks is not None and col in marks.columns and i in marks.index else ""
            if mark:
                cell = mark
            else:
                f = FORMATTERS[kind]
                cell = f(r.get(col), lang)
                if len(spec) > 3 and spec[3] and not _isnan(r.get(col)):
                    lo, hi = spec[3]
                    cell = (cell, fmt_interval(r.get(lo), r.get(hi), lambda x: f(x, lang)))
            first = cell if isinstance(cell, str) else cell[0]
            if first in MARKS:
                seen.add(first)
            row.append(cell)
        rows.append(row)
    align = ["l" if c[2] == "text" else "r" for c in columns]
    return ReportTable(caption=caption, header=header, rows=rows, notes=list(notes or []) + legend(seen, lang),
                       align=align, name=name)


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def save_figure(fig, folder: Path, name: str, caption: str) -> ReportFigure:
    """Write ``fig`` as ``folder/name.png`` and ``.svg`` and return it for embedding."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    # fixed metadata: the same figure gives the same bytes
    fig.savefig(png, dpi=150, metadata={"Software": None})
    fig.savefig(folder / f"{name}.svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return ReportFigure(name=name, caption=caption, png=png.read_bytes())


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


def render_html(doc: ReportDoc) -> str:
    """The report as one self-contained HTML document."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    tmpl = env.get_template("report.html.j2")
    return tmpl.render(doc=doc, css=css, t=lambda k, **kw: text(k, doc.lang, **kw))


def write_pdf(html: str, path: Path) -> None:
    """Render the HTML to PDF with WeasyPrint (same content, print stylesheet)."""
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(str(path))


def render(doc: ReportDoc, folder: Path, formats: tuple[str, ...] = ("html", "pdf")) -> dict[str, Path]:
    """Write ``report.html`` (and ``report.pdf``) into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    html = render_html(doc)
    out = {}
    p = folder / "report.html"
    p.write_text(html, encoding="utf-8")
    out["html"] = p
    if "pdf" in formats:
        q = folder / "report.pdf"
        write_pdf(html, q)
        out["pdf"] = q
    return out

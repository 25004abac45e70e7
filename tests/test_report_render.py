"""Rendering: HTML and PDF from one document, the marks of withheld values, both languages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impact import plots
from impact.errors import ConfigError
from impact.report.render import ReportDoc, ReportSection, frame_to_table, render, render_html, save_figure
from impact.report.wording import label, text


def _doc(tmp_path, lang="en"):
    df = pd.DataFrame({"service_type": ["training", "coaching", "startup_grant", "Total"], "n": [120, np.nan, 0, 250],
                       "placed_3m": [0.31, np.nan, np.nan, 0.27], "lo": [0.25, np.nan, np.nan, 0.22],
                       "hi": [0.37, np.nan, np.nan, 0.32]})
    marks = pd.DataFrame({"n": ["", "..", "", ""], "placed_3m": ["", "..", ".", ""]})
    tab = frame_to_table(df, [("service_type", label("service_type", lang), "text"),
                              ("n", text("n_service_spell", lang), "int"),
                              ("placed_3m", text("placed_h", lang, h=3), "pct", ("lo", "hi"))], "Table <1>", lang,
                         marks=marks)
    curves = pd.DataFrame({"month": np.arange(-3, 4), "share": np.linspace(0.1, 0.4, 7)})
    curves["lo"], curves["hi"] = curves["share"] - 0.02, curves["share"] + 0.02
    fig = plots.band_lines(curves, "month", "share", "lo", "hi", vline=0, percent=True)
    f = save_figure(fig, tmp_path / "figures", "curve", "A curve")
    sec = ReportSection(key="r", title=text("followup", lang), paragraphs=["<script>alert(1)</script>"], tables=[tab],
                        figures=[f], warnings=["Small cells"])
    return ReportDoc(lang=lang, title="Title & more", question="Q?", sections=[sec], warnings=["Imbalance"],
                     borderline=["Close call"], headline=tab, author="A. Author", description="What this is.")


def test_html_and_pdf(tmp_path):
    doc = _doc(tmp_path)
    paths = render(doc, tmp_path, ("html", "pdf"))
    html = paths["html"].read_text()
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "figures" / "curve.png").exists() and (tmp_path / "figures" / "curve.svg").exists()
    # content is escaped, figures embedded
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Title &amp; more" in html and "data:image/png;base64," in html
    assert "Labour market training" in html and "31.0%" in html and "[25.0%, 37.0%]" in html
    # each mark says what it means, in the legend under the table: suppressed, no observations
    assert ">..<" in html and ">.<" in html
    assert "Marks: .. suppressed by disclosure control; . no observations." in html
    assert "Read before using these results" in html and "Imbalance" in html and "Close call" in html
    assert "A. Author" in html and "What this is." in html
    # the same figure twice gives the same PNG bytes (reproducible reports)
    b1 = (tmp_path / "figures" / "curve.png").read_bytes()
    _doc(tmp_path)
    assert (tmp_path / "figures" / "curve.png").read_bytes() == b1


def test_a_missing_value_without_a_mark_is_not_defined():
    df = pd.DataFrame({"g": ["a"], "cost": [np.nan]})
    tab = frame_to_table(df, [("g", "G", "text"), ("cost", "Cost", "num0")], "T", "en")
    assert tab.rows[0][1] == "\u2013" and tab.notes == ["Marks: \u2013 not defined."]


def test_finnish_labels_and_number_format(tmp_path):
    html = render_html(_doc(tmp_path, "fi"))
    assert 'lang="fi"' in html and "Työvoimakoulutus" in html and "31,0\u00a0%" in html
    assert "Lue ennen tulosten käyttöä" in html and "Yhteensä" in html and "salattu tietosuojan vuoksi" in html
    with pytest.raises(ConfigError, match="report.language"):
        text("followup", "sv")

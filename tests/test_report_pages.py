"""Page layout of the PDF (issue 23): a long table that does not fit under the text before it
starts on the same page and breaks between rows (header repeated) instead of leaving the page
half empty; a short table moves whole; a figure keeps its caption."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from impact.report.render import ReportDoc, ReportSection, ReportTable, render

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)")


def _pages(pdf) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


def test_long_table_fills_the_page_and_short_table_stays_whole(tmp_path):
    filler = ["A paragraph of text that fills part of the page before the table. " * 6] * 5
    long = ReportTable(caption="Long table", header=["Cohort", "Value"],
                       rows=[[f"row{i:03d}", f"{i}"] for i in range(60)], align=["l", "r"])
    short = ReportTable(caption="Short table", header=["Key", "Value"], rows=[[f"key{i}", f"{i}"] for i in range(8)],
                        align=["l", "r"])
    sec = ReportSection(key="s", title="Section", paragraphs=filler, tables=[long])
    sec2 = ReportSection(key="t", title="Second", paragraphs=filler * 2, tables=[short])
    pdf = render(ReportDoc(lang="en", title="Layout", question="q", sections=[sec, sec2]), tmp_path,
                 ("html", "pdf"))["pdf"]
    pages = _pages(pdf)
    first = next(i for i, p in enumerate(pages) if "Long table" in p)
    # the long table starts right under its text: its caption and first rows are on the text's page
    assert "A paragraph of text" in pages[first] and "row000" in pages[first]
    cont = next(i for i, p in enumerate(pages) if "row059" in p)
    assert cont > first and "Cohort" in pages[cont]  # broken between rows, header repeated
    # the short table is never split: all its rows on one page, with its caption
    where = [i for i, p in enumerate(pages) if "key0" in p or "key7" in p or "Short table" in p]
    assert len(set(where)) == 1


def test_tall_figures_share_a_page_with_their_captions(tmp_path):
    """A figure as tall as a love plot of many covariates is scaled down: two of them and their
    captions fit on one page (unscaled, each filled a page of its own and left the one before half
    empty)."""
    import matplotlib.pyplot as plt

    from impact.report.render import save_figure

    figs = []
    for i in range(3):
        fig, ax = plt.subplots(figsize=(6.5, 9.0))
        ax.plot([0, 1], [0, 1])
        figs.append(save_figure(fig, tmp_path / "figures", f"tall{i}", f"Caption of tall figure {i}"))
        plt.close(fig)
    sec = ReportSection(key="s", title="Figures", figures=figs)
    pdf = render(ReportDoc(lang="en", title="Layout", question="q", sections=[sec]), tmp_path / "out",
                 ("html", "pdf"))["pdf"]
    pages = _pages(pdf)
    where = [i for i, p in enumerate(pages) for k in range(3) if f"Caption of tall figure {k}" in p]
    assert len(where) == 3 and len(set(where)) == 2, where  # two of the three share a page

"""Every committed study rendered at a small size: its figures follow the one style (no repeated
tick labels, at most MAX_SERIES series per legend), and its Finnish report has no English word
of the wording catalogue.

One small ``area_reform`` extract serves all studies (the default registers plus area reforms);
the runs share the outcome stage's cache. Only the data and the language of each committed config
are changed.
"""

from __future__ import annotations

import html as htmllib
import re
import tomllib
from pathlib import Path

import matplotlib
import pytest

from impact.plots import style
from impact.report.render import render_html
from impact.report.wording import LABELS, WORDS
from impact.study import document, runner
from impact.study.config import parse_config

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.toml"))
PERSONS = 8000

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registers(tmp_path_factory) -> Path:
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("studies") / "reg"
    simulate(scenario="area_reform", persons=PERSONS, seed=5, out=out)
    return out


def render_study(path: Path, registers: Path, lang: str, tmp: Path, monkeypatch) -> tuple[str, list[str], int]:
    """Run ``path`` on ``registers`` in ``lang``: (HTML, style problems of its figures, figures drawn)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw["data"] = {"registers": str(registers)}
    raw.setdefault("report", {}).update(language=lang, formats=["html"])
    cfg = parse_config(raw, path)
    problems: list[str] = []
    drawn = []
    save = document.save_figure

    def checked(fig, folder, name, caption):
        problems.extend(f"{name}: {p}" for p in style.check_figure(fig))
        drawn.append(name)
        return save(fig, folder, name, caption)

    monkeypatch.setattr(document, "save_figure", checked)
    cache = registers.parent / "cache"
    cache.mkdir(exist_ok=True)
    out = runner.run_pipeline(cfg, cache_dir=cache, figures_dir=tmp / "figures")
    return render_html(out.document), problems, len(drawn)


def test_check_figure_finds_repeated_ticks_and_crowded_legends():
    """The checker fails where the old figures failed: shares of 1-3 % on a 0-decimal percent axis,
    eight series in one legend; the styled axis of the same data passes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    for i in range(8):
        ax.plot([0, 1, 2], [0.012, 0.018 + i * 0.001, 0.024], label=f"s{i}")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("x")
    ax.legend()
    problems = style.check_figure(fig)
    assert any("repeated y tick labels" in p for p in problems)
    assert any("legend with 8 entries" in p for p in problems)
    style.percent_axis(ax)
    ax.legend(ax.get_lines()[:3], ["a", "b", "c"])
    assert style.check_figure(fig) == []
    plt.close(fig)


def flagged_checks(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The first page's warnings box (text) and every table row anywhere else whose result cell says
    failed or borderline: (check name, result)."""
    box = re.search(r'<section class="warnings.*?</section>', html, flags=re.S)
    rest = html[box.end():] if box else html
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", rest, flags=re.S):
        cells = [htmllib.unescape(re.sub(r"<[^>]+>", " ", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr,
                                                                                           flags=re.S)]
        for c in cells:
            if c in ("\u2717 failed", "~ borderline", "\u2717 ei läpäissyt", "~ rajatapaus"):
                rows.append((re.sub(r"\s+", " ", cells[0]), c))
    return (htmllib.unescape(re.sub(r"<[^>]+>", " ", box.group(0))) if box else ""), rows


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_every_figure_of_every_study_follows_the_style(path, registers, tmp_path, monkeypatch):
    html, problems, drawn = render_study(path, registers, "en", tmp_path, monkeypatch)
    assert drawn > 0
    assert problems == []
    # every failed or borderline check anywhere in the report is in the first page's warnings box
    box, flagged = flagged_checks(html)
    box = re.sub(r"\s+", " ", box)
    missing = [(name, res) for name, res in flagged if f"'{name}'" not in box]
    assert not missing, f"flagged checks not on the first page: {missing}\nbox: {box}"


def _words(s: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-zÅÄÖåäö]{4,}", re.sub(r"\{[^}]*\}", " ", s))}


def english_words() -> set[str]:
    """Words of four or more letters in the English catalogue texts that no Finnish text has."""
    en, fi = set(), set()
    for e, f in [*WORDS.values(), *LABELS.values()]:
        en |= _words(e)
        fi |= _words(f)
    return en - fi


def visible_text(html: str) -> str:
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    # the methods' papers keep their (English) titles in a Finnish report
    html = re.sub(r'<section class="section" id="references">.*?</section>', " ", html, flags=re.S)
    html = re.sub(r"<img[^>]*>", " ", html)
    return htmllib.unescape(re.sub(r"<[^>]+>", "\n", html))


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_finnish_report_has_no_english_words(path, registers, tmp_path, monkeypatch):
    html, problems, _ = render_study(path, registers, "fi", tmp_path, monkeypatch)
    assert problems == []  # Finnish number formats keep the tick labels distinct too
    english = english_words()
    assert {"treated", "comparison", "estimate", "suppressed"} <= english  # the check has teeth
    hits = {}
    # file names (tables/x.csv) and the study's name are identifiers, not English
    shown = re.sub(r"tables/\S+\.csv", " ", visible_text(html)).replace(path.stem, " ").replace(str(registers), " ")
    for line in shown.splitlines():
        for w in _words(line) & english:
            hits.setdefault(w, line.strip()[:120])
    assert not hits, "English in the Finnish report:\n" + "\n".join(f"{w}: {ln}" for w, ln in sorted(hits.items()))

"""Options of the report document (``[report]``)."""

from __future__ import annotations

from dataclasses import dataclass

from impact.errors import ConfigError
from impact.options import option

LANGS = ("en", "fi")
FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class ReportOptions:
    """``[report]``: title, language, formats and authorship of the report."""

    title: str | None = option(None, "Title of the report (default: study.title).", kind="str")
    language: str = option("en", "Language of the report.", kind="str", choices=LANGS)
    formats: tuple[str, ...] = option(("html", "pdf"), "Files written: report.html and report.pdf (rendered from "
                                      "the HTML).", kind="str_list", choices=FORMATS)
    author: str = option("", "Author(s), printed under the title.", kind="str", informational=True)
    alpha: float = option(0.05, "Significance level of the robustness checks: a placebo or pre-trend test is "
                          "judged at p <= alpha (its intervals at 1 - alpha); a p-value between alpha and 0.10 is "
                          "reported as borderline in the first page's warnings.", kind="float", lo=0.001, hi=0.2,
                          applies=("matching", "sector", "did", "synth"))

    def check(self, path: str) -> None:
        if "html" not in self.formats:
            raise ConfigError(f"{path}.formats = {list(self.formats)} is not allowed: expected a list containing "
                              "'html' (the PDF is rendered from it)")


#: Keys that [report] no longer accepts, and where they went.
MOVED = {k: f"disclosure control has its own section: write {k} under [disclosure]"
         for k in ("min_cell", "min_payers", "dominance", "rounding")}

"""The typed values that flow through a study run.

* :class:`StudyContext`: what every analysis reads (config, registers, outcome tables, the
  population); read-only.
* :class:`AnalysisResult`: what an analysis returns: tidy estimates, tables and figure data
  to publish (each with the persons behind its cells), figure specs, the flow of its sample
  from the population, warnings, robustness checks, what the synthetic truth is compared
  with, and typed facts for its report section.
* :class:`DisclosedResult`: the same after disclosure control (what the document and
  results.json are built from).

There is no shared notice board: an analysis gets the context and the results of the
analyses before it, and returns a new value.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import polars as pl

from impact.designs.population import Flow, Population
from impact.report.disclosure import CELLS_SCHEMA, Disclosed, DisclosureRules, Publication


def _no_step(name: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class StudyContext:
    """The inputs of the analyses: the config, the registers and the outcome stage's results."""

    cfg: Any  # impact.study.config.StudyConfig
    registers_dir: Path
    con: Any  # the backend connection (Ibis)
    tables: dict[str, Any]  # Ibis tables of the registers
    persons: pl.DataFrame  # persons with a unit
    spells: pl.DataFrame  # jobseeking_spells
    services: pl.DataFrame  # service_spells
    outcomes: Any  # impact.outcomes.OutcomeTables
    panel: Any  # Ibis table of the person x month panel
    population: Population
    log: Callable[[str], None] = print
    step: Callable[[str], contextlib.AbstractContextManager] = _no_step  # ``with ctx.step("fit"):`` timed sub-steps

    @property
    def lang(self) -> str:
        return self.cfg.report.language

    @property
    def rules(self) -> DisclosureRules:
        return self.cfg.disclosure

    @property
    def last_month(self) -> int:
        return int(self.outcomes.last_month)

    @functools.cached_property
    def first_paid_month(self) -> int:
        """The month of the earliest payment in the earnings reports: the first month whose pay the
        registers can hold whole. The panel may start earlier (pay paid later is allocated back to
        its period, e.g. a June holiday bonus to the previous April), but in those months only such
        pay is there, so designs read a person's history from this month on."""
        from impact.months import month_index

        pm = int(self.panel.month.min().to_pyarrow().as_py())
        first = self.tables["earnings_reports"].payment_date.min().to_pyarrow().as_py()
        return pm if first is None else max(pm, month_index(first))

    @property
    def person_month(self) -> pl.DataFrame:
        """The person x month panel in memory (``person_id, month, employed, subsidised, earnings,
        subsidised_eur``: all pay and its subsidised part).

        Read from the backend at each use, not kept: an analysis holds it only while it builds its
        design (at a million persons it is about 2 GiB, which the next analysis and disclosure
        control need).
        """
        p = self.panel
        return p.select(p.person_id, p.month, p.employed, p.subsidised, p.subsidised_eur,
                        earnings=p.earnings_eur).to_polars()

    @property
    def truth_dir(self) -> Path | None:
        d = self.registers_dir / "truth"
        return d if d.is_dir() else None


@dataclass(frozen=True)
class FigureSpec:
    """A figure drawn from the disclosed data of one publication.

    ``draw`` takes the disclosed frame (and nothing else) and returns a matplotlib figure;
    ``table`` names the publication whose data it shows.
    """

    name: str
    caption: str
    table: str
    draw: Callable[[pd.DataFrame], Any]


@dataclass(frozen=True)
class Notice:
    """A warning for the first page: ``level`` "warning" (a failed check, a miss of the truth) or
    "borderline" (a check close to failing)."""

    text: str
    level: str = "warning"


@dataclass(frozen=True)
class TruthRequest:
    """What the synthetic truth of some estimates is: ``kind`` names the truth function of
    :mod:`impact.study.truth`; ``keys`` the treated units it averages over; ``analyses`` the
    values of the estimates' ``analysis`` column it applies to."""

    kind: str  # "matching" | "did" | "synth" | "difference" (of two analyses' truths, params["of"])
    keys: Any
    analyses: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisResult:
    """What an analysis returns.

    Attributes
    ----------
    name : the analysis (``followup``, ``matching``, ``did``, ``sector``, ``synth``, ``metrics``).
    estimates : the tidy estimates (:data:`impact.estimators.results.ESTIMATE_COLUMNS` plus
        ``analysis``, ``estimator``) as a publication: each row with the persons behind it.
    tables : further tables and figure data to publish, by name (unique in the study).
    figures : figures drawn from published data.
    flows : how the analysis's samples follow from the population (one per design it runs).
    notices : warnings raised while computing (the document adds the ones that depend on
        the disclosed numbers).
    truth : what the synthetic truth is compared with (empty: no truth for this analysis).
    facts : typed, person-free facts for the report section (design settings, months, names).
    checks : the robustness checks (their tables are among ``tables``).
    """

    name: str
    estimates: Publication | None = None
    tables: dict[str, Publication] = field(default_factory=dict)
    figures: tuple[FigureSpec, ...] = ()
    flows: tuple[Flow, ...] = ()
    notices: tuple[Notice, ...] = ()
    truth: tuple[TruthRequest, ...] = ()
    facts: Any = None
    checks: tuple[Any, ...] = ()  # impact.study.analyses.robustness.Checks


@dataclass(frozen=True)
class DisclosedResult:
    """An :class:`AnalysisResult` after disclosure control."""

    name: str
    estimates: Disclosed | None
    tables: dict[str, Disclosed]
    figures: tuple[FigureSpec, ...]
    flows: dict[str, Disclosed]
    notices: tuple[Notice, ...]
    facts: Any
    checks: tuple[Any, ...] = ()

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name].frame

    @property
    def cells(self) -> pl.DataFrame:
        """The persons behind every published cell of this analysis (memory only)."""
        parts = [d.cells for d in (*self.tables.values(), self.estimates, *self.flows.values()) if d is not None]
        return pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=CELLS_SCHEMA)

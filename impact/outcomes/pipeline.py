"""The outcome stage end to end: registers -> panel -> unit outcomes -> exclusions log.

:func:`build_outcomes` assembles the Ibis expressions on any backend's tables;
:func:`compute_outcomes` runs them (materialising the panel once in the backend) and returns
polars frames; :func:`run_outcomes` does that for a register folder on embedded DuckDB and
writes the outputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.errors import BackendError, ConfigError, RegisterValidationError
from impact.registers.schema import CONTRACTS
from impact.months import month_index
from impact.outcomes.config import OutcomeConfig
from impact.outcomes.outcomes import (
    UNIT_RULES,
    baseline_edges,
    classify_services,
    classify_spells,
    segment_baseline,
    unit_exclusions,
    unit_late,
    unit_outcomes,
    unit_window,
)
from impact.outcomes.panel import (
    REPORT_RULES,
    allocated_rows,
    data_months,
    earnings_panel_with_counts,
    last_complete_month,
    later_versions,
    months_of_range,
    rule_names,
    split_panel,
)

_log = logging.getLogger("impact.outcomes")
RULE_DESCRIPTIONS = {r: (t, d) for r, t, d in (*REPORT_RULES, *UNIT_RULES)}
SERVICE_ATTRS = ("service_id", "person_id", "service_type", "start_date", "end_date", "end_reason",
                 "provider_id", "course_id", "cost_eur")
SPELL_ATTRS = ("spell_id", "person_id", "start_date", "end_date", "status_at_start", "end_reason", "segment",
               "municipality")


@dataclass
class OutcomeTables:
    """Results of an outcome run, as polars frames."""

    person_month: pl.DataFrame | None
    service_outcomes: pl.DataFrame
    spell_outcomes: pl.DataFrame
    exclusions: pl.DataFrame
    config: OutcomeConfig
    extraction_date: dt.date
    last_month: int
    panel: Any = None  # the materialised person x month panel (an Ibis table in the backend)
    # issue #10 metrics (impact.outcomes.metrics): name -> polars table, and notes on skipped ones
    extra: dict = dataclasses.field(default_factory=dict)
    extra_notes: list = dataclasses.field(default_factory=list)
    # stage -> (wall seconds, process CPU seconds): "panel" (registers to the materialised panel
    # and report exclusion counts; its steps "panel/plan" and "panel/build"), "outcomes" (panel to the unit tables; its steps under
    # "outcomes/units", "/baseline", "/windows", "/late", "/assemble"), "person_month" (its write)
    timings: dict = dataclasses.field(default_factory=dict)
    # the person blocks the panel was computed in (1: one pass; see impact.backends.person_blocks)
    panel_blocks: int = 1
    # where the panel came from: "the prepared layout (N person blocks)" or "the registers (why not)"
    panel_source: str = ""


def _spell_persons(tables: dict[str, ir.Table]) -> ir.Table:
    s = tables["service_spells"].select("person_id")
    j = tables["jobseeking_spells"].select("person_id")
    return s.union(j).distinct()


@dataclass
class OutcomePlan:
    """The Ibis expressions of one outcome run (nothing executed).

    ``panel`` is the person x month panel; :meth:`outputs` builds the unit outcome tables on
    a panel table (the materialised panel, or ``panel`` itself for SQL compilation).
    """

    tables: dict
    cfg: OutcomeConfig
    panel_with_counts: ir.Table
    rule_names: list
    panel: ir.Table
    report_exclusions: ir.Table
    extraction_date: dt.date
    first_month: int
    last_month: int
    panel_inputs: tuple  # the panel functions' arguments: (reports, cfg, months, spell persons, extraction date)

    def panel_block(self, persons: tuple[Any, Any], later: ir.Table | None = None) -> ir.Table:
        """The rows of :attr:`panel_with_counts` of the persons with ids in ``persons`` (first, last).

        Blocks of disjoint ranges covering every id, stacked, give :attr:`panel_with_counts`
        (see :func:`impact.outcomes.panel.earnings_panel_with_counts`); ``later``: the
        materialised :func:`impact.outcomes.panel.later_versions` they share.
        """
        return earnings_panel_with_counts(*self.panel_inputs, persons=persons, later=later)

    def allocated_rows(self) -> ir.Table:
        """The report rows the panel sums, allocated to months (:func:`impact.outcomes.panel.allocated_rows`)."""
        return allocated_rows(*self.panel_inputs)

    def baseline(self, panel: ir.Table | None = None) -> ir.Table:
        """The segment baseline (cumulative segment means by month) on a panel table."""
        return segment_baseline(self.panel if panel is None else panel, self.tables["persons"], self.cfg,
                                self.first_month, self.last_month)

    def units(self) -> dict[str, ir.Table]:
        """The kept evaluation units (``service_units``, ``spell_units``), to materialise once.

        Optional: every step below reads them; materialised, they are read once from the
        registers and the backend knows their size (it then joins them the right way round).
        """
        services, spells, _, _, _ = kept_units(self.tables, self.extraction_date)
        return {"service_units": services, "spell_units": spells}

    def _units(self, units: dict[str, ir.Table] | None) -> tuple[ir.Table, ir.Table]:
        u = units or self.units()
        return u["service_units"], u["spell_units"]

    def windows(self, panel: ir.Table | None = None, units: dict[str, ir.Table] | None = None) -> dict[str, ir.Table]:
        """Per-unit window aggregates (``service_window``, ``spell_window``), to materialise once."""
        panel = self.panel if panel is None else panel
        services, spells = self._units(units)
        return {"service_window": unit_window(services, panel, self.cfg, self.last_month, SERVICE_ORIGINS),
                "spell_window": unit_window(spells, panel, self.cfg, self.last_month, SPELL_ORIGINS)}

    def late(self, windows: dict[str, ir.Table], panel: ir.Table | None = None,
             units: dict[str, ir.Table] | None = None) -> dict[str, ir.Table]:
        """Per-unit first employment beyond the window (``service_late``, ``spell_late``), to materialise once."""
        panel = self.panel if panel is None else panel
        services, spells = self._units(units)
        return {"service_late": unit_late(services, panel, windows["service_window"], self.cfg, self.last_month),
                "spell_late": unit_late(spells, panel, windows["spell_window"], self.cfg, self.last_month)}

    def edges(self, baseline: ir.Table) -> ir.Table:
        """The baseline at every window edge per segment and month (:func:`baseline_edges`), to materialise once."""
        return baseline_edges(baseline, self.cfg)

    def outputs(self, panel: ir.Table | None = None, baseline: ir.Table | None = None,
                windows: dict[str, ir.Table] | None = None,
                units: dict[str, ir.Table] | None = None, edges: ir.Table | None = None) -> dict[str, ir.Table]:
        """Unit outcome expressions on a panel table (and materialised baseline, edges, windows and units, if given)."""
        panel = self.panel if panel is None else panel
        return unit_expressions(self.tables, panel, self.cfg, self.extraction_date, self.first_month,
                                self.last_month, baseline=baseline, windows=windows, units=units, edges=edges)


def data_range(tables: dict[str, ir.Table]) -> tuple[int, int, dt.date]:
    """(first month, last month, latest payment date) the registers cover (one small query per table)."""
    first, last, latest_payment = data_months(tables["earnings_reports"])
    first = min(first, month_index(min_date(tables)))
    return first, last, latest_payment


def plan_outcomes(tables: dict[str, ir.Table], cfg: OutcomeConfig, extraction_date: dt.date,
                  first_month: int, last_month: int | None = None) -> OutcomePlan:
    """Build every expression of the outcome stage, without running anything.

    Parameters
    ----------
    extraction_date
        Data end; outcomes whose months pass the last complete month before it are null.
    first_month, last_month
        Month range the month table must cover (all report periods and unit dates); the
        segment baseline is computed from ``first_month - 1``.
    """
    lcm = last_complete_month(extraction_date)
    first = first_month - 1
    months = (first, max(last_month or lcm, lcm) + 1)
    args = (tables["earnings_reports"], cfg, months, _spell_persons(tables),
            extraction_date if cfg.extraction_date is not None else None)
    combined = earnings_panel_with_counts(*args)
    names = rule_names(args[0], cfg, args[3], args[4], months)
    panel, excl = split_panel(combined, names)
    return OutcomePlan(tables=tables, cfg=cfg, panel_with_counts=combined, rule_names=names, panel=panel,
                       report_exclusions=excl,
                       extraction_date=extraction_date, first_month=first, last_month=lcm, panel_inputs=args)


def min_date(tables: dict[str, ir.Table]) -> dt.date:
    """Earliest start date of any spell (for the month-table range)."""
    a = tables["service_spells"].start_date.min().to_pyarrow().as_py()
    b = tables["jobseeking_spells"].start_date.min().to_pyarrow().as_py()
    ds = [d for d in (a, b) if d is not None]
    if not ds:
        raise RegisterValidationError("service_spells and jobseeking_spells are both empty: no evaluation units")
    return min(ds)


SERVICE_ORIGINS = ("end",)
SPELL_ORIGINS = ("start", "end")


def kept_units(tables: dict[str, ir.Table], extraction: dt.date) -> tuple[ir.Table, ...]:
    """(services, spells, kept spells, classified services, classified spells) as unit tables."""
    sc = classify_services(tables["service_spells"], extraction)
    services = sc.filter(sc.drop_rule.isnull())
    services = services.select(*[c for c in SERVICE_ATTRS if c in services.columns]).mutate(unit_id=services.service_id)
    spc = classify_spells(tables["jobseeking_spells"], extraction)
    kept_spells = spc.filter(spc.drop_rule.isnull())
    spells = kept_spells.select(*SPELL_ATTRS).mutate(unit_id=kept_spells.spell_id)
    return services, spells, kept_spells, sc, spc


def unit_expressions(tables: dict[str, ir.Table], panel: ir.Table, cfg: OutcomeConfig, extraction: dt.date,
                     first_month: int, last_month: int, baseline: ir.Table | None = None,
                     windows: dict[str, ir.Table] | None = None,
                     units: dict[str, ir.Table] | None = None, edges: ir.Table | None = None) -> dict[str, ir.Table]:
    """Service and spell outcome expressions on a (materialised) panel table (rows unordered).

    ``units``: the kept units (:meth:`OutcomePlan.units`), materialised; ``None``: from the registers.
    ``edges``: :func:`baseline_edges` of ``baseline``, materialised; ``None``: computed inline.
    """
    persons = tables["persons"]
    windows = windows or {}
    if baseline is None:
        baseline = segment_baseline(panel, persons, cfg, first_month, last_month)
    services, spells, kept_spells, sc, spc = kept_units(tables, extraction)
    if units is not None:  # the same rows, materialised (kept spells are the spell units)
        services, spells = units["service_units"], units["spell_units"]
        kept_spells = spells
    sv = unit_outcomes(services, panel, kept_spells, baseline, persons, cfg, last_month, first_from=SERVICE_ORIGINS,
                       window=windows.get("service_window"), late=windows.get("service_late"), edges=edges)
    sp = unit_outcomes(spells, panel, kept_spells, baseline, persons, cfg, last_month, first_from=SPELL_ORIGINS,
                       window=windows.get("spell_window"), late=windows.get("spell_late"), edges=edges)
    # No ORDER BY: the client sorts the unit rows it brings back (cheaper than a backend sort).
    return {
        "service_outcomes": sv.drop("unit_id"),
        "spell_outcomes": sp.drop("unit_id"),
        "service_exclusions": unit_exclusions(sc),
        "spell_exclusions": unit_exclusions(spc),
    }


def _exclusions_frame(parts: list[pl.DataFrame], extra: list[dict]) -> pl.DataFrame:
    rows = []
    for p in parts:
        for r in p.iter_rows(named=True):
            table, desc = RULE_DESCRIPTIONS[r["rule"]]
            rows.append({"table": table, "rule": r["rule"], "rows": int(r["rows"]), "action": "excluded",
                         "description": desc})
    rows.extend(extra)
    schema = {"table": pl.String, "rule": pl.String, "rows": pl.Int64, "action": pl.String, "description": pl.String}
    return pl.DataFrame(rows, schema=schema).sort("table", "rule")


def extraction_date(cfg: OutcomeConfig, tables: Any = None, key: str = "extraction_date (outcome config)") -> dt.date:
    """The run's extraction date: the config's, checked against the delivery manifest of the
    register folder the tables were opened from (:class:`impact.outcomes.io.RegisterTables`),
    else the manifest's. Never the largest date in the data (:mod:`impact.registers.delivery`).

    Raises
    ------
    ConfigError
        Neither gives a date, or the config's is after the delivery's.
    """
    from impact.registers.delivery import choose_extraction_date

    return choose_extraction_date(cfg.extraction_date, getattr(tables, "delivery", None), key).extraction_date


def compute_outcomes(con: Any, tables: dict[str, ir.Table], cfg: OutcomeConfig | None = None,
                     person_month_path: str | Path | None = None,
                     collect_person_month: bool = True, metrics: Any = None,
                     panel_source: str = "auto") -> OutcomeTables:
    """Run the outcome stage on an Ibis backend and bring the unit tables back as polars.

    The unit tables come back sorted by ``service_id`` / ``spell_id`` (sorted here, not in the
    backend). The panel is materialised once as a temporary table in the backend (it feeds every unit
    outcome and the segment baseline). If ``person_month_path`` is given the backend writes
    it to Parquet directly (atomically); ``collect_person_month`` also returns it as polars.

    ``panel_source``: ``"auto"`` builds the panel from the register folder's prepared layout
    when there is a fresh one and the run may use it (embedded DuckDB, the folder's own
    earnings reports; :mod:`impact.outcomes.panel_blocks`, the same panel), else with the Ibis
    expressions (the reason is logged and kept in ``OutcomeTables.panel_source``);
    ``"registers"`` always uses the Ibis expressions; ``"prepared"`` requires the layout.
    """
    from impact.backends import backend_name, materialise, write_parquet
    from impact.outcomes.panel_blocks import fast_panel_layout, prepared_panel

    cfg = cfg or OutcomeConfig()
    for name in ("persons", "jobseeking_spells", "service_spells", "earnings_reports"):
        if name not in tables:
            raise RegisterValidationError(f"outcomes need the {name!r} table")
    timings: dict[str, tuple[float, float]] = {}
    clock = _Clock()
    extraction = extraction_date(cfg, tables)
    cfg = dataclasses.replace(cfg, extraction_date=extraction)  # rows paid after it are dropped and counted
    if panel_source not in ("auto", "registers", "prepared"):
        raise ConfigError(f"panel_source {panel_source!r}: expected 'auto', 'registers' or 'prepared'")
    layout, why = (None, "panel_source = 'registers'") if panel_source == "registers" else \
        fast_panel_layout(tables, cfg, backend_name(con))
    if layout is None and panel_source == "prepared":
        raise ConfigError(f"panel_source = 'prepared': {why}")
    if layout is not None:  # the reports' date range was recorded with the layout
        first, last, _ = months_of_range({c: tuple(None if d is None else dt.date.fromisoformat(d) for d in v)
                                          for c, v in layout.info["date_range"].items()})
        first = min(first, month_index(min_date(tables)))
    else:
        first, last, _ = data_range(tables)
    plan = plan_outcomes(tables, cfg, extraction, first, last)
    last_month = plan.last_month
    timings["panel/plan"] = clock.lap()
    if layout is not None:
        _log.info("outcomes: person x month panel from the %s", why)
        _, _, months, _, extraction_rule = plan.panel_inputs
        spell_persons = _spell_persons(tables).to_pyarrow().column(0).to_numpy()
        panel, rep_counts = prepared_panel(con, layout, spell_persons, months, cfg, extraction_rule, plan.rule_names)
        n_blocks, source = len(layout.blocks), f"the {why}"
    else:
        if panel_source == "auto" and why.startswith("prepared layout"):  # there is one, unusable
            _log.warning("outcomes: the panel is computed from the registers: %s", why)
        panel, rep_counts, n_blocks = _registers_panel(con, tables, plan)
        source = f"the registers ({why})"
    timings["panel/build"] = clock.lap()
    timings["panel"] = tuple(round(a + b, 3) for a, b in zip(timings["panel/plan"], timings["panel/build"]))
    step = _Clock()  # the outcome stage's steps, under "outcomes/..."
    # The kept units feed every step below: read and classify them once (with their real row
    # counts known, the backend builds its hash tables on the smaller side of each join).
    units = {k: materialise(con, e, f"impact_{k}_{uuid.uuid4().hex[:12]}") for k, e in plan.units().items()}
    timings["outcomes/units"] = step.lap()
    # The segment baseline (cells x months, small) feeds both unit tables: compute it once.
    baseline = materialise(con, plan.baseline(panel), f"impact_segment_baseline_{uuid.uuid4().hex[:12]}")
    edges = materialise(con, plan.edges(baseline), f"impact_baseline_edges_{uuid.uuid4().hex[:12]}")
    timings["outcomes/baseline"] = step.lap()
    # The window aggregates feed several pieces of each unit table: compute each once.
    windows = {k: materialise(con, e, f"impact_{k}_{uuid.uuid4().hex[:12]}")
               for k, e in plan.windows(panel, units).items()}
    timings["outcomes/windows"] = step.lap()
    windows.update({k: materialise(con, e, f"impact_{k}_{uuid.uuid4().hex[:12]}")
                    for k, e in plan.late(windows, panel, units).items()})
    timings["outcomes/late"] = step.lap()
    exprs = plan.outputs(panel, baseline, windows, units, edges)
    svc = exprs["service_outcomes"].to_polars().sort("service_id")
    spl = exprs["spell_outcomes"].to_polars().sort("spell_id")
    extra = []
    n_no_person = _units_without_person(tables)
    if n_no_person:
        extra.append({"table": "service_spells+jobseeking_spells", "rule": "unit_person_not_in_persons",
                      "rows": n_no_person, "action": "kept (no relative earnings)",
                      "description": "unit whose person is not in persons: segment baseline unknown"})
    excl = _exclusions_frame([rep_counts, exprs["service_exclusions"].to_polars(),
                              exprs["spell_exclusions"].to_polars()], extra)
    timings["outcomes/assemble"] = step.lap()
    timings["outcomes"] = clock.lap()
    pm_out = panel.select("person_id", "month", "earnings_eur", "subsidised_eur", "employed", "subsidised",
                          first_work_date=ibis.cases((panel.first_work_day.notnull(),
                                                      ibis.date("1970-01-01") + panel.first_work_day.as_interval("D")),
                                                     else_=ibis.null("date")))
    # Written in the backend's order: a global sort of every person-month costs more than any
    # reader saves (readers join on person and month).
    if person_month_path is not None:
        write_parquet(con, pm_out, person_month_path)
    pm = pm_out.to_polars() if collect_person_month else None
    if person_month_path is not None or collect_person_month:
        timings["person_month"] = clock.lap()
    res = OutcomeTables(person_month=pm, service_outcomes=svc, spell_outcomes=spl, exclusions=excl,
                        config=cfg, extraction_date=extraction, last_month=last_month, panel=panel,
                        timings=timings, panel_blocks=n_blocks, panel_source=source)
    if metrics is not None:  # issue #10 metrics: a separate step on the materialised panel
        _add_metrics(con, tables, res, metrics)
    return res


def _registers_panel(con: Any, tables: dict[str, ir.Table], plan: OutcomePlan) -> tuple[ir.Table, pl.DataFrame, int]:
    """The panel from the Ibis expressions, materialised (in person blocks where the reports
    allow, :func:`impact.backends.person_blocks`); its report exclusion counts; the blocks."""
    from impact.backends import materialise, materialise_blocks, person_blocks

    # A fresh name each run: DROP TABLE (overwrite=True, .cache()) fails on Ibis 12 + DuckDB 2.
    name = f"impact_person_month_{uuid.uuid4().hex[:12]}"
    blocks = person_blocks(con, tables["earnings_reports"])
    if len(blocks) == 1:
        combined = materialise(con, plan.panel_with_counts, name)
    else:
        # Block by block (persons in id order; see person_blocks), the versions of every report
        # reference looked up once for all blocks.
        later = materialise(con, later_versions(tables["earnings_reports"]), f"impact_later_{uuid.uuid4().hex[:12]}")
        combined = materialise_blocks(con, (plan.panel_block(b, later) for b in blocks), name)
    panel, rep = split_panel(combined, plan.rule_names)
    return panel, rep.to_polars(), len(blocks)


class _Clock:
    """Wall and process CPU seconds (all threads, the backend's included) since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        out = (round(wall - self.wall, 3), round(cpu - self.cpu, 3))
        self.wall, self.cpu = wall, cpu
        return out


def _add_metrics(con: Any, tables: dict[str, ir.Table], res: OutcomeTables, metrics: Any) -> None:
    """Fill ``res.extra`` / ``res.extra_notes`` (``metrics``: a MetricsConfig, or True for the defaults)."""
    from impact.outcomes.metrics import MetricsConfig, compute_metric_outcomes

    mcfg = metrics if isinstance(metrics, MetricsConfig) else MetricsConfig(disclosure_min=res.config.disclosure_min)
    m = compute_metric_outcomes(con, tables, res.panel, res.service_outcomes, res.last_month, res.extraction_date,
                                mcfg)
    res.extra, res.extra_notes = m.tables, m.notes


def _units_without_person(tables: dict[str, ir.Table]) -> int:
    p = tables["persons"].select(pp=tables["persons"].person_id)
    n = 0
    for name in ("service_spells", "jobseeking_spells"):
        u = tables[name]
        n += int(u.anti_join(p, u.person_id == p.pp).count().to_pyarrow().as_py())
    return n


def connect(backend: str = "duckdb", settings: dict | None = None) -> Any:
    """An Ibis connection for the outcome stage (see :func:`impact.backends.connect`)."""
    from impact.backends import connect as backend_connect

    return backend_connect(backend, settings)


def is_outcome_file(rel: str) -> bool:
    """True for a file ``impact outcomes`` writes into its output folder (path relative to it)."""
    top = rel.split("/", 1)[0]
    return (rel in ("person_month.parquet", "service_outcomes.parquet", "spell_outcomes.parquet",
                    "exclusions.json", "outcome_config.json")
            or (top == "tables" and rel.endswith(".parquet") and rel.count("/") == 1)
            or (top == "metrics" and rel.endswith((".parquet", ".json")))
            or (rel.startswith("outcomes_") and rel.endswith(".sql")))


#: Tables whose rows dated after the extraction date the outcome stage drops without a rule of
#: its own (by their month filters): with ``after_extraction = "drop"`` their counts come from
#: the validation report. Earnings and spells are counted by their own exclusion rules.
_DROPPED_BY_MONTH = ("benefit_reports", "vacancies", "job_offers", "candidate_searches", "integration_plans")


def validate_for_outcomes(source: str | Path, cfg: OutcomeConfig, after_extraction: str = "error",
                          key: str = "extraction_date (outcome config)") -> tuple[OutcomeConfig, Any]:
    """Validate a register folder exactly as ``impact run`` does, before any engine reads it.

    Returns the outcome config with the extraction date resolved from the config and the
    folder's delivery manifest (:mod:`impact.registers.delivery`), and the validation report.

    Raises
    ------
    ConfigError
        No extraction date, or one after the delivery's.
    RegisterValidationError
        The registers break the data contracts (every problem listed).
    """
    from impact.registers.delivery import resolve_extraction_date
    from impact.registers.validate import validate_folder

    delivery = resolve_extraction_date(source, cfg.extraction_date, key)
    cfg = dataclasses.replace(cfg, extraction_date=delivery.extraction_date)
    report = validate_folder(source, raise_on_error=True, extraction_date=delivery.extraction_date,
                             after_extraction=after_extraction)
    return cfg, report


def after_extraction_exclusions(report: Any) -> list[dict]:
    """Exclusion-log rows for the rows after the extraction date that validation counted
    (``after_extraction = "drop"``) in tables without an exclusion rule of their own."""
    rows: dict[str, int] = {}
    for p in report.warnings:
        if p.kind == "after_extraction" and p.table in _DROPPED_BY_MONTH:
            rows[p.table] = max(rows.get(p.table, 0), p.n_rows)
    return [{"table": t, "rule": "after_extraction", "rows": n, "action": "excluded",
             "description": "dated after the extraction date (after_extraction = 'drop')"} for t, n in rows.items()]


def run_outcomes(source: str | Path, out: str | Path, cfg: OutcomeConfig | None = None,
                 backend: str = "duckdb", con: Any = None, settings: dict | None = None,
                 metrics: Any = None, after_extraction: str = "error",
                 extraction_key: str = "extraction_date (outcome config)") -> OutcomeTables:
    """Outcome stage from a register folder, writing the outputs to ``out``.

    Writes ``person_month.parquet``, ``service_outcomes.parquet``, ``spell_outcomes.parquet``,
    ``tables/``, ``exclusions.json`` and ``outcome_config.json`` (and ``metrics/``).

    A register folder is validated first, exactly as ``impact run`` validates it
    (:func:`validate_for_outcomes`), so no engine ever sees data that break the contracts. The
    whole output is built in a staging folder beside ``out`` and published in one atomic step
    (:mod:`impact.publish`): ``out`` is at every instant the old result or the new one, and an
    ``out`` holding files ``impact outcomes`` did not write is refused before any work.

    Parameters
    ----------
    after_extraction : ``"error"`` or ``"drop"`` (rows dated after the extraction date).
    extraction_key : how the extraction-date setting is named in messages.
    """
    from impact.backends import backend_name, open_register_tables
    from impact.outcomes.io import write_json_atomic, write_parquet_atomic
    from impact.publish import check_replaceable, discard, publish, staging_dir

    cfg = cfg or OutcomeConfig()
    final = check_replaceable(out, "outcomes", is_outcome_file)
    extra_exclusions: list[dict] = []
    if source is not None and backend != "snowflake":
        cfg, report = validate_for_outcomes(source, cfg, after_extraction, extraction_key)
        extra_exclusions = after_extraction_exclusions(report)
    con = con or connect(backend, settings)
    stage = staging_dir(final)
    try:
        tables = open_register_tables(con, source, settings)
        # Person-level rows never leave a warehouse: the panel stays there (Snowflake).
        pm_path = None if backend_name(con) == "snowflake" else stage / "person_month.parquet"
        res = compute_outcomes(con, tables, cfg, person_month_path=pm_path, collect_person_month=False,
                               metrics=metrics)
        if extra_exclusions:
            res.exclusions = pl.concat([res.exclusions, pl.DataFrame(extra_exclusions, schema=res.exclusions.schema)])
        write_parquet_atomic(res.service_outcomes, stage / "service_outcomes.parquet")
        write_parquet_atomic(res.spell_outcomes, stage / "spell_outcomes.parquet")
        write_summary_tables(res, unit_geography(tables), stage / "tables")
        write_json_atomic({"extraction_date": res.extraction_date.isoformat(), "last_complete_month": res.last_month,
                           "exclusions": res.exclusions.to_dicts()}, stage / "exclusions.json")
        write_json_atomic(res.config.to_dict(), stage / "outcome_config.json")
        if metrics is not None:  # issue #10 metrics: aggregates in metrics/, unit tables in metrics/units/
            for name, df in res.extra.items():
                sub = "units/" if name.endswith("_units") else ""
                write_parquet_atomic(df, stage / "metrics" / f"{sub}{name}.parquet")
            write_json_atomic({"notes": res.extra_notes}, stage / "metrics" / "notes.json")
        publish(stage, final, "outcomes", is_outcome_file)
    except BaseException:
        discard(stage)
        raise
    return res


_DIALECTS = {"duckdb": "duckdb", "pyspark": "spark", "snowflake": "snowflake"}


def sql_script(source: str | Path | None, out: str | Path, cfg: OutcomeConfig, backend: str = "snowflake") -> Path:
    """Compile the whole outcome stage to one SQL script for ``backend``'s dialect (nothing run).

    The register tables are named as the registers (``earnings_reports``, ...). The month
    range comes from ``cfg.data_start`` and ``cfg.extraction_date`` when set, else from the
    register folder ``source`` (read locally with DuckDB). Writes ``OUT/outcomes_{backend}.sql``.
    """
    from impact.outcomes.io import open_registers, write_text_atomic

    if backend not in _DIALECTS:
        raise BackendError(f"--sql-only: backend {backend!r} unknown; expected one of {list(_DIALECTS)}")
    try:
        from impact.backends import compile_script, unbound_register_tables
    except ImportError as e:  # pragma: no cover - the backends module ships with the package
        raise BackendError(f"--sql-only needs impact.backends: {e}") from None
    if cfg.data_start is not None and cfg.extraction_date is not None:
        first, last, extraction = month_index(cfg.data_start), month_index(cfg.extraction_date), cfg.extraction_date
    elif source is not None:
        local = open_registers(ibis.duckdb.connect(), source)
        extraction = extraction_date(cfg, local)
        first, last, _ = data_range(local)
        first = month_index(cfg.data_start) if cfg.data_start is not None else first
    else:
        raise ConfigError("--sql-only without a register folder needs data_start and extraction_date in the "
                          "outcome config")
    tables = unbound_register_tables([n for n in CONTRACTS if CONTRACTS[n].required])
    plan = plan_outcomes(tables, cfg, extraction, first, last)
    units = plan.units()
    baseline = plan.baseline(plan.panel)
    edges = plan.edges(baseline)
    windows = plan.windows(plan.panel, units)
    windows.update(plan.late(windows, plan.panel, units))
    outs = plan.outputs(plan.panel, baseline, windows, units, edges)
    script = compile_script(
        {"service_outcomes": outs["service_outcomes"], "spell_outcomes": outs["spell_outcomes"],
         "report_exclusions": plan.report_exclusions, "service_exclusions": outs["service_exclusions"],
         "spell_exclusions": outs["spell_exclusions"]},
        dialect=_DIALECTS[backend], materialise={"person_month_with_counts": plan.panel_with_counts, "person_month": plan.panel,
                     **units, "segment_baseline": baseline, "baseline_edges": edges, **windows},
        header=f"impact outcomes: extraction date {extraction.isoformat()}, config {cfg.to_dict()}")
    return write_text_atomic(script, Path(out) / f"outcomes_{backend}.sql")


def unit_geography(tables: dict[str, ir.Table]) -> dict[str, pl.DataFrame]:
    """Employment area and municipality of each unit's person, joined in the backend.

    Returns ``{"service_outcomes": (service_id, employment_area, municipality),
    "spell_outcomes": (spell_id, employment_area, municipality)}``: evaluation-unit rows only,
    so the persons table never leaves the backend.
    """
    p = tables["persons"].select(g_person=tables["persons"].person_id, employment_area=tables["persons"].employment_area,
                                 municipality=tables["persons"].municipality)
    out = {}
    for name, table, key in (("service_outcomes", "service_spells", "service_id"),
                             ("spell_outcomes", "jobseeking_spells", "spell_id")):
        u = tables[table].select(key, "person_id")
        j = u.join(p, u.person_id == p.g_person)
        out[name] = j.select(key, "employment_area", "municipality").to_polars()
    return out


def write_summary_tables(res: OutcomeTables, geography: dict[str, pl.DataFrame], folder: str | Path) -> list[Path]:
    """Group tables and Kaplan-Meier curves (aggregates only, no person ids) as Parquet.

    Services by each of ``cfg.group_tables``; job-seeking spells by employment area,
    municipality and segment; Kaplan-Meier of time to employment after services by service
    type and after the start of job-seeking spells overall. Area and municipality are the
    person's (``geography``: :func:`unit_geography`).
    """
    from impact.outcomes.io import write_parquet_atomic
    from impact.outcomes.tables import group_tables, kaplan_meier

    folder = Path(folder)
    cfg = res.config
    written = []
    services = res.service_outcomes.join(geography["service_outcomes"], on="service_id", how="left")
    for dim, t in group_tables(services, cfg).items():
        written.append(write_parquet_atomic(t, folder / f"services_by_{dim}.parquet"))
    spell_cfg = dataclasses.replace(cfg, group_tables=("employment_area", "municipality", "segment"))
    spells = res.spell_outcomes.drop("municipality")  # the person's municipality, as for services
    spells = spells.join(geography["spell_outcomes"], on="spell_id", how="left")
    for dim, t in group_tables(spells, spell_cfg).items():
        written.append(write_parquet_atomic(t, folder / f"spells_by_{dim}.parquet"))
    if res.service_outcomes.height:
        curves, med = kaplan_meier(res.service_outcomes, by="service_type")
        written += [write_parquet_atomic(curves, folder / "km_services_by_service_type.parquet"),
                    write_parquet_atomic(med, folder / "km_median_services_by_service_type.parquet")]
    if res.spell_outcomes.height:
        curves, med = kaplan_meier(res.spell_outcomes, duration="months_to_employment_from_start",
                                   censored="censored_from_start")
        written += [write_parquet_atomic(curves, folder / "km_spells_from_start.parquet"),
                    write_parquet_atomic(med, folder / "km_median_spells_from_start.parquet")]
    return written

"""``impact import KIND SOURCE... --out REGISTER_DIR``: one import run, end to end.

:func:`import_registers` loads the mapping, stages the sources, lets the kind's module build
its contract tables as Ibis expressions, extends the key table, writes the tables, derives the
subsidised flag when both the earnings reports and the service spells are in the folder, and
writes the delivery manifest ``delivery.toml`` (:func:`impact.registers.delivery.write_delivery`)
and ``import_log.json``; all of it into a staging folder published in one step
(:mod:`impact.publish`) only when everything has succeeded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis

from impact.errors import ConfigError
from impact.registers.importers.keys import KEY_FILE, KeyTable
from impact.registers.importers.log import ImportLog, ImportRefused
from impact.registers.importers.mapping import DEFAULT_MAPPINGS, KINDS, Mapping, load_mapping
from impact.registers.importers.output import Target, append_log, manifest_source, merge_delivery, replace_table
from impact.registers.importers.subsidy import EMPLOYERS_TABLE, RULE, derive_subsidised
from impact.registers.importers.tables import Produced

#: Sort order of the written tables (the contract key first, so validation proves it unique cheaply).
ORDER = {"earnings_reports": ["report_id", "income_type"], "persons": ["person_id"],
         "jobseeking_spells": ["spell_id"], "service_spells": ["service_id"],
         "benefit_reports": ["person_id", "payment_date", "benefit_type"], "integration_plans": ["plan_id"],
         "areas": ["municipality"]}


@dataclass
class ImportOptions:
    """Options of an import (the CLI flags of ``impact import``).

    Attributes
    ----------
    mapping
        A shipped mapping name or a TOML path (default per kind, :data:`DEFAULT_MAPPINGS`).
    strict
        A row that cannot be mapped (unknown code, missing required value, bad id) is an error;
        ``False`` (``--lenient``): counted in the log and dropped.
    schema_check
        Validate XML files against the public XSD (``--no-schema-check`` skips it).
    fmt, encoding
        File format (default: from the extension) and text encoding of SAS/Stata/CSV files.
    extraction_date
        The delivery's extraction date when the files do not carry one (FIONA's ``latauspvm``,
        an XML distribution's query time span).
    areas
        CSV of ``municipality,employment_area`` (job-seeker persons' employment area).
    namespaces
        Override the mapping's identifier namespaces (e.g. ``{"person": "hetu"}`` when the
        job-seeker register carries the same ids as the Incomes Register XML).
    con
        An Ibis connection whose tables are the sources (warehouse path); ``None``: embedded DuckDB
        reading the source files.
    tables
        Warehouse path: role -> table name of the sources.
    duckdb_memory
        Memory limit of the embedded DuckDB (e.g. ``"8GB"``; default :data:`DEFAULT_DUCKDB_MEMORY`);
        beyond it DuckDB works from files in the staging folder.
    """

    mapping: str | Path | None = None
    strict: bool = True
    schema_check: bool = True
    fmt: str | None = None
    encoding: str | None = None
    extraction_date: dt.date | None = None
    areas: str | Path | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    con: Any = None
    tables: dict[str, str] | None = None
    duckdb_memory: str | None = None


@dataclass
class Context:
    """What a kind's module gets: connection, mapping, log, key table, sources and options."""

    kind: str
    con: Any
    mapping: Mapping
    log: ImportLog
    keys: KeyTable
    target: Target
    staging: Path
    sources: list[Path]
    options: ImportOptions

    @property
    def files(self) -> list[str]:
        return [str(s) for s in self.sources]


@dataclass
class ImportResult:
    """What an import wrote: rows per table, the log, the folder summary (``import_log.json``'s
    ``folder``) and whether ``delivery.toml`` holds an extraction date."""

    out: Path
    rows: dict[str, int]
    log: ImportLog
    summary: dict[str, Any]
    manifest: bool


def _module(kind: str) -> Callable[[Context], Produced]:
    if kind == "ir-xml":
        from impact.registers.importers.ir_xml import run_ir_xml

        return run_ir_xml
    if kind == "fiona-incomes":
        from impact.registers.importers.fiona_incomes import run_fiona_incomes

        return run_fiona_incomes
    from impact.registers.importers.fiona_jobseekers import run_fiona_jobseekers

    return run_fiona_jobseekers


def import_registers(kind: str, sources: Sequence[str | Path], out: str | Path, **options: Any) -> ImportResult:
    """Import delivered register data of one kind into a register folder.

    Parameters
    ----------
    kind
        ``"ir-xml"`` (Incomes Register XML), ``"fiona-incomes"`` (Statistics Finland's
        TAX_INCOMES / TAX_SUMINCOMES / TAX_BENEFIT extracts) or ``"fiona-jobseekers"`` (the
        job-seeker register modules and FOLK spell files).
    sources
        Files (or folders of Parquet parts). ``ROLE=PATH`` names a file's role explicitly;
        otherwise the mapping's file-name patterns decide. On the warehouse path (``con``
        given) the sources are not read: ``tables`` names the warehouse tables.
    out
        The register folder written (its other tables are kept).
    **options
        See :class:`ImportOptions`.

    Returns
    -------
    ImportResult
        Rows written per table, the log and the folder summary.

    Raises
    ------
    ImportRefused
        A source that cannot be imported (names file, element/line or row/column, what was expected).
    ConfigError
        An unknown kind, mapping or option.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown import kind {kind!r}; expected one of {KINDS}")
    opts = ImportOptions(**options)
    mapping = load_mapping(opts.mapping or DEFAULT_MAPPINGS[kind], kind)
    warehouse = opts.con is not None
    paths = [Path(str(s)) for s in sources]
    if not warehouse:
        if not paths:
            raise ImportRefused(f"import {kind}: no source files given")
        for p in paths:
            if not Path(str(p).split("=", 1)[-1]).exists():
                raise ImportRefused(f"{p}: file not found")
    target = Target(out, None, in_warehouse=warehouse)
    log = ImportLog(kind, [str(p) for p in paths] or [f"{r}={t}" for r, t in (opts.tables or {}).items()],
                    strict=opts.strict)
    try:
        con = target.con = opts.con if warehouse else _local_connection(target.work, opts.duckdb_memory)
        keys = KeyTable.load(con, target.out) if not target.in_warehouse else _warehouse_keys(con)
        ctx = Context(kind, con, mapping, log, keys, target, target.work / "_staging", paths, opts)
        produced = _module(kind)(ctx)
        rows = {}
        for name, expr in produced.tables.items():  # earnings last: their subsidised flag needs the spells
            if name != "earnings_reports":
                rows[name] = target.write(name, expr, ORDER.get(name))
                log.written(name, rows[name])
        entry = dict(produced.entry)
        entry.update(kind=kind, mapping=mapping.name, mapping_vintage=mapping.get("vintage"), strict=opts.strict,
                     imported=dt.datetime.now().isoformat(timespec="seconds"))
        if opts.extraction_date is not None:
            entry["extraction_date"] = opts.extraction_date.isoformat()
            entry["extraction_date_from"] = "option --extraction-date"
        previous = target.read_log()
        summary = merge_delivery(previous["folder"], kind, entry, list(produced.tables))
        _earnings(target, summary, produced, log, rows)
        if target.in_warehouse:
            replace_table(con, "IMPACT_KEYS" if getattr(con, "name", "") == "snowflake" else "impact_keys",
                          keys.table)
        else:
            keys.write(target.private_path(KEY_FILE))
        date = summary.get("extraction_date")
        manifest = target.write_manifest(dt.date.fromisoformat(date) if date else None, manifest_source(summary))
        if not manifest:
            log.note("no extraction date: neither the files nor --extraction-date give one, so delivery.toml was "
                     "not written; runs on this folder need data.extraction_date or a delivery.toml")
        if not warehouse:
            con.disconnect()
        # its own DuckDB, after the import's has let go of its memory
        _prepare_reports(target, log, opts.duckdb_memory or DEFAULT_DUCKDB_MEMORY)
        target.write_log({"folder": summary, "imports": append_log(previous["imports"], log.to_dict())})
        target.commit()
    except BaseException:
        target.abort()
        raise
    return ImportResult(out=target.out, rows=rows, log=log, summary=summary, manifest=manifest)


def _prepare_reports(target: Any, log: ImportLog, memory_limit: str) -> None:
    """The earnings reports' prepared layout (:mod:`impact.registers.prepared`), unless it is fresh already."""
    from impact.registers.prepared import LAYOUT_DIR, layout_status, prepare_reports, report_files

    if target.in_warehouse or not report_files(target.stage) or layout_status(target.stage)[0] is not None:
        return
    info = prepare_reports(target.stage, memory_limit=memory_limit)
    log.note(f"earnings reports prepared for the outcome stage: {LAYOUT_DIR}/ ({len(info['blocks'])} person blocks, "
             f"{info['rows']:,} rows after {info['counts']['superseded_version']:,} superseded and "
             f"{info['counts']['cancelled_report']:,} cancelled rows)")


#: Memory limit of the import's embedded DuckDB unless ``duckdb_memory`` says otherwise; beyond
#: it DuckDB spills to the staging folder.
DEFAULT_DUCKDB_MEMORY = "4GB"


def _local_connection(stage: Path, memory: str | None) -> Any:
    """An embedded DuckDB whose temporary tables spill to the import's staging folder beyond the limit."""
    con = ibis.duckdb.connect()
    con.raw_sql("SET enable_progress_bar = false")
    con.raw_sql(f"SET temp_directory = '{stage / '_duckdb_tmp'}'")
    con.raw_sql(f"SET memory_limit = '{memory or DEFAULT_DUCKDB_MEMORY}'")
    return con


def _warehouse_keys(con: Any) -> KeyTable:
    name = "IMPACT_KEYS" if getattr(con, "name", "") == "snowflake" else "impact_keys"
    try:
        return KeyTable(con, con.table(name))
    except Exception:  # noqa: BLE001 - no key table yet
        return KeyTable(con)


def _earnings(target: Target, summary: dict, produced: Produced, log: ImportLog, rows: dict[str, int]) -> None:
    """Write the earnings reports (new ones, or the folder's when new spells came) with ``subsidised``
    derived from the pay-subsidy spells whenever the folder holds service spells."""
    new = produced.tables.get("earnings_reports")
    earnings = new if new is not None else target.table("earnings_reports")
    if earnings is None:
        return
    services = target.table("service_spells")
    if services is None:
        summary["subsidised_derived"] = False
        summary["subsidised_rule"] = ("subsidised = the report's IncomeEarnerType 1 only: no service_spells in the "
                                       "folder yet; import the job-seeker register into the same folder to derive it "
                                       "from pay-subsidy spells")
        log.note(summary["subsidised_rule"])
        if new is not None:
            rows["earnings_reports"] = target.write("earnings_reports", new, ORDER["earnings_reports"])
            log.written("earnings_reports", rows["earnings_reports"])
        return
    derived, counts = derive_subsidised(earnings, services, target.table(EMPLOYERS_TABLE))
    n = target.write("earnings_reports", derived, ORDER["earnings_reports"])
    if new is not None:
        rows["earnings_reports"] = n
        log.written("earnings_reports", n)
    else:
        log.note(f"earnings_reports rewritten ({n:,} rows): subsidised re-derived from the new pay-subsidy spells")
    c = counts.to_pyarrow().to_pylist()[0]
    summary["subsidised_derived"] = True
    summary["subsidised_rule"] = RULE
    summary["subsidised_rows"] = {k: int(c[k] or 0) for k in ("rows", "reported", "derived", "both")}
    log.count("subsidised_from_spells", int(c["derived"] or 0),
              "earnings rows flagged subsidised because a pay-subsidy spell of the same person (and employer) "
              "covers their pay period")


__all__ = ["DEFAULT_MAPPINGS", "KINDS", "Context", "ImportOptions", "ImportResult", "Produced", "import_registers"]

"""The stages of a run before its analyses: registers, validation, outcomes (cached), population."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from impact.errors import ImpactError


@dataclass(frozen=True)
class RunInfo:
    """Facts of the run's data for the report and the manifest (no person-level data)."""

    registers_dir: Path
    generated: bool
    synthetic: bool  # the registers are the config's synthetic scenario (not a folder given on the command line)
    register_rows: dict[str, int]
    input_hashes: dict[str, str]
    validation_warnings: tuple[str, ...] = ()
    extraction_date: dt.date | None = None
    last_month: int = 0
    outcome_config: Any = None
    exclusions: Any = None  # polars frame of the outcome stage's rules (table, description, rows, action)
    backend: str = "duckdb"
    warnings: tuple[str, ...] = ()  # for the report's first page (e.g. an outcome cache that could not be used)
    extra: dict[str, Any] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)  # see delivery_facts


def delivery_facts(folder: Path) -> dict[str, Any]:
    """Where the registers came from, for the report's data section.

    ``source`` is ``delivery.toml``'s free text when the deliverer wrote it (not the generator's or
    an importer's, which the catalogue's sentences say in the report's language); ``source_kind`` and ``reports`` say which import
    wrote the earnings reports and whether they hold every report version or only the valid,
    latest ones (FIONA); ``subsidised_derived`` whether the subsidised flag was derived from
    pay-subsidy spells (the Incomes Register has none). Keys are absent where unknown.
    """
    from impact.registers.delivery import read_delivery
    from impact.registers.importers.output import read_import_log

    d = read_delivery(folder)
    # the deliverer's own words; the generator's and the importers' texts are said in the report's language below
    own = d is not None and d.source and not d.source.startswith(("impact simulate", "impact import"))
    facts: dict[str, Any] = {"source": d.source} if own else {}
    try:
        summary = read_import_log(folder)["folder"]
    except (ValueError, OSError) as e:  # JSONDecodeError is a ValueError
        raise ImpactError(f"{Path(folder) / 'import_log.json'}: cannot be read as the import log ({e}); "
                          "restore it from the import or remove it") from None
    for k in ("source_kind", "reports", "subsidised_derived"):
        if summary.get(k) is not None:
            facts[k] = summary[k]
    return facts


def registers(cfg: Any, data_dir: str | Path | None, synthetic_root: Path, log: Callable[[str], None]) -> tuple[Path, bool]:
    from impact.study.data import resolve_registers

    return resolve_registers(cfg, data_dir, synthetic_root, log=log)


def validate(folder: Path, data: Any) -> tuple[dict[str, int], tuple[str, ...], dict[str, str]]:
    """Validate the register folder (raises on an error); its table sizes, warnings and file hashes.

    The extraction date comes from the delivery (``delivery.toml``) or ``data.extraction_date``
    (not later than the delivery's), never from the data; rows after it are an error or, with
    ``data.after_extraction = "drop"``, dropped and counted.
    """
    from impact.registers.delivery import resolve_extraction_date
    from impact.registers.validate import validate_folder
    from impact.study.data import file_hashes

    extraction = resolve_extraction_date(folder, data.extraction_date).extraction_date
    rep = validate_folder(folder, raise_on_error=True, extraction_date=extraction,
                          after_extraction=data.after_extraction)
    rows = {k: int(v.n_rows) for k, v in rep.tables.items() if v.n_rows is not None}
    return rows, tuple(str(p) for p in rep.warnings), file_hashes(folder)


def outcome_cache_key(input_hashes: dict[str, str], ocfg: Any) -> str:
    """Key of the outcome cache: the input files' hashes, the outcome config and the package version."""
    from importlib.metadata import version

    text = json.dumps({"inputs": input_hashes, "config": ocfg.to_dict(), "impact": version("impact")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


#: DuckDB's memory limit once the outcome stage is done, unless ``[data.duckdb] memory_limit`` is
#: set: the analyses work in polars and numpy, and DuckDB's buffers (the person x month panel
#: above all: about 3.4 GiB at 1 M persons) would otherwise stay resident beside them. Tables beyond the
#: limit move to DuckDB's temporary directory; query results are unchanged.
ANALYSIS_MEMORY_LIMIT = "1GB"


def connect_backend(backend: str, settings: dict | None) -> Any:
    """The outcome stage's connection; inside Jupyter DuckDB refuses to switch its progress bar off
    without ipywidgets, so fall back to a plain connection there. DuckDB spills to a directory of
    its own under the system's temporary directory (removed when the connection closes) unless
    ``temp_directory`` is set."""
    import os
    import tempfile

    import duckdb

    from impact.backends import connect

    if backend == "duckdb" and not (settings or {}).get("temp_directory"):
        settings = {**(settings or {}), "temp_directory": os.path.join(tempfile.gettempdir(),
                                                                       f"impact-duckdb-{os.getpid()}")}
    try:
        return connect(backend, settings)
    except duckdb.InvalidInputException:
        import ibis

        return ibis.duckdb.connect()


def release_backend_memory(con: Any, backend: str, settings: dict | None) -> None:
    """After the outcome stage: DuckDB's memory limit down to :data:`ANALYSIS_MEMORY_LIMIT` (its
    buffers beyond it are written to its temporary directory), unless the config sets one."""
    if backend != "duckdb" or (settings or {}).get("memory_limit") is not None:
        return
    con.raw_sql(f"SET memory_limit = '{ANALYSIS_MEMORY_LIMIT}'")


def outcomes(con: Any, tables: dict, ocfg: Any, cache: Path | None,
             registers: Path | None = None) -> tuple[Any, Any, bool, str | None]:
    """Earnings panel and unit outcomes, reused from the cache when inputs and definitions are unchanged.

    The cache (``reports/.cache/outcomes-KEY/``, :mod:`impact.outcomes.cache`) holds exactly what
    the outcome stage returned, keyed by the SHA-256 of every input file and of the outcome
    definitions, so a cache hit gives the same tables as recomputing them. The cache is optional:
    one that cannot be read or written gives a warning, never a failed run. Returns (outcome
    tables, the panel as an Ibis table, hit, warning or None).
    """
    from impact.outcomes import compute_outcomes
    from impact.outcomes.cache import read_outcome_cache, write_outcome_cache

    warning = None
    if cache is not None:
        res, panel, warning = read_outcome_cache(cache, con, ocfg)
        if res is not None:
            return res, panel, True, warning
    res = compute_outcomes(con, tables, ocfg, collect_person_month=False)
    panel = _panel_table(con, res)
    if cache is not None:
        warning = write_outcome_cache(cache, con, panel, res, registers) or warning
    return res, panel, False, warning


def _panel_table(con: Any, res: Any) -> Any:
    """The materialised person x month panel of the outcome stage, as an Ibis table."""
    panel = getattr(res, "panel", None)
    if panel is not None and not isinstance(panel, (str, pl.DataFrame)):
        return panel
    name = panel if isinstance(panel, str) else None
    if name is None:  # the outcome stage keeps it as a temporary table named impact_person_month*
        rows = con.con.execute("select table_name from duckdb_tables() where table_name like 'impact_person_month%' "
                               "order by table_name").fetchall()
        if not rows:
            raise ImpactError("the outcome stage did not leave its person x month panel in the backend")
        name = rows[-1][0]
    return con.table(name)


def population(cfg: Any, tables: dict, outcome_tables: Any) -> tuple[Any, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The study population, and the persons (with a unit), job-seeking spells and services in memory."""
    from impact.designs.population import build_population

    with_units = tables["service_spells"].select("person_id").union(tables["jobseeking_spells"].select("person_id"))
    persons = tables["persons"].semi_join(with_units.distinct(), "person_id").to_polars()
    spells = tables["jobseeking_spells"].to_polars()
    services = tables["service_spells"].to_polars()
    if cfg.unit.kind == "service_spell":
        units, reg = outcome_tables.service_outcomes, services
    else:
        units, reg = outcome_tables.spell_outcomes, spells
    pop = build_population(units, cfg.unit, cfg.population, persons, spells, services,
                           registered=reg.select("person_id", "service_id" if cfg.unit.kind == "service_spell"
                                                 else "spell_id"))
    return pop, persons, spells, services


def disconnect(con: Any) -> None:
    """Close the backend connection (its in-memory panel goes with it); a failure to close a finished
    connection must not hide the run's own error."""
    try:
        con.disconnect()
    except Exception:  # noqa: BLE001
        pass


def give_back_freed_memory() -> None:
    """Collect garbage and return the C heap's free pages to the system (glibc ``malloc_trim``; a
    no-op elsewhere): an analysis's working tables are freed but otherwise kept by the allocator."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass

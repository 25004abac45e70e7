"""The stages of a run before its analyses: registers, validation, outcomes (cached), population."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
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
    extra: dict[str, Any] = field(default_factory=dict)


def registers(cfg: Any, data_dir: str | Path | None, synthetic_root: Path, log: Callable[[str], None]) -> tuple[Path, bool]:
    from impact.study.data import resolve_registers

    return resolve_registers(cfg, data_dir, synthetic_root, log=log)


def validate(folder: Path) -> tuple[dict[str, int], tuple[str, ...], dict[str, str]]:
    """Validate the register folder (raises on an error); its table sizes, warnings and file hashes."""
    from impact.registers.validate import validate_folder
    from impact.study.data import file_hashes

    rep = validate_folder(folder, raise_on_error=True)
    rows = {k: int(v.n_rows) for k, v in rep.tables.items() if v.n_rows is not None}
    return rows, tuple(str(p) for p in rep.warnings), file_hashes(folder)


def outcome_cache_key(input_hashes: dict[str, str], ocfg: Any) -> str:
    """Key of the outcome cache: the input files' hashes, the outcome config and the package version."""
    from importlib.metadata import version

    text = json.dumps({"inputs": input_hashes, "config": ocfg.to_dict(), "impact": version("impact")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def connect_backend(backend: str, settings: dict | None) -> Any:
    """The outcome stage's connection; inside Jupyter DuckDB refuses to switch its progress bar off
    without ipywidgets, so fall back to a plain connection there."""
    import duckdb

    from impact.backends import connect

    try:
        return connect(backend, settings)
    except duckdb.InvalidInputException:
        import ibis

        return ibis.duckdb.connect()


def outcomes(con: Any, tables: dict, ocfg: Any, cache: Path | None) -> tuple[Any, Any, bool]:
    """Earnings panel and unit outcomes, reused from the cache when inputs and definitions are unchanged.

    The cache (``reports/.cache/outcomes-KEY/``) holds exactly what the outcome stage returned,
    keyed by the SHA-256 of every input file and of the outcome definitions, so a cache hit gives
    the same tables as recomputing them. Returns (outcome tables, the panel as an Ibis table, hit).
    """
    from impact.outcomes import compute_outcomes
    from impact.outcomes.pipeline import OutcomeTables

    if cache is not None and (cache / "meta.json").exists():
        meta = json.loads((cache / "meta.json").read_text())
        res = OutcomeTables(
            person_month=None, service_outcomes=pl.read_parquet(cache / "service_outcomes.parquet"),
            spell_outcomes=pl.read_parquet(cache / "spell_outcomes.parquet"),
            exclusions=pl.read_parquet(cache / "exclusions.parquet"), config=ocfg,
            extraction_date=dt.date.fromisoformat(meta["extraction_date"]), last_month=int(meta["last_month"]))
        return res, con.read_parquet(str(cache / "person_month.parquet"), table_name="study_person_month"), True
    res = compute_outcomes(con, tables, ocfg, collect_person_month=False)
    panel = _panel_table(con, res)
    if cache is not None:
        _write_cache(con, res, panel, cache)
    return res, panel, False


def _write_cache(con: Any, res: Any, panel: Any, cache: Path) -> None:
    from impact.outcomes.io import write_expr_parquet_atomic

    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache.name}.tmp-", dir=cache.parent))
    try:
        write_expr_parquet_atomic(con, panel.select("person_id", "month", "earnings_eur", "subsidised_eur", "employed",
                                                    "subsidised"), tmp / "person_month.parquet")
        res.service_outcomes.write_parquet(tmp / "service_outcomes.parquet")
        res.spell_outcomes.write_parquet(tmp / "spell_outcomes.parquet")
        res.exclusions.write_parquet(tmp / "exclusions.parquet")
        (tmp / "meta.json").write_text(json.dumps({"extraction_date": res.extraction_date.isoformat(),
                                                   "last_month": res.last_month}))
        try:
            os.replace(tmp, cache)
        except OSError:  # another run filled the cache first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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

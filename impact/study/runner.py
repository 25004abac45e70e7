"""``impact run CONFIG``: run a study end to end and write ``reports/NAME/``.

Stages: config -> registers (generated if synthetic) -> validation -> outcomes ->
population -> follow-up tables -> designs and estimators -> disclosure control -> figures ->
report (HTML, PDF) -> results.json and manifest.json.

Writing is atomic (:mod:`impact.publish`): everything is built in a hidden staging folder
``reports/.NAME.staging-*`` and published in one step only when the whole run succeeded; at
every instant ``reports/NAME`` is the whole old report or the whole new one, and a failed or
killed run leaves the previous report untouched (its leftovers are removed by the next run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import ImpactError
from impact.publish import check_replaceable, discard, publish, staging_dir
from impact.study.config import StudyConfig, load_config


# ---------------------------------------------------------------------------------------
# Progress display
# ---------------------------------------------------------------------------------------


class Progress:
    """Stage-by-stage progress lines on stderr: elapsed time, stage, rows, stage time."""

    def __init__(self, stream=None, quiet: bool = False):
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.timings: dict[str, float] = {}

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict]:
        info: dict[str, Any] = {}
        t = time.perf_counter()
        self.log(f"{name} ...")
        yield info
        dt_ = time.perf_counter() - t
        self.timings[name] = self.timings.get(name, 0.0) + dt_
        rows = f" ({info['rows']})" if "rows" in info else ""
        self.log(f"{name} done in {dt_:.1f}s{rows}")


# ---------------------------------------------------------------------------------------
# The run context shared by the stages
# ---------------------------------------------------------------------------------------


@dataclass
class StudyRun:
    """Everything a run has computed so far (the analyses add to it)."""

    cfg: StudyConfig
    out: Path  # the temporary report folder
    progress: Progress
    registers_dir: Path | None = None
    generated: bool = False
    con: Any = None
    tables: dict[str, Any] = field(default_factory=dict)  # Ibis tables of the registers
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)  # small register tables in memory
    register_rows: dict[str, int] = field(default_factory=dict)
    input_hashes: dict[str, str] = field(default_factory=dict)
    cache_dir: Path | None = None
    backend: str | None = None  # overrides the config's data.backend (impact run --backend)
    validation_warnings: list[str] = field(default_factory=list)
    outcomes: Any = None  # impact.outcomes.OutcomeTables
    panel: Any = None  # Ibis table of the person x month panel
    population: Any = None  # impact.study.population.Population
    estimates: list[pd.DataFrame] = field(default_factory=list)  # tidy estimates for results.json
    published: dict[str, pd.DataFrame] = field(default_factory=dict)  # disclosure-controlled tables
    figures: list[Any] = field(default_factory=list)
    sections: list[Any] = field(default_factory=list)
    appendix: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    headline: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def figures_dir(self) -> Path:
        return self.out / "figures"

    @property
    def tables_dir(self) -> Path:
        return self.out / "tables"

    @property
    def lang(self) -> str:
        return self.cfg.report.language

    def add_estimates(self, df: pd.DataFrame, analysis: str, estimator: str) -> None:
        d = df.copy()
        d.insert(0, "estimator", estimator)
        d.insert(0, "analysis", analysis)
        self.estimates.append(d)

    def publish(self, name: str, df: pd.DataFrame) -> None:
        """Record a table that passed disclosure control; written to tables/NAME.csv."""
        from impact.report.disclosure import check_no_identifiers

        check_no_identifiers(df, name)
        self.published[name] = df


# ---------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------


def stage_data(run: StudyRun, data_dir: str | Path | None, synthetic_root: Path) -> None:
    from impact.study.data import resolve_registers

    with run.progress.stage("registers") as info:
        run.registers_dir, run.generated = resolve_registers(run.cfg, data_dir, synthetic_root, log=run.progress.log)
        info["rows"] = f"{run.registers_dir}{' (generated)' if run.generated else ' (cached)' if run.cfg.data.synthetic else ''}"


def stage_validate(run: StudyRun) -> None:
    from impact.registers.validate import validate_folder

    from impact.registers.delivery import resolve_extraction_date

    with run.progress.stage("validate") as info:
        # the extraction date comes from the delivery (or the config), never from the data
        extraction = resolve_extraction_date(run.registers_dir, run.cfg.data.extraction_date).extraction_date
        rep = validate_folder(run.registers_dir, raise_on_error=True, extraction_date=extraction,
                              after_extraction=run.cfg.data.after_extraction)
        run.register_rows = {k: int(v.n_rows) for k, v in rep.tables.items() if v.n_rows is not None}
        run.validation_warnings = [str(p) for p in rep.warnings]
        from impact.study.data import file_hashes

        run.input_hashes = file_hashes(run.registers_dir)
        info["rows"] = ", ".join(f"{k} {v:,}" for k, v in run.register_rows.items())


def outcome_config(cfg: StudyConfig):
    """The outcome stage's config from the study's [outcomes] section."""
    from impact.outcomes.config import config_from_dict

    d: dict[str, Any] = dict(cfg.outcomes.employment)
    horizons = sorted(set(cfg.outcomes.horizons) | {1, 3, 6, 12})
    d["horizons"] = horizons
    if cfg.data.extraction_date is not None:
        d["extraction_date"] = cfg.data.extraction_date
    d["disclosure_min"] = cfg.report.min_cell
    return config_from_dict(d, source="[outcomes]")


def outcome_cache_key(run: StudyRun, ocfg: Any) -> str:
    """Key of the outcome cache: the input files' hashes, the outcome config and the package version."""
    from importlib.metadata import version

    text = json.dumps({"inputs": run.input_hashes, "config": ocfg.to_dict(), "impact": version("impact")},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def stage_outcomes(run: StudyRun) -> None:
    """Earnings panel and unit outcomes (reused from the cache when inputs and definitions are unchanged).

    The cache (``reports/.cache/outcomes-KEY/``) holds exactly what the outcome stage returned,
    keyed by the SHA-256 of every input file and of the outcome definitions, so a cache hit
    gives the same tables as recomputing them.
    """
    from impact.backends import connect, open_register_tables
    from impact.outcomes import compute_outcomes
    from impact.outcomes.cache import read_outcome_cache, write_outcome_cache

    data = run.cfg.data
    backend = run.backend or data.backend
    with run.progress.stage("outcomes") as info:
        settings = data.settings() if backend == data.backend else None
        run.con = _connect(lambda: connect(backend, settings))
        run.tables = open_register_tables(run.con, run.registers_dir, settings)
        ocfg = outcome_config(run.cfg)
        # The local cache keeps the person x month panel as Parquet: only for the embedded engine
        # (a remote panel stays where it was computed).
        local = backend == "duckdb"
        cache = run.cache_dir / f"outcomes-{outcome_cache_key(run, ocfg)}" if run.cache_dir and local else None
        run.outcomes = None
        if cache is not None:  # optional: a cache that cannot be read or written only gives a warning
            run.outcomes, run.panel, warning = read_outcome_cache(cache, run.con, ocfg)
            run.warnings += [warning] if warning else []
        if run.outcomes is not None:
            info["rows"] = "from cache; "
        else:
            run.outcomes = compute_outcomes(run.con, run.tables, ocfg, collect_person_month=False)
            run.panel = _panel_table(run.con, run.outcomes)
            info["rows"] = ""
            if cache is not None:
                warning = write_outcome_cache(cache, run.con, run.panel, run.outcomes, run.registers_dir)
                run.warnings += [warning] if warning else []
        info["rows"] += (f"{run.outcomes.service_outcomes.height:,} service spells, "
                         f"{run.outcomes.spell_outcomes.height:,} job-seeking spells")


def _connect(connect: Callable[[], Any]) -> Any:
    """The outcome stage's DuckDB connection; inside Jupyter DuckDB refuses to switch its progress bar off
    without ipywidgets, so fall back to a plain connection there."""
    import duckdb

    try:
        return connect()
    except duckdb.InvalidInputException:
        import ibis

        return ibis.duckdb.connect()


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


def stage_population(run: StudyRun) -> None:
    from impact.study.population import build_population

    with run.progress.stage("population") as info:
        t = run.tables
        # Only the persons who have an evaluation unit come back from the backend.
        with_units = t["service_spells"].select("person_id").union(t["jobseeking_spells"].select("person_id"))
        persons = t["persons"].semi_join(with_units.distinct(), "person_id").to_polars()
        spells = t["jobseeking_spells"].to_polars()
        services = t["service_spells"].to_polars()
        run.frames.update(persons=persons, jobseeking_spells=spells, service_spells=services)
        if run.cfg.unit.kind == "service_spell":
            units, reg = run.outcomes.service_outcomes, services
        else:
            units, reg = run.outcomes.spell_outcomes, spells
        run.population = build_population(units, run.cfg, persons, spells, services, run.outcomes.exclusions,
                                          n_registered=(reg.height, reg["person_id"].n_unique()))
        info["rows"] = f"{run.population.units.height:,} units, {run.population.units['person_id'].n_unique():,} persons"


def stage_followup(run: StudyRun) -> None:
    from impact.study.analyses import followup_analysis

    with run.progress.stage("follow-up tables") as info:
        n = followup_analysis(run)
        info["rows"] = f"{n} tables"


def stage_designs(run: StudyRun) -> None:
    from impact.study.analyses import ANALYSES

    design = run.cfg.treatment.design
    if design == "none":
        return
    with run.progress.stage(f"design and estimators ({design})") as info:
        info["rows"] = ANALYSES[design](run)


def stage_truth(run: StudyRun) -> None:
    from impact.study.analyses import attach_truth

    if run.cfg.data.synthetic is None and not (run.registers_dir / "truth").exists():
        return
    with run.progress.stage("truth (synthetic)") as info:
        info["rows"] = attach_truth(run)


def stage_report(run: StudyRun) -> None:
    from impact.report.render import render
    from impact.study.sections import build_document

    with run.progress.stage("report") as info:
        doc = build_document(run)
        paths = render(doc, run.out, run.cfg.report.formats)
        info["rows"] = ", ".join(p.name for p in paths.values())


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _clean(obj: Any) -> Any:
    """Replace NaN/inf by None recursively (JSON has no NaN)."""
    if isinstance(obj, float):
        return None if not np.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(_clean(json.loads(json.dumps(obj, default=_json_default))), indent=2,
                               ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def all_estimates(run: StudyRun) -> pd.DataFrame:
    if not run.estimates:
        return pd.DataFrame()
    return pd.concat(run.estimates, ignore_index=True)


def stage_outputs(run: StudyRun, started: dt.datetime, seconds_before: float) -> None:
    with run.progress.stage("results and manifest") as info:
        run.tables_dir.mkdir(parents=True, exist_ok=True)
        for name, df in run.published.items():
            df.to_csv(run.tables_dir / f"{name}.csv", index=False)
        est = all_estimates(run)
        records = est.astype(object).where(est.notna(), None).to_dict("records") if len(est) else []
        results = {
            "study": run.cfg.study.name,
            "title": run.cfg.study.title,
            "question": run.cfg.study.question,
            "config_hash": run.cfg.hash,
            "config": run.cfg.to_dict(),
            "population": run.population.flow if run.population else [],
            "estimates": records,
            "tables": sorted(run.published),
            "warnings": run.warnings,
        }
        write_json(results, run.out / "results.json")
        info["rows"] = f"{len(records)} estimates, {len(run.published)} tables"
        # manifest last: it records the stage timings of everything above
        run.progress.timings.setdefault("results and manifest", 0.0)
        manifest = {
            "study": run.cfg.study.name,
            "config_path": run.cfg.path,
            "config_hash": run.cfg.hash,
            "config_sha256_file": hashlib.sha256(Path(run.cfg.path).read_bytes()).hexdigest() if run.cfg.path else None,
            "registers": str(run.registers_dir),
            "synthetic": (dict(scenario=run.cfg.data.synthetic.scenario, persons=run.cfg.data.synthetic.persons,
                               seed=run.cfg.data.synthetic.seed) if run.cfg.data.synthetic else None),
            "seed": run.cfg.data.synthetic.seed if run.cfg.data.synthetic else None,
            "input_hashes": run.input_hashes,
            "register_rows": run.register_rows,
            "packages": package_versions(),
            "python": sys.version.split()[0],
            "started_utc": started.isoformat(timespec="seconds"),
            "stage_seconds": {k: round(v, 2) for k, v in run.progress.timings.items()},
            "files": sorted(str(p.relative_to(run.out)) for p in run.out.rglob("*") if p.is_file()),
        }
        manifest["run_seconds"] = round(time.perf_counter() - seconds_before, 2)
        write_json(manifest, run.out / "manifest.json")


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("impact", "numpy", "pandas", "polars", "pyarrow", "duckdb", "ibis-framework", "scipy", "scikit-learn",
              "statsmodels", "linearmodels", "matplotlib", "jinja2", "weasyprint"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

#: Stages after data and validation, in order (tests may replace one to make it fail).
STAGES: list[tuple[str, Callable[[StudyRun], None]]] = [
    ("outcomes", stage_outcomes),
    ("population", stage_population),
    ("followup", stage_followup),
    ("designs", stage_designs),
    ("truth", stage_truth),
    ("metrics", lambda run: _stage_metrics(run)),  # issue #10: [metrics] sections (impact.study.metric_sections)
    ("report", stage_report),
]


def _stage_metrics(run: StudyRun) -> None:
    from impact.study.metric_sections import stage_metrics

    stage_metrics(run)


def run_study(config_path: str | Path, reports_dir: Path = Path("reports"), data_dir: str | Path | None = None,
              synthetic_root: Path = Path("synthetic_data"), quiet: bool = False, cache: bool = True,
              backend: str | None = None) -> Path:
    """Run the study described by ``config_path`` and write ``reports_dir/NAME/``.

    Returns
    -------
    The report folder. On any error the previous report folder (if any) is left intact and
    the error propagates (an :class:`~impact.errors.ImpactError` for problems the user can fix).
    """
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    progress = Progress(quiet=quiet)
    with progress.stage("config") as info:
        cfg = load_config(config_path)
        info["rows"] = f"study {cfg.study.name}, design {cfg.treatment.design}"
    reports_dir = Path(reports_dir)
    final = check_replaceable(reports_dir / cfg.study.name, "run", is_report_file)
    tmp = staging_dir(final)  # hidden, beside the report; leftovers of killed runs are removed
    run = StudyRun(cfg=cfg, out=tmp, progress=progress)
    if backend is not None:
        from impact.backends import check_backend

        run.backend = check_backend(backend)
    if cache:
        run.cache_dir = reports_dir / ".cache"
    try:
        stage_data(run, data_dir, Path(synthetic_root))
        stage_validate(run)
        for _, fn in STAGES:
            fn(run)
        stage_outputs(run, started, t0)
        entry = _ledger(run, reports_dir, final)  # refuses a report that differences an earlier one
        try:
            publish(tmp, final, "run", is_report_file)  # atomic: the whole old report or the whole new one
        except BaseException:
            if entry is not None:
                entry.unlink(missing_ok=True)
            raise
    except BaseException:
        discard(tmp)
        raise
    finally:
        if run.con is not None:
            try:
                run.con.disconnect()
            except Exception:
                pass
    progress.log(f"wrote {final}/ (report.html{', report.pdf' if 'pdf' in cfg.report.formats else ''}, "
                 f"results.json, manifest.json, figures/, tables/) in {time.perf_counter() - t0:.1f}s")
    return final


def _ledger(run: StudyRun, reports_dir: Path, final: Path) -> Path | None:
    """Check the run's published cells against the differencing ledger, then record them
    (before publishing: a run killed in between leaves a record, never an unrecorded report)."""
    from impact import ledger

    if run.population is None:
        return None
    cells = ledger.cells_from_units(run.population.units, run.cfg.outcomes.by, run.cfg.report.min_cell)
    data, min_cell = ledger.data_hash(run.input_hashes), run.cfg.report.min_cell
    with ledger.locked(ledger.ledger_dir(reports_dir)) as folder:
        ledger.check(folder, data, run.cfg.study.name, cells, min_cell)
        return ledger.record(folder, data, run.cfg.study.name, cells, min_cell, final)


def is_report_file(rel: str) -> bool:
    """True for a file ``impact run`` writes into a report folder (path relative to it)."""
    top = rel.split("/", 1)[0]
    return rel in ("report.html", "report.pdf", "results.json", "manifest.json") or top in ("figures", "tables")

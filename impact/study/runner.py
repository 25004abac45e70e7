"""``impact run CONFIG``: a study as a plain pipeline, written to ``reports/NAME/``.

    config -> data (registers, validated) -> outcomes -> population
      -> [analysis(ctx) for analysis in cfg.analyses]   (each an AnalysisResult)
      -> truth (synthetic registers) -> disclosure -> document -> write -> publish

:func:`run_pipeline` computes everything in memory (:class:`StudyOutput`); :func:`run_study`
checks its published cells against the differencing ledger (:mod:`impact.ledger`), writes it
into a hidden staging folder ``reports/.NAME.staging-*`` and publishes it in one step
(:mod:`impact.publish`): at every instant ``reports/NAME`` is the whole old report or the
whole new one, and a failed or killed run leaves the previous report untouched (its leftovers
are removed by the next run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import polars as pl

from impact.publish import check_replaceable, discard, publish, staging_dir
from impact.report.disclosure import Disclosed, disclose, disclose_flow
from impact.study.config import StudyConfig, load_config
from impact.study.context import AnalysisResult, DisclosedResult, Notice, StudyContext
from impact.study.stages import RunInfo


class Progress:
    """Stage-by-stage progress lines on stderr: elapsed time, stage, rows, stage time."""

    def __init__(self, stream=None, quiet: bool = False):
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.peaks: dict[str, float] = {}  # peak RSS (GiB) of each stage

    def log(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict]:
        info: dict[str, Any] = {}
        _reset_peak_rss()
        t = time.perf_counter()
        self.log(f"{name} ...")
        yield info
        dt_ = time.perf_counter() - t
        self.timings[name] = self.timings.get(name, 0.0) + dt_
        peak = _peak_rss_gib()
        if peak is not None:
            self.peaks[name] = max(self.peaks.get(name, 0.0), peak)
        rows = f" ({info['rows']})" if "rows" in info else ""
        self.log(f"{name} done in {dt_:.1f}s{rows}" + (f", peak RSS {peak:.2f} GiB" if peak is not None else ""))

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A sub-step of a stage (an estimator's fit, its bootstrap, its checks): start and time."""
        t = time.perf_counter()
        self.log(f"  {name} ...")
        yield
        self.log(f"  {name} done in {time.perf_counter() - t:.1f}s")


def _reset_peak_rss() -> None:
    """Start a new peak-RSS window for this process (Linux: ``clear_refs`` 5 resets ``VmHWM``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_gib() -> float | None:
    """Peak resident memory of this process since the last reset (GiB), where the system tells."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


@dataclass
class StudyOutput:
    """What a run publishes, in memory.

    ``published_cells`` (``table``, ``cell``, ``person_id``) lists the persons behind every
    published cell (tables, figure data, flows, estimates): for the differencing ledger; it is
    never written to the report.
    """

    cfg: StudyConfig
    info: RunInfo
    population: Disclosed
    results: list[DisclosedResult]
    document: Any  # impact.report.render.ReportDoc (None when not built)
    published_cells: pl.DataFrame
    population_persons: pl.DataFrame | None = None  # person_id of the study population (memory only)

    def estimates(self) -> pd.DataFrame:
        frames = [r.estimates.frame for r in self.results if r.estimates is not None and len(r.estimates.frame)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def prepare(cfg: StudyConfig, data_dir: str | Path | None, synthetic_root: Path, progress: Progress,
            cache_dir: Path | None, backend: str | None) -> tuple[StudyContext, RunInfo]:
    """Registers, validation, outcome stage and population: the context every analysis reads."""
    from impact.backends import open_register_tables
    from impact.study import stages

    with progress.stage("registers") as info:
        folder, generated = stages.registers(cfg, data_dir, synthetic_root, progress.log)
        info["rows"] = f"{folder}{' (generated)' if generated else ''}"
    with progress.stage("validate") as info:
        rows, warnings, hashes = stages.validate(folder, cfg.data)
        info["rows"] = ", ".join(f"{k} {v:,}" for k, v in rows.items())
    data = cfg.data
    be = backend or data.backend
    with progress.stage("outcomes") as info:
        settings = data.settings() if be == data.backend else None
        con = stages.connect_backend(be, settings)
        tables = open_register_tables(con, folder, settings)
        ocfg = cfg.outcomes.outcome_config(data.extraction_date, cfg.disclosure.min_cell)
        cache = (cache_dir / f"outcomes-{stages.outcome_cache_key(hashes, ocfg)}" if cache_dir is not None and
                 be == "duckdb" else None)
        out, panel, hit, cache_warning = stages.outcomes(con, tables, ocfg, cache, folder)
        stages.release_backend_memory(con, be, settings)
        info["rows"] = (("from cache; " if hit else "") + f"{out.service_outcomes.height:,} service spells, "
                        f"{out.spell_outcomes.height:,} job-seeking spells")
    with progress.stage("population") as info:
        pop, persons, spells, services = stages.population(cfg, tables, out)
        info["rows"] = f"{pop.units.height:,} units, {pop.units['person_id'].n_unique():,} persons"
    ctx = StudyContext(cfg=cfg, registers_dir=folder, con=con, tables=tables, persons=persons, spells=spells,
                       services=services, outcomes=out, panel=panel, population=pop, log=progress.log,
                       step=progress.step)
    run_info = RunInfo(registers_dir=folder, generated=generated,
                       synthetic=cfg.data.synthetic is not None and data_dir is None, register_rows=rows, input_hashes=hashes,
                       validation_warnings=warnings, extraction_date=out.extraction_date, last_month=out.last_month,
                       outcome_config=out.config, exclusions=out.exclusions, backend=be,
                       delivery=stages.delivery_facts(folder),
                       warnings=(cache_warning,) if cache_warning else ())
    return ctx, run_info


def analyse(ctx: StudyContext, progress: Progress) -> list[AnalysisResult]:
    """``[analysis(ctx) for analysis in cfg.analyses]``, each seeing the results before it, with the truth attached."""
    from impact.study import stages
    from impact.study.analyses import ANALYSES
    from impact.study.truth import attach_truth

    done: list[AnalysisResult] = []
    for name in ctx.cfg.analyses:  # a handful of analyses
        a = ANALYSES[name]
        with progress.stage(f"{name} ({a.run.__module__.rsplit('.', 1)[-1]})") as info:
            r = attach_truth(a.run(ctx, tuple(done)), ctx.truth_dir)
            info["rows"] = f"{0 if r.estimates is None else len(r.estimates.frame)} estimates, {len(r.tables)} tables"
        done.append(r)
        stages.give_back_freed_memory()  # the next analysis starts from what the results hold
    return done


def disclose_result(r: AnalysisResult, rules: Any) -> DisclosedResult:
    """Disclosure control of every number an analysis publishes (estimates, tables, figure data, flows)."""
    return DisclosedResult(
        name=r.name, estimates=None if r.estimates is None else disclose(r.estimates, rules),
        tables={k: disclose(p, rules) for k, p in r.tables.items()}, figures=r.figures,
        flows={f.name: disclose_flow(f"flow_{f.name}", f.steps, f.members, rules) for f in r.flows},
        notices=r.notices, facts=r.facts, checks=r.checks)


def run_pipeline(cfg: StudyConfig, data_dir: str | Path | None = None, synthetic_root: Path = Path("synthetic_data"),
                 progress: Progress | None = None, cache_dir: Path | None = None, backend: str | None = None,
                 figures_dir: Path | None = None) -> StudyOutput:
    """The run in memory: every published number disclosed, and (with ``figures_dir``) the document."""
    from impact.study import stages
    from impact.study.document import build_document

    progress = progress or Progress(quiet=True)
    ctx, info = prepare(cfg, data_dir, synthetic_root, progress, cache_dir, backend)
    try:
        results = analyse(ctx, progress)
    finally:
        stages.disconnect(ctx.con)
    # disclosure control and the ledger need only these of the context: the rest is let go first
    flow, pop_persons = ctx.population.flow, ctx.population.units.select("person_id").unique()
    del ctx
    stages.give_back_freed_memory()
    with progress.stage("disclosure control") as st:
        disclosed = []
        while results:  # each analysis's members are let go once its tables are disclosed
            disclosed.append(disclose_result(results.pop(0), cfg.disclosure))
        population = disclose_flow("flow_population", flow.steps, flow.members, cfg.disclosure)
        cells = pl.concat([population.cells, *[r.cells for r in disclosed]], rechunk=False)
        st["rows"] = f"{sum(len(r.tables) + (r.estimates is not None) for r in disclosed)} publications, " \
                     f"{cells.height:,} person-cells"
    del flow
    stages.give_back_freed_memory()
    doc = None
    if figures_dir is not None:
        with progress.stage("document") as st:
            doc = build_document(cfg, info, population, disclosed, [Notice(w) for w in info.warnings], figures_dir)
            st["rows"] = f"{len(doc.warnings)} warnings, {len(doc.borderline)} borderline"
    return StudyOutput(cfg=cfg, info=info, population=population, results=disclosed, document=doc,
                       published_cells=cells, population_persons=pop_persons)


# ---------------------------------------------------------------------------------------
# Writing and publishing
# ---------------------------------------------------------------------------------------


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
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


def _csv(d: Disclosed, path: Path) -> None:
    """A disclosed table as CSV; ``suppressed`` names the values withheld in each row."""
    f = d.frame.copy()
    if "params" in f:
        f["params"] = f["params"].map(lambda p: json.dumps(p, default=str))
    sup = d.marks.apply(lambda r: ";".join(c for c, v in r.items() if v == ".."), axis=1) if len(d.marks.columns) \
        else pd.Series("", index=f.index)
    f["suppressed"] = sup.reindex(f.index).fillna("")
    f.to_csv(path, index=False)


def flow_records(d: Disclosed) -> list[dict]:
    from impact.report.wording import text

    def count(v: Any) -> int | None:
        return None if v is None or v != v else int(v)

    return [{"step": text(r["key"], "en", **(r["params"] or {})), "key": r["key"]}
            | {c: count(r[c]) for c in ("units", "persons", "removed_units", "removed_persons")}
            for r in d.frame.to_dict("records")]


def write_outputs(out: StudyOutput, folder: Path, started: dt.datetime, t0: float, progress: Progress) -> None:
    """report.html/pdf, tables/*.csv, results.json and manifest.json into ``folder``."""
    from impact.report.render import render

    cfg = out.cfg
    with progress.stage("report") as st:
        paths = render(out.document, folder, cfg.report.formats)
        st["rows"] = ", ".join(p.name for p in paths.values())
    with progress.stage("results and manifest") as st:
        tables_dir = folder / "tables"
        tables_dir.mkdir(parents=True, exist_ok=True)
        names = []
        for r in out.results:
            for name, d in {**r.tables, **r.flows}.items():
                _csv(d, tables_dir / f"{d.name}.csv")
                names.append(d.name)
        _csv(out.population, tables_dir / "flow_population.csv")
        est = out.estimates()
        records = est.astype(object).where(est.notna(), None).to_dict("records") if len(est) else []
        doc = out.document
        results = {"study": cfg.study.name, "title": cfg.study.title, "question": cfg.study.question,
                   "config_hash": cfg.hash, "config": cfg.to_dict(), "population": flow_records(out.population),
                   "estimates": records, "tables": sorted(names + ["flow_population"]),
                   "warnings": list(doc.warnings), "borderline": list(doc.borderline)}
        write_json(results, folder / "results.json")
        st["rows"] = f"{len(records)} estimates, {len(names) + 1} tables"
        progress.timings.setdefault("results and manifest", 0.0)
        info = out.info
        manifest = {
            "study": cfg.study.name, "config_path": cfg.path, "config_hash": cfg.hash,
            "config_sha256_file": hashlib.sha256(Path(cfg.path).read_bytes()).hexdigest() if cfg.path else None,
            "registers": str(info.registers_dir),
            "synthetic": (dict(scenario=cfg.data.synthetic.scenario, persons=cfg.data.synthetic.persons,
                               seed=cfg.data.synthetic.seed) if cfg.data.synthetic else None),
            "seed": cfg.data.synthetic.seed if cfg.data.synthetic else None,
            "input_hashes": info.input_hashes, "register_rows": info.register_rows, "packages": package_versions(),
            "python": sys.version.split()[0], "started_utc": started.isoformat(timespec="seconds"),
            "stage_seconds": {k: round(v, 2) for k, v in progress.timings.items()},
            "stage_peak_rss_gib": {k: round(v, 2) for k, v in progress.peaks.items()},
            "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
        }
        manifest["run_seconds"] = round(time.perf_counter() - t0, 2)
        write_json(manifest, folder / "manifest.json")


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
        info["rows"] = f"study {cfg.study.name}: {', '.join(cfg.analyses)}"
    if backend is not None:
        from impact.backends import check_backend

        backend = check_backend(backend)
    reports_dir = Path(reports_dir)
    # refuses an output folder holding files `impact run` did not write, before any work
    final = check_replaceable(reports_dir / cfg.study.name, "run", is_report_file)
    cache_dir = reports_dir / ".cache" if cache else None  # optional: trouble with it is a warning
    staging = staging_dir(final)  # hidden, beside the report; leftovers of killed runs are removed
    try:
        out = run_pipeline(cfg, data_dir, Path(synthetic_root), progress, cache_dir, backend,
                           figures_dir=staging / "figures")
        write_outputs(out, staging, started, t0, progress)
        with progress.stage("differencing ledger") as st:  # refuses a report that differences an earlier one
            entry = _ledger(out, reports_dir, final)
            st["rows"] = f"{out.published_cells.height:,} person-cells checked and recorded"
        try:
            publish(staging, final, "run", is_report_file)  # atomic: the whole old report or the whole new one
        except BaseException:
            entry.unlink(missing_ok=True)
            raise
    except BaseException:
        discard(staging)
        raise
    progress.log(f"wrote {final}/ (report.html{', report.pdf' if 'pdf' in cfg.report.formats else ''}, "
                 f"results.json, manifest.json, figures/, tables/) in {time.perf_counter() - t0:.1f}s")
    return final


def _ledger(out: StudyOutput, reports_dir: Path, final: Path) -> Path:
    """Check the run's published cells (``out.published_cells``: every table, figure's data, flow
    and estimate) against the differencing ledger, then record them (before publishing: a run
    killed in between leaves a record, never an unrecorded report)."""
    from impact import ledger

    cells = out.published_cells
    pop = out.population_persons
    if pop is not None:  # the population's total, under the name earlier reports are compared by first
        cells = pl.concat([pop.select(pl.lit("population").cast(pl.Categorical).alias("table"),
                                      pl.lit("all").cast(pl.Categorical).alias("cell"),
                                      pl.col("person_id").cast(pl.Int64)), cells], rechunk=False)
    data, min_cell, name = ledger.data_hash(out.info.input_hashes), out.cfg.disclosure.min_cell, out.cfg.study.name
    with ledger.locked(ledger.ledger_dir(reports_dir)) as folder:
        hashed = ledger.hashed_cells(folder, cells)  # once for the check and the record
        del cells
        ledger.check(folder, data, name, hashed, min_cell)
        return ledger.record(folder, data, name, hashed, min_cell, final)


def is_report_file(rel: str) -> bool:
    """True for a file ``impact run`` writes into a report folder (path relative to it)."""
    top = rel.split("/", 1)[0]
    return rel in ("report.html", "report.pdf", "results.json", "manifest.json") or top in ("figures", "tables")

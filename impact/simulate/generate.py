"""Top level of the generator: blocks of persons -> Parquet registers + truth folder.

Blocks are simulated independently (each with ``SeedSequence(seed, spawn_key=(block,))``)
and appended to one Parquet writer per table in block order, so memory is bounded by one
block (plus one in flight per worker) and the bytes do not depend on the number of worker
processes. Worker processes hand a block's tables over as Arrow IPC files in a hidden
folder inside the output folder (memory-mapped by the main process, deleted once written).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pyarrow.parquet as pq

from impact.errors import ConfigError
from impact.months import month_label
from impact.registers.delivery import write_delivery
from impact.registers.schema import CONTRACTS
from impact.simulate import brokerage
from impact.simulate.engine import PAY, E, H, BlockSimulator, make_geography
from impact.simulate.scenario import VARIANTS, load_scenario, parse_month
from impact.simulate.tables import SEG, BlockTables, area_codes, labels, muni_codes

REGISTER_TABLES = ("persons", "jobseeking_spells", "service_spells", "earnings_reports", "benefit_reports",
                   *brokerage.TABLES)
VNAMES = list(VARIANTS)

TRUTH_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "service_effects": {
        "service_id": pl.Int64(), "person_id": pl.Int64(), "service_type": pl.String(), "variant": pl.String(),
        "segment": pl.String(), "employment_area": pl.String(), "female": pl.Boolean(),
        "elapsed_months": pl.Int32(), "start_month": pl.Int32(), "end_month": pl.Int32(), "h": pl.Int16(),
        "month": pl.Int32(), "observed": pl.Boolean(),
        "employed_1": pl.Int8(), "employed_0": pl.Int8(), "employed_never": pl.Int8(),
        "subsidised_1": pl.Int8(), "subsidised_0": pl.Int8(),
        "earnings_1": pl.Float64(), "earnings_0": pl.Float64(), "earnings_never": pl.Float64(),
        "tau_employed": pl.Float64(),
    },
    "person_month": {
        "person_id": pl.Int64(), "month": pl.Int32(), "employed": pl.Boolean(), "subsidised": pl.Boolean(),
        "earnings": pl.Float64(),
    },
    "latent": {"person_id": pl.Int64(), "ability": pl.Float64()},
    "service_participation": {
        "service_id": pl.Int64(), "person_id": pl.Int64(), "service_type": pl.String(), "variant": pl.String(),
        "segment": pl.String(), "employment_area": pl.String(), "female": pl.Boolean(),
        "r": pl.Int16(), "month": pl.Int32(), "observed": pl.Boolean(),
        "employed_1": pl.Int8(), "employed_0": pl.Int8(), "employed_never": pl.Int8(),
        "lockin_configured": pl.Float64(),
    },
    **brokerage.TRUTH_SCHEMAS,
}


def _schema_of(name: str) -> dict[str, pl.DataType]:
    """Column types of an output table ("persons", ..., "truth/latent", ...)."""
    return TRUTH_SCHEMAS[name[len("truth/"):]] if name.startswith("truth/") else CONTRACTS[name].polars_schema


def _to_arrow(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pa.Table:
    """The frame cast to its output schema, as one contiguous Arrow record batch.

    Contract columns the generator does not model (the importers' transaction flags) are null.
    """
    return df.select([pl.col(c).cast(t) if c in df.columns else pl.lit(None, t).alias(c)
                      for c, t in schema.items()]).rechunk().to_arrow()


# (nearly) unique strings: no dictionary encoding
_NO_DICTIONARY = frozenset({"report_ref"})


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns written with dictionary encoding: not 64-bit ids/amounts or unique strings.

    For those the writer would build a dictionary page and then fall back to plain
    encoding, which costs about a fifth of the write time and gives larger files.
    """
    return [f.name for f in schema if f.name not in _NO_DICTIONARY
            and not (pa.types.is_int64(f.type) or pa.types.is_floating(f.type))]


class _Writer:
    """Appends Arrow tables to one Parquet file (temp name, moved in place at the end)."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType], row_group: int):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.schema = schema
        self.row_group = row_group
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd",
                                           use_dictionary=_dictionary_columns(table.schema))
        self.writer.write_table(table, row_group_size=self.row_group)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is None:  # no rows at all: still write the (empty) file
            empty = pl.DataFrame(schema=self.schema).to_arrow()
            pq.write_table(empty, self.tmp, compression="zstd")
        else:
            self.writer.close()
        os.replace(self.tmp, self.path)


def _block_frames(cfg: dict, geo, seed: int, block: int, first_pid: int, n: int, m0: int, T: int) -> dict:
    sim = BlockSimulator(cfg, geo, seed, block, first_pid, n, m0, T)
    res = sim.run()
    extra = brokerage.block_tables(sim, res, cfg, seed, block)  # flips the path: before the tables
    tabs = BlockTables(sim, res, cfg)
    out = {
        "persons": tabs.persons(),
        "jobseeking_spells": tabs.jobseeking(),
        "service_spells": tabs.services(),
        "earnings_reports": tabs.earnings(),
        "benefit_reports": tabs.benefits(),
    }
    out.update(extra)
    out.update(_truth_frames(sim, res, m0, T))
    return out


def _truth_frames(sim: BlockSimulator, res: dict, m0: int, T: int) -> dict:
    P, svc, tr = res["P"], res["svc"], res["truth"]
    k = len(svc.row)
    pid = P.pid[svc.row]
    hh = np.arange(1, H + 1)
    month = (m0 + svc.e)[:, None] + hh[None, :]
    rep = lambda a: np.repeat(a, H)  # noqa: E731
    stypes = [VARIANTS[v][0] for v in VNAMES]
    areas = area_codes(sim.geo.n_areas)
    sarea = P.area[svc.row]
    se = pl.DataFrame({
        "service_id": rep(pid * 1000 + svc.slot),
        "person_id": rep(pid),
        "service_type": labels(stypes, rep(svc.v)),
        "variant": labels(VNAMES, rep(svc.v)),
        "segment": labels(SEG, rep(svc.segment)),
        "employment_area": labels(areas, rep(sarea)),
        "female": rep(P.female[svc.row]),
        "elapsed_months": rep(svc.elapsed),
        "start_month": rep(m0 + svc.s),
        "end_month": rep(m0 + svc.e),
        "h": np.tile(hh, k),
        "month": month.ravel(),
        "observed": (month.ravel() < m0 + T),
        "employed_1": tr["emp1"].ravel(), "employed_0": tr["emp0"].ravel(), "employed_never": tr["empn"].ravel(),
        "subsidised_1": tr["sub1"].ravel(), "subsidised_0": tr["sub0"].ravel(),
        "earnings_1": tr["earn1"].ravel(), "earnings_0": tr["earn0"].ravel(), "earnings_never": tr["earnn"].ravel(),
        "tau_employed": svc.tau.ravel(),
    }, schema_overrides=TRUTH_SCHEMAS["service_effects"], strict=False)
    # participation months
    if k:
        valid = tr["during_valid"]
        kk, rr = np.nonzero(valid)
        dmonth = m0 + tr["during_cols"][kk, rr]
        lock = np.array([np.nan if sim.variants[v]["lockin_pp"] is None else sim.variants[v]["lockin_pp"] / 100
                         for v in VNAMES])
        sp = pl.DataFrame({
            "service_id": (pid * 1000 + svc.slot)[kk], "person_id": pid[kk],
            "service_type": labels(stypes, svc.v[kk]), "variant": labels(VNAMES, svc.v[kk]),
            "segment": labels(SEG, svc.segment[kk]),
            "employment_area": labels(areas, sarea[kk]),
            "female": P.female[svc.row][kk], "r": rr, "month": dmonth, "observed": dmonth < m0 + T,
            "employed_1": tr["demp1"][kk, rr], "employed_0": tr["demp0"][kk, rr],
            "employed_never": tr["dempn"][kk, rr], "lockin_configured": lock[svc.v][kk],
        }, schema_overrides=TRUTH_SCHEMAS["service_participation"], strict=False)
    else:
        sp = pl.DataFrame(schema=TRUTH_SCHEMAS["service_participation"])
    st = sim.state[:, :T]
    r, c = np.nonzero((st == E) | (st == PAY))
    pm = pl.DataFrame({
        "person_id": P.pid[r], "month": (m0 + c).astype(np.int32), "employed": st[r, c] == E,
        "subsidised": st[r, c] == PAY, "earnings": sim.earn[r, c],
    })
    lat = pl.DataFrame({"person_id": P.pid, "ability": P.theta})
    return {"truth/service_effects": se, "truth/person_month": pm, "truth/latent": lat,
            "truth/service_participation": sp,
            "_area_month": res["area_month"]}


def _block_arrow(args) -> tuple[dict, dict[str, pa.Table]]:
    """Simulate one block: (area-month sums, Arrow table of every output table)."""
    frames = _block_frames(*args)
    am = frames.pop("_area_month")
    return am, {name: _to_arrow(df, _schema_of(name)) for name, df in frames.items()}


def _spill_worker(task) -> tuple[dict, dict[str, str]]:
    """Worker process: simulate a block and leave its tables as Arrow IPC files in ``spill``.

    The parent memory-maps them, so the tables are not pickled through a pipe (that cost
    as much CPU as writing the Parquet files).
    """
    spill, args = task
    am, tables = _block_arrow(args)
    paths = {}
    for name, table in tables.items():
        path = os.path.join(spill, f"b{args[3]}_{name.replace('/', '__')}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as ipc:
            ipc.write_table(table)
        paths[name] = path
    return am, paths


def _parallel_blocks(blocks: list, workers: int, spill: str):
    """Yield (area-month sums, tables) block by block, in block order, from worker processes.

    At most ``workers + 1`` blocks are in flight, so memory and spill files stay bounded.
    """
    import multiprocessing as mp

    # spawn, not fork: forking a process whose polars thread pool is running can hang
    ctx = mp.get_context("spawn")
    pending: deque = deque()
    todo = iter(blocks)
    with ctx.Pool(workers) as pool:
        def submit() -> None:
            b = next(todo, None)
            if b is not None:
                pending.append(pool.apply_async(_spill_worker, ((spill, b),)))

        for _ in range(workers + 1):
            submit()
        while pending:
            am, paths = pending.popleft().get()
            submit()
            maps = {name: pa.memory_map(p) for name, p in paths.items()}
            try:
                yield am, {name: pa.ipc.open_file(m).read_all() for name, m in maps.items()}
            finally:
                for name, m in maps.items():
                    m.close()
                    os.remove(paths[name])


def is_register_file(rel: str) -> bool:
    """True for a file the generator writes into a register folder (path relative to it).

    Recognises folders written before the ``.impact-output.json`` marker existed
    (:func:`impact.publish.check_replaceable`).
    """
    top = rel.split("/", 1)[0]
    return (rel in ("delivery.toml", ".scenario_hash", "payers.parquet", "areas.parquet")
            or rel in {f"{t}.parquet" for t in REGISTER_TABLES} or top in ("truth", "ir-xml", "fiona", "prepared"))


def simulate(scenario: str | Path = "default", persons: int | None = None, seed: int | None = None,
             out: str | Path = "synthetic_data/default", workers: int | None = None,
             extra_files: dict[str, str] | None = None, layout: str | None = None,
             layout_format: str = "parquet") -> str:
    """Write synthetic registers with a known truth, atomically.

    The whole folder is written into a hidden staging folder beside ``out`` and published in
    one step (:mod:`impact.publish`): ``out`` is at every instant the old registers or the new
    ones, never a mix. An existing ``out`` is replaced only if the generator wrote it.

    Parameters
    ----------
    scenario
        Committed scenario name (``synthetic_data/scenarios/NAME.toml``) or a TOML path.
    persons, seed
        Population size and random seed (default: the scenario's).
    out
        Output folder: ``persons.parquet``, ``jobseeking_spells.parquet``,
        ``service_spells.parquet``, ``earnings_reports.parquet``, ``benefit_reports.parquet``,
        ``truth/`` and ``prepared/`` (the earnings reports in person blocks for the outcome
        stage, :mod:`impact.registers.prepared`).
    workers
        Processes simulating blocks in parallel (default: up to 2 when there are several
        blocks). The output does not depend on it.
    extra_files
        Text files (relative name -> content) written into the folder before it is published.
    layout, layout_format
        Also write the registers as real data arrive (``"ir-xml"`` or ``"fiona"``, into
        ``out/<layout>/``, :func:`impact.simulate.layouts.write_layout`), published with them.

    Returns
    -------
    str
        A printable summary (row counts, services, true effects at 12 months).

    Raises
    ------
    ConfigError
        A bad scenario, size or seed.
    impact.publish.OutputError
        ``out`` cannot be written, or holds files the generator did not write.
    """
    from impact.publish import check_replaceable, discard, publish, staging_dir

    final = check_replaceable(out, "simulate", is_register_file)
    cfg = load_scenario(scenario)  # a bad scenario fails before anything is written
    staging = staging_dir(final)
    try:
        summary = _generate(cfg, persons, seed, staging, workers, shown=Path(out))
        from impact.registers.prepared import prepare_reports

        prepare_reports(staging)  # the earnings reports' person-block layout, published with them
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        if layout:
            from impact.simulate.layouts import write_layout

            write_layout(staging, layout, staging / layout, layout_format)
        publish(staging, final, "simulate", is_register_file)
    except BaseException:
        discard(staging)
        raise
    return summary


def _generate(cfg: dict, persons: int | None, seed: int | None, out: Path, workers: int | None,
              shown: Path) -> str:
    """Write the registers of a loaded scenario into ``out`` (a staging folder); returns the summary."""
    t_start = time.perf_counter()
    sim_cfg = cfg["simulation"]
    n_total = int(persons if persons is not None else sim_cfg["persons"])
    seed = int(seed if seed is not None else sim_cfg["seed"])
    if n_total < 1:
        raise ConfigError(f"persons must be a positive integer, got {n_total}")
    if seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    m0 = parse_month(sim_cfg["start_month"], "simulation.start_month")
    m1 = parse_month(sim_cfg["end_month"], "simulation.end_month")
    T = m1 - m0 + 1
    if T < 24:
        raise ConfigError("scenario key 'simulation.end_month' must be at least 24 months after start_month")
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    geo = make_geography(cfg, seed)
    bs = sim_cfg["block_size"]
    blocks = [(cfg, geo, seed, b, b * bs + 1, min(bs, n_total - b * bs), m0, T)
              for b in range((n_total + bs - 1) // bs)]
    rg = sim_cfg["row_group_rows"]
    writers = {name: _Writer(out / f"{name}.parquet", CONTRACTS[name].polars_schema
                             if name != "service_spells" else CONTRACTS[name].polars_schema, rg)
               for name in REGISTER_TABLES}
    for name, schema in TRUTH_SCHEMAS.items():
        writers[f"truth/{name}"] = _Writer(out / "truth" / f"{name}.parquet", schema, rg)
    A = geo.n_areas
    am_persons = np.zeros(A)
    am_with = np.zeros((A, T))
    am_without = np.zeros((A, T))
    if workers is None:
        workers = min(2, os.cpu_count() or 1, len(blocks))
    spill = None
    if workers > 1 and len(blocks) > 1:
        spill = tempfile.mkdtemp(prefix=".blocks-", dir=out)
        results = _parallel_blocks(blocks, workers, spill)
    else:
        results = (_block_arrow(b) for b in blocks)
    try:
        for am, tables in results:
            am_persons += am["persons"]
            am_with += am["emp_with"]
            am_without += am["emp_without"]
            for name, table in tables.items():
                writers[name].write(table)
            del tables
    finally:
        if spill is not None:
            results.close()
            shutil.rmtree(spill, ignore_errors=True)
    for w in writers.values():
        w.close()
    payers = brokerage.payers_frame(cfg, geo)
    _atomic_parquet(payers, out / "payers.parquet")
    _atomic_parquet(areas_frame(geo), out / "areas.parquet")
    _write_area_truth(out / "truth", cfg, geo, m0, T, am_persons, am_with, am_without)
    (out / "truth" / "scenario.toml").write_text(cfg["_source_text"], encoding="utf-8")
    resolved = {k: v for k, v in cfg.items() if not k.startswith("_")}
    (out / "truth" / "scenario_resolved.json").write_text(json.dumps(resolved, indent=1, sort_keys=True),
                                                          encoding="utf-8")
    meta = (f'scenario = "{cfg["name"]}"\npersons = {n_total}\nseed = {seed}\n'
            f'start_month = "{month_label(m0)}"\nend_month = "{month_label(m1)}"\n'
            f'extraction_date = "{sim_cfg["extraction_date"]}"\n')
    (out / "truth" / "run.toml").write_text(meta, encoding="utf-8")
    write_delivery(out, dt.date.fromisoformat(str(sim_cfg["extraction_date"])),
                   f"impact simulate: scenario {cfg['name']}, {n_total} persons, seed {seed}")
    counts = {k: w.rows for k, w in writers.items()}
    counts["payers"] = payers.height
    return _summary(out, cfg, n_total, seed, counts, time.perf_counter() - t_start, shown)


def areas_frame(geo) -> pl.DataFrame:
    """The delivery's area classification (``areas``): each municipality and its employment area."""
    return pl.DataFrame({
        "municipality": labels(muni_codes(geo.muni_code), np.arange(len(geo.muni_code))),
        "employment_area": labels(area_codes(geo.n_areas), geo.muni_area),
    }).sort("municipality")


def _write_area_truth(folder: Path, cfg: dict, geo, m0: int, T: int, persons, emp_with, emp_without) -> None:
    A = geo.n_areas
    codes = np.char.add("EA", np.char.zfill(np.arange(1, A + 1).astype(str), 2))
    pol = cfg["policy"]
    start = np.full(A, -1)
    curves: dict[int, list] = {}
    if pol["enabled"]:
        for r in pol["reforms"]:
            for a in r["areas"]:
                start[a - 1] = parse_month(r["start_month"], "policy.reforms.start_month")
                curves[a - 1] = r["effect_pp"]
    months = m0 + np.arange(T)
    since = np.where(start[:, None] >= 0, months[None, :] - start[:, None], -10**6)
    am = pl.DataFrame({
        "employment_area": np.repeat(codes, T),
        "month": np.tile(months, A).astype(np.int32),
        "persons": np.repeat(persons, T).astype(np.int64),
        "employed_with": emp_with.ravel().astype(np.int64),
        "employed_without": emp_without.ravel().astype(np.int64),
        "reform_start_month": np.repeat(np.where(start >= 0, start, -1), T).astype(np.int32),
        "treated": (since >= 0).ravel(),
    }).with_columns(
        pl.when(pl.col("reform_start_month") >= 0).then(pl.col("reform_start_month")).otherwise(None)
        .alias("reform_start_month"),
        ((pl.col("employed_with") - pl.col("employed_without")) / pl.col("persons").clip(1)).alias("effect_rate"),
    )
    _atomic_parquet(am, folder / "area_month.parquet")
    rows = []
    for a, curve in sorted(curves.items()):
        for k, val in enumerate(curve):
            rows.append((codes[a], int(start[a]), k, float(val) / 100.0))
    ap = pl.DataFrame(rows, schema={"employment_area": pl.String, "start_month": pl.Int32,
                                    "months_since_start": pl.Int32, "effect": pl.Float64}, orient="row")
    _atomic_parquet(ap, folder / "area_policy.parquet")


def _atomic_parquet(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)


def _summary(out: Path, cfg: dict, n: int, seed: int, counts: dict, secs: float, shown: Path) -> str:
    from impact.simulate.truth import true_att

    lines = [f"scenario {cfg['name']}: {n:,} persons, seed {seed} -> {shown}"]
    for k, v in counts.items():
        lines.append(f"  {k:<28} {v:>12,} rows")
    try:
        att = true_att(out / "truth", horizon=12, by="service_type")
        lines.append("  true ATT on employment at 12 months after the end (vs 'not now'):")
        for row in att.iter_rows(named=True):
            lines.append(f"    {row['service_type']:<22} {100 * row['att_employed']:+6.1f} pp  (n={row['n']:,})")
    except Exception as exc:  # the summary must never hide the files written
        lines.append(f"  (truth summary failed: {exc})")
    lines.append(f"  {secs:.1f} s")
    return "\n".join(lines)


def clean(out: str | Path) -> None:
    """Remove a generated folder (used by tests)."""
    shutil.rmtree(out, ignore_errors=True)

"""The outcome stage on local Spark equals embedded DuckDB, and brings back only unit tables.

One local Spark session (``local[2]``, one shuffle partition, UI off) runs the whole outcome
stage once on a small synthetic register (``impact simulate --persons 2000 --seed 3``); the
person x month panel is written by Spark's executors to Parquet, never collected. Then:

* every outcome table equals the DuckDB result row for row (both sorted by their keys);
* every result the client collected is an evaluation-unit (or aggregate) table: no collected
  result has person x month rows, none has more rows than there are evaluation units.

Marked ``spark`` (deselect with ``-m "not spark"`` for a quick local loop). Needs Java 17+
and the ``spark`` extra (``pip install 'impact[spark]'``).
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="needs the spark extra"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java on PATH"),
]

KEYS = {
    "person_month": ["person_id", "month"],
    "service_outcomes": ["service_id"],
    "spell_outcomes": ["spell_id"],
    "exclusions": ["table", "rule"],
}

#: Local Spark tuned for a tiny register: one shuffle partition, no whole-stage code
#: generation (compiling Java for each of ~80 tiny stages costs more than it saves).
SPARK_SETTINGS = {
    "master": "local[2]",
    "app_name": "impact-tests",
    "conf": {
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "2",
        "spark.sql.codegen.wholeStage": "false",
        "spark.driver.memory": "1g",
    },
    "log_level": "ERROR",
}


def _register(folder: Path) -> Path:
    """A 2,000-person synthetic register (the generator), or the hand-built one if absent."""
    try:
        from impact.simulate import simulate
    except ImportError:  # pragma: no cover - the generator ships with the package
        from tests.registers_fixtures import write_register_folder

        write_register_folder(folder, "parquet")
        return folder
    simulate(scenario="default", persons=2000, seed=3, out=folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Outcome stage on DuckDB and on Spark (once), with the Spark collections recorded."""
    from impact.backends import connect, open_register_tables
    from impact.outcomes import OutcomeConfig, compute_outcomes
    from impact.outcomes.pipeline import run_outcomes

    base = tmp_path_factory.mktemp("spark")
    folder = _register(base / "registers")
    cfg = OutcomeConfig()

    duck = connect("duckdb")
    want = compute_outcomes(duck, open_register_tables(duck, folder), cfg, collect_person_month=True)

    t0 = time.perf_counter()
    spark = connect("pyspark", SPARK_SETTINGS)
    startup = time.perf_counter() - t0
    collected: list[dict] = []
    execute = spark.execute

    def recording_execute(expr, *args, **kwargs):
        # Every PySpark result the client receives passes here (to_polars/to_pyarrow call it).
        result = execute(expr, *args, **kwargs)
        table = expr.as_table()
        collected.append({"columns": list(table.columns), "rows": len(result) if hasattr(result, "__len__") else 1})
        return result

    spark.execute = recording_execute
    try:
        out = base / "out"
        pm_path = out / "person_month.parquet"
        t1 = time.perf_counter()
        # the whole `impact outcomes` path: panel, unit tables, exclusions and summary tables
        got = run_outcomes(folder, out, cfg, con=spark)
        run = time.perf_counter() - t1
        panel_written = pl.read_parquet(pm_path / "*.parquet" if pm_path.is_dir() else pm_path)
    finally:
        spark._session.stop()
    print(f"\nSpark start-up {startup:.1f} s, outcome stage {run:.1f} s, {len(collected)} collections")
    return {"want": want, "got": got, "collected": collected, "panel_written": panel_written, "out": out}


def assert_same_rows(got: pl.DataFrame, want: pl.DataFrame, keys: list[str], what: str) -> None:
    """Row-for-row equality after sorting: exact for keys, codes, flags, dates and counts;
    floats to 1e-9 relative (sums run in a different order on each engine)."""
    assert got.columns == want.columns, f"{what}: columns {got.columns} != {want.columns}"
    assert got.height == want.height, f"{what}: {got.height} rows on Spark, {want.height} on DuckDB"
    got, want = got.sort(keys), want.sort(keys)
    for c in want.columns:
        g, w = got[c], want[c]
        if w.dtype.is_float():
            gv, wv = g.cast(pl.Float64).to_numpy(), w.cast(pl.Float64).to_numpy()
            assert np.array_equal(np.isnan(gv), np.isnan(wv)), f"{what}.{c}: nulls differ"
            ok = ~np.isnan(wv)
            np.testing.assert_allclose(gv[ok], wv[ok], rtol=1e-9, atol=1e-9, err_msg=f"{what}.{c}")
        else:
            if g.dtype != w.dtype and w.dtype.is_integer():
                g = g.cast(w.dtype)
            diff = (g != w) | (g.is_null() != w.is_null())
            diff = diff.fill_null(False)
            assert not diff.any(), (f"{what}.{c}: {int(diff.sum())} rows differ, e.g. "
                                    f"{list(zip(g.filter(diff).head(3), w.filter(diff).head(3)))}")


@pytest.mark.parametrize("name", ["service_outcomes", "spell_outcomes", "exclusions"])
def test_spark_equals_duckdb(runs, name):
    got, want = getattr(runs["got"], name), getattr(runs["want"], name)
    assert want.height > 0
    assert_same_rows(got, want, KEYS[name], name)


def test_spark_panel_written_by_executors_equals_duckdb(runs):
    want = runs["want"].person_month
    assert runs["got"].person_month is None  # not collected
    assert want.height > 10_000
    assert_same_rows(runs["panel_written"].select(want.columns), want, KEYS["person_month"], "person_month")


def test_spark_collects_only_evaluation_unit_tables(runs):
    want = runs["want"]
    n_units = want.service_outcomes.height + want.spell_outcomes.height
    collected = runs["collected"]
    assert collected, "nothing recorded: the recording wrapper is not on the collection path"
    person_month = [c for c in collected if {"person_id", "month"} <= set(c["columns"])]
    assert not person_month, f"person x month rows were collected: {person_month}"
    too_big = [c for c in collected if c["rows"] > max(want.service_outcomes.height, want.spell_outcomes.height)]
    assert not too_big, f"collections larger than the evaluation-unit tables: {too_big}"
    # the unit tables themselves did come back, and little else did
    cols = [set(c["columns"]) for c in collected]
    assert any({"service_id", "placed_6m"} <= c for c in cols) and any({"spell_id", "placed_6m"} <= c for c in cols)
    # person-level tables stay too: anything keyed by person alone (no unit id) is small
    by_person = [c for c in collected if "person_id" in c["columns"]
                 and not {"service_id", "spell_id"} & set(c["columns"]) and c["rows"] > 100]
    assert not by_person, f"person-level rows were collected: {by_person}"
    # the unit tables, the units' area and municipality for the group tables, and small aggregates
    assert sum(c["rows"] for c in collected) < 2 * n_units + 100
    assert (runs["out"] / "tables" / "services_by_employment_area.parquet").exists()

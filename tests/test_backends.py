"""Backends of the register stages: connection errors, table registration, SQL compilation.

The Spark equality test is in ``test_backends_spark.py`` (marked ``spark``). Here: the
backend choice and its errors, DuckDB as the reference backend, and the Snowflake SQL
snapshot (``tests/snapshots/outcomes_snowflake.sql``; refresh it after a reviewed change to
the outcome definitions with ``IMPACT_UPDATE_SNAPSHOTS=1``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import ibis
import polars as pl
import pytest

from impact import backends
from impact.backends import (
    SNOWFLAKE_ENV,
    compile_script,
    connect,
    materialise,
    open_register_tables,
    unbound_register_tables,
    write_parquet,
)
from impact.errors import BackendError, ConfigError, RegisterValidationError
from impact.outcomes import OutcomeConfig
from tests.registers_fixtures import valid_tables, write_register_folder

SNAPSHOT = Path(__file__).parent / "snapshots" / "outcomes_snowflake.sql"
#: The fixed outcome config of the snapshot: the month range comes from it, not from data.
SNAPSHOT_CFG = {"data_start": "2018-01-01", "extraction_date": "2023-06-30"}


@pytest.fixture(scope="module")
def register_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("registers")
    write_register_folder(folder, "parquet")
    return folder


@pytest.fixture
def no_snowflake_env(monkeypatch):
    for env in SNOWFLAKE_ENV.values():
        monkeypatch.delenv(env, raising=False)


# ---------------------------------------------------------------------------------------
# Backend choice and its errors
# ---------------------------------------------------------------------------------------


def test_unknown_backend_names_the_choices():
    with pytest.raises(BackendError, match=r"unknown backend 'bigquery'; expected one of duckdb, pyspark, snowflake"):
        connect("bigquery")


def test_spark_alias_and_case():
    assert backends.check_backend("Spark") == "pyspark"
    assert backends.check_backend(" DuckDB ") == "duckdb"


def test_missing_spark_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if pyspark were not installed
    with pytest.raises(BackendError, match=r"needs the Python package\(s\) pyspark.*pip install 'impact\[spark\]'"):
        connect("pyspark")


def test_unknown_setting_is_a_config_error():
    with pytest.raises(ConfigError, match=r"backend 'pyspark': unknown setting\(s\) \['masterr'\]"):
        connect("pyspark", {"masterr": "local[1]"})
    with pytest.raises(ConfigError, match=r"backend 'duckdb': unknown setting\(s\) \['threds'\]"):
        connect("duckdb", {"threds": 2})


def test_snowflake_missing_settings_are_named(no_snowflake_env):
    with pytest.raises(BackendError) as e:
        connect("snowflake")
    msg = str(e.value)
    for key in ("account (SNOWFLAKE_ACCOUNT)", "user (SNOWFLAKE_USER)", "warehouse (SNOWFLAKE_WAREHOUSE)",
                "database (SNOWFLAKE_DATABASE)", "schema (SNOWFLAKE_SCHEMA)", "password (or authenticator"):
        assert key in msg, msg


def test_snowflake_settings_from_env_and_config(no_snowflake_env, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "org-acct")
    monkeypatch.setenv("SNOWFLAKE_USER", "researcher")
    monkeypatch.setenv("SNOWFLAKE_AUTHENTICATOR", "externalbrowser")
    args = backends.snowflake_connect_args({"warehouse": "WH_S", "database": "REG", "schema": "FIONA",
                                            "role": "R_STUDY"})
    assert args["account"] == "org-acct" and args["user"] == "researcher"
    assert args["authenticator"] == "externalbrowser" and "password" not in args
    assert args["database"] == "REG/FIONA" and args["role"] == "R_STUDY" and args["warehouse"] == "WH_S"
    assert args["session_parameters"]["QUOTED_IDENTIFIERS_IGNORE_CASE"] is True
    assert args["create_object_udfs"] is False
    # the config wins over the environment
    assert backends.snowflake_connect_args({"account": "other", "warehouse": "W", "database": "D",
                                            "schema": "S"})["account"] == "other"


@pytest.mark.skipif(importlib.util.find_spec("snowflake") is not None, reason="Snowflake connector installed")
def test_snowflake_missing_package_names_the_extra(no_snowflake_env):
    settings = {"account": "a", "user": "u", "password": "p", "warehouse": "w", "database": "d", "schema": "s"}
    with pytest.raises(BackendError, match=r"snowflake\.connector.*pip install 'impact\[snowflake\]'"):
        connect("snowflake", settings)


def test_spark_conf_from_env_is_checked(monkeypatch):
    monkeypatch.setenv("IMPACT_SPARK_CONF", "spark.sql.shuffle.partitions=3;oops")
    with pytest.raises(BackendError, match=r"IMPACT_SPARK_CONF: expected 'key=value' pairs.*'oops'"):
        backends._spark_settings({})
    monkeypatch.setenv("IMPACT_SPARK_CONF", "spark.sql.shuffle.partitions=3; spark.driver.memory = 2g")
    monkeypatch.setenv("IMPACT_SPARK_MASTER", "spark://head:7077")
    s = backends._spark_settings({"conf": {"spark.executor.memory": "8g"}})
    assert s["master"] == "spark://head:7077"
    assert s["conf"] == {"spark.executor.memory": "8g", "spark.sql.shuffle.partitions": "3",
                         "spark.driver.memory": "2g"}


# ---------------------------------------------------------------------------------------
# DuckDB: registering, materialising, writing
# ---------------------------------------------------------------------------------------


def test_duckdb_register_tables_typed_as_contracts(register_folder):
    con = connect("duckdb", {"threads": 1})
    tables = open_register_tables(con, register_folder)
    want = valid_tables()
    assert set(tables) == set(want)
    for name, frame in want.items():
        got = tables[name].to_polars()
        assert got.height == frame.height, name
        assert got.sort(got.columns[:2]).equals(frame.select(got.columns).sort(got.columns[:2])), name


def test_duckdb_missing_table_is_named(tmp_path):
    write_register_folder(tmp_path, "parquet")
    (tmp_path / "service_spells.parquet").unlink()
    with pytest.raises(RegisterValidationError, match="service_spells"):
        open_register_tables(connect("duckdb"), tmp_path)
    with pytest.raises(BackendError, match="register folder is needed"):
        open_register_tables(connect("duckdb"), None)


def test_materialise_and_write_parquet_on_duckdb(register_folder, tmp_path):
    con = connect("duckdb")
    r = open_register_tables(con, register_folder)["earnings_reports"]
    agg = r.group_by("person_id").aggregate(total=r.amount_eur.sum())
    m = materialise(con, agg)
    assert m.op() != agg.op() and m.count().execute() == agg.count().execute()
    path = write_parquet(con, m.order_by("person_id"), tmp_path / "out" / "totals.parquet")
    got = pl.read_parquet(path)
    assert got.equals(agg.order_by("person_id").to_polars())
    assert [p.name for p in path.parent.iterdir()] == ["totals.parquet"]  # no temporary left behind


# ---------------------------------------------------------------------------------------
# Compiling to SQL
# ---------------------------------------------------------------------------------------


def test_compile_script_inlines_constants_and_reuses_materialised_tables():
    t = unbound_register_tables(["earnings_reports"])["earnings_reports"]
    months = ibis.memtable(pl.DataFrame({"month": [24240, 24241], "first_day": [18262, 18293]},
                                        schema={"month": pl.Int32, "first_day": pl.Int32}))
    mm = t.mutate(m=(t.payment_date.year() * 12 + t.payment_date.month() - 1).cast("int32"))
    panel = mm.join(months, mm.m == months.month).group_by(["person_id", "month"]).aggregate(
        eur=mm.amount_eur.sum())
    out = panel.group_by("person_id").aggregate(n=panel.count())
    script = compile_script({"per_person": out}, materialise={"panel": panel}, prefix="x_")
    assert script == compile_script({"per_person": out}, materialise={"panel": panel}, prefix="x_")
    assert "ibis_" not in script  # no random memtable names
    const = re.findall(r'CREATE OR REPLACE TEMPORARY TABLE "(x_const_[0-9a-f]{10})"', script)
    assert len(const) == 1 and "(24240, 18262)" in script and "(24241, 18293)" in script
    stmts = script.split(";\n")
    per_person = next(s for s in stmts if '"x_per_person"' in s)
    assert 'FROM "x_panel"' in per_person and "earnings_reports" not in per_person
    assert script.count('FROM "earnings_reports"') == 1  # the panel is computed once


def test_compile_script_refuses_large_constant_tables():
    t = unbound_register_tables(["persons"])["persons"]
    big = ibis.memtable(pl.DataFrame({"person_id": range(backends.MAX_INLINE_ROWS + 1)}))
    with pytest.raises(BackendError, match=r"has 10001 rows; only tables up to 10000"):
        compile_script({"x": t.join(big, "person_id")})


def _snowflake_sql(tmp_path: Path) -> str:
    from impact.outcomes.config import config_from_dict
    from impact.outcomes.pipeline import sql_script

    path = sql_script(None, tmp_path, config_from_dict(SNAPSHOT_CFG), "snowflake")
    return path.read_text()


def test_snowflake_sql_snapshot(tmp_path):
    """The Snowflake SQL of every outcome expression; a change shows up as a reviewed diff."""
    sql = _snowflake_sql(tmp_path)
    if os.environ.get("IMPACT_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(sql)
    assert SNAPSHOT.exists(), f"{SNAPSHOT} missing: run with IMPACT_UPDATE_SNAPSHOTS=1 to create it"
    want = SNAPSHOT.read_text()
    if sql != want:
        import difflib

        diff = "".join(list(difflib.unified_diff(want.splitlines(True), sql.splitlines(True),
                                                 "snapshot", "compiled", n=1))[:60])
        pytest.fail("compiled Snowflake SQL differs from tests/snapshots/outcomes_snowflake.sql; if the change "
                    f"is intended, refresh with IMPACT_UPDATE_SNAPSHOTS=1\n{diff}")
    # what a warehouse run creates: the panel stays there, unit tables come back
    for table in ("impact_person_month", "impact_service_outcomes", "impact_spell_outcomes",
                  "impact_report_exclusions"):
        assert f'CREATE OR REPLACE TABLE "{table}"' in sql
    assert "ibis_" not in sql and "ASOF" not in sql.upper() and "UNNEST" not in sql.upper()
    # one statement reads the earnings reports: the panel with the report exclusion counts
    reads = [s for s in sql.split(";\n") if 'FROM "earnings_reports"' in s]
    assert len(reads) == 1 and '"impact_person_month_with_counts"' in reads[0]


def test_cli_sql_only_writes_the_snapshot(tmp_path, register_folder):
    import tomllib  # noqa: F401  (the config below is TOML)

    from impact.cli import main

    cfg = tmp_path / "outcomes.toml"
    cfg.write_text("".join(f'{k} = {v}\n' for k, v in SNAPSHOT_CFG.items()))
    out = tmp_path / "sql"
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(register_folder), "--out", str(out), "--config", str(cfg),
              "--backend", "snowflake", "--sql-only"])
    assert e.value.code == 0
    assert (out / "outcomes_snowflake.sql").read_text() == SNAPSHOT.read_text()


def test_cli_backend_errors_are_clear(tmp_path, register_folder, capsys, monkeypatch, no_snowflake_env):
    from impact.cli import main

    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(register_folder), "--out", str(tmp_path), "--backend", "oracle"])
    assert e.value.code == 2
    assert "invalid choice: 'oracle'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(register_folder), "--out", str(tmp_path / "o"), "--backend", "pyspark"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "pip install 'impact[spark]'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(register_folder), "--out", str(tmp_path / "o"), "--backend", "snowflake"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "SNOWFLAKE_ACCOUNT" in err and "Traceback" not in err



def test_compiled_script_run_on_duckdb_equals_the_pipeline(tmp_path, register_folder):
    """The script machinery (inlined constants, the panel table reused) computes the same tables."""
    import duckdb

    from impact.outcomes import compute_outcomes
    from impact.outcomes.pipeline import sql_script

    cfg = OutcomeConfig()
    script = sql_script(register_folder, tmp_path, cfg, "duckdb").read_text()
    db = duckdb.connect()
    for name in ("persons", "jobseeking_spells", "service_spells", "earnings_reports"):
        db.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{register_folder / (name + '.parquet')}')")
    db.execute(script)
    con = connect("duckdb")
    want = compute_outcomes(con, open_register_tables(con, register_folder), cfg)
    for table, key in (("service_outcomes", "service_id"), ("spell_outcomes", "spell_id")):
        got = db.sql(f'SELECT * FROM "impact_{table}"').pl().sort(key)
        exp = getattr(want, table).sort(key)
        assert got.columns == exp.columns and got.height == exp.height > 0
        assert got.equals(exp.cast(dict(got.schema))), table
    pm = db.execute('SELECT count(*) FROM "impact_person_month"').fetchone()[0]
    assert pm == want.person_month.height
    # the stage timings the benchmark reads: (wall, CPU) seconds per stage
    steps = {f"outcomes/{k}" for k in ("units", "baseline", "windows", "late", "assemble")}
    assert set(want.timings) == {"panel", "panel/plan", "panel/build", "outcomes", "person_month"} | steps
    assert want.timings["panel"][0] == pytest.approx(want.timings["panel/plan"][0] + want.timings["panel/build"][0],
                                                     abs=0.002)
    assert all(w > 0 and c >= 0 for w, c in want.timings.values())
    # the steps make up the outcome stage (up to the two clocks' few microseconds)
    assert sum(want.timings[k][0] for k in steps) == pytest.approx(want.timings["outcomes"][0], abs=0.01)


def test_snowflake_script_parses_as_snowflake_sql():
    import sqlglot

    if not SNAPSHOT.exists():
        pytest.skip("snapshot not generated yet")
    text = SNAPSHOT.read_text()
    statements = [s for s in sqlglot.parse(text, read="snowflake") if s is not None]
    kinds = [type(s).__name__ for s in statements]
    # constant tables, the panel (and other reused tables), then the outputs: all CREATE ... AS
    assert kinds.count("Create") == len(statements) == text.count("\nCREATE OR REPLACE ") >= 8


def test_failed_outcome_run_leaves_the_output_folder_as_it_was(tmp_path, register_folder, monkeypatch):
    """Everything is staged beside OUT and moved in only after the whole stage succeeded."""
    from impact.outcomes import pipeline

    out = tmp_path / "out"
    out.mkdir()
    (out / "service_outcomes.parquet").write_text("previous run")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "write_summary_tables", boom)  # after the unit tables are written
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.run_outcomes(register_folder, out, OutcomeConfig())
    assert sorted(p.name for p in out.iterdir()) == ["service_outcomes.parquet"]
    assert (out / "service_outcomes.parquet").read_text() == "previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
    monkeypatch.undo()
    pipeline.run_outcomes(register_folder, out, OutcomeConfig())
    assert pl.read_parquet(out / "service_outcomes.parquet").height > 0
    assert {"person_month.parquet", "spell_outcomes.parquet", "tables", "exclusions.json"} <= {
        p.name for p in out.iterdir()}


def test_plan_allocated_rows_are_what_the_panel_sums(register_folder):
    from impact.outcomes import pipeline as P

    con = connect("duckdb")
    tables = open_register_tables(con, register_folder)
    first, last, latest = P.data_range(tables)
    plan = P.plan_outcomes(tables, OutcomeConfig(), latest, first, last)
    a = plan.allocated_rows().to_polars()
    kept = (a.filter(pl.col("month") >= 0).group_by("person_id", "month").agg(pl.col("amount").sum())
            .sort("person_id", "month"))
    panel = plan.panel.to_polars().sort("person_id", "month")
    assert kept.height == panel.height > 0
    assert kept["person_id"].equals(panel["person_id"]) and kept["month"].equals(panel["month"])
    assert (kept["amount"] - panel["earnings_eur"]).abs().max() < 1e-9
    # one pseudo row per dropped report row, under its rule's month -1 - i
    dropped = a.filter(pl.col("month") < 0)
    assert dropped["person_id"].null_count() == dropped.height
    counts = dict(zip(*plan.report_exclusions.to_polars().select("rule", "rows").to_dict(as_series=False).values()))
    names = {-1 - i: n for i, n in enumerate(plan.rule_names)}
    got = {names[r["month"]]: r["len"] for r in dropped.group_by("month").len().to_dicts()}
    assert got and got == {rule: n for rule, n in counts.items() if n > 0}

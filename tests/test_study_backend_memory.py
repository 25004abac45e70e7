"""After the outcome stage the study lowers DuckDB's memory limit: tables move to its temporary
directory, and every query gives the same result as before."""

from __future__ import annotations

import os

from impact.study import stages


def _limit(con) -> str:
    return con.con.execute("select current_setting('memory_limit')").fetchone()[0]


def test_release_moves_tables_to_disk_and_keeps_results(monkeypatch):
    con = stages.connect_backend("duckdb", None)
    tmp = con.con.execute("select current_setting('temp_directory')").fetchone()[0]
    assert f"impact-duckdb-{os.getpid()}" in tmp  # its own directory, not the working directory
    con.raw_sql("create temp table panel as select range % 50000 as person_id, range as month, "
                "(range * 7919) % 1000 as earnings from range(3000000)")
    q = "select person_id, sum(earnings) s, count(*) n from panel group by person_id order by person_id"
    before = con.con.execute(q).fetchall()
    monkeypatch.setattr(stages, "ANALYSIS_MEMORY_LIMIT", "20MB")
    stages.release_backend_memory(con, "duckdb", None)
    assert _limit(con) == "19.0 MiB"  # DuckDB shows 20 MB in MiB
    spilled = con.con.execute("select sum(temporary_storage_bytes) from duckdb_memory()").fetchone()[0]
    assert spilled > 0  # the table no longer fits: part of it is on disk
    assert con.con.execute(q).fetchall() == before


def test_a_configured_memory_limit_is_kept():
    con = stages.connect_backend("duckdb", {"memory_limit": "3GB"})
    kept = _limit(con)
    stages.release_backend_memory(con, "duckdb", {"memory_limit": "3GB"})
    assert _limit(con) == kept

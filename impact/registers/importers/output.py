"""Where an import writes: a register folder (published atomically) or warehouse tables, plus the manifests.

A register folder gets the contract tables as Parquet, the delivery manifest ``delivery.toml``
(the extraction date, through :func:`impact.registers.delivery.write_delivery`, which every run
reads) and ``import_log.json``: ``imports`` (one entry per import run) and ``folder`` (what the
data are and where they came from: source kind per table, extraction date per delivery,
whether the subsidised flag was derived). The whole folder is built in a staging folder
beside it (the tables an import does not write are hard-linked from the old folder) and
published in one step by :mod:`impact.publish`, so a failed or killed import leaves the
folder as it was.

In a warehouse (``--backend snowflake|pyspark`` or a DuckDB database) the contract tables are
created in place under the register names (upper-cased on Snowflake); the manifests still go
to the local folder given as ``--out`` (they hold no person-level data).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import ibis.expr.types as ir

from impact.publish import check_replaceable, discard, publish, staging_dir
from impact.registers.delivery import DELIVERY_FILE, write_delivery
from impact.registers.schema import CONTRACTS

LOG_FILE = "import_log.json"
#: The command recorded in the folder's ``.impact-output.json`` (:mod:`impact.publish`).
COMMAND = "import"
#: Extra tables an import writes beside the contract tables.
EXTRA_TABLES = ("employments", "pay_subsidy_employers")


def import_output(rel: str) -> bool:
    """Whether a file of a register folder is one an import writes (folders imported before the marker)."""
    name = rel.removesuffix(".parquet")
    return (rel in (DELIVERY_FILE, LOG_FILE, "delivery.json", "private/keys.parquet")
            or (rel.endswith(".parquet") and (name in CONTRACTS or name in EXTRA_TABLES))
            or rel.startswith("prepared/"))  # the earnings reports' prepared layout


class Target:
    """The folder (and optionally warehouse) an import writes into.

    Parameters
    ----------
    out
        The register folder (created if missing). It must hold only what imports wrote.
    con
        The Ibis connection of the import.
    in_warehouse
        Create the contract tables in ``con`` (the warehouse) instead of writing Parquet.
    """

    def __init__(self, out: str | Path, con: Any, in_warehouse: bool = False):
        self.out = check_replaceable(out, COMMAND, import_output)
        self.con = con
        self.in_warehouse = in_warehouse
        self.stage = staging_dir(self.out)
        self.work = self.stage / "_work"  # sources' staging and DuckDB's spill files; removed before publishing
        self.work.mkdir()
        if self.out.is_dir():
            _link_tree(self.out, self.stage)

    # -- tables --------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table | None:
        """An existing contract table of the target (None if absent)."""
        if self.in_warehouse:
            try:
                return self.con.table(_warehouse_name(self.con, name))
            except Exception:  # noqa: BLE001 - absent table: each backend raises its own error
                return None
        path = self.stage / f"{name}.parquet"
        if not path.exists():
            return None
        return self.con.read_parquet(str(path), table_name=f"impact_in_{name}_{uuid.uuid4().hex[:8]}")

    def write(self, name: str, expr: ir.Table, order_by: list[str] | None = None) -> int:
        """Write a table (contract or extra); returns its row count."""
        if self.in_warehouse:
            target = _warehouse_name(self.con, name)
            replace_table(self.con, target, expr)
            return int(self.con.table(target).count().to_pyarrow().as_py())
        path = self.stage / f"{name}.parquet"
        e = expr.order_by(order_by) if order_by else expr
        tmp = self.stage / f".{name}.{uuid.uuid4().hex[:6]}.parquet"
        self.con.to_parquet(e, str(tmp))
        os.replace(tmp, path)  # replaces the link to the old folder's file, never the file itself
        return int(self.con.read_parquet(str(path)).count().to_pyarrow().as_py())

    def private_path(self, rel: Path) -> Path:
        """A fresh staged path for a private file (a link to the old folder's file is removed first)."""
        p = self.stage / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.unlink(missing_ok=True)
        return p

    # -- manifests -----------------------------------------------------------------------
    def read_log(self) -> dict[str, Any]:
        """The folder's ``import_log.json`` (``folder`` summary and ``imports`` list)."""
        return read_import_log(self.stage)

    def write_log(self, log: dict[str, Any]) -> None:
        p = self.private_path(Path(LOG_FILE))
        p.write_text(json.dumps(log, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")

    def write_manifest(self, date: dt.date | None, source: str) -> bool:
        """Write ``delivery.toml`` (False: no extraction date known; an existing manifest is kept)."""
        (self.stage / "delivery.json").unlink(missing_ok=True)  # the manifest of earlier versions
        if date is None:
            return (self.stage / DELIVERY_FILE).exists()
        write_delivery(self.private_path(Path(DELIVERY_FILE)).parent, date, source)
        return True

    # -- commit ----------------------------------------------------------------------------
    def commit(self) -> None:
        """Publish the staged folder as ``out`` in one step."""
        shutil.rmtree(self.work, ignore_errors=True)
        publish(self.stage, self.out, COMMAND, import_output)

    def abort(self) -> None:
        discard(self.stage)


def read_import_log(folder: str | Path) -> dict[str, Any]:
    """``import_log.json`` of a register folder: ``{"folder": summary, "imports": [entries]}``."""
    p = Path(folder) / LOG_FILE
    log = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    if isinstance(log, list):  # written before the summary moved here from delivery.json
        old = Path(folder) / "delivery.json"
        log = {"folder": json.loads(old.read_text(encoding="utf-8")) if old.exists() else {}, "imports": log}
    return {"folder": log.get("folder", {}), "imports": log.get("imports", [])}


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (else copy) every file of the old folder into the staging folder, the marker aside."""
    for p in src.rglob("*"):
        rel = p.relative_to(src)
        if p.is_dir() or rel.parts[0].startswith(".impact-output"):
            continue
        d = dst / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(p, d)
        except OSError:
            shutil.copy2(p, d)


def replace_table(con: Any, name: str, expr: ir.Table) -> None:
    """Create or replace a table in the warehouse from an expression.

    On DuckDB the expression is computed into a temporary table first (it may read the table
    being replaced) and Ibis's ``overwrite`` is avoided (it fails on Ibis 12 with DuckDB 2).
    """
    if getattr(con, "name", "") != "duckdb":
        con.create_table(name, expr, overwrite=True)
        return
    tmp = con.create_table(f"impact_tmp_{uuid.uuid4().hex[:10]}", expr, temp=True)
    con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
    con.create_table(name, tmp)


def _warehouse_name(con: Any, name: str) -> str:
    return name.upper() if getattr(con, "name", "") == "snowflake" else name


def _json_default(o: Any) -> Any:
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, set):
        return sorted(o)
    raise TypeError(type(o).__name__)


def merge_delivery(previous: dict | None, kind: str, entry: dict[str, Any], tables: list[str]) -> dict[str, Any]:
    """The folder summary (``import_log.json``'s ``folder``) after an import of ``kind`` wrote ``tables``.

    Top-level keys the report layer reads: ``extraction_date`` (ISO date: the earliest
    extraction date of the deliveries the folder holds, i.e. the date the data as a whole
    are complete to), ``source_kind`` (where the earnings reports came from), ``reports``
    (``all_versions`` or ``valid_latest_only``), ``subsidised_derived`` and
    ``subsidised_rule``; ``tables`` says which import wrote each table and ``sources`` holds
    one entry per import kind.
    """
    d = dict(previous or {})
    sources = dict(d.get("sources", {}))
    sources[kind] = entry
    d["sources"] = sources
    owners = dict(d.get("tables", {}))
    for t in tables:
        owners[t] = kind
    d["tables"] = owners
    dates = [s["extraction_date"] for s in sources.values() if s.get("extraction_date")]
    d["extraction_date"] = min(dates) if dates else None
    er = owners.get("earnings_reports")
    if er is not None:
        d["source_kind"] = sources[er]["source_kind"]
        d["reports"] = sources[er].get("reports")
    d["contract_tables"] = sorted(t for t in owners if t in CONTRACTS)
    return d


def append_log(previous: list | None, entry: dict[str, Any]) -> list:
    return [*(previous or []), entry]


def manifest_source(summary: dict[str, Any]) -> str:
    """The ``source`` text of ``delivery.toml``: which imports made the folder, where earnings came from."""
    parts = [f"impact import {k} ({s.get('mapping')})" for k, s in sorted(summary.get("sources", {}).items())]
    if summary.get("source_kind"):
        parts.append(f"earnings from {summary['source_kind']} ({summary.get('reports')})")
    if summary.get("subsidised_derived"):
        parts.append("subsidised pay derived from pay-subsidy spells of the job-seeker register")
    return "; ".join(parts)


__all__ = ["COMMAND", "LOG_FILE", "Target", "append_log", "import_output", "manifest_source", "merge_delivery",
           "read_import_log", "replace_table"]

"""Where an import writes: a register folder (atomically) or warehouse tables, plus the manifests.

A register folder gets the contract tables as Parquet, ``delivery.json`` (what the data are and
where they came from: source kind per table, extraction date of the delivery, whether the
subsidised flag was derived) and ``import_log.json`` (one entry per import run). Tables are
first written into a hidden staging folder inside the target and moved into place only when
the whole import has succeeded, so a failed import leaves the folder as it was.

In a warehouse (``--backend snowflake|pyspark`` or a DuckDB database) the contract tables are
created in place under the register names (upper-cased on Snowflake); the two JSON files
still go to the local folder given as ``--out`` (they hold no person-level data).
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

from impact.registers.schema import CONTRACTS

DELIVERY_FILE = "delivery.json"
LOG_FILE = "import_log.json"


class Target:
    """The folder (and optionally warehouse) an import writes into.

    Parameters
    ----------
    out
        The register folder (created if missing).
    con
        The Ibis connection of the import.
    in_warehouse
        Create the contract tables in ``con`` (the warehouse) instead of writing Parquet.
    """

    def __init__(self, out: str | Path, con: Any, in_warehouse: bool = False):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.con = con
        self.in_warehouse = in_warehouse
        self.stage = self.out / f".import-{uuid.uuid4().hex[:10]}"
        self.stage.mkdir()
        self._files: list[Path] = []

    # -- tables --------------------------------------------------------------------------
    def table(self, name: str) -> ir.Table | None:
        """An existing contract table of the target (None if absent)."""
        if self.in_warehouse:
            try:
                return self.con.table(_warehouse_name(self.con, name))
            except Exception:  # noqa: BLE001 - absent table: each backend raises its own error
                return None
        staged = self.stage / f"{name}.parquet"
        path = staged if staged.exists() else self.out / f"{name}.parquet"
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
        os.replace(tmp, path)
        if path not in self._files:
            self._files.append(path)
        return int(self.con.read_parquet(str(path)).count().to_pyarrow().as_py())

    def private_path(self, rel: Path) -> Path:
        """A staged path under the target for a private file (moved in on commit)."""
        p = self.stage / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p not in self._files:
            self._files.append(p)
        return p

    # -- manifests -----------------------------------------------------------------------
    def read_json(self, name: str) -> Any:
        p = self.out / name
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None

    def stage_json(self, name: str, obj: Any) -> None:
        p = self.stage / name
        p.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")
        if p not in self._files:
            self._files.append(p)

    # -- commit ----------------------------------------------------------------------------
    def commit(self) -> None:
        """Move every staged file into place (each an atomic rename) and remove the staging folder."""
        for p in self._files:
            target = self.out / p.relative_to(self.stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
        shutil.rmtree(self.stage, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)


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
    """The folder's ``delivery.json`` after an import of ``kind`` wrote ``tables``.

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


__all__ = ["DELIVERY_FILE", "LOG_FILE", "Target", "append_log", "merge_delivery", "replace_table"]

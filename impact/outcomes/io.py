"""Reading a register folder into Ibis tables, and atomic writing of the outputs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.errors import RegisterValidationError
from impact.registers.delivery import Delivery, read_delivery
from impact.registers.schema import CONTRACTS, TableContract

_IBIS_TYPES = {
    pl.Int8: "int8", pl.Int16: "int16", pl.Int32: "int32", pl.Int64: "int64", pl.Float64: "float64",
    pl.String: "string", pl.Boolean: "boolean", pl.Date: "date",
}


def _ibis_type(dtype: pl.DataType) -> str:
    for k, v in _IBIS_TYPES.items():
        if dtype == k:
            return v
    raise TypeError(dtype)


def _find(folder: Path, name: str) -> tuple[str, Path] | None:
    for kind, cand in (("parquet", folder / f"{name}.parquet"), ("parquet_dir", folder / name),
                       ("csv", folder / f"{name}.csv")):
        if cand.exists():
            return kind, cand
    return None


def open_table(con: Any, folder: Path, contract: TableContract) -> ir.Table | None:
    """One register table as an Ibis table on ``con`` (``None`` if an optional table is absent).

    Checks that the contract's non-optional columns are present and casts CSV columns to the
    contract's types. Full validation is :mod:`impact.registers.validate`'s job.
    """
    found = _find(folder, contract.name)
    if found is None:
        if contract.required:
            raise RegisterValidationError(
                f"register folder {folder}: table {contract.name!r} missing "
                f"(expected {contract.name}.parquet or {contract.name}.csv)")
        return None
    kind, path = found
    if kind == "parquet":
        t = con.read_parquet(str(path), table_name=f"reg_{contract.name}")
    elif kind == "parquet_dir":
        t = con.read_parquet(str(path / "*.parquet"), table_name=f"reg_{contract.name}")
    else:
        t = con.read_csv(str(path), table_name=f"reg_{contract.name}")
    missing = [c.name for c in contract.columns if not c.optional and c.name not in t.columns]
    if missing:
        raise RegisterValidationError(f"{path}: column(s) {missing} missing; table {contract.name!r} needs "
                                      f"{[c.name for c in contract.columns if not c.optional]}")
    casts = {}
    for c in contract.columns:
        if c.name in t.columns:
            want = _ibis_type(c.dtype)
            if str(t[c.name].type()).rstrip("!") != want:
                casts[c.name] = t[c.name].cast(want)
    if casts:
        t = t.mutate(**casts)
    return t


class RegisterTables(dict):
    """Register name -> Ibis table, with the folder's delivery manifest (``delivery``; None: none)."""

    delivery: Delivery | None = None


def open_registers(con: Any, folder: str | Path) -> RegisterTables:
    """All register tables of a folder as Ibis tables on ``con`` (optional absent ones left out).

    The result also carries the folder's delivery manifest (``.delivery``), which gives the
    outcome stage its extraction date when the outcome config sets none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RegisterValidationError(f"register folder {folder}: not a directory")
    out = RegisterTables()
    out.delivery = read_delivery(folder)
    for name, contract in CONTRACTS.items():
        t = open_table(con, folder, contract)
        if t is not None:
            out[name] = t
    return out


def _tmp_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    return Path(tmp)


def _write_atomic(path: str | Path, write: Any) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_parquet_atomic(df: pl.DataFrame, path: str | Path) -> Path:
    """Write a polars frame to Parquet through a temporary file in the same folder."""
    return _write_atomic(path, df.write_parquet)


def write_expr_parquet_atomic(con: Any, expr: ir.Table, path: str | Path) -> Path:
    """Let the backend write an Ibis table expression to Parquet, atomically."""
    return _write_atomic(path, lambda tmp: con.to_parquet(expr, str(tmp)))


def write_json_atomic(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return _write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, default=str)))


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write a text file, atomically."""
    return _write_atomic(path, lambda tmp: tmp.write_text(text))


__all__ = ["RegisterTables", "open_registers", "open_table", "write_parquet_atomic", "write_expr_parquet_atomic",
           "write_json_atomic", "write_text_atomic"]

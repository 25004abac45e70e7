"""Atomic writing of the outputs (reading a register folder into Ibis tables: :mod:`impact.backends`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import polars as pl

# opening a register folder as Ibis tables is the backend's job; kept importable from here
from impact.backends import RegisterTables, open_registers, open_table  # noqa: F401


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


__all__ = ["open_registers", "open_table", "write_parquet_atomic", "write_expr_parquet_atomic",
           "write_json_atomic", "write_text_atomic"]

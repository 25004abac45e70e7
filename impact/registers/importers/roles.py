"""Source roles: which file (or warehouse table) is which module, as typed Ibis tables.

Local files are assigned to a mapping's roles by ``ROLE=PATH`` or by the role's file-name
patterns, staged to typed Parquet (:func:`impact.registers.importers.files.stage_role`) and
read back as Ibis tables. On the warehouse path the role tables are existing tables named in
the options; the same renaming and typing is done as Ibis casts there, so every later step is
the same expression on either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from impact.registers.importers.files import _DTYPES, stage_role
from impact.registers.importers.log import ImportRefused

_IBIS = {"id": "string", "code": "string", "text": "string", "date": "date", "int": "int64", "float": "float64",
         "bool": "boolean"}


def assign_roles(ctx: Any) -> dict[str, list[tuple[int, Path]]]:
    """Role -> (source index, path) of the import's files; a file no role claims is an error."""
    out: dict[str, list[tuple[int, Path]]] = {}
    roles = ctx.mapping.roles()
    for i, p in enumerate(ctx.sources):
        s = str(p)
        if "=" in s and s.split("=", 1)[0] in roles:
            role, path = s.split("=", 1)
            path = Path(path)
        else:
            path = Path(s)
            role = ctx.mapping.role_of(path)
            if role is None:
                raise ImportRefused(f"{path}: no role of mapping {ctx.mapping.name} matches this file name; name it "
                                    f"as ROLE=PATH with ROLE one of {sorted(roles)}")
        out.setdefault(role, []).append((i, path))
    return out


def role_tables(ctx: Any, wanted: list[str] | None = None) -> dict[str, ir.Table]:
    """The import's role tables (renamed to contract-side names, typed), local or warehouse."""
    if ctx.options.con is not None:
        return _warehouse_roles(ctx)
    out = {}
    for role, paths in assign_roles(ctx).items():
        if wanted is not None and role not in wanted:
            raise ImportRefused(f"role {role!r} ({paths[0][1]}) is not used by a {ctx.kind} import; its roles are "
                                f"{wanted}")
        folder = stage_role(role, paths, ctx.mapping, ctx.staging, ctx.log, ctx.options.fmt, ctx.options.encoding)
        if folder is not None and any(folder.glob("*.parquet")):
            out[role] = ctx.con.read_parquet(str(folder / "*.parquet"))
        elif folder is not None:
            out[role] = _empty_role(ctx, role)
    return out


def _empty_role(ctx: Any, role: str) -> ir.Table:
    import polars as pl

    kinds = dict(ctx.mapping.role(role).get("kinds", {}))
    schema = {k: _DTYPES[v] for k, v in kinds.items()}
    schema.update(_src_row=pl.Int64, _src_file=pl.Int32)
    return ibis.memtable(pl.DataFrame(schema=schema))


def _warehouse_roles(ctx: Any) -> dict[str, ir.Table]:
    """Role tables from warehouse tables (``options.tables``: role -> table name)."""
    con, out = ctx.con, {}
    for i, (role, name) in enumerate(sorted((ctx.options.tables or {}).items())):
        wanted = ctx.mapping.columns(role)
        kinds = dict(ctx.mapping.role(role).get("kinds", {}))
        optional = set(ctx.mapping.role(role).get("optional", []))
        parts = name.split(".")
        try:
            t = con.table(parts[-1], database=tuple(parts[:-1]) if len(parts) > 1 else None)
        except Exception as e:  # noqa: BLE001 - each backend raises its own error
            raise ImportRefused(f"warehouse table {name!r} (role {role}) not found: {str(e).splitlines()[0]}") from None
        by_lower = {c.lower(): c for c in t.columns}
        cols = {}
        for k, col in wanted.items():
            src = by_lower.get(col.lower())
            if src is None:
                if k in optional:
                    cols[k] = ibis.null(_IBIS[kinds[k]])
                    continue
                raise ImportRefused(f"warehouse table {name}: column {col!r} ({k}) missing; it has {t.columns}")
            cols[k] = _typed(t[src], kinds[k])
        sel = t.select(**cols, _src_row=ibis.row_number().cast("int64") + 1, _src_file=ibis.literal(i, "int32"))
        out[role] = sel
        ctx.sources.append(Path(name))
    return out


def _typed(col: ir.Value, kind: str) -> ir.Value:
    want = _IBIS[kind]
    if kind in ("id", "code", "text"):
        s = col.cast("string").strip()
        return ibis.cases((s == "", ibis.null("string")), else_=s)
    if str(col.type()).rstrip("!") == want:
        return col
    return col.cast(want)


__all__ = ["assign_roles", "role_tables"]

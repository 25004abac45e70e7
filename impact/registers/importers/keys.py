"""The key table: source identifiers (typed, pseudonymised or not) -> the contract's integer ids.

One row per (``kind``, ``namespace``, ``source_id``) with its integer ``id``; ``kind`` is
``person`` or ``payer``, ``namespace`` says what the identifier is (``hetu`` = Finnish personal
identity code, ``ytunnus`` = business id, ``hid_e`` = Statistics Finland's pseudonymised person
id, ``foreign:9:GB`` = a foreign personal id of Great Britain, ...). New identifiers get the next
free ids in the order (namespace, source_id), so the same deliveries give the same ids. The
table is stored next to the registers under ``private/keys.parquet`` (or as a warehouse table)
and never enters a report: it is the only link back to the delivered identifiers.

Everything here is Ibis, so the same code runs on embedded DuckDB and in a warehouse.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from impact.registers.importers.tables import materialise

KEY_FILE = Path("private") / "keys.parquet"
KEY_COLUMNS = {"kind": "string", "namespace": "string", "source_id": "string", "id": "int64"}


def empty_keys() -> ir.Table:
    return ibis.memtable({k: [] for k in KEY_COLUMNS}, schema=ibis.schema(KEY_COLUMNS))


class KeyTable:
    """The key table of one register folder (or warehouse schema), extended in place.

    Parameters
    ----------
    con
        The Ibis connection the import runs on.
    table
        The existing key table (``None``: none yet).
    """

    def __init__(self, con: Any, table: ir.Table | None = None):
        self.con = con
        self.table = table if table is not None else empty_keys()
        self.added: dict[str, int] = {}

    @classmethod
    def load(cls, con: Any, folder: Path) -> KeyTable:
        path = Path(folder) / KEY_FILE
        if not path.exists():
            return cls(con)
        return cls(con, con.read_parquet(str(path), table_name=f"impact_keys_{uuid.uuid4().hex[:8]}"))

    def extend(self, ids: ir.Table) -> None:
        """Give every (kind, namespace, source_id) of ``ids`` not yet in the table the next free id."""
        known = self.table.select("kind", "namespace", "source_id")
        new = ids.select("kind", "namespace", "source_id").distinct()
        new = new.anti_join(known, ["kind", "namespace", "source_id"])
        top = self.table.group_by("kind").aggregate(_top=self.table.id.max())
        new = new.left_join(top, "kind")
        rank = ibis.row_number().over(group_by=new.kind, order_by=[new.namespace, new.source_id])
        new = materialise(new.select("kind", "namespace", "source_id",
                                     id=(new._top.fill_null(0) + rank + 1).cast("int64")))
        counts = new.group_by("kind").aggregate(n=new.count()).to_pyarrow().to_pylist()
        self.added = {r["kind"]: int(r["n"]) for r in counts}
        self.table = materialise(self.table.select(*KEY_COLUMNS).union(new.select(*KEY_COLUMNS)))

    def extend_from(self, tables: list[ir.Table]) -> None:
        """:meth:`extend` with the ids of tables that carry ``person_ns``/``person_src`` and
        ``payer_ns``/``payer_src`` columns (null namespaces are skipped)."""
        ids = []
        for t in tables:
            for kind in ("person", "payer"):
                if f"{kind}_ns" in t.columns:
                    ns, src = t[f"{kind}_ns"], t[f"{kind}_src"]
                    ids.append(t.filter(ns.notnull() & src.notnull()).select(
                        kind=ibis.literal(kind), namespace=ns, source_id=src))
        if ids:
            u = ids[0]
            for x in ids[1:]:
                u = u.union(x)
            self.extend(u)

    def lookup(self, t: ir.Table, kind: str, namespace: str, source: str, out: str) -> ir.Table:
        """``t`` with column ``out`` = the id of (kind, t[namespace], t[source]); null where unknown."""
        k = self.table.filter(self.table.kind == kind)
        k = k.select(_kns=k.namespace, _ksrc=k.source_id, **{out: k.id})
        j = t.left_join(k, [t[namespace] == k._kns, t[source] == k._ksrc])
        return j.drop("_kns", "_ksrc")

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.con.to_parquet(self.table.order_by(["kind", "id"]), str(path))


__all__ = ["KEY_FILE", "KeyTable", "empty_keys"]

"""``impact import KIND SOURCE... --out REGISTER_DIR``: the command line of the importers.

Kept out of :mod:`impact.registers` so that building the ``impact`` parser imports nothing
heavy; the importers load when the command runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from impact.errors import ConfigError


def add_import_parser(sub: Any, func: Any) -> None:
    """Add the ``import`` subcommand to the ``impact`` parser."""
    i = sub.add_parser("import", help="map delivered register data (Incomes Register XML, FIONA extracts) into a "
                                      "register folder",
                       description="Import real register data into the register contracts. Writes the tables, "
                                   "import_log.json, the delivery manifest delivery.toml and the private key table "
                                   "private/keys.parquet; the folder is replaced in one step when all succeeded.")
    i.add_argument("kind", choices=KINDS, help="what the sources are")
    i.add_argument("sources", nargs="*", help="files (or folders of Parquet parts); ROLE=PATH names a file's role")
    i.add_argument("--out", required=True, help="register folder to write (its other tables are kept)")
    i.add_argument("--mapping", default=None,
                   help="shipped mapping name or TOML file (default per kind: "
                        + ", ".join(f"{k} -> {v}" for k, v in DEFAULT_MAPPINGS.items()) + ")")
    i.add_argument("--format", dest="fmt", default=None, choices=["sas", "stata", "csv", "parquet"],
                   help="file format of the sources (default: from the extension)")
    i.add_argument("--encoding", default=None, help="text encoding of SAS/Stata/CSV files (default: as declared)")
    i.add_argument("--lenient", action="store_true",
                   help="count and drop rows that cannot be mapped (unknown codes, missing values, bad ids) "
                        "instead of stopping at the first")
    i.add_argument("--no-schema-check", action="store_true", help="do not validate XML against the public XSD")
    i.add_argument("--extraction-date", default=None, help="the delivery's extraction date (YYYY-MM-DD) when the "
                                                           "files do not carry one")
    i.add_argument("--areas", default=None, help="CSV municipality,employment_area for the persons' employment area")
    i.add_argument("--namespace", action="append", default=[], metavar="WHAT=NAMESPACE",
                   help="what the identifiers are, e.g. person=hetu employer=ytunnus (default: the mapping's)")
    i.add_argument("--duckdb-memory", default=None, help="memory limit of the embedded DuckDB (default 4GB); "
                                                           "beyond it the import works from disk")
    i.add_argument("--backend", default=None, choices=["duckdb", "pyspark", "snowflake"],
                   help="run in a warehouse on its tables (fiona-* kinds): sources are --table ROLE=NAME")
    i.add_argument("--backend-settings", default=None,
                   help="TOML file with the backend's connection settings (as a study config's [data.<backend>])")
    i.add_argument("--table", action="append", default=[], metavar="ROLE=NAME",
                   help="warehouse path: the table holding a role's data")
    i.set_defaults(func=func)


#: The kinds of :mod:`impact.registers.importers` and their default mappings (tests check they agree).
KINDS = ("ir-xml", "fiona-incomes", "fiona-jobseekers")
DEFAULT_MAPPINGS = {"ir-xml": "ir_2022", "fiona-incomes": "tax_incomes_002", "fiona-jobseekers": "tem_tyonhaku_2024"}


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"{flag} {it!r}: expected NAME=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def run_import_command(args: argparse.Namespace, connect: Any = None) -> int:
    """Run ``impact import``; ``connect(backend, settings)`` opens a warehouse connection (``--backend``)."""
    from impact.registers.importers.run import import_registers

    opts: dict[str, Any] = dict(mapping=args.mapping, strict=not args.lenient, schema_check=not args.no_schema_check,
                                fmt=args.fmt, encoding=args.encoding, areas=args.areas,
                                namespaces=_pairs(args.namespace, "--namespace"), duckdb_memory=args.duckdb_memory)
    if args.extraction_date:
        try:
            opts["extraction_date"] = dt.date.fromisoformat(args.extraction_date)
        except ValueError:
            raise ConfigError(f"--extraction-date {args.extraction_date!r}: expected YYYY-MM-DD") from None
    if args.backend:
        settings = None
        if args.backend_settings:
            try:
                settings = tomllib.loads(Path(args.backend_settings).read_text())
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ConfigError(f"--backend-settings {args.backend_settings}: {e}") from None
        opts["con"] = connect(args.backend, settings)
        opts["tables"] = _pairs(args.table, "--table")
        if not opts["tables"]:
            raise ConfigError("--backend needs the source tables as --table ROLE=NAME")
    res = import_registers(args.kind, args.sources, args.out, **opts)
    print(res.log.summary())
    print(f"wrote {args.out}: {', '.join(f'{k} {v:,}' for k, v in res.rows.items())}")
    d = res.summary
    date = d.get("extraction_date") if res.manifest else "none (delivery.toml not written: pass --extraction-date)"
    print(f"delivery.toml: extraction date {date}; earnings from {d.get('source_kind')}, "
          f"subsidised derived: {d.get('subsidised_derived')}")
    return 0


__all__ = ["add_import_parser", "run_import_command"]

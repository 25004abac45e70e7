"""The ``impact`` command line.

Each subcommand is a thin wrapper around an importable function (imported lazily, so the
command starts fast). Errors the user can fix (:class:`impact.errors.ImpactError`) are
printed as one clear message and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from impact.errors import ImpactError


def _cmd_simulate(args: argparse.Namespace) -> int:
    from impact.simulate import simulate

    t0 = time.perf_counter()
    summary = simulate(scenario=args.scenario, persons=args.persons, seed=args.seed, out=Path(args.out),
                       layout=args.layout, layout_format=args.layout_format)
    print(summary)
    if args.layout:
        print(f"with the {args.layout} layout ({args.layout_format}) in {Path(args.out) / args.layout}")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from impact.backends import connect
    from impact.cli_import import run_import_command

    return run_import_command(args, connect)


def _cmd_validate(args: argparse.Namespace) -> int:
    from impact.outcomes.cli import _date
    from impact.registers.validate import validate_folder

    date = _date(args.extraction_date) if args.extraction_date else None
    report = validate_folder(Path(args.dir), raise_on_error=False, extraction_date=date,
                             after_extraction="drop" if args.drop_after_extraction else "error")
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_prepare(args: argparse.Namespace) -> int:
    from impact.registers.prepared import LAYOUT_DIR, layout_status, prepare_reports

    folder = Path(args.dir)
    layout, why = layout_status(folder)
    if layout is not None:
        print(f"{folder / LAYOUT_DIR}: fresh ({why}); nothing to do")
        return 0
    info = prepare_reports(folder, memory_limit=args.memory_limit)
    c = info["counts"]
    print(f"wrote {folder / LAYOUT_DIR}: {info['rows']:,} report rows of {info['persons']:,} persons in "
          f"{len(info['blocks'])} person blocks ({c['superseded_version']:,} superseded and {c['cancelled_report']:,} "
          f"cancelled rows dropped) in {info['prepare_s']:.1f} s")
    return 0


def _cmd_outcomes(args: argparse.Namespace) -> int:
    """A register folder, or a study config: its registers, outcome definitions, folder, backend and extraction."""
    import dataclasses

    from impact.outcomes.cli import _date, run_outcomes_command
    from impact.outcomes.config import load_config

    p = Path(args.source)
    out = Path(args.out) if args.out else None
    backend, settings, after = "duckdb", {}, "error"
    key = "extraction_date (outcome config)" if args.config else "--extraction-date"
    if p.is_file() and p.suffix == ".toml":
        from impact.study.config import load_config as load_study
        from impact.study.data import resolve_registers

        study = load_study(p)
        folder, _ = resolve_registers(study)
        cfg = load_config(args.config) if args.config else study.outcomes.outcome_config(
            study.data.extraction_date, study.disclosure.min_cell)
        if args.config and study.data.extraction_date is not None and cfg.extraction_date is None:
            cfg = dataclasses.replace(cfg, extraction_date=study.data.extraction_date)
        # outside reports/NAME/: the report folder is replaced as a whole by `impact run`, and the
        # outcome tables hold person-level rows that have no place in a report
        out = out or Path("outcomes") / study.study.name
        backend, settings = study.data.backend, study.data.settings()
        after, key = study.data.after_extraction, "data.extraction_date"
    else:
        folder, cfg = p, load_config(args.config)
    if getattr(args, "extraction_date", None):
        cfg, key = dataclasses.replace(cfg, extraction_date=_date(args.extraction_date)), "--extraction-date"
    if getattr(args, "drop_after_extraction", False):
        after = "drop"
    chosen = args.backend or backend
    return run_outcomes_command(folder, cfg, out, chosen, settings if chosen == backend else None,
                                getattr(args, "sql_only", False), after, key)


def _cmd_run(args: argparse.Namespace) -> int:
    from impact.study.runner import run_study

    run_study(Path(args.config), reports_dir=Path(args.reports_dir), data_dir=args.data_dir, backend=args.backend)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from impact.study.plan import study_plan

    plan = study_plan(Path(args.config), data_dir=args.data_dir)
    print(plan.text(show_defaults=not args.brief))
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from impact.study.templates import write_template

    out = write_template(args.name, args.template, Path(args.out) if args.out else None, service=args.service,
                         force=args.force)
    print(f"wrote {out} (template {args.template}); next: impact check {out} && impact run {out}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("impact")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="impact", description="Impact evaluation of employment services on register data.")
    p.add_argument("--version", action="version", version=f"impact {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write synthetic registers with a known truth")
    s.add_argument("--scenario", default="default", help="scenario name in synthetic_data/scenarios/ or a TOML path")
    s.add_argument("--persons", type=int, default=None, help="population size (default: the scenario's)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    s.add_argument("--out", required=True, help="output register folder")
    s.add_argument("--layout", default=None, choices=["ir-xml", "fiona"],
                   help="also write the registers as real data arrive (into OUT/<layout>/)")
    s.add_argument("--layout-format", default="parquet", choices=["parquet", "csv", "stata", "sas"],
                   help="file format of the layout's tables (default parquet)")
    s.set_defaults(func=_cmd_simulate)

    from impact.cli_import import add_import_parser

    add_import_parser(sub, _cmd_import)

    v = sub.add_parser("validate", help="check a register folder against the data contracts")
    v.add_argument("dir", help="register folder (Parquet or CSV files)")
    v.add_argument("--extraction-date", default=None,
                   help="extraction date of the delivery, yyyy-mm-dd (default: delivery.toml of the folder)")
    v.add_argument("--drop-after-extraction", action="store_true",
                   help="rows dated after the extraction date are warnings (a run drops and counts them)")
    v.set_defaults(func=_cmd_validate)

    pr = sub.add_parser("prepare", help="write the earnings reports' person-block layout the outcome stage "
                                        "reads (impact simulate and impact import write it; for other folders)")
    pr.add_argument("dir", help="register folder (earnings_reports as Parquet)")
    pr.add_argument("--memory-limit", default="5GB", help="DuckDB memory limit while writing (default 5GB)")
    pr.set_defaults(func=_cmd_prepare)

    o = sub.add_parser("outcomes", help="earnings panel and outcome tables from a register folder")
    o.add_argument("source", help="register folder, or a study config (TOML)")
    o.add_argument("--out", default=None, help="output folder for the outcome tables")
    o.add_argument("--config", default=None, help="outcome definitions (TOML); default: built-in defaults")
    o.add_argument("--backend", default=None, choices=["duckdb", "pyspark", "snowflake"],
                   help="where the register stages run (default: the study config's data.backend, else duckdb)")
    o.add_argument("--sql-only", action="store_true", help="write the compiled SQL instead of running it")
    o.add_argument("--extraction-date", default=None,
                   help="extraction date, yyyy-mm-dd (default: the config's, else delivery.toml of the register folder)")
    o.add_argument("--drop-after-extraction", action="store_true",
                   help="drop (and count) rows dated after the extraction date instead of stopping")
    o.set_defaults(func=_cmd_outcomes)

    r = sub.add_parser("run", help="run a study config end to end and write its report")
    r.add_argument("config", help="study config, e.g. studies/placement_followup.toml")
    r.add_argument("--reports-dir", default="reports", help="where reports/<study>/ is written")
    r.add_argument("--data-dir", default=None, help="override the study's register folder")
    r.add_argument("--backend", default=None, choices=["duckdb", "pyspark", "snowflake"],
                   help="override the study config's data.backend")
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("check", help="validate a study config and show what a run would do (runs no estimator)")
    c.add_argument("config", help="study config, e.g. studies/training_effect.toml")
    c.add_argument("--data-dir", default=None, help="register folder the run would use instead of the config's")
    c.add_argument("--brief", action="store_true", help="show only the keys the config sets, not the defaults")
    c.set_defaults(func=_cmd_check)

    i = sub.add_parser("init", help="write a commented study config to start from")
    i.add_argument("name", help="study name (letters, digits, '_' or '-'); written to studies/NAME.toml")
    i.add_argument("--template", default="effect", choices=["effect", "followup", "area"],
                   help="effect: matching + DiD of one service; followup: descriptive; area: synthetic control")
    i.add_argument("--service", default="training", help="effect template: the service type under study")
    i.add_argument("--out", default=None, help="where to write the config (default studies/NAME.toml)")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    i.set_defaults(func=_cmd_init)

    g = sub.add_parser("ledger", help="the differencing ledger of published reports (list, remove)")
    g.add_argument("action", choices=["list", "remove"], help="list the recorded reports, or remove one")
    g.add_argument("study", nargs="?", help="study name (remove)")
    g.add_argument("--reports-dir", default="reports", help="the reports folder whose ledger (.ledger/) is meant")
    g.set_defaults(func=_cmd_ledger)
    return p


def _cmd_ledger(args: argparse.Namespace) -> int:
    from impact.ledger import format_entries, ledger_dir, list_entries, remove

    folder = ledger_dir(Path(args.reports_dir))
    if args.action == "list":
        print(format_entries(list_entries(folder)))
        return 0
    if not args.study:
        raise ImpactError("impact ledger remove: name the study whose report leaves the ledger")
    n = remove(folder, args.study)
    print(f"removed {n} record(s) of study {args.study!r} from {folder}")
    return 0


#: Messages of I/O failures that libraries (DuckDB, polars, Arrow) wrap in their own exceptions.
_IO_FAILURES = ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded",
                "Input/output error")
_STAGING = re.compile(r"/\.([^/]+)\.staging-[0-9]+-[0-9a-f]+")


def _io_message(e: BaseException, output: str | None = None) -> str | None:
    """One line for a failed read or write (``None``: not an I/O failure); ``output``: the command's output."""
    if isinstance(e, OSError):
        what = os.strerror(e.errno) if e.errno else (str(e).splitlines() or [type(e).__name__])[0]
        where = e.filename or ""
    else:
        text = str(e)
        found = next((m for m in _IO_FAILURES if m in text), None)
        if found is None:
            return None
        what, where = found, ""
        m = re.search(r"""["']?(/[^"':]+)["']?""", text)
        where = m.group(1) if m else ""
    where = _STAGING.sub(r"/\1", str(where)) or output or ""  # name the output, not its staging folder
    return f"{what}{': ' + where if where else ''} (nothing was published; the previous output is unchanged)"


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except ImpactError as e:
        print(f"impact {args.command}: error: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(f"impact {args.command}: interrupted (nothing was published)", file=sys.stderr)
        code = 130
    except Exception as e:  # I/O failures (full disk, read-only folder) of any library: one line, no traceback
        msg = _io_message(e, getattr(args, "out", None) or getattr(args, "reports_dir", None))
        if msg is None:
            raise
        print(f"impact {args.command}: error: {msg}", file=sys.stderr)
        code = 2
    raise SystemExit(code)


if __name__ == "__main__":
    main()

"""The ``impact`` command line.

Each subcommand is a thin wrapper around an importable function (imported lazily, so the
command starts fast). Errors the user can fix (:class:`impact.errors.ImpactError`) are
printed as one clear message and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from impact.errors import ImpactError


def _cmd_simulate(args: argparse.Namespace) -> int:
    from impact.simulate import simulate

    t0 = time.perf_counter()
    summary = simulate(scenario=args.scenario, persons=args.persons, seed=args.seed, out=Path(args.out))
    print(summary)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from impact.registers.validate import validate_folder

    report = validate_folder(Path(args.dir), raise_on_error=False)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_outcomes(args: argparse.Namespace) -> int:
    """A register folder, or a study config: its registers, outcome definitions, folder and backend."""
    from impact.outcomes.cli import run_outcomes_command
    from impact.outcomes.config import load_config

    p = Path(args.source)
    out = Path(args.out) if args.out else None
    backend, settings = "duckdb", {}
    if p.is_file() and p.suffix == ".toml":
        from impact.study.config import load_config as load_study
        from impact.study.data import resolve_registers

        study = load_study(p)
        folder, _ = resolve_registers(study)
        cfg = load_config(args.config) if args.config else study.outcomes.outcome_config(
            study.data.extraction_date, study.disclosure.min_cell)
        out = out or Path("reports") / study.study.name / "outcomes"
        backend, settings = study.data.backend, study.data.settings()
    else:
        folder, cfg = p, load_config(args.config)
    chosen = args.backend or backend
    return run_outcomes_command(folder, cfg, out, chosen, settings if chosen == backend else None,
                                getattr(args, "sql_only", False))


def _cmd_run(args: argparse.Namespace) -> int:
    from impact.study.runner import run_study

    run_study(Path(args.config), reports_dir=Path(args.reports_dir), data_dir=args.data_dir, backend=args.backend)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="impact", description="Impact evaluation of employment services on register data.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write synthetic registers with a known truth")
    s.add_argument("--scenario", default="default", help="scenario name in synthetic_data/scenarios/ or a TOML path")
    s.add_argument("--persons", type=int, default=None, help="population size (default: the scenario's)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    s.add_argument("--out", required=True, help="output register folder")
    s.set_defaults(func=_cmd_simulate)

    v = sub.add_parser("validate", help="check a register folder against the data contracts")
    v.add_argument("dir", help="register folder (Parquet or CSV files)")
    v.set_defaults(func=_cmd_validate)

    o = sub.add_parser("outcomes", help="earnings panel and outcome tables from a register folder")
    o.add_argument("source", help="register folder, or a study config (TOML)")
    o.add_argument("--out", default=None, help="output folder for the outcome tables")
    o.add_argument("--config", default=None, help="outcome definitions (TOML); default: built-in defaults")
    o.add_argument("--backend", default=None, choices=["duckdb", "pyspark", "snowflake"],
                   help="where the register stages run (default: the study config's data.backend, else duckdb)")
    o.add_argument("--sql-only", action="store_true", help="write the compiled SQL instead of running it")
    o.set_defaults(func=_cmd_outcomes)

    r = sub.add_parser("run", help="run a study config end to end and write its report")
    r.add_argument("config", help="study config, e.g. studies/placement_followup.toml")
    r.add_argument("--reports-dir", default="reports", help="where reports/<study>/ is written")
    r.add_argument("--data-dir", default=None, help="override the study's register folder")
    r.add_argument("--backend", default=None, choices=["duckdb", "pyspark", "snowflake"],
                   help="override the study config's data.backend")
    r.set_defaults(func=_cmd_run)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except ImpactError as e:
        print(f"impact {args.command}: error: {e}", file=sys.stderr)
        code = 2
    raise SystemExit(code)


if __name__ == "__main__":
    main()

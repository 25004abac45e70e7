"""``impact outcomes SOURCE --out OUT [--config FILE] [--backend ...] [--sql-only]``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from impact.errors import BackendError, ConfigError
from impact.outcomes.config import OutcomeConfig, load_config


def _resolve_source(source: str, config: str | None) -> tuple[Path, OutcomeConfig, Path | None, str, dict]:
    """Register folder, outcome config, (for a study config) its default output folder, and
    the study's backend and its settings (``"duckdb"`` and none for a plain register folder)."""
    p = Path(source)
    if p.is_file() and p.suffix == ".toml":
        from impact.study.config import load_config as load_study
        from impact.study.data import resolve_registers
        from impact.study.runner import outcome_config

        study = load_study(p)
        folder, _ = resolve_registers(study)
        cfg = load_config(config) if config else outcome_config(study)
        return folder, cfg, Path("reports") / study.study.name / "outcomes", study.data.backend, study.data.settings()
    if not p.is_dir():
        raise ConfigError(f"impact outcomes: {p} is neither a register folder nor a study config (.toml)")
    return p, load_config(config), None, "duckdb", {}


def run_outcomes_command(args: argparse.Namespace) -> int:
    """Run the outcome stage from the command line; returns the exit status."""
    from impact.outcomes.pipeline import run_outcomes, sql_script

    folder, cfg, default_out, study_backend, study_settings = _resolve_source(args.source, args.config)
    out = Path(args.out) if args.out else default_out
    if out is None:
        raise ConfigError("impact outcomes: --out OUT_DIR is required when SOURCE is a register folder")
    backend = getattr(args, "backend", None) or study_backend
    settings = study_settings if backend == study_backend else None
    t0 = time.perf_counter()
    if getattr(args, "sql_only", False):
        path = sql_script(folder, out, cfg, backend)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
        return 0
    res = run_outcomes(folder, out, cfg, backend=backend, settings=settings)
    excluded = int(res.exclusions.filter(res.exclusions["action"] == "excluded")["rows"].sum())
    print(f"{res.service_outcomes.height:,} service spells, {res.spell_outcomes.height:,} job-seeking spells; "
          f"{excluded:,} rows excluded (see exclusions.json); last complete month "
          f"{res.last_month // 12:04d}-{res.last_month % 12 + 1:02d}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0

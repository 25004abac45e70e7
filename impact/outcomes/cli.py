"""``impact outcomes SOURCE --out OUT [--config FILE] [--backend ...] [--extraction-date D]
[--drop-after-extraction] [--sql-only]``."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from impact.errors import ConfigError
from impact.outcomes.config import OutcomeConfig, load_config


@dataclasses.dataclass
class _Source:
    folder: Path
    cfg: OutcomeConfig
    default_out: Path | None  # for a study config: outcomes/NAME/
    backend: str
    settings: dict
    after_extraction: str
    key: str  # how the extraction-date setting is named in messages


def _resolve_source(source: str, config: str | None) -> _Source:
    """Register folder, outcome config, default output folder, backend and extraction settings."""
    p = Path(source)
    if p.is_file() and p.suffix == ".toml":
        from impact.study.config import load_config as load_study
        from impact.study.data import resolve_registers
        from impact.study.runner import outcome_config

        study = load_study(p)
        folder, _ = resolve_registers(study)
        cfg = load_config(config) if config else outcome_config(study)
        if config and study.data.extraction_date is not None and cfg.extraction_date is None:
            cfg = dataclasses.replace(cfg, extraction_date=study.data.extraction_date)
        # outside reports/NAME/: the report folder is replaced as a whole by `impact run`, and the
        # outcome tables hold person-level rows that have no place in a report
        return _Source(folder, cfg, Path("outcomes") / study.study.name, study.data.backend, study.data.settings(),
                       getattr(study.data, "after_extraction", "error"), "data.extraction_date")
    if p.is_file():
        raise ConfigError(f"{p} is a file but not a study config (.toml); expected a register "
                          "folder or a study config")
    if not p.is_dir():
        raise ConfigError(f"{p} is neither a register folder nor a study config (.toml)")
    return _Source(p, load_config(config), None, "duckdb", {}, "error",
                   "extraction_date (outcome config)" if config else "--extraction-date")


def run_outcomes_command(args: argparse.Namespace) -> int:
    """Run the outcome stage from the command line; returns the exit status."""
    from impact.outcomes.pipeline import run_outcomes, sql_script

    src = _resolve_source(args.source, args.config)
    cfg, key = src.cfg, src.key
    if getattr(args, "extraction_date", None):
        cfg, key = dataclasses.replace(cfg, extraction_date=_date(args.extraction_date)), "--extraction-date"
    after = "drop" if getattr(args, "drop_after_extraction", False) else src.after_extraction
    out = Path(args.out) if args.out else src.default_out
    if out is None:
        raise ConfigError("--out OUT_DIR is required when SOURCE is a register folder")
    backend = getattr(args, "backend", None) or src.backend
    settings = src.settings if backend == src.backend else None
    t0 = time.perf_counter()
    if getattr(args, "sql_only", False):
        path = sql_script(src.folder, out, cfg, backend)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
        return 0
    res = run_outcomes(src.folder, out, cfg, backend=backend, settings=settings, after_extraction=after,
                       extraction_key=key)
    excluded = int(res.exclusions.filter(res.exclusions["action"] == "excluded")["rows"].sum())
    print(f"{res.service_outcomes.height:,} service spells, {res.spell_outcomes.height:,} job-seeking spells; "
          f"{excluded:,} rows excluded (see exclusions.json); extraction date {res.extraction_date}, last complete "
          f"month {res.last_month // 12:04d}-{res.last_month % 12 + 1:02d}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--extraction-date {text!r}: expected a date yyyy-mm-dd") from None

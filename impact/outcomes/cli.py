"""``impact outcomes SOURCE --out OUT [--config FILE] [--backend ...] [--sql-only]`` on a register folder.

A study config as SOURCE is resolved by :mod:`impact.cli` (the study layer sits above this one)
into the same arguments: its register folder, outcome definitions, output folder and backend.
"""

from __future__ import annotations

import time
from pathlib import Path

from impact.errors import ConfigError
from impact.outcomes.config import OutcomeConfig


def run_outcomes_command(folder: Path, cfg: OutcomeConfig, out: Path | None, backend: str = "duckdb",
                         settings: dict | None = None, sql_only: bool = False) -> int:
    """Run the outcome stage from the command line (outcome tables and the follow-up's summary
    tables, :func:`impact.outcomes.pipeline.run_outcomes`); returns the exit status."""
    from impact.outcomes.pipeline import run_outcomes, sql_script

    if out is None:
        raise ConfigError("impact outcomes: --out OUT_DIR is required when SOURCE is a register folder")
    if not folder.is_dir():
        raise ConfigError(f"impact outcomes: {folder} is neither a register folder nor a study config (.toml)")
    t0 = time.perf_counter()
    if sql_only:
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

"""``impact outcomes SOURCE --out OUT [--config FILE] [--backend ...] [--extraction-date D]
[--drop-after-extraction] [--sql-only]`` on a register folder.

A study config as SOURCE is resolved by :mod:`impact.cli` (the study layer sits above this one)
into the same arguments: its register folder, outcome definitions, output folder, backend and
extraction settings.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from impact.errors import ConfigError
from impact.outcomes.config import OutcomeConfig


def run_outcomes_command(folder: Path, cfg: OutcomeConfig, out: Path | None, backend: str = "duckdb",
                         settings: dict | None = None, sql_only: bool = False, after_extraction: str = "error",
                         extraction_key: str = "--extraction-date") -> int:
    """Run the outcome stage from the command line (outcome tables and the follow-up's summary
    tables, :func:`impact.outcomes.pipeline.run_outcomes`); returns the exit status.

    ``after_extraction``: rows dated after the extraction date stop the run (``"error"``) or are
    dropped and counted (``"drop"``); ``extraction_key`` names the date's setting in messages.
    """
    from impact.outcomes.pipeline import run_outcomes, sql_script

    if out is None:
        raise ConfigError("--out OUT_DIR is required when SOURCE is a register folder")
    if folder.is_file():
        raise ConfigError(f"{folder} is a file but not a study config (.toml); expected a register "
                          "folder or a study config")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is neither a register folder nor a study config (.toml)")
    t0 = time.perf_counter()
    if sql_only:
        path = sql_script(folder, out, cfg, backend)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
        return 0
    res = run_outcomes(folder, out, cfg, backend=backend, settings=settings, after_extraction=after_extraction,
                       extraction_key=extraction_key)
    excluded = int(res.exclusions.filter(res.exclusions["action"] == "excluded")["rows"].sum())
    print(f"{res.service_outcomes.height:,} service spells, {res.spell_outcomes.height:,} job-seeking spells; "
          f"{excluded:,} rows excluded (see exclusions.json); extraction date {res.extraction_date}, last complete "
          f"month {res.last_month // 12:04d}-{res.last_month % 12 + 1:02d}")
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _date(text: str) -> dt.date:
    """A command-line date (``--extraction-date``)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--extraction-date {text!r}: expected a date yyyy-mm-dd") from None

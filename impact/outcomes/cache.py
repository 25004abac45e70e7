"""The optional outcome cache of ``impact run`` (``reports/.cache/outcomes-KEY/``).

A cache entry holds exactly what the outcome stage returned (the unit tables, the exclusions
and the person x month panel), keyed by the SHA-256 of every input file and of the outcome
definitions. It is written atomically (:mod:`impact.publish`) with the SHA-256 of each of its
files, and read only when every file still has its hash. The cache is optional: an entry
that cannot be read (corrupt, truncated, unreadable) or written (read-only folder, full
disk) never stops a run; the caller gets a one-line warning and the stage is recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["read_outcome_cache", "write_outcome_cache"]

_FILES = ("service_outcomes.parquet", "spell_outcomes.parquet", "exclusions.parquet", "person_month.parquet")
_PANEL_COLUMNS = ("person_id", "month", "earnings_eur", "subsidised_eur", "employed", "subsidised")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _brief(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def read_outcome_cache(cache: Path, con: Any, cfg: Any) -> tuple[Any, Any, str | None]:
    """(outcome tables, panel Ibis table, warning) from a cache entry.

    Returns ``(None, None, None)`` when there is no entry, and ``(None, None, warning)`` when
    the entry exists but cannot be used (the caller recomputes).
    """
    from impact.outcomes.pipeline import OutcomeTables
    from impact.publish import clean_leftovers

    meta_path = cache / "meta.json"
    try:
        clean_leftovers(cache)  # staging folders of killed runs that wrote this entry
        if not meta_path.exists():
            return None, None, None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        hashes = meta.get("sha256") or {}
        for name in _FILES:
            if hashes.get(name) != _sha256(cache / name):
                raise ValueError(f"{name} does not match its recorded SHA-256")
        res = OutcomeTables(
            person_month=None, service_outcomes=pl.read_parquet(cache / "service_outcomes.parquet"),
            spell_outcomes=pl.read_parquet(cache / "spell_outcomes.parquet"),
            exclusions=pl.read_parquet(cache / "exclusions.parquet"), config=cfg,
            extraction_date=dt.date.fromisoformat(meta["extraction_date"]), last_month=int(meta["last_month"]))
        panel = con.read_parquet(str(cache / "person_month.parquet"), table_name="study_person_month")
    except Exception as e:  # any trouble with an optional cache: recompute
        return None, None, f"outcome cache {cache} not used ({_brief(e)}); the outcome stage was recomputed"
    return res, panel, None


def write_outcome_cache(cache: Path, con: Any, panel: Any, outcomes: Any, registers: Path | None) -> str | None:
    """Store an outcome run in the cache atomically; returns a warning instead of failing."""
    from impact.outcomes.io import write_expr_parquet_atomic
    from impact.publish import discard, publish, staging_dir

    try:
        staging = staging_dir(cache)
    except Exception as e:
        return f"outcome cache not written ({_brief(e)}); the run goes on without it"
    try:
        write_expr_parquet_atomic(con, panel.select(*_PANEL_COLUMNS), staging / "person_month.parquet")
        outcomes.service_outcomes.write_parquet(staging / "service_outcomes.parquet")
        outcomes.spell_outcomes.write_parquet(staging / "spell_outcomes.parquet")
        outcomes.exclusions.write_parquet(staging / "exclusions.parquet")
        meta = {"extraction_date": outcomes.extraction_date.isoformat(), "last_month": outcomes.last_month,
                "registers": str(registers), "sha256": {n: _sha256(staging / n) for n in _FILES}}
        (staging / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        publish(staging, cache, "run (outcome cache)", lambda rel: rel in _FILES or rel == "meta.json")
    except Exception as e:
        discard(staging)
        return f"outcome cache not written ({_brief(e)}); the run goes on without it"
    return None

"""The prepared layout of the earnings reports: written once per delivery, read by every run.

What the person x month panel does on every run that depends only on the delivery, not on the
outcome config, is done here once (``docs/outcomes.md`` §8): the latest version of every report
reference is kept and cancelled reports are dropped (their rows counted, as the panel's
``superseded_version`` and ``cancelled_report`` rules count them), dates become integer day
numbers, the text reference is dropped, and the rows are written as one Parquet file per block
of persons (consecutive ranges of person ids), each row with the person's index inside its
block. :mod:`impact.outcomes.panel_blocks` builds the panel from it.

Where it lives: ``REGISTERS/prepared/earnings_reports/`` (``layout.json`` and
``block-NNNN.parquet``), written by ``impact simulate`` and by ``impact import`` with the
registers, or by ``impact prepare REGISTERS`` for any other register folder. It is written into
a staging folder and moved into place (a reader sees the old layout, none, or the new one).

Freshness: ``layout.json`` records a fingerprint of the earnings-report file(s) it was made from
(name, size, modification time and a hash of the Parquet footer) and the layout's format
version. :func:`layout_status` compares it with the files now in the folder; a layout that does
not match is never read (the panel is then computed from the registers, and the reason is
logged): run ``impact prepare`` again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import polars as pl

from impact.errors import RegisterValidationError

#: The layout's folder inside a register folder.
LAYOUT_DIR = Path("prepared") / "earnings_reports"
#: Bumped whenever the files' content or meaning changes; an older layout is stale.
FORMAT = 1
#: Report rows per block (about 6.5 M: 16 blocks at 1 M persons; each block's person x month
#: grid then holds some 10 M cells).
ROWS_PER_BLOCK = 6_500_000
#: Columns a block file holds (days since 1970-01-01; a null earnings period or original
#: payment date stays null).
COLUMNS = ("ix", "income_type", "amount_eur", "subsidised", "recovery", "pd0", "pd1", "ed0", "ed1", "paid", "opaid")
#: Report columns the panel needs to be non-null (a layout of reports with nulls there is not
#: used: the contracts forbid them, and the registers path defines what they do).
NOT_NULL = ("person_id", "income_type", "amount_eur", "payment_date", "pay_period_start", "pay_period_end")
_FOOTER_BYTES = 1 << 16


@dataclass(frozen=True)
class PreparedLayout:
    """A fresh prepared layout (:func:`layout_status`)."""

    folder: Path
    info: dict

    @property
    def blocks(self) -> list[dict]:
        """Per block: ``file``, ``first``/``last`` person id, ``persons``, ``rows``."""
        return self.info["blocks"]

    def persons(self, block: int) -> np.ndarray:
        """Sorted person ids of a block (a row's ``ix`` indexes this array)."""
        t = pl.read_parquet(self.folder / "persons.parquet")
        return t.filter(pl.col("block") == block)["person_id"].to_numpy()


def report_files(registers: str | Path) -> list[Path]:
    """The Parquet file(s) the registers' ``earnings_reports`` is read from (empty: CSV or absent)."""
    folder = Path(registers)
    single = folder / "earnings_reports.parquet"
    if single.exists():
        return [single]
    parts = folder / "earnings_reports"
    if parts.is_dir() and not (folder / "earnings_reports.csv").exists():
        return sorted(parts.glob("*.parquet"))
    return []


def fingerprint(files: list[Path]) -> list[dict]:
    """Name, size, modification time (ns) and SHA-256 of the last 64 KiB (the Parquet footer) of each file."""
    out = []
    for f in files:
        st = f.stat()
        with f.open("rb") as fh:
            fh.seek(max(0, st.st_size - _FOOTER_BYTES))
            tail = hashlib.sha256(fh.read()).hexdigest()
        out.append({"file": f.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "footer_sha256": tail})
    return out


def layout_status(registers: str | Path) -> tuple[PreparedLayout | None, str]:
    """(the fresh layout or ``None``, why not / what it is) for a register folder."""
    folder = Path(registers) / LAYOUT_DIR
    meta = folder / "layout.json"
    if not meta.is_file():
        return None, f"no prepared layout ({LAYOUT_DIR}/; `impact prepare {registers}` writes it)"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, f"prepared layout unreadable ({meta}: {type(e).__name__}); run `impact prepare {registers}`"
    if info.get("format") != FORMAT:
        return None, (f"prepared layout of format {info.get('format')!r}, this version reads {FORMAT}; "
                      f"run `impact prepare {registers}`")
    files = report_files(registers)
    if not files or info.get("source") != fingerprint(files):
        return None, (f"prepared layout is stale: the earnings reports changed since it was written; "
                      f"run `impact prepare {registers}`")
    missing = [b["file"] for b in info["blocks"] if not (folder / b["file"]).is_file()]
    if missing or not (folder / "persons.parquet").is_file():
        return None, f"prepared layout incomplete ({missing[:3] or 'persons.parquet'} missing); run `impact prepare`"
    return PreparedLayout(folder, info), f"prepared layout ({len(info['blocks'])} person blocks)"


def prepare_reports(registers: str | Path, con: Any = None, rows_per_block: int = ROWS_PER_BLOCK,
                    memory_limit: str = "5GB") -> dict:
    """Write the prepared layout of a register folder's earnings reports (atomically).

    Parameters
    ----------
    registers
        The register folder; its ``earnings_reports`` must be Parquet (a file or a folder of parts).
    con
        A DuckDB Ibis connection to use (default: a new one with ``memory_limit``).
    rows_per_block
        Report rows per person block (a person's rows are never split).

    Returns
    -------
    dict
        The layout's ``layout.json``: blocks, the counts of superseded and cancelled rows, the
        registers' month range, and the source fingerprint.
    """
    from impact.backends import connect, open_table
    from impact.registers.schema import CONTRACTS

    registers = Path(registers)
    files = report_files(registers)
    if not files:
        raise RegisterValidationError(f"{registers}: no earnings_reports Parquet file to prepare (CSV registers are "
                                      "read as they are)")
    t0, c0 = time.perf_counter(), time.process_time()
    source = fingerprint(files)
    final = registers / LAYOUT_DIR
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.parent / f".{final.name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    own = con is None
    try:
        if own:
            con = connect("duckdb", {"memory_limit": memory_limit, "temp_directory": str(stage / "_tmp")})
        r = open_table(con, registers, CONTRACTS["earnings_reports"])
        info = _write_blocks(con, r, stage, rows_per_block)
        info.update(format=FORMAT, source=source, written_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    prepare_s=round(time.perf_counter() - t0, 2), prepare_cpu_s=round(time.process_time() - c0, 2))
        if fingerprint(files) != source:  # the reports changed while they were read
            raise RegisterValidationError(f"{files[0]}: changed while the prepared layout was written; run again")
        shutil.rmtree(stage / "_tmp", ignore_errors=True)
        (stage / "layout.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
        _swap_in(stage, final)
    finally:
        if own and con is not None:
            con.disconnect()
        shutil.rmtree(stage, ignore_errors=True)
    return info


def _write_blocks(con: Any, r: Any, out: Path, rows_per_block: int) -> dict:
    """Resolve versions, assign blocks, write ``block-NNNN.parquet`` and ``persons.parquet`` into ``out``."""
    from impact.outcomes.panel import data_months, later_versions

    first, last, latest = data_months(r)
    later = later_versions(r)
    j = r.left_join(later, [r.payer_id == later._lp, r.report_ref == later._lr])
    superseded = (j.version < j._lv).fill_null(False)
    cancelled = (j.action == "cancel").fill_null(False)
    counts = j.aggregate(superseded_version=superseded.cast("int64").sum(),
                         cancelled_report=(~superseded & cancelled).cast("int64").sum(),
                         **{f"null_{c}": j[c].isnull().cast("int64").sum() for c in NOT_NULL}).to_polars().row(0, named=True)
    counts = {k: int(v or 0) for k, v in counts.items()}
    kept = j.filter(~superseded & ~cancelled)
    # persons in id order, cut into blocks of about rows_per_block rows (a person is never split)
    per = kept.group_by("person_id").aggregate(n=kept.count()).to_polars().drop_nulls("person_id").sort("person_id")
    cum = per["n"].cum_sum() - per["n"]
    per = per.with_columns(block=(cum // rows_per_block).cast(pl.Int32))
    per = per.with_columns(ix=pl.int_range(pl.len()).over("block").cast(pl.Int32))
    blocks = []
    for (b,), g in per.group_by(["block"], maintain_order=True):
        blocks.append({"block": int(b), "file": f"block-{int(b):04d}.parquet", "first": int(g["person_id"][0]),
                       "last": int(g["person_id"][-1]), "persons": g.height, "rows": int(g["n"].sum())})
    per.select("person_id", "block", "ix").write_parquet(out / "persons.parquet")
    pm = ibis.memtable(per.select(_pp=pl.col("person_id"), _block=pl.col("block"), ix=pl.col("ix")).to_arrow())
    k = kept.join(pm, kept.person_id == pm._pp)

    def days(d: Any) -> Any:
        return d.epoch_days().cast("int32")

    cols = k.columns
    rec = k.recovery.fill_null(False) if "recovery" in cols else ibis.literal(False)
    ed0 = days(k.earning_period_start) if "earning_period_start" in cols else ibis.null("int32")
    ed1 = days(k.earning_period_end) if "earning_period_end" in cols else ibis.null("int32")
    opaid = days(k.orig_payment_date) if "orig_payment_date" in cols else ibis.null("int32")
    sel = k.select(ix=k.ix, income_type=k.income_type.cast("int16"), amount_eur=k.amount_eur.cast("float64"),
                   subsidised=k.subsidised.fill_null(False), recovery=rec, pd0=days(k.pay_period_start),
                   pd1=days(k.pay_period_end), ed0=ed0, ed1=ed1, paid=days(k.payment_date), opaid=opaid,
                   _block=k._block)
    sql = con.compile(sel)
    con._run_pre_execute_hooks(sel)  # registers the in-memory persons table
    parts = out / "_parts"
    con.raw_sql(f"COPY ({sql}) TO '{parts}' (FORMAT parquet, PARTITION_BY (_block), COMPRESSION zstd)")
    for b in blocks:
        got = sorted((parts / f"_block={b['block']}").glob("*.parquet"))
        if len(got) == 1:
            os.replace(got[0], out / b["file"])
        else:  # several part files for a block: one file
            con.raw_sql(f"COPY (SELECT * FROM read_parquet({[str(g) for g in got]!r})) TO '{out / b['file']}' "
                        "(FORMAT parquet, COMPRESSION zstd)")
    shutil.rmtree(parts, ignore_errors=True)
    return {"blocks": blocks, "rows": int(per["n"].sum()), "persons": per.height, "counts": counts,
            "data_months": [first, last, latest.isoformat()]}


def _swap_in(stage: Path, final: Path) -> None:
    """Move ``stage`` to ``final``; an existing ``final`` is moved aside first and removed after."""
    old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(stage, final)
    shutil.rmtree(old, ignore_errors=True)

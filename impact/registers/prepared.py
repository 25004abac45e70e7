"""The prepared layout of the earnings reports: written once per delivery, read by every run.

What the person x month panel does on every run that depends only on the delivery, not on the
outcome config, is done here once (``docs/outcomes.md`` §8): the latest version of every report
reference is kept and cancelled reports are dropped (their rows counted, as the panel's
``superseded_version`` and ``cancelled_report`` rules count them), dates become integer day
numbers, the text reference is dropped, and the rows are written as one Parquet file per block
of persons (consecutive ranges of person ids), each row with the person's index inside its
block. :mod:`impact.outcomes.panel_blocks` builds the panel from it (the outcome stage's rules, same
result as the Ibis expressions of :mod:`impact.outcomes.panel`).

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

import polars as pl

from impact.errors import RegisterValidationError

#: The layout's folder inside a register folder.
LAYOUT_DIR = Path("prepared") / "earnings_reports"
#: Bumped whenever the files' content or meaning changes; an older layout is stale.
FORMAT = 1
#: Report rows per block (about 6.5 M: 16 blocks at 1 M persons; each block's person x month
#: grid then holds some 10 M cells).
ROWS_PER_BLOCK = 6_500_000
#: Report columns the layout reads (the data contract's required columns of earnings_reports).
REQUIRED = ("person_id", "payer_id", "report_ref", "version", "action", "income_type", "amount_eur", "subsidised",
            "payment_date", "pay_period_start", "pay_period_end")
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


def prepare_reports(registers: str | Path, rows_per_block: int = ROWS_PER_BLOCK, memory_limit: str = "5GB",
                    threads: int | None = None) -> dict:
    """Write the prepared layout of a register folder's earnings reports (atomically).

    Parameters
    ----------
    registers
        The register folder; its ``earnings_reports`` must be Parquet (a file or a folder of parts).
    rows_per_block
        Report rows per person block (a person's rows are never split).
    memory_limit, threads
        Of the embedded DuckDB that writes it (spilling to a folder inside the staging folder).

    Returns
    -------
    dict
        The layout's ``layout.json``: blocks, the counts of superseded and cancelled rows and of
        nulls, the reports' date range, and the source fingerprint.
    """
    import duckdb

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
    config = {"memory_limit": memory_limit, "preserve_insertion_order": "false", "temp_directory": str(stage / "_tmp")}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    try:
        try:
            info = _write_blocks(con, [str(f) for f in files], stage, rows_per_block)
        except duckdb.Error as e:  # a value of the wrong type (the contract's casts fail)
            raise RegisterValidationError(f"{files[0]}: earnings_reports cannot be prepared: {str(e).splitlines()[0]} "
                                          "(`impact validate` names the rows)") from None
        info.update(format=FORMAT, source=source, written_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    prepare_s=round(time.perf_counter() - t0, 2), prepare_cpu_s=round(time.process_time() - c0, 2))
        if fingerprint(files) != source:  # the reports changed while they were read
            raise RegisterValidationError(f"{files[0]}: changed while the prepared layout was written; run again")
        shutil.rmtree(stage / "_tmp", ignore_errors=True)
        (stage / "layout.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
        _swap_in(stage, final)
    finally:
        con.close()
        shutil.rmtree(stage, ignore_errors=True)
    return info


#: Date columns whose range the layout records (the outcome stage's month range needs it).
DATE_COLUMNS = ("payment_date", "pay_period_start", "pay_period_end", "earning_period_start", "earning_period_end",
                "orig_payment_date")


def _write_blocks(con: Any, files: list[str], out: Path, rows_per_block: int) -> dict:
    """Resolve versions, assign blocks, write ``block-NNNN.parquet`` and ``persons.parquet`` into ``out``.

    The report columns are cast to the data contract's types (as the registers are read).
    A row is superseded when a later version of its (payer, reference) exists, cancelled when
    its (latest) version is a cancellation; a null version or action marks neither (as in the
    panel's rules, :data:`impact.outcomes.panel.REPORT_RULES`).
    """
    cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({files!r})").fetchall()}
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise RegisterValidationError(f"{files[0]}: earnings_reports lacks column(s) {', '.join(missing)}, which the "
                                      "prepared layout needs (the data contract's columns; `impact validate` lists "
                                      "every problem)")
    src = f"read_parquet({files!r})"

    def opt(c: str, typ: str, default: str = "NULL") -> str:
        return f"CAST({c} AS {typ})" if c in cols else f"CAST({default} AS {typ})"

    con.execute(f"""CREATE TEMP VIEW r AS SELECT CAST(person_id AS BIGINT) AS person_id,
        CAST(payer_id AS BIGINT) AS payer_id, CAST(report_ref AS VARCHAR) AS report_ref,
        CAST(version AS SMALLINT) AS version, CAST(action AS VARCHAR) AS action,
        CAST(income_type AS SMALLINT) AS income_type, CAST(amount_eur AS DOUBLE) AS amount_eur,
        CAST(subsidised AS BOOLEAN) AS subsidised, {opt('recovery', 'BOOLEAN')} AS recovery,
        CAST(payment_date AS DATE) AS payment_date, CAST(pay_period_start AS DATE) AS pay_period_start,
        CAST(pay_period_end AS DATE) AS pay_period_end, {opt('earning_period_start', 'DATE')} AS earning_period_start,
        {opt('earning_period_end', 'DATE')} AS earning_period_end,
        {opt('orig_payment_date', 'DATE')} AS orig_payment_date
        FROM {src}""")
    con.execute("""CREATE TEMP TABLE later AS SELECT payer_id, report_ref, max(version) AS lv FROM r
                   WHERE version > 1 GROUP BY ALL""")
    con.execute("""CREATE TEMP VIEW j AS SELECT r.*, coalesce(r.version < l.lv, false) AS _sup,
                   coalesce(r.action = 'cancel', false) AS _can
                   FROM r LEFT JOIN later l ON r.payer_id = l.payer_id AND r.report_ref = l.report_ref""")
    nulls = ", ".join(f"count(*) FILTER (WHERE {c} IS NULL) AS null_{c}" for c in NOT_NULL)
    ranges = ", ".join(f"min({c}), max({c})" for c in DATE_COLUMNS)
    row = con.execute(f"""SELECT count(*) FILTER (WHERE _sup), count(*) FILTER (WHERE NOT _sup AND _can), {nulls},
                          {ranges} FROM j""").fetchall()[0]
    counts = {"superseded_version": int(row[0]), "cancelled_report": int(row[1]),
              **{f"null_{c}": int(v) for c, v in zip(NOT_NULL, row[2:2 + len(NOT_NULL)])}}
    rng = row[2 + len(NOT_NULL):]
    date_range = {c: [None if v is None else v.isoformat() for v in rng[2 * i:2 * i + 2]]
                  for i, c in enumerate(DATE_COLUMNS) if c in cols}
    # persons in id order, cut into blocks of about rows_per_block rows (a person is never split)
    per = pl.from_arrow(con.sql("""SELECT person_id, count(*) AS n FROM j WHERE NOT _sup AND NOT _can
                                   AND person_id IS NOT NULL GROUP BY person_id ORDER BY person_id""").to_arrow_table())
    per = per.with_columns(block=((per["n"].cum_sum() - per["n"]) // rows_per_block).cast(pl.Int32))
    per = per.with_columns(ix=pl.int_range(pl.len()).over("block").cast(pl.Int32))
    blocks = []
    for (b,), g in per.group_by(["block"], maintain_order=True):
        blocks.append({"block": int(b), "file": f"block-{int(b):04d}.parquet", "first": int(g["person_id"][0]),
                       "last": int(g["person_id"][-1]), "persons": g.height, "rows": int(g["n"].sum())})
    per.select("person_id", "block", "ix").write_parquet(out / "persons.parquet")
    con.register("pm", per.select("person_id", "block", "ix").to_arrow())

    def days(c: str) -> str:
        return f"CAST(date_diff('day', DATE '1970-01-01', j.{c}) AS INTEGER)"

    parts = out / "_parts"
    con.execute(f"""COPY (SELECT pm.ix, j.income_type, j.amount_eur, coalesce(j.subsidised, false) AS subsidised,
                       coalesce(j.recovery, false) AS recovery, {days('pay_period_start')} AS pd0,
                       {days('pay_period_end')} AS pd1, {days('earning_period_start')} AS ed0,
                       {days('earning_period_end')} AS ed1, {days('payment_date')} AS paid,
                       {days('orig_payment_date')} AS opaid, pm.block AS _block
                    FROM j JOIN pm ON j.person_id = pm.person_id WHERE NOT j._sup AND NOT j._can)
                    TO '{parts}' (FORMAT parquet, PARTITION_BY (_block), COMPRESSION lz4_raw)""")
    # Each block's rows in person order (the pass then fills its grid front to back), LZ4: a
    # third of zstd's decoding time, for files a run reads and a delivery writes once.
    con.execute("SET preserve_insertion_order = true")
    for b in blocks:
        got = sorted((parts / f"_block={b['block']}").glob("*.parquet"))
        con.execute(f"COPY (SELECT * FROM read_parquet({[str(g) for g in got]!r}, hive_partitioning = false) "
                    f"ORDER BY ix) TO '{out / b['file']}' (FORMAT parquet, COMPRESSION lz4_raw)")
        for g in got:
            g.unlink()
    shutil.rmtree(parts, ignore_errors=True)
    return {"blocks": blocks, "rows": int(per["n"].sum()), "persons": per.height, "counts": counts,
            "date_range": date_range}


def _swap_in(stage: Path, final: Path) -> None:
    """Move ``stage`` to ``final``; an existing ``final`` is moved aside first and removed after."""
    old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(stage, final)
    shutil.rmtree(old, ignore_errors=True)

"""The differencing ledger: what earlier reports published on the same data, so that a new
report cannot be subtracted from them.

Two reports on the same registers whose populations differ by two persons (ages 18-64 and
18-100) let a reader subtract their totals and learn those two persons' service, area and
outcomes, although every cell of each report has at least ``min_cell`` persons. The ledger
records, for every published report, the persons behind each published cell and refuses a
new report whose cells differ from an earlier report's cells, on the same data, by fewer
than ``min_cell`` persons (but more than none).

Storage (private, never inside a report): ``REPORTS/.ledger/`` holds

* ``salt``: 32 random bytes made once (mode 0600). Person ids are stored only as keyed
  64-bit hashes (a keyed pseudo-random permutation of the id, vectorised; the keys come from
  the salt), so the ledger holds no person identifier and cannot be joined to the registers
  without the salt;
* one ``<study>-<digest>.npz`` per recorded publication: for each published cell its table,
  cell key and the sorted hashes of its persons, plus a JSON header (study, report folder,
  data hash, ``min_cell``, time). Publishing the same cells again rewrites the same file.

Which margins are compared (``docs/disclosure.md``): a new report's cells are compared with
the cells of every earlier report on the same data (same input hash) — every cell with every
cell, across tables: the same (table, cell) key, the population totals with each other, and
a cell of one table with a cell of another (a study restricted to one area against another
study's row for that area). A pair is a leak when the symmetric difference of the two person
sets has 1 to ``min_cell - 1`` persons. Pairs whose sizes differ by ``min_cell`` or more cannot
leak by this rule and are skipped without comparing persons; so is a new cell whose persons are
exactly those of a cell the earlier report published (it adds nothing to that report: the same
study run again, or a margin repeated in another table).

``impact run`` records every cell its report publishes (``StudyOutput.published_cells``: the
tables, the data behind each figure, the flows of exclusions and the estimates' treated and
comparison persons) and the study population's total as ``population``/``all``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl

from impact.errors import ImpactError

__all__ = ["HashedCells", "LedgerError", "cells_from_units", "check", "data_hash", "format_entries", "hashed_cells",
           "ledger_dir", "list_entries", "locked", "record", "remove"]

LEDGER = ".ledger"
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


class LedgerError(ImpactError):
    """A new report would differ from an earlier one on the same data by a few persons."""


def ledger_dir(reports_dir: str | Path) -> Path:
    """The ledger folder of a reports folder (``REPORTS/.ledger``)."""
    return Path(reports_dir) / LEDGER


def data_hash(input_hashes: dict[str, str]) -> str:
    """One hash of a register data set from its files' SHA-256 (``manifest.json``'s ``input_hashes``)."""
    return hashlib.sha256(json.dumps(sorted(input_hashes.items())).encode()).hexdigest()


def _salt(folder: Path) -> bytes:
    path = folder / "salt"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        tmp = folder / f".salt.{os.getpid()}"
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)  # first writer wins; a concurrent run keeps the same salt
        except FileExistsError:
            pass
        tmp.unlink()
    return path.read_bytes()


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (a bijection of 64-bit integers with full avalanche)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _hash_ids(ids: np.ndarray, salt: bytes) -> np.ndarray:
    """Keyed 64-bit hashes of person ids (four rounds, one secret key each; vectorised)."""
    keys = [np.uint64(int.from_bytes(salt[i:i + 8], "little")) for i in range(0, 32, 8)]
    x = ids.astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            x = _mix(x ^ k) + k
    return x


@dataclass
class HashedCells:
    """Cells of one publication: keys, sizes and the sorted person hashes of each (concatenated)."""

    tables: list[str]
    cells: list[str]
    sizes: np.ndarray
    offsets: np.ndarray
    hashes: np.ndarray

    def persons(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i]:self.offsets[i + 1]]

    def digests(self) -> list[bytes]:
        """One digest per cell of its person set (equal sets, equal digests)."""
        return [hashlib.sha256(self.persons(i).tobytes()).digest() for i in range(len(self.sizes))]


def _cells(published: pl.DataFrame, salt: bytes) -> HashedCells:
    need = {"table", "cell", "person_id"}
    if not need <= set(published.columns):
        raise ImpactError(f"ledger: published cells need columns {sorted(need)}, got {published.columns}")
    # categorical keys: a national study's some 70 million person-cells carry a few thousand distinct keys
    df = published.select(pl.col("table").cast(pl.Categorical), pl.col("cell").cast(pl.Categorical),
                          pl.col("person_id").cast(pl.Int64)).drop_nulls()
    keys = (df.select("table", "cell").unique()
            .with_columns(_t=pl.col("table").cast(pl.String), _c=pl.col("cell").cast(pl.String))
            .sort("_t", "_c").with_row_index("_k"))
    k = df.select("table", "cell").join(keys.select("table", "cell", "_k"), on=["table", "cell"], how="left",
                                        maintain_order="left")["_k"].to_numpy()
    h = _hash_ids(df["person_id"].to_numpy(), salt)
    del df
    # persons sorted by (cell number, hash) through one 64-bit key: the cell number in the top bits, the
    # hash's top bits below it (a two-column sort of 70 M rows takes four times as long). Two persons of
    # one cell whose hashes agree in those top bits (or a person listed twice) tie: then the full sort
    k, h = _sort_by_cell_and_hash(k.astype(np.uint64), h)
    first = np.ones(len(k), bool)
    first[1:] = (k[1:] != k[:-1]) | (h[1:] != h[:-1])
    if not first.all():
        k, h = k[first], h[first]
    sizes = np.bincount(k, minlength=keys.height).astype(np.int64)  # every key has a row: no empty cell
    return HashedCells(keys["_t"].to_list(), keys["_c"].to_list(), sizes, np.concatenate([[0], np.cumsum(sizes)]),
                       np.ascontiguousarray(h))


def _sort_by_cell_and_hash(k: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(k, h)`` ordered by cell number ``k`` then hash ``h`` (both uint64)."""
    bits = max(1, int(k.max(initial=0)).bit_length())
    key = (k << np.uint64(64 - bits)) | (h >> np.uint64(bits))
    s = pl.DataFrame({"key": key, "k": k, "h": h}).sort("key")
    key = s["key"].to_numpy()
    if len(key) > 1 and (key[1:] == key[:-1]).any():
        s = s.sort("k", "h")
    return s["k"].to_numpy().astype(np.int64), s["h"].to_numpy()


def hashed_cells(ledger_dir: str | Path, published_cells: pl.DataFrame) -> HashedCells:
    """The published cells as the ledger keeps them (persons as keyed hashes, sorted per cell): for
    :func:`check` and then :func:`record` of the same publication without hashing it twice."""
    return _cells(published_cells, _salt(Path(ledger_dir)))


def _as_cells(published: pl.DataFrame | HashedCells, folder: Path) -> HashedCells:
    return published if isinstance(published, HashedCells) else _cells(published, _salt(folder))


def _save(path: Path, header: dict, c: HashedCells) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # not compressed: keyed hashes do not compress, and zlib took 15 s for a national study's 70 M
    with open(tmp, "wb") as fh:
        np.savez(fh, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
                 keys=np.frombuffer(json.dumps([c.tables, c.cells]).encode(), dtype=np.uint8),
                 sizes=c.sizes, hashes=c.hashes)
    os.replace(tmp, path)  # atomic


def _load(path: Path) -> tuple[dict, HashedCells]:
    try:
        z = np.load(path)
        header = json.loads(z["header"].tobytes())
        tables, cells = json.loads(z["keys"].tobytes())
        sizes = z["sizes"]
        hashes = z["hashes"]
    except Exception as e:
        raise ImpactError(f"ledger entry {path} cannot be read ({type(e).__name__}); it may be corrupt: remove it "
                          f"with `impact ledger remove STUDY` or delete the file") from None
    return header, HashedCells(tables, cells, sizes, np.concatenate([[0], np.cumsum(sizes)]), hashes)


def cells_from_units(units: pl.DataFrame, by: tuple[str, ...] | list[str], min_cell: int,
                     table_prefix: str = "followup_by_") -> pl.DataFrame:
    """Published cells of a unit table: the population (``population``/``all``) and, for each
    dimension in ``by``, its cells of at least ``min_cell`` persons (smaller ones are suppressed).

    Columns ``table``, ``cell``, ``person_id`` (the input of :func:`check` and :func:`record`).
    """
    parts = [units.select(pl.lit("population").alias("table"), pl.lit("all").alias("cell"),
                          pl.col("person_id").cast(pl.Int64))]
    for dim in by:
        if dim in units.columns:
            parts.append(units.select(pl.lit(f"{table_prefix}{dim}").alias("table"),
                                      pl.col(dim).cast(pl.String).fill_null("(missing)").alias("cell"),
                                      pl.col("person_id").cast(pl.Int64)))
    cells = pl.concat(parts).unique()
    big = cells.group_by("table", "cell").agg(pl.len().alias("__n")).filter(pl.col("__n") >= min_cell)
    return cells.join(big.drop("__n"), on=["table", "cell"], how="semi")


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


@contextlib.contextmanager
def locked(ledger_dir: str | Path) -> Iterator[Path]:
    """Hold the ledger's lock (``flock`` on ``.ledger/lock``): :func:`check` then :func:`record` under
    it, so that two runs at the same time cannot both pass without seeing each other."""
    folder = Path(ledger_dir)
    _salt(folder)  # creates the folder (private) on first use
    with open(folder / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield folder


def check(ledger_dir: str | Path, data_hash: str, study: str, published_cells: pl.DataFrame | HashedCells,
          min_cell: int) -> None:
    """Refuse a publication that differs from an earlier one on the same data by 1..min_cell-1 persons.

    Parameters
    ----------
    ledger_dir : the ledger folder (:func:`ledger_dir`).
    data_hash : hash of the register data (:func:`data_hash`); only earlier reports on the same
        data are compared.
    study : the new report's study name (for messages).
    published_cells : columns ``table`` (str or categorical), ``cell`` (likewise), ``person_id``
        (int): the persons behind every cell the new report publishes; or :func:`hashed_cells` of them.
    min_cell : the minimum number of persons per cell.

    Raises
    ------
    LedgerError
        Names the earlier report, the two cells and how many persons separate them.
    """
    folder = Path(ledger_dir)
    paths = _entries(folder)
    if not paths:
        return
    new = _as_cells(published_cells, folder)
    if not len(new.sizes):
        return
    new_digests = new.digests()
    for path in paths:
        header, old = _load(path)
        if header.get("data_hash") != data_hash:
            continue
        # a new cell whose persons are exactly those of a cell the earlier report published adds nothing
        # to what that report already discloses (the same report again, a table repeated): not compared
        seen = set(old.digests())
        fresh = np.flatnonzero([d not in seen for d in new_digests])
        order = fresh[np.argsort(new.sizes[fresh], kind="stable")]
        sorted_sizes = new.sizes[order]
        # the earlier report's cells, population totals first (the clearest message)
        for j in sorted(range(len(old.sizes)), key=lambda k: old.tables[k] != "population"):
            lo = np.searchsorted(sorted_sizes, old.sizes[j] - min_cell + 1, "left")
            hi = np.searchsorted(sorted_sizes, old.sizes[j] + min_cell - 1, "right")
            # only cells of similar size can differ by fewer than min_cell persons (population totals first)
            for i in sorted(order[lo:hi], key=lambda k: new.tables[k] != "population"):
                a, b = old.persons(j), new.persons(int(i))
                d = len(a) + len(b) - 2 * len(np.intersect1d(a, b, assume_unique=True))
                if 0 < d < min_cell:
                    raise LedgerError(
                        f"report refused: cell {new.tables[i]}/{new.cells[i]} ({len(b):,} persons) of study "
                        f"{study!r} differs by {d} person{'s' if d != 1 else ''} from cell "
                        f"{old.tables[j]}/{old.cells[j]} ({len(a):,} persons) of the earlier report "
                        f"{header.get('study')!r} ({header.get('report')}, {header.get('recorded_utc')}) on the "
                        f"same data; subtracting the two would disclose them (margin {d} < min_cell {min_cell}). "
                        f"If that report was never released, remove it from the ledger: "
                        f"impact ledger remove {header.get('study')}")


def record(ledger_dir: str | Path, data_hash: str, study: str, published_cells: pl.DataFrame | HashedCells,
           min_cell: int, report: str | Path = "") -> Path:
    """Record a publication's cells (persons as keyed hashes; a frame as for :func:`check`, or its
    :func:`hashed_cells`); returns the entry's file."""
    folder = Path(ledger_dir)
    c = _as_cells(published_cells, folder)
    digest = hashlib.sha256(c.hashes.tobytes() + json.dumps([c.tables, c.cells]).encode()
                            + data_hash.encode()).hexdigest()[:16]
    header = {"study": study, "report": str(report), "data_hash": data_hash, "min_cell": int(min_cell),
              "recorded_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "cells": len(c.sizes), "persons": int(c.sizes.max()) if len(c.sizes) else 0}
    path = folder / f"{study}-{digest}.npz"
    _save(path, header, c)
    return path


def list_entries(ledger_dir: str | Path) -> list[dict]:
    """The recorded publications (headers), oldest first."""
    out = []
    for p in _entries(Path(ledger_dir)):
        header, _ = _load(p)
        out.append({**header, "file": p.name})
    return sorted(out, key=lambda h: h.get("recorded_utc", ""))


def format_entries(entries: list[dict]) -> str:
    if not entries:
        return "the ledger is empty"
    lines = [f"{'study':<28} {'recorded (UTC)':<26} {'cells':>6} {'data':<12} report"]
    for e in entries:
        lines.append(f"{e['study']:<28} {e.get('recorded_utc', ''):<26} {e.get('cells', 0):>6} "
                     f"{e.get('data_hash', '')[:12]:<12} {e.get('report', '')}")
    return "\n".join(lines)


def remove(ledger_dir: str | Path, study: str) -> int:
    """Remove every recorded publication of ``study`` (its report was never released); returns how many.

    Raises
    ------
    LedgerError
        No publication of that study is recorded.
    """
    folder = Path(ledger_dir)
    gone = 0
    for p in _entries(folder):
        try:
            name = _load(p)[0].get("study")
        except ImpactError:  # a corrupt entry: known by its file name
            name = study if p.name.startswith(f"{study}-") else None
        if name == study:
            p.unlink()
            gone += 1
    if not gone:
        known = sorted({e["study"] for e in list_entries(folder)})
        raise LedgerError(f"no report of study {study!r} in the ledger {folder}; recorded: {known or 'none'}")
    return gone

"""Reading delivered files (SAS, Stata, CSV, Parquet) into typed, renamed Parquet stages.

Each source *role* of a mapping (e.g. the YTHAKU job-seeking spells) names the columns it
needs; :func:`stage_role` reads every file of the role in chunks (constant memory in the file
size), keeps those columns under their contract-side names, types them, adds the file index
and 1-based row number (``_src_file``, ``_src_row``) for messages, and writes one Parquet
file per chunk into a staging folder. The mapping logic then runs on the stages as Ibis
expressions (:mod:`impact.registers.importers.tables`).

Formats are chosen by extension (``.sas7bdat``, ``.dta``, ``.csv``/``.txt``, ``.parquet`` or a
folder of Parquet parts) or forced with ``fmt``. Column names match case-insensitively (SAS
and Stata names are case-insensitive). Dates may be dates, datetimes, SAS/Stata day numbers
(days since 1960-01-01), ``yyyymmdd`` numbers or text in ISO, ``d.m.yyyy`` or ``yyyymmdd``
form. SAS has no null text: empty text is null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from impact.registers.importers.log import ImportLog, ImportRefused, Where

FORMATS = ("sas", "stata", "csv", "parquet")
_EXT = {".sas7bdat": "sas", ".dta": "stata", ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet",
        ".pq": "parquet"}
#: Column kinds a role may declare.
KINDS = ("id", "code", "text", "date", "int", "float", "bool")
CHUNK_ROWS = 500_000
_SAS_EPOCH = dt.date(1960, 1, 1)
_EPOCH_SHIFT = (_SAS_EPOCH - dt.date(1970, 1, 1)).days  # SAS day -> Unix day


def file_format(path: Path, fmt: str | None = None) -> str:
    """The format of a source file: ``fmt`` if given, else from its extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ImportRefused(f"--format {fmt!r} unknown; expected one of {FORMATS}")
        return fmt
    if path.is_dir():
        return "parquet"
    f = _EXT.get(path.suffix.lower())
    if f is None:
        raise ImportRefused(f"{path}: cannot tell the format from the extension {path.suffix!r}; expected one of "
                            f"{sorted(_EXT)} or --format {{{','.join(FORMATS)}}}")
    return f


def _columns(path: Path, fmt: str, encoding: str | None) -> list[str]:
    if fmt in ("sas", "stata"):
        import pyreadstat

        reader = pyreadstat.read_sas7bdat if fmt == "sas" else pyreadstat.read_dta
        _, meta = reader(str(path), metadataonly=True, encoding=encoding)
        return list(meta.column_names)
    if fmt == "parquet":
        return list(_scan(path, fmt, encoding).collect_schema().names())
    return list(_scan(path, fmt, encoding).collect_schema().names())


def _scan(path: Path, fmt: str, encoding: str | None) -> pl.LazyFrame:
    if fmt == "parquet":
        return pl.scan_parquet(str(path / "*.parquet") if path.is_dir() else str(path))
    sep = _sniff_separator(path, encoding)
    return pl.scan_csv(str(path), separator=sep, infer_schema=False,
                       encoding="utf8" if encoding in (None, "utf-8", "utf8") else "utf8-lossy")


def _sniff_separator(path: Path, encoding: str | None) -> str:
    with open(path, "rb") as f:
        head = f.readline().decode(encoding or "utf-8", errors="replace")
    counts = {s: head.count(s) for s in (";", ",", "\t", "|")}
    return max(counts, key=counts.get) if max(counts.values()) > 0 else ","


def resolve_columns(path: Path, available: list[str], wanted: dict[str, str], optional: set[str]) -> dict[str, str]:
    """Source column of each wanted name, matched case-insensitively.

    Raises
    ------
    ImportRefused
        A required column is missing (names the file, the column and the columns present).
    """
    by_lower = {c.lower(): c for c in available}
    out = {}
    for name, col in wanted.items():
        found = by_lower.get(col.lower())
        if found is None:
            if name in optional:
                continue
            raise ImportRefused(f"{path}: column {col!r} ({name}) missing; the file has {sorted(available)[:40]}")
        out[name] = found
    return out


def _chunks(path: Path, fmt: str, encoding: str | None, usecols: list[str]) -> Iterator[tuple[int, pl.DataFrame]]:
    """(offset, frame) chunks of a SAS/Stata file with only ``usecols``."""
    import pyreadstat

    reader = pyreadstat.read_sas7bdat if fmt == "sas" else pyreadstat.read_dta
    offset = 0
    try:
        for df, _ in pyreadstat.read_file_in_chunks(reader, str(path), chunksize=CHUNK_ROWS, usecols=usecols,
                                                    encoding=encoding, output_format="polars"):
            yield offset, df
            offset += df.height
    except UnicodeDecodeError as e:
        raise _encoding_error(path, fmt, usecols, encoding, e) from None
    except pyreadstat.ReadstatError as e:
        raise ImportRefused(f"{path}: cannot read the {fmt.upper()} file ({e})") from None


def _encoding_error(path: Path, fmt: str, usecols: list[str], encoding: str | None, err: Exception) -> ImportRefused:
    """Locate the first row and column whose text is not in the declared encoding."""
    import pyreadstat

    reader = pyreadstat.read_sas7bdat if fmt == "sas" else pyreadstat.read_dta
    _, meta = reader(str(path), metadataonly=True)
    declared = encoding or meta.file_encoding or "the file's declared encoding"
    where = Where(str(path))
    try:
        offset = 0
        for df, _ in pyreadstat.read_file_in_chunks(reader, str(path), chunksize=CHUNK_ROWS, usecols=usecols,
                                                    encoding="latin1", output_format="polars"):
            for c in df.columns:
                if df[c].dtype != pl.String:
                    continue
                for i, v in enumerate(df[c].to_list()):
                    if v is None:
                        continue
                    try:
                        v.encode("latin1").decode("utf-8")
                    except UnicodeDecodeError:
                        where = Where(str(path), row=offset + i + 1, column=c)
                        raise StopIteration from None
            offset += df.height
    except StopIteration:
        pass
    return ImportRefused(f"{where}: text is not valid {declared} ({err.reason} at byte {err.start}); the file "
                         "is in another encoding: pass --encoding with the file's real encoding (e.g. latin1 or "
                         "cp1252)")


def source_frames(path: Path, fmt: str, encoding: str | None, usecols: list[str]) -> Iterator[tuple[int, pl.DataFrame]]:
    """(offset, frame) chunks of any source file with only ``usecols``, constant memory."""
    if fmt in ("sas", "stata"):
        yield from _chunks(path, fmt, encoding, usecols)
        return
    lf = _scan(path, fmt, encoding).select(usecols)
    n = lf.select(pl.len()).collect().item()
    for off in range(0, max(n, 1), CHUNK_ROWS):
        try:
            yield off, lf.slice(off, CHUNK_ROWS).collect()
        except pl.exceptions.ComputeError as e:
            raise ImportRefused(f"{path}: cannot read rows {off + 1}-{off + CHUNK_ROWS} ({str(e).splitlines()[0]})") \
                from None


# ---------------------------------------------------------------------------------------
# Typing
# ---------------------------------------------------------------------------------------


def _as_text(s: pl.Series) -> pl.Series:
    """Text with surrounding blanks removed, empty -> null; whole numbers without '.0'."""
    if s.dtype == pl.String:
        t = s.str.strip_chars()
    elif s.dtype.is_float():
        whole = s.is_not_nan() & (s == s.round(0))
        t = pl.select(pl.when(whole).then(s.cast(pl.Int64, strict=False).cast(pl.String))
                      .otherwise(s.cast(pl.String))).to_series().rename(s.name)
    else:
        t = s.cast(pl.String)
    return pl.select(pl.when(t == "").then(None).otherwise(t)).to_series().rename(s.name)


def _as_date(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(dates, bad) where ``bad`` marks values present but not readable as a date."""
    if s.dtype == pl.Date:
        return s, pl.Series([False] * len(s), dtype=pl.Boolean)
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.date(), pl.Series([False] * len(s), dtype=pl.Boolean)
    if s.dtype.is_numeric():
        x = s.cast(pl.Float64)
        ymd = (x >= 10_000_101) & (x <= 29_991_231)
        sas = x.abs() < 200_000
        as_ymd = x.cast(pl.Int64, strict=False).cast(pl.String).str.to_date("%Y%m%d", strict=False)
        as_sas = (x.cast(pl.Int64, strict=False) + _EPOCH_SHIFT).cast(pl.Int32, strict=False).cast(pl.Date)
        out = pl.select(pl.when(ymd).then(as_ymd).when(sas).then(as_sas).otherwise(None)).to_series()
        return out.rename(s.name), (s.is_not_null() & s.is_not_nan().fill_null(True) & out.is_null())
    t = _as_text(s)
    days = pl.when(t.str.contains(r"^-?\d{1,6}$")).then(
        (t.cast(pl.Int64, strict=False) + _EPOCH_SHIFT).cast(pl.Int32).cast(pl.Date))  # SAS day numbers as text
    out = pl.select(pl.coalesce(t.str.to_date("%Y-%m-%d", strict=False), t.str.to_date("%d.%m.%Y", strict=False),
                                t.str.to_date("%Y%m%d", strict=False),
                                t.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False), days)).to_series()
    return out.rename(s.name), (t.is_not_null() & out.is_null())


def _as_bool(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    if s.dtype == pl.Boolean:
        return s, pl.Series([False] * len(s), dtype=pl.Boolean)
    t = _as_text(s).str.to_lowercase()
    yes = t.is_in(["true", "1", "k", "kyllä", "y", "yes", "x"])
    no = t.is_in(["false", "0", "e", "ei", "n", "no"])
    out = pl.select(pl.when(yes).then(True).when(no).then(False).otherwise(None)).to_series().rename(s.name)
    return out, (t.is_not_null() & ~yes & ~no)


def _as_number(s: pl.Series, dtype: pl.DataType) -> tuple[pl.Series, pl.Series]:
    """(numbers, bad); text may use a decimal comma."""
    if s.dtype == pl.String:
        t = _as_text(s).str.replace(",", ".", literal=True)
        f = t.cast(pl.Float64, strict=False)
        out = f.cast(pl.Int64, strict=False) if dtype == pl.Int64 else f
        return out.rename(s.name), t.is_not_null() & out.is_null()
    present = s.is_not_null()
    if s.dtype.is_float():
        s = pl.select(pl.when(s.is_nan()).then(None).otherwise(s)).to_series().rename(s.name)
        present = s.is_not_null()
    out = s.cast(dtype, strict=False)
    return out, present & out.is_null()


def type_frame(df: pl.DataFrame, kinds: dict[str, str], path: Path, offset: int, log: ImportLog,
               required: tuple[str, ...] = ()) -> pl.DataFrame:
    """Type the columns of a renamed chunk by kind; refuse unreadable values and missing required ones.

    Adds ``_src_row`` (1-based data row in the file). Returns the rows kept (all of them in
    strict mode, where any refusal raises).
    """
    n = df.height
    row = pl.Series("_src_row", range(offset + 1, offset + n + 1), dtype=pl.Int64)
    cols, drop = [row], pl.Series([False] * n, dtype=pl.Boolean)
    for name, kind in kinds.items():
        if name not in df.columns:
            continue
        s = df[name]
        if kind in ("id", "code", "text"):
            out, bad = _as_text(s), pl.Series([False] * n, dtype=pl.Boolean)
        elif kind == "date":
            out, bad = _as_date(s)
        elif kind == "bool":
            out, bad = _as_bool(s)
        elif kind in ("int", "float"):
            out, bad = _as_number(s, pl.Int64 if kind == "int" else pl.Float64)
        else:  # pragma: no cover - mappings are checked against KINDS
            raise ValueError(kind)
        bad = bad.fill_null(False)
        if bad.any():
            i = int(bad.arg_max())
            log.refuse(f"unreadable_{kind}", int(bad.sum()), Where(str(path), row=offset + i + 1, column=name),
                       f"expected a {kind} value", s[i])
            drop = drop | bad
        cols.append(out.rename(name))
    out = pl.DataFrame(cols)
    for name in required:
        if name in out.columns:
            miss = out[name].is_null() & ~drop
            if miss.any():
                i = int(miss.arg_max())
                log.refuse(f"missing_{name}", int(miss.sum()), Where(str(path), row=offset + i + 1, column=name),
                           f"a value is required ({name})")
                drop = drop | miss
    return out.filter(~drop) if drop.any() else out





def stage_role(role: str, paths: list[tuple[int, Path]], mapping, staging: Path, log: ImportLog,
               fmt: str | None = None, encoding: str | None = None) -> Path | None:
    """Read every file of one role into typed Parquet parts under ``staging/role``.

    ``paths``: (source index, path) pairs; the index (the file's position among the sources)
    is kept as ``_src_file`` so that later deliveries can win over earlier ones. The role's
    ``columns`` are renamed to their contract-side names and typed by its ``kinds``;
    ``optional`` columns may be absent from a file (null then); ``required`` ones may not be
    null in any row (a refusal: an error, or counted and dropped with ``--lenient``).
    """
    if not paths:
        return None
    spec = mapping.role(role)
    wanted = mapping.columns(role)
    kinds = dict(spec.get("kinds", {}))
    bad = {k: v for k, v in kinds.items() if v not in KINDS or k not in wanted}
    if bad or set(wanted) - set(kinds):
        raise ImportRefused(f"mapping {mapping.name}: roles.{role}.kinds must give one of {KINDS} for each of "
                            f"{sorted(wanted)}; check {sorted(set(bad) | (set(wanted) - set(kinds)))}")
    optional = set(spec.get("optional", []))
    required = tuple(spec.get("required", []))
    out_dir = staging / role
    out_dir.mkdir(parents=True, exist_ok=True)
    empty = {k: _DTYPES[kinds[k]] for k in wanted}
    for index, path in paths:
        f = file_format(path, fmt)
        cols = resolve_columns(path, _columns(path, f, encoding), wanted, optional)
        inv = {v: k for k, v in cols.items()}
        for off, df in source_frames(path, f, encoding, list(cols.values())):
            df = df.rename(inv)
            log.read(role, df.height)
            t = type_frame(df, {k: kinds[k] for k in cols}, path, off, log, required)
            t = t.with_columns([pl.lit(None, dtype).alias(k) for k, dtype in empty.items() if k not in t.columns])
            t = t.select(*empty, "_src_row").with_columns(pl.lit(index, pl.Int32).alias("_src_file"))
            t = t.cast(empty)
            t.write_parquet(out_dir / f"{index:04d}_{off:012d}.parquet")
    return out_dir


_DTYPES = {"id": pl.String, "code": pl.String, "text": pl.String, "date": pl.Date, "int": pl.Int64,
           "float": pl.Float64, "bool": pl.Boolean}
__all__ = ["FORMATS", "KINDS", "file_format", "resolve_columns", "source_frames", "stage_role", "type_frame"]

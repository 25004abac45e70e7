"""Reading register folders into polars frames typed as the data contracts.

A register folder holds one file per table, ``NAME.parquet`` or ``NAME.csv``
(:mod:`impact.registers.schema`). Parquet columns must carry the contract's dtypes (a
lossless widening such as Int32 -> Int64, or Datetime -> Date, is accepted and cast). CSV
files are read as text and parsed with the contract's dtypes, so codes with leading zeros
(``end_reason`` "03", ``segment`` "01", municipality "091") stay strings; dates must be ISO
``yyyy-mm-dd``; booleans ``true``/``false`` (or ``1``/``0``); an empty field is null.

Reading checks only what it needs to type the columns (file present and readable,
required columns present, dtypes, values parseable); the content checks (codes, keys,
date order, links between tables) are in :mod:`impact.registers.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from impact.errors import RegisterValidationError
from impact.registers.schema import CONTRACTS, Column, TableContract

__all__ = [
    "Problem",
    "find_table_file",
    "read_registers",
    "read_table",
    "scan_table",
]

#: Column whose values identify offending rows in messages, per table.
ID_COLUMNS: dict[str, str] = {
    "persons": "person_id",
    "jobseeking_spells": "spell_id",
    "service_spells": "service_id",
    "earnings_reports": "report_id",
    "benefit_reports": "person_id",
    "payers": "payer_id",
    "vacancies": "vacancy_id",
    "job_offers": "offer_id",
    "candidate_searches": "search_id",
    "integration_plans": "plan_id",
    "areas": "municipality",
}

DATE_FORMAT = "%Y-%m-%d"
_CSV_TRUE = ("true", "True", "TRUE", "1")
_CSV_FALSE = ("false", "False", "FALSE", "0")

#: Exceptions raised by polars (and the file system) while scanning a file; they are turned
#: into problems at this boundary, never shown as a traceback.
READ_ERRORS: tuple[type[BaseException], ...] = (
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
    OSError,
)


@dataclass(frozen=True)
class Problem:
    """One problem found in a register folder.

    Attributes
    ----------
    table : contract name of the table (e.g. ``"service_spells"``).
    file : file name (e.g. ``"service_spells.csv"``), or the table name for in-memory tables.
    column : the column at fault, or None for file-level problems.
    kind : machine-readable kind, e.g. ``"missing_file"``, ``"unknown_code"``.
    message : what is wrong and what was expected.
    example_ids : ids (values of ``id_column``) of the first offending rows, up to 5.
    n_rows : number of offending rows (0 for file- or column-level problems).
    severity : ``"error"`` (breaks the contract) or ``"warning"`` (legal but notable).
    id_column : the column ``example_ids`` come from (``"row"``: 1-based data row number).
    """

    table: str
    file: str
    column: str | None
    kind: str
    message: str
    example_ids: tuple = ()
    n_rows: int = 0
    severity: str = "error"
    id_column: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = self.file + (f", column {self.column}" if self.column else "")
        text = f"{where}: {self.message}"
        if self.n_rows:
            text += f" ({self.n_rows:,} row{'s' if self.n_rows != 1 else ''}"
            if self.example_ids:
                text += f"; first {self.id_column}: " + ", ".join(str(i) for i in self.example_ids)
            text += ")"
        return text


def _error(problems: list[Problem], what: str) -> RegisterValidationError:
    errors = [p for p in problems if p.is_error]
    lines = "\n".join(f"  - {p}" for p in errors)
    return RegisterValidationError(f"{what}: {len(errors)} problem(s)\n{lines}", errors)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message (polars messages run long)."""
    for line in str(exc).splitlines():
        if line.strip():
            return f"{type(exc).__name__}: {line.strip()}"
    return type(exc).__name__


# ---------------------------------------------------------------------------------------
# Locating and opening files
# ---------------------------------------------------------------------------------------


def find_table_file(folder: str | Path, name: str) -> tuple[Path | None, list[Problem]]:
    """The file holding table ``name`` in ``folder`` (Parquet preferred), and warnings.

    Returns ``(None, [])`` when neither ``NAME.parquet`` nor ``NAME.csv`` exists.
    """
    folder = Path(folder)
    found = [folder / f"{name}.{ext}" for ext in ("parquet", "csv") if (folder / f"{name}.{ext}").is_file()]
    if not found:
        return None, []
    notes = []
    if len(found) == 2:
        notes.append(Problem(name, found[0].name, None, "two_files",
                             f"both {found[0].name} and {found[1].name} exist; reading {found[0].name}",
                             severity="warning"))
    return found[0], notes


def _contract(name: str) -> TableContract:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise RegisterValidationError(
            f"unknown register table {name!r}; expected one of {', '.join(CONTRACTS)}") from None


def scan_raw(path: Path) -> pl.LazyFrame:
    """Lazily scan a table file as stored (CSV: every column as text).

    Raises a polars or OS error when the file cannot be read; callers turn it into a problem.
    """
    if path.suffix == ".csv":
        lf = pl.scan_csv(path, infer_schema=False, raise_if_empty=True)
    else:
        lf = pl.scan_parquet(path)
    lf.collect_schema()  # reads the header / footer now, so a broken file fails here
    return lf


def parquet_null_free(path: Path) -> set[str]:
    """Columns that the Parquet footer's statistics prove null-free (cheap: no data read).

    A column counts only when every row group carries a null count and all are zero; any
    doubt (no statistics, nested column, unreadable footer) leaves the column out.
    """
    try:
        import pyarrow.parquet as pq

        md = pq.read_metadata(path)
        nulls: dict[str, int] = {}
        for i in range(md.num_columns):
            name = md.schema.column(i).path
            if "." in name:  # nested: not a register column
                continue
            total = 0
            for rg in range(md.num_row_groups):
                stats = md.row_group(rg).column(i).statistics
                if stats is None or not stats.has_null_count:
                    total = -1
                    break
                total += stats.null_count
            nulls[name] = total
    except Exception:  # any footer trouble: prove nothing, the scan will report it
        return set()
    return {name for name, n in nulls.items() if n == 0}


# ---------------------------------------------------------------------------------------
# Typing columns
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnPlan:
    """How one contract column is typed from what is stored.

    ``expr`` gives the column in the contract dtype (None: the column cannot be used);
    ``failed`` is true on rows whose stored value could not be converted (None: cannot fail).
    """

    column: Column
    stored: pl.DataType | None
    expr: pl.Expr | None
    failed: pl.Expr | None = None
    failure_kind: str = "unparseable"


def _kind(dt: pl.DataType) -> str:
    if dt.is_integer():
        return "integer"
    if dt.is_float():
        return "float"
    if isinstance(dt, (pl.String, pl.Categorical, pl.Enum)):
        return "string"
    if isinstance(dt, pl.Date):
        return "date"
    if isinstance(dt, pl.Datetime):
        return "datetime"
    if isinstance(dt, pl.Boolean):
        return "boolean"
    if isinstance(dt, pl.Null):
        return "null"
    return "other"


def expected_text(col: Column) -> str:
    """What a column's values must look like, for messages."""
    kind = _kind(col.dtype)
    return {
        "integer": f"an integer ({col.dtype})",
        "float": "a number (Float64)",
        "string": "text (String)",
        "date": "a date yyyy-mm-dd (Date)",
        "boolean": "true/false (Boolean)",
    }.get(kind, str(col.dtype))


def _csv_plan(col: Column, strict: bool) -> ColumnPlan:
    c = pl.col(col.name)
    kind = _kind(col.dtype)
    if kind == "string":
        return ColumnPlan(col, pl.String(), c)
    if kind == "date":
        expr = c.str.to_date(DATE_FORMAT, strict=strict)
    elif kind == "boolean":
        mapping = {**{t: True for t in _CSV_TRUE}, **{f: False for f in _CSV_FALSE}}
        expr = (c.replace_strict(mapping, return_dtype=pl.Boolean) if strict
                else c.replace_strict(mapping, default=None, return_dtype=pl.Boolean))
    else:
        expr = c.cast(col.dtype, strict=strict)
    return ColumnPlan(col, pl.String(), expr.alias(col.name), c.is_not_null() & expr.is_null())


def _stored_plan(col: Column, stored: pl.DataType, strict: bool) -> ColumnPlan:
    """Plan for a Parquet / in-memory column (``expr`` None: wrong type)."""
    c = pl.col(col.name)
    want, have = _kind(col.dtype), _kind(stored)
    if stored == col.dtype:
        return ColumnPlan(col, stored, c)
    if have == "null":
        return ColumnPlan(col, stored, c.cast(col.dtype))
    expr = None
    if want == have or (want == "float" and have == "integer"):
        expr = c.cast(col.dtype, strict=strict)
    elif want == "date" and have == "datetime":
        expr = c.dt.date()
    if expr is None:
        return ColumnPlan(col, stored, None)
    failed = c.is_not_null() & expr.is_null() if want == have == "integer" else None
    return ColumnPlan(col, stored, expr.alias(col.name), failed, "out_of_range")


def plan_columns(
    contract: TableContract, schema: dict[str, pl.DataType], fmt: str, file: str, strict: bool = False
) -> tuple[list[ColumnPlan], list[Problem]]:
    """Plans for the contract columns present in ``schema``, and the structural problems.

    Problems: missing required columns, columns of the wrong type (errors); casts and
    columns not in the contract (warnings).
    """
    plans: list[ColumnPlan] = []
    problems: list[Problem] = []
    t = contract.name
    if fmt == "csv" and len(schema) == 1 and ";" in next(iter(schema)):
        return [], [Problem(t, file, None, "unreadable_file",
                            "the header looks semicolon-separated; expected comma-separated values "
                            "with a decimal point (e.g. 1234.5)")]
    for col in contract.columns:
        if col.name not in schema:
            if not col.optional:
                problems.append(Problem(t, file, col.name, "missing_column",
                                        f"required column is missing; expected {expected_text(col)}"))
            continue
        stored = schema[col.name]
        if fmt == "csv":
            plans.append(_csv_plan(col, strict))
            continue
        plan = _stored_plan(col, stored, strict)
        plans.append(plan)
        if plan.expr is None:
            hint = " (codes keep leading zeros, e.g. '03')" if _kind(col.dtype) == "string" else ""
            problems.append(Problem(t, file, col.name, "wrong_type",
                                    f"wrong type: stored as {stored}, expected {expected_text(col)}{hint}"))
        elif stored != col.dtype and _kind(stored) != "null":
            problems.append(Problem(t, file, col.name, "cast",
                                    f"stored as {stored}, contract dtype {col.dtype}; cast on reading",
                                    severity="warning"))
    extra = [c for c in schema if c not in contract.column_names]
    if extra:
        problems.append(Problem(t, file, None, "extra_columns",
                                f"columns not in the contract (kept as stored): {', '.join(extra)}",
                                severity="warning"))
    return plans, problems


def typed_exprs(plans: list[ColumnPlan], contract: TableContract, schema: dict[str, pl.DataType]) -> list[pl.Expr]:
    """Contract columns in contract dtypes (usable ones), then extra columns as stored."""
    exprs = [p.expr for p in plans if p.expr is not None]
    exprs += [pl.col(c) for c in schema if c not in contract.column_names]
    return exprs


# ---------------------------------------------------------------------------------------
# Public readers
# ---------------------------------------------------------------------------------------


def _open(folder: str | Path, name: str, strict: bool
          ) -> tuple[pl.LazyFrame, dict[str, pl.DataType], list[ColumnPlan], TableContract, Path]:
    contract = _contract(name)
    folder = Path(folder)
    path, _ = find_table_file(folder, name)
    if path is None:
        p = Problem(name, f"{name}.parquet", None, "missing_file",
                    f"no {name}.parquet or {name}.csv in {folder}")
        raise _error([p], f"cannot read table {name}")
    try:
        raw = scan_raw(path)
        schema = dict(raw.collect_schema())
    except READ_ERRORS as e:
        p = Problem(name, path.name, None, "unreadable_file",
                    f"cannot read {path}: {first_line(e)}")
        raise _error([p], f"cannot read table {name}") from None
    fmt = "csv" if path.suffix == ".csv" else "parquet"
    plans, problems = plan_columns(contract, schema, fmt, path.name, strict=strict)
    if any(p.is_error for p in problems):
        raise _error(problems, f"cannot read {path}")
    return raw, schema, plans, contract, path


def scan_table(folder: str | Path, name: str) -> pl.LazyFrame:
    """Lazily scan one register table in the contract dtypes (for large Parquet files).

    The file, its columns and their dtypes are checked now; values are converted when the
    frame is collected, strictly (a CSV value that does not parse raises then). Run
    :func:`impact.registers.validate.validate_folder` first to get every problem reported.

    Raises
    ------
    RegisterValidationError
        The file is missing or unreadable, a required column is missing or of the wrong type.
    """
    raw, schema, plans, contract, _ = _open(folder, name, strict=True)
    return raw.select(typed_exprs(plans, contract, schema))


def read_table(folder: str | Path, name: str) -> pl.DataFrame:
    """Read one register table into memory in the contract dtypes.

    Contract columns come first in contract order (optional columns only when present),
    then any extra columns as stored.

    Raises
    ------
    RegisterValidationError
        The file is missing or unreadable, a required column is missing or has the wrong
        type, or values cannot be converted (names the column and the first offending ids).
    """
    raw, schema, plans, contract, path = _open(folder, name, strict=False)
    flags = [(p, f"__failed_{p.column.name}") for p in plans if p.failed is not None and p.expr is not None]
    try:
        # one scan: failure flags are computed beside the typed columns
        df = raw.select(typed_exprs(plans, contract, schema) + [p.failed.alias(f) for p, f in flags]).collect()
    except READ_ERRORS as e:
        p = Problem(name, path.name, None, "unreadable_file", f"cannot read {path}: {first_line(e)}")
        raise _error([p], f"cannot read table {name}") from None
    problems = []
    id_col = ID_COLUMNS[name]
    for plan, flag in flags:
        bad = df.with_row_index("row", offset=1).filter(pl.col(flag))
        if bad.height:
            # rows are named by id, or by row number when the id is at fault or missing
            show = id_col if id_col in df.columns and plan.column.name != id_col else "row"
            ids = bad.get_column(show).unique(maintain_order=True).head(5).to_list()
            problems.append(Problem(name, path.name, plan.column.name, plan.failure_kind,
                                    f"values cannot be read as {expected_text(plan.column)}",
                                    tuple(ids), bad.height, id_column=show))
    if problems:
        raise _error(problems, f"cannot read {path}")
    return df.drop([f for _, f in flags])


def read_registers(folder: str | Path) -> dict[str, pl.DataFrame]:
    """Read every register table of a folder (``benefit_reports`` only when present).

    Reading checks the files' columns and types only; the contract checks of their content are
    :func:`impact.registers.validate.validate_tables` (this module does not import it: validation
    builds on reading).

    Raises
    ------
    RegisterValidationError
        A required table is missing or cannot be read (all tables' problems together).
    """
    folder = Path(folder)
    tables: dict[str, pl.DataFrame] = {}
    problems: list[Problem] = []
    for name, contract in CONTRACTS.items():
        path, _ = find_table_file(folder, name)
        if path is None and not contract.required:
            continue
        try:
            tables[name] = read_table(folder, name)
        except RegisterValidationError as e:
            problems.extend(e.problems)
    if problems:
        raise _error(problems, f"cannot read register folder {folder}")
    return tables

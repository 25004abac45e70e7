"""Execution backends of the register stages: embedded DuckDB, Spark, Snowflake.

The earnings panel and the outcomes are Ibis expressions (:mod:`impact.outcomes`); this
module gives them somewhere to run and something to run on:

* :func:`connect` returns an Ibis connection for ``"duckdb"`` (embedded, the default),
  ``"pyspark"`` (a local session or a cluster) or ``"snowflake"`` (the warehouse). Connection
  settings come from a mapping (the study config's ``[data.<backend>]`` table) or from
  environment variables, never from code.
* :func:`open_register_tables` names the register tables on a connection: Parquet/CSV files of
  a register folder (DuckDB, Spark) or warehouse tables named in the settings (Snowflake).
* :func:`unbound_register_tables` and :func:`compile_script` turn the same expressions into a
  Snowflake SQL script without any connection (``impact outcomes ... --sql-only``).

Only evaluation-unit tables are meant to come back to the client: see ``docs/backends.md``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import polars as pl

from impact.errors import BackendError, ConfigError, RegisterValidationError
from impact.registers.delivery import Delivery, read_delivery
from impact.registers.schema import CONTRACTS, TableContract

__all__ = [
    "BACKENDS",
    "SNOWFLAKE_ENV",
    "backend_name",
    "check_backend",
    "compile_script",
    "connect",
    "materialise",
    "open_register_tables",
    "spark_session",
    "unbound_register_tables",
    "write_parquet",
]

#: Backends the register stages run on.
BACKENDS = ("duckdb", "pyspark", "snowflake")

#: pip extra of the ``impact`` package that installs each backend's client packages.
EXTRAS = {"pyspark": "spark", "snowflake": "snowflake"}

#: Modules a backend needs (beyond ibis itself), checked before connecting.
_REQUIRED_MODULES = {
    "duckdb": ("duckdb",),
    "pyspark": ("pyspark", "ibis.backends.pyspark"),
    "snowflake": ("snowflake.connector", "ibis.backends.snowflake"),
}

#: Settings keys each backend accepts (anything else is a ConfigError naming the key).
_SETTINGS_KEYS = {
    "duckdb": ("database", "threads", "memory_limit", "temp_directory"),
    "pyspark": ("master", "app_name", "conf", "log_level", "use_active_session"),
    "snowflake": ("account", "user", "password", "authenticator", "private_key_file", "role", "warehouse",
                  "database", "schema", "tables", "session_parameters", "create_object_udfs"),
}

#: Snowflake connection settings and the environment variables they are read from.
SNOWFLAKE_ENV = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
    "password": "SNOWFLAKE_PASSWORD",
    "authenticator": "SNOWFLAKE_AUTHENTICATOR",
    "private_key_file": "SNOWFLAKE_PRIVATE_KEY_FILE",
    "role": "SNOWFLAKE_ROLE",
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "database": "SNOWFLAKE_DATABASE",
    "schema": "SNOWFLAKE_SCHEMA",
}
_SNOWFLAKE_REQUIRED = ("account", "user", "warehouse", "database", "schema")
_SNOWFLAKE_AUTH = ("password", "authenticator", "private_key_file")

#: Spark settings read from the environment when absent from the settings mapping.
SPARK_ENV = {"master": "IMPACT_SPARK_MASTER", "app_name": "IMPACT_SPARK_APP_NAME",
             "log_level": "IMPACT_SPARK_LOG_LEVEL"}
#: ``key=value`` pairs separated by ``;`` are added to the Spark conf (after the settings' conf).
SPARK_CONF_ENV = "IMPACT_SPARK_CONF"

#: Spark conf applied unless the settings say otherwise: dates and timestamps in UTC (so a
#: DATE column means the same day on every executor), Arrow transfer of the (small) results.
_SPARK_DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
#: Extra defaults for a local master (one machine: a few partitions, no web UI).
_SPARK_LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
}

#: Largest in-memory (constant) table inlined as VALUES into a compiled SQL script.
MAX_INLINE_ROWS = 10_000


# ---------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------


def check_backend(backend: str) -> str:
    """Validate a backend name (case-insensitive); returns its canonical form.

    Raises
    ------
    BackendError
        The name is not one of :data:`BACKENDS`.
    """
    name = str(backend).strip().lower()
    aliases = {"spark": "pyspark"}
    name = aliases.get(name, name)
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return name


def _missing_modules(backend: str) -> list[str]:
    missing = []
    for mod in _REQUIRED_MODULES[backend]:
        try:
            if importlib.util.find_spec(mod) is None:
                missing.append(mod)
        except ImportError:  # parent package missing (find_spec of a submodule imports the parent)
            missing.append(mod)
    return missing


def require_packages(backend: str) -> None:
    """Raise a :class:`BackendError` naming the extra to install if a backend's packages are missing."""
    backend = check_backend(backend)
    missing = _missing_modules(backend)
    if missing:
        extra = EXTRAS.get(backend)
        how = f"pip install 'impact[{extra}]'" if extra else "pip install impact"
        raise BackendError(
            f"backend {backend!r} needs the Python package(s) {', '.join(missing)}, which are not installed; "
            f"install them with: {how}")


def _check_settings(backend: str, settings: Mapping | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ConfigError(f"backend {backend!r}: settings must be a table of key = value, got {type(settings).__name__}")
    unknown = sorted(set(settings) - set(_SETTINGS_KEYS[backend]))
    if unknown:
        raise ConfigError(f"backend {backend!r}: unknown setting(s) {unknown}; allowed: {list(_SETTINGS_KEYS[backend])}")
    return dict(settings)


def connect(backend: str = "duckdb", settings: Mapping | None = None) -> Any:
    """An Ibis connection to run the register stages on.

    Parameters
    ----------
    backend
        ``"duckdb"`` (embedded, default), ``"pyspark"`` (alias ``"spark"``) or ``"snowflake"``.
    settings
        The backend's settings (e.g. the study config's ``[data.pyspark]`` table); keys absent
        here are read from environment variables:

        * duckdb: ``database`` (file; default in memory), ``threads``, ``memory_limit``,
          ``temp_directory``.
        * pyspark: ``master`` (``IMPACT_SPARK_MASTER``; default: the session spark-submit
          started, else ``local[*]``), ``app_name`` (``IMPACT_SPARK_APP_NAME``), ``conf``
          (a table of Spark properties; ``IMPACT_SPARK_CONF`` = ``"k=v;k=v"``), ``log_level``,
          ``use_active_session`` (default true: reuse a running session, e.g. on Databricks).
        * snowflake: ``account``, ``user``, ``password`` / ``authenticator`` /
          ``private_key_file``, ``role``, ``warehouse``, ``database``, ``schema`` (environment
          ``SNOWFLAKE_ACCOUNT``, ``SNOWFLAKE_USER``, ...; see :data:`SNOWFLAKE_ENV`),
          ``tables`` (warehouse names of the register tables), ``session_parameters``.

    Returns
    -------
    An Ibis backend connection.

    Raises
    ------
    BackendError
        Unknown backend, its packages missing (names the extra: ``pip install 'impact[spark]'``
        or ``'impact[snowflake]'``), a required setting missing (names the setting and its
        environment variable), or the connection failing.
    ConfigError
        An unknown settings key.
    """
    backend = check_backend(backend)
    s = _check_settings(backend, settings)
    if backend == "duckdb":
        require_packages(backend)
        return _connect_duckdb(s)
    if backend == "pyspark":
        require_packages(backend)
        return ibis.pyspark.connect(spark_session(s))
    # Snowflake: settings first (they can be checked here), then the packages.
    args = snowflake_connect_args(s)
    require_packages(backend)
    try:
        return ibis.snowflake.connect(**args)
    except Exception as e:  # the connector's errors (auth, network) are not ImpactErrors
        raise BackendError(f"cannot connect to Snowflake account {args['account']!r} as user {args['user']!r}: "
                           f"{_first_line(e)}") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _connect_duckdb(s: Mapping[str, Any]) -> Any:
    kw: dict[str, Any] = {}
    for key in ("threads", "memory_limit", "temp_directory"):
        if s.get(key) is not None:
            kw[key] = s[key]
    database = s.get("database", ":memory:")
    try:
        con = ibis.duckdb.connect(database, **kw)
    except Exception as e:
        raise BackendError(f"cannot open DuckDB database {database!r}: {_first_line(e)}") from None
    con.raw_sql("SET enable_progress_bar = false")
    # Insertion order is not kept, so temporary tables and Parquet files are written on all
    # threads: every result the package reads back is sorted (ORDER BY, or after collecting)
    # or joined on keys.
    con.raw_sql("SET preserve_insertion_order = false")
    return con


def _spark_settings(s: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(s)
    for key, env in SPARK_ENV.items():
        if out.get(key) is None and os.environ.get(env):
            out[key] = os.environ[env]
    conf = dict(out.get("conf") or {})
    if not isinstance(out.get("conf") or {}, Mapping):
        raise ConfigError("backend 'pyspark': setting 'conf' must be a table of Spark properties")
    env_conf = os.environ.get(SPARK_CONF_ENV, "").strip()
    if env_conf:
        for pair in env_conf.split(";"):
            if not pair.strip():
                continue
            if "=" not in pair:
                raise BackendError(f"{SPARK_CONF_ENV}: expected 'key=value' pairs separated by ';', got {pair!r}")
            k, v = pair.split("=", 1)
            conf[k.strip()] = v.strip()
    out["conf"] = conf
    return out


def spark_session(settings: Mapping | None = None) -> Any:
    """A SparkSession built from settings and environment (see :func:`connect`).

    A session that is already running is reused (unless ``use_active_session`` is false or
    a ``master`` is set), so the same code runs under ``spark-submit`` and on Databricks.
    Without a master and outside spark-submit, the session is local (``local[*]``) with a
    few shuffle partitions and the web UI off.
    """
    require_packages("pyspark")
    from pyspark.sql import SparkSession

    s = _spark_settings(_check_settings("pyspark", settings))
    master = s.get("master")
    if s.get("use_active_session", True) and master is None:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started the JVM with its own master
    if master is None and not under_submit:
        master = "local[*]"
    conf = dict(_SPARK_DEFAULT_CONF)
    if master is not None and str(master).startswith("local"):
        conf.update(_SPARK_LOCAL_CONF)
    conf.update({str(k): str(v) for k, v in s["conf"].items()})
    builder = SparkSession.builder.appName(str(s.get("app_name") or "impact"))
    if master is not None:
        builder = builder.master(str(master))
    for k, v in conf.items():
        builder = builder.config(k, v)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # JVM missing, master unreachable: py4j / Spark errors
        where = master or "the spark-submit master"
        raise BackendError(f"cannot start a Spark session on {where}: {_first_line(e)} "
                           "(Spark needs Java 17+ on PATH or JAVA_HOME)") from None
    session.sparkContext.setLogLevel(str(s.get("log_level") or "ERROR"))
    return session


def snowflake_connect_args(settings: Mapping | None = None) -> dict[str, Any]:
    """Keyword arguments for ``ibis.snowflake.connect`` from settings and ``SNOWFLAKE_*`` env vars.

    ``database`` is passed as ``DATABASE/SCHEMA`` (Ibis's form). Session parameters default to
    ``QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE`` so that the quoted lower-case column names Ibis
    writes (``"person_id"``) resolve to ordinary upper-case warehouse columns (``PERSON_ID``).

    Raises
    ------
    BackendError
        A required setting is missing (names the setting and its environment variable).
    """
    s = _check_settings("snowflake", settings)
    vals = {k: (s.get(k) if s.get(k) not in (None, "") else os.environ.get(env) or None)
            for k, env in SNOWFLAKE_ENV.items()}
    missing = [k for k in _SNOWFLAKE_REQUIRED if not vals[k]]
    if not any(vals[k] for k in _SNOWFLAKE_AUTH):
        missing.append("password (or authenticator, or private_key_file)")
    if missing:
        named = ", ".join(f"{k} ({SNOWFLAKE_ENV.get(k.split(' ')[0])})" for k in missing)
        raise BackendError(
            f"backend 'snowflake': missing connection setting(s): {named}; set them in the study config's "
            "[data.snowflake] table or in the environment variables named")
    args: dict[str, Any] = {k: vals[k] for k in ("account", "user", "role", "warehouse", "password",
                                                  "authenticator", "private_key_file") if vals[k]}
    args["database"] = f"{vals['database']}/{vals['schema']}"
    params = {"QUOTED_IDENTIFIERS_IGNORE_CASE": True}
    params.update(dict(s.get("session_parameters") or {}))
    args["session_parameters"] = params
    # Ibis would otherwise try to CREATE DATABASE ibis_udfs, which research roles may not do.
    args["create_object_udfs"] = bool(s.get("create_object_udfs", False))
    return args


def backend_name(con: Any) -> str:
    """Canonical backend name of an Ibis connection (``"duckdb"``, ``"pyspark"``, ``"snowflake"``)."""
    return check_backend(getattr(con, "name", type(con).__module__.split(".")[-1]))


# ---------------------------------------------------------------------------------------
# Materialising and writing inside the backend
# ---------------------------------------------------------------------------------------


def materialise(con: Any, expr: ir.Table, name: str | None = None) -> ir.Table:
    """Compute ``expr`` once inside the backend; returns a table expression reading the result.

    DuckDB and Snowflake: a temporary table. Spark: a cached DataFrame behind a temporary
    view (Ibis's PySpark backend has no temporary tables; the cache is filled by the first
    query that reads it and lives in the executors, not the client).
    """
    name = name or f"impact_tmp_{uuid.uuid4().hex[:12]}"
    if backend_name(con) == "pyspark":
        # Ibis's own .cache() skips registering in-memory tables (e.g. the month table).
        con._run_pre_execute_hooks(expr)
        df = con._session.sql(con.compile(expr)).persist()
        df.createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, expr, temp=True)


def materialise_blocks(con: Any, exprs: Iterable[ir.Table], name: str) -> ir.Table:
    """Compute the expressions (same schema) one after another into one temporary table ``name``."""
    it = iter(exprs)
    con.create_table(name, next(it), temp=True)
    for e in it:
        con.insert(name, e)
    return con.table(name)


#: Earnings-report rows per block when the panel is computed block by block (:func:`person_blocks`):
#: at 1 M persons (104 M rows) four blocks, each aggregated in memory under a 5 GB DuckDB limit.
PANEL_BLOCK_ROWS = 30_000_000
#: Blocks are used when reading them block by block reads at most this many times the file's rows.
_BLOCK_READ_FACTOR = 1.25
_PARQUET_PATH = re.compile(r"'([^']+)'")


def person_blocks(con: Any, table: ir.Table, rows_per_block: int | None = None) -> list[tuple[Any, Any]]:
    """Ranges ``(first, last)`` of person ids splitting ``table`` into blocks of about ``rows_per_block`` rows.

    For computing the person x month panel block by block
    (:func:`impact.outcomes.panel.earnings_panel_with_counts` with ``persons=``); ``None`` is an
    open end, and ``[(None, None)]`` means one pass. Blocks pay off on embedded DuckDB when
    ``table`` is read from Parquet files whose row groups are ordered by ``person_id`` (as the
    generator writes them; ``rows_per_block`` defaults to :data:`PANEL_BLOCK_ROWS`): each block then reads only its own row groups (the row-group
    statistics prune the rest), aggregates in memory (nothing spilled under a memory limit),
    and the panel comes out block by block in person order, which the outcome stage's range
    joins on person read twice as fast (``docs/outcomes.md`` §8). Anything else (another
    backend or source, row groups not ordered by person, fewer rows than one block): one pass.
    """
    one = [(None, None)]
    rows_per_block = rows_per_block or PANEL_BLOCK_ROWS
    if backend_name(con) != "duckdb":
        return one
    views = [n.name for n in table.op().find(ops.DatabaseTable)]
    if len(views) != 1:
        return one
    row = con.raw_sql("SELECT sql FROM duckdb_views() WHERE view_name = ?", parameters=[views[0]]).fetchone()
    if not row or "read_parquet(" not in row[0]:
        return one
    files = [f for f in _PARQUET_PATH.findall(row[0]) if f.endswith(".parquet")]
    if not files:
        return one
    try:
        stats = con.raw_sql(
            "SELECT row_group_num_rows, TRY_CAST(stats_min_value AS BIGINT), TRY_CAST(stats_max_value AS BIGINT) "
            "FROM parquet_metadata(?) WHERE path_in_schema = 'person_id'", parameters=[files]).fetchall()
    except Exception:  # metadata unreadable: no blocks, the query itself will say what is wrong
        return one
    total = sum(r[0] for r in stats)
    if total <= rows_per_block or any(r[1] is None or r[2] is None for r in stats):
        return one
    groups = sorted(stats, key=lambda r: (r[1], r[2]))
    k = -(-total // rows_per_block)
    cuts, acc = [], 0
    for i, (n, lo, _) in enumerate(groups):
        if i and len(cuts) < k - 1 and acc >= (len(cuts) + 1) * total / k:
            cuts.append(lo)
        acc += n
    bounds = [None, *cuts, None]
    blocks = [(bounds[i], None if bounds[i + 1] is None else bounds[i + 1] - 1) for i in range(len(bounds) - 1)]
    blocks = [b for b in blocks if b[0] is None or b[1] is None or b[0] <= b[1]]
    read = sum(n for b in blocks for n, lo, hi in stats
               if (b[0] is None or hi >= b[0]) and (b[1] is None or lo <= b[1]))
    return blocks if len(blocks) > 1 and read <= _BLOCK_READ_FACTOR * total else one


def write_parquet(con: Any, expr: ir.Table, path: str | Path) -> Path:
    """Let the backend write ``expr`` to Parquet at ``path`` without collecting it, atomically.

    DuckDB writes one file. Spark writes a folder of part files (its executors write; on a
    cluster ``path`` must be storage they reach). The output goes to a temporary sibling path
    first and is renamed into place. Snowflake results stay in the warehouse: use
    :func:`compile_script` and the warehouse's own export instead.
    """
    backend = backend_name(con)
    path = Path(path)
    if backend == "snowflake":
        raise BackendError("backend 'snowflake': person-level tables stay in the warehouse; "
                           "they are not written to local Parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if backend == "pyspark":
            df = con._session.sql(con.compile(expr))  # executors write the parts; nothing is collected
            df.write.mode("overwrite").parquet(str(tmp))
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        else:
            con.to_parquet(expr, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return path


# ---------------------------------------------------------------------------------------
# Register tables
# ---------------------------------------------------------------------------------------


def open_register_tables(con: Any, source: str | Path | None = None,
                         settings: Mapping | None = None) -> dict[str, ir.Table]:
    """The register tables as Ibis tables on ``con``.

    DuckDB and Spark read a register folder (``NAME.parquet``, a ``NAME/`` folder of Parquet
    parts, or ``NAME.csv``) through :func:`impact.outcomes.io.open_registers`, typed as the
    data contracts. Snowflake binds existing warehouse tables: ``settings["tables"]`` maps a
    register name to a warehouse name (``"TABLE"``, ``"SCHEMA.TABLE"`` or ``"DB.SCHEMA.TABLE"``);
    the default is the register name upper-cased in the connection's database and schema.
    Optional tables (``benefit_reports``) that do not exist are left out.

    Raises
    ------
    RegisterValidationError
        A required table or column is missing.
    BackendError
        A warehouse table cannot be found.
    """
    backend = backend_name(con)
    if backend != "snowflake":
        if source is None:
            raise BackendError(f"backend {backend!r}: a register folder is needed to read the registers from")
        return open_registers(con, source)
    names = dict(((settings or {}).get("tables") or {}))
    unknown = sorted(set(names) - set(CONTRACTS))
    if unknown:
        raise ConfigError(f"backend 'snowflake': tables {unknown} are not register tables; expected some of "
                          f"{list(CONTRACTS)}")
    out: dict[str, ir.Table] = {}
    for name, contract in CONTRACTS.items():
        full = names.get(name, name.upper())
        parts = full.split(".")
        db = tuple(parts[:-1]) if len(parts) == 3 else (parts[0] if len(parts) == 2 else None)
        try:
            t = con.table(parts[-1], database=db)
        except Exception as e:
            if not contract.required and name not in names:
                continue
            raise BackendError(f"backend 'snowflake': register table {name!r} not found as {full!r}: "
                               f"{_first_line(e)}; name it under [data.snowflake.tables]") from None
        out[name] = _lower_columns(t, name)
    return out


def _lower_columns(t: ir.Table, name: str) -> ir.Table:
    """Rename warehouse columns to the contract's lower-case names (Snowflake stores PERSON_ID)."""
    contract = CONTRACTS[name]
    by_lower = {c.lower(): c for c in t.columns}
    renames = {c.name: by_lower[c.name] for c in contract.columns
               if c.name in by_lower and by_lower[c.name] != c.name}
    t = t.rename(renames) if renames else t
    missing = [c.name for c in contract.columns if not c.optional and c.name not in t.columns]
    if missing:
        from impact.errors import RegisterValidationError

        raise RegisterValidationError(f"warehouse table for {name!r}: column(s) {missing} missing")
    return t


def unbound_register_tables(names: Iterable[str] | None = None, optional_columns: bool = True,
                            table_names: Mapping[str, str] | None = None) -> dict[str, ir.Table]:
    """Register tables as unbound Ibis tables (schema only, no connection) for SQL compilation.

    Parameters
    ----------
    names
        Register tables to include (default: all contracts).
    optional_columns
        Include the contracts' optional columns (``earning_period_*``, ``recovery``, ...).
    table_names
        Name each table carries in the compiled SQL (default: the register name).
    """
    out = {}
    for name in names or CONTRACTS:
        contract = CONTRACTS[name]
        schema = {c.name: c.dtype for c in contract.columns if optional_columns or not c.optional}
        out[name] = ibis.table(ibis.Schema.from_polars(schema), name=(table_names or {}).get(name, name))
    return out


# ---------------------------------------------------------------------------------------
# Compiling to a warehouse SQL script
# ---------------------------------------------------------------------------------------


def _memtables(exprs: Iterable[ir.Expr]) -> list[ops.InMemoryTable]:
    seen: dict[str, ops.InMemoryTable] = {}
    for e in exprs:
        for node in e.op().find(ops.InMemoryTable):
            seen.setdefault(node.name, node)
    return list(seen.values())


def _values_sql(name: str, frame: pl.DataFrame, schema: ibis.Schema, dialect: str) -> str:
    """``CREATE TEMPORARY TABLE name AS SELECT ... FROM (VALUES ...)`` for a small constant table."""
    import sqlglot as sg
    import sqlglot.expressions as sge

    if frame.height > MAX_INLINE_ROWS:
        raise BackendError(f"constant table {name!r} has {frame.height} rows; only tables up to "
                           f"{MAX_INLINE_ROWS} rows are inlined into compiled SQL")
    if frame.height == 0:
        raise BackendError(f"constant table {name!r} is empty; cannot inline it into compiled SQL")
    rows = [sge.Tuple(expressions=[_lit(v, schema[c]) for c, v in zip(frame.columns, row)])
            for row in frame.iter_rows()]
    alias = sge.TableAlias(this=sg.to_identifier("v", quoted=True),
                           columns=[sg.to_identifier(c, quoted=True) for c in frame.columns])
    values = sge.Values(expressions=rows, alias=alias)
    cols = [sge.Cast(this=sg.column(c, table="v", quoted=True), to=_sql_type(schema[c], dialect))
            .as_(c, quoted=True) for c in frame.columns]
    select = sg.select(*cols).from_(values)
    return (f"CREATE OR REPLACE TEMPORARY TABLE {sg.to_identifier(name, quoted=True).sql(dialect)} AS\n"
            f"{select.sql(dialect, pretty=True)}")


def _lit(value: Any, dtype: Any) -> Any:
    import sqlglot.expressions as sge

    if value is None:
        return sge.Null()
    if dtype.is_boolean():
        return sge.Boolean(this=bool(value))
    if dtype.is_numeric():
        return sge.Literal.number(value)
    return sge.Literal.string(str(value))


def _sql_type(dtype: Any, dialect: str) -> Any:
    import ibis.backends.sql.compilers as sc

    compiler = {"snowflake": sc.SnowflakeCompiler, "duckdb": sc.DuckDBCompiler,
                "spark": sc.PySparkCompiler}.get(dialect)
    if compiler is None:
        raise BackendError(f"no SQL type mapping for dialect {dialect!r}")
    return compiler.type_mapper.from_ibis(dtype)


def _stable_name(node: ops.InMemoryTable, prefix: str) -> str:
    frame = node.data.to_frame()
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame) if hasattr(frame, "to_numpy") else pl.DataFrame(frame)
    digest = hashlib.sha1(frame.write_csv().encode()).hexdigest()[:10]
    return f"{prefix}const_{digest}"


_ALIAS = re.compile(r'"t(\d+)"')
_EXCLUDE = re.compile(r"EXCLUDE \(([^()]*)\)")


def _canonical_sql(sql: str) -> str:
    """Make compiled SQL independent of the Python process.

    Ibis numbers its subquery aliases (``"t12"``) and orders ``EXCLUDE`` column lists in an
    order that depends on string hashing (``PYTHONHASHSEED``). Aliases are renumbered by first
    appearance (a consistent renaming within the statement) and ``EXCLUDE`` lists sorted, so
    the same expressions give the same text in every run.
    """
    mapping: dict[str, str] = {}
    sql = _ALIAS.sub(lambda m: mapping.setdefault(m.group(1), f'"t{len(mapping)}"'), sql)
    return _EXCLUDE.sub(lambda m: "EXCLUDE (" + ", ".join(sorted(x.strip() for x in m.group(1).split(","))) + ")",
                        sql)


def compile_script(outputs: Mapping[str, ir.Table], dialect: str = "snowflake", prefix: str = "impact_",
                   materialise: Mapping[str, ir.Table] | None = None, header: str = "") -> str:
    """Compile output expressions into one SQL script for a warehouse.

    The script (1) creates each small constant table (e.g. the calendar-month table) as a
    temporary table from inlined VALUES, under a name derived from its content, so the text
    is the same on every run; (2) creates each table of ``materialise`` (e.g. the person x
    month panel) as a table ``{prefix}{name}`` that stays in the warehouse, and makes later
    statements read it instead of recomputing it; (3) creates each output as
    ``{prefix}{name}``. Statements end with ``;`` and carry a ``-- name`` comment.

    Parameters
    ----------
    outputs
        Evaluation-unit tables to create (these are what a researcher downloads).
    materialise
        Intermediate tables to create once and reuse (never downloaded).
    dialect
        sqlglot dialect name, e.g. ``"snowflake"``.

    Returns
    -------
    The SQL script text.
    """
    import sqlglot as sg

    materialise = dict(materialise or {})
    everything = [*materialise.values(), *outputs.values()]
    subs: dict[ops.Node, ops.Node] = {}
    statements: list[str] = []
    for node in _memtables(everything):
        name = _stable_name(node, prefix)
        frame = node.data.to_frame()
        if not isinstance(frame, pl.DataFrame):
            frame = pl.from_pandas(frame)
        statements.append(f"-- constant table ({frame.height} rows)\n"
                          + _values_sql(name, frame, node.schema, dialect) + ";")
        subs[node] = ops.UnboundTable(name=name, schema=node.schema)

    def rewrite(e: ir.Table) -> ir.Table:
        return e.op().replace(subs).to_expr() if subs else e

    def table_sql(name: str, e: ir.Table) -> str:
        ident = sg.to_identifier(f"{prefix}{name}", quoted=True).sql(dialect)
        body = _canonical_sql(str(ibis.to_sql(rewrite(e), dialect=dialect)))
        return f"-- {name}\nCREATE OR REPLACE TABLE {ident} AS\n{body};"

    for name, e in materialise.items():
        statements.append(table_sql(name, e))
        subs[e.op()] = ops.UnboundTable(name=f"{prefix}{name}", schema=e.schema())
    for name, e in outputs.items():
        statements.append(table_sql(name, e))
    head = f"-- {header}\n" if header else ""
    return head + "\n\n".join(statements) + "\n"


# ---------------------------------------------------------------------------------------
# Register folders as Ibis tables
# ---------------------------------------------------------------------------------------

_IBIS_TYPES = {
    pl.Int8: "int8", pl.Int16: "int16", pl.Int32: "int32", pl.Int64: "int64", pl.Float64: "float64",
    pl.String: "string", pl.Boolean: "boolean", pl.Date: "date",
}


def _ibis_type(dtype: pl.DataType) -> str:
    for k, v in _IBIS_TYPES.items():
        if dtype == k:
            return v
    raise TypeError(dtype)


def _find(folder: Path, name: str) -> tuple[str, Path] | None:
    for kind, cand in (("parquet", folder / f"{name}.parquet"), ("parquet_dir", folder / name),
                       ("csv", folder / f"{name}.csv")):
        if cand.exists():
            return kind, cand
    return None


def open_table(con: Any, folder: Path, contract: TableContract) -> ir.Table | None:
    """One register table as an Ibis table on ``con`` (``None`` if an optional table is absent).

    Checks that the contract's non-optional columns are present and casts CSV columns to the
    contract's types. Full validation is :mod:`impact.registers.validate`'s job.
    """
    found = _find(folder, contract.name)
    if found is None:
        if contract.required:
            raise RegisterValidationError(
                f"register folder {folder}: table {contract.name!r} missing "
                f"(expected {contract.name}.parquet or {contract.name}.csv)")
        return None
    kind, path = found
    if kind == "parquet":
        t = con.read_parquet(str(path), table_name=f"reg_{contract.name}")
    elif kind == "parquet_dir":
        t = con.read_parquet(str(path / "*.parquet"), table_name=f"reg_{contract.name}")
    else:
        t = con.read_csv(str(path), table_name=f"reg_{contract.name}")
    missing = [c.name for c in contract.columns if not c.optional and c.name not in t.columns]
    if missing:
        raise RegisterValidationError(f"{path}: column(s) {missing} missing; table {contract.name!r} needs "
                                      f"{[c.name for c in contract.columns if not c.optional]}")
    casts = {}
    for c in contract.columns:
        if c.name in t.columns:
            want = _ibis_type(c.dtype)
            if str(t[c.name].type()).rstrip("!") != want:
                casts[c.name] = t[c.name].cast(want)
    if casts:
        t = t.mutate(**casts)
    return t


class RegisterTables(dict):
    """Register name -> Ibis table, with the folder's delivery manifest (``delivery``; None: none).

    ``folder``: the register folder; ``opened``: the tables as opened from it (an entry replaced
    since, e.g. filtered, differs from its ``opened`` one: the outcome stage then does not use
    the folder's prepared layout, :mod:`impact.registers.prepared`).
    """

    delivery: Delivery | None = None
    folder: Path | None = None
    opened: dict | None = None


def open_registers(con: Any, folder: str | Path) -> RegisterTables:
    """All register tables of a folder as Ibis tables on ``con`` (optional absent ones left out).

    The result also carries the folder's delivery manifest (``.delivery``), which gives the
    outcome stage its extraction date when the outcome config sets none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RegisterValidationError(f"register folder {folder}: not a directory")
    out = RegisterTables()
    out.delivery = read_delivery(folder)
    for name, contract in CONTRACTS.items():
        t = open_table(con, folder, contract)
        if t is not None:
            out[name] = t
    out.folder, out.opened = folder, dict(out)
    return out

"""The one door to the warehouse: SQLite (embedded default) or PostgreSQL.

Tasks never care which back end they talk to. Dialect differences live here and in
`include/sql/` (a file `name.postgresql.sql` beside `name.sql` overrides it on PostgreSQL).

Conventions:
- timestamps are stored as naive UTC; on SQLite as text `YYYY-MM-DD HH:MM:SS`, which sorts and
  compares correctly, so bound datetime parameters are normalised to that form;
- columns named `as_of` or ending in `_at` are returned as pandas datetimes on both back ends;
- identifiers that vary (versioned table names) are substituted only after `check_identifier`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa

from include import settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent / "sql"
CONN_ID = "warehouse"
# Rows per COPY buffer / executemany batch when bulk-writing a frame.
WRITE_BATCH_ROWS = 100_000
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# How COPY marks a missing value; a text value equal to it is refused rather than lost.
COPY_NULL = "<shopflow:null>"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# Base names of every table the project creates or reads; versioned tables add `__v<N>`.
KNOWN_TABLES = frozenset(
    {
        "customers",
        "products",
        "events",
        "orders",
        "order_items",
        "chargebacks",
        "recommendations",
        "similar_products",
        "order_risk_scores",
        "published_tables",
        "model_versions",
        "data_quality_runs",
        "data_quality_quarantine",
        "validated_loads",
    }
)


# --------------------------------------------------------------------------- connection


def _sqlalchemy_url(uri: str) -> str:
    """Turn an Airflow connection URI into a SQLAlchemy URL with the psycopg 3 driver."""
    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme in {"postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"}:
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith("sqlite"):
        return uri
    raise ValueError(f"Unsupported warehouse connection scheme {scheme!r}: use sqlite or postgres")


def _url_from_json(raw: str) -> str:
    spec = json.loads(raw)
    conn_type = spec.get("conn_type", "postgres")
    if conn_type == "sqlite":
        return f"sqlite:///{spec['host']}"
    if conn_type not in {"postgres", "postgresql"}:
        raise ValueError(f"Unsupported warehouse connection type {conn_type!r}: use sqlite or postgres")
    auth = quote(spec.get("login") or "", safe="")
    if spec.get("password"):
        auth += ":" + quote(spec["password"], safe="")
    netloc = f"{auth}@" if auth else ""
    netloc += spec.get("host") or "localhost"
    if spec.get("port"):
        netloc += f":{spec['port']}"
    return f"postgresql+psycopg://{netloc}/{spec.get('schema') or ''}"


class WarehouseNotConfigured(RuntimeError):
    """There is no usable `warehouse` connection; the message says how to set one. No retry
    heals it."""


class WarehouseUnavailable(RuntimeError):
    """The warehouse, or the secrets backend that holds its connection, did not answer: an
    outage, which a retry may outlast (never a data-quality verdict)."""


class MissingSourceTables(RuntimeError):
    """A source table a DAG reads does not exist in the warehouse."""


def warehouse_url() -> str:
    """The SQLAlchemy URL of the warehouse, from the Airflow connection `warehouse`.

    Read from `AIRFLOW_CONN_WAREHOUSE` (a URI or Airflow's JSON form) or from any connection
    Airflow holds (its metastore, a secrets backend). There is no silent fallback: when the
    connection is missing or its lookup fails, this raises, so a worker with a broken secrets
    backend fails its task instead of writing to a private local file. The embedded warehouse
    is chosen like any other, `AIRFLOW_CONN_WAREHOUSE=sqlite:///<path>/warehouse.db` (the
    Makefile sets it to var/warehouse.db).

    Raises:
        WarehouseNotConfigured: no connection, or one that is malformed or neither SQLite nor
            PostgreSQL.
        WarehouseUnavailable: looking the connection up failed (a secrets backend outage).
    """
    raw = os.environ.get("AIRFLOW_CONN_WAREHOUSE")
    if raw and raw.strip():
        raw = raw.strip()
        try:
            return _url_from_json(raw) if raw.startswith("{") else _sqlalchemy_url(raw)
        except (ValueError, KeyError) as exc:  # JSONDecodeError is a ValueError
            raise WarehouseNotConfigured(
                f"AIRFLOW_CONN_WAREHOUSE is not a usable warehouse connection: {exc!r}"
            ) from exc
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(CONN_ID)
    except AirflowNotFoundException:
        raise WarehouseNotConfigured(
            f"No Airflow connection {CONN_ID!r}: set AIRFLOW_CONN_WAREHOUSE (postgresql://user@host/db, or "
            f"sqlite:///{settings.default_warehouse_path()} for the embedded warehouse) or add the "
            "connection in Airflow. If it is stored in a secrets backend, that backend did not answer."
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failed lookup must fail loudly, not fall back
        raise WarehouseUnavailable(f"Looking up the Airflow connection {CONN_ID!r} failed: {exc!r}") from exc
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    try:
        return _sqlalchemy_url(conn.get_uri())
    except ValueError as exc:
        raise WarehouseNotConfigured(f"The Airflow connection {CONN_ID!r} is not usable: {exc}") from exc


def _prepare_sqlite(engine: sa.Engine) -> None:
    """Real transactions (DDL included) and concurrent readers on SQLite.

    pysqlite only opens a transaction before DML, so a view switch (DROP VIEW + CREATE VIEW)
    would not be atomic; the documented SQLAlchemy recipe takes over BEGIN itself.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        conn.exec_driver_sql("BEGIN")


def sqlite_path(engine: sa.Engine | sa.Connection) -> Path | None:
    """The file of an SQLite warehouse (None in memory or on another database)."""
    database = engine.engine.url.database if isinstance(engine, sa.Connection) else engine.url.database
    if dialect_name(engine) != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def _open_existing_sqlite(path: Path) -> Callable[[], Any]:
    """Connections to the SQLite file at `path`, which must exist: a typo in the path fails
    instead of creating an empty warehouse. `create_schema` creates the file."""
    import sqlite3

    def connect() -> sqlite3.Connection:
        if not path.is_file():
            raise WarehouseNotConfigured(
                f"There is no SQLite warehouse at {path}: check the path in the `{CONN_ID}` connection, "
                "or build one (`make demo`, or `python -m include.simulator --url sqlite:///<path> build`)."
            )
        # mode=rw never creates the file; SQLAlchemy's pool hands connections across threads.
        return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=60, check_same_thread=False)

    return connect


@lru_cache(maxsize=8)
def _engine_for(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            engine = sa.create_engine(url, creator=_open_existing_sqlite(Path(database)))
        else:
            engine = sa.create_engine(url, connect_args={"timeout": 60})
        _prepare_sqlite(engine)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    _forget_pool_in_forks(engine)
    return engine


def _forget_pool_in_forks(engine: sa.Engine) -> None:
    """A forked process (an Airflow task process, a worker) opens connections of its own: it
    drops the pooled ones it inherited without closing them, which would close the parent's."""
    reference = weakref.ref(engine)

    def forget() -> None:
        inherited = reference()
        if inherited is not None:
            inherited.dispose(close=False)

    os.register_at_fork(after_in_child=forget)


def get_engine(url: str | None = None) -> sa.Engine:
    """The (cached) engine for `url`, or for the `warehouse` connection."""
    return _engine_for(url or warehouse_url())


def dialect_name(engine: sa.Engine | sa.Connection) -> str:
    """`sqlite` or `postgresql`."""
    return engine.dialect.name


def describe(engine: sa.Engine) -> str:
    """The URL without its password, for logs."""
    return engine.url.render_as_string(hide_password=True)


# --------------------------------------------------------------------------- SQL files


def check_identifier(name: str) -> str:
    """Return `name` if it is a table of this project (optionally `__v<N>`/`__staging`)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"Not a valid identifier: {name!r}")
    base = re.sub(r"__(v\d+|staging\w*)$", "", name)
    if base not in KNOWN_TABLES:
        raise ValueError(f"Table {name!r} is not on the warehouse allow-list")
    return name


def load_sql(
    name: str,
    dialect: str,
    identifiers: Mapping[str, str] | None = None,
    fragments: Mapping[str, str] | None = None,
    statements: Mapping[str, str] | None = None,
) -> str:
    """The text of `include/sql/<name>.sql` (or its dialect override), placeholders filled in.

    Args:
        identifiers: `{key}` -> a table name from the allow-list.
        fragments: `{key}` -> the name of another SQL file, inlined as a subquery.
        statements: `{key}` -> a statement the project generated (never user text), inlined.
    """
    override = SQL_DIR / f"{name}.{dialect}.sql"
    path = override if override.exists() else SQL_DIR / f"{name}.sql"
    if not path.exists():
        raise FileNotFoundError(f"No SQL file for {name!r} under {SQL_DIR}")
    text = path.read_text()
    identifiers = {k: check_identifier(v) for k, v in (identifiers or {}).items()}
    for key, fragment in (fragments or {}).items():
        (statement,) = split_statements(load_sql(fragment, dialect))
        identifiers[key] = statement
    identifiers.update(statements or {})

    def _substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in identifiers:
            raise KeyError(f"{path.name} needs the identifier {{{key}}}")
        return identifiers[key]

    return _PLACEHOLDER.sub(_substitute, text)


def split_statements(sql: str) -> list[str]:
    """Split a SQL file on semicolons that end a line (our files keep them there)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    parts = re.split(r";\s*(?:\n|$)", "\n".join(lines))
    return [p.strip() for p in parts if p.strip()]


def _bind_value(value: Any, dialect: str) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        value = value.replace(microsecond=0)
        return value.strftime(TIMESTAMP_FORMAT) if dialect == "sqlite" else value
    if isinstance(value, date):
        return _bind_value(datetime(value.year, value.month, value.day), dialect)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return _bind_value(value.to_pydatetime(), dialect)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return value.item()
    return value


def bind_params(params: Mapping[str, Any] | None, dialect: str) -> dict[str, Any]:
    """Normalise parameter values (datetimes, numpy scalars) for the back end."""
    return {k: _bind_value(v, dialect) for k, v in (params or {}).items()}


@contextmanager
def transaction(engine: sa.Engine | None = None) -> Iterator[sa.Connection]:
    """A connection inside one transaction: committed on success, rolled back on error."""
    engine = engine or get_engine()
    with engine.begin() as conn:
        yield conn


def run_sql(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    conn: sa.Connection | None = None,
    identifiers: Mapping[str, str] | None = None,
    fragments: Mapping[str, str] | None = None,
    statements: Mapping[str, str] | None = None,
) -> int:
    """Run every statement of a .sql file with bound parameters; returns rows affected."""
    if conn is None:
        with transaction() as own:
            return run_sql(
                name, params, conn=own, identifiers=identifiers, fragments=fragments, statements=statements
            )
    dialect = dialect_name(conn)
    sql = load_sql(name, dialect, identifiers, fragments, statements)
    bound = bind_params(params, dialect)
    affected = 0
    for statement in split_statements(sql):
        used = {k: v for k, v in bound.items() if f":{k}" in statement}
        result = conn.execute(sa.text(statement), used)
        affected += max(result.rowcount or 0, 0)
    return affected


# --------------------------------------------------------------------------- frames


def _parse_timestamps(frame: pd.DataFrame, parse_dates: list[str] | None) -> pd.DataFrame:
    import pandas as pd

    for col in frame.columns:
        if col.endswith("_at") or col == "as_of" or (parse_dates and col in parse_dates):
            frame[col] = pd.to_datetime(frame[col], format="mixed")
    return frame


def read_frame(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    sql: str | None = None,
    conn: sa.Connection | None = None,
    identifiers: Mapping[str, str] | None = None,
    parse_dates: list[str] | None = None,
) -> pd.DataFrame:
    """Read the result of a .sql file (or literal `sql`) into a frame."""
    import pandas as pd

    if conn is None:
        with get_engine().connect() as own:
            return read_frame(
                name, params, sql=sql, conn=own, identifiers=identifiers, parse_dates=parse_dates
            )
    dialect = dialect_name(conn)
    text = sql if sql is not None else load_sql(name, dialect, identifiers)
    bound = bind_params(params, dialect)
    frame = _read_copy(conn, text, bound) if dialect == "postgresql" else None
    if frame is None:
        frame = pd.read_sql_query(sa.text(text), conn, params=bound)
    return _parse_timestamps(frame, parse_dates)


def copy_query(statement: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """One SELECT with `:name` parameters in psycopg's `%(name)s` style, which is how psycopg
    binds COPY's parameters (on the client), and the parameters it uses."""
    statement = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.strip().rstrip(";").replace("%", "%%"))
    return statement, {k: v for k, v in params.items() if f"%({k})s" in statement}


def _copy_types() -> dict[int, Any]:
    """PostgreSQL type OIDs -> the Arrow type their COPY text is read as."""
    import pyarrow as pa

    integer, floating = pa.int64(), pa.float64()
    return {
        16: pa.bool_(),
        20: integer,
        21: integer,
        23: integer,
        700: floating,
        701: floating,
        1700: floating,  # numeric: floats, as the models use them (not Decimal objects)
        1082: pa.date32(),
        1114: pa.timestamp("us"),
        25: pa.string(),
        1043: pa.string(),
    }


def _read_copy(conn: sa.Connection, text: str, params: Mapping[str, Any]) -> pd.DataFrame | None:
    """A single SELECT's rows through `COPY (...) TO STDOUT`, parsed by Arrow's CSV reader:
    several times faster than fetching rows as Python objects. None (read it the usual way)
    when the result has a column of a type not mapped here, such as timestamptz."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    statements = split_statements(text)
    if len(statements) != 1:
        return None
    statement, used = copy_query(statements[0], params)
    types = _copy_types()
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(f"SELECT * FROM (\n{statement}\n) AS result LIMIT 0", used)
        columns = [(column.name, column.type_code) for column in cursor.description]
        if any(oid not in types for _, oid in columns):
            return None
        schema = pa.schema([(name, types[oid]) for name, oid in columns])
        buffer = io.BytesIO()
        with cursor.copy(f"COPY (\n{statement}\n) TO STDOUT (FORMAT csv)", used) as copy:
            for block in copy:
                buffer.write(block)
    if buffer.tell() == 0:
        return schema.empty_table().to_pandas()
    buffer.seek(0)
    table = pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=schema.names),
        convert_options=pa_csv.ConvertOptions(
            column_types=schema,
            # COPY writes NULL unquoted and an empty text as "".
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return table.to_pandas()


def read_frame_chunks(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    chunksize: int = 200_000,
    identifiers: Mapping[str, str] | None = None,
    parse_dates: list[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Stream the result of a .sql file in frames of at most `chunksize` rows."""
    import pandas as pd

    engine = get_engine()
    dialect = dialect_name(engine)
    text = load_sql(name, dialect, identifiers)
    with engine.connect() as conn:
        conn = conn.execution_options(stream_results=True)
        for chunk in pd.read_sql_query(
            sa.text(text), conn, params=bind_params(params, dialect), chunksize=chunksize
        ):
            yield _parse_timestamps(chunk, parse_dates)


def _copy_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole-number float columns as integers (pandas makes an int column with a gap float, and
    PostgreSQL's integer columns refuse '1.0'); text equal to the NULL marker is refused."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_float_dtype(values):
            present = values.dropna()
            if len(present) and (present == present.round()).all() and present.abs().max() < 2**53:
                out[col] = values.astype("Int64")
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            if (values == COPY_NULL).any():
                raise ValueError(f"Column {col} holds the text {COPY_NULL!r}, which COPY reads as NULL")
    return out


def _constant_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """The columns holding one non-null value in every row, with that value as a Python
    object (text, number, or naive datetime)."""
    import numpy as np
    import pandas as pd

    constants: dict[str, Any] = {}
    for column in frame.columns:
        values = frame[column]
        if values.isna().any():
            continue
        first = values.iloc[0]
        if not (values == first).all():
            continue
        if isinstance(first, pd.Timestamp):
            if first.tzinfo is not None or first.nanosecond:
                continue
            first = first.to_pydatetime()
        elif isinstance(first, np.generic):
            first = first.item()
        if isinstance(first, str | int | float | datetime) and not isinstance(first, bool):
            constants[column] = first
    return constants


def _arrow_table(frame: pd.DataFrame) -> Any:
    """The frame as an Arrow table to render as CSV (several times faster than pandas), or
    None when a column does not convert cleanly (mixed Python objects): pandas renders it."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    plain = (
        pa.types.is_integer,
        pa.types.is_floating,
        pa.types.is_boolean,
        pa.types.is_string,
        pa.types.is_large_string,
    )
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            if field.type.tz is not None:
                return None
            # To the microsecond, as PostgreSQL stores them.
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("us"), safe=False))
        elif not any(check(field.type) for check in plain):
            return None
    return table


def _sqlite_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetimes as sortable text, missing values as None, numpy scalars as Python ones."""
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime(TIMESTAMP_FORMAT)
    return out.astype(object).where(out.notna(), None)


def write_frame(
    frame: pd.DataFrame, table: str, *, conn: sa.Connection | None = None, freeze: bool = False
) -> int:
    """Append a frame to an existing table in bulk: COPY on PostgreSQL, executemany on SQLite.

    Args:
        freeze: load the rows frozen on PostgreSQL (COPY FREEZE): only into a table created
            in `conn`'s transaction; nothing changes on SQLite. A column that holds one value
            in every row (a published version's model and date) is then not sent row by row:
            it is the column's default while the rows are copied.
    """
    check_identifier(table)
    if conn is None:
        with transaction() as own:
            return write_frame(frame, table, conn=own, freeze=freeze)
    if frame.empty:
        return 0
    columns = ", ".join(check_column(c) for c in frame.columns)
    if dialect_name(conn) == "postgresql":
        from psycopg import sql

        # Only into a table of this transaction, which no one else sees while its defaults change.
        constants = _constant_columns(frame) if freeze else {}
        ready = _copy_ready(frame.drop(columns=list(constants)))
        columns = ", ".join(check_column(c) for c in ready.columns)
        arrow = _arrow_table(ready)
        frozen = ", FREEZE" if freeze else ""
        raw = conn.connection.driver_connection
        alter = "ALTER TABLE {} ALTER COLUMN {} "  # names checked above, unquoted as in COPY
        with raw.cursor() as cursor:
            for column, value in constants.items():
                cursor.execute(
                    sql.SQL(alter + "SET DEFAULT {}").format(
                        sql.SQL(table), sql.SQL(column), sql.Literal(value)
                    )
                )
            if arrow is not None:
                # Arrow quotes every text and leaves a null unquoted and empty: CSV's NULL.
                import pyarrow.csv as pa_csv

                options = pa_csv.WriteOptions(include_header=False)
                copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv{frozen})"
                with cursor.copy(copy_sql) as copy:
                    for batch in arrow.to_batches(max_chunksize=WRITE_BATCH_ROWS):
                        buffer = io.BytesIO()
                        pa_csv.write_csv(batch, buffer, options)
                        copy.write(buffer.getbuffer())
            else:
                copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, NULL '{COPY_NULL}'{frozen})"
                with cursor.copy(copy_sql) as copy:
                    for start in range(0, len(ready), WRITE_BATCH_ROWS):
                        buffer = io.StringIO()
                        ready.iloc[start : start + WRITE_BATCH_ROWS].to_csv(
                            buffer,
                            header=False,
                            index=False,
                            na_rep=COPY_NULL,
                            date_format=TIMESTAMP_FORMAT,
                        )
                        copy.write(buffer.getvalue())
            for column in constants:
                cursor.execute(sql.SQL(alter + "DROP DEFAULT").format(sql.SQL(table), sql.SQL(column)))
    else:
        marks = ", ".join("?" for _ in frame.columns)
        insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        ready = _sqlite_ready(frame)
        for start in range(0, len(ready), WRITE_BATCH_ROWS):
            rows = list(ready.iloc[start : start + WRITE_BATCH_ROWS].itertuples(index=False, name=None))
            conn.exec_driver_sql(insert, rows)
    log.debug("Wrote %s rows to %s", len(frame), table)
    return len(frame)


def analyze(*tables: str, conn: sa.Connection | None = None) -> None:
    """Refresh the planner's statistics of `tables` after a bulk load.

    Without them PostgreSQL (when autovacuum is off or has not caught up) plans a freshly
    loaded table as if it were nearly empty, and a query over half a million orders can pick a
    nested loop that never finishes. SQLite's ANALYZE fills sqlite_stat1 for its planner.
    """
    if conn is None:
        with transaction() as own:
            analyze(*tables, conn=own)
            return
    for table in tables:
        conn.exec_driver_sql(f"ANALYZE {check_identifier(table)}")
    log.debug("Analyzed %s", ", ".join(tables))


def check_column(name: str) -> str:
    """Column names in bulk writes come from frames: allow plain identifiers only."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"Not a valid column name: {name!r}")
    return name


def table_exists(name: str, conn: sa.Connection | None = None) -> bool:
    """Whether a table or view called `name` exists."""
    if conn is None:
        with get_engine().connect() as own:
            return table_exists(name, own)
    inspector = sa.inspect(conn)
    return name in inspector.get_table_names() or name in inspector.get_view_names()


def scalar(sql_name: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """The single value returned by a .sql file."""
    frame = read_frame(sql_name, params, **kwargs)
    return None if frame.empty else frame.iat[0, 0]


_ADD_COLUMN = re.compile(r"^ALTER TABLE ([a-z_]+) ADD COLUMN ([a-z_]+) ", re.IGNORECASE)


def _add_missing_columns(conn: sa.Connection) -> None:
    """Run each `ALTER TABLE ... ADD COLUMN` of schema/upgrade_output_tables whose column is missing."""
    for statement in split_statements(load_sql("schema/upgrade_output_tables", dialect_name(conn))):
        match = _ADD_COLUMN.match(statement)
        if match is None:
            raise ValueError(
                f"schema/upgrade_output_tables holds a statement that adds no column: {statement}"
            )
        table, column = match.groups()
        if column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(statement)
            log.info("Added column %s.%s", table, column)


def require_tables(names: Iterable[str], engine: sa.Engine | None = None) -> None:
    """Raise MissingSourceTables naming every table of `names` the warehouse lacks."""
    with (engine or get_engine()).connect() as conn:
        present = set(sa.inspect(conn).get_table_names()) | set(sa.inspect(conn).get_view_names())
    missing = [name for name in names if name not in present]
    if missing:
        raise MissingSourceTables(
            f"The warehouse {describe(engine or get_engine())} has no table {', '.join(missing)}: "
            "the shop's loader must create it (DDL: include/sql/schema/create_source_tables.sql)"
        )


def reachable(engine: sa.Engine | None = None) -> bool:
    """Whether the warehouse answers a trivial query now."""
    try:
        with (engine or get_engine()).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except sa.exc.SQLAlchemyError:
        return False


# When a source table's row landed (set by the loader; the gate validates by it).
LOADED_AT = "loaded_at"
# Each source table's business time. Order lines have none of their own: their order's.
BUSINESS_TIME = {
    "customers": "created_at",
    "products": "created_at",
    "events": "event_at",
    "orders": "ordered_at",
    "order_items": None,
    "chargebacks": "reported_at",
}


def add_load_times(conn: sa.Connection) -> None:
    """Give every source table its `loaded_at` column and index.

    A table of an older warehouse gains the column with its rows stamped by their business time
    (order lines by their order's): the best record there is of when they landed. New rows take
    the insert time by default (on SQLite only in tables created with it: SQLite cannot add a
    column whose default is the current time, so its loader must set the column)."""
    for table, business_time in BUSINESS_TIME.items():
        if not table_exists(table, conn):
            continue
        if LOADED_AT not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {check_identifier(table)} ADD COLUMN {LOADED_AT} TIMESTAMP")
            stamped = conn.exec_driver_sql(
                f"UPDATE order_items SET {LOADED_AT} = "
                "(SELECT MIN(o.ordered_at) FROM orders o WHERE o.order_id = order_items.order_id)"
                if business_time is None
                else f"UPDATE {table} SET {LOADED_AT} = {check_column(business_time)}"
            ).rowcount
            if dialect_name(conn) == "postgresql":
                (default,) = split_statements(load_sql("schema/utc_now", "postgresql"))
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {LOADED_AT} SET DEFAULT {default}")
            log.warning(
                "Added %s.%s; its %s existing rows are stamped with their %s",
                table,
                LOADED_AT,
                stamped,
                business_time or "order's time",
            )
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_{LOADED_AT} ON {table} ({LOADED_AT})")


def ensure_output_tables(engine: sa.Engine | None = None) -> None:
    """Create the tables the pipeline writes, and add the columns a newer version records,
    where they are missing (the source tables' load time included). The first task of every DAG
    calls it, so a shop's own warehouse needs no setup step beyond its source tables, and an
    upgrade migrates in place."""
    with transaction(engine) as conn:
        run_sql("schema/create_output_tables", conn=conn)
        _add_missing_columns(conn)
        add_load_times(conn)


def create_schema(engine: sa.Engine | None = None) -> None:
    """Create the source and bookkeeping tables if they do not exist yet (and the SQLite file)."""
    engine = engine or get_engine()
    path = sqlite_path(engine)
    if path is not None and not path.exists():
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(path).close()
    with transaction(engine) as conn:
        run_sql("schema/create_source_tables", conn=conn, fragments={"utc_now": "schema/utc_now"})
    ensure_output_tables(engine)
    log.info("Warehouse schema ready at %s", describe(engine or get_engine()))

"""The warehouse door: connection settings, the SQL allow-list, parameters, and bulk frames on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from include import warehouse

PLUS_TWO = timezone(timedelta(hours=2))
START = datetime(2026, 8, 29)
END = datetime(2026, 8, 30)


# --------------------------------------------------------------------------- connection


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "POSTGRES"])
def test_warehouse_url_turns_a_postgres_uri_into_a_psycopg_url(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"{scheme}://shop:secret@db.internal:5433/warehouse")
    url = sa.make_url(warehouse.warehouse_url())
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "shop",
        "secret",
        "db.internal",
        5433,
        "warehouse",
    )


def test_warehouse_url_reads_a_json_postgres_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = {
        "conn_type": "postgres",
        "login": "shop",
        "password": "p@ss:w/rd",
        "host": "db.internal",
        "port": 5433,
        "schema": "warehouse",
    }
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", " " + json.dumps(spec) + "\n")
    url = sa.make_url(warehouse.warehouse_url())
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "shop",
        "p@ss:w/rd",
        "db.internal",
        5433,
        "warehouse",
    )


def test_warehouse_url_reads_a_json_sqlite_connection_with_the_file_as_host(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    path = tmp_path / "shop.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    url = warehouse.warehouse_url()
    assert url == f"sqlite:///{path}"
    assert sa.make_url(url).database == str(path)


def test_without_a_connection_the_warehouse_url_fails_and_says_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
    monkeypatch.setenv("SHOPFLOW_VAR_DIR", str(tmp_path))
    with pytest.raises(warehouse.WarehouseNotConfigured, match="AIRFLOW_CONN_WAREHOUSE") as missing:
        warehouse.warehouse_url()
    assert f"sqlite:///{tmp_path.resolve() / 'warehouse.db'}" in str(missing.value)
    assert not (tmp_path / "warehouse.db").exists(), "nothing falls back to the embedded file"


def test_a_failed_connection_lookup_fails_instead_of_falling_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    def broken_backend(conn_id: str) -> None:
        raise ConnectionError("secrets backend unreachable")

    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
    monkeypatch.setattr(Connection, "get", staticmethod(broken_backend))
    with pytest.raises(warehouse.WarehouseUnavailable, match="secrets backend unreachable"):
        warehouse.warehouse_url()


def test_a_connection_held_by_airflow_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from airflow.sdk import Connection

    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
    monkeypatch.setattr(
        Connection,
        "get",
        staticmethod(
            lambda conn_id: Connection(conn_id=conn_id, conn_type="sqlite", host=str(tmp_path / "w.db"))
        ),
    )
    assert warehouse.warehouse_url() == f"sqlite:///{tmp_path / 'w.db'}"


@pytest.mark.parametrize("uri", ["mysql://shop@db.internal/warehouse", "mssql+pyodbc://db/warehouse"])
def test_warehouse_url_refuses_an_unsupported_scheme(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", uri)
    with pytest.raises(warehouse.WarehouseNotConfigured, match="Unsupported warehouse connection scheme"):
        warehouse.warehouse_url()


def test_warehouse_url_refuses_an_unsupported_json_conn_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "mysql", "host": "db.internal", "login": "shop"})
    )
    with pytest.raises(warehouse.WarehouseNotConfigured, match="connection type .mysql."):
        warehouse.warehouse_url()


@pytest.mark.parametrize("raw", ['{"conn_type": "postgres", "host": ', '{"conn_type": "sqlite"}'])
def test_a_malformed_connection_is_not_configured(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", raw)
    with pytest.raises(warehouse.WarehouseNotConfigured, match="not a usable warehouse connection"):
        warehouse.warehouse_url()


# --------------------------------------------------------------------------- SQL files


@pytest.mark.parametrize(
    "name",
    ["customers", "model_versions", "recommendations__v12", "order_risk_scores__v1", "events__staging"],
)
def test_check_identifier_accepts_project_tables_and_their_versions(name: str) -> None:
    assert warehouse.check_identifier(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "users",
        "customers; drop table x",
        "Customers",
        "CUSTOMERS",
        "recommendations__v",
        "recommendations__vx",
        "pg_catalog.pg_user",
        "",
    ],
)
def test_check_identifier_refuses_anything_else(name: str) -> None:
    with pytest.raises(ValueError):
        warehouse.check_identifier(name)


@pytest.fixture
def sql_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A SQL folder of its own with one file and its PostgreSQL override."""
    folder = tmp_path / "sql" / "demo"
    folder.mkdir(parents=True)
    (folder / "select_rows.sql").write_text("SELECT 'generic' AS flavour FROM {table};\n")
    (folder / "select_rows.postgresql.sql").write_text("SELECT 'postgres' AS flavour FROM {table};\n")
    (folder / "count_rows.sql").write_text("SELECT COUNT(*) FROM {table};\n")
    monkeypatch.setattr(warehouse, "SQL_DIR", tmp_path / "sql")
    return folder


def test_load_sql_uses_the_postgresql_override_only_on_postgresql(sql_dir) -> None:
    ids = {"table": "events"}
    assert warehouse.load_sql("demo/select_rows", "postgresql", ids).strip() == (
        "SELECT 'postgres' AS flavour FROM events;"
    )
    assert warehouse.load_sql("demo/select_rows", "sqlite", ids).strip() == (
        "SELECT 'generic' AS flavour FROM events;"
    )
    assert "COUNT(*) FROM events" in warehouse.load_sql("demo/count_rows", "postgresql", ids)


def test_load_sql_refuses_a_missing_identifier(sql_dir) -> None:
    with pytest.raises(KeyError, match=r"needs the identifier \{table\}"):
        warehouse.load_sql("demo/select_rows", "sqlite")


def test_load_sql_refuses_an_identifier_off_the_allow_list(sql_dir) -> None:
    with pytest.raises(ValueError, match="allow-list"):
        warehouse.load_sql("demo/select_rows", "sqlite", {"table": "users"})


def test_load_sql_names_a_missing_file(sql_dir) -> None:
    with pytest.raises(FileNotFoundError, match="demo/nothing"):
        warehouse.load_sql("demo/nothing", "sqlite")


def test_split_statements_splits_on_line_ending_semicolons_and_drops_comment_lines() -> None:
    sql = (
        "-- a header; with a semicolon\n"
        "CREATE TABLE t (a TEXT);\n"
        "    -- an indented comment\n"
        "INSERT INTO t VALUES ('a;b');   \n"
        "\n"
        "SELECT a\n"
        "FROM t"
    )
    assert warehouse.split_statements(sql) == [
        "CREATE TABLE t (a TEXT)",
        "INSERT INTO t VALUES ('a;b')",
        "SELECT a\nFROM t",
    ]
    assert warehouse.split_statements("-- only a comment\n\n") == []


# --------------------------------------------------------------------------- parameters


def test_bind_params_makes_aware_datetimes_naive_utc() -> None:
    params = {"start": datetime(2026, 8, 30, 2, 0, tzinfo=PLUS_TWO)}
    bound = warehouse.bind_params(params, "postgresql")["start"]
    assert bound == datetime(2026, 8, 30, 0, 0) and bound.tzinfo is None


def test_bind_params_gives_sqlite_sortable_text() -> None:
    bound = warehouse.bind_params(
        {
            "aware": datetime(2026, 8, 30, 2, 5, 6, 789, tzinfo=PLUS_TWO),
            "naive": datetime(2026, 1, 2, 3, 4, 5),
            "day": date(2026, 8, 30),
            "stamp": pd.Timestamp("2026-08-30 01:02:03", tz="UTC"),
        },
        "sqlite",
    )
    assert bound == {
        "aware": "2026-08-30 00:05:06",
        "naive": "2026-01-02 03:04:05",
        "day": "2026-08-30 00:00:00",
        "stamp": "2026-08-30 01:02:03",
    }


def test_bind_params_turns_numpy_scalars_into_python_values() -> None:
    bound = warehouse.bind_params(
        {"n": np.int64(7), "x": np.float32(0.5), "flag": np.bool_(True), "s": "text", "none": None},
        "sqlite",
    )
    assert bound == {"n": 7, "x": 0.5, "flag": True, "s": "text", "none": None}
    assert type(bound["n"]) is int and type(bound["x"]) is float and type(bound["flag"]) is bool
    assert warehouse.bind_params(None, "postgresql") == {}


# --------------------------------------------------------------------------- frames


def _orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [1, 2, 3],
            "customer_id": pd.array([10, None, 2**40], dtype="Int64"),
            "ordered_at": pd.to_datetime(["2026-08-30 12:34:56", None, "2026-01-01 00:00:00"]),
            "amount": [0.1, np.nan, 123456.789012],
            "payment_method": ["card, then paypal", 'say "hi"', "line one\nline two"],
            "billing_country": ["", None, "Zürich"],
            "device_id": ["it's", None, 'a\r\nb,"c"'],
        }
    )


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _select(url: str, sql: str) -> pd.DataFrame:
    with warehouse.get_engine(url).connect() as conn:
        return warehouse.read_frame(sql=sql, conn=conn)


@pytest.mark.parametrize("render", ["arrow", "pandas"])
def test_write_then_read_round_trips_values_nulls_and_timestamps(
    warehouse_url: str, render: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's COPY input is rendered by Arrow, or by pandas for a frame Arrow cannot
    take (mixed Python objects): both load the same values."""
    frame = _orders()
    assert warehouse._arrow_table(warehouse._copy_ready(frame)) is not None, "Arrow takes these types"
    if render == "pandas":
        monkeypatch.setattr(warehouse, "_arrow_table", lambda _frame: None)
    assert warehouse.write_frame(frame, "orders") == 3

    back = _select(warehouse_url, f"SELECT {', '.join(frame.columns)} FROM orders ORDER BY order_id")
    assert pd.api.types.is_datetime64_any_dtype(back["ordered_at"])
    assert pd.api.types.is_float_dtype(back["amount"])
    assert _records(back) == _records(frame)


def test_read_frame_parses_at_columns_and_as_of_only(warehouse_url: str) -> None:
    warehouse.write_frame(_orders().iloc[:1], "orders")
    back = _select(
        warehouse_url,
        "SELECT ordered_at, ordered_at AS as_of, ordered_at AS placed, payment_method FROM orders",
    )
    assert pd.api.types.is_datetime64_any_dtype(back["ordered_at"])
    assert pd.api.types.is_datetime64_any_dtype(back["as_of"])
    assert back.loc[0, "as_of"] == pd.Timestamp("2026-08-30 12:34:56")
    assert not pd.api.types.is_datetime64_any_dtype(back["payment_method"])


def test_text_that_reads_like_the_copy_null_marker_survives_on_postgresql(
    postgres_warehouse_url: str,
) -> None:
    frame = pd.DataFrame({"order_id": [1], "device_id": ["\\N"]})
    warehouse.write_frame(frame, "orders")
    back = _select(postgres_warehouse_url, "SELECT device_id FROM orders")
    assert back["device_id"].tolist() == ["\\N"]


def test_whole_floats_in_an_integer_column_load_on_postgresql_as_on_sqlite(
    postgres_warehouse_url: str,
) -> None:
    # pandas turns an integer column with a missing value into float64; SQLite stores 1.0 as 1.
    frame = pd.DataFrame({"order_id": [1.0, np.nan], "reason": ["fraud", "fraud"]})
    warehouse.write_frame(frame, "chargebacks")
    back = _select(postgres_warehouse_url, "SELECT order_id FROM chargebacks ORDER BY order_id")
    assert back["order_id"].iloc[0] == 1


def test_write_frame_refuses_unknown_tables_and_columns(warehouse_url: str) -> None:
    with pytest.raises(ValueError, match="allow-list"):
        warehouse.write_frame(pd.DataFrame({"a": [1]}), "users")
    with pytest.raises(ValueError, match="column"):
        warehouse.write_frame(pd.DataFrame({"order_id; --": [1]}), "orders")
    assert warehouse.write_frame(pd.DataFrame({"order_id": []}), "orders") == 0


def _chargebacks(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": range(1, n + 1),
            "reported_at": [START + timedelta(minutes=i) for i in range(n)],
            "amount": [10.0] * n,
            "reason": ["fraud"] * n,
            "loaded_at": [START + timedelta(minutes=i) for i in range(n)],
        }
    )


def test_read_frame_chunks_yields_bounded_frames_covering_every_row(warehouse_url: str) -> None:
    warehouse.write_frame(_chargebacks(25), "chargebacks")
    chunks = list(
        warehouse.read_frame_chunks(
            "risk/extract_chargebacks", {"end": END, "loaded_until": END}, chunksize=7
        )
    )
    assert len(chunks) >= 4
    assert all(0 < len(chunk) <= 7 for chunk in chunks)
    ids = pd.concat(chunks)["order_id"]
    assert sorted(ids) == list(range(1, 26))
    assert all(pd.api.types.is_datetime64_any_dtype(chunk["reported_at"]) for chunk in chunks)


def _events_at(times: list[datetime]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": range(1, len(times) + 1),
            "session_id": 1,
            "customer_id": 1,
            "product_id": 1,
            "event_type": "view",
            "event_at": times,
        }
    )


@pytest.mark.parametrize("bounds", ["naive", "aware"])
def test_datetime_bounds_include_the_start_and_exclude_the_end(warehouse_url: str, bounds: str) -> None:
    second = timedelta(seconds=1)
    warehouse.write_frame(_events_at([START - second, START, END - second, END]), "events")
    if bounds == "aware":
        params = {
            "start": (START + timedelta(hours=2)).replace(tzinfo=PLUS_TWO),
            "end": (END + timedelta(hours=2)).replace(tzinfo=PLUS_TWO),
        }
    else:
        params = {"start": START, "end": END}
    with warehouse.get_engine(warehouse_url).connect() as conn:
        inside = warehouse.read_frame(
            sql="SELECT event_id FROM events WHERE event_at >= :start AND event_at < :end ORDER BY event_id",
            params=params,
            conn=conn,
        )
    assert inside["event_id"].tolist() == [2, 3]


def test_sqlite_stores_timestamps_as_sortable_text(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    warehouse.create_schema(warehouse.get_engine(url))
    with warehouse.transaction(warehouse.get_engine(url)) as conn:
        warehouse.write_frame(_events_at([START]), "events", conn=conn)
        raw = conn.exec_driver_sql("SELECT typeof(event_at), event_at FROM events").one()
    assert tuple(raw) == ("text", "2026-08-29 00:00:00")


def test_write_frame_in_a_failed_transaction_leaves_nothing(warehouse_url: str) -> None:
    engine = warehouse.get_engine(warehouse_url)
    with pytest.raises(RuntimeError, match="after the write"):
        with warehouse.transaction(engine) as conn:
            warehouse.write_frame(_chargebacks(3), "chargebacks", conn=conn)
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM chargebacks").scalar() == 3
            raise RuntimeError("failed after the write")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM chargebacks").scalar() == 0


def test_a_typo_in_a_sqlite_path_fails_instead_of_creating_a_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'warehuose.db'}"
    with pytest.raises(warehouse.WarehouseNotConfigured, match="no SQLite warehouse at .*warehuose.db"):
        with warehouse.get_engine(url).connect() as conn:
            warehouse.read_frame(sql="SELECT 1 AS one", conn=conn)
    assert not (tmp_path / "warehuose.db").exists()
    warehouse.create_schema(warehouse.get_engine(url))  # building a warehouse creates the file
    with warehouse.get_engine(url).connect() as conn:
        assert warehouse.table_exists("published_tables", conn=conn)


def test_postgresql_reads_through_copy_give_the_frame_row_fetching_gives(postgres_warehouse_url: str) -> None:
    """read_frame streams PostgreSQL results with COPY: nulls, empty texts, booleans, numerics,
    dates, percent signs, casts and bound parameters come back as pandas reads them row by row."""
    sql = """
SELECT * FROM (VALUES
    (1, 'a', 1.5::numeric, true, date '2026-06-01', timestamp '2026-06-01 10:00:00', '50%'),
    (2, '', NULL, false, NULL, timestamp '2026-06-02 11:30:15.250000', 'x::y'),
    (NULL, NULL, 2.25::numeric, NULL, date '2026-06-03', NULL, '"quoted", text')
) AS t (n, label, amount, flag, day, seen_at, note)
WHERE COALESCE(n, 0) < :limit AND '1'::int = 1
ORDER BY n NULLS LAST"""
    engine = warehouse.get_engine(postgres_warehouse_url)
    with engine.connect() as conn:
        copied = warehouse._read_copy(conn, sql, {"limit": 5})
        fetched = pd.read_sql_query(sa.text(sql), conn, params={"limit": 5})
        assert copied is not None, "every column type here is read through COPY"
        assert copied["label"].tolist()[:2] == ["a", ""] and copied["label"].isna().tolist() == [
            False,
            False,
            True,
        ]
        assert copied["flag"].tolist()[:2] == [True, False]
        assert copied["amount"].tolist()[0] == 1.5 and np.isnan(copied["amount"].iloc[1])
        fetched["amount"] = fetched["amount"].astype(float)
        pd.testing.assert_frame_equal(copied, fetched, check_dtype=False)
        assert warehouse.read_frame(sql=sql, params={"limit": 2}, conn=conn)["n"].dropna().tolist() == [1]
        # A column type COPY is not read as (timestamptz here) falls back to fetching rows.
        zoned = "SELECT timestamptz '2026-06-01 10:00:00+02' AS at"
        assert warehouse._read_copy(conn, zoned, {}) is None
        assert warehouse.read_frame(sql=zoned, conn=conn)["at"].iloc[0] == pd.Timestamp(
            "2026-06-01 08:00:00", tz="UTC"
        )
        empty = warehouse.read_frame(
            sql=sql.replace("< :limit", "< :limit - 10"), params={"limit": 5}, conn=conn
        )
        assert empty.empty and list(empty.columns) == list(fetched.columns)


def test_a_forked_process_opens_its_own_warehouse_connections(postgres_warehouse_url: str) -> None:
    """A task process forked from one that used the warehouse (as Airflow forks its task
    processes) must not talk through the parent's pooled connection."""
    import os

    engine = warehouse.get_engine(postgres_warehouse_url)
    engine.dispose()  # earlier tests' connections closed: the pool holds exactly the next one
    backend = "SELECT pg_backend_pid()"
    with engine.connect() as conn:
        parent = conn.exec_driver_sql(backend).scalar_one()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, then leave without any clean-up
        try:
            with warehouse.get_engine(postgres_warehouse_url).connect() as conn:
                os.write(write, str(conn.exec_driver_sql(backend).scalar_one()).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = int(os.read(read, 64) or -1)
    os.close(read)
    os.waitpid(pid, 0)
    assert child not in (-1, parent)
    with engine.connect() as conn:  # the parent's pooled connection still works
        assert conn.exec_driver_sql(backend).scalar_one() == parent


def test_an_older_warehouses_source_tables_gain_load_times_from_their_business_times(
    warehouse_url: str,
) -> None:
    """A warehouse made before load times: its rows are stamped with the time they describe (order
    lines with their order's), and on PostgreSQL new rows take the insert time by default."""
    engine = warehouse.get_engine(warehouse_url)
    ordered = [datetime(2026, 8, 1, 9), datetime(2026, 8, 2, 17)]
    with warehouse.transaction(engine) as conn:
        for table in ("orders", "order_items"):
            conn.exec_driver_sql(f"DROP TABLE {table}")
        conn.exec_driver_sql(
            "CREATE TABLE orders (order_id BIGINT, customer_id BIGINT, ordered_at TIMESTAMP)"
        )
        conn.exec_driver_sql("CREATE TABLE order_items (order_id BIGINT, line_no INTEGER)")
        warehouse.write_frame(
            pd.DataFrame({"order_id": [1, 2], "customer_id": [7, 8], "ordered_at": ordered}),
            "orders",
            conn=conn,
        )
        warehouse.write_frame(
            pd.DataFrame({"order_id": [1, 1, 2, 3], "line_no": [1, 2, 1, 1]}), "order_items", conn=conn
        )

    warehouse.ensure_output_tables(engine)
    warehouse.ensure_output_tables(engine)  # a second run changes nothing
    with engine.connect() as conn:
        orders = warehouse.read_frame(sql="SELECT * FROM orders ORDER BY order_id", conn=conn)
        items = warehouse.read_frame(sql="SELECT * FROM order_items ORDER BY order_id, line_no", conn=conn)
        indexed = {i["name"] for i in sa.inspect(conn).get_indexes("orders")}
    assert orders["loaded_at"].tolist() == ordered
    assert items["loaded_at"].tolist()[:3] == [ordered[0], ordered[0], ordered[1]]
    assert pd.isna(items["loaded_at"].iloc[3]), "a line without an order has no known load time"
    assert "ix_orders_loaded_at" in indexed
    if warehouse.dialect_name(engine) == "postgresql":
        with warehouse.transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO orders (order_id) VALUES (3)")
            landed = warehouse.read_frame(sql="SELECT loaded_at FROM orders WHERE order_id = 3", conn=conn)
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        assert abs(landed["loaded_at"].iloc[0] - now) < pd.Timedelta(minutes=5), "naive UTC insert time"

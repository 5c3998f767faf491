"""Write-audit-publish for the batch tables the shop reads.

Readers query a view (`recommendations`, `similar_products`, `order_risk_scores`). Each publish
loads a brand-new physical table `<name>__v<N>`, audits it, then points the view at it and
records the version in `published_tables`, all in one transaction. So:

- readers never see a half-loaded table, and a failure anywhere before the switch leaves the
  previous version in place and readable (the partial table goes with the rolled-back
  transaction);
- re-running a data interval publishes a new version with the same rows, never duplicates;
- the previous version is kept, and `rollback` points the view back at it in one step; a
  version readers were rolled back from is marked and never becomes a rollback target again;
- one publish or rollback of a table at a time: a per-table lock (a PostgreSQL advisory lock,
  a lock file beside an SQLite warehouse) is held from choosing the version number to pruning,
  so two publishers never take the same version or drop each other's table. The lock belongs
  to the session or process, so a publisher that dies releases it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from include import warehouse

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedTable:
    """How one version of a published table is made: the DDL file that creates it (without
    key or indexes), its key columns, and the file of its other indexes, if any. The key and
    indexes are built after the rows are loaded: one sort each, instead of a b-tree insert
    per row."""

    ddl: str
    key: tuple[str, ...]
    indexes: str | None = None


PUBLISHED_TABLES: dict[str, PublishedTable] = {
    "recommendations": PublishedTable("publish/create_recommendations", ("customer_id", "rank")),
    "similar_products": PublishedTable("publish/create_similar_products", ("product_id", "rank")),
    "order_risk_scores": PublishedTable(
        "publish/create_order_risk_scores", ("order_id",), "publish/index_order_risk_scores"
    ),
}
# How long a publish waits for another publish of the same table to finish.
LOCK_WAIT_SECONDS = 600.0


class PublishError(RuntimeError):
    """A version failed its audit and was not published, or there is nothing to roll back to."""


class PublishLockTimeout(PublishError):
    """Another publish or rollback of the same table held its lock for too long."""


@dataclass(frozen=True)
class Published:
    """What one publish did."""

    table: str
    version: int
    physical_table: str
    row_count: int


def _check_table(table: str) -> None:
    if table not in PUBLISHED_TABLES:
        raise ValueError(f"{table!r} is not a published table: {sorted(PUBLISHED_TABLES)}")


def physical_name(table: str, version: int) -> str:
    """The physical table holding one version of a published table."""
    return warehouse.check_identifier(f"{table}__v{int(version)}")


def list_versions(table: str, conn: sa.Connection | None = None) -> pd.DataFrame:
    """Every kept version of `table`, newest first."""
    _check_table(table)
    return warehouse.read_frame("publish/list_versions", {"table_name": table}, conn=conn)


def current_version(table: str, conn: sa.Connection | None = None) -> int | None:
    """The version readers see now, or None if the table was never published."""
    return _current(list_versions(table, conn))


def _current(versions: pd.DataFrame) -> int | None:
    """The current version among `versions` (a `list_versions` frame), if any."""
    current = versions[versions["is_current"] == 1]
    return None if current.empty else int(current["version"].iloc[0])


@contextmanager
def table_lock(engine: sa.Engine, table: str, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the publish lock of `table`; wait up to `wait_seconds` (default LOCK_WAIT_SECONDS)
    for another holder.

    Raises:
        PublishLockTimeout: the lock stayed taken for `wait_seconds`.
    """
    _check_table(table)
    wait_seconds = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait_seconds
    if warehouse.dialect_name(engine) == "postgresql":
        key = zlib.crc32(f"shopflow.publish.{table}".encode())
        # A session lock on a connection of its own, in autocommit: it never sits idle in a
        # transaction (which a server timeout could end) while the publish runs.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
                _wait_or_fail(deadline, table, wait_seconds)
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
        return
    database = warehouse.sqlite_path(engine)
    if database is None:  # one process owns an in-memory warehouse
        yield
        return
    import fcntl

    with open(f"{database}.publish-{table}.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _wait_or_fail(deadline, table, wait_seconds)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_or_fail(deadline: float, table: str, wait_seconds: float) -> None:
    if time.monotonic() >= deadline:
        raise PublishLockTimeout(
            f"Another publish or rollback of {table} held its lock for more than {wait_seconds:.0f} s; "
            "nothing was changed. Retry when it has finished."
        )
    time.sleep(0.2)


def publish(
    table: str,
    frames: Iterable[pd.DataFrame],
    *,
    run_id: str,
    model_version: str | None = None,
    data_interval: tuple[datetime | None, datetime | None] = (None, None),
    summary: dict[str, Any] | None = None,
    engine: sa.Engine | None = None,
) -> Published:
    """Load `frames` into a new version of `table`, audit it, and switch readers to it.

    Args:
        table: one of PUBLISHED_TABLES.
        frames: the rows, in one or more frames (for example one per scoring shard).
        run_id: the Airflow run that produced them.
        model_version: the model that produced them.
        data_interval: the data interval of the run, recorded with the version.
        summary: what the version holds (JSON-able), recorded with it.
        engine: the warehouse engine (default: the `warehouse` connection).
    """
    _check_table(table)
    engine = engine or warehouse.get_engine()
    with table_lock(engine, table):
        published = _publish_locked(engine, table, frames, run_id, model_version, data_interval, summary)
        _prune(engine, table)
    return published


def _publish_locked(
    engine: sa.Engine,
    table: str,
    frames: Iterable[pd.DataFrame],
    run_id: str,
    model_version: str | None,
    data_interval: tuple[datetime | None, datetime | None],
    summary: dict[str, Any] | None,
) -> Published:
    """One publish, under the table's lock (see `publish`).

    The table is created, loaded, keyed, audited and pointed at in one transaction: on
    PostgreSQL the rows are loaded frozen (COPY FREEZE, allowed into a table created in the same
    transaction), so no reader or vacuum has to visit them again to mark them visible.
    """
    spec = PUBLISHED_TABLES[table]
    with warehouse.transaction(engine) as conn:
        version = int(warehouse.scalar("publish/next_version", {"table_name": table}, conn=conn))
    physical = physical_name(table, version)
    ids = {"table": physical}

    loaded = 0
    try:
        with warehouse.transaction(engine) as conn:
            # A leftover from a publish that died before it was recorded has no readers.
            warehouse.run_sql("publish/drop_table", conn=conn, identifiers=ids)
            warehouse.run_sql(spec.ddl, conn=conn, identifiers=ids)
            for frame in frames:
                loaded += warehouse.write_frame(frame, physical, conn=conn, freeze=True)
            _add_key(conn, physical, spec.key)  # fails on a duplicate key
            if spec.indexes:
                warehouse.run_sql(spec.indexes, conn=conn, identifiers=ids)
            counted = int(warehouse.scalar("publish/count_rows", conn=conn, identifiers=ids))
            if counted != loaded or counted == 0:
                raise PublishError(
                    f"Audit of {physical} failed: {counted} rows in the table, {loaded} loaded"
                )
            warehouse.analyze(physical, conn=conn)
            warehouse.run_sql(
                "publish/record_version",
                {
                    "table_name": table,
                    "version": version,
                    "physical_table": physical,
                    "run_id": run_id,
                    "model_version": model_version,
                    "data_interval_start_at": data_interval[0],
                    "data_interval_end_at": data_interval[1],
                    "row_count": counted,
                    "published_at": datetime.now(UTC),
                    "summary": None if summary is None else json.dumps(summary, sort_keys=True),
                },
                conn=conn,
            )
            _point_readers(conn, table, version)
    except BaseException:
        # The version's one transaction rolled back: the partial table went with it.
        log.exception("Publishing %s failed; readers keep the previous version", physical)
        raise

    log.info("Published %s rows of %s as version %s (%s)", counted, table, version, physical)
    return Published(table, version, physical, counted)


def _add_key(conn: sa.Connection, physical: str, key: tuple[str, ...]) -> None:
    """The table's key over its loaded rows: a primary key on PostgreSQL, a unique index on
    SQLite (which cannot add a primary key to an existing table)."""
    columns = ", ".join(warehouse.check_column(c) for c in key)
    table = warehouse.check_identifier(physical)
    if warehouse.dialect_name(conn) == "postgresql":
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD PRIMARY KEY ({columns})")
    else:
        conn.exec_driver_sql(f"CREATE UNIQUE INDEX pk_{table} ON {table} ({columns})")


def _point_readers(conn: sa.Connection, table: str, version: int) -> None:
    warehouse.run_sql(
        "publish/point_view",
        conn=conn,
        identifiers={"view": table, "table": physical_name(table, version)},
    )
    warehouse.run_sql("publish/mark_current", {"table_name": table, "version": version}, conn=conn)


def _rollback_target(versions: pd.DataFrame, current: int | None) -> int | None:
    """The version a rollback returns to: the newest one older than `current` that readers
    were never rolled back from."""
    older = versions[(versions["version"] < (current or 0)) & versions["rolled_back_at"].isna()]
    return None if older.empty else int(older["version"].max())


def _prune(engine: sa.Engine, table: str) -> None:
    """Drop every version but the current one and the one a rollback would return to."""
    with warehouse.transaction(engine) as conn:
        versions = list_versions(table, conn)
        current = _current(versions)
        keep = {current, _rollback_target(versions, current)}
        for version in versions["version"]:
            if int(version) in keep:
                continue
            warehouse.run_sql(
                "publish/drop_table", conn=conn, identifiers={"table": physical_name(table, version)}
            )
            warehouse.run_sql(
                "publish/forget_version", {"table_name": table, "version": int(version)}, conn=conn
            )
            log.info("Dropped old version %s of %s", version, table)


def rollback(table: str, engine: sa.Engine | None = None) -> int:
    """Point readers of `table` back at the version before the current one; returns it.

    The version left is marked rolled back: it is never a rollback target again and the next
    publish drops it, so rollback, publish, rollback returns to the good version.
    """
    _check_table(table)
    engine = engine or warehouse.get_engine()
    with table_lock(engine, table), warehouse.transaction(engine) as conn:
        versions = list_versions(table, conn)
        current = _current(versions)
        target = _rollback_target(versions, current)
        if target is None:
            raise PublishError(f"{table} has no version older than {current} to roll back to")
        _point_readers(conn, table, target)
        warehouse.run_sql(
            "publish/mark_rolled_back",
            {"table_name": table, "version": current, "rolled_back_at": datetime.now(UTC)},
            conn=conn,
        )
    log.info("Rolled %s back from version %s to %s", table, current, target)
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m include.publish rollback <table>` or `... versions <table>`."""
    parser = argparse.ArgumentParser(prog="python -m include.publish")
    parser.add_argument("action", choices=["rollback", "versions"])
    parser.add_argument("table", choices=sorted(PUBLISHED_TABLES))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.action == "rollback":
        print(f"{args.table}: readers now see version {rollback(args.table)}")
    else:
        print(list_versions(args.table).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

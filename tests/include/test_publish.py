"""Write-audit-publish: atomic switch, failure mid-publish, idempotent re-runs, rollback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from include import publish, warehouse
from tests.conftest import ROOT

INTERVAL = (datetime(2026, 8, 29), datetime(2026, 8, 30))


def _recommendations(customers: range, product_offset: int = 0) -> pd.DataFrame:
    rows = [
        (c, rank, 1000 + product_offset + rank, 1.0 / rank, "model", "rec-v1", datetime(2026, 8, 30))
        for c in customers
        for rank in (1, 2, 3)
    ]
    return pd.DataFrame(
        rows,
        columns=["customer_id", "rank", "product_id", "score", "source", "model_version", "as_of"],
    )


def _read_view(url: str) -> pd.DataFrame:
    with warehouse.get_engine(url).connect() as conn:
        return warehouse.read_frame(sql="SELECT * FROM recommendations ORDER BY customer_id, rank", conn=conn)


def test_publish_switches_readers_and_keeps_previous_version(warehouse_url: str) -> None:
    first = publish.publish(
        "recommendations",
        [_recommendations(range(1, 11))],
        run_id="r1",
        model_version="rec-v1",
        data_interval=INTERVAL,
    )
    second = publish.publish(
        "recommendations",
        [_recommendations(range(1, 6), 50)],
        run_id="r2",
        model_version="rec-v2",
        data_interval=INTERVAL,
    )

    view = _read_view(warehouse_url)
    assert len(view) == 15 and view["product_id"].min() == 1051
    versions = publish.list_versions("recommendations")
    assert versions["version"].tolist() == [second.version, first.version]
    assert versions["is_current"].tolist() == [1, 0]
    assert versions["row_count"].tolist() == [15, 30]


def test_failure_mid_publish_leaves_previous_table_complete(warehouse_url: str) -> None:
    publish.publish("recommendations", [_recommendations(range(1, 11))], run_id="r1")

    def shards_then_crash() -> Iterator[pd.DataFrame]:
        yield _recommendations(range(1, 6), 50)
        raise RuntimeError("scoring shard 2 lost")

    with pytest.raises(RuntimeError, match="shard 2 lost"):
        publish.publish("recommendations", shards_then_crash(), run_id="r2")

    view = _read_view(warehouse_url)
    assert len(view) == 30 and view["product_id"].max() == 1003
    assert publish.current_version("recommendations") == 1
    assert not warehouse.table_exists("recommendations__v2"), "the partial table is dropped"


def test_failure_inside_the_switch_rolls_back_to_previous(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish.publish("recommendations", [_recommendations(range(1, 11))], run_id="r1")
    original = publish._point_readers

    def switch_then_crash(conn, table, version):  # noqa: ANN001
        original(conn, table, version)  # the view already points at the new version...
        raise RuntimeError("connection lost during the switch")  # ...but nothing commits

    monkeypatch.setattr(publish, "_point_readers", switch_then_crash)
    with pytest.raises(RuntimeError, match="during the switch"):
        publish.publish("recommendations", [_recommendations(range(1, 3), 50)], run_id="r2")

    assert len(_read_view(warehouse_url)) == 30
    assert publish.current_version("recommendations") == 1


def test_duplicate_keys_fail_the_load_and_keep_previous(warehouse_url: str) -> None:
    publish.publish("recommendations", [_recommendations(range(1, 4))], run_id="r1")
    doubled = pd.concat([_recommendations(range(1, 4)), _recommendations(range(3, 4))])
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError differs per driver
        publish.publish("recommendations", [doubled], run_id="r2")
    assert len(_read_view(warehouse_url)) == 9


def test_a_published_version_has_its_key_and_indexes(warehouse_url: str) -> None:
    """The key and indexes are built after the load: each published version must still have
    them (a primary key on PostgreSQL, a unique index on SQLite), or readers scan."""
    published = publish.publish("recommendations", [_recommendations(range(1, 4))], run_id="r1")
    risk = pd.DataFrame(
        {
            "order_id": [1, 2],
            "customer_id": [7, 8],
            "ordered_at": [datetime(2026, 8, 29)] * 2,
            "amount": [10.0, None],
            "score": [0.1, 0.9],
            "band": ["approve", "review"],
            "reasons": ["[]", "[]"],
            "model_version": ["risk-v1"] * 2,
            "as_of": [datetime(2026, 8, 30)] * 2,
        }
    )
    scored = publish.publish("order_risk_scores", [risk], run_id="r1")
    engine = warehouse.get_engine(warehouse_url)
    with engine.connect() as conn:
        if warehouse.dialect_name(conn) == "postgresql":
            query = (
                "SELECT indexdef FROM pg_indexes WHERE tablename = :t ORDER BY indexname",
                "SELECT contype FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)",
            )
            indexes = [
                conn.execute(sa.text(query[0]), {"t": t}).scalars().all()
                for t in (published.physical_table, scored.physical_table)
            ]
            assert conn.execute(sa.text(query[1]), {"t": published.physical_table}).scalars().all() == ["p"]
            assert conn.execute(sa.text(query[1]), {"t": scored.physical_table}).scalars().all() == ["p"]
        else:
            indexes = [
                conn.exec_driver_sql(
                    f"SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{t}' ORDER BY name"
                )
                .scalars()
                .all()
                for t in (published.physical_table, scored.physical_table)
            ]
    assert len(indexes[0]) == 1 and "UNIQUE" in indexes[0][0] and "(customer_id, rank)" in indexes[0][0]
    assert len(indexes[1]) == 2
    assert any("UNIQUE" in i and "(order_id)" in i for i in indexes[1])
    assert any("(band, ordered_at)" in i for i in indexes[1])


def test_empty_result_is_not_published(warehouse_url: str) -> None:
    publish.publish("recommendations", [_recommendations(range(1, 4))], run_id="r1")
    with pytest.raises(publish.PublishError, match="0 rows"):
        publish.publish("recommendations", [_recommendations(range(0))], run_id="r2")
    assert len(_read_view(warehouse_url)) == 9


def test_rerun_of_an_interval_gives_same_rows_without_duplicates(warehouse_url: str) -> None:
    rows = _recommendations(range(1, 11))
    publish.publish("recommendations", [rows], run_id="r1", data_interval=INTERVAL)
    before = _read_view(warehouse_url)
    publish.publish("recommendations", [rows.iloc[:12], rows.iloc[12:]], run_id="r1", data_interval=INTERVAL)
    after = _read_view(warehouse_url)
    pd.testing.assert_frame_equal(before, after)


def test_rollback_is_one_step_and_old_versions_are_pruned(warehouse_url: str) -> None:
    for n in (2, 3, 4):
        publish.publish("recommendations", [_recommendations(range(1, n + 1))], run_id=f"r{n}")
    assert not warehouse.table_exists("recommendations__v1"), "only the newest versions are kept"
    assert publish.rollback("recommendations") == 2
    assert len(_read_view(warehouse_url)) == 3 * 3
    with pytest.raises(publish.PublishError, match="no version older"):
        publish.rollback("recommendations")


def test_a_version_rolled_back_from_is_never_restored(warehouse_url: str) -> None:
    # good (v1), bad (v2), rollback to v1, a new good one (v3): a second rollback must return to
    # v1, the last good version, and the bad one is dropped.
    for version, customers in ((1, range(1, 3)), (2, range(1, 6))):
        publish.publish("recommendations", [_recommendations(customers)], run_id=f"r{version}")
    assert publish.rollback("recommendations") == 1
    publish.publish("recommendations", [_recommendations(range(1, 4))], run_id="r3")
    versions = publish.list_versions("recommendations")
    assert versions["version"].tolist() == [3, 1], "the rolled-back version is pruned"
    assert not warehouse.table_exists("recommendations__v2")
    assert publish.rollback("recommendations") == 1
    assert len(_read_view(warehouse_url)) == 2 * 3
    with pytest.raises(publish.PublishError, match="no version older than 1"):
        publish.rollback("recommendations")


_SLOW_PUBLISHER = """
import sys, time
import pandas as pd
from include import publish

def rows(customers):
    return pd.DataFrame([(c, rank, 1000 + int(sys.argv[1]) + rank, 1.0 / rank, "model", "v", "2026-08-30")
                         for c in customers for rank in (1, 2, 3)],
                        columns=["customer_id", "rank", "product_id", "score", "source", "model_version", "as_of"])

def frames():
    yield rows(range(1, 6))
    time.sleep(1.5)  # both publishers are mid-load at once
    yield rows(range(6, 11))

print(publish.publish("recommendations", frames(), run_id=sys.argv[2]).version)
"""


def test_two_publishers_at_once_take_turns(warehouse_url: str) -> None:
    env = {**os.environ, "AIRFLOW_CONN_WAREHOUSE": warehouse_url, "PYTHONPATH": str(ROOT)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _SLOW_PUBLISHER, str(offset), f"r{offset}"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for offset in (0, 50)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert sorted(int(out) for out, _ in outputs) == [1, 2], "each publisher took its own version"
    versions = publish.list_versions("recommendations")
    assert versions["row_count"].tolist() == [30, 30]
    # Readers see the whole of the version published last, and both tables are complete.
    view = _read_view(warehouse_url)
    assert len(view) == 30 and view["product_id"].nunique() == 3
    for version in (1, 2):
        assert warehouse.table_exists(f"recommendations__v{version}")


def test_a_publisher_that_cannot_get_the_lock_fails_clearly(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish.publish("recommendations", [_recommendations(range(1, 3))], run_id="r1")
    monkeypatch.setattr(publish, "LOCK_WAIT_SECONDS", 0.5)
    engine = warehouse.get_engine()
    # Another publisher holds the lock (its own session, its own open lock file).
    with publish.table_lock(engine, "recommendations"):
        with pytest.raises(
            publish.PublishLockTimeout, match="Another publish or rollback of recommendations"
        ):
            publish.publish("recommendations", [_recommendations(range(1, 9))], run_id="r2")
    assert len(_read_view(warehouse_url)) == 2 * 3
    # Released: the next publish goes through.
    publish.publish("recommendations", [_recommendations(range(1, 9))], run_id="r3")


def test_a_warehouse_of_an_older_release_is_upgraded_in_place(warehouse_url: str) -> None:
    # published_tables as the first release made it: no summary, no rolled_back_at.
    with warehouse.transaction() as conn:
        conn.exec_driver_sql("DROP TABLE published_tables")
        conn.exec_driver_sql(
            "CREATE TABLE published_tables (table_name TEXT NOT NULL, version INTEGER NOT NULL, "
            "physical_table TEXT NOT NULL, run_id TEXT NOT NULL, model_version TEXT, "
            "data_interval_start_at TIMESTAMP, data_interval_end_at TIMESTAMP, row_count BIGINT NOT NULL, "
            "published_at TIMESTAMP NOT NULL, is_current INTEGER NOT NULL DEFAULT 0, "
            "PRIMARY KEY (table_name, version))"
        )
    warehouse.ensure_output_tables()  # what the first task of every DAG does
    warehouse.ensure_output_tables()  # and again the next night: nothing to do
    for run in ("r1", "r2"):
        publish.publish("recommendations", [_recommendations(range(1, 3))], run_id=run, summary={"n": 2})
    assert publish.rollback("recommendations") == 1


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="not a published table"):
        publish.publish("customers", [], run_id="r1")


def test_a_column_of_one_value_is_loaded_as_a_default_and_the_default_removed(warehouse_url: str) -> None:
    """On PostgreSQL a published version's constant columns (model, date, a single source) are
    the table's defaults while the rows are copied, not sent row by row: every row still holds
    them, a column that varies is copied as usual, and no default is left on the table."""
    frame = _recommendations(range(1, 6))
    frame.loc[frame["customer_id"] == 5, "source"] = "popularity"  # varies: copied row by row
    published = publish.publish("recommendations", [frame], run_id="r1")
    view = _read_view(warehouse_url)
    pd.testing.assert_frame_equal(
        view.reset_index(drop=True),
        frame.sort_values(["customer_id", "rank"]).reset_index(drop=True),
        check_dtype=False,
    )
    assert warehouse._constant_columns(frame).keys() == {"model_version", "as_of"}
    with warehouse.get_engine(warehouse_url).connect() as conn:
        if warehouse.dialect_name(conn) == "postgresql":
            defaults = conn.execute(
                sa.text("SELECT column_default FROM information_schema.columns WHERE table_name = :t"),
                {"t": published.physical_table},
            ).scalars()
            assert set(defaults) == {None}

"""Write-audit-publish: atomic switch, failure mid-publish, idempotent re-runs, rollback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest

from include import publish, warehouse

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


def test_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match="not a published table"):
        publish.publish("customers", [], run_id="r1")

"""The whole night, end to end: the three real DAGs with dag.test() on the tiny shop in PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from include import publish, warehouse
from include.dag_runs import DagRunFailed, run_dag
from include.models import catalogue
from tests.e2e.conftest import AS_OF, LAST_DAY, RECS_CONF, RISK_CONF
from tests.helpers import read_sql as _read

pytestmark = pytest.mark.e2e


def test_nightly_pipeline_publishes_every_table_and_is_idempotent(small_shop: str) -> None:
    run_dag("warehouse_validation", logical_date=AS_OF)  # validates the day before AS_OF
    quality = _read("SELECT table_name, success FROM data_quality_runs")
    assert set(quality["table_name"]) == {
        "customers",
        "products",
        "events",
        "orders",
        "order_items",
        "chargebacks",
    }
    assert quality["success"].all()

    run_dag("recommendations", logical_date=AS_OF, conf=RECS_CONF)
    recs = _read("SELECT * FROM recommendations")
    active = _read(
        "SELECT customer_id FROM customers WHERE created_at >= :s AND created_at < :e "
        "UNION SELECT customer_id FROM events WHERE event_at >= :s AND event_at < :e",
        s=AS_OF.replace(tzinfo=None) - timedelta(days=30),
        e=AS_OF.replace(tzinfo=None),
    )
    assert set(recs["customer_id"]) == set(active["customer_id"]), "every active customer is scored"
    assert not recs.duplicated(["customer_id", "rank"]).any()
    assert recs.groupby("customer_id")["rank"].max().eq(10).all()
    bought = _read("SELECT DISTINCT customer_id, product_id FROM events WHERE event_type = 'purchase'")
    clash = recs.merge(bought, on=["customer_id", "product_id"])
    assert clash.empty, "nobody is recommended what they already bought"
    similar = _read("SELECT * FROM similar_products")
    assert len(similar) > 0 and (similar["product_id"] != similar["similar_product_id"]).all()
    # Products the model does not know (nobody interacted with them) get catalogue neighbours.
    by_source = similar.groupby("source")["product_id"].agg(set)
    assert set(by_source.index) <= {"model", "catalogue"}
    assert not by_source.get("catalogue", set()) & by_source["model"]
    catalogue_products = _read(
        "SELECT product_id FROM products WHERE created_at < :e", e=AS_OF.replace(tzinfo=None)
    )
    assert set(similar["product_id"]) == set(catalogue_products["product_id"]), "every product has some"
    assert set(recs["source"]) <= {"model", "category_popularity", "popularity", "new_product"}

    models = _read(
        "SELECT candidate, decision, is_champion, metrics, comparison FROM model_versions "
        "WHERE model_name = 'recommender'"
    )
    assert set(models["candidate"]) == set(catalogue.DEFAULT_CANDIDATES["recommender"])
    assert models["is_champion"].sum() == 1
    assert (models["decision"] == "promoted").sum() == 1

    run_dag("order_risk", logical_date=AS_OF, conf=RISK_CONF)
    scores = _read("SELECT * FROM order_risk_scores")
    recent = _read(
        "SELECT order_id FROM orders WHERE ordered_at >= :s AND ordered_at < :e",
        s=AS_OF.replace(tzinfo=None) - timedelta(days=7),
        e=AS_OF.replace(tzinfo=None),
    )
    assert set(scores["order_id"]) == set(recent["order_id"])
    assert set(scores["band"]) <= {"approve", "review", "decline"}
    assert scores["score"].between(0, 1).all() and scores["reasons"].str.len().gt(0).all()
    risk_models = _read("SELECT candidate FROM model_versions WHERE model_name = 'order_risk'")
    assert set(risk_models["candidate"]) == {"logistic_regression", "gradient_boosting", "tf_mlp"}

    # Each publish tells the Assets view what it did.
    for table in ("recommendations", "similar_products", "order_risk_scores"):
        extra = _latest_asset_extra(table)
        (current,) = publish.list_versions(table).query("is_current == 1").itertuples()
        assert extra["table"] == table and extra["version"] == current.version
        assert extra["rows"] == current.row_count and extra["model_version"] == current.model_version

    # Re-running the interval with the same serving model gives the same rows, as a new version.
    before = recs.sort_values(["customer_id", "rank"]).reset_index(drop=True)
    run_dag("recommendations", logical_date=AS_OF + timedelta(hours=1), conf={**RECS_CONF, "retrain": False})
    after = _read("SELECT * FROM recommendations").sort_values(["customer_id", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after, check_like=True)
    assert publish.list_versions("recommendations")["version"].tolist() == [2, 1]


def _latest_asset_extra(asset_name: str) -> dict:
    """The extra of the newest event of an Asset, from Airflow's metadata database."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalars(
            sa.select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == asset_name)
            .order_by(AssetEvent.id.desc())
            .limit(1)
        ).one()


def test_critical_data_failure_stops_the_night_and_keeps_published_tables(tiny_shop: str) -> None:
    run_dag("warehouse_validation", logical_date=AS_OF - timedelta(days=2))
    run_dag(
        "recommendations",
        logical_date=AS_OF - timedelta(days=1),
        conf={"as_of": (AS_OF - timedelta(days=1)).date().isoformat()},
    )
    published = _read("SELECT * FROM recommendations")

    # The shop loads a broken event on the last day: a null id (and an unknown event type).
    bad = pd.DataFrame(
        {
            "event_id": [None],
            "session_id": [1],
            "customer_id": [1],
            "product_id": [1],
            "event_type": ["refund"],
            "event_at": [pd.Timestamp(LAST_DAY) + pd.Timedelta(hours=12)],
            "loaded_at": [pd.Timestamp(LAST_DAY) + pd.Timedelta(hours=13)],
        }
    )
    warehouse.write_frame(bad, "events")
    with pytest.raises(DagRunFailed, match="validate_events") as failed:
        run_dag("warehouse_validation", logical_date=AS_OF)
    assert failed.value.states["publish_validated_interactions"] == "upstream_failed", (
        "the Asset that triggers the recommendations is not updated"
    )
    # Broken events hold back only what reads them: the orders' Asset is announced.
    assert failed.value.states["publish_validated_orders"] == "success"

    failures = _read(
        "SELECT table_name, expectation, column_name, unexpected_count FROM data_quality_runs "
        "WHERE success = 0"
    )
    # A row without its key cannot be quarantined or excluded by key: the null id is critical.
    assert ("events", "expect_column_values_to_not_be_null", "event_id") in set(
        failures[["table_name", "expectation", "column_name"]].itertuples(index=False, name=None)
    )
    pd.testing.assert_frame_equal(_read("SELECT * FROM recommendations"), published)

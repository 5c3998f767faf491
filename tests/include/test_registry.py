"""The model registry: every model's record in the warehouse, the champion and what it stands on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from include import registry, warehouse

HOLDOUT_START = datetime(2026, 8, 16)
AS_OF = datetime(2026, 8, 30)


# --------------------------------------------------------------------------- the warehouse record


def _record(version: str, *, model_name: str = "recommender", candidate: str = "item_knn", **extra) -> None:
    fields = {
        "model_version": version,
        "model_name": model_name,
        "candidate": candidate,
        "run_id": f"run-{version}",
        "data_interval": (AS_OF - timedelta(days=1), AS_OF),
        "holdout_start_at": HOLDOUT_START,
        "train_rows": 1000,
        "holdout_rows": 100,
        "params": {"neighbours": 50, "shrink": 10.0},
        "metrics": {"ndcg@10": 0.31, "recall@10": 0.2},
        "comparison": {"popularity": {"ndcg@10": 0.12}},
        "primary_metric": 0.31,
        "decision": "promoted",
        "artifact": registry.artifact_dir(model_name, version),
    }
    registry.record_version(**{**fields, **extra})


def _champions(url: str, model_name: str) -> list[str]:
    with warehouse.get_engine(url).connect() as conn:
        frame = warehouse.read_frame(
            sql="SELECT model_version FROM model_versions WHERE model_name = :m AND is_champion = 1",
            params={"m": model_name},
            conn=conn,
        )
    return frame["model_version"].tolist()


def test_record_promote_and_read_back_the_champion(warehouse_url: str) -> None:
    assert registry.current_champion("recommender") is None
    _record(
        "rec-1",
        candidate="popularity",
        params={"top": 100},
        holdout_start_at=HOLDOUT_START - timedelta(days=1),
    )
    _record("rec-2", holdout_start_at=datetime(2026, 8, 16, 0, 0, 0), primary_interval=(0.25, 0.37))
    _record("risk-1", model_name="order_risk", candidate="gradient_boosting")

    registry.promote("order_risk", "risk-1")
    registry.promote("recommender", "rec-1")
    assert registry.current_champion("recommender").model_version == "rec-1"
    registry.promote("recommender", "rec-2")

    assert _champions(warehouse_url, "recommender") == ["rec-2"], "exactly one champion"
    assert _champions(warehouse_url, "order_risk") == ["risk-1"], "other model names are untouched"
    champion = registry.current_champion("recommender")
    assert champion == registry.Champion(
        model_version="rec-2",
        candidate="item_knn",
        artifact_dir=registry.artifact_dir("recommender", "rec-2"),
        params={"neighbours": 50, "shrink": 10.0},
        evaluated_version="rec-2",
        evaluated_artifact_dir=registry.artifact_dir("recommender", "rec-2"),
        evaluated_until=HOLDOUT_START,
    )
    assert type(champion.evaluated_until) is datetime
    assert champion.artifact_dir.protocol == "file", "a local model store by default"
    row = registry.history("recommender").set_index("model_version").loc["rec-2"]
    assert (row["primary_ci_low"], row["primary_ci_high"]) == (0.25, 0.37)


def test_a_refit_champion_stands_on_the_candidate_it_came_from(warehouse_url: str) -> None:
    _record("rec-1", holdout_start_at=HOLDOUT_START)
    _record(
        "rec-1-refit",
        role=registry.REFIT_ROLE,
        refit_of="rec-1",
        holdout_start_at=AS_OF,
        primary_metric=None,
        metrics={},
        decision="serving",
    )
    registry.promote("recommender", "rec-1-refit")
    champion = registry.current_champion("recommender")
    assert champion.model_version == "rec-1-refit"
    assert champion.artifact_dir == registry.artifact_dir("recommender", "rec-1-refit")
    assert (champion.evaluated_version, champion.evaluated_until) == ("rec-1", HOLDOUT_START)
    assert champion.evaluated_artifact_dir == registry.artifact_dir("recommender", "rec-1")
    # The refit saw everything up to AS_OF, but the candidate it stands on stopped at the
    # holdout start: it can be judged on any holdout that starts after that.
    assert registry.comparable(champion, HOLDOUT_START + timedelta(days=1))
    assert registry.comparable(champion, HOLDOUT_START)
    assert not registry.comparable(champion, HOLDOUT_START - timedelta(days=1))
    assert not registry.comparable(None, HOLDOUT_START)
    row = registry.history("recommender").set_index("model_version").loc["rec-1-refit"]
    assert (row["role"], row["refit_of"], row["decision"]) == ("refit", "rec-1", "serving")


def test_history_lists_every_recorded_version(warehouse_url: str) -> None:
    _record("rec-1")
    _record("rec-2", decision="rejected", decision_reason="no skill over popularity")
    _record("risk-1", model_name="order_risk")
    history = registry.history("recommender")
    assert sorted(history["model_version"]) == ["rec-1", "rec-2"]
    assert set(history["decision"]) == {"promoted", "rejected"}
    assert history.set_index("model_version").loc["rec-2", "decision_reason"] == "no skill over popularity"


def test_promoting_an_unknown_version_keeps_the_champion(warehouse_url: str) -> None:
    _record("rec-1")
    registry.promote("recommender", "rec-1")
    with pytest.raises(ValueError, match="rec-typo"):
        registry.promote("recommender", "rec-typo")
    assert _champions(warehouse_url, "recommender") == ["rec-1"]


def test_an_older_model_versions_table_gains_the_new_columns(warehouse_url: str) -> None:
    engine = warehouse.get_engine(warehouse_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE model_versions")
        conn.exec_driver_sql(
            "CREATE TABLE model_versions (model_version TEXT PRIMARY KEY, model_name TEXT NOT NULL, "
            "candidate TEXT NOT NULL, run_id TEXT NOT NULL, data_interval_start_at TIMESTAMP, "
            "data_interval_end_at TIMESTAMP, holdout_start_at TIMESTAMP NOT NULL, trained_at TIMESTAMP NOT NULL, "
            "train_rows BIGINT NOT NULL, holdout_rows BIGINT NOT NULL, params TEXT NOT NULL, metrics TEXT NOT NULL, "
            "comparison TEXT NOT NULL, primary_metric DOUBLE PRECISION, decision TEXT NOT NULL, "
            "is_champion INTEGER NOT NULL DEFAULT 0, artifact_uri TEXT, code_version TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO model_versions VALUES ('old-1', 'recommender', 'item_knn', 'r0', NULL, NULL, "
            "'2026-08-01 00:00:00', '2026-08-02 00:00:00', 1, 1, '{}', '{}', '{}', 0.1, 'promoted', 1, '/m', 'x')"
        )
    warehouse.create_schema(engine)
    warehouse.create_schema(engine)  # and again: nothing left to add
    champion = registry.current_champion("recommender")
    assert (champion.model_version, champion.evaluated_version) == ("old-1", "old-1")
    _record("rec-2")
    history = registry.history("recommender").set_index("model_version")
    assert history.loc["old-1", "role"] == "candidate"


def test_the_latest_evaluated_version_a_candidate_may_start_from(warehouse_url: str) -> None:
    """A candidate starts from its own latest evaluated version that stopped learning before
    tonight's holdout, never from a refit or from one that has seen the holdout."""
    day = timedelta(days=1)
    _record("knn-old", holdout_start_at=HOLDOUT_START - 2 * day)
    _record("knn-new", holdout_start_at=HOLDOUT_START - day)
    _record("knn-later", holdout_start_at=HOLDOUT_START + day)
    _record("knn-new-refit", role=registry.REFIT_ROLE, refit_of="knn-new", holdout_start_at=HOLDOUT_START)
    _record("ease-1", candidate="ease", holdout_start_at=HOLDOUT_START)
    _record("risk-knn", model_name="order_risk", holdout_start_at=HOLDOUT_START)

    assert registry.latest_evaluated("recommender", "item_knn", HOLDOUT_START) == (
        "knn-new",
        registry.artifact_dir("recommender", "knn-new"),
    )
    assert registry.latest_evaluated("recommender", "item_knn", HOLDOUT_START + day)[0] == "knn-later"
    assert registry.latest_evaluated("recommender", "ease", HOLDOUT_START)[0] == "ease-1"
    assert registry.latest_evaluated("recommender", "item_knn", HOLDOUT_START - 3 * day) is None
    assert registry.latest_evaluated("recommender", "tf_next_item", HOLDOUT_START) is None

"""The model registry: who becomes champion, and the champion's record in the warehouse."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from include import registry, warehouse
from include.registry import select_champion

HOLDOUT_START = datetime(2026, 8, 16)
AS_OF = datetime(2026, 8, 30)


# --------------------------------------------------------------------------- select_champion


def test_the_best_candidate_becomes_the_first_champion() -> None:
    selection = select_champion({"popularity": 0.1, "item_knn": 0.3, "tf_item2user": 0.2}, None)
    assert (selection.winner, selection.promote) == ("item_knn", True)
    assert "first champion" in selection.reason


def test_a_better_candidate_replaces_the_champion() -> None:
    selection = select_champion({"popularity": 0.1, "item_knn": 0.3}, 0.25)
    assert (selection.winner, selection.promote) == ("item_knn", True)


@pytest.mark.parametrize("champion_score", [0.3, 0.35])
def test_an_equal_or_worse_candidate_keeps_the_champion(champion_score: float) -> None:
    selection = select_champion({"popularity": 0.1, "item_knn": 0.3}, champion_score)
    assert (selection.winner, selection.promote) == ("champion", False)
    assert "item_knn" in selection.reason


@pytest.mark.parametrize(
    ("best", "promoted"),
    [(0.5625, False), (0.75, False), (0.75 + 2**-10, True)],
)
def test_a_candidate_must_beat_the_champion_by_more_than_min_gain(best: float, promoted: bool) -> None:
    selection = select_champion({"item_knn": best}, 0.5, min_gain=0.25)
    assert selection.promote is promoted
    assert selection.winner == ("item_knn" if promoted else "champion")


@pytest.mark.parametrize(
    "scores",
    [
        {"tf_item2user": 0.4, "item_knn": 0.4, "popularity": 0.1},
        {"item_knn": 0.4, "tf_item2user": 0.4, "popularity": 0.1},
        {"popularity": 0.1, "tf_item2user": 0.4, "item_knn": 0.4},
    ],
)
def test_tied_candidates_are_broken_by_name_whatever_their_order(scores: dict[str, float]) -> None:
    assert select_champion(scores, None).winner == "item_knn"
    assert select_champion(scores, 0.3).winner == "item_knn"


def test_selecting_from_no_candidate_is_an_error() -> None:
    with pytest.raises(ValueError, match="No candidate"):
        select_champion({}, 0.5)


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
    _record("rec-2", holdout_start_at=datetime(2026, 8, 16, 0, 0, 0))
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
        holdout_start_at=HOLDOUT_START,
        params={"neighbours": 50, "shrink": 10.0},
        metrics={"ndcg@10": 0.31, "recall@10": 0.2},
    )
    assert type(champion.holdout_start_at) is datetime
    assert isinstance(champion.artifact_dir, Path)


def test_history_lists_every_recorded_version(warehouse_url: str) -> None:
    _record("rec-1")
    _record("rec-2", decision="kept")
    _record("risk-1", model_name="order_risk")
    history = registry.history("recommender")
    assert sorted(history["model_version"]) == ["rec-1", "rec-2"]
    assert set(history["decision"]) == {"promoted", "kept"}


def test_promoting_an_unknown_version_keeps_the_champion(warehouse_url: str) -> None:
    _record("rec-1")
    registry.promote("recommender", "rec-1")
    with pytest.raises(ValueError, match="rec-typo"):
        registry.promote("recommender", "rec-typo")
    assert _champions(warehouse_url, "recommender") == ["rec-1"]


def _trained(candidate: str) -> dict:
    return {
        "candidate": candidate,
        "model_version": f"recommender-{candidate}-1",
        "artifact": f"/models/{candidate}",
        "train_rows": 10,
        "params": {"dim": 8},
    }


def _decide(trained: list[dict], metrics: dict, champion=None, champion_metrics=None) -> dict:
    return registry.record_and_promote(
        model_name="recommender",
        trained=trained,
        metrics=metrics,
        primary_metric="ndcg",
        champion=champion,
        champion_metrics=champion_metrics,
        run_id="run-1",
        data_interval=(datetime(2026, 8, 29), datetime(2026, 8, 30)),
        holdout_start_at=datetime(2026, 8, 23),
        holdout_rows=5,
        extra_params={"k": 10},
    )


def test_record_and_promote_serves_the_best_and_records_every_candidate(warehouse_url: str) -> None:
    serving = _decide(
        [_trained("popularity"), _trained("item_knn")],
        {"popularity": {"ndcg": 0.1}, "item_knn": {"ndcg": 0.3}},
    )
    assert serving["candidate"] == "item_knn"
    history = registry.history("recommender").set_index("candidate")
    assert (
        history.loc["item_knn", "decision"] == "promoted"
        and history.loc["popularity", "decision"] == "rejected"
    )
    assert json.loads(history.loc["popularity", "comparison"])["item_knn"] == {"ndcg": 0.3}
    assert registry.current_champion("recommender").candidate == "item_knn"


def test_record_and_promote_keeps_a_better_champion(warehouse_url: str) -> None:
    _decide([_trained("item_knn")], {"item_knn": {"ndcg": 0.3}})
    champion = registry.current_champion("recommender")
    newer = {**_trained("tf_item2user"), "model_version": "recommender-tf-2"}
    serving = _decide([newer], {"tf_item2user": {"ndcg": 0.2}}, champion, {"ndcg": 0.3})
    assert serving["model_version"] == champion.model_version
    assert registry.current_champion("recommender").model_version == champion.model_version


def test_record_and_promote_without_candidates_needs_a_champion(warehouse_url: str) -> None:
    with pytest.raises(ValueError, match="no champion"):
        _decide([], {})

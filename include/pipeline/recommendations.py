"""The steps of the recommendations DAG: extract, train, evaluate, score, publish.

Each function takes and returns plain references (paths, versions, small dicts) so that the DAG
can pass them through XCom.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from include import registry, staging, warehouse
from include.pipeline.common import RunWindow, publish_version, read_shards, shard_of

log = logging.getLogger(__name__)

MODEL_NAME = "recommender"
DAG_ID = "recommendations"
# The metric that decides which model serves (higher is better).
PRIMARY_METRIC = "ndcg_at_k"


def extract(
    window: RunWindow, *, history_days: int, holdout_days: int, active_days: int, run_id: str
) -> dict[str, Any]:
    """Stage the training interactions, the holdout purchases, the full history and the
    customers to score. The holdout is the last `holdout_days` before `as_of`, global for all
    customers, so no model sees the future it is judged on."""
    as_of = window.as_of
    history_start = as_of - timedelta(days=history_days)
    holdout_start = as_of - timedelta(days=holdout_days)
    train = warehouse.read_frame(
        "recommendations/extract_interactions", {"start": history_start, "end": holdout_start}
    )
    holdout = warehouse.read_frame(
        "recommendations/extract_purchases", {"start": holdout_start, "end": as_of}
    )
    history = warehouse.read_frame(
        "recommendations/extract_interactions", {"start": history_start, "end": as_of}
    )
    active = warehouse.read_frame(
        "recommendations/extract_active_customers",
        {"start": as_of - timedelta(days=active_days), "end": as_of},
    )
    if train.empty:
        raise ValueError(f"No interactions in [{history_start}, {holdout_start}): nothing to train on")
    if holdout.empty:
        raise ValueError(f"No purchases in the holdout [{holdout_start}, {as_of}): cannot evaluate")
    frames = {"train": train, "holdout": holdout, "history": history, "active": active}
    ref: dict[str, Any] = {
        name: staging.write_parquet(frame, DAG_ID, run_id, name) for name, frame in frames.items()
    }
    ref["rows"] = {name: len(frame) for name, frame in frames.items()}
    ref["holdout_start"] = holdout_start.isoformat()
    ref["window"] = window.to_dict()
    log.info("Extracted %s", ref["rows"])
    return ref


def train_candidate(candidate: str, extract_ref: dict[str, Any], *, run_id: str) -> dict[str, Any]:
    """Fit one candidate on the training interactions and save it; returns its reference."""
    from include.models.recommender import CANDIDATES

    if candidate not in CANDIDATES:
        raise ValueError(f"Unknown recommender candidate {candidate!r}; known: {sorted(CANDIDATES)}")
    train = staging.read_parquet(extract_ref["train"])
    model = CANDIDATES[candidate]().fit(train)
    version = registry.new_version(MODEL_NAME, candidate, run_id)
    directory = registry.artifact_dir(MODEL_NAME, version)
    model.save(directory)
    log.info("Trained %s on %s interactions, saved to %s", candidate, len(train), directory)
    return {
        "candidate": candidate,
        "model_version": version,
        "artifact": str(directory),
        "train_rows": len(train),
        "params": model.params(),
    }


def evaluate_and_select(
    trained: list[dict[str, Any]],
    extract_ref: dict[str, Any],
    *,
    k: int,
    run_id: str,
) -> dict[str, Any]:
    """Evaluate every candidate and the current champion on the same holdout, record them all,
    and promote the best only if it beats the champion. Returns the serving model."""
    from include.models.recommender import evaluate_recommender, load_recommender

    window = RunWindow.from_dict(extract_ref["window"])
    holdout_start = datetime.fromisoformat(extract_ref["holdout_start"])
    train = staging.read_parquet(extract_ref["train"])
    holdout = staging.read_parquet(extract_ref["holdout"])
    trained = [t for t in trained if t]  # skipped candidates leave None

    metrics = {
        t["candidate"]: evaluate_recommender(load_recommender(Path(t["artifact"])), train, holdout, k)
        for t in trained
    }
    champion = registry.current_champion(MODEL_NAME)
    champion_metrics = None
    if registry.comparable(champion, holdout_start):
        champion_metrics = evaluate_recommender(load_recommender(champion.artifact_dir), train, holdout, k)
    return registry.record_and_promote(
        model_name=MODEL_NAME,
        trained=trained,
        metrics=metrics,
        primary_metric=PRIMARY_METRIC,
        champion=champion,
        champion_metrics=champion_metrics,
        run_id=run_id,
        data_interval=window.interval,
        holdout_start_at=holdout_start,
        holdout_rows=extract_ref["rows"]["holdout"],
        extra_params={"k": k},
    )


def plan_shards(extract_ref: dict[str, Any], *, n_shards: int) -> list[int]:
    """The shard numbers to score (fewer than asked when there are few customers)."""
    customers = extract_ref["rows"]["active"]
    n = max(1, min(n_shards, customers // 100 or 1))
    return list(range(n))


def score_shard(
    shard: int,
    n_shards: int,
    serving: dict[str, Any],
    extract_ref: dict[str, Any],
    *,
    k: int,
    run_id: str,
) -> str:
    """Top-k for the active customers of one shard; popularity for those without history."""
    import pandas as pd

    from include.models.recommender import PopularityRecommender, load_recommender

    active = staging.read_parquet(extract_ref["active"])["customer_id"].to_numpy()
    customers = active[shard_of(active, n_shards) == shard]
    full_history = staging.read_parquet(extract_ref["history"])
    history = full_history[full_history["customer_id"].isin(customers)]
    model = load_recommender(Path(serving["artifact"]))
    recs = model.recommend(history, customers, k)
    recs["source"] = "model"

    popular = PopularityRecommender().fit(full_history)
    missing = customers[~pd.Series(customers).isin(recs["customer_id"]).to_numpy()]
    with_history = missing[pd.Series(missing).isin(history["customer_id"]).to_numpy()]
    filled = [popular.recommend(history, with_history, k)] if len(with_history) else []
    cold = missing[~pd.Series(missing).isin(with_history).to_numpy()]
    if len(cold):
        top = popular.top_products(k)
        filled.append(
            pd.DataFrame(
                {
                    "customer_id": cold.repeat(len(top)),
                    "rank": list(range(1, len(top) + 1)) * len(cold),
                    "product_id": list(top["product_id"]) * len(cold),
                    "score": list(top["score"]) * len(cold),
                }
            )
        )
    for frame in filled:
        frame["source"] = "popularity"
    out = pd.concat([recs, *filled], ignore_index=True)
    out["model_version"] = serving["model_version"]
    out["as_of"] = pd.Timestamp(RunWindow.from_dict(extract_ref["window"]).as_of)
    out = out[["customer_id", "rank", "product_id", "score", "source", "model_version", "as_of"]]
    log.info(
        "Shard %s/%s: %s customers, %s rows (%s from popularity)",
        shard,
        n_shards,
        len(customers),
        len(out),
        int((out["source"] == "popularity").sum()),
    )
    return staging.write_parquet(out, DAG_ID, run_id, f"recommendations_shard_{shard:03d}")


def publish_recommendations(
    paths: list[str], serving: dict[str, Any], extract_ref: dict[str, Any], *, run_id: str
) -> dict[str, Any]:
    """Publish the scored shards as one new version of `recommendations`."""
    return publish_version("recommendations", read_shards(paths), serving, extract_ref, run_id=run_id)


def publish_similar_products(
    serving: dict[str, Any], extract_ref: dict[str, Any], *, k: int, run_id: str
) -> dict[str, Any]:
    """Publish the serving model's similar products as a new version of `similar_products`."""
    import pandas as pd

    from include.models.recommender import load_recommender

    window = RunWindow.from_dict(extract_ref["window"])
    similar = load_recommender(Path(serving["artifact"])).similar_products(k)
    similar["model_version"] = serving["model_version"]
    similar["as_of"] = pd.Timestamp(window.as_of)
    columns = ["product_id", "rank", "similar_product_id", "score", "model_version", "as_of"]
    return publish_version("similar_products", [similar[columns]], serving, extract_ref, run_id=run_id)

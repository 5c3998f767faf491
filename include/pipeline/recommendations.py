"""The steps of the recommendations DAG that are its own: extract, fit, judge, score, publish.

The candidate lifecycle (train, evaluate with the gate, refit, serve) is shared with the risk
DAG in `include.pipeline.lifecycle`; `LIFECYCLE` fills in what recommendations do differently.
Each step takes and returns plain references (dicts of paths, versions, counts) for XCom.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from include import staging, validation, warehouse
from include.assets import INTERACTION_TABLES
from include.pipeline.common import publish_version, read_shards, shard_of, stage_frames
from include.pipeline.lifecycle import HoldoutResult, Lifecycle
from include.pipeline.refs import RunWindow, ServingModel, Staged

if TYPE_CHECKING:
    import pandas as pd

    from include.models.recommender.base import Recommender
    from include.models.recommender.evaluation import HoldoutCustomers

log = logging.getLogger(__name__)

DAG_ID = "recommendations"
# The source tables the extracts read (the validated Asset that triggers this DAG covers them).
SOURCE_TABLES = INTERACTION_TABLES
# A product created this many days before as_of, that the model does not know, is new: it is
# offered through its catalogue neighbours.
NEW_PRODUCT_DAYS = 14


def extract(
    window: RunWindow, *, history_days: int, holdout_days: int, active_days: int, run_id: str
) -> dict[str, Any]:
    """Stage the training interactions, the holdout purchases, the full history and the
    customers to score. The holdout is the last `holdout_days` before `as_of`, global for all
    customers, so no model sees the future it is judged on."""
    as_of = window.as_of
    history_start = as_of - timedelta(days=history_days)
    holdout_start = as_of - timedelta(days=holdout_days)
    # Only rows the gate has passed: loaded before the watermark of every table read.
    loaded_until = validation.loaded_until(list(SOURCE_TABLES), as_of)
    parts = warehouse.read_frame(
        "recommendations/extract_interaction_parts",
        {"start": history_start, "end": as_of, "split": holdout_start, "loaded_until": loaded_until},
    )
    train, holdout, history = split_interactions(parts)
    del parts
    active = warehouse.read_frame(
        "recommendations/extract_active_customers",
        {"start": as_of - timedelta(days=active_days), "end": as_of, "loaded_until": loaded_until},
    )
    products = warehouse.read_frame(
        "recommendations/extract_products", {"end": as_of, "loaded_until": loaded_until}
    )
    if train.empty:
        raise ValueError(f"No interactions in [{history_start}, {holdout_start}): nothing to train on")
    if holdout.empty:
        raise ValueError(f"No purchases in the holdout [{holdout_start}, {as_of}): cannot evaluate")
    from include.models.recommender.baselines import PopularityRecommender

    # The fallback of every scoring shard and of similar products, fitted once per run.
    popularity = PopularityRecommender(neighbours=0).fit(history, as_of=as_of).ranking()
    frames = {
        "train": train,
        "holdout": holdout,
        "history": history,
        "active": active,
        "products": products,
        "popularity": popularity,
    }
    staged = stage_frames(frames, window, dag_id=DAG_ID, run_id=run_id, holdout_start=holdout_start)
    log.info("Extracted %s", staged.rows)
    return staged.to_dict()


def split_interactions(parts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The training interactions, the holdout purchases and the whole history, from one read
    of the window split at the holdout's start (`extract_interaction_parts.sql`).

    train: the interactions before the split (customer_id, product_id, weight, purchases,
    last_at); holdout: each (customer_id, product_id) purchased from the split on, once;
    history: both parts summed per pair (last_at the later of the two).
    """
    import pandas as pd

    columns = ["customer_id", "product_id", "weight", "purchases", "last_at"]
    before = (parts["part"] == 0).to_numpy()
    train = parts.loc[before, columns].reset_index(drop=True)
    after = parts.loc[~before]
    holdout = after.loc[after["purchases"] > 0, ["customer_id", "product_id"]].reset_index(drop=True)
    # Only pairs seen on both sides of the split need adding up.
    both = parts.duplicated(["customer_id", "product_id"], keep=False).to_numpy()
    merged = (
        parts.loc[both]
        .groupby(["customer_id", "product_id"], as_index=False, sort=False)
        .agg(weight=("weight", "sum"), purchases=("purchases", "sum"), last_at=("last_at", "max"))
    )
    history = pd.concat([parts.loc[~both, columns], merged[columns]], ignore_index=True)
    return train, holdout, history


@dataclass(frozen=True)
class RecommendationHoldout:
    """What the recommenders are judged on: histories before the holdout, and who bought what."""

    history: pd.DataFrame
    customers: HoldoutCustomers
    k: int

    def __len__(self) -> int:
        return len(self.customers)


def _mean_of(values: np.ndarray) -> Any:
    """The bootstrap statistic of a per-customer metric: its mean over a resample."""
    return lambda counts: float(counts @ values / counts.sum())


class RecommenderLifecycle(Lifecycle):
    """Recommendations: fitted on interactions, judged by NDCG@k over holdout customers."""

    family: ClassVar[str] = "recommender"
    primary_metric: ClassVar[str] = "ndcg_at_k"

    def run_settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"k": int(params["k"])}

    def candidate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"half_life_days": float(params["half_life_days"])}

    def fit(self, model: Recommender, staged: Staged, *, full: bool) -> int:
        interactions = staging.read_parquet(staged.path("history" if full else "train"))
        model.fit(interactions, as_of=staged.window.as_of if full else staged.holdout_start)
        return len(interactions)

    def holdout(self, staged: Staged, settings: Mapping[str, Any]) -> RecommendationHoldout:
        from include.models.recommender.evaluation import holdout_customers

        history = staging.read_parquet(staged.path("train"))
        customers = holdout_customers(
            history, staging.read_parquet(staged.path("holdout")), as_of=staged.holdout_start
        )
        return RecommendationHoldout(history, customers, int(settings["k"]))

    def evaluate(self, model: Recommender, holdout: RecommendationHoldout) -> HoldoutResult:
        from include.models.recommender.evaluation import evaluate_recommender

        result = evaluate_recommender(model, holdout.history, holdout.customers, holdout.k)
        return HoldoutResult(result.metrics, _mean_of(result.ndcg))

    def floor(self, holdout: RecommendationHoldout, results: Mapping[str, HoldoutResult]) -> HoldoutResult:
        # Popularity is always trained (candidates_to_train adds it), so it is among the results.
        return results["popularity"]


LIFECYCLE = RecommenderLifecycle()


def score_shard(
    shard: int,
    n_shards: int,
    serving: Mapping[str, Any],
    staged: Mapping[str, Any],
    *,
    k: int,
    run_id: str,
) -> str:
    """Top-k for the active customers of one shard; popularity for those without history."""
    import pandas as pd

    from include.models.catalogue import load_model
    from include.models.recommender.cold_start import category_popularity, new_product_slots

    data = Staged.from_dict(staged)
    model_ref = ServingModel.from_dict(serving)
    active = staging.read_parquet(data.path("active"))["customer_id"].to_numpy()
    customers = active[shard_of(active, n_shards) == shard]
    full_history = staging.read_parquet(data.path("history"))
    history = full_history[full_history["customer_id"].isin(customers)]
    model = load_model(model_ref.artifact, family="recommender")
    recs = model.recommend(history, customers, k, as_of=data.window.as_of)
    recs["source"] = "model"

    popular = _popularity(data, full_history)
    catalogue = staging.read_parquet(data.path("products")) if "products" in data.paths else None
    missing = customers[~pd.Series(customers).isin(recs["customer_id"]).to_numpy()]
    filled = []
    if catalogue is not None and len(missing):
        # Customers the model cannot use: the popular products of the categories they browsed.
        filled.append(
            category_popularity(history, catalogue, popular.popularity(), missing, k).assign(
                source="category_popularity"
            )
        )
    missing = missing[~pd.Series(missing).isin(pd.concat([recs, *filled])["customer_id"]).to_numpy()]
    with_history = missing[pd.Series(missing).isin(history["customer_id"]).to_numpy()]
    if len(with_history):
        filled.append(
            popular.recommend(history, with_history, k, as_of=data.window.as_of).assign(source="popularity")
        )
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
                    "source": "popularity",
                }
            )
        )
    out = pd.concat([recs, *filled], ignore_index=True)
    if catalogue is not None:
        # New products nobody has interacted with reach customers through their neighbours.
        out = new_product_slots(out, _new_product_neighbours(catalogue, model, popular, data.window.as_of), k)
    out["model_version"] = model_ref.model_version
    out["as_of"] = pd.Timestamp(data.window.as_of)
    out = out[["customer_id", "rank", "product_id", "score", "source", "model_version", "as_of"]]
    log.info(
        "Shard %s/%s: %s customers, %s rows (%s not from the model)",
        shard,
        n_shards,
        len(customers),
        len(out),
        int((out["source"] != "model").sum()),
    )
    return staging.write_parquet(out, DAG_ID, run_id, f"recommendations_shard_{shard:03d}")


def _popularity(data: Staged, history: pd.DataFrame) -> Any:
    """The run's popularity ranking as staged by the extract (fitted on `history` for a run
    staged before the extract did so)."""
    from include.models.recommender.baselines import PopularityRecommender

    if "popularity" in data.paths:
        return PopularityRecommender.from_ranking(staging.read_parquet(data.path("popularity")))
    return PopularityRecommender(neighbours=0).fit(history, as_of=data.window.as_of)


def _new_product_neighbours(
    catalogue: pd.DataFrame, model: Recommender, popular: Any, as_of: Any
) -> pd.DataFrame:
    """Content neighbours (among the products the model knows) of the products created in the
    last `NEW_PRODUCT_DAYS` that the model does not know."""
    import pandas as pd

    from include.models.recommender.cold_start import NEAREST, content_neighbours

    created = pd.to_datetime(catalogue["created_at"])
    recent = created >= pd.Timestamp(as_of).tz_localize(None) - pd.Timedelta(days=NEW_PRODUCT_DAYS)
    new = catalogue.loc[recent & ~catalogue["product_id"].isin(model.products), "product_id"].to_numpy()
    known = popular.popularity()
    known = known[known.index.isin(model.products)]
    return content_neighbours(catalogue, new, known, NEAREST)


def publish_recommendations(
    paths: list[str], serving: Mapping[str, Any], staged: Mapping[str, Any], *, run_id: str
) -> dict[str, Any]:
    """Publish the scored shards as one new version of `recommendations`."""
    return publish_version("recommendations", read_shards(paths), serving, staged, run_id=run_id)


def publish_similar_products(
    serving: Mapping[str, Any], staged: Mapping[str, Any], *, k: int, run_id: str
) -> dict[str, Any]:
    """Publish the serving model's similar products as a new version of `similar_products`."""
    import pandas as pd

    from include.models.catalogue import load_model

    data = Staged.from_dict(staged)
    model_ref = ServingModel.from_dict(serving)
    model = load_model(model_ref.artifact, family="recommender")
    similar = model.similar_products(k).assign(source="model")
    if "products" in data.paths:
        from include.models.recommender.cold_start import content_neighbours

        # Products the model does not know get their similar products from the catalogue.
        catalogue = staging.read_parquet(data.path("products"))
        history = staging.read_parquet(data.path("history"))
        known = _popularity(data, history).popularity()
        known = known[known.index.isin(model.products)]
        unknown = catalogue.loc[~catalogue["product_id"].isin(model.products), "product_id"].to_numpy()
        by_catalogue = content_neighbours(catalogue, unknown, known, k).assign(source="catalogue")
        similar = pd.concat([similar, by_catalogue], ignore_index=True)
    similar["model_version"] = model_ref.model_version
    similar["as_of"] = pd.Timestamp(data.window.as_of)
    columns = ["product_id", "rank", "similar_product_id", "score", "source", "model_version", "as_of"]
    return publish_version("similar_products", [similar[columns]], serving, staged, run_id=run_id)

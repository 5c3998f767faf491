"""
### Recommendations — retrain, evaluate, score every active customer, publish

Triggered when the validation DAG has passed an interval (asset `validated_interactions`);
can also be triggered by hand with the parameters below.

1. **extract_interactions**: SQL aggregates events into (customer, product) strengths; the last
   `holdout_days` before the run's end are held out. Staged as Parquet, XCom carries paths.
2. **train_candidate** (one mapped task per candidate in `candidates`): popularity (always: it
   is the skill floor), item-kNN, EASE (a closed-form linear item-to-item model),
   `linear_next` (the next purchase in closed form, from the customer's latest products, the
   newest weighing most) and a TensorFlow model that starts from it and learns under the
   ranking's own loss. `half_life_days` fades older interactions for every candidate.
3. **evaluate_candidates**: NDCG@K (and Recall@K) on the same holdout customers for every
   candidate and the current champion, each with a bootstrap interval. A candidate is promoted
   only if it beats popularity and the champion (by `min_gain`) beyond noise. Everything is
   recorded in `model_versions`.
4. **serve_model**: a promoted candidate is refitted on the whole window up to `as_of` and
   becomes champion; otherwise the champion serves. With neither, nothing new is published.
5. **score_customers** (mapped over shards): top-K for every active customer, excluding what they
   already bought; popularity for customers without history.
6. **publish_recommendations** / **publish_similar_products**: a new version of each table,
   switched in for readers in one transaction.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task

from include.assets import RECOMMENDATIONS, SIMILAR_PRODUCTS, VALIDATED_INTERACTIONS
from include.dag_defaults import DEADLINE, DEFAULT_ARGS, START_DATE, TAGS, model_dag_params
from include.lifecycle_tasks import candidate_lifecycle
from include.pools import HEAVY


@dag(
    schedule=VALIDATED_INTERACTIONS,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=DEADLINE,
    tags=[*TAGS, "recommendations"],
    doc_md=__doc__,
    params={
        **model_dag_params("recommender", "customers"),
        "k": Param(
            10,
            type="integer",
            minimum=1,
            maximum=100,
            description="Products per customer, and the K of Recall@K / NDCG@K.",
        ),
        "half_life_days": Param(
            0.0,
            type="number",
            minimum=0,
            description="Recency weighting for every candidate: a customer's interaction counts half "
            "as much for every this many days before the moment recommended for. 0: no decay.",
        ),
        "history_days": Param(
            90,
            type="integer",
            minimum=7,
            description="Days of interactions used to train and to describe customers.",
        ),
        "holdout_days": Param(
            7, type="integer", minimum=1, description="The last days before as_of, held out for evaluation."
        ),
        "active_days": Param(
            30,
            type="integer",
            minimum=1,
            description="A customer seen (or signed up) in these days gets recommendations.",
        ),
    },
)
def recommendations() -> None:
    @task
    def extract_interactions(
        params: dict[str, Any] | None = None, run_id: str | None = None, **context: Any
    ) -> dict[str, Any]:
        from include import warehouse
        from include.dag_defaults import check_run
        from include.pipeline import recommendations as steps
        from include.pipeline.common import resolve_window

        check_run(tables=steps.SOURCE_TABLES, validated=True)
        warehouse.ensure_output_tables()
        window = resolve_window(params, context)
        return steps.extract(
            window,
            history_days=params["history_days"],
            holdout_days=params["holdout_days"],
            active_days=params["active_days"],
            run_id=run_id,
        )

    @task
    def plan_shards(staged: dict[str, Any], params: dict[str, Any] | None = None) -> list[dict[str, int]]:
        from include.pipeline.lifecycle import plan_shards

        return plan_shards(staged["rows"]["active"], params["n_shards"])

    @task(map_index_template="shard {{ shard_number }}", pool=HEAVY)
    def score_customers(
        shard: dict[str, int],
        serving: dict[str, Any],
        staged: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        from airflow.sdk import get_current_context

        from include.pipeline import recommendations as steps

        get_current_context()["shard_number"] = shard["shard"]
        return steps.score_shard(
            shard["shard"], shard["n_shards"], serving, staged, k=params["k"], run_id=run_id
        )

    @task(outlets=[RECOMMENDATIONS])
    def publish_recommendations(
        paths: list[str],
        serving: dict[str, Any],
        staged: dict[str, Any],
        run_id: str | None = None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        from include.pipeline import recommendations as steps
        from include.pipeline.common import as_list

        published = steps.publish_recommendations(as_list(paths), serving, staged, run_id=run_id)
        outlet_events[RECOMMENDATIONS].extra = published  # the Assets view shows each publish
        return published

    @task(outlets=[SIMILAR_PRODUCTS])
    def publish_similar_products(
        serving: dict[str, Any],
        staged: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        from include.pipeline import recommendations as steps

        published = steps.publish_similar_products(serving, staged, k=params["k"], run_id=run_id)
        outlet_events[SIMILAR_PRODUCTS].extra = published
        return published

    staged = extract_interactions()
    serving = candidate_lifecycle("include.pipeline.recommendations", staged)
    scored = score_customers.partial(serving=serving, staged=staged).expand(shard=plan_shards(staged))
    publish_recommendations(scored, serving, staged)
    publish_similar_products(serving, staged)


recommendations()

"""
### Order risk — retrain, evaluate, score recent orders, publish with bands and reasons

Triggered when the validation DAG has passed an interval (asset `validated_orders`); can also be
triggered by hand with the parameters below.

1. **extract_orders**: checks the parameters together (a clear error names any conflict), then
   SQL joins orders with their customer and basket; chargebacks known at the run's end are the
   labels.
2. **build_features**: point-in-time features (each order sees only earlier orders; an unknown
   fact is an explicit indicator, never a default); an order is labelled only once
   `maturity_days` old. The backtest mimics serving: candidates learn the orders matured
   `maturity_days` before the holdout ends, with the chargebacks known then, and the holdout
   (the newest matured days) is as far from their data as tonight's orders are from the
   serving model's.
3. **train_candidate** (one mapped task per candidate in `candidates`): logistic regression,
   gradient boosting and a TensorFlow MLP.
4. **evaluate_candidates**: PR-AUC (with a bootstrap interval), ROC-AUC and recall at the review
   budget on the same holdout for every candidate and the current champion. A candidate is
   promoted only if it beats the holdout base rate (a random ranking) and the champion (by
   `min_gain`) beyond noise. Everything is recorded in `model_versions`.
5. **serve_model**: a promoted candidate is refitted on every order matured by now and becomes
   champion; otherwise the champion serves. With no model to serve, nothing new is published.
6. **score_orders** (mapped over shards): the calibrated probability of a chargeback and the
   reasons (what makes the order riskier than a typical one) for every order of the last
   `recent_days`.
7. **publish_order_risk_scores**: the band of least expected cost for each order (approve:
   probability x (amount + chargeback fee); review: `review_cost`; decline: the good order's
   lost margin), within `review_budget` and `decline_share`; the realised shares are recorded,
   and a set of bands over budget is refused. A new version, switched in for readers in one
   transaction.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task

from include.assets import ORDER_RISK_SCORES, VALIDATED_ORDERS
from include.dag_defaults import DEADLINE, DEFAULT_ARGS, START_DATE, TAGS, model_dag_params
from include.lifecycle_tasks import candidate_lifecycle
from include.pools import HEAVY


@dag(
    schedule=VALIDATED_ORDERS,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=DEADLINE,
    tags=[*TAGS, "risk"],
    doc_md=__doc__,
    params={
        **model_dag_params("order_risk", "orders"),
        "review_budget": Param(
            0.02,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            description="Most orders the risk team can review, as a share of the scored orders; "
            "also the share recall@budget is measured at.",
        ),
        "decline_share": Param(
            0.002,
            type="number",
            exclusiveMinimum=0,
            maximum=1,
            description="Most orders declined outright, as a share; must be below the review budget.",
        ),
        "review_cost": Param(
            5.0,
            type="number",
            minimum=0,
            description="Cost of one manual review (currency units): review when the expected "
            "chargeback loss is higher.",
        ),
        "chargeback_fee": Param(
            15.0,
            type="number",
            minimum=0,
            description="Fee per chargeback on top of the order amount lost.",
        ),
        "decline_cost_share": Param(
            0.3,
            type="number",
            minimum=0,
            maximum=1,
            description="Share of a good order's amount lost when it is declined (margin and "
            "goodwill): decline when the expected chargeback loss is higher than this.",
        ),
        "maturity_days": Param(
            56,
            type="integer",
            minimum=1,
            description="An order is labelled only when this old: chargebacks arrive up to 8 weeks late.",
        ),
        "holdout_days": Param(
            14,
            type="integer",
            minimum=1,
            description="The newest matured days, held out for evaluation; at most maturity_days.",
        ),
        "recent_days": Param(
            7,
            type="integer",
            minimum=1,
            description="Orders of these last days are scored and published; at most maturity_days.",
        ),
        "history_days": Param(
            180,
            type="integer",
            minimum=30,
            description="Days of orders read for training and point-in-time features; at least "
            "2 x maturity_days + 14.",
        ),
    },
)
def order_risk() -> None:
    @task
    def extract_orders(
        params: dict[str, Any] | None = None, run_id: str | None = None, **context: Any
    ) -> dict[str, Any]:
        from include import warehouse
        from include.dag_defaults import check_run
        from include.pipeline import order_risk as steps
        from include.pipeline.common import resolve_window

        check_run(steps.check_settings, tables=steps.SOURCE_TABLES, validated=True)
        warehouse.ensure_output_tables()
        window = resolve_window(params, context)
        return steps.extract(window, history_days=params["history_days"], run_id=run_id)

    @task
    def build_features(
        extract_ref: dict[str, Any], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        from include.pipeline import order_risk as steps

        return steps.build_features(
            extract_ref,
            maturity_days=params["maturity_days"],
            holdout_days=params["holdout_days"],
            recent_days=params["recent_days"],
            run_id=run_id,
        )

    @task
    def plan_shards(staged: dict[str, Any], params: dict[str, Any] | None = None) -> list[dict[str, int]]:
        from include.pipeline.lifecycle import plan_shards

        return plan_shards(staged["rows"].get("score", 0), params["n_shards"])

    @task(map_index_template="shard {{ shard_number }}", pool=HEAVY)
    def score_orders(
        shard: dict[str, int],
        serving: dict[str, Any],
        staged: dict[str, Any],
        run_id: str | None = None,
    ) -> str:
        from airflow.sdk import get_current_context

        from include.pipeline import order_risk as steps

        get_current_context()["shard_number"] = shard["shard"]
        return steps.score_shard(shard["shard"], shard["n_shards"], serving, staged, run_id=run_id)

    @task(outlets=[ORDER_RISK_SCORES])
    def publish_order_risk_scores(
        paths: list[str],
        serving: dict[str, Any],
        staged: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        from include.pipeline import order_risk as steps
        from include.pipeline.common import as_list

        published = steps.publish_scores(
            as_list(paths), serving, staged, steps.band_settings(params), run_id=run_id
        )
        outlet_events[ORDER_RISK_SCORES].extra = published  # the Assets view shows each publish
        return published

    staged = build_features(extract_orders())
    serving = candidate_lifecycle("include.pipeline.order_risk", staged)
    scored = score_orders.partial(serving=serving, staged=staged).expand(shard=plan_shards(staged))
    publish_order_risk_scores(scored, serving, staged)


order_risk()

"""
### Warehouse validation — the nightly data-quality gate

Runs the Great Expectations suite of every source table (customers, products, events, orders,
order_items, chargebacks) **inside the warehouse** on the run's data interval (one day).

- A failed **critical** rule fails its task: nothing downstream runs and the published tables
  stay as they were. Every result is written to `data_quality_runs`.
- When all tables pass, the assets `validated_interactions` and `validated_orders` are updated
  with the interval, which triggers the `recommendations` and `order_risk` DAGs.

Trigger it by hand with **day** to validate another day.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from include.assets import VALIDATED_INTERACTIONS, VALIDATED_ORDERS
from include.dag_defaults import DEFAULT_ARGS, START_DATE, TAGS

SOURCE_TABLES = ["customers", "products", "events", "orders", "order_items", "chargebacks"]


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "data-quality"],
    doc_md=__doc__,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Validate this day (YYYY-MM-DD) instead of the run's data interval.",
        ),
    },
)
def warehouse_validation() -> None:
    @task
    def resolve_interval(
        params: dict[str, Any] | None = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> dict[str, str]:
        """The day to validate: the `day` Param, or the run's data interval."""
        from include.pipeline.validation import resolve_interval

        return resolve_interval(params.get("day"), data_interval_start, data_interval_end)

    @task(map_index_template="{{ table_name }}")
    def validate_table(table: str, interval: dict[str, str]) -> dict[str, Any]:
        """Run the table's suite; a critical failure fails this task at once, without retries."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from include.pipeline.validation import validate
        from include.validation import DataQualityError

        context = get_current_context()
        context["table_name"] = table  # names the mapped task instance in the UI
        try:
            return validate(table, interval, run_id=context["run_id"])
        except DataQualityError as error:  # bad data does not get better by retrying
            raise AirflowFailException(str(error)) from error

    @task(outlets=[VALIDATED_INTERACTIONS, VALIDATED_ORDERS])
    def publish_validated_assets(
        results: list[dict[str, Any]], interval: dict[str, str], outlet_events: Any = None
    ) -> None:
        """Announce the validated interval to the model DAGs."""
        for asset in (VALIDATED_INTERACTIONS, VALIDATED_ORDERS):
            outlet_events[asset].extra = dict(interval)

    interval = resolve_interval()
    results = validate_table.partial(interval=interval).expand(table=SOURCE_TABLES)
    publish_validated_assets(results, interval)


warehouse_validation()

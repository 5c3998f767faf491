"""
### Warehouse validation — the nightly data-quality gate

Runs the Great Expectations suite of every source table (customers, products, events, orders,
order_items, chargebacks) **inside the warehouse** on the rows loaded during yesterday (UTC) and
any not yet validated; it fires at 00:30 (`SHOPFLOW_VALIDATION_CRON`) so the shop's loads of the
day have landed:
schema, keys, references, allowed values and bounds, future timestamps, volume against the
trailing days, freshness, and drift of the event-type mix, category mix and order amounts.

- **Critical** (a missing or retyped column, a null key, an empty or exploding day, row-level
  problems above the tolerance): the task fails at once; nothing downstream runs and the
  published tables stay as they were.
- **Quarantine** (row-level problems below the tolerance): the rows are recorded in
  `data_quality_quarantine` and the model DAGs' extracts leave them out.
- **Warning** (drift, staleness): recorded, the run goes on.

Every result goes to `data_quality_runs`; the task log names the table, check, observed value
and sample offending rows, and where the run's Data Docs are (`var/data_docs/<run>/<table>`).
- Each Asset waits only for the tables its consumer reads: `validated_interactions` (customers,
  products, events) triggers `recommendations`, `validated_orders` (customers, orders,
  order_items, chargebacks) triggers `order_risk`. Broken events hold back the recommendations
  only; the risk scores are still published.

Trigger it by hand with **day** to validate another day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from include.assets import INTERACTION_TABLES, ORDER_TABLES, VALIDATED_INTERACTIONS, VALIDATED_ORDERS
from include.dag_defaults import DEADLINE, DEFAULT_ARGS, START_DATE, TAGS
from include.pools import HEAVY
from include.settings import validation_cron

SOURCE_TABLES = ["customers", "products", "events", "orders", "order_items", "chargebacks"]


@dag(
    # Nightly after a grace period for the shop's loads (default 00:30 UTC): validates yesterday.
    schedule=CronTriggerTimetable(validation_cron(), timezone="UTC", interval=timedelta(days=1)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=DEADLINE,
    tags=[*TAGS, "data-quality"],
    doc_md=__doc__,
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Validate this day (YYYY-MM-DD) instead of the run's data interval.",
        ),
        "quarantine_tolerance": Param(
            0.01,
            type="number",
            minimum=0,
            maximum=1,
            description="Share of a table's rows in the interval that may break a row rule and be "
            "quarantined (left out of the extracts); above it the run fails.",
        ),
        "volume_min_ratio": Param(
            0.3,
            type="number",
            minimum=0,
            description="A day's load below this times the 10th percentile of the trailing days' loads fails.",
        ),
        "volume_max_ratio": Param(
            3.0,
            type="number",
            minimum=1,
            description="A day's load above this times the 90th percentile of the trailing days' loads fails.",
        ),
        "trailing_days": Param(
            14,
            type="integer",
            minimum=3,
            maximum=90,
            description="Days before the interval that volume and drift are compared with.",
        ),
        "freshness_hours": Param(
            6.0,
            type="number",
            minimum=0,
            description="Warn when the newest event or order is older than this at the end of the interval.",
        ),
        "drift_psi_limit": Param(
            0.2,
            type="number",
            minimum=0,
            description="Warn when the event-type mix, category mix or order amounts drift beyond this "
            "population stability index against the trailing days.",
        ),
    },
)
def warehouse_validation() -> None:
    @task
    def resolve_interval(
        params: dict[str, Any] | None = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
        dag_run: Any = None,
    ) -> dict[str, str]:
        """The day to validate: the `day` Param, else the run's data interval, else (triggered
        without a logical date) yesterday. Undeclared or conflicting Params fail the run here at once."""
        from include import warehouse
        from include.dag_defaults import check_run
        from include.pipeline.validation import check_settings, resolve_interval

        run_after = getattr(dag_run, "run_after", None)
        interval: dict[str, str] = {}

        def has_an_interval(params: dict[str, Any]) -> None:
            interval.update(
                resolve_interval(params.get("day"), data_interval_start, data_interval_end, run_after)
            )

        check_run(check_settings, has_an_interval)  # resolved once, as the run's first check
        warehouse.ensure_output_tables()
        return interval

    @task(pool=HEAVY)
    def validate_table(
        table: str, interval: dict[str, str], params: dict[str, Any] | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        """Run the table's suite; a critical failure fails this task at once, without retries."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.pipeline.validation import validate
        from include.validation import DataQualityError

        try:
            return validate(table, interval, run_id=run_id, params=params)
        except DataQualityError as error:  # bad data does not get better by retrying
            raise AirflowFailException(str(error)) from error

    @task(outlets=[VALIDATED_INTERACTIONS])
    def publish_validated_interactions(interval: dict[str, str], outlet_events: Any = None) -> None:
        """Announce the validated interval to the recommendations DAG."""
        outlet_events[VALIDATED_INTERACTIONS].extra = dict(interval)

    @task(outlets=[VALIDATED_ORDERS])
    def publish_validated_orders(interval: dict[str, str], outlet_events: Any = None) -> None:
        """Announce the validated interval to the order_risk DAG."""
        outlet_events[VALIDATED_ORDERS].extra = dict(interval)

    interval = resolve_interval()
    validated = {
        table: validate_table.override(task_id=f"validate_{table}")(table, interval)
        for table in SOURCE_TABLES
    }
    # Each Asset waits only for the tables its consumer reads.
    [validated[t] for t in INTERACTION_TABLES] >> publish_validated_interactions(interval)
    [validated[t] for t in ORDER_TABLES] >> publish_validated_orders(interval)


warehouse_validation()

"""
### Live shop — the simulated shop lives on, one day per night

For the simulated shop only (`make shop` builds it ending yesterday): shortly after midnight
(00:05 UTC) it appends the day that just ended, or every day missed since the shop's last one,
exactly as a longer build would have written them. The nightly validation fires at 00:30 and
finds the day loaded, so an installation left running has a green night every night.

A warehouse that holds a real shop has no simulated one: the run fails at once and says so
(leave this DAG paused there).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task

from include.dag_defaults import DEADLINE, DEFAULT_ARGS, START_DATE, TAGS


@dag(
    schedule=CronTriggerTimetable("5 0 * * *", timezone="UTC", interval=timedelta(days=1)),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    deadline=DEADLINE,
    tags=[*TAGS, "simulator"],
    doc_md=__doc__,
)
def live_shop() -> None:
    @task
    def append_days(data_interval_end: datetime | None = None) -> dict[str, Any]:
        """Append the shop's days up to the one that ended before this run's interval end."""
        from airflow.sdk.exceptions import AirflowFailException

        from include import simulator, warehouse
        from include.pipeline.common import to_naive_utc

        if data_interval_end is None:
            raise AirflowFailException("This run has no data interval: trigger it with a logical date")
        until = to_naive_utc(data_interval_end).date() - timedelta(days=1)
        try:
            days = simulator.catch_up(warehouse.get_engine(), until)
        except ValueError as error:  # no simulated shop here: retrying will not make one
            raise AirflowFailException(str(error)) from error
        return {"until": until.isoformat(), "appended": [day.isoformat() for day in days]}

    append_days()


live_shop()

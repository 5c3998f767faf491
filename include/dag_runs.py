"""Run the project's DAGs in-process with Airflow's own `dag.test()` (demo and end-to-end tests)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from include import settings

log = logging.getLogger(__name__)


class DagRunFailed(RuntimeError):
    """A DAG run did not succeed; `states` maps each task (`id[map_index]` if mapped) to its state."""

    def __init__(self, message: str, states: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.states = states or {}


def run_dag(dag_id: str, *, logical_date: datetime | None = None, conf: dict[str, Any] | None = None) -> Any:
    """Run one DAG of dags/ to completion with `dag.test()` and return its DagRun.

    Raises:
        DagRunFailed: if the run ends in any state but success; the message names the tasks
            that failed.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(settings.PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise DagRunFailed(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise DagRunFailed(f"No DAG {dag_id!r} in dags/")
    kwargs: dict[str, Any] = {"run_conf": conf or {}}
    if logical_date is not None:
        if logical_date.tzinfo is None:  # the warehouse's naive times are UTC
            logical_date = logical_date.replace(tzinfo=UTC)
        kwargs["logical_date"] = logical_date
    dag_run = dag.test(**kwargs)
    state = str(getattr(dag_run.state, "value", dag_run.state))
    if state != "success":
        states = {
            ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(
                getattr(ti.state, "value", ti.state)
            )
            for ti in dag_run.get_task_instances()
        }
        failed = sorted(task for task, s in states.items() if s == "failed")
        raise DagRunFailed(f"{dag_id} ended {state}; failed tasks: {failed}", states)
    log.info("%s: %s", dag_id, state)
    return dag_run

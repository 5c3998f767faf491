"""The pool that keeps heavy tasks from oversubscribing a worker's cores.

Training, evaluating, refitting and scoring models, and the Great Expectations suites, each
load a heavy library and use the task's thread budget (`settings.thread_budget()`: the cores
divided by `SHOPFLOW_TASKS_AT_ONCE`). The pool lets that many of them run at once, so heavy
tasks together use the machine's cores and no more; light tasks (planning, publishing) do not
wait for it. Mapped tasks (six tables, several candidates, the scoring shards) queue in it.

Airflow does not create pools from DAG files: `python -m include.pools` creates or resizes it
(`make airflow` and the compose file's init service run it). A DAG run that uses a pool Airflow
does not know waits for it, so run this once per installation.
"""

from __future__ import annotations

from include import settings

HEAVY = "shopflow_heavy"


def heavy_pool() -> tuple[str, int, str]:
    """(name, slots, description) of the heavy-task pool for this machine's settings."""
    slots = settings.tasks_at_once()
    return (
        HEAVY,
        slots,
        f"Shopflow's model and validation tasks: {slots} at once, each with "
        f"{settings.thread_budget()} threads (SHOPFLOW_TASKS_AT_ONCE, SHOPFLOW_THREADS)",
    )


def main() -> int:
    """Create or resize the pool in Airflow's metadata database."""
    from airflow.models.pool import Pool

    name, slots, description = heavy_pool()
    Pool.create_or_update_pool(name, slots, description, include_deferred=False)
    print(f"Pool {name}: {slots} slots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

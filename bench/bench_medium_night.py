"""The whole night at shop size in PostgreSQL, task by task, beside the raw limits.

    PYTHONPATH=. .venv/bin/python bench/bench_medium_night.py [--sizes small medium large]
        [--keep] [--side-by-side] [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--out bench/results/medium_night.md]

For each size: builds 91 days of that shop preset into the database `shopflow_night_<size>`
(reused with --keep), then runs two nights with `dag.test()`: warehouse_validation,
recommendations and order_risk on the day before the last simulated day (every model trained
from scratch), then the three again on the last day (each recommender candidate starts from its
own version of the night before where the model can: the TensorFlow ones from their weights,
EASE from its λ).

Each task runs in a process of its own, forked from the bench's (as an Airflow worker forks a
task process from its supervisor), one after another; with --side-by-side the two model DAGs
run at once after validation (each in a process of its own, its tasks one after another), as
the scheduler runs them when validation's assets trigger both, so two tasks share the 2 cores
as the heavy pool allows. Airflow's metadata lives in a fresh PostgreSQL database. Per task it records the wall time
(Airflow's task instance) and the peak resident memory of its process (the kernel's ru_maxrss,
which includes what the process inherited at the fork).

Raw limits, measured in the same run on the first night's data:
- extract: `COPY (query) TO STDOUT` of each query the extract tasks run, beside the task;
- publish: a raw `COPY FROM` of the published recommendations (their CSV already in memory)
  into an empty table without indexes, beside the publish task; and the same followed by adding
  the table's primary key, the least a keyed table costs;
- scoring: a float32 matrix product (every active customer x 64 dimensions x every product)
  plus argpartition for the top 10, batch by batch, beside the scoring tasks.
Ratios are raw seconds / task seconds: 1.0 means the task runs at the raw limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_medium_recs import prepare_airflow  # noqa: E402
from bench_publish import copy_out, raw_copy_seconds  # noqa: E402
from medium_shop import reset_outputs, shop_database  # noqa: E402

# The risk DAG on 91 days of shop: labels at 35 days, three weeks of holdout (as make demo).
RISK_CONF = {"maturity_days": 35, "holdout_days": 21}
DAGS = ("warehouse_validation", "recommendations", "order_risk")
DEFAULT_OUT = "bench/results/medium_night.md"
# Airflow's metadata for the bench's runs.
METADATA_DATABASE = "shopflow_bench_airflow"
# Dimensions of the raw scoring product.
RAW_DIMENSIONS = 64


class TaskProcesses:
    """Runs every task of `dag.test()` in a forked process of its own and records the peak
    resident memory of each (the kernel's accounting of the child, read when it ends)."""

    def __init__(self) -> None:
        self.peaks: dict[tuple[str, str, str, int], int] = {}
        self.inherited = 0  # the largest resident memory of this process at a fork

    def __enter__(self) -> TaskProcesses:
        import airflow.sdk.definitions.dag as dag_module
        import airflow.sdk.execution_time.task_runner  # noqa: F401
        import httpx
        from airflow.sdk.execution_time.supervisor import in_process_api_server

        # dag.test() talks to an execution API inside the process, which builds its versioned
        # routes on its first request. Built and asked once here, every task process inherits
        # it ready instead of spending seconds building it again (a real worker talks to a
        # running server).
        app = in_process_api_server().app

        async def first_request() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as client:
                await client.get("/execution/health")

        asyncio.run(first_request())
        self._module, self._run_task = dag_module, dag_module._run_task
        dag_module._run_task = self._run_forked
        return self

    def __exit__(self, *exc: object) -> None:
        self._module._run_task = self._run_task

    def _run_forked(self, *, ti, task, run_triggerer: bool = False) -> None:
        from airflow.utils.state import TaskInstanceState

        self.inherited = max(self.inherited, rss())
        pid = fork(lambda: self._run_task(ti=ti, task=task, run_triggerer=run_triggerer))
        _, status, usage = os.wait4(pid, 0)
        self.peaks[(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)] = usage.ru_maxrss * 1024
        if os.waitstatus_to_exitcode(status) != 0:  # it died before recording its end
            ti.set_state(TaskInstanceState.FAILED)


def fork(work: Callable[[], None]) -> int:
    """Run `work` in a forked child, which exits 0 when it returns and 1 when it raises (after
    printing the error); returns the child's pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        work()
        code = 0
    except BaseException:  # noqa: BLE001 - printed, then the exit code tells the parent
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def rss() -> int:
    """Resident memory of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_night(dag_id: str, as_of: datetime, processes: TaskProcesses) -> dict:
    """Run one DAG for the night ending at `as_of`; per task: seconds and peak bytes."""
    from include.dag_runs import run_dag

    conf: dict = {} if dag_id == "warehouse_validation" else {"as_of": as_of.date().isoformat()}
    if dag_id == "order_risk":
        conf |= RISK_CONF
    # The validation DAG checks the day before its logical date's interval end.
    logical = as_of - timedelta(days=1) if dag_id == "warehouse_validation" else as_of
    if dag_id == "warehouse_validation":
        conf = {"day": (as_of - timedelta(days=1)).date().isoformat()}
    started = time.perf_counter()
    dag_run = run_dag(dag_id, logical_date=logical, conf=conf)
    wall = time.perf_counter() - started
    tasks: dict[str, dict] = {}
    for ti in dag_run.get_task_instances():
        if ti.start_date is None or ti.end_date is None:
            continue
        seconds = (ti.end_date - ti.start_date).total_seconds()
        peak = processes.peaks.get((dag_id, dag_run.run_id, ti.task_id, ti.map_index), 0)
        names = [ti.task_id]
        if ti.task_id == "train_candidate":  # each candidate on a line of its own too
            names.append(f"train_candidate: {ti.rendered_map_index}")
        for name in names:
            entry = tasks.setdefault(name, {"seconds": 0.0, "peak": 0, "count": 0})
            entry["seconds"] += seconds
            entry["peak"] = max(entry["peak"], peak)
            entry["count"] += 1
    return {"wall": wall, "tasks": tasks, "run_id": dag_run.run_id}


def run_side_by_side(
    dag_ids: tuple[str, ...], as_of: datetime, processes: TaskProcesses
) -> tuple[dict, float]:
    """Run `dag_ids` at once, each DAG in a process of its own, as the scheduler runs the DAGs
    one asset triggers; returns each DAG's `run_night` result and the seconds until the last
    one ended."""
    started = time.perf_counter()
    children: dict[int, tuple[str, Path]] = {}
    for dag_id in dag_ids:
        handle, name = tempfile.mkstemp(prefix=f"shopflow-bench-{dag_id}-", suffix=".json")
        os.close(handle)

        def night(dag_id: str = dag_id, path: Path = Path(name)) -> None:
            result = run_night(dag_id, as_of, processes)
            result["inherited"] = processes.inherited
            path.write_text(json.dumps(result))

        children[fork(night)] = (dag_id, Path(name))
    results: dict[str, dict] = {}
    for pid, (dag_id, path) in children.items():
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{dag_id} failed while running beside the others")
        results[dag_id] = json.loads(path.read_text())
        path.unlink()
        processes.inherited = max(processes.inherited, results[dag_id].pop("inherited"))
    return results, time.perf_counter() - started


# ------------------------------------------------------------------------------ raw limits


def raw_copy_to(engine: sa.Engine, sql_name: str, params: dict) -> tuple[int, float]:
    """Rows and seconds of streaming a query's result through COPY TO, parsing nothing."""
    from include import warehouse

    (text,) = warehouse.split_statements(warehouse.load_sql(sql_name, "postgresql"))
    query, bound = warehouse.copy_query(text, warehouse.bind_params(params, "postgresql"))
    statement = f"COPY (\n{query}\n) TO STDOUT"
    started = time.perf_counter()
    rows = 0
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(statement, bound) as copy:
            for block in copy:
                rows += bytes(block).count(b"\n")
    return rows, time.perf_counter() - started


def extract_queries(as_of: datetime) -> dict[str, list[tuple[str, dict]]]:
    """The queries each extract task runs tonight, with the parameters it binds (the DAGs'
    defaults: 90 days of history, 7 days of holdout, 30 active days; risk as RISK_CONF)."""
    day = timedelta(days=1)
    # The night's validation passed every table up to as_of: its watermark.
    until = {"end": as_of, "loaded_until": as_of}
    return {
        "extract_interactions": [
            (
                "recommendations/extract_interaction_parts",
                {**until, "start": as_of - 90 * day, "split": as_of - 7 * day},
            ),
            ("recommendations/extract_active_customers", {**until, "start": as_of - 30 * day}),
            ("recommendations/extract_products", until),
        ],
        "extract_orders": [
            ("risk/extract_orders", {**until, "start": as_of - 180 * day}),
            ("risk/extract_chargebacks", until),
        ],
    }


def raw_copy_from(engine: sa.Engine, table: str, key: tuple[str, ...]) -> tuple[int, float, float]:
    """Rows and seconds of a raw COPY FROM of `table`'s rows (their CSV rendered beforehand)
    into an empty table of the same columns without indexes, and the seconds of then adding
    the primary key `key` to it."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        payload = copy_out(raw, f"(SELECT * FROM {table})")
        rows = payload.count(b"\n")
        seconds, key_seconds = raw_copy_seconds(raw, payload, table, ", ".join(key), "TEMP")
    return rows, seconds, key_seconds


def raw_scoring(n_customers: int, n_products: int, k: int = 10, batch: int = 4096) -> float:
    """Seconds of a plain top-k over every customer and product: float32 matrix product plus
    argpartition, batch by batch (the same thread budget as the pipeline's tasks)."""
    from include.models.base import limited_threads

    rng = np.random.default_rng(0)
    users = rng.standard_normal((n_customers, RAW_DIMENSIONS), dtype=np.float32)
    items = rng.standard_normal((RAW_DIMENSIONS, n_products), dtype=np.float32)
    started = time.perf_counter()
    with limited_threads():
        for start in range(0, n_customers, batch):
            scores = users[start : start + batch] @ items
            np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return time.perf_counter() - started


# --------------------------------------------------------------------------------- running


def bench_size(size: str, args: argparse.Namespace, processes: TaskProcesses) -> dict:
    engine, last, build_seconds = shop_database(
        args.admin_url, preset=size, database=f"shopflow_night_{size}", days=args.days, keep=args.keep
    )
    if build_seconds is None:
        reset_outputs(engine)
    counts = {
        table: int(scalar(engine, f"SELECT COUNT(*) FROM {table}"))
        for table in ("customers", "products", "events", "orders")
    }
    print(f"[{size}] shop ready: last day {last}, built in {build_seconds}, {counts}", flush=True)
    second = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    first = second - timedelta(days=1)
    nights: dict[str, dict] = {}
    walls: dict[str, float] = {}
    for label, as_of in (("cold", first), ("warm", second)):
        nights[label] = {}
        started = time.perf_counter()
        if args.side_by_side:
            # Validation first; its assets trigger both model DAGs, which then run at once.
            nights[label][DAGS[0]] = run_night(DAGS[0], as_of, processes)
            together, _ = run_side_by_side(DAGS[1:], as_of, processes)
            nights[label].update(together)
        else:
            for dag_id in DAGS:
                nights[label][dag_id] = run_night(dag_id, as_of, processes)
        walls[label] = time.perf_counter() - started
        for dag_id in DAGS:
            print(f"[{size}] {label} {dag_id}: {nights[label][dag_id]['wall']:.1f} s", flush=True)
        print(f"[{size}] {label} night: {walls[label]:.1f} s", flush=True)
        if label == "cold":
            raw = raw_limits(engine, first, nights["cold"])
    return {"counts": counts, "build": build_seconds, "nights": nights, "walls": walls, "raw": raw}


def scalar(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar_one()


def raw_limits(engine: sa.Engine, as_of: datetime, night: dict) -> dict:
    """The raw limits of the cold night's extract, publish and scoring tasks."""
    naive = as_of.replace(tzinfo=None)
    out: dict[str, dict] = {}
    for task, queries in extract_queries(naive).items():
        rows = seconds = 0.0
        for sql_name, params in queries:
            r, s = raw_copy_to(engine, sql_name, params)
            rows += r
            seconds += s
        dag = "recommendations" if task == "extract_interactions" else "order_risk"
        out[task] = {"rows": rows, "raw": seconds, "task": night[dag]["tasks"][task]["seconds"]}
    current = scalar(
        engine,
        "SELECT physical_table FROM published_tables WHERE is_current = 1 AND table_name = 'recommendations'",
    )
    from include.publish import PUBLISHED_TABLES

    rows, seconds, key_seconds = raw_copy_from(engine, current, PUBLISHED_TABLES["recommendations"].key)
    recs = night["recommendations"]["tasks"]
    task = recs["publish_recommendations"]["seconds"]
    out["publish_recommendations"] = {"rows": rows, "raw": seconds, "task": task}
    out["publish_recommendations, keyed"] = {"rows": rows, "raw": seconds + key_seconds, "task": task}
    customers = scalar(engine, f"SELECT COUNT(DISTINCT customer_id) FROM {current}")
    products = scalar(engine, "SELECT COUNT(*) FROM products")
    out["score_customers"] = {
        "rows": customers,
        "raw": raw_scoring(customers, products),
        "task": recs["score_customers"]["seconds"],
    }
    return out


# The stages whose growth with the shop the side-by-side table shows: (DAG, task).
STAGES = (
    ("warehouse_validation", "validate_events"),
    ("recommendations", "extract_interactions"),
    ("recommendations", "train_candidate"),
    ("recommendations", "evaluate_candidates"),
    ("recommendations", "serve_model"),
    ("recommendations", "score_customers"),
    ("recommendations", "publish_recommendations"),
    ("order_risk", "extract_orders"),
    ("order_risk", "train_candidate"),
    ("order_risk", "serve_model"),
    ("order_risk", "score_orders"),
)


def commit() -> str:
    """The commit the bench runs (in any checkout or worktree)."""
    import subprocess

    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    return out.stdout.strip() or "unknown"


def report(results: dict[str, dict], args: argparse.Namespace, inherited: int) -> str:
    from include import settings

    gb = 1024**3
    thread_budget, tasks_at_once = settings.thread_budget(), settings.tasks_at_once()
    sizes = list(results)
    lines = [
        "# The whole night at shop size, PostgreSQL, task by task",
        "",
        f"- command: `PYTHONPATH=. .venv/bin/python bench/bench_medium_night.py --sizes {' '.join(sizes)}"
        + (" --side-by-side" if args.side_by_side else "")
        + (f" --out {args.out}" if args.out != DEFAULT_OUT else "")
        + "`",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {commit()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "PostgreSQL 15 on the same machine (shared, so read single figures as shapes)",
        f"- shops: {args.days} days of each preset; night 1 trains every model from scratch, night 2 "
        "(the next day) starts each candidate from its own version of night 1 where the model can",
        "- every task runs in a process of its own, forked from the bench's (as an Airflow worker "
        "forks its task processes); peak is that process's largest resident "
        f"memory (ru_maxrss), which includes the {inherited / gb:.2f} GB it inherited at the fork",
        "- "
        + (
            "as deployed: warehouse_validation, then recommendations and order_risk at once (both "
            "are triggered by validation's assets), each DAG's tasks one after another, so two "
            "tasks run at a time as the heavy pool allows on 2 cores; task times include sharing "
            "the machine with the other DAG"
            if args.side_by_side
            else "one task at a time, the three DAGs one after another (each task alone on the "
            "machine, with the thread budget of a task that shares it)"
        ),
        f"- threads per task: {thread_budget} (SHOPFLOW_TASKS_AT_ONCE={tasks_at_once})",
        "",
        "| shop | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for table in ("customers", "products", "events", "orders"):
        lines.append(f"| {table} | " + " | ".join(f"{results[s]['counts'][table]:,}" for s in sizes) + " |")
    lines.append(
        "| build into PostgreSQL (s) | "
        + " | ".join("reused" if results[s]["build"] is None else f"{results[s]['build']:.0f}" for s in sizes)
        + " |"
    )
    for label in ("cold", "warm"):
        total = {s: results[s]["walls"][label] for s in sizes}
        lines.append(
            f"| **whole night, {label} (s)** | " + " | ".join(f"**{total[s]:.0f}**" for s in sizes) + " |"
        )
        for dag_id in DAGS:
            lines.append(
                f"| {dag_id}, {label} (s) | "
                + " | ".join(f"{results[s]['nights'][label][dag_id]['wall']:.0f}" for s in sizes)
                + " |"
            )
    peak = {
        s: max(
            t["peak"] for n in results[s]["nights"].values() for d in n.values() for t in d["tasks"].values()
        )
        for s in sizes
    }
    lines.append(
        "| peak memory of any task (GB) | " + " | ".join(f"{peak[s] / gb:.2f}" for s in sizes) + " |"
    )
    lines += [
        "",
        "## Growth: each stage on the cold night, side by side (seconds; peak GB)",
        "",
        "| DAG | task | " + " | ".join(f"{s} s | {s} GB" for s in sizes) + " |",
        "|---|---|" + "---|---|" * len(sizes),
    ]
    for dag_id, task in STAGES:
        cells = []
        for s in sizes:
            entry = results[s]["nights"]["cold"][dag_id]["tasks"].get(task)
            cells += ["", ""] if entry is None else [f"{entry['seconds']:.1f}", f"{entry['peak'] / gb:.2f}"]
        lines.append(f"| {dag_id} | {task} | " + " | ".join(cells) + " |")
    for s in sizes:
        lines += [
            "",
            f"## {s}: tasks (seconds; peak memory of the task's process in GB; mapped tasks: summed, largest)",
            "",
            "| DAG | task | cold s | warm s | cold peak | warm peak |",
            "|---|---|---|---|---|---|",
        ]
        cold, warm = results[s]["nights"]["cold"], results[s]["nights"]["warm"]
        for dag_id in DAGS:
            for task, c in cold[dag_id]["tasks"].items():
                w = warm[dag_id]["tasks"].get(task, {"seconds": float("nan"), "peak": 0})
                name = task if c["count"] == 1 else f"{task} (×{c['count']})"
                lines.append(
                    f"| {dag_id} | {name} | {c['seconds']:.1f} | {w['seconds']:.1f} | "
                    f"{c['peak'] / gb:.2f} | {w['peak'] / gb:.2f} |"
                )
        lines += [
            "",
            f"## {s}: raw limits (cold night)",
            "",
            "| task | rows | raw limit s | task s | ratio (raw / task) | raw limit |",
            "|---|---|---|---|---|---|",
        ]
        what = {
            "extract_interactions": "COPY (query) TO STDOUT of the extract's queries",
            "extract_orders": "COPY (query) TO STDOUT of the extract's queries",
            "publish_recommendations": "COPY FROM of the published rows into an empty table",
            "publish_recommendations, keyed": "the same COPY FROM, then ADD PRIMARY KEY (customer_id, rank)",
            "score_customers": f"float32 matmul ({RAW_DIMENSIONS} dims) + argpartition, every customer x product",
        }
        for task, r in results[s]["raw"].items():
            lines.append(
                f"| {task} | {int(r['rows']):,} | {r['raw']:.1f} | {r['task']:.1f} | "
                f"{r['raw'] / r['task']:.2f} | {what[task]} |"
            )
    return "\n".join(lines) + "\n"


def metadata_database(admin_url: str) -> str:
    """A fresh PostgreSQL database for Airflow's metadata (two DAGs write it at once when they
    run side by side, which SQLite's single writer would serialise or refuse)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {METADATA_DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {METADATA_DATABASE}")
    admin.dispose()
    return admin.url.set(database=METADATA_DATABASE).render_as_string(hide_password=False)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_medium_night.py")
    parser.add_argument("--sizes", nargs="+", default=["medium"], choices=["small", "medium", "large"])
    parser.add_argument("--days", type=int, default=91)
    parser.add_argument(
        "--keep", action="store_true", help="reuse shopflow_night_<size> if it holds the shop"
    )
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="run the two model DAGs at once after validation, as the scheduler does",
    )
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["SHOPFLOW_VAR_DIR"] = tempfile.mkdtemp(prefix="shopflow-bench-var-")
    prepare_airflow(metadata_database(args.admin_url))
    results = {}
    with TaskProcesses() as processes:
        for size in args.sizes:
            results[size] = bench_size(size, args, processes)
            text = report(results, args, processes.inherited)
            Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

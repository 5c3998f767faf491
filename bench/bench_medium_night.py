"""The whole night at shop size in PostgreSQL, task by task, beside the raw limits.

    PYTHONPATH=. .venv/bin/python bench/bench_medium_night.py [--sizes small medium large]
        [--keep] [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--out bench/results/medium_night.md]

For each size: builds 91 days of that shop preset into the database `shopflow_night_<size>`
(reused with --keep), then runs two nights with `dag.test()`: warehouse_validation,
recommendations and order_risk on the day before the last simulated day (every model trained
from scratch), then the three again on the last day (the recommender's TensorFlow candidate
warm-starts from the night before when it is champion; risk candidates retrain).

Per task it records the wall time (Airflow's task instance) and the peak resident memory of the
process during the task, sampled every 50 ms. Every task runs in the same process, one after
another, so a task's peak includes what earlier tasks left allocated (Airflow, TensorFlow, the
allocator's pools): an upper bound of what the task needs alone; "added" is the peak minus the
memory at the task's start.

Raw limits, measured in the same run on the first night's data:
- extract: `COPY (query) TO STDOUT` of each query the extract tasks run, beside the task;
- publish: a raw `COPY FROM` of the published recommendations (their CSV already in memory)
  into an empty table without indexes, beside the publish task;
- scoring: a float32 matrix product (every active customer x 64 dimensions x every product)
  plus argpartition for the top 10, batch by batch, beside the scoring tasks.
Ratios are raw seconds / task seconds: 1.0 means the task runs at the raw limit.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_medium_recs import prepare_airflow  # noqa: E402
from medium_shop import reset_outputs, shop_database  # noqa: E402

# The risk DAG on 91 days of shop: labels at 35 days, three weeks of holdout (as make demo).
RISK_CONF = {"maturity_days": 35, "holdout_days": 21}
DAGS = ("warehouse_validation", "recommendations", "order_risk")
# Dimensions of the raw scoring product.
RAW_DIMENSIONS = 64


class MemorySampler:
    """Resident memory of this process every `interval` seconds, in a daemon thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.rss()))
            time.sleep(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def during(self, start: float, end: float) -> tuple[int, int]:
        """(peak, first sample) between two epoch seconds."""
        inside = [rss for t, rss in self.samples if start <= t <= end]
        if not inside:
            inside = [min(self.samples, key=lambda s: abs(s[0] - start))[1]]
        return max(inside), inside[0]


def run_night(dag_id: str, as_of: datetime, sampler: MemorySampler) -> dict:
    """Run one DAG for the night ending at `as_of`; per task: seconds, peak and added bytes."""
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
        peak, first = sampler.during(ti.start_date.timestamp(), ti.end_date.timestamp())
        entry = tasks.setdefault(ti.task_id, {"seconds": 0.0, "peak": 0, "added": 0, "count": 0})
        entry["seconds"] += seconds
        entry["peak"] = max(entry["peak"], peak)
        entry["added"] = max(entry["added"], peak - first)
        entry["count"] += 1
    return {"wall": wall, "tasks": tasks, "run_id": dag_run.run_id}


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
    return {
        "extract_interactions": [
            (
                "recommendations/extract_interaction_parts",
                {"start": as_of - 90 * day, "end": as_of, "split": as_of - 7 * day},
            ),
            ("recommendations/extract_active_customers", {"start": as_of - 30 * day, "end": as_of}),
            ("recommendations/extract_products", {"end": as_of}),
        ],
        "extract_orders": [
            ("risk/extract_orders", {"start": as_of - 180 * day, "end": as_of}),
            ("risk/extract_chargebacks", {"end": as_of}),
        ],
    }


def raw_copy_from(engine: sa.Engine, table: str) -> tuple[int, float]:
    """Rows and seconds of a raw COPY FROM of `table`'s rows (their CSV rendered beforehand)
    into an empty table of the same columns without indexes."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        buffer = io.BytesIO()
        with raw.cursor() as cursor, cursor.copy(f"COPY (SELECT * FROM {table}) TO STDOUT") as copy:
            for block in copy:
                buffer.write(bytes(block))
        payload = buffer.getvalue()
        rows = payload.count(b"\n")
        with raw.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE raw_copy_target (LIKE {table})")
            started = time.perf_counter()
            with cursor.copy("COPY raw_copy_target FROM STDIN") as copy:
                step = 1 << 20
                for start in range(0, len(payload), step):
                    copy.write(payload[start : start + step])
            raw.commit()
            seconds = time.perf_counter() - started
            cursor.execute("DROP TABLE raw_copy_target")
            raw.commit()
    return rows, seconds


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


def bench_size(size: str, args: argparse.Namespace, sampler: MemorySampler) -> dict:
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
    for label, as_of in (("cold", first), ("warm", second)):
        nights[label] = {}
        for dag_id in DAGS:
            result = run_night(dag_id, as_of, sampler)
            nights[label][dag_id] = result
            print(f"[{size}] {label} {dag_id}: {result['wall']:.1f} s", flush=True)
        if label == "cold":
            raw = raw_limits(engine, first, nights["cold"])
    return {"counts": counts, "build": build_seconds, "nights": nights, "raw": raw}


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
    rows, seconds = raw_copy_from(engine, current)
    recs = night["recommendations"]["tasks"]
    out["publish_recommendations"] = {
        "rows": rows,
        "raw": seconds,
        "task": recs["publish_recommendations"]["seconds"],
    }
    customers = scalar(engine, f"SELECT COUNT(DISTINCT customer_id) FROM {current}")
    products = scalar(engine, "SELECT COUNT(*) FROM products")
    out["score_customers"] = {
        "rows": customers,
        "raw": raw_scoring(customers, products),
        "task": recs["score_customers"]["seconds"],
    }
    return out


def report(results: dict[str, dict], args: argparse.Namespace) -> str:
    gb = 1024**3
    sizes = list(results)
    lines = [
        "# The whole night at shop size, PostgreSQL, task by task",
        "",
        f"- command: `PYTHONPATH=. .venv/bin/python bench/bench_medium_night.py --sizes {' '.join(sizes)}`",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "PostgreSQL 15 on the same machine (shared, so read single figures as shapes)",
        f"- shops: {args.days} days of each preset; night 1 trains every model from scratch, night 2 "
        "(the next day) warm-starts the recommender's TensorFlow candidate when it is champion",
        "- every task runs in one process with `dag.test()`, one after another; peak is the "
        "process's resident memory during the task (an upper bound of the task alone), added is "
        "the peak minus the memory at the task's start",
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
        total = {s: sum(n["wall"] for n in results[s]["nights"][label].values()) for s in sizes}
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
    for s in sizes:
        lines += [
            "",
            f"## {s}: tasks (seconds; peak / added memory in GB)",
            "",
            "| DAG | task | cold s | warm s | cold peak | cold added | warm peak | warm added |",
            "|---|---|---|---|---|---|---|---|",
        ]
        cold, warm = results[s]["nights"]["cold"], results[s]["nights"]["warm"]
        for dag_id in DAGS:
            for task, c in cold[dag_id]["tasks"].items():
                w = warm[dag_id]["tasks"].get(task, {"seconds": float("nan"), "peak": 0, "added": 0})
                name = task if c["count"] == 1 else f"{task} (×{c['count']}, summed)"
                lines.append(
                    f"| {dag_id} | {name} | {c['seconds']:.1f} | {w['seconds']:.1f} | "
                    f"{c['peak'] / gb:.2f} | {c['added'] / gb:.2f} | {w['peak'] / gb:.2f} | {w['added'] / gb:.2f} |"
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
            "score_customers": f"float32 matmul ({RAW_DIMENSIONS} dims) + argpartition, every customer x product",
        }
        for task, r in results[s]["raw"].items():
            lines.append(
                f"| {task} | {int(r['rows']):,} | {r['raw']:.1f} | {r['task']:.1f} | "
                f"{r['raw'] / r['task']:.2f} | {what[task]} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_medium_night.py")
    parser.add_argument("--sizes", nargs="+", default=["medium"], choices=["small", "medium", "large"])
    parser.add_argument("--days", type=int, default=91)
    parser.add_argument(
        "--keep", action="store_true", help="reuse shopflow_night_<size> if it holds the shop"
    )
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default="bench/results/medium_night.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ["SHOPFLOW_VAR_DIR"] = tempfile.mkdtemp(prefix="shopflow-bench-var-")
    prepare_airflow()
    results = {}
    with MemorySampler() as sampler:
        for size in args.sizes:
            results[size] = bench_size(size, args, sampler)
            text = report(results, args)
            Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

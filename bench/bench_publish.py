"""Publishing beside its raw limits, side by side in one run, on PostgreSQL.

    PYTHONPATH=. .venv/bin/python bench/bench_publish.py [--customers 86807] [--repeat 5]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--out bench/results/publish.md]

The rows are recommendations of the medium shop's size (every active customer x 10; the
products, scores and sources drawn at random, which costs a COPY the same as real ones). Each
repeat times, in turn:
- raw COPY FROM of the rows' text (rendered beforehand, so no rendering is timed) into an empty
  TEMP table (no write-ahead log: a publish can never do this), and then its primary key;
- the same into an empty ordinary table, and then its primary key: the least a durable, keyed
  table costs;
- `publish.publish()` of the frame: rendering, COPY FREEZE into a new version, primary key,
  row-count audit, ANALYZE, the record and the view switch, under the table's lock.
The publish *task* of the DAG also reads the scoring shards from staging; bench_medium_night.py
times the task as a whole.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from include import publish, warehouse

KEY = "customer_id, rank"


def _frame(customers: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = customers * 10
    return pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(1, customers + 1, dtype=np.int64), 10),
            "rank": np.tile(np.arange(1, 11, dtype=np.int32), customers),
            "product_id": rng.integers(1, 20_000, rows).astype(np.int64),
            "score": rng.random(rows),
            "source": np.where(rng.random(rows) < 0.9, "model", "popularity"),
            "model_version": "recommender-ease-20261205T000000-abcdef-refit",
            "as_of": pd.Timestamp("2026-08-30"),
        }
    )


def copy_out(raw, query: str) -> bytes:
    """The rows of `query` as PostgreSQL's COPY text, read over the raw connection `raw`."""
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(f"COPY {query} TO STDOUT") as copy:
        for block in copy:
            buffer.write(bytes(block))
    return buffer.getvalue()


def raw_copy_seconds(raw, payload: bytes, template: str, key: str, kind: str = "TEMP") -> tuple[float, float]:
    """Seconds of COPY FROM of `payload` (COPY text) into an empty `kind` table like `template`
    (TEMP: no write-ahead log; "": an ordinary table), then of adding the primary key `key`."""
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS raw_copy_target")
        cursor.execute(f"CREATE {kind} TABLE raw_copy_target (LIKE {template})")
        raw.commit()
        started = time.perf_counter()
        with cursor.copy("COPY raw_copy_target FROM STDIN") as copy:
            for start in range(0, len(payload), 1 << 20):
                copy.write(payload[start : start + (1 << 20)])
        raw.commit()
        copied = time.perf_counter() - started
        started = time.perf_counter()
        cursor.execute(f"ALTER TABLE raw_copy_target ADD PRIMARY KEY ({key})")
        raw.commit()
        keyed = time.perf_counter() - started
        cursor.execute("DROP TABLE raw_copy_target")
        raw.commit()
    return copied, keyed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_publish.py")
    parser.add_argument("--customers", type=int, default=86_807)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    name = f"shopflow_bench_publish_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = warehouse.get_engine(url)
    frame = _frame(args.customers)
    times: dict[str, list[float]] = {}
    try:
        warehouse.create_schema(engine)
        first = publish.publish("recommendations", [frame], run_id="warm-up", engine=engine)
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            payload = copy_out(raw, first.physical_table)
            with raw.cursor() as cursor:  # kept apart: later publishes prune the first version
                cursor.execute(f"CREATE TABLE raw_copy_template (LIKE {first.physical_table})")
            raw.commit()
            for _ in range(args.repeat):
                for kind, label in (("TEMP", "temp"), ("", "ordinary")):
                    copied, keyed = raw_copy_seconds(raw, payload, "raw_copy_template", KEY, kind)
                    times.setdefault(f"raw COPY, {label} table", []).append(copied)
                    times.setdefault(f"raw COPY + key, {label} table", []).append(copied + keyed)
                started = time.perf_counter()
                publish.publish("recommendations", [frame], run_id="bench", engine=engine)
                times.setdefault("publish()", []).append(time.perf_counter() - started)
    finally:
        engine.dispose()
        warehouse._engine_for(url).dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    median = {label: statistics.median(values) for label, values in times.items()}
    published = median["publish()"]
    lines = [
        "# Publishing beside raw COPY FROM, PostgreSQL",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {len(frame):,} rows ({args.customers:,} customers x 10), "
        f"medians of {args.repeat} repeats taken in turn.",
        f"Command: `PYTHONPATH=. .venv/bin/python bench/bench_publish.py {' '.join(argv or sys.argv[1:])}`",
        "",
        "| step | median (s) | all (s) | raw / publish() |",
        "|---|---|---|---|",
    ]
    for label, values in times.items():
        ratio = "" if label == "publish()" else f"{median[label] / published:.2f}"
        lines.append(f"| {label} | {median[label]:.3f} | {', '.join(f'{v:.2f}' for v in values)} | {ratio} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as out:
            out.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

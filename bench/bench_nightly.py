"""Benchmarks of the simulated shop and of one whole night of the pipeline.

    PYTHONPATH=. .venv/bin/python bench/bench_nightly.py [--repeat 3] [--out bench/results/nightly.md]

Measures, side by side in one run (medians of --repeat runs):
- generating 90 days of the medium shop in memory (simulator only);
- building 90 days of the small shop into the embedded SQLite warehouse;
- the three DAGs with dag.test() on that warehouse, each timed.
Results go to a Markdown file with the machine and the command.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="bench/results/nightly.md")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="shopflow-bench-"))
    os.environ["SHOPFLOW_VAR_DIR"] = str(workdir)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = f"sqlite:///{workdir / 'warehouse.db'}"
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    from include import simulator, warehouse
    from include.dag_runs import run_dag

    timings: dict[str, list[float]] = {}
    rows: dict[str, dict[str, int]] = {}
    for _ in range(args.repeat):
        seconds, counts = _timed(_count_medium, simulator)
        timings.setdefault("simulate medium, 90 days (in memory)", []).append(seconds)
        rows["medium"] = counts

        engine = warehouse.get_engine()
        seconds, counts = _timed(simulator.build_shop, engine, "small", 90, replace=True)
        timings.setdefault("build small shop, 90 days, into SQLite", []).append(seconds)
        rows["small"] = counts

        as_of = datetime(2026, 8, 30, tzinfo=UTC)
        conf = {"as_of": "2026-08-30"}
        total = 0.0
        for dag_id, run_conf in (
            ("warehouse_validation", {}),
            ("recommendations", conf),
            ("order_risk", conf),
        ):
            seconds, _ = _timed(run_dag, dag_id, logical_date=as_of, conf=run_conf)
            timings.setdefault(f"dag.test {dag_id} (small shop, SQLite)", []).append(seconds)
            total += seconds
            as_of += timedelta(minutes=1)
        timings.setdefault("the three DAGs together", []).append(total)

    lines = [
        "# One night of Shopflow",
        "",
        f"- command: `PYTHONPATH=. .venv/bin/python bench/bench_nightly.py --repeat {args.repeat}`",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}",
        f"- rows: medium {rows['medium']}; small {rows['small']}",
        "- the first pass pays for importing Airflow's task runner, Great Expectations and TensorFlow",
        "",
        "| step | median s | runs (s) |",
        "|---|---|---|",
    ]
    for name, values in timings.items():
        lines.append(
            f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


def _count_medium(simulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, frames in simulator.simulate("medium", 90):
        for table, frame in frames.items():
            counts[table] = counts.get(table, 0) + len(frame)
    return counts


if __name__ == "__main__":
    raise SystemExit(main())

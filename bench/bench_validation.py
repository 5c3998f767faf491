"""Validation time of one night on the medium shop in PostgreSQL (target: under 60 s on 2 cores).

    PYTHONPATH=. .venv/bin/python bench/bench_validation.py [--repeat 3] [--keep]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds 90 days of the medium shop (100k customers, 20k products, 5.5M events) into a database
`shopflow_bench` (reused with --keep), then validates the last day, every table, exactly as the
validation DAG's tasks do: once as the first night (the gate has passed nothing yet, so every row
loaded before the day's end is checked), then --repeat times as a later night (the watermark is
at the day's start: the day's load alone). Writes bench/results/validation.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse shopflow_bench if it holds the shop")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default="bench/results/validation.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    os.environ.setdefault("SHOPFLOW_VAR_DIR", "/tmp/shopflow-bench")
    from medium_shop import medium_shop, reset_outputs

    from include import validation, warehouse

    engine, last, build_seconds = medium_shop(args.admin_url, days=90, keep=args.keep)
    reset_outputs(engine)  # the first night: nothing has passed the gate
    warehouse.ensure_output_tables(engine)
    day = datetime(last.year, last.month, last.day)
    counts = warehouse.read_frame(
        sql="SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM orders) AS orders",
        conn=engine.connect(),
    )

    def night(run_id: str) -> dict[str, float]:
        seconds = {}
        for table in validation.SOURCE_TABLES:
            start = time.perf_counter()
            validation.validate_table(table, day, day + timedelta(days=1), run_id=run_id, engine=engine)
            seconds[table] = time.perf_counter() - start
        seconds["one night, all six tables"] = sum(seconds.values())
        return seconds

    first = night("bench-first")
    # Later nights: the watermark at the day's start, as the night before would have left it.
    with warehouse.transaction(engine) as conn:
        conn.execute(
            sa.text("UPDATE validated_loads SET loaded_until = :d"),
            warehouse.bind_params({"d": day}, "postgresql"),
        )
    runs: dict[str, list[float]] = {}
    for attempt in range(args.repeat):
        for name, seconds in night(f"bench-{attempt}").items():
            runs.setdefault(name, []).append(seconds)

    lines = [
        "# Validation of one night, medium shop, PostgreSQL",
        "",
        f"- command: `PYTHONPATH=. .venv/bin/python bench/bench_validation.py --repeat {args.repeat}`",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"PostgreSQL on the same machine",
        f"- warehouse: {int(counts['events'][0]):,} events, {int(counts['orders'][0]):,} orders; "
        f"validated day {day:%Y-%m-%d}"
        + (f"; building the shop took {build_seconds:.0f} s" if build_seconds else ""),
        "- the first night includes importing Great Expectations (about 10 s), as the first task of a "
        "worker process would; later passes run warm",
        "",
        "| table | first night s (every row loaded before it) | later night, median s (the day's load) | runs (s) |",
        "|---|---|---|---|",
    ]
    for name, values in runs.items():
        lines.append(
            f"| {name} | {first[name]:.1f} | {statistics.median(values):.1f} | "
            f"{', '.join(f'{v:.1f}' for v in values)} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

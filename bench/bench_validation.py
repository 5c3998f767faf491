"""Validation time of one night on the medium shop in PostgreSQL (target: under 60 s on 2 cores).

    PYTHONPATH=. .venv/bin/python bench/bench_validation.py [--repeat 3] [--keep]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Builds 90 days of the medium shop (100k customers, 20k products, 5.5M events) into a database
`shopflow_bench` (reused with --keep), then validates the last day, every table, --repeat times
in a row, exactly as the validation DAG's tasks do. Writes bench/results/validation.md.
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse shopflow_bench if it holds the shop")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default="bench/results/validation.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    os.environ.setdefault("SHOPFLOW_VAR_DIR", "/tmp/shopflow-bench")
    from medium_shop import medium_shop

    from include import validation, warehouse

    engine, last, build_seconds = medium_shop(args.admin_url, days=90, keep=args.keep)
    day = datetime(last.year, last.month, last.day)
    counts = warehouse.read_frame(
        sql="SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT COUNT(*) FROM orders) AS orders",
        conn=engine.connect(),
    )

    runs: dict[str, list[float]] = {}
    for attempt in range(args.repeat):
        total = 0.0
        for table in validation.SOURCE_TABLES:
            start = time.perf_counter()
            validation.validate_table(
                table, day, day + timedelta(days=1), run_id=f"bench-{attempt}", engine=engine
            )
            seconds = time.perf_counter() - start
            runs.setdefault(table, []).append(seconds)
            total += seconds
        runs.setdefault("one night, all six tables", []).append(total)

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
        "- the first pass includes importing Great Expectations (about 10 s), as the first task of a "
        "worker process would; later passes run warm",
        "",
        "| table | median s | runs (s) |",
        "|---|---|---|",
    ]
    for name, values in runs.items():
        lines.append(
            f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

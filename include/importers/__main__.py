"""`python -m include.importers`: see the package docstring."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date, timedelta
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.importers", description=__package__)
    commands = parser.add_subparsers(dest="command", required=True)
    csv = commands.add_parser("csv", help="a CSV file into one source table")
    csv.add_argument("table")
    csv.add_argument("file", type=Path)
    csv.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=CSV_COLUMN",
        help="take a warehouse column from a CSV column of another name (repeatable)",
    )
    csv.add_argument("--time-format", help="strftime format of the timestamps (default: ISO 8601)")
    csv.add_argument("--replace", action="store_true", help="empty the table first")
    fraud = commands.add_parser("fraud", help="the public e-commerce fraud sample")
    fraud.add_argument("--data-dir", type=Path, default=None)
    fraud.add_argument("--chargeback-delay-days", type=int, default=30)
    sequences = commands.add_parser("sequences", help="review sequences (Amazon Beauty) as purchases")
    sequences.add_argument("--file", type=Path, default=None)
    sequences.add_argument(
        "--end",
        type=date.fromisoformat,
        default=date(2026, 8, 29),
        help="the day of every customer's last product (default 2026-08-29)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from include import warehouse

    started = time.perf_counter()
    if args.command == "csv":
        from include.importers.csv_tables import BadImport, load_table_csv

        try:
            mapping = dict(item.split("=", 1) for item in args.map)
        except ValueError:
            parser.error("--map takes COLUMN=CSV_COLUMN")
        try:
            loaded = load_table_csv(
                args.table, args.file, mapping=mapping, time_format=args.time_format, replace=args.replace
            )
        except BadImport as error:
            print(f"Not loaded: {error}", file=sys.stderr)
            return 2
        print(f"Loaded {loaded.rows:,} rows into {loaded.table} in {time.perf_counter() - started:.1f} s")
        if loaded.first_day is not None:
            print(
                f"They cover {loaded.first_day:%Y-%m-%d} to {loaded.last_day:%Y-%m-%d} and landed now: the next "
                "warehouse_validation run checks them with its own load, and the model DAGs read them after it."
            )
        return 0

    if args.command == "sequences":
        from include.importers.review_sequences import (
            CONTRACT,
            DEFAULT_FILE,
            BadSequences,
            load_review_sequences,
        )

        try:
            counts = load_review_sequences(warehouse.get_engine(), args.file or DEFAULT_FILE, end=args.end)
        except (BadSequences, FileNotFoundError) as error:
            print(f"Not loaded: {error}", file=sys.stderr)
            return 2
        print(
            f"Loaded {', '.join(f'{t} {n:,}' for t, n in counts.items())} in {time.perf_counter() - started:.1f} s; "
            f"every customer's last product is on {args.end}. Validate with "
            f"SHOPFLOW_CONTRACT={CONTRACT.relative_to(CONTRACT.parents[2])}, then run recommendations with "
            f"as_of {args.end + timedelta(days=1)} and holdout_days 1: its holdout is leave-one-out."
        )
        return 0

    from include.importers.fraud_sample import DEFAULT_DATA_DIR, describe_load, load_fraud_sample

    engine = warehouse.get_engine()
    counts = load_fraud_sample(
        engine, args.data_dir or DEFAULT_DATA_DIR, chargeback_delay_days=args.chargeback_delay_days
    )
    print(describe_load(engine, counts, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

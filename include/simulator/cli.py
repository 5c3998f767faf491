"""The command line (`python -m include.simulator`)."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, date, datetime, timedelta

from include import warehouse
from include.simulator.knobs import DEFAULT_SEED, DEFAULT_START
from include.simulator.loading import append_day, build_shop, catch_up
from include.simulator.presets import PRESETS

log = logging.getLogger(__name__)


def _day(text: str) -> date:
    """A day on the command line: YYYY-MM-DD, `today` or `yesterday` (UTC)."""
    today = datetime.now(UTC).date()
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    return named[text] if text in named else date.fromisoformat(text)


def main(argv: list[str] | None = None) -> int:
    """Command line: `build` a simulated shop or `append-day` to it."""
    parser = argparse.ArgumentParser(
        prog="python -m include.simulator",
        description="Build, extend or catch up the simulated shop in the warehouse.",
    )
    parser.add_argument("--url", help="SQLAlchemy URL of the warehouse (default: the warehouse connection)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every day")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write a new simulated shop")
    build.add_argument("--preset", default="small", choices=sorted(PRESETS))
    build.add_argument("--days", type=int, default=90)
    build.add_argument("--start", type=_day, help=f"the first day (default {DEFAULT_START})")
    build.add_argument("--end", type=_day, help="the last day instead, e.g. yesterday (a live shop)")
    build.add_argument("--seed", type=int, default=DEFAULT_SEED)
    build.add_argument("--replace", action="store_true", help="delete an existing shop first")
    append = commands.add_parser("append-day", help="write the next day of the shop")
    append.add_argument("--preset", choices=sorted(PRESETS), help="check the shop's preset")
    append.add_argument("--seed", type=int, help="check the shop's seed")
    catch = commands.add_parser("catch-up", help="append days until the shop reaches a day")
    catch.add_argument("--until", type=_day, default="yesterday", help="the last day (default yesterday)")
    for sub in (build, append, catch):
        sub.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    engine = warehouse.get_engine(args.url)
    began = datetime.now()
    try:
        if args.command == "build":
            if args.start is not None and args.end is not None:
                raise ValueError("Give --start or --end, not both")
            start = args.start or DEFAULT_START
            if args.end is not None:
                start = args.end - timedelta(days=args.days - 1)
            counts = build_shop(
                engine, args.preset, args.days, start=start, seed=args.seed, replace=args.replace
            )
            print(
                f"Built the {args.preset} shop in {warehouse.describe(engine)}: "
                + ", ".join(f"{table} {count:,}" for table, count in counts.items())
            )
        elif args.command == "append-day":
            day = append_day(engine, preset=args.preset, seed=args.seed)
            print(f"Appended {day} to the shop in {warehouse.describe(engine)}")
        else:
            days = catch_up(engine, args.until)
            print(
                f"Appended {len(days)} days to the shop in {warehouse.describe(engine)}, up to {args.until}"
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("Done in %.1f s", (datetime.now() - began).total_seconds())
    return 0

"""Order-risk candidates on the simulated small shop, through the real order_risk DAG with its
default parameters, judged on the holdout and on what they served.

    PYTHONPATH=. .venv/bin/python bench/bench_shop_risk.py [--days 150] [--out bench/results/shop_risk.md]

Builds `--days` of the small shop, and 60 days more, into a fresh SQLite warehouse and runs
order_risk as of the end of the first `--days` (it reads nothing later). The served figure
scores the orders the DAG published against the chargebacks that arrived in the 60 days after,
the label the models learn (about 85% of frauds end in one). Beside the candidates, scikit-learn's
HistGradientBoosting with its defaults is trained on the same rows (bench_fraud.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench_fraud import chargebacked_orders, night, prepare, write_report

# Days built after as_of, so that the served orders' chargebacks (7 to 56 days late) arrive.
LATER_DAYS = 60


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--out", default="bench/results/shop_risk.md")
    args = parser.parse_args()
    prepare(Path(tempfile.mkdtemp(prefix="shopflow-shop-risk-")))

    from include import simulator, warehouse

    started = time.perf_counter()
    counts = simulator.build_shop(warehouse.get_engine(), "small", args.days + LATER_DAYS, replace=True)
    build_seconds = time.perf_counter() - started
    frauds = chargebacked_orders()
    as_of = (simulator.DEFAULT_START + timedelta(days=args.days)).isoformat()
    # The DAG's defaults, spelled out: the steps are run again with them for the figures.
    defaults = {"maturity_days": 56, "holdout_days": 14, "recent_days": 7, "history_days": 180}
    section, _ = night(as_of, defaults, frauds)
    write_report(
        "Order risk on the simulated small shop",
        f"bench/bench_shop_risk.py --days {args.days}",
        f"Built {args.days} + {LATER_DAYS} days ({counts}) in {build_seconds:.0f} s; the DAG's "
        f"default parameters, as of day {args.days}; served orders judged by their chargebacks.",
        section,
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the order-risk backtest predict what is served, under drift? Over many campaign shops.

    PYTHONPATH=. .venv/bin/python bench/bench_risk_drift.py [--shops 30] [--out bench/results/risk_drift.md]

Each shop (tests/campaign_shops.py) has fraud in 20-day campaigns, so a model's skill fades with
the distance from its training data. For every shop: gradient boosting's backtest PR-AUC with
the gate's 95% interval (orders resampled by whole days) and its expected served range (that
interval widened by the scored orders' own noise); the served PR-AUC of the refit on the orders
it scores; and the replaced protocol (a holdout right after all labels known tonight). Reports
how often each range holds the served figure, and the mean error of each protocol.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import pandas as pd
from bench_fraud import write_report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shops", type=int, default=30)
    parser.add_argument("--out", default="bench/results/risk_drift.md")
    args = parser.parse_args()
    os.environ["SHOPFLOW_STAGING_DIR"] = tempfile.mkdtemp(prefix="shopflow-risk-drift-")
    from tests.campaign_shops import figures

    started = time.perf_counter()
    seeds = range(1, args.shops + 1)
    shops = pd.DataFrame([figures(seed) for seed in seeds], index=pd.Index(seeds, name="shop"))
    seconds = time.perf_counter() - started
    error = shops["backtest"] - shops["served"]
    optimism = shops["adjacent"] - shops["served"]
    n = len(shops)
    lines = [
        "| protocol | mean error vs served | mean abs error | served inside its 95% range |",
        "|---|---|---|---|",
        f"| backtest, holdout interval (the gate's) | {error.mean():+.3f} | {error.abs().mean():.3f} | "
        f"{int(shops['in_holdout_interval'].sum())} of {n} |",
        f"| backtest, expected served range | {error.mean():+.3f} | {error.abs().mean():.3f} | "
        f"{int(shops['in_served_range'].sum())} of {n} |",
        f"| replaced: holdout right after all known labels | {optimism.mean():+.3f} | "
        f"{optimism.abs().mean():.3f} | - |",
        "",
        "Per shop:",
        "",
        shops.round(3).to_markdown(),
        "",
    ]
    write_report(
        "Order-risk backtest against served figures under drift",
        f"bench/bench_risk_drift.py --shops {args.shops}",
        f"{n} campaign shops (90 days, 300 orders a day, 8% fraud; maturity 20, holdout 10, recent 10 "
        f"days), gradient boosting, {seconds:.0f} s in all.",
        lines,
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

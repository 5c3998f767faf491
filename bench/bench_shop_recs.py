"""Recommender candidates on a simulated shop, judged on the recommendations DAG's own holdout.

    PYTHONPATH=. .venv/bin/python bench/bench_shop_recs.py [--preset small] [--days 90]
        [--warehouse URL] [--candidates popularity item_knn ...] [--out bench/results/shop_recs.md]

Builds the shop into a fresh embedded warehouse (or reads the one `--warehouse` points at),
extracts with the DAG's SQL and defaults (90 days of history, the last 7 held out) and fits
every candidate on the interactions before the holdout. Each is judged like the promotion gate
judges it: NDCG@10 and Recall@10 over the holdout buyers, with the 95% bootstrap interval of
its gain over popularity (the gate's floor), paired over the same customers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

K = 10
HISTORY_DAYS = 90
HOLDOUT_DAYS = 7


def build(preset: str, days: int, url: str | None) -> tuple[str, datetime]:
    """The warehouse URL and the as_of just after the shop's last day."""
    from include import simulator, warehouse

    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='shopflow-bench-')}/warehouse.db"
        started = time.perf_counter()
        simulator.build_shop(warehouse.get_engine(url), preset, days)
        print(f"built the {preset} shop ({days} days) in {time.perf_counter() - started:.0f}s", flush=True)
    last = simulator.last_simulated_day(warehouse.get_engine(url))
    if last is None:
        raise SystemExit(f"{url} holds no simulated shop")
    return url, datetime(last.year, last.month, last.day) + timedelta(days=1)


def extract(as_of: datetime):
    from include import warehouse

    start, holdout_start = as_of - timedelta(days=HISTORY_DAYS), as_of - timedelta(days=HOLDOUT_DAYS)
    # Every row the simulator wrote up to as_of: the bench reads its own shop, not a gated one.
    train = warehouse.read_frame(
        "recommendations/extract_interactions", {"start": start, "end": holdout_start, "loaded_until": as_of}
    )
    holdout = warehouse.read_frame(
        "recommendations/extract_purchases", {"start": holdout_start, "end": as_of, "loaded_until": as_of}
    )
    return train, holdout, holdout_start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_shop_recs.py")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--warehouse", default=None, help="read this shop instead of building one")
    parser.add_argument("--candidates", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from include.models.catalogue import DEFAULT_CANDIDATES, FLOOR, model_class
    from include.models.recommender.evaluation import evaluate_recommender, holdout_customers
    from include.promotion import bootstrap, paired_interval

    url, as_of = build(args.preset, args.days, args.warehouse)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = url
    train, holdout, holdout_start = extract(as_of)
    customers = holdout_customers(train, holdout, as_of=holdout_start)
    print(f"{len(train)} training interactions, {len(customers)} holdout customers", flush=True)
    floor = FLOOR["recommender"]
    names = args.candidates or list(DEFAULT_CANDIDATES["recommender"])
    names = [floor, *[n for n in names if n != floor]]
    results, per_customer = {}, {}
    for name in names:
        model = model_class("recommender", name)()
        started = time.perf_counter()
        model.fit(train, as_of=holdout_start)
        fitted = time.perf_counter() - started
        started = time.perf_counter()
        result = evaluate_recommender(model, train, customers, K)
        results[name] = {**result.metrics, "fit_s": fitted, "score_s": time.perf_counter() - started}
        per_customer[name] = result.ndcg
        print(name, {k: round(float(v), 4) for k, v in results[name].items()}, flush=True)

    def mean_of(values):
        return lambda counts: float(counts @ values / counts.sum())

    draws = bootstrap({n: mean_of(v) for n, v in per_customer.items()}, len(customers), draws=1000, seed=0)
    estimates = {n: r["ndcg_at_k"] for n, r in results.items()}
    best = max(results, key=lambda n: results[n]["ndcg_at_k"])
    lines = [
        f"# Recommenders on the simulated {args.preset} shop, the DAG's time holdout",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        f"Command: `PYTHONPATH=. .venv/bin/python bench/bench_shop_recs.py {' '.join(sys.argv[1:])}`",
        "",
        f"{args.days} simulated days; trained on the {HISTORY_DAYS - HOLDOUT_DAYS} days before the holdout, "
        f"judged on the purchases of the last {HOLDOUT_DAYS} days ({len(customers)} customers, "
        f"{customers.cold} holdout buyers without history not judged). Every candidate with its defaults.",
        "",
        f"| candidate | NDCG@10 | × {floor} | gain over {floor} [95%] | of best | Recall@10 | fit (s) | score (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = results[floor]["ndcg_at_k"]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["ndcg_at_k"]):
        interval = (
            paired_interval(estimates, draws, name, floor, 0.95).signed().replace(", interval", "")
            if name != floor
            else ""
        )
        lines.append(
            f"| {name} | {r['ndcg_at_k']:.4f} | {r['ndcg_at_k'] / base:.2f} | {interval} | "
            f"{r['ndcg_at_k'] / results[best]['ndcg_at_k']:.0%} | {r['recall_at_k']:.4f} | "
            f"{r['fit_s']:.1f} | {r['score_s']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

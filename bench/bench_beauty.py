"""Recommender candidates on Amazon Beauty, leave-one-out, full ranking, beside the published figure.

    PYTHONPATH=. .venv/bin/python bench/bench_beauty.py [--data ../shared/data/amazon-beauty/Beauty.txt]
        [--candidates popularity item_knn ...] [--out bench/results/beauty.md]

The protocol of the sequential-recommendation literature (S3-Rec, ICLRec): each customer's last
product is the test item, ranked against every product (12,101), the customer's other products
excluded; NDCG@10 and HIT@10 over all 22,363 customers. Every candidate is fitted on each
customer's sequence without its last product and recommends from the same history. The file
has no timestamps: the k-th product from the end is dated k days before the cut, so recency
weighting counts steps. Published figure beside ours: ICLRec (2022), HIT@10 0.0744, NDCG@10
0.0403.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon-beauty" / "Beauty.txt"
CUT = datetime(2026, 1, 1)
K = 10
# Settings that fit the protocol, not tuned on the test items: EASE, linear_next (and the
# linear seed of the TensorFlow model) model every product and choose their penalty on each
# customer's second-to-last product (the protocol's validation item, one "day" before the
# cut). Everything else runs with its defaults.
CANDIDATE_SETTINGS = {
    "ease": {"max_products": 20_000, "validation_days": 1},
    "linear_next": {"max_products": 20_000, "validation_days": 1},
    "tf_next_item": {"max_products": 20_000},
}
PUBLISHED = {"ICLRec (2022, published)": {"ndcg_at_10": 0.0403, "hit_at_10": 0.0744}}


def load_sequences(path: Path) -> dict[int, list[int]]:
    """customer -> products in time order, from `<user> <item> <item> ...` lines."""
    sequences = {}
    for line in path.read_text().splitlines():
        ids = [int(x) for x in line.split()]
        if len(ids) >= 2:
            sequences[ids[0]] = ids[1:]
    return sequences


def split(sequences: dict[int, list[int]], holdout: int = 1):
    """(history interactions, test item per customer): the last `holdout` products are cut off
    and the first of them is the test item."""
    import pandas as pd

    rows = []
    tests = {}
    for customer, items in sequences.items():
        history, rest = items[:-holdout], items[-holdout:]
        tests[customer] = rest[0]
        for position, item in enumerate(history):
            rows.append((customer, item, len(history) - position))
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "steps_back"])
    frame["at"] = pd.Timestamp(CUT) - pd.to_timedelta(frame["steps_back"], unit="D")
    interactions = (
        frame.groupby(["customer_id", "product_id"], as_index=False)
        .agg(weight=("at", "size"), last_at=("at", "max"))
        .assign(purchases=lambda f: f["weight"])
    )
    interactions["weight"] = interactions["weight"].astype(float)
    return interactions, tests


def evaluate(model, interactions, tests: dict[int, int]) -> dict[str, float]:
    """NDCG@10 and HIT@10 over every customer (one relevant product each)."""
    import numpy as np

    from include.metrics import ndcg_values, recall_values

    customers = np.array(sorted(tests))
    recs = model.recommend(interactions, customers, K)
    lists = recs.groupby("customer_id")["product_id"].agg(list)
    recommended = [lists.get(c, []) for c in customers]
    relevant = [{tests[c]} for c in customers]
    return {
        "ndcg_at_10": float(ndcg_values(recommended, relevant, K).mean()),
        "hit_at_10": float(recall_values(recommended, relevant, K).mean()),
    }


def run_candidate(name: str, params: dict, interactions, tests) -> dict[str, float]:
    from include.models.catalogue import model_class

    model = model_class("recommender", name)(**params)
    started = time.perf_counter()
    model.fit(interactions, as_of=CUT)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    figures = evaluate(model, interactions, tests)
    figures.update(fit_s=fitted, score_s=time.perf_counter() - started)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_beauty.py")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--candidates", nargs="*", default=["popularity", "item_knn", "ease", "linear_next", "tf_next_item"]
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    sequences = load_sequences(args.data)
    interactions, tests = split(sequences)
    print(f"{len(sequences)} customers, {interactions['product_id'].nunique()} products in history")
    results = {}
    for name in args.candidates:
        results[name] = run_candidate(name, CANDIDATE_SETTINGS.get(name, {}), interactions, tests)
        print(name, {k: round(v, 4) for k, v in results[name].items()}, flush=True)

    lines = [
        "# Amazon Beauty, leave-one-out, full ranking",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        f"Command: `PYTHONPATH=. .venv/bin/python bench/bench_beauty.py {' '.join(sys.argv[1:])}`",
        "",
        f"Settings besides the defaults: {CANDIDATE_SETTINGS}.",
        "",
        "| candidate | NDCG@10 | HIT@10 | fit (s) | score (s) |",
        "|---|---|---|---|---|",
    ]
    for name, figures in PUBLISHED.items():
        lines.append(f"| {name} | {figures['ndcg_at_10']:.4f} | {figures['hit_at_10']:.4f} | | |")
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["ndcg_at_10"]):
        lines.append(
            f"| {name} | {r['ndcg_at_10']:.4f} | {r['hit_at_10']:.4f} | {r['fit_s']:.1f} | {r['score_s']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

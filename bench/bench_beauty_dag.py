"""Amazon Beauty through the pipeline itself: imported as review sequences, validated by the gate
under its own contract, and judged by the recommendations DAG, whose one-day time holdout is
then the literature's leave-one-out protocol (each customer's last product, full ranking,
earlier products excluded). bench/bench_beauty.py runs the candidates on the same protocol
outside Airflow.

    PYTHONPATH=. .venv/bin/python bench/bench_beauty_dag.py [--file ../shared/data/amazon-beauty/Beauty.txt]
        [--out bench/results/beauty_dag.md]

Everything runs in a temporary folder (embedded warehouse, Airflow home, models), twice: a cold
night, then the same night again, where every candidate starts from its first version.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_fraud import prepare  # noqa: E402

END = date(2026, 8, 29)
AS_OF = datetime(2026, 8, 30, tzinfo=UTC)
CONF = {"as_of": "2026-08-30", "holdout_days": 1, "history_days": 240, "active_days": 240}
PUBLISHED = {"ICLRec (2022, published)": (0.0403, 0.0744)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_beauty_dag.py")
    parser.add_argument(
        "--file", type=Path, default=ROOT.parent / "shared" / "data" / "amazon-beauty" / "Beauty.txt"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="beauty-dag-") as tmp:
        prepare(Path(tmp), contract=ROOT / "include" / "importers" / "review_sequences_contract.toml")
        from include import warehouse
        from include.dag_runs import run_dag
        from include.importers.review_sequences import load_review_sequences

        began = time.perf_counter()
        counts = load_review_sequences(warehouse.get_engine(), args.file, end=END)
        timings = {"import": time.perf_counter() - began}
        began = time.perf_counter()
        run_dag("warehouse_validation", logical_date=AS_OF)
        timings["validation (first night: the whole history)"] = time.perf_counter() - began
        for night in ("cold", "warm"):
            began = time.perf_counter()
            run_dag("recommendations", logical_date=AS_OF, conf=CONF)
            timings[f"recommendations, {night}"] = time.perf_counter() - began
        models = warehouse.read_frame(
            sql="SELECT run_id, candidate, primary_metric, primary_ci_low, primary_ci_high, metrics, decision, "
            "holdout_rows, params FROM model_versions WHERE role = 'candidate' ORDER BY trained_at"
        )
    runs = list(dict.fromkeys(models["run_id"]))
    lines = [
        "# Amazon Beauty through the recommendations DAG (leave-one-out as the DAG's holdout)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        f"Command: `PYTHONPATH=. .venv/bin/python bench/bench_beauty_dag.py {' '.join(argv or sys.argv[1:])}`",
        "",
        f"Imported: {json.dumps(counts)}. DAG conf: `{json.dumps(CONF)}`; every candidate with the "
        "DAG's default parameters.",
        "",
        "| candidate | NDCG@10 [95% interval] | HIT@10 | holdout customers | decision (cold) | decision (warm) |",
        "|---|---|---|---|---|---|",
    ]
    for name, (ndcg, hit) in PUBLISHED.items():
        lines.append(f"| {name} | {ndcg:.4f} | {hit:.4f} | | | |")
    cold = models[models["run_id"] == runs[0]].sort_values("primary_metric", ascending=False)
    warm = models[models["run_id"] == runs[-1]].set_index("candidate")
    for row in cold.itertuples():
        metrics = json.loads(row.metrics)
        lines.append(
            f"| {row.candidate} | {row.primary_metric:.4f} [{row.primary_ci_low:.4f}, {row.primary_ci_high:.4f}] "
            f"| {metrics['recall_at_k']:.4f} | {row.holdout_rows:,} | {row.decision} | {warm.loc[row.candidate, 'decision']} |"
        )
    warm_metrics = ", ".join(f"{c} {m:.4f}" for c, m in warm["primary_metric"].items())
    lines += ["", f"Warm night NDCG@10: {warm_metrics}.", "", "| stage | wall time (s) |", "|---|---|"]
    lines += [f"| {stage} | {seconds:.1f} |" for stage, seconds in timings.items()]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The recommendations DAG on the medium shop in PostgreSQL: two nights, stage by stage.

    PYTHONPATH=. .venv/bin/python bench/bench_medium_recs.py [--keep]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--out bench/results/medium_recs.md]

Builds 90 days of the medium shop (100k customers, 20k products, 5.5M events) into the database
`shopflow_bench` (reused with --keep), then runs the recommendations DAG with `dag.test()` for
two nights in a row, with every default candidate: the first night trains everything from
scratch; the second starts the champion's candidate from its weights (warm start) if it is
warm-startable. Records each task's duration from Airflow's task instances, each candidate's
NDCG@10 on its night's holdout, and the peak memory of the process that ran every task (an
upper bound on any one task's). Targets: the TensorFlow candidate ≤ 120 s cold and ≤ 40 s warm,
the whole DAG ≤ 5 minutes, no task above 4 GB.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def prepare_airflow(metadata_url: str | None = None) -> None:
    """A fresh Airflow home for dag.test(); its metadata in SQLite there unless `metadata_url`
    names another (empty) database."""
    home = Path(tempfile.mkdtemp(prefix="shopflow-bench-airflow-"))
    root = Path(__file__).resolve().parents[1]
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url or f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "SHOPFLOW_TASK_RETRIES": "0",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "GX_ANALYTICS_ENABLED": "False",
        }
    )
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=600)


def task_seconds(dag_run) -> dict[str, float]:
    """Seconds per task (mapped tasks: the sum over their instances, and how many)."""
    seconds: dict[str, float] = {}
    for ti in dag_run.get_task_instances():
        if ti.start_date is None or ti.end_date is None:
            continue
        name = ti.task_id
        if ti.task_id == "train_candidate":
            name = f"train_candidate[{ti.map_index}]"
        seconds[name] = seconds.get(name, 0.0) + (ti.end_date - ti.start_date).total_seconds()
    return seconds


def night(as_of: datetime) -> dict:
    from include import registry
    from include.dag_runs import run_dag

    # The gate passes the night's load first (the first night: the whole history), as the
    # schedule does; it is not part of the recommendations DAG's time.
    run_dag("warehouse_validation", logical_date=as_of)
    started = time.perf_counter()
    dag_run = run_dag("recommendations", logical_date=as_of, conf={"as_of": as_of.date().isoformat()})
    wall = time.perf_counter() - started
    runs = registry.history("recommender")
    tonight = runs[runs["run_id"] == dag_run.run_id]
    candidates = {}
    for _, row in tonight.iterrows():
        meta = json.loads(
            (registry.artifact_dir("recommender", row["model_version"]) / "meta.json").read_text()
        )
        candidates[f"{row['candidate']} ({row['role']})"] = {
            "ndcg": row["primary_metric"],
            "decision": row["decision"],
            "warm_generation": meta["fitted"].get("warm_generation"),
        }
    return {"wall": wall, "tasks": task_seconds(dag_run), "candidates": candidates}


def tf_cold_and_warm(first: datetime, second: datetime) -> dict[str, dict]:
    """tf_next_item on night two's training data, from scratch and warm-started from night
    one's, each judged on night two's holdout."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_shop_recs import extract

    from include.models.recommender.evaluation import evaluate_recommender, holdout_customers
    from include.models.recommender.tf_next_item import TFNextItemRecommender

    naive = [d.replace(tzinfo=None) for d in (first, second)]
    train_1, _, start_1 = extract(naive[0])
    train_2, holdout_2, start_2 = extract(naive[1])
    customers = holdout_customers(train_2, holdout_2, as_of=start_2)
    previous = TFNextItemRecommender().fit(train_1, as_of=start_1)
    results = {}
    for name in ("cold", "warm"):
        model = TFNextItemRecommender()
        if name == "warm" and not model.warm_start(previous):
            raise RuntimeError("the warm start was refused")
        started = time.perf_counter()
        model.fit(train_2, as_of=start_2)
        seconds = time.perf_counter() - started
        metrics = evaluate_recommender(model, train_2, customers, 10).metrics
        results[name] = {"fit_s": seconds, "ndcg": metrics["ndcg_at_k"], "epochs": model.fitted["epochs"]}
        print("tf_next_item", name, results[name], flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_medium_recs.py")
    parser.add_argument("--keep", action="store_true", help="reuse shopflow_bench if it holds the shop")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default="bench/results/medium_recs.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    os.environ["SHOPFLOW_VAR_DIR"] = tempfile.mkdtemp(prefix="shopflow-bench-var-")
    prepare_airflow()
    from medium_shop import medium_shop, reset_outputs

    engine, last, build_seconds = medium_shop(args.admin_url, days=91, keep=args.keep)
    if build_seconds is None:
        reset_outputs(engine)
    print(f"shop ready (last day {last}); built in {build_seconds}", flush=True)
    # Night one ends a day before the last simulated day, night two on it.
    second = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    nights = {"night 1 (cold)": night(second - timedelta(days=1)), "night 2": night(second)}
    tf_runs = tf_cold_and_warm(second - timedelta(days=1), second)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    lines = [
        "# The recommendations DAG on the medium shop, PostgreSQL, two nights",
        "",
        "- command: `PYTHONPATH=. .venv/bin/python bench/bench_medium_recs.py`",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "PostgreSQL on the same machine",
        f"- shop: medium preset, 91 days{f', built in {build_seconds:.0f} s' if build_seconds else ''}; "
        "every task runs in one process with `dag.test()`, one after another",
        f"- peak memory of that process (bounds every task): {peak_gb:.2f} GB",
        "",
        "| task | " + " | ".join(nights) + " |",
        "|---|" + "---|" * len(nights),
    ]
    tasks = list(dict.fromkeys(t for n in nights.values() for t in n["tasks"]))
    for task in tasks:
        cells = [f"{n['tasks'][task]:.1f}" if task in n["tasks"] else "" for n in nights.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines.append(
        "| **whole DAG (wall)** | " + " | ".join(f"**{n['wall']:.1f}**" for n in nights.values()) + " |"
    )
    lines += ["", "| candidate | " + " | ".join(nights) + " |", "|---|" + "---|" * len(nights)]
    names = list(dict.fromkeys(c for n in nights.values() for c in n["candidates"]))
    for name in names:
        cells = []
        for n in nights.values():
            c = n["candidates"].get(name)
            if c is None:
                cells.append("")
                continue
            metric = "" if c["ndcg"] is None or c["ndcg"] != c["ndcg"] else f"NDCG@10 {c['ndcg']:.4f}, "
            warm = "" if c["warm_generation"] is None else f", warm generation {c['warm_generation']}"
            cells.append(f"{metric}{c['decision']}{warm}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "tf_next_item alone on night two's training data (same process, one after the other), "
        "judged on night two's holdout:",
        "",
        "| start | fit (s) | passes | NDCG@10 |",
        "|---|---|---|---|",
    ]
    for name, r in tf_runs.items():
        lines.append(f"| {name} | {r['fit_s']:.1f} | {r['epochs']} | {r['ndcg']:.4f} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

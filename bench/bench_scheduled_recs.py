"""The recommendations DAG on the medium shop under Airflow's own scheduler, two nights.

    PYTHONPATH=. .venv/bin/python bench/bench_scheduled_recs.py [--keep]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--out bench/results/scheduled_recs.md]

Builds 90 days of the medium shop (100k customers, 20k products, 5.5M events) into the database
`shopflow_bench` (reused with --keep), then starts `airflow standalone` (scheduler, DAG
processor, triggerer and API server, LocalExecutor), as `make airflow` runs it, with the
deployment's defaults: the heavy-task pool runs two tasks at once, each with one thread of the
two cores (SHOPFLOW_TASKS_AT_ONCE=2). Each night is a manual run of warehouse_validation for
that day, whose Assets trigger the recommendations DAG as the nightly schedule does (order_risk
stays paused, so the two cores are the recommendations DAG's alone). The first night trains
every default candidate from scratch; the second starts each candidate from its own version of
the first where the model can (the TensorFlow model from its weights, EASE and linear_next from
their λ).

Records the recommendations run's wall time (its start to its end, as Airflow records them),
each task's duration, the peak resident memory of each task's process (VmHWM of the process
titled `airflow worker -- <task instance id>`, read every 0.2 s while it lives, so growth in its
last 0.2 s can be missed), and each candidate's NDCG@10 and decision. Targets: the whole DAG
≤ 5 minutes, no task above 4 GB.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from tests.e2e.servers import ApiClient, free_port, running, standalone_env  # noqa: E402

USER, PASSWORD = "admin", "bench"
TITLE = "airflow worker -- "


class PeakMemory:
    """Peak resident memory (GB) of every task process, by task instance id, sampled from
    /proc in a background thread."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peaks, self._stop = every, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    if not title.startswith(TITLE):
                        continue
                    status = (proc / "status").read_text()
                except OSError:  # ended meanwhile
                    continue
                kb = next(
                    (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0
                )
                ti = title[len(TITLE) :].split()[0]
                self.peaks[ti] = max(self.peaks.get(ti, 0.0), kb / 1024**2)


def new_run(api: ApiClient, dag_id: str, seen: set[str]) -> str:
    """The id of the first run of `dag_id` not in `seen`, once it exists."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=run_after")["dag_runs"]
        fresh = [r["dag_run_id"] for r in runs if r["dag_run_id"] not in seen]
        if fresh:
            return fresh[0]
        time.sleep(2)
    raise RuntimeError(f"no new {dag_id} run within 300 s")


def night(api: ApiClient, as_of: datetime, memory: PeakMemory, seen: set[str]) -> dict:
    from include import registry

    validation = api.call(
        "POST", "/api/v2/dags/warehouse_validation/dagRuns", {"logical_date": as_of.isoformat()}
    )
    api.finished_run("warehouse_validation", validation["dag_run_id"])
    run_id = new_run(api, "recommendations", seen)
    seen.add(run_id)
    run = api.finished_run("recommendations", run_id)
    wall = (
        datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
    ).total_seconds()
    instances = api.call("GET", f"/api/v2/dags/recommendations/dagRuns/{run_id}/taskInstances?limit=100")
    tasks = {}
    for ti in instances["task_instances"]:
        if ti["start_date"] is None or ti["end_date"] is None:
            continue
        name = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
        seconds = (
            datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])
        ).total_seconds()
        tasks[name] = {"seconds": seconds, "peak_gb": memory.peaks.get(ti["id"])}
    history = registry.history("recommender")
    tonight = history[history["run_id"] == run_id]
    candidates = {
        f"{row['candidate']} ({row['role']})": f"NDCG@10 {row['primary_metric']:.4f}, {row['decision']}"
        if row["primary_metric"] == row["primary_metric"]
        else row["decision"]
        for _, row in tonight.iterrows()
    }
    return {"wall": wall, "tasks": tasks, "candidates": candidates, "as_of": as_of.date()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_scheduled_recs.py")
    parser.add_argument("--keep", action="store_true", help="reuse shopflow_bench if it holds the shop")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", default="bench/results/scheduled_recs.md")
    args = parser.parse_args()

    var_dir = tempfile.mkdtemp(prefix="shopflow-bench-var-")
    home = Path(tempfile.mkdtemp(prefix="shopflow-bench-airflow-"))
    # This process reads the warehouse and the model registry, as the servers do.
    os.environ.update({"SHOPFLOW_VAR_DIR": var_dir, "AIRFLOW_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"})
    from medium_shop import medium_shop, reset_outputs

    engine, last, build_seconds = medium_shop(args.admin_url, days=91, keep=args.keep)
    if build_seconds is None:
        reset_outputs(engine)
    url = engine.url.render_as_string(hide_password=False)
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = url
    print(f"shop ready (last day {last}); built in {build_seconds}", flush=True)

    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = standalone_env(
        home,
        port,
        USER,
        PASSWORD,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_WAREHOUSE=url,
        SHOPFLOW_VAR_DIR=var_dir,
        SHOPFLOW_TASK_RETRIES="0",
        # No fire time since the DAGs' start date: unpaused, validation runs only when asked.
        SHOPFLOW_VALIDATION_CRON="0 0 29 2 *",
    )
    for command in ([str(bin_dir / "airflow"), "db", "migrate"], [sys.executable, "-m", "include.pools"]):
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    base = f"http://127.0.0.1:{port}"
    log = home / "standalone.log"
    # Night one ends a day before the last simulated day, night two on it.
    second = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    with (
        running(
            [str(bin_dir / "airflow"), "standalone"],
            env=env,
            log=log,
            health_url=f"{base}/api/v2/monitor/health",
        ),
        PeakMemory() as memory,
    ):
        api = ApiClient(base, log, home, USER, PASSWORD)
        for dag_id in ("warehouse_validation", "recommendations"):
            api.unpause(dag_id)
        seen: set[str] = set()
        nights = {
            "night 1 (cold)": night(api, second - timedelta(days=1), memory, seen),
            "night 2": night(api, second, memory, seen),
        }

    lines = [
        "# The recommendations DAG on the medium shop under Airflow's scheduler, two nights",
        "",
        "- command: `PYTHONPATH=. .venv/bin/python bench/bench_scheduled_recs.py`",
        f"- when: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "PostgreSQL on the same machine",
        f"- shop: medium preset, 91 days{f', built in {build_seconds:.0f} s' if build_seconds else ''}; "
        "`airflow standalone` (LocalExecutor), two heavy tasks at once with one thread each; "
        "each night triggered by its validation run's Assets",
        "",
        "| task | " + " | ".join(f"{n} s | {n} peak GB" for n in nights) + " |",
        "|---|" + "---|---|" * len(nights),
    ]
    names = sorted({t for n in nights.values() for t in n["tasks"]})
    for task in names:
        cells = []
        for n in nights.values():
            t = n["tasks"].get(task)
            cells += (
                ["", ""]
                if t is None
                else [f"{t['seconds']:.1f}", f"{t['peak_gb']:.2f}" if t["peak_gb"] else "?"]
            )
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    walls = [cell for n in nights.values() for cell in (f"**{n['wall']:.1f}**", "")]
    lines.append("| **whole DAG (wall)** | " + " | ".join(walls) + " |")
    peaks = [t["peak_gb"] for n in nights.values() for t in n["tasks"].values() if t["peak_gb"]]
    lines += ["", f"Peak memory of any task: {max(peaks):.2f} GB.", ""]
    lines += ["| candidate | " + " | ".join(nights) + " |", "|---|" + "---|" * len(nights)]
    for name in dict.fromkeys(c for n in nights.values() for c in n["candidates"]):
        lines.append(
            f"| {name} | " + " | ".join(n["candidates"].get(name, "") for n in nights.values()) + " |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

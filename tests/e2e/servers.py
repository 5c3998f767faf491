"""Airflow's own server processes for the tests that need them: started in a process group of
their own on a free local port, and stopped with every child they forked (API server workers,
the scheduler's task processes)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

# The whole cascade on the tiny shop takes a few minutes on 2 cores; a stuck run fails the test.
WAIT_SECONDS = 900


def server_env(folder: Path, user: str, password: str, **settings: str) -> dict[str, str]:
    """The environment of Airflow servers for a test: the test's own (warehouse connection, var
    folder), this project's code and plugins, one user with a known password (its file written
    in `folder`), a fresh JWT secret, and `settings` over all of it."""
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({user: password}))
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(48).hex(),
        **settings,
    }


def standalone_env(home: Path, port: int, user: str, password: str, **settings: str) -> dict[str, str]:
    """The environment of `airflow standalone` as `make airflow` runs it (LocalExecutor, its
    metadata in SQLite in `home`, this project's DAGs), its API on 127.0.0.1:`port`, and
    `settings` over all of it."""
    return server_env(
        home,
        user,
        password,
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        **settings,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def running(
    command: list[str],
    *,
    env: Mapping[str, str],
    log: Path,
    health_url: str | None = None,
    ready_text: str | None = None,
    start_seconds: float = 240,
) -> Iterator[None]:
    """Run `command` until the block ends; fail the test if it is not ready in time: when
    `health_url` answers, or `ready_text` appears in its output (else at once)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + start_seconds
            while not (
                (health_url is None or _answers(health_url))
                and (ready_text is None or ready_text in log.read_text(errors="replace"))
            ):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command[-2:])} did not start:\n{log.read_text()[-4000:]}")
                time.sleep(1)
            yield
        finally:
            _stop_group(process)


class ApiClient:
    """A logged-in client of a running Airflow's REST API (`/api/v2`, token from `/auth/token`);
    `log` is the server's output, shown when a run fails."""

    def __init__(self, base: str, log: Path, home: Path, user: str, password: str) -> None:
        self.base, self.log, self.home = base, log, home
        token = self.call("POST", "/auth/token", {"username": user, "password": password}, auth=False)
        self.token = token["access_token"]

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def unpause(self, dag_id: str) -> None:
        deadline = time.monotonic() + 180
        while True:  # the DAG processor has to parse the file first
            try:
                self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                return
            except urllib.error.HTTPError as error:
                if error.code != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def finished_run(self, dag_id: str, run_id: str | None = None) -> dict[str, Any]:
        """The DAG's run `run_id` (else its first), once it has finished; fails the test if it
        did not succeed."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            runs = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=run_after")["dag_runs"]
            runs = [r for r in runs if run_id is None or r["dag_run_id"] == run_id]
            if runs and runs[0]["state"] in {"success", "failed"}:
                run = runs[0]
                if run["state"] != "success":
                    tasks = self.call(
                        "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances"
                    )
                    states = {t["task_id"]: t["state"] for t in tasks["task_instances"]}
                    pytest.fail(f"{dag_id} {run['dag_run_id']} failed: {states}\n{self.tail()}")
                return run
            time.sleep(3)
        pytest.fail(f"{dag_id} did not finish within {WAIT_SECONDS} s\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, SIGKILL to what is left after 60 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # anyone left in the group?
        except ProcessLookupError:
            return
        time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)

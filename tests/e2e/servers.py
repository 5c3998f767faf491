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
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import ROOT


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(
    command: list[str], *, env: Mapping[str, str], log: Path, health_url: str, start_seconds: float = 240
) -> Iterator[None]:
    """Run `command` until the block ends; fail the test if `health_url` does not answer in time."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + start_seconds
            while True:
                try:
                    with urllib.request.urlopen(health_url, timeout=5):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"{' '.join(command[-2:])} did not start:\n{log.read_text()[-4000:]}")
                    time.sleep(1)
            yield
        finally:
            _stop_group(process)


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

"""Deployment settings: where the project keeps its files, read from the environment.

Everything here is cheap to import and has no side effects; folders are created by the code
that writes into them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def var_dir() -> Path:
    """The folder for local state: embedded warehouse, staged extracts, model artifacts."""
    return Path(os.environ.get("SHOPFLOW_VAR_DIR", PROJECT_ROOT / "var")).resolve()


def default_warehouse_path() -> Path:
    """The file of the embedded SQLite warehouse (the Makefile points the connection at it)."""
    return var_dir() / "warehouse.db"


def default_warehouse_url() -> str:
    """The URL of the embedded SQLite warehouse."""
    return f"sqlite:///{default_warehouse_path()}"


def staging_location() -> str:
    """Root of the run-scoped Parquet extracts: `SHOPFLOW_STAGING_DIR`, a folder every worker
    shares or an object store URL (include/store.py); default `<var>/staging`."""
    return os.environ.get("SHOPFLOW_STAGING_DIR", "").strip() or str(var_dir() / "staging")


def staging_keep_days() -> float:
    """How long a run's staged files are kept (SHOPFLOW_STAGING_KEEP_DAYS, default 7 days)."""
    return float(os.environ.get("SHOPFLOW_STAGING_KEEP_DAYS", "7") or 7)


def model_location() -> str:
    """Root of the saved model artifacts: `SHOPFLOW_MODEL_DIR`, a folder every worker shares or
    an object store URL (include/store.py); default `<var>/models`."""
    return os.environ.get("SHOPFLOW_MODEL_DIR", "").strip() or str(var_dir() / "models")


def switched_on(variable: str) -> bool:
    """Whether the on/off setting `variable` is on: it is unless set to off, 0, false or no."""
    return os.environ.get(variable, "on").strip().lower() not in {"off", "0", "false", "no"}


def data_docs_enabled() -> bool:
    """Whether each validation renders Great Expectations' Data Docs (`SHOPFLOW_DATA_DOCS`,
    default on; `off` saves about two thirds of each table's validation time, the verdicts and
    the quarantine are the same)."""
    return switched_on("SHOPFLOW_DATA_DOCS")


def validation_cron() -> str:
    """When the nightly validation fires (UTC cron; `SHOPFLOW_VALIDATION_CRON`, default 00:30).

    It validates the whole day that ended before, so the time after midnight is the grace
    period the shop's loads of that day have to land (the live shop appends at 00:05).
    """
    return os.environ.get("SHOPFLOW_VALIDATION_CRON", "30 0 * * *").strip() or "30 0 * * *"


# Tasks expected to run at once on one worker (the model DAGs train their candidates side by side).
DEFAULT_TASKS_AT_ONCE = 2


def thread_budget() -> int:
    """Threads a task's heavy libraries may use (TensorFlow, scikit-learn's OpenMP, BLAS).

    `SHOPFLOW_THREADS` if set; otherwise the task's share of the machine: its cores divided
    among `SHOPFLOW_TASKS_AT_ONCE` tasks (default 2), at least 1. Libraries left to their own
    defaults each take every core, and tasks sharing the cores then slow each other down
    many times over.
    """
    explicit = int(os.environ.get("SHOPFLOW_THREADS", "0") or 0)
    if explicit > 0:
        return explicit
    return max(1, (os.cpu_count() or 1) // tasks_at_once())


def tasks_at_once() -> int:
    """Heavy tasks one worker runs at once (`SHOPFLOW_TASKS_AT_ONCE`, default 2): the slots of
    the heavy-task pool (include/pools.py), and what each task's thread budget divides by."""
    return max(1, int(os.environ.get("SHOPFLOW_TASKS_AT_ONCE", DEFAULT_TASKS_AT_ONCE)))


def code_version() -> str:
    """The version of the pipeline code, recorded with every model (git commit if known)."""
    explicit = os.environ.get("SHOPFLOW_CODE_VERSION")
    if explicit:
        return explicit
    head = PROJECT_ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref_path = PROJECT_ROOT / ".git" / ref[5:]
            if ref_path.exists():
                return ref_path.read_text().strip()[:12]
            return "unknown"
        return ref[:12]
    except OSError:
        return "unknown"

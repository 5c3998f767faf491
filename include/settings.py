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


def default_warehouse_url() -> str:
    """The embedded SQLite warehouse used when no `warehouse` connection is configured."""
    return f"sqlite:///{var_dir() / 'warehouse.db'}"


def staging_root() -> str:
    """Root URL for run-scoped Parquet extracts (a local folder or any fsspec URL)."""
    return os.environ.get("SHOPFLOW_STAGING_URL", (var_dir() / "staging").as_uri())


def model_store_root() -> str:
    """Root URL for saved model artifacts."""
    return os.environ.get("SHOPFLOW_MODEL_STORE_URL", (var_dir() / "models").as_uri())

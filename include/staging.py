"""Run-scoped staging of extracts and scores as Parquet files.

XCom carries the paths this module returns, never the frames themselves. Every run writes
under its own folder, so a re-run of a data interval never mixes with another run's files.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from include import settings

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _safe(name: str) -> str:
    """A folder name that stays inside its parent: no separators, no leading dots."""
    return _UNSAFE.sub("_", name).lstrip(".") or "_"


def run_dir(dag_id: str, run_id: str) -> Path:
    """The staging folder of one DAG run."""
    return settings.staging_dir() / _safe(dag_id) / _safe(run_id)


def write_parquet(frame: pd.DataFrame, dag_id: str, run_id: str, name: str) -> str:
    """Write `frame` as `<run_dir>/<name>.parquet` and return the path (for XCom)."""
    path = run_dir(dag_id, run_id) / f"{_UNSAFE.sub('_', name)}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)  # a reader never sees a half-written file
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("Staged %s rows at %s", len(frame), path)
    return str(path)


def read_parquet(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a staged frame."""
    import pandas as pd

    return pd.read_parquet(path, columns=columns)


# A `.parquet.tmp` untouched this long belongs to a writer that died (a write in progress
# keeps touching its file).
ABANDONED_TMP_SECONDS = 3600


def prune(dag_id: str, keep_days: float | None = None) -> int:
    """Delete staging folders of `dag_id` older than `keep_days` (default: the
    SHOPFLOW_STAGING_KEEP_DAYS setting) and abandoned `.parquet.tmp` files in the others;
    returns how many folders went. Each model DAG's extract calls it, so staging does not grow."""
    root = settings.staging_dir() / _safe(dag_id)
    if not root.exists():
        return 0
    now = time.time()
    cutoff = now - (settings.staging_keep_days() if keep_days is None else keep_days) * 86400
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            continue
        for tmp in folder.glob("*.parquet.tmp"):
            if tmp.stat().st_mtime < now - ABANDONED_TMP_SECONDS:
                tmp.unlink(missing_ok=True)
                log.info("Removed %s, left by a write that did not finish", tmp)
    if removed:
        log.info("Pruned %s staging folders of %s older than the keep period", removed, dag_id)
    return removed

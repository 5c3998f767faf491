"""Run-scoped staging of extracts and scores as Parquet files.

XCom carries the locations this module returns, never the frames themselves. Every run writes
under its own folder, so a re-run of a data interval never mixes with another run's files.
The root is a shared folder or an object store (include/store.py): a shard scored on one
worker is published from another.
"""

from __future__ import annotations

import io
import logging
import re
import time
from typing import TYPE_CHECKING

from include import settings, store

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _safe(name: str) -> str:
    """A folder name that stays inside its parent: no separators, no leading dots."""
    return _UNSAFE.sub("_", name).lstrip(".") or "_"


def run_dir(dag_id: str, run_id: str) -> ObjectStoragePath:
    """The staging folder of one DAG run."""
    return store.staging_root() / _safe(dag_id) / _safe(run_id)


def write_parquet(frame: pd.DataFrame, dag_id: str, run_id: str, name: str) -> str:
    """Write `frame` as `<run_dir>/<name>.parquet` and return its location (for XCom).

    A reader never sees a half-written file: a local file is written beside and renamed into
    place, an object store makes an object visible only once its upload completes.
    """
    path = run_dir(dag_id, run_id) / f"{_UNSAFE.sub('_', name)}.parquet"
    if store.is_local(path):
        local = store.local_path(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_suffix(".parquet.tmp")
        try:
            frame.to_parquet(tmp, index=False)
            tmp.replace(local)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        path.write_bytes(buffer.getvalue())
    log.info("Staged %s rows at %s", len(frame), path)
    return store.uri(path)


def read_parquet(location: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a staged frame from the location `write_parquet` returned."""
    import pandas as pd

    path = store.location(location)
    if store.is_local(path):
        return pd.read_parquet(store.local_path(path), columns=columns)
    return pd.read_parquet(io.BytesIO(path.read_bytes()), columns=columns)


# A `.parquet.tmp` untouched this long belongs to a writer that died (a write in progress
# keeps touching its file).
ABANDONED_TMP_SECONDS = 3600


def prune(dag_id: str, keep_days: float | None = None) -> int:
    """Delete staging folders of `dag_id` whose newest file is older than `keep_days` (default:
    the SHOPFLOW_STAGING_KEEP_DAYS setting) and abandoned `.parquet.tmp` files in the others;
    returns how many folders went. Each model DAG's extract calls it, so staging does not grow."""
    root = store.staging_root() / _safe(dag_id)
    if not root.exists():
        return 0
    now = time.time()
    cutoff = now - (settings.staging_keep_days() if keep_days is None else keep_days) * 86400
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        files = {file: file.stat().st_mtime for file in folder.iterdir() if file.is_file()}
        if max(files.values(), default=0) < cutoff:
            folder.rmdir(recursive=True)
            removed += 1
            continue
        for file, modified in files.items():
            if file.name.endswith(".parquet.tmp") and modified < now - ABANDONED_TMP_SECONDS:
                file.unlink(missing_ok=True)
                log.info("Removed %s, left by a write that did not finish", file)
    if removed:
        log.info("Pruned %s staging folders of %s older than the keep period", removed, dag_id)
    return removed

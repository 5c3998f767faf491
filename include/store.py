"""Where staged extracts and model artifacts live: a local folder by default, any object store by
configuration, through Airflow's ObjectStoragePath.

`SHOPFLOW_STAGING_DIR` and `SHOPFLOW_MODEL_DIR` take a folder (`/srv/shopflow/staging`; default
under `SHOPFLOW_VAR_DIR`) or a URL (`s3://bucket/shopflow/staging`, or `gs://`, `abfs://` with
that store's Airflow provider installed). `SHOPFLOW_STORE_CONN_ID` names the Airflow connection
that holds a remote store's credentials and endpoint (for S3-compatible stores such as MinIO,
an `aws` connection whose extra has `endpoint_url`); without it the provider's default applies.

Tasks hand work to each other through these roots: XCom and the model registry carry the
location of each file or folder as a string (`uri`), a plain path for a local store and a URL
naming the connection for a remote one, so a task on one host reads what a task on another
wrote.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from include import settings

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

LOCAL_PROTOCOLS = frozenset({"file", "local"})
# Written last into a downloaded folder: a folder without it is an interrupted download.
_COMPLETE = ".complete"


def store_conn_id() -> str | None:
    """The Airflow connection of remote stores (`SHOPFLOW_STORE_CONN_ID`), or None."""
    return os.environ.get("SHOPFLOW_STORE_CONN_ID", "").strip() or None


def root(value: str | Path) -> ObjectStoragePath:
    """The ObjectStoragePath of a configured root: a folder (made absolute) or a URL, reached
    through `SHOPFLOW_STORE_CONN_ID`."""
    from airflow.sdk import ObjectStoragePath

    if "://" not in str(value):
        return location(value)
    return ObjectStoragePath(str(value), conn_id=store_conn_id())


def staging_root() -> ObjectStoragePath:
    """Root of the run-scoped Parquet extracts and scores."""
    return root(settings.staging_location())


def model_root() -> ObjectStoragePath:
    """Root of the saved model artifacts."""
    return root(settings.model_location())


def location(uri: str | Path | ObjectStoragePath) -> ObjectStoragePath:
    """The ObjectStoragePath of a location handed over in XCom or the registry (see `uri`)."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(uri, ObjectStoragePath):
        return uri
    text = str(uri)
    if "://" not in text:
        return ObjectStoragePath(Path(text).resolve().as_uri())
    return ObjectStoragePath(text)  # a remote URL carries its connection (`s3://conn@bucket/…`)


def is_local(path: ObjectStoragePath) -> bool:
    """Whether `path` is on this machine's file system."""
    return path.protocol in LOCAL_PROTOCOLS


def local_path(path: ObjectStoragePath) -> Path:
    """The file system path of a local location."""
    if not is_local(path):
        raise ValueError(f"{path} is not on the local file system")
    return Path(path.path)


def uri(path: ObjectStoragePath) -> str:
    """The string that hands `path` over: a plain path when local, else the URL with its
    connection, both read back by `location`."""
    return str(local_path(path)) if is_local(path) else str(path)


def inside(path: ObjectStoragePath, parent: ObjectStoragePath) -> bool:
    """Whether `path` lies under `parent` on the same store (local symbolic links resolved)."""
    if is_local(path) != is_local(parent):
        return False
    if is_local(path):
        return local_path(path).resolve().is_relative_to(local_path(parent).resolve())
    if path.protocol != parent.protocol:
        return False
    parts, parent_parts = Path(path.path).parts, Path(parent.path).parts
    return ".." not in parts and parts[: len(parent_parts)] == parent_parts


@contextmanager
def writable_folder(target: ObjectStoragePath) -> Iterator[Path]:
    """A local folder to write a set of files into; they are at `target` when the block ends.

    On a local store it is `target` itself. On a remote store the files are written to a
    temporary folder and uploaded when the block ends, `meta.json` last: a model folder that
    has it is complete.
    """
    if is_local(target):
        folder = local_path(target)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="shopflow-upload-") as tmp:
        yield Path(tmp)
        files = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
        # meta.json marks a complete model folder (include/models/base.py): it goes last.
        files.sort(key=lambda p: p.name == "meta.json")
        for file in files:
            destination = target / file.relative_to(tmp).as_posix()
            with file.open("rb") as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink, length=8 << 20)
        log.info("Uploaded %s files to %s", len(files), target)


def readable_folder(source: ObjectStoragePath) -> Path:
    """A local folder holding the files under `source`.

    On a local store it is the folder itself. A remote folder is downloaded once into
    `<SHOPFLOW_VAR_DIR>/cache/<hash of its URL>` and read from there afterwards: model
    versions never change once written, so the copy stays valid.
    """
    if is_local(source):
        return local_path(source)
    cache = settings.var_dir() / "cache" / hashlib.sha256(str(source).encode()).hexdigest()[:24]
    if (cache / _COMPLETE).exists():
        (cache / _COMPLETE).touch()  # in use: kept by `prune_cache`
        return cache
    prune_cache()
    shutil.rmtree(cache, ignore_errors=True)
    if not source.exists():
        raise FileNotFoundError(f"nothing stored at {source}")
    partial = cache.with_name(cache.name + f".{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    count = 0
    for item in source.rglob("*"):
        if item.is_dir():
            continue
        destination = partial / Path(item.path).relative_to(source.path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with item.open("rb") as stream, destination.open("wb") as sink:
            shutil.copyfileobj(stream, sink, length=8 << 20)
        count += 1
    if count == 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise FileNotFoundError(f"nothing stored at {source}")
    (partial / _COMPLETE).touch()
    try:
        partial.rename(cache)
    except OSError:  # another process finished the same download first
        shutil.rmtree(partial, ignore_errors=True)
    log.info("Downloaded %s files from %s to %s", count, source, cache)
    return cache


def prune_cache(keep_days: float | None = None) -> int:
    """Delete local copies of remote folders not read for `keep_days` (default: the staging
    keep period, SHOPFLOW_STAGING_KEEP_DAYS), so a worker's disk does not fill with old model
    versions; returns how many went. Runs before each download."""
    root = settings.var_dir() / "cache"
    if not root.is_dir():
        return 0
    cutoff = time.time() - (settings.staging_keep_days() if keep_days is None else keep_days) * 86400
    removed = 0
    for folder in root.iterdir():
        marker = folder / _COMPLETE
        # A folder without its marker is a download in progress (or one that died): by its own age.
        touched = (marker if marker.exists() else folder).stat().st_mtime
        if folder.is_dir() and touched < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        log.info("Removed %s local copies of models not read for the keep period", removed)
    return removed


def prepare() -> list[str]:
    """Create the staging and model roots (and an object store's bucket) if missing; returns
    them. Deployments run it once before the first night (`python -m include.store prepare`)."""
    roots = [staging_root(), model_root()]
    for path in roots:
        path.mkdir(parents=True, exist_ok=True)
    return [uri(path) for path in roots]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m include.store", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["prepare"], help="prepare: create the staging and model roots")
    parser.parse_args(argv)
    for root_uri in prepare():
        print(root_uri)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

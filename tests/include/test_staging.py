"""Run-scoped Parquet staging: round trip, safe folder names, complete files only, pruning."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from include import staging, store

DAG_ID = "recommendations"
RUN_ID = "manual__2026-08-30T00:00:00+00:00"


@pytest.fixture(autouse=True)
def staging_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "staging"
    monkeypatch.setenv("SHOPFLOW_STAGING_DIR", str(root))
    return root


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "score": [0.5, 0.25, None],
            "source": ["model", "popular", None],
            "as_of": pd.to_datetime(["2026-08-30", "2026-08-30", "2026-08-31"]),
        }
    )


def test_a_staged_frame_reads_back_the_same(staging_root: Path) -> None:
    path = staging.write_parquet(_frame(), DAG_ID, RUN_ID, "scores")
    assert Path(path).is_file() and Path(path).is_relative_to(staging_root)
    pd.testing.assert_frame_equal(staging.read_parquet(path), _frame())
    assert staging.read_parquet(path, columns=["score"]).columns.tolist() == ["score"]


def test_run_dir_turns_a_run_id_into_one_safe_folder(staging_root: Path) -> None:
    def folder(dag_id: str, run_id: str) -> Path:
        return store.local_path(staging.run_dir(dag_id, run_id))

    assert folder(DAG_ID, RUN_ID) == staging_root / DAG_ID / "manual__2026-08-30T00_00_00_00_00"
    assert folder("a/b", "x/../y").parent.parent == staging_root, "no slash escapes the root"
    assert folder(DAG_ID, "scheduled__2026-08-30T00:00:00+00:00") != folder(DAG_ID, RUN_ID)


def test_a_staged_file_appears_only_complete(staging_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(staging.write_parquet(_frame(), DAG_ID, RUN_ID, "scores"))
    assert [p.name for p in path.parent.iterdir()] == ["scores.parquet"], "no .tmp left"

    def half_write(self, target, **kwargs) -> None:  # noqa: ANN001
        Path(target).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(OSError, match="disk full"):
        staging.write_parquet(_frame().iloc[:1], DAG_ID, RUN_ID, "scores")
    assert len(staging.read_parquet(str(path))) == 3, "the complete earlier file is still in place"

    with pytest.raises(OSError):
        staging.write_parquet(_frame(), DAG_ID, "another_run", "scores")
    assert not (staging.run_dir(DAG_ID, "another_run") / "scores.parquet").exists()
    assert list(path.parent.parent.rglob("*.tmp")) == [], "a failed write leaves no .tmp behind"


def _age(folder: Path, days: float) -> None:
    """Make every file of `folder` look last written `days` ago."""
    then = time.time() - days * 86400
    for file in folder.iterdir():
        os.utime(file, (then, then))


def test_prune_removes_old_run_folders_and_keeps_new_ones(staging_root: Path) -> None:
    old = Path(staging.write_parquet(_frame(), DAG_ID, "old_run", "scores")).parent
    new = Path(staging.write_parquet(_frame(), DAG_ID, "new_run", "scores")).parent
    other = Path(staging.write_parquet(_frame(), "order_risk", "old_run", "scores")).parent
    for folder in (old, other):
        _age(folder, 8)

    assert staging.prune(DAG_ID, keep_days=7) == 1
    assert not old.exists()
    assert new.exists()
    assert other.exists(), "another DAG's folders are left alone"
    assert staging.prune("never_ran") == 0


def test_prune_removes_tmp_files_of_writers_that_died(staging_root: Path) -> None:
    folder = Path(staging.write_parquet(_frame(), DAG_ID, RUN_ID, "scores")).parent
    dead, writing = folder / "shard_000.parquet.tmp", folder / "shard_001.parquet.tmp"
    for tmp in (dead, writing):
        tmp.write_bytes(b"PAR1 half a file")
    two_hours_ago = time.time() - 7200
    os.utime(dead, (two_hours_ago, two_hours_ago))
    assert staging.prune(DAG_ID, keep_days=7) == 0
    assert not dead.exists() and writing.exists(), "a write still in progress is left alone"
    assert (folder / "scores.parquet").exists()


def test_each_extract_prunes_staging_past_the_keep_period(
    staging_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime

    from include.pipeline.common import stage_frames
    from include.pipeline.refs import RunWindow

    old = Path(staging.write_parquet(_frame(), DAG_ID, "last_month", "scores")).parent
    _age(old, 30)
    monkeypatch.setenv("SHOPFLOW_STAGING_KEEP_DAYS", "3")
    window = RunWindow(datetime(2026, 8, 29), datetime(2026, 8, 30))
    staged = stage_frames({"scores": _frame()}, window, dag_id=DAG_ID, run_id=RUN_ID)
    assert not old.exists()
    assert Path(staged.path("scores")).exists()

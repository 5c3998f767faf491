"""Models in these tests are saved under the test's own folder: make it the model store."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def model_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOW_MODEL_DIR", str(tmp_path))
    return tmp_path

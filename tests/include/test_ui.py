"""The Shopflow page's app without a browser: an empty warehouse, escaping, and Data Docs that
cannot be used to read files outside their folder. (The page in Airflow's UI, behind its login
and in Chromium, is tests/e2e/test_shopflow_page.py.)"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from include import settings
from include.ui import _summary_text, create_app


def test_an_empty_warehouse_shows_what_is_missing(warehouse_url: str) -> None:
    page = TestClient(create_app()).get("/")
    assert page.status_code == 200
    assert "No validation run yet." in page.text
    assert page.text.count("No training run yet.") == 2
    assert page.text.count("Not published yet.") == 3
    data = TestClient(create_app()).get("/api/page").json()
    assert data["quality"]["run"] is None and [m["candidates"] for m in data["models"]] == [[], []]


def test_run_names_from_the_address_are_escaped(warehouse_url: str) -> None:
    page = TestClient(create_app()).get("/", params={"quality_run": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_data_docs_are_served_from_their_folder_only(warehouse_url: str) -> None:
    docs = settings.var_dir() / "data_docs" / "manual__night" / "events"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html>the events' Data Docs</html>")
    secret = settings.var_dir() / "secret.txt"
    secret.write_text("not for the page")
    client = TestClient(create_app())
    assert (
        client.get("/data-docs/manual__night/events/index.html").text == "<html>the events' Data Docs</html>"
    )
    for path in (
        "/data-docs/manual__night/events/..%2F..%2F..%2Fsecret.txt",
        "/data-docs/manual__night/..%2F..%2Fsecret.txt/x",
        "/data-docs/manual__night/events/missing.html",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "not for the page" not in response.text
    assert Path(secret).exists()


def test_an_unreachable_warehouse_is_named_not_a_bare_server_error(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://nobody@127.0.0.1:9/nowhere")
    page = TestClient(create_app()).get("/")
    assert page.status_code == 503
    assert "The warehouse cannot be read" in page.text and "127.0.0.1" in page.text


def test_a_summary_reads_as_shares_and_counts() -> None:
    text = _summary_text({"band_shares": {"approve": 0.9, "review": 0.1}, "orders": 183})
    assert text == "band shares: approve 90.0%, review 10.0%; orders: 183"

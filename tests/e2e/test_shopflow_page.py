"""The Shopflow page in Airflow's UI, end to end: a real night on the tiny shop in PostgreSQL,
Airflow's API server started with the project's plugins, a login through the UI's own form and
the page read in headless Chromium, checked against the warehouse."""

from __future__ import annotations

import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from include import publish
from include.dag_runs import run_dag
from tests.e2e.conftest import AS_OF, RECS_CONF, RISK_CONF
from tests.e2e.servers import free_port, running, server_env
from tests.helpers import read_sql as _read

pytestmark = [pytest.mark.e2e, pytest.mark.data_docs]

CHROMIUM = os.environ.get("SHOPFLOW_CHROMIUM", "/usr/bin/chromium")
USER, PASSWORD = "admin", "shopflow-page-test"


@pytest.fixture
def night(tiny_shop: str) -> str:
    """The tiny shop after one whole night: validated, recommended, risk-scored."""
    run_dag("warehouse_validation", logical_date=AS_OF)
    run_dag("recommendations", logical_date=AS_OF, conf=RECS_CONF)
    run_dag("order_risk", logical_date=AS_OF, conf=RISK_CONF)
    return tiny_shop


@pytest.fixture
def api_server(night: str, tmp_path: Path) -> Iterator[str]:
    """Airflow's API server on a free local port, with this project's plugins and warehouse."""
    port = free_port()
    env = server_env(tmp_path, USER, PASSWORD)  # the test's AIRFLOW_HOME, warehouse and var folder
    airflow = Path(sys.executable).parent / "airflow"
    base = f"http://127.0.0.1:{port}"
    command = [str(airflow), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with running(
        command, env=env, log=tmp_path / "api-server.log", health_url=f"{base}/api/v2/monitor/health"
    ):
        yield base


def _browser():  # noqa: ANN202
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is required for this test and is not at {CHROMIUM}: `make test` installs "
            "Debian's chromium package (or set SHOPFLOW_CHROMIUM to a Chromium binary)."
        )
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def test_the_shopflow_page_shows_the_night_behind_the_login(api_server: str, tmp_path: Path) -> None:
    # Without the UI's login there is no page and no data.
    for path in ("/shopflow/", "/shopflow/api/page"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(api_server + path, timeout=30)
        assert refused.value.code == 401

    quality = _read(
        "SELECT run_id, table_name, severity, COUNT(*) AS checks FROM data_quality_runs "
        "GROUP BY run_id, table_name, severity"
    )
    assert quality["run_id"].nunique() == 1
    models = _read("SELECT model_name, candidate, decision FROM model_versions WHERE role = 'candidate'")

    with _browser() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"{api_server}/plugin/shopflow")
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/plugin/shopflow", timeout=60_000)

        # The page sits in the UI's frame, under its navigation, served by the plugin.
        frame = page.frame_locator("iframe")
        frame.locator("h1", has_text="Shopflow").wait_for(timeout=60_000)

        # Data quality: every table's checks by outcome, as the warehouse holds them.
        for row in quality.itertuples():
            cell = frame.locator(
                f"#quality-tables tr[data-table='{row.table_name}'] td[data-outcome='{row.severity}']"
            )
            assert cell.inner_text() == str(row.checks), (row.table_name, row.severity)
        assert frame.locator("#quality-tables tr[data-table]").count() == quality["table_name"].nunique()

        # Each model's leaderboard: every candidate of the run with the gate's decision.
        for row in models.itertuples():
            decision = frame.locator(
                f"table.leaderboard[data-model='{row.model_name}'] tr[data-candidate='{row.candidate}'] td[data-field='decision']"
            )
            assert decision.inner_text() == row.decision, (row.model_name, row.candidate)
        promoted = models.query("decision == 'promoted'")
        assert not promoted.empty

        # Published tables: every kept version with its row count and model.
        for table in publish.PUBLISHED_TABLES:
            versions = publish.list_versions(table)
            shown = frame.locator(f"table.versions[data-table='{table}'] tr[data-version]")
            assert shown.count() == len(versions), table
            for version in versions.itertuples():
                row = frame.locator(
                    f"table.versions[data-table='{table}'] tr[data-version='{version.version}']"
                )
                assert row.locator("td").nth(1).inner_text() == str(version.row_count)
                assert row.locator("td").nth(2).inner_text() == (version.model_version or "")

        shot = tmp_path / "shopflow_page.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("SHOPFLOW_SCREENSHOT_DIR"):
            shutil.copy(shot, Path(os.environ["SHOPFLOW_SCREENSHOT_DIR"]) / "shopflow_page.png")

        # The Data Docs of a table open through the plugin, behind the same login.
        docs = frame.locator("#quality-tables tr[data-table='events'] a", has_text="Data Docs")
        docs.click()
        frame.locator("text=Expectation").first.wait_for(timeout=60_000)
        browser.close()

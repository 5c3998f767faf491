"""Alerts reach people: a failed task e-mails the alert address through a real SMTP server
(started by the test), and every DAG run carries a deadline that e-mails when it is late."""

from __future__ import annotations

import email
import importlib
import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from include import dag_defaults, warehouse
from include.dag_runs import DagRunFailed, run_dag
from tests.e2e.conftest import AS_OF

pytestmark = pytest.mark.e2e

ALERT_ADDRESS = "night-watch@shop.example"


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's hook
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A local SMTP server, the SMTP connection pointing at it and the alert address set."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 1},
            }
        ),
    )
    monkeypatch.setenv("SHOPFLOW_ALERT_EMAIL", ALERT_ADDRESS)
    importlib.reload(dag_defaults)  # the DAGs read the alert settings when they are parsed
    yield handler
    controller.stop()
    monkeypatch.delenv("SHOPFLOW_ALERT_EMAIL")
    importlib.reload(dag_defaults)


def test_a_failed_night_emails_the_alert_address(tiny_shop: str, inbox: Inbox) -> None:
    # A planted critical failure: every order of the last day twice.
    day = AS_OF.replace(tzinfo=None) - timedelta(days=1)
    with warehouse.transaction() as conn:
        conn.execute(
            sa.text("INSERT INTO orders SELECT * FROM orders WHERE ordered_at >= :s AND ordered_at < :e"),
            {"s": day, "e": AS_OF.replace(tzinfo=None)},
        )
    with pytest.raises(DagRunFailed, match="validate_orders"):
        run_dag("warehouse_validation", logical_date=AS_OF)

    (alert,) = inbox.messages
    assert alert["To"] == ALERT_ADDRESS
    assert alert["Subject"].startswith("[shopflow] warehouse_validation: validate_orders failed (manual__")
    body = alert.get_payload()[0].get_payload(decode=True).decode()
    assert "the last published tables stay in place" in body


def test_every_dag_carries_a_deadline_that_emails_when_a_run_is_late(inbox: Inbox) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from include import settings

    dags = DagBag(str(settings.PROJECT_ROOT / "dags")).dags
    deadlines = {dag_id: dag.deadline for dag_id, dag in dags.items()}
    assert set(deadlines) == {"live_shop", "warehouse_validation", "recommendations", "order_risk"}
    for dag_id, deadline in deadlines.items():
        (alert,) = deadline if isinstance(deadline, list) else [deadline]
        assert alert.interval == timedelta(hours=6), dag_id
        assert alert.callback.path == "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
        assert alert.callback.kwargs["to"] == [ALERT_ADDRESS]

    # What the triggerer does when a run misses it: the notifier with those arguments, on the run.
    (alert,) = (
        deadlines["order_risk"] if isinstance(deadlines["order_risk"], list) else [deadlines["order_risk"]]
    )
    run = SimpleNamespace(dag_id="order_risk", run_id="scheduled__2026-12-03", queued_at="2026-12-03 00:00")
    SmtpNotifier(**alert.callback.kwargs)({"dag_run": run, "dag": dags["order_risk"]})
    (late,) = inbox.messages
    assert late["Subject"] == "[shopflow] order_risk is late: not finished 6 h after it was queued"
    assert "has not finished" in late.get_payload()[0].get_payload(decode=True).decode()

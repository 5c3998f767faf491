"""Who hears about a failed or late night: e-mail through Airflow's SMTP notifier.

Set `SHOPFLOW_ALERT_EMAIL` (one address or several, comma separated) and an SMTP connection
(`AIRFLOW_CONN_SMTP_DEFAULT`, e.g. `smtp://user:password@mail.example.com:587`, or the
connection id in `SHOPFLOW_SMTP_CONN_ID`). Then

- every task that fails for good (after its retries) sends one e-mail naming the DAG, the task,
  the run and the log; a failed quality gate, a failed training or a refused publish all end
  here;
- every DAG run carries a deadline: a run not finished `SHOPFLOW_DEADLINE_HOURS` (default 6)
  after it was queued sends an e-mail, so a night that hangs or crawls is noticed before the
  shop opens.

Without an address nothing is sent, and the DAGs say so in their logs at parse time.
Cheap to import: the DAG files call it at parse time.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_HOURS = 6.0
FAILED_SUBJECT = "[shopflow] {{ dag.dag_id }}: {{ ti.task_id }} failed ({{ run_id }})"
FAILED_BODY = (
    "<p>Task <b>{{ ti.task_id }}</b> of <b>{{ dag.dag_id }}</b> failed in run {{ run_id }} "
    "(try {{ ti.try_number }}); the last published tables stay in place.</p>"
    "<p>Log: <a href='{{ ti.log_url }}'>{{ ti.log_url }}</a></p>"
)
LATE_SUBJECT = "[shopflow] {{ dag_run.dag_id }} is late: not finished {hours:g} h after it was queued"
LATE_BODY = (
    "<p>Run {{ dag_run.run_id }} of <b>{{ dag_run.dag_id }}</b> was queued at "
    "{{ dag_run.queued_at }} and has not finished: the published tables are those of the last "
    "good night.</p>"
)


def recipients() -> list[str]:
    """The alert addresses from SHOPFLOW_ALERT_EMAIL (none: alerts are off)."""
    raw = os.environ.get("SHOPFLOW_ALERT_EMAIL", "")
    return [address.strip() for address in raw.split(",") if address.strip()]


def smtp_conn_id() -> str:
    return os.environ.get("SHOPFLOW_SMTP_CONN_ID", "smtp_default")


def deadline_hours() -> float:
    return float(os.environ.get("SHOPFLOW_DEADLINE_HOURS", DEFAULT_DEADLINE_HOURS) or DEFAULT_DEADLINE_HOURS)


def failure_notifier() -> Any | None:
    """The notifier every task calls when it fails for good, or None when alerts are off."""
    to = recipients()
    if not to:
        log.info("SHOPFLOW_ALERT_EMAIL is not set: failures send no e-mail")
        return None
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        to=to,
        from_email=_sender(),
        subject=FAILED_SUBJECT,
        html_content=FAILED_BODY,
        smtp_conn_id=smtp_conn_id(),
    )


def run_deadline() -> Any | None:
    """The deadline every DAG run carries, or None when alerts are off."""
    to = recipients()
    if not to:
        return None
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    hours = deadline_hours()
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=hours),
        callback=AsyncCallback(
            SmtpNotifier,
            kwargs={
                "to": to,
                "from_email": _sender(),
                "subject": LATE_SUBJECT.replace("{hours:g}", f"{hours:g}"),
                "html_content": LATE_BODY,
                "smtp_conn_id": smtp_conn_id(),
            },
        ),
    )


def _sender() -> str:
    return os.environ.get("SHOPFLOW_ALERT_FROM", "shopflow@localhost")

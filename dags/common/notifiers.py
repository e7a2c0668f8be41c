"""Notifiers for the data engineers: a site's batch held by the quality threshold.

`QualityHoldNotifier` is the `validate` task's success callback: when the task's summary says the site's batch
is held, it logs a warning, appends a JSON line to the notification outbox (`$VAXPASS_NOTIFY_DIR`, default
`$VAXPASS_HOME/notifications/quality_holds.jsonl`) and, when `VAXPASS_QUALITY_EMAIL` names recipients, sends an
e-mail through Airflow's SMTP provider (connection `smtp_default`, or the one `[email] email_conn_id` names).
The message carries the site, the cycle, counts and rule codes — never a record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier

OUTBOX_NAME = "quality_holds.jsonl"


def hold_message(summary: dict[str, Any], *, cycle_id: str) -> dict[str, Any]:
    """The notification for one held site batch (`summary` is `stages.validate`'s return value)."""
    site = summary["site_code"]
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(summary.get("blocked_by_rule", {}).items(),
                                                           key=lambda item: -item[1])[:5])
    share, threshold = summary.get("blocked_share", 0.0), summary.get("hold_threshold", 0.0)
    subject = f"vaxpass: lô dữ liệu của điểm tiêm {site} bị giữ lại / site {site} batch held ({cycle_id})"
    body = (f"Site {site}, cycle {cycle_id}: {summary.get('quarantined', 0)} of {summary.get('evaluated', 0)} "
            f"record(s) blocked ({share:.0%} > threshold {threshold:.0%}); the site's other "
            f"{summary.get('held_records', 0)} record(s) are held and will not be matched or signed. "
            f"Most frequent rules: {rules or 'none'}. Check the site's feed, then release the batch: "
            f"vaxpass quality release --site {site} --cycle {cycle_id}")
    return {"kind": "quality_hold", "site_code": site, "cycle_id": cycle_id, "subject": subject, "body": body,
            "evaluated": summary.get("evaluated", 0), "quarantined": summary.get("quarantined", 0),
            "held_records": summary.get("held_records", 0), "blocked_share": share, "hold_threshold": threshold,
            "blocked_by_rule": summary.get("blocked_by_rule", {})}


def default_outbox() -> Path | None:
    folder = os.environ.get("VAXPASS_NOTIFY_DIR")
    if folder:
        return Path(folder) / OUTBOX_NAME
    home = os.environ.get("VAXPASS_HOME")
    return Path(home) / "notifications" / OUTBOX_NAME if home else None


class QualityHoldNotifier(BaseNotifier):
    """Tell the data engineers that the quality threshold held a site's batch (see the module docstring)."""

    def __init__(self, *, outbox: Path | None = None, email_to: list[str] | None = None,
                 smtp_conn_id: str | None = None) -> None:
        super().__init__()
        self.outbox = outbox
        self.email_to = email_to
        self.smtp_conn_id = smtp_conn_id

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        summary = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)
        if not isinstance(summary, dict) or not summary.get("held"):
            return
        self.send(hold_message(summary, cycle_id=context["dag_run"].run_id), context)

    def send(self, message: dict[str, Any], context: Any) -> None:
        self.log.warning("%s: %s", message["subject"], message["body"])
        outbox = self.outbox or default_outbox()
        if outbox is not None:
            outbox.parent.mkdir(parents=True, exist_ok=True)
            with outbox.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(message, ensure_ascii=False) + "\n")
        recipients = self.email_to or [a.strip() for a in os.environ.get("VAXPASS_QUALITY_EMAIL", "").split(",")
                                       if a.strip()]
        if recipients:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            SmtpNotifier(to=recipients, subject=message["subject"], html_content=f"<p>{message['body']}</p>",
                         smtp_conn_id=self.smtp_conn_id).notify(context)

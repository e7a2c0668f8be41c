"""The district review gate: Airflow's ApprovalOperator, applying the district's answer to its batch.

The stock operator skips its direct downstream on "Reject"; with one gate per district that would skip the
rest of the city's cycle. This gate records the decision in the ops store (approve: apply the reviewers'
per-record decisions made on the review page, and the proposed registry matches for the other records;
reject: hold the records) and lets the cycle go on either way.

A gate survives its worker being killed, even in the seconds in which it applies the district's answer: it is
retried like every task, and a retry never asks the district again for an answer Airflow already holds. The
stock `execute()` of a retry would write the request anew, which erases the answer (Airflow keeps one per task
instance, and it follows the task instance into its next try). So a retry first parks without writing
(`TaskAwaitingInput`): Airflow resumes a task parked with an answer on record at once, and the gate applies it
(`apply_batch_decision` leaves a batch already decided as it is, so an answer applied before the kill is not
applied twice). Without an answer on record the park ends after `RETRY_PROBE`, and the gate then asks as on its
first try (the district's window starts again).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import TaskAwaitingInput

REVIEW_PAGE = "/vaxpass/review/{district}"  # the plugin's page (plugins/vaxpass_web/review.py)
# Match reasons as the gate names them (the page has the same labels).
REASON_LABELS = {"no_match": "Không tìm thấy trong CSDLQG / not found in the registry",
                 "ambiguous_candidates": "Nhiều người phù hợp / several candidates",
                 "weak_evidence": "Bằng chứng yếu / weak evidence", "id_missing": "Thiếu CCCD / no national ID"}
# How long a retried gate waits for an answer already on record before it asks again: an answer resumes it at
# once; without one, the scheduler's sweep of expired waits ([scheduler] trigger_timeout_check_interval, 15 s)
# ends the wait.
RETRY_PROBE = timedelta(seconds=1)


def gate_kwargs(batch: dict[str, Any]) -> dict[str, Any]:
    """The mapped gate's arguments for one district batch (`vaxpass.review.BatchSummary` as a dict): only the
    district's reviewers may answer; subject and body give counts by reason (no personal data) and link the
    review page, where the records are decided one by one before the batch is answered."""
    link = REVIEW_PAGE.format(district=batch["district_code"])
    reasons = "\n".join(f"| {REASON_LABELS.get(reason, reason)} | {n} |"
                         for reason, n in sorted(batch["reasons"].items()))
    return {
        "batch_id": batch["batch_id"],
        "district_code": batch["district_code"],
        "assigned_users": [{"id": user, "name": user} for user in batch["reviewers"]],
        "subject": f"Duyệt hồ sơ / Review: {batch['district_name']} — {batch['records']} record(s)",
        "body": (f"**{batch['district_name']}** ({batch['district_code']}): {batch['records']} flagged "
                 f"record(s) in review batch {batch['batch_id']}.\n\n"
                 f"| lý do / reason | hồ sơ / records |\n|---|---|\n{reasons}\n\n"
                 f"**[Mở trang duyệt / Open the review page]({link})** — xem từng hồ sơ bên cạnh ứng viên trong "
                 "CSDLQG, chấp nhận, sửa hoặc từ chối / see each record beside its registry candidates; accept, "
                 "correct or reject it.\n\n"
                 "**Approve**: apply the decisions made on the review page (corrections are validated and matched "
                 "again before signing); records without a decision get the proposed registry match, those "
                 "without a candidate stay open for the next cycle. **Reject**: hold them all."),
    }


class DistrictReviewGate(ApprovalOperator):
    """One gate per district with flagged records; `batch_id` names the ops-store review batch."""

    def __init__(self, *, batch_id: int, district_code: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_id = batch_id
        self.district_code = district_code

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number > 1:
            # a retry: resumed at once with the answer Airflow holds, if the district has answered (see above)
            raise TaskAwaitingInput(method_name="execute_complete", kwargs={"retry_probe": True},
                                    timeout=RETRY_PROBE)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any], retry_probe: bool = False) -> Any:
        from common.faults import pause_before_applying
        from common.settings import settings
        from vaxpass.pipeline import stages

        if retry_probe and event.get("error_type") == "timeout":
            if not stages.review_open(settings(), batch_id=self.batch_id):
                # an earlier try expired it (its window had closed) before the worker was lost: nothing to ask
                self.log.info("District %s batch %s was closed by an earlier try", self.district_code, self.batch_id)
                return {"expired": True, "batch_id": self.batch_id, "released": 0}
            self.log.info("District %s batch %s: no answer on record from an earlier try; asking the district",
                          self.district_code, self.batch_id)
            return super().execute(context)
        pause_before_applying(context)
        if event.get("error_type") == "timeout":
            # The response window closed unanswered: the records go back to the queue for the next cycle,
            # never auto-approved. That is a backlog, not a failure of the cycle.
            released = stages.expire_review(settings(), batch_id=self.batch_id)
            self.log.warning("District %s batch %s expired unanswered; %s record(s) back in the queue",
                             self.district_code, self.batch_id, released)
            return {"expired": True, "batch_id": self.batch_id, "released": released}
        ret = super(ApprovalOperator, self).execute_complete(context=context, event=event)
        user = (event.get("responded_by_user") or {}).get("id", "unknown")
        approved = ret["chosen_options"][0] == self.APPROVE
        counts = stages.decide_review(settings(), batch_id=self.batch_id, approved=approved, decided_by=user,
                                      decided_at=event["responded_at"])
        self.log.info("District %s batch %s: %s by %s: %s", self.district_code, self.batch_id,
                      "approved" if approved else "rejected", user, counts)
        return ret

"""The district review gate: Airflow's ApprovalOperator, applying the district's answer to its batch.

The stock operator skips its direct downstream on "Reject"; with one gate per district that would skip the
rest of the city's cycle. This gate records the decision in the ops store (approve: accept the proposed
registry matches; reject: hold the records) and lets the cycle go on either way.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator


class DistrictReviewGate(ApprovalOperator):
    """One gate per district with flagged records; `batch_id` names the ops-store review batch."""

    def __init__(self, *, batch_id: int, district_code: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_id = batch_id
        self.district_code = district_code

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from common.settings import settings
        from vaxpass.pipeline import stages

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

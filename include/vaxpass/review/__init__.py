"""District review: batches of flagged records per district, the reviewers' per-record decisions (accept a
candidate, correct, reject) and the batch decision that applies them."""

from vaxpass.review.actions import REJECT_REASONS, RecordDecision, ReviewError, decide_records
from vaxpass.review.batches import (
    BatchSummary,
    apply_batch_decision,
    batch_is_open,
    open_batches,
    release_batch,
)

__all__ = ["REJECT_REASONS", "BatchSummary", "RecordDecision", "ReviewError", "apply_batch_decision",
           "batch_is_open", "decide_records", "open_batches", "release_batch"]

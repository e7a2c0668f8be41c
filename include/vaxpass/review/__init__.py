"""District review: batches of flagged records per district and the decisions applied to them."""

from vaxpass.review.batches import BatchSummary, apply_batch_decision, open_batches, release_batch

__all__ = ["BatchSummary", "apply_batch_decision", "open_batches", "release_batch"]

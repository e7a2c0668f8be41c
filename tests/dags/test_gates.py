"""The district gate's arguments: only the district's reviewers, counts by reason, a link to the review page."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dags"))


def test_gate_kwargs_link_the_review_page_and_count_by_reason() -> None:
    from common.gates import gate_kwargs

    kwargs = gate_kwargs({"batch_id": 7, "district_code": "017", "district_name": "Đông Anh", "records": 23,
                          "reasons": {"no_match": 20, "dob_disagree": 3}, "reviewers": ["rv_017", "rv_017b"]})
    assert kwargs["assigned_users"] == [{"id": "rv_017", "name": "rv_017"}, {"id": "rv_017b", "name": "rv_017b"}]
    assert kwargs["subject"] == "Duyệt hồ sơ / Review: Đông Anh — 23 record(s)"
    body = kwargs["body"]
    assert "](/vaxpass/review/017)" in body
    assert "| dob_disagree | 3 |" in body and "| Không tìm thấy trong CSDLQG / not found in the registry | 20 |" in body
    assert (kwargs["batch_id"], kwargs["district_code"]) == (7, "017")

"""Facility confirmation (xác nhận của cơ sở tiêm chủng): per site and cycle, the list of doses the site gave,
with the Merkle root of their records, PAdES-signed by the head of the facility."""

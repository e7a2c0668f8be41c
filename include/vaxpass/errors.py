"""One error hierarchy for vaxpass. Errors carry fields, not just text, and never personal data."""

from __future__ import annotations

from dataclasses import dataclass


class VaxpassError(Exception):
    """Base of every error vaxpass raises on purpose."""


class ConfigError(VaxpassError):
    """A setting or secret is missing or invalid."""


@dataclass(frozen=True)
class RowProblem:
    """One problem with one input row: where it is and why it cannot go on (a reason code, no personal data)."""

    site: str
    file: str
    row: int | None
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        where = f"site {self.site}, file {self.file}" + (f", row {self.row}" if self.row is not None else "")
        return f"{where}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


class SourceError(VaxpassError):
    """A site's source could not be read at all (the whole file or connection, not one row)."""

    def __init__(self, site: str, file: str, reason: str, detail: str = "") -> None:
        self.problem = RowProblem(site=site, file=file, row=None, reason=reason, detail=detail)
        super().__init__(str(self.problem))


class SigningError(VaxpassError):
    """A key, certificate or signature operation failed."""


class VerificationError(VaxpassError):
    """A certificate did not verify; `reason` is a short code such as `bad-signature` or `unknown-kid`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class SchemaError(VaxpassError):
    """A payload does not validate against its schema; `problems` lists every failure."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class LineageError(VaxpassError):
    """A certificate's lineage chain is incomplete; `missing` maps certificate ids to the links it lacks."""

    def __init__(self, missing: dict[str, list[str]]) -> None:
        self.missing = missing
        shown = ", ".join(f"{k}: {'/'.join(v)}" for k, v in list(missing.items())[:10])
        super().__init__(f"{len(missing)} certificate(s) with incomplete lineage: {shown}")

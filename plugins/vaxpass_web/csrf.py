"""Cross-site request forgery: a browser sends Airflow's session cookie with any form post, even one a foreign
page submits. Writes that authenticate by that cookie must therefore come from a page of this server: the
browser's `Origin` (or, failing that, `Referer`) must name this host (OWASP's origin verification). API clients
that send a `Bearer` token are not at risk (a foreign page cannot read or attach the token) and pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from fastapi import Request, Response, status
from fastapi.responses import PlainTextResponse

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _origin(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None


def cross_site(request: Request) -> bool:
    """True when a cookie-authenticated write does not come from this server's own pages."""
    if request.method not in WRITES or request.headers.get("authorization", "").lower().startswith("bearer "):
        return False
    if COOKIE_NAME_JWT_TOKEN not in request.cookies:
        return False  # no ambient credential to abuse: Airflow's login answers (401)
    claimed = _origin(request.headers.get("origin")) or _origin(request.headers.get("referer"))
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return claimed is None or urlsplit(claimed).netloc != host.lower()


async def same_origin_writes(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    if cross_site(request):
        return PlainTextResponse("cross-site request refused / yêu cầu từ trang khác bị từ chối",
                                 status_code=status.HTTP_403_FORBIDDEN)
    return await call_next(request)

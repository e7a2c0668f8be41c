"""The FastAPI app the plugin mounts at `/vaxpass`: the home page and every page module's router."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from vaxpass_web import dashboard, lineage
from vaxpass_web.access import ReaderDep
from vaxpass_web.csrf import same_origin_writes
from vaxpass_web.render import page
from vaxpass_web.review import router as review_router

URL_PREFIX = "/vaxpass"


@dataclass(frozen=True)
class Section:
    """A page module's entry on the home page."""

    href: str
    label: str


home = APIRouter()
SECTIONS: list[Section] = [Section("/review", "Duyệt hồ sơ / District review"),
                           Section("/dashboard", "Lịch sử chạy / Run history"),
                           Section("/lineage", "Truy vết chứng nhận / Certificate lineage")]


@home.get("/", response_class=HTMLResponse)
def index(request: Request, viewer: ReaderDep) -> HTMLResponse:
    return page(request, "home.html", viewer, links=SECTIONS)


def create_app() -> FastAPI:
    app = FastAPI(title="vaxpass", description="District review, lineage and run history of vaxpass",
                  docs_url=None, redoc_url=None)
    app.middleware("http")(same_origin_writes)
    app.include_router(home)
    app.include_router(review_router)
    app.include_router(dashboard.router)
    app.include_router(lineage.router)
    return app

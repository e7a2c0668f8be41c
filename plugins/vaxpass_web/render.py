"""HTML pages from Jinja2 templates (autoescaped), with the layout every vaxpass page shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from vaxpass_web.access import Viewer

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def page(request: Request, template: str, viewer: Viewer, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"viewer": viewer, **context})

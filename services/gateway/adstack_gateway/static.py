"""The live dashboard's static files, served by the gateway.

``/`` and ``/dashboard`` serve ``static/index.html``; ``/static/<name>`` serves the other
files of ``static/`` (no subdirectories). Only files present at startup with a known type
are served, so no request path ever reaches the file system.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

STATIC_DIR = Path(__file__).with_name("static")

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
"""Everything comes from the gateway itself: no CDN, no inline script or style."""

HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": CONTENT_SECURITY_POLICY,
}


def static_files(directory: Path = STATIC_DIR) -> dict[str, Path]:
    """Name → path of each servable file in ``directory`` (empty if it does not exist)."""
    if not directory.is_dir():
        return {}
    return {path.name: path for path in sorted(directory.iterdir())
            if path.is_file() and path.suffix in MEDIA_TYPES}


def static_routes(directory: Path = STATIC_DIR) -> list[BaseRoute]:
    """Routes for the dashboard page and its files (GET and HEAD)."""
    files = static_files(directory)

    def serve(name: str) -> Response:
        path = files.get(name)
        if path is None:
            return PlainTextResponse("not found", status_code=404,
                                     headers={"x-content-type-options": "nosniff"})
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)

    async def page(_request: Request) -> Response:
        return serve("index.html")

    async def asset(request: Request) -> Response:
        return serve(request.path_params["name"])

    return [
        Route("/", page, methods=["GET"]),
        Route("/dashboard", page, methods=["GET"]),
        Route("/static/{name}", asset, methods=["GET"]),
    ]

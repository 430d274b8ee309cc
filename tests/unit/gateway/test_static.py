"""The dashboard's static files: what the gateway serves, with which headers, and nothing else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from adstack_gateway.app import create_app
from adstack_gateway.settings import GatewaySettings
from adstack_gateway.static import STATIC_DIR, static_files, static_routes

EXPECTED = {"index.html", "dashboard.js", "dashboard.css", "adstack-client.js"}


def asgi_client(app: Starlette) -> httpx.AsyncClient:
    """An HTTP client calling ``app`` in process (no lifespan, no sockets)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


@pytest.fixture()
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(Starlette(routes=static_routes())) as http:
        yield http


def test_the_package_ships_the_dashboard_files() -> None:
    assert set(static_files()) >= EXPECTED


@pytest.mark.parametrize("path", ["/", "/dashboard"])
async def test_page_is_served_with_a_strict_policy(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == (STATIC_DIR / "index.html").read_text()
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(("name", "media_type"), [
    ("adstack-client.js", "text/javascript; charset=utf-8"),
    ("dashboard.js", "text/javascript; charset=utf-8"),
    ("dashboard.css", "text/css; charset=utf-8"),
])
async def test_assets_have_their_types(client: httpx.AsyncClient, name: str,
                                       media_type: str) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert (await client.head(f"/static/{name}")).status_code == 200


@pytest.mark.parametrize("path", [
    "/static/missing.js", "/static/../static.py", "/static/..%2Fstatic.py",
    "/static/%2e%2e%2fapp.py", "/static/", "/static/sub/dashboard.js", "/index.html",
])
async def test_nothing_else_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "import" not in response.text


async def test_only_listed_files_with_known_types(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secret.env").write_text("JWT_SECRET=x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.js").write_text("")
    assert set(static_files(tmp_path)) == {"index.html"}
    async with asgi_client(Starlette(routes=static_routes(tmp_path))) as client:
        assert (await client.get("/static/secret.env")).status_code == 404
        assert (await client.get("/")).text == "<p>hi</p>"
    assert static_files(tmp_path / "nope") == {}


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN: every src/href and every JS import points at a file the gateway serves."""
    served = set(static_files())
    html = (STATIC_DIR / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, "the page references its script and stylesheet"
    for ref in refs:
        assert ref.startswith("/static/") and ref.removeprefix("/static/") in served, ref
    for name in served:
        if name.endswith(".js"):
            text = (STATIC_DIR / name).read_text()
            for spec in re.findall(r'^import .* from "([^"]+)";', text, re.MULTILINE):
                assert spec.startswith("./") and spec.removeprefix("./") in served, spec
            assert "http://" not in text and "https://" not in text


async def test_the_gateway_app_serves_the_dashboard() -> None:
    app = create_app(GatewaySettings(skip_auth=True))
    # No lifespan: the static routes need neither Redis nor the relay.
    async with asgi_client(app) as client:
        response = await client.get("/dashboard")
        assert response.status_code == 200
        assert '<script type="module" src="/static/dashboard.js">' in response.text
        assert (await client.get("/static/adstack-client.js")).status_code == 200

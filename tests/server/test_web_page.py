"""The web page's routes on the main port, over loopback: ``GET /`` and
``GET /static/NAME`` with their content types, the security and cache
headers, 304 for a known ETag, HEAD and 405; no path reaches another file;
``--no-web-ui`` turns both off; the package ships every file."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import httpx
import pytest
import trio

from netra_trio.server.web_page import CONTENT_SECURITY_POLICY, load_web_page
from tests.helpers import PROJECT_ROOT, start_server
from tests.server.test_http_paths import exchange

WEB = Path(PROJECT_ROOT) / "netra_trio" / "web"

FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/netra.js": ("netra.js", "text/javascript; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/markdown.js": ("markdown.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


async def test_the_page_and_its_files_are_served_with_their_types_and_headers(
    nursery: trio.Nursery,
) -> None:
    server = await start_server(nursery)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        for path, (name, content_type) in FILES.items():
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.content == (WEB / name).read_bytes()
            assert response.headers["content-type"] == content_type
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY.decode()
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["etag"].startswith('"')
            # only the client is for pages of other origins to import
            shared = response.headers.get("access-control-allow-origin")
            assert shared == ("*" if name == "netra.js" else None), path
        # a query string does not change what is served
        assert (await http.get("/static/app.js?v=2")).content == (WEB / "app.js").read_bytes()
    assert load_web_page().paths == set(FILES)  # nothing else is served
    server.request_shutdown()


def test_the_policy_allows_only_the_pages_own_origin() -> None:
    policy = dict(
        directive.strip().split(" ", 1) for directive in CONTENT_SECURITY_POLICY.decode().split(";")
    )
    assert policy == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }


async def test_a_known_etag_gets_304_without_the_file(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        etag = (await http.get("/static/netra.js")).headers["etag"]
        for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            response = await http.get("/static/netra.js", headers={"If-None-Match": sent})
            assert response.status_code == 304, sent
            assert response.content == b""
            assert "content-length" not in response.headers
            assert response.headers["etag"] == etag
        stale = await http.get("/static/netra.js", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        # another file's tag is not this one's
        other = (await http.get("/")).headers["etag"]
        assert other != etag
        response = await http.get("/static/netra.js", headers={"If-None-Match": other})
        assert response.status_code == 200
    server.request_shutdown()


async def test_head_has_no_body_and_other_methods_get_405(nursery: trio.Nursery) -> None:
    server = await start_server(nursery)
    answer = await exchange(server.port, b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"content-length: {(WEB / 'index.html').stat().st_size}".encode() in head.lower()
    assert body == b""
    for method in (b"POST", b"PUT", b"DELETE"):
        request = method + b" /static/app.js HTTP/1.1\r\nHost: t\r\n\r\n"
        answer = await exchange(server.port, request)
        assert answer.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"), method
    server.request_shutdown()


TRAVERSALS = [
    "/static/../web_page.py",
    "/static/%2e%2e/config.py",
    "/static/..%2fconfig.py",
    "/static/",
    "/static",
    "/static//etc/passwd",
    "/static/__init__.py",
    "/static/index.html",
    "/static/NETRA.JS",
    "/static/netra.js/",
    "/static/./netra.js",
    "/index.html",
    "/../netra_trio/config.py",
    "//static/netra.js",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_no_other_path_reaches_a_file(nursery: trio.Nursery, path: str) -> None:
    server = await start_server(nursery)
    answer = await exchange(server.port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 404 Not Found\r\n"), answer[:200]
    assert answer.endswith(b'{"error":"not found"}')
    server.request_shutdown()


async def test_no_web_ui_turns_the_page_and_its_files_off(nursery: trio.Nursery) -> None:
    server = await start_server(nursery, web_ui=False)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
        for path in FILES:
            response = await http.get(path)
            assert response.status_code == 404, path
            assert "content-security-policy" not in response.headers
        assert (await http.get("/healthz")).status_code == 200  # the rest of HTTP goes on
    server.request_shutdown()


def test_the_package_data_ships_every_web_file() -> None:
    """What pyproject.toml puts in the wheel covers every file the page serves."""
    with (Path(PROJECT_ROOT) / "pyproject.toml").open("rb") as file:
        patterns = tomllib.load(file)["tool"]["setuptools"]["package-data"]["netra_trio.web"]
    served = [name for name, _ in FILES.values()]
    assert sorted(p.name for p in WEB.iterdir() if p.suffix != ".py" and p.is_file()) == sorted(
        served
    )
    for name in served:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name

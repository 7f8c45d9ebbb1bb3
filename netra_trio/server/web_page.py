"""The web page on the main port: ``GET /`` (the page) and ``GET /static/NAME``
(its script, styles and icon, and the browser client ``netra.js``).

The files are the package's ``netra_trio/web/`` directory, read once (the
first time a server of the process starts) and served from memory: a request
names one of them exactly or is not served here, so no path reaches any
other file. Every answer carries:

- a strict ``Content-Security-Policy``: scripts, styles, images and
  connections from the page's own origin only (``'self'`` covers its
  ``ws://``/``wss://``), no inline script or style, no plugins, no framing,
  no ``<base>``, no form posts;
- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``;
- ``Cache-Control: no-cache`` with an ``ETag``: a browser asks again each
  time, and a request with a matching ``If-None-Match`` gets 304 without the
  file;
- on ``netra.js`` only, ``Access-Control-Allow-Origin: *``: pages of other
  origins may import the client as a module (it holds no secret).

The page takes its token from the URL fragment, which browsers never send:
nothing here ever sees a token. HEAD is answered as GET without the body,
other methods get 405. With ``--no-web-ui`` nothing here is served (404).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from collections.abc import Mapping, Sequence

import attrs

from netra_trio.config import Config
from netra_trio.server.http_routes import METHOD_NOT_ALLOWED, Answer

STATIC_PREFIX = "/static/"
INDEX = "index.html"
SHARED = frozenset({STATIC_PREFIX + "netra.js"})  # importable from any origin

CONTENT_SECURITY_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    b" connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}


@attrs.frozen
class WebFile:
    body: bytes
    content_type: bytes
    etag: bytes  # quoted, as the header carries it

    @classmethod
    def of(cls, body: bytes, content_type: bytes) -> WebFile:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(body, content_type, f'"{digest}"'.encode())


class WebPage:
    """The files by the path that serves each (``/`` for the page)."""

    def __init__(self, files: Mapping[str, WebFile]) -> None:
        self._files = dict(files)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self._files)

    def serves(self, path: str) -> bool:
        return path in self._files

    def answer(self, method: bytes, path: str, headers: Sequence[tuple[bytes, bytes]]) -> Answer:
        """The answer to a request for ``path``, one that :meth:`serves`."""
        if method not in (b"GET", b"HEAD"):
            return METHOD_NOT_ALLOWED
        file = self._files[path]
        extra: tuple[tuple[bytes, bytes], ...] = (
            (b"Content-Security-Policy", CONTENT_SECURITY_POLICY),
            (b"X-Content-Type-Options", b"nosniff"),
            (b"Referrer-Policy", b"no-referrer"),
            (b"Cache-Control", b"no-cache"),
            (b"ETag", file.etag),
        )
        if path in SHARED:
            extra += ((b"Access-Control-Allow-Origin", b"*"),)
        if _matches(file.etag, headers):
            return Answer(304, b"", file.content_type, extra_headers=extra)
        return Answer(200, file.body, file.content_type, extra_headers=extra)


def _matches(etag: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weakly, as RFC 9110
    has it for GET) or is ``*``."""
    for name, value in headers:
        if name.lower() != b"if-none-match":
            continue
        for tag in value.split(b","):
            tag = tag.strip()
            if tag == b"*" or tag.removeprefix(b"W/") == etag:
                return True
    return False


@functools.cache
def load_web_page() -> WebPage:
    """The page's files, read from the installed package (once per process)."""
    files: dict[str, WebFile] = {}
    for entry in importlib.resources.files("netra_trio.web").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            path = "/" if entry.name == INDEX else STATIC_PREFIX + entry.name
            files[path] = WebFile.of(entry.read_bytes(), CONTENT_TYPES[suffix])
    return WebPage(files)


def page_url(config: Config, port: int) -> str:
    """The page's address on a server listening on ``port``: its host, or the
    loopback address when it listens on every address."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.host, config.host)
    if ":" in host:
        host = f"[{host}]"
    scheme = "http" if config.tls_cert is None else "https"
    return f"{scheme}://{host}:{port}/"

"""A local stand-in for the web: one HTTP server on 127.0.0.1 serving every source's pages.

Each module in this package that defines ``routes() -> list[tuple[str, Handler]]`` is found
automatically; a route is a regular expression on the URL path. Tests can switch a running
site to a failure (captcha page, HTTP 429, truncated JSON, a lying charset) by setting
``site.override`` to a handler, and read ``site.hits`` to see what the spider requested.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    cookies: dict[str, str]

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


Handler = Callable[[Request], Reply]
ROBOTS = "User-agent: *\nDisallow: /private/\n"


def all_routes() -> list[tuple[str, Handler]]:
    """Routes of every source module in this package."""
    found: list[tuple[str, Handler]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):        # __main__ starts a server when imported
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "routes"):
            found += module.routes()
    return found


class MockSite:
    """Context manager; ``base_url`` is what spiders get as ``base_url``."""

    def __init__(self, routes: list[tuple[str, Handler]] | None = None, *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = [(re.compile(p), h) for p, h in (routes if routes is not None else all_routes())]
        self.override: Handler | None = None
        self.hits: Counter[str] = Counter()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 — http.server's naming
                parts = urlsplit(self.path)
                cookies = SimpleCookie(self.headers.get("Cookie", ""))
                req = Request("GET", parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()},
                              {k: m.value for k, m in cookies.items()})
                site.hits[parts.path] += 1
                reply = site.dispatch(req)
                body = reply.payload()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def dispatch(self, req: Request) -> Reply:
        if req.path == "/robots.txt":
            return Reply(body=ROBOTS, content_type="text/plain")
        if self.override is not None:
            return self.override(req)
        for pattern, handler in self.routes:
            if pattern.fullmatch(req.path):
                return handler(req)
        return Reply(404, "<h1>404</h1>")

    def start(self) -> "MockSite":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "MockSite":
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

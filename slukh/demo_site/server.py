"""DemoSite: a threaded HTTP server on 127.0.0.1 that behaves like banki.ru's review pages.

What it reproduces, because the spider must cope with each: ``robots.txt``; the ajax list
(25 a page, newest first, ``total``, needs ``X-Requested-With``, else an HTML shell); the
first-visit 302-to-itself that sets a ``__hash_`` cookie; review pages with schema.org
JSON-LD (single review: later ``description`` shape; bank list page: 2023 ``reviewBody``
shape). ``mode`` switches every page to a captcha («Вы робот?») or HTTP 429 for failure
tests; it can be changed while the server runs.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
from collections import Counter
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from slukh.demo_site.generate import BANKS, DemoReview, generate_reviews

PAGE_SIZE = 25
MODES = ("normal", "captcha", "ratelimit")
ROBOTS_TXT = "User-agent: *\nAllow: /services/responses/\nDisallow: /private/\n"
CAPTCHA_PAGE = """<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">
<title>Вы робот?</title></head><body><div class="captcha-box">
<h1>Вы робот?</h1><p>Нам очень жаль, но запросы с вашего устройства похожи на автоматические.</p>
<form action="/showcaptcha" method="post"><img src="/captcha.png" alt="captcha">
<input name="rep"><button>Отправить</button></form></div></body></html>"""
_REVIEW_PAGE = re.compile(r"^/services/responses/bank/response/(\d+)/?$")
_BANK_PAGE = re.compile(r"^/services/responses/bank/([a-z0-9_-]+)/?$")


def _plain(review: DemoReview) -> str:
    """The review text without markup, paragraphs on their own lines (for JSON-LD)."""
    return html.unescape(re.sub(r"</p>\s*<p>", "\n", review.text_html).replace("<p>", "")
                         .replace("</p>", ""))


def _ld(data: Any) -> str:
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/ld+json">{payload}</script>'


def _page(title: str, ld: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>'
            f"{html.escape(title)}</title>{ld}</head><body><div class=\"lf3a1b\">{body}"
            "</div></body></html>")


class DemoSite:
    """Context manager serving the demo reviews; ``base_url`` is where to point the spider.

    Counters (``challenges_issued``, ``list_requests``, ``list_requests_served``) let tests
    prove the spider passed the cookie challenge instead of just trusting its log.
    """

    def __init__(self, *, seed: int = 2026, host: str = "127.0.0.1", port: int = 0,
                 mode: str = "normal", reviews: list[DemoReview] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.reviews = reviews if reviews is not None else generate_reviews(seed)
        newest_first = sorted(self.reviews, key=lambda r: (r.date_create, r.id), reverse=True)
        self.by_bank: dict[str, list[DemoReview]] = {code: [] for code in BANKS}
        for review in newest_first:
            self.by_bank.setdefault(review.bank, []).append(review)
        self.by_id = {r.id: r for r in self.reviews}
        self.hashes: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def challenges_issued(self) -> int:
        return self.counts["challenge"]

    @property
    def list_requests_served(self) -> int:
        return self.counts["list_ok"]

    def __enter__(self) -> DemoSite:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="demo-site")
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- responses (status, headers, body) -------------------------------------------

    def answer(self, path: str, query: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, ROBOTS_TXT.encode()
        if self.mode != "normal":
            with self.lock:
                self.counts[self.mode] += 1
        if self.mode == "captcha":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, CAPTCHA_PAGE.encode()
        if self.mode == "ratelimit":
            return 429, {"Content-Type": "text/plain", "Retry-After": "1"}, b"Too Many Requests"
        if path == "/services/responses/list/ajax/":
            return self.ajax_list(path, query, headers)
        if match := _REVIEW_PAGE.match(path):
            return self.review_page(int(match.group(1)))
        if match := _BANK_PAGE.match(path):
            return self.bank_page(match.group(1))
        return 404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>404</h1>"

    def ajax_list(self, path: str, query: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.counts["list"] += 1
            cookie = SimpleCookie(headers.get("Cookie") or "")
            known = "__hash_" in cookie and cookie["__hash_"].value in self.hashes
            if not known:  # banki.ru: first visit gets a 302 to itself plus the cookie
                self.counts["challenge"] += 1
                token = secrets.token_hex(16)
                self.hashes.add(token)
                return 302, {"Location": f"{path}?{query}", "Content-Length": "0",
                             "Set-Cookie": f"__hash_={token}; Max-Age=900; Path=/; SameSite=Lax"}, b""
        if headers.get("X-Requested-With") != "XMLHttpRequest":
            shell = _page("Отзывы о банках", "", "<div id='app'></div><script src='/app.js'>"
                          "</script>")
            return 200, {"Content-Type": "text/html; charset=utf-8"}, shell.encode()
        params = parse_qs(query)
        try:
            page = int(params.get("page", ["1"])[0])
        except ValueError:
            page = 0
        if page < 1:
            return 400, {"Content-Type": "application/json"}, b'{"error":"bad page"}'
        reviews = self.by_bank.get(params.get("bank", [""])[0], [])
        chunk = reviews[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        body = {"data": [r.to_ajax() for r in chunk], "total": len(reviews)}
        with self.lock:
            self.counts["list_ok"] += 1
        return 200, {"Content-Type": "application/json; charset=utf-8",
                     "Set-Cookie": f"__lhash_={secrets.token_hex(16)}; Max-Age=604800; Path=/"}, (
            json.dumps(body, ensure_ascii=False).encode())

    def review_page(self, review_id: int) -> tuple[int, dict[str, str], bytes]:
        review = self.by_id.get(review_id)
        if review is None:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>404</h1>"
        bank = BANKS[review.bank]
        day, clock = review.date_create.split(" ")
        ld = _ld({
            "@context": "https://schema.org", "@type": "Review",
            "itemReviewed": {"@type": "BankOrCreditUnion", "name": bank.name},
            "name": review.title, "description": _plain(review), "author": review.author,
            "datePublished": f"{day}T{clock}+03:00",
            "reviewRating": {"@type": "Rating", "ratingValue": review.grade,
                             "bestRating": 5, "worstRating": 1},
        })
        body = (f"<h1 class='a9f3e'>{html.escape(review.title)}</h1>"
                f"<div class='b71c2'>{review.text_html}</div>")
        return 200, {"Content-Type": "text/html; charset=utf-8"}, _page(review.title, ld, body).encode()

    def bank_page(self, code: str) -> tuple[int, dict[str, str], bytes]:
        if code not in BANKS:
            return 404, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>404</h1>"
        bank, reviews = BANKS[code], self.by_bank[code][:PAGE_SIZE]
        ld = _ld({
            "@context": "https://schema.org", "@type": "Product", "name": bank.name,
            "review": [{"@type": "Review", "author": {"@type": "Person", "name": r.author},
                        "datePublished": r.date_create[:10], "reviewBody": _plain(r),
                        "name": r.title,
                        "reviewRating": {"@type": "Rating", "bestRating": "5",
                                         "ratingValue": r.grade, "worstRating": "1"}}
                       for r in reviews],
        })
        title = f"Отзывы о {bank.gen}"
        return 200, {"Content-Type": "text/html; charset=utf-8"}, _page(title, ld, "").encode()


def _handler_for(site: DemoSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "nginx"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            parts = urlsplit(self.path)
            status, headers, body = site.answer(parts.path, parts.query, self.headers)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # tests and demos do not want a line per request on stderr

    return Handler

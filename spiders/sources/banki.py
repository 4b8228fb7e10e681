"""banki.ru reviews of one bank, through the site's own ajax list endpoint.

The spider is wiring: it builds requests, hands bodies to ``spiders.parsers.banki`` and
records what went wrong (``blocked_reason``, ``errors``) for ``spiders.run`` to report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin, urlparse

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, Response
from twisted.python.failure import Failure

from spiders.parsers.banki import (
    SOURCE,
    ParseError,
    detect_block,
    is_cookie_challenge,
    parse_ajax_list,
)

DEFAULT_BASE_URL = "https://www.banki.ru"
#: A third 302-to-itself in a row means the cookie is not being accepted: stop, report.
MAX_COOKIE_CHALLENGES = 2


class BankiRuSpider(scrapy.Spider):
    """Crawl ``/services/responses/list/ajax/?page=N&bank=<target>`` newest first.

    Arguments (``-a`` or ``spiders.run``): ``target`` bank code, ``brand`` brand id,
    ``base_url`` (tests point it at the demo site), ``max_pages`` (default: all pages).
    """

    name = SOURCE

    def __init__(
        self,
        target: str,
        brand: str,
        base_url: str = DEFAULT_BASE_URL,
        max_pages: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not target or not brand:
            raise ValueError("banki_ru needs both target (bank code) and brand")
        self.target = target
        self.brand = brand
        self.base_url = base_url.rstrip("/")
        self.max_pages = int(max_pages) if max_pages not in (None, "", "0") else None
        self.target_id = f"{SOURCE}:{target}"
        self.allowed_domains = [urlparse(self.base_url).hostname or ""]
        self.blocked_reason: str | None = None
        self.errors: list[str] = []
        self.records_seen = 0
        self.pages_parsed = 0
        self.challenges_passed = 0

    def list_url(self, page: int) -> str:
        return f"{self.base_url}/services/responses/list/ajax/?page={page}&bank={self.target}"

    def list_request(self, page: int, challenges: int = 0) -> Request:
        return Request(
            self.list_url(page),
            headers={"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"},
            callback=self.parse_list,
            errback=self.on_error,
            cb_kwargs={"page": page, "challenges": challenges},
            # Every status reaches parse_list: redirects (the cookie challenge), blocks and
            # errors are decided there, not silently dropped by middlewares.
            meta={"handle_httpstatus_all": True},
            dont_filter=challenges > 0,
        )

    async def start(self) -> AsyncIterator[Request]:
        yield self.list_request(1)

    def parse_list(
        self, response: Response, page: int, challenges: int
    ) -> Iterator[dict[str, Any] | Request]:
        location = urljoin(response.url, response.headers.get("Location", b"").decode("latin-1"))
        if is_cookie_challenge(response.status, response.url, location):
            if challenges >= MAX_COOKIE_CHALLENGES:
                self.block(
                    f"the site answered {challenges + 1} cookie challenges (302 to itself) in a "
                    "row: the __hash_ cookie is not accepted; check COOKIES_ENABLED",
                    response.url,
                )
            self.crawler.stats.inc_value("slukh/cookie_challenges")
            # Same URL again: the dupefilter would drop it, hence dont_filter=True.
            yield self.list_request(page, challenges + 1)
            return
        reason = detect_block(response.status, response.headers, response.body, expect_json=True)
        if reason:
            self.block(reason, response.url)
        if response.status != 200:
            self.error(f"HTTP {response.status} for the review list", response.url)
            return
        if challenges:
            self.challenges_passed += 1
            self.crawler.stats.inc_value("slukh/cookie_challenges_passed")
        bad: list[ParseError] = []
        try:
            items, total = parse_ajax_list(
                response.body,
                brand=self.brand,
                target_id=self.target_id,
                base_url=self.base_url,
                errors=bad,
            )
        except ParseError as exc:  # the whole page: report it with its real URL (page no.)
            self.error(exc.reason, response.url)
            return
        for exc in bad:
            self.error(str(exc), exc.url)
        self.pages_parsed += 1
        page_records = len(items) + len(bad)
        self.records_seen += page_records
        yield from items
        more = total is None or self.records_seen < total
        if page_records and more and (self.max_pages is None or page < self.max_pages):
            yield self.list_request(page + 1)

    def on_error(self, failure: Failure) -> None:
        """Network errors after retries, robots.txt refusals: counted, with the URL."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        self.error(f"{failure.type.__name__}: {failure.getErrorMessage()}", url)

    def error(self, message: str, url: str) -> None:
        text = message if url in message else f"{message} (url: {url})"
        self.errors.append(text)
        self.crawler.stats.inc_value("slukh/errors")
        self.logger.error(text)

    def block(self, reason: str, url: str) -> None:
        """Stop the whole crawl: more requests would only deepen the ban."""
        self.blocked_reason = f"{reason} (url: {url})"
        self.logger.error("blocked: %s", self.blocked_reason)
        raise CloseSpider("blocked")

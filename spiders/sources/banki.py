"""banki.ru reviews of one bank, through the site's own ajax list endpoint.

The spider is wiring: it builds requests, hands bodies to ``spiders.parsers.banki`` and
records what went wrong (``blocked_reason``, ``errors``) for ``spiders.run`` to report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin

from scrapy.http import Request, Response

from spiders.parsers.banki import (
    SOURCE,
    is_cookie_challenge,
    parse_ajax_list,
)
from spiders.sources.base import SlukhSpider

DEFAULT_BASE_URL = "https://www.banki.ru"
#: A third 302-to-itself in a row means the cookie is not being accepted: stop, report.
MAX_COOKIE_CHALLENGES = 2


class BankiRuSpider(SlukhSpider):
    """Crawl ``/services/responses/list/ajax/?page=N&bank=<target>`` newest first.

    ``target`` is the bank code. With a cursor (``since``) paging stops at the first page
    that reaches reviews already collected; see :class:`SlukhSpider` for the other arguments.
    """

    name = SOURCE

    source = SOURCE
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, target: str, brand: str, base_url: str | None = DEFAULT_BASE_URL,
                 **kwargs: Any) -> None:
        super().__init__(target, brand, base_url, **kwargs)
        self.records_seen = 0
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
        if not self.usable(response, "the review list", expect_json=True):
            return
        if challenges:
            self.challenges_passed += 1
            self.crawler.stats.inc_value("slukh/cookie_challenges_passed")
        errors_before = len(self.errors)
        parsed = self.parse_with(response, lambda bad: parse_ajax_list(
            response.body, brand=self.brand, target_id=self.target_id, base_url=self.base_url,
            errors=bad))
        if parsed is None:
            return
        items, total = parsed
        page_records = len(items) + len(self.errors) - errors_before
        self.records_seen += page_records
        fresh = self.fresh(items)
        yield from fresh
        more = not self.reached_known and (total is None or self.records_seen < total)
        if page_records and more and (self.max_pages is None or page < self.max_pages):
            yield self.list_request(page + 1)

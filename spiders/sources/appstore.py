"""App Store reviews of one app in one country, from Apple's customer-reviews RSS (JSON).

Wiring only: requests go out, bodies go to ``spiders.parsers.appstore``, and what went
wrong is recorded (``blocked_reason``, ``errors``) for ``spiders.run`` to report.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy.http import Request, Response

from spiders.parsers.appstore import (
    MAX_PAGES,
    PAGE_SIZE,
    SOURCE,
    ParseError,
    feed_url,
    parse_feed_page,
)
from spiders.sources.base import SlukhSpider

DEFAULT_BASE_URL = "https://itunes.apple.com"
ERROR_STATUSES = list(range(400, 600))
_COUNTRY = re.compile(r"[a-z]{2}")


class AppStoreSpider(SlukhSpider):
    """Crawl ``page=1..10`` of the ``sortby=mostrecent`` feed, newest first.

    ``target`` is the numeric App Store app id (``id1234567890`` in the app's URL, without
    ``id``). Extra argument: ``country`` (two-letter storefront, default ``ru``): each
    storefront has its own reviews.
    """

    name = SOURCE
    source = SOURCE
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, target: str, brand: str, base_url: str | None = DEFAULT_BASE_URL,
                 country: str = "ru", **kwargs: Any) -> None:
        super().__init__(target, brand, base_url, **kwargs)
        if not str(target).isdigit():
            raise ValueError(f"appstore target must be the numeric app id, got {target!r}")
        if not _COUNTRY.fullmatch(country or ""):
            raise ValueError(f"country must be a two-letter storefront code, got {country!r}")
        self.country = country

    def feed_url(self, page: int) -> str:
        return feed_url(self.base_url, self.country, self.target, page)

    def feed_request(self, page: int) -> Request:
        return Request(self.feed_url(page), headers={"Accept": "application/json"},
                       callback=self.parse_feed, errback=self.on_error,
                       cb_kwargs={"page": page}, meta={"handle_httpstatus_list": ERROR_STATUSES})

    async def start(self) -> AsyncIterator[Request]:
        yield self.feed_request(1)

    def parse_feed(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if not self.usable(response, "the review feed", expect_json=True):
            return
        parsed = self.parse_with(response, lambda bad: parse_feed_page(
                response.body, brand=self.brand, target_id=self.target_id,
                country=self.country, app_id=self.target, page_url=response.url, errors=bad))
        if parsed is None:
            return
        items, count = parsed
        fresh = self.fresh(items)
        yield from fresh
        last = min(MAX_PAGES, self.max_pages or MAX_PAGES)
        # A short page is the last one: Apple answers an empty feed (or 400) past the end.
        if count >= PAGE_SIZE and not self.reached_known and page < last:
            yield self.feed_request(page + 1)

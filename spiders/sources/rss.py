"""News and blog feeds (RSS 0.9x/1.0/2.0, Atom) filtered to entries that mention the brand.

``target`` is a short name for the feed (``rbc_finance``); spider arg ``url`` is the feed
URL (relative URLs resolve against ``base_url``, which is how tests point at the mock
site); ``aliases`` (JSON list) are the brand names matched by lemma. Paged Atom feeds
(RFC 5005 ``rel="next"``) are followed until the cursor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlparse

from scrapy.http import Request, Response

from spiders.parsers.rss import SOURCE, parse_feed
from spiders.sources.base import SlukhSpider


def _charset(response: Response) -> str | None:
    content_type = response.headers.get("Content-Type", b"").decode("latin-1")
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


def _http_date(response: Response) -> datetime | None:
    """The response's ``Date`` as naive UTC: the publication time of undated entries."""
    raw = response.headers.get("Date", b"").decode("latin-1")
    try:
        stamp = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if stamp.utcoffset() is None:
        return None
    return stamp.astimezone(UTC).replace(tzinfo=None)


class RssSpider(SlukhSpider):
    """One feed, its brand mentions, its older pages (when it has any)."""

    name = SOURCE
    source = SOURCE

    def __init__(self, target: str, brand: str, base_url: str | None = None,
                 url: str | None = None, **kwargs: Any) -> None:
        if not url:
            raise ValueError("the rss spider needs url=<feed URL>")
        absolute = urljoin((base_url or "").rstrip("/") + "/", url)
        super().__init__(target, brand, base_url or absolute, **kwargs)
        self.feed_url = absolute
        self.allowed_domains = [urlparse(absolute).hostname or ""]

    async def start(self) -> AsyncIterator[Request]:
        if not self.aliases:
            self.error("no brand aliases given (spider arg aliases='[\"Сбербанк\", \"Сбер\"]'): "
                       "feed entries cannot be attributed to the brand", self.feed_url)
            return
        yield self.feed_request(self.feed_url, 1)

    def feed_request(self, url: str, page: int) -> Request:
        return Request(url, callback=self.parse_feed, errback=self.on_error,
                       cb_kwargs={"page": page}, meta={"handle_httpstatus_all": True})

    def parse_feed(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if not self.usable(response, "the feed"):
            return
        parsed = self.parse_with(response, lambda bad: parse_feed(
                response.body, feed_url=response.url, brand=self.brand,
                target_id=self.target_id, aliases=self.aliases,
                header_charset=_charset(response), fallback_published=_http_date(response),
                errors=bad))
        if parsed is None:
            return
        items, next_url, entries = parsed
        self.crawler.stats.inc_value("slukh/feed_entries", entries)
        fresh = self.fresh(items)
        yield from fresh
        if next_url and not self.reached_known and (self.max_pages is None
                                                    or page < self.max_pages):
            yield self.feed_request(urljoin(response.url, next_url), page + 1)

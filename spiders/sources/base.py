"""What every Slukh spider shares: arguments, the incremental cursor, errors and blocks.

A spider only routes responses to pure ``parse_*`` functions; this base class keeps the
book-keeping that ``spiders.run`` turns into the crawl-run record: ``errors`` (each with
its URL), ``blocked_reason`` (captcha / anti-bot / 403 / 429 / 521: the run ends
``blocked``), ``pages_parsed`` (so "zero reviews" is never confused with "zero pages").
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlparse

import scrapy
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.parsers.common import ParseError, detect_block

T = TypeVar("T")


def parse_since(value: str | datetime | None) -> datetime | None:
    """The cursor as naive UTC; accepts ISO strings with or without an offset."""
    if value in (None, ""):
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


class SlukhSpider(scrapy.Spider):
    """Arguments (``-a`` or ``spiders.run --arg``): ``target`` (the source's code), ``brand``,
    ``base_url`` (a mock site in tests), ``max_pages``, ``since`` (the target's cursor: stop
    at items published at or before it), ``horizon_days`` (a first crawl goes this far back),
    ``aliases`` (JSON list of brand names, for sources that need brand attribution)."""

    source: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    default_horizon_days: ClassVar[int] = 365

    def __init__(self, target: str, brand: str, base_url: str | None = None,
                 max_pages: int | str | None = None, since: str | None = None,
                 horizon_days: int | str | None = None, aliases: str | list[str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not target or not brand:
            raise ValueError(f"{self.name} needs both target and brand")
        self.target = target
        self.brand = brand
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.max_pages = int(max_pages) if max_pages not in (None, "", "0") else None
        self.target_id = f"{self.source or self.name}:{target}"
        self.allowed_domains = [urlparse(self.base_url).hostname or ""]
        self.since = parse_since(since)
        days = int(horizon_days) if horizon_days not in (None, "") else self.default_horizon_days
        self.horizon = self.since is None and days > 0
        self.horizon_start = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=days)
        self.aliases = json.loads(aliases) if isinstance(aliases, str) else list(aliases or [])
        self.blocked_reason: str | None = None
        self.errors: list[str] = []
        self.pages_parsed = 0
        self.reached_known = False

    def is_old(self, published_at: datetime | None) -> bool:
        """True for an item at or before the cursor (or beyond the first-crawl horizon)."""
        if published_at is None:
            return False
        if self.since is not None:
            return published_at < self.since  # the item at the cursor is re-read: dedupe keeps one
        return self.horizon and published_at < self.horizon_start

    def usable(self, response: Response, what: str, *, expect_json: bool = False) -> bool:
        """True when the response is content to parse. An anti-bot answer stops the crawl
        (``blocked``); any other non-200 answer is a counted error with its URL."""
        reason = detect_block(response.status, response.headers, response.body,
                              expect_json=expect_json)
        if reason:
            self.block(reason, response.url)
        if response.status != 200:
            self.error(f"HTTP {response.status} for {what}", response.url)
            return False
        return True

    def parse_with(self, response: Response, parse: Callable[[list[ParseError]], T]) -> T | None:
        """Run a pure parser given its ``errors`` list: bad records are counted with their
        URLs; a page that cannot be parsed at all is counted too and gives None."""
        bad: list[ParseError] = []
        try:
            result = parse(bad)
        except ParseError as exc:
            self.error(exc.reason, response.url)
            return None
        for exc in bad:
            self.error(str(exc), exc.url)
        self.pages_parsed += 1
        return result

    def fresh(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items newer than the cursor; meeting an old one ends the paging."""
        kept = [it for it in items if not self.is_old(it["published_at"])]
        if len(kept) < len(items):
            self.reached_known = True
        return kept

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

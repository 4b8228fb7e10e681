"""2GIS reviews of one firm (branch): the firm page's embedded reviews, then the reviews API.

Wiring only: requests go out, bodies go to ``spiders.parsers.dgis``, and what went wrong is
recorded (``blocked_reason``, ``errors``) for ``spiders.run`` to report.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlparse

from scrapy.http import Request, Response

from spiders.parsers.dgis import (
    API_PAGE,
    SOURCE,
    ParseError,
    ReviewPage,
    ShellPage,
    decode_page,
    last_activity,
    parse_api_page,
    parse_firm_page,
)
from spiders.sources.base import SlukhSpider

DEFAULT_BASE_URL = "https://2gis.ru"
DEFAULT_API_URL = "https://public-api.reviews.2gis.com"
#: The reviews API wants the web client's key; like every secret it comes from the env.
KEY_ENV = "SLUKH_DGIS_REVIEWS_KEY"
ERROR_STATUSES = list(range(400, 600))
_TARGET = re.compile(r"([a-z][a-z_-]*)/(\d+)")
_CHARSET = re.compile(r"charset=([\w-]+)", re.IGNORECASE)


class DgisSpider(SlukhSpider):
    """Crawl ``/<city>/firm/<firm_id>`` (50 newest reviews) and, with a key, the API after it.

    ``target`` is ``<city>/<firm_id>`` as in the firm's URL (``vologda/70000001019437403``).
    ``api_url`` defaults to the public reviews API for the real site, and to ``base_url``
    itself for a mock site. Without ``$SLUKH_DGIS_REVIEWS_KEY`` only the page is read, and
    a run that needed more says so in its errors.
    """

    name = SOURCE
    source = SOURCE
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, target: str, brand: str, base_url: str | None = DEFAULT_BASE_URL,
                 api_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(target, brand, base_url, **kwargs)
        match = _TARGET.fullmatch(target)
        if match is None:
            raise ValueError(f"dgis target must be <city>/<firm_id>, got {target!r}")
        self.city, self.firm_id = match.groups()
        default_api = DEFAULT_API_URL if self.base_url == DEFAULT_BASE_URL else self.base_url
        self.api_url = (api_url or default_api).rstrip("/")
        self.allowed_domains.append(urlparse(self.api_url).hostname or "")
        self.api_key = os.environ.get(KEY_ENV) or None
        self.records_seen = 0

    @property
    def firm_url(self) -> str:
        return f"{self.base_url}/{self.city}/firm/{self.firm_id}"

    def api_page_url(self, offset: int) -> str:
        return (f"{self.api_url}/2.0/branches/{self.firm_id}/reviews?limit={API_PAGE}"
                f"&offset={offset}&sort_by=date_edited&locale=ru_RU&key={self.api_key}")

    def _request(self, url: str, callback: Any, page: int) -> Request:
        return Request(url, callback=callback, errback=self.on_error, cb_kwargs={"page": page},
                       meta={"handle_httpstatus_list": ERROR_STATUSES})

    async def start(self) -> AsyncIterator[Request]:
        yield self._request(self.firm_url, self.parse_firm, 1)

    def parse_firm(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if not self.usable(response, "the firm page"):
            return
        declared = _CHARSET.search(response.headers.get("Content-Type", b"").decode("latin-1"))
        bad: list[ParseError] = []
        try:
            result = parse_firm_page(
                decode_page(response.body, declared.group(1) if declared else None),
                brand=self.brand, target_id=self.target_id, site_url=self.base_url,
                city=self.city, firm_id=self.firm_id, page_url=response.url, errors=bad)
        except ShellPage as exc:
            self.block(str(exc), response.url)  # raises CloseSpider
            return
        except ParseError as exc:
            self.error(exc.reason, response.url)
            return
        yield from self._page(result, bad, page, response.url)

    def parse_api(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if response.status in (401, 403) and response.body.lstrip()[:1] == b"{":
            self.error(f"the reviews API refused the request (HTTP {response.status}: "
                       f"{response.text[:200]}); check ${KEY_ENV}", response.url)
            return
        if not self.usable(response, "the reviews API", expect_json=True):
            return
        bad: list[ParseError] = []
        try:
            result = parse_api_page(
                response.body, brand=self.brand, target_id=self.target_id,
                site_url=self.base_url, city=self.city, firm_id=self.firm_id,
                page_url=response.url, errors=bad)
        except ParseError as exc:
            self.error(exc.reason, response.url)
            return
        yield from self._page(result, bad, page, response.url)

    def _page(self, result: ReviewPage, bad: list[ParseError], page: int,
              url: str) -> Iterator[dict[str, Any] | Request]:
        """Shared tail: count, apply the cursor (on last activity: the site's order), page on."""
        for exc in bad:
            self.error(str(exc), exc.url)
        self.pages_parsed += 1
        self.records_seen += result.records
        if result.skipped_empty:
            self.crawler.stats.inc_value("slukh/dgis_stars_only", result.skipped_empty)
        for item in result.items:
            if self.is_old(last_activity(item)):
                self.reached_known = True
            else:
                yield item
        more = (not self.reached_known and result.records > 0
                and (result.total is None or self.records_seen < result.total))
        if not more or (self.max_pages is not None and page >= self.max_pages):
            return
        if self.api_key is None:
            self.error(f"only the {self.records_seen} reviews embedded in the firm page were "
                       f"read, the site lists {result.total}: set ${KEY_ENV} to page further",
                       url)
            return
        next_url = result.next_link or self.api_page_url(result.next_offset or self.records_seen)
        yield self._request(next_url, self.parse_api, page + 1)

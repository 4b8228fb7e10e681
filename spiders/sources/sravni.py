"""sravni.ru reviews of one company, through the site's ``/proxy-reviews/reviews/`` JSON API.

Wiring only: requests go out, bodies go to ``spiders.parsers.sravni``, and what went wrong
is recorded (``blocked_reason``, ``errors``) for ``spiders.run`` to report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy.http import Request, Response

from spiders.parsers.sravni import (
    OBJECT_TYPES,
    PAGE_SIZE,
    SOURCE,
    ParseError,
    list_url,
    parse_reviews_page,
)
from spiders.sources.base import SlukhSpider

DEFAULT_BASE_URL = "https://www.sravni.ru"
#: Error statuses reach the callback (to be reported); redirects are still followed.
ERROR_STATUSES = list(range(400, 600))


class SravniRuSpider(SlukhSpider):
    """Crawl ``/proxy-reviews/reviews/?pageIndex=N…&orderBy=byDate`` newest first.

    ``target`` is the ``reviewObjectId`` (24 hex digits, e.g. ``5bb4f768245bc22a520a6115``).
    Extra arguments: ``object_type`` (``bank`` default, ``mfo``, ``insuranceCompany``),
    ``alias`` (the company's page alias, only used to build review links), ``page_size``.
    """

    name = SOURCE
    source = SOURCE
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, target: str, brand: str, base_url: str | None = DEFAULT_BASE_URL,
                 object_type: str = "bank", alias: str | None = None,
                 page_size: int | str = PAGE_SIZE, **kwargs: Any) -> None:
        super().__init__(target, brand, base_url, **kwargs)
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"object_type must be one of {', '.join(OBJECT_TYPES)}, "
                             f"got {object_type!r}")
        self.object_type = object_type
        self.alias = alias or None
        self.page_size = int(page_size)
        self.records_seen = 0

    def list_url(self, page: int) -> str:
        return list_url(self.base_url, self.target, self.object_type, page, self.page_size)

    def list_request(self, page: int) -> Request:
        return Request(
            self.list_url(page),
            headers={"Accept": "application/json"},
            callback=self.parse_list,
            errback=self.on_error,
            cb_kwargs={"page": page},
            meta={"handle_httpstatus_list": ERROR_STATUSES},
        )

    async def start(self) -> AsyncIterator[Request]:
        yield self.list_request(0)

    def parse_list(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if not self.usable(response, "the review list", expect_json=True):
            return
        parsed = self.parse_with(response, lambda bad: parse_reviews_page(
                response.body, brand=self.brand, target_id=self.target_id,
                base_url=self.base_url, page_url=response.url, object_type=self.object_type,
                object_key=self.alias, errors=bad))
        if parsed is None:
            return
        items, total, records = parsed
        self.records_seen += records
        fresh = self.fresh(items)
        yield from fresh
        more = not self.reached_known and (total is None or self.records_seen < total)
        within = self.max_pages is None or page + 1 < self.max_pages
        if records and more and within:
            yield self.list_request(page + 1)

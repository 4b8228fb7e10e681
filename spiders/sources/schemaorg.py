"""Reviews of one product or company from any site that marks them up with schema.org.

``target`` is a short name (``otzovik_sberbank``); spider arg ``url`` is the first review
page (relative URLs resolve against ``base_url``, which is how tests use the mock site).
Pages are followed through ``rel="next"``. An anti-bot page (otzovik's «Вы робот?») ends
the crawl as blocked; a page with no review markup is a parse error, never "zero reviews".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin, urlparse

from scrapy.http import Request, Response

from spiders.parsers.schemaorg import SOURCE, parse_review_page
from spiders.sources.base import SlukhSpider


class SchemaOrgSpider(SlukhSpider):
    """Review list pages, newest first as review sites sort them, until the cursor."""

    name = SOURCE
    source = SOURCE

    def __init__(self, target: str, brand: str, base_url: str | None = None,
                 url: str | None = None, **kwargs: Any) -> None:
        if not url:
            raise ValueError("the schemaorg spider needs url=<first review page>")
        absolute = urljoin((base_url or "").rstrip("/") + "/", url)
        super().__init__(target, brand, base_url or absolute, **kwargs)
        self.start_url = absolute
        self.allowed_domains = [urlparse(absolute).hostname or ""]

    async def start(self) -> AsyncIterator[Request]:
        yield self.page_request(self.start_url, 1)

    def page_request(self, url: str, page: int) -> Request:
        return Request(url, callback=self.parse_page, errback=self.on_error,
                       cb_kwargs={"page": page}, meta={"handle_httpstatus_all": True})

    def parse_page(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if not self.usable(response, "the review page"):
            return
        parsed = self.parse_with(response, lambda bad: parse_review_page(response.text, page_url=response.url,
                                                brand=self.brand, target_id=self.target_id,
                                                errors=bad))
        if parsed is None:
            return
        items, next_url = parsed
        fresh = self.fresh(items)
        yield from fresh
        if next_url and not self.reached_known and (self.max_pages is None
                                                    or page < self.max_pages):
            yield self.page_request(next_url, page + 1)

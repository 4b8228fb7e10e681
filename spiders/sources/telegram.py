"""Telegram public channel posts, through the web preview ``{base}/s/<channel>``.

Wiring only: requests go out, bodies go to ``spiders.parsers.telegram``, and blocks and
errors land on the spider for ``spiders.run`` to report. No API key is needed: the preview
is public, but only for channels whose owners left it on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy.http import Request, Response

from spiders.parsers.common import detect_block
from spiders.parsers.telegram import SOURCE, parse_channel_page
from spiders.sources.base import SlukhSpider

DEFAULT_BASE_URL = "https://t.me"


class TelegramSpider(SlukhSpider):
    """Crawl ``/s/<target>`` then ``?before=<id>`` newest page first; ``target`` = channel name.

    Paging stops at the cursor (``since``), at ``max_pages``, or when a page has no older
    posts. A redirect means the channel has no public preview: reported, never "zero posts".
    """

    name = SOURCE
    source = SOURCE
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, target: str, brand: str, base_url: str | None = DEFAULT_BASE_URL,
                 **kwargs: Any) -> None:
        super().__init__(target.lstrip("@").strip("/"), brand, base_url, **kwargs)

    def page_request(self, before: int | None = None, page: int = 1) -> Request:
        url = f"{self.base_url}/s/{self.target}"
        if before is not None:
            url += f"?before={before}"
        return Request(url, callback=self.parse_page, errback=self.on_error,
                       cb_kwargs={"page": page}, meta={"handle_httpstatus_all": True})

    async def start(self) -> AsyncIterator[Request]:
        yield self.page_request()

    def parse_page(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        reason = detect_block(response.status, response.headers, response.body)
        if reason:
            self.block(reason, response.url)
        if 300 <= response.status < 400:
            where = response.headers.get("Location", b"").decode("latin-1")
            self.error(f"HTTP {response.status} to {where!r}: channel {self.target} has no "
                       "public web preview (or does not exist); check the channel name",
                       response.url)
            return
        if not self.usable(response, "the channel page"):
            return
        errors_before = len(self.errors)
        parsed = self.parse_with(response, lambda bad: parse_channel_page(
            response.body, brand=self.brand, target_id=self.target_id, page_url=response.url,
            errors=bad))
        if parsed is None:
            return
        items, before = parsed
        fresh = self.fresh(items)
        yield from reversed(fresh)  # newest first, like every other source
        more = not self.reached_known and before is not None and (items or len(self.errors) > errors_before)
        if more and (self.max_pages is None or page < self.max_pages):
            yield self.page_request(before, page + 1)

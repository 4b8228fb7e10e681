"""VK posts (and comments) of one wall, or posts found by a brand keyword, via the VK API.

``target`` is ``wall:<owner_id>`` (``-22522055`` for a community) or ``search:<keyword>``.
The token comes only from the environment (``VK_TOKEN``). It is added to the request by
:class:`VkTokenMiddleware` at the last moment before download and stripped again from the
request and response right after, so Scrapy's log lines, error messages, run records and
batch rows only ever see token-free URLs. Spider args: ``comments`` (``1``/``0``, wall only).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

from scrapy.crawler import Crawler
from scrapy.http import Request, Response
from scrapy.settings import BaseSettings
from w3lib.url import add_or_replace_parameter, url_query_cleaner


from spiders.parsers.vk import (
    API_VERSION,
    SOURCE,
    VkApiError,
    parse_comments,
    parse_search,
    parse_wall,
)
from spiders.sources.base import SlukhSpider

DEFAULT_BASE_URL = "https://api.vk.com"
WALL_PAGE, SEARCH_PAGE, COMMENTS_PAGE = 100, 200, 100  # the API's maximum ``count`` each


def _strip_token(url: str) -> str:
    return url_query_cleaner(url, ("access_token",), remove=True, keep_fragments=True)


class VkTokenMiddleware:
    """Downloader middleware: token in for the download, out again before anything logs.

    Runs closest to the downloader (order 950), so the scheduler, the HTTP cache and the
    retry middleware see the clean URL. ``Request._set_url`` is the one private call: a
    replaced request would be re-scheduled and logged with the token.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VkTokenMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Any = None) -> None:
        token = getattr(self.crawler.spider, "token", None)
        if request.meta.get("vk_api") and token:
            request._set_url(add_or_replace_parameter(request.url, "access_token", token))

    def process_response(self, request: Request, response: Response,
                         spider: Any = None) -> Response:
        clean = _strip_token(request.url)
        request._set_url(clean)
        return response.replace(url=clean) if response.url != clean else response

    def process_exception(self, request: Request, exception: Exception,
                          spider: Any = None) -> None:
        request._set_url(_strip_token(request.url))


class VkSpider(SlukhSpider):
    """Wall: ``wall.get`` pages by ``offset`` (+ ``wall.getComments`` per post with comments).
    Search: ``newsfeed.search`` pages by ``start_from``. Both newest first; stop at the cursor.
    """

    name = SOURCE
    source = SOURCE
    default_base_url = DEFAULT_BASE_URL

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        """Add the token middleware to the project's middlewares (merged, not replaced)."""
        super().update_settings(settings)
        middlewares = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
        middlewares["spiders.sources.vk.VkTokenMiddleware"] = 950
        settings.set("DOWNLOADER_MIDDLEWARES", middlewares, priority="spider")

    def __init__(self, target: str, brand: str, base_url: str | None = DEFAULT_BASE_URL,
                 comments: str | bool = True, **kwargs: Any) -> None:
        super().__init__(target, brand, base_url, **kwargs)
        self.token = os.environ.get("VK_TOKEN", "").strip()
        self.mode, _, self.query = target.partition(":")
        self.comments = str(comments).lower() not in ("0", "false", "no", "")
        self.posts_seen = 0

    def api_request(self, method: str, callback: Any, params: dict[str, Any],
                    **cb_kwargs: Any) -> Request:
        query = urlencode({**params, "v": API_VERSION})
        return Request(f"{self.base_url}/method/{method}?{query}", callback=callback,
                       errback=self.on_error, cb_kwargs=cb_kwargs,
                       meta={"handle_httpstatus_all": True, "vk_api": True, "dont_cache": True})

    async def start(self) -> AsyncIterator[Request]:
        where = f"{self.base_url}/method/"
        if not self.token:
            self.error("VK_TOKEN is not set: export a VK user access token as VK_TOKEN "
                       "(environment or Airflow connection) and re-run; no request was made",
                       where)
            return
        if self.mode == "wall" and self.query.lstrip("-").isdigit():
            yield self.wall_request(0, 1)
        elif self.mode == "search" and self.query.strip():
            yield self.search_request(None, 1)
        else:
            self.error(f"target {self.target!r} is neither wall:<owner_id> nor search:<keyword>",
                       where)

    def wall_request(self, offset: int, page: int) -> Request:
        return self.api_request("wall.get", self.parse_wall,
                                {"owner_id": self.query, "count": WALL_PAGE, "offset": offset},
                                offset=offset, page=page)

    def search_request(self, start_from: str | None, page: int) -> Request:
        params: dict[str, Any] = {"q": self.query, "count": SEARCH_PAGE}
        if start_from:
            params["start_from"] = start_from
        if self.since is not None:
            params["start_time"] = int(self.since.replace(tzinfo=UTC).timestamp())
        return self.api_request("newsfeed.search", self.parse_search, params, page=page)

    def _checked(self, response: Response) -> bool:
        return self.usable(response, "the VK API", expect_json=True)

    def _parse(self, parser: Any, response: Response, **kwargs: Any) -> tuple[list[Any], Any]:
        try:
            parsed = self.parse_with(response, lambda bad: parser(
                response.body, brand=self.brand, target_id=self.target_id,
                api_url=response.url, errors=bad, **kwargs))
        except VkApiError as exc:   # the API's own error object: blocked or counted
            if exc.stop:
                self.block(str(exc), response.url)
            self.error(str(exc), response.url)
            return [], None
        return parsed if parsed is not None else ([], None)

    def _fresh(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = [it for it in items if not self.is_old(it["published_at"])]
        # A pinned post can be years old: it must not end paging of a newest-first wall.
        if any(self.is_old(it["published_at"]) and not it["extra"].get("is_pinned")
               for it in items):
            self.reached_known = True
        return fresh

    def _more(self, page: int) -> bool:
        return not self.reached_known and (self.max_pages is None or page < self.max_pages)

    def parse_wall(self, response: Response, offset: int,
                   page: int) -> Iterator[dict[str, Any] | Request]:
        if not self._checked(response):
            return
        items, total = self._parse(parse_wall, response)
        fresh = self._fresh(items)
        yield from fresh
        for item in fresh:
            if self.comments and item["extra"].get("comments"):
                owner, _, post = item["external_id"].partition("_")
                yield self.comments_request(int(owner), int(post), 0)
        self.posts_seen = offset + WALL_PAGE
        more = self.posts_seen < total if total is not None else bool(items)
        if more and self._more(page):
            yield self.wall_request(self.posts_seen, page + 1)

    def comments_request(self, owner_id: int, post_id: int, offset: int) -> Request:
        return self.api_request(
            "wall.getComments", self.parse_comments,
            {"owner_id": owner_id, "post_id": post_id, "count": COMMENTS_PAGE, "offset": offset,
             "sort": "desc", "thread_items_count": 10},
            owner_id=owner_id, post_id=post_id, offset=offset)

    def parse_comments(self, response: Response, owner_id: int, post_id: int,
                       offset: int) -> Iterator[dict[str, Any] | Request]:
        if not self._checked(response):
            return
        items, total = self._parse(parse_comments, response, owner_id=owner_id, post_id=post_id)
        yield from (it for it in items if not self.is_old(it["published_at"]))
        nxt = offset + COMMENTS_PAGE
        if items and total is not None and nxt < total:
            yield self.comments_request(owner_id, post_id, nxt)

    def parse_search(self, response: Response, page: int) -> Iterator[dict[str, Any] | Request]:
        if not self._checked(response):
            return
        items, next_from = self._parse(parse_search, response)
        yield from self._fresh(items)
        if next_from and self._more(page):
            yield self.search_request(next_from, page + 1)

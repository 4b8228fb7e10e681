"""Downloader middleware: retries with exponential backoff.

Scrapy's own RetryMiddleware re-queues a failed request immediately, which against a
rate-limiting site (HTTP 429/503) only digs the hole deeper. This subclass keeps its
rules (RETRY_TIMES, RETRY_HTTP_CODES, RETRY_EXCEPTIONS, dont_retry) and only waits before
handing the retry back. The wait holds the domain's download slot, so with
CONCURRENT_REQUESTS_PER_DOMAIN=1 the whole domain pauses, which is the point.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares import cookies as _scrapy_cookies
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.asyncio import sleep
from tldextract import TLDExtract

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

# Scrapy's CookiesMiddleware checks cookie domains with tldextract, which on first use
# downloads the Public Suffix List from publicsuffix.org/GitHub (a surprise third-party
# request, and a network call from offline tests). The snapshot bundled with tldextract
# is enough for cookie-domain checks. Loading this module (it is in
# DOWNLOADER_MIDDLEWARES) swaps the extractor before the first response is seen.
if hasattr(_scrapy_cookies, "_split_domain"):
    _scrapy_cookies._split_domain = TLDExtract(  # type: ignore[attr-defined]
        suffix_list_urls=(), include_psl_private_domains=True
    )


class BackoffRetryMiddleware(RetryMiddleware):
    """RetryMiddleware that sleeps ``base * 2**(n-1)`` (capped, plus ≤10% jitter) first."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 2.0)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)

    def backoff_delay(self, retry_times: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry_times`` (1-based)."""
        delay = self.backoff_base * 2 ** max(0, retry_times - 1)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, float(retry_after))
        delay = min(delay, self.backoff_max)
        return delay + random.uniform(0, delay * 0.1)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            header = response.headers.get("Retry-After")
            retry_after = header.decode("latin-1") if header else None
            await sleep(self.backoff_delay(result.meta.get("retry_times", 1), retry_after))
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await sleep(self.backoff_delay(result.meta.get("retry_times", 1)))
        return result

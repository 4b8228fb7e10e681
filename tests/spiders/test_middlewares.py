"""BackoffRetryMiddleware: the waits grow exponentially, respect Retry-After and the cap."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from spiders.middlewares import BackoffRetryMiddleware


@pytest.fixture
def middleware() -> BackoffRetryMiddleware:
    settings = Settings({"RETRY_ENABLED": True, "RETRY_BACKOFF_BASE": 2.0,
                         "RETRY_BACKOFF_MAX": 60.0})
    return BackoffRetryMiddleware(settings)


@pytest.mark.parametrize(
    ("retry", "retry_after", "base"),
    [(1, None, 2.0), (2, None, 4.0), (3, None, 8.0), (7, None, 60.0), (1, "30", 30.0),
     (1, "600", 60.0), (3, "soon", 8.0)],
)
def test_backoff_delay(middleware, retry, retry_after, base):
    delay = middleware.backoff_delay(retry, retry_after)
    assert base <= delay <= base * 1.1  # at most 10% jitter on top


def test_project_settings_use_backoff_instead_of_plain_retry():
    from spiders import settings

    assert settings.DOWNLOADER_MIDDLEWARES == {
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
        "spiders.middlewares.BackoffRetryMiddleware": 550,
    }
    assert settings.RETRY_TIMES == 3
    assert {429, 500, 502, 503, 504, 522, 524, 408} <= set(settings.RETRY_HTTP_CODES)

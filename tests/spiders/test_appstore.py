"""App Store: feed parser on hand-written pages, spider routing, crawls of the mock site."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from slukh.mocksite import MockSite
from slukh.mocksite import Request as MockRequest
from slukh.mocksite import appstore as mock
from spiders.parsers.appstore import ParseError, parse_feed_page
from spiders.run import run_crawl
from spiders.sources.appstore import AppStoreSpider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "appstore"
APP = "1453111111"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01}
REVIEWS = f"https://apps.apple.com/ru/app/id{APP}?see-all=reviews#review-"


def _parse(name_or_body: str | bytes, errors: list[ParseError] | None = None, app: str = APP):
    body = (FIXTURES / name_or_body).read_bytes() if isinstance(name_or_body, str) else name_or_body
    return parse_feed_page(body, brand="zarya", target_id=f"appstore:{app}", country="ru",
                           app_id=app, page_url="http://x/page=1", errors=errors)


def test_parse_feed_whole_items():
    errors: list[ParseError] = []
    items, count = _parse("feed_p1.json", errors)
    common = {"source": "appstore", "target_id": f"appstore:{APP}", "brand": "zarya"}
    assert items == [
        {**common, "external_id": "11000000123", "url": f"{REVIEWS}11000000123",
         "title": "Не могу войти",
         "text": "После обновления вылетает на экране входа.\nP.S. было <3, а теперь нет",
         "rating": 1, "published_at": datetime(2026, 11, 20, 5, 41, 7), "author": "Котик2000",
         "extra": {"version": "14.20.1", "country": "ru", "voteSum": 3, "voteCount": 4}},
        {**common, "external_id": "11000000100", "url": f"{REVIEWS}11000000100",
         "title": "Удобно", "text": "Переводы по номеру телефона проходят мгновенно.",
         "rating": 5, "published_at": datetime(2026, 11, 18, 11, 0), "author": "Мария К.",
         "extra": {"version": "14.20.0", "country": "ru", "voteSum": 0, "voteCount": 0}},
    ]
    assert count == 3  # the app-info entry is not a review; the broken one is
    assert [e.reason for e in errors] == ["review 11000000099: bad updated 'вчера'"]


def test_single_entry_object_and_empty_feed():
    items, count = _parse("feed_single.json", app="1453222222")
    assert ([i["external_id"] for i in items], count) == (["11000000001"], 1)
    assert _parse("feed_empty.json") == ([], 0)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"feed": {"entry": [{"id": {"la', "not JSON"),
    (b"<html><title>Access Denied</title></html>", "not JSON"),
    (b'{"error": "bad"}', "no 'feed' object"),
    (b'{"feed": {"entry": "x"}}', "neither a list nor an object"),
])
def test_broken_pages_raise_with_url(body, message):
    with pytest.raises(ParseError, match=message) as info:
        _parse(body)
    assert info.value.url == "http://x/page=1"


# --- spider routing -------------------------------------------------------------------

def _spider(**kwargs) -> AppStoreSpider:
    args = {"target": APP, "brand": "zarya", "base_url": "https://itunes.apple.com",
            "horizon_days": 0, **kwargs}
    return AppStoreSpider.from_crawler(get_crawler(AppStoreSpider), **args)


def _mock_body(page: int, app: str = APP) -> bytes:
    path = f"/ru/rss/customerreviews/page={page}/id={app}/sortby=mostrecent/json"
    return mock.feed_page(MockRequest("GET", path, {}, {}, {})).payload()


def _run(spider: AppStoreSpider, page: int, body: bytes, status: int = 200) -> list:
    request = spider.feed_request(page)
    response = TextResponse(url=request.url, status=status, body=body, request=request,
                            encoding="utf-8")
    return list(spider.parse_feed(response, page=page))


def test_urls_and_arguments():
    spider = _spider(country="kz")
    assert spider.feed_url(3) == (
        f"https://itunes.apple.com/kz/rss/customerreviews/page=3/id={APP}/sortby=mostrecent/json")
    assert spider.target_id == f"appstore:{APP}"
    with pytest.raises(ValueError, match="numeric app id"):
        _spider(target="id1453111111")
    with pytest.raises(ValueError, match="storefront"):
        _spider(country="RUS")


def test_full_page_asks_for_next_short_page_and_page_10_stop():
    spider = _spider()
    out = _run(spider, 1, _mock_body(1))
    assert len([o for o in out if isinstance(o, dict)]) == 50
    assert [o.url for o in out if isinstance(o, Request)] == [spider.feed_url(2)]
    assert not any(isinstance(o, Request) for o in _run(spider, 3, _mock_body(3)))  # 23 left
    assert not any(isinstance(o, Request) for o in _run(spider, 10, _mock_body(1)))  # Apple's cap


def test_cursor_stops_paging():
    newest = mock.entries(APP)
    cursor = datetime.fromisoformat(newest[2]["updated"]["label"]).isoformat()
    spider = _spider(since=cursor)
    out = _run(spider, 1, _mock_body(1))
    assert [o["external_id"] for o in out] == [e["id"]["label"] for e in newest[:3]]
    assert spider.reached_known


def test_html_and_429_block():
    spider = _spider()
    with pytest.raises(CloseSpider):
        _run(spider, 1, mock.captcha(MockRequest("GET", "/", {}, {}, {})).payload())
    assert "anti-bot page" in spider.blocked_reason and "page=1/" in spider.blocked_reason
    spider = _spider()
    with pytest.raises(CloseSpider):
        _run(spider, 2, b"", status=429)
    assert "HTTP 429" in spider.blocked_reason


# --- real crawls of the mock site -------------------------------------------------------

@pytest.mark.slow
def test_crawl_all_pages(tmp_path):
    with MockSite(mock.routes()) as site:
        record = run_crawl("appstore", APP, "zarya", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"horizon_days": 0, "country": "ru"})
        pages = sorted(p for p in site.hits if "customerreviews" in p)
    served = mock.entries(APP)
    assert (record["status"], record["items"], record["errors"]) == ("ok", len(served), 0)
    assert len(pages) == 3  # 50 + 50 + 23: the short third page ends the crawl
    rows = pq.read_table(record["batch_path"]).to_pylist()
    assert len(rows) == len(served) == len({r["external_id"] for r in rows})
    assert {r["external_id"] for r in rows} == {e["id"]["label"] for e in served}
    assert all(json.loads(r["extra"])["version"] for r in rows)
    assert all(r["author_hash"] and r["target_id"] == f"appstore:{APP}" for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize(("handler", "status", "fragment"), [
    ("rate_limited", "blocked", "HTTP 429"),
    ("truncated", "failed", "not JSON"),
])
def test_crawl_failures_are_visible(tmp_path, handler, status, fragment):
    settings = {**FAST, "RETRY_BACKOFF_BASE": 0.01, "RETRY_BACKOFF_MAX": 0.05}
    with MockSite(mock.routes()) as site:
        site.override = getattr(mock, handler)
        record = run_crawl("appstore", APP, "zarya", tmp_path, base_url=site.base_url,
                           settings=settings, spider_args={"horizon_days": 0})
    assert (record["status"], record["items"], record["batch_path"]) == (status, 0, None)
    assert fragment in record["message"] and f"page=1/id={APP}" in record["message"]
    assert status == "blocked" or record["errors"] > 0

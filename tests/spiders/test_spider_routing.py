"""BankiRuSpider routing: challenge → repeat, page → items + next page, block → stop."""

from __future__ import annotations

import json

import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from spiders.sources.banki import BankiRuSpider

BASE = "http://demo.test"


@pytest.fixture
def spider() -> BankiRuSpider:
    crawler = get_crawler(BankiRuSpider)
    return BankiRuSpider.from_crawler(crawler, target="zarya", brand="zarya", base_url=BASE,
                                      horizon_days=0)


def _response(spider, page: int, status: int = 200, body: bytes = b"", headers=None,
              challenges: int = 0) -> TextResponse:
    request = spider.list_request(page, challenges)
    return TextResponse(url=request.url, status=status, body=body, headers=headers or {},
                        request=request, encoding="utf-8")


def _page(ids: list[int], total: int) -> bytes:
    return json.dumps({"data": [{"id": i, "dateCreate": "2026-11-20 12:00:00", "title": "t",
                                 "text": f"<p>отзыв {i}</p>", "grade": 2, "commentCount": 0}
                                for i in ids], "total": total}).encode()


def test_first_request_is_ajax_with_header(spider):
    request = spider.list_request(1)
    assert request.url == f"{BASE}/services/responses/list/ajax/?page=1&bank=zarya"
    assert request.headers["X-Requested-With"] == b"XMLHttpRequest"
    assert request.meta["handle_httpstatus_all"] is True and request.dont_filter is False


def test_cookie_challenge_repeats_same_url_unfiltered(spider):
    url = spider.list_url(1)
    response = _response(spider, 1, 302, headers={
        "Location": "/services/responses/list/ajax/?page=1&bank=zarya",
        "Set-Cookie": "__hash_=abc; Max-Age=900; Path=/"})
    out = list(spider.parse_list(response, page=1, challenges=0))
    assert len(out) == 1 and isinstance(out[0], Request)
    assert (out[0].url, out[0].dont_filter, out[0].cb_kwargs) == (
        url, True, {"page": 1, "challenges": 1})
    assert spider.crawler.stats.get_value("slukh/cookie_challenges") == 1


def test_endless_challenge_is_reported_as_block(spider):
    response = _response(spider, 1, 302, headers={"Location": spider.list_url(1)}, challenges=2)
    with pytest.raises(CloseSpider):
        list(spider.parse_list(response, page=1, challenges=2))
    assert "cookie challenges" in spider.blocked_reason


def test_page_yields_items_then_next_page(spider):
    out = list(spider.parse_list(_response(spider, 1, body=_page([3, 2], 3), challenges=1),
                                 page=1, challenges=1))
    assert [o["external_id"] for o in out if isinstance(o, dict)] == ["3", "2"]
    assert [(o.url, o.dont_filter) for o in out if isinstance(o, Request)] == [
        (spider.list_url(2), False)]
    assert spider.challenges_passed == 1
    last = list(spider.parse_list(_response(spider, 2, body=_page([1], 3)), page=2, challenges=0))
    assert [o["external_id"] for o in last] == ["1"]  # total reached: no page 3
    assert spider.pages_parsed == 2 and spider.errors == []


def test_empty_page_stops_and_max_pages_caps(spider):
    assert list(spider.parse_list(_response(spider, 4, body=_page([], 999)), page=4,
                                  challenges=0)) == []
    spider.max_pages = 1
    out = list(spider.parse_list(_response(spider, 1, body=_page([9], 999)), page=1,
                                 challenges=0))
    assert not any(isinstance(o, Request) for o in out)


def test_captcha_blocks_the_crawl(spider, fixture_bytes):
    response = _response(spider, 1, body=fixture_bytes("captcha.html"))
    with pytest.raises(CloseSpider):
        list(spider.parse_list(response, page=1, challenges=0))
    assert "вы робот" in spider.blocked_reason and spider.list_url(1) in spider.blocked_reason


def test_http_error_and_broken_json_are_counted_with_url(spider):
    assert list(spider.parse_list(_response(spider, 1, 404, b"nope"), page=1, challenges=0)) == []
    assert list(spider.parse_list(_response(spider, 2, body=b'{"x": 1}'), page=2,
                                  challenges=0)) == []
    assert spider.errors == [
        f"HTTP 404 for the review list (url: {spider.list_url(1)})",
        f"ajax list has no 'data' array (url: {spider.list_url(2)})",
    ]
    assert spider.blocked_reason is None


def _dated_page(dates: list[str], total: int) -> bytes:
    return json.dumps({"data": [{"id": 100 + i, "dateCreate": d, "title": "t",
                                 "text": f"<p>отзыв {i}</p>", "grade": 2, "commentCount": 0}
                                for i, d in enumerate(dates)], "total": total}).encode()


def test_cursor_stops_paging_at_known_reviews():
    crawler = get_crawler(BankiRuSpider)
    # cursor = 2026-11-19 09:00 UTC = 12:00 Moscow; newer reviews come first on the page
    spider = BankiRuSpider.from_crawler(crawler, target="zarya", brand="zarya", base_url=BASE,
                                        since="2026-11-19T09:00:00")
    body = _dated_page(["2026-11-20 10:00:00", "2026-11-19 12:00:00", "2026-11-18 10:00:00"], 100)
    out = list(spider.parse_list(_response(spider, 1, body=body), page=1, challenges=0))
    assert [o["external_id"] for o in out if isinstance(o, dict)] == ["100", "101"]
    assert not any(isinstance(o, Request) for o in out)      # no page 2: the rest is known
    assert spider.reached_known


def test_first_crawl_horizon_skips_old_reviews():
    crawler = get_crawler(BankiRuSpider)
    spider = BankiRuSpider.from_crawler(crawler, target="zarya", brand="zarya", base_url=BASE,
                                        horizon_days=30)
    body = _dated_page(["2001-01-02 10:00:00"], 100)
    out = list(spider.parse_list(_response(spider, 1, body=body), page=1, challenges=0))
    assert out == [] and spider.reached_known

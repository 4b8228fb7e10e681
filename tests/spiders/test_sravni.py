"""sravni.ru: parser on hand-written and real pages, spider routing, crawls of the mock site."""

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
from slukh.mocksite import sravni as mock
from spiders.parsers.sravni import ParseError, parse_reviews_page
from spiders.parsers.text import iso_to_utc
from spiders.run import run_crawl
from spiders.sources.sravni import SravniRuSpider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sravni_ru"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "sravni_ru"
BASE = "https://www.sravni.ru"
OBJ = "60c7a1b2c3d4e5f601234567"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01}


def _parse(body: bytes, errors: list[ParseError] | None = None):
    return parse_reviews_page(body, brand="zarya", target_id=f"sravni_ru:{OBJ}", base_url=BASE,
                              page_url="http://x/p0", errors=errors)


def test_parse_page_whole_items():
    errors: list[ParseError] = []
    items, total, records = _parse((FIXTURES / "reviews_p0.json").read_bytes(), errors)
    common = {"source": "sravni_ru", "target_id": f"sravni_ru:{OBJ}", "brand": "zarya"}
    assert items == [
        {**common, "external_id": "812345", "url": f"{BASE}/bank/{OBJ}/otzyvy/812345/",
         "title": "Заблокировали карту без объяснений",
         "text": "Карту заблокировали в отпуске.\nВ чате отвечают шаблонами, "
                 "<b>разблокировать</b> обещают «в течение 30 дней».",
         "rating": 1, "published_at": datetime(2026, 11, 19, 11, 5, 30, 250000),
         "author": "Светлана",
         "extra": {"commentsCount": 2, "hasCompanyResponse": True, "rating": 1,
                   "problemSolved": False, "createdToMoscow": "2026-11-19T14:05:30.25Z",
                   "locationData": {"id": 847, "alias": "astrakhan", "name": "Астрахань"},
                   "reviewObjectType": "banks", "reviewTag": "debitCards", "isClient": True}},
        {**common, "external_id": "812001", "url": f"{BASE}/bank/{OBJ}/otzyvy/812001/",
         "title": None, "text": "Вклад открыли за 10 минут, ставка как на сайте.",
         "rating": 5, "published_at": datetime(2026, 11, 18, 6, 0), "author": None,
         "extra": {"commentsCount": 0, "hasCompanyResponse": False, "rating": 5,
                   "problemSolved": True, "createdToMoscow": "2026-11-18T09:00:00Z",
                   "locationData": None, "reviewObjectType": "banks", "reviewTag": "deposits",
                   "isClient": True}},
        {**common, "external_id": "811999", "url": f"{BASE}/bank/{OBJ}/otzyvy/811999/",
         "title": "Средне", "text": "Приложение иногда зависает при переводе.", "rating": 3,
         "published_at": datetime(2026, 11, 17, 21, 30), "author": "Игорь",
         "extra": {"commentsCount": 1, "hasCompanyResponse": True, "rating": 3,
                   "problemSolved": False,
                   "locationData": {"id": 1, "alias": "moskva", "name": "Москва"},
                   "reviewObjectType": "banks", "reviewTag": "mobileApp", "isClient": False}},
    ]
    assert (total, records) == (4, 4)
    assert [e.reason.split(":")[0] for e in errors] == ["review without a numeric id"]


def test_bad_record_raises_without_error_list():
    with pytest.raises(ParseError, match="numeric id"):
        _parse((FIXTURES / "reviews_p0.json").read_bytes())


@pytest.mark.parametrize(("body", "message"), [
    (b'{"items": [{"id": 1, "te', "not JSON"),
    (b"<html>robot</html>", "not JSON"),
    (b'{"data": []}', "no 'items' array"),
    (b'{"items": [], "total": "many"}', "not an integer"),
])
def test_broken_pages_raise_with_url(body, message):
    with pytest.raises(ParseError, match=message) as info:
        _parse(body)
    assert info.value.url == "http://x/p0"


def test_real_saved_page():
    path = SHARED / "esg_proxy-reviews_bank.json"
    if not path.exists():
        pytest.skip(f"shared fixture {path} not present")
    raw = json.loads(path.read_bytes())
    items, total, records = _parse(path.read_bytes(), [])
    assert (len(items), total, records) == (10, 1412, 10)
    assert len({i["external_id"] for i in items}) == 10
    for item, record in zip(items, raw["items"], strict=True):
        assert item["published_at"] == iso_to_utc(record["date"])  # Moscow "Z" handled
        assert item["text"] and item["rating"] == record["rating"]
        assert {"reviewTag", "problemSolved", "hasCompanyResponse", "createdToMoscow",
                "locationData", "rating"} <= set(item["extra"])
    assert items[0]["extra"]["locationData"]["name"] == "Астрахань"


# --- spider routing -------------------------------------------------------------------

def _spider(**kwargs) -> SravniRuSpider:
    args = {"target": OBJ, "brand": "zarya", "base_url": BASE, "horizon_days": 0, **kwargs}
    return SravniRuSpider.from_crawler(get_crawler(SravniRuSpider), **args)


def _response(spider: SravniRuSpider, page: int, body: bytes, status: int = 200):
    request = spider.list_request(page)
    return TextResponse(url=request.url, status=status, body=body, request=request,
                        encoding="utf-8")


def _mock_body(page: int, size: int = 20) -> bytes:
    query = {"pageIndex": [str(page)], "pageSize": [str(size)], "reviewObjectId": [OBJ],
             "reviewObjectType": ["bank"]}
    return mock.reviews_page(MockRequest("GET", "/proxy-reviews/reviews/", query, {}, {})).payload()


def test_request_has_trailing_slash_and_object_type():
    spider = _spider(object_type="mfo")
    assert spider.list_url(0) == (f"{BASE}/proxy-reviews/reviews/?pageIndex=0&pageSize=20"
                                  f"&reviewObjectId={OBJ}&reviewObjectType=mfo&orderBy=byDate")
    with pytest.raises(ValueError, match="object_type"):
        _spider(object_type="banks")


def test_pages_until_total_then_stops():
    spider = _spider()
    out = list(spider.parse_list(_response(spider, 0, _mock_body(0)), page=0))
    assert len([o for o in out if isinstance(o, dict)]) == 20
    assert [o.url for o in out if isinstance(o, Request)] == [spider.list_url(1)]
    spider.records_seen = 40
    last = list(spider.parse_list(_response(spider, 2, _mock_body(2)), page=2))
    assert len(last) == 7 and not any(isinstance(o, Request) for o in last)


def test_cursor_stops_paging():
    newest = mock.reviews(OBJ)
    cursor = iso_to_utc(newest[4]["date"].replace("Z", "+00:00")).isoformat()
    spider = _spider(since=cursor)
    out = list(spider.parse_list(_response(spider, 0, _mock_body(0)), page=0))
    assert [o["external_id"] for o in out] == [str(r["id"]) for r in newest[:5]]
    assert spider.reached_known


def test_captcha_and_429_block():
    spider = _spider()
    with pytest.raises(CloseSpider):
        list(spider.parse_list(_response(spider, 0, (FIXTURES / "captcha.html").read_bytes()), 0))
    assert "вы не робот" in spider.blocked_reason and "pageIndex=0" in spider.blocked_reason
    spider = _spider()
    with pytest.raises(CloseSpider):
        list(spider.parse_list(_response(spider, 3, b"{}", status=429), page=3))
    assert "HTTP 429" in spider.blocked_reason


def test_mock_redirects_without_slash():
    query = {"pageIndex": ["1"], "reviewObjectId": [OBJ]}
    reply = mock.redirect_to_slash(MockRequest("GET", "/proxy-reviews/reviews", query, {}, {}))
    assert reply.status == 301
    assert reply.headers["Location"] == f"/proxy-reviews/reviews/?pageIndex=1&reviewObjectId={OBJ}"


# --- real crawls of the mock site -------------------------------------------------------

@pytest.mark.slow
def test_crawl_all_pages(tmp_path):
    with MockSite(mock.routes()) as site:
        record = run_crawl("sravni_ru", OBJ, "zarya", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"horizon_days": 0}, run_id="t-sravni")
        assert site.hits["/proxy-reviews/reviews/"] == 3  # 20 + 20 + 7, with the slash:
        assert site.hits["/proxy-reviews/reviews"] == 0  # never a 301 detour
    served = mock.reviews(OBJ)
    assert (record["status"], record["items"], record["errors"]) == ("ok", len(served), 0)
    rows = pq.read_table(record["batch_path"]).to_pylist()
    assert len(rows) == len(served) == len({r["external_id"] for r in rows})
    assert {r["external_id"] for r in rows} == {str(r["id"]) for r in served}
    assert all(json.loads(r["extra"])["reviewTag"] for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize(("handler", "status", "fragment"), [
    ("rate_limited", "blocked", "HTTP 429"),
    ("truncated", "failed", "not JSON"),
])
def test_crawl_failures_are_visible(tmp_path, handler, status, fragment):
    settings = {**FAST, "RETRY_BACKOFF_BASE": 0.01, "RETRY_BACKOFF_MAX": 0.05}
    with MockSite(mock.routes()) as site:
        site.override = getattr(mock, handler)
        record = run_crawl("sravni_ru", OBJ, "zarya", tmp_path, base_url=site.base_url,
                           settings=settings, spider_args={"horizon_days": 0})
        hits = site.hits["/proxy-reviews/reviews/"]
    assert (record["status"], record["items"], record["batch_path"]) == (status, 0, None)
    assert fragment in record["message"] and "pageIndex=0" in record["message"]
    assert hits == (4 if handler == "rate_limited" else 1)  # 1 try + RETRY_TIMES
    assert status == "blocked" or record["errors"] > 0

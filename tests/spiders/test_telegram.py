"""Telegram preview: parser on hand-written and real pages, spider paging, real crawls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from slukh.mocksite import MockSite, Reply
from slukh.mocksite import telegram as mock
from spiders.parsers.common import ParseError
from spiders.parsers.telegram import parse_channel_page, parse_views
from spiders.run import run_crawl
from spiders.sources.telegram import TelegramSpider

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "telegram"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01, "RETRY_BACKOFF_BASE": 0.01,
        "RETRY_BACKOFF_MAX": 0.05}
KW = {"brand": "sber", "target_id": "telegram:sber_news"}


def _shared(name: str) -> bytes:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"shared fixture {path} not present")
    return path.read_bytes()


def test_channel_page_items_whole():
    errors: list[ParseError] = []
    items, before = parse_channel_page((HERE / "channel_page.html").read_bytes(),
                                       page_url="https://t.me/s/sber_news", errors=errors, **KW)
    base = {"source": "telegram", "target_id": "telegram:sber_news", "brand": "sber",
            "title": None, "rating": None}
    assert items == [
        {**base, "external_id": "sber_news/501", "url": "https://t.me/sber_news/501",
         "text": "Клиенты Сбера жалуются на очереди.\nЖдали по два часа.",
         "published_at": datetime(2025, 5, 1, 9, 30), "author": "Анна Редакторова",
         "extra": {"channel": "sber_news", "post_id": 501, "views": 12400,
                   "forwarded_from": "Банковский чат"}},
        {**base, "external_id": "sber_news/502", "url": "https://t.me/sber_news/502",
         "text": "Банк ответил: окна откроют к понедельнику.\nПодробности позже.",
         "published_at": datetime(2025, 5, 1, 12, 5, 10), "author": None,
         "extra": {"channel": "sber_news", "post_id": 502, "views": 815}},
        {**base, "external_id": "sber_news/504", "url": "https://t.me/sber_news/504",
         "text": "Как вам новое приложение?\nНравится\nВерните старое",
         "published_at": datetime(2025, 5, 2, 10, 0), "author": None,
         "extra": {"channel": "sber_news", "post_id": 504, "views": 3, "poll": True}},
    ]  # 503 is media only: skipped; 505 has no date: an error with its URL
    assert before == 501
    assert [e.url for e in errors] == ["https://t.me/sber_news/505"]
    assert "time[datetime]" in errors[0].reason


@pytest.mark.parametrize(("raw", "views"), [("37.2K", 37200), ("1.2M", 1200000), ("815", 815),
                                            ("", None), ("n/a", None), ("1,5K", 1500)])
def test_parse_views(raw, views):
    assert parse_views(raw) == views


def test_not_a_channel_and_truncated_pages_raise():
    with pytest.raises(ParseError, match="public web preview"):
        parse_channel_page((HERE / "profile_redirect_target.html").read_bytes(),
                           page_url="https://t.me/private_bank", **KW)
    cut = (HERE / "channel_page.html").read_bytes()[:2500]
    with pytest.raises(ParseError, match="truncated"):
        parse_channel_page(cut, page_url="https://t.me/s/sber_news", **KW)


def test_real_full_page_has_12_posts():
    items, before = parse_channel_page(_shared("any2feed_full.html"), page_url="u", **KW)
    assert len(items) == 12 and before == 70989
    assert [i["external_id"] for i in items][:2] == ["topwar_official/70989",
                                                     "topwar_official/70990"]
    assert items[0]["published_at"] == datetime(2023, 2, 28, 7, 47, 53)
    assert items[0]["extra"]["views"] == 37200
    assert all(i["text"] and "<" not in i["text"] for i in items)
    nested = next(i for i in items if i["external_id"] == "topwar_official/70992")
    assert nested["text"].count("Сегодня ночью в Республике") == 1  # nested div read once


@pytest.mark.parametrize(("name", "post", "fragment"), [
    ("any2feed_message_text.html", "topwar_official/70991", "Неопознанный летающий объект"),
    ("any2feed_message_poll.html", "it_begin/488", "Как лучше?"),
    ("any2feed_message_link_preview.html", "oper_goblin/22360", "vnnews.ru"),
    ("any2feed_message_media_photo_and_video.html", "anna_news/46908", "Белгородом"),
])
def test_real_single_messages(name, post, fragment):
    items, _ = parse_channel_page(_shared(name), page_url="u", **KW)
    assert [i["external_id"] for i in items] == [post] and fragment in items[0]["text"]


def _spider(**kwargs) -> TelegramSpider:
    return TelegramSpider.from_crawler(get_crawler(TelegramSpider), target="@sber_news",
                                       brand="sber", base_url="http://mock.test",
                                       horizon_days=0, **kwargs)


def _response(spider: TelegramSpider, body: bytes, status: int = 200) -> HtmlResponse:
    request = spider.page_request()
    return HtmlResponse(url=request.url, status=status, body=body, request=request)


def test_spider_pages_older_until_cursor():
    spider = _spider()
    out = list(spider.parse_page(_response(spider, (HERE / "channel_page.html").read_bytes()),
                                 page=1))
    assert [o["external_id"] for o in out if isinstance(o, dict)] == [
        "sber_news/504", "sber_news/502", "sber_news/501"]  # newest first
    assert [o.url for o in out if isinstance(o, Request)] == [
        "http://mock.test/s/sber_news?before=501"]
    cursor = _spider(since="2025-05-01T12:00:00")
    out = list(cursor.parse_page(_response(cursor, (HERE / "channel_page.html").read_bytes()),
                                 page=1))
    assert [o["external_id"] for o in out] == ["sber_news/504", "sber_news/502"]
    assert cursor.reached_known is True  # 501 is older than the cursor: no next page


def test_spider_redirect_is_an_error_not_zero_posts():
    spider = _spider()
    response = HtmlResponse(url="http://mock.test/s/sber_news", status=302, body=b"",
                            headers={"Location": "/sber_news"}, request=spider.page_request())
    assert list(spider.parse_page(response, page=1)) == []
    assert spider.pages_parsed == 0 and "no public web preview" in spider.errors[0]


@pytest.mark.slow
def test_crawl_channel_end_to_end(tmp_path):
    expected = {p.data_post for p in mock.channel_posts("sber_news") if p.text or p.poll}
    with MockSite(mock.routes()) as site:
        record = run_crawl("telegram", "sber_news", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"horizon_days": 0})
        pages = site.hits["/s/sber_news"]
    assert (record["status"], record["errors"]) == ("ok", 0), record["message"]
    rows = pq.read_table(record["batch_path"]).to_pylist()
    ids = [r["external_id"] for r in rows]
    assert len(ids) == len(set(ids)) == record["items"] and set(ids) == expected
    assert pages == 3  # 47 posts, 20 a page
    assert all(r["target_id"] == "telegram:sber_news" and r["url"].startswith("https://t.me/")
               for r in rows)


@pytest.mark.slow
def test_rate_limit_storm_ends_blocked(tmp_path):
    with MockSite(mock.routes()) as site:
        site.override = lambda req: Reply(429, "<h1>Too Many Requests</h1>",
                                          headers={"Retry-After": "0"})
        record = run_crawl("telegram", "sber_news", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"horizon_days": 0})
        assert site.hits["/s/sber_news"] == 1 + 3  # first try + RETRY_TIMES
    assert (record["status"], record["items"]) == ("blocked", 0)
    assert "HTTP 429" in record["message"] and "/s/sber_news" in record["message"]

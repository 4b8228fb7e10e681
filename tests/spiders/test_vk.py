"""VK API: parsers on fixtures, token handling, API errors, real crawls against the mock."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from slukh.mocksite import MockSite
from slukh.mocksite import vk as mock
from spiders.parsers.common import ParseError
from spiders.parsers.vk import VkApiError, parse_comments, parse_search, parse_wall
from spiders.run import run_crawl
from spiders.sources.vk import VkSpider, VkTokenMiddleware

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "vk"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "vk"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01, "RETRY_BACKOFF_BASE": 0.01,
        "RETRY_BACKOFF_MAX": 0.05}
KW = {"brand": "sber", "target_id": "vk:wall:-1", "api_url": "http://api.test/method/wall.get"}


def _fx(name: str) -> bytes:
    return (HERE / name).read_bytes()


def test_wall_items_whole():
    errors: list[ParseError] = []
    items, total = parse_wall(_fx("wall_get.json"), errors=errors, **KW)
    base = {"source": "vk", "target_id": "vk:wall:-1", "brand": "sber", "title": None,
            "rating": None}
    assert total == 1234
    assert items == [
        {**base, "external_id": "-1_900", "url": "https://vk.com/wall-1_900",
         "text": "Закреплено: правила сообщества «Сбер Клиенты».",
         "published_at": datetime(2021, 1, 1), "author": "-1",
         "extra": {"likes": 10, "reposts": 1, "views": 5000, "comments": 0, "is_pinned": True}},
        {**base, "external_id": "-1_1002", "url": "https://vk.com/wall-1_1002",
         "text": "Сбербанк снизил ставки по вкладам.\nПодробности в статье.",
         "published_at": datetime(2025, 5, 1, 9, 0), "author": "777",
         "extra": {"likes": 55, "reposts": 3, "views": 12000, "comments": 2}},
        {**base, "external_id": "-1_1001", "url": "https://vk.com/wall-1_1001",
         "text": "Репост: приложение Сбера обновилось.",
         "published_at": datetime(2025, 4, 30, 9, 0), "author": "-1",
         "extra": {"likes": 1, "reposts": 0, "views": 300, "comments": 0, "repost_of": "-5_77"}},
    ]  # 1000 has attachments only: skipped; the broken id is an error
    assert len(errors) == 1 and "integer id" in errors[0].reason


def test_comments_with_thread_replies():
    items, count = parse_comments(_fx("wall_getComments.json"), owner_id=-1, post_id=1002,
                                  **KW)
    assert count == 1
    assert [(i["external_id"], i["url"], i["author"], i["extra"]) for i in items] == [
        ("-1_1002_c5001", "https://vk.com/wall-1_1002?reply=5001", "42",
         {"post": "-1_1002", "comment_id": 5001, "likes": 4}),
        ("-1_1002_c5002", "https://vk.com/wall-1_1002?reply=5002&thread=5001", "-1",
         {"post": "-1_1002", "comment_id": 5002, "reply_to_comment": 5001, "likes": 0}),
    ]  # the deleted reply is dropped
    assert items[1]["published_at"] == datetime(2025, 5, 1, 11, 0)


def test_search_items_and_cursor():
    items, next_from = parse_search(_fx("newsfeed_search.json"), **KW)
    assert [i["external_id"] for i in items] == ["-7_15", "123_88"]
    assert next_from == "2/-7_15"


@pytest.mark.parametrize(("name", "code", "stop"), [("error_5.json", 5, True),
                                                    ("error_30.json", 30, False)])
def test_api_errors(name, code, stop):
    with pytest.raises(VkApiError) as info:
        parse_wall(_fx(name), **KW)
    assert (info.value.code, info.value.stop) == (code, stop)
    assert f"VK API error {code}" in str(info.value)


@pytest.mark.parametrize("body", [b'{"response": {"count": 5, "items": [', b"<html>",
                                  b'{"response": {"count": 5}}'])
def test_malformed_answers_raise(body):
    with pytest.raises(ParseError):
        parse_wall(body, **KW)


def test_real_wall_get_page():
    path = SHARED / "esg_wall.get_sberbank_-22522055.json"
    if not path.exists():
        pytest.skip(f"shared fixture {path} not present")
    items, total = parse_wall(path.read_bytes(), brand="sber", target_id="vk:wall:-22522055",
                              api_url="u")
    assert (len(items), total) == (100, 5209)
    assert items[0]["external_id"] == "-22522055_2132993"
    assert items[0]["url"] == "https://vk.com/wall-22522055_2132993"
    assert items[0]["published_at"] == datetime(2023, 1, 12, 8, 46, 53)
    assert items[0]["extra"]["comments"] == 6


def _spider(monkeypatch, token: str | None = "secret-token", **kwargs) -> VkSpider:
    if token is None:
        monkeypatch.delenv("VK_TOKEN", raising=False)
    else:
        monkeypatch.setenv("VK_TOKEN", token)
    return VkSpider.from_crawler(get_crawler(VkSpider), target="wall:-1", brand="sber",
                                 base_url="http://api.test", horizon_days=0, **kwargs)


def test_token_is_added_for_download_and_stripped_after(monkeypatch):
    spider = _spider(monkeypatch)
    request = spider.wall_request(0, 1)
    assert "access_token" not in request.url
    middleware = VkTokenMiddleware(spider.crawler)
    spider.crawler.spider = spider
    middleware.process_request(request)
    assert "access_token=secret-token" in request.url
    response = middleware.process_response(request, TextResponse(request.url, body=b"{}",
                                                                 request=request))
    assert "secret-token" not in request.url and "secret-token" not in response.url


def test_no_token_fails_before_any_request(monkeypatch):
    spider = _spider(monkeypatch, token=None)

    async def drain() -> list:
        return [r async for r in spider.start()]

    assert asyncio.run(drain()) == []
    assert "VK_TOKEN is not set" in spider.errors[0]


def test_wall_page_stops_at_cursor_but_not_at_old_pinned(monkeypatch):
    spider = _spider(monkeypatch, since="2025-04-30T12:00:00")
    request = spider.wall_request(0, 1)
    out = list(spider.parse_wall(TextResponse(request.url, body=_fx("wall_get.json"),
                                              request=request), offset=0, page=1))
    posts = [o["external_id"] for o in out if isinstance(o, dict)]
    assert posts == ["-1_1002"]
    assert [o.cb_kwargs for o in out if isinstance(o, Request)] == [
        {"owner_id": -1, "post_id": 1002, "offset": 0}]  # comments; no page 2: cursor hit
    assert spider.reached_known


def test_auth_error_blocks(monkeypatch):
    spider = _spider(monkeypatch)
    request = spider.wall_request(0, 1)
    with pytest.raises(CloseSpider):
        list(spider.parse_wall(TextResponse(request.url, body=_fx("error_5.json"),
                                            request=request), offset=0, page=1))
    assert "VK API error 5" in spider.blocked_reason and "VK_TOKEN" in spider.blocked_reason


def _all_output(tmp_path: Path, record: dict) -> str:
    texts = [p.read_text("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()
             and p.suffix in (".log", ".json")]
    if record.get("batch_path"):
        texts.append(json.dumps(pq.read_table(record["batch_path"]).to_pylist(), default=str))
    return "\n".join(texts)


@pytest.mark.slow
def test_crawl_wall_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("VK_TOKEN", mock.MOCK_TOKEN)
    posts = [p for p in mock.wall_posts(-100) if p["text"]]
    comments = [c for p in mock.wall_posts(-100) if p["text"]
                for top in mock.post_comments(-100, p["id"])
                for c in [top, *top["thread"]["items"]]]
    with MockSite(mock.routes()) as site:
        record = run_crawl("vk", "wall:-100", "sber", tmp_path, base_url=site.base_url,
                           settings={**FAST, "LOG_LEVEL": "DEBUG"},
                           spider_args={"horizon_days": 0})
        assert site.hits["/method/wall.get"] == 3  # 230 posts, 100 a page
    assert (record["status"], record["errors"]) == ("ok", 0), record["message"]
    rows = pq.read_table(record["batch_path"]).to_pylist()
    ids = [r["external_id"] for r in rows]
    assert len(ids) == len(set(ids)) == record["items"] == len(posts) + len(comments)
    assert {f"-100_{p['id']}" for p in posts} <= set(ids)
    assert all(r["url"].startswith("https://vk.com/wall-100_") for r in rows)
    assert mock.MOCK_TOKEN not in _all_output(tmp_path, record)  # logs, record, batch


@pytest.mark.slow
def test_crawl_search_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("VK_TOKEN", mock.MOCK_TOKEN)
    expected = {f"{p['owner_id']}_{p['id']}" for p in mock.search_posts("Сбербанк")}
    with MockSite(mock.routes()) as site:
        record = run_crawl("vk", "search:Сбербанк", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"horizon_days": 0})
        assert site.hits["/method/newsfeed.search"] == 2
    assert record["status"] == "ok", record["message"]
    rows = pq.read_table(record["batch_path"]).to_pylist()
    assert {r["external_id"] for r in rows} == expected and len(rows) == len(expected)


@pytest.mark.slow
def test_wrong_token_ends_blocked_with_code(tmp_path, monkeypatch):
    monkeypatch.setenv("VK_TOKEN", "vk1.a.wrong-token-zzz")
    with MockSite(mock.routes()) as site:
        record = run_crawl("vk", "wall:-100", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"horizon_days": 0})
    assert (record["status"], record["items"]) == ("blocked", 0)
    assert "VK API error 5" in record["message"] and "invalid access_token" in record["message"]
    assert "wrong-token-zzz" not in _all_output(tmp_path, record)


@pytest.mark.slow
def test_no_token_run_is_failed_and_actionable(tmp_path, monkeypatch):
    monkeypatch.delenv("VK_TOKEN", raising=False)
    with MockSite(mock.routes()) as site:
        record = run_crawl("vk", "wall:-100", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST)
        assert sum(site.hits.values()) == 0  # not even robots.txt
    assert record["status"] == "failed" and "VK_TOKEN is not set" in record["message"]

"""RSS/Atom: encodings (KOI8-R, lying declarations), brand filter, damage reported, crawls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from slukh.mocksite import MockSite, Reply
from slukh.mocksite import rss as mock
from spiders.parsers.common import ParseError
from spiders.parsers.rss import decode_feed, declared_encodings, parse_feed
from spiders.run import run_crawl
from spiders.sources.rss import RssSpider

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "rss"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rss_atom"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01, "RETRY_BACKOFF_BASE": 0.01,
        "RETRY_BACKOFF_MAX": 0.05}
SBER = ["Сбербанк", "Сбер"]
KW = {"brand": "sber", "target_id": "rss:vesti", "aliases": SBER}


def _shared(name: str) -> bytes:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"shared fixture {path} not present")
    return path.read_bytes()


def test_fixture_files_really_are_legacy_encoded():
    koi, cp = (HERE / "koi8r.xml").read_bytes(), (HERE / "cp1251_lying.xml").read_bytes()
    for raw in (koi, cp):
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    assert "Сбербанк" in koi.decode("koi8_r") and "СберБанк" in cp.decode("cp1251")
    assert declared_encodings(cp) == ["utf-8"]  # the declaration lies


@pytest.mark.parametrize(("name", "header", "encoding"), [
    ("koi8r.xml", None, "koi8-r"),
    ("koi8r.xml", "windows-1251", "koi8-r"),  # header lies too
    ("cp1251_lying.xml", None, "cp1251"),
    ("cp1251_lying.xml", "koi8-r", "cp1251"),
])
def test_decode_feed_ignores_lying_charsets(name, header, encoding):
    text, used = decode_feed((HERE / name).read_bytes(), header)
    assert used == encoding and "<rss" in text and "Сбер" in text


def test_koi8r_feed_items_whole():
    errors: list[ParseError] = []
    items, next_url, entries = parse_feed(
        (HERE / "koi8r.xml").read_bytes(), feed_url="https://vesti.example/rss",
        fallback_published=datetime(2025, 5, 3, 7, 0), errors=errors, **KW)
    base = {"source": "rss", "target_id": "rss:vesti", "brand": "sber", "rating": None,
            "author": None}
    assert (entries, next_url, errors) == (3, None, [])
    assert items == [
        {**base, "external_id": "https://vesti.example/1", "url": "https://vesti.example/1",
         "title": "Сбербанк открыл новый офис",
         "text": "Клиенты Сбера смогут получить карту за 10 минут.",
         "published_at": datetime(2025, 5, 1, 6, 0),
         "extra": {"matched_alias": "Сбербанк", "encoding": "koi8-r"}},
        {**base, "external_id": "https://vesti.example/3", "url": "https://vesti.example/3",
         "title": "Очереди в отделении",
         "text": "Читатель пожаловался на Сбербанку отказанный перевод.",
         "published_at": datetime(2025, 5, 3, 7, 0),
         "extra": {"matched_alias": "Сбербанк", "date_guessed": True, "encoding": "koi8-r"}},
    ]  # entry 2 («сбережения») does not mention the brand


def test_lying_cp1251_feed():
    items, _, entries = parse_feed((HERE / "cp1251_lying.xml").read_bytes(), feed_url="u",
                                   header_charset="koi8-r", **KW)
    assert entries == 2
    assert [(i["external_id"], i["title"], i["published_at"], i["extra"]) for i in items] == [
        ("a-1", "СберБанк оштрафован", datetime(2025, 5, 2, 12, 0),
         {"matched_alias": "Сбербанк", "encoding": "cp1251", "declared_encoding": "koi8-r"})]


def test_truncated_feed_is_an_error_and_keeps_whole_entries():
    errors: list[ParseError] = []
    items, next_url, _ = parse_feed((HERE / "truncated_atom.xml").read_bytes(),
                                    feed_url="http://blog.example/feed", errors=errors, **KW)
    assert [i["external_id"] for i in items] == ["tag:blog.example,2025:e1"]
    assert items[0]["published_at"] == datetime(2025, 5, 3, 5, 0)
    assert items[0]["author"] == "Мария" and next_url == "/feed?page=2"
    assert [(e.url, "truncated" in e.reason) for e in errors] == [("http://blog.example/feed",
                                                                   True)]
    with pytest.raises(ParseError, match="truncated"):
        parse_feed((HERE / "truncated_atom.xml").read_bytes(), feed_url="u", **KW)


def test_html_page_is_not_a_feed():
    with pytest.raises(ParseError, match="not an RSS/Atom feed") as info:
        parse_feed((HERE / "not_a_feed.html").read_bytes(), feed_url="http://x/rss", **KW)
    assert info.value.url == "http://x/rss"


def test_real_touchnokia_atom_has_15_entries():
    items, _, entries = parse_feed(_shared("feedparser_touchnokia_ru_atom.xml"),
                                   feed_url="u", brand="nokia", target_id="rss:tn",
                                   aliases=["Nokia"])
    assert entries == 15 and len(items) == 15
    assert items[0]["title"] == "Невидимая броня для Вашего Nokia 5800"
    assert items[0]["published_at"] == datetime(2009, 9, 9, 14, 19, 45)


def test_real_koi8r_feed_decoded():
    items, _, entries = parse_feed(_shared("feedparser_koi8r.xml"), feed_url="u", brand="ny",
                                   target_id="rss:ny", aliases=["Новый год"],
                                   fallback_published=datetime(2025, 1, 1))
    assert entries == 1 and items[0]["title"] == "Как пережить новогоднюю ночь"
    assert items[0]["extra"]["encoding"] == "koi8-r"


def test_spider_follows_next_page_until_cursor():
    spider = RssSpider.from_crawler(get_crawler(RssSpider), target="atom", brand="sber",
                                    base_url="http://mock.test", url="/rss/atom/page-1.xml",
                                    aliases='["Сбербанк", "Сбер"]', horizon_days=0)
    assert spider.feed_url == "http://mock.test/rss/atom/page-1.xml"
    request = spider.feed_request(spider.feed_url, 1)
    response = TextResponse(request.url, body=mock.atom_page(1).encode(), request=request,
                            headers={"Content-Type": "application/atom+xml; charset=utf-8"})
    out = list(spider.parse_feed(response, page=1))
    assert [o.url for o in out if isinstance(o, Request)] == [
        "http://mock.test/rss/atom/page-2.xml"]
    assert len([o for o in out if isinstance(o, dict)]) == 8
    newest = max(e.published_at for e in mock.feed_entries("atom", 24))
    spider.since = newest
    out = list(spider.parse_feed(response, page=1))
    assert len(out) == 1 and spider.reached_known  # only the cursor's own entry, no page 2


@pytest.mark.slow
def test_crawl_paged_atom_end_to_end(tmp_path):
    expected = {e.guid for e in mock.feed_entries("atom", 2 * mock.PAGE_SIZE) if e.mentions}
    with MockSite(mock.routes()) as site:
        record = run_crawl("rss", "atom", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"url": "/rss/atom/page-1.xml",
                                                       "aliases": SBER, "horizon_days": 0})
        assert site.hits["/rss/atom/page-2.xml"] == 1
    assert (record["status"], record["errors"]) == ("ok", 0), record["message"]
    rows = pq.read_table(record["batch_path"]).to_pylist()
    assert {r["external_id"] for r in rows} == expected and len(rows) == len(expected)
    assert all(r["author_hash"] and "Редакция" not in r["extra"] for r in rows)


@pytest.mark.slow
def test_crawl_lying_cp1251_feed(tmp_path):
    expected = {e.guid for e in mock.feed_entries("cp1251", 9) if e.mentions}
    with MockSite(mock.routes()) as site:
        record = run_crawl("rss", "cp1251", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"url": "/rss/cp1251-lying.xml",
                                                       "aliases": SBER, "horizon_days": 0})
    assert record["status"] == "ok", record["message"]
    rows = pq.read_table(record["batch_path"]).to_pylist()
    assert {r["external_id"] for r in rows} == expected
    assert all("Сбер" in r["title"] + r["text"] for r in rows)


@pytest.mark.slow
def test_truncated_feed_crawl_is_failed(tmp_path):
    cut = (HERE / "truncated_atom.xml").read_bytes()
    with MockSite(mock.routes()) as site:
        site.override = lambda req: Reply(body=cut[:200], content_type="application/atom+xml")
        record = run_crawl("rss", "atom", "sber", tmp_path, base_url=site.base_url,
                           settings=FAST, spider_args={"url": "/rss/atom/page-1.xml",
                                                       "aliases": SBER, "horizon_days": 0})
    assert (record["status"], record["items"]) == ("failed", 0)
    assert "/rss/atom/page-1.xml" in record["message"]

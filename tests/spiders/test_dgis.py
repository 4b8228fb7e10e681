"""2GIS: initialState parser (hand-written + real page), spider routing, mock-site crawls."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scrapy.exceptions import CloseSpider
from scrapy.http import HtmlResponse, Request, TextResponse
from scrapy.utils.test import get_crawler

from slukh.mocksite import MockSite
from slukh.mocksite import Request as MockRequest
from slukh.mocksite import dgis as mock
from spiders.parsers.dgis import (
    ParseError,
    ShellPage,
    decode_page,
    js_unescape,
    parse_api_page,
    parse_firm_page,
)
from spiders.run import run_crawl
from spiders.sources.dgis import KEY_ENV, DgisSpider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "2gis"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "2gis"
SITE = "https://2gis.ru"
FIRM = "70000001000000777"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01}
MOCK_FIRM = "70000001000000001"
#: Explicit: spiders.runrecord.new_run_id puts the target code, slash included, into the
#: run id, and with it the batch path (staging/dgis-vologda/… does not exist).
RUN_ID = "t-dgis"


def _firm(page: str, firm: str = FIRM, city: str = "vologda", errors=None):
    return parse_firm_page(page, brand="zerno", target_id=f"dgis:{city}/{firm}", site_url=SITE,
                           city=city, firm_id=firm, page_url="http://x/firm", errors=errors)


def _fixture(name: str) -> str:
    return decode_page((FIXTURES / name).read_bytes())


def test_firm_page_whole_items_in_site_order():
    page = _firm(_fixture("firm_page.html"))
    common = {"source": "dgis", "target_id": f"dgis:vologda/{FIRM}", "brand": "zerno",
              "title": None}
    url = f"{SITE}/vologda/firm/{FIRM}/tab/reviews#review-"
    assert page.items == [
        {**common, "external_id": "300000003", "url": f"{url}300000003",
         "text": "Бариста сказал: \"закрываемся\" в 21:50, хотя до 22:00.\n"
                 "Кофе норм, но осадок остался «3».",
         "rating": 3, "published_at": datetime(2026, 11, 19, 17, 10, 0, 500000),
         "author": "aaaa1111",
         "extra": {"official_answer": {"text": "Игорь, извините!\nРазберёмся с графиком.",
                                       "date_created": "2026-11-20T09:00:00+03:00",
                                       "org_name": "Кофейня «Зерно»"},
                   "date_edited": None, "likes_count": 2, "comments_count": 1, "photos": 0,
                   "provider": "2gis"}},
        {**common, "external_id": "300000001", "url": f"{url}300000001",
         "text": "Лучший раф в городе, д'Артаньян бы одобрил ☕", "rating": 5,
         "published_at": datetime(2026, 8, 1, 9, 0), "author": "bbbb2222",
         "extra": {"official_answer": None, "date_edited": "2026-11-18T08:30:00+03:00",
                   "likes_count": 7, "comments_count": 0, "photos": 1, "provider": "2gis"}},
    ]
    assert (page.records, page.skipped_empty, page.total, page.next_offset) == (3, 1, 3, 3)
    assert page.org_review_count == 5


def test_answer_lives_in_extra_not_text():
    """An answer added later must change the row (extra), never the customer's text."""
    item = _firm(_fixture("firm_page.html")).items[0]
    assert "извините" not in item["text"] and item["extra"]["official_answer"]["text"]


@pytest.mark.parametrize(("literal", "value"), [
    (r"a\'b", "a'b"), (r"\\\"q\\\"", '\\"q\\"'), (r"x\\ny", "x\\ny"), (r"\n\t", "\n\t"),
    (r"\u2615\x41", "☕A"), (r"\ud83d\ude00", "😀"), (r"\u{1F600}", "😀"), (r"\/\q", "/q"),
])
def test_js_unescape(literal, value):
    assert js_unescape(literal) == value


def test_shell_and_cut_pages():
    with pytest.raises(ShellPage, match="no initialState"):
        _firm(_fixture("shell.html"))
    full = _fixture("firm_page.html")
    with pytest.raises(ParseError, match="cut off") as info:
        _firm(full[: len(full) // 2])
    assert info.value.url == "http://x/firm"
    with pytest.raises(ShellPage, match="no profile"):
        _firm(full, firm="70000001000000999")


def test_profile_with_reviews_but_none_embedded_is_shell():
    html = mock.page_html("x", {"data": {"entity": {"profile": {FIRM: {"data": {
        "reviews": {"general_review_count": 12}}}}}, "review": {}}})
    with pytest.raises(ShellPage, match="lists 12"):
        _firm(html)
    zero = mock.page_html("x", {"data": {"entity": {"profile": {FIRM: {"data": {
        "reviews": {"general_review_count": 0}}}}}}})
    assert _firm(zero).items == []  # the profile itself says zero: a real "no reviews"


@pytest.mark.parametrize(("declared", "encoding"), [
    ("windows-1251", "utf-8"),   # header lies: the body is UTF-8
    ("utf-8", "windows-1251"),   # header lies the other way
    (None, "koi8-r"),            # no header: the <meta> charset is used
])
def test_lying_charset(declared, encoding):
    page = _fixture("firm_page.html").replace('charset="utf-8"', f'charset="{encoding}"')
    for char in "\u2615«»—":  # not in every legacy charset
        page = page.replace(char, "")
    body = page.encode(encoding)
    assert _firm(decode_page(body, declared)).items[0]["text"].startswith("Бариста сказал")


def test_api_page():
    errors: list[ParseError] = []
    page = parse_api_page((FIXTURES / "api_page.json").read_bytes(), brand="zerno",
                          target_id=f"dgis:vologda/{FIRM}", site_url=SITE, city="vologda",
                          firm_id=FIRM, page_url="http://x/api", errors=errors)
    assert [i["external_id"] for i in page.items] == ["299999990"]
    assert (page.records, page.total) == (2, 53) and "offset=100" in page.next_link
    assert [e.reason for e in errors] == ["review 299999980: bad date_created None"]


def test_real_saved_page():
    path = SHARED / "feedbackservice_dgis_test_firm_70000001019437403.html"
    if not path.exists():
        pytest.skip(f"shared fixture {path} not present")
    errors: list[ParseError] = []
    page = _firm(decode_page(path.read_bytes()), firm="70000001019437403", errors=errors)
    assert (len(page.items), page.records, errors) == (50, 50, [])
    assert (page.org_review_count, page.total, page.next_offset) == (322, 251, 50)
    assert len({i["external_id"] for i in page.items}) == 50
    assert page.items[0]["external_id"] == "230522607"  # the site's order, not dict order
    assert sum(1 for i in page.items if i["extra"]["official_answer"]) == 46
    assert all(i["rating"] == 5 and i["text"] and i["author"] for i in page.items)
    first = next(i for i in page.items if i["external_id"] == "178908700")
    assert first["published_at"] == datetime(2025, 8, 15, 13, 9, 48, 708727)
    assert first["extra"]["official_answer"]["org_name"].startswith("Аллея Мебели")


# --- spider routing -------------------------------------------------------------------

def _spider(monkeypatch, key: str | None = "k", **kwargs) -> DgisSpider:
    if key:
        monkeypatch.setenv(KEY_ENV, key)
    else:
        monkeypatch.delenv(KEY_ENV, raising=False)
    args = {"target": f"vologda/{MOCK_FIRM}", "brand": "zarya", "base_url": "http://mock.test",
            "horizon_days": 0, **kwargs}
    return DgisSpider.from_crawler(get_crawler(DgisSpider), **args)


def _firm_response(spider: DgisSpider, body: bytes, headers=None) -> HtmlResponse:
    request = Request(spider.firm_url)
    return HtmlResponse(url=spider.firm_url, body=body, headers=headers or {}, request=request)


def _mock_firm_body() -> bytes:
    return mock.firm_page(MockRequest("GET", f"/vologda/firm/{MOCK_FIRM}", {}, {}, {})).payload()


def test_target_format(monkeypatch):
    spider = _spider(monkeypatch)
    assert (spider.city, spider.firm_id) == ("vologda", MOCK_FIRM)
    assert spider.api_url == "http://mock.test"  # a mock site serves the API too
    assert spider.api_page_url(50).startswith(
        f"http://mock.test/2.0/branches/{MOCK_FIRM}/reviews?limit=50&offset=50")
    with pytest.raises(ValueError, match="<city>/<firm_id>"):
        _spider(monkeypatch, target=MOCK_FIRM)


def test_firm_page_then_api(monkeypatch):
    spider = _spider(monkeypatch)
    out = list(spider.parse_firm(_firm_response(spider, _mock_firm_body()), page=1))
    assert len([o for o in out if isinstance(o, dict)]) == 50
    assert [o.url for o in out if isinstance(o, Request)] == [spider.api_page_url(50)]


def test_without_key_stops_with_an_error(monkeypatch):
    spider = _spider(monkeypatch, key=None)
    out = list(spider.parse_firm(_firm_response(spider, _mock_firm_body()), page=1))
    assert len(out) == 50 and spider.errors and KEY_ENV in spider.errors[0]


def test_cursor_uses_last_activity(monkeypatch):
    """The edited old review (position 10) must not end paging; the first truly old one does."""
    reviews = mock.reviews(MOCK_FIRM)
    spider = _spider(monkeypatch, since=datetime.fromisoformat(reviews[20]["date_created"])
                     .isoformat())
    out = list(spider.parse_firm(_firm_response(spider, _mock_firm_body()), page=1))
    assert [o["external_id"] for o in out] == [r["id"] for r in reviews[:21]]
    assert spider.reached_known and not any(isinstance(o, Request) for o in out)


@pytest.mark.parametrize(("name", "fragment"), [("captcha.html", "вы не робот"),
                                                ("shell.html", "SSR shell")])
def test_captcha_and_shell_block(monkeypatch, name, fragment):
    spider = _spider(monkeypatch)
    with pytest.raises(CloseSpider):
        list(spider.parse_firm(_firm_response(spider, (FIXTURES / name).read_bytes()), page=1))
    assert fragment in spider.blocked_reason and spider.firm_url in spider.blocked_reason


def test_api_key_refusal_is_an_error_not_a_block(monkeypatch):
    spider = _spider(monkeypatch)
    url = spider.api_page_url(50)
    response = TextResponse(url=url, status=403, body=b'{"meta":{"code":403}}',
                            request=Request(url), encoding="utf-8")
    assert list(spider.parse_api(response, page=2)) == []
    assert spider.blocked_reason is None and KEY_ENV in spider.errors[0]


# --- real crawls of the mock site -------------------------------------------------------

@pytest.mark.slow
def test_crawl_page_and_api(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "mock-key")
    with MockSite(mock.routes()) as site:
        record = run_crawl("dgis", f"vologda/{MOCK_FIRM}", "zarya", tmp_path,
                           base_url=site.base_url, settings=FAST,
                           spider_args={"horizon_days": 0}, run_id=RUN_ID)
        api_hits = site.hits[f"/2.0/branches/{MOCK_FIRM}/reviews"]
    served = mock.reviews(MOCK_FIRM)
    assert (record["status"], record["items"], record["errors"]) == ("ok", len(served), 0)
    assert api_hits == 2  # offsets 50 and 100
    rows = pq.read_table(record["batch_path"]).to_pylist()
    assert len(rows) == len(served) == len({r["external_id"] for r in rows})
    assert {r["external_id"] for r in rows} == {r["id"] for r in served}
    answered = {r["id"] for r in served if r["official_answer"]}
    assert {r["external_id"] for r in rows if json.loads(r["extra"])["official_answer"]} == answered


@pytest.mark.slow
@pytest.mark.parametrize(("handler", "status", "fragment"), [
    ("captcha", "blocked", "вы не робот"),
    ("shell", "blocked", "SSR shell"),
    ("truncated", "failed", "cut off"),
])
def test_crawl_failures_are_visible(tmp_path, monkeypatch, handler, status, fragment):
    monkeypatch.setenv(KEY_ENV, "mock-key")
    with MockSite(mock.routes()) as site:
        site.override = getattr(mock, handler)
        record = run_crawl("dgis", f"vologda/{MOCK_FIRM}", "zarya", tmp_path,
                           base_url=site.base_url, settings=FAST, spider_args={"horizon_days": 0},
                           run_id=RUN_ID)
    assert (record["status"], record["items"], record["batch_path"]) == (status, 0, None)
    assert fragment in record["message"] and f"/firm/{MOCK_FIRM}" in record["message"]
    assert status == "blocked" or record["errors"] > 0

"""Pure banki.ru parsers against hand-written fixtures and, when present, real pages."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from spiders.parsers.banki import ParseError, parse_ajax_list, parse_jsonld_reviews
from spiders.parsers.text import html_to_text, iso_to_utc, moscow_to_utc

BASE = "https://www.banki.ru"
COMPANY = {"code": "zarya", "id": 91002, "name": "Заря Банк"}


def _extra(comments: int, answer: str | None = None) -> dict:
    return {"agentAnswerText": answer, "commentCount": comments, "company": COMPANY,
            "isCountable": None, "resolutionIsApproved": None}


def _item(rid: str, **fields) -> dict:
    return {"source": "banki_ru", "external_id": rid, "target_id": "banki_ru:zarya",
            "brand": "zarya", "author": None,
            "url": f"{BASE}/services/responses/bank/response/{rid}/", **fields}


def test_ajax_list_whole_items(fixture_bytes):
    items, total = parse_ajax_list(fixture_bytes("ajax_list_p1.json"), brand="zarya",
                                   target_id="banki_ru:zarya", base_url=BASE)
    assert total == 3
    assert items == [
        _item("12424594", title="Очереди & недозвон", rating=1,
              published_at=datetime(2026, 11, 20, 20, 11, 2), extra=_extra(2),
              text="Отделение на Садовой закрыли, в соседнем очередь — два часа.\n"
                   "На горячей линии висела 40 минут, оператор так и не ответил. "
                   "«Ожидайте», говорят.\nБольше не могу."),
        _item("12424571", title="Спасибо!", rating=5,
              published_at=datetime(2026, 11, 19, 23, 30), extra=_extra(0, "Спасибо за отзыв!"),
              text="Кэшбэк пришёл вовремя, приложение удобное.\nперевод за 2 секунды\n"
                   "вежливый чат — ответили сразу"),
        _item("12424502", title="Средне", rating=None,
              published_at=datetime(2026, 11, 19, 9, 0), extra=_extra(1),
              text='Условия "средние", не лучше и не хуже.'),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>oops</body></html>", "not JSON"),
        (b'{"items": []}', "no 'data' array"),
        (b'{"data": [], "total": "many"}', "'total' is not an integer"),
        (b"", "not JSON"),
    ],
)
def test_ajax_list_bad_page_raises_with_url(body, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_ajax_list(body, brand="b", target_id="banki_ru:x", base_url=BASE)
    assert info.value.url == f"{BASE}/services/responses/list/ajax/"


def test_ajax_bad_record_is_collected_not_fatal():
    good = {"id": 1, "dateCreate": "2026-01-01 03:00:00", "text": "<p>ok</p>", "title": "t",
            "grade": 4, "commentCount": 0}
    body = json.dumps({"data": [good, {"id": 2, "dateCreate": "вчера", "text": "<p>x</p>"},
                                {"title": "no id"}], "total": 3})
    errors: list[ParseError] = []
    items, total = parse_ajax_list(body, brand="b", target_id="banki_ru:x", base_url=BASE,
                                   errors=errors)
    assert [i["external_id"] for i in items] == ["1"]
    assert items[0]["published_at"] == datetime(2026, 1, 1, 0, 0)
    assert [e.url for e in errors] == [f"{BASE}/services/responses/bank/response/2/",
                                       f"{BASE}/services/responses/bank/response/None/"]
    with pytest.raises(ParseError, match="bad dateCreate"):
        parse_ajax_list(body, brand="b", target_id="banki_ru:x", base_url=BASE)


def test_jsonld_2023_shape_product_with_review_array(fixture_bytes):
    url = f"{BASE}/services/responses/bank/zarya/"
    items = parse_jsonld_reviews(fixture_bytes("jsonld_2023_list.html"), brand="zarya",
                                 target_id="banki_ru:zarya", page_url=url)
    common = {"source": "banki_ru", "target_id": "banki_ru:zarya", "brand": "zarya", "url": url,
              "extra": {"jsonld_shape": "reviewBody"}}
    assert [{k: v for k, v in i.items() if k != "external_id"} for i in items] == [
        {**common, "title": "Очереди", "rating": 1, "author": "user-100200300400",
         "published_at": datetime(2026, 11, 19),
         "text": "Закрыли отделение, очередь два часа.\nОператор не отвечает.\n"
                 "Просто «ожидайте»."},
        {**common, "title": "Спасибо", "rating": 5, "author": "Ирина К.",
         "published_at": datetime(2026, 11, 18), "text": "Всё хорошо, спасибо менеджеру."},
    ]
    ids = [i["external_id"] for i in items]
    assert all(i.startswith("ld-") for i in ids) and len(set(ids)) == 2
    again = parse_jsonld_reviews(fixture_bytes("jsonld_2023_list.html"), brand="zarya",
                                 target_id="banki_ru:zarya", page_url=url)
    assert [i["external_id"] for i in again] == ids  # stable across re-crawls


def test_jsonld_later_shape_single_review_page(fixture_bytes):
    url = f"{BASE}/services/responses/bank/response/12424600/"
    items = parse_jsonld_reviews(fixture_bytes("jsonld_later_review.html"), brand="zarya",
                                 target_id="banki_ru:zarya", page_url=url)
    assert items == [{
        "source": "banki_ru", "external_id": "12424600", "target_id": "banki_ru:zarya",
        "brand": "zarya", "url": url, "title": "Заблокировали карту", "rating": 2,
        "published_at": datetime(2026, 11, 20, 11, 5), "author": "Павел С.",
        "text": "Карту заблокировали без объяснения причин.\n"
                "В чате отвечают шаблонами — «ожидайте».",
        "extra": {"jsonld_shape": "description"},
    }]


def test_jsonld_page_without_reviews_raises(fixture_bytes):
    with pytest.raises(ParseError, match="no schema.org Review") as info:
        parse_jsonld_reviews(fixture_bytes("captcha.html"), brand="b", target_id="t",
                             page_url="https://x/captcha")
    assert info.value.url == "https://x/captcha"


@pytest.mark.parametrize(
    ("fragment", "keep_newlines", "expected"),
    [
        ("<p>a&nbsp;b</p>\r\n<p>c</p>", False, "a b\nc"),
        ("<p>  один   два </p><p></p><p>три</p>", False, "один два\nтри"),
        ("строка<br>ещё<br/>и ещё", False, "строка\nещё\nи ещё"),
        ("текст\nс переносом", False, "текст с переносом"),
        ("текст\nс переносом", True, "текст\nс переносом"),
        ("&laquo;ёлка&raquo; &amp; &#8212; &quot;x&quot;", False, "«ёлка» & — \"x\""),
        ("<ul><li>раз</li><li>два</li></ul>", False, "раз\nдва"),
        ("<p>до<script>var x = 1;</script> после</p>", False, "до после"),
        ("<a href='/x'>ссылка</a> в тексте", False, "ссылка в тексте"),
        ("", False, ""),
    ],
)
def test_html_to_text(fragment, keep_newlines, expected):
    assert html_to_text(fragment, keep_newlines=keep_newlines) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20 23:11:02", datetime(2026, 11, 20, 20, 11, 2)),
        ("2026-01-01 01:00:00", datetime(2025, 12, 31, 22, 0)),
        ("2013-06-01 12:00:00", datetime(2013, 6, 1, 8, 0)),  # UTC+4 back then
    ],
)
def test_moscow_to_utc(value, expected):
    assert moscow_to_utc(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T14:05:00+03:00", datetime(2026, 11, 20, 11, 5)),
        ("2026-11-20T14:05:00Z", datetime(2026, 11, 20, 14, 5)),
        ("2026-11-20T14:05:00", datetime(2026, 11, 20, 11, 5)),
        ("2023-01-11", datetime(2023, 1, 11)),
    ],
)
def test_iso_to_utc(value, expected):
    assert iso_to_utc(value) == expected


def test_real_ajax_page(shared_bytes):
    items, total = parse_ajax_list(shared_bytes("esg_bank_responses_ajax_unicreditbank_p1.json"),
                                   brand="unicredit", target_id="banki_ru:unicreditbank",
                                   base_url=BASE)
    assert (len(items), total) == (25, 9465)
    assert len({i["external_id"] for i in items}) == 25
    first = items[0]
    assert (first["external_id"], first["rating"], first["published_at"]) == (
        "10816739", 1, datetime(2023, 1, 11, 18, 0, 32))
    assert first["title"] == "С этим банком до инфаркта не далеко!"
    assert first["text"].startswith("Ситуация на грани инфаркта!")
    assert first["text"].endswith("Проходите мимо этого банка.")
    assert first["extra"]["company"] == {"id": 4045, "code": "unicreditbank",
                                         "name": "ЮниКредит Банк"}
    assert sum(i["rating"] is None for i in items) == 2  # two reviews carry grade null
    assert not any("<" in i["text"] or "&nbsp;" in i["text"] for i in items)


def test_real_insurance_jsonld_page(shared_bytes):
    url = f"{BASE}/insurance/responses/company/alfastrahovanie/"
    items = parse_jsonld_reviews(shared_bytes("esg_insurance_responses_alfastrahovanie.html"),
                                 brand="alfa", target_id="banki_ru:alfastrahovanie", page_url=url)
    assert len(items) == 25
    assert len({i["external_id"] for i in items}) == 25
    first = items[0]
    assert (first["title"], first["rating"], first["author"], first["published_at"]) == (
        "Кредит со страхованием", 1, "user-328812542062", datetime(2023, 1, 11))
    assert first["text"].startswith("Банк предложил мне кредит, 500 тысяч рублей.\n")
    assert all(i["author"] and i["text"] and "&nbsp;" not in i["text"] for i in items)

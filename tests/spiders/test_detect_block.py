"""detect_block: anti-bot answers are recognised, real content is not mistaken for one."""

from __future__ import annotations

import pytest

from spiders.parsers.banki import detect_block, is_cookie_challenge

JSON = b'{"data": [], "total": 0}'
PAGE = "<html><head><title>Отзывы</title></head><body>{}</body></html>"
BIG_REVIEW = PAGE.format("Мне названивает робот, ввод captcha на сайте. " + "текст " * 8000)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expect_json", "expected"),
    [
        (200, {}, JSON, True, None),
        (200, {}, PAGE.format("отзывы").encode(), False, None),
        (200, {}, BIG_REVIEW.encode(), False, None),  # marker words deep in a real page
        (403, {}, b"Forbidden", False, "HTTP 403"),
        (429, {}, b"", True, "HTTP 429"),
        (429, {"Retry-After": "120"}, b"", True, "Retry-After: 120"),
        (429, {b"Retry-After": [b"30"]}, b"", True, "Retry-After: 30"),  # Scrapy Headers
        (521, {}, b"", False, "HTTP 521"),
        (200, {}, PAGE.format("Вы робот?").encode(), False, "'вы робот'"),
        (200, {}, "<title>Вы не робот?</title>".encode(), False, "вы не робот"),
        (200, {}, b"<html><div id='smartcaptcha'></div></html>", False, "captcha"),
        (503, {}, b"<html><title>DDoS-Guard</title></html>", True, "ddos-guard"),
        (200, {"cf-mitigated": "challenge"}, b"", False, "cf-mitigated"),
        (200, {}, b"<!DOCTYPE html><html><div id=app></div></html>", True, "HTML page where"),
        (200, {}, b"  <html></html>", True, "X-Requested-With"),
        (200, {}, b"<html></html>", False, None),  # HTML is fine where HTML is expected
        (404, {}, b"not found", True, None),  # an error, not a block
    ],
)
def test_detect_block(status, headers, body, expect_json, expected):
    reason = detect_block(status, headers, body, expect_json=expect_json)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected.lower() in reason.lower()


def test_handwritten_captcha_page(fixture_bytes):
    reason = detect_block(200, {}, fixture_bytes("captcha.html"), expect_json=True)
    assert reason is not None and "вы робот" in reason


def test_real_review_page_is_not_a_block(shared_bytes):
    body = shared_bytes("esg_insurance_responses_alfastrahovanie.html")
    assert "робот".encode() in body  # a review mentions a robot caller…
    assert detect_block(200, {}, body) is None  # …which is not an anti-bot page


@pytest.mark.parametrize(
    ("status", "url", "location", "expected"),
    [
        (302, "https://b/x?page=1", "https://b/x?page=1", True),
        (302, "https://b/x?page=1", "https://b/x?page=2", False),
        (301, "https://b/x", "https://b/x", True),
        (200, "https://b/x", "https://b/x", False),
        (302, "https://b/x", "https://b/", False),
    ],
)
def test_is_cookie_challenge(status, url, location, expected):
    assert is_cookie_challenge(status, url, location) is expected

"""The demo site: deterministic data with the planted spike, and banki.ru's behaviour."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import Counter
from datetime import date

import pytest

from slukh.demo_site import BANKS, DemoSite, generate_reviews
from spiders.parsers.banki import detect_block, parse_ajax_list, parse_jsonld_reviews

TAXONOMY = {"staff_attitude", "staff_competence", "waiting_time", "product_quality",
            "pricing_fees", "billing_charges", "digital_ux", "communication", "unresolved",
            "premises", "marketing_spam", "security_fraud"}


@pytest.fixture(scope="module")
def reviews():
    return generate_reviews()


def test_generator_is_deterministic(reviews):
    again = generate_reviews()
    assert [(r.id, r.text_html) for r in again] == [(r.id, r.text_html) for r in reviews]
    assert [r.text_html for r in generate_reviews(seed=7)] != [r.text_html for r in reviews]


def test_generator_volume_mix_and_ids(reviews):
    assert 600 <= len(reviews) <= 800
    assert set(Counter(r.bank for r in reviews)) == set(BANKS)
    days = {r.date_create[:10] for r in reviews}
    assert (min(days), max(days), len(days)) == ("2026-09-22", "2026-11-20", 60)
    ids = [r.id for r in reviews]
    assert len(set(ids)) == len(ids) and all(10_000_000 <= i < 100_000_000 for i in ids)
    share = Counter(r.sentiment for r in reviews)
    assert 0.28 < share["positive"] / len(reviews) < 0.42
    assert 0.10 < share["neutral"] / len(reviews) < 0.20
    assert 0.45 < share["negative"] / len(reviews) < 0.60
    assert len({r.text_html for r in reviews}) == len(reviews)  # no verbatim repeats


def test_ground_truth_is_consistent(reviews):
    for r in reviews:
        plain = re.sub(r"<[^>]+>", " ", r.text_html)
        assert 2 <= len(re.findall(r"[.!?]»?(?=\s|$)", plain)) <= 6, plain
        if r.sentiment == "negative":
            assert r.grade in (1, 2) and r.root_causes and set(r.root_causes) <= TAXONOMY
        else:
            assert r.root_causes == () and r.grade == (3 if r.sentiment == "neutral" else r.grade)
    assert {c for r in reviews for c in r.root_causes} == TAXONOMY


def test_planted_spike(reviews):
    def queue_complaints(bank: str, day: date) -> int:
        return sum(1 for r in reviews if r.bank == bank and r.date_create[:10] == str(day)
                   and "waiting_time" in r.root_causes)

    for day in (date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)):
        assert queue_complaints("zarya", day) >= 12
        assert queue_complaints("severny", day) <= 3
    assert queue_complaints("zarya", date(2026, 11, 10)) <= 3


def _get(url: str, headers: dict | None = None):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {})) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_server_speaks_like_banki(reviews):
    with DemoSite(reviews=reviews) as site:
        url = f"{site.base_url}/services/responses/list/ajax/?page=2&bank=polyus"
        status, headers, _ = _get(f"{site.base_url}/robots.txt")
        assert status == 200
        status, headers, body = _get(url)
        assert (status, headers["Location"]) == (302, "/services/responses/list/ajax/?page=2&bank=polyus")
        cookie = re.match(r"(__hash_=\w+)", headers["Set-Cookie"]).group(1)
        status, _, body = _get(url, {"Cookie": cookie})
        assert status == 200 and detect_block(status, {}, body, expect_json=True)  # HTML shell
        status, _, body = _get(url, {"Cookie": cookie, "X-Requested-With": "XMLHttpRequest"})
        items, total = parse_ajax_list(body, brand="polyus", target_id="banki_ru:polyus",
                                       base_url=site.base_url)
        polyus = sorted((r for r in reviews if r.bank == "polyus"),
                        key=lambda r: (r.date_create, r.id), reverse=True)
        assert total == len(polyus)
        assert [i["external_id"] for i in items] == [str(r.id) for r in polyus[25:50]]
        assert (site.challenges_issued, site.list_requests_served) == (1, 1)

        review = polyus[25]  # the first review of page 2: both parsers must agree on it
        status, _, page = _get(f"{site.base_url}/services/responses/bank/response/{review.id}/")
        [item] = parse_jsonld_reviews(page, brand="polyus", target_id="banki_ru:polyus",
                                      page_url=f"{site.base_url}/services/responses/bank/"
                                               f"response/{review.id}/")
        assert (item["external_id"], item["author"], item["rating"]) == (
            str(review.id), review.author, review.grade)
        assert (item["text"], item["title"]) == (items[0]["text"], items[0]["title"])
        assert item["published_at"] == items[0]["published_at"]
        status, _, page = _get(f"{site.base_url}/services/responses/bank/zarya/")
        assert len(parse_jsonld_reviews(page, brand="z", target_id="t", page_url="u")) == 25


@pytest.mark.parametrize(("mode", "status", "marker"),
                         [("captcha", 200, "вы робот"), ("ratelimit", 429, "HTTP 429")])
def test_failure_modes(mode, status, marker):
    with DemoSite(mode=mode) as site:
        got, headers, body = _get(f"{site.base_url}/services/responses/list/ajax/?page=1&bank=zarya")
        assert got == status
        assert marker.lower() in detect_block(got, dict(headers), body, expect_json=True).lower()
        assert _get(f"{site.base_url}/robots.txt")[0] == 200

"""Replay the real recorded banki.ru exchange (302 cookie challenge, then the list)."""
from __future__ import annotations

import gzip

import yaml
from scrapy.http import Request, TextResponse
from scrapy.utils.test import get_crawler

from spiders.sources.banki import BankiRuSpider


def _response(spider: BankiRuSpider, interaction: dict, challenges: int) -> TextResponse:
    resp = interaction["response"]
    body = resp["body"]["string"]
    raw = body if isinstance(body, bytes) else body.encode()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    headers = {k: v[0] for k, v in resp["headers"].items() if k.lower() != "content-encoding"}
    request = spider.list_request(1, challenges)
    return TextResponse(url=request.url, status=resp["status"]["code"], headers=headers,
                        body=raw, request=request, encoding="utf-8")


def test_recorded_cookie_challenge_then_list(shared_bytes):
    cassette = yaml.safe_load(shared_bytes("esg_bank_reviews_response.vcr.yaml"))
    first, second = cassette["interactions"][:2]
    assert "__hash_" in second["request"]["headers"]["Cookie"][0]     # what the site expects back
    spider = BankiRuSpider.from_crawler(get_crawler(BankiRuSpider), target="unicreditbank",
                                        brand="unicredit", base_url="https://www.banki.ru",
                                        horizon_days=0)
    out = list(spider.parse_list(_response(spider, first, 0), page=1, challenges=0))
    assert len(out) == 1 and isinstance(out[0], Request) and out[0].dont_filter
    assert out[0].url == "https://www.banki.ru/services/responses/list/ajax/?page=1&bank=unicreditbank"
    items = [o for o in spider.parse_list(_response(spider, second, 1), page=1, challenges=1)
             if isinstance(o, dict)]
    assert len(items) == 25 and len({i["external_id"] for i in items}) == 25
    assert spider.challenges_passed == 1 and spider.errors == []
    assert all(i["brand"] == "unicredit" and i["text"] for i in items)
    # unrated reviews stay unrated (None), never a made-up 0
    assert sum(i["rating"] is None for i in items) == 2
    assert all(i["rating"] in range(1, 6) for i in items if i["rating"] is not None)

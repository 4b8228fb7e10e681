"""Mock App Store customer-reviews RSS (JSON rendering), generated Russian reviews.

Mirrors Apple's format: every value wrapped in ``{"label": ...}``, ``updated`` with the
Pacific offset, 50 entries a page, at most 10 pages (page 11+ answers 400), no ``entry``
key past the last review and a bare object (not a list) for a page of one.
``captcha``, ``rate_limited`` and ``truncated`` are failure handlers for ``MockSite.override``.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from slukh.mocksite import Handler, Reply, Request

#: app id → number of reviews in the ``ru`` storefront (other storefronts: none).
APPS = {"1453111111": 123, "1453222222": 1}
PAGE_SIZE, MAX_PAGES = 50, 10
PACIFIC = timezone(timedelta(hours=-8))
NEWEST = datetime(2026, 11, 20, 1, 15, 0, tzinfo=PACIFIC)
PATH = re.compile(r"/([a-z]{2})/rss/customerreviews/page=(\d+)/id=(\d+)/sortby=mostrecent/json")
NICKS = ("Котик2000", "ivan_p", "Мария К.", "Недовольный клиент", "alex", "Ольга Сергеевна")
GOOD = ("Удобное приложение, всё быстро грузится.", "Переводы по номеру телефона — огонь.",
        "После обновления стало ещё лучше, спасибо разработчикам!")
BAD = ("После обновления вылетает при входе.", "Не приходит СМС с кодом, не могу войти.",
       "Пропала история операций, поддержка молчит.")


def _label(value: str) -> dict[str, str]:
    return {"label": value}


@lru_cache(maxsize=8)
def entries(app_id: str, country: str = "ru") -> tuple[dict[str, Any], ...]:
    """All review entries of an app, newest first, the same on every call."""
    count = APPS.get(app_id, 0) if country == "ru" else 0
    rng = random.Random(f"{app_id}/{country}")
    out = []
    for i in range(count):
        updated = NEWEST - timedelta(hours=3 * i, minutes=11 * i)
        rating = rng.choice((1, 5, 2, 5, 4, 1))
        text = " ".join(rng.sample(GOOD if rating >= 4 else BAD, 2))
        if i % 9 == 4:
            text += "\n\nP.S. ставлю <3, если починят"
        out.append({
            "author": {"uri": _label(f"https://itunes.apple.com/{country}/reviews/id{700000 + i}"),
                       "name": _label(rng.choice(NICKS)), "label": ""},
            "updated": _label(updated.isoformat()),
            "im:rating": _label(str(rating)),
            "im:version": _label(f"14.{20 - i // 40}.0"),
            "id": _label(str(11000000000 - i * 7)),
            "title": _label("Отлично" if rating >= 4 else "Верните старую версию"),
            "content": {"label": text, "attributes": {"type": "text"}},
            "link": {"attributes": {"rel": "related",
                                    "href": f"https://itunes.apple.com/{country}/review?id={app_id}"
                                            "&type=Purple%20Software"}},
            "im:voteSum": _label(str(i % 4)),
            "im:contentType": {"attributes": {"term": "Application", "label": "Приложение"}},
            "im:voteCount": _label(str(i % 6)),
        })
    return tuple(out)


def feed_page(req: Request) -> Reply:
    """``GET /<country>/rss/customerreviews/page=<n>/id=<app>/sortby=mostrecent/json``."""
    match = PATH.fullmatch(req.path)
    if not match:
        return Reply(404, "not found", "text/plain")
    country, page, app_id = match.group(1), int(match.group(2)), match.group(3)
    if not 1 <= page <= MAX_PAGES:
        return Reply(400, "CustomerReviews RSS page depth is limited to 10", "text/plain")
    chunk = list(entries(app_id, country)[(page - 1) * PAGE_SIZE:page * PAGE_SIZE])
    self_url = f"https://itunes.apple.com{req.path}"
    feed: dict[str, Any] = {
        "author": {"name": _label("iTunes Store"),
                   "uri": _label("http://www.apple.com/ru/itunes/")},
        "updated": _label(NEWEST.isoformat()),
        "rights": _label("Copyright 2008 Apple Inc."),
        "title": _label("iTunes Store: Отзывы покупателей"),
        "icon": _label("http://itunes.apple.com/favicon.ico"),
        "link": [{"attributes": {"rel": "self", "href": self_url}}],
        "id": _label(self_url),
    }
    if chunk:  # Apple drops the key past the end, and unwraps a one-item list
        feed["entry"] = chunk[0] if len(chunk) == 1 else chunk
    return Reply(200, json.dumps({"feed": feed}, ensure_ascii=False),
                 "application/json; charset=utf-8")


def captcha(req: Request) -> Reply:
    return Reply(200, "<html><head><title>Access Denied</title></head><body>"
                      "Please verify you are human (captcha).</body></html>")


def rate_limited(req: Request) -> Reply:
    return Reply(429, "", "text/plain")


def truncated(req: Request) -> Reply:
    body = feed_page(req).payload()
    return Reply(200, body[: len(body) * 2 // 3], "application/json; charset=utf-8")


def routes() -> list[tuple[str, Handler]]:
    return [(PATH.pattern, feed_page)]

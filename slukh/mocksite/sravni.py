"""Mock sravni.ru: ``/proxy-reviews/reviews/`` with generated Russian reviews, newest first.

Same shape as the real API (a saved real page is described in tests/fixtures/sravni_ru):
``{items, pageIndex, pageSize, total}``, ``pageIndex`` from 0, ``createdToMoscow`` in
Moscow time with the real site's misleading ``Z``; the path without the trailing slash
answers 301 to the path with it, as the real site does. ``captcha``, ``rate_limited`` and
``truncated`` are failure handlers for ``MockSite.override``.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from slukh.mocksite import Handler, Reply, Request

#: reviewObjectId → (reviewObjectType, number of reviews). Ids are made up, hex like the real.
OBJECTS = {
    "60c7a1b2c3d4e5f601234567": ("bank", 47),
    "60c7a1b2c3d4e5f60123abcd": ("mfo", 3),
}
NEWEST_MOSCOW = datetime(2026, 11, 20, 18, 30, 15, 250000)
TAGS = ("debitCards", "creditCards", "mobileApp", "serviceLevel", "credits", "deposits", "other")
CITIES = (("kazan", "Казань"), ("perm", "Пермь"), ("tomsk", "Томск"), ("ufa", "Уфа"))
NAMES = ("Ирина", "Сергей", "Анна", "Дмитрий", "Ольга", "Алексей", "Наталья", "Михаил")
GOOD = ("Оформила карту за один день, курьер приехал вовремя.",
        "Приложение удобное, переводы проходят моментально.",
        "Сотрудник в чате ответил за пару минут и всё решил.")
BAD = ("Третью неделю не могу вернуть деньги за ошибочное списание.",
       "В отделении очередь на час, талончик не работает.",
       "На горячей линии сбрасывают звонок, ответа по заявке нет.")
TITLES_GOOD = ("Всё понравилось", "Быстро и удобно", "Спасибо за помощь!")
TITLES_BAD = ("Не решают проблему", "Ужасный сервис", "Деньги так и не вернули")


@lru_cache(maxsize=8)
def reviews(object_id: str) -> tuple[dict[str, Any], ...]:
    """Every review of one object, newest first; the same on every call (seeded by id)."""
    object_type, count = OBJECTS[object_id]
    rng = random.Random(object_id)
    out = []
    for i in range(count):
        moscow = NEWEST_MOSCOW - timedelta(hours=5 * i, minutes=17 * i, microseconds=1000 * i)
        rating = rng.choice((1, 2, 5, 4, 1, 5))
        good = rating >= 4
        alias, city = rng.choice(CITIES)
        text = " ".join(rng.sample(GOOD if good else BAD, 2))
        if i % 7 == 3:  # real texts carry line breaks and stray markup-looking characters
            text += "\nИтог: сервис <5 звёзд> не тянет, но «жить можно»."
        out.append({
            "commentsCount": i % 3,
            "hasCompanyResponse": i % 2 == 0,
            "authorName": rng.choice(NAMES),
            "isAuthorDeleted": i == 5,
            "rating": rating,
            "problemSolved": good and i % 4 == 0,
            "createdToMoscow": moscow.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "date": (moscow - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "locationData": {"id": 100 + i % 4, "alias": alias, "name": city},
            "id": 900000 - i * 3,
            "title": rng.choice(TITLES_GOOD if good else TITLES_BAD),
            "text": text,
            "reviewObjectId": object_id,
            "reviewObjectType": f"{object_type}s" if object_type != "mfo" else "mfo",
            "reviewTag": rng.choice(TAGS),
            "isClient": True,
        })
    return tuple(out)


def _int(req: Request, name: str, default: int) -> int:
    try:
        return int(req.arg(name) or default)
    except ValueError:
        return -1


def reviews_page(req: Request) -> Reply:
    """``GET /proxy-reviews/reviews/?pageIndex=&pageSize=&reviewObjectId=&reviewObjectType=``."""
    page, size = _int(req, "pageIndex", 0), _int(req, "pageSize", 10)
    object_id, object_type = req.arg("reviewObjectId") or "", req.arg("reviewObjectType")
    if page < 0 or not 1 <= size <= 1000 or object_type not in ("bank", "mfo", "insuranceCompany"):
        return Reply(400, json.dumps({"error": "bad request"}), "application/json")
    known = OBJECTS.get(object_id)
    found = reviews(object_id) if known and known[0] == object_type else ()
    body = {"items": list(found[page * size:(page + 1) * size]), "pageIndex": page,
            "pageSize": size, "total": len(found)}
    return Reply(200, json.dumps(body, ensure_ascii=False), "application/json; charset=utf-8")


def redirect_to_slash(req: Request) -> Reply:
    """The real site's answer to the list path without its trailing slash."""
    location = f"{req.path}/?{urlencode(req.query, doseq=True)}"
    return Reply(301, "", "text/html", {"Location": location})


def captcha(req: Request) -> Reply:
    """What the anti-bot proxy serves instead of JSON."""
    return Reply(200, "<html><head><title>Проверка браузера — Qrator</title></head><body>"
                      "Подтвердите, что вы не робот.</body></html>")


def rate_limited(req: Request) -> Reply:
    return Reply(429, json.dumps({"error": "too many requests"}), "application/json")


def truncated(req: Request) -> Reply:
    """A list page cut off mid-way (a proxy timeout)."""
    body = reviews_page(req).payload()
    return Reply(200, body[: len(body) // 2], "application/json; charset=utf-8")


def routes() -> list[tuple[str, Handler]]:
    return [(r"/proxy-reviews/reviews/", reviews_page),
            (r"/proxy-reviews/reviews", redirect_to_slash)]

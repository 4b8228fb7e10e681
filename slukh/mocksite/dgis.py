"""Mock 2GIS: firm pages with reviews embedded in ``initialState``, plus the reviews API.

The firm page has the real structure (``var initialState = JSON.parse('…')`` with JSON
escaped into a JS string literal; ``data.entity.profile``, ``data.review``,
``data.reviewSearch``) and embeds the 50 newest reviews; ``/2.0/branches/<id>/reviews``
serves the rest (``{meta, reviews}``, needs a ``key``). Order is by last activity, so one
old-but-edited review sits near the top, as on the real site. ``captcha``, ``shell``,
``rate_limited``, ``truncated`` and ``lying_charset`` are handlers for ``MockSite.override``.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from slukh.mocksite import Handler, Reply, Request

CITY = "vologda"
#: firm id → (name, number of reviews).
FIRMS = {"70000001000000001": ("Банк «Заря», отделение на Ленинградской", 120),
         "70000001000000002": ("Банк «Заря», банкомат", 0)}
SSR_REVIEWS = 50
EDITED_AT = 10  # this position holds a review written long ago and edited recently
MSK = timezone(timedelta(hours=3))
NEWEST = datetime(2026, 11, 20, 19, 5, 0, 123000, tzinfo=MSK)
NAMES = ("Анатолий Калинин", "Ульяна", "Marina S.", "Пётр", "Елена Викторовна", "Гость")
TEXTS = ("Быстро обслужили, \"менеджер\" всё объяснил.", "Очередь 40 минут, работает одно окно.",
         "Банкомат 'съел' карту, вернули только через неделю.",
         "Вежливые сотрудники\nи удобный график.", "Путь к окну: касса 3\\4 не работает 😡")


@lru_cache(maxsize=8)
def reviews(firm_id: str) -> tuple[dict[str, Any], ...]:
    """Review objects (the shape of ``data.review.<id>.data``) newest activity first."""
    rng = random.Random(firm_id)
    out = []
    for i in range(FIRMS[firm_id][1]):
        activity = NEWEST - timedelta(hours=7 * i, minutes=3 * i)
        created = activity - timedelta(days=90) if i == EDITED_AT else activity
        rating = rng.choice((5, 1, 4, 2, 5))
        answered = i % 3 != 1
        name = rng.choice(NAMES)
        out.append({
            "id": str(230000000 - i * 11),
            "text": " ".join(rng.sample(TEXTS, 2)),
            "rating": rating,
            "date_created": created.isoformat(),
            "date_edited": activity.isoformat() if i == EDITED_AT else None,
            "comments_count": int(answered),
            "likes_count": i % 4,
            "media": [],
            "object": {"id": firm_id, "type": "branch"},
            "provider": "2gis",
            "official_answer": {
                "id": str(52000000 + i), "org_name": FIRMS[firm_id][0],
                "date_created": (activity + timedelta(hours=20)).isoformat(),
                "text": f"{name.split()[0]}, здравствуйте! Спасибо за отзыв, разберёмся.",
            } if answered else None,
            "user": {"id": str(81000000 + i), "name": name, "first_name": name,
                     "public_id": f"{i:08x}{firm_id[-8:]}aa55aa55aa55aa55",
                     "reviews_count": 1 + i % 9, "provider": "2gis"},
        })
    return tuple(out)


def _state(firm_id: str, embed: int = SSR_REVIEWS) -> dict[str, Any]:
    found = reviews(firm_id)
    shown = found[:embed]
    return {
        "bss": {"searchEvent": {}, "event": {}, "serverEvents": []},
        "data": {
            "entity": {"profile": {firm_id: {"data": {
                "id": firm_id, "name": FIRMS[firm_id][0], "timezone_offset": 180,
                "reviews": {"general_rating": 4.1, "general_review_count": len(found),
                            "org_review_count": len(found) + 17, "is_reviewable": True}}}}},
            "review": {r["id"]: {"data": r, "meta": {"status": "success", "code": 200}}
                       for r in shown},
            "reviewSearch": {"78d2d320-0000-4fd5-ae05-666ff90c79f3": {
                "meta": {"status": "success", "code": 200},
                "data": {"rating": 4.1, "total": len(found), "totalForRequest": len(found),
                         "offset": len(shown), "items": [r["id"] for r in shown]}}},
        },
        "appContext": {"lang": "ru"},
    }


def js_literal(value: Any) -> str:
    """JSON for ``JSON.parse('…')``: backslashes doubled, quotes and ``</`` escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("\\", "\\\\").replace("'", "\\'").replace("</", "<\\/")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page_html(title: str, state: dict[str, Any] | None) -> str:
    script = (f"<script>var initialState = JSON.parse('{js_literal(state)}');"
              "          var __REACT_QUERY_STATE__ = JSON.parse('{\"queries\":[]}');</script>"
              if state is not None else "")
    return ("<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">"
            f"<title>{title} — 2ГИС</title>"
            "<script src=\"https://d-assets.2gis.ru/app.js\"></script></head>"
            f"<body><div id=\"root\"></div>{script}</body></html>")


def firm_page(req: Request) -> Reply:
    """``GET /<city>/firm/<firm_id>``."""
    parts = req.path.strip("/").split("/")
    firm_id = parts[2] if len(parts) == 3 else ""
    if firm_id not in FIRMS:
        return Reply(404, page_html("Страница не найдена", None))
    return Reply(200, page_html(FIRMS[firm_id][0], _state(firm_id)))


def api_reviews(req: Request) -> Reply:
    """``GET /2.0/branches/<firm_id>/reviews?limit=&offset=&key=``."""
    firm_id = req.path.split("/")[3]
    if not req.arg("key"):
        return Reply(403, json.dumps({"meta": {"code": 403, "error": {
            "type": "keyError", "message": "key is required"}}}), "application/json")
    found = reviews(firm_id) if firm_id in FIRMS else ()
    offset, limit = int(req.arg("offset") or 0), min(int(req.arg("limit") or 50), 50)
    chunk = list(found[offset:offset + limit])
    host = req.headers.get("host", "127.0.0.1")
    more = offset + limit < len(found)
    next_link = (f"http://{host}{req.path}?limit={limit}&offset={offset + limit}"
                 f"&sort_by=date_edited&locale=ru_RU&key={req.arg('key')}") if more else None
    body = {"meta": {"code": 200, "branch_rating": 4.1, "branch_reviews_count": len(found),
                     "total_count": len(found), "next_link": next_link}, "reviews": chunk}
    return Reply(200, json.dumps(body, ensure_ascii=False), "application/json; charset=utf-8")


def captcha(req: Request) -> Reply:
    return Reply(200, "<html><head><title>Подтвердите, что вы не робот</title></head>"
                      "<body><form action=\"/captcha\"><img src=\"/captcha.png\"></form>"
                      "</body></html>")


def shell(req: Request) -> Reply:
    """The SSR shell a suspected bot gets: the app skeleton and no state at all."""
    return Reply(200, page_html("2ГИС", None))


def rate_limited(req: Request) -> Reply:
    return Reply(429, "Too Many Requests", "text/plain")


def truncated(req: Request) -> Reply:
    """The firm page cut off inside the initialState literal."""
    body = firm_page(req).payload()
    return Reply(200, body[: len(body) // 2])


def lying_charset(req: Request) -> Reply:
    """UTF-8 bytes under a header that claims windows-1251."""
    reply = firm_page(req)
    return Reply(reply.status, reply.payload(), "text/html; charset=windows-1251")


def routes() -> list[tuple[str, Handler]]:
    return [(r"/[a-z][a-z_-]*/firm/\d+", firm_page), (r"/2\.0/branches/\d+/reviews", api_reviews)]

"""Mock VK API v5.131: ``wall.get``, ``wall.getComments``, ``newsfeed.search``.

Answers have the real shape (``response.count``/``items``; posts with ``likes``/``comments``/
``views``/``reposts`` counters; comments with ``thread`` replies; ``next_from`` paging) and,
like VK, HTTP 200 with ``{"error": ...}`` for a bad token. Generated Russian posts are the
same on every run. The only token accepted is :data:`MOCK_TOKEN`.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from slukh.mocksite import Handler, Reply, Request

MOCK_TOKEN = "vk1.a.mock-token-0123456789abcdef"
WALL_POSTS = 230
SEARCH_POSTS = 260
_START = int(datetime(2025, 1, 10, 8, 0, tzinfo=UTC).timestamp())  # tests use horizon_days=0

_POSTS = (
    "Сбербанк запустил новый вклад с повышенной ставкой для пенсионеров.",
    "Почему приложение Сбера опять не работает? Третий раз за неделю!",
    "Спасибо сотрудникам отделения на Садовой, быстро перевыпустили карту.",
    "СберБанк напоминает: никому не сообщайте код из СМС.",
    "Кешбэк за октябрь так и не пришёл, поддержка молчит.",
    "Открыла счёт для бизнеса, всё оформили за двадцать минут.",
)
_COMMENTS = (
    "У меня то же самое, деньги списали дважды.",
    "Позвонил на горячую линию, ждал сорок минут.",
    "А у меня всё работает, обновите приложение.",
    "Заблокировали карту без объяснения причин!",
    "Отличный сервис, пользуюсь много лет.",
)


def _error(code: int, message: str) -> Reply:
    return Reply(body=json.dumps({"error": {"error_code": code, "error_msg": message,
                                            "request_params": []}}),
                 content_type="application/json; charset=utf-8")


def _ok(response: dict[str, Any]) -> Reply:
    return Reply(body=json.dumps({"response": response}, ensure_ascii=False),
                 content_type="application/json; charset=utf-8")


@lru_cache(maxsize=32)
def wall_posts(owner_id: int) -> tuple[dict[str, Any], ...]:
    """A wall's posts, newest first (as ``wall.get`` returns them); every 11th has no text."""
    rng = random.Random(f"vk:wall:{owner_id}")
    posts, post_id, when = [], 5000, _START
    for n in range(WALL_POSTS):
        post_id += rng.randint(1, 3)
        when += rng.randint(600, 20_000)
        text = "" if n % 11 == 3 else " ".join(rng.sample(_POSTS, rng.randint(1, 2)))
        comments = rng.choice((0, 0, 0, 2, 5)) if n >= WALL_POSTS - 12 else 0
        posts.append({
            "id": post_id, "from_id": owner_id, "owner_id": owner_id, "date": when,
            "marked_as_ads": 0, "post_type": "post", "text": text,
            "attachments": [] if text else [{"type": "photo"}],
            "comments": {"can_post": 1, "count": comments, "groups_can_post": True},
            "likes": {"can_like": 1, "count": rng.randint(0, 900), "user_likes": 0},
            "reposts": {"count": rng.randint(0, 40), "user_reposted": 0},
            "views": {"count": rng.randint(500, 90_000)},
        })
    return tuple(reversed(posts))


def post_comments(owner_id: int, post_id: int) -> list[dict[str, Any]]:
    """Top-level comments of a post (count = the post's counter), each with a reply thread."""
    post = next(p for p in wall_posts(owner_id) if p["id"] == post_id)
    rng = random.Random(f"vk:comments:{owner_id}_{post_id}")
    out, cid = [], post_id * 10
    for _ in range(post["comments"]["count"]):
        cid += 1
        replies = []
        for _ in range(rng.randint(0, 2)):
            cid += 1
            replies.append({"id": cid, "from_id": rng.randint(1, 9_999_999),
                            "date": post["date"] + rng.randint(60, 9000),
                            "text": rng.choice(_COMMENTS), "post_id": post_id,
                            "owner_id": owner_id, "likes": {"count": rng.randint(0, 9)}})
        out.append({"id": cid - len(replies), "from_id": rng.randint(1, 9_999_999),
                    "date": post["date"] + rng.randint(30, 6000), "text": rng.choice(_COMMENTS),
                    "post_id": post_id, "owner_id": owner_id,
                    "likes": {"count": rng.randint(0, 20)},
                    "thread": {"count": len(replies), "items": replies, "can_post": True}})
    return out


@lru_cache(maxsize=8)
def search_posts(query: str) -> tuple[dict[str, Any], ...]:
    """Posts from many walls that mention ``query``, newest first."""
    rng = random.Random(f"vk:search:{query}")
    posts, when = [], _START
    for _ in range(SEARCH_POSTS):
        when += rng.randint(300, 9000)
        owner = rng.choice((rng.randint(1, 9_000_000), -rng.randint(1, 900_000)))
        posts.append({"id": rng.randint(1, 99_999), "owner_id": owner, "from_id": owner,
                      "date": when, "post_type": "post",
                      "text": f"{rng.choice(_POSTS)} #{query}",
                      "comments": {"count": 0}, "likes": {"count": rng.randint(0, 50)},
                      "reposts": {"count": 0}, "views": {"count": rng.randint(10, 5000)}})
    unique = {(p["owner_id"], p["id"]): p for p in posts}  # random ids may collide
    return tuple(sorted(unique.values(), key=lambda p: -p["date"]))


def _int(req: Request, name: str, default: int) -> int:
    value = req.arg(name)
    return int(value) if value and value.lstrip("-").isdigit() else default


def _api(method: str):  # -> Handler
    def handle(req: Request) -> Reply:
        if req.arg("access_token") != MOCK_TOKEN:
            return _error(5, "User authorization failed: invalid access_token (4).")
        if req.arg("v") != "5.131":
            return _error(8, "Invalid request: v (version) is required")
        count, offset = _int(req, "count", 20), _int(req, "offset", 0)
        if method == "wall.get":
            posts = wall_posts(_int(req, "owner_id", 0))
            return _ok({"count": len(posts), "items": list(posts[offset:offset + count])})
        if method == "wall.getComments":
            comments = post_comments(_int(req, "owner_id", 0), _int(req, "post_id", 0))
            return _ok({"count": len(comments), "items": comments[offset:offset + count],
                        "current_level_count": len(comments), "can_post": True})
        posts = search_posts(req.arg("q") or "")
        start = _int(req, "start_from", 0)
        page = list(posts[start:start + count])
        reply: dict[str, Any] = {"items": page, "count": len(page), "total_count": len(posts)}
        if start + count < len(posts):
            reply["next_from"] = str(start + count)
        return _ok(reply)

    return handle


def routes() -> list[tuple[str, Handler]]:
    return [(f"/method/{m.replace('.', '[.]')}", _api(m))
            for m in ("wall.get", "wall.getComments", "newsfeed.search")]

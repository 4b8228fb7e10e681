"""VK API v5.131 parsers: ``wall.get``, ``wall.getComments``, ``newsfeed.search``.

VK answers HTTP 200 for almost everything, errors included (``{"error": {"error_code",
"error_msg"}}``), so the API error is the real status: :func:`api_error` sorts the codes
that make every further call pointless (bad token, rate limits, captcha) from the ones
that concern one target (private wall, wrong id). Items are plain dicts with the batch
fields; links point at the public ``https://vk.com/wall<owner>_<id>`` page, never at the
API (API URLs carry the access token).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from spiders.parsers.common import ParseError, collect_items
from spiders.parsers.text import html_to_text

SOURCE = "vk"
API_VERSION = "5.131"
PUBLIC_URL = "https://vk.com"

#: Codes after which the whole crawl must stop: more calls only deepen the ban.
STOP_CODES = {
    5: "the access token is invalid or expired: issue a new user token and set VK_TOKEN",
    6: "too many requests per second: raise DOWNLOAD_DELAY",
    9: "flood control (too many identical actions): wait before re-running",
    14: "VK asks for a captcha: the token is flagged, wait or solve it in a browser",
    17: "VK asks to validate the account in a browser",
    29: "the method's daily rate limit is reached: re-run tomorrow",
}


class VkApiError(Exception):
    """An ``{"error": ...}`` answer; ``stop`` says whether the whole crawl must end."""

    def __init__(self, code: int, message: str, url: str) -> None:
        hint = STOP_CODES.get(code, "check the owner id / keyword and the token's rights")
        super().__init__(f"VK API error {code}: {message}; {hint}")
        self.code, self.api_message, self.url = code, message, url
        self.stop = code in STOP_CODES


def api_response(body: str | bytes, url: str) -> dict[str, Any]:
    """The ``response`` object of an API answer; raises VkApiError or ParseError otherwise."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"VK API answer is not JSON: {exc}", url) from exc
    if not isinstance(payload, dict):
        raise ParseError("VK API answer is not a JSON object", url)
    error = payload.get("error")
    if isinstance(error, dict):
        code = error.get("error_code")
        raise VkApiError(code if isinstance(code, int) else -1,
                         str(error.get("error_msg") or "no message"), url)
    response = payload.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("items"), list):
        raise ParseError("VK API answer has no response.items array", url)
    return response


def _utc(value: Any, url: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParseError(f"bad unix date {value!r}", url)
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def _count(node: Any) -> int | None:
    value = node.get("count") if isinstance(node, dict) else None
    return value if isinstance(value, int) else None


def _post_item(post: Any, *, brand: str, target_id: str, api_url: str) -> dict[str, Any] | None:
    if not isinstance(post, dict) or not isinstance(post.get("id"), int) \
            or not isinstance(post.get("owner_id"), int):
        raise ParseError(f"post without integer id/owner_id: {str(post)[:120]!r}", api_url)
    key = f"{post['owner_id']}_{post['id']}"
    url = f"{PUBLIC_URL}/wall{key}"
    published_at = _utc(post.get("date"), url)
    text = html_to_text(str(post.get("text") or ""), keep_newlines=True)
    extra: dict[str, Any] = {k: _count(post.get(k)) for k in ("likes", "comments", "views",
                                                               "reposts")}
    history = post.get("copy_history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        extra["repost_of"] = f"{history[0].get('owner_id')}_{history[0].get('id')}"
        text = text or html_to_text(str(history[0].get("text") or ""), keep_newlines=True)
    if not text:
        return None  # attachments only: nothing to classify
    if post.get("is_pinned"):
        extra["is_pinned"] = True
    author = post.get("signer_id") or post.get("from_id")
    return {
        "source": SOURCE, "external_id": key, "target_id": target_id, "brand": brand,
        "url": url, "title": None, "text": text, "rating": None,
        "published_at": published_at, "author": str(author) if author else None,
        "extra": {k: v for k, v in extra.items() if v is not None},
    }


def parse_wall(body: str | bytes, *, brand: str, target_id: str, api_url: str,
               errors: list[ParseError] | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """``wall.get`` → (items newest first, the wall's total ``count``)."""
    response = api_response(body, api_url)
    items = collect_items(response["items"], lambda p: _post_item(
        p, brand=brand, target_id=target_id, api_url=api_url), errors)
    return items, _count(response)


def parse_search(body: str | bytes, *, brand: str, target_id: str, api_url: str,
                 errors: list[ParseError] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """``newsfeed.search`` → (items newest first, ``next_from`` cursor or None at the end)."""
    response = api_response(body, api_url)
    items = collect_items(response["items"], lambda p: _post_item(
        p, brand=brand, target_id=target_id, api_url=api_url), errors)
    next_from = response.get("next_from")
    return items, (str(next_from) if next_from else None)


def _comment_item(comment: Any, *, owner_id: int, post_id: int, brand: str, target_id: str,
                  api_url: str, parent: int | None = None) -> dict[str, Any] | None:
    if not isinstance(comment, dict) or not isinstance(comment.get("id"), int):
        raise ParseError(f"comment without integer id: {str(comment)[:120]!r}", api_url)
    cid = comment["id"]
    url = f"{PUBLIC_URL}/wall{owner_id}_{post_id}?reply={cid}"
    if parent is not None:
        url += f"&thread={parent}"
    text = html_to_text(str(comment.get("text") or ""), keep_newlines=True)
    if not text or comment.get("deleted"):
        return None
    extra: dict[str, Any] = {"post": f"{owner_id}_{post_id}", "comment_id": cid}
    if parent is not None:
        extra["reply_to_comment"] = parent
    likes = _count(comment.get("likes"))
    if likes is not None:
        extra["likes"] = likes
    author = comment.get("from_id")
    return {
        "source": SOURCE, "external_id": f"{owner_id}_{post_id}_c{cid}", "target_id": target_id,
        "brand": brand, "url": url, "title": None, "text": text, "rating": None,
        "published_at": _utc(comment.get("date"), url),
        "author": str(author) if author else None, "extra": extra,
    }


def parse_comments(body: str | bytes, *, owner_id: int, post_id: int, brand: str,
                   target_id: str, api_url: str, errors: list[ParseError] | None = None
                   ) -> tuple[list[dict[str, Any]], int | None]:
    """``wall.getComments`` → (comments and their ``thread`` replies, top-level ``count``)."""
    response = api_response(body, api_url)
    records: list[tuple[Any, int | None]] = []
    for comment in response["items"]:
        records.append((comment, None))
        thread = comment.get("thread") if isinstance(comment, dict) else None
        if isinstance(thread, dict) and isinstance(thread.get("items"), list):
            records += [(reply, comment.get("id")) for reply in thread["items"]]
    items = collect_items(records, lambda r: _comment_item(
        r[0], owner_id=owner_id, post_id=post_id, brand=brand, target_id=target_id,
        api_url=api_url, parent=r[1]), errors)
    return items, _count(response)

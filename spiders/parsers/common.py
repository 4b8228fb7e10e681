"""What every source's parsers share: the parse error and anti-bot page detection.

Pure functions over bytes/text, so they can be tested on saved pages without Scrapy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class ParseError(ValueError):
    """A response did not have the structure the parser relies on.

    Carries the URL so the crawl-run record can say which page to look at.
    """

    def __init__(self, message: str, url: str) -> None:
        super().__init__(f"{message} (url: {url})")
        self.reason = message
        self.url = url


_BLOCK_STATUSES = {
    403: "HTTP 403 Forbidden: the site refuses this client (IP or user agent banned?)",
    429: "HTTP 429 Too Many Requests: rate-limited; raise DOWNLOAD_DELAY and retry later",
    521: "HTTP 521: the anti-bot proxy refused the connection; wait before re-running",
}
#: Phrases that only anti-bot pages put in their <title>, or in a page that small.
_BLOCK_MARKERS = (
    "вы робот",
    "вы не робот",
    "captcha",
    "капча",
    "ddos-guard",
    "qrator",
    "just a moment",
    "access denied",
    "доступ ограничен",
)
#: Real review pages are 100+ KB; a challenge page is a few KB. Marker words inside a
#: big page (a review saying «звонит робот», a captcha URL in a JS config) are not a block.
_SMALL_PAGE = 32 * 1024
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _header(headers: Mapping[Any, Any], name: str) -> str:
    for key, value in headers.items():
        key_text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key_text.lower() == name:
            values = value if isinstance(value, list) else [value]
            return ", ".join(
                v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values
            )
    return ""


def detect_block(
    status: int, headers: Mapping[Any, Any], body: str | bytes, *, expect_json: bool = False
) -> str | None:
    """Return why a response is an anti-bot/captcha answer, or ``None`` if it is content.

    A blocked crawl must end as ``blocked`` with this reason, never as "zero reviews".
    ``expect_json`` marks API calls: an HTML page there is the anti-bot shell (or the
    ``X-Requested-With`` header went missing).
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if status in _BLOCK_STATUSES:
        reason = _BLOCK_STATUSES[status]
        retry_after = _header(headers, "retry-after")
        return f"{reason} (Retry-After: {retry_after})" if retry_after else reason
    if _header(headers, "cf-mitigated").lower() == "challenge":
        return "the CDN answered with a browser challenge (cf-mitigated: challenge)"
    title_match = _TITLE.search(raw[:_SMALL_PAGE])
    title = title_match.group(1).decode("utf-8", "replace").lower() if title_match else ""
    sample = raw.decode("utf-8", "replace").lower() if len(raw) <= _SMALL_PAGE else ""
    for marker in _BLOCK_MARKERS:
        if marker in title or marker in sample:
            return (
                f"anti-bot page instead of content (found {marker!r}, HTTP {status}); "
                "slow the crawl down or solve the challenge in a browser and retry later"
            )
    if expect_json and raw.lstrip()[:1] == b"<":
        return (
            f"HTML page where the JSON list was expected (HTTP {status}): an anti-bot shell, "
            "or the request lost its X-Requested-With header"
        )
    return None


def star_rating(value: Any) -> int | None:
    """A 1..5 star rating from a number or numeric string; null or anything else means
    'no rating given' (kept as None, never a made-up 0)."""
    try:
        grade = int(value)
    except (TypeError, ValueError):
        return None
    return grade if 1 <= grade <= 5 else None


def collect_items(records: Iterable[Any], build: Callable[[Any], dict[str, Any] | None],
                  errors: list[ParseError] | None) -> list[dict[str, Any]]:
    """Build an item from each record. A bad record raises, or, when ``errors`` is given,
    is appended there and skipped, so one odd review does not cost the whole page.
    ``build`` may return None for records that are not items (deleted, ads, pinned notes)."""
    items = []
    for record in records:
        try:
            item = build(record)
        except ParseError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        if item is not None:
            items.append(item)
    return items


def json_list_page(body: str | bytes, url: str, what: str, key: str) -> tuple[list[Any], int | None]:
    """The record list under ``key`` and the integer ``total`` of a JSON list page; a body
    that is not that shape (truncated, an HTML shell, renamed fields) raises ParseError."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{what} is not JSON (truncated?): {exc}", url) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        raise ParseError(f"{what} has no '{key}' array", url)
    total = payload.get("total")
    if total is not None and not isinstance(total, int):
        raise ParseError(f"{what} 'total' is not an integer: {total!r}", url)
    return payload[key], total

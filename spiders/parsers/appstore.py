"""App Store parsers: Apple's customer-reviews RSS feed in its JSON rendering.

``/<country>/rss/customerreviews/page=<n>/id=<app_id>/sortby=mostrecent/json`` answers
``{"feed": {..., "entry": [...]}}``; every value is wrapped as ``{"label": ...}``. Quirks the
parser absorbs: ``entry`` is a bare object when the page holds one review and is missing
altogether past the last review; old feeds put the app itself first as an entry without
``im:rating``; ``updated`` carries a UTC offset (``-07:00``). Apple serves at most 10 pages
of 50, so older reviews are out of reach by design.
"""

from __future__ import annotations

import html
import json
from typing import Any

from spiders.parsers.common import ParseError
from spiders.parsers.text import html_to_text, iso_to_utc

SOURCE = "appstore"
PAGE_SIZE = 50
MAX_PAGES = 10
APPS_URL = "https://apps.apple.com"

__all__ = ["MAX_PAGES", "PAGE_SIZE", "SOURCE", "ParseError", "feed_url", "parse_feed_page"]


def feed_url(base_url: str, country: str, app_id: str, page: int) -> str:
    return (f"{base_url}/{country}/rss/customerreviews/page={page}/id={app_id}"
            "/sortby=mostrecent/json")


def review_url(country: str, app_id: str, review_id: str) -> str:
    """Apple has no page per review: the app's review list, the id in the fragment."""
    return f"{APPS_URL}/{country}/app/id{app_id}?see-all=reviews#review-{review_id}"


def _label(entry: dict[str, Any], *path: str) -> str | None:
    node: Any = entry
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    node = node.get("label") if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


def _plain(value: str | None) -> str:
    """Reviews are plain text: escape before normalising so ``<3`` survives."""
    return html_to_text(html.escape(value or "", quote=False), keep_newlines=True)


def _rating(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 1 <= int(value) <= 5 else None


def parse_feed_page(
    body: str | bytes,
    *,
    brand: str,
    target_id: str,
    country: str,
    app_id: str,
    page_url: str,
    errors: list[ParseError] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Parse one feed page into ``(items, reviews_on_page)``.

    ``reviews_on_page`` counts good and bad review entries (not the app entry); 0 means
    the feed has no more pages. A body that is not the feed JSON raises :class:`ParseError`
    with ``page_url``; a bad entry is appended to ``errors`` (when given) and skipped.
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"review feed is not JSON (truncated?): {exc}", page_url) from exc
    feed = payload.get("feed") if isinstance(payload, dict) else None
    if not isinstance(feed, dict):
        raise ParseError("review feed has no 'feed' object", page_url)
    entries = feed.get("entry", [])
    entries = [entries] if isinstance(entries, dict) else entries
    if not isinstance(entries, list):
        raise ParseError("review feed 'entry' is neither a list nor an object", page_url)
    reviews = [e for e in entries if not (isinstance(e, dict) and "im:name" in e)]
    items: list[dict[str, Any]] = []
    for entry in reviews:
        try:
            items.append(_item(entry, brand=brand, target_id=target_id, country=country,
                               app_id=app_id, page_url=page_url))
        except ParseError as exc:
            if errors is None:
                raise
            errors.append(exc)
    return items, len(reviews)


def _item(entry: Any, *, brand: str, target_id: str, country: str, app_id: str,
          page_url: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ParseError(f"feed entry is not an object: {str(entry)[:120]!r}", page_url)
    rid = _label(entry, "id")
    if not rid or not rid.isdigit():
        raise ParseError(f"feed entry without a numeric id: {str(entry)[:120]!r}", page_url)
    url = review_url(country, app_id, rid)
    try:
        published_at = iso_to_utc(_label(entry, "updated") or "")
    except ValueError as exc:
        raise ParseError(f"review {rid}: bad updated {_label(entry, 'updated')!r}", url) from exc
    text = _plain(_label(entry, "content"))
    if not text:
        raise ParseError(f"review {rid}: empty content", url)
    rating_raw = _label(entry, "im:rating")
    extra: dict[str, Any] = {"version": _label(entry, "im:version"), "country": country}
    for key in ("im:voteSum", "im:voteCount"):
        value = _label(entry, key)
        if value is not None and value.lstrip("-").isdigit():
            extra[key.removeprefix("im:")] = int(value)
    if _rating(rating_raw) is None:
        extra["rating_raw"] = rating_raw
    return {
        "source": SOURCE,
        "external_id": rid,
        "target_id": target_id,
        "brand": brand,
        "url": url,
        "title": _plain(_label(entry, "title")) or None,
        "text": text,
        "rating": _rating(rating_raw),
        "published_at": published_at,
        "author": _label(entry, "author", "name") or None,
        "extra": extra,
    }

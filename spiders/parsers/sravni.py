"""sravni.ru parsers: one page of the ``/proxy-reviews/reviews/`` JSON list.

Pure functions over bytes so they can be tested against saved pages without Scrapy.
Facts the code relies on (from a real saved page, see tests/fixtures/sravni_ru/README.md):

* ``createdToMoscow`` is Moscow wall-clock time *with a lying ``Z`` suffix*
  (``2022-12-26T13:59:48.551017Z`` while the true UTC ``date`` is ``10:59:48``). It is read
  as Moscow time and converted to UTC; ``date`` is only a fallback.
* ``pageIndex`` counts from 0; ``total`` is the number of reviews for the whole object.
* Text and title are plain text (not HTML): newlines in them are real line breaks.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from spiders.parsers.common import ParseError, collect_items, json_list_page, star_rating
from spiders.parsers.text import MOSCOW, html_to_text, iso_to_utc

SOURCE = "sravni_ru"
PAGE_SIZE = 20
#: The values the API accepts for ``reviewObjectType`` (the items answer in plural: "banks").
OBJECT_TYPES = ("bank", "mfo", "insuranceCompany")
#: Source-specific fields kept in ``extra``: what the analysts filter on (tag, resolution).
EXTRA_KEYS = ("rating", "reviewTag", "problemSolved", "hasCompanyResponse", "createdToMoscow",
              "locationData", "commentsCount", "reviewObjectType", "isClient")

__all__ = ["OBJECT_TYPES", "PAGE_SIZE", "SOURCE", "ParseError", "list_url", "parse_reviews_page",
           "review_url"]


def list_url(base_url: str, object_id: str, object_type: str, page: int,
             page_size: int = PAGE_SIZE) -> str:
    """The list URL *with* the trailing slash: without it the site answers 301 first."""
    return (f"{base_url}/proxy-reviews/reviews/?pageIndex={page}&pageSize={page_size}"
            f"&reviewObjectId={object_id}&reviewObjectType={object_type}&orderBy=byDate")


def review_url(base_url: str, object_type: str, object_key: str, review_id: str) -> str:
    """Link a person can open. ``object_key`` is the company's page alias when the target
    knows it (spider arg ``alias``), else the reviewObjectId; the path shape is unverified
    against the live site, the review id in it is what matters for the reader."""
    return f"{base_url}/{object_type.lower()}/{object_key}/otzyvy/{review_id}/"


def _plain(value: Any) -> str:
    """Normalise plain text exactly like HTML text elsewhere (same ``content_hash`` rules):
    escaping first keeps a literal ``<3`` or ``a<b`` from being eaten as a tag."""
    if not isinstance(value, str):
        return ""
    return html_to_text(html.escape(value, quote=False), keep_newlines=True)


def published_at(record: dict[str, Any]) -> datetime:
    """UTC publication time: ``createdToMoscow`` as Moscow time (its ``Z`` lies), else ``date``.

    Raises ``ValueError``/``KeyError``/``TypeError`` for a record with neither.
    """
    moscow = record.get("createdToMoscow")
    if isinstance(moscow, str) and moscow:
        local = datetime.fromisoformat(moscow.rstrip("Z").split("+")[0])
        return local.replace(tzinfo=MOSCOW).astimezone(UTC).replace(tzinfo=None)
    return iso_to_utc(str(record["date"]))


def parse_reviews_page(
    body: str | bytes,
    *,
    brand: str,
    target_id: str,
    base_url: str,
    page_url: str,
    object_type: str = "bank",
    object_key: str | None = None,
    errors: list[ParseError] | None = None,
) -> tuple[list[dict[str, Any]], int | None, int]:
    """Parse one list page into ``(items, total, records_on_page)``.

    A page that is not the expected JSON object (truncated, HTML) raises
    :class:`ParseError` carrying ``page_url``. One bad record raises too unless ``errors`` is
    given: then it is appended there and skipped, so one odd review does not cost the page.
    ``records_on_page`` counts good and bad records: paging must not stop at a bad one.
    """
    records, total = json_list_page(body, page_url, "review list", "items")
    items = collect_items(records, lambda r: _item(r, brand=brand, target_id=target_id,
                                                   base_url=base_url, object_type=object_type,
                                                   object_key=object_key), errors)
    return items, total, len(records)


def _item(record: Any, *, brand: str, target_id: str, base_url: str, object_type: str,
          object_key: str | None) -> dict[str, Any]:
    rid = record.get("id") if isinstance(record, dict) else None
    key = object_key or (record.get("reviewObjectId") if isinstance(record, dict) else None)
    url = review_url(base_url, object_type, str(key or "unknown"), str(rid))
    if isinstance(rid, bool) or not isinstance(rid, int | str) or not str(rid).isdigit():
        raise ParseError(f"review without a numeric id: {str(record)[:120]!r}", url)
    try:
        published = published_at(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"review {rid}: bad createdToMoscow/date "
                         f"{record.get('createdToMoscow')!r}", url) from exc
    text = _plain(record.get("text"))
    if not text:
        raise ParseError(f"review {rid}: empty text", url)
    extra = {k: record[k] for k in EXTRA_KEYS if k in record}
    author = None if record.get("isAuthorDeleted") else (record.get("authorName") or None)
    return {
        "source": SOURCE,
        "external_id": str(rid),
        "target_id": target_id,
        "brand": brand,
        "url": url,
        "title": _plain(record.get("title")) or None,
        "text": text,
        "rating": star_rating(record.get("rating")),
        "published_at": published,
        "author": author,
        "extra": extra,
    }

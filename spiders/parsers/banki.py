"""banki.ru parsers: the ajax review list, schema.org Review JSON-LD, anti-bot pages.

Pure functions over bytes/text so they can be tested against saved pages without Scrapy.
Every item is a plain dict with the batch-file fields the spider knows (see
docs/architecture.md); the pipeline adds ``collected_at``, hashes and the run id, and turns
``author`` into ``author_hash`` (raw names never reach the batch file).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from parsel import Selector

from spiders.parsers.common import (  # noqa: F401  (ParseError, detect_block re-exported)
    ParseError,
    collect_items,
    detect_block,
    json_list_page,
    star_rating,
)
from spiders.parsers.text import html_to_text, iso_to_utc, moscow_to_utc

SOURCE = "banki_ru"
PAGE_SIZE = 25

_REVIEW_ID_IN_URL = re.compile(r"/response/(\d+)/?")
_COMMON_EXTRA_KEYS = ("commentCount", "isCountable", "resolutionIsApproved", "agentAnswerText")


def parse_ajax_list(
    body: str | bytes,
    *,
    brand: str,
    target_id: str,
    base_url: str,
    errors: list[ParseError] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Parse one page of ``/services/responses/list/ajax/`` into items and the ``total``.

    A page that is not the expected JSON object raises :class:`ParseError`. A single bad
    record raises too, unless ``errors`` is given: then it is appended there and skipped,
    so one odd review does not cost the other 24.
    """
    list_url = f"{base_url}/services/responses/list/ajax/"
    records, total = json_list_page(body, list_url, "ajax list", "data")
    items = collect_items(records, lambda r: _ajax_item(r, brand=brand, target_id=target_id,
                                                        base_url=base_url), errors)
    return items, total


def _ajax_item(record: Any, *, brand: str, target_id: str, base_url: str) -> dict[str, Any]:
    rid = record.get("id") if isinstance(record, dict) else None
    url = f"{base_url}/services/responses/bank/response/{rid}/"
    if not isinstance(rid, int) and not (isinstance(rid, str) and rid.isdigit()):
        raise ParseError(f"ajax review without a numeric id: {str(record)[:120]!r}", url)
    try:
        published_at = moscow_to_utc(record["dateCreate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"review {rid}: bad dateCreate {record.get('dateCreate')!r}", url) from exc
    text = html_to_text(record.get("text") or "")
    if not text:
        raise ParseError(f"review {rid}: empty text", url)
    extra: dict[str, Any] = {k: record.get(k) for k in _COMMON_EXTRA_KEYS if k in record}
    company = record.get("company")
    if isinstance(company, dict):
        extra["company"] = {k: company.get(k) for k in ("id", "code", "name") if k in company}
    if star_rating(record.get("grade")) is None and record.get("grade") is not None:
        extra["grade_raw"] = record.get("grade")
    title = html_to_text(record.get("title") or "") or None
    return {
        "source": SOURCE,
        "external_id": str(rid),
        "target_id": target_id,
        "brand": brand,
        "url": url,
        "title": title,
        "text": text,
        "rating": star_rating(record.get("grade")),
        "published_at": published_at,
        "author": None,  # the ajax list carries no author
        "extra": extra,
    }


def _iter_reviews(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every schema.org Review found in a JSON-LD document, at any depth."""
    if isinstance(node, list):
        for child in node:
            yield from _iter_reviews(child)
    elif isinstance(node, dict):
        kind = node.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "Review" in kinds:
            yield node
            return
        for key in ("@graph", "review", "reviews", "itemListElement", "item", "mainEntity"):
            if key in node:
                yield from _iter_reviews(node[key])


def _author_name(author: Any) -> str | None:
    """2023 pages give ``{"@type": "Person", "name": ...}``, later ones a bare string."""
    if isinstance(author, dict):
        author = author.get("name")
    if isinstance(author, list) and author:
        return _author_name(author[0])
    return (author.strip() or None) if isinstance(author, str) else None


def parse_jsonld_reviews(
    html: str | bytes, *, brand: str, target_id: str, page_url: str
) -> list[dict[str, Any]]:
    """Extract schema.org Reviews from a banki.ru page, whichever JSON-LD shape it uses.

    Handles a list page (``Product`` with a ``review`` array) and a single review page
    (a top-level ``Review``). The review id comes from the review's ``url``/``@id`` or,
    for a one-review page, from ``page_url``; list reviews without either get a stable
    content-derived id (``ld-<sha256 prefix>``) so a re-crawl maps to the same row.
    A page with no JSON-LD Review at all raises :class:`ParseError`: "zero reviews" is
    never a silent result, the caller decides whether that page should have had some.
    """
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    documents: list[Any] = []
    for raw in Selector(text=text).css('script[type="application/ld+json"]::text').getall():
        try:
            documents.append(json.loads(raw, strict=False))
        except json.JSONDecodeError:
            continue  # a broken breadcrumb block must not hide the reviews block
    reviews = list(_iter_reviews(documents))
    if not reviews:
        raise ParseError("no schema.org Review in the page's JSON-LD", page_url)
    page_id = _REVIEW_ID_IN_URL.search(page_url)
    return [
        _jsonld_item(
            review,
            brand=brand,
            target_id=target_id,
            page_url=page_url,
            page_id=page_id.group(1) if page_id and len(reviews) == 1 else None,
        )
        for review in reviews
    ]


def _jsonld_item(
    review: dict[str, Any], *, brand: str, target_id: str, page_url: str, page_id: str | None
) -> dict[str, Any]:
    body = review.get("reviewBody") or review.get("description") or ""
    text = html_to_text(body, keep_newlines=True) if isinstance(body, str) else ""
    if not text:
        raise ParseError("JSON-LD Review without reviewBody/description", page_url)
    try:
        published_at = iso_to_utc(str(review["datePublished"]))
    except (KeyError, ValueError) as exc:
        raise ParseError(f"JSON-LD Review with bad datePublished: {exc}", page_url) from exc
    title = html_to_text(str(review.get("name") or ""), keep_newlines=False) or None
    own_url = str(review.get("url") or review.get("@id") or "")
    own_id = _REVIEW_ID_IN_URL.search(own_url)
    if own_id:
        external_id, url = own_id.group(1), own_url
    elif page_id:
        external_id, url = page_id, page_url
    else:
        digest = hashlib.sha256(f"{review['datePublished']}\n{title}\n{text}".encode()).hexdigest()
        external_id, url = f"ld-{digest[:20]}", page_url
    rating = review.get("reviewRating")
    return {
        "source": SOURCE,
        "external_id": external_id,
        "target_id": target_id,
        "brand": brand,
        "url": url,
        "title": title,
        "text": text,
        "rating": star_rating(rating.get("ratingValue")) if isinstance(rating, dict) else None,
        "published_at": published_at,
        "author": _author_name(review.get("author")),
        "extra": {"jsonld_shape": "reviewBody" if review.get("reviewBody") else "description"},
    }


def is_cookie_challenge(status: int, url: str, location: str) -> bool:
    """True for banki.ru's first-visit answer: a redirect to the very same URL.

    The answer sets a ``__hash_`` cookie; the caller must repeat the request with cookies
    kept and duplicate filtering off (and cap the repeats: a loop means the cookie is not
    being accepted). ``location`` must already be resolved against ``url``.
    """
    return status in (301, 302, 303, 307, 308) and location == url

"""schema.org ``Review`` / ``AggregateRating`` from any review page: JSON-LD and microdata.

The generic path for sites that mark up their reviews (otzovik, irecommend, shops).
Microdata comes through extruct (uniform output, whitespace already normalised); JSON-LD
blocks are read one by one so one broken block (a bad breadcrumb) is an error with the
URL, not the loss of the page. Sites often carry the same reviews in both syntaxes: those
collapse to one item by id (explicit ``url``/``@id``, else a content hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import jstyleson
from parsel import Selector

from spiders.parsers.common import ParseError
from spiders.parsers.text import html_to_text, iso_to_utc

SOURCE = "schemaorg"
_CONTAINERS = ("@graph", "review", "reviews", "itemListElement", "item", "mainEntity",
               "resultReview", "hasPart")


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.rsplit("/", 1)[-1] for k in kinds if isinstance(k, str)}


def _walk(node: Any, parent: dict[str, Any] | None = None
          ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every dict node with its nearest enclosing node (the reviewed thing, for Reviews)."""
    if isinstance(node, list):
        for child in node:
            yield from _walk(child, parent)
    elif isinstance(node, dict):
        yield node, parent
        for key, value in node.items():
            if isinstance(value, (dict, list)) and key != "@context":
                yield from _walk(value, node)


def extract_nodes(html: str, page_url: str, errors: list[ParseError] | None = None
                  ) -> list[tuple[str, Any]]:
    """``[(syntax, document)]`` for every JSON-LD block and microdata item of the page."""
    documents: list[tuple[str, Any]] = []
    for raw in Selector(text=html).css('script[type="application/ld+json"]::text').getall():
        try:
            documents.append(("json-ld", json.loads(raw, strict=False)))
        except json.JSONDecodeError:
            try:  # comments and trailing commas, as extruct tolerates them
                documents.append(("json-ld", jstyleson.loads(raw)))
            except ValueError as exc:
                problem = ParseError(f"broken JSON-LD block ({exc}): {raw.strip()[:80]!r}",
                                     page_url)
                if errors is None:
                    raise problem from exc
                errors.append(problem)
    import extruct  # 0.3 s to import: only crawls that parse microdata pay for it

    micro = extruct.extract(html, base_url=page_url, syntaxes=["microdata"], uniform=True)
    documents += [("microdata", item) for item in micro.get("microdata", [])]
    return documents


def find_reviews(documents: list[tuple[str, Any]]
                 ) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any] | None]],
                            list[dict[str, Any]]]:
    """Review nodes ``(syntax, review, reviewed thing)`` and AggregateRating nodes."""
    reviews, aggregates = [], []
    for syntax, document in documents:
        for node, parent in _walk(document):
            kinds = _types(node)
            if "Review" in kinds or "CriticReview" in kinds or "UserReview" in kinds:
                reviews.append((syntax, node, parent))
            elif "AggregateRating" in kinds:
                aggregates.append(node)
    return reviews, aggregates


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("ratingValue")
    try:
        return float(str(value).replace(",", "."))
    except (TypeError, ValueError):
        return None


def normalise_rating(rating: Any) -> int | None:
    """A schema.org Rating (or bare number) on a 1..5 scale; ``bestRating`` 10 or 100 rescaled."""
    value = _number(rating)
    if value is None:
        return None
    best = _number((rating or {}).get("bestRating")) if isinstance(rating, dict) else None
    worst = _number((rating or {}).get("worstRating")) if isinstance(rating, dict) else None
    best, worst = best or 5.0, worst if worst is not None else 1.0
    if best != 5.0 and best > worst:
        value = 1 + (value - worst) * 4 / (best - worst)
    score = int(round(value))
    return score if 1 <= score <= 5 else None


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name")
    return value.strip() or None if isinstance(value, str) else None


def parse_review_page(
    html: str | bytes,
    *,
    page_url: str,
    brand: str,
    target_id: str,
    errors: list[ParseError] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Items of one review page and the absolute ``rel=next`` URL (or None).

    A truncated page, or one with neither Review nor AggregateRating markup, raises
    :class:`ParseError`: "no reviews" must be a page that says so, not a changed layout.
    A review without text or date is an error in ``errors`` (raised if None) and skipped.
    """
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    if text.lstrip()[:200].lower().startswith(("<!doctype", "<html")) \
            and "</html>" not in text[-4096:].lower():
        raise ParseError("page is truncated (no closing </html>)", page_url)
    problems: list[ParseError] = []
    reviews, aggregates = find_reviews(extract_nodes(text, page_url, problems))
    if not reviews and not aggregates:
        raise ParseError("no schema.org Review or AggregateRating markup on the page: the "
                         "layout changed or this is not a review page", page_url)
    items: dict[str, dict[str, Any]] = {}
    for syntax, review, parent in reviews:
        try:
            item = _review_item(review, parent, syntax=syntax, page_url=page_url, brand=brand,
                                target_id=target_id)
        except ParseError as exc:
            problems.append(exc)
            continue
        items.setdefault(item["external_id"], item)
    if problems and errors is None:
        raise problems[0]
    if errors is not None:
        errors.extend(problems)
    selector = Selector(text=text)
    href = (selector.css('link[rel~="next"]::attr(href)').get()
            or selector.css('a[rel~="next"]::attr(href)').get())
    return list(items.values()), (urljoin(page_url, href) if href else None)


def _review_item(review: dict[str, Any], parent: dict[str, Any] | None, *, syntax: str,
                 page_url: str, brand: str, target_id: str) -> dict[str, Any]:
    body = review.get("reviewBody") or review.get("description") or ""
    text = html_to_text(body, keep_newlines=syntax == "json-ld") if isinstance(body, str) else ""
    if not text:
        raise ParseError(f"{syntax} Review without reviewBody/description", page_url)
    stamp = review.get("datePublished") or review.get("dateCreated")
    try:
        published_at = iso_to_utc(str(stamp))
    except ValueError as exc:
        raise ParseError(f"{syntax} Review with bad datePublished {stamp!r}", page_url) from exc
    title = html_to_text(str(review.get("name") or "")) or None
    own = review.get("url") or review.get("@id")
    if isinstance(own, str) and own.strip():
        external_id = url = own.strip()
    else:
        flat = " ".join(text.split())  # JSON-LD keeps line breaks, microdata does not
        digest = hashlib.sha256(f"{stamp}\n{title}\n{flat}".encode()).hexdigest()
        external_id, url = f"ld-{digest[:20]}", page_url
    extra: dict[str, Any] = {"syntax": syntax}
    reviewed = _name(review.get("itemReviewed")) or (_name(parent) if parent else None)
    if reviewed:
        extra["item_reviewed"] = reviewed
    aggregate = parent.get("aggregateRating") if isinstance(parent, dict) else None
    if isinstance(aggregate, dict):
        extra["aggregate"] = {k: aggregate.get(k) for k in ("ratingValue", "reviewCount",
                                                            "ratingCount") if k in aggregate}
    return {
        "source": SOURCE, "external_id": external_id, "target_id": target_id, "brand": brand,
        "url": url, "title": title, "text": text,
        "rating": normalise_rating(review.get("reviewRating")),
        "published_at": published_at, "author": _name(review.get("author")), "extra": extra,
    }

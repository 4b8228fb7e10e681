"""2GIS parsers: reviews embedded in a firm page's ``initialState``, and the reviews API.

A firm page (``/<city>/firm/<firm_id>``) is rendered server-side with
``var initialState = JSON.parse('…')``: JSON inside a single-quoted JS string literal, so it
is JS-unescaped first (``\\\\"``, ``\\\\n``, ``\\'``, ``\\uXXXX``…) and then parsed. Reviews sit
under ``data.review.<id>.data``; ``data.reviewSearch.<uuid>.data`` holds their order (by last
activity: an edited old review comes early), ``total`` and the next ``offset``. Later pages
come from the public reviews API (``/2.0/branches/<firm_id>/reviews``, ``{meta, reviews}``
with the same review objects; its shape and parameters are from memory, unverified live).

The company's official answer goes to ``extra["official_answer"]`` and never into ``text``:
the text stays what the customer wrote (the classifier must not read the company's reply).
Hence an answer that appears later changes ``extra`` but not ``content_hash``; the loader
must compare ``extra`` too for such a review to be updated.

A page without reviews is only "zero reviews" when the firm's own profile says so; an SSR
shell (no state, no profile, or a profile that counts reviews while none are embedded)
raises :class:`ShellPage`, which the spider reports as *blocked*.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spiders.parsers.common import ParseError
from spiders.parsers.text import html_to_text, iso_to_utc

SOURCE = "dgis"
API_PAGE = 50
_STATE = re.compile(r"var\s+initialState\s*=\s*JSON\.parse\(\s*'")
_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r\n|.)", re.DOTALL)
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0",
           "\n": "", "\r\n": "", "\u2028": "", "\u2029": ""}
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w-]+)", re.IGNORECASE)


class ShellPage(Exception):
    """The firm page came without its data: an anti-bot shell, never "zero reviews"."""


@dataclass
class ReviewPage:
    """One page of reviews: ``records`` counts good and bad ones, ``total`` is the site's."""

    items: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    total: int | None = None
    next_offset: int | None = None
    next_link: str | None = None
    skipped_empty: int = 0
    org_review_count: int | None = None


def decode_page(body: bytes, declared: str | None = None) -> str:
    """Decode HTML whose declared charset may lie: valid UTF-8 wins (a Cyrillic page in a
    single-byte charset is practically never valid UTF-8), then the header's charset, the
    ``<meta>`` one, and windows-1251 as the Russian web's usual legacy encoding."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(body[:4096])
    for charset in (declared, meta.group(1).decode("ascii") if meta else None, "windows-1251"):
        try:
            if charset:
                return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", "replace")


def js_unescape(literal: str) -> str:
    """The value of a single-quoted JS string literal's body (escapes resolved)."""
    def one(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc in _SIMPLE:
            return _SIMPLE[esc]
        if esc[0] in "ux" and len(esc) > 1:
            return chr(int(esc[1:].strip("{}"), 16))
        return esc  # \' \" \\ \/ and any unknown escape stand for the character itself

    text = _ESCAPE.sub(one, literal)
    # \uD83D\uDE00 pairs arrive as two surrogates; join them into one character.
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


def _literal_end(page: str, start: int) -> int:
    """Index of the quote closing a JS literal opened before ``start``, or -1 (cut off).

    A scan, not a regex: an alternation over escapes backtracks exponentially on a
    truncated page."""
    pos = start
    while (quote := page.find("'", pos)) >= 0:
        slashes = quote - 1
        while slashes >= start and page[slashes] == "\\":
            slashes -= 1
        if (quote - 1 - slashes) % 2 == 0:
            return quote
        pos = quote + 1
    return -1


def initial_state(page: str, page_url: str) -> dict[str, Any]:
    """The parsed ``initialState``; :class:`ShellPage` when absent, ParseError when cut."""
    match = _STATE.search(page)
    end = _literal_end(page, match.end()) if match else -1
    if match is None or end < 0:
        if "initialState" in page or "</html>" not in page[-2000:].lower():
            raise ParseError("firm page is cut off inside or before initialState "
                             "(truncated download?)", page_url)
        raise ShellPage("firm page has no initialState: an empty SSR shell instead of the "
                        "firm's data (anti-bot or an outage); retry later")
    try:
        state = json.loads(js_unescape(page[match.end():end]))
    except (json.JSONDecodeError, ValueError) as exc:
        raise ParseError(f"initialState is not valid JSON: {exc}", page_url) from exc
    if not isinstance(state, dict):
        raise ParseError("initialState is not an object", page_url)
    return state


def _plain(value: Any) -> str:
    """Review text is plain; escape first so ``<`` survives the shared normaliser."""
    return html_to_text(html.escape(value, quote=False), keep_newlines=True) if isinstance(
        value, str) else ""


def review_url(site_url: str, city: str, firm_id: str, review_id: str) -> str:
    """2GIS has no page per review: the firm's review tab, the id in the fragment."""
    return f"{site_url}/{city}/firm/{firm_id}/tab/reviews#review-{review_id}"


def review_item(data: Any, *, brand: str, target_id: str, site_url: str, city: str,
                firm_id: str) -> dict[str, Any] | None:
    """One review object (SSR ``data`` or API entry) → item; ``None`` for stars-only ones."""
    rid = data.get("id") if isinstance(data, dict) else None
    if not isinstance(rid, str | int) or not str(rid).isdigit():
        raise ParseError(f"review without a numeric id: {str(data)[:120]!r}",
                         f"{site_url}/{city}/firm/{firm_id}")
    url = review_url(site_url, city, firm_id, str(rid))
    try:
        published_at = iso_to_utc(str(data["date_created"]))
    except (KeyError, ValueError) as exc:
        raise ParseError(f"review {rid}: bad date_created {data.get('date_created')!r}",
                         url) from exc
    text = _plain(data.get("text"))
    if not text:
        return None
    rating = data.get("rating")
    answer = data.get("official_answer")
    answer_text = _plain(answer.get("text")) if isinstance(answer, dict) else ""
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    return {
        "source": SOURCE,
        "external_id": str(rid),
        "target_id": target_id,
        "brand": brand,
        "url": url,
        "title": None,
        "text": text,
        "rating": rating if isinstance(rating, int) and 1 <= rating <= 5 else None,
        "published_at": published_at,
        # The stable public id links one author's reviews; the display name is the fallback.
        "author": user.get("public_id") or user.get("id") or user.get("name") or None,
        "extra": {
            "official_answer": {"text": answer_text, "date_created": answer.get("date_created"),
                                "org_name": answer.get("org_name")} if answer_text else None,
            "date_edited": data.get("date_edited"),
            "likes_count": data.get("likes_count"),
            "comments_count": data.get("comments_count"),
            "photos": len(data.get("media") or []),
            "provider": data.get("provider"),
        },
    }


def last_activity(item: dict[str, Any]) -> datetime:
    """When the review last changed (created or edited): what the site sorts by."""
    edited = (item.get("extra") or {}).get("date_edited")
    try:
        return max(item["published_at"], iso_to_utc(edited)) if edited else item["published_at"]
    except ValueError:
        return item["published_at"]


def _collect(records: list[Any], page: ReviewPage, errors: list[ParseError] | None,
             **where: str) -> None:
    for data in records:
        page.records += 1
        try:
            item = review_item(data, **where)
        except ParseError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        if item is None:
            page.skipped_empty += 1
        else:
            page.items.append(item)


def parse_firm_page(page: str, *, brand: str, target_id: str, site_url: str, city: str,
                    firm_id: str, page_url: str,
                    errors: list[ParseError] | None = None) -> ReviewPage:
    """Reviews embedded in a decoded firm page, in the site's order (see module doc)."""
    data = initial_state(page, page_url).get("data") or {}
    profile = (((data.get("entity") or {}).get("profile") or {}).get(firm_id) or {}).get("data")
    embedded = data.get("review") or {}
    if not isinstance(profile, dict):
        raise ShellPage(f"initialState has no profile of firm {firm_id}: an empty SSR shell "
                        "(or a wrong firm id); check the page in a browser")
    counts = profile.get("reviews") or {}
    listed = counts.get("general_review_count")
    mine = {rid: node["data"] for rid, node in embedded.items()
            if isinstance(node, dict) and isinstance(node.get("data"), dict)
            and str((node["data"].get("object") or {}).get("id", firm_id)) == firm_id}
    if not mine and listed:
        raise ShellPage(f"firm page embeds no reviews although the profile lists {listed}: "
                        "an SSR shell served to a suspected bot")
    search = next((node.get("data") for node in (data.get("reviewSearch") or {}).values()
                   if isinstance(node, dict) and isinstance(node.get("data"), dict)
                   and set(node["data"].get("items") or []) <= set(mine)), None) or {}
    order = [rid for rid in search.get("items") or [] if rid in mine]
    order += sorted(set(mine) - set(order), key=lambda r: str(mine[r].get("date_created")),
                    reverse=True)
    result = ReviewPage(total=search.get("total", listed),
                        org_review_count=counts.get("org_review_count"))
    _collect([mine[rid] for rid in order], result, errors, brand=brand, target_id=target_id,
             site_url=site_url, city=city, firm_id=firm_id)
    result.next_offset = search.get("offset", result.records)
    return result


def parse_api_page(body: bytes, *, brand: str, target_id: str, site_url: str, city: str,
                   firm_id: str, page_url: str,
                   errors: list[ParseError] | None = None) -> ReviewPage:
    """One page of the reviews API: ``{"meta": {total_count, next_link}, "reviews": [...]}``."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"reviews API page is not JSON (truncated?): {exc}", page_url) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("reviews"), list):
        raise ParseError("reviews API page has no 'reviews' array", page_url)
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    result = ReviewPage(total=meta.get("total_count"), next_link=meta.get("next_link") or None)
    _collect(payload["reviews"], result, errors, brand=brand, target_id=target_id,
             site_url=site_url, city=city, firm_id=firm_id)
    return result

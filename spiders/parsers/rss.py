"""RSS / Atom feeds → brand mentions, with legacy Russian encodings decoded right.

Russian feeds still come in KOI8-R and windows-1251, and their HTTP header or XML
declaration often names the wrong charset. feedparser believes the declaration (and
without chardet guesses windows-1252), which turns Cyrillic into mojibake that no brand
alias matches. So :func:`decode_feed` decides the encoding first (BOM, then strict UTF-8,
then charset-normalizer, declared charsets only breaking ties) and feedparser gets clean
UTF-8. Entries are kept only when they mention the brand (``spiders.parsers.brandmatch``).
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import feedparser
from charset_normalizer import from_bytes

from spiders.parsers.common import ParseError
from spiders.parsers.brandmatch import matched_alias
from spiders.parsers.text import html_to_text

SOURCE = "rss"

_XML_DECL = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._:-]+)([\"'])")
_CLOSED = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|RDF)>\s*(?:<!--.*?-->\s*)*$", re.S)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _codec(name: str | None) -> str | None:
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


def declared_encodings(body: bytes, header_charset: str | None = None) -> list[str]:
    """Charsets the HTTP header and the XML declaration claim (normalised, known ones)."""
    match = _XML_DECL.match(body)
    names = [header_charset, match.group(2).decode("ascii") if match else None]
    return list(dict.fromkeys(c for c in map(_codec, names) if c))


def decode_feed(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Return ``(text, encoding actually used)``; see the module docstring for the order.

    Valid UTF-8 with non-ASCII bytes is practically never another encoding, so it wins over
    any declaration; for single-byte Cyrillic the statistics decide and a declared charset
    only breaks ties (cp1251 vs mac_cyrillic look alike). Raises ParseError if nothing fits.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = declared_encodings(body, header_charset)
    matches = from_bytes(body)
    best = matches.best()
    if best is None:
        raise ParseError(f"cannot tell the feed's encoding (declared: {declared or 'none'})",
                         "?")
    chosen = best.encoding
    for match in matches:
        if _codec(match.encoding) in declared and match.chaos <= best.chaos:
            chosen = match.encoding
            break
    return body.decode(chosen), _codec(chosen) or chosen


def _as_utf8_document(text: str) -> bytes:
    """The decoded feed re-encoded as UTF-8, its XML declaration telling the truth."""
    raw = text.lstrip("\ufeff").encode("utf-8")
    return _XML_DECL.sub(rb"\1utf-8\3", raw, count=1)


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC).replace(tzinfo=None)
    return None


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    brand: str,
    target_id: str,
    aliases: list[str],
    header_charset: str | None = None,
    fallback_published: datetime | None = None,
    errors: list[ParseError] | None = None,
) -> tuple[list[dict[str, Any]], str | None, int]:
    """Parse a feed into brand-mentioning items, the ``rel=next`` page URL, and entry count.

    A body that is no feed at all raises :class:`ParseError`. A truncated feed (no closing
    root element) and a malformed one are recorded as errors (raised if ``errors`` is None):
    the entries read before the damage are kept, except the last one of a truncated feed,
    which may be cut mid-text. Entries without a date take ``fallback_published`` (the
    response's ``Date``), flagged ``date_guessed``, or are errors when there is none.
    """
    problems: list[ParseError] = []
    try:
        text, encoding = decode_feed(body, header_charset)
    except ParseError as exc:
        raise ParseError(exc.reason, feed_url) from exc
    parsed = feedparser.parse(_as_utf8_document(text),
                              response_headers={"content-type": "application/xml; charset=utf-8"})
    entries = list(parsed.entries)
    if not parsed.version and not entries:
        raise ParseError(f"not an RSS/Atom feed ({parsed.get('bozo_exception') or 'no entries'})",
                         feed_url)
    if not _CLOSED.search(text[-2000:]):
        problems.append(ParseError("feed is truncated (no closing root element); the last "
                                   "entry was dropped", feed_url))
        entries = entries[:-1]
    elif parsed.bozo and not isinstance(parsed.bozo_exception,
                                        feedparser.CharacterEncodingOverride):
        problems.append(ParseError(f"feed is not well-formed XML: {parsed.bozo_exception}",
                                   feed_url))
    items: list[dict[str, Any]] = []
    declared = declared_encodings(body, header_charset)
    for entry in entries:
        try:
            item = _entry_item(entry, feed_url=feed_url, brand=brand, target_id=target_id,
                               aliases=aliases, fallback=fallback_published)
        except ParseError as exc:
            problems.append(exc)
            continue
        if item is not None:
            item["extra"]["encoding"] = encoding
            if declared and encoding not in declared:
                item["extra"]["declared_encoding"] = declared[0]
            items.append(item)
    if problems and errors is None:
        raise problems[0]
    if errors is not None:
        errors.extend(problems)
    next_url = next((link.get("href") for link in parsed.feed.get("links", [])
                     if link.get("rel") == "next" and link.get("href")), None)
    return items, next_url, len(entries)


def _entry_item(entry: Any, *, feed_url: str, brand: str, target_id: str, aliases: list[str],
                fallback: datetime | None) -> dict[str, Any] | None:
    title = html_to_text(entry.get("title") or "") or None
    content = entry.get("content") or []
    body = (content[0].get("value") if content else None) or entry.get("summary") or ""
    text = html_to_text(body) or (title or "")
    link = entry.get("link") or ""
    if not text:
        raise ParseError(f"entry without title or text: {link or entry.get('id')!r}", feed_url)
    alias = matched_alias(f"{title or ''}\n{text}", aliases)
    if alias is None:
        return None
    published_at = _entry_time(entry)
    extra: dict[str, Any] = {"matched_alias": alias}
    if published_at is None:
        if fallback is None:
            raise ParseError(f"entry without a date: {link or title!r}", link or feed_url)
        published_at, extra["date_guessed"] = fallback, True
    key = entry.get("id") or link
    if not key:
        key = "sha-" + hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:24]
    tags = [t.get("term") for t in entry.get("tags") or [] if t.get("term")]
    if tags:
        extra["tags"] = tags
    return {
        "source": SOURCE, "external_id": key, "target_id": target_id, "brand": brand,
        "url": link or feed_url, "title": title, "text": text, "rating": None,
        "published_at": published_at, "author": entry.get("author") or None, "extra": extra,
    }

"""Telegram public channel preview (``t.me/s/<channel>``) parser.

The preview is server-rendered HTML, oldest post first, ~20 posts a page; older posts are
at ``?before=<id>`` (``<link rel="prev">``). Each post is a ``.tgme_widget_message_wrap``
whose inner ``.tgme_widget_message`` carries ``data-post="channel/id"``. Real pages nest a
second ``.tgme_widget_message_text`` inside the first and put quoted text of replied-to
posts in ``.tgme_widget_message_reply``: only the outermost own text is the post's text.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from spiders.parsers.common import ParseError, collect_items
from spiders.parsers.text import html_to_text, iso_to_utc

SOURCE = "telegram"
PUBLIC_URL = "https://t.me"

_CLASS = "contains(concat(' ', normalize-space(@class), ' '), ' {} ')"
_OWN_TEXT = (
    f".//div[{_CLASS.format('tgme_widget_message_text')}"
    f" and not(ancestor::*[{_CLASS.format('tgme_widget_message_text')}])"
    f" and not(ancestor::*[{_CLASS.format('tgme_widget_message_reply')}])]"
)
_VIEWS = re.compile(r"^\s*([\d.,]+)\s*([KMkm]?)\s*$")


def parse_views(raw: str | None) -> int | None:
    """``"37.2K"`` → 37200, ``"1.1M"`` → 1100000, ``"815"`` → 815; else ``None``."""
    match = _VIEWS.match(raw or "")
    if not match:
        return None
    number = float(match.group(1).replace(",", "."))
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(round(number * scale))


def _before_id(html: Selector) -> int | None:
    """Id for the next older page, from ``link[rel=prev]`` or the "load more" anchor."""
    href = html.css('link[rel="prev"]::attr(href)').get()
    if href:
        value = parse_qs(urlsplit(href).query).get("before", [""])[0]
        if value.isdigit():
            return int(value)
    more = html.css(".tme_messages_more::attr(data-before)").get()
    return int(more) if more and more.isdigit() else None


def _post_text(wrap: Selector) -> str:
    own = wrap.xpath(_OWN_TEXT)
    text = html_to_text(own[0].get()) if own else ""
    if text:
        return text
    question = wrap.css(".tgme_widget_message_poll_question").xpath("string()").get()
    if question and question.strip():  # a poll is an opinion question: keep it as text
        options = wrap.css(".tgme_widget_message_poll_option_text").xpath("string()").getall()
        return "\n".join(s.strip() for s in [question, *options] if s.strip())
    return ""


def parse_channel_page(
    html: str | bytes,
    *,
    brand: str,
    target_id: str,
    page_url: str,
    errors: list[ParseError] | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Parse one preview page into items (page order, oldest first) and the ``before`` id.

    A page that is neither a channel history nor a message raises :class:`ParseError`
    (Telegram redirects channels without a public preview to a bare profile page; a
    truncated download loses its newest posts). A post without id or date is an error
    appended to ``errors`` (or raised when ``errors`` is None); a post with only media and
    no text is skipped: there is nothing to classify.
    """
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype", "<html")) and "</html>" not in text[-4096:].lower():
        raise ParseError("channel page is truncated (no closing </html>)", page_url)
    page = Selector(text=text)
    wraps = page.css(".tgme_widget_message_wrap")
    if not wraps and not page.css(".tgme_channel_history"):
        raise ParseError(
            "not a channel preview page (no message history): the channel does not exist "
            "or has its public web preview turned off",
            page_url,
        )
    items = collect_items(wraps, lambda w: _post_item(w, brand=brand, target_id=target_id,
                                                      page_url=page_url), errors)
    return items, _before_id(page)


def _post_item(
    wrap: Selector, *, brand: str, target_id: str, page_url: str
) -> dict[str, Any] | None:
    post = wrap.css(".tgme_widget_message").attrib.get("data-post", "")
    channel, _, number = post.partition("/")
    if not channel or not number.isdigit():
        raise ParseError(f"post without data-post=channel/id: {post!r}", page_url)
    url = f"{PUBLIC_URL}/{post}"
    stamp = (wrap.css(".tgme_widget_message_date time::attr(datetime)").get()
             or wrap.css("time[datetime]::attr(datetime)").get())
    try:
        published_at = iso_to_utc(stamp or "")
    except ValueError as exc:
        raise ParseError(f"post {post}: bad or missing time[datetime] {stamp!r}", url) from exc
    body = _post_text(wrap)
    if not body:
        return None
    extra: dict[str, Any] = {"channel": channel, "post_id": int(number)}
    views = parse_views(wrap.css(".tgme_widget_message_views::text").get())
    if views is not None:
        extra["views"] = views
    forwarded = wrap.css(".tgme_widget_message_forwarded_from_name").xpath("string()").get()
    if forwarded and forwarded.strip():
        extra["forwarded_from"] = forwarded.strip()
    preview = wrap.css("a.tgme_widget_message_link_preview::attr(href)").get()
    if preview:
        extra["link_preview"] = preview
    if wrap.css(".tgme_widget_message_poll"):
        extra["poll"] = True
    signature = wrap.css(".tgme_widget_message_from_author").xpath("string()").get()
    return {
        "source": SOURCE,
        "external_id": post,
        "target_id": target_id,
        "brand": brand,
        "url": url,
        "title": None,
        "text": body,
        "rating": None,
        "published_at": published_at,
        "author": (signature or "").strip() or None,
        "extra": extra,
    }

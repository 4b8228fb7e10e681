"""Shared text and time helpers for source parsers.

Kept separate from the per-source modules so every parser normalises text and time the
same way: the loader deduplicates on ``content_hash`` and the classifier sees the text,
so two parsers must not disagree about whitespace or time zones.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")

#: Tags after which a new line starts (paragraph-level structure is kept as ``\n``).
_BREAK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote section article".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")


class _TextExtractor(HTMLParser):
    def __init__(self, *, keep_newlines: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.keep_newlines = keep_newlines
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BREAK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BREAK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self.keep_newlines:
            data = data.replace("\r", " ").replace("\n", " ")
        self.parts.append(data)


def html_to_text(fragment: str, *, keep_newlines: bool = False) -> str:
    """Turn an HTML fragment into plain text: one line per paragraph, entities decoded.

    ``keep_newlines`` says whether raw ``\\n`` in the source are real line breaks (true for
    schema.org ``reviewBody``, which is plain text with stray entities) or just source
    formatting (the ajax ``text`` field, where only ``<p>``/``<br>`` separate paragraphs).
    Runs of spaces (incl. NBSP) collapse to one; empty lines are dropped.
    """
    parser = _TextExtractor(keep_newlines=keep_newlines)
    parser.feed(fragment)
    parser.close()
    lines = ("".join(parser.parts)).split("\n")
    cleaned = (_SPACES.sub(" ", line).strip() for line in lines)
    return "\n".join(line for line in cleaned if line)


def moscow_to_utc(value: str) -> datetime:
    """Parse a Moscow wall-clock time ``YYYY-MM-DD HH:MM:SS`` into a naive UTC datetime.

    Uses the tz database, so the result is UTC+3 for anything after October 2014 and
    historically correct before (UTC+4 in 2011–2014, DST earlier).
    """
    local = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    return local.replace(tzinfo=MOSCOW).astimezone(UTC).replace(tzinfo=None)


def iso_to_utc(value: str) -> datetime:
    """Parse a schema.org ``datePublished`` into a naive UTC datetime.

    With an offset the instant is converted exactly; a bare date-time is taken as Moscow
    time (banki.ru's clock); a bare date (the 2023 shape) has day precision only and is
    kept as midnight of that date rather than shifted into the previous UTC day.
    """
    text = value.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=MOSCOW)
    return parsed.astimezone(UTC).replace(tzinfo=None)

"""Does a text mention a brand? Lemma matching of the brand's aliases.

Russian inflects brand names («Сбера», «Сбербанку», «в Тинькоффе»), and substrings lie
(«сбережения» is not «Сбер»), so both sides are reduced to lemmas with ``nlp.lemmas`` and
an alias matches where its lemma sequence appears as consecutive text lemmas. Spelling
variants of compounds («СберБанк», «Сбер Банк», «Сбер-банк») match each other because
hyphenated tokens are also split and neighbouring lemmas are also compared glued together.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from nlp.lemmas import lemma, tokens

#: Longest run of text tokens glued together to meet a one-word alias («Сбер Банк»).
_MAX_GLUE = 3


def _units(text: str) -> list[str]:
    """Lemmas of the text's tokens, hyphenated tokens split into their parts."""
    units: list[str] = []
    for token in tokens(text):
        parts = [p for p in token.split("-") if p]
        units += [lemma(p) for p in parts] if len(parts) > 1 else [lemma(token)]
    return units


@lru_cache(maxsize=4096)
def _alias_forms(alias: str) -> tuple[tuple[str, ...], str]:
    """(lemma sequence, glued form) of one alias, e.g. ("сбербанк",), "сбербанк"."""
    units = tuple(_units(alias))
    return units, "".join(units)


def matched_alias(text: str, aliases: Iterable[str]) -> str | None:
    """The first alias that ``text`` mentions, or ``None``. Case and inflection do not matter."""
    units = _units(text)
    if not units:
        return None
    glued: set[str] = set()
    for size in range(1, _MAX_GLUE + 1):
        glued.update("".join(units[i:i + size]) for i in range(len(units) - size + 1))
    for alias in aliases:
        seq, form = _alias_forms(alias)
        if not seq:
            continue
        n = len(seq)
        if form in glued or any(tuple(units[i:i + n]) == seq
                                for i in range(len(units) - n + 1)):
            return alias
    return None


def mentions_brand(text: str, aliases: Iterable[str]) -> bool:
    """True when ``text`` mentions any of ``aliases`` (see :func:`matched_alias`)."""
    return matched_alias(text, aliases) is not None

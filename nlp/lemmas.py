"""Russian lemmas: razdel tokens + pymorphy3 normal forms.

Why lemmas: Russian inflects heavily («нахамила», «нахамили», «хамят»), so root-cause
rules match dictionary forms, not surface strings or substrings (a substring rule for
«сбер» would fire on «сбережения»). ``ё`` is folded to ``е`` because reviewers use both.
"""
from __future__ import annotations

from functools import lru_cache

from razdel import tokenize

_WORDISH = str.maketrans("", "", "-")


@lru_cache(maxsize=1)
def _morph():  # -> pymorphy3.MorphAnalyzer
    """Build the analyzer once per process (it loads ~15 MB of dictionaries)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """Most probable normal form of one lower-cased word, with ё folded to е."""
    w = word.lower().replace("ё", "е")
    if not any(ch.isalpha() for ch in w):
        return w
    return _morph().parse(w)[0].normal_form.replace("ё", "е")


def tokens(text: str) -> list[str]:
    """Word-like tokens (letters or digits), lower-cased; punctuation dropped."""
    return [t.text.lower() for t in tokenize(text or "") if t.text.translate(_WORDISH).isalnum()]


def lemmatize(text: str) -> list[str]:
    """Lemmas of the word tokens of ``text``, in order (a fresh list the caller may change).

    Labelling a text reads its lemmas three times (cause rules, journey-stage cues, the
    lemma bag): the last few thousand texts are cached, which took ~7% off the Labeller's
    time on 800 reviews, where razdel's tokenizer was the cost."""
    return list(_lemmatize(text or ""))


@lru_cache(maxsize=4096)
def _lemmatize(text: str) -> tuple[str, ...]:
    return tuple(lemma(t) for t in tokens(text))


def clear_cache() -> None:
    """Forget the cached lemmas of recent texts (benchmarks time cold labelling with it)."""
    _lemmatize.cache_clear()

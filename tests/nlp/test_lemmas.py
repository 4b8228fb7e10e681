"""Lemmas via razdel + pymorphy3."""
from __future__ import annotations

import pytest

from nlp.lemmas import lemma, lemmatize


@pytest.mark.parametrize("text,expected", [
    ("Сотрудница нахамила", ["сотрудница", "нахамить"]),
    ("Простоял в очереди два часа!", ["простоять", "в", "очередь", "два", "час"]),
    ("Списали комиссию", ["списать", "комиссия"]),
    ("Ещё раз спасибо", ["еще", "раз", "спасибо"]),
    ("онлайн-банк глючит", ["онлайн-банк", "глючить"]),
    ("115-ФЗ", ["115-фз"]),
    ("", []),
    ("!!! ...", []),
])
def test_lemmatize(text: str, expected: list[str]) -> None:
    assert lemmatize(text) == expected


def test_yo_is_folded() -> None:
    assert lemma("Ёлки") == lemma("елки")


def test_cached_lemmas_are_a_fresh_list_and_clear_cache_forgets_them() -> None:
    from nlp.lemmas import _lemmatize, clear_cache

    text = "Сотрудница нахамила в очереди"
    first = lemmatize(text)
    first.append("чужое")                       # the caller's list, not the cache's
    assert lemmatize(text) == ["сотрудница", "нахамить", "в", "очередь"]
    assert _lemmatize.cache_info().currsize > 0
    clear_cache()
    assert _lemmatize.cache_info().currsize == 0
    assert lemmatize(text) == ["сотрудница", "нахамить", "в", "очередь"]

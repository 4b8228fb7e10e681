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

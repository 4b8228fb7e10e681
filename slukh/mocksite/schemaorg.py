"""Mock review site marked up with schema.org, shaped like otzovik's review list pages.

``/reviews/<slug>/`` and ``/reviews/<slug>/<n>/``: 3 pages, newest reviews first, linked
by ``<link rel="next">``. Page 1 carries the reviews as JSON-LD (a ``Product`` with
``aggregateRating`` and ``review[]``), page 2 as microdata, page 3 in both syntaxes (the
same reviews twice, as many shops do), so a parser must read both and collapse repeats.
``/reviews/robot/`` is otzovik's «Вы робот?» captcha page.
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from slukh.mocksite import Handler, Reply, Request

PAGES, PER_PAGE = 3, 8
_START = datetime(2025, 2, 1, 10, 0)  # Moscow wall clock, rendered +03:00; horizon_days=0

_TITLES = ("Ужасное обслуживание", "Всё понравилось", "Приложение тормозит",
           "Быстро оформили карту", "Навязали страховку", "Хороший банк, но есть нюансы")
_BODIES = (
    "В отделении пришлось ждать больше часа, работало одно окно.",
    "Менеджер вежливо всё объяснил, карту выдали через десять минут.",
    "После обновления приложение постоянно вылетает при переводе.",
    "При оформлении кредита без спроса включили страховку в договор.",
    "Кешбэк начисляют исправно, поддержка отвечает быстро.",
    "Списали комиссию за обслуживание, хотя обещали бесплатно.",
)
CAPTCHA_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Вы робот?</title>
</head><body><h1>Вы робот?</h1><p>Подтвердите, что запросы отправляли вы, а не робот.</p>
<form action="/captcha/"><img src="/captcha/img.png"><input name="code"></form></body></html>"""


@dataclass(frozen=True)
class Review:
    id: int
    title: str
    text: str
    rating: int
    published: datetime  # Moscow wall clock; rendered with +03:00
    author: str

    @property
    def iso(self) -> str:
        return self.published.strftime("%Y-%m-%dT%H:%M:%S+03:00")


def site_reviews(slug: str) -> list[Review]:
    """All reviews of a mock product, newest first."""
    rng = random.Random(f"schemaorg:{slug}")
    out, when = [], _START
    for n in range(PAGES * PER_PAGE):
        when += timedelta(hours=rng.randint(2, 60))
        out.append(Review(9_000_000 + n * 7, rng.choice(_TITLES),
                          " ".join(rng.sample(_BODIES, rng.randint(1, 3))),
                          rng.randint(1, 5), when, f"user{rng.randint(100, 999)}"))
    return out[::-1]


def review_url(base: str, slug: str, review: Review) -> str:
    return f"{base}/review_{review.id}.html"


def _jsonld(slug: str, reviews: list[Review], base: str) -> str:
    doc = {"@context": "https://schema.org", "@type": "Product", "name": f"Банк {slug}",
           "aggregateRating": {"@type": "AggregateRating", "ratingValue": "3.4",
                               "reviewCount": str(PAGES * PER_PAGE)},
           "review": [{"@type": "Review", "url": review_url(base, slug, r), "name": r.title,
                       "reviewBody": r.text, "datePublished": r.iso,
                       "author": {"@type": "Person", "name": r.author},
                       "reviewRating": {"@type": "Rating", "ratingValue": str(r.rating),
                                        "bestRating": "5", "worstRating": "1"}}
                      for r in reviews]}
    return f'<script type="application/ld+json">{json.dumps(doc, ensure_ascii=False)}</script>'


def _microdata(slug: str, reviews: list[Review], base: str) -> str:
    blocks = "".join(f"""
  <div class="item" itemprop="review" itemscope itemtype="https://schema.org/Review">
    <link itemprop="url" href="{review_url(base, slug, r)}">
    <h2 class="review-title" itemprop="name">{html.escape(r.title)}</h2>
    <span itemprop="author" itemscope itemtype="https://schema.org/Person"><span
      itemprop="name">{r.author}</span></span>
    <meta itemprop="datePublished" content="{r.iso}">{r.published:%d.%m.%Y}
    <div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">
      <meta itemprop="worstRating" content="1"><meta itemprop="bestRating" content="5">
      Оценка: <span itemprop="ratingValue">{r.rating}</span></div>
    <div class="review-teaser" itemprop="description">{html.escape(r.text)}</div>
  </div>""" for r in reviews)
    return f"""<div itemscope itemtype="https://schema.org/Product">
  <h1 itemprop="name">Банк {slug}</h1>
  <div itemprop="aggregateRating" itemscope itemtype="https://schema.org/AggregateRating">
    Рейтинг <span itemprop="ratingValue">3.4</span>, отзывов:
    <span itemprop="reviewCount">{PAGES * PER_PAGE}</span></div>{blocks}
</div>"""


def render_page(slug: str, page: int, base: str = "") -> str:
    reviews = site_reviews(slug)[(page - 1) * PER_PAGE:page * PER_PAGE]
    jsonld = _jsonld(slug, reviews, base) if page in (1, 3) else ""
    micro = _microdata(slug, reviews, base) if page in (2, 3) else ""
    nxt = f'<link rel="next" href="/reviews/{slug}/{page + 1}/">' if page < PAGES else ""
    pager = f'<a rel="next" href="/reviews/{slug}/{page + 1}/">Далее</a>' if nxt else ""
    return f"""<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8">
<title>Банк {slug} — отзывы покупателей, страница {page}</title>
{nxt}{jsonld}</head>
<body><div class="content">{micro}</div>
<div class="pager">{pager}</div>
</body></html>
"""


def _page(req: Request) -> Reply:
    parts = [p for p in req.path.split("/") if p]  # reviews, slug[, n]
    slug = parts[1]
    if slug == "robot":
        return Reply(200, CAPTCHA_PAGE)
    page = int(parts[2]) if len(parts) > 2 else 1
    if not 1 <= page <= PAGES:
        return Reply(404, "<h1>404</h1>")
    host = req.headers.get("host", "127.0.0.1")
    return Reply(body=render_page(slug, page, f"http://{host}/reviews/{slug}"))


def routes() -> list[tuple[str, Handler]]:
    return [(r"/reviews/[a-z0-9_-]+/(?:\d+/)?", _page)]

"""Mock news feeds: a paged Atom feed and RSS 2.0 feeds in legacy and lying encodings.

``/rss/atom/page-<n>.xml``  Atom, 2 pages linked by RFC 5005 ``rel="next"``, UTF-8.
``/rss/koi8.xml``           RSS 2.0 in KOI8-R, header and declaration both say so.
``/rss/cp1251-lying.xml``   RSS 2.0 in windows-1251; the XML declaration says utf-8 and the
                            HTTP header says koi8-r: both lie.
``/rss/utf8-lying.xml``     RSS 2.0 in UTF-8 declared as windows-1251.
Entries are generated, deterministic, and ``mentions`` says which name the brand
«Сбербанк»/«Сбер» in some inflected form (the rest say «сбережения» or name other banks).
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from slukh.mocksite import Handler, Reply, Request

PAGE_SIZE = 12
ALIASES = ("Сбербанк", "Сбер")
_START = datetime(2025, 4, 1, 6, 0)  # UTC; tests use horizon_days=0

_BRAND = (
    ("Сбербанк снизил ставки по ипотеке", "Крупнейший банк страны объявил о снижении ставок."),
    ("Клиенты Сбера пожаловались на сбой", "Приложение не открывалось около двух часов."),
    ("Очереди в отделениях", "В отделениях Сбербанка в Казани выросли очереди."),
    ("Штраф для банка", "ЦБ оштрафовал СберБанк за нарушение правил рекламы вкладов."),
    ("Кешбэк вернули",
     "Пользователи сообщают, что Сбербанку удалось исправить начисление бонусов."),
)
_OTHER = (
    ("Как сохранить сбережения", "Эксперты советуют держать сбережения в разных валютах."),
    ("Т-Банк запустил новую карту", "Карта с бесплатным обслуживанием для студентов."),
    ("Погода на выходные", "В Москве ожидается до плюс двадцати и небольшой дождь."),
    ("Сберегательные облигации", "Минфин разместил новый выпуск облигаций для населения."),
)


@dataclass(frozen=True)
class Entry:
    guid: str
    title: str
    text: str
    published_at: datetime  # naive UTC
    mentions: bool


def feed_entries(name: str, count: int) -> list[Entry]:
    """Entries of one mock feed, newest first."""
    rng = random.Random(f"rss:{name}")
    out, when = [], _START
    for n in range(count):
        when += timedelta(minutes=rng.randint(30, 600))
        mentions = n % 3 != 1
        title, text = rng.choice(_BRAND if mentions else _OTHER)
        out.append(Entry(f"https://news.example/{name}/{n + 1}", title, f"{text} Заметка {n + 1}.",
                         when, mentions))
    return out[::-1]


def _rss(name: str, entries: list[Entry], encoding: str) -> str:
    items = "".join(
        f"<item><title>{html.escape(e.title)}</title><link>{e.guid}</link>"
        f'<guid isPermaLink="true">{e.guid}</guid>'
        f"<pubDate>{e.published_at:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
        f"<description>{html.escape('<p>' + html.escape(e.text) + '</p>')}</description></item>"
        for e in entries)
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>'
            f"<title>Новости {name}</title><link>https://news.example/{name}</link>"
            f"<description>Лента {name}</description>{items}</channel></rss>\n")


def atom_page(page: int) -> str:
    entries = feed_entries("atom", 2 * PAGE_SIZE)[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    nxt = '<link rel="next" href="/rss/atom/page-2.xml"/>' if page == 1 else ""
    body = "".join(
        f'<entry><title>{html.escape(e.title)}</title><link rel="alternate" href="{e.guid}"/>'
        f"<id>{e.guid}</id><published>{e.published_at:%Y-%m-%dT%H:%M:%S}Z</published>"
        f"<updated>{e.published_at:%Y-%m-%dT%H:%M:%S}Z</updated><author><name>Редакция</name>"
        f'</author><content type="html">{html.escape("<p>" + e.text + "</p>")}</content></entry>'
        for e in entries)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>Финансовые новости</title><id>tag:news.example,2025:atom</id>'
            f'<updated>2025-05-01T00:00:00Z</updated><link rel="self" href="/rss/atom/page-{page}'
            f'.xml"/>{nxt}{body}</feed>\n')


def _atom(req: Request) -> Reply:
    page = int(req.path.rsplit("-", 1)[-1].split(".")[0])
    if page not in (1, 2):
        return Reply(404, "<h1>404</h1>")
    return Reply(body=atom_page(page), content_type="application/atom+xml; charset=utf-8")


def _koi8(req: Request) -> Reply:
    doc = _rss("koi8", feed_entries("koi8", 9), "koi8-r")
    return Reply(body=doc.encode("koi8_r"), content_type="application/rss+xml; charset=koi8-r")


def _cp1251_lying(req: Request) -> Reply:
    doc = _rss("cp1251", feed_entries("cp1251", 9), "utf-8")
    return Reply(body=doc.encode("cp1251"), content_type="text/xml; charset=koi8-r")


def _utf8_lying(req: Request) -> Reply:
    doc = _rss("utf8", feed_entries("utf8", 9), "windows-1251")
    return Reply(body=doc.encode("utf-8"), content_type="text/xml; charset=windows-1251")


def routes() -> list[tuple[str, Handler]]:
    return [(r"/rss/atom/page-\d+[.]xml", _atom), (r"/rss/koi8[.]xml", _koi8),
            (r"/rss/cp1251-lying[.]xml", _cp1251_lying), (r"/rss/utf8-lying[.]xml", _utf8_lying)]

"""Parser cases for bench_parsers.py beyond banki.ru, one per source."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

KW = {"brand": "b"}


def cases(pick: Callable[[str, str], Path | None]) -> list[tuple[str, Path | None, Callable[[bytes], int]]]:
    from spiders.parsers import rss, schemaorg, telegram, vk

    out: list[tuple[str, Path | None, Callable[[bytes], int]]] = [
        ("telegram", pick("telegram/any2feed_full.html", "telegram/channel_page.html"),
         lambda b: len(telegram.parse_channel_page(b, target_id="telegram:c", page_url="https://t.me/s/c", **KW)[0])),
        ("vk wall.get", pick("vk/esg_wall.get_sberbank_-22522055.json", "vk/wall_get.json"),
         lambda b: len(vk.parse_wall(b, target_id="vk:wall:-1", api_url="https://api.vk.com/method/wall.get", **KW)[0])),
        ("rss/atom (entries read)", pick("rss_atom/feedparser_touchnokia_ru_atom.xml", "rss/koi8r.xml"),
         lambda b: rss.parse_feed(b, feed_url="https://x/feed", target_id="rss:x", aliases=["Nokia", "Нокиа", "телефон"], **KW)[2]),
        ("schema.org", pick("schemaorg/schemaorg_eg-0010_jsonld.html", "schemaorg/review_list.html"),
         lambda b: len(schemaorg.parse_review_page(b, page_url="https://x/r", target_id="schemaorg:x", **KW)[0])),
    ]
    from spiders.parsers import appstore, dgis, sravni
    out += [
        ("sravni_ru", pick("sravni_ru/esg_proxy-reviews_bank.json", "sravni_ru/reviews_p0.json"),
         lambda b: len(sravni.parse_reviews_page(b, target_id="sravni_ru:1", base_url="https://www.sravni.ru",
                                                 page_url="https://www.sravni.ru/proxy-reviews/reviews/", **KW)[0])),
        ("2gis firm page", pick("2gis/feedbackservice_dgis_test_firm_70000001019437403.html", "2gis/firm_page.html"),
         lambda b: len(dgis.parse_firm_page(b.decode("utf-8"), target_id="dgis:x", site_url="https://2gis.ru",
                                            city="vologda", firm_id="70000001019437403", page_url="https://2gis.ru/x", **KW).items)),
        ("appstore", pick("appstore/none.json", "appstore/feed_p1.json"),
         lambda b: len(appstore.parse_feed_page(b, target_id="appstore:1", country="ru", app_id="1",
                                                page_url="https://itunes.apple.com/x", errors=[], **KW)[0])),
    ]
    return out

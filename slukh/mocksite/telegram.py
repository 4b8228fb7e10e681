"""Mock ``t.me/s/<channel>``: the public preview's real structure with generated posts.

Every channel name gets its own deterministic posts (``channel_posts``), 20 a page, oldest
first within a page, ``?before=<id>`` for older pages and ``<link rel="prev">`` while older
posts exist, as on t.me. Some posts have no text (media only) and one is a poll, so a
parser must skip the first and keep the second. ``/s/private_*`` redirects to the bare
profile, as Telegram does for channels without a public preview.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from slukh.mocksite import Handler, Reply, Request

PAGE_SIZE = 20
POSTS_PER_CHANNEL = 47
_START = datetime(2025, 3, 1, 9, 0, 0)  # UTC; tests pass horizon_days=0

_SENTENCES = (
    "Клиенты Сбера жалуются на сбой в мобильном приложении с самого утра.",
    "В отделении Сбербанка на Ленина снова очередь на полтора часа.",
    "Сбербанк повысил ставки по вкладам, пишут читатели.",
    "Подписчик рассказал, что карта заблокирована без объяснения причин.",
    "Поддержка ответила через два дня и вопрос так и не решила.",
    "Комиссию за перевод списали дважды, деньги вернули только через неделю.",
    "Читатели хвалят новый кешбэк: действительно стало выгоднее.",
    "Оператор горячей линии был вежлив и быстро помог.",
    "Банкомат у метро третий день не выдаёт наличные.",
    "Приложение обновили, теперь переводы проходят за секунды.",
)


@dataclass(frozen=True)
class Post:
    channel: str
    id: int
    published_at: datetime  # naive UTC
    text: str  # plain text; lines become <br/>; "" = media-only post
    views: int
    poll: tuple[str, ...] = ()  # question, options…

    @property
    def data_post(self) -> str:
        return f"{self.channel}/{self.id}"


def channel_posts(channel: str) -> list[Post]:
    """All posts of a mock channel, oldest first; same channel → same posts, every run."""
    rng = random.Random(f"telegram:{channel}")
    posts: list[Post] = []
    post_id, when = 1000 + rng.randint(0, 500), _START
    for n in range(POSTS_PER_CHANNEL):
        post_id += rng.randint(1, 4)
        when += timedelta(minutes=rng.randint(20, 400))
        views = rng.randint(300, 90_000)
        if n == 5:
            posts.append(Post(channel, post_id, when, "", views,
                              ("Каким банком вы пользуетесь?", "Сбер", "Другим")))
        elif n % 9 == 7:
            posts.append(Post(channel, post_id, when, "", views))  # photo only
        else:
            lines = rng.sample(_SENTENCES, rng.randint(1, 3))
            posts.append(Post(channel, post_id, when, "\n".join(lines), views))
    return posts


def _views(n: int) -> str:
    return f"{n / 1000:.1f}K" if n >= 1000 else str(n)


def _post_html(post: Post) -> str:
    body = "<br/>".join(html.escape(line) for line in post.text.split("\n")) if post.text else ""
    text = (f'<div class="tgme_widget_message_text js-message_text" dir="auto">{body}</div>'
            if body else "")
    media = ("" if post.text or post.poll else
             f'<a class="tgme_widget_message_photo_wrap" href="https://t.me/{post.data_post}" '
             "style=\"background-image:url('https://cdn.example/p.jpg')\"></a>")
    poll = ""
    if post.poll:
        options = "".join(
            '<div class="tgme_widget_message_poll_option"><div class="tgme_widget_message_poll_'
            f'option_value"><div class="tgme_widget_message_poll_option_text">{html.escape(o)}'
            "</div></div></div>" for o in post.poll[1:])
        poll = (f'<div class="tgme_widget_message_poll js-poll"><div class="tgme_widget_'
                f'message_poll_question">{html.escape(post.poll[0])}</div><div class="tgme_'
                f'widget_message_poll_type">Anonymous Poll</div>{options}</div>')
    stamp = post.published_at.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return f"""
<div class="tgme_widget_message_wrap js-widget_message_wrap">
  <div class="tgme_widget_message text_not_supported_wrap js-widget_message"
       data-post="{post.data_post}" data-view="eyJjIjoxfQ">
    <div class="tgme_widget_message_bubble">
      <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name"
        href="https://t.me/{post.channel}"><span dir="auto">Новости {post.channel}</span></a></div>
      {media}{poll}{text}
      <div class="tgme_widget_message_footer compact js-message_footer">
        <div class="tgme_widget_message_info short js-message_info">
          <span class="tgme_widget_message_views">{_views(post.views)}</span><span
            class="copyonly"> views</span><span class="tgme_widget_message_meta"><a
            class="tgme_widget_message_date" href="https://t.me/{post.data_post}"><time
            datetime="{stamp}" class="time">{post.published_at:%H:%M}</time></a></span>
        </div>
      </div>
    </div>
  </div>
</div>"""


def render_page(channel: str, before: int | None = None) -> str:
    """The preview page: the newest ``PAGE_SIZE`` posts older than ``before``."""
    older = [p for p in channel_posts(channel) if before is None or p.id < before]
    shown = older[-PAGE_SIZE:]
    head_links = ""
    more = ""
    if shown and len(older) > len(shown):
        head_links = f'<link rel="prev" href="/s/{channel}?before={shown[0].id}">'
        more = (f'<a href="/s/{channel}?before={shown[0].id}" class="tme_messages_more '
                f'js-messages_more" data-before="{shown[0].id}"></a>')
    canonical = f"/s/{channel}" + (f"?before={before}" if before else "")
    posts = "".join(_post_html(p) for p in shown)
    return f"""<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Новости {channel} – Telegram</title>
  <meta property="og:title" content="Новости {channel}">
  {head_links}
  <link rel="canonical" href="{canonical}">
</head>
<body class="widget_frame_base tgme_webpreview_body">
<main class="tgme_main"><div class="tgme_container">
<section class="tgme_channel_history js-message_history">
<div class="tme_messages_more_wrap">{more}</div>
{posts}
</section>
</div></main>
</body>
</html>
<!-- page generated in 12.3ms -->
"""


def _channel(req: Request) -> Reply:
    channel = req.path.rsplit("/", 1)[-1]
    if channel.startswith("private_"):
        return Reply(302, "", headers={"Location": f"/{channel}"})
    before = req.arg("before")
    return Reply(body=render_page(channel, int(before) if before and before.isdigit() else None))


def routes() -> list[tuple[str, Handler]]:
    return [(r"/s/[A-Za-z0-9_]+", _channel)]

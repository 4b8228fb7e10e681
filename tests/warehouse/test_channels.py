"""Channels against local receivers (127.0.0.1 only), routing validation, escaping."""
from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from warehouse.channels import DeliveryError, redact_url
from warehouse.channels.render import AlertView, PostView, render_alert
from warehouse.channels.routing import RoutingError, parse_routing
from warehouse.channels.telegram import TelegramChannel
from warehouse.channels.webhook import WebhookChannel


class Receiver:
    """An HTTP server in a thread: answers with ``codes`` in turn (then 200), records bodies."""

    def __init__(self, codes: list[int] | None = None, reply: bytes = b'{"ok": true}') -> None:
        self.codes, self.requests = list(codes or []), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, json.loads(body)))
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(reply if code == 200 else b"boom")

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(codes: list[int] | None = None, reply: bytes = b'{"ok": true}') -> Receiver:
        made.append(Receiver(codes, reply))
        return made[-1]
    yield make
    for r in made:
        r.close()


SCRIPT = "<script>alert('x')</script> Очередь & «хамство»"


def view(**kw) -> AlertView:
    base = dict(alert_id="a1", brand="zarya", brand_name="Заря Банк", root_cause="waiting_time",
                cause_name="Очереди и ожидание", owner="operations", owner_name="Операционный блок",
                day=date(2026, 11, 20), observed=15, expected=1.0, ratio=15.0, p_value=1e-12,
                severity=9, posts=[PostView("http://127.0.0.1/r/1/", SCRIPT, 1),
                                   PostView(None, "второй отзыв", None)],
                series=[(date(2026, 11, 19), 1), (date(2026, 11, 20), 15)])
    return AlertView(**{**base, **kw})


def test_render_escapes_scraped_text_for_every_target():
    m = render_alert(view(), chart=False)
    assert m.subject == "Slukh: всплеск [9/10] Заря Банк — Очереди и ожидание ×15.0"
    assert "<script>" not in m.html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in m.html
    assert "<script>" not in m.telegram_html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Очередь &amp; «хамство»" in m.telegram_html
    assert '<a href="http://127.0.0.1/r/1/">ссылка</a>' in m.telegram_html
    assert "<script>" not in m.slack_text and "&lt;script&gt;" in m.slack_text
    assert SCRIPT in m.text                                   # plain text stays verbatim
    assert "Жалоб: 15 при норме 1.0 (×15.0)" in m.text
    assert m.payload["posts"][0] == {"url": "http://127.0.0.1/r/1/", "text": SCRIPT, "rating": 1}
    assert m.images == {}


def test_a_small_usual_rate_is_not_printed_as_zero():
    """A cause that is usually rare ("0.041 an hour") must not read «при норме 0.0»."""
    m = render_alert(view(observed=2, expected=0.041, ratio=48.8), chart=False)
    assert "Жалоб: 2 при норме 0.04 (×48.8)" in m.text
    assert "при норме 0.04" in m.html and "при норме 0.0 " not in m.html
    assert "при норме 0.04" in m.telegram_html


def test_an_incident_that_began_days_before_says_since_when():
    from datetime import datetime
    m = render_alert(view(started=datetime(2026, 11, 18, 11, 0)), chart=False)
    for body in (m.text, m.html, m.telegram_html):
        assert "идёт с 18.11 11:00 МСК" in body
    assert m.payload["started_msk"] == "2026-11-18T11:00:00"
    same_day = render_alert(view(started=datetime(2026, 11, 20, 9, 0)), chart=False)
    assert "идёт с" not in same_day.text                 # the day says it all
    assert "идёт с" not in render_alert(view(), chart=False).text   # a daily alert: no start


def test_chart_is_a_png_referenced_by_cid():
    m = render_alert(view())
    assert m.images["chart@slukh"][:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="cid:chart@slukh"' in m.html


def test_webhook_posts_slack_text_and_fields_retrying_5xx(receiver):
    r = receiver([500, 503])
    slept: list[float] = []
    attempts = WebhookChannel(retries=3, backoff_s=0.5, sleep=slept.append).send(
        r.url + "/hook/SECRET", render_alert(view(), chart=False))
    assert attempts == 3 and slept == [0.5, 1.0]
    path, body = r.requests[-1]
    assert path == "/hook/SECRET" and len(r.requests) == 3
    assert body["text"].startswith("Slukh: всплеск жалоб [9/10]")
    assert body["alert_id"] == "a1" and body["ratio"] == 15.0 and body["root_cause"] == "waiting_time"


def test_webhook_failure_never_shows_the_secret_url(receiver):
    r = receiver([500, 500])
    with pytest.raises(DeliveryError) as e:
        WebhookChannel(retries=2, sleep=lambda s: None).send(r.url + "/hook/SECRET",
                                                             render_alert(view(), chart=False))
    assert "HTTP 500" in str(e.value) and "SECRET" not in str(e.value) and e.value.attempts == 2
    r4 = receiver([404])
    with pytest.raises(DeliveryError) as e4:      # a 4xx is not retried
        WebhookChannel(retries=3, sleep=lambda s: None).send(r4.url + "/x", render_alert(view(), chart=False))
    assert not e4.value.transient and len(r4.requests) == 1
    assert "SECRET" not in redact_url("https://hooks.example/T0/B0/SECRET")


def test_telegram_send_message_with_escaped_html(receiver):
    r = receiver()
    tg = TelegramChannel.from_env({"SLUKH_TELEGRAM_BOT_TOKEN": "123:TOKEN", "SLUKH_TELEGRAM_API": r.url})
    assert tg is not None and "TOKEN" not in repr(tg)
    assert tg.send("-100500", render_alert(view(), chart=False)) == 1
    path, body = r.requests[0]
    assert path == "/bot123:TOKEN/sendMessage"
    assert body["chat_id"] == "-100500" and body["parse_mode"] == "HTML"
    assert "<script>" not in body["text"] and "&lt;script&gt;" in body["text"]
    assert body["text"].startswith("<b>Всплеск жалоб [9/10]: Заря Банк — Очереди и ожидание</b>")


def test_telegram_not_ok_is_a_failure_without_the_token(receiver):
    r = receiver(reply=b'{"ok": false, "description": "chat not found"}')
    tg = TelegramChannel("123:TOKEN", r.url, retries=1)
    with pytest.raises(DeliveryError) as e:
        tg.send("-1", render_alert(view(), chart=False))
    assert "chat not found" in str(e.value) and "TOKEN" not in str(e.value)


GOOD = {"default": "cx", "departments": {
    "cx": {"name": "CX", "email": ["cx@example.ru"]},
    "ops": {"name": "Операции", "email": ["ops@example.ru"], "telegram": [-100500],
            "webhook": ["env:SLUKH_WEBHOOK_OPS"]}},
    "causes": {"waiting_time": "ops"}}


def test_routing_routes_causes_and_falls_back_to_default():
    r = parse_routing(GOOD, known_causes=["waiting_time"], env={"SLUKH_WEBHOOK_OPS": "https://h.example/x"})
    assert r.owner("waiting_time").recipients == {
        "email": ("ops@example.ru",), "telegram": ("-100500",), "webhook": ("https://h.example/x",)}
    assert r.owner("_all").id == "cx" and r.owner("unknown_cause").id == "cx" and r.digest == ("cx",)


@pytest.mark.parametrize("patch, env, message", [
    ({"default": "nobody"}, {"SLUKH_WEBHOOK_OPS": "https://h/x"}, "'default' must name one of"),
    ({"causes": {"waiting_tme": "ops"}}, {"SLUKH_WEBHOOK_OPS": "https://h/x"}, "causes.waiting_tme: not a root cause"),
    ({"causes": {"waiting_time": "opz"}}, {"SLUKH_WEBHOOK_OPS": "https://h/x"}, "unknown department 'opz'"),
    ({}, {}, "departments.ops.webhook[0]: needs the environment variable SLUKH_WEBHOOK_OPS"),
    ({"departments": {"cx": {"email": ["not-an-address"]}}}, {}, "departments.cx.email[0]: 'not-an-address' is not an e-mail"),
    ({"departments": {"cx": {"telegram": ["chat"]}}}, {}, "is not a Telegram chat id"),
    ({"departments": {"cx": {"webhook": ["ftp://x/SECRET"]}}}, {}, "webhook[0]: the URL is not an http(s) URL"),
    ({"departments": {"cx": {"name": "CX"}}}, {}, "departments.cx: no recipients"),
    ({"departments": {"cx": {"email": ["a@b.ru"], "sms": ["1"]}}}, {}, "unknown keys ['sms']"),
])
def test_routing_errors_name_the_entry(patch, env, message):
    data = {**GOOD, **patch}
    with pytest.raises(RoutingError, match=None) as e:
        parse_routing(data, "routing.yaml", known_causes=["waiting_time"], env=env)
    assert message in str(e.value) and "SECRET" not in str(e.value)


def test_shipped_routing_file_is_valid():
    from nlp.taxonomy import load_taxonomy
    from warehouse.channels.routing import load_routing
    r = load_routing(known_causes=load_taxonomy().ids, env={})
    assert set(r.causes) >= set(load_taxonomy().ids)


def test_outbox_writes_a_parseable_eml_with_the_inline_chart(tmp_path):
    import email
    import email.policy

    from warehouse.channels.outbox import OutboxChannel
    assert OutboxChannel(tmp_path).send("ops", render_alert(view())) == 1
    msg = email.message_from_bytes((tmp_path / "ops" / "alert-a1.eml").read_bytes(),
                                   policy=email.policy.default)
    assert msg["Subject"].startswith("Slukh: всплеск [9/10]")
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    assert SCRIPT in (tmp_path / "ops" / "alert-a1.txt").read_text(encoding="utf-8")

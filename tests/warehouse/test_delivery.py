"""Alerts and the digest through a real SMTP server and local HTTP receivers; the log."""
from __future__ import annotations

import email
import email.policy
import socket
from datetime import date

import pytest
from aiosmtpd.controller import Controller

from tests.warehouse.test_channels import receiver  # noqa: F401  (fixture)
from tests.warehouse.test_digest import _warehouse
from warehouse.channels.mail import EmailChannel, SmtpSettings
from warehouse.channels.routing import parse_routing
from warehouse.channels.telegram import TelegramChannel
from warehouse.channels.webhook import WebhookChannel
from warehouse.delivery import (AlertNotFound, AlertStateError, acknowledge, deliver_alerts,
                                deliver_digest, resolve)
from warehouse.digest import write_digest

DAY = date(2026, 11, 20)
CAUSES = {"waiting_time": "Очереди и ожидание"}
BRANDS = {"zarya": "Заря Банк"}


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        self.mails.append((list(envelope.rcpt_tos),
                           email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"

    def to(self, addr: str) -> list[email.message.EmailMessage]:
        return [m for rcpts, m in self.mails if addr in rcpts]


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, EmailChannel(SmtpSettings("127.0.0.1", port, sender="slukh@test.local", timeout_s=10))
    ctl.stop()


def _routing(hook: str):
    return parse_routing({
        "default": "cx", "digest": ["cx", "ops"],
        "departments": {"cx": {"name": "CX / коммуникации", "email": ["cx@example.ru"]},
                        "ops": {"name": "Операционный блок", "email": ["ops@example.ru"],
                                "telegram": ["-100500"], "webhook": [hook]}},
        "causes": {"waiting_time": "ops"}}, env={})


def _parts(msg):
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain" and related.get_content_type() == "multipart/related"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html" and image.get_content_type() == "image/png"
    return plain.get_content(), html.get_content(), image


def test_alert_reaches_email_webhook_and_telegram_then_is_sent(tmp_path, smtp, receiver):  # noqa: F811
    inbox, mail = smtp
    con = _warehouse(tmp_path)
    hook, tg_api = receiver(), receiver()
    chans = [mail, WebhookChannel(sleep=lambda s: None), TelegramChannel("1:T", tg_api.url)]
    report = deliver_alerts(con, _routing(hook.url + "/hook/S3CRET"), day=DAY, channels=chans,
                            cause_names=CAUSES, brand_names=BRANDS)
    assert report.ok and report.skipped == 0
    ids = dict(con.execute("SELECT root_cause, alert_id FROM alerts").fetchall())
    assert set(ids) == {"waiting_time"}          # '_all' joined the same incident: one alert
    assert sorted(report.completed) == sorted(ids.values())

    [msg] = inbox.to("ops@example.ru")
    assert msg["Subject"] == "Slukh: всплеск [6/10] Заря Банк — Очереди и ожидание ×14.9"
    plain, html, image = _parts(msg)
    assert image["Content-ID"] == "<chart@slukh>" and image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="cid:chart@slukh"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>alert('x')</script> Очередь огромная" in plain
    assert "Жалоб: 15 при норме 1.0 (×14.9)" in plain and "Ответственный: Операционный блок" in plain
    assert " - Очереди и ожидание: ×14.9 к обычному для пятницы 12:00 МСК" in plain
    assert "Признаков скоординированной волны нет" in html
    assert "http://127.0.0.1/r/" in html
    assert inbox.to("cx@example.ru") == []                  # no second alert for '_all'

    [(path, body)] = hook.requests
    assert path == "/hook/S3CRET" and body["alert_id"] == ids["waiting_time"]
    assert body["brand_name"] == "Заря Банк" and body["observed"] == 15 and "text" in body
    [(tg_path, tg)] = tg_api.requests
    assert tg_path == "/bot1:T/sendMessage" and tg["parse_mode"] == "HTML"
    assert "<script>" not in tg["text"] and "&lt;script&gt;" in tg["text"]

    assert con.execute("SELECT DISTINCT status FROM alerts").fetchall() == [("sent",)]
    log = con.execute("SELECT channel, recipient, status, attempts FROM deliveries "
                      "WHERE item_id = ? ORDER BY channel", [ids["waiting_time"]]).fetchall()
    assert [r[0] for r in log] == ["email", "telegram", "webhook"]
    assert all(r[2] == "sent" and r[3] == 1 for r in log)
    assert "S3CRET" not in log[2][1] and log[2][1].startswith("http://127.0.0.1:")
    assert con.execute("SELECT owner FROM v_alert_lifecycle WHERE alert_id = ?",
                       [ids["waiting_time"]]).fetchone() == ("ops",)


def test_partial_failure_is_retried_without_resending(tmp_path, smtp, receiver):  # noqa: F811
    inbox, mail = smtp
    con = _warehouse(tmp_path)
    hook = receiver([500])                       # first POST fails, later ones succeed
    routing = _routing(hook.url + "/hook")
    chans = [mail, WebhookChannel(retries=1, sleep=lambda s: None)]
    first = deliver_alerts(con, routing, channels=chans, cause_names=CAUSES, brand_names=BRANDS)
    wt = con.execute("SELECT alert_id FROM alerts WHERE root_cause = 'waiting_time'").fetchone()[0]
    # webhook 500; telegram is in the routing but not configured: both fail, e-mail went out
    assert {(f[0], f[1]) for f in first.failed} == {(wt, "webhook"), (wt, "telegram")}
    assert "HTTP 500" in [f[3] for f in first.failed if f[1] == "webhook"][0]
    assert con.execute("SELECT status FROM alerts WHERE alert_id = ?", [wt]).fetchone() == ("new",)
    assert len(inbox.to("ops@example.ru")) == 1

    second = deliver_alerts(con, routing, channels=chans + [TelegramChannel("1:T", receiver().url)],
                            cause_names=CAUSES, brand_names=BRANDS)
    assert second.ok and second.skipped == 1     # the e-mail of the first run
    assert {(s[0], s[1]) for s in second.sent} == {(wt, "webhook"), (wt, "telegram")}
    assert con.execute("SELECT status FROM alerts WHERE alert_id = ?", [wt]).fetchone() == ("sent",)
    assert len(inbox.to("ops@example.ru")) == 1  # still exactly one mail
    assert len(hook.requests) == 2
    assert con.execute("SELECT status, attempts, last_error FROM deliveries WHERE item_id = ? "
                       "AND channel = 'webhook'", [wt]).fetchone() == ("sent", 2, None)

    third = deliver_alerts(con, routing, channels=chans, cause_names=CAUSES)
    assert third.sent == [] and third.failed == [] and third.skipped == 0   # nothing 'new' left
    assert len(inbox.mails) == 1                 # ops, once over three runs


def test_digest_mail_has_text_html_and_inline_chart_once(tmp_path, smtp):
    inbox, mail = smtp
    con = _warehouse(tmp_path)
    files = write_digest(con, "mv1", DAY, tmp_path / "outbox", brand_names=BRANDS, cause_names=CAUSES)
    routing = _routing("http://127.0.0.1:9/unused")
    report = deliver_digest(con, routing, files.html, files.text, files.chart, DAY, channels=[mail])
    assert report.ok and report.completed == ["digest:2026-11-20"]
    assert sorted(r for rcpts, _ in inbox.mails for r in rcpts) == ["cx@example.ru", "ops@example.ru"]
    msg = inbox.to("cx@example.ru")[0]
    assert msg["Subject"] == "Slukh — дайджест за 20.11.2026"
    plain, html, image = _parts(msg)
    assert "== Заря Банк ==" in plain and "Всплеск" in html
    assert 'src="cid:chart@slukh"' in html and files.chart.name not in html
    assert image.get_content() == files.chart.read_bytes()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    again = deliver_digest(con, routing, files.html, files.text, files.chart, DAY, channels=[mail])
    assert again.skipped == 2 and again.sent == [] and len(inbox.mails) == 2


def test_lifecycle_transitions(tmp_path):
    con = _warehouse(tmp_path)
    wt = con.execute("SELECT alert_id FROM alerts WHERE root_cause = 'waiting_time'").fetchone()[0]
    assert acknowledge(con, wt) == "acknowledged"
    assert acknowledge(con, wt) == "acknowledged"                  # repeating changes nothing
    assert resolve(con, wt) == "resolved"
    row = con.execute("SELECT status, acknowledged_at IS NOT NULL, resolved_at IS NOT NULL "
                      "FROM v_alert_lifecycle WHERE alert_id = ?", [wt]).fetchone()
    assert row == ("resolved", True, True)
    with pytest.raises(AlertStateError, match="is 'resolved'; it cannot become 'acknowledged'"):
        acknowledge(con, wt)
    with pytest.raises(AlertNotFound, match="no alert 'nope'"):
        resolve(con, "nope")
    # a resolved alert is not delivered, and re-detection keeps its status
    from warehouse import spikes
    spikes.save(con, "mv1", spikes.detect(con, "mv1", DAY))
    assert con.execute("SELECT status FROM alerts WHERE alert_id = ?", [wt]).fetchone() == ("resolved",)
    report = deliver_alerts(con, _routing("http://127.0.0.1:9/x"), channels=[], cause_names=CAUSES)
    assert report.failed == [] and report.sent == []

"""Send alerts and the digest to their owners, and keep the log that makes re-runs safe.

Every (item, channel, recipient) send is one row of ``deliveries``, written right after
the send. A re-run skips rows already 'sent' and retries only the 'failed' ones, so an
SMTP recipient never gets the same alert twice after a partial failure. A crash between a
send and its row means that one send is repeated on the next run (at-least-once).
An alert moves new -> sent only when all its deliveries have succeeded; people then move
it to acknowledged and resolved with :func:`acknowledge` and :func:`resolve`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from warehouse.channels.base import Channel, DeliveryError, Message, redact_url
from warehouse.channels.mail import EmailChannel, SmtpSettings
from warehouse.channels.outbox import OutboxChannel
from warehouse.channels.render import AlertView, PostView, digest_message, render_alert, safe_url
from warehouse.channels.routing import Routing
from warehouse.channels.telegram import TelegramChannel
from warehouse.channels.webhook import WebhookChannel
from warehouse.db import transaction

SERIES_DAYS = 28


class AlertNotFound(LookupError):
    """No alert with this id."""


class AlertStateError(ValueError):
    """The transition is not allowed from the alert's current status."""


@dataclass
class DeliveryReport:
    sent: list[tuple[str, str, str]] = field(default_factory=list)          # item, channel, recipient
    failed: list[tuple[str, str, str, str]] = field(default_factory=list)   # ... and the error
    skipped: int = 0              # deliveries that had already succeeded in an earlier run
    completed: list[str] = field(default_factory=list)   # items with every delivery done

    @property
    def ok(self) -> bool:
        return not self.failed


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# ---------------------------------------------------------------- lifecycle

def _status(con: duckdb.DuckDBPyConnection, alert_id: str) -> str:
    row = con.execute("SELECT status FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id!r}: list them with SELECT * FROM v_alert_lifecycle")
    return row[0]


def _move(con: duckdb.DuckDBPyConnection, alert_id: str, to: str, column: str,
          allowed_from: set[str], at: datetime | None) -> str:
    with transaction(con):
        current = _status(con, alert_id)
        if current == to:
            return current                      # repeating a transition changes nothing
        if current not in allowed_from:
            raise AlertStateError(f"alert {alert_id} is {current!r}; it cannot become {to!r} "
                                  f"(allowed from {sorted(allowed_from)})")
        ts = at or _now()
        con.execute("UPDATE alerts SET status = ?, updated_at = ? WHERE alert_id = ?", [to, ts, alert_id])
        con.execute(f"""INSERT INTO alert_state (alert_id, {column}) VALUES (?, ?)
                        ON CONFLICT (alert_id) DO UPDATE SET {column} = excluded.{column}""",
                    [alert_id, ts])
    return to


def acknowledge(con: duckdb.DuckDBPyConnection, alert_id: str, *, at: datetime | None = None) -> str:
    """Someone owns it now. Allowed from new or sent; raises AlertNotFound / AlertStateError."""
    return _move(con, alert_id, "acknowledged", "acknowledged_at", {"new", "sent"}, at)


def resolve(con: duckdb.DuckDBPyConnection, alert_id: str, *, at: datetime | None = None) -> str:
    """Closed. Allowed from any open status; the digest stops listing it."""
    return _move(con, alert_id, "resolved", "resolved_at", {"new", "sent", "acknowledged"}, at)


# ---------------------------------------------------------------- channels and log

def channels_from_env(outbox: Path | None = None, env: Mapping[str, str] | None = None) -> list[Channel]:
    """E-mail if SLUKH_SMTP_HOST is set, Telegram if SLUKH_TELEGRAM_BOT_TOKEN is, webhooks
    always (their URLs are in routing.yaml), files if ``outbox`` is given."""
    env = os.environ if env is None else env
    out: list[Channel] = [WebhookChannel()]
    smtp = SmtpSettings.from_env(env)
    if smtp:
        out.append(EmailChannel(smtp))
    tg = TelegramChannel.from_env(env)
    if tg:
        out.append(tg)
    if outbox is not None:
        out.append(OutboxChannel(outbox))
    return out


def _key(channel: str, recipient: str) -> str:
    return redact_url(recipient) if channel == "webhook" else recipient


def _record(con: duckdb.DuckDBPyConnection, kind: str, item: str, channel: str, recipient: str,
            ok: bool, attempts: int, error: str | None) -> None:
    now = _now()
    con.execute(
        """INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (item_id, channel, recipient) DO UPDATE SET status = excluded.status,
             attempts = deliveries.attempts + excluded.attempts, last_error = excluded.last_error,
             delivered_at = excluded.delivered_at, updated_at = excluded.updated_at""",
        [kind, item, channel, recipient, "sent" if ok else "failed", attempts, error,
         now if ok else None, now])


def _deliver_item(con: duckdb.DuckDBPyConnection, kind: str, item: str,
                  targets: list[tuple[str, str]], channels: dict[str, Channel],
                  make: Callable[[], Message], report: DeliveryReport) -> bool:
    """Send ``item`` to every (channel, recipient) not yet delivered; True if all are done."""
    done = {(r[0], r[1]) for r in con.execute(
        "SELECT channel, recipient FROM deliveries WHERE item_id = ? AND status = 'sent'",
        [item]).fetchall()}
    message: Message | None = None
    all_ok = True
    for ch, recipient in targets:
        key = _key(ch, recipient)
        if (ch, key) in done:
            report.skipped += 1
            continue
        channel = channels.get(ch)
        if channel is None:
            err = f"channel {ch} is not configured (see SLUKH_SMTP_* / SLUKH_TELEGRAM_BOT_TOKEN)"
            _record(con, kind, item, ch, key, False, 0, err)
            report.failed.append((item, ch, key, err))
            all_ok = False
            continue
        message = message or make()
        try:
            attempts = channel.send(recipient, message)
        except DeliveryError as e:
            ok, attempts, err = False, e.attempts, str(e)
        except Exception as e:          # a broken channel must not stop the other sends
            ok, attempts, err = False, 1, f"{type(e).__name__}: {e}".replace(recipient, key)
        else:
            ok, err = True, None
        _record(con, kind, item, ch, key, ok, attempts, err)
        if ok:
            report.sent.append((item, ch, key))
        else:
            report.failed.append((item, ch, key, err or ""))
            all_ok = False
    if all_ok:
        report.completed.append(item)
    return all_ok


# ---------------------------------------------------------------- alerts

def _view(con: duckdb.DuckDBPyConnection, row: tuple, routing: Routing, cause_names: Mapping[str, str],
          brand_names: Mapping[str, str], max_posts: int) -> AlertView:
    alert_id, brand, cause, day, mv, observed, expected, ratio, p, sev, evidence = row
    ids = json.loads(evidence or "[]")[:max_posts]
    found = {r[0]: r[1:] for r in con.execute(
        "SELECT mention_id, url, text, rating FROM mentions WHERE mention_id IN (SELECT unnest(?))",
        [ids]).fetchall()} if ids else {}
    posts = [PostView(safe_url(found[i][0]), found[i][1], found[i][2]) for i in ids if i in found]
    series = con.execute(
        """SELECT day, complaints FROM daily_aggregates WHERE model_version = ? AND brand = ?
           AND root_cause = ? AND day BETWEEN ? AND ? ORDER BY day""",
        [mv, brand, cause, day - timedelta(days=SERIES_DAYS), day]).fetchall()
    dept = routing.owner(cause)
    from warehouse.incidents import MSK, explanation_lines
    started = con.execute("SELECT started_at FROM incidents WHERE incident_id = ?",
                          [alert_id]).fetchone()     # none for a daily (pre-007) alert
    return AlertView(alert_id, brand, brand_names.get(brand, brand), cause,
                     {"_all": "все жалобы", **cause_names}.get(cause, cause), dept.id, dept.name,
                     day, observed, expected, ratio, p, sev, posts, series,
                     explanation_lines(con, alert_id, dict(cause_names)),
                     started[0] + MSK if started else None)


def deliver_alerts(con: duckdb.DuckDBPyConnection, routing: Routing, *, day: date | None = None,
                   channels: Sequence[Channel] | None = None,
                   cause_names: Mapping[str, str] | None = None,
                   brand_names: Mapping[str, str] | None = None,
                   max_posts: int = 5, chart: bool = True) -> DeliveryReport:
    """Send every 'new' alert (of ``day``, or all) to its owner's recipients on every channel.

    ``cause_names`` default to the Russian names of nlp/taxonomy.yaml; ``channels`` default
    to :func:`channels_from_env`. An alert becomes 'sent' once every delivery succeeded.
    """
    if cause_names is None:
        from nlp.taxonomy import load_taxonomy
        cause_names = {c.id: c.name for c in load_taxonomy().causes}
    chans = {c.name: c for c in (channels if channels is not None else channels_from_env())}
    report = DeliveryReport()
    rows = con.execute(
        """SELECT alert_id, brand, root_cause, day, model_version, observed, expected, ratio,
                  p_value, severity, evidence
           FROM alerts WHERE status = 'new' AND (CAST(? AS DATE) IS NULL OR day = ?)
           ORDER BY severity DESC, day, alert_id""", [day, day]).fetchall()
    for row in rows:
        alert_id, cause = row[0], row[2]
        dept = routing.owner(cause)
        con.execute("""INSERT INTO alert_state (alert_id, owner) VALUES (?, ?)
                       ON CONFLICT (alert_id) DO UPDATE SET owner = excluded.owner""", [alert_id, dept.id])
        targets = [(ch, r) for ch, rs in dept.recipients.items() for r in rs]
        if "outbox" in chans:
            targets.append(("outbox", dept.id))
        make = lambda row=row: render_alert(  # noqa: E731
            _view(con, row, routing, cause_names or {}, brand_names or {}, max_posts), chart=chart)
        if _deliver_item(con, "alert", alert_id, targets, chans, make, report):
            with transaction(con):
                now = _now()
                con.execute("UPDATE alerts SET status = 'sent', updated_at = ? "
                            "WHERE alert_id = ? AND status = 'new'", [now, alert_id])
                con.execute("UPDATE alert_state SET sent_at = ? WHERE alert_id = ?", [now, alert_id])
    return report


# ---------------------------------------------------------------- digest

def deliver_digest(con: duckdb.DuckDBPyConnection, routing: Routing, html: Path, text: Path,
                   chart: Path | None, day: date, *,
                   channels: Sequence[Channel] | None = None) -> DeliveryReport:
    """E-mail the files of ``warehouse.digest.write_digest`` (pass ``files.html, files.text,
    files.chart``) to the e-mail recipients of ``routing.digest``; once per recipient and day."""
    chans = {c.name: c for c in (channels if channels is not None else channels_from_env())}
    targets: list[tuple[str, str]] = []
    for did in routing.digest:
        dept = routing.departments[did]
        targets += [("email", r) for r in dept.recipients.get("email", ())]
        if "outbox" in chans:
            targets.append(("outbox", did))
    targets = list(dict.fromkeys(targets))
    report = DeliveryReport()
    _deliver_item(con, "digest", f"digest:{day.isoformat()}", targets, chans,
                  lambda: digest_message(html, text, chart, day), report)
    return report

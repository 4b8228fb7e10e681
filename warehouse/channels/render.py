"""Render an alert (or the digest files) into one :class:`Message` for every channel.

Scraped text is escaped for each target: Jinja2 autoescape for the e-mail HTML,
``html.escape`` for Telegram's HTML mode, Slack's three entities for the webhook ``text``.
Post links keep only http(s) URLs, so a scraped ``javascript:`` link is dropped.
"""
from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from warehouse.channels.base import Message
from warehouse.templating import rate, short, template_env

CHART_CID = "chart@slukh"


@dataclass(frozen=True)
class PostView:
    url: str | None          # http(s) only
    text: str
    rating: int | None


@dataclass(frozen=True)
class AlertView:
    alert_id: str
    brand: str
    brand_name: str
    root_cause: str
    cause_name: str
    owner: str
    owner_name: str
    day: date
    observed: int
    expected: float
    ratio: float
    p_value: float
    severity: int
    posts: list[PostView] = field(default_factory=list)
    series: list[tuple[date, int]] = field(default_factory=list)   # complaints per day
    explanation: list[str] = field(default_factory=list)   # why: causes, usual hour, sources, wave
    started: datetime | None = None     # Moscow time of the incident's first anomalous hour

    @property
    def since(self) -> str:
        """' (идёт с 18.11 11:00 МСК)' when the incident began before its day, else ''."""
        if self.started is None or self.started.date() >= self.day:
            return ""
        return f" (идёт с {self.started:%d.%m %H:%M} МСК)"


def safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("http://", "https://")) else None


def subject(a: AlertView) -> str:
    return (f"Slukh: всплеск [{a.severity}/10] {a.brand_name} — {a.cause_name} "
            f"×{a.ratio:.1f}")


def chart_png(a: AlertView) -> bytes | None:
    """Complaints per day of this brand and cause; the alert's day marked."""
    if not a.series:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    xs, ys = zip(*a.series)
    ax.bar(xs, ys, color=["#c0392b" if d == a.day else "#7f8c8d" for d in xs])
    ax.axhline(a.expected, color="#2c3e50", linewidth=1, linestyle="--", label="норма")
    ax.set_title(f"{a.brand_name}: {a.cause_name}, жалоб в день")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _telegram(a: AlertView) -> str:
    e = html.escape
    lines = [f"<b>Всплеск жалоб [{a.severity}/10]: {e(a.brand_name)} — {e(a.cause_name)}</b>",
             f"{a.day:%d.%m.%Y}{e(a.since)}: {a.observed} жалоб при норме {rate(a.expected)} "
             f"(×{a.ratio:.1f})",
             f"Ответственный: {e(a.owner_name)}"]
    lines += [f"— {e(x)}" for x in a.explanation]
    for p in a.posts[:3]:
        link = f' <a href="{e(p.url)}">ссылка</a>' if p.url else ""
        lines.append(f"• «{e(short(p.text, 300))}»{link}")
    lines.append(f"<code>{e(a.alert_id)}</code>")
    return "\n".join(lines)


def _slack(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _payload(a: AlertView) -> dict[str, Any]:
    return {"kind": "alert", "alert_id": a.alert_id, "brand": a.brand, "brand_name": a.brand_name,
            "root_cause": a.root_cause, "root_cause_name": a.cause_name, "owner": a.owner,
            "day": a.day.isoformat(),
            "started_msk": a.started.isoformat() if a.started else None,
            "observed": a.observed, "expected": a.expected,
            "ratio": a.ratio, "p_value": a.p_value, "severity": a.severity,
            "explanation": a.explanation,
            "posts": [{"url": p.url, "text": p.text, "rating": p.rating} for p in a.posts]}


def render_alert(a: AlertView, *, chart: bool = True) -> Message:
    png = chart_png(a) if chart else None
    env = template_env()
    ctx = {"a": a, "subject": subject(a), "chart_cid": CHART_CID if png else None}
    text = env.get_template("alert.txt.j2").render(**ctx)
    return Message(subject=subject(a), text=text,
                   html=env.get_template("alert.html.j2").render(**ctx),
                   images={CHART_CID: png} if png else {}, telegram_html=_telegram(a),
                   slack_text=_slack(text), payload=_payload(a), name=f"alert-{a.alert_id}")


def digest_message(html_path: Path, text_path: Path, chart: Path | None, day: date) -> Message:
    """The digest files as written by warehouse.digest.write_digest; the chart becomes a CID."""
    body = html_path.read_text(encoding="utf-8")
    images = {}
    if chart is not None:
        body = body.replace(f'src="{chart.name}"', f'src="cid:{CHART_CID}"')
        images[CHART_CID] = chart.read_bytes()
    text = text_path.read_text(encoding="utf-8")
    return Message(subject=f"Slukh — дайджест за {day:%d.%m.%Y}", text=text, html=body,
                   images=images, telegram_html="", slack_text=_slack(text),
                   payload={"kind": "digest", "day": day.isoformat()}, name=f"digest-{day.isoformat()}")

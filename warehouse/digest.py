"""Render the daily digest (HTML + plain text + a PNG chart) into the outbox folder.

Jinja2 autoescaping is on for the HTML: review text is scraped from the web and a
review containing ``<script>`` must arrive as text.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from warehouse.digest_data import BrandDay, brand_days
from warehouse.templating import template_env


ALL_CAUSES = {"_all": "все жалобы"}


@dataclass
class DigestFiles:
    html: Path
    text: Path
    chart: Path | None


def render_chart(days: list[BrandDay], path: Path, day: date) -> Path | None:
    """Complaints per day and brand over the usual window; the digest day highlighted."""
    if not any(b.series for b in days):
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    for b in days:
        if b.series:
            xs, ys = zip(*b.series)
            ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.4, label=b.brand)
    ax.axvline(day, color="#c0392b", linewidth=1, linestyle="--")
    ax.set_title(f"Жалобы в день, до {day:%d.%m.%Y}")
    ax.set_ylabel("жалоб")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_digest(con: duckdb.DuckDBPyConnection, model_version: str, day: date, outbox: Path, *,
                 brand_names: dict[str, str] | None = None,
                 cause_names: dict[str, str] | None = None) -> DigestFiles:
    """Write ``digest-<day>.html``, ``.txt`` and ``.png`` into ``outbox``; return their paths."""
    outbox.mkdir(parents=True, exist_ok=True)
    days = brand_days(con, model_version, day, brand_names)
    stem = outbox / f"digest-{day.isoformat()}"
    chart = render_chart(days, stem.with_suffix(".png"), day)
    ctx = {"day": day, "brands": days, "chart": chart.name if chart else None,
           "cause": lambda c: {**ALL_CAUSES, **(cause_names or {})}.get(c, c), "model_version": model_version}
    env = template_env()
    html = stem.with_suffix(".html")
    html.write_text(env.get_template("digest.html.j2").render(**ctx), encoding="utf-8")
    text = stem.with_suffix(".txt")
    text.write_text(env.get_template("digest.txt.j2").render(**ctx), encoding="utf-8")
    return DigestFiles(html, text, chart)

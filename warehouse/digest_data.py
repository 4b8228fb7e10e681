"""What the daily digest says, read from the warehouse as plain data (no rendering)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb

from warehouse.closed_loop import LoopLine, loop_lines

USUAL_DAYS = 28


@dataclass
class CauseMove:
    root_cause: str
    complaints: int
    usual: float


@dataclass
class Post:
    mention_id: str
    url: str | None
    title: str | None
    text: str
    rating: int | None
    root_causes: list[str]


@dataclass
class AlertLine:
    alert_id: str
    root_cause: str
    observed: int
    expected: float
    ratio: float
    severity: int
    status: str
    posts: list[Post] = field(default_factory=list)


@dataclass
class BrandDay:
    brand: str
    mentions: int
    complaints: int
    negatives: int
    positives: int
    usual_mentions: float
    usual_complaints: float
    avg_rating: float | None
    causes: list[CauseMove]
    notable: list[Post]
    alerts: list[AlertLine]
    series: list[tuple[date, int]]          # complaints per day, for the chart
    loop: list[LoopLine] = field(default_factory=list)   # recent actions and their verdicts


def _posts(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[Post]:
    if not ids:
        return []
    rows = con.execute(
        """SELECT m.mention_id, m.url, m.title, m.text, m.rating, l.root_causes
           FROM mentions m JOIN labels l USING (mention_id)
           WHERE m.mention_id IN (SELECT unnest(?)) """, [ids]).fetchall()
    by_id = {r[0]: Post(*r[:5], list(r[5])) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def brand_days(con: duckdb.DuckDBPyConnection, model_version: str, day: date,
               brand_names: dict[str, str] | None = None) -> list[BrandDay]:
    """Per brand: the day against the usual of the previous 28 days, and the closed loop."""
    start = day - timedelta(days=USUAL_DAYS)
    out = []
    loop: dict[str, list[LoopLine]] = {}
    for line in loop_lines(con, model_version, day):
        loop.setdefault(line.brand, []).append(line)
    brands = [r[0] for r in con.execute(
        "SELECT DISTINCT brand FROM daily_aggregates WHERE model_version = ? ORDER BY 1",
        [model_version]).fetchall()]
    for brand in brands:
        agg = con.execute(
            """SELECT root_cause,
                      sum(mentions) FILTER (WHERE day = $d), sum(complaints) FILTER (WHERE day = $d),
                      sum(negatives) FILTER (WHERE day = $d), sum(positives) FILTER (WHERE day = $d),
                      sum(mentions) FILTER (WHERE day < $d) / $n,
                      sum(complaints) FILTER (WHERE day < $d) / $n,
                      avg(avg_rating) FILTER (WHERE day = $d)
               FROM daily_aggregates
               WHERE model_version = $mv AND brand = $b AND day BETWEEN $s AND $d
               GROUP BY root_cause""",
            {"d": day, "n": float(USUAL_DAYS), "mv": model_version, "b": brand, "s": start},
        ).fetchall()
        rows = {r[0]: r for r in agg}
        total = rows.get("_all") or ("_all", 0, 0, 0, 0, 0.0, 0.0, None)
        causes = sorted(
            (CauseMove(c, int(r[2] or 0), float(r[6] or 0.0)) for c, r in rows.items()
             if c != "_all" and r[2]),
            key=lambda m: (-(m.complaints - m.usual), m.root_cause))
        notable_ids = [r[0] for r in con.execute(
            """SELECT m.mention_id FROM mentions m
               JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
               WHERE l.model_version = ? AND m.brand = ?
                 AND CAST(m.published_at + INTERVAL 3 HOUR AS DATE) = ?
               ORDER BY l.is_complaint DESC, len(l.root_causes) DESC, length(m.text) DESC,
                        m.mention_id LIMIT 3""", [model_version, brand, day]).fetchall()]
        alerts = []
        for a in con.execute(
            """SELECT alert_id, root_cause, observed, expected, ratio, severity, status, evidence
               FROM alerts WHERE model_version = ? AND brand = ? AND day = ?
                 AND status <> 'resolved'
               ORDER BY severity DESC, root_cause""", [model_version, brand, day]).fetchall():
            alerts.append(AlertLine(*a[:7], posts=_posts(con, json.loads(a[7] or "[]")[:3])))
        series = con.execute(
            """SELECT day, complaints FROM daily_aggregates
               WHERE model_version = ? AND brand = ? AND root_cause = '_all' AND day BETWEEN ? AND ?
               ORDER BY day""", [model_version, brand, start, day]).fetchall()
        out.append(BrandDay(
            brand=(brand_names or {}).get(brand, brand), mentions=int(total[1] or 0),
            complaints=int(total[2] or 0), negatives=int(total[3] or 0),
            positives=int(total[4] or 0), usual_mentions=float(total[5] or 0),
            usual_complaints=float(total[6] or 0), avg_rating=total[7], causes=causes[:5],
            notable=_posts(con, notable_ids), alerts=alerts, series=series,
            loop=loop.get(brand, [])))
    # Brands with the most severe open alerts first, then the most complaints.
    return sorted(out, key=lambda b: (-max((a.severity for a in b.alerts), default=0),
                                      -b.complaints, b.brand))

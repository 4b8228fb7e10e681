"""Spike incidents from the warehouse: hourly series in, explained alerts out.

``detect_day`` reads ``hourly_aggregates`` (negative mentions per brand, complaints per
brand × root cause), runs the array detector of :mod:`warehouse.spikes` and describes each
incident: the driving causes (× the usual for that weekday and hour), the sources, the
posts behind it and whether it looks like a coordinated wave. ``save_incidents`` upserts
the ``incidents`` row and its one alert; an incident already stored for the brand that
overlaps (or ended less than the cooldown before) is the same incident and is updated.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import duckdb
import numpy as np

from warehouse import spikes
from warehouse.db import transaction
from warehouse.templating import rate

MSK = timedelta(hours=3)
LOOKBACK_HOURS = 48          # replayed before the day, so incidents crossing midnight continue
WEEKDAY_GEN = ("понедельника", "вторника", "среды", "четверга", "пятницы", "субботы", "воскресенья")
ALL = "_all"


@dataclass
class Driver:
    series: str              # root cause id, or '_all' (negative mentions)
    observed: int            # over the incident's hours
    expected: float
    p_value: float
    anomalous_hours: int
    peak_hour: datetime      # UTC
    peak_observed: int
    peak_expected: float

    @property
    def ratio(self) -> float:
        return round(self.observed / max(self.expected, 1e-9), 2)


@dataclass
class Incident:
    brand: str
    model_version: str
    started_at: datetime     # UTC hours
    confirmed_at: datetime
    last_hour: datetime
    peak_hour: datetime
    evaluated_to: datetime
    anomalous_hours: int
    closed: bool
    severity: int
    drivers: list[Driver]
    contributors: list[Driver] = field(default_factory=list)   # causes up, not anomalous
    sources: list[dict] = field(default_factory=list)
    posts: int = 0
    near_dup_share: float | None = None
    new_author_share: float | None = None
    coordinated: bool = False
    evidence: list[str] = field(default_factory=list)
    incident_id: str = ""
    # a stored incident of the brand whose last hour is at or after this is still open at
    # started_at (silent hours of a small brand do not close it): this is its continuation
    continues_from: datetime | None = None

    def __post_init__(self) -> None:
        if not self.incident_id:
            key = f"{spikes.RULE}|{self.brand}|{self.model_version}|{self.started_at.isoformat()}"
            self.incident_id = hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def alert_id(self) -> str:
        return self.incident_id

    @property
    def main(self) -> Driver:
        causes = [d for d in self.drivers if d.series != ALL]
        return causes[0] if causes else self.drivers[0]

    root_cause = property(lambda self: self.main.series)
    observed = property(lambda self: self.main.observed)
    expected = property(lambda self: round(self.main.expected, 3))
    ratio = property(lambda self: self.main.ratio)
    p_value = property(lambda self: self.main.p_value)

    @property
    def day(self) -> date:
        """Moscow day of the latest anomalous hour: an ongoing incident moves forward."""
        return (self.last_hour + MSK).date()

    def explanation(self, cause_names: dict[str, str] | None = None) -> list[str]:
        return explain(self.drivers, self.contributors, self.sources, self.posts,
                       self.near_dup_share, self.new_author_share, self.coordinated, cause_names)


def _plural(n: int, one: str, few: str, many: str) -> str:
    """Russian noun form for a count: 1 жалоба, 3 жалобы, 5 жалоб."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    return few if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14 else many


def _name(series: str, names: dict[str, str] | None) -> str:
    return "все негативные упоминания" if series == ALL else (names or {}).get(series, series)


def explain(drivers: list[Driver], contributors: list[Driver], sources: list[dict], posts: int,
            dup: float | None, new: float | None, coordinated: bool,
            cause_names: dict[str, str] | None = None) -> list[str]:
    """Plain lines: what drove it, against which usual, from where, and is it a wave."""
    lines = []
    for d in drivers[:4]:
        when = d.peak_hour + MSK
        noun = (_plural(d.peak_observed, "негативное", "негативных", "негативных") if d.series == ALL
                else _plural(d.peak_observed, "жалоба", "жалобы", "жалоб"))
        lines.append(
            f"{_name(d.series, cause_names)}: ×{d.peak_observed / max(d.peak_expected, 1e-9):.1f} "
            f"к обычному для {WEEKDAY_GEN[when.weekday()]} {when:%H}:00 МСК "
            f"({d.peak_observed} {noun} за час при норме {rate(d.peak_expected)}; "
            f"за инцидент {d.observed} при норме {rate(d.expected)})")
    if contributors:
        lines.append("Также выросли: " + ", ".join(
            f"{_name(c.series, cause_names)} ×{c.ratio:.1f}" for c in contributors[:3]))
    if sources:
        lines.append("Источники: " + ", ".join(
            f"{s['source']} {s['share']:.0%} (обычно {s['usual_share']:.0%})" for s in sources[:4]))
    if posts and dup is not None:
        signals = f"{dup:.0%} почти одинаковых текстов, " + (
            f"{new:.0%} авторов пишут о бренде впервые" if new is not None else "авторы неизвестны")
        lines.append(("Похоже на скоординированную волну: " if coordinated
                      else "Признаков скоординированной волны нет: ") + signals + f" ({posts} постов)")
    return lines


def is_coordinated(posts: int, dup: float | None, new: float | None) -> bool:
    """Many near-identical texts, or some of them written mostly by first-time authors."""
    if posts < 5 or dup is None:
        return False
    return dup >= 0.4 or (dup >= 0.2 and (new or 0.0) >= 0.7)


# ---------------------------------------------------------------- reading series

def _day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time()) - MSK


def history_days(p: spikes.Params) -> int:
    return p.weeks * 7 + (p.disp_hours + p.level_hours + LOOKBACK_HOURS) // 24 + 2


def load_series(con: duckdb.DuckDBPyConnection, mv: str, t0: datetime, t1: datetime):
    """Dense hourly matrix: (keys [(brand, series)], y, avail) for hours t0..t1 (UTC).

    '_all' counts negative mentions, a cause counts complaints. A series is available
    from the Moscow day of its brand's first mention labelled by this model version.
    """
    data = con.execute(
        """SELECT dense_rank() OVER (ORDER BY brand, root_cause) - 1 AS sid, brand, root_cause,
                  date_diff('hour', $t0, hour) AS t,
                  sum(CASE WHEN root_cause = '_all' THEN negatives ELSE complaints END) AS n
           FROM hourly_aggregates
           WHERE model_version = $mv AND hour >= $t0 AND hour <= $t1
           GROUP BY brand, root_cause, hour""", {"mv": mv, "t0": t0, "t1": t1}).fetchnumpy()
    hours = int((t1 - t0) / timedelta(hours=1)) + 1
    sid = np.asarray(data["sid"], dtype=np.int64)
    _, at = np.unique(sid, return_index=True)
    keys = [(str(data["brand"][i]), str(data["root_cause"][i])) for i in at]
    y = np.zeros((len(keys), hours))
    y[sid, np.asarray(data["t"], dtype=np.int64)] = np.asarray(data["n"], dtype=float)
    first = dict(con.execute(
        """SELECT brand, date_diff('hour', $t0, min(hour)) FROM hourly_aggregates
           WHERE model_version = $mv AND root_cause = '_all' GROUP BY brand""",
        {"mv": mv, "t0": t0}).fetchall())
    # from the Moscow midnight before its first mention (t0 is a Moscow midnight)
    starts = np.array([max(first.get(b, 0), 0) // 24 * 24 for b, _ in keys], dtype=np.int64)
    avail = (np.arange(hours)[None, :] >= starts[:, None]).astype(float)
    return keys, y, avail


# ---------------------------------------------------------------- detection

def detect_day(con: duckdb.DuckDBPyConnection, mv: str, day: date,
               p: spikes.Params = spikes.DEFAULT) -> list[Incident]:
    """Incidents of any brand active on the Moscow ``day`` (up to the newest data hour)."""
    day_start = _day_start_utc(day)
    newest = con.execute("SELECT max(hour) FROM hourly_aggregates WHERE model_version = ?",
                         [mv]).fetchone()[0]
    if newest is None or newest < day_start:
        return []
    t1 = min(newest, day_start + timedelta(hours=23))
    t0 = _day_start_utc(day - timedelta(days=history_days(p)))
    keys, y, avail = load_series(con, mv, t0, t1)
    if not keys:
        return []
    brands = sorted({b for b, _ in keys})
    group = np.array([brands.index(b) for b, _ in keys])
    share = spikes.alpha_shares(group, np.array([k[1] == ALL for k in keys]), p.volume_share)
    sc = spikes.score(y, avail, p, share)
    from_t = int((day_start - t0) / timedelta(hours=1)) - LOOKBACK_HOURS
    day_t = from_t + LOOKBACK_HOURS
    hour = lambda t: t0 + timedelta(hours=int(t))  # noqa: E731
    found = []
    for b in spikes.incidents(sc.anomalous, sc.strong, group, start=from_t, p=p,
                              window=sc.window, expected=sc.expected):
        if b.last < day_t:
            continue
        rows = np.flatnonzero(group == b.group)
        inc = _describe(keys, rows, y, sc, b, hour, mv, brands[b.group], hour(y.shape[1] - 1))
        inc.continues_from = hour(spikes.open_since(sc.expected[rows].max(axis=0), b.start, p))
        _enrich(con, inc)
        found.append(inc)
    return found


def _describe(keys, rows, y, sc, b: spikes.Burst, hour, mv: str, brand: str,
              evaluated_to: datetime) -> Incident:
    span = slice(b.start, b.last + 1)
    drivers, contributors = [], []
    for r in rows:
        series = keys[r][1]
        obs, exp_ = int(y[r, span].sum()), float(sc.expected[r, span].sum())
        anom = sc.anomalous[r, span]
        peak = b.start + int(np.argmax(np.where(anom, sc.severity[r, span] * 1e6, 0)
                                       + y[r, span] - sc.expected[r, span]))
        d = Driver(series, obs, round(exp_, 3), float(sc.p_value[r, span].min()), int(anom.sum()),
                   hour(peak), int(y[r, peak]), round(float(sc.expected[r, peak]), 3))
        if anom.any():
            drivers.append(d)
        elif series != ALL and obs >= 3 and obs >= 1.5 * exp_:
            contributors.append(d)
    drivers.sort(key=lambda d: (d.series == ALL, -(d.observed - d.expected), d.series))
    contributors.sort(key=lambda d: (-(d.observed - d.expected), d.series))
    sev = sc.severity[rows, span]
    peak_t = b.start + int(np.argmax(sev.max(axis=0)))
    return Incident(brand, mv, hour(b.start), hour(b.confirmed), hour(b.last), hour(peak_t),
                    evaluated_to, int(sc.anomalous[rows, span].any(axis=0).sum()), b.closed,
                    int(sev.max()), drivers, contributors)


def _enrich(con: duckdb.DuckDBPyConnection, inc: Incident) -> None:
    """Sources, posts with links, near-duplicate and new-author shares (SQL on the window)."""
    end = inc.last_hour + timedelta(hours=1)
    args = {"mv": inc.model_version, "b": inc.brand, "s": inc.started_at, "e": end}
    src = con.execute(
        """SELECT source, sum(negatives) FILTER (WHERE hour >= $s),
                  sum(negatives) FILTER (WHERE hour < $s)
           FROM hourly_aggregates WHERE model_version = $mv AND brand = $b AND root_cause = '_all'
             AND hour >= $s - INTERVAL 28 DAY AND hour < $e
           GROUP BY source""", args).fetchall()
    now_total = sum(r[1] or 0 for r in src) or 1
    usual_total = sum(r[2] or 0 for r in src) or 1
    inc.sources = sorted(({"source": s, "negatives": int(n or 0), "share": (n or 0) / now_total,
                           "usual_share": (u or 0) / usual_total} for s, n, u in src if n),
                         key=lambda s: (-s["negatives"], s["source"]))
    causes = [d.series for d in inc.drivers if d.series != ALL]
    posts = f"""
        SELECT m.mention_id, m.author_hash, m.published_at, m.rating, length(m.text) AS len,
               list_contains(l.root_causes, $main) AS main_cause
        FROM mentions m
        JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
        WHERE l.model_version = $mv AND m.brand = $b AND m.published_at >= $s
          AND m.published_at < $e
          AND {'l.is_complaint AND list_has_any(l.root_causes, $causes)' if causes
               else "l.sentiment = 'negative'"}"""
    pargs = {**args, "main": inc.root_cause, **({"causes": causes} if causes else {})}
    n, dup, new_share = con.execute(
        f"""WITH p AS ({posts})
            SELECT count(*),
                   avg(CASE WHEN coalesce(nd.cluster_size, 1) >= 2 THEN 1.0 ELSE 0.0 END),
                   avg(CASE WHEN p.author_hash IS NULL THEN NULL
                            WHEN EXISTS (SELECT 1 FROM mentions o WHERE o.brand = $b
                                         AND o.author_hash = p.author_hash
                                         AND o.published_at < $s) THEN 0.0 ELSE 1.0 END)
            FROM p LEFT JOIN near_duplicates nd ON nd.mention_id = p.mention_id""",
        pargs).fetchone()
    inc.posts, inc.near_dup_share, inc.new_author_share = int(n), dup, new_share
    inc.coordinated = is_coordinated(inc.posts, dup, new_share)
    inc.evidence = [r[0] for r in con.execute(
        f"""WITH p AS ({posts}) SELECT mention_id FROM p
            ORDER BY main_cause DESC, coalesce(rating, 3), len DESC, mention_id LIMIT 5""",
        pargs).fetchall()]


# ---------------------------------------------------------------- storing

def _driver_json(ds: list[Driver]) -> str:
    return json.dumps([{**d.__dict__, "peak_hour": d.peak_hour.isoformat(), "ratio": d.ratio}
                       for d in ds], ensure_ascii=False)


def _drivers(text: str) -> list[Driver]:
    out = []
    for d in json.loads(text or "[]"):
        d = {k: v for k, v in d.items() if k != "ratio"}
        out.append(Driver(**{**d, "peak_hour": datetime.fromisoformat(d["peak_hour"])}))
    return out


def save_incidents(con: duckdb.DuckDBPyConnection, mv: str, found: list[Incident],
                   p: spikes.Params = spikes.DEFAULT) -> int:
    """Upsert each incident and its alert; returns how many were written.

    A stored incident of the same brand that overlaps this one, or ended less than the
    cooldown before it started (or, for a small brand, after ``continues_from``: its silent
    hours since did not close it), is the same incident: its id, start and creation time are
    kept, its numbers replaced, ``updates`` counts the times it grew. Alert status is kept.
    """
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    cool = timedelta(hours=p.cooldown)
    with transaction(con):
        for inc in found:
            prev = con.execute(
                """SELECT incident_id, started_at, confirmed_at, last_hour, anomalous_hours,
                          severity, updates, created_at FROM incidents
                   WHERE brand = ? AND model_version = ? AND last_hour >= ? AND started_at <= ?
                   ORDER BY started_at LIMIT 1""",
                [inc.brand, mv, inc.continues_from or inc.started_at - cool,
                 inc.last_hour]).fetchone()
            updates, created = 0, now
            if prev:
                pid, pstart, pconf, plast, phours, psev, updates, created = prev
                grew = (inc.last_hour > plast or inc.severity > psev
                        or inc.anomalous_hours > phours)
                inc.incident_id = pid
                inc.started_at, inc.confirmed_at = min(pstart, inc.started_at), min(pconf, inc.confirmed_at)
                inc.severity = max(psev, inc.severity)
                inc.anomalous_hours = max(phours, inc.anomalous_hours)
                if inc.last_hour < plast:
                    inc.last_hour = plast
                updates += int(grew)
            explanation = "\n".join(inc.explanation())
            con.execute(
                """INSERT OR REPLACE INTO incidents VALUES
                   (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [inc.incident_id, inc.brand, mv, inc.started_at, inc.confirmed_at, inc.last_hour,
                 inc.peak_hour, inc.evaluated_to, inc.anomalous_hours, inc.root_cause,
                 _driver_json(inc.drivers + inc.contributors),
                 json.dumps(inc.sources, ensure_ascii=False),
                 inc.posts, inc.near_dup_share, inc.new_author_share, inc.coordinated,
                 inc.severity, explanation, updates, created, now])
            con.execute(
                """INSERT INTO alerts (alert_id, rule, brand, root_cause, day, model_version,
                                      observed, expected, ratio, p_value, severity, status,
                                      evidence, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)
                   ON CONFLICT (alert_id) DO UPDATE SET root_cause = excluded.root_cause,
                     day = excluded.day, observed = excluded.observed,
                     expected = excluded.expected, ratio = excluded.ratio,
                     p_value = excluded.p_value, severity = excluded.severity,
                     evidence = excluded.evidence, updated_at = excluded.updated_at""",
                [inc.incident_id, spikes.RULE, inc.brand, inc.root_cause, inc.day, mv,
                 inc.observed, inc.expected, inc.ratio, inc.p_value, inc.severity,
                 json.dumps(inc.evidence), created, now])
    return len(found)


def explanation_lines(con: duckdb.DuckDBPyConnection, alert_id: str,
                      cause_names: dict[str, str] | None = None) -> list[str]:
    """The explanation of an alert's incident with the taxonomy's names (for messages)."""
    row = con.execute(
        """SELECT drivers, sources, posts, near_dup_share, new_author_share, coordinated
           FROM incidents WHERE incident_id = ?""", [alert_id]).fetchone()
    if row is None:
        return []
    moved = _drivers(row[0])
    return explain([d for d in moved if d.anomalous_hours], [d for d in moved if not d.anomalous_hours],
                   json.loads(row[1] or "[]"), row[2], row[3], row[4], row[5], cause_names)

"""Complaint spike detection: a count-aware test against a robust baseline.

For every brand × root cause (``_all`` = every complaint of the brand), the complaints of
the day are compared with the previous ``baseline_days``. The baseline is robust to past
incidents (the larger of the median and a winsorised mean, never below 0.5/day), and the
test is a Poisson upper tail, not a Gaussian band, because daily counts are small.
One alert row per rule, brand, cause and day: re-running detection updates it in place.
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import duckdb

from warehouse.db import transaction

RULE = "complaint_spike_poisson"


@dataclass(frozen=True)
class Spike:
    brand: str
    root_cause: str
    day: date
    observed: int
    expected: float
    ratio: float
    p_value: float
    severity: int
    evidence: list[str]

    @property
    def alert_id(self) -> str:
        key = f"{RULE}|{self.brand}|{self.root_cause}|{self.day.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam), computed stably in log space."""
    if k <= 0:
        return 1.0
    term = math.exp(-lam)
    cdf = 0.0
    for i in range(k):
        cdf += term
        term *= lam / (i + 1)
    return max(0.0, 1.0 - cdf) if cdf < 0.999999 else _tail(k, lam)


def _tail(k: int, lam: float) -> float:
    # Sum the upper tail directly when 1 - cdf would lose every digit.
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total, i = 0.0, k
    while True:
        t = math.exp(log_term)
        if t == 0.0:
            return total
        total += t
        i += 1
        log_term += math.log(lam) - math.log(i)
        if t < total * 1e-12 or i > k + 10_000:
            return total


def robust_baseline(counts: list[int]) -> float:
    """Median or winsorised mean of the daily counts, whichever is larger, floor 0.5."""
    if not counts:
        return 0.5
    cap = sorted(counts)[int(0.9 * (len(counts) - 1))]
    wmean = statistics.fmean(min(c, cap) for c in counts)
    return max(0.5, float(statistics.median(counts)), wmean)


def severity(ratio: float, p_value: float) -> int:
    """1..10 from how unlikely the count is and how far above normal it is."""
    score = 0.5 * -math.log10(max(p_value, 1e-300)) + 1.5 * math.log2(max(ratio, 1.0))
    return int(min(10, max(1, round(score / 2))))


def detect(con: duckdb.DuckDBPyConnection, model_version: str, day: date, *,
           baseline_days: int = 28, min_baseline_days: int = 7, min_count: int = 5,
           min_ratio: float = 3.0, alpha: float = 1e-3) -> list[Spike]:
    """Spikes of complaints on ``day``; a pure read of ``daily_aggregates``."""
    start = day - timedelta(days=baseline_days)
    rows = con.execute(
        """SELECT brand, root_cause, day, complaints FROM daily_aggregates
           WHERE model_version = ? AND day BETWEEN ? AND ?""",
        [model_version, start, day],
    ).fetchall()
    first_day = dict(con.execute(
        "SELECT brand, min(day) FROM daily_aggregates WHERE model_version = ? GROUP BY brand",
        [model_version]).fetchall())
    series: dict[tuple[str, str], dict[date, int]] = {}
    for brand, cause, d, n in rows:
        series.setdefault((brand, cause), {})[d] = n
    spikes = []
    for (brand, cause), by_day in sorted(series.items()):
        observed = by_day.get(day, 0)
        begin = max(start, first_day[brand])
        base = [by_day.get(begin + timedelta(days=i), 0) for i in range((day - begin).days)]
        if observed < min_count or len(base) < min_baseline_days:
            continue
        expected = robust_baseline(base)
        ratio = observed / expected
        p = poisson_sf(observed, expected)
        if ratio >= min_ratio and p < alpha:
            spikes.append(Spike(brand, cause, day, observed, round(expected, 3), round(ratio, 2),
                                p, severity(ratio, p), _evidence(con, model_version, brand, cause, day)))
    return spikes


def _evidence(con: duckdb.DuckDBPyConnection, mv: str, brand: str, cause: str, day: date) -> list[str]:
    return [r[0] for r in con.execute(
        """SELECT m.mention_id FROM mentions m
           JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
           WHERE l.model_version = ? AND m.brand = ? AND l.is_complaint
             AND CAST(m.published_at + INTERVAL 3 HOUR AS DATE) = ?
             AND (? = '_all' OR list_contains(l.root_causes, ?))
           ORDER BY coalesce(m.rating, 3), length(m.text) DESC, m.mention_id LIMIT 5""",
        [mv, brand, day, cause, cause]).fetchall()]


def save(con: duckdb.DuckDBPyConnection, model_version: str, spikes: list[Spike]) -> int:
    """Upsert alerts; an existing alert keeps its status and creation time."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with transaction(con):
        for s in spikes:
            con.execute(
                """INSERT INTO alerts (alert_id, rule, brand, root_cause, day, model_version,
                                      observed, expected, ratio, p_value, severity, status,
                                      evidence, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?)
                   ON CONFLICT (alert_id) DO UPDATE SET observed = excluded.observed,
                     expected = excluded.expected, ratio = excluded.ratio,
                     p_value = excluded.p_value, severity = excluded.severity,
                     evidence = excluded.evidence, updated_at = excluded.updated_at""",
                [s.alert_id, RULE, s.brand, s.root_cause, s.day, model_version, s.observed,
                 s.expected, s.ratio, s.p_value, s.severity, json.dumps(s.evidence), now, now],
            )
    return len(spikes)

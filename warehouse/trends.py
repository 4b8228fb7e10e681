"""Hourly and daily aggregates per brand × source × root cause: the input of spike
detection and the digest.

``hourly_aggregates`` is the pre-aggregation: one pass over mentions × labels, and after
the first run only the (brand, hour) cells whose labels or mentions changed since the
watermark in ``aggregate_watermarks`` are recomputed. ``daily_aggregates`` (and the views
``v_daily_brand``, ``v_root_cause_trend`` on it) is rolled up from the hourly rows of the
changed Moscow days, so an hourly refresh never rescans the whole history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb

from warehouse.db import transaction

# Moscow has been UTC+3 all year since 2014; days are Moscow calendar days.
DAY_MSK = "CAST(m.published_at + INTERVAL 3 HOUR AS DATE)"
HOUR_UTC = "date_trunc('hour', m.published_at)"

_HOURLY = f"""
INSERT INTO hourly_aggregates
WITH lm AS (
    SELECT {HOUR_UTC} AS hour, m.brand, m.source, m.rating, l.sentiment, l.is_complaint,
           l.root_causes
    FROM mentions m
    JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
    WHERE l.model_version = $mv {{only_changed}}
), exploded AS (
    SELECT hour, brand, source, '_all' AS root_cause, rating, sentiment, is_complaint FROM lm
    UNION ALL
    SELECT hour, brand, source, unnest(root_causes) AS root_cause, rating, sentiment,
           is_complaint FROM lm
)
SELECT hour, brand, source, root_cause, $mv, count(*),
       count(*) FILTER (WHERE sentiment = 'negative'),
       count(*) FILTER (WHERE sentiment = 'positive'),
       count(*) FILTER (WHERE is_complaint),
       count(rating), coalesce(sum(rating), 0)
FROM exploded
GROUP BY ALL
"""
_ONLY_CHANGED = f"AND ({HOUR_UTC}, m.brand) IN (SELECT hour, brand FROM _changed_hours)"

_DAILY = """
INSERT INTO daily_aggregates
SELECT CAST(hour + INTERVAL 3 HOUR AS DATE) AS day, brand, root_cause, model_version,
       sum(mentions), sum(negatives), sum(positives), sum(complaints),
       sum(rating_sum) / nullif(sum(rated), 0)
FROM hourly_aggregates
WHERE model_version = $mv {only_changed}
GROUP BY ALL
"""
_DAYS_CHANGED = ("AND (CAST(hour + INTERVAL 3 HOUR AS DATE), brand) IN "
                 "(SELECT DISTINCT CAST(hour + INTERVAL 3 HOUR AS DATE), brand FROM _changed_hours)")


@dataclass(frozen=True)
class RefreshReport:
    model_version: str
    full: bool
    changed_hours: int      # (brand, hour) cells recomputed; every cell on a full refresh
    daily_rows: int         # daily_aggregates rows of this model version after the refresh


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def refresh(con: duckdb.DuckDBPyConnection, model_version: str, *, full: bool = False) -> RefreshReport:
    """Bring the hourly and daily aggregates of one model version up to date.

    Incremental unless ``full`` or no watermark exists yet: cells of (brand, UTC hour) that
    hold a mention labelled, or a mention updated, since the last refresh are deleted and
    recomputed, then their Moscow days are rolled up again. One transaction, safe to repeat.
    """
    mv = {"mv": model_version}
    with transaction(con):
        mark = con.execute(
            "SELECT labels_upto, mentions_upto FROM aggregate_watermarks WHERE model_version = ?",
            [model_version]).fetchone()
        labels_upto, mentions_upto = con.execute(
            """SELECT (SELECT max(labelled_at) FROM labels WHERE model_version = $mv),
                      (SELECT max(updated_at) FROM mentions)""", mv).fetchone()
        full = full or mark is None
        if full:
            con.execute("DELETE FROM hourly_aggregates WHERE model_version = $mv", mv)
            con.execute("DELETE FROM daily_aggregates WHERE model_version = $mv", mv)
            con.execute(_HOURLY.format(only_changed=""), mv)
            con.execute(_DAILY.format(only_changed=""), mv)
            changed = con.execute(
                """SELECT count(*) FROM (SELECT DISTINCT brand, hour FROM hourly_aggregates
                   WHERE model_version = $mv)""", mv).fetchone()[0]
        else:
            changed = _refresh_changed(con, model_version, mark[0], mark[1])
        con.execute(
            """INSERT INTO aggregate_watermarks VALUES (?, ?, ?, ?) ON CONFLICT (model_version)
               DO UPDATE SET labels_upto = excluded.labels_upto,
                 mentions_upto = excluded.mentions_upto, refreshed_at = excluded.refreshed_at""",
            [model_version, labels_upto, mentions_upto, _now()])
        rows = con.execute("SELECT count(*) FROM daily_aggregates WHERE model_version = $mv",
                           mv).fetchone()[0]
    return RefreshReport(model_version, full, changed, rows)


def _refresh_changed(con: duckdb.DuckDBPyConnection, mv: str, labels_upto: datetime | None,
                     mentions_upto: datetime | None) -> int:
    epoch = datetime(1970, 1, 1)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _changed_hours AS
            SELECT DISTINCT {HOUR_UTC} AS hour, m.brand FROM mentions m
            JOIN labels l ON l.mention_id = m.mention_id AND l.model_version = $mv
            WHERE l.labelled_at > $lw OR m.updated_at > $mw""",
        {"mv": mv, "lw": labels_upto or epoch, "mw": mentions_upto or epoch})
    changed = con.execute("SELECT count(*) FROM _changed_hours").fetchone()[0]
    if changed:
        con.execute("""DELETE FROM hourly_aggregates WHERE model_version = $mv
                       AND (hour, brand) IN (SELECT hour, brand FROM _changed_hours)""", {"mv": mv})
        con.execute(_HOURLY.format(only_changed=_ONLY_CHANGED), {"mv": mv})
        con.execute(f"""DELETE FROM daily_aggregates WHERE model_version = $mv
                        AND (day, brand) IN (SELECT DISTINCT CAST(hour + INTERVAL 3 HOUR AS DATE),
                                             brand FROM _changed_hours)""", {"mv": mv})
        con.execute(_DAILY.format(only_changed=_DAYS_CHANGED), {"mv": mv})
    con.execute("DROP TABLE _changed_hours")
    return changed


def refresh_daily(con: duckdb.DuckDBPyConnection, model_version: str, *, full: bool = False) -> int:
    """Refresh hourly and daily aggregates; return the daily rows of the model version.

    Kept under its old name for callers of the daily-only version (the digest, tests).
    """
    return refresh(con, model_version, full=full).daily_rows

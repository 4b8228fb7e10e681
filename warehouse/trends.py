"""Daily aggregates per brand × root cause, the input of spike detection and the digest."""
from __future__ import annotations

import duckdb

from warehouse.db import transaction

# Moscow has been UTC+3 all year since 2014; days are Moscow calendar days.
DAY_MSK = "CAST(m.published_at + INTERVAL 3 HOUR AS DATE)"

_REFRESH = f"""
INSERT INTO daily_aggregates
WITH lm AS (
    SELECT {DAY_MSK} AS day, m.brand, m.rating, l.sentiment, l.is_complaint, l.root_causes
    FROM mentions m
    JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
    WHERE l.model_version = $mv
), exploded AS (
    SELECT day, brand, '_all' AS root_cause, rating, sentiment, is_complaint FROM lm
    UNION ALL
    SELECT day, brand, unnest(root_causes) AS root_cause, rating, sentiment, is_complaint FROM lm
)
SELECT day, brand, root_cause, $mv, count(*),
       count(*) FILTER (WHERE sentiment = 'negative'),
       count(*) FILTER (WHERE sentiment = 'positive'),
       count(*) FILTER (WHERE is_complaint),
       avg(rating)
FROM exploded
GROUP BY ALL
"""


def refresh_daily(con: duckdb.DuckDBPyConnection, model_version: str) -> int:
    """Recompute the aggregates of one model version (delete + insert, one transaction)."""
    with transaction(con):
        con.execute("DELETE FROM daily_aggregates WHERE model_version = ?", [model_version])
        con.execute(_REFRESH, {"mv": model_version})
        return con.execute(
            "SELECT count(*) FROM daily_aggregates WHERE model_version = ?", [model_version]
        ).fetchone()[0]

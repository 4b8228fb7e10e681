"""Benchmark: hourly/daily aggregate refresh and hourly spike detection on N synthetic mentions.

    .venv/bin/python -m bench.bench_aggregate [--rows 10000000] [--brands 50] [--db PATH]

Mentions and labels are generated inside DuckDB (range() + hash), a year of them spread
over the brands, five sources and 14 root causes. Timed, each in this same run:
  * full refresh: hourly_aggregates from mentions × labels, daily rolled up from it;
  * incremental refresh after one more hour of labelled mentions (what the hourly DAG does);
  * detection for the last day (reads ~3 months of hourly rows, scores every series, saves);
and the naive baselines they replace:
  * the plain daily GROUP BY over mentions × labels (the pre-007 refresh, no pre-aggregation);
  * the hourly detector input built straight from mentions × labels instead of hourly rows;
  * a row-by-row Python aggregation of a 1M-row subset (dict of counters).
Figures are printed, not asserted: they depend on the machine.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from warehouse import spikes, trends
from warehouse.migrate import migrate

MV = "bench-mv"
CAUSES = ["staff_attitude", "staff_competence", "waiting_time", "product_quality", "pricing_fees",
          "billing_charges", "digital_ux", "delivery_logistics", "availability_stock",
          "communication", "unresolved", "premises", "marketing_spam", "security_fraud"]
START = "2025-11-21 00:00:00"


def _mentions_sql(lo: int, hi: int, brands: int, seconds: int, offset_s: int = 0) -> str:
    return f"""
    INSERT INTO mentions
    SELECT 'src' || (i % 5) || ':' || i, 'src' || (i % 5), i::VARCHAR, NULL,
           'brand' || lpad((hash(i * 3) % {brands})::VARCHAR, 2, '0'), 'https://example.ru/' || i,
           NULL, 'text ' || i, (hash(i * 5) % 5 + 1)::INTEGER,
           TIMESTAMP '{START}' + to_seconds(({offset_s} + hash(i * 7) % {seconds})::BIGINT),
           TIMESTAMP '{START}', TIMESTAMP '{START}', i::VARCHAR, 'a' || (hash(i * 11) % 2000000),
           '{{}}', 'bench', 'bench'
    FROM range({lo}, {hi}) t(i)"""


_LABELS_SQL = """
    INSERT INTO labels
    SELECT DISTINCT ON (mention_id) mention_id, '{mv}', content_hash,
           CASE WHEN h < 35 THEN 'negative' WHEN h < 60 THEN 'neutral' ELSE 'positive' END,
           0.9, h < 35,
           CASE WHEN h >= 35 THEN []::VARCHAR[]
                WHEN h < 10 THEN [$c[(1 + hash(m_id) % 14)::BIGINT], $c[(1 + hash(m_id + 1) % 14)::BIGINT]]
                ELSE [$c[(1 + hash(m_id) % 14)::BIGINT]] END,
           NULL, NULL, TIMESTAMP '{labelled}'
    FROM (SELECT mention_id, content_hash, hash(external_id::BIGINT * 13) % 100 AS h,
                 external_id::BIGINT AS m_id
          FROM mentions WHERE external_id::BIGINT >= {lo})"""


def _timed(label: str, fn, results: list[tuple[str, float, str]], note: str = ""):
    t = time.perf_counter()
    out = fn()
    results.append((label, time.perf_counter() - t, note))
    print(f"  {label:58s} {results[-1][1]:8.2f} s  {note}", flush=True)
    return out


def _naive_python(con: duckdb.DuckDBPyConnection, rows: int) -> int:
    cur = con.execute(
        f"""SELECT m.published_at, m.brand, m.source, l.sentiment, l.is_complaint, l.root_causes
            FROM mentions m JOIN labels l USING (mention_id) WHERE l.model_version = '{MV}'
            LIMIT {rows}""")
    agg: Counter = Counter()
    while batch := cur.fetchmany(100_000):
        for published, brand, source, sentiment, complaint, causes in batch:
            hour = published.replace(minute=0, second=0, microsecond=0)
            for cause in ["_all", *causes]:
                key = (hour, brand, source, cause)
                agg[key + ("n",)] += 1
                agg[key + ("neg",)] += sentiment == "negative"
                agg[key + ("cmp",)] += bool(complaint)
    return len(agg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--brands", type=int, default=50)
    ap.add_argument("--python-rows", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=None, help="DuckDB file (default: a temp dir)")
    a = ap.parse_args()
    db = a.db or Path(tempfile.mkdtemp(prefix="slukh-bench-")) / "bench.duckdb"
    con = duckdb.connect(str(db))
    migrate(con)
    res: list[tuple[str, float, str]] = []
    year = 365 * 86400
    print(f"{a.rows:,} mentions, {a.brands} brands, 5 sources, 14 causes, one year → {db}")
    _timed("generate mentions (SQL range + hash)",
           lambda: con.execute(_mentions_sql(0, a.rows, a.brands, year)), res)
    _timed("generate labels", lambda: con.execute(
        _LABELS_SQL.format(mv=MV, lo=0, labelled="2026-11-21 00:00:00"), {"c": CAUSES}), res)

    rep = _timed("full refresh: hourly + daily rollup", lambda: trends.refresh(con, MV, full=True), res)
    hourly_rows = con.execute("SELECT count(*) FROM hourly_aggregates").fetchone()[0]
    print(f"  -> {hourly_rows:,} hourly rows, {rep.daily_rows:,} daily rows")

    per_hour = max(1, a.rows // (365 * 24))
    newest = con.execute("SELECT max(published_at) FROM mentions").fetchone()[0]
    offset = int((newest - datetime.fromisoformat(START)).total_seconds()) + 1
    con.execute(_mentions_sql(a.rows, a.rows + per_hour, a.brands, 3600, offset))
    con.execute(_LABELS_SQL.format(mv=MV, lo=a.rows, labelled="2026-11-22 00:00:00"), {"c": CAUSES})
    inc = _timed(f"incremental refresh after one more hour ({per_hour:,} mentions)",
                 lambda: trends.refresh(con, MV), res)
    print(f"  -> {inc.changed_hours} (brand, hour) cells recomputed")

    newest = con.execute("SELECT max(published_at) FROM mentions").fetchone()[0]
    last_day = (newest + timedelta(hours=3)).date()
    found = _timed("detection for the last day (read hourly, score, describe)",
                   lambda: spikes.detect(con, MV, last_day), res)
    _timed("save incidents and alerts", lambda: spikes.save(con, MV, found), res,
           f"{len(found)} incidents")

    print("naive baselines")
    _timed("daily GROUP BY over mentions × labels (no pre-aggregation)", lambda: con.execute(
        f"""CREATE OR REPLACE TEMP TABLE naive_daily AS
            WITH lm AS (SELECT {trends.DAY_MSK} AS day, m.brand, m.rating, l.sentiment,
                               l.is_complaint, l.root_causes
                        FROM mentions m JOIN labels l ON l.mention_id = m.mention_id
                         AND l.content_hash = m.content_hash WHERE l.model_version = '{MV}'),
                 ex AS (SELECT day, brand, '_all' AS rc, rating, sentiment, is_complaint FROM lm
                        UNION ALL SELECT day, brand, unnest(root_causes), rating, sentiment,
                        is_complaint FROM lm)
            SELECT day, brand, rc, count(*), count(*) FILTER (WHERE sentiment = 'negative'),
                   count(*) FILTER (WHERE is_complaint), avg(rating) FROM ex GROUP BY ALL"""), res)
    _timed("detector input from mentions × labels (92 days, no hourly rows)", lambda: con.execute(
        f"""SELECT m.brand, rc, date_trunc('hour', m.published_at) AS h, count(*)
            FROM mentions m JOIN labels l ON l.mention_id = m.mention_id
             AND l.content_hash = m.content_hash,
            unnest(list_prepend('_all', l.root_causes)) AS u(rc)
            WHERE l.model_version = '{MV}' AND m.published_at >= TIMESTAMP '{newest}' - INTERVAL 92 DAY
              AND (rc <> '_all' AND l.is_complaint OR rc = '_all' AND l.sentiment = 'negative')
            GROUP BY ALL""").fetchall(), res)
    n = min(a.python_rows, a.rows)
    keys = _timed(f"row-by-row Python hourly aggregation of {n:,} rows", lambda: _naive_python(con, n), res)
    py = res[-1][1]
    print(f"  -> {keys:,} counters; extrapolated to {a.rows:,} rows: ~{py * a.rows / n:.0f} s")
    con.close()


if __name__ == "__main__":
    main()

"""Hourly aggregates: the daily ones roll up from them, and refreshes are incremental."""
from datetime import datetime

import duckdb

from tests.warehouse.batches import review, write_batch
from tests.warehouse.test_digest import FakeLabel
from warehouse import labels, trends
from warehouse.load import load_staging
from warehouse.migrate import migrate


def _label(con, causes):
    todo = labels.pending(con, "mv1")
    labels.write(con, "mv1", [(r[0], r[1]) for r in todo],
                 [FakeLabel("negative", 0.9, True, causes)] * len(todo))


def test_hourly_rows_roll_up_to_the_daily_ones_and_refresh_only_what_changed(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con)
    rows = [review(0, published=datetime(2026, 11, 19, 20, 30), rating=1),   # 23:30 Moscow, 19th
            review(1, published=datetime(2026, 11, 19, 21, 10), rating=3),   # 00:10 Moscow, 20th
            review(2, published=datetime(2026, 11, 19, 21, 50), rating=None)]
    write_batch(tmp_path / "staging" / "a.parquet", rows)
    load_staging(con, tmp_path / "staging", tmp_path / "runs")
    _label(con, ["waiting_time", "billing_charges"])
    first = trends.refresh(con, "mv1")
    assert first.full and first.changed_hours == 2
    hourly = con.execute("""SELECT hour, root_cause, mentions, complaints, rated, rating_sum
                            FROM hourly_aggregates ORDER BY hour, root_cause""").fetchall()
    assert hourly[:3] == [(datetime(2026, 11, 19, 20), "_all", 1, 1, 1, 1),
                          (datetime(2026, 11, 19, 20), "billing_charges", 1, 1, 1, 1),
                          (datetime(2026, 11, 19, 20), "waiting_time", 1, 1, 1, 1)]
    daily = con.execute("""SELECT day, mentions, avg_rating FROM v_daily_brand ORDER BY day""").fetchall()
    assert daily == [(datetime(2026, 11, 19).date(), 1, 1.0), (datetime(2026, 11, 20).date(), 2, 3.0)]
    assert trends.refresh(con, "mv1").changed_hours == 0      # nothing new: nothing recomputed

    write_batch(tmp_path / "staging" / "b.parquet", [review(3, published=datetime(2026, 11, 19, 21, 5), rating=5)])
    load_staging(con, tmp_path / "staging", tmp_path / "runs")
    _label(con, ["waiting_time"])
    again = trends.refresh(con, "mv1")
    assert not again.full and again.changed_hours == 1
    assert con.execute("SELECT mentions, avg_rating FROM v_daily_brand WHERE day = '2026-11-20'").fetchone() == (3, 4.0)
    incremental = con.execute("SELECT * FROM daily_aggregates ORDER BY ALL").fetchall()
    trends.refresh(con, "mv1", full=True)
    assert con.execute("SELECT * FROM daily_aggregates ORDER BY ALL").fetchall() == incremental
    assert con.execute("SELECT sum(mentions) FROM v_hourly_brand").fetchone()[0] == 4

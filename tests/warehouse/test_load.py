import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.batches import review, write_batch
from warehouse.db import WarehouseLocked, connect
from warehouse.load import FAULT_PAUSE_ENV, load_staging
from warehouse.migrate import migrate


@pytest.fixture
def home(tmp_path):
    (tmp_path / "staging").mkdir()
    (tmp_path / "runs").mkdir()
    return tmp_path


def _db(home):
    con = duckdb.connect(str(home / "w.duckdb"))
    migrate(con)
    return con


def _mentions(con):
    return con.execute("SELECT mention_id, text, rating FROM mentions ORDER BY 1").fetchall()


def test_same_batch_twice_changes_nothing(home):
    rows = [review(i) for i in range(30)]
    write_batch(home / "staging" / "b1.parquet", rows)
    con = _db(home)
    rep = load_staging(con, home / "staging", home / "runs", archive=False)
    assert (rep.batches_loaded, rep.inserted, rep.updated) == (1, 30, 0)
    before = _mentions(con)
    rep2 = load_staging(con, home / "staging", home / "runs", archive=False)
    assert (rep2.batches_loaded, rep2.batches_skipped, rep2.inserted) == (0, 1, 0)
    assert _mentions(con) == before


def test_overlapping_batches_keep_one_row_per_review_and_apply_edits(home):
    write_batch(home / "staging" / "b1.parquet", [review(i) for i in range(10)])
    edited = review(3, text="Обновлено: банк ответил, вопрос решён.", rating=4,
                    collected=review(3)["collected_at"].replace(day=22))
    write_batch(home / "staging" / "b2.parquet", [review(i) for i in range(5, 12)] + [edited, review(7)])
    con = _db(home)
    rep = load_staging(con, home / "staging", home / "runs")
    assert rep.inserted == 12 and rep.updated == 1
    got = dict((m, (t, r)) for m, t, r in _mentions(con))
    assert len(got) == 12
    assert got["banki_ru:1003"] == ("Обновлено: банк ответил, вопрос решён.", 4)
    assert sorted(p.name for p in (home / "staging" / "loaded").iterdir()) == ["b1.parquet", "b2.parquet"]


def test_rows_without_text_are_counted_not_silently_dropped(home):
    bad = review(2)
    bad["text"] = None
    write_batch(home / "staging" / "b1.parquet", [review(1), bad])
    rep = load_staging(_db(home), home / "staging", home / "runs")
    assert rep.inserted == 1 and rep.rejected_rows == 1
    assert any("1 rows" in p for p in rep.problems)


def test_a_file_that_is_not_a_batch_is_quarantined_with_a_reason(home):
    (home / "staging" / "junk.parquet").write_bytes(b"not parquet")
    rep = load_staging(_db(home), home / "staging", home / "runs")
    assert rep.batches_loaded == 0 and "junk.parquet" in rep.problems[0]
    assert (home / "staging" / "rejected" / "junk.parquet.reason.txt").exists()


LOADER = """
import sys, duckdb
from pathlib import Path
from warehouse.load import load_staging
from warehouse.migrate import migrate
home = Path(sys.argv[1])
con = duckdb.connect(str(home / "w.duckdb")); migrate(con)
load_staging(con, home / "staging", home / "runs")
"""


def test_loader_killed_inside_its_transaction_loses_and_doubles_nothing(home):
    write_batch(home / "staging" / "b1.parquet", [review(i) for i in range(50)])
    _db(home).close()
    marker = home / "in-transaction"
    env = {**os.environ, FAULT_PAUSE_ENV: str(marker), "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen([sys.executable, "-c", LOADER, str(home)], env=env)
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), "the loader never reached its commit point"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    con = _db(home)
    assert _mentions(con) == []                       # the killed transaction left nothing
    assert (home / "staging" / "b1.parquet").exists()  # and the batch is still waiting
    load_staging(con, home / "staging", home / "runs")
    load_staging(con, home / "staging", home / "runs")
    assert con.execute("SELECT count(*), count(DISTINCT mention_id) FROM mentions").fetchone() == (50, 50)
    assert con.execute("SELECT count(*) FROM batches").fetchone()[0] == 1


def test_a_locked_warehouse_says_who_holds_it(home):
    path = home / "w.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseLocked, match=rf"locked by process {holder.pid}.*wait"):
            connect(path, wait_s=0.5)
    finally:
        holder.kill()
        holder.wait()


def test_crawl_run_records_are_recorded_once(home):
    import json
    rec = {"run_id": "r1", "source": "banki_ru", "target_id": "banki_ru:zarya", "brand": "zarya",
           "started_at": "2026-11-21T10:00:00", "finished_at": "2026-11-21T10:01:00",
           "status": "blocked", "items": 0, "errors": 0,
           "message": "captcha page («Вы робот?»)", "batch_path": None}
    (home / "runs" / "r1.json").write_text(json.dumps(rec), encoding="utf-8")
    con = _db(home)
    load_staging(con, home / "staging", home / "runs")
    load_staging(con, home / "staging", home / "runs")
    assert con.execute("SELECT run_id, status, message FROM crawl_runs").fetchall() == [
        ("r1", "blocked", "captcha page («Вы робот?»)")]


def test_each_target_cursor_is_its_newest_loaded_review(home):
    from datetime import datetime
    from warehouse.load import cursors
    rows = [review(i) for i in range(5)] + [review(10 + i, brand="polyus") for i in range(3)]
    write_batch(home / "staging" / "b1.parquet", rows)
    con = _db(home)
    load_staging(con, home / "staging", home / "runs")
    assert cursors(con) == {"banki_ru:zarya": datetime(2026, 11, 1, 13),
                            "banki_ru:polyus": datetime(2026, 11, 1, 21)}
    write_batch(home / "staging" / "b0.parquet", [review(0)])   # an older batch never moves it back
    load_staging(con, home / "staging", home / "runs")
    assert cursors(con)["banki_ru:zarya"] == datetime(2026, 11, 1, 13)


def test_a_company_answer_appearing_later_updates_the_row(home):
    import json
    from datetime import datetime
    first = review(1)
    later = {**review(1), "extra": json.dumps({"official_answer": {"text": "Разберёмся!"}}),
             "collected_at": datetime(2026, 11, 22, 12)}
    write_batch(home / "staging" / "b1.parquet", [first])
    write_batch(home / "staging" / "b2.parquet", [later])
    con = _db(home)
    rep = load_staging(con, home / "staging", home / "runs")
    assert (rep.inserted, rep.updated) == (1, 1)
    extra, = con.execute("SELECT extra FROM mentions").fetchone()
    assert json.loads(extra)["official_answer"]["text"] == "Разберёмся!"

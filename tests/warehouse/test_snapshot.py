"""`slukh query` and `slukh export` answer from the read snapshot while a load holds the lock.

The writer here is a real second process (`slukh load`) stopped inside its transaction by
the loader's fault hook, so it holds DuckDB's write lock exactly as a long load does.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from slukh import pipeline
from slukh.config import REPO_ROOT, Settings
from tests.warehouse.batches import review, write_batch
from warehouse.db import WarehouseLocked, connect_reader, publish_snapshot, snapshot_path
from warehouse.load import FAULT_PAUSE_ENV

BRANDS = REPO_ROOT / "slukh" / "demo_brands.yaml"


def _slukh(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "slukh", "--home", str(home), "--brands", str(BRANDS), *args]


def _env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path, brands_file=BRANDS)


def test_snapshot_path_sits_beside_the_warehouse():
    assert snapshot_path("/x/var/slukh.duckdb") == Path("/x/var/slukh.snapshot.duckdb")


def test_a_load_publishes_a_snapshot_with_what_it_committed(settings):
    write_batch(settings.staging / "b1.parquet", [review(i) for i in range(10)])
    pipeline.load(settings)
    snap = snapshot_path(settings.db_path)
    c = duckdb.connect(str(snap), read_only=True)
    assert c.execute("SELECT count(*) FROM mentions").fetchone()[0] == 10
    assert c.execute("SELECT count(*) FROM v_share_of_voice").fetchone()[0] == 0   # views come along
    c.close()
    assert not list(settings.home.glob(".*.tmp"))       # no temporary copy left behind


def test_query_and_export_read_the_snapshot_while_a_load_holds_the_lock(settings, tmp_path):
    write_batch(settings.staging / "b1.parquet", [review(i) for i in range(10)])
    pipeline.load(settings)                              # committed: 10 mentions, snapshot published
    write_batch(settings.staging / "b2.parquet", [review(i) for i in range(10, 25)])
    marker = tmp_path / "in-transaction"
    loader = subprocess.Popen(_slukh(settings.home, "load"), env=_env(**{FAULT_PAUSE_ENV: str(marker)}),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            if marker.exists() or loader.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), f"the loader never reached its commit point: {loader.stderr.read()}"
        # The live file is locked by the loader: even a read-only open fails.
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(settings.db_path), read_only=True)

        started = time.monotonic()
        q = subprocess.run(_slukh(settings.home, "query", "select count(*) AS n from mentions",
                                  "--format", "json"),
                           env=_env(), capture_output=True, text=True, timeout=120)
        assert q.returncode == 0, q.stderr
        assert json.loads(q.stdout) == [{"n": 10}]      # the committed rows, not the open batch
        assert f"process {loader.pid}" in q.stderr
        assert "read snapshot slukh.snapshot.duckdb" in q.stderr and " old (taken " in q.stderr
        assert time.monotonic() - started < 30         # no 10-second wait for the lock

        out = tmp_path / "export"
        e = subprocess.run(_slukh(settings.home, "export", "--out", str(out)), env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert e.returncode == 0, e.stderr
        assert "read snapshot" in e.stderr
        n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/v_mentions/**/*.parquet')").fetchall()[0][0]
        assert n == 10
    finally:
        loader.send_signal(signal.SIGKILL)
        loader.wait(timeout=30)

    con, source = connect_reader(settings.db_path)       # the lock is gone: the live file again
    try:
        assert source.path == settings.db_path and source.note() is None
        assert con.execute("SELECT count(*) FROM mentions").fetchone()[0] == 10
    finally:
        con.close()


def test_without_a_snapshot_a_locked_warehouse_still_names_its_holder(tmp_path):
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)",
         str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseLocked, match=rf"locked by process {holder.pid}"):
            connect_reader(path, wait_s=0.5)
    finally:
        holder.kill()
        holder.wait()


def test_publishing_replaces_the_snapshot_atomically_under_an_open_reader(tmp_path):
    path = tmp_path / "w.duckdb"
    w = duckdb.connect(str(path))
    w.execute("CREATE TABLE t AS SELECT 1 AS x")
    publish_snapshot(w, path)
    reader = duckdb.connect(str(snapshot_path(path)), read_only=True)
    w.execute("INSERT INTO t VALUES (2)")
    assert publish_snapshot(w, path) == snapshot_path(path)
    assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 1   # old copy, still whole
    reader.close()
    fresh = duckdb.connect(str(snapshot_path(path)), read_only=True)
    assert fresh.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    fresh.close()
    w.close()

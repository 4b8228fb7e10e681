"""The scale-out profile, really run: PostgreSQL metadata, CeleryExecutor, Redis broker and
two workers (queues ``crawl`` and ``duckdb``). One collect run on the demo site must put
every crawl on the crawl worker and every DuckDB write on the writer's worker.

Skipped, with the reason, only when PostgreSQL or Redis cannot be started here.
"""
from __future__ import annotations

import pytest

from slukh import airflow_local
from tests.airflow.conftest import COLLECT, Api, free_port, listeners_of_group, read_only, slukh_env

pytestmark = pytest.mark.slow
DATABASE, REDIS_DB = "slukh_airflow_test", 7        # never the real slukh_airflow / db 0


@pytest.fixture(scope="module")
def celery(tmp_path_factory, demo_site):
    from slukh.airflow_local_services import ServiceUnavailable, ensure_database, ensure_services
    try:
        ensure_services()
        ensure_database(DATABASE, drop_first=True)
    except ServiceUnavailable as err:
        pytest.skip(f"Celery profile needs PostgreSQL and Redis on 127.0.0.1: {err}")
    import redis
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    home = tmp_path_factory.mktemp("slukh-home")
    running = airflow_local.start(home, port=free_port(), profile="celery", database=DATABASE,
                                  redis_db=REDIS_DB, env=slukh_env(demo_site.base_url), echo=False)
    api = Api(running.url, running.username, running.password)
    api.trigger(COLLECT, "2026-11-20T06:00:00Z")
    runs = api.wait_all(COLLECT)
    tis = [t for r in runs for t in api.task_instances(COLLECT, r)]
    yield home, running, runs, tis
    airflow_local.stop(home)


def test_the_collect_run_succeeds_on_the_workers(celery):
    home, _, runs, _ = celery
    assert set(runs.values()) == {"success"}, runs
    con = read_only(home / "slukh.duckdb")
    try:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT external_id) FROM mentions").fetchone()
    finally:
        con.close()
    assert n == distinct > 0


def test_crawls_and_loads_ran_on_different_workers(celery):
    _, _, _, tis = celery
    crawl_hosts = {t["hostname"] for t in tis if t["task_id"] == "crawl"}
    load_hosts = {t["hostname"] for t in tis if t["task_id"] == "load"}
    assert len(crawl_hosts) == 1 and next(iter(crawl_hosts)).endswith("-crawl"), crawl_hosts
    assert len(load_hosts) == 1 and next(iter(load_hosts)).endswith("-duckdb"), load_hosts


def test_duckdb_writes_only_on_the_writer_queue(celery):
    _, _, _, tis = celery
    for t in tis:
        writes = t["pool"] == "duckdb_writer"
        assert (t["queue"] == "duckdb") == writes, t
        assert t["hostname"].endswith("-duckdb" if writes else "-crawl"), t


def test_the_worker_logs_name_their_tasks(celery):
    home, _, _, _ = celery
    logs = home / "airflow" / "logs"
    crawl_log = (logs / "worker-crawl.log").read_text(errors="replace")
    duckdb_log = (logs / "worker-duckdb.log").read_text(errors="replace")
    assert "task_id='crawl'" in crawl_log and "task_id='load'" not in crawl_log
    assert "task_id='load'" in duckdb_log and "task_id='crawl'" not in duckdb_log


def test_no_airflow_process_listens_beyond_loopback(celery):
    _, running, _, _ = celery
    port = int(running.url.rsplit(":", 1)[1])
    assert {(a, p) for a, p, _ in listeners_of_group(running.pgid)} == {("127.0.0.1", port)}

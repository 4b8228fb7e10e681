"""`slukh.airflow_local.start()` (SQLite, LocalExecutor): loopback only, login, a crawl killed
mid-run that succeeds on retry without duplicate mentions, and a clean stop.

One Airflow boot for the whole module.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from slukh import airflow_local
from tests.airflow.conftest import COLLECT, Api, free_port, listeners_of_group, read_only, slukh_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local(tmp_path_factory, demo_site):
    home = tmp_path_factory.mktemp("slukh-home")
    brands = home / "zarya.yaml"       # one target, crawled slowly enough to be killed mid-run
    brands.write_text("brands:\n  - id: zarya\n    name: Заря Банк\n    aliases: [Заря]\n"
                      "    targets:\n      banki_ru: [zarya]\n", encoding="utf-8")
    env = slukh_env(demo_site.base_url, brands, SLUKH_CRAWL_FAST="0",
                    SLUKH_CRAWL_SETTINGS=json.dumps({"DOWNLOAD_DELAY": 0.3,
                                                     "AUTOTHROTTLE_ENABLED": False}))
    running = airflow_local.start(home, port=free_port(), env=env, echo=False)
    yield home, running, demo_site
    airflow_local.stop(home)


def test_api_answers_on_127_0_0_1_and_nothing_listens_elsewhere(local):
    _, running, _ = local
    with urllib.request.urlopen(f"{running.url}/api/v2/monitor/health", timeout=10) as resp:
        assert resp.status == 200
    found = listeners_of_group(running.pgid)
    port = int(running.url.rsplit(":", 1)[1])
    assert found and {(a, p) for a, p, _ in found} == {("127.0.0.1", port)}, found


def test_the_printed_admin_login_works_and_a_wrong_one_does_not(local):
    _, running, _ = local
    assert Api(running.url, running.username, running.password).token
    with pytest.raises(urllib.error.HTTPError) as err:
        Api(running.url, running.username, running.password + "x")
    assert err.value.code in (401, 403)


def test_status_reports_every_process_healthy(local):
    home, running, _ = local
    st = airflow_local.status(home)
    assert st["running"] and st["url"] == running.url
    assert set(st["processes"]) == {"api-server", "scheduler", "dag-processor"}
    assert st["health"]["scheduler"]["status"] == "healthy"


def _crawl_children(home: Path) -> list[int]:
    pids = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmd.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"spiders.run" in argv and str(home).encode() in argv:
            pids.append(int(cmd.parent.name))
    return pids


def test_a_crawl_killed_mid_run_succeeds_on_retry_without_duplicates(local):
    home, running, site = local
    killed: list[int] = []

    def kill_first_crawl_once_it_has_pages() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            pids = _crawl_children(home)
            if pids and site.list_requests_served >= 2:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed.extend(pids)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_crawl_once_it_has_pages, daemon=True)
    killer.start()
    api = Api(running.url, running.username, running.password)
    api.trigger(COLLECT, "2026-11-20T06:00:00Z")
    runs = api.wait_all(COLLECT)
    killer.join(timeout=5)
    assert killed, "the crawl finished before it could be killed"
    assert set(runs.values()) == {"success"}, runs
    # unpausing lets the scheduler run the DAG for its latest cron tick: it runs on schedule
    assert any(r.startswith("scheduled__") for r in runs), runs
    crawls = [t for r in runs for t in api.task_instances(COLLECT, r) if t["task_id"] == "crawl"]
    assert {t["state"] for t in crawls} == {"success"}
    assert any(t["try_number"] == 2 for t in crawls), crawls   # the killed try was retried
    expected = {str(r.id) for r in site.reviews if r.bank == "zarya"}
    con = read_only(home / "slukh.duckdb")
    try:
        ids = [r[0] for r in con.execute("SELECT external_id FROM mentions").fetchall()]
        statuses = [r[0] for r in con.execute("SELECT status FROM crawl_runs").fetchall()]
    finally:
        con.close()
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert statuses.count("failed") == 1 and "ok" in statuses   # the killed try is on record


def test_stop_ends_every_airflow_process(local):
    home, running, _ = local
    assert set(airflow_local.stop(home)) == {"api-server", "scheduler", "dag-processor"}
    assert not airflow_local._group_alive(running.pgid)
    assert airflow_local.status(home)["running"] is False
    assert airflow_local.stop(home) == []

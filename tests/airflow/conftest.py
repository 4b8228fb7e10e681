"""Helpers for the Airflow tests: the demo site, `airflow` subprocesses, the REST API.

Airflow boots are slow, so each test module boots at most once (module-scoped fixtures);
waits are bounded, but no test asserts how long anything took.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from slukh.airflow_local import _airflow
from slukh.config import REPO_ROOT

DEMO_BRANDS = REPO_ROOT / "slukh" / "demo_brands.yaml"
COLLECT = "slukh_collect_banki_ru"


@pytest.fixture(scope="module")
def demo_site():
    from slukh.demo_site import DemoSite
    with DemoSite() as site:
        yield site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slukh_env(site_url: str, brands: Path = DEMO_BRANDS, **extra: str) -> dict[str, str]:
    """What the tasks need to crawl the demo site fast and label offline."""
    return {"SLUKH_BRANDS": str(brands), "SLUKH_SITE": site_url, "SLUKH_CRAWL_FAST": "1",
            "SLUKH_HORIZON_DAYS": "0", "SLUKH_RETRY_DELAY_S": "1", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", **extra}


def airflow(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([_airflow(), *args], env=env, capture_output=True, text=True,
                           timeout=timeout, cwd=REPO_ROOT)


class Api:
    """A tiny client of Airflow's REST API (v2), logged in as the printed admin."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.token = self.login(username, password)

    def login(self, username: str, password: str) -> str:
        return self._call("POST", "/auth/token", {"username": username, "password": password},
                          auth=False)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, *, auth: bool = True):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def get(self, path: str):
        return self._call("GET", f"/api/v2{path}")

    def trigger(self, dag_id: str, logical_date: str, timeout: float = 120) -> str:
        """Unpause ``dag_id`` (once the dag-processor has parsed it) and trigger one run."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                break
            except urllib.error.HTTPError as err:
                if err.code != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(2)
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                         {"logical_date": logical_date, "conf": {}})
        return run["dag_run_id"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        from urllib.parse import quote
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id)}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:g}s")

    def wait_all(self, dag_id: str, timeout: float = 900) -> dict[str, str]:
        """Wait for every run of ``dag_id`` to finish (unpausing may add a scheduled run
        for the latest cron tick besides the triggered one); {run_id: state}."""
        deadline = time.monotonic() + timeout
        while True:
            runs = {r["dag_run_id"]: r["state"]
                    for r in self.get(f"/dags/{dag_id}/dagRuns")["dag_runs"]}
            if all(s in ("success", "failed") for s in runs.values()):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} runs not finished after {timeout:g}s: {runs}")
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        from urllib.parse import quote
        return self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")["task_instances"]


def read_only(db: Path):
    import duckdb
    return duckdb.connect(str(db), read_only=True)


def listeners_of_group(pgid: int) -> list[tuple[str, int, str]]:
    """(address, port, process) of every TCP listener owned by a process of group ``pgid``."""
    import re
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        addr, _, port = local.rpartition(":")
        for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid:
                found.append((addr.strip("[]"), int(port), name))
    return found


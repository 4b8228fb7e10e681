"""PostgreSQL and Redis for the Celery profile: start them when down, create the database.

Run as ``python -m slukh.airflow_local_services`` (from ``.ci/run`` or by hand) to make
sure both answer on 127.0.0.1; exit code 0 when they do, 1 with the reason otherwise.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


class ServiceUnavailable(RuntimeError):
    """PostgreSQL or Redis is down and could not be started here; the message says how."""


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait(host: str, port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not _answers(host, port):
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"{what} does not answer on {host}:{port} after {timeout:g}s")
        time.sleep(0.3)


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ServiceUnavailable(f"could not start {what} with {' '.join(cmd)}: {err}") from err
    if done.returncode != 0:
        raise ServiceUnavailable(f"could not start {what} ({' '.join(cmd)} exited "
                                 f"{done.returncode}): {(done.stderr or done.stdout).strip()}")


def ensure_postgres() -> None:
    """Start the machine's PostgreSQL cluster (pg_ctlcluster) if nothing answers on 5432."""
    if _answers(PG_HOST, PG_PORT):
        return
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        raise ServiceUnavailable("PostgreSQL is not running on 127.0.0.1:5432 and "
                                 "pg_ctlcluster is not installed (apt-get install postgresql)")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    _run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], "PostgreSQL")
    _wait(PG_HOST, PG_PORT, "PostgreSQL")


def ensure_redis() -> None:
    """Start a loopback-only, disk-less redis-server if nothing answers on 6379."""
    if _answers(REDIS_HOST, REDIS_PORT):
        return
    if not shutil.which("redis-server"):
        raise ServiceUnavailable("Redis is not running on 127.0.0.1:6379 and redis-server is "
                                 "not installed (apt-get install redis-server)")
    for d in ("/var/lib/redis", "/var/log/redis"):
        os.makedirs(d, exist_ok=True)
    _run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port",
          str(REDIS_PORT), "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
          "--logfile", "/var/log/redis/ci.log"], "Redis")
    _wait(REDIS_HOST, REDIS_PORT, "Redis")


def ensure_database(name: str, *, drop_first: bool = False) -> str:
    """Create the metadata database ``name`` if missing (trust auth, user postgres)."""
    import psycopg2

    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r}: letters, digits and _ only")
    try:
        con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    except psycopg2.OperationalError as err:
        raise ServiceUnavailable(f"cannot connect to PostgreSQL as {PG_USER}@{PG_HOST}: {err}") from err
    con.autocommit = True
    try:
        with con.cursor() as cur:
            if drop_first:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()
    return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def ensure_services() -> None:
    """Both services up, or ServiceUnavailable saying which and why."""
    ensure_postgres()
    ensure_redis()


def main() -> int:
    try:
        ensure_services()
    except ServiceUnavailable as err:
        print(f"slukh: {err}", file=sys.stderr)
        return 1
    print(f"PostgreSQL {PG_HOST}:{PG_PORT} and Redis {REDIS_HOST}:{REDIS_PORT} answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())

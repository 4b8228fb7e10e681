"""A project-local Airflow: start, stop and status, every server on 127.0.0.1 only.

Never ``airflow standalone`` (its log server listens on every interface). Instead:
``airflow db migrate``, the ``duckdb_writer`` pool, then ``api-server --host 127.0.0.1``,
``scheduler --skip-serve-logs`` and ``dag-processor`` (which serves nothing), all in one
process group so that one signal stops them all.

Profiles: ``local`` — SQLite metadata in ``$SLUKH_HOME/airflow`` and the LocalExecutor
(Airflow 3 dropped the SequentialExecutor; the LocalExecutor runs on SQLite). ``celery`` —
PostgreSQL metadata (database ``slukh_airflow``), CeleryExecutor with a Redis broker and two
workers: queue ``crawl`` and queue ``duckdb`` (the only one that writes the warehouse).
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Mapping

from slukh.config import REPO_ROOT, Settings

Profile = Literal["local", "celery"]
ADMIN = "admin"
STATE_FILE = "slukh-airflow.json"
WORKER_QUEUES = ("crawl", "duckdb")


@dataclass
class Running:
    """What start() started; also what ``$AIRFLOW_HOME/slukh-airflow.json`` records."""
    airflow_home: str
    url: str
    profile: str
    pgid: int
    pids: dict[str, int]
    username: str = ADMIN
    password: str = field(default="", repr=False)


def airflow_home(home: str | Path | None = None) -> Path:
    """``$SLUKH_HOME/airflow`` (or ``<home>/airflow``)."""
    return Settings.from_env(home).home / "airflow"


def _secrets(af_home: Path) -> dict[str, str]:
    """JWT/session secrets and the admin password, made once per AIRFLOW_HOME and kept."""
    path = af_home / "slukh-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet  # Airflow's own dependency

    values = {k: secrets.token_urlsafe(32) for k in ("jwt_secret", "secret_key")}
    values |= {"password": secrets.token_urlsafe(12), "fernet_key": Fernet.generate_key().decode()}
    af_home.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(values))
    return values


def parallelism() -> int:
    """Task slots: the cores this process may use, at least 2, at most 4 (Airflow is heavy)."""
    return max(2, min(4, len(os.sched_getaffinity(0))))


def airflow_env(af_home: Path, *, port: int = 8080, profile: Profile = "local",
                database: str = "slukh_airflow", redis_db: int = 0,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow process of this installation runs with.

    ``af_home`` is ``<SLUKH_HOME>/airflow``; ``extra`` adds or overrides variables (tests pass
    SLUKH_BRANDS, SLUKH_SITE, SLUKH_CRAWL_FAST here)."""
    s = _secrets(af_home)
    (af_home / "passwords.json").write_text(json.dumps({ADMIN: s["password"]}))
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    slots = parallelism()
    env.update({
        "AIRFLOW_HOME": str(af_home),
        "SLUKH_HOME": str(af_home.parent),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(slots),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(slots),
        "AIRFLOW__CORE__FERNET_KEY": s["fernet_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(af_home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"{base}/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": s["secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": s["jwt_secret"],
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    })
    if profile == "local":
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{af_home / 'airflow.db'}"
    elif profile == "celery":
        pg = f"postgres@127.0.0.1:5432/{database}"
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{pg}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "crawl",
        })
    else:
        raise ValueError(f"profile must be 'local' or 'celery', not {profile!r}")
    env.update(extra or {})
    return env


def worker_hostname() -> str:
    """``hostname_callable`` of the Celery workers: the host plus the worker's queue, so a
    task instance's ``hostname`` says which worker ran it."""
    return f"{socket.getfqdn()}-{os.environ.get('SLUKH_WORKER', 'worker')}"


def prepare(env: Mapping[str, str]) -> None:
    """Create or upgrade the metadata database and the single-writer pool."""
    for cmd in (["db", "migrate"],
                ["pools", "set", "duckdb_writer", "1", "DuckDB allows one writing process"]):
        done = subprocess.run([_airflow(), *cmd], env=dict(env), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(cmd)} failed:\n{done.stdout[-3000:]}"
                               f"{done.stderr[-3000:]}")


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _commands(profile: Profile, triggerer: bool = False) -> dict[str, list[str]]:
    af = _airflow()
    cmds = {"api-server": [af, "api-server", "--host", "127.0.0.1", "--workers", "1"],
            "scheduler": [af, "scheduler", "--skip-serve-logs"],
            "dag-processor": [af, "dag-processor"]}
    if triggerer:  # only deferrable tasks need it; its log server is on every interface
        cmds["triggerer"] = [af, "triggerer", "--skip-serve-logs", "--capacity", "50"]
    if profile == "celery":
        for q in WORKER_QUEUES:
            cmds[f"worker-{q}"] = [af, "celery", "worker", "--queues", q, "--concurrency", "1",
                                   "--skip-serve-logs", "--celery-hostname", f"{q}@%h",
                                   "--without-mingle", "--without-gossip"]
    return cmds


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child, not yet reaped) is as good as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def _read_state(af_home: Path) -> Running | None:
    path = af_home / STATE_FILE
    if not path.exists():
        return None
    return Running(**json.loads(path.read_text()))


def start(home: str | Path | None = None, *, port: int = 8080, profile: Profile = "local",
          env: Mapping[str, str] | None = None, database: str = "slukh_airflow",
          redis_db: int = 0, triggerer: bool = False, wait: bool = False,
          timeout: float = 240, echo: bool = True) -> Running:
    """Start Airflow for ``home`` (default $SLUKH_HOME) and return once its API answers.

    ``env`` adds variables for every process (e.g. SLUKH_SITE for a mock site);
    ``triggerer`` also starts ``airflow triggerer --skip-serve-logs`` (no DAG defers yet). With
    ``wait=True`` it blocks until Ctrl-C or until a process dies, then stops everything.
    Raises RuntimeError when this home's Airflow already runs or does not come up.
    """
    af_home = airflow_home(home)
    old = _read_state(af_home)
    if old and any(_alive(p) for p in old.pids.values()):
        raise RuntimeError(f"Airflow already runs for {af_home} ({old.url}); "
                           "stop it first (slukh airflow stop)")
    af_home.mkdir(parents=True, exist_ok=True)
    if profile == "celery":
        from slukh.airflow_local_services import ensure_database, ensure_services
        ensure_services()
        ensure_database(database)
    penv = airflow_env(af_home, port=port, profile=profile, database=database,
                       redis_db=redis_db, extra=env)
    prepare(penv)
    logs = af_home / "logs"
    logs.mkdir(exist_ok=True)
    pids: dict[str, int] = {}
    pgid = 0
    for name, cmd in _commands(profile, triggerer).items():
        cenv = dict(penv)
        if name.startswith("worker-"):
            cenv["SLUKH_WORKER"] = name.removeprefix("worker-")
            cenv["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = "slukh.airflow_local.worker_hostname"
        with open(logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(cmd, env=cenv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, process_group=pgid)
        pgid = pgid or proc.pid
        pids[name] = proc.pid
    running = Running(str(af_home), f"http://127.0.0.1:{port}", profile, pgid, pids,
                      ADMIN, _secrets(af_home)["password"])
    (af_home / STATE_FILE).write_text(json.dumps(asdict(running)))
    try:
        _wait_healthy(running, timeout)
    except BaseException:
        stop(home)
        raise
    if echo:
        print(f"Airflow ({profile}) at {running.url}  login: {ADMIN} / {running.password}\n"
              f"logs: {logs}   stop: slukh airflow stop  (or Ctrl-C)", flush=True)
    if wait:
        def interrupt(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt(signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT: even if ignored
            signal.signal(sig, interrupt)
        try:
            while all(_alive(p) for p in pids.values()):
                time.sleep(1)
            dead = [n for n, p in pids.items() if not _alive(p)]
            print(f"Airflow {', '.join(dead)} exited; see {logs}; stopping the rest", flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            stop(home)
    return running


def _health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as resp:
        return json.loads(resp.read())


def _wait_healthy(running: Running, timeout: float) -> None:
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        dead = [n for n, p in running.pids.items() if not _alive(p)]
        if dead:
            raise RuntimeError(f"Airflow {', '.join(dead)} exited at start; see "
                               f"{running.airflow_home}/logs/{dead[0]}.log")
        try:
            h = _health(running.url)
            last = json.dumps(h)
            want = ["metadatabase", "scheduler", "dag_processor"]
            want += ["triggerer"] if "triggerer" in running.pids else []
            if all((h.get(k) or {}).get("status") == "healthy" for k in want):
                return
        except OSError as err:
            last = str(err)
        time.sleep(1)
    raise RuntimeError(f"Airflow did not become healthy in {timeout:g}s: {last}")


def stop(home: str | Path | None = None, *, timeout: float = 30) -> list[str]:
    """Stop this home's Airflow: SIGTERM to its process group, SIGKILL after ``timeout``.

    Returns the names of the processes that were running; [] when none was.
    """
    af_home = airflow_home(home)
    state = _read_state(af_home)
    if state is None:
        return []
    was = [n for n, p in state.pids.items() if _alive(p)]
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(state.pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(state.pgid):
            time.sleep(0.3)
        if not _group_alive(state.pgid):
            break
    (af_home / STATE_FILE).unlink(missing_ok=True)
    return was


def _group_alive(pgid: int) -> bool:
    """Any live process (not a zombie) still in the group?"""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def status(home: str | Path | None = None) -> dict:
    """{'running', 'url', 'profile', 'processes': {name: alive}, 'health': API's answer}."""
    state = _read_state(airflow_home(home))
    if state is None:
        return {"running": False, "url": None, "profile": None, "processes": {}, "health": None}
    procs = {n: _alive(p) for n, p in state.pids.items()}
    try:
        health: dict | None = _health(state.url)
    except OSError:
        health = None
    return {"running": all(procs.values()), "url": state.url, "profile": state.profile,
            "processes": procs, "health": health}

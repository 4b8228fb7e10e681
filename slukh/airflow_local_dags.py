"""What every Slukh DAG shares: assets, queues, default args, the failure report, run days.

The DAG files in ``dags/`` stay wiring only; the few decisions they have in common live
here so that a retry policy or a queue name is changed in one place. Nothing here imports
Airflow at module level except the Asset definitions, so the DAG files parse fast.
"""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

MOSCOW = ZoneInfo("Europe/Moscow")
MENTIONS = Asset("slukh://warehouse/mentions")
LABELS = Asset("slukh://warehouse/labels")
WRITER_POOL = "duckdb_writer"
# Celery queues. Only the worker on DUCKDB may open the warehouse for writing; with the
# LocalExecutor queues are ignored and the pool alone serialises the writers.
CRAWL_QUEUE = "crawl"
DUCKDB_QUEUE = "duckdb"
# How often each source is collected (cron, UTC); sources not listed: DEFAULT_COLLECT.
SOURCE_SCHEDULES = {"banki_ru": "0 */6 * * *"}
DEFAULT_COLLECT = "0 5 * * *"
WRITER = {"pool": WRITER_POOL, "queue": DUCKDB_QUEUE}


def collect_schedules() -> dict[str, str]:
    """{source: cron} for every source in SOURCE_SCHEDULES or with a target in brands.yaml.

    Read at DAG-parse time, so it reads the YAML plainly (no spider imports); a brands
    file that cannot be read leaves the listed sources (the load task reports the error).
    """
    import yaml

    from slukh.config import Settings

    sources = set(SOURCE_SCHEDULES)
    try:
        doc = yaml.safe_load(Settings.from_env().brands_file.read_text(encoding="utf-8"))
        for brand in (doc or {}).get("brands") or []:
            sources |= set((brand or {}).get("targets") or {})
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        pass
    return {src: SOURCE_SCHEDULES.get(src, DEFAULT_COLLECT) for src in sorted(sources)}


def retry_delay() -> timedelta:
    """First retry delay; SLUKH_RETRY_DELAY_S shortens it for tests (default two minutes)."""
    return timedelta(seconds=float(os.environ.get("SLUKH_RETRY_DELAY_S", "120")))


def report_failure(context: Any) -> None:
    """on_failure_callback: one JSON line per failed task in $SLUKH_HOME/outbox/failures.jsonl.

    The outbox file stands in for the alert channel (Telegram / e-mail come later); the
    line carries what the on-call person needs to find the log. Never raises: a broken
    report must not hide the task's own failure.
    """
    try:
        from slukh.config import Settings

        ti = context.get("ti") or context.get("task_instance")
        run = context.get("dag_run")
        exc = context.get("exception")
        line = {
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # data, not a key
            "dag_id": getattr(ti, "dag_id", None),
            "task_id": getattr(ti, "task_id", None),
            "map_index": getattr(ti, "map_index", None),
            "run_id": getattr(ti, "run_id", None) or getattr(run, "run_id", None),
            "try_number": getattr(ti, "try_number", None),
            "hostname": getattr(ti, "hostname", None),
            "error": f"{type(exc).__name__}: {exc}" if exc else None,
            "log_url": getattr(ti, "log_url", None),
        }
        outbox = Settings.from_env().outbox
        outbox.mkdir(parents=True, exist_ok=True)
        with open(outbox / "failures.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    except Exception as err:  # noqa: BLE001 - report, never mask the task's failure
        print(f"slukh: could not write the failure report: {type(err).__name__}: {err}")


def default_args(**extra: Any) -> dict[str, Any]:
    """Retries with exponential backoff (capped) and the failure report, for every task."""
    return {"retries": 2, "retry_delay": retry_delay(), "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=30), "on_failure_callback": report_failure,
            "queue": CRAWL_QUEUE, **extra}


def run_day(context: Any, *, days_back: int = 0) -> date:
    """The Moscow calendar day a run is about, from its logical date (or, for runs that
    have none, such as asset-triggered ones, the time it was due) — never from now()."""
    run = context["dag_run"]
    when = context.get("logical_date") or getattr(run, "logical_date", None) or run.run_after
    return (when.astimezone(MOSCOW) - timedelta(days=days_back)).date()


def crawl_options() -> dict[str, Any]:
    """Where and how crawls go, from the environment of the worker.

    SLUKH_SITE: base URL of a mock or demo site instead of the real one; SLUKH_CRAWL_FAST=1:
    no politeness delay (local sites only); SLUKH_CRAWL_SETTINGS: JSON of Scrapy overrides;
    SLUKH_HORIZON_DAYS: how far back a target never crawled goes (0 = no limit).
    """
    settings: dict[str, Any] = {}
    if os.environ.get("SLUKH_CRAWL_FAST") == "1":
        settings |= {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01,
                     "AUTOTHROTTLE_MAX_DELAY": 1}
    settings |= json.loads(os.environ.get("SLUKH_CRAWL_SETTINGS") or "{}")
    horizon = os.environ.get("SLUKH_HORIZON_DAYS")
    return {"site": os.environ.get("SLUKH_SITE") or None, "crawl_settings": settings or None,
            "horizon_days": int(horizon) if horizon else None}


def crawl_target(source: str, code: str) -> dict[str, Any]:
    """One target's crawl (a subprocess via spiders.run.run_crawl, with its cursor).

    A ``failed`` record raises, so Airflow retries the crawl; the failed attempt's record
    and any complete batch stay for the loader, which deduplicates on the mention key.
    A ``blocked`` crawl does not raise: retrying into a captcha makes it worse; its
    record reaches ``crawl_runs`` and the digest.
    """
    from slukh import pipeline
    from slukh.config import Settings

    records = pipeline.crawl(Settings.from_env(), source=source, target=code, **crawl_options())
    failed = [r for r in records if r["status"] == "failed"]
    if failed:
        raise CrawlFailed("; ".join(f"{r['target_id']}: {r['message']}" for r in failed))
    return {"source": source, "code": code, "runs": [r["run_id"] for r in records],
            "items": sum(r["items"] for r in records)}


class CrawlFailed(RuntimeError):
    """The crawl subprocess ended without a usable run; Airflow retries it."""



class ModelVersionMismatch(AirflowFailException):
    """A backfill asked for a label version the chosen model does not produce.

    An AirflowFailException: the task fails at once, since retrying cannot help."""


def backfill_labels(model_version: str | None, model: str | None = None,
                    relabel: bool = False) -> str:
    """Label with ``model`` (default: SLUKH_ENCODER / the shipped model): new mentions, or
    every mention with ``relabel`` (other versions' labels stay queryable)."""
    from nlp.labeller import Labeller
    from slukh import pipeline
    from slukh.config import Settings

    settings = Settings.from_env()
    labeller = Labeller(model or settings.encoder)
    if model_version and model_version != labeller.model_version:
        raise ModelVersionMismatch(
            f"model {model or settings.encoder!r} labels as {labeller.model_version!r}, not "
            f"{model_version!r}: set params.model to the model (path or hub id) that produces "
            "that version, or leave model_version empty")
    return pipeline.classify(settings, relabel=relabel, labeller=labeller).model_version


def day_range(start: str | None, end: str | None, default: date) -> list[str]:
    """ISO days from start to end inclusive (at most a year); both default to ``default``."""
    first = date.fromisoformat(start) if start else default
    last = date.fromisoformat(end) if end else first
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    if (last - first).days > 366:
        raise ValueError(f"{first}..{last} is more than a year: split the backfill")
    return [str(first + timedelta(days=i)) for i in range((last - first).days + 1)]

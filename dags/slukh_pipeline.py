"""Daily Slukh pipeline: crawl every target → load → classify → trends → alerts → digest.

Wiring only: each task is a lazy import and one call into `slukh.pipeline`. Crawls run as
subprocesses (mapped over brands.yaml targets); every DuckDB writer takes the pool
`duckdb_writer` (size 1) because DuckDB allows one writing process.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

MENTIONS = Asset("slukh://warehouse/mentions")
DEFAULTS = {"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True}


@dag(schedule="0 6 * * *", start_date=datetime(2026, 11, 1), catchup=False,
     default_args=DEFAULTS, tags=["slukh", "collect"], max_active_runs=1)
def slukh_pipeline():
    @task
    def list_targets() -> list[dict]:
        from slukh.config import Settings
        from slukh.pipeline import targets
        return [{"source": s, "code": c, "brand": b} for s, c, b in targets(Settings.from_env())]

    @task(max_active_tis_per_dag=2)
    def crawl(target: dict) -> dict:
        from slukh.config import Settings
        from spiders.run import run_crawl
        return run_crawl(target["source"], target["code"], target["brand"], Settings.from_env().home)

    @task(pool="duckdb_writer", outlets=[MENTIONS], trigger_rule="all_done")
    def load(runs: list[dict]) -> int:
        from slukh.config import Settings
        from slukh.pipeline import load as load_staging
        return load_staging(Settings.from_env()).inserted

    @task(pool="duckdb_writer")
    def classify(_: int) -> str:
        from slukh.config import Settings
        from slukh.pipeline import classify as run_classify
        return run_classify(Settings.from_env()).model_version

    @task(pool="duckdb_writer")
    def trends(model_version: str) -> str:
        from slukh.config import Settings
        from slukh.pipeline import refresh_trends
        return refresh_trends(Settings.from_env(), model_version)[0]

    @task(pool="duckdb_writer")
    def alerts(model_version: str, ds: str | None = None) -> int:
        from datetime import date
        from slukh.config import Settings
        from slukh.pipeline import detect_alerts
        return len(detect_alerts(Settings.from_env(), date.fromisoformat(ds) if ds else None, model_version)[1])

    @task(pool="duckdb_writer")
    def digest(model_version: str, _: int, ds: str | None = None) -> str:
        from datetime import date
        from slukh.config import Settings
        from slukh.pipeline import digest as write
        return str(write(Settings.from_env(), date.fromisoformat(ds) if ds else None, model_version).html)

    mv = trends(classify(load(crawl.expand(target=list_targets()))))
    digest(mv, alerts(mv))


slukh_pipeline()

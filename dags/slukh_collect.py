"""Collect: one DAG per source (those with targets in brands.yaml), on its own schedule.

list targets (brands.yaml) → crawl each target in its own subprocess (mapped, queue
``crawl``) → load every staged batch into DuckDB (pool ``duckdb_writer``, queue ``duckdb``),
which updates the MENTIONS asset and so triggers ``slukh_classify``.
"""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from slukh.airflow_local_dags import MENTIONS, WRITER, collect_schedules, default_args


def collect_dag(source: str, schedule: str):
    @dag(dag_id=f"slukh_collect_{source}", schedule=schedule, start_date=datetime(2026, 11, 1),
         catchup=False, max_active_runs=1, default_args=default_args(),
         tags=["slukh", "collect", source], doc_md=__doc__)
    def collect():
        @task
        def list_targets() -> list[str]:
            from slukh.config import Settings
            from slukh.pipeline import targets
            return sorted({code for _, code, _ in targets(Settings.from_env(), source=source)})

        @task(max_active_tis_per_dag=2)
        def crawl(code: str) -> dict:
            from slukh.airflow_local_dags import crawl_target
            return crawl_target(source, code)

        # all_done: load what the other targets staged even when one crawl gave up.
        @task(**WRITER, outlets=[MENTIONS], trigger_rule="all_done")
        def load(crawled: list[dict]) -> dict:
            from slukh.config import Settings
            from slukh.pipeline import load as load_staging
            rep = load_staging(Settings.from_env())
            return {"batches": rep.batches_loaded, "inserted": rep.inserted, "updated": rep.updated}

        load(crawl.expand(code=list_targets()))

    return collect()


for _source, _schedule in collect_schedules().items():
    collect_dag(_source, _schedule)

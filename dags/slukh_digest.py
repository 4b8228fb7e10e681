"""Digest: every day at 09:00 Moscow time, yesterday's (Moscow) digest into the outbox."""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronTriggerTimetable, dag, task

from slukh.airflow_local_dags import WRITER, default_args


@dag(schedule=CronTriggerTimetable("0 9 * * *", timezone="Europe/Moscow"),
     start_date=datetime(2026, 11, 1), catchup=False, max_active_runs=1,
     default_args=default_args(), tags=["slukh", "digest"], doc_md=__doc__)
def slukh_digest():
    @task(**WRITER)
    def digest(**context) -> str:
        from slukh.airflow_local_dags import run_day
        from slukh.config import Settings
        from slukh.pipeline import digest as write
        return str(write(Settings.from_env(), run_day(context, days_back=1)).html)

    digest()


slukh_digest()

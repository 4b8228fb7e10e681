"""Trends and spikes: every hour, and as soon as classification updated the labels.

refresh the hourly (incrementally) and daily aggregates → replay the hourly spike detector
over the run's Moscow day, recording each incident once in ``incidents`` and ``alerts``
(updated as it grows) → deliver new alerts to the departments owning their root causes
(routing.yaml; SMTP / Telegram / webhooks from the environment, plus the outbox folder).
A delivery that fails is recorded in ``deliveries`` and retried by the next run; one that
succeeded is never repeated.
"""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from slukh.airflow_local_dags import LABELS, WRITER, default_args


@dag(schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"),
                                  assets=[LABELS]),
     start_date=datetime(2026, 11, 1), catchup=False, max_active_runs=1,
     default_args=default_args(), tags=["slukh", "trends", "alerts"], doc_md=__doc__)
def slukh_trends():
    @task(**WRITER)
    def trends() -> str:
        from slukh.config import Settings
        from slukh.pipeline import refresh_trends
        return refresh_trends(Settings.from_env())[0]

    @task(**WRITER)
    def alerts(model_version: str, **context) -> list[dict]:
        from slukh.airflow_local_dags import run_day
        from slukh.config import Settings
        from slukh.pipeline import detect_alerts
        day, found = detect_alerts(Settings.from_env(), run_day(context), model_version)
        return [{"day": str(day), "brand": s.brand, "root_cause": s.root_cause,
                 "observed": s.observed, "severity": s.severity} for s in found]

    @task(**WRITER)
    def send(_: list[dict]) -> dict:
        from slukh.config import Settings
        from slukh.pipeline import send_alerts
        rep = send_alerts(Settings.from_env())
        return {"sent": len(rep.sent), "failed": [f"{i} via {c}: {e}" for i, c, _, e in rep.failed]}

    send(alerts(trends()))


slukh_trends()

"""Backfill (manual): label whatever is unlabelled — or, with ``relabel``, every mention —
refresh trends, re-detect spikes over a date range. Trigger it with params; nothing runs on
a schedule.

``model`` picks the model to label with (empty = SLUKH_ENCODER, the shipped model; or a
path / hub id of a sequence-classification model). ``model_version``, when set, is the
label version the run must produce: a mismatch stops before writing. A relabel run makes
its version the active one; labels of other versions stay queryable (``v_label_diff``).
"""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from slukh.airflow_local_dags import WRITER, default_args

NULL_OR_DATE = {"type": ["null", "string"], "format": "date"}


@dag(schedule=None, start_date=datetime(2026, 11, 1), catchup=False, max_active_runs=1,
     default_args=default_args(retries=1), tags=["slukh", "backfill", "manual"], doc_md=__doc__,
     params={
         "model": Param("", type="string", description="model to label with (path or hub "
                        "id); empty = SLUKH_ENCODER / the shipped model"),
         "relabel": Param(False, type="boolean", description="label every mention again "
                          "(not only new ones) and make this version the active one"),
         "model_version": Param("", type="string", description="label version the run must "
                                "produce; empty = whatever the model produces"),
         "start": Param(None, **NULL_OR_DATE, description="first day (Moscow) to re-detect "
                        "spikes for; empty = the run's day"),
         "end": Param(None, **NULL_OR_DATE, description="last day; empty = start"),
     })
def slukh_backfill():
    @task(**WRITER)
    def label(params: dict | None = None) -> str:
        from slukh.airflow_local_dags import backfill_labels
        p = params or {}
        return backfill_labels(p.get("model_version") or None, p.get("model") or None,
                               bool(p.get("relabel")))

    @task(**WRITER)
    def trends(model_version: str) -> str:
        from slukh.config import Settings
        from slukh.pipeline import refresh_trends
        return refresh_trends(Settings.from_env(), model_version)[0]

    @task
    def days(params: dict | None = None, **context) -> list[str]:
        from slukh.airflow_local_dags import day_range, run_day
        return day_range((params or {}).get("start"), (params or {}).get("end"), run_day(context))

    @task(**WRITER, max_active_tis_per_dag=1)
    def alerts(day: str, model_version: str) -> int:
        from datetime import date
        from slukh.config import Settings
        from slukh.pipeline import detect_alerts
        return len(detect_alerts(Settings.from_env(), date.fromisoformat(day), model_version)[1])

    mv = trends(label())
    alerts.partial(model_version=mv).expand(day=days())


slukh_backfill()

"""Classify: whenever new mentions land (MENTIONS asset), label the ones not labelled yet.

Only mentions without a label for the current model version are read (the labeller's
``pending``); the run updates the LABELS asset, which wakes ``slukh_trends``.
"""
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from slukh.airflow_local_dags import LABELS, MENTIONS, WRITER, default_args


@dag(schedule=[MENTIONS], start_date=datetime(2026, 11, 1), catchup=False, max_active_runs=1,
     default_args=default_args(), tags=["slukh", "classify"], doc_md=__doc__)
def slukh_classify():
    @task(**WRITER, outlets=[LABELS])
    def classify() -> dict:
        from slukh.config import Settings
        from slukh.pipeline import classify as run_classify
        rep = run_classify(Settings.from_env())
        return {"model_version": rep.model_version, "labelled": rep.labelled}

    classify()


slukh_classify()

"""Every DAG imports without errors and carries tags, retries, a queue and the writer pool.

DuckDB allows one writing process: every task on the ``duckdb`` queue (the Celery worker
that may write) must also take the ``duckdb_writer`` pool (size 1), and no other task may.
"""
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
WRITERS = {"slukh_classify": {"classify"}, "slukh_trends": {"trends", "alerts", "send"},
           "slukh_digest": {"digest"}, "slukh_backfill": {"label", "trends", "alerts"}}


def _writers() -> dict[str, set[str]]:
    """Task ids that write DuckDB, per DAG; one collect DAG per source in brands.yaml."""
    from slukh.airflow_local_dags import collect_schedules
    return {**WRITERS, **{f"slukh_collect_{s}": {"load"} for s in collect_schedules()}}


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    import os
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag
    return DagBag(dag_folder=str(DAGS), safe_mode=False)


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(_writers())
    assert "slukh_collect_banki_ru" in dagbag.dag_ids


def test_every_task_retries_reports_failures_and_every_dag_is_tagged(dagbag):
    from slukh.airflow_local_dags import report_failure
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag.dag_id}.{t.task_id} has no retries"
            assert t.retry_exponential_backoff, f"{dag.dag_id}.{t.task_id}: no backoff"
            cbs = t.on_failure_callback
            assert report_failure in (cbs if isinstance(cbs, list) else [cbs]), f"{dag.dag_id}.{t.task_id}"


def test_duckdb_writers_take_the_writer_pool_and_queue(dagbag):
    for dag_id, writers in _writers().items():
        dag = dagbag.dags[dag_id]
        assert {t.task_id for t in dag.tasks if t.pool == "duckdb_writer"} == writers, dag_id
        for t in dag.tasks:
            want = "duckdb" if t.task_id in writers else "crawl"
            assert t.queue == want, f"{dag_id}.{t.task_id} is on queue {t.queue!r}"
    assert dagbag.dags["slukh_collect_banki_ru"].get_task("crawl").pool != "duckdb_writer"


def test_schedules_chain_through_assets(dagbag):
    from slukh.airflow_local_dags import LABELS, MENTIONS
    load = dagbag.dags["slukh_collect_banki_ru"].get_task("load")
    assert MENTIONS in load.outlets
    assert LABELS in dagbag.dags["slukh_classify"].get_task("classify").outlets
    assert dagbag.dags["slukh_backfill"].timetable.can_be_scheduled is False
    from airflow.sdk import CronTriggerTimetable
    assert dagbag.dags["slukh_digest"].timetable == \
        CronTriggerTimetable("0 9 * * *", timezone="Europe/Moscow")


def test_day_range_and_run_day_use_the_logical_date_in_moscow():
    from datetime import date, datetime, timezone
    from types import SimpleNamespace
    from slukh.airflow_local_dags import day_range, run_day
    assert day_range("2026-11-18", "2026-11-20", date(2000, 1, 1)) == \
        ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert day_range(None, None, date(2026, 11, 20)) == ["2026-11-20"]
    with pytest.raises(ValueError, match="before start"):
        day_range("2026-11-20", "2026-11-19", date(2026, 11, 20))
    late = datetime(2026, 11, 20, 22, 30, tzinfo=timezone.utc)        # 01:30 on the 21st in Moscow
    ctx = {"logical_date": late, "dag_run": SimpleNamespace(run_after=late)}
    assert run_day(ctx) == date(2026, 11, 21)
    assert run_day({"logical_date": None, "dag_run": SimpleNamespace(run_after=late)},
                   days_back=1) == date(2026, 11, 20)


def test_failure_report_appends_one_json_line(tmp_path, monkeypatch):
    import json
    from types import SimpleNamespace
    from slukh.airflow_local_dags import report_failure
    monkeypatch.setenv("SLUKH_HOME", str(tmp_path))
    ti = SimpleNamespace(dag_id="d", task_id="t", map_index=-1, run_id="r", try_number=1,
                         hostname="h", log_url="http://127.0.0.1/log")
    report_failure({"ti": ti, "exception": RuntimeError("boom")})
    report_failure({"ti": ti, "exception": None})
    lines = (tmp_path / "outbox" / "failures.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["error"] == "RuntimeError: boom"


def test_every_source_with_targets_gets_a_collect_dag(tmp_path, monkeypatch):
    from slukh.airflow_local_dags import DEFAULT_COLLECT, SOURCE_SCHEDULES, collect_schedules
    brands = tmp_path / "brands.yaml"
    brands.write_text("brands:\n  - id: x\n    name: X\n    targets:\n      vk: [club1]\n"
                      "      banki_ru: [x]\n", encoding="utf-8")
    monkeypatch.setenv("SLUKH_BRANDS", str(brands))
    assert collect_schedules() == {"banki_ru": SOURCE_SCHEDULES["banki_ru"], "vk": DEFAULT_COLLECT}
    monkeypatch.setenv("SLUKH_BRANDS", str(tmp_path / "missing.yaml"))
    assert collect_schedules() == SOURCE_SCHEDULES

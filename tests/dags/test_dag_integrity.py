"""Every DAG imports without errors, and carries tags, retries and the writer pool."""
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    import os
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag
    return DagBag(dag_folder=str(DAGS), safe_mode=False)


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "slukh_pipeline" in dagbag.dag_ids


def test_every_task_retries_and_every_dag_is_tagged(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag.dag_id}.{t.task_id} has no retries"


def test_duckdb_writers_share_the_single_writer_pool(dagbag):
    dag = dagbag.dags["slukh_pipeline"]
    writers = {"load", "classify", "trends", "alerts", "digest"}
    assert {t.task_id for t in dag.tasks if t.pool == "duckdb_writer"} == writers
    assert dag.get_task("crawl").pool != "duckdb_writer"

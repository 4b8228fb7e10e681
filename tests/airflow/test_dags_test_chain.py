"""The whole chain through `airflow dags test` (SQLite, AIRFLOW_HOME in tmp) on the demo site.

collect (3 mapped crawls + load) → classify → trends/alerts → digest, each DAG run by
`airflow dags test` with a fixed logical date, then the warehouse is checked: every demo
review is one labelled mention and the planted zarya / waiting_time spike is an alert.
"""
from __future__ import annotations

import json

import pytest

from slukh.airflow_local import airflow_env, prepare
from slukh.demo_site import generate_reviews
from tests.airflow.conftest import COLLECT, airflow, read_only, slukh_env

pytestmark = pytest.mark.slow
RUNS = [  # (dag, logical date, conf); the day each run is about is its Moscow date
    (COLLECT, "2026-11-20T06:00:00+00:00", None),
    ("slukh_classify", "2026-11-20T06:05:00+00:00", None),
    ("slukh_trends", "2026-11-20T20:00:00+00:00", None),          # 23:00 MSK on the 20th
    ("slukh_digest", "2026-11-21T06:00:00+00:00", None),          # 09:00 MSK: the 20th's digest
    ("slukh_backfill", "2026-11-20T12:00:00+00:00", {"start": "2026-11-18", "end": "2026-11-20"}),
]


@pytest.fixture(scope="module")
def chain(tmp_path_factory, demo_site):
    home = tmp_path_factory.mktemp("slukh-home")
    env = airflow_env(home / "airflow", extra=slukh_env(demo_site.base_url))
    prepare(env)
    outputs = {}
    for dag_id, when, conf in RUNS:
        args = ["dags", "test", dag_id, when] + (["-c", json.dumps(conf)] if conf else [])
        done = airflow(env, *args)
        assert done.returncode == 0, f"{dag_id}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        outputs[dag_id] = done.stdout + done.stderr
    return home, env, outputs


def test_every_demo_review_is_one_labelled_mention(chain):
    home, _, _ = chain
    con = read_only(home / "slukh.duckdb")
    try:
        ids = [r[0] for r in con.execute("SELECT external_id FROM mentions").fetchall()]
        unlabelled = con.execute("""SELECT count(*) FROM mentions m WHERE NOT EXISTS
                  (SELECT 1 FROM labels l WHERE l.mention_id = m.mention_id)""").fetchone()[0]
        runs = con.execute("SELECT status, count(*) FROM crawl_runs GROUP BY 1").fetchall()
    finally:
        con.close()
    assert sorted(ids) == sorted(str(r.id) for r in generate_reviews())
    assert unlabelled == 0
    assert runs == [("ok", 3)]


def test_the_planted_spike_is_an_alert_for_the_runs_day(chain):
    home, _, _ = chain
    con = read_only(home / "slukh.duckdb")
    try:
        alerts = {(b, c, str(d)) for b, c, d in
                  con.execute("SELECT brand, root_cause, day FROM v_alerts").fetchall()}
    finally:
        con.close()
    assert ("zarya", "waiting_time", "2026-11-20") in alerts
    assert {b for b, _, _ in alerts} == {"zarya"}


def test_the_0900_digest_is_the_previous_moscow_day(chain):
    home, _, _ = chain
    text = (home / "outbox" / "digest-2026-11-20.txt").read_text(encoding="utf-8")
    assert "Заря Банк" in text
    assert (home / "outbox" / "digest-2026-11-20.html").exists()


def test_backfill_redetects_every_day_of_its_range(chain):
    _, _, outputs = chain
    assert "['2026-11-18', '2026-11-19', '2026-11-20']" in outputs["slukh_backfill"]


def test_a_version_the_model_does_not_produce_stops_with_a_message_and_reports_once(chain):
    home, env, _ = chain
    done = airflow(env, "dags", "test", "slukh_backfill", "2026-11-21T12:00:00+00:00",
                   "-c", json.dumps({"model_version": "e5-large-v9"}))
    assert done.returncode != 0
    assert "not 'e5-large-v9': set params.model" in done.stdout + done.stderr
    lines = [json.loads(x) for x in
             (home / "outbox" / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    label = [x for x in lines if x["dag_id"] == "slukh_backfill" and x["task_id"] == "label"]
    assert len(label) == 1 and label[0]["try_number"] == 1        # failed at once, no retry
    assert label[0]["error"].startswith("ModelVersionMismatch")

"""The README's demo, end to end, through the real `slukh` command line.

Runs `slukh demo` twice into a temporary SLUKH_HOME: the first run must crawl every review
of the demo site, label each one, find the planted spike and write a digest naming it; the
second must add nothing.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from slukh.demo_site import generate_reviews

pytestmark = pytest.mark.slow
SLUKH = [sys.executable, "-m", "slukh.cli"]


def _slukh(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLUKH_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "160"}
    return subprocess.run([*SLUKH, *args], env=env, capture_output=True, text=True, timeout=1800)


def _counts(db: Path) -> tuple[int, int, int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("""SELECT (SELECT count(*) FROM mentions), (SELECT count(*) FROM labels),
                                     (SELECT count(*) FROM batches), (SELECT count(*) FROM alerts)""").fetchone()
    finally:
        con.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("slukh-home")
    first = _slukh(home, "demo")
    assert first.returncode == 0, first.stdout + first.stderr
    return home, first


def test_demo_reports_where_its_results_are(demo):
    home, first = demo
    out = first.stdout + first.stderr
    assert f"warehouse : {home / 'slukh.duckdb'}" in out.replace("\n", " ").replace("  ", " ") or \
        str(home / "slukh.duckdb") in out
    assert str(home / "outbox" / "digest-2026-11-20.html") in out.replace("\n", "")


def test_every_demo_review_is_one_labelled_mention(demo):
    home, _ = demo
    expected = {str(r.id) for r in generate_reviews()}
    con = duckdb.connect(str(home / "slukh.duckdb"), read_only=True)
    try:
        ids = {r[0] for r in con.execute("SELECT external_id FROM mentions").fetchall()}
        unlabelled = con.execute("""SELECT count(*) FROM mentions m WHERE NOT EXISTS
                                    (SELECT 1 FROM labels l WHERE l.mention_id = m.mention_id)""").fetchone()[0]
        runs = con.execute("SELECT status, count(*) FROM crawl_runs GROUP BY 1").fetchall()
    finally:
        con.close()
    assert ids == expected
    assert unlabelled == 0
    assert runs == [("ok", 3)]


def test_the_planted_spike_is_found_and_named_in_the_digest(demo):
    home, _ = demo
    con = duckdb.connect(str(home / "slukh.duckdb"), read_only=True)
    try:
        alerts = con.execute("SELECT brand, root_cause, day, evidence FROM v_alerts").fetchall()
        raised = con.execute("""SELECT i.brand, i.root_cause,
                                       CAST(i.confirmed_at + INTERVAL 3 HOUR AS DATE),
                                       CAST(i.last_hour + INTERVAL 3 HOUR AS DATE)
                                FROM incidents i""").fetchall()
    finally:
        con.close()
    spikes = {(b, c) for b, c, _, _ in alerts}
    assert ("zarya", "waiting_time") in spikes
    assert {b for b, _ in spikes} == {"zarya"}          # no false alarm on the other banks
    # the wave was planted on 2026-11-18..20: the demo replays the last three days as the
    # hourly job would have run them, so the alert is raised on the day the wave began and
    # the same incident grows through the quiet nights to the wave's last day (one wave,
    # one alert), which is the alert's day
    assert [(str(a), str(b)) for br, c, a, b in raised if c == "waiting_time"] == \
        [("2026-11-18", "2026-11-20")], raised
    [wave] = [(d, json.loads(e)) for b, c, d, e in alerts if c == "waiting_time"]
    assert str(wave[0]) == "2026-11-20", alerts
    evidence = wave[1]
    assert len(evidence) >= 3
    planted = {f"banki_ru:{r.id}" for r in generate_reviews()
               if r.bank == "zarya" and "waiting_time" in r.root_causes}
    assert len(set(evidence) & planted) >= 3             # the posts behind it are the wave's
    text = (home / "outbox" / "digest-2026-11-20.txt").read_text(encoding="utf-8")
    assert "Заря Банк" in text and "ВСПЛЕСК" in text
    spike_lines = [l for l in text.splitlines() if l.startswith("!! ВСПЛЕСК")]
    assert any("Очеред" in l or "ожидан" in l.lower() for l in spike_lines), spike_lines
    # routed to the department owning waiting_time (routing.yaml), via the outbox channel
    routed = (home / "outbox" / "operations").glob("alert-*.txt")
    routed_text = [p.read_text(encoding="utf-8") for p in routed]
    assert any("Заря Банк" in t and "идёт с 18.11" in t for t in routed_text), routed_text


def test_query_answers_and_a_second_run_adds_nothing(demo):
    home, _ = demo
    before = _counts(home / "slukh.duckdb")
    q = _slukh(home, "query", "select count(*) as n from mentions", "--format", "json")
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout) == [{"n": before[0]}]
    second = _slukh(home, "demo")
    assert second.returncode == 0, second.stdout + second.stderr
    after = _counts(home / "slukh.duckdb")
    assert after[:2] == before[:2]                       # no new mentions, no new labels
    assert "0 new mentions" in second.stdout + second.stderr
    con = duckdb.connect(str(home / "slukh.duckdb"), read_only=True)
    try:
        latest = con.execute("""SELECT target_id, items FROM crawl_runs
                                QUALIFY row_number() OVER (PARTITION BY target_id ORDER BY started_at DESC) = 1
                                ORDER BY 1""").fetchall()
    finally:
        con.close()
    # the cursor stopped each second crawl on its first page, at the newest known review
    assert [t for t, _ in latest] == ["banki_ru:polyus", "banki_ru:severny", "banki_ru:zarya"]
    assert all(items <= 2 for _, items in latest), latest

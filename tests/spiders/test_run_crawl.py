"""End to end: run_crawl starts a real `python -m spiders.run` against the demo site."""

from __future__ import annotations

import json
import socket
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from slukh.demo_site import DemoSite, generate_reviews
from spiders.run import run_crawl
from spiders.runrecord import RunRecord, decide_status, write_record

FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_START_DELAY": 0.01, "RETRY_BACKOFF_BASE": 0.01,
        "RETRY_BACKOFF_MAX": 0.05}
RECORD_KEYS = {"run_id", "source", "target_id", "brand", "started_at", "finished_at", "status",
               "items", "errors", "message", "batch_path"}


@pytest.fixture(scope="module")
def reviews():
    return generate_reviews()


@pytest.mark.slow
def test_crawl_one_bank_end_to_end(tmp_path, reviews, monkeypatch):
    monkeypatch.delenv("SLUKH_AUTHOR_SALT", raising=False)
    zarya = {str(r.id): r for r in reviews if r.bank == "zarya"}
    with DemoSite(reviews=reviews) as site:
        record = run_crawl("banki_ru", "zarya", "zarya", tmp_path, base_url=site.base_url,
                           settings=FAST, run_id="t-zarya")
        pages = -(-len(zarya) // 25)
        assert site.challenges_issued == 1  # the 302 came once and the cookie was kept…
        assert site.list_requests_served == pages  # …for every page after it

    assert set(record) == RECORD_KEYS
    assert (record["status"], record["items"], record["errors"]) == ("ok", len(zarya), 0)
    assert record["target_id"] == "banki_ru:zarya" and record["run_id"] == "t-zarya"
    assert json.loads((tmp_path / "runs" / "t-zarya.json").read_text("utf-8")) == record
    batch = Path(record["batch_path"])
    assert batch == (tmp_path / "staging" / "t-zarya.parquet").resolve()
    rows = pq.read_table(batch).to_pylist()
    assert len(rows) == len(zarya)
    assert {r["external_id"] for r in rows} == set(zarya)  # unique and complete
    for row in rows:
        truth = zarya[row["external_id"]]
        moscow = datetime.strptime(truth.date_create, "%Y-%m-%d %H:%M:%S")
        assert row["published_at"] == moscow - timedelta(hours=3)
        assert (row["rating"], row["title"], row["crawl_run_id"]) == (
            truth.grade, truth.title, "t-zarya")
        assert row["text"] and "<p>" not in row["text"]
    raw = batch.read_bytes()
    authors = {r.author for r in zarya.values()}
    assert not any(a in json.dumps(rows, default=str, ensure_ascii=False) for a in authors)
    assert not any(a.encode() in raw for a in authors)
    assert (tmp_path / "secret_salt").exists()


@pytest.mark.slow
def test_captcha_ends_blocked_without_rows(tmp_path):
    with DemoSite(mode="captcha") as site:
        record = run_crawl("banki_ru", "zarya", "zarya", tmp_path, base_url=site.base_url,
                           settings=FAST)
    assert (record["status"], record["items"], record["batch_path"]) == ("blocked", 0, None)
    assert "вы робот" in record["message"] and "/services/responses/list/ajax/" in record["message"]
    assert list((tmp_path / "staging").iterdir()) == []


@pytest.mark.slow
def test_rate_limit_retried_with_backoff_then_blocked(tmp_path):
    with DemoSite(mode="ratelimit") as site:
        record = run_crawl("banki_ru", "polyus", "polyus", tmp_path, base_url=site.base_url,
                           settings=FAST)
        assert site.counts["ratelimit"] == 1 + 3  # first try + RETRY_TIMES
    assert record["status"] == "blocked" and "HTTP 429" in record["message"]


@pytest.mark.slow
def test_unreachable_site_is_failed_not_zero(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    record = run_crawl("banki_ru", "zarya", "zarya", tmp_path,
                       base_url=f"http://127.0.0.1:{port}", settings={**FAST, "RETRY_TIMES": 0})
    assert (record["status"], record["items"]) == ("failed", 0)
    assert "no review list page" in record["message"] and "Connection" in record["message"]


def _fake_python(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


def test_killed_child_gets_failed_record(tmp_path, monkeypatch):
    fake = _fake_python(tmp_path, 'echo "Traceback: segfault in lxml" >&2\nkill -9 $$')
    monkeypatch.setattr(sys, "executable", fake)
    record = run_crawl("banki_ru", "zarya", "zarya", tmp_path / "home", run_id="t-killed")
    assert (record["status"], record["items"], record["batch_path"]) == ("failed", 0, None)
    assert "killed by SIGKILL" in record["message"]
    assert "segfault in lxml" in record["message"]
    assert set(record) == RECORD_KEYS
    assert (tmp_path / "home" / "runs" / "t-killed.json").exists()


def test_hung_child_is_stopped_after_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", _fake_python(tmp_path, "exec sleep 60"))
    record = run_crawl("banki_ru", "zarya", "zarya", tmp_path / "home", timeout=0.2)
    assert record["status"] == "failed" and "timed out after 0.2s" in record["message"]


def test_run_id_cannot_be_reused(tmp_path):
    write_record(tmp_path, RunRecord("dup", "banki_ru", "banki_ru:x", "x", "s", "f", "ok", 0, 0,
                                     "", None))
    with pytest.raises(FileExistsError, match="dup"):
        run_crawl("banki_ru", "x", "x", tmp_path, run_id="dup")


@pytest.mark.parametrize(
    ("observed", "status", "fragment"),
    [
        ({"blocked_reason": "HTTP 429"}, "blocked", "HTTP 429"),
        ({"finish_reason": "shutdown", "items": 5}, "failed", "stopped early (shutdown)"),
        ({"pages_parsed": 0, "errors": ["ConnectionRefusedError"]}, "failed", "no review list"),
        ({"errors": ["bad"] * 3}, "failed", "every review"),
        ({}, "ok", "lists no reviews"),
        ({"items": 7, "errors": ["odd record"]}, "ok", "1 errors skipped"),
        ({"items": 7}, "ok", "7 reviews"),
    ],
)
def test_decide_status(observed, status, fragment):
    args = {"source": "banki_ru", "target": "zarya", "blocked_reason": None,
            "finish_reason": "finished", "pages_parsed": 1, "items": 0, "errors": [],
            "batch_path": None, **observed}
    got_status, message = decide_status(**args)
    assert got_status == status and fragment in message

"""ParquetBatchPipeline: schema, hashing, dedupe, atomic publish, no file for no items."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from scrapy.exceptions import DropItem

from spiders.pipelines import BATCH_SCHEMA, ParquetBatchPipeline, author_salt, hash_author


def _item(rid: str, author: str | None = "Ирина К.", **over) -> dict:
    return {"source": "banki_ru", "external_id": rid, "target_id": "banki_ru:zarya",
            "brand": "zarya", "url": f"https://b/response/{rid}/", "title": "Очереди",
            "text": f"Очередь два часа, отзыв {rid}.", "rating": 1,
            "published_at": datetime(2026, 11, 20, 8, 0), "author": author,
            "extra": {"commentCount": 2}, **over}


@pytest.fixture
def salted(monkeypatch):
    monkeypatch.setenv("SLUKH_AUTHOR_SALT", "test-salt")


def test_writes_batch_with_contract_schema(tmp_path, salted):
    pipe = ParquetBatchPipeline(tmp_path, "run-1")
    pipe.open_spider()
    for rid in ("1", "2"):
        pipe.process_item(_item(rid))
    assert not pipe.final_path.exists()  # nothing published before close
    pipe.close_spider()

    assert pipe.batch_path == (tmp_path / "staging" / "run-1.parquet").resolve()
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == ["run-1.parquet"]
    table = pq.read_table(pipe.batch_path)
    assert table.schema.remove_metadata() == BATCH_SCHEMA
    rows = table.to_pylist()
    expected_hash = hashlib.sha256(b"test-salt\n" + "Ирина К.".encode()).hexdigest()
    content = hashlib.sha256("Очереди\nОчередь два часа, отзыв 1.".encode()).hexdigest()
    first = rows[0]
    assert first["collected_at"] >= datetime(2026, 1, 1) and first["collected_at"].tzinfo is None
    del first["collected_at"]
    assert first == {
        "source": "banki_ru", "external_id": "1", "target_id": "banki_ru:zarya",
        "brand": "zarya", "url": "https://b/response/1/", "title": "Очереди",
        "text": "Очередь два часа, отзыв 1.", "rating": 1,
        "published_at": datetime(2026, 11, 20, 8, 0), "author_hash": expected_hash,
        "content_hash": content, "crawl_run_id": "run-1", "extra": '{"commentCount": 2}',
    }
    assert "Ирина".encode() not in pipe.batch_path.read_bytes()
    assert json.loads(rows[1]["extra"]) == {"commentCount": 2}


def test_dedupes_by_external_id(tmp_path, salted):
    pipe = ParquetBatchPipeline(tmp_path, "run-2")
    pipe.open_spider()
    pipe.process_item(_item("7"))
    with pytest.raises(DropItem, match="duplicate external_id 7"):
        pipe.process_item(_item("7", text="другой текст"))
    pipe.process_item(_item("8", author=None, title=None, rating=None))
    pipe.close_spider()
    rows = pq.read_table(pipe.batch_path).to_pylist()
    assert [r["external_id"] for r in rows] == ["7", "8"]
    assert (pipe.items_written, pipe.duplicates) == (2, 1)
    assert (rows[1]["author_hash"], rows[1]["title"], rows[1]["rating"]) == (None, None, None)


def test_invalid_item_dropped_and_counted(tmp_path, salted):
    pipe = ParquetBatchPipeline(tmp_path, "run-3")
    pipe.open_spider()
    with pytest.raises(DropItem, match="lacks text, published_at"):
        pipe.process_item(_item("1", text="", published_at=None))
    assert len(pipe.invalid) == 1


def test_zero_items_leave_no_file(tmp_path, salted):
    pipe = ParquetBatchPipeline(tmp_path, "run-empty")
    pipe.open_spider()
    pipe.close_spider()
    assert pipe.batch_path is None
    assert list((tmp_path / "staging").iterdir()) == []


def test_row_groups_stream_to_tmp_then_rename(tmp_path, salted):
    pipe = ParquetBatchPipeline(tmp_path, "run-big", row_group=2)
    pipe.open_spider()
    for rid in range(5):
        pipe.process_item(_item(str(rid)))
    assert pipe.tmp_path.exists() and not pipe.final_path.exists()
    pipe.close_spider()
    assert not pipe.tmp_path.exists()
    assert pq.ParquetFile(pipe.batch_path).metadata.num_rows == 5


def test_salt_file_created_once_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SLUKH_AUTHOR_SALT", raising=False)
    salt = author_salt(tmp_path)
    path = tmp_path / "secret_salt"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(salt) == 64
    assert author_salt(tmp_path) == salt  # reused, so hashes are stable across runs
    assert hash_author("Ирина К.", salt) != hash_author("Ирина К.", b"other")

"""ParquetBatchPipeline: the spider side of the batch-file contract (docs/architecture.md).

Items become rows of one Parquet file per crawl run, written as ``.parquet.tmp`` and
renamed on close so the loader never sees half a batch. Raw author names are replaced by
a salted hash here and never written anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

BATCH_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("external_id", pa.string(), nullable=False),
        pa.field("target_id", pa.string(), nullable=False),
        pa.field("brand", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("rating", pa.int32()),
        pa.field("published_at", pa.timestamp("us"), nullable=False),
        pa.field("collected_at", pa.timestamp("us"), nullable=False),
        pa.field("author_hash", pa.string()),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("crawl_run_id", pa.string(), nullable=False),
        pa.field("extra", pa.string(), nullable=False),
    ]
)
_REQUIRED = ("source", "external_id", "target_id", "brand", "url", "text", "published_at")


def default_home() -> Path:
    """``$SLUKH_HOME``, else ``./var`` (git-ignored)."""
    return Path(os.environ.get("SLUKH_HOME") or "var")


def author_salt(home: Path) -> bytes:
    """The salt for author hashes: ``$SLUKH_AUTHOR_SALT``, else ``<home>/secret_salt``.

    The file is created once (mode 0600, never world-readable) and reused, so the same
    author hashes the same across runs and bot waves stay linkable without names.
    """
    env = os.environ.get("SLUKH_AUTHOR_SALT")
    if env:
        return env.encode("utf-8")
    path = home / "secret_salt"
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        salt = path.read_bytes().strip()
        if not salt:
            raise ValueError(f"{path} is empty; delete it to have a new salt generated")
        return salt
    with os.fdopen(fd, "wb") as fh:
        salt = secrets.token_hex(32).encode("ascii")
        fh.write(salt + b"\n")
    return salt


def hash_author(author: str, salt: bytes) -> str:
    return hashlib.sha256(salt + b"\n" + author.strip().encode("utf-8")).hexdigest()


def content_hash(title: str | None, text: str) -> str:
    return hashlib.sha256(f"{title or ''}\n{text}".encode()).hexdigest()


def utc_now() -> datetime:
    """Naive UTC, the batch file's time convention."""
    return datetime.now(UTC).replace(tzinfo=None)


class ParquetBatchPipeline:
    """Collects a run's items into ``<home>/staging/<run_id>.parquet``.

    Dedupes on ``external_id`` within the run; a run with zero items writes no file.
    After close, ``batch_path`` (or ``None``), ``items_written`` and ``duplicates`` tell
    ``spiders.run`` what to put in the crawl-run record (also mirrored in the stats).
    """

    def __init__(self, home: Path, run_id: str, row_group: int = 1000) -> None:
        self.home = home
        self.run_id = run_id
        self.row_group = row_group
        self.staging = home / "staging"
        self.final_path = self.staging / f"{run_id}.parquet"
        self.tmp_path = self.staging / f"{run_id}.parquet.tmp"
        self.salt: bytes | None = None
        self.seen: set[str] = set()
        self.buffer: list[dict[str, Any]] = []
        self.writer: pq.ParquetWriter | None = None
        self.items_written = 0
        self.duplicates = 0
        self.invalid: list[str] = []
        self.batch_path: Path | None = None
        self.crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ParquetBatchPipeline:
        settings = crawler.settings
        home = Path(settings.get("SLUKH_HOME") or default_home())
        run_id = settings.get("SLUKH_RUN_ID") or f"{crawler.spidercls.name}-{secrets.token_hex(4)}"
        pipeline = cls(home, run_id, settings.getint("SLUKH_PARQUET_ROW_GROUP", 1000))
        pipeline.crawler = crawler
        return pipeline

    def open_spider(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)
        self.salt = author_salt(self.home)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        try:
            row = self.to_row(item)
        except DropItem as exc:
            self.invalid.append(str(exc))
            self._stat("slukh/invalid_items", len(self.invalid))
            raise
        if row["external_id"] in self.seen:
            self.duplicates += 1
            self._stat("slukh/duplicates", self.duplicates)
            raise DropItem(f"duplicate external_id {row['external_id']} in run {self.run_id}")
        self.seen.add(row["external_id"])
        self.buffer.append(row)
        if len(self.buffer) >= self.row_group:
            self._flush()
        return item

    def to_row(self, item: dict[str, Any]) -> dict[str, Any]:
        """Validate an item and turn it into a batch row; raw ``author`` is dropped here."""
        missing = [key for key in _REQUIRED if item.get(key) in (None, "")]
        if missing:
            raise DropItem(f"item {item.get('url')} lacks {', '.join(missing)}")
        assert self.salt is not None, "open_spider() was not called"
        author = item.get("author")
        rating = item.get("rating")
        return {
            "source": str(item["source"]),
            "external_id": str(item["external_id"]),
            "target_id": str(item["target_id"]),
            "brand": str(item["brand"]),
            "url": str(item["url"]),
            "title": item.get("title") or None,
            "text": str(item["text"]),
            "rating": int(rating) if rating is not None else None,
            "published_at": item["published_at"],
            "collected_at": utc_now(),
            "author_hash": hash_author(author, self.salt) if author else None,
            "content_hash": content_hash(item.get("title"), str(item["text"])),
            "crawl_run_id": self.run_id,
            "extra": json.dumps(item.get("extra") or {}, ensure_ascii=False, sort_keys=True),
        }

    def _flush(self) -> None:
        if not self.buffer:
            return
        table = pa.Table.from_pylist(self.buffer, schema=BATCH_SCHEMA)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp_path, BATCH_SCHEMA, compression="zstd")
        self.writer.write_table(table)
        self.items_written += len(self.buffer)
        self.buffer.clear()

    def close_spider(self) -> None:
        """Finish the file and publish it atomically; zero items leave no file behind."""
        self._flush()
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp_path, self.final_path)
            self.batch_path = self.final_path.resolve()
        self._stat("slukh/items_written", self.items_written)
        self._stat("slukh/batch_path", str(self.batch_path) if self.batch_path else None)

    def _stat(self, key: str, value: Any) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.set_value(key, value)

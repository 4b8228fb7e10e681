"""Write batch files in the spiders' contract (docs/architecture.md) for warehouse tests,
and load them into a labelled warehouse."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from warehouse import labels, trends
from warehouse.labels import LabelLike
from warehouse.load import load_staging
from warehouse.migrate import migrate

SCHEMA = pa.schema([
    ("source", pa.string()), ("external_id", pa.string()), ("target_id", pa.string()),
    ("brand", pa.string()), ("url", pa.string()), ("title", pa.string()), ("text", pa.string()),
    ("rating", pa.int32()), ("published_at", pa.timestamp("us")), ("collected_at", pa.timestamp("us")),
    ("author_hash", pa.string()), ("content_hash", pa.string()), ("crawl_run_id", pa.string()),
    ("extra", pa.string()),
])


def review(i: int, *, brand: str = "zarya", text: str | None = None, rating: int | None = 2,
           published: datetime | None = None, collected: datetime | None = None,
           run_id: str = "run-1", title: str | None = None) -> dict:
    text = text if text is not None else f"Отзыв номер {i}: долго ждал в очереди."
    title = title if title is not None else f"Отзыв {i}"
    return {
        "source": "banki_ru", "external_id": str(1000 + i), "target_id": f"banki_ru:{brand}",
        "brand": brand, "url": f"http://127.0.0.1/r/{1000 + i}/", "title": title, "text": text,
        "rating": rating, "published_at": published or datetime(2026, 11, 1, 9) + timedelta(hours=i),
        "collected_at": collected or datetime(2026, 11, 21, 12),
        "author_hash": hashlib.sha256(f"salt:user{i}".encode()).hexdigest(),
        "content_hash": hashlib.sha256(f"{title}\n{text}".encode()).hexdigest(),
        "crawl_run_id": run_id, "extra": "{}",
    }


def write_batch(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
    return path


def labelled_warehouse(tmp_path: Path, rows: list[dict],
                       label: LabelLike) -> duckdb.DuckDBPyConnection:
    """A warehouse in ``tmp_path`` holding ``rows``, every mention labelled ``label`` as "mv1".

    The rows go through the real loader (staging batch, migrate, load_staging) and daily
    trends are refreshed for "mv1"; spikes are not detected, so a test that needs them
    runs ``spikes.detect``/``spikes.save`` itself. Uses ``tmp_path/staging``, ``runs``
    and ``w.duckdb``; the caller owns the returned connection.
    """
    write_batch(tmp_path / "staging" / "b.parquet", rows)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con)
    load_staging(con, tmp_path / "staging", tmp_path / "runs")
    todo = labels.pending(con, "mv1")
    labels.write(con, "mv1", [(r[0], r[1]) for r in todo], [label] * len(todo))
    trends.refresh_daily(con, "mv1")
    return con

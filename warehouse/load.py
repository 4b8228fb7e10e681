"""The single writer that merges crawl batches into ``mentions``.

Spiders never touch DuckDB: they leave immutable Parquet batches in ``staging/`` and a
crawl-run record in ``runs/``. This loader merges each batch in ONE transaction (stage,
dedupe on the key, upsert new or changed rows, record the batch), so a batch loaded twice,
or a load killed half-way, leaves exactly one copy of every mention. A batch file is
moved to ``staging/loaded/`` only after its transaction has committed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from warehouse.db import transaction

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = {
    "source", "external_id", "target_id", "brand", "url", "title", "text", "rating",
    "published_at", "collected_at", "author_hash", "content_hash", "crawl_run_id", "extra",
}
# Fault-injection point for the kill-safety test: when set to a file path, the loader
# writes that file and sleeps inside the open transaction, so a test can SIGKILL it there.
FAULT_PAUSE_ENV = "SLUKH_FAULT_PAUSE_BEFORE_COMMIT"


class BatchRejected(ValueError):
    """A batch file that cannot be loaded as it is (wrong columns, unreadable)."""


@dataclass
class LoadReport:
    batches_loaded: int = 0
    batches_skipped: int = 0          # already loaded earlier
    inserted: int = 0
    updated: int = 0
    rejected_rows: int = 0
    runs_recorded: int = 0
    near_dup_clusters: int = 0        # clusters of 2+ near-identical texts in the window
    problems: list[str] = field(default_factory=list)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record_runs(con: duckdb.DuckDBPyConnection, runs_dir: Path) -> int:
    """Upsert every crawl-run record file into ``crawl_runs`` (idempotent)."""
    rows = []
    for f in sorted(runs_dir.glob("*.json")):
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            log.warning("skipping unreadable crawl-run record %s: %s", f, err)
            continue
        rows.append([
            r["run_id"], r["source"], r["target_id"], r.get("brand"), r.get("started_at"),
            r.get("finished_at"), r["status"], int(r.get("items") or 0),
            int(r.get("errors") or 0), r.get("message"), r.get("batch_path"),
        ])
    if not rows:
        return 0
    with transaction(con):
        con.executemany(
            """INSERT INTO crawl_runs VALUES (?, ?, ?, ?, CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP),
                                              ?, ?, ?, ?, ?)
               ON CONFLICT (run_id) DO UPDATE SET finished_at = excluded.finished_at,
                   status = excluded.status, items = excluded.items, errors = excluded.errors,
                   message = excluded.message, batch_path = excluded.batch_path""",
            rows,
        )
    return len(rows)


_STAGE = """
CREATE OR REPLACE TEMP TABLE stage AS
SELECT source || ':' || external_id AS mention_id, *
FROM read_parquet(?)
WHERE external_id IS NOT NULL AND source IS NOT NULL AND brand IS NOT NULL
  AND text IS NOT NULL AND published_at IS NOT NULL AND content_hash IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY source, external_id ORDER BY collected_at DESC) = 1
"""
_COUNT = """
SELECT count(*) FILTER (WHERE m.mention_id IS NULL),
       count(*) FILTER (WHERE m.mention_id IS NOT NULL AND s.collected_at > m.updated_at
                              AND (m.content_hash <> s.content_hash OR m.extra IS DISTINCT FROM s.extra
                                   OR m.rating IS DISTINCT FROM s.rating))
FROM stage s LEFT JOIN mentions m USING (mention_id)
"""
_UPSERT = """
INSERT INTO mentions
SELECT s.mention_id, s.source, s.external_id, s.target_id, s.brand, s.url, s.title, s.text,
       s.rating, s.published_at, s.collected_at, s.collected_at, s.content_hash,
       s.author_hash, s.extra, $batch, $batch
FROM stage s LEFT JOIN mentions m USING (mention_id)
WHERE m.mention_id IS NULL OR m.content_hash <> s.content_hash
   OR m.extra IS DISTINCT FROM s.extra OR m.rating IS DISTINCT FROM s.rating
ON CONFLICT (mention_id) DO UPDATE SET
    url = excluded.url, title = excluded.title, text = excluded.text, rating = excluded.rating,
    content_hash = excluded.content_hash, extra = excluded.extra,
    updated_at = excluded.updated_at, last_batch = excluded.last_batch
WHERE excluded.updated_at > mentions.updated_at
"""


# Advance each target's cursor in the same transaction as its mentions.
_CURSORS = """
INSERT INTO targets (target_id, source, brand, code, params, updated_at, cursor_published_at)
SELECT target_id, any_value(source), any_value(brand), split_part(target_id, ':', 2), NULL, $now,
       max(published_at)
FROM stage WHERE target_id IS NOT NULL GROUP BY target_id
ON CONFLICT (target_id) DO UPDATE SET
    cursor_published_at = greatest(coalesce(targets.cursor_published_at, excluded.cursor_published_at),
                                   excluded.cursor_published_at)
"""


def cursors(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """target_id → newest publication time loaded, for incremental crawls."""
    return dict(con.execute(
        "SELECT target_id, cursor_published_at FROM targets WHERE cursor_published_at IS NOT NULL"
    ).fetchall())


def load_batch(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int, int] | None:
    """Merge one batch; return (inserted, updated, rejected) or None if already loaded."""
    batch_id = path.name.removesuffix(".parquet")
    if con.execute("SELECT 1 FROM batches WHERE batch_id = ?", [batch_id]).fetchone():
        return None
    try:
        cols = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
    except duckdb.Error as err:
        raise BatchRejected(f"{path} is not a readable Parquet batch: {err}") from err
    missing = REQUIRED_COLUMNS - cols
    if missing:
        raise BatchRejected(f"{path} lacks columns {sorted(missing)}; was it written by spiders/?")
    digest = _sha256(path)
    with transaction(con):
        total = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]
        con.execute(_STAGE, [str(path)])
        staged = con.execute("SELECT count(*) FROM stage").fetchone()[0]
        dupes = con.execute(
            """SELECT count(*) - count(DISTINCT (source, external_id)) FROM read_parquet(?)
               WHERE external_id IS NOT NULL""", [str(path)]).fetchone()[0]
        rejected = total - staged - dupes
        inserted, updated = con.execute(_COUNT).fetchone()
        con.execute(_UPSERT, {"batch": batch_id})
        con.execute(_CURSORS, {"now": _utcnow()})
        run_id = con.execute("SELECT any_value(crawl_run_id) FROM stage").fetchone()[0]
        con.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [batch_id, digest, run_id, total, rejected, inserted, updated, _utcnow()],
        )
        marker = os.environ.get(FAULT_PAUSE_ENV)
        if marker:
            Path(marker).write_text(batch_id)
            time.sleep(3600)
    return inserted, updated, rejected


def _archive(path: Path) -> None:
    dest = path.parent / "loaded"
    dest.mkdir(exist_ok=True)
    shutil.move(str(path), dest / path.name)


def load_staging(con: duckdb.DuckDBPyConnection, staging_dir: Path, runs_dir: Path, *,
                 archive: bool = True) -> LoadReport:
    """Record crawl runs, then merge every batch waiting in ``staging_dir``, oldest first."""
    report = LoadReport()
    runs_dir.mkdir(parents=True, exist_ok=True)
    staging_dir.mkdir(parents=True, exist_ok=True)
    report.runs_recorded = record_runs(con, runs_dir)
    for path in sorted(staging_dir.glob("*.parquet")):
        try:
            result = load_batch(con, path)
        except BatchRejected as err:
            report.problems.append(str(err))
            bad = staging_dir / "rejected"
            bad.mkdir(exist_ok=True)
            shutil.move(str(path), bad / path.name)
            (bad / f"{path.name}.reason.txt").write_text(str(err), encoding="utf-8")
            log.error("%s (moved to %s)", err, bad)
            continue
        if result is None:
            report.batches_skipped += 1
            log.info("batch %s was loaded before; archiving it", path.name)
        else:
            ins, upd, rej = result
            report.batches_loaded += 1
            report.inserted += ins
            report.updated += upd
            report.rejected_rows += rej
            if rej:
                report.problems.append(f"{path.name}: {rej} rows without id, text or date were not loaded")
            log.info("loaded %s: %d new, %d updated, %d rejected", path.name, ins, upd, rej)
        if archive:
            _archive(path)
    return report

"""The crawl-run record (``<home>/runs/<run_id>.json``) and how a crawl's status is decided.

Shared by the crawl subprocess (which normally writes the record) and the parent
(which writes a ``failed`` one when the child died without writing it). Keys follow
docs/architecture.md exactly.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class RunRecord:
    run_id: str
    source: str
    target_id: str
    brand: str
    started_at: str
    finished_at: str | None
    status: str  # ok | blocked | failed
    items: int
    errors: int
    message: str
    batch_path: str | None


def utc_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id(source: str, target: str) -> str:
    """``<source>-<target>-<UTC timestamp>-<short random>``: sortable and collision-safe."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Target codes may hold '/', ':' or '@' (2GIS "city/firm", VK "wall:-1"): the id names files.
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_") or "target"
    return f"{source}-{safe}-{stamp}-{secrets.token_hex(3)}"


def record_path(home: Path, run_id: str) -> Path:
    return home / "runs" / f"{run_id}.json"


def write_record(home: Path, record: RunRecord) -> Path:
    """Write atomically (tmp + rename): a reader never sees half a record."""
    path = record_path(home, record.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(record), ensure_ascii=False, indent=2) + "\n", "utf-8")
    os.replace(tmp, path)
    return path


def read_record(home: Path, run_id: str) -> dict[str, object] | None:
    path = record_path(home, run_id)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def decide_status(
    *,
    source: str,
    target: str,
    blocked_reason: str | None,
    finish_reason: str | None,
    pages_parsed: int,
    items: int,
    errors: list[str],
    batch_path: str | None,
) -> tuple[str, str]:
    """Turn what a crawl observed into ``(status, message)``; the message says what to do.

    Zero items is only ``ok`` when a list page was really parsed and said so; a crawl that
    never got a page through (robots.txt, connection refused, HTTP errors) is ``failed``.
    """
    first = f" First error: {errors[0]}" if errors else ""
    if blocked_reason:
        saved = f" {items} reviews saved before the block." if items else " Nothing saved."
        return "blocked", f"{source} blocked the crawl of {target}: {blocked_reason}.{saved}"
    if finish_reason not in (None, "finished"):
        return "failed", (
            f"the crawl of {target} stopped early ({finish_reason}) after {items} reviews; "
            f"re-run it, the batch holds only what was saved.{first}"
        )
    if pages_parsed == 0:
        return "failed", (
            f"no review list page of {target} could be fetched and parsed "
            f"({len(errors)} errors); check the bank code and the site.{first}"
        )
    if items == 0 and errors:
        return "failed", (
            f"every review of {target} failed to parse ({len(errors)} errors): "
            f"the page structure may have changed.{first}"
        )
    if items == 0:
        return "ok", f"the site lists no reviews for {target}; nothing to save"
    tail = f"; {len(errors)} errors skipped.{first}" if errors else ""
    return "ok", f"{items} reviews of {target} saved to {batch_path}{tail}"
